#!/usr/bin/env python3
"""Re-prices a run's rows with the cost model (harness/model.c, re-implemented
here line for line) from their own counters and the run's own calibration,
so a change to the model can be judged on runs already made, on any board.

    analysis/reprice.py RUN_DIR [--terms old|new] [--check] [--worst N]

--terms old prices as the model did before the cross-CPU copy figures
(warm memcpy and hypervisor-copy bandwidth); new (the default) uses those
figures where the run's calibration has them and falls back to old terms
where it does not (a run recorded before them).  --check compares the
prices with the rows' own `model` and exits 1 on any difference: the
re-implementation must reproduce the harness before its figures mean
anything.  Each row is priced with the calibration of its repetition
(meta.json calibration.reps) against the shm reference the row names.
Prints the median absolute error over cells (each cell the median of its
repetitions) by transport, notify mode and depth."""
import argparse
import collections
import gzip
import json
import os
import statistics
import sys

XC_SIZES = (64, 4096, 65536)
XC_NAMES = ("64", "4k", "64k")


def load(run):
    with open(os.path.join(run, "meta.json")) as f:
        meta = json.load(f)
    p = os.path.join(run, "results.jsonl")
    op = open if os.path.exists(p) else gzip.open
    rows = []
    with op(p if os.path.exists(p) else p + ".gz", "rt", errors="replace") as f:
        for n, line in enumerate(f, 1):
            try:
                r = json.loads(line) if line.strip() else None
            except ValueError as e:
                print(f"{p}:{n}: not a row, left out: {e}", file=sys.stderr)
                continue
            if isinstance(r, dict) and "cell" in r and "domains" in r:
                rows.append(r)
    return meta, rows


def figures(cal):
    return {k: v["v"] for k, v in cal.items() if isinstance(v, dict) and "v" in v}


def xcopy(c, kind, n, nbytes):
    """vtb_model_xcopy_ns: None when the curve is not calibrated."""
    pts = [c.get(f"{kind}_{s}", 0) for s in XC_NAMES]
    if not pts[-1] > 0:
        return None     # not calibrated; the smaller points may be 0
    if n <= 0 or nbytes <= 0:
        return 0.0
    m = nbytes / n
    if m <= XC_SIZES[0]:
        per = pts[0]
    elif m >= XC_SIZES[-1]:
        per = pts[-1] * m / XC_SIZES[-1]
    else:
        i = 1
        while m > XC_SIZES[i]:
            i += 1
        a, b = XC_SIZES[i - 1], XC_SIZES[i]
        per = pts[i - 1] + (pts[i] - pts[i - 1]) * (m - a) / (b - a)
    return n * per


def terms(c, r, new=True):
    """vtb_model_terms: per-domain terms, work and wake per op."""
    ops = r["ops"] or 1
    t = {d: dict(hv_copy=0.0, bounce=0.0, map=0.0, doorbell=0.0, reclaim=0.0) for d in ("fe", "be")}
    notifies = 0
    hv_byte = 1 / c["hv_gbps"] if c["hv_gbps"] > 0 else 0
    if new and c.get("hv_x64_ns", 0) > 0 and c.get("hv_x4k_ns", 0) > c["hv_x64_ns"]:
        hv_byte = (c["hv_x4k_ns"] - c["hv_x64_ns"]) / (4096 - 64)
    for d, other in (("fe", "be"), ("be", "fe")):
        k = r["domains"][d]
        segs = max(k["copy_segs"] - k["copies"], 0)
        t[d]["hv_copy"] = (k["copies"] * c["hv_call_ns"] + segs * c["hv_seg_ns"] + k["copy_bytes"] * hv_byte) / ops
        nb, bb = k["bounce_copies"], k["bounce_bytes"]
        xc = xcopy(c, "xcopy", nb, bb) if new else None
        if xc is not None:
            t[d]["bounce"] = xc / ops
            rc = xcopy(c, "reclaim", nb, bb) or 0
            hv = r["domains"][other]["copy_bytes"]
            share = (bb - hv) / bb if bb > hv else 0
            t[other]["reclaim"] += max(rc, 0) * share / ops
        elif nb:
            m = bb / nb
            bw = c["memcpy_4k"] if m <= 16384 else c["memcpy_64k"] if m <= 512 * 1024 else c["memcpy_1m"]
            t[d]["bounce"] = bb / bw / ops if bw > 0 else 0
        pages = k["map_bytes"] / 4096
        t[d]["map"] = (k["maps"] * c["map_ns"] + max(pages - k["maps"], 0) * c["map_batch_ns"]) / ops
        t[d]["doorbell"] = (k["notifies"] + k["waits"]) * c["syscall_ns"] / ops
        notifies += k["notifies"]
    work = {d: sum(t[d].values()) for d in t}
    poll, qd = r["cell"]["notify"] == "poll", r["cell"]["qd"]
    w = c["eventfd_rtt_ns"] / 2 - 2 * c["syscall_ns"]
    wake = notifies / ops * w if not poll and qd <= 1 and w > 0 else 0.0
    return t, work, wake


