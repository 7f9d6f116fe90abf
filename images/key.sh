#!/bin/sh
# key.sh OUT CMD...: CMD's output is the recipe key of one artefact (package
# versions, hashes of its scripts); OUT is rewritten only when the key
# changes, so make rebuilds the artefact only then.
set -eu
out=$1
shift
mkdir -p "$(dirname "$out")"
"$@" > "$out.new"
if cmp -s "$out.new" "$out"; then rm -f "$out.new"; else mv "$out.new" "$out"; fi
