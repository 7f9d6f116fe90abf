"""Bad input never ends in a traceback, and never as exit 1 (a
regression): a run that cannot be read is exit 2 naming the file (and
line), a row of the wrong types is excluded with its line and field, a
failure of the tool itself is exit 3.  compare and trend do not pass a run
whose cells failed, vanished or hold impossible figures (exit 4), nor
count a duplicated row twice; out-of-range parameters are refused."""
import json
import math
import os

import pytest

import synth


def _no_traceback(p):
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr


def _good(tmp_path, name="a", run_id="A", **kw):
    return synth.write_run(str(tmp_path / name), synth.small_rows(run_id, **kw), run_id=run_id)


def _commands(tmp_path, d):
    """Each analysis command reading run d (compare as B, against a good A)."""
    a = _good(tmp_path, "good")
    return {"report": ("report", d, "--out", str(tmp_path / "rep")),
            "compare": ("compare", a, d),
            "trend": ("trend", d, "--out", str(tmp_path / "trend"))}


# --- item 9: bad meta.json, bad rows, unreadable files, unwritable outputs

@pytest.mark.parametrize("cmd,meta,why", [(c, m, w) for c in ("report", "compare", "trend") for m, w in (
    ("[1, 2]", "meta.json:1: an array, not an object"), ('{"schema": "2"}', "schema is a string"))] + [
    ("report", '{"schema": 2.5}', "schema is a number"), ("report", '{"schema": 9}', "schema 9"),
    ("compare", '"x"', "not an object")])
def test_bad_meta_json_is_exit_2_naming_it(tmp_path, run_cli, cmd, meta, why):
    d = synth.write_lines(str(tmp_path / "b"), synth.small_rows("B"), meta_text=meta, run_id="B")
    p = run_cli(*_commands(tmp_path, d)[cmd])
    _no_traceback(p)
    assert p.returncode == 2, p.stderr
    assert why in p.stderr and os.path.join(d, "meta.json") in p.stderr


def _bad(field):
    def mutate(r):
        r = json.loads(json.dumps(r))
        cur = r
        *path, last = field[0].split(".")
        for k in path:
            cur = cur[k]
        cur[last] = field[1]
        return r
    return mutate


BAD_ROWS = [(("cell", 5), "cell is an integer"), (("lat_ns", None), "lat_ns is null"),
            (("ops_per_s", "fast"), "ops_per_s is a string"), (("rep", "0"), "rep is a string"),
            (("cell.qd", [1]), "cell.qd is an array"), (("error", 3), "error is an integer"),
            (("hist", {"sub_bits": 6, "buckets": [[99999999, 1]]}), "hist.buckets[0]"),
            (("cpu_s", {"fe": "1", "be": 0}), "cpu_s.fe is a string"),
            (("placement", [1]), "placement is an array"), (("model.error_pct", "x"), "model.error_pct")]


@pytest.mark.parametrize("field,why", BAD_ROWS, ids=[f[0] for f, _ in BAD_ROWS])
def test_row_of_wrong_types_is_excluded_with_line_and_field(tmp_path, run_cli, field, why):
    rows = synth.small_rows("B")
    rows[5] = _bad(field)(rows[5])
    d = synth.write_lines(str(tmp_path / "b"), rows, run_id="B")
    p = run_cli("report", d, "--out", str(tmp_path / "rep"))
    _no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert f"results.jsonl:6: {why}" in p.stderr and "line excluded" in p.stderr
    assert os.path.exists(tmp_path / "rep" / "index.html")


@pytest.mark.parametrize("field,why", BAD_ROWS[:4], ids=[f[0] for f, _ in BAD_ROWS[:4]])
def test_row_of_wrong_types_never_exit_1_in_compare_or_trend(tmp_path, run_cli, field, why):
    rows = synth.small_rows("B")
    rows[5] = _bad(field)(rows[5])
    d = synth.write_lines(str(tmp_path / "b"), rows, run_id="B")
    for args in (_commands(tmp_path, d)["compare"], _commands(tmp_path, d)["trend"]):
        p = run_cli(*args)
        _no_traceback(p)
        assert p.returncode in (0, 4), p.stderr
        assert f"results.jsonl:6: {why}" in p.stdout + p.stderr


def test_results_jsonl_that_is_a_directory_is_exit_2(tmp_path, run_cli):
    d = tmp_path / "b"
    os.makedirs(d / "results.jsonl")
    for cmd, args in _commands(tmp_path, str(d)).items():
        p = run_cli(*args)
        _no_traceback(p)
        assert p.returncode == 2 and "results.jsonl: not a regular file" in p.stderr, (cmd, p.stderr)


