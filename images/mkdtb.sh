#!/bin/sh
# The arm64 guest's device tree: QEMU's own for the machine in machine.conf
# (-M ...,dumpdtb=), decompiled, with the SCMI node of arm64-scmi.dtsi
# merged in, compiled back:  mkdtb.sh OUT.dtb
set -eu
out=$1
here=$(dirname "$0")
. "$here/machine.conf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The same machine, memory backend and sizes ci/guest.py boots with.
"$ARM64_QEMU" -M "$ARM64_MACHINE,dumpdtb=$tmp/qemu.dtb" -accel tcg -cpu "$ARM64_CPU" \
	-smp "$ARM64_SMP" -m "$ARM64_MEM" \
	-object "memory-backend-memfd,id=mem,size=$ARM64_MEM,share=on" -machine memory-backend=mem \
	-nographic >"$tmp/qemu.log" 2>&1 || { cat "$tmp/qemu.log" >&2; exit 1; }
dtc -q -I dtb -O dts -o "$tmp/qemu.dts" "$tmp/qemu.dtb"
cat "$tmp/qemu.dts" "$here/arm64-scmi.dtsi" > "$tmp/guest.dts"
dtc -q -I dts -O dtb -o "$out.tmp" "$tmp/guest.dts"
mv "$out.tmp" "$out"
