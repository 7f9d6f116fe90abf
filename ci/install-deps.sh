#!/bin/sh
# Installs the Debian packages vtbench needs, only those missing.  Safe to
# run again; needs root (or sudo) only when something is missing.
#
# The QEMU guests (images/) also need: arm64 as a dpkg foreign architecture
# (busybox-static:arm64 and Debian's arm64 kernel are fetched with
# `apt-get download PKG:arm64`), and QEMU 10 from bookworm-backports (7.2 in
# bookworm has no vhost-user-scmi).  The backports entry is derived from the
# machine's own apt sources: the URI and keyring of the entry serving
# bookworm main, with the suite bookworm-backports.
#
#   install-deps.sh                  install what is missing
#   install-deps.sh --backports-entry  print the backports entry this machine
#                                    has ("present FILE") or would get
# APT_ETC (default /etc/apt) is where the sources are read and written.
set -e
APT_ETC=${APT_ETC:-/etc/apt}
PKGS="build-essential clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev systemtap-sdt-dev libcap2-bin util-linux liburing-dev linux-libc-dev libxen-dev python3 python3-jsonschema dpdk-dev python3-pandas python3-scipy python3-jinja2 python3-yaml lava-common python3-pytest python3-pytest-xdist python3-pil gnuplot-nox chromium fonts-dejavu-core gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static"
# images/: kernel build, initramfs, device tree; hyperfine: platform=qemu boot timings
PKGS="$PKGS busybox-static device-tree-compiler linux-source-6.12 bc flex bison libssl-dev cpio kmod xz-utils gzip hyperfine"
# images/: Xen's source package unpacked (dpkg-source) and its hypervisor built
PKGS="$PKGS dpkg-dev"
# ci/lava: Debian's LAVA dispatcher, whose lava-run runs make test's QEMU job
PKGS="$PKGS lava-dispatcher"
QEMU_PKGS="qemu-system-x86 qemu-system-arm qemu-utils"	# qemu-utils: qemu-storage-daemon (backend=qsd)
QEMU_MIN=${VTB_QEMU_MIN:-1:10}	# VTB_QEMU_MIN: to exercise the backports path by hand

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt (an unattended upgrade, a parallel make) rather than fail.
APT="apt-get -o DPkg::Lock::Timeout=600"

codename() {
	. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}"
}

# Every enabled apt entry as one line "FORMAT FILE TYPES URI SUITES COMPONENTS SIGNED-BY OPTIONS",
# words of a field joined by '|'; FORMAT is deb822 or list.  Inline keys
# (a Signed-By block) are reported as "inline".
apt_entries() {
	for f in "$APT_ETC"/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v file="$f" '
			function d(x) { return x == "" ? "-" : x }
			function flush() {
				if (types != "" && tolower(enabled) != "no")
					print "deb822", file, types, d(uris), d(suites), d(comps), d(signed), "-"
				types = uris = suites = comps = signed = enabled = ""; field = ""
			}
			/^#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ { if (field == "signed-by") signed = "inline"; next }
			{
				field = tolower($1); sub(/:$/, "", field)
				v = $0; sub(/^[^:]*:[ \t]*/, "", v); gsub(/[ \t]+/, "|", v)
				if (field == "types") types = v
				else if (field == "uris") uris = v
				else if (field == "suites") suites = v
				else if (field == "components") comps = v
				else if (field == "signed-by") signed = (v == "" ? "inline" : v)
				else if (field == "enabled") enabled = v
			}
			END { flush() }' "$f"
	done
	for f in "$APT_ETC"/sources.list "$APT_ETC"/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v file="$f" '
			/^[ \t]*(#|$)/ { next }
			{
				line = $0; opts = "-"
				if (match(line, /\[[^]]*\]/)) {
					opts = substr(line, RSTART + 1, RLENGTH - 2); gsub(/^[ \t]+|[ \t]+$/, "", opts)
					gsub(/[ \t]+/, "|", opts)
					line = substr(line, 1, RSTART - 1) " " substr(line, RSTART + RLENGTH)
				}
				n = split(line, w, /[ \t]+/); i = 1; if (w[1] == "") i = 2
				comps = ""; for (k = i + 3; k <= n; k++) if (w[k] != "") comps = comps (comps == "" ? "" : "|") w[k]
				signed = "-"
				m = split(opts, o, "|"); for (k = 1; k <= m; k++) if (o[k] ~ /^signed-by=/) signed = substr(o[k], 11)
				print "list", file, w[i], w[i + 1], w[i + 2], comps, signed, opts
			}' "$f"
	done
}

has_word() {	# has_word LIST WORD: LIST's |-separated words include WORD
	case "|$1|" in *"|$2|"*) return 0 ;; esac
	return 1
}

