#!/bin/sh
# apt-memo.sh CMD...: CMD's output, remembered until apt's lists change
# (apt-get update, a new architecture): this machine's apt keeps no binary
# cache, so each apt-cache call parses every list anew, seconds each.
set -eu
dir=${VTB_APT_MEMO:-build/images/.apt-memo}
mkdir -p "$dir"
h=$( { echo "$*"; cat "$1" 2>/dev/null || true; dpkg --print-foreign-architectures; ls -l --full-time /var/lib/apt/lists/ 2>/dev/null; } |
	sha256sum | cut -d' ' -f1)
if [ ! -f "$dir/$h" ]; then
	"$@" > "$dir/$h.tmp.$$"
	mv "$dir/$h.tmp.$$" "$dir/$h"
fi
cat "$dir/$h"
