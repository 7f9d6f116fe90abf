"""Unchanged and regressed pairs made from one real run: its repetitions
split in two, and a regression planted in one cell of the second half."""
import copy
import json
import os

from vtba.data import bucket_mid

import synth


def plant(r, f):
    """Row r as if its cell ran at f times the throughput: every operation
    takes 1/f as long (throughput x f, latencies and their histogram / f)."""
    r = copy.deepcopy(r)
    r["ops_per_s"] *= f
    if r.get("bytes_per_s") is not None:
        r["bytes_per_s"] *= f
    if isinstance(r.get("ops"), int):
        r["ops"] = max(1, int(round(r["ops"] * f)))
    r["lat_ns"] = {k: (v / f if isinstance(v, float) else int(round(v / f))) for k, v in r["lat_ns"].items()}
    h = r.get("hist")
    if h and h.get("buckets"):
        acc = {}
        for i, c in h["buckets"]:
            j = synth.bucket(bucket_mid(i, h["sub_bits"]) / f) if h["sub_bits"] == synth.SUB_BITS else i
            acc[j] = acc.get(j, 0) + c
        h["buckets"] = sorted([i, c] for i, c in acc.items())
        r["lat_ns"]["min"] = min(r["lat_ns"]["min"], r["lat_ns"]["max"])
    return r


def cell_key(r):
    c = r["cell"]
    return tuple(str(c.get(k)) for k in ("device", "pattern", "mode", "mix", "size", "qd", "notify", "transport",
                                         "variant"))


def read_rows(path):
    with open(os.path.join(path, "results.jsonl")) as f:
        return [json.loads(x) for x in f if x.strip()]


def split(rows, reps_a):
    """(rows of the repetitions numbered in reps_a, the others), in run order."""
    reps_a = set(reps_a)
    return [r for r in rows if r["rep"] in reps_a], [r for r in rows if r["rep"] not in reps_a]


def write_pair(d, rows, reps_a, planted=None, f=1.0):
    """Run directories d/a and d/b from one run's rows; `planted` a cell_key
    whose rows in b are planted at f."""
    a, b = split(rows, reps_a)
    b = [plant(r, f) if planted is not None and cell_key(r) == planted else r for r in b]
    return (synth.write_run(os.path.join(d, "a"), a, run_id="split-a"),
            synth.write_run(os.path.join(d, "b"), b, run_id="split-b"))
