#!/bin/sh
# One guest initramfs (cpio newc, gzip):
#   mkinitramfs.sh OUT BUSYBOX VTB_GUEST INIT [MODULES_ROOT MODULE...]
# BUSYBOX is a static busybox binary, VTB_GUEST the static guest tool, INIT
# the /init script; MODULES_ROOT (a tree holding lib/modules/VER) and the
# MODULE names to load at boot are for Debian's modular kernels.
set -eu
out=$1 busybox=$2 guest=$3 init=$4
shift 4
tmp=$(mktemp -d "${out}.d.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/sbin" "$tmp/etc" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/tmp" "$tmp/run" "$tmp/lib/modules"
cp "$busybox" "$tmp/bin/busybox"
ln -s busybox "$tmp/bin/sh"
cp "$guest" "$tmp/bin/vtb_guest"
cp "$init" "$tmp/init"
chmod 755 "$tmp/init" "$tmp/bin/busybox" "$tmp/bin/vtb_guest"
if [ $# -gt 0 ]; then
	cp -a "$1/lib/modules/." "$tmp/lib/modules/"
	shift
	echo "$@" > "$tmp/etc/vtb-modules"
fi
# VTB_XEN_MODULES: loaded only when the kernel runs under Xen
[ -z "${VTB_XEN_MODULES:-}" ] || echo "$VTB_XEN_MODULES" > "$tmp/etc/vtb-modules-xen"
(cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 > "$out.tmp"
mv "$out.tmp" "$out"
