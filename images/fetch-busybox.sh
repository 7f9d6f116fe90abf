#!/bin/sh
# Debian's busybox-static for ARCH (amd64, arm64: multiarch), not installed:
#   fetch-busybox.sh ARCH OUT
set -eu
arch=$1 out=$2
q=busybox-static
[ "$arch" = "$(dpkg --print-architecture)" ] || q=busybox-static:$arch
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "$q" >/dev/null 2>"$tmp/log") || { cat "$tmp/log" >&2; exit 1; }
dpkg-deb -x "$tmp"/*.deb "$tmp/root"
cp "$tmp/root/bin/busybox" "$out.tmp"
mv "$out.tmp" "$out"
