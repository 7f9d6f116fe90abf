#!/bin/sh
# Xen's toolstack for the xen guest's dom0, without installing it:
#   fetch-xen-tools.sh OUT.cpio.gz
# apt-get download + dpkg-deb -x of xen-utils-4.17 and its libraries; the
# tools dom0 runs (xenstored, xen-init-dom0, xl, xenconsoled) and their
# shared libraries (the closure ldd finds: Xen's from the packages, the C
# library's from this Debian 12 machine, which the guest's userland is not
# otherwise given), as a cpio archive appended to the x86_64 initramfs.
set -eu
out=$(realpath -m "$1")
tmp=$(mktemp -d "${out}.d.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pkgs="xen-utils-4.17 xen-utils-common libxenmisc4.17 libxenstore4 libxencall1 libxenevtchn1 libxenforeignmemory1 libxengnttab1
	libxentoollog1 libxendevicemodel1 libxentoolcore1 libxenhypfs1 libyajl2"
mkdir -p "$tmp/deb" "$tmp/root" "$tmp/stage"
# shellcheck disable=SC2086
(cd "$tmp/deb" && apt-get download -q $pkgs >/dev/null 2>"$tmp/download.log") || {
	cat "$tmp/download.log" >&2; exit 1; }
for d in "$tmp"/deb/*.deb; do dpkg-deb -x "$d" "$tmp/root"; done
bin=usr/lib/xen-4.17/bin
tools="xenstored xen-init-dom0 xl xenconsoled"
st=$tmp/stage
mkdir -p "$st/$bin" "$st/usr/lib/x86_64-linux-gnu" "$st/lib/x86_64-linux-gnu" "$st/lib64" \
	"$st/var/run/xenstored" "$st/var/lib/xen" "$st/var/log/xen" "$st/etc/xen"
libpath=$(find "$tmp/root" -name '*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
for t in $tools; do
	cp "$tmp/root/$bin/$t" "$st/$bin/"
	LD_LIBRARY_PATH=$libpath ldd "$tmp/root/$bin/$t" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
	case $lib in
	"$tmp"/root/*) cp -L "$lib" "$st/usr/lib/x86_64-linux-gnu/" ;;
	*) cp -L "$lib" "$st/lib/x86_64-linux-gnu/" ;;
	esac
done
cp -L /lib64/ld-linux-x86-64.so.2 "$st/lib64/"
# glibc loads it at run time for pthread_cancel (xl, xenconsoled): ldd does not list it
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$st/lib/x86_64-linux-gnu/"
cp "$tmp/root/etc/xen/xl.conf" "$st/etc/xen/"
(cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 > "$out.tmp"
mv "$out.tmp" "$out"
