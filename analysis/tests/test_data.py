"""Reading result files: bad lines are excluded visibly, with their line
numbers; schemas this reader does not know are refused clearly."""
import json
import os

import numpy as np
import pytest

import synth
from vtba.data import RunError, load_run


def _rows(n=3):
    g = np.random.default_rng(1)
    return [synth.row("r", {"index": 0}, i, 1e6, g.lognormal(7, 0.2, 100)) for i in range(n)]


def test_good_run_reads_every_row(tmp_path):
    d = synth.write_run(str(tmp_path / "run"), _rows())
    run = load_run(d)
    assert len(run.rows) == 3 and run.excluded == []
    assert [r["_line"] for r in run.rows] == [1, 2, 3]


def test_corrupt_and_truncated_lines_are_reported_with_line_numbers(tmp_path):
    rows = _rows()
    d = synth.write_run(str(tmp_path / "run"), rows,
                        extra_lines=['{"schema": 1, "oops\n', json.dumps(dict(rows[0], rep=3)) + "\n", '{"schema":1,"run_id":"cut sh'])
    run = load_run(d)
    assert len(run.rows) == 4
    ex = "\n".join(run.excluded)
    assert "results.jsonl:4: not JSON" in ex
    assert "results.jsonl:6: truncated" in ex
    assert len(run.excluded) == 2


def test_newer_schema_line_is_refused_with_reason(tmp_path):
    rows = _rows()
    newer = dict(rows[0], schema=2)
    d = synth.write_run(str(tmp_path / "run"), rows, extra_lines=[json.dumps(newer) + "\n"])
    run = load_run(d)
    assert len(run.rows) == 3
    assert any(":4: schema 2 (written by a newer vtbench" in e for e in run.excluded)


def test_older_schema_line_and_missing_fields(tmp_path):
    rows = _rows()
    old = {k: v for k, v in rows[0].items() if k != "schema"}
    lacking = {k: v for k, v in rows[0].items() if k != "ops_per_s"}
    d = synth.write_run(str(tmp_path / "run"), rows, extra_lines=[json.dumps(old) + "\n", json.dumps(lacking) + "\n"])
    run = load_run(d)
    assert len(run.rows) == 3
    assert any(":4: schema None" in e for e in run.excluded)
    assert any(":5: lacks ops_per_s" in e for e in run.excluded)


def test_newer_meta_schema_refuses_the_run(tmp_path):
    d = synth.write_run(str(tmp_path / "run"), _rows(), meta_extra={"schema": 7})
    with pytest.raises(RunError, match="schema 7.*newer vtbench"):
        load_run(d)


def test_not_a_run(tmp_path, run_cli):
    os.makedirs(tmp_path / "empty")
    with pytest.raises(RunError, match="no results.jsonl"):
        load_run(str(tmp_path / "empty"))
    p = run_cli("report", str(tmp_path / "empty"))
    assert p.returncode == 2 and "no results.jsonl" in p.stderr
