#!/usr/bin/python3
"""vtbench report | compare | trend | export | lava: the analysis commands, reached
through ./vtbench (which runs this file with Debian's python3)."""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vtba.data import RunError  # noqa: E402


def cmd_report(a):
    from vtba import report
    from vtba.data import load_run, make_dir
    base = (os.path.dirname(a.run_dir) or ".") if os.path.isfile(a.run_dir) else a.run_dir
    out = a.out or os.path.join(base, "report")
    # The run is read first (a bad run is named before the output), then
    # the output directory made here, so a path that cannot be written is
    # exit 2 naming it, whichever step of the report meets it.
    load_run(a.run_dir)
    make_dir(out)
    try:
        path, run, df = report.build(a.run_dir, out)
    except OSError as e:
        fn = e.filename
        if fn and os.path.commonpath([os.path.abspath(str(fn)), os.path.abspath(out)]) == os.path.abspath(out):
            raise RunError(f"{fn}: cannot write ({e.strerror or e})") from None
        raise
    for e in run.excluded:
        print(e, file=sys.stderr)
    print(path)
    return 0


def cmd_export(a):
    if a.lava:
        from vtba import lava
        sys.stdout.write(lava.shell(lava.cases(a.run_dir)))
        return 0
    from vtba import export
    return export.main(a)


def cmd_lava_job(a):
    from vtba import lava
    return lava.cmd_job(a)


def cmd_lava_device(a):
    from vtba import lava
    return lava.cmd_device(a)


def cmd_compare(a):
    from vtba import compare
    return compare.main(a)


def cmd_trend(a):
    from vtba import trend
    return trend.main(a)


# Exit codes: 0 fine; 1 a regression (compare, trend) and nothing else;
# 2 bad input (arguments, a run that cannot be read, an output that
# cannot be written); 3 a failure of this tool; 4 the newer run (B, or
# trend's newest run of a board) lacks cells or has failed repetitions
# (compare.main, trend.main).  A separate code rather than 1 under a
# --strict flag: a gate that passes on 0 alone cannot miss a broken run
# by forgetting a flag, and one that wants only regressions tests for 1.
EXIT_BAD_INPUT, EXIT_TOOL = 2, 3

EPILOG = """exit status: 0 no finding; 1 a significant regression (and only that);
2 bad input (an argument, a run that cannot be read, an output that cannot
be written: the file and line named); 3 a failure of this tool; 4 no
regression, but %s"""


def _number(lo=None, hi=None, lo_open=False, hi_open=False, integer=False):
    """An argparse type: a finite number within bounds, else exit 2."""
    def conv(text):
        try:
            v = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if integer else 'a number'}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if lo is not None and (v < lo or (lo_open and v == lo)):
            raise argparse.ArgumentTypeError(f"{text} is not {'above' if lo_open else 'at least'} {lo:g}")
        if hi is not None and (v > hi or (hi_open and v == hi)):
            raise argparse.ArgumentTypeError(f"{text} is not {'below' if hi_open else 'at most'} {hi:g}")
        return v
    conv.__name__ = "integer" if integer else "number"
    return conv


