#!/bin/sh
# Installs the Debian packages vtbench needs, only those missing.  Safe to
# run again; needs root (or sudo) only when something is missing.
set -e
PKGS="build-essential clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev systemtap-sdt-dev libcap2-bin util-linux liburing-dev linux-libc-dev libxen-dev python3 python3-jsonschema dpdk-dev python3-pandas python3-scipy python3-jinja2 python3-pytest python3-pil gnuplot-nox chromium fonts-dejavu-core gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "vtbench: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt (an unattended upgrade, a parallel make) rather than fail.
APT="apt-get -o DPkg::Lock::Timeout=600"
$SUDO $APT update -qq
$SUDO $APT install -y -qq --no-install-recommends $missing >/dev/null
