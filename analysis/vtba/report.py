"""vtbench report RUN_DIR: one self-contained HTML page (no network, opens
from disk, plots inlined as gnuplot SVG, tables downloadable as CSV)."""
import base64
import datetime
import io
import json
import math
import os

from . import cells as C
from . import html
from .data import WORKLOAD, human_size, load_run, workload_label
from .overhead import probe_overhead
from .plots import Figures

DECISION_COLS = ["workload", "placement", "platform", "accel", "transport_variant", "reps", "failed", "ops_per_s", "ops_lo", "ops_hi", "cv",
                 "noisy", "ops_ratio", "ops_ratio_lo", "ops_ratio_hi", "p50_us", "p99_us", "p999_us", "p99_ratio",
                 "p99_ratio_lo", "p99_ratio_hi", "limit", "limit_ratio", "model_pred_ns", "model_meas_ns",
                 "model_err_pct", "model_relative", "best", "lines"]
COST_COLS = ["workload", "placement", "platform", "transport_variant", "copies", "copy_bytes", "maps", "unmaps", "flushes",
             "exits", "notifies", "notifies_suppressed", "waits", "syscalls", "ctx_switches", "tlb_flushes",
             "cpu_fe_us_op", "cpu_be_us_op", "term_hv_copy_ns", "term_bounce_ns", "term_map_ns", "term_doorbell_ns",
             "model_wake_ns", "lines"]


def _csv(df, cols):
    cols = [c for c in cols if c in df.columns]
    buf = io.StringIO()
    out = df[cols].copy()
    if "lines" in out:
        out["lines"] = [" ".join(map(str, v)) for v in out["lines"]]
    out.to_csv(buf, index=False, float_format="%.6g")
    return buf.getvalue()


def _warnings(run, df):
    w = []
    for e in run.excluded:
        w.append(("excluded", e))
    m = run.meta
    pl = m.get("placement") or {}
    if pl.get("moved"):
        w.append(("placement", f"placement moved during the run: ping-pong {pl.get('pingpong_ns_start')} ns "
                               f"({pl.get('tag_start')}) at start, {pl.get('pingpong_ns_end')} ns ({pl.get('tag_end')}) "
                               f"at end; cells are grouped by the placement they ran in"))
    cal = m.get("calibration") or {}
    for mv in cal.get("moved") or []:
        w.append(("calibration", f"calibration moved between start and end: {_fmt_moved(mv)}"))
    if not m.get("ended") and m:
        w.append(("incomplete", "meta.json has no end time: the run was interrupted (vtbench run --resume DIR completes it)"))
    for s in m.get("skipped") or []:
        w.append(("skipped", f"skipped: {s.get('cell', s) if isinstance(s, dict) else s}"
                             f"{' - ' + s['why'] if isinstance(s, dict) and s.get('why') else ''}"))
    pr = m.get("probes") or {}
    if pr.get("state") in ("off", "mixed") and pr.get("why"):
        w.append(("probes", f"probes {pr['state']}: {pr['why']} (exits are then counted by the transports alone)"))
    if len(df):
        for _, r in df[df["failed"] > 0].iterrows():
            w.append(("failed", f"{r.workload} {r.label} [{r.placement}]: {r.failed} of {r.reps} repetitions "
                                f"failed: {'; '.join(r.errors)} (results.jsonl lines {_lines(r.lines)})"))
        if "noisy" in df:
            for _, r in df[df["noisy"] == True].iterrows():  # noqa: E712 (NaN-safe)
                if r.get("ops_ratio_paired") == True:  # noqa: E712
                    w.append(("noisy", f"{r.workload} {r.label} [{r.placement}]: its paired ratio to shm "
                                       f"is known to ±{r.ops_ratio_hw_pct:.1f}% (95%) over {r.ops_ratio_n} repetitions"))
                    continue
                w.append(("noisy", f"{r.workload} {r.label} [{r.placement}]: repetitions vary "
                                   f"(CV {100 * r.cv:.0f}% over {r.reps - r.failed}); its ratios are uncertain"))
        if "verified" in df:
            for _, r in df[df["verified"] == False].iterrows():  # noqa: E712
                w.append(("verify", f"{r.workload} {r.label}: data verification FAILED"))
    return w


def _fmt_moved(mv):
    if isinstance(mv, dict):
        return ", ".join(f"{k} {v}" for k, v in mv.items())
    return str(mv)


def _lines(ls):
    return ",".join(map(str, ls))


def _probe_overhead(run):
    p = os.path.join(run.path, "probe_overhead.json")
    if os.path.exists(p):
        try:
            with open(p) as f:
                return json.load(f), "probe_overhead.json"
        except (OSError, ValueError):
            pass
    # Computed from this run when it paired probes on and off.
    o = probe_overhead(run.rows)
    return (o, "this run's probes=on/off pairs") if o["cells"] else (None, None)


