#!/bin/sh
# Prints "PACKAGE VERSION" of the newest linux-image-6.12.*-ARCH-unsigned
# that apt knows for ARCH (amd64, arm64): deb-kernel-name.sh ARCH
set -eu
arch=$1
# pkgnames matches a prefix from apt's cache, far quicker than a search.
pkg=$(apt-cache pkgnames linux-image-6.12. | grep -E "^linux-image-6\.12\.[0-9.]+[+]deb[0-9]+-$arch-unsigned\$" |
	sort -V | tail -1)
[ -n "$pkg" ] || { echo "deb-kernel-name: apt knows no linux-image-6.12.*-$arch-unsigned" >&2; exit 1; }
q=$pkg
[ "$arch" = "$(dpkg --print-architecture)" ] || q=$pkg:$arch
ver=$(apt-cache show --no-all-versions "$q" 2>/dev/null | sed -n 's/^Version: //p' | head -1)
[ -n "$ver" ] || { echo "deb-kernel-name: no $q in apt's lists (is $arch a dpkg architecture, apt-get update run?)" >&2; exit 1; }
echo "$pkg $ver"
