"""Reading a run: meta.json and results.jsonl, as results/schema.json
describes them.  Standard library only, so analysis/summary.py can use it
where pandas is not installed.

Nothing is dropped silently: a line that is not JSON, is cut short, or was
written under a schema this reader does not know is excluded and reported
with its file and line number."""
import json
import math
import os

SCHEMA = 1
# Schema versions this reader can read.  There has only been one; a newer
# one is refused (its fields may mean something else), never guessed at.
KNOWN_SCHEMAS = {1}

# The fields that make two rows the same cell, across runs too: the one
# cell identity of analysis/ (summary, overhead, report, compare and trend
# all key cells through IDENT and the functions below, never by position).
# Not the seed, the cell index in the suite or the duration: a nightly
# comparison wants "blk 4k randread qd16 over grant/map in poll mode"
# whatever else changed.  The platform is part of it: a xen cell is never
# the proc cell of the same workload.  Placement is kept apart, as a
# separate column (cell_key adds it).
IDENT = ("device", "pattern", "mode", "mix", "size", "qd", "rwmix", "notify", "qsize", "indirect", "events",
         "platform", "arch", "guest_io", "backend", "backing", "probes", "transport", "variant")
# What a cell runs, whatever carries it: the cells a transport is compared
# against shm within (harness/suite.c same_workload() includes the platform too).
WORKLOAD = tuple(f for f in IDENT if f not in ("transport", "variant"))


class RunError(Exception):
    """A run directory that cannot be read at all, or an output that cannot
    be written: bad input, exit 2."""


class Run:
    def __init__(self, path, meta, rows, excluded, impossible=None):
        self.path = path
        self.meta = meta
        self.rows = rows            # dicts, each with "_line" (1-based line in results.jsonl)
        self.excluded = excluded    # human-readable reasons, one per excluded line
        # {(ident, placement): [(line, why)]}: rows of a known cell excluded
        # because their figures are impossible; a failed repetition of it.
        self.impossible = impossible or {}

    @property
    def run_id(self):
        return self.meta.get("run_id") or (self.rows[0].get("run_id") if self.rows else None) or \
            os.path.basename(os.path.abspath(self.path))

    @property
    def started(self):
        return self.meta.get("started") or (self.rows[0].get("time") if self.rows else None) or ""

    @property
    def board(self):
        h = self.meta.get("host") or (self.rows[0].get("host") if self.rows else None) or {}
        return f"{h.get('hostname', '?')}/{h.get('cpu', '?')}/{h.get('cores', '?')}c"


def write_text(path, text):
    """Write an output file; a path that cannot be written is the user's
    to fix (exit 2, the path named), never a traceback."""
    try:
        d = os.path.dirname(path)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise RunError(f"{path}: cannot write ({e.strerror or e})") from None


def make_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise RunError(f"{path}: cannot create the output directory ({e.strerror or e})") from None
    if not os.path.isdir(path):
        raise RunError(f"{path}: not a directory")


# --- Types of the fields the analysis reads (results/schema.json).  A row
# whose fields do not have them is not a measurement: it is excluded with
# its line and the field named, as a line that is not JSON is.

def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _what(v):
    if v is None:
        return "null"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}.get(
        type(v), "an integer" if _is_int(v) else "a number" if _is_num(v) else type(v).__name__) + \
        (f" ({json.dumps(v)[:40]})" if isinstance(v, (str, int, float)) and not isinstance(v, bool) else "")


def _figure(name, v, lo=0):
    """None when v is a finite number >= lo, else what is wrong with it."""
    if not _is_num(v):
        return f"{name} is {_what(v)}, not a number"
    if not math.isfinite(v):
        return f"{name} is {v}, not a finite number"
    if v < lo:
        return f"{name} is {v}, below {lo}"
    return None


def _count(name, v):
    if not _is_int(v):
        return f"{name} is {_what(v)}, not an integer"
    if v < 0:
        return f"{name} is {v}, negative"
    return None


CELL_STR = ("device", "transport", "variant", "notify", "platform", "arch", "guest_io", "backend", "pattern",
            "mode", "mix", "backing", "probes")
CELL_INT = ("qd", "rwmix", "qsize", "index")
CELL_BOOL = ("indirect", "events")
CELL_REQUIRED = ("device", "transport", "variant", "notify", "platform", "pattern", "size", "qd")
LAT_REQUIRED = ("p99", "min", "max")
PER_OP_NUM = ("copies", "copy_bytes", "maps", "unmaps", "flushes", "notifies", "notifies_suppressed", "exits", "waits",
              "syscalls", "ctx_switches", "tlb_flushes")