def _precision(df):
    """How tight the ratios to shm are: the 95% CI half-widths of every
    cell but shm/split itself, and how many are within 5%."""
    if not len(df) or "ops_ratio_hw_pct" not in df:
        return None
    g = df[(df["transport"] != "shm") | (df["variant"] != "split")]
    g = g[g["ops_ratio"].notna()] if "ops_ratio" in g else g[:0]
    if not len(g):
        return None
    hw = g["ops_ratio_hw_pct"]
    known = hw[hw.notna()]
    return {"cells": len(g), "with_ci": len(known), "median": float(known.median()) if len(known) else math.nan,
            "within5": int((known <= 5).sum()), "paired": int(g["ops_ratio_paired"].sum())}


def build(run_dir, out_dir=None):
    run = load_run(run_dir)
    df = C.vs_base(C.cell_frame(run))
    out_dir = out_dir or os.path.join(run.path, "report")
    os.makedirs(out_dir, exist_ok=True)
    figs = Figures()
    workloads = []
    if len(df):
        # One section per workload and placement, every platform's cells
        # in it (each guest arch, backend and guest I/O engine): a qemu row
        # sits beside the proc row of its mechanism (ratios stay within a
        # platform and its settings: vs_base keys by workload_key).
        df["_wk_any_platform"] = [_without_platform(wk) for wk in df["workload_key"]]
        order = list(dict.fromkeys(zip(df["_wk_any_platform"], df["placement"])))
        for n, (wk, pl) in enumerate(order):
            g = df[(df["_wk_any_platform"] == wk) & (df["placement"] == pl)]
            workloads.append(_workload_section(n, g, figs))
    size_figs = _size_figures(df, figs) if len(df) else []
    svgs = figs.render()
    csvs = {"cells.csv": _csv(df, DECISION_COLS + [c for c in COST_COLS if c not in DECISION_COLS]) if len(df) else "",
            "decision.csv": _csv(df, DECISION_COLS) if len(df) else "",
            "costs.csv": _csv(df, COST_COLS) if len(df) else ""}
    for name, text in csvs.items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)
    rel_cells = df[(df.get("model_relative") == True) & df["model_err_pct"].notna()] if "model_relative" in df else df[:0]  # noqa: E712
    model = None
    if len(rel_cells):
        e = rel_cells["model_err_pct"].abs()
        model = {"cells": len(e), "median_abs": float(e.median()), "within15": int((e <= 15).sum()),
                 "worst": rel_cells.loc[e.idxmax(), ["workload", "transport_variant", "model_err_pct"]].tolist()}
    precision = _precision(df)
    real = _model_vs_real(df) if len(df) else None
    po, po_src = _probe_overhead(run)
    ctx = {
        "run": run, "meta": run.meta, "workloads": workloads, "svgs": svgs, "size_figs": size_figs,
        "warnings": _warnings(run, df), "model": model, "precision": precision, "real": real,
        "probe_overhead": po, "probe_overhead_src": po_src,
        "calibration": _calibration_table(run.meta.get("calibration") or {}),
        "csv_links": {k: "data:text/csv;base64," + base64.b64encode(v.encode()).decode() for k, v in csvs.items()},
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": len(run.rows), "results_path": os.path.relpath(os.path.join(run.path, "results.jsonl"), out_dir),
    }
    page = html.render("report.html.j2", **ctx)
    path = os.path.join(out_dir, "index.html")
    with open(path, "w") as f:
        f.write(page)
    return path, run, df


# The fields of a workload that say where it ran, not what it ran.
PLATFORM_FIELDS = ("platform", "arch", "backend", "guest_io")


def _without_platform(wk):
    return tuple(v for f, v in zip(WORKLOAD, wk) if f not in PLATFORM_FIELDS)


def _order(s):
    if s.name == "platform":
        return s.map(lambda v: (v != "proc", v))
    if s.name in ("arch", "backend", "guest_io"):
        return s.map(lambda v: (v not in ("", "x86_64", "qemu", "io_uring"), v))
    if s.name == "transport":
        return s.map(lambda v: (v != "shm", v))
    return s


# What the model vs real section sets side by side: the proc model's count
# per op of each against the guest kernel's (and QEMU's) for the same cell.
REAL_COUNTS = (("maps", "maps"), ("unmaps", "unmaps"), ("bounce_copies", "bounces"), ("copy_bytes", "bytes copied"),
               ("notifies", "doorbells"), ("flushes", "flushes"))
REAL_TRANSPORTS = ("swiotlb", "viommu")


def _model_vs_real(df):
    """For swiotlb and viommu: each proc cell's counts per op beside the
    guest-platform cell of the same workload, transport and variant."""
    if "platform" not in df or df["platform"].nunique() < 2:
        return None
    out = []
    keyed = {}
    for _, r in df.iterrows():
        keyed.setdefault((r["_wk_any_platform"], r.placement, r.transport, r.variant), {})[r.platform_label] = r
    for (wk, pl, t, v), by in keyed.items():
        if t not in REAL_TRANSPORTS or "proc" not in by:
            continue
        for plat, g in by.items():
            if plat == "proc":
                continue
            p = by["proc"]
            out.append({"workload": p.workload, "placement": pl, "mechanism": f"{t}/{v}", "platform": plat,
                        "accel": g.get("accel"),
                        "counts": [(label, p.get(k), g.get(k)) for k, label in REAL_COUNTS]})
    return {"rows": out, "labels": [label for _, label in REAL_COUNTS]} if out else None