ALPHA = _number(0, 1, lo_open=True, hi_open=True)
THRESHOLD = _number(0)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="vtbench", description="vtbench analysis commands")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("report", help="write the HTML report of a run")
    p.add_argument("run_dir")
    p.add_argument("--out", help="output directory (default RUN_DIR/report)")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("compare", help="B against A per cell; exit 1 on a significant regression",
                       epilog=EPILOG % "B lacks a cell that has a good repetition in A, or a cell of B\n"
                       "has failed repetitions (an error, no operations, or rows excluded as impossible)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--threshold", type=THRESHOLD, default=5.0, help="smallest change, in %%, that counts (default 5)")
    p.add_argument("--alpha", type=ALPHA, default=0.05, help="family-wise error rate over the cells and metrics tested (default 0.05)")
    p.add_argument("--metric", choices=("ops", "p99", "both"), default="both",
                   help="what a regression is judged on (default both: throughput and p99 latency)")
    p.add_argument("--html", metavar="FILE", help="also write the comparison as HTML")
    p.add_argument("--json", metavar="FILE", help="also write it as JSON")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("trend", help="time series per cell over many runs, regressions flagged",
                       epilog=EPILOG % "the newest run of a board lacks a cell its previous run had, or\n"
                       "has failed repetitions",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", help="run directories, or directories holding runs")
    p.add_argument("--out", default="trend", help="output directory for index.html and trend.json (default ./trend)")
    p.add_argument("--window", type=_number(1, integer=True), default=7, help="previous runs a run is judged against (default 7)")
    p.add_argument("--min-history", type=_number(1, integer=True), default=3, help="runs needed before judging (default 3)")
    p.add_argument("--k", type=_number(0, lo_open=True), default=3.0, help="MADs a run must fall below the rolling median (default 3)")
    p.add_argument("--threshold", type=THRESHOLD, default=5.0, help="smallest change, in %%, that counts (default 5)")
    p.add_argument("--alpha", type=ALPHA, default=0.01,
                   help="family-wise error rate per run: a false alarm in one night of 1/alpha (default 0.01)")
    p.set_defaults(fn=cmd_trend)
    p = sub.add_parser("export", help="a run in another tool's format")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--squad", action="store_true",
                   help="SQUAD's submission files: tests.json, metrics.json, metadata.json")
    g.add_argument("--lava", action="store_true",
                   help="the lava-test-case calls of LAVA's test shell, a case per cell and measurement (stdout)")
    p.add_argument("run_dir")
    p.add_argument("--out", help="--squad: output directory (default RUN_DIR/squad)")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("lava", help="LAVA jobs from ci/lava's templates")
    lsub = p.add_subparsers(dest="lava_cmd", required=True)
    p = lsub.add_parser("job", help="render a LAVA job, checked against LAVA's job schema")
    p.add_argument("--device", required=True, help="qemu-amd64, qemu-arm64 or board")
    p.add_argument("--suite", default="harness/suites/default.suite", help="the suite, relative to the checkout")
    p.add_argument("--repository", required=True, help="the vtbench git repository LAVA clones")
    p.add_argument("--revision", help="its revision (default: this checkout's HEAD)")
    p.add_argument("--rootfs", help="qemu-*: the Debian image's URL")
    p.add_argument("--kernel", help="qemu-*: a kernel's URL (default: the image boots its own)")
    p.add_argument("--ramdisk", help="qemu-*: instead of --rootfs, a gzipped cpio ramdisk whose init opens a root "
                                     "shell on the console (with --kernel)")
    p.add_argument("--kernel-args", default="", help="--ramdisk: the kernel command line after console=")
    p.add_argument("--prompt", help="the shell prompt LAVA waits for (default root@)")
    p.add_argument("--vtbench", help="--ramdisk: a prebuilt vtbench's URL (make build/static/vtbench), put into "
                                     "the ramdisk and run instead of a build on the device")
    p.add_argument("--device-type", help="board: the lab's device type")
    p.add_argument("--board-actions", help="board: a YAML file with the lab's deploy and boot actions")
    p.add_argument("--artifacts", help="where the run directory's tarball goes (a directory or URL prefix)")
    p.add_argument("--job-minutes", type=_number(10, integer=True), default=120, help="the job's timeout")
    p.add_argument("--out", help="write the job here (default stdout)")
    p.set_defaults(fn=cmd_lava_job)
    p = lsub.add_parser("device", help="a QEMU device dictionary for lava-run on this machine (no LAVA server)")
    p.add_argument("--arch", choices=("amd64", "arm64"), default="amd64")
    p.add_argument("--accel", default="tcg", help="tcg or kvm (default tcg)")
    p.add_argument("--memory", type=_number(256, integer=True), default=2048, help="MiB (default 2048)")
    p.add_argument("--smp", type=_number(1, integer=True), default=2, help="vCPUs (default 2)")
    p.add_argument("--share", action="append", default=[], metavar="TAG=DIR[:ro]",
                   help="a host directory the guest mounts over virtio-9p (repeatable)")
    p.add_argument("--test-minutes", type=_number(1, integer=True), default=30, help="the test shell's timeout")
    p.add_argument("--out", help="write the device dictionary here (default stdout)")
    p.set_defaults(fn=cmd_lava_device)
    a = ap.parse_args(argv)
    if a.cmd == "trend" and a.min_history > a.window:
        ap.error(f"trend: --min-history {a.min_history} exceeds --window {a.window}: no run could be judged")
    try:
        return a.fn(a)
    except RunError as e:
        print(f"vtbench {a.cmd}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as e:   # noqa: BLE001 (exit 1 is a regression: a bug must never look like one)
        where = e.__traceback__
        while where and where.tb_next:
            where = where.tb_next
        loc = f" at {os.path.basename(where.tb_frame.f_code.co_filename)}:{where.tb_lineno}" if where else ""
        msg = str(e).splitlines()[0] if str(e) else ""
        print(f"vtbench {a.cmd}: internal error{loc}: {type(e).__name__}: {msg} "
              f"(a fault of analysis/, not of the runs; exit 3)", file=sys.stderr)
        return EXIT_TOOL


if __name__ == "__main__":
    sys.exit(main())
