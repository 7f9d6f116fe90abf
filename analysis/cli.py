#!/usr/bin/python3
"""vtbench report | compare | trend: the analysis commands, reached
through ./vtbench (which runs this file with Debian's python3)."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vtba.data import RunError  # noqa: E402


def cmd_report(a):
    from vtba import report
    path, run, df = report.build(a.run_dir, a.out)
    for e in run.excluded:
        print(e, file=sys.stderr)
    print(path)
    return 0


def cmd_compare(a):
    from vtba import compare
    return compare.main(a)


def cmd_trend(a):
    from vtba import trend
    return trend.main(a)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="vtbench", description="vtbench analysis commands")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("report", help="write the HTML report of a run")
    p.add_argument("run_dir")
    p.add_argument("--out", help="output directory (default RUN_DIR/report)")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("compare", help="B against A per cell; exit 1 on a significant regression")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--threshold", type=float, default=5.0, help="smallest change, in %%, that counts (default 5)")
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate over the cells and metrics tested (default 0.05)")
    p.add_argument("--metric", choices=("ops", "p99", "both"), default="both",
                   help="what a regression is judged on (default both: throughput and p99 latency)")
    p.add_argument("--html", metavar="FILE", help="also write the comparison as HTML")
    p.add_argument("--json", metavar="FILE", help="also write it as JSON")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("trend", help="time series per cell over many runs, regressions flagged")
    p.add_argument("run_dirs", nargs="+", help="run directories, or directories holding runs")
    p.add_argument("--out", default="trend", help="output directory for index.html and trend.json (default ./trend)")
    p.add_argument("--window", type=int, default=7, help="previous runs a run is judged against (default 7)")
    p.add_argument("--min-history", type=int, default=3, help="runs needed before judging (default 3)")
    p.add_argument("--k", type=float, default=3.0, help="MADs a run must fall below the rolling median (default 3)")
    p.add_argument("--threshold", type=float, default=5.0, help="smallest change, in %%, that counts (default 5)")
    p.add_argument("--alpha", type=float, default=0.01,
                   help="family-wise error rate per run: a false alarm in one night of 1/alpha (default 0.01)")
    p.set_defaults(fn=cmd_trend)
    a = ap.parse_args(argv)
    try:
        return a.fn(a)
    except RunError as e:
        print(f"vtbench {a.cmd}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
