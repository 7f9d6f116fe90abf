"""analysis/reprice.py against the answers harness/tests/test_model.c works
out by hand for model.c: the two must price alike."""
import importlib.util
import json
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("reprice", os.path.join(HERE, "..", "reprice.py"))
rp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rp)

ZERO = dict(copies=0, copy_bytes=0, copy_segs=0, maps=0, map_bytes=0, notifies=0, waits=0, bounce_copies=0,
            bounce_bytes=0)


def fig(v):
    return {"v": v, "spread_pct": 1.0, "unit": "ns"}


def calib(cross=True):
    c = {"ok": True, "memcpy_4k": fig(10), "memcpy_64k": fig(20), "memcpy_1m": fig(40), "hv_call_ns": fig(1000),
         "hv_seg_ns": fig(300), "hv_gbps": fig(4), "pingpong_ns": fig(100), "eventfd_rtt_ns": fig(20000),
         "futex_rtt_ns": fig(20000), "syscall_ns": fig(200), "map_ns": fig(5000), "map_batch_ns": fig(500),
         "shootdown_ns": fig(0)}
    if cross:
        c.update({"xcopy_64": fig(50), "xcopy_4k": fig(400), "xcopy_64k": fig(5000), "reclaim_64": fig(10),
                  "reclaim_4k": fig(200), "reclaim_64k": fig(3000), "hv_x64_ns": fig(1500), "hv_x4k_ns": fig(1500 + 4032 * 0.5)})
    return c


def row(transport, fe, be, seconds, qd=1, notify="poll", rep=0, ref=None, cpu=(0.002, 0.002)):
    cell = {"device": "blk", "pattern": "randread", "mode": "", "mix": "", "size": 4096, "qd": qd, "notify": notify,
            "transport": transport, "variant": "split" if transport == "shm" else "pool"}
    return {"cell": cell, "rep": rep, "ops": 1000, "seconds": seconds, "cpu_s": {"fe": cpu[0], "be": cpu[1]},
            "domains": {"fe": dict(ZERO, **fe), "be": dict(ZERO, **be)},
            "model": {"predicted_ns_per_op": 0, "relative": ref is not None, "reference": ref}}


REF = "blk randread 4096/shm split poll qd=1 rep 0 near"
CELL = row("swiotlb", {"bounce_copies": 2000, "bounce_bytes": 2000 * 4096},
           {"copies": 2000, "copy_bytes": 8000000, "copy_segs": 5000}, 0.012, ref=REF)
SHM = row("shm", {}, {}, 0.002)


def test_cross_cpu_terms_as_model_c():
    c = rp.figures(calib())
    t, work, wake = rp.terms(c, CELL)
    assert t["fe"]["bounce"] == pytest.approx(800)
    be_rc = 400 * (8192 - 8000) / 8192    # not what the BE writes by hypervisor copy
    assert t["be"]["reclaim"] == pytest.approx(be_rc)
    assert t["be"]["hv_copy"] == pytest.approx(2000 + 900 + 8000 * 0.5)
    assert wake == 0
    assert rp.predict(c, CELL, SHM) == pytest.approx(2000 + 800 + be_rc + 6900)
    alone = json.loads(json.dumps(CELL))
    alone["domains"]["be"] = dict(ZERO)
    assert rp.terms(c, alone)[0]["be"]["reclaim"] == pytest.approx(400)
    assert rp.xcopy(c, "xcopy", 2, 2 * 2080) == pytest.approx(450)
    assert rp.xcopy(c, "xcopy", 1, 131072) == pytest.approx(10000)
    c["reclaim_64"] = 0     # a point of the curve, not a missing one
    assert rp.xcopy(c, "reclaim", 2, 2 * 2080) == pytest.approx(200)
    assert rp.xcopy(rp.figures(calib(cross=False)), "xcopy", 1, 4096) is None


def test_old_terms_and_a_calibration_without_the_cross_cpu_figures_price_warm():
    warm = 2000 + 2 * 4096 / 10 + 2000 + 900 + 8000 / 4
    assert rp.predict(rp.figures(calib()), CELL, SHM, new=False) == pytest.approx(warm)
    assert rp.predict(rp.figures(calib(cross=False)), CELL, SHM) == pytest.approx(warm)


def test_a_run_repriced_and_checked(tmp_path):
    meta = {"calibration": {"start": calib(), "reps": [calib()]}}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    cell = json.loads(json.dumps(CELL))
    cell["model"]["predicted_ns_per_op"] = 9709.375
    shm = json.loads(json.dumps(SHM))
    shm["model"]["predicted_ns_per_op"] = 100.0     # poll, depth 1, no work: one ping-pong
    # A torn line (a run killed mid-write) is left out, not fatal.
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in (shm, cell)) + '\n{"cell": \n')
    priced = rp.reprice(*rp.load(str(tmp_path)))
    assert [round(p, 3) for _, p, _ in priced] == [100.0, 9709.375]
    errs = rp.summary(priced)
    assert len(errs) == 1      # the shm row's absolute floor is no prediction
    assert list(errs.values())[0] == pytest.approx(100 * (9709.375 - 12000) / 12000)