MODEL_NUM = ("predicted_ns_per_op", "measured_ns_per_op", "error_pct")


def _cell_problem(c):
    if not isinstance(c, dict):
        return f"cell is {_what(c)}, not an object"
    missing = [k for k in CELL_REQUIRED if k not in c]
    if missing:
        return f"cell lacks {', '.join(missing)}"
    for k in CELL_STR:
        if k in c and c[k] is not None and not isinstance(c[k], str):
            return f"cell.{k} is {_what(c[k])}, not a string"
    for k in CELL_INT:
        if k in c and c[k] is not None and (why := _count(f"cell.{k}", c[k])):
            return why
    for k in CELL_BOOL:
        if k in c and c[k] is not None and not isinstance(c[k], bool):
            return f"cell.{k} is {_what(c[k])}, not a boolean"
    if not (isinstance(c["size"], str) or (_is_int(c["size"]) and c["size"] >= 0)):
        return f"cell.size is {_what(c['size'])}, not a size"
    return None


def _hist_problem(h):
    if not isinstance(h, dict):
        return f"hist is {_what(h)}, not an object"
    sb = h.get("sub_bits")
    if not _is_int(sb) or not 1 <= sb <= 16:
        return f"hist.sub_bits is {_what(sb)}, not an integer in 1..16"
    b = h.get("buckets")
    if not isinstance(b, list):
        return f"hist.buckets is {_what(b)}, not an array"
    top = (1 << sb) * (66 - sb)         # the buckets of 64-bit values
    for n, x in enumerate(b):
        if not (isinstance(x, list) and len(x) == 2 and _is_int(x[0]) and _is_int(x[1]) and 0 <= x[0] < top
                and x[1] >= 0):
            return f"hist.buckets[{n}] is {json.dumps(x)[:40]}, not an [index < {top}, count] pair"
    return None


def row_problem(r):
    """What makes row r unusable, naming the field; None when it is fine."""
    if (why := _cell_problem(r["cell"])):
        return why
    if (why := _count("rep", r["rep"])):
        return why
    if r["error"] is not None and not isinstance(r["error"], str):
        return f"error is {_what(r['error'])}, not null or a string"
    if (why := _figure("ops_per_s", r["ops_per_s"])):
        return why
    for k in ("run_id", "time"):
        if k in r and not isinstance(r[k], str):
            return f"{k} is {_what(r[k])}, not a string"
    if "host" in r and not isinstance(r["host"], dict):
        return f"host is {_what(r['host'])}, not an object"
    if "ops" in r and (why := _count("ops", r["ops"])):
        return why
    for k in ("bytes_per_s", "seconds"):
        if k in r and (why := _figure(k, r[k])):
            return why
    lat = r.get("lat_ns")
    if not isinstance(lat, dict):
        return f"lat_ns is {_what(lat)}, not an object"
    for k in LAT_REQUIRED:
        if (why := _figure(f"lat_ns.{k}", lat.get(k))):
            return why
    for k, v in lat.items():
        if (why := _figure(f"lat_ns.{k}", v)):
            return why
    if "hist" in r and (why := _hist_problem(r["hist"])):
        return why
    pl = r.get("placement")
    if pl is not None and not (isinstance(pl, dict) and isinstance(pl.get("tag", ""), (str, type(None)))):
        return f"placement is {_what(pl)}, not null or an object with a tag"
    po = r.get("per_op")
    if po is not None:
        if not isinstance(po, dict):
            return f"per_op is {_what(po)}, not an object"
        for k in PER_OP_NUM:
            if po.get(k) is not None and (why := _figure(f"per_op.{k}", po[k], -math.inf)):
                return why
    cs = r.get("cpu_s")
    if cs is not None:
        if not isinstance(cs, dict):
            return f"cpu_s is {_what(cs)}, not an object"
        for k in ("fe", "be"):
            if (why := _figure(f"cpu_s.{k}", cs.get(k))):
                return why
    lim = r.get("limit")
    if lim:
        if not isinstance(lim, dict):
            return f"limit is {_what(lim)}, not null or an object"
        if not isinstance(lim.get("name"), str):
            return f"limit.name is {_what(lim.get('name'))}, not a string"
        for k in ("ratio", "ns_per_op"):
            if (why := _figure(f"limit.{k}", lim.get(k), -math.inf)):
                return why
    mod = r.get("model")
    if mod:
        if not isinstance(mod, dict):
            return f"model is {_what(mod)}, not null or an object"
        for k in MODEL_NUM:
            if (why := _figure(f"model.{k}", mod.get(k), -math.inf)):
                return why
        if mod.get("wake_ns") is not None and (why := _figure("model.wake_ns", mod["wake_ns"], -math.inf)):
            return why
        t = mod.get("terms")
        if t is not None:
            if not isinstance(t, dict) or not all(isinstance(d, dict) for d in t.values()):
                return "model.terms is not an object of objects"
            for d, ts in t.items():
                for k, v in ts.items():
                    if (why := _figure(f"model.terms.{d}.{k}", v, -math.inf)):
                        return why
    if r.get("verified") is not None and not isinstance(r["verified"], bool):
        return f"verified is {_what(r['verified'])}, not null or a boolean"
    if r.get("peer") is not None and not isinstance(r["peer"], str):
        return f"peer is {_what(r['peer'])}, not null or a string"
    return None


