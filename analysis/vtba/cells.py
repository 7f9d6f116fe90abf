"""One line per cell and placement: the repetitions' medians with their
confidence intervals, percentiles of the merged histograms, per-op costs,
the limit and the model; and each cell against shm/split of its workload."""
import math
import statistics

import pandas as pd

from . import stats
from .data import IDENT, WORKLOAD, cell_key, ident_of, workload_label, workload_of

NOISY_CV = 0.10         # a cell whose repetitions vary more than this is flagged
PAIRED_NOISY_PCT = 5.0  # ... a paired cell whose ratio's 95% CI is wider than this
PER_OP = ("copies", "copy_bytes", "maps", "unmaps", "flushes", "notifies", "notifies_suppressed", "exits", "waits",
          "syscalls", "ctx_switches", "tlb_flushes", "bounce_copies", "xport_ops")
TERMS = ("hv_copy", "bounce", "map", "doorbell", "reclaim")
BASE = ("shm", "split")


def groups(run):
    """{(ident, placement): [rows]} in order of first appearance."""
    g = {}
    for r in run.rows:
        g.setdefault(cell_key(r), []).append(r)
    return g


def _med(vals):
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(vals) if vals else math.nan


def cell_record(idt, pl, rows, noisy_cv=NOISY_CV):
    # A repetition without an error that did no work, or did it at 0 ops/s,
    # measured nothing: it counts as failed, not as a figure.
    ok = [r for r in rows if r["error"] is None and r.get("ops", 1) and r["ops_per_s"] > 0]
    ok_ids = {id(r) for r in ok}
    rec = dict(zip(IDENT, idt))
    rec["placement"] = pl
    rec["workload"] = workload_label(workload_of(idt))
    rec["transport_variant"] = f"{rec['transport']}/{rec['variant']}" if rec["variant"] else rec["transport"]
    # Figures name a cell of another platform by it too: sections hold
    # every platform's cells of a workload.
    plat = rec.get("platform") or "proc"
    # A guest's arch and the device's backend and the guest's I/O engine are
    # settings of the platform, so a section sets them side by side too.
    rec["platform_label"] = plat if rec.get("arch") in (None, "", "x86_64") else f"{plat} {rec['arch']}"
    rec["setting"] = " ".join(f"{k}={rec[k]}" for k, dflt in (("backend", "qemu"), ("guest_io", "io_uring"))
                              if rec.get(k) not in (None, "", dflt))
    label = rec["transport_variant"] + (f" {rec['setting']}" if rec["setting"] else "")
    rec["label"] = label if rec["platform_label"] == "proc" else f"{rec['platform_label']}:{label}"
    guest = next((r["guest"] for r in rows if r.get("guest")), None) or {}
    rec["accel"] = guest.get("accel")
    rec["times"] = guest.get("times")
    rec["reps"] = len(rows)
    rec["failed"] = len(rows) - len(ok)
    rec["errors"] = sorted({r["error"] if r["error"] is not None else "no operations measured"
                            for r in rows if id(r) not in ok_ids})
    rec["lines"] = [r["_line"] for r in rows]
    rec["peer"] = next((r.get("peer") for r in rows if r.get("peer")), None)
    rec["_ok"] = ok
    if not ok:
        return rec
    ops = [r["ops_per_s"] for r in ok]
    rec["ops_per_s"], rec["ops_lo"], rec["ops_hi"] = stats.median_ci(ops, seed=("ops", idt, pl))
    rec["cv"] = stats.cv(ops)
    rec["noisy"] = bool(rec["cv"] > noisy_cv) if not math.isnan(rec["cv"]) else False
    rec["mb_per_s"] = _med([r.get("bytes_per_s") for r in ok]) / 1e6
    rec["ns_per_op"] = 1e9 / rec["ops_per_s"] if rec["ops_per_s"] else math.nan
    with_hist = [r for r in ok if r.get("hist") and r["hist"].get("buckets")]
    if with_hist:
        h = stats.Hists(with_hist)
        for p, name in ((50, "p50_us"), (99, "p99_us"), (99.9, "p999_us")):
            rec[name] = h.pct(p) / 1000
    for f in PER_OP:
        rec[f] = _med([(r.get("per_op") or {}).get(f) for r in ok])
    for d in ("fe", "be"):
        rec[f"cpu_{d}_us_op"] = _med([1e6 * r["cpu_s"][d] / r["ops"] for r in ok if r.get("cpu_s") and r.get("ops")])
    lim = [r["limit"] for r in ok if r.get("limit")]
    if lim:
        names = [x["name"] for x in lim]
        rec["limit"] = max(sorted(set(names)), key=names.count)
        rec["limit_ratio"] = _med([x["ratio"] for x in lim])
        rec["limit_ns"] = _med([x["ns_per_op"] for x in lim])
    mod = [r["model"] for r in ok if r.get("model")]
    if mod:
        rec["model_pred_ns"] = _med([m["predicted_ns_per_op"] for m in mod])
        rec["model_meas_ns"] = _med([m["measured_ns_per_op"] for m in mod])
        rec["model_err_pct"] = _med([m["error_pct"] for m in mod])
        rec["model_relative"] = all(m.get("relative") for m in mod)
        rec["model_wake_ns"] = _med([m.get("wake_ns", 0) for m in mod])
        for t in TERMS:
            rec[f"term_{t}_ns"] = _med([sum((m.get("terms") or {}).get(d, {}).get(t, 0) for d in ("fe", "be"))
                                        for m in mod])
    rec["verified"] = (False if any(r.get("verified") is False for r in ok)
                       else True if any(r.get("verified") for r in ok) else None)
    return rec


