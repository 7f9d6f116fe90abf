"""vtbench export --squad RUN_DIR: a run as SQUAD's submission files.

SQUAD (Linaro's Software Quality Dashboard) takes a test run as three JSON
objects, POSTed to /api/submit/TEAM/PROJECT/BUILD/ENVIRONMENT:

  tests     {"SUITE/TEST": "pass" | "fail"}
  metrics   {"SUITE/METRIC": number | [numbers]}   (an array: its mean is the
            value, its spread the range)
  metadata  {"KEY": "string"}, job_id unique within the project

Suite names may hold slashes, a test or metric name may not (the last
slash splits them).  A cell is the test SUITE/NAME with SUITE =
vtbench/PLATFORM/DEVICE and NAME its workload and mechanism; it passes when
every repetition ran without an error and verified; its metrics are
NAME.ops_per_s and NAME.p99_us (one value per repetition), and, where the
run has them, NAME.x_shm (the throughput ratio to shm/split of its
workload), and the cell's per-op counts."""
import json
import math
import os
import re

from . import cells as C
from .data import load_run, write_text

SUITE_ROOT = "vtbench"
# A name SQUAD's URL and suite rules accept: no slash, nothing odd.
_BAD = re.compile(r"[^A-Za-z0-9_.+-]+")
PER_OP_METRICS = ("copies", "maps", "unmaps", "notifies", "exits", "bounce_copies")


def slug(text):
    return _BAD.sub("_", str(text)).strip("_") or "_"


def cell_names(rec):
    """(suite, name) of a cell record of cells.cell_frame."""
    suite = "/".join((SUITE_ROOT, slug(rec.get("platform") or "proc"), slug(rec["device"])))
    parts = [rec["workload"]]
    if rec.get("platform_label", "proc") != (rec.get("platform") or "proc"):
        parts.append(rec["platform_label"])      # the guest's arch
    if rec.get("setting"):
        parts.append(rec["setting"])
    parts += [rec["transport_variant"], f"placement-{rec['placement']}"]
    return suite, slug("_".join(str(p) for p in parts))


def _num(v):
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def squad(run_dir):
    """The three objects: tests, metrics, metadata."""
    run = load_run(run_dir)
    df = C.vs_base(C.cell_frame(run)) if run.rows else None
    tests, metrics = {}, {}
    for _, rec in (df.iterrows() if df is not None else ()):
        suite, name = cell_names(rec)
        key = f"{suite}/{name}"
        if key in tests:
            raise ValueError(f"two cells export as {key}")
        rows = [r for r in run.rows if C.cell_key(r) == (tuple(rec[f] for f in C.IDENT), rec["placement"])]
        ok = not rec["failed"] and all(r.get("verified") is not False for r in rows)
        tests[key] = "pass" if ok else "fail"
        good = [r for r in rows if r["error"] is None and r.get("ops")]
        if good:
            metrics[f"{key}.ops_per_s"] = [float(r["ops_per_s"]) for r in good]
            metrics[f"{key}.p99_us"] = [r["lat_ns"]["p99"] / 1000 for r in good]
        if _num(rec.get("ops_ratio")):
            metrics[f"{key}.x_shm"] = float(rec["ops_ratio"])
        for f in PER_OP_METRICS:
            if _num(rec.get(f)):
                metrics[f"{key}.{f}_per_op"] = float(rec[f])
    m = run.meta
    host = m.get("host") or {}
    metadata = {"job_id": str(m.get("run_id") or os.path.basename(os.path.abspath(run_dir))),
                "datetime": str(m.get("started") or ""), "git_rev": str(m.get("git_rev") or ""),
                "host_cpu": str(host.get("cpu") or ""), "host_kernel": str(host.get("kernel") or ""),
                "platforms": ",".join(m.get("platforms") or [m.get("platform") or "proc"]),
                "suite_versions": {SUITE_ROOT: str(m.get("git_rev") or "")}}
    return tests, metrics, metadata


def main(a):
    tests, metrics, metadata = squad(a.run_dir)
    out = a.out or os.path.join(a.run_dir, "squad")
    for name, obj in (("tests.json", tests), ("metrics.json", metrics), ("metadata.json", metadata)):
        write_text(os.path.join(out, name), json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n")
    fails = sum(v == "fail" for v in tests.values())
    print(f"{out}: {len(tests)} tests ({fails} failed), {len(metrics)} metrics; submit with\n"
          f"  curl --header \"Auth-Token: $SQUAD_TOKEN\" --form tests=@{out}/tests.json "
          f"--form metrics=@{out}/metrics.json --form metadata=@{out}/metadata.json "
          f"$SQUAD_URL/api/submit/TEAM/PROJECT/BUILD/ENVIRONMENT")
    return 0