def test_unreadable_meta_json_directory_leaves_metadata_out(tmp_path, run_cli):
    d = _good(tmp_path, "b", "B")
    os.remove(os.path.join(d, "meta.json"))
    os.makedirs(os.path.join(d, "meta.json"))
    p = run_cli("report", d, "--out", str(tmp_path / "rep"))
    _no_traceback(p)
    assert p.returncode == 0 and "meta.json: unreadable" in p.stderr


def test_meta_field_of_wrong_type_is_left_out_with_a_note(tmp_path, run_cli):
    rows = synth.small_rows("B")
    d = synth.write_run(str(tmp_path / "b"), rows, run_id="B",
                        meta_extra={"placement": [1], "started": 5, "calibration": {"start": [], "reps": 3}})
    meta = json.load(open(os.path.join(d, "meta.json")))
    text = json.dumps(meta, indent=1)
    line = {k: text[:text.index(f'"{k}"')].count("\n") + 1 for k in ("placement", "started")}
    open(os.path.join(d, "meta.json"), "w").write(text)
    p = run_cli("report", d, "--out", str(tmp_path / "rep"))
    _no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert f"meta.json:{line['placement']}: placement is an array" in p.stderr
    assert f"meta.json:{line['started']}: started is an integer" in p.stderr
    assert "calibration.start" in p.stderr and "calibration.reps" in p.stderr
    # The line of a bad schema, and of a parse error, are named too.
    open(os.path.join(d, "meta.json"), "w").write('{\n "run_id": "B",\n "schema": "2"\n}\n')
    p = run_cli("report", d, "--out", str(tmp_path / "rep"))
    assert p.returncode == 2 and "meta.json:3: schema is a string" in p.stderr, p.stderr
    open(os.path.join(d, "meta.json"), "w").write('{\n "run_id": "B",\n "schema": 1,\n')
    p = run_cli("report", d, "--out", str(tmp_path / "rep"))
    assert p.returncode == 0 and "meta.json:4: unreadable" in p.stderr, p.stderr


def test_outputs_that_cannot_be_written_are_exit_2_naming_them(tmp_path, run_cli):
    a, b = _good(tmp_path, "a", "A"), _good(tmp_path, "b", "B", seed=2)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    bad = str(blocker / "sub")
    for args in (("report", b, "--out", bad), ("compare", a, b, "--json", bad + "/c.json"),
                 ("compare", a, b, "--html", bad + "/c.html"), ("trend", a, b, "--out", bad)):
        p = run_cli(*args)
        _no_traceback(p)
        assert p.returncode == 2 and bad in p.stderr, (args, p.stderr)
    # A file of the report that cannot be written once the directory is
    # made (here a directory in its way: root writes through permissions).
    os.makedirs(tmp_path / "rep" / "index.html")
    p = run_cli("report", b, "--out", str(tmp_path / "rep"))
    _no_traceback(p)
    assert p.returncode == 2 and str(tmp_path / "rep" / "index.html") + ": cannot write" in p.stderr, p.stderr
    os.makedirs(tmp_path / "t" / "trend.json")
    p = run_cli("trend", a, "--out", str(tmp_path / "t"))
    assert p.returncode == 2 and str(tmp_path / "t" / "trend.json") + ": cannot write" in p.stderr, p.stderr
    # The default report directory inside a run that cannot be written.
    os.chmod(b, 0o555)
    try:
        if not os.access(b, os.W_OK):          # root writes anyway
            p = run_cli("report", b)
            assert p.returncode == 2 and os.path.join(b, "report") in p.stderr
    finally:
        os.chmod(b, 0o755)


def test_a_fault_of_the_tool_is_exit_3_in_one_line(tmp_path, monkeypatch, capsys):
    import cli
    from vtba import compare
    a, b = _good(tmp_path, "a", "A"), _good(tmp_path, "b", "B", seed=2)

    def boom(*_a, **_k):
        raise ZeroDivisionError("float division by zero")
    monkeypatch.setattr(compare, "compare", boom)
    assert cli.main(["compare", a, b]) == 3
    err = capsys.readouterr().err
    assert "internal error" in err and "ZeroDivisionError" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_json_written_is_strict_json(tmp_path, run_cli):
    a = _good(tmp_path, "a", "A", reps=1)
    b = _good(tmp_path, "b", "B", reps=1, seed=2)
    p = run_cli("compare", a, b, "--json", str(tmp_path / "c.json"))
    assert p.returncode in (0, 4), p.stderr

    def refuse(x):
        raise ValueError(f"{x} in JSON")
    json.loads(open(tmp_path / "c.json").read(), parse_constant=refuse)


# --- item 10: a gate that passes broken runs

