#!/bin/sh
# Xen's hypervisor with Argo, from Debian's own source package:
#   build-xen-argo.sh BASE_CONFIG OUTDIR
# apt-get source xen (the release's source package; ci/install-deps.sh adds
# its deb-src entry, derived from this machine's apt sources), then the
# hypervisor alone (xen/), configured as Debian's binary package
# (BASE_CONFIG, its .config) with CONFIG_UNSUPPORTED=y CONFIG_ARGO=y.
# Writes OUTDIR/xen (the multiboot ELF QEMU's -kernel loads), OUTDIR/config,
# OUTDIR/package and OUTDIR/times (wall seconds of the fetch and the build).
set -eu
base=$(realpath "$1") out=$2
mkdir -p "$out" && out=$(realpath "$out")
src=$out/src
rm -rf "$src" && mkdir -p "$src"
t0=$(date +%s)
(cd "$src" && apt-get source -q xen >"$out/source.log" 2>&1) || { tail -20 "$out/source.log" >&2; exit 1; }
t1=$(date +%s)
tree=$(ls -d "$src"/xen-*/ | head -1)
cp "$base" "$tree/xen/.config"
printf 'CONFIG_UNSUPPORTED=y\nCONFIG_ARGO=y\n' >> "$tree/xen/.config"
make -C "$tree/xen" olddefconfig >"$out/build.log" 2>&1
for s in CONFIG_UNSUPPORTED CONFIG_ARGO; do
	grep -qx "$s=y" "$tree/xen/.config" || { echo "build-xen-argo: $s did not survive olddefconfig" >&2; exit 1; }
done
make -C "$tree/xen" -j"$(nproc)" >>"$out/build.log" 2>&1 || { tail -30 "$out/build.log" >&2; exit 1; }
t2=$(date +%s)
cp "$tree/xen/xen" "$out/xen.tmp" && mv "$out/xen.tmp" "$out/xen"
cp "$tree/xen/.config" "$out/config"
(cd "$src" && ls *.dsc) | sed 's/\.dsc$//; s/_/ /' > "$out/package"
echo "fetch $((t1 - t0)) build $((t2 - t1))" > "$out/times"
rm -rf "$src"
