"""vtbench compare RUN_A RUN_B: per cell, B against A.

A cell is matched by what it runs (device, workload, depth, transport,
variant, notify, ...), within the same placement when both runs have it
there.  For throughput and p99 latency: the ratio B/A with a bootstrap CI,
Welch's t-test on the repetitions' logarithms, Holm over the cells and
metrics tested.  A change is a regression or an improvement only when it is
both beyond the threshold and significant; the exit code is 1 when any
gated metric regressed, so a nightly job can gate on it; 4 when none did
but B is broken: a cell A measured is missing from B, or a cell of B has
failed repetitions (an error, no operations, or figures excluded as
impossible).  A gate that reads "same" off a run whose every row failed
would pass anything."""
import json
import math
import sys

import numpy as np

from . import cells as C
from . import stats
from .data import RunError, load_run, merged_pct, write_text

METRICS = {"ops": ("ops/s", +1), "p99": ("p99 latency", -1)}   # +1: higher is better
TESTS = ("ops", "speed", "p99", "pratio")


def pair_cells(fa, fb):
    """[(row_a, row_b, same_placement)] for cells present in both."""
    out = []
    if not len(fa) or not len(fb):
        return out
    ia = {}
    for _, r in fa.iterrows():
        ia.setdefault(_ident(r), []).append(r)
    for _, rb in fb.iterrows():
        cands = ia.get(_ident(rb), [])
        same = [ra for ra in cands if ra.placement == rb.placement]
        if same:
            out.append((same[0], rb, True))
        elif cands:
            # Not in B's placement in A: compare with the A cell that ran
            # the most repetitions, and say so.
            out.append((max(cands, key=lambda x: x.reps), rb, False))
    return out


def _ident(r):
    return C.ident_of(r)


# The fastest tenth of a window's operations: what a host that shares or
# takes the vCPUs for part of the window leaves alone, while a slower
# operation shifts it as much as the throughput.
FAST_PCT = 10


def _hist_rows(rows):
    return [x for x in rows if (x.get("hist") or {}).get("buckets") and sum(c for _, c in x["hist"]["buckets"])]


def _values(rows, m):
    """[(line, rep, log value)] of test m over a cell's usable repetitions:
    ops (throughput), speed (1 / the FAST_PCT percentile of the window's
    latencies: higher is better, as throughput) or p99."""
    if m == "ops":
        return [(x["_line"], x["rep"], math.log(x["ops_per_s"])) for x in rows]
    if m == "pratio":
        # Paired cells (pair=1): each repetition's throughput over its shm
        # reference's in the same window, from this row's own ops/s.
        return [(x["_line"], x["rep"], math.log(x["ops_per_s"] / x["pair"]["ref_ops_per_s"])) for x in rows
                if (x.get("pair") or {}).get("ref_ops_per_s") and C._stayed(x)]
    if m == "speed":
        return [(x["_line"], x["rep"], -math.log(max(merged_pct([x], FAST_PCT), 1))) for x in _hist_rows(rows)]
    return [(x["_line"], x["rep"], math.log(max(x["lat_ns"]["p99"], 1))) for x in _hist_rows(rows)]


def _logs(frame, m):
    """{(ident, placement): np.array of log values of test m} of one run."""
    return {(_ident(r), r.placement): np.array([v for _, _, v in _values(r._ok, m)])
            for _, r in (frame.iterrows() if len(frame) else ()) if r._ok}