# derived_entry SUITE TYPE TARGET NAME: an entry of TYPE (deb, deb-src) for
# suite TARGET, main, from the entry that serves SUITE main (its URI and
# keyring).  Prints "present FILE" when an enabled entry already has TYPE
# for TARGET, else the file to write (sources.list.d/NAME) and its text;
# fails when no entry serves SUITE main.
derived_entry() {
	suite=$1 type=$2 target=$3 name=$4 src=""
	entries=$(apt_entries)
	while read -r fmt file types uris suites comps signed opts; do
		[ -n "$fmt" ] || continue
		if has_word "$types" "$type" && has_word "$suites" "$target"; then
			echo "present $file"
			return 0
		fi
		has_word "$types" deb || continue
		[ -z "$src" ] && has_word "$suites" "$suite" && has_word "$comps" main &&
			src="$fmt $file ${uris%%|*} $signed $opts"
	done <<EOF
$entries
EOF
	[ -n "$src" ] || { echo "install-deps: no apt entry serves $suite main" >&2; return 1; }
	set -- $src
	fmt=$1 file=$2 uri=$3 signed=$4 opts=$5
	if [ "$fmt" = deb822 ]; then
		[ "$signed" != inline ] || { echo "install-deps: $file has an inline key; add $type $target by hand" >&2; return 1; }
		echo "write $APT_ETC/sources.list.d/$name.sources"
		echo "Types: $type"
		echo "URIs: $uri"
		echo "Suites: $target"
		echo "Components: main"
		[ "$signed" = - ] || echo "Signed-By: $(echo "$signed" | tr '|' ' ')"
	else
		echo "write $APT_ETC/sources.list.d/$name.list"
		if [ "$opts" = - ]; then
			echo "$type $uri $target main"
		else
			echo "$type [$(echo "$opts" | tr '|' ' ')] $uri $target main"
		fi
	fi
}

backports_entry() {
	derived_entry "$1" deb "$1-backports" vtb-backports
}

# The release's source packages: images/ builds Xen with Argo from Debian's
# own source package (the release's was there when the security update's
# was not).
src_entry() {
	derived_entry "$1" deb-src "$1" vtb-src
}

# write_entry WHAT ENTRY: writes a derived entry (not a present one), says
# so; 0 when it wrote one.
write_entry() {
	case $2 in
	write*)
		dst=$(echo "$2" | head -1 | cut -d' ' -f2)
		echo "vtbench: adding $1 ($dst), derived from this machine's apt sources" >&2
		echo "$2" | tail -n +2 | $SUDO tee "$dst.tmp" >/dev/null && $SUDO mv "$dst.tmp" "$dst" ;;
	*) return 1 ;;
	esac
}

if [ "${1:-}" = --backports-entry ]; then
	backports_entry "$(codename)"
	exit $?
fi
if [ "${1:-}" = --src-entry ]; then
	src_entry "$(codename)"
	exit $?
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
need_update=""
if [ "$(dpkg --print-architecture)" = amd64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
	echo "vtbench: adding arm64 as a dpkg foreign architecture (multiarch downloads)" >&2
	$SUDO dpkg --add-architecture arm64
	need_update=1
fi
# The aarch64 vtbench (the arm64 image's proc suite) links Debian's arm64
# liburing statically.
if [ "$(dpkg --print-architecture)" = amd64 ]; then
	dpkg-query -W -f='${Status}' liburing-dev:arm64 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing liburing-dev:arm64"
fi
qemu_old=""
for p in $QEMU_PKGS; do
	v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
	[ -n "$v" ] && dpkg --compare-versions "$v" ge "$QEMU_MIN" || qemu_old="$qemu_old $p"
done
qemu_target=""
if [ -n "$qemu_old" ] && [ "$(codename)" = bookworm ]; then
	entry=$(backports_entry bookworm)
	! write_entry bookworm-backports "$entry" || need_update=1
	qemu_target="-t bookworm-backports"
fi
# images/ builds a Xen hypervisor with Argo from Debian's source package
if [ "$(dpkg --print-architecture)" = amd64 ] && [ "$(codename)" = bookworm ]; then
	entry=$(src_entry bookworm)
	! write_entry "bookworm's source packages" "$entry" || need_update=1
fi
[ -z "$missing" ] && [ -z "$qemu_old" ] && [ -z "$need_update" ] && exit 0
echo "vtbench: installing$missing$qemu_old" >&2
$SUDO $APT update -qq
[ -z "$missing" ] || $SUDO $APT install -y -qq --no-install-recommends $missing >/dev/null
[ -z "$qemu_old" ] || $SUDO $APT install -y -qq --no-install-recommends $qemu_target $qemu_old >/dev/null
