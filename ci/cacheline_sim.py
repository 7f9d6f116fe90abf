#!/usr/bin/python3
"""Cache-line hand-offs per frame between the FE and the BE of
ci/fastpath_steps, from a lackey trace of it:

  valgrind --tool=lackey --trace-mem=yes --log-file=TRACE \\
      build/ci/fastpath_steps tx 128 256 32 20000 2>ADDRS
  ci/cacheline_sim.py ADDRS TRACE FRAMES

Two caches of unbounded size, one per side, over FE RAM (rings and
buffers; all the two sides share here): a load of a line the other side
wrote since this side last held it is one transfer, a store to a line the
other side holds is one transfer (the read-for-ownership that invalidates
it).  Only the second half of the frames is counted (the trace's phase
marker), so the first laps' cold misses are left out."""
import re, sys

addrs, trace, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = re.search(r"ram (0x[0-9a-f]+) (\d+) phase (0x[0-9a-f]+) be (0x[0-9a-f]+)", open(addrs).read())
ram, size, marker, be_ram = int(m.group(1), 16), int(m.group(2)), int(m.group(3), 16), int(m.group(4), 16)
nlines = size >> 6
holders = {}	# line -> bitmask of sides holding a valid copy
side, counting = 0, False
cnt = {"FE load": 0, "FE store": 0, "BE load": 0, "BE store": 0}
lines = {"FE store": set(), "BE store": set()}
names = {1: "FE", 2: "BE"}
with open(trace) as f:
    for ln in f:
        if len(ln) < 4 or ln[0] != " " or ln[1] not in "LSM":
            continue
        a = int(ln[3:ln.index(",")], 16)
        if marker <= a < marker + 256:
            k = (a - marker) >> 6
            side, counting = 1 + (k & 1), k >= 2
            continue
        # FE RAM as either side maps it (the BE has its own view): a line
        # is its offset in FE RAM.
        if ram <= a < ram + size:
            l = (a - ram) >> 6
        elif be_ram <= a < be_ram + size:
            l = (a - be_ram) >> 6
        else:
            continue
        if not side:
            continue
        me, other = side, 3 - side
        h = holders.get(l, 0)
        if ln[1] == "L":
            if not h & me:
                if counting and h & other:
                    cnt[names[me] + " load"] += 1
                holders[l] = h | me
        else:	# a store (S) or a read-modify-write (M) needs the line alone
            if h & other and counting:
                cnt[names[me] + " store"] += 1
            holders[l] = me
n = frames - frames // 2
tot = 0
for k, v in cnt.items():
    print(f"{k:9s} {v / n:6.3f} lines/frame")
    tot += v
print(f"total     {tot / n:6.3f} lines/frame (both sides, {n} frames)")