# meta.json fields the analysis reads, and the type each must have; one of
# another type is left out with a note (the rows still stand on their own).
META_TYPES = {"run_id": str, "started": str, "ended": (str, type(None)), "git_rev": (str, type(None)),
              "platform": str, "platforms": list, "suite": (str, type(None)), "host": dict, "placement": dict, "probes": dict,
              "calibration": dict, "skipped": list, "cells": int, "rows": int, "failed_rows": int}


def _check_meta(mp, meta, excluded, text=""):
    def at(key):
        """mp:LINE of the key's first appearance in the file, for the message."""
        i = text.find(f'"{key}"')
        return f"{mp}:{text.count(chr(10), 0, i) + 1}" if i >= 0 else mp
    if not isinstance(meta, dict):
        raise RunError(f"{mp}:1: {_what(meta)}, not an object: not a vtbench meta.json")
    ms = meta.get("schema")
    if ms is not None and not _is_int(ms):
        raise RunError(f"{at('schema')}: schema is {_what(ms)}, not an integer: not a meta.json this reader knows")
    if ms is not None and ms not in KNOWN_SCHEMAS:
        raise RunError(f"{at('schema')}: schema {ms}, but this reader knows only {sorted(KNOWN_SCHEMAS)}: "
                       f"{'a newer vtbench wrote it; update analysis/' if ms > SCHEMA else 'too old to read'}")
    for k, t in META_TYPES.items():
        if k in meta and (not isinstance(meta[k], t) or (t is int and isinstance(meta[k], bool))):
            excluded.append(f"{at(k)}: {k} is {_what(meta[k])}, of the wrong type; left out")
            del meta[k]
    cal = meta.get("calibration")
    if cal is not None:
        for k in ("start", "end"):
            part = cal.get(k)
            if part is None:
                continue
            bad = not isinstance(part, dict) or any(
                isinstance(v, dict) and "v" in v and (
                    any(v.get(f) is not None and _figure(f, v[f], -math.inf) for f in ("v", "spread_pct"))
                    or not isinstance(v.get("unit", ""), str))
                for v in part.values())
            if bad:
                excluded.append(f"{at(k)}: calibration.{k} is not an object of figures; left out")
                del cal[k]
        for k in ("moved", "reps"):
            if k in cal and not isinstance(cal[k], list):
                excluded.append(f"{at(k)}: calibration.{k} is {_what(cal[k])}, not an array; left out")
                del cal[k]
    sk = meta.get("skipped")
    if sk is not None and not all(isinstance(x, str) or (isinstance(x, dict) and isinstance(x.get("cell", ""), str)
                                                         and isinstance(x.get("why") or "", str)) for x in sk):
        excluded.append(f"{at('skipped')}: skipped holds an entry that is not a cell name and a reason; left out")
        del meta["skipped"]
    for k in ("placement", "probes"):
        if k in meta and not all(isinstance(v, (str, int, float, type(None))) for v in meta[k].values()):
            excluded.append(f"{at(k)}: {k} holds a value that is not a string or a number; left out")
            del meta[k]
    host = meta.get("host")
    if host is not None and not all(isinstance(v, (str, int, float, type(None))) for v in host.values()):
        excluded.append(f"{at('host')}: host holds a value that is not a string or a number; left out")
        del meta["host"]
    return meta


