"""Probe overhead: cells run with probes on and off in one run, paired.
Standard library only (analysis/summary.py uses it too)."""
import statistics


def key(r):
    """A cell within one placement: figures from two placements never mix,
    nor do figures taken with and without the probes."""
    c, pl = r["cell"], r.get("placement") or {}
    return (c["device"], c["pattern"], str(c["size"]), c["qd"], c["transport"], c["variant"], c["notify"],
            pl.get("tag", "-"), c.get("probes", "off"))


def probe_overhead(rows):
    """Throughput with probes on against off, for cells that differ only in
    that.  The run interleaves them, so repetition i of the two ran a few
    seconds apart: each such pair taken in one placement gives a ratio, the
    cell's overhead is the median of its pairs' ratios, and the run's the
    median over cells (per transport too).  Pairs across a placement flip
    are left out and counted."""
    by = {}
    for r in rows:
        if r["error"] is None and r["ops_per_s"] > 0:     # a row that measured nothing pairs with nothing
            by[key(r)[:-2] + (r["rep"], r["cell"].get("probes", "off"))] = r
    cells, flipped = {}, 0
    for k, on in by.items():
        if k[-1] != "on" or k[:-1] + ("off",) not in by:
            continue
        off = by[k[:-1] + ("off",)]
        if (on.get("placement") or {}).get("tag") != (off.get("placement") or {}).get("tag"):
            flipped += 1
            continue
        cells.setdefault(k[:-2], []).append(on["ops_per_s"] / off["ops_per_s"])
    out = []
    for k, ratios in cells.items():
        out.append({"cell": " ".join(str(x) for x in k), "transport": f"{k[4]}/{k[5]}", "pairs": len(ratios),
                    "overhead_pct": 100 * (1 - statistics.median(ratios)),
                    "pair_spread_pct": 100 * (max(ratios) - min(ratios))})
    by_t = {}
    for c in out:
        by_t.setdefault(c["transport"], []).append(c["overhead_pct"])
    return {"cells": out, "pairs_across_placements_left_out": flipped,
            "by_transport": {t: statistics.median(v) for t, v in sorted(by_t.items())},
            "median_pct": statistics.median(c["overhead_pct"] for c in out) if out else None,
            "max_pct": max((c["overhead_pct"] for c in out), default=None)}
