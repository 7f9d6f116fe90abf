"""Reading a run: meta.json and results.jsonl, as results/schema.json
describes them.  Standard library only, so analysis/summary.py can use it
where pandas is not installed.

Nothing is dropped silently: a line that is not JSON, is cut short, or was
written under a schema this reader does not know is excluded and reported
with its file and line number."""
import json
import os

SCHEMA = 1
# Schema versions this reader can read.  There has only been one; a newer
# one is refused (its fields may mean something else), never guessed at.
KNOWN_SCHEMAS = {1}

# The fields that make two rows the same cell, across runs too.  Not the
# seed, the cell index in the suite or the duration: a nightly comparison
# wants "blk 4k randread qd16 over grant/map in poll mode" whatever else
# changed.  Placement is kept apart, as a separate column.
IDENT = ("device", "pattern", "mode", "mix", "size", "qd", "rwmix", "notify", "qsize", "indirect", "events",
         "platform", "backing", "probes", "transport", "variant")
WORKLOAD = tuple(f for f in IDENT if f not in ("transport", "variant"))


class RunError(Exception):
    """A run directory that cannot be read at all."""


class Run:
    def __init__(self, path, meta, rows, excluded):
        self.path = path
        self.meta = meta
        self.rows = rows            # dicts, each with "_line" (1-based line in results.jsonl)
        self.excluded = excluded    # human-readable reasons, one per excluded line

    @property
    def run_id(self):
        return self.meta.get("run_id") or (self.rows[0]["run_id"] if self.rows else os.path.basename(self.path))

    @property
    def started(self):
        return self.meta.get("started") or (self.rows[0]["time"] if self.rows else "")

    @property
    def board(self):
        h = self.meta.get("host") or (self.rows[0]["host"] if self.rows else {})
        return f"{h.get('hostname', '?')}/{h.get('cpu', '?')}/{h.get('cores', '?')}c"


def load_run(path):
    """Read one run directory (or a results.jsonl path)."""
    if os.path.isfile(path):
        path = os.path.dirname(path) or "."
    res = os.path.join(path, "results.jsonl")
    if not os.path.exists(res):
        raise RunError(f"{path}: no results.jsonl (not a vtbench run directory)")
    meta, excluded = {}, []
    mp = os.path.join(path, "meta.json")
    if os.path.exists(mp):
        try:
            with open(mp) as f:
                meta = json.load(f)
        except (OSError, ValueError) as e:
            excluded.append(f"{mp}: unreadable ({e}); run metadata left out")
            meta = {}
        ms = meta.get("schema")
        if ms is not None and ms not in KNOWN_SCHEMAS:
            raise RunError(f"{mp}: schema {ms}, but this reader knows only {sorted(KNOWN_SCHEMAS)}: "
                           f"{'a newer vtbench wrote it; update analysis/' if ms > SCHEMA else 'too old to read'}")
    else:
        excluded.append(f"{mp}: missing; run metadata left out")
    rows = []
    with open(res, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{res}:{n}"
        if n == len(lines):
            # No newline after it: the writer was interrupted mid-line.
            excluded.append(f"{where}: truncated (no end of line); line excluded")
            continue
        try:
            r = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            excluded.append(f"{where}: not JSON ({getattr(e, 'msg', e)}); line excluded")
            continue
        if not isinstance(r, dict):
            excluded.append(f"{where}: not an object; line excluded")
            continue
        s = r.get("schema")
        if s not in KNOWN_SCHEMAS:
            why = ("written by a newer vtbench" if isinstance(s, int) and s > SCHEMA else "not a schema this reader knows")
            excluded.append(f"{where}: schema {s!r} ({why}; this reader knows {sorted(KNOWN_SCHEMAS)}); line excluded")
            continue
        missing = [k for k in ("cell", "rep", "ops_per_s", "error") if k not in r]
        if missing:
            excluded.append(f"{where}: lacks {', '.join(missing)}; line excluded")
            continue
        r["_line"] = n
        rows.append(r)
    return Run(path, meta, rows, excluded)


def ident(r):
    c = r["cell"]
    return tuple(_norm(c.get(f)) for f in IDENT)


def _norm(v):
    return "" if v is None else v


def placement(r):
    return (r.get("placement") or {}).get("tag") or "-"


def workload_label(w):
    """A short name for a workload tuple (WORKLOAD order)."""
    d = dict(zip(WORKLOAD, w))
    what = {"blk": d["pattern"], "net": d["mode"], "scmi": d["mix"]}.get(d["device"], d["pattern"] or d["mode"])
    parts = [d["device"], str(what)]
    if d["device"] != "scmi":
        parts.append(human_size(d["size"]))
    parts += [f"qd{d['qd']}", d["notify"]]
    if d["probes"] not in ("", "on", "auto"):
        parts.append(f"probes={d['probes']}")
    return " ".join(p for p in parts if p != "")


def human_size(n):
    try:
        n = int(n)
    except (TypeError, ValueError):
        return str(n)
    for unit, k in (("M", 1 << 20), ("k", 1 << 10)):
        if n >= k and n % k == 0:
            return f"{n // k}{unit}"
    return str(n)


def bucket_mid(i, sub_bits):
    """The middle of log-linear histogram bucket i (harness/hist.h)."""
    sub = 1 << sub_bits
    if i < sub:
        return float(i)
    shift, k = divmod(i - sub, sub)
    lower = (sub + k) << shift
    return lower + (1 << shift) / 2


def merged_pct(rows, p):
    """Percentile p of the repetitions' merged histograms: never an
    average of percentiles.  Clamped to the seen min and max."""
    counts, sub_bits = {}, rows[0]["hist"]["sub_bits"]
    for r in rows:
        for i, c in r["hist"]["buckets"]:
            counts[i] = counts.get(i, 0) + c
    total = sum(counts.values())
    if not total:
        return 0.0
    rank, seen = max(1, -(-p * total // 100)), 0
    for i in sorted(counts):
        seen += counts[i]
        if seen >= rank:
            v = bucket_mid(i, sub_bits)
            return min(max(v, min(r["lat_ns"]["min"] for r in rows)), max(r["lat_ns"]["max"] for r in rows))
    return 0.0
