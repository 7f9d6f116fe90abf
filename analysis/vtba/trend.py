"""vtbench trend RUN_DIR...: nightly runs, possibly from several boards, as
a time series per cell, with regressions flagged robustly.

A series is one cell on one board in one placement (figures from a "near"
and a "far" placement never mix).  Each run's median is judged against the
rolling median of the previous --window runs of its series: it must fall
outside max(k x MAD of those medians, threshold) AND its repetitions must
differ significantly from the pooled repetitions of that window (Student's t on
logs, Holm over every point and metric judged).  The MAD band guards
against run-to-run drift the t-test cannot see; the test guards against
a band that is narrow only by luck.  Exit 1 when the newest run of a
board regressed in any series; otherwise 4 when the newest run of a board
is broken: it lacks a cell its board's previous run measured, or a cell of
it has failed (or impossible, hence excluded) repetitions."""
import calendar
import json
import os
import statistics
import sys
import time

import numpy as np

from . import cells as C
from . import stats
from .compare import METRICS, dumps
from .data import RunError, load_run, make_dir, write_text

# Fewer cells than this in a run, and its factor is not estimated (1.0).
MIN_CELLS_FOR_FACTOR = 5


def _listdir(p):
    try:
        return os.listdir(p)
    except OSError as e:
        raise RunError(f"{p}: cannot list ({e.strerror or e})") from None


def find_runs(paths):
    runs, seen, ids = [], set(), {}
    for p in paths:
        cands = [p] if os.path.exists(os.path.join(p, "results.jsonl")) else sorted(
            os.path.join(p, d) for d in _listdir(p) if os.path.exists(os.path.join(p, d, "results.jsonl"))) \
            if os.path.isdir(p) else []
        if not cands:
            raise RunError(f"{p}: neither a run directory nor a directory holding runs")
        for c in cands:
            real = os.path.realpath(c)
            if real in seen:
                continue
            seen.add(real)
            run = load_run(c)
            # A copy of a run (same run_id) would count its nights twice.
            rid = run.meta.get("run_id") or (run.rows[0].get("run_id") if run.rows else None)
            first = ids.get(rid) if rid else None
            if first is not None:
                first.excluded.append(f"{c}: run {run.run_id} again (a copy of {first.path}); left out")
                continue
            if rid:
                ids[rid] = run
            runs.append(run)
    return sorted(runs, key=lambda r: (r.started, r.run_id))


def _epoch(ts):
    try:
        return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return None