def _section_name(r):
    """The workload a section holds, without the platform settings its
    rows differ in (each row's platform column names them)."""
    w = dict(zip(WORKLOAD, r["workload_key"]))
    for f, dflt in (("backend", "qemu"), ("guest_io", "io_uring")):
        if f in w:
            w[f] = dflt
    return workload_label(tuple(w[f] for f in WORKLOAD))


def _workload_section(n, g, figs):
    g = g.sort_values([c for c in ("platform", "arch", "backend", "guest_io", "transport", "variant") if c in g],
                      key=_order)
    name = _section_name(g.iloc[0])
    pl = g.iloc[0]["placement"]
    sid = f"w{n}"
    ok = g[g["ops_per_s"].notna()] if "ops_per_s" in g else g[:0]
    labels = list(ok["label"])
    fig = {}
    if len(ok):
        terms = [(t, [x if x == x else 0 for x in ok.get(f"term_{t}_ns", [math.nan] * len(ok))]) for t in C.TERMS]
        terms.append(("wake", [x if x == x else 0 for x in ok.get("model_wake_ns", [math.nan] * len(ok))]))
        pts = [("measured ns/op", list(ok["model_meas_ns"] if "model_meas_ns" in ok else ok["ns_per_op"])),
               ("predicted ns/op", list(ok["model_pred_ns"] if "model_pred_ns" in ok else [math.nan] * len(ok)))]
        fig["cost"] = figs.bars(f"{sid}-cost", f"{name}: modelled seam cost per op by term", labels, terms, "ns per op",
                                stacked=True, points=pts, clip_points=True)
        fig["cpu"] = figs.bars(f"{sid}-cpu", f"{name}: CPU time per op by domain", labels,
                               [("FE", list(ok["cpu_fe_us_op"])), ("BE", list(ok["cpu_be_us_op"]))], "µs per op",
                               stacked=True)
        fig["events"] = figs.bars(f"{sid}-events", f"{name}: exits and doorbells per op", labels,
                                  [("exits", list(ok["exits"])), ("doorbells", list(ok["notifies"])),
                                   ("waits", list(ok["waits"]))], "per op")
        series = []
        from .stats import Hists
        for _, r in ok.iterrows():
            hr = [x for x in r._ok if x.get("hist", {}).get("buckets")]
            if hr:
                x, y = Hists(hr).cdf()
                series.append((r.label, [(a / 1000, b) for a, b in zip(x, y)]))
        fig["cdf"] = figs.lines(f"{sid}-cdf", f"{name}: latency CDF (merged repetitions)", series, "latency (µs)",
                                "fraction of requests", logx=True, steps=True, yrange=(0, 1))
    return {"id": sid, "name": name, "placement": pl, "rows": [r for _, r in g.iterrows()], "fig": fig}


def _size_figures(df, figs):
    """Throughput against size per transport, for each workload that ran
    at several sizes with everything else equal."""
    out = []
    ok = df[df["ops_per_s"].notna()].copy() if "ops_per_s" in df else df[:0]
    if not len(ok):
        return out
    ok["_wk_nosize"] = [tuple(v for f, v in zip(C.WORKLOAD, wk) if f != "size") for wk in ok["workload_key"]]
    for n, ((wk, pl), g) in enumerate(ok.groupby(["_wk_nosize", "placement"], sort=False)):
        if g["size"].nunique() < 2:
            continue
        series = []
        for tv, t in g.groupby("transport_variant", sort=False):
            t = t.sort_values("size")
            series.append((tv, [(int(s), o / 1e6, lo / 1e6, hi / 1e6) for s, o, lo, hi in
                                zip(t["size"], t["ops_per_s"], t["ops_lo"].fillna(t["ops_per_s"]),
                                    t["ops_hi"].fillna(t["ops_per_s"]))]))
        label = g.iloc[0]["workload"].replace(human_size(g.iloc[0]["size"]) + " ", "")
        sizes = sorted({int(v) for v in g["size"]})
        name = figs.lines(f"size{n}", f"{label} [{pl}]: throughput against size (95% CI)", series, "size",
                          "Mops/s", logx=True, errorbars=True, xtics=[(human_size(v), v) for v in sizes],
                          xrange=(sizes[0] / 1.5, sizes[-1] * 1.5))
        if name:
            out.append({"name": name, "title": f"{label} [{pl}]"})
    return out


def _calibration_table(cal):
    start, end = cal.get("start") or {}, cal.get("end") or {}
    rows = []
    for k, v in start.items():
        if isinstance(v, dict) and "v" in v:
            e = end.get(k) if isinstance(end.get(k), dict) else {}
            rows.append({"name": k, "unit": v.get("unit", ""), "start": v["v"], "spread": v.get("spread_pct"),
                         "end": e.get("v"), "end_spread": e.get("spread_pct")})
    reps = cal.get("reps") or []
    return {"rows": rows, "placement_start": start.get("placement"), "placement_end": end.get("placement"),
            "moved": cal.get("moved") or [], "reps": len(reps)}

