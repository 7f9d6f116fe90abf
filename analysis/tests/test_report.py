"""vtbench report: a self-contained page with the decision tables, costs,
plots, metadata and warnings, rendered in headless Chromium with no console
errors and a non-blank screenshot."""
import io
import json
import os

import numpy as np
import pandas as pd
import pytest

import browser
import synth


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rep")
    g = np.random.default_rng(4)
    rows = synth.suite_rows(g, "R", reps=4, sizes=(4096, 65536), qds=(1, 16), n_lat=1000)
    rows.append(synth.row("R", {"transport": "argo", "variant": "sync", "size": 4096, "qd": 1, "index": 6}, 4,
                          1.0, [1000], error="BE killed by signal 9 (SIGKILL) mid-cell"))
    d = synth.write_run(str(tmp / "run"), rows, run_id="R", extra_lines=['{"schema": 1, "run_id": "R", "ce\n'],
                        meta_extra={"placement": {"pingpong_ns_start": 60.0, "tag_start": "near",
                                                  "pingpong_ns_end": 420.0, "tag_end": "far", "moved": True}})
    from conftest import cli
    p = cli("report", d)
    assert p.returncode == 0, p.stderr
    path = p.stdout.strip().splitlines()[-1]
    return d, path, open(path).read(), p


def test_report_is_written_where_documented(report):
    d, path, html, p = report
    assert path == os.path.join(d, "report", "index.html")
    assert "results.jsonl:" in p.stderr and "not JSON" in p.stderr      # the bad line is reported on stderr too


def test_warnings_show_failures_bad_lines_and_placement(report):
    _, _, html, _ = report
    bad_line = len(open(os.path.join(report[0], "results.jsonl")).read().splitlines())
    assert f"results.jsonl:{bad_line}: not JSON" in html
    assert "BE killed by signal 9" in html and "1 of 5 repetitions failed" in html
    assert "placement moved during the run" in html


def test_decision_tables_ratios_and_best(report):
    d, _, html, _ = report
    df = pd.read_csv(os.path.join(d, "report", "decision.csv"))
    assert len(df) == 32 and set(df["workload"]) == {"blk randread 4k qd1 poll", "blk randread 4k qd16 poll",
                                                      "blk randread 64k qd1 poll", "blk randread 64k qd16 poll"}
    base = df[df["transport_variant"] == "shm/split"]
    assert (base["ops_ratio"] == 1.0).all()
    # In the synthetic suite the k-th transport is 1/(1+k) of shm/split.
    sw = df[(df["transport_variant"] == "swiotlb/pool")]
    assert ((sw["ops_ratio"] > 0.25) & (sw["ops_ratio"] < 0.42)).all()
    assert (sw["ops_ratio_lo"] <= sw["ops_ratio"]).all() and (sw["ops_ratio"] <= sw["ops_ratio_hi"]).all()
    best = df[df["best"]]
    assert len(best) == 4 and set(best["transport_variant"]) == {"shm/split"}
    # Every figure traces to its rows: four lines per cell, five for the one with a failed repetition.
    assert all(len(str(x).split()) in (4, 5) for x in df["lines"])
    assert html.count('class="best"') == 4
    assert html.count("<svg") >= 4 * 4 + 1      # four figures a workload, one size plot


def test_csv_downloads_are_embedded(report):
    d, _, html, _ = report
    import base64
    import re
    links = dict(re.findall(r'download="([^"]+)" href="data:text/csv;base64,([^"]+)"', html))
    assert set(links) == {"cells.csv", "decision.csv", "costs.csv"}
    got = pd.read_csv(io.StringIO(base64.b64decode(links["costs.csv"]).decode()))
    assert list(got.columns) == list(pd.read_csv(os.path.join(d, "report", "costs.csv")).columns)
    assert "copies" in got.columns and "cpu_fe_us_op" in got.columns


def test_self_contained(report):
    _, _, html, _ = report
    assert browser.external_refs(html) == ["../results.jsonl"] or browser.external_refs(html) == []
    assert "<script" not in html


@pytest.mark.skipif(browser.CHROMIUM is None, reason="chromium is not installed (make deps installs it)")
def test_renders_in_chromium_without_console_errors(report, tmp_path):
    _, path, _, _ = report
    console, shot = browser.render(path)
    assert console == [], console
    assert shot, "no screenshot"
    frac, colours = browser.ink(shot)
    assert frac > 0.03 and colours > 20, (frac, colours)
    # The check itself catches what it is meant to: a page that throws.
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><p>x</p><script>throw new Error('planted')</script></body></html>")
    console, _ = browser.render(str(bad))
    assert any("planted" in l for l in console)
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body></body></html>")
    _, shot = browser.render(str(blank), 400, 300)
    assert browser.ink(shot)[0] == 0


