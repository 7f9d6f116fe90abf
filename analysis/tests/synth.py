"""Synthetic vtbench runs with known answers, written as a real run
directory (meta.json + results.jsonl) in schema 1."""
import json
import math
import os

import numpy as np

SUB_BITS = 6


def bucket(v):
    """Index of the log2-linear bucket holding v ns (harness/hist.c)."""
    v = int(v)
    sub = 1 << SUB_BITS
    if v < sub:
        return v
    shift = v.bit_length() - 1 - SUB_BITS
    return sub + shift * sub + ((v >> shift) - sub)


def hist(lat_ns):
    v = np.maximum(np.asarray(lat_ns, dtype=np.int64), 0)
    sub = 1 << SUB_BITS
    lg = np.floor(np.log2(np.maximum(v, 1))).astype(np.int64)
    shift = np.maximum(lg - SUB_BITS, 0)
    idx = np.where(v < sub, v, sub + shift * sub + ((v >> shift) - sub))
    u, c = np.unique(idx, return_counts=True)
    return [[int(i), int(n)] for i, n in zip(u, c)]


CELL = {"device": "blk", "index": 0, "transport": "shm", "probes": "on", "usdt": 64, "variant": "split",
        "notify": "poll", "platform": "proc", "pattern": "randread", "mode": "", "mix": "", "size": 4096, "qd": 1,
        "rwmix": 0, "qsize": 256, "indirect": False, "events": False, "verify": False, "seed": 1, "cpus": [0, 1],
        "mem": 1 << 26, "disk": 1 << 26, "backing": "", "ops_target": 0, "duration": 0.4, "warmup": 0.1}


def row(run_id, cell, rep, ops_per_s, lat_ns, placement="near", error=None, t="2026-11-01T00:00:00Z"):
    lat_ns = np.asarray(lat_ns)
    n = len(lat_ns)
    c = dict(CELL, **cell)
    r = {"schema": 1, "run_id": run_id, "time": t, "git_rev": "synth",
         "host": {"cpu": "Synth CPU", "kernel": "Linux synth", "cores": 2}, "cell": c,
         "placement": {"pingpong_ns": 60.0 if placement == "near" else 400.0, "tag": placement},
         "rep": rep, "ops": 0 if error else n, "bytes": n * 4096, "seconds": n / ops_per_s,
         "ops_per_s": 0.0 if error else float(ops_per_s), "bytes_per_s": float(ops_per_s) * 4096,
         "lat_ns": {"p50": int(np.percentile(lat_ns, 50)), "p90": int(np.percentile(lat_ns, 90)),
                    "p99": int(np.percentile(lat_ns, 99)), "p999": int(np.percentile(lat_ns, 99.9)),
                    "max": int(lat_ns.max()), "min": int(lat_ns.min()), "mean": float(lat_ns.mean())},
         "hist": {"scheme": "log2-linear", "sub_bits": SUB_BITS, "unit": "ns", "count": n, "buckets": hist(lat_ns)},
         "per_op": {"copies": 1.0, "copy_bytes": 4096.0, "hv_copies": 0, "bounce_copies": 0, "xport_ops": 0,
                    "maps": 0.0, "unmaps": 0.0, "flushes": 0.0, "notifies": 0.1, "notifies_suppressed": 0.9,
                    "exits": 0.2, "waits": 0.1, "exits_source": "kernel", "syscalls": 0.2, "ctx_switches": 0.0,
                    "tlb_flushes": 0.0, "offcpu_ns": 0.0},
         "domains": {}, "cpu_s": {"fe": n / ops_per_s, "be": n / ops_per_s}, "device_stats": {},
         "perf": {}, "kernel": None,
         "limit": {"name": "pingpong", "ns_per_op": 500.0, "ratio": 500.0 * ops_per_s / 1e9},
         "model": {"predicted_ns_per_op": 1e9 / ops_per_s * 1.05, "measured_ns_per_op": 1e9 / ops_per_s,
                   "error_pct": 5.0, "relative": c["transport"] != "shm", "reference": None, "wake_ns": 0.0,
                   "terms": {"fe": {"hv_copy": 100.0, "bounce": 0.0, "map": 0.0, "doorbell": 10.0},
                             "be": {"hv_copy": 0.0, "bounce": 0.0, "map": 0.0, "doorbell": 10.0}}},
         "peer": None, "verified": None if error else True, "verify_errors": 0, "error": error}
    return r