def build(runs, window=7, min_history=3, k=3.0, threshold=5.0, alpha=0.01):
    series = {}
    newest = {}
    board_runs = {}          # board -> [(run, {cells measured}, {cells with rows}, [failed cells])]
    for run in runs:
        newest[run.board] = run.run_id
        df = C.cell_frame(run)
        good, present, failed = set(), set(), []
        for _, r in df.iterrows() if len(df) else ():
            idt = C.ident_of(r)
            present.add((idt, r.placement))
            imp = run.impossible.get((idt, r.placement), [])
            if r.failed or imp:
                failed.append({"board": run.board, "run_id": run.run_id, "workload": r.workload,
                               "transport": r.transport_variant, "placement": r.placement, "kind": "failed",
                               "failed": int(r.failed) + len(imp), "reps": int(r.reps) + len(imp),
                               "errors": list(r.errors) + sorted({w for _, w in imp}),
                               "lines": sorted(list(r.lines) + [n for n, _ in imp])})
            if not r._ok:
                continue
            good.add((idt, r.placement))
            key = (run.board, idt, r.placement)
            s = series.setdefault(key, {"board": run.board, "cell": {f: _py(r[f]) for f in C.IDENT},
                                        "workload": r.workload, "transport": r.transport_variant,
                                        "placement": r.placement, "points": []})
            hr = [x for x in r._ok if (x.get("hist") or {}).get("buckets")]
            s["points"].append({
                "run_id": run.run_id, "run_path": run.path, "started": run.started, "t": _epoch(run.started),
                "ops": float(r.ops_per_s), "ops_lo": _py(r.ops_lo), "ops_hi": _py(r.ops_hi),
                "p99": stats.Hists(hr).pct(99) / 1e3 if hr else None,
                "_ops_reps": [x["ops_per_s"] for x in r._ok],
                "_p99_reps": [max(x["lat_ns"]["p99"], 1) for x in r._ok],
                "lines": list(r.lines), "reps": len(r._ok)})
        for (idt, pl), imp in run.impossible.items():
            if (idt, pl) not in present:       # every row of the cell impossible
                present.add((idt, pl))
                d = dict(zip(C.IDENT, idt))
                failed.append({"board": run.board, "run_id": run.run_id,
                               "workload": C.workload_label(C.workload_of(idt)),
                               "transport": f"{d['transport']}/{d['variant']}" if d["variant"] else d["transport"],
                               "placement": pl, "kind": "failed", "failed": len(imp), "reps": len(imp),
                               "errors": sorted({w for _, w in imp}), "lines": [n for n, _ in imp]})
        board_runs.setdefault(run.board, []).append((run, good, present, failed))
    # Judge run by run, in time order.  A run's cells share the machine's
    # drift that night (another kernel, a warmer board, the placement's
    # exact cost), so each run first gets a run factor: the median over its
    # cells of value / rolling median.  Cells are judged on what is left
    # once it is divided out, against windows whose values were divided by
    # their own runs' factors; the factor itself is judged as a run-wide
    # change.  Without that, one noisy night flags half the cells, and a
    # real change in one cell hides in the night-to-night spread.
    by_run = {}
    for s in series.values():
        for i, p in enumerate(s["points"]):
            by_run.setdefault((p["run_id"], s["board"], s["placement"]), []).append((s, i))
    order = sorted(by_run, key=lambda k: by_run[k][0][0]["points"][by_run[k][0][1]]["started"])
    runwide = []
    factors = {}            # (board, placement, metric) -> [factors of earlier runs]
    for rk in order:
        run_id, board, pl = rk
        tests = []
        for m, (_, better) in METRICS.items():
            cands = []
            for s, i in by_run[rk]:
                p = s["points"][i]
                p[f"{m}_status"] = "history"
                p[f"{m}_factor"] = 1.0
                prior = s["points"][max(0, i - window):i]
                if len(prior) < min_history or p.get(m) is None or any(q.get(f"{m}_norm") is None for q in prior):
                    continue
                base = statistics.median(q[f"{m}_norm"] for q in prior)
                if base > 0:
                    cands.append((s, p, prior, base))
            ratios = [p[m] / base for _, p, _, base in cands]
            f = statistics.median(ratios) if len(ratios) >= MIN_CELLS_FOR_FACTOR else 1.0
            hist = factors.setdefault((board, pl, m), [])
            if len(ratios) >= MIN_CELLS_FOR_FACTOR and len(hist) >= min_history:
                band = max(k * stats.mad(hist[-window:]), threshold / 100)
                pw = stats.sign_p(np.log(ratios))
                if abs(f - 1) > band and pw is not None and pw <= alpha:
                    runwide.append({"board": board, "placement": pl, "metric": m, "run_id": run_id, "factor": f,
                                    "band_pct": 100 * band, "p": pw, "cells": len(ratios),
                                    "status": "improvement" if (f - 1) * better > 0 else "regression"})
            if len(ratios) >= MIN_CELLS_FOR_FACTOR:
                hist.append(f)
            for s, i in by_run[rk]:
                p = s["points"][i]
                p[f"{m}_factor"] = f
                p[f"{m}_norm"] = p[m] / f if p.get(m) is not None else None
            for s, p, prior, base in cands:
                meds = [q[f"{m}_norm"] for q in prior]
                band = max(k * stats.mad(meds) / base, threshold / 100)
                dev = p[f"{m}_norm"] / base - 1
                pool = [v / q[f"{m}_factor"] for q in prior for v in q[f"_{m}_reps"]]
                p[f"{m}_baseline"], p[f"{m}_band_pct"], p[f"{m}_dev_pct"] = base * f, 100 * band, 100 * dev
                p[f"{m}_p"] = stats.log_welch_p([v / f for v in p[f"_{m}_reps"]], pool, equal_var=True)
                p[f"{m}_status"] = "ok"
                tests.append((p, m, abs(dev) > band, dev * better))
        # Holm within the run: the question a night asks is "did anything
        # regress tonight", over its cells and both metrics.
        qs = stats.holm_adjust([p[f"{m}_p"] for p, m, _, _ in tests])
        for (p, m, outside, signed), q in zip(tests, qs):
            p[f"{m}_q"] = q
            if outside and q is not None and q <= alpha:
                p[f"{m}_status"] = "improvement" if signed > 0 else "regression"
            elif outside and q is None:
                p[f"{m}_status"] = "untested"
    flagged, latest = [], []
    for s in series.values():
        for p in s["points"]:
            for m in METRICS:
                if p[f"{m}_status"] in ("regression", "improvement"):
                    f = {"board": s["board"], "workload": s["workload"], "transport": s["transport"],
                         "placement": s["placement"], "metric": m, "status": p[f"{m}_status"], "run_id": p["run_id"],
                         "value": p[m], "baseline": p[f"{m}_baseline"], "dev_pct": p[f"{m}_dev_pct"],
                         "band_pct": p[f"{m}_band_pct"], "q": p[f"{m}_q"], "lines": p["lines"],
                         "newest": p["run_id"] == newest[s["board"]]}
                    flagged.append(f)
                    if f["newest"] and f["status"] == "regression":
                        latest.append(f)
        for p in s["points"]:
            p.pop("_ops_reps")
            p.pop("_p99_reps")
    # The newest run of each board, beyond its figures: its failed cells,
    # and the cells its board's previous run measured that it lacks.
    broken = []
    for board, br in board_runs.items():
        run, good, present, failed = br[-1]
        broken += failed
        if len(br) >= 2:
            prev = br[-2]
            # By what the cell runs, not where: a cell the vCPUs moved to
            # another placement tonight is not missing.
            have = {i for i, _ in present}
            for idt, pl in sorted({x for x in prev[1] if x[0] not in have}, key=repr):
                d = dict(zip(C.IDENT, idt))
                broken.append({"board": board, "run_id": run.run_id, "kind": "missing",
                               "workload": C.workload_label(C.workload_of(idt)),
                               "transport": f"{d['transport']}/{d['variant']}" if d["variant"] else d["transport"],
                               "placement": pl, "previous": prev[0].run_id})
    for w in runwide:
        w["newest"] = w["run_id"] == newest[w["board"]]
        if w["newest"] and w["status"] == "regression":
            latest.append(dict(w, workload="(every cell)", transport="(all)"))
    return {"runs": _provenance_changes([{"run_id": r.run_id, "path": r.path, "board": r.board, "started": r.started,
                                          "git_rev": r.meta.get("git_rev"), "excluded": r.excluded,
                                          "provenance": _provenance(r.path)} for r in runs]),
            "params": {"window": window, "min_history": min_history, "k": k, "threshold_pct": threshold,
                       "alpha": alpha},
            "series": list(series.values()), "flagged": flagged, "runwide": runwide, "newest_regressions": latest,
            "newest_broken": broken}