def compare(run_a, run_b, threshold=5.0, alpha=0.05, metric="both"):
    fa, fb = C.cell_frame(run_a), C.cell_frame(run_b)
    pairs = pair_cells(fa, fb)
    recs = []
    norm = {m: (_logs(fa, m), _logs(fb, m)) for m in TESTS}
    for ra, rb, same in pairs:
        a_ok, b_ok = ra._ok, rb._ok
        rec = {"workload": rb.workload, "transport": rb.transport_variant, "placement_a": ra.placement,
               "placement_b": rb.placement, "same_placement": same, "reps_a": len(a_ok), "reps_b": len(b_ok),
               "lines_a": list(ra.lines), "lines_b": list(rb.lines), "failed_a": int(ra.failed),
               "failed_b": int(rb.failed)}
        if a_ok and b_ok:
            oa, ob = [x["ops_per_s"] for x in a_ok], [x["ops_per_s"] for x in b_ok]
            rec["ops_a"], rec["ops_b"] = float(ra.ops_per_s), float(rb.ops_per_s)
            ha = [x for x in a_ok if (x.get("hist") or {}).get("buckets")]
            hb = [x for x in b_ok if (x.get("hist") or {}).get("buckets")]
            if ha and hb:
                rec["p99_a"], rec["p99_b"] = stats.Hists(ha).pct(99) / 1e3, stats.Hists(hb).pct(99) / 1e3
            rec["cv_a"], rec["cv_b"] = stats.cv(oa), stats.cv(ob)
        for m in TESTS:
            xa = norm[m][0].get((_ident(ra), ra.placement), np.zeros(0))
            xb = norm[m][1].get((_ident(rb), rb.placement), np.zeros(0))
            rec[f"_{m}_x"] = (xa, xb)
            if len(xa) and len(xb):
                # The ratio of the repetitions' medians, for cells too thin
                # to test; replaced by the test's estimate.
                rec[f"{m}_ratio"] = float(math.exp(np.median(xb) - np.median(xa)))
                rec[f"{m}_lo"] = rec[f"{m}_hi"] = math.nan
        recs.append(rec)
    runwide, extra = {}, []
    for m in TESTS:
        # The paired ratio already has the machine's drift divided out,
        # and only paired cells have one: its cells are not judged
        # against a run-wide shift, and pool their scale among themselves.
        res, shift = stats.shift_tests([r.pop(f"_{m}_x") for r in recs], seed=("cmp", m, run_a.run_id, run_b.run_id),
                                       relative=m != "pratio")
        for r, t in zip(recs, res):
            if t is None:
                continue
            r[f"{m}_ratio"], r[f"{m}_lo"], r[f"{m}_hi"] = math.exp(t["shift"]), math.exp(t["lo"]), math.exp(t["hi"])
            r[f"{m}_rel"] = math.exp(t["rel"])
            r[f"{m}_p"] = t["p"]
        if m in METRICS:
            runwide[m] = _runwide(pairs, m) if shift is not None else None
            if runwide[m]:
                extra.append((runwide[m], m))
    for r in recs:
        # Throughput is judged by two tests, each valid: the windows'
        # throughput and the speed of their fastest operations; the
        # smaller p-value, doubled (Bonferroni), stands for both, with the
        # change of the test that gave it.
        r["ops_tput_p"] = r.get("ops_p")
        pair = [(p, k) for p, k in ((r.get("ops_p"), "ops"), (r.get("speed_p"), "speed"), (r.get("pratio_p"), "pratio"))
                if p is not None]
        if pair:
            p, k = min(pair)
            r["ops_p"] = min(1.0, p * len(pair))
            r["ops_by"] = {"ops": "throughput", "speed": f"p{FAST_PCT} latency", "pratio": "paired ratio to shm"}[k]
            r["_ops_rel"] = r[f"{k}_rel"]
            if k == "pratio":
                # The change the verdict is about: the cell against shm.
                r["ops_ratio"], r["ops_lo"], r["ops_hi"] = r["pratio_ratio"], r["pratio_lo"], r["pratio_hi"]
    tests = [(r, m) for m in METRICS for r in recs]
    qs = stats.holm_adjust([r.get(f"{m}_p") for r, m in tests] + [w["p"] for w, _ in extra])
    for (r, m), q in zip(tests, qs):
        r[f"{m}_q"] = q
        rel = r.pop("_ops_rel", None) if m == "ops" else r.get(f"{m}_rel")
        r[f"{m}_status"] = _status(r.get(f"{m}_ratio"), rel, q, METRICS[m][1], threshold, alpha)
    for (w, m), q in zip(extra, qs[len(tests):]):
        w["q"] = q
        w["status"] = _status(w["factor"], w["factor"], q, METRICS[m][1], threshold, alpha)
    gated = ("ops", "p99") if metric == "both" else (metric,)
    only_a = sorted({r.workload + " " + r.transport_variant for _, r in fa.iterrows()} -
                    {r["workload"] + " " + r["transport"] for r in recs}) if len(fa) else []
    only_b = sorted({r.workload + " " + r.transport_variant for _, r in fb.iterrows()} -
                    {r["workload"] + " " + r["transport"] for r in recs}) if len(fb) else []
    b_failed, b_missing = broken_cells(fa, fb, run_b)
    regressions = [r for r in recs if any(r[f"{m}_status"] == "regression" for m in gated)]
    runwide_reg = [m for m in gated if (runwide.get(m) or {}).get("status") == "regression"]
    # Power: with few repetitions a side and many cells, no p-value can
    # survive Holm, and "no regression" means "could not tell".
    reps = sorted(min(r["reps_a"], r["reps_b"]) for r in recs)
    warn = None
    tested = [r.get(f"{m}_p") for r in recs for m in METRICS if r.get(f"{m}_p") is not None]
    if reps and not tested:
        warn = "no cell has two repetitions on both sides: nothing could be tested (low power); run with reps >= 8"
    elif reps and reps[len(reps) // 2] < 5:
        warn = (f"low power: the median cell has {reps[len(reps) // 2]} repetitions a side and {len(tested)} tests share "
                f"alpha {alpha:g}; a change must reach p < {alpha / len(tested):.1e} to count. For a nightly gate, "
                f"run the gated cells with reps >= 8, or compare fewer cells.")
    return {"a": run_a.run_id, "b": run_b.run_id, "a_path": run_a.path, "b_path": run_b.path,
            "threshold_pct": threshold, "alpha": alpha, "gated": list(gated), "cells": recs,
            "only_a": only_a, "only_b": only_b, "regressions": len(regressions) + len(runwide_reg),
            "runwide": runwide, "b_failed": b_failed, "b_missing": b_missing,
            "improvements": sum(any(r[f"{m}_status"] == "improvement" for m in gated) for r in recs),
            "excluded": run_a.excluded + run_b.excluded, "warning": warn}


def _runwide(pairs, m):
    """The whole run's change: every cell's value over its median in both
    runs, the median of that over the cells a repetition ran (its run
    factor), and Welch's t-test of A's repetitions' factors against B's.
    The machine's state moves from one repetition to the next for every
    cell alike, which the cells' own tests, judged relative to the median
    cell, do not see; this test judges the run-wide change against exactly
    that movement.  None below MIN_GROUPS cells or two repetitions a side."""
    dev = ({}, {})
    n = 0
    for ra, rb, _ in pairs:
        va, vb = _values(ra._ok, m), _values(rb._ok, m)
        if len(va) < 2 or len(vb) < 2:
            continue
        n += 1
        mid = float(np.median([v for _, _, v in va + vb]))
        for side, vals in ((0, va), (1, vb)):
            for _, rep, v in vals:
                dev[side].setdefault(rep, []).append(v - mid)
    fa = [float(np.median(v)) for v in dev[0].values()]
    fb = [float(np.median(v)) for v in dev[1].values()]
    if n < stats.MIN_GROUPS or len(fa) < 2 or len(fb) < 2:
        return None
    return {"factor": math.exp(float(np.mean(fb) - np.mean(fa))), "cells": n, "reps_a": len(fa),
            "reps_b": len(fb), "p": stats.log_welch_p(np.exp(fb), np.exp(fa))}


def _cell_name(r):
    return f"{r.workload} {r.transport_variant} [{r.placement}]"


def broken_cells(fa, fb, run_b):
    """What is wrong with B beyond its figures: ([cells of B with failed or
    impossible repetitions], [cells A measured that B lacks])."""
    failed, missing = [], []
    seen_b = set()
    for _, r in fb.iterrows() if len(fb) else ():
        seen_b.add(_ident(r))
        imp = run_b.impossible.get((_ident(r), r.placement), [])
        if r.failed or imp:
            failed.append({"cell": _cell_name(r), "reps": int(r.reps) + len(imp), "failed": int(r.failed) + len(imp),
                           "errors": list(r.errors) + sorted({w for _, w in imp}),
                           "lines": sorted(list(r.lines) + [n for n, _ in imp])})
    for _, r in fa.iterrows() if len(fa) else ():
        if r._ok and _ident(r) not in seen_b:
            imp = [x for (i, _), v in run_b.impossible.items() if i == _ident(r) for x in v]
            missing.append({"cell": _cell_name(r), "lines_a": list(r.lines),
                            "why": (f"every row of it in B excluded: {imp[0][1]} (lines "
                                    f"{', '.join(str(n) for n, _ in imp)})") if imp else "no row in B"})
    return failed, missing


def _status(ratio, rel, q, better, threshold, alpha):
    """A cell's verdict from its change relative to the whole run's (rel;
    the ratio itself when the run has too few cells for a run-wide shift):
    beyond the threshold and significant after Holm."""
    if ratio is None or ratio != ratio:
        return "n/a"
    big = abs(ratio - 1) * 100 >= threshold
    if q is None:
        return "untested" if big else "same"
    change = (rel - 1) * better         # > 0: better
    if abs(rel - 1) * 100 >= threshold and q <= alpha:
        return "improvement" if change > 0 else "regression"
    return "same"


def _fmt_ratio(r, m):
    v = r.get(f"{m}_ratio")
    if v is None or v != v:
        return "-"
    lo, hi = r.get(f"{m}_lo"), r.get(f"{m}_hi")
    ci = f" [{lo:.2f},{hi:.2f}]" if lo == lo and hi == hi and lo is not None else ""
    q = r.get(f"{m}_q")
    return f"{v:.3f}{ci} q={q:.3g}" if q is not None else f"{v:.3f}{ci}"


def text(res):
    out = [f"vtbench compare: B={res['b']} against A={res['a']}  (threshold {res['threshold_pct']:g}%, "
           f"family-wise alpha {res['alpha']:g}, gated on {', '.join(res['gated'])})"]
    order = {"regression": 0, "improvement": 1, "untested": 2, "same": 3, "n/a": 4}
    cells = sorted(res["cells"], key=lambda r: (min(order[r[f"{m}_status"]] for m in METRICS), r["workload"],
                                                r["transport"]))
    out.append(f"{'workload':30} {'transport':20} {'ops B/A [95% CI] q':34} {'p99 B/A [95% CI] q':34} verdict")
    for r in cells:
        verdict = ", ".join(f"{METRICS[m][0]} {r[f'{m}_status']}" for m in METRICS
                            if r[f"{m}_status"] in ("regression", "improvement", "untested"))
        pl = "" if r["same_placement"] else f"  (placement {r['placement_a']}->{r['placement_b']})"
        if not verdict and not r["reps_b"]:
            verdict = "FAILED in B"
        out.append(f"{r['workload'][:30]:30} {r['transport'][:20]:20} {_fmt_ratio(r, 'ops'):34} "
                   f"{_fmt_ratio(r, 'p99'):34} {verdict or 'same'}{pl}")
    for x in res["only_a"]:
        out.append(f"only in A: {x}")
    for x in res["only_b"]:
        out.append(f"only in B: {x}")
    for e in res["excluded"]:
        out.append(f"excluded: {e}")
    for x in res["b_failed"]:
        out.append(f"failed in B: {x['cell']}: {x['failed']} of {x['reps']} repetitions failed: "
                   f"{'; '.join(x['errors'])} (B lines {', '.join(map(str, x['lines']))})")
    for x in res["b_missing"]:
        out.append(f"missing in B: {x['cell']}: {x['why']}")
    out.append(f"{len(res['cells'])} cells compared: {res['regressions']} significant regressions, "
               f"{res['improvements']} improvements, {len(res['b_failed'])} cells of B with failed repetitions, "
               f"{len(res['b_missing'])} cells of A missing from B")
    for m, w in (res.get("runwide") or {}).items():
        if w:
            q = f"{w['q']:.3g}" if w.get("q") is not None else "-"
            out.append(f"run-wide {METRICS[m][0]}: B/A x{w['factor']:.3f} over {w['cells']} cells, "
                       f"{w['reps_a']} and {w['reps_b']} repetitions (q={q}): {w['status']}")
    if res["warning"]:
        out.append("warning: " + res["warning"])
    return "\n".join(out)


def _clean(o):
    if isinstance(o, float) and math.isnan(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if hasattr(o, "item"):
        return _clean(o.item())
    return o


def _finite(o):
    """NaN and infinities as null: the JSON written is JSON."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite(v) for v in o]
    return o


def dumps(o):
    return json.dumps(_finite(_clean(o)), indent=1, allow_nan=False)


def main(a):
    run_a, run_b = load_run(a.run_a), load_run(a.run_b)
    res = compare(run_a, run_b, a.threshold, a.alpha, a.metric)
    print(text(res))
    if a.json:
        write_text(a.json, dumps(res))
    if a.html:
        from . import html
        write_text(a.html, html.render("compare.html.j2", res=res, metrics=METRICS))
        print(f"html: {a.html}", file=sys.stderr)
    if not res["cells"]:
        if not run_b.rows and res["b_missing"]:
            # B measured nothing at all: every cell A has is missing.
            print(f"vtbench compare: B ({run_b.path}) has no usable row", file=sys.stderr)
            return 4
        raise RunError("no cell appears in both runs")
    if res["regressions"]:
        return 1
    return 4 if res["b_failed"] or res["b_missing"] else 0