def test_every_row_of_b_failed_is_exit_4_not_same(tmp_path, run_cli):
    a = _good(tmp_path, "a", "A")
    b = synth.write_run(str(tmp_path / "b"), [synth.failed(r) for r in synth.small_rows("B", seed=2)], run_id="B")
    p = run_cli("compare", a, b, "--json", str(tmp_path / "c.json"), "--html", str(tmp_path / "c.html"))
    _no_traceback(p)
    assert p.returncode == 4, p.stdout + p.stderr
    res = json.load(open(tmp_path / "c.json"))
    assert len(res["b_failed"]) == 8 and res["regressions"] == 0
    assert "failed in B: blk randread 4k qd1 poll argo/sync" in open(tmp_path / "c.html").read()
    assert "FAILED in B" in p.stdout and "failed in B:" in p.stdout and "peer died" in p.stdout


def test_one_failed_repetition_in_b_is_exit_4(tmp_path, run_cli):
    a = _good(tmp_path, "a", "A")
    rows = synth.small_rows("B", seed=2)
    rows[4] = synth.failed(rows[4])
    b = synth.write_run(str(tmp_path / "b"), rows, run_id="B")
    p = run_cli("compare", a, b, "--json", str(tmp_path / "c.json"))
    assert p.returncode == 4, p.stdout
    res = json.load(open(tmp_path / "c.json"))
    assert [x["lines"] for x in res["b_failed"]] == [[4, 5, 6]] and res["b_failed"][0]["failed"] == 1


def test_a_row_with_no_error_but_no_operations_counts_as_failed(tmp_path, run_cli):
    a = _good(tmp_path, "a", "A")
    rows = synth.small_rows("B", seed=2)
    rows[4] = dict(rows[4], ops=0, ops_per_s=0.0)
    b = synth.write_run(str(tmp_path / "b"), rows, run_id="B")
    p = run_cli("compare", a, b)
    assert p.returncode == 4 and "no operations measured" in p.stdout, p.stdout


def test_cell_missing_from_b_is_exit_4(tmp_path, run_cli):
    a = _good(tmp_path, "a", "A")
    rows = [r for r in synth.small_rows("B", seed=2) if r["cell"]["transport"] != "argo"]
    b = synth.write_run(str(tmp_path / "b"), rows, run_id="B")
    p = run_cli("compare", a, b)
    assert p.returncode == 4 and "missing in B: blk randread 4k qd1 poll argo/sync" in p.stdout, p.stdout


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1e6, -math.inf])
def test_impossible_throughput_is_excluded_and_a_finding(tmp_path, run_cli, bad):
    a = _good(tmp_path, "a", "A")
    rows = synth.small_rows("B", seed=2)
    for r in rows:
        if r["cell"]["transport"] == "grant" and r["cell"]["variant"] == "copy":
            r["ops_per_s"] = bad
    lines = [n for n, r in enumerate(rows, 1) if r["ops_per_s"] is bad]
    b = synth.write_lines(str(tmp_path / "b"), rows, run_id="B")
    p = run_cli("compare", a, b, "--json", str(tmp_path / "c.json"))
    _no_traceback(p)
    assert p.returncode == 4, p.stdout + p.stderr
    for n in lines:
        assert f"results.jsonl:{n}: ops_per_s is" in p.stdout
    assert "missing in B: blk randread 4k qd1 poll grant/copy" in p.stdout
    assert "every row of it in B excluded" in p.stdout
    # One impossible repetition among good ones: excluded, and a failure.
    rows = synth.small_rows("B", seed=2)
    rows[7]["ops_per_s"] = bad
    b = synth.write_lines(str(tmp_path / "b2"), rows, run_id="B")
    p = run_cli("compare", a, b, "--json", str(tmp_path / "c.json"))
    assert p.returncode == 4 and "results.jsonl:8: ops_per_s is" in p.stdout, p.stdout
    res = json.load(open(tmp_path / "c.json"))
    assert [x["lines"] for x in res["b_failed"]] == [[7, 8, 9]]


def test_all_of_b_impossible_is_exit_4(tmp_path, run_cli):
    a = _good(tmp_path, "a", "A")
    rows = [dict(r, ops_per_s=math.nan) for r in synth.small_rows("B", seed=2)]
    b = synth.write_lines(str(tmp_path / "b"), rows, run_id="B")
    p = run_cli("compare", a, b)
    _no_traceback(p)
    assert p.returncode == 4 and "no usable row" in p.stderr, p.stdout + p.stderr


def test_duplicate_rows_are_excluded_keeping_the_first(tmp_path, run_cli):
    rows = synth.small_rows("B", seed=2)
    a = _good(tmp_path, "a", "A")
    b = synth.write_lines(str(tmp_path / "b"), rows + rows[:3], run_id="B")
    p = run_cli("compare", a, b, "--json", str(tmp_path / "c.json"))
    assert p.returncode == 0, p.stdout
    for n, first in ((25, 1), (26, 2), (27, 3)):
        assert f"results.jsonl:{n}: duplicate of line {first}" in p.stdout
    res = json.load(open(tmp_path / "c.json"))
    assert all(c["reps_b"] == 3 for c in res["cells"])
    assert next(c for c in res["cells"] if c["transport"] == "shm/split")["lines_b"] == [1, 2, 3]


