"""The pages and summaries of ci/nightly's history: DIR/index.html (every
board and its last night), DIR/BOARD/index.html (the board's nights, the
newest report, the trend and the regressions flagged) and
DIR/BOARD/latest.json (the newest night, for a lab's alerting).

A night is DIR/BOARD/NIGHT/: a vtbench run directory to which ci/nightly
adds provenance.json (what the night was made with), compare.json (the
night against the previous one) and nightly.json (its verdict)."""
import hashlib
import json
import math
import os

from . import html
from .data import write_text

STATUSES = ("ok", "regression", "broken", "failed")


def _each_json(top, leaf):
    """(subdirectory name, parsed TOP/NAME/LEAF) for each subdirectory of
    TOP that holds LEAF, in name order."""
    for name in sorted(os.listdir(top)):
        p = os.path.join(top, name, leaf)
        if os.path.isfile(p):
            with open(p) as f:
                yield name, json.load(f)


def nights(board_dir):
    """The board's nights with a verdict, oldest first (names sort in time)."""
    return [n for _, n in _each_json(board_dir, "nightly.json")]


def calibration_fingerprint(meta):
    """The board's calibrated limits, coarsely: each primitive's value to
    the nearest power of two, hashed with the CPU model.  Night-to-night
    noise keeps it; another board, CPU or a changed primitive moves it."""
    cal = ((meta.get("calibration") or {}).get("start")) or {}
    bins = {k: round(math.log2(v["v"])) for k, v in sorted(cal.items())
            if isinstance(v, dict) and isinstance(v.get("v"), (int, float)) and v["v"] > 0}
    key = json.dumps({"cpu": (meta.get("host") or {}).get("cpu"), "bins": bins}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12] if bins else None


def regressions(cmp, prev, night):
    """The significant regressions of compare's JSON in the metrics it
    gated on, each with the revisions between which it appeared."""
    out = []
    for c in (cmp or {}).get("cells", []):
        for m in (cmp or {}).get("gated", ("ops", "p99")):
            if c.get(f"{m}_status") == "regression":
                out.append({"workload": c["workload"], "transport": c["transport"],
                            "placement": c.get("placement_b"), "metric": m, "ratio": c.get(f"{m}_ratio"),
                            "lo": c.get(f"{m}_lo"), "hi": c.get(f"{m}_hi"), "q": c.get(f"{m}_q"),
                            "from_rev": prev.get("rev") if prev else None, "to_rev": night.get("rev"),
                            "from_night": prev.get("night") if prev else None, "to_night": night.get("night")})
    return out


def changed(prev, night):
    """The provenance fields that differ from the previous night's."""
    a, b = (prev or {}).get("provenance") or {}, night.get("provenance") or {}
    return sorted(k for k in set(a) | set(b) if prev and a.get(k) != b.get(k))


def write_board(board_dir, board):
    """The board's page and latest.json from its nights' verdicts."""
    ns = nights(board_dir)
    for i, n in enumerate(ns):
        n["changed"] = changed(ns[i - 1] if i else None, n)
    newest = ns[-1] if ns else None
    latest = dict(newest or {}, board=board)
    write_text(os.path.join(board_dir, "latest.json"), json.dumps(latest, indent=1, allow_nan=False) + "\n")
    trend = os.path.isfile(os.path.join(board_dir, "trend", "index.html"))
    write_text(os.path.join(board_dir, "index.html"),
               html.render("nightly_board.html.j2", board=board, nights=list(reversed(ns)), newest=newest,
                           trend=trend))
    return latest


def write_front(top):
    """DIR/index.html: each board with its newest night's verdict."""
    boards = [dict(latest, dir=name) for name, latest in _each_json(top, "latest.json")]
    write_text(os.path.join(top, "index.html"), html.render("nightly_index.html.j2", boards=boards))
    return boards
