#!/bin/bash
# timed.sh LOG NAME CMD...: runs CMD, appends "NAME wall user sys" (seconds,
# CMD and its children) to LOG, so `make images` leaves what each step cost.
log=$1 name=$2
shift 2
TIMEFORMAT="$name %R %U %S"
{ time "$@" 2>&3; } 3>&2 2>>"$log.$$.tmp"
rc=$?
tail -1 "$log.$$.tmp" >> "$log" && rm -f "$log.$$.tmp"
exit $rc