@pytest.mark.parametrize("args", [("--alpha", "2"), ("--alpha", "0"), ("--alpha", "1"), ("--alpha", "nan"),
                                  ("--threshold", "-5"), ("--threshold", "nan"), ("--threshold", "inf")])
def test_compare_refuses_parameters_out_of_range(tmp_path, run_cli, args):
    a = _good(tmp_path, "a", "A")
    p = run_cli("compare", a, a, *args)
    assert p.returncode == 2 and args[0] in p.stderr, p.stderr


@pytest.mark.parametrize("args", [("--window", "0"), ("--window", "-1"), ("--k", "0"), ("--k", "-3"), ("--k", "nan"),
                                  ("--min-history", "0"), ("--alpha", "1.5"), ("--threshold", "-1"),
                                  ("--window", "2", "--min-history", "3"), ("--window", "2.5")])
def test_trend_refuses_parameters_out_of_range(tmp_path, run_cli, args):
    a = _good(tmp_path, "a", "A")
    p = run_cli("trend", a, "--out", str(tmp_path / "t"), *args)
    assert p.returncode == 2 and "--" in p.stderr, p.stderr
    assert not os.path.exists(tmp_path / "t")


def test_trend_newest_run_all_failed_is_exit_4(tmp_path, run_cli):
    synth.nightlies(str(tmp_path / "runs"), newest=lambda rows: [synth.failed(r) for r in rows])
    p = run_cli("trend", str(tmp_path / "runs"), "--out", str(tmp_path / "t"))
    _no_traceback(p)
    assert p.returncode == 4, p.stdout + p.stderr
    res = json.load(open(tmp_path / "t" / "trend.json"))
    assert len(res["newest_broken"]) == 8 and all(b["kind"] == "failed" for b in res["newest_broken"])
    assert "failed      boardA-3" in p.stdout
    assert "The newest run is broken in 8 cells" in open(tmp_path / "t" / "index.html").read()


def test_trend_newest_run_lacking_a_cell_or_impossible_is_exit_4(tmp_path, run_cli):
    synth.nightlies(str(tmp_path / "r1"), newest=lambda rows: [r for r in rows if r["cell"]["transport"] != "argo"])
    p = run_cli("trend", str(tmp_path / "r1"), "--out", str(tmp_path / "t1"))
    assert p.returncode == 4 and "missing     boardA-3" in p.stdout and "argo/sync" in p.stdout, p.stdout

    def nan_viommu(rows):
        for r in rows:
            if r["cell"]["transport"] == "viommu":
                r["ops_per_s"] = math.nan
        return rows
    synth.nightlies(str(tmp_path / "r2"), newest=nan_viommu)
    p = run_cli("trend", str(tmp_path / "r2"), "--out", str(tmp_path / "t2"))
    assert p.returncode == 4 and "viommu/strict" in p.stdout and "ops_per_s is nan" in p.stdout, p.stdout
    # The same nights, none broken: exit 0; nor is a cell the vCPUs moved
    # to the far placement in the newest run missing from the near one.
    synth.nightlies(str(tmp_path / "r3"))
    p = run_cli("trend", str(tmp_path / "r3"), "--out", str(tmp_path / "t3"))
    assert p.returncode == 0, p.stdout

    def moved(rows):
        for r in rows:
            if r["cell"]["transport"] == "fatvq":
                r["placement"] = {"pingpong_ns": 400.0, "tag": "far"}
        return rows
    synth.nightlies(str(tmp_path / "r4"), newest=moved)
    p = run_cli("trend", str(tmp_path / "r4"), "--out", str(tmp_path / "t4"))
    assert p.returncode == 0 and "missing" not in p.stdout, p.stdout


def test_trend_counts_a_duplicated_row_or_copied_run_once(tmp_path, run_cli):
    dirs = synth.nightlies(str(tmp_path / "runs"), newest=lambda rows: rows + rows)
    os.makedirs(tmp_path / "copy")
    import shutil
    shutil.copytree(dirs[0], tmp_path / "copy" / "run00")
    p = run_cli("trend", str(tmp_path / "runs"), str(tmp_path / "copy"), "--out", str(tmp_path / "t"))
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.load(open(tmp_path / "t" / "trend.json"))
    assert len(res["runs"]) == 4
    assert all(pt["reps"] == 3 for s in res["series"] for pt in s["points"])
    assert "duplicate of line 1" in p.stderr and "a copy of" in p.stderr
