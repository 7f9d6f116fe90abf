#!/bin/sh
# The arm64 guest's device tree: QEMU's own for the machine in machine.conf
# (-M ...,dumpdtb=), decompiled, with the SCMI node of arm64-scmi.dtsi
# merged in, compiled back:  mkdtb.sh OUT.dtb [rdp]
# rdp: also a restricted-dma-pool (the last RDP_MB of guest RAM) that the
# PCIe host bridge's devices must bounce through (Linux's swiotlb), for the
# devices that negotiate VIRTIO_F_ACCESS_PLATFORM (QEMU: iommu_platform=on).
set -eu
out=$1 variant=${2:-}
RDP_MB=16
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
if [ "$variant" = rdp ]; then
	case $ARM64_MEM in
	*G) mb=$((${ARM64_MEM%G} * 1024)) ;;
	*M) mb=${ARM64_MEM%M} ;;
	*) echo "mkdtb: ARM64_MEM=$ARM64_MEM: give it in M or G" >&2; exit 1 ;;
	esac
	# -M virt puts RAM at 1 GiB; the pool is its top RDP_MB.
	base=$(( (1024 + mb - RDP_MB) * 1024 * 1024 ))
	pcie=$(sed -n 's/^\t\(pcie@[0-9a-f]*\) {$/\1/p' "$tmp/qemu.dts" | head -1)
	[ -n "$pcie" ] || { echo "mkdtb: no pcie node in QEMU's tree" >&2; exit 1; }
	cat >> "$tmp/guest.dts" <<EOF
/ {
	reserved-memory {
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;

		vtb_rdp: restricted-dma@$(printf '%x' $base) {
			compatible = "restricted-dma-pool";
			reg = <0x0 $(printf '0x%x' $base) 0x0 $(printf '0x%x' $((RDP_MB * 1024 * 1024)))>;
		};
	};
};

&{/$pcie} {
	memory-region = <&vtb_rdp>;
};
EOF
fi
dtc -q -I dts -O dtb -o "$out.tmp" "$tmp/guest.dts"
mv "$out.tmp" "$out"