def _provenance(path):
    """What ci/nightly recorded the run was made with (provenance.json
    beside it), or None."""
    try:
        with open(os.path.join(path, "provenance.json")) as f:
            p = json.load(f)
        return p if isinstance(p, dict) else None
    except (OSError, ValueError):
        return None


def _provenance_changes(runs):
    """Each run's provenance fields that differ from its board's previous
    run's (runs in time order), so a regression meets its cause: another
    vtbench, kernel, hypervisor, QEMU or calibration."""
    last = {}
    for r in runs:
        p, prev = r["provenance"], last.get(r["board"])
        r["changed"] = sorted(k for k in set(p or {}) | set(prev or {})
                              if prev is not None and p is not None and (p or {}).get(k) != (prev or {}).get(k))
        if p is not None:
            last[r["board"]] = p
    return runs


def _py(v):
    return v.item() if hasattr(v, "item") else v


def figures(res):
    from .plots import Figures
    figs = Figures()
    out = []
    groups = {}
    for s in res["series"]:
        groups.setdefault((s["board"], s["workload"], s["placement"]), []).append(s)
    for n, ((board, wl, pl), ss) in enumerate(groups.items()):
        series, marks = [], []
        for s in ss:
            pts = [(p["t"], p["ops"] / 1e6, (p["ops_lo"] or p["ops"]) / 1e6, (p["ops_hi"] or p["ops"]) / 1e6)
                   for p in s["points"] if p["t"] is not None]
            if pts:
                series.append((s["transport"], pts))
            marks += [(p["t"], p["ops"] / 1e6) for p in s["points"] if p["ops_status"] == "regression"]
        if marks:
            series.append(("regression", marks))
        name = figs.lines(f"t{n}", f"{wl} [{pl}] on {board}", series, "run start (UTC)", "Mops/s", logy=True,
                          errorbars=True, xtime=True)
        if name:
            out.append({"name": name, "board": board, "workload": wl, "placement": pl,
                        "flagged": any(f["workload"] == wl and f["board"] == board and f["placement"] == pl
                                       for f in res["flagged"])})
    return out, figs.render()