def predict(c, r, ref, new=True):
    """vtb_model_predict's time per op (ns)."""
    _, work, wake = terms(c, r, new)
    poll, qd = r["cell"]["notify"] == "poll", r["cell"]["qd"]
    if ref is None:
        line = c["pingpong_ns"] / (qd or 1) if poll else 0
        return max(work.values()) + line if qd > 1 else sum(work.values()) + wake + line
    _, rw, rwake = terms(c, ref, new)
    tref = ref["seconds"] * 1e9 / ref["ops"]
    if qd <= 1:
        return tref + sum(work[d] - rw[d] for d in work) + wake - rwake
    p = tref
    for d in ("fe", "be"):
        cref = ref["cpu_s"][d] * 1e9 / ref["ops"]
        busy = cref + work[d] - rw[d]
        if not poll:
            more = r["domains"][d]["waits"] / (r["ops"] or 1) - ref["domains"][d]["waits"] / ref["ops"]
            busy += max(tref - cref, 0) + (more * c["eventfd_rtt_ns"] / 2 if more > 0 else 0)
        p = max(p, busy)
    return p


def _wl(c):
    return (c["device"], c["pattern"], c["mode"], c["mix"], c["size"], c["qd"], c["notify"])


def reprice(meta, rows, new=True):
    """(row, predicted, reference row) for every row the harness priced."""
    cal = meta["calibration"]
    # A resumed run's later rows were priced by the resuming process with
    # its own calibrations (meta.json "resumes", from its rows_before on).
    eras = [(0, cal.get("reps") or [cal["start"]], cal["start"])]
    for res in meta.get("resumes") or []:
        eras.append((res["rows_before"], res.get("reps") or [res["calibration_start"]], res["calibration_start"]))
    eras.sort(key=lambda e: e[0])
    shm = {}
    for r in rows:
        if r["cell"]["transport"] == "shm":
            shm[_wl(r["cell"]) + (r["cell"]["variant"], r["rep"])] = r
    out = []
    for n, r in enumerate(rows):
        m = r.get("model")
        if not m or not r.get("ops"):
            continue
        ref = None
        if m.get("reference"):
            name, _, tail = m["reference"].rpartition(" rep ")
            variant = name.split("/shm ")[1].split()[0]
            ref = shm.get(_wl(r["cell"]) + (variant, int(tail.split()[0])))
        _, reps, start = [e for e in eras if e[0] <= n][-1]
        c = figures(reps[r["rep"]] if r["rep"] < len(reps) else start)
        out.append((r, predict(c, r, ref, new), ref))
    return out


def cell_key(c):
    return (c["device"], c["mode"] or c["pattern"], c["mix"], c["size"], c["qd"], c["notify"], c["transport"], c["variant"])


def summary(priced):
    cells = collections.defaultdict(list)
    for r, p, ref in priced:
        if ref is None:
            continue    # an absolute floor, not a prediction
        meas = r["seconds"] * 1e9 / r["ops"]
        cells[cell_key(r["cell"])].append(100 * (p - meas) / meas)
    return {k: statistics.median(v) for k, v in cells.items()}


def _med(v):
    return statistics.median(abs(x) for x in v)


def report(errs, worst):
    e = list(errs.values())
    if not e:
        print("no cell priced from a reference")
        return
    print(f"cells {len(e)}: median |error| {_med(e):.1f}%, {sum(abs(x) <= 15 for x in e)} within 15%, "
          f"median error {statistics.median(e):+.1f}%")
    for name, f in (("transport", lambda k: k[6]), ("notify", lambda k: k[5]),
                    ("notify, depth", lambda k: f"{k[5]} {'qd>1' if k[4] > 1 else 'qd1'}")):
        g = collections.defaultdict(list)
        for k, x in errs.items():
            g[f(k)].append(x)
        print(f"  by {name}: " + ", ".join(f"{kk} {_med(v):.1f}% ({len(v)})" for kk, v in sorted(g.items())))
    for k, x in sorted(errs.items(), key=lambda kv: -abs(kv[1]))[:worst]:
        print(f"    {x:+7.1f}%  {' '.join(str(v) for v in k if v != '')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--terms", choices=("old", "new"), default="new")
    ap.add_argument("--check", action="store_true", help="the rows' own model must be reproduced")
    ap.add_argument("--worst", type=int, default=10)
    a = ap.parse_args()
    meta, rows = load(a.run)
    priced = reprice(meta, rows, a.terms == "new")
    if a.check:
        # Within what the rows and meta.json were written to: figures carry
        # 4 significant digits in runs recorded before revision 3c816e3.
        bad = [(r, p) for r, p, _ in priced if abs(p - r["model"]["predicted_ns_per_op"]) > 0.05 + 1e-3 * abs(p)]
        for r, p in bad[:5]:
            print(f"differs: {' '.join(map(str, cell_key(r['cell'])))} rep {r['rep']}: {p:.1f} against "
                  f"{r['model']['predicted_ns_per_op']:.1f}", file=sys.stderr)
        print(f"{len(priced) - len(bad)} of {len(priced)} rows reproduced")
        if bad:
            return 1
    report(summary(priced), a.worst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