@pytest.mark.skipif(browser.CHROMIUM is None, reason="chromium is not installed (make deps installs it)")
@pytest.mark.parametrize("width", [1400, 600])
def test_every_figure_is_drawn_inside_the_viewport(report, width):
    """Each figure's rendered box as Chromium lays it out: a non-zero width
    and height, inside the viewport, on a wide and on a narrow window (an
    inline SVG without a size of its own collapses to 0x0)."""
    _, path, html, _ = report
    boxes = browser.figure_boxes(path, width)
    figs = boxes["figures"]
    assert len(figs) == html.count("<svg") >= 17, len(figs)
    assert browser.bad_figures(boxes) == [], (boxes["viewport"], browser.bad_figures(boxes)[:3])
    # Drawn at their size where the window allows, scaled (aspect kept) where not.
    assert all(f["width"] <= 720 and abs(f["height"] / f["width"] - 0.5) < 0.01 for f in figs if "latency CDF" in f["title"])
    if width >= 1400:
        assert all(f["width"] == 720 for f in figs)
    assert all(f["title"] and f["title"] != "Gnuplot" for f in figs)


def test_figure_check_catches_a_collapsed_or_overflowing_figure(tmp_path):
    """The measurement itself: a viewBox-only SVG in a shrink-to-fit box
    (the report's old figures) and a figure wider than the window fail."""
    if browser.CHROMIUM is None:
        pytest.skip("chromium is not installed")
    svg = '<svg viewBox="0 0 720 360" xmlns="http://www.w3.org/2000/svg"><rect width="720" height="360"/></svg>'
    page = tmp_path / "old.html"
    page.write_text(f'<html><body><div style="display:flex"><div style="flex:0 0 auto">{svg}</div></div></body></html>')
    assert len(browser.bad_figures(browser.figure_boxes(str(page), 800))) == 1
    page.write_text("<html><body>" + svg.replace("<svg ", '<svg width="1200" height="600" ') + "</body></html>")
    assert len(browser.bad_figures(browser.figure_boxes(str(page), 800))) == 1
    page.write_text("<html><body>" + svg.replace("<svg ", '<svg width="720" height="360" ') + "</body></html>")
    assert browser.bad_figures(browser.figure_boxes(str(page), 800)) == []


def test_a_far_point_does_not_flatten_the_bars():
    """The cost figure scales to its bars: a measured point 40x above them
    is drawn at the top with its value, every other point in range."""
    import re
    from vtba.plots import Figures
    f = Figures()
    f.bars("c", "cost", ["a", "b"], [("map", [100.0, 25000.0])], "ns", stacked=True,
           points=[("measured", [2000.0, 1.04e6]), ("predicted", [150.0, 25600.0])], clip_points=True)
    f.bars("d", "cost", ["a", "b"], [("map", [100.0, 25000.0])], "ns", stacked=True,
           points=[("measured", [2000.0, 30000.0])], clip_points=True)
    svg = f.render()
    assert ">1.04M<" in svg["c"] and ">30000<" not in svg["d"]
    ticks = lambda s: [float(t) for t in re.findall(r'text-anchor="end">\s*<text> *([0-9.]+)</text>', s)]
    top = max(ticks(svg["c"]) or [0])
    assert 25000 <= top < 40000, ticks(svg["c"])


def test_report_of_a_run_without_meta_or_model(tmp_path):
    g = np.random.default_rng(2)
    rows = synth.suite_rows(g, "X", reps=2, sizes=(4096,), qds=(1,))
    for r in rows:
        r["model"] = None
        r["limit"] = None
    d = synth.write_run(str(tmp_path / "x"), rows)
    os.remove(os.path.join(d, "meta.json"))
    from conftest import cli
    out = tmp_path / "elsewhere"
    p = cli("report", d, "--out", str(out))
    assert p.returncode == 0, p.stderr
    html = open(out / "index.html").read()
    assert "meta.json: missing" in html and "No cell in this run carries a relative model prediction" in html


def tcg_guest_row(r, arch, crosscheck):
    """Make synthetic row R a qemu guest's under TCG: no model, times emulated."""
    r["guest"] = {"on": True, "arch": arch, "accel": "tcg", "kernel": "6.12", "qemu": "10.0.2",
                  "config": "c", "times": "emulated", "crosscheck": crosscheck}
    r["model"] = None