def load_run(path):
    """Read one run directory (or a results.jsonl path)."""
    if os.path.isfile(path):
        path = os.path.dirname(path) or "."
    res = os.path.join(path, "results.jsonl")
    if not os.path.exists(res):
        raise RunError(f"{path}: no results.jsonl (not a vtbench run directory)")
    if not os.path.isfile(res):
        raise RunError(f"{res}: not a regular file")
    meta, excluded = {}, []
    mp = os.path.join(path, "meta.json")
    if os.path.exists(mp):
        text = ""
        try:
            with open(mp, "rb") as f:
                raw = f.read()
            text = raw.decode("utf-8", "replace")
            meta = json.loads(raw)
        except (OSError, ValueError, RecursionError) as e:
            line = f":{e.lineno}" if getattr(e, "lineno", None) else ""
            excluded.append(f"{mp}{line}: unreadable ({getattr(e, 'strerror', None) or e}); run metadata left out")
            meta = {}
        meta = _check_meta(mp, meta, excluded, text)
    else:
        excluded.append(f"{mp}: missing; run metadata left out")
    rows = []
    try:
        with open(res, "rb") as f:
            data = f.read()
    except OSError as e:
        raise RunError(f"{res}: cannot read ({e.strerror or e})") from None
    lines = data.split(b"\n")
    seen, impossible = {}, {}
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
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            excluded.append(f"{where}: not JSON ({getattr(e, 'msg', e)}); line excluded")
            continue
        if not isinstance(r, dict):
            excluded.append(f"{where}: not an object; line excluded")
            continue
        s = r.get("schema")
        if not _is_int(s) or s not in KNOWN_SCHEMAS:
            why = ("written by a newer vtbench" if _is_int(s) and s > SCHEMA else "not a schema this reader knows")
            excluded.append(f"{where}: schema {s!r} ({why}; this reader knows {sorted(KNOWN_SCHEMAS)}); line excluded")
            continue
        missing = [k for k in ("cell", "rep", "ops_per_s", "error") if k not in r]
        if missing:
            excluded.append(f"{where}: lacks {', '.join(missing)}; line excluded")
            continue
        why = row_problem(r)
        if why:
            excluded.append(f"{where}: {why}; line excluded")
            if _cell_problem(r["cell"]) is None:
                pl = r.get("placement")
                tag = pl.get("tag") if isinstance(pl, dict) and isinstance(pl.get("tag"), str) else None
                impossible.setdefault((ident(r), tag or "-"), []).append((n, why))
            continue
        # One row per run, cell and repetition: a repeated one (a copied
        # line, a file appended twice) would count twice and narrow the CI.
        c = r["cell"]
        key = (r.get("run_id"), c["index"] if c.get("index") is not None else ident(r), r["rep"])
        if key in seen:
            excluded.append(f"{where}: duplicate of line {seen[key]} (run {key[0]}, cell {key[1]}, rep {key[2]}); "
                            f"line excluded, the first kept")
            continue
        seen[key] = n
        r["_line"] = n
        rows.append(r)
    return Run(path, meta, rows, excluded, impossible)


def ident(r, drop=()):
    """A row's cell identity (IDENT order), less the fields in drop."""
    c = r["cell"]
    return tuple(_norm(c.get(f)) for f in IDENT if f not in drop)


def ident_of(rec):
    """The identity of a record keyed by field (a cell of cells.cell_frame)."""
    return tuple(rec[f] for f in IDENT)


def ident_fields(idt, drop=()):
    """{field: value} of an identity that lacks the fields in drop."""
    return dict(zip((f for f in IDENT if f not in drop), idt))


def ident_replace(idt, **fields):
    """The same identity with some fields changed: the shm cell of a
    transport's workload is ident_replace(idt, transport="shm", variant="split")."""
    return tuple(fields.get(f, v) for f, v in zip(IDENT, idt))


def workload_of(idt):
    """The workload part (WORKLOAD order) of an identity."""
    return tuple(v for f, v in zip(IDENT, idt) if f in WORKLOAD)


def cell_key(r):
    """A cell within one placement: figures from two placements never mix."""
    return ident(r), placement(r)


def _norm(v):
    return "" if v is None else v


def placement(r):
    return (r.get("placement") or {}).get("tag") or "-"


def workload_label(w):
    """A short name for a workload tuple (WORKLOAD order)."""
    d = dict(zip(WORKLOAD, w))
    if d["device"] == "boot":     # platform=qemu boot_runs: whole boots, timed by hyperfine
        return f"boot {d['arch']}: QEMU start to the guest's /init done"
    what = {"blk": d["pattern"], "net": d["mode"], "scmi": d["mix"]}.get(d["device"], d["pattern"] or d["mode"])
    parts = [d["device"], str(what)]
    if d["device"] != "scmi":
        parts.append(human_size(d["size"]))
    parts += [f"qd{d['qd']}", d["notify"]]
    if d["probes"] not in ("", "on", "auto"):
        parts.append(f"probes={d['probes']}")
    if d.get("guest_io") == "aio":     # the guest's io_uring is the default; its native AIO is named
        parts.append("guest_io=aio")
    if d.get("backend") not in (None, "", "qemu"):     # the disk served over vhost-user
        parts.append(f"backend={d['backend']}")
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
