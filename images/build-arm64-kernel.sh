#!/bin/bash
# Builds the arm64 guest kernel from Debian's linux-source-6.12:
#   build-arm64-kernel.sh TARBALL FRAGMENT OUTDIR
# allnoconfig + FRAGMENT (merge_config.sh), cross-compiled with
# gcc-aarch64-linux-gnu, everything built in.  Writes OUTDIR/Image,
# OUTDIR/config and OUTDIR/times (wall, user, sys seconds per step), and
# fails if a symbol the fragment asks for did not survive the merge.
set -euo pipefail
tarball=$1 fragment=$(realpath "$2") out=$3
mkdir -p "$out"
out=$(realpath "$out")
src=$out/src obj=$out/obj
jobs=$(nproc)
TIMEFORMAT='%R %U %S'
: > "$out/times.tmp"
step() {	# step NAME CMD...: runs CMD, appends "NAME wall user sys" to times
	local name=$1 t; shift
	{ time "$@" >"$out/$name.log" 2>&1; } 2>"$out/$name.time" || {
		echo "build-arm64-kernel: $name failed, see $out/$name.log" >&2
		tail -20 "$out/$name.log" >&2; exit 1; }
	read -r t < "$out/$name.time"
	echo "$name $t" >> "$out/times.tmp"
}
extract() {
	rm -rf "$src" "$src.tmp" && mkdir -p "$src.tmp"
	tar -xJf "$tarball" -C "$src.tmp" --strip-components=1
	mv "$src.tmp" "$src"
}
configure() {
	rm -rf "$obj" && mkdir -p "$obj"
	make -C "$src" O="$obj" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- allnoconfig
	(cd "$obj" && "$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment")
	make -C "$src" O="$obj" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- olddefconfig
}
compile() {
	make -C "$src" O="$obj" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- -j"$jobs" Image
}
# The tree is reused while the tarball is the same; a new one is unpacked anew.
stamp=$(stat -c '%s %Y' "$tarball")
if [ ! -f "$src/.vtb-tarball" ] || [ "$(cat "$src/.vtb-tarball")" != "$stamp" ]; then
	step extract extract
	echo "$stamp" > "$src/.vtb-tarball"
fi
step configure configure
# Every y the fragment asks for must be in the final config: a symbol whose
# dependencies are missing is dropped silently by olddefconfig.
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=y' "$fragment" | while read -r l; do
	grep -qx "$l" "$obj/.config" || echo "$l"; done)
# And every symbol it turns off must be off.
missing="$missing$(sed -n 's/^# \(CONFIG_[A-Z0-9_]*\) is not set$/\1/p' "$fragment" | while read -r s; do
	if grep -q "^$s=" "$obj/.config"; then echo " $s=n"; fi; done)"
if [ -n "$missing" ]; then
	echo "build-arm64-kernel: not as asked in the final config:" $missing >&2
	exit 1
fi
step compile compile
cp "$obj/arch/arm64/boot/Image" "$out/Image.tmp" && mv "$out/Image.tmp" "$out/Image"
cp "$obj/.config" "$out/config"
mv "$out/times.tmp" "$out/times"
cat "$out/times"
