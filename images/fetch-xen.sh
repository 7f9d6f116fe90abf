#!/bin/sh
# Debian's Xen hypervisor for the xen guest, without installing it:
#   fetch-xen.sh OUTDIR
# apt-get download + dpkg-deb -x of xen-hypervisor-4.17-amd64; writes
# OUTDIR/xen (the hypervisor, gunzipped: QEMU's -kernel loads it as a
# multiboot ELF, with dom0's kernel and initramfs as its modules),
# OUTDIR/config (the build's .config) and OUTDIR/package.
set -eu
out=$1
pkg=xen-hypervisor-4.17-amd64
mkdir -p "$out" && out=$(realpath "$out")
rm -rf "$out/deb" "$out/root"
mkdir -p "$out/deb" "$out/root"
(cd "$out/deb" && apt-get download -q "$pkg" >/dev/null 2>"$out/download.log") || {
	cat "$out/download.log" >&2; exit 1; }
dpkg-deb -x "$out"/deb/*.deb "$out/root"
gz=$(ls "$out"/root/boot/xen-4.17-amd64.gz)
gzip -dc "$gz" > "$out/xen.tmp" && mv "$out/xen.tmp" "$out/xen"
cp "$out"/root/boot/xen-4.17-amd64.config "$out/config"
dpkg-deb -f "$out"/deb/*.deb Package Version | sed 's/^[A-Za-z]*: //' | tr '\n' ' ' | sed 's/ $/\n/' > "$out/package"
rm -rf "$out/deb" "$out/root"
