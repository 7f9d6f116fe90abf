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

from . import cells as C
from . import stats
from .data import RunError, load_run, write_text

METRICS = {"ops": ("ops/s", +1), "p99": ("p99 latency", -1)}   # +1: higher is better


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
    return tuple(r[f] for f in C.IDENT)


def compare(run_a, run_b, threshold=5.0, alpha=0.05, metric="both"):
    fa, fb = C.cell_frame(run_a), C.cell_frame(run_b)
    pairs = pair_cells(fa, fb)
    recs = []
    for ra, rb, same in pairs:
        a_ok, b_ok = ra._ok, rb._ok
        rec = {"workload": rb.workload, "transport": rb.transport_variant, "placement_a": ra.placement,
               "placement_b": rb.placement, "same_placement": same, "reps_a": len(a_ok), "reps_b": len(b_ok),
               "lines_a": list(ra.lines), "lines_b": list(rb.lines), "failed_a": int(ra.failed),
               "failed_b": int(rb.failed)}
        seed = ("cmp", _ident(rb))
        if a_ok and b_ok:
            oa, ob = [x["ops_per_s"] for x in a_ok], [x["ops_per_s"] for x in b_ok]
            rec["ops_a"], rec["ops_b"] = float(ra.ops_per_s), float(rb.ops_per_s)
            rec["ops_ratio"], rec["ops_lo"], rec["ops_hi"] = stats.ratio_ci(ob, oa, seed=seed)
            rec["ops_p"] = stats.log_welch_p(ob, oa)
            ha = [x for x in a_ok if (x.get("hist") or {}).get("buckets")]
            hb = [x for x in b_ok if (x.get("hist") or {}).get("buckets")]
            if ha and hb:
                rec["p99_a"], rec["p99_b"] = stats.Hists(ha).pct(99) / 1e3, stats.Hists(hb).pct(99) / 1e3
                rec["p99_ratio"], rec["p99_lo"], rec["p99_hi"] = stats.pct_ratio_ci(hb, ha, 99, seed=seed)
                rec["p99_p"] = stats.log_welch_p([max(x["lat_ns"]["p99"], 1) for x in hb],
                                                 [max(x["lat_ns"]["p99"], 1) for x in ha])
            rec["cv_a"], rec["cv_b"] = stats.cv(oa), stats.cv(ob)
        recs.append(rec)
    tests = [(r, m) for m in METRICS for r in recs]
    for (r, m), q in zip(tests, stats.holm_adjust([r.get(f"{m}_p") for r, m in tests])):
        r[f"{m}_q"] = q
        r[f"{m}_status"] = _status(r.get(f"{m}_ratio"), r.get(f"{m}_lo"), r.get(f"{m}_hi"), q, METRICS[m][1],
                                   threshold, alpha)
    gated = ("ops", "p99") if metric == "both" else (metric,)
    only_a = sorted({r.workload + " " + r.transport_variant for _, r in fa.iterrows()} -
                    {r["workload"] + " " + r["transport"] for r in recs}) if len(fa) else []
    only_b = sorted({r.workload + " " + r.transport_variant for _, r in fb.iterrows()} -
                    {r["workload"] + " " + r["transport"] for r in recs}) if len(fb) else []
    b_failed, b_missing = broken_cells(fa, fb, run_b)
    regressions = [r for r in recs if any(r[f"{m}_status"] == "regression" for m in gated)]
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
            "only_a": only_a, "only_b": only_b, "regressions": len(regressions),
            "b_failed": b_failed, "b_missing": b_missing,
            "improvements": sum(any(r[f"{m}_status"] == "improvement" for m in gated) for r in recs),
            "excluded": run_a.excluded + run_b.excluded, "warning": warn}


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


def _status(ratio, lo, hi, q, better, threshold, alpha):
    if ratio is None or ratio != ratio:
        return "n/a"
    change = (ratio - 1) * better        # > 0: better
    big = abs(ratio - 1) * 100 >= threshold
    if q is None:
        return "untested" if big else "same"
    ci_excl = not (lo == lo and hi == hi) or lo > 1 or hi < 1
    if big and q <= alpha and ci_excl:
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