def write_run(d, rows, run_id="synth", started="2026-11-01T00:00:00Z", extra_lines=(), meta_extra=None):
    os.makedirs(d, exist_ok=True)
    meta = {"schema": 1, "run_id": run_id, "git_rev": "synth", "platform": "proc",
            "host": {"cpu": "Synth CPU", "kernel": "Linux synth", "hostname": "synthbox", "cores": 2},
            "started": started, "ended": started, "cells": len({json.dumps(r["cell"]) for r in rows}),
            "rows": len(rows), "failed_rows": sum(r["error"] is not None for r in rows),
            "placement": {"pingpong_ns_start": 60.0, "tag_start": "near", "pingpong_ns_end": 61.0, "tag_end": "near"},
            "probes": {"state": "on", "why": None}, "skipped": [], "suite": "[synth]\ndevice=blk\n",
            "calibration": {"start": {"ok": True, "placement": "near",
                                      "memcpy_4k": {"v": 30.0, "spread_pct": 5.0, "unit": "GB/s"}},
                            "end": {"ok": True, "placement": "near",
                                    "memcpy_4k": {"v": 31.0, "spread_pct": 4.0, "unit": "GB/s"}}, "reps": []}}
    meta.update(meta_extra or {})
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f)
    with open(os.path.join(d, "results.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        for x in extra_lines:
            f.write(x)
    return d


TRANSPORTS = [("shm", "split"), ("shm", "packed"), ("swiotlb", "pool"), ("grant", "copy"), ("grant", "map"),
              ("viommu", "strict"), ("argo", "sync"), ("fatvq", "inline")]


def suite_rows(g, run_id, reps=8, cv=0.05, scale=None, sizes=(4096, 65536), qds=(1, 16), n_lat=400,
               placement="near", t="2026-11-01T00:00:00Z"):
    """A run of len(TRANSPORTS) x sizes x qds cells; each cell's true
    throughput is fixed by its identity, repetitions vary lognormally by
    `cv`, and `scale` {(transport, variant, size, qd): factor} plants
    changes."""
    rows, idx = [], 0
    scale = scale or {}
    for size in sizes:
        for qd in qds:
            for k, (t_, v) in enumerate(TRANSPORTS):
                true = 1e6 / (1 + k) * (4096 / size) ** 0.3 * (1 + 0.1 * qd)
                true *= scale.get((t_, v, size, qd), 1.0)
                for rep in range(reps):
                    ops = true * float(np.exp(g.normal(0, cv)))
                    lat = g.lognormal(np.log(1e9 / ops), 0.3, size=n_lat)
                    rows.append(row(run_id, {"transport": t_, "variant": v, "size": size, "qd": qd, "index": idx},
                                    rep, ops, lat, placement=placement, t=t))
                idx += 1
    return rows


# --- Small runs and hand-broken inputs, for the tests of bad input.

def small_rows(run_id="S", reps=3, seed=1, t="2026-11-01T00:00:00Z", **kw):
    """8 cells (one per transport) of `reps` repetitions, quick to analyse."""
    g = np.random.default_rng(seed)
    return suite_rows(g, run_id, reps=reps, sizes=(4096,), qds=(1,), n_lat=100, t=t, **kw)


def failed(r, error="transport: peer died"):
    """Row r as the harness writes a failed repetition."""
    return dict(r, error=error, ops=0, ops_per_s=0.0, verified=None)


def write_lines(d, lines, meta_text=None, **kw):
    """A run whose results.jsonl holds `lines` as given (dicts are dumped,
    strings written as they are, each ended by a newline), and whose
    meta.json is `meta_text` verbatim when given."""
    write_run(d, [], extra_lines=[(x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines], **kw)
    if meta_text is not None:
        with open(os.path.join(d, "meta.json"), "w") as f:
            f.write(meta_text)
    return d


def nightlies(root, nights=4, newest=None, board="boardA", reps=3):
    """`nights` runs of one board; newest(rows) -> rows rewrites the last."""
    dirs = []
    for n in range(nights):
        t = f"2026-11-{n + 1:02d}T02:00:00Z"
        rows = small_rows(f"{board}-{n}", reps=reps, seed=n, t=t)
        if newest and n == nights - 1:
            rows = newest(rows)
        dirs.append(write_lines(os.path.join(root, f"run{n:02d}"), rows, run_id=f"{board}-{n}", started=t,
                                meta_extra={"host": {"cpu": "X", "hostname": board, "cores": 2, "kernel": "x"}}))
    return dirs


def noisy_rows(g, run_id, reps=5, cv=0.05, drift=0.10, rho=0.8, p_out=0.1, scale=None, sizes=(4096, 65536),
               qds=(1, 16), n_lat=200, offset=0.0, t="2026-11-01T00:00:00Z"):
    """A run as vtbench runs one: repetitions one after another across all
    cells (rep-major).  Each window's operations run at the cell's true
    speed times lognormal noise `cv` of its own, times the machine's drift
    (log AR(1) over consecutive windows, standard deviation `drift`,
    correlation `rho` from one window to the next).  With probability
    `p_out` the host shares the vCPUs for 20-60% of a window: the
    operations run then take three times as long, the others do not, and
    the window's rate drops with its mean operation time.  `offset`: the whole
    run's log level (another day); `scale` plants changes as suite_rows
    (a faster or slower operation: throughput x f, latencies / f)."""
    scale = scale or {}
    cells = [(t_, v, size, qd) for size in sizes for qd in qds for t_, v in TRANSPORTS]
    rows, d = [], 0.0
    for rep in range(reps):
        for idx, (t_, v, size, qd) in enumerate(cells):
            k = TRANSPORTS.index((t_, v))
            true = 1e6 / (1 + k) * (4096 / size) ** 0.3 * (1 + 0.1 * qd) * scale.get((t_, v, size, qd), 1.0)
            d = rho * d + math.sqrt(1 - rho * rho) * g.normal(0, drift)
            speed = true * math.exp(offset + d + g.normal(0, cv))
            lat = g.lognormal(math.log(1e9 / speed), 0.3, size=n_lat)
            shared = g.uniform(0.2, 0.6) if g.random() < p_out else 0.0
            lat[g.random(n_lat) < shared] *= 3
            rows.append(row(run_id, {"transport": t_, "variant": v, "size": size, "qd": qd, "index": idx}, rep,
                            speed / (1 + 2 * shared), lat, t=t))
    return rows


def as_run(rows, run_id):
    """A vtba Run of `rows` held in memory (as load_run would read them)."""
    from vtba.data import Run
    rs = [dict(r, _line=n + 1) for n, r in enumerate(rows)]
    return Run(f"<{run_id}>", {"run_id": run_id}, rs, [])
