#!/usr/bin/python3
"""Per-cell summary of a run: medians over repetitions with their spread,
latency percentiles from the merged histograms, and per-op costs.

    analysis/summary.py RUN_DIR [--csv]
    analysis/summary.py RUN_DIR --probe-overhead   (a run with probes=on,off)
    analysis/summary.py RUN_DIR --vs-shm           (each transport against shm, limits, model error)

Standard library only; `vtbench report` (pandas, gnuplot, HTML) builds on the
same reading of results.jsonl (analysis/vtba/data.py)."""
import argparse
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtba.data import (RunError, cell_key, ident_fields, ident_replace, load_run, merged_pct,  # noqa: E402
                       workload_label, workload_of)  # (standard library only)
from vtba.overhead import probe_overhead  # noqa: E402


def load(run_dir):
    run = load_run(run_dir)
    return run.rows, run.excluded


def vs_shm(rows):
    """Per workload and placement, each transport's median ops/s and merged
    p99 as a ratio to shm/split of the same workload; the limit that binds
    it (median ratio to it) and the cost model's median error."""
    cells = {}
    for r in rows:
        if r["error"] is None:
            cells.setdefault(cell_key(r), []).append(r)
    out = []
    for (idt, pl), rs in cells.items():
        base = cells.get((ident_replace(idt, transport="shm", variant="split"), pl))
        if not base:
            continue
        d = ident_fields(idt)
        ops, bops = statistics.median(r["ops_per_s"] for r in rs), statistics.median(r["ops_per_s"] for r in base)
        rec = {"workload": f"{workload_label(workload_of(idt))} {d['platform']}", "placement": pl,
               "transport": f"{d['transport']}/{d['variant']}",
               "ops_per_s": ops, "ops_ratio": ops / bops, "p99_ratio": merged_pct(rs, 99) / max(merged_pct(base, 99), 1),
               "limit": None, "limit_ratio": None, "model_err_pct": None, "relative": None}
        lim = [r["limit"] for r in rs if r.get("limit")]
        if lim:
            names = [x["name"] for x in lim]
            rec["limit"] = max(set(names), key=names.count)
            rec["limit_ratio"] = statistics.median(x["ratio"] for x in lim)
        mod = [r["model"] for r in rs if r.get("model")]
        if mod:
            rec["model_err_pct"] = statistics.median(m["error_pct"] for m in mod)
            rec["relative"] = all(m["relative"] for m in mod)
        out.append(rec)
    return out


def summarize(rows):
    cells = {}
    for r in rows:
        cells.setdefault(cell_key(r), []).append(r)
    out = []
    for (idt, pl), rs in cells.items():
        ok = [r for r in rs if r["error"] is None]
        rec = dict(ident_fields(idt), placement=pl)
        rec["reps"], rec["failed"] = len(rs), len(rs) - len(ok)
        if ok:
            ops = [r["ops_per_s"] for r in ok]
            med = statistics.median(ops)
            rec["ops_per_s"] = med
            rec["spread_pct"] = 100 * (max(ops) - min(ops)) / med if med else 0.0
            rec["mb_per_s"] = statistics.median(r["bytes_per_s"] for r in ok) / 1e6
            for p in (50, 99):
                rec[f"p{p}_us"] = merged_pct(ok, p) / 1000
            for f in ("notifies", "notifies_suppressed", "exits", "copies", "maps"):
                known = [r["per_op"][f] for r in ok if r["per_op"][f] is not None]   # null: no count exists
                rec[f] = statistics.median(known) if known else math.nan
            for d in ("fe", "be"):
                rec[f"cpu_{d}_us_op"] = statistics.median(1e6 * r["cpu_s"][d] / r["ops"] for r in ok if r["ops"])
            rec["verified"] = all(r["verified"] is not False for r in ok)
        out.append(rec)
    return out


