#!/bin/sh
# A per-machine cache of built artefacts, outside the work tree, so a fresh
# clone on the same machine (CI after a session) reuses what was built:
#   cache.sh get KEYFILE DIR   DIR := the cached copy for KEYFILE's content; exit 1 if none
#   cache.sh put KEYFILE DIR   store DIR for KEYFILE's content (skipped if the cache is not writable)
# VTB_IMAGE_CACHE (default /var/cache/vtbench/images) is the cache; "off" disables it.
set -eu
op=$1 key=$2 dir=$3
cache=${VTB_IMAGE_CACHE:-/var/cache/vtbench/images}
# off: nothing is found, and nothing stored (a put still succeeds)
if [ "$cache" = off ]; then [ "$op" = put ] && exit 0; exit 1; fi
h=$(sha256sum < "$key" | cut -d' ' -f1)
tarball=$cache/$(basename "$(dirname "$key")")-$(basename "$key" .key)-$h.tar
case $op in
get)
	[ -f "$tarball" ] || exit 1
	rm -rf "$dir" && mkdir -p "$dir"
	tar -xf "$tarball" -C "$dir"
	echo "cache: $dir from $tarball" >&2 ;;
put)
	mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || exit 0
	tar -cf "$tarball.tmp.$$" -C "$dir" . && mv "$tarball.tmp.$$" "$tarball" ;;
*)
	echo "cache.sh get|put KEYFILE DIR" >&2; exit 2 ;;
esac
