#!/bin/sh
# The libFuzzer targets.  Usage: ci/fuzz.sh run|smoke SECONDS BUILD_DIR TARGET...
#   Each target first replays every saved crash (regress/TARGET) and every
#   seed (corpus/TARGET): all must pass.  Then it fuzzes for SECONDS from
#   its seeds, new inputs going to BUILD_DIR/corpus/TARGET (the seeds in
#   the repository are left alone) and crashes to BUILD_DIR/crashes/.  A
#   crash (or a single allocation over 256 MiB: a FE making the BE allocate
#   that much is a denial of service) found is a failure: minimise it, add it to regress/TARGET with a
#   name that says what it was, and fix the code.
# Prints "ok TARGET ..." or "FAIL TARGET ..." per target; exit 1 on any FAIL.
set -u
mode=$1 secs=$2 build=$3
shift 3
rc=0
for t in "$@"; do
	case $t in
	fuzz_virtq | fuzz_vhost_user | fuzz_xport_*) src=transports/fuzz ;;
	*) src=workloads/fuzz ;;
	esac
	seeds=$src/corpus/$t regress=$src/regress/$t work=$build/corpus/$t crashes=$build/crashes
	mkdir -p "$work" "$crashes"
	dirs=""
	for d in "$regress" "$seeds"; do
		[ -d "$d" ] && [ -n "$(ls -A "$d")" ] && dirs="$dirs $d"
	done
	n=0
	if [ -n "$dirs" ]; then
		n=$(ls $dirs | grep -vc ':$')
		# shellcheck disable=SC2086
		if ! "$build/$t" -runs=0 -timeout=20 -malloc_limit_mb=256 $dirs >"$build/$t.replay.log" 2>&1; then
			echo "FAIL $t: a seed or saved crash fails again (see $build/$t.replay.log)"
			grep -m3 -E "invariant|ERROR|SUMMARY" "$build/$t.replay.log" | sed 's/^/    /'
			rc=1
			continue
		fi
	fi
	before=$(ls "$crashes" | grep -c "^$t-")
	# shellcheck disable=SC2086
	"$build/$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 -malloc_limit_mb=256 -artifact_prefix="$crashes/$t-" \
		-print_final_stats=1 "$work" $( [ -d "$seeds" ] && echo "$seeds") >"$build/$t.log" 2>&1
	st=$?
	after=$(ls "$crashes" | grep -c "^$t-")
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$t.log")
	cov=$(grep -oE 'cov: [0-9]+' "$build/$t.log" | tail -1)
	if [ "$st" -ne 0 ] || [ "$after" -gt "$before" ]; then
		echo "FAIL $t: crashed after ${runs:-?} runs ($mode, ${secs}s); input in $crashes/, log $build/$t.log"
		grep -m3 -E "invariant|ERROR|SUMMARY" "$build/$t.log" | sed 's/^/    /'
		rc=1
	else
		echo "ok $t: $n seeds and saved crashes replayed, ${runs:-?} runs in ${secs}s, $cov"
	fi
done
exit $rc