COLS = [("device", "%-5s"), ("pattern", "%-9s"), ("size", "%6s"), ("qd", "%3s"), ("transport", "%-7s"),
        ("variant", "%-10s"), ("notify", "%-5s"), ("platform", "%-8s"), ("placement", "%-4s"), ("probes", "%-3s"), ("reps", "%4s"), ("ops_per_s", "%11.0f"), ("spread_pct", "%6.1f"), ("p50_us", "%8.2f"),
        ("p99_us", "%8.2f"), ("notifies", "%5.2f"), ("exits", "%5.2f"), ("cpu_fe_us_op", "%7.2f"),
        ("cpu_be_us_op", "%7.2f"), ("failed", "%3s")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--csv", action="store_true")
    ap.add_argument("--vs-shm", action="store_true",
                    help="each transport against shm/split of the same workload, with its limit and the model's error")
    ap.add_argument("--probe-overhead", action="store_true",
                    help="pair cells run with probes on and off; print the overhead and write probe_overhead.json")
    a = ap.parse_args()
    try:
        rows, bad = load(a.run_dir)
    except RunError as e:
        print(e, file=sys.stderr)
        return 2
    for b in bad:
        print(b, file=sys.stderr)
    if not rows:
        print(f"{a.run_dir}: no readable rows", file=sys.stderr)
        return 1
    if a.vs_shm:
        recs = vs_shm(rows)
        print(f"{'workload':28} {'pl':4} {'transport':20} {'ops/s':>10} {'x shm':>6} {'p99 x':>6} {'limit':>12} {'of it':>6} {'model err%':>10}")
        for r in sorted(recs, key=lambda r: (r["workload"], r["placement"], r["transport"])):
            print(f"{r['workload'][:28]:28} {r['placement']:4} {r['transport']:20} {r['ops_per_s']:10.0f} {r['ops_ratio']:6.2f} "
                  f"{r['p99_ratio']:6.2f} {r['limit'] or '-':>12} {r['limit_ratio'] or 0:6.2f} "
                  f"{'-' if r['model_err_pct'] is None or not r['relative'] else format(r['model_err_pct'], '10.1f'):>10}")
        rel = [abs(r["model_err_pct"]) for r in recs if r["relative"] and r["model_err_pct"] is not None]
        if rel:
            print(f"model: median absolute error {statistics.median(rel):.1f}% over {len(rel)} cells predicted from shm; "
                  f"{sum(e <= 15 for e in rel)} within 15%")
        return 0
    if a.probe_overhead:
        o = probe_overhead(rows)
        if not o["cells"]:
            print(f"{a.run_dir}: no cell ran both with probes=on and probes=off in one placement", file=sys.stderr)
            return 1
        with open(os.path.join(a.run_dir, "probe_overhead.json"), "w") as f:
            json.dump(o, f, indent=1)
        print(f"{'cell':48} {'pairs':>5} {'overhead %':>10} {'pair spread %':>13}")
        for c in o["cells"]:
            print(f"{c['cell'][:48]:48} {c['pairs']:5} {c['overhead_pct']:10.1f} {c['pair_spread_pct']:13.1f}")
        print(f"  ({o['pairs_across_placements_left_out']} pairs left out: the placement flipped between on and off)")
        for t, v in o["by_transport"].items():
            print(f"  {t:24} median overhead {v:5.1f} %")
        print(f"all cells: median {o['median_pct']:.1f} %, worst {o['max_pct']:.1f} %")
        return 0
    meta_path = os.path.join(a.run_dir, "meta.json")
    if os.path.exists(meta_path) and not a.csv:
        m = json.load(open(meta_path))
        pl = m.get("placement", {})
        print(f"run {m.get('run_id')}  rev {m.get('git_rev')}  {m.get('host', {}).get('cpu')}")
        print(f"placement: ping-pong {pl.get('pingpong_ns_start')} ns ({pl.get('tag_start')}) at start, "
              f"{pl.get('pingpong_ns_end')} ns ({pl.get('tag_end')}) at end" +
              ("  ** placement moved during the run **" if pl.get("moved") else ""))
    recs = summarize(rows)
    if a.csv:
        names = [c for c, _ in COLS]
        print(",".join(names))
        for r in recs:
            print(",".join(str(r.get(c, "")) for c in names))
        return 0
    print("  ".join(c for c, _ in COLS))
    for r in recs:
        print("  ".join((fmt % r[c]) if c in r else "-" for c, fmt in COLS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
