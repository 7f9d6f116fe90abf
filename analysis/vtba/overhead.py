"""Probe overhead: cells run with probes on and off in one run, paired.
Standard library only (analysis/summary.py uses it too)."""
import statistics

from .data import cell_key, ident, ident_fields, workload_label, workload_of, IDENT


def key(r):
    """A cell within one placement (data.cell_key): figures from two
    placements never mix, nor do figures taken with and without the probes."""
    return cell_key(r)


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
            by[(ident(r, drop=("probes",)), r["rep"], r["cell"].get("probes", "off"))] = r
    cells, flipped = {}, 0
    for (k, rep, probes), on in by.items():
        if probes != "on" or (k, rep, "off") not in by:
            continue
        off = by[(k, rep, "off")]
        if (on.get("placement") or {}).get("tag") != (off.get("placement") or {}).get("tag"):
            flipped += 1
            continue
        cells.setdefault(k, []).append(on["ops_per_s"] / off["ops_per_s"])
    out = []
    for k, ratios in cells.items():
        d = ident_fields(k, drop=("probes",))
        idt = tuple(d.get(f, "") for f in IDENT)
        out.append({"cell": f"{workload_label(workload_of(idt))} {d['platform']} {d['transport']}/{d['variant']}",
                    "transport": f"{d['transport']}/{d['variant']}", "pairs": len(ratios),
                    "overhead_pct": 100 * (1 - statistics.median(ratios)),
                    "pair_spread_pct": 100 * (max(ratios) - min(ratios))})
    by_t = {}
    for c in out:
        by_t.setdefault(c["transport"], []).append(c["overhead_pct"])
    return {"cells": out, "pairs_across_placements_left_out": flipped,
            "by_transport": {t: statistics.median(v) for t, v in sorted(by_t.items())},
            "median_pct": statistics.median(c["overhead_pct"] for c in out) if out else None,
            "max_pct": max((c["overhead_pct"] for c in out), default=None)}
