#!/bin/sh
# Debian's prebuilt kernel for a guest, without installing it:
#   fetch-deb-kernel.sh ARCH OUTDIR MODULE...
# apt-get download + dpkg-deb -x of the newest linux-image-6.12.*-ARCH-unsigned;
# writes OUTDIR/vmlinuz (the image QEMU boots: vmlinuz on amd64, the
# compressed Image on arm64, which QEMU unpacks) and OUTDIR/modules/lib/modules/VER with
# MODULE... and what they depend on, uncompressed (busybox modprobe reads
# no .ko.xz) and depmod'ed, ready to copy into an initramfs.
set -eu
arch=$1 out=$2; shift 2
here=$(dirname "$0")
mkdir -p "$out" && out=$(realpath "$out")
name=$("$here/deb-kernel-name.sh" "$arch")
pkg=${name% *} ver=${name#* }
q=$pkg
[ "$arch" = "$(dpkg --print-architecture)" ] || q=$pkg:$arch
kver=${pkg#linux-image-}; kver=${kver%-unsigned}
rm -rf "$out/deb" "$out/root" "$out/modules"
mkdir -p "$out/deb" "$out/root"
(cd "$out/deb" && apt-get download -q "$q" >/dev/null 2>"$out/download.log") || {
	cat "$out/download.log" >&2; exit 1; }
dpkg-deb -x "$out"/deb/*.deb "$out/root"
# The full tree's dependency graph first, then only what the guest loads.
depmod -b "$out/root" "$kver"
mods=$(for m in "$@"; do
	modprobe -d "$out/root" -S "$kver" --show-depends "$m" | sed -n 's/^insmod \([^ ]*\).*/\1/p'
done | sort -u)
dst=$out/modules/lib/modules/$kver
mkdir -p "$dst"
for f in $mods; do
	rel=${f#"$out/root/lib/modules/$kver/"}
	mkdir -p "$dst/$(dirname "$rel")"
	case $f in
	*.ko.xz) xz -dc "$f" > "$dst/${rel%.xz}" ;;
	*) cp "$f" "$dst/$rel" ;;
	esac
done
cp "$out/root/lib/modules/$kver/modules.order" "$out/root/lib/modules/$kver/modules.builtin"* "$dst/" 2>/dev/null || true
depmod -b "$out/modules" "$kver"
cp "$out/root/boot/vmlinuz-$kver" "$out/vmlinuz"
echo "$kver" > "$out/kver"
echo "$pkg $ver" > "$out/package"
rm -rf "$out/deb" "$out/root"
