"""One cell identity (vtba.data.IDENT, with the platform): rows that differ
only in their platform are separate cells in summary, in the probe-overhead
pairing and in compare, and a cell is never priced against another
platform's shm."""
import json
import os
import subprocess
import sys

import numpy as np

import synth
from vtba import data
from vtba.overhead import key, probe_overhead

ANALYSIS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ANALYSIS)
import summary  # noqa: E402


def _rows(run_id="R", scale=None, probes=("on",)):
    """shm/split and grant/copy on two platforms, each 4 repetitions; proc
    runs at 1e6 ops/s, the other platform at half that."""
    g = np.random.default_rng(7)
    rows, index = [], 0
    for platform in ("proc", "xen"):
        for transport, variant in (("shm", "split"), ("grant", "copy")):
            for pr in probes:
                speed = (1e6 if platform == "proc" else 5e5) * (1.1 if pr == "off" else 1.0)
                speed *= (scale or {}).get((platform, transport), 1.0)
                for rep in range(4):
                    cell = {"index": index, "platform": platform, "transport": transport, "variant": variant,
                            "probes": pr}
                    rows.append(synth.row(run_id, cell, rep, speed * (1 + 0.01 * rep), g.lognormal(7, 0.1, 200)))
                index += 1
    return rows


def test_identity_has_the_platform_and_one_definition():
    a, b = _rows()[0], _rows()[8]
    assert a["cell"]["platform"] != b["cell"]["platform"]
    assert "platform" in data.IDENT and "platform" in data.WORKLOAD
    assert data.ident(a) != data.ident(b)
    assert key(a) == data.cell_key(a) and key(a) != key(b)
    assert data.ident_replace(data.ident(a), platform="xen") == data.ident(b)
    assert data.ident_fields(data.ident(a))["platform"] == "proc"


def test_summary_keeps_platforms_apart():
    recs = summary.summarize(_rows())
    assert len(recs) == 4
    assert sorted((r["platform"], r["transport"]) for r in recs) == \
        [("proc", "grant"), ("proc", "shm"), ("xen", "grant"), ("xen", "shm")]
    by = {(r["platform"], r["transport"]): r["ops_per_s"] for r in recs}
    assert by[("proc", "shm")] > 9e5 and by[("xen", "shm")] < 6e5
    # grant on each platform is priced against its own platform's shm: 1.0.
    vs = summary.vs_shm(_rows())
    ratios = {r["workload"].split()[-1]: r["ops_ratio"] for r in vs if r["transport"] == "grant/copy"}
    assert set(ratios) == {"proc", "xen"} and all(abs(x - 1) < 1e-9 for x in ratios.values()), vs


def test_probe_overhead_pairs_within_a_platform():
    o = probe_overhead(_rows(probes=("on", "off")))
    assert len(o["cells"]) == 4 and all(c["pairs"] == 4 for c in o["cells"])
    assert all(abs(c["overhead_pct"] - 100 / 11) < 1e-6 for c in o["cells"]), o
    assert {c["cell"].split()[-2] for c in o["cells"]} == {"proc", "xen"}


def test_compare_keeps_platforms_apart(tmp_path):
    a = synth.write_run(str(tmp_path / "a"), _rows("A"), run_id="A")
    b = synth.write_run(str(tmp_path / "b"), _rows("B", scale={("xen", "grant"): 0.5}), run_id="B")
    out = str(tmp_path / "cmp.json")
    p = subprocess.run(["/usr/bin/python3", os.path.join(ANALYSIS, "cli.py"), "compare", a, b, "--json", out],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 1, p.stdout + p.stderr
    res = json.load(open(out))
    assert len(res["cells"]) == 4, res["cells"]
    bad = [c for c in res["cells"] if c["ops_status"] == "regression"]
    assert len(bad) == 1 and bad[0]["transport"] == "grant/copy", bad