def cell_frame(run, noisy_cv=NOISY_CV):
    recs = [cell_record(i, pl, rs, noisy_cv) for (i, pl), rs in groups(run).items()]
    df = pd.DataFrame(recs)
    if not len(df):
        return df
    df["workload_key"] = [tuple(r[f] for f in WORKLOAD) for r in recs]
    return df


def _stayed(r):
    """The placement was the same when measured before and after the row
    (rows from before placement was measured afterwards count as stayed)."""
    p = r.get("placement") or {}
    return p.get("tag_after") in (None, p.get("tag"))


def vs_base(df, base=BASE):
    """Add each cell's throughput and p99 as a ratio to shm/split of the
    same workload and placement, with bootstrap CIs."""
    cols = {c: [] for c in ("ops_ratio", "ops_ratio_lo", "ops_ratio_hi", "p99_ratio", "p99_ratio_lo",
                            "p99_ratio_hi", "best", "ops_ratio_paired", "ops_ratio_n", "ops_ratio_hw_pct")}
    if not len(df):
        return df
    idx = {(r.workload_key, r.placement, r.transport, r.variant): i for i, r in df.iterrows()}
    for i, r in df.iterrows():
        b = idx.get((r.workload_key, r.placement) + base)
        out = [math.nan] * 6
        if b is not None and r._ok and df.at[b, "_ok"]:
            seed = (r.workload_key, r.placement, r.transport, r.variant)
            out[0:3] = stats.ratio_ci([x["ops_per_s"] for x in r._ok], [x["ops_per_s"] for x in df.at[b, "_ok"]],
                                      seed=seed)
            hr = [x for x in r._ok if (x.get("hist") or {}).get("buckets")]
            hb = [x for x in df.at[b, "_ok"] if (x.get("hist") or {}).get("buckets")]
            if hr and hb:
                out[3:6] = stats.pct_ratio_ci(hr, hb, 99, seed=seed)
        # Paired rows (pair=1): the ratio measured in the same window, from
        # the repetitions that stayed in this placement throughout.
        pr = [x["pair"]["ratio"] for x in (r._ok or []) if _stayed(x) and (x.get("pair") or {}).get("ratio")]
        paired = bool(pr)
        if paired:
            est, lo, hi, hw = stats.paired_ratio_ci(pr)
            out[0:3] = [est, lo, hi]
        else:
            lo, hi = out[1], out[2]
            hw = (max(hi / out[0] - 1, 1 - lo / out[0]) * 100 if out[0] and not math.isnan(out[0]) and
                  not math.isnan(lo) else math.nan)
        for c, v in zip(list(cols)[:6], out):
            cols[c].append(v)
        cols["best"].append(False)
        cols["ops_ratio_paired"].append(paired)
        cols["ops_ratio_n"].append(len(pr) if paired else len(r._ok or []))
        cols["ops_ratio_hw_pct"].append(hw)
    for c, v in cols.items():
        df[c] = v
    # A paired cell is judged by its ratio's interval, the figure it is
    # measured for: its raw ops/s move with the machine, the ratio not.
    if "noisy" in df:
        for i in df.index[df["ops_ratio_paired"] == True]:  # noqa: E712
            hw = df.at[i, "ops_ratio_hw_pct"]
            df.at[i, "noisy"] = bool(not math.isnan(hw) and hw > PAIRED_NOISY_PCT)
    if "ops_per_s" in df:
        for _, g in df.groupby(["workload_key", "placement"]):
            g = g[g["ops_per_s"].notna()]
            if len(g) > 1:      # a cell alone in its workload is best of nothing
                df.loc[g["ops_per_s"].idxmax(), "best"] = True
    return df