def main(a):
    runs = find_runs(a.run_dirs)
    res = build(runs, a.window, a.min_history, a.k, a.threshold, a.alpha)
    make_dir(a.out)
    write_text(os.path.join(a.out, "trend.json"), dumps(res))
    figs, svgs = figures(res)
    from . import html
    write_text(os.path.join(a.out, "index.html"), html.render("trend.html.j2", res=res, figs=figs, svgs=svgs))
    for r in res["runs"]:
        for e in r["excluded"]:
            print(e, file=sys.stderr)
    print(f"vtbench trend: {len(res['runs'])} runs, {len(res['series'])} series, {len(res['flagged'])} points flagged, "
          f"{len(res['newest_regressions'])} regressions in the newest run")
    for f in res["flagged"]:
        print(f"  {f['status']:11} {f['run_id']} {f['board']} {f['workload']} {f['transport']} [{f['placement']}] "
              f"{f['metric']} {f['dev_pct']:+.1f}% (band {f['band_pct']:.1f}%, q={f['q']:.3g})"
              f"{'  NEWEST' if f['newest'] else ''}")
    for w in res["runwide"]:
        print(f"  run-wide {w['status']:11} {w['run_id']} {w['board']} [{w['placement']}] {w['metric']} "
              f"x{w['factor']:.3f} over {w['cells']} cells (band {w['band_pct']:.1f}%, sign test p={w['p']:.3g})"
              f"{'  NEWEST' if w['newest'] else ''}")
    for b in res["newest_broken"]:
        if b["kind"] == "missing":
            print(f"  missing     {b['run_id']} {b['board']} {b['workload']} {b['transport']} [{b['placement']}]: "
                  f"measured by the previous run {b['previous']}, absent from the newest")
        else:
            print(f"  failed      {b['run_id']} {b['board']} {b['workload']} {b['transport']} [{b['placement']}]: "
                  f"{b['failed']} of {b['reps']} repetitions failed: {'; '.join(b['errors'])} "
                  f"(lines {', '.join(map(str, b['lines']))})")
    print(os.path.join(a.out, "index.html"))
    if res["newest_regressions"]:
        return 1
    return 4 if res["newest_broken"] else 0