def test_guest_rows_sit_beside_proc_rows_and_model_vs_real(tmp_path):
    """A qemu cell is in the section of its workload with the proc cells,
    named by its platform, its TCG times labelled; the model vs real table
    sets the proc counts of swiotlb and viommu against the guest's."""
    g = np.random.default_rng(7)
    rows = []
    counts = {("proc", "viommu", "strict"): 3.0, ("qemu", "viommu", "strict"): 4.0,
              ("proc", "swiotlb", "pool"): 0.0, ("qemu", "swiotlb", "pool"): 0.0}
    for i, (plat, t, v) in enumerate([("proc", "shm", "split"), ("proc", "viommu", "strict"),
                                      ("proc", "swiotlb", "pool"), ("qemu", "shm", "split"),
                                      ("qemu", "viommu", "strict"), ("qemu", "swiotlb", "pool")]):
        for rep in range(3):
            r = synth.row("G", {"platform": plat, "transport": t, "variant": v, "notify": "event", "index": i}, rep,
                          1e5 / (1 + i), g.lognormal(9, 0.2, 300))
            r["per_op"]["maps"] = r["per_op"]["unmaps"] = counts.get((plat, t, v), 0.0)
            r["per_op"]["bounce_copies"] = 4.0 if t == "swiotlb" and plat == "qemu" else 3.0 if t == "swiotlb" else 0
            if plat == "qemu":
                tcg_guest_row(r, "x86_64", "ok")
            rows.append(r)
    d = synth.write_run(str(tmp_path / "g"), rows, run_id="G")
    from conftest import cli
    p = cli("report", d)
    assert p.returncode == 0, p.stderr
    html = open(os.path.join(d, "report", "index.html")).read()
    df = pd.read_csv(os.path.join(d, "report", "decision.csv"))
    assert sorted(set(df["platform"])) == ["proc", "qemu"] and len(df) == 6
    assert set(df[df["platform"] == "qemu"]["accel"]) == {"tcg"}
    # one workload section for both platforms, each ratio within its own platform
    assert html.count('<h3 id="w') == 1
    assert (df[df["transport_variant"] == "shm/split"]["ops_ratio"] == 1.0).all()
    assert html.count("times emulated") >= 3
    real = html[html.index('id="real"'):html.index('id="model"')]
    assert "viommu/strict" in real and "swiotlb/pool" in real and "shm/split" not in real
    assert "3 · <b>4</b>" in real      # proc maps 3 per op, the guest's 4


def test_backends_and_arches_share_a_section_and_an_unknown_count_is_a_dash(tmp_path):
    """qemu rows of one workload that differ in the disk's backend, the
    guest's I/O engine or the guest arch sit in one section, each named by
    its platform label and setting; a doorbell count no probe can see
    (null in the row) is a dash in the cost table, not a zero."""
    g = np.random.default_rng(9)
    rows = []
    cells = [("x86_64", "qemu", "io_uring"), ("x86_64", "vtbench", "io_uring"), ("x86_64", "qsd", "io_uring"),
             ("x86_64", "qemu", "aio"), ("arm64", "qemu", "io_uring")]
    for i, (arch, backend, io) in enumerate(cells):
        for rep in range(3):
            r = synth.row("B", {"platform": "qemu", "arch": arch, "backend": backend, "guest_io": io,
                                "transport": "shm", "variant": "split", "notify": "event", "index": i}, rep,
                          1e4 / (1 + i), g.lognormal(9, 0.2, 300))
            r["per_op"]["notifies"] = None if backend == "qsd" else 1.5
            tcg_guest_row(r, arch, "guest only" if backend == "qsd" else "ok")
            rows.append(r)
    d = synth.write_run(str(tmp_path / "b"), rows, run_id="B")
    from conftest import cli
    p = cli("report", d)
    assert p.returncode == 0, p.stderr
    html = open(os.path.join(d, "report", "index.html")).read()
    assert html.count('<h3 id="w') == 1
    sec = html[html.index('<h3 id="w0"'):]
    for tag in ("backend=vtbench", "backend=qsd", "guest_io=aio", "qemu arm64"):
        assert tag in sec, tag
    h3 = sec[:sec.index("</h3>")]
    assert "backend=" not in h3 and "guest_io" not in h3
    costs = sec[sec.index("Cost per op"):]
    qsd_row = next(tr for tr in costs.split("<tr>") if "backend=qsd" in tr)
    cols = qsd_row.split("<td>")
    assert cols[7].startswith("–"), qsd_row       # doorbells: the 7th number after the two labels
    # each ratio is within its own backend: every row is its own shm/split
    df = pd.read_csv(os.path.join(d, "report", "decision.csv"))
    assert len(df) == 5 and (df["ops_ratio"] == 1.0).all()
    assert not df["best"].any()     # each is alone in its workload: best of nothing
    # summary.py takes the null count as unknown, not as a failure
    import subprocess
    s = subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "..", "summary.py"), d],
                       capture_output=True, text=True, timeout=120)
    assert s.returncode == 0 and "nan" in s.stdout, s.stderr
