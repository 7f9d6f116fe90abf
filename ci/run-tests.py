#!/usr/bin/python3
"""Runs every vtbench test and ends with 'N passed, M failed'.

Unit tests are C programs (each prints its own check count); the rest runs
./vtbench end to end and checks what it wrote, field by field."""
import argparse
import collections
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest  # noqa: E402  (ci/guest.py: boots the QEMU guests of images/)
import interop  # noqa: E402  (ci/interop.py: those guests against vtbench serve)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VTB = os.path.join(ROOT, "vtbench")
ALLOWED_UNDEF = {"memcpy", "memset", "memmove", "memcmp"}
passed, failed = 0, 0


def result(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name}: {detail}")
    sys.stdout.flush()


def run(cmd, **kw):
    """A command that outlives its safety timeout is a failed check with
    what it printed, never the end of the runner."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kw)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return subprocess.CompletedProcess(cmd, -9, out, err + f"\n[killed after its {e.timeout} s safety timeout]")


def unit(build, tests):
    for t in tests:
        p = run([os.path.join(build, t)], timeout=300)
        sys.stdout.write(p.stdout)
        result(os.path.basename(t), p.returncode == 0, p.stderr.strip()[-2000:])


def arm64(build, tests):
    """The unit tests cross-built for aarch64, each run under qemu-user:
    one result per test, named "arm64 <test>"."""
    qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    for t in tests:
        name = f"arm64 {os.path.basename(t)}"
        path = os.path.join(build, t)
        try:
            with open(path, "rb") as f:
                hdr = f.read(20)
        except OSError as e:
            result(name, False, f"not built: {e}")
            continue
        # ELF e_machine 183 (EM_AARCH64), little-endian: really cross-built.
        if hdr[:4] != b"\x7fELF" or int.from_bytes(hdr[18:20], "little") != 183:
            result(name, False, f"{path} is not an aarch64 ELF")
            continue
        if not qemu:
            result(name, False, "qemu-aarch64 not installed (qemu-user-static)")
            continue
        # The cross toolchain's own C library, loader and libc alike: with
        # Debian's libc6:arm64 also installed (multiarch, for the arm64
        # -dev packages) the loader would find that libc through the host's
        # ld.so.cache, a different build of 2.36, and the two hang together.
        p = run([qemu, "-L", "/usr/aarch64-linux-gnu", "-E", "LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib", path],
                timeout=600)
        sys.stdout.write(p.stdout)
        result(name, p.returncode == 0, p.stderr.strip()[-2000:])


def make_default():
    """Plain `make` (no target) builds ./vtbench and nothing else: asked of
    make itself with -n, in a clean environment (no parent make's flags)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    p = run(["make", "--no-print-directory", "-n"], env=env, timeout=120)
    q = run(["make", "--no-print-directory", "-p", "-q"], env=env, timeout=120)
    goal = [ln for ln in q.stdout.splitlines() if ln.startswith(".DEFAULT_GOAL :=")]
    cmds = p.stdout.splitlines()
    result("plain `make` builds ./vtbench and nothing under build/fuzz",
           p.returncode == 0 and goal == [".DEFAULT_GOAL := all"] and
           any(ln.startswith("cp ") and ln.endswith("/vtbench vtbench.new && mv -f vtbench.new vtbench") for ln in cmds) and
           not any("fuzz" in ln for ln in cmds),
           f"default goal {goal}; make -n: {p.stdout[-600:]}{p.stderr[-300:]}")


def freestanding(sources):
    """The core and the device models build with only the compiler's own
    headers and reference nothing beyond memcpy/memset/memmove/memcmp."""
    if not sources:
        result("freestanding", False, "no sources given (--freestanding)")
        return
    for cc in ("gcc", "clang"):
        if not shutil.which(cc):
            result(f"freestanding ({cc})", False, f"{cc} not installed")
            continue
        inc = run([cc, "-print-file-name=include"]).stdout.strip()
        with tempfile.TemporaryDirectory() as d:
            objs, errs = [], []
            # Every .c given, and every header of the core on its own.
            headers = sorted(os.path.join("transports", "core", h) for h in os.listdir(os.path.join(ROOT, "transports", "core"))
                             if h.endswith(".h"))
            for src in sources + headers:
                obj = os.path.join(d, os.path.basename(src) + ".o")
                p = run([cc, "-std=c11", "-ffreestanding", "-fno-stack-protector", "-nostdinc",
                         "-isystem", inc, "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
                         "-x", "c", "-c", src, "-o", obj])
                if p.returncode:
                    errs.append(p.stderr.strip())
                objs.append(obj)
            if errs:
                result(f"freestanding compile ({cc})", False, "\n".join(errs)[:2000])
                continue
            lib = os.path.join(d, "core.o")
            p = run(["ld", "-r", "-o", lib] + objs)
            undef = set(run(["nm", "-u", lib]).stdout.split()) - {"U"}
            extra = undef - ALLOWED_UNDEF
            result(f"freestanding link ({cc}): undefined symbols {sorted(undef)}",
                   p.returncode == 0 and not extra, f"not allowed: {sorted(extra)}")


def vtbench(args, out=None, timeout=300):
    cmd = [VTB, "run"] + args
    if out:
        cmd += ["--out", out]
    return run(cmd, timeout=timeout)


def rows_of(d):
    with open(os.path.join(d, "results.jsonl")) as f:
        return [json.loads(l) for l in f]


def _workload(cell):
    """What harness/suite.c same_workload() compares: all but the transport
    (and the suite index, which it does not compare either); the platform
    is part of it."""
    return json.dumps({k: v for k, v in cell.items() if k not in ("transport", "variant", "index")},
                      sort_keys=True)


def _cell_name(c):
    """harness/suite.c vtb_cell_name() (its probes= suffix is for a key other
    than auto, which no e2e suite sets)."""
    sz = " imix" if c["size"] in ("imix", -1) else f" {c['size']}" if c["size"] else ""
    return (f"{c['device']} {c['pattern'] or c['mode'] or 'mix'}{sz}/{c['transport']} {c['variant']}"
            f" {'poll' if c['notify'] == 'poll' else 'event'} qd={c['qd']}"
            f"{'' if c.get('qsize', 256) == 256 else ' qsize=%d' % c['qsize']}{' indirect' if c.get('indirect') else ''}")


def reference_problems(rows):
    """Replays harness/main.c's choice of the shm reference over the rows in
    the order they were written, whatever the placement did: the same
    workload's shm cell (split where the run has it), its latest good
    measurement in the row's placement, else this repetition's in the other
    (vtb_model_pick_ref), else none.  A row priced against a reference must
    name exactly that one; a row with none must record exactly that
    (relative false, reference null: the seam's costs alone)."""
    shm_variants = collections.defaultdict(set)
    for r in rows:
        if r["cell"]["transport"] == "shm":
            shm_variants[_workload(r["cell"])].add(r["cell"]["variant"])
    seen = collections.defaultdict(dict)    # workload -> slot -> (rep, name)
    bad = []
    for n, r in enumerate(rows, 1):
        c, m = r["cell"], r["model"]
        if not m:
            continue
        wk = _workload(c)
        slot = "far" if (r.get("placement") or {}).get("tag") == "far" else "near"
        if r.get("pair") is not None:
            # Paired: priced against the reference that took turns with it,
            # in the same window, whatever the placement.
            pr = r["pair"]
            vs = shm_variants[wk]
            ref_variant = "split" if "split" in vs else max(vs) if vs else "split"
            refc = dict(c, transport="shm", variant=ref_variant)
            want = f"{_cell_name(refc)} rep {r['rep']} paired" if pr["ref_error"] is None and pr["ref_ops"] else None
            if m["reference"] != want or m["relative"] != (want is not None):
                bad.append(f"line {n}: {_cell_name(c)} rep {r['rep']} paired: relative {m['relative']}, "
                           f"reference {m['reference']!r}, want {want!r}")
            continue
        if c["transport"] == "shm":
            if m["relative"] or m["reference"] is not None:
                bad.append(f"line {n}: shm row priced against {m['reference']}")
            vs = shm_variants[wk]
            ref_variant = "split" if "split" in vs else max(vs)
            if c["variant"] == ref_variant and r["error"] is None and r["ops"]:
                seen[wk][slot] = (r["rep"], _cell_name(c))
            continue
        other = "near" if slot == "far" else "far"
        pick = seen[wk].get(slot) and slot or (seen[wk].get(other, (None,))[0] == r["rep"] and other) or None
        want = f"{seen[wk][pick][1]} rep {seen[wk][pick][0]} {pick}" if pick else None
        if m["reference"] != want or m["relative"] != (want is not None):
            bad.append(f"line {n}: {_cell_name(c)} rep {r['rep']} [{slot}]: relative {m['relative']}, "
                       f"reference {m['reference']!r}, want {want!r}")
    return bad


def reference_check_selftest():
    """The replay itself, on rows made to the harness's layout: a placement
    flip that leaves a row with no reference passes; a wrong or missing
    reference, another workload's, or a stale one from the other placement
    fails, as does one priced from another platform's shm."""
    def row(transport, rep, tag, ref=None, size=4096, error=None):
        return {"cell": {"device": "blk", "index": 0, "transport": transport, "variant": "split" if transport == "shm"
                         else "pool", "notify": "poll", "pattern": "randread", "mode": "", "mix": "", "size": size,
                         "qd": 1, "platform": "proc"}, "rep": rep, "placement": {"pingpong_ns": 60.0 if tag == "near" else 400.0, "tag": tag},
                "ops": 0 if error else 100, "error": error,
                "model": {"relative": ref is not None, "reference": ref}}
    ref0n = "blk randread 4096/shm split poll qd=1 rep 0 near"
    ok = [row("shm", 0, "near"), row("swiotlb", 0, "far", ref0n),          # flipped: this rep's near one
          row("shm", 1, "near", error="planted"), row("swiotlb", 1, "far"),  # no far one, near only from rep 0
          row("shm", 2, "far"), row("swiotlb", 2, "near", ref0n),           # its own placement, an earlier rep
          row("swiotlb", 2, "far", "blk randread 4096/shm split poll qd=1 rep 2 far")]
    wrong = [
        [row("shm", 0, "near"), row("swiotlb", 0, "near")],                            # had one, says none
        [row("shm", 0, "near"), row("swiotlb", 1, "far", ref0n)],                      # stale, other placement
        [row("shm", 0, "near"), row("shm", 0, "near", size=8192),
         row("swiotlb", 0, "near", "blk randread 8192/shm split poll qd=1 rep 0 near")],  # another workload's
        [row("shm", 0, "near", ref0n)],                                                 # shm priced against shm
        [dict(row("shm", 0, "near"), cell=dict(row("shm", 0, "near")["cell"], platform="xen")),
         row("swiotlb", 0, "near", ref0n)],                                             # another platform's
    ]
    got = [reference_problems(ok)] + [reference_problems(w) for w in wrong]
    result("the reference check passes a placement flip that leaves a row unpriced, fails a wrong reference",
           got[0] == [] and all(got[1:]), str(got))


T95 = [math.inf, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]


def adapt_replay(rows, min_reps, max_reps, ci):
    """harness/adapt.c's rule replayed over a run's rows, cell by cell in
    the order written: after each repetition, more while fewer than
    min_reps ran, or below max_reps while the placement with most
    repetitions that stayed in it has fewer than min_reps, or any
    placement with two or more is wider than ci (95% t interval on the
    logs of the paired ratio, else of ops/s).  Returns what disagrees."""
    def hw(xs):
        n = len(xs)
        m = sum(xs) / n
        sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
        return (math.exp(T95[n - 1] * sd / math.sqrt(n)) - 1) * 100

    def more(g, done):
        if done < min_reps:
            return True
        if done >= max_reps:
            return False
        main = "far" if len(g["far"]) > len(g["near"]) else "near"
        if len(g[main]) < min_reps:
            return True
        return any(len(v) >= 2 and hw(v) > ci for v in g.values())

    cells = collections.defaultdict(list)
    for r in rows:
        cells[r["cell"]["index"]].append(r)
    bad = []
    for idx, rs in cells.items():
        g, done = {"near": [], "far": []}, 0
        for k, r in enumerate(rs):
            if not more(g, done):
                bad.append(f"cell {idx}: rep {r['rep']} ran after the rule said stop")
                break
            done += 1
            pl = r.get("placement") or {}
            x = (r.get("pair") or {}).get("ratio") if r.get("pair") else r["ops_per_s"]
            if r["error"] is None and x and pl.get("tag_after") == pl.get("tag"):
                g["far" if pl.get("tag") == "far" else "near"].append(math.log(x))
        else:
            if more(g, done):
                bad.append(f"cell {idx}: stopped after {done} while the rule says more")
    return bad


def paired_adaptive(tmp):
    """pair=1: a cell and its shm reference take turns in one window; each
    turn ends with nothing in flight, so every op and every seam count
    belongs to one cell.  max_reps/ci: a cell repeats while its interval
    is wider than asked (ci tiny: to max_reps; ci=100: its minimum), and
    budget= stops the extra ones."""
    d = os.path.join(tmp, "paired")
    args = ["device=blk", "pattern=randread", "size=4k", "notify=event,poll", "qd=1,8", "pair=1", "verify=1",
            "duration=60ms", "warmup=20ms", "reps=2", "transport=shm,swiotlb,grant", "variant=*"]
    p = vtbench(args + ["max_reps=4", "ci=0.0001"], d, timeout=600)
    result("a paired, adaptive run exits 0", p.returncode == 0, p.stderr[-1500:])
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    schema = json.load(open(os.path.join(ROOT, "results", "schema.json")))
    bad = [e.message for r in rows for e in jsonschema.Draft202012Validator(schema).iter_errors(r)]
    result("paired rows match results/schema.json", rows and not bad, str(bad[:3]))
    problems = []
    paired = [r for r in rows if r["cell"]["transport"] != "shm"]
    for r in paired:
        c, pr = r["cell"], r["pair"]
        name = f"{c['transport']}/{c['variant']} {c['notify']} qd={c['qd']} rep {r['rep']}"
        if not c.get("paired") or pr is None:
            problems.append(f"{name}: not paired: {pr}")
            continue
        if r["error"] or pr["ref_error"] or r["verified"] is not True:
            problems.append(f"{name}: error {r['error']} ref {pr['ref_error']} verified {r['verified']}")
            continue
        sl, rs = r["slices"], pr["ref_slices"]
        # Every op of the measured phase completed in one of its turns, and
        # the turns' times add up to the measured time.
        if sum(sl["ops"]) != r["ops"] or sum(rs["ops"]) != pr["ref_ops"]:
            problems.append(f"{name}: turn ops {sum(sl['ops'])}/{r['ops']}, ref {sum(rs['ops'])}/{pr['ref_ops']}")
        if abs(sum(sl["dur_ns"]) / 1e9 - r["seconds"]) > 1e-6 * max(r["seconds"], 1) + 1e-6:
            problems.append(f"{name}: turns last {sum(sl['dur_ns'])} ns, measured {r['seconds']} s")
        want = r["ops_per_s"] / pr["ref_ops_per_s"]
        if abs(pr["ratio"] - want) > 1e-4 * want:
            problems.append(f"{name}: ratio {pr['ratio']} != {want}")
        # The turns hand over drained, so the counters are the mechanism's
        # exactly, with no request straddling a boundary: swiotlb bounces
        # every buffer of a request in at map (header, data, status: Linux
        # bounces device-writable ones in too) and the two device-writable
        # ones out at unmap.
        po = r["per_op"]
        if c["transport"] == "swiotlb" and abs(po["bounce_copies"] - 5) > 1e-9:
            problems.append(f"{name}: {po['bounce_copies']} bounces per op, want exactly 5")
        if c["transport"] == "grant" and c["variant"] == "copy" and abs(po["hv_copies"] - 2) > 1e-9:
            problems.append(f"{name}: {po['hv_copies']} grant copies per op, want exactly 2")
        if r["kernel"] and r["kernel"].get("source") == "ebpf":
            kp = kernel_crosscheck(r)
            if kp:
                problems.append(f"{name}: kernel {kp}")
    result(f"{len(paired)} paired rows: verified, every op in a turn, the ratio is the two rates', counters exact",
           paired and not problems, "; ".join(problems[:4]))
    per_cell = collections.Counter(r["cell"]["index"] for r in rows)
    result("ci=0.0001: every cell runs to max_reps", per_cell and set(per_cell.values()) == {4}, str(per_cell))
    result("a paired row is priced against the reference that took turns with it",
           not reference_problems(rows), str(reference_problems(rows)[:2]))

    d2 = os.path.join(tmp, "paired-loose")
    p = vtbench(args + ["max_reps=6", "ci=20"], d2, timeout=600)
    loose = rows_of(d2) if p.returncode == 0 else []
    why = adapt_replay(loose, 2, 6, 20)
    result("ci=20: each cell stops exactly where the adaptive rule, replayed over its rows, says",
           loose and not why, "; ".join(why[:3]))
    d3 = os.path.join(tmp, "paired-budget")
    p = vtbench(args + ["max_reps=6", "ci=0.0001", "budget=1ms"], d3, timeout=600)
    per_cell = collections.Counter(r["cell"]["index"] for r in rows_of(d3)) if p.returncode == 0 else {}
    result("budget=1ms: no extra repetition starts", per_cell and set(per_cell.values()) == {2}, str(per_cell))
    p = vtbench(["device=blk", "pair=1", "ops=100"], os.path.join(tmp, "paired-ops"))
    result("pair=1 with ops=N is refused (exit 2)", p.returncode == 2 and "pair=1" in p.stderr, p.stderr[-300:])


class _Attrs(dict):
    """A row's counters as attributes, for the expectation expressions."""
    __getattr__ = dict.__getitem__


def load_expectations():
    """{transport: {variant: merged expectations}} from transports/NAME.expect.json,
    each transport's per-op costs beside its source: a variant's own entry
    over the file's "all" (tables and flags merged, checks concatenated)."""
    out = {}
    tdir = os.path.join(ROOT, "transports")
    for fn in sorted(os.listdir(tdir)):
        if not fn.endswith(".expect.json"):
            continue
        with open(os.path.join(tdir, fn)) as f:
            d = json.load(f)
        if d.get("transport") + ".expect.json" != fn:
            raise ValueError(f"transports/{fn} names transport {d.get('transport')!r}")
        base = d.get("all", {})
        out[d["transport"]] = {}
        for v, e in d["variants"].items():
            m = {k: x for k, x in base.items() if k not in ("tables", "checks")}
            m.update({k: x for k, x in e.items() if k not in ("tables", "checks")})
            m["tables"] = dict(base.get("tables", {}), **e.get("tables", {}))
            m["checks"] = base.get("checks", []) + e.get("checks", [])
            for chk in m["checks"]:
                chk["_code"] = compile(chk["fail_if"], f"transports/{fn}: {chk['why']}", "eval")
            out[d["transport"]][v] = m
    return out


EXPECT = load_expectations()


def cost_problems(r):
    """A row's per-op costs against its transport's expectations (transports/
    NAME.expect.json): what it may map or copy at all, then each check."""
    c, po = r["cell"], r["per_op"]
    fe, be = r["domains"]["fe"], r["domains"]["be"]
    tv = (c["transport"], c["variant"])
    e = EXPECT.get(tv[0], {}).get(tv[1])
    if e is None:
        return [f"no cost expectations for {tv[0]}/{tv[1]} in transports/{tv[0]}.expect.json"]
    # Boundary slack: requests in flight when measuring starts or stops.
    slack = 3.0 * c["qd"] / max(r["ops"], 1) + 1e-9
    problems = []
    # A variant that maps nothing per op may still map each of its first
    # sights (grant/persistent's pool pages: with a short warmup some fall
    # in the measured phase), and nothing is ever unmapped.
    first_sights = e.get("first_sight_maps", 0) / max(r["ops"], 1)
    if not e.get("maps") and (po["maps"] > slack + first_sights or po["unmaps"] > slack):
        problems.append(f"{tv} mapped per op: {po}")
    if not e.get("hv_copies") and po["hv_copies"]:
        problems.append(f"{tv} made hypervisor copies: {po}")
    env = {"po": _Attrs(po), "fe": _Attrs(fe), "be": _Attrs(be), "c": _Attrs(c), "r": _Attrs(r),
           "ops": max(r["ops"], 1), "qd": c["qd"], "slack": slack, "abs": abs, "min": min, "max": max,
           "near": lambda got, want: abs(got - want) <= max(want, 1) * slack,
           # An indirect request's table is one more device-readable mapping
           # (blk and scmi requests have several buffers; net's have one).
           "ind": 1 if c["indirect"] and c["device"] != "net" else 0}
    for name, t in e["tables"].items():
        env[name] = t["values"].get("/".join(str(c[f]) for f in t["by"]))
    for chk in e["checks"]:
        if eval(chk["_code"], {"__builtins__": {}}, env):
            problems.append(f"{chk['why']}: fail_if {chk['fail_if']} with per_op {po}, fe {fe}, be {be}")
    return problems


def expectations_selftest():
    """The expectations hold every transport and variant vtbench lists, and
    they are strict: a row whose counts move (one more map, one bounce
    fewer, a copy where there was none) fails them."""
    p = run([VTB, "list", "--json"])
    try:
        listed = {(t["name"], v) for t in json.loads(p.stdout)["transports"] for v in t["variants"]}
    except (ValueError, KeyError):
        listed = set()
    have = {(t, v) for t, vs in EXPECT.items() for v in vs}
    result("every transport and variant vtbench list --json names has cost expectations beside its source",
           listed and listed == have, f"listed {sorted(listed)}, transports/*.expect.json {sorted(have)}")
    dom = {k: 0 for k in ("copies", "copy_segs", "maps", "unmaps", "flushes", "bounce_copies", "xport_ops",
                          "notifies", "waits", "exits")}

    def row(t, v, po, fe=None, be=None, device="blk", pattern="randread", size=4096, ops=1000):
        base = {"copies": 0, "copy_bytes": 0, "hv_copies": 0, "bounce_copies": 0, "xport_ops": 0, "maps": 0,
                "unmaps": 0, "flushes": 0, "notifies": 1, "waits": 1}
        return {"cell": {"transport": t, "variant": v, "device": device, "pattern": pattern, "size": size, "qd": 1,
                         "indirect": False, "notify": "event"}, "ops": ops, "per_op": dict(base, **po),
                "domains": {"fe": dict(dom, **(fe or {})), "be": dict(dom, **(be or {}))}}
    n = 1000
    good = [row("shm", "split", {}),
            row("swiotlb", "pool", {"bounce_copies": 5, "xport_ops": 3}, fe={"bounce_copies": 5 * n, "xport_ops": 3 * n}),
            row("grant", "map", {"maps": 3, "unmaps": 3, "flushes": 3},
                be={"maps": 3 * n, "unmaps": 3 * n, "flushes": 3 * n}),
            row("fatvq", "inline", {"bounce_copies": 3}, fe={"bounce_copies": 3 * n})]
    bad = [row("shm", "split", {"copies": 1, "copy_bytes": 64}),
           row("swiotlb", "pool", {"bounce_copies": 4, "xport_ops": 3}, fe={"bounce_copies": 4 * n, "xport_ops": 3 * n}),
           row("grant", "map", {"maps": 4, "unmaps": 4, "flushes": 4},
               be={"maps": 4 * n, "unmaps": 4 * n, "flushes": 4 * n}),
           row("fatvq", "inline", {"bounce_copies": 3, "hv_copies": 1}, fe={"bounce_copies": 3 * n}),
           row("fatvq", "inline", {"bounce_copies": 3}, fe={"bounce_copies": 3 * n}, be={"maps": 1}),
           row("shm", "teleport", {})]
    got_good = [cost_problems(x) for x in good]
    got_bad = [cost_problems(x) for x in bad]
    result("the cost expectations pass rows that follow each mechanism and fail rows whose counts changed",
           not any(got_good) and all(got_bad), f"good: {got_good}; bad: {got_bad}")


def kernel_crosscheck(r):
    """What the eBPF probes saw of each domain against the seam's own counts
    (within 2%): hypervisor copies <-> process_vm_readv/writev, maps <->
    mmap (an unmap that keeps its range reserved is an mmap too), other
    unmaps <-> munmap, doorbells <-> eventfd writes, waits <-> eventfd
    reads, all seam calls <-> the primitive syscalls; and the in-kernel
    request latency of the USDT-sampled ops inside the FE's own."""
    k, problems = r["kernel"], []
    if k is None:
        return ["no kernel view (probes off)"]
    for dn in ("fe", "be"):
        d, kd = r["domains"][dn], k[dn]
        sc = collections.defaultdict(int, kd["syscalls"])
        pairs = {
            "copies/process_vm_*": (d["copies"], sc["process_vm_readv"] + sc["process_vm_writev"]),
            "maps/mmap": (d["maps"] + d["unmaps_keep_va"], sc["mmap"]),
            "unmaps/munmap": (d["unmaps"] - d["unmaps_keep_va"], sc["munmap"]),
            "notifies/write": (d["notifies"], sc["write"]),
            "waits/read": (d["waits"], sc["read"]),
            "exits/primitive syscalls": (d["exits"], kd["exits"]),
        }
        for what, (seam, seen) in pairs.items():
            if abs(seam - seen) > 0.02 * max(seam, seen):
                problems.append(f"{dn} {what}: seam {seam}, kernel {seen}")
        # One measured phase; a paired cell pauses it over each handover
        # (its turns), so its starts and ends pair up.
        pe = kd["phase_events"]
        if pe != [1, 1] and not (r.get("pair") and pe[0] == pe[1] and pe[0] >= 1):
            problems.append(f"{dn} phase USDT events {pe}")
    u = k["usdt"]
    if u["sample"] and (u["count"] != u["user_count"] or u["unmatched"] or
                        (u["count"] and u["p50"] > u["user_p50"] * 1.02)):
        problems.append(f"usdt latency {dict((x, y) for x, y in u.items() if x != 'buckets')}")
    return problems


def probes(tmp):
    """Probes stay attached for a run and are armed per cell: nothing leaks
    after 50 cells, every cell's counts are its own, and a run that may not
    load BPF completes with probes marked off."""
    def progs():
        p = run(["bpftool", "-j", "prog", "show"])
        return {(x["id"], x.get("name", "")) for x in json.loads(p.stdout or "[]")} if p.returncode == 0 else set()
    before = progs()
    d = os.path.join(tmp, "probes50")
    p = vtbench(["device=scmi", "ops=50", "warmup=0", "reps=50", "probes=on"], d)
    rows = rows_of(d) if p.returncode == 0 else []
    meta = json.load(open(os.path.join(d, "meta.json"))) if rows else {}
    left = progs() - before
    ours = {"sys_enter", "sys_exit", "sys_call", "exit_pvm_readv", "exit_pvm_writev", "exit_mmap", "exit_munmap",
            "exit_mprotect", "exit_read", "exit_write", "exit_futex", "exit_io_uring",
            "sched_switch", "page_fault_user", "tlb_flush", "phase", "req_submit", "req_complete"}
    result("probes: 50 cells, no descriptor, link or program left behind; the syscall hooks named",
           len(rows) == 50 and meta.get("probes", {}).get("leaked_fds") == 0 and not {n for _, n in left} & ours
           and isinstance(meta["probes"].get("syscall_hooks"), str),
           f"rc={p.returncode} rows={len(rows)} meta={meta.get('probes')} left={left} {p.stderr[-300:]}")
    # The overhead pairing on a planted answer: the same rows again with
    # probes off and 10% more throughput is a 1 - 1/1.1 = 9.09% overhead.
    syn = os.path.join(tmp, "overhead")
    os.makedirs(syn, exist_ok=True)
    with open(os.path.join(syn, "results.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
            off = json.loads(json.dumps(r))
            off["cell"]["probes"], off["ops_per_s"] = "off", r["ops_per_s"] * 1.1
            off["cell"]["index"] += 1000	# another cell of the run, not a duplicate row
            f.write(json.dumps(off) + "\n")
    p = run(["/usr/bin/python3", "analysis/summary.py", syn, "--probe-overhead"])
    o = json.load(open(os.path.join(syn, "probe_overhead.json"))) if p.returncode == 0 else {}
    result("probe overhead: on/off pairs within a placement, planted 9.09% found",
           o.get("median_pct") is not None and abs(o["median_pct"] - 100 / 11) < 0.01 and
           sum(c["pairs"] for c in o["cells"]) + o["pairs_across_placements_left_out"] == len(rows),
           p.stdout[-300:] + p.stderr[-300:])
    totals = [r["kernel"]["fe"]["syscalls_total"] for r in rows if r["kernel"]]
    result("probes: each cell counts only its own domains (armed fresh per cell)",
           len(totals) == 50 and all(r["kernel"]["fe"]["phase_events"] == [1, 1] and r["kernel"]["be"]["phase_events"] == [1, 1]
                                     for r in rows) and max(totals) <= 3 * max(min(totals), 1) and
           all(not kernel_crosscheck(r) for r in rows), f"fe syscalls per cell {totals[:5]}..{totals[-5:]}")

    # Without the capabilities BPF needs, the run still completes.
    if not shutil.which("capsh"):
        result("probes: a run without BPF permission", False, "capsh not installed (libcap2-bin)")
        return
    drop = ["capsh", "--drop=cap_bpf,cap_perfmon,cap_sys_admin", "--", "-c"]
    d = os.path.join(tmp, "nobpf")
    p = run(drop + [f"{VTB} run device=blk ops=200 warmup=0 reps=1 --out {d}"], timeout=120)
    rows = rows_of(d) if p.returncode == 0 else []
    meta = json.load(open(os.path.join(d, "meta.json"))) if rows else {}
    pm = meta.get("probes", {})
    result("probes: without CAP_BPF/CAP_PERFMON the run completes, probes off and why",
           len(rows) == 1 and rows[0]["error"] is None and rows[0]["kernel"] is None and rows[0]["cell"]["probes"] == "off"
           and rows[0]["per_op"]["exits_source"] == "seam" and pm.get("state") == "off" and pm.get("why")
           and "probes off" in p.stderr, f"rc={p.returncode} {pm} {p.stderr[-300:]}")
    p = run(drop + [f"{VTB} run device=blk ops=200 warmup=0 reps=1 probes=on --out {d}-on"], timeout=120)
    result("probes=on without BPF permission: exit 2 with the reason",
           p.returncode == 2 and "probes=on, but they cannot run" in p.stderr, f"rc={p.returncode} {p.stderr[-300:]}")


def e2e(tmp):
    schema = json.load(open(os.path.join(ROOT, "results", "schema.json")))
    validator = jsonschema.Draft202012Validator(schema)

    # Every device in both notify modes, with verification, plus variants of
    # each generator that exercise other paths (indirect, imix, rx, rr, rw).
    d = os.path.join(tmp, "e2e")
    p = vtbench(["harness/suites/test.suite"], d, timeout=1500)	# a safety net, not a timing check
    result("e2e suite runs with exit 0", p.returncode == 0, p.stderr[-2000:])
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    meta = json.load(open(os.path.join(d, "meta.json"))) if os.path.exists(os.path.join(d, "meta.json")) else {}
    combos = {(r["cell"]["device"], r["cell"]["notify"]) for r in rows}
    want = {(dev, n) for dev in ("blk", "net", "scmi") for n in ("event", "poll")}
    result("e2e covers every device in both notify modes", want <= combos, f"missing {want - combos}")
    transports = {r["cell"]["transport"] for r in rows}
    tvs = {(r["cell"]["transport"], r["cell"]["variant"]) for r in rows}
    result("e2e covers every transport and variant",
           {("shm", "split"), ("shm", "packed"), ("swiotlb", "pool"), ("grant", "map"), ("grant", "copy"), ("grant", "persistent"),
            ("viommu", "strict"), ("viommu", "lazy"), ("viommu", "passthrough"), ("fatvq", "inline"),
            ("argo", "sync"), ("argo", "batch")} <= tvs, str(tvs))
    bad = [(i, e.message) for i, r in enumerate(rows) for e in validator.iter_errors(r)]
    result(f"{len(rows)} result rows match results/schema.json", rows and not bad, str(bad[:5]))
    result("e2e ran with the eBPF probes on", meta.get("probes", {}).get("state") == "on", str(meta.get("probes")))
    cal = meta.get("calibration", {})
    figs = ("memcpy_4k", "memcpy_64k", "memcpy_1m", "hv_call_ns", "hv_seg_ns", "hv_gbps", "pingpong_ns", "eventfd_rtt_ns",
            "futex_rtt_ns", "syscall_ns", "map_ns", "map_batch_ns")
    # The cross-CPU copy figures (harness/model.md): a 64 KiB copy takes
    # time; a smaller point or a rewrite may cost nothing extra.
    xfigs = ("xcopy_64", "xcopy_4k", "reclaim_64", "reclaim_4k", "reclaim_64k", "hv_x64_ns", "hv_x4k_ns")
    result("meta.json carries the calibration at start and end, every figure positive",
           all(cal.get(e) and cal[e]["ok"] and all(cal[e][f]["v"] > 0 and cal[e][f]["spread_pct"] >= 0 for f in figs)
               and cal[e]["xcopy_64k"]["v"] > 0 and all(cal[e][f]["v"] >= 0 for f in xfigs)
               and cal[e]["shootdown_ns"]["v"] >= 0 and cal[e]["placement"] in ("near", "far") for e in ("start", "end"))
           and isinstance(cal.get("moved"), list) and len(cal.get("reps", [])) == 1 and cal["reps"][0] == cal["start"],
           json.dumps(cal)[:600])
    bad = [r["cell"] for r in rows if not r["limit"] or not r["model"] or r["limit"]["ratio"] <= 0]
    bad += reference_problems(rows)
    result("every row names its limit and the model's prediction; a priced row names the shm reference of its own "
           "workload that the harness's rule picks, a row without one says so (relative false, no reference)",
           rows and not bad, str(bad[:3]))
    for r in rows:
        c = r["cell"]
        name = f"{c['device']} {c['pattern']} size={c['size']} qd={c['qd']} {c['transport']}/{c['variant']} {c['notify']}" + \
            (" indirect" if c["indirect"] else "")
        po = r["per_op"]
        problems = []
        if r["error"] is not None:
            problems.append(f"error: {r['error']}")
        if r["verified"] is not True:
            problems.append("not verified")
        if r["ops"] != c["ops_target"]:
            problems.append(f"ops {r['ops']} != {c['ops_target']}")
        if r["lat_ns"]["p50"] <= 0 or r["lat_ns"]["p99"] < r["lat_ns"]["p50"] or \
                r["lat_ns"]["max"] < r["lat_ns"]["p99"] or r["hist"]["count"] != r["ops"]:
            problems.append(f"latency {r['lat_ns']} hist count {r['hist']['count']}")
        if sum(n for _, n in r["hist"]["buckets"]) != r["ops"]:
            problems.append("histogram buckets do not add up to ops")
        fe, be = r["domains"]["fe"], r["domains"]["be"]
        problems += cost_problems(r)
        # Every hypervisor entry is one of the seam's calls.
        calls = sum(d[k] for d in (fe, be) for k in ("notifies", "waits", "copies", "maps", "unmaps"))
        # The FE snapshots the BE's live counters at both ends of the window, so a
        # call in progress there can be counted in one counter and not yet the other.
        if abs(fe["exits"] + be["exits"] - calls) > 4:
            problems.append(f"exits {fe['exits'] + be['exits']} != seam calls {calls}")
        if c["notify"] == "poll":
            if po["notifies"] or po["waits"] or po["notifies_suppressed"] <= 0:
                problems.append(f"poll mode rang doorbells: {po}")
        elif po["notifies"] <= 0:
            problems.append(f"event mode rang no doorbell: {po}")
        problems += kernel_crosscheck(r)
        if r["cpu_s"]["fe"] <= 0 or r["cpu_s"]["be"] <= 0:
            problems.append(f"cpu_s {r['cpu_s']}")
        if r["bytes"] <= 0 or r["ops_per_s"] <= 0:
            problems.append("no throughput")
        ds = collections.defaultdict(int, r["device_stats"])
        if c["device"] == "blk" and (ds["ioerr"] != 1 or ds["unsupp"]):
            # exactly one IOERR: the generator's deliberate read past capacity
            problems.append(f"blk device_stats {ds}")
        if c["device"] == "net" and (ds["drops"] or ds["bad_frames"] or ds["verify_errors"]):
            problems.append(f"net device_stats {ds}")
        if c["device"] == "scmi" and (ds["bad_msgs"] or ds["notifs_dropped"]):
            problems.append(f"scmi device_stats {ds}")
        result(f"e2e {name}: verified, counters follow the mechanism", not problems, "; ".join(problems))
    scmi_ev = [r for r in rows if r["cell"]["device"] == "scmi" and "perf_set" in r["cell"]["mix"]]
    result("scmi perf_set delivers notifications on the event queue",
           scmi_ev and all(r["device_stats"]["notifs"] > 0 for r in scmi_ev), str([r["device_stats"] for r in scmi_ev]))
    p = run(["/usr/bin/python3", "analysis/summary.py", d])
    lines = p.stdout.splitlines()
    sys.path.insert(0, os.path.join(ROOT, "analysis"))
    from vtba.data import IDENT     # the one cell identity of analysis/
    result("analysis/summary.py summarises the e2e run, one line per cell and placement",
           p.returncode == 0 and len(lines) == 3 + len({tuple(str(r["cell"].get(f)) for f in IDENT) +
                                                        ((r["placement"] or {}).get("tag"),) for r in rows}),
           p.stdout[-800:] + p.stderr[-500:])
    with open(os.path.join(d, "results.jsonl"), "a") as f:
        f.write('{"schema": 1, "truncated\n')
    p = run(["/usr/bin/python3", "analysis/summary.py", d])
    result("a corrupt line is reported with its line number and excluded",
           p.returncode == 0 and f"results.jsonl:{len(rows) + 1}: not JSON" in p.stderr, p.stderr[-500:])
    pl = meta.get("placement", {})
    result("meta.json records host, revision, suite and placement at start and end",
           meta.get("run_id") == (rows[0]["run_id"] if rows else None) and meta.get("git_rev")
           and meta.get("host", {}).get("cores", 0) >= 1 and "[blk]" in meta.get("suite", "")
           and meta.get("ended") and pl.get("pingpong_ns_start", 0) > 0 and pl.get("pingpong_ns_end", 0) > 0,
           json.dumps(meta)[:500])
    # Repetitions interleave: rep-major order.
    d2 = os.path.join(tmp, "interleave")
    p = vtbench(["device=blk", "qd=1,2", "reps=2", "ops=50", "warmup=0"], d2)
    order = [(r["cell"]["qd"], r["rep"]) for r in rows_of(d2)] if p.returncode == 0 else []
    result("repetitions interleave across cells", order == [(1, 0), (2, 0), (1, 1), (2, 1)], f"{order} {p.stderr[-500:]}")

    # io_uring backing file.
    d3 = os.path.join(tmp, "backing")
    back = os.path.join(tmp, "disk.img")
    p = vtbench(["device=blk", "pattern=randrw", "qd=4", "ops=400", "warmup=0", "reps=1", "verify=1",
                 "disk=4m", f"backing={back}", "backing_create=1"], d3)
    r = rows_of(d3)[0] if p.returncode == 0 else {}
    result("blk backing=PATH backing_create=1 through io_uring verifies", r.get("verified") is True and
           os.path.getsize(back) == 4 << 20, f"{r.get('error')} {p.stderr[-500:]}")

    # A user's file is used as it is: never resized, never created unasked,
    # read-only for read patterns, never overwritten by verify.
    user = os.path.join(tmp, "user.img")
    with open(user, "wb") as f:
        f.write(bytes(range(256)) * (4096 * 6 + 16))	# 6 MiB + 4 KiB: not the 64 MiB default
    size0 = os.path.getsize(user)
    data0 = open(user, "rb").read()
    os.chmod(user, 0o444)	# root ignores the mode: the open flags must keep the file intact
    bad = []
    for i, args in enumerate([["pattern=randread"], ["pattern=read", "disk=4m"]]):
        d = os.path.join(tmp, f"user{i}")
        p = vtbench(["device=blk", "qd=2", "ops=300", "warmup=0", "reps=1", f"backing={user}"] + args, d)
        rs = rows_of(d) if p.returncode == 0 else []
        want = 4 << 20 if "disk=4m" in args else size0 // 512 * 512
        if not rs or rs[0]["error"] or rs[0]["cell"]["disk"] != want:
            bad.append((args, p.returncode, rs[0]["cell"]["disk"] if rs else None, p.stderr[-200:]))
    for i, args in enumerate([["disk=64m"], ["verify=1"]]):
        p = vtbench(["device=blk", "pattern=randread", "ops=100", "reps=1", f"backing={user}"] + args,
                    os.path.join(tmp, f"userbad{i}"))
        if p.returncode != 2:
            bad.append((args, p.returncode, p.stderr[-200:]))
    missing = os.path.join(tmp, "missing.img")
    p = vtbench(["device=blk", "ops=100", "reps=1", f"backing={missing}"], os.path.join(tmp, "usermiss"))
    if p.returncode != 2 or "backing_create=1" not in p.stderr or os.path.exists(missing):
        bad.append(("missing", p.returncode, p.stderr[-200:]))
    result("blk backing= of a user's file: capacity its size, never resized or created unasked, read patterns leave it intact",
           not bad and os.path.getsize(user) == size0 and open(user, "rb").read() == data0, str(bad))


def scmi_conformance(tmp):
    """Every SCMI response, the new PERF messages included, checked by the FE
    against DEN0056's values, with and without VIRTIO_SCMI_F_P2A_CHANNELS:
    notifications only with the event queue, none lost, none without it."""
    d = os.path.join(tmp, "scmi-conf")
    mix = ("perf_attrs:5,perf_set:20,perf_get:5,perf_levels:5,perf_limits_set:5,perf_limits_get:5,"
           "clock_attrs:2,clock_rates:2,sensor_desc:2,sensor_read:5,base_protocols:1")
    p = vtbench(["device=scmi", "transport=shm,swiotlb", "notify=event,poll", "verify=1", "qd=1,8", "events=0,1",
                 f"mix={mix}", "ops=400", "warmup=0", "reps=1"], d)
    rows = rows_of(d) if p.returncode == 0 else []
    result("scmi conformance cells (P2A on and off, new PERF ops) run and verify",
           len(rows) == 16 and all(r["error"] is None and r["verified"] is True for r in rows),
           p.stderr[-800:] + str([r["error"] for r in rows if r["error"]][:3]))
    bad = []
    for r in rows:
        ds = collections.defaultdict(int, r["device_stats"])
        if ds["bad_msgs"] or ds["notifs_dropped"] or (ds["notifs"] > 0) != r["cell"]["events"]:
            bad.append((r["cell"]["transport"], r["cell"]["notify"], r["cell"]["qd"], r["cell"]["events"], dict(ds)))
    result("scmi level notifications only with P2A channels, none dropped", rows and not bad, str(bad[:4]))


def indirect_dma(tmp):
    """Linux maps each indirect table per request (vring_map_single, to the
    device) and unmaps it at completion: against the same cell without
    indirect, a request over a DMA-mapping transport costs exactly one more
    mapping of the table, counted as that transport counts a buffer, and
    the data still verifies.  Single-buffer requests (every net one) never
    go indirect, in Linux as here."""
    d = os.path.join(tmp, "indirect-dma")
    # Per op, what one more device-readable mapping of a 3-descriptor table
    # (48 bytes) costs, as each transport's expectations say (their
    # "indirect"): swiotlb a slot and a bounce in; grant map/copy a
    # read-only grant and its end, mapped and unmapped (map) or copied
    # (copy) by the BE; persistent a copy through the pool; viommu a MAP
    # and an UNMAP, each installed and removed once.
    want = {f"{t}/{v}": e["indirect"] for t, vs in EXPECT.items() for v, e in vs.items() if "indirect" in e}
    tvs = sorted(want)
    p = vtbench(["device=blk,net", "pattern=randread,write", "mode=rr", "size=4k", "qd=4", "indirect=0,1",
                 "transport=" + ",".join(tvs), "ops=800", "warmup=0", "reps=1", "verify=1", "probes=off"], d)
    result("indirect per-request mapping cells run with exit 0", p.returncode == 0, p.stderr[-2000:])
    if p.returncode:
        return
    cells = {}
    for r in rows_of(d):
        c = r["cell"]
        fe, be = r["domains"]["fe"], r["domains"]["be"]
        po = dict(r["per_op"])
        po["bounce_bytes"] = (fe["bounce_bytes"] + be["bounce_bytes"]) / max(r["ops"], 1)
        cells[(c["device"], c["pattern"] if c["device"] == "blk" else c["mode"],
               f"{c['transport']}/{c['variant']}", bool(c["indirect"]))] = (r, po)
    for dev, pat in (("blk", "randread"), ("blk", "write"), ("net", "rr")):
        for tv in tvs:
            problems = []
            pair = [cells.get((dev, pat, tv, ind)) for ind in (False, True)]
            if None in pair:
                result(f"indirect {dev} {pat} {tv}: one more mapping per op", False, "cell missing")
                continue
            for r, _ in pair:
                if r["error"] is not None or r["verified"] is not True:
                    problems.append(f"indirect={r['cell']['indirect']}: error {r['error']} verified {r['verified']}")
            (r0, a), (r1, b) = pair
            slack = 3.0 * 4 / r1["ops"] * 4 + 0.02
            for k, w in want[tv].items():
                w = w if dev == "blk" else 0
                got = b[k] - a[k]
                if abs(got - w) > max(slack, slack * w):
                    problems.append(f"{k} {a[k]:.3f} -> {b[k]:.3f} (+{got:.3f}, want +{w})")
            result(f"indirect {dev} {pat} {tv}: one more mapping per op" if dev == "blk" else
                   f"indirect {dev} {pat} {tv}: single-buffer requests never go indirect",
                   not problems, "; ".join(problems))

def cli(tmp):
    p = run([VTB, "calibrate", "--json"], timeout=60)
    try:
        c = json.loads(p.stdout)
    except ValueError:
        c = {}
    # Differences of two costs (a shootdown's extra, a rewrite's extra
    # after the peer read the lines) may be nothing: at least 0.
    extra = lambda k: k == "shootdown_ns" or k.startswith("reclaim_")
    result("vtbench calibrate --json: every figure measured and positive (the extra-cost ones at least 0)",
           p.returncode == 0 and c.get("ok") and
           all(c[k]["v"] >= 0 if extra(k) else c[k]["v"] > 0 for k in c if isinstance(c[k], dict)),
           p.stdout[-500:] + p.stderr[-300:])
    rcs = [run([VTB, "calibrate", c]).returncode for c in ("cpus=0,0", "cpus=0,1junk", "cpus=4294967296,4294967297", "cpus=-1,1")]
    result("vtbench calibrate rejects bad CPUs with exit 2 (same, trailing junk, wrapping, negative)",
           rcs == [2, 2, 2, 2], str(rcs))
    p = vtbench(["device=net", "pattern=garbage", "ops=1"], os.path.join(tmp, "garbage"))
    result("a bad value of a key the device ignores is still an error (exit 2)", p.returncode == 2 and "garbage" in p.stderr,
           p.stderr[-200:])
    p = run([VTB, "list"])
    result("vtbench list shows the three devices, shm, proc and every key",
           p.returncode == 0 and all(w in p.stdout for w in ("blk", "net", "scmi", "shm", "proc", "duration", "verify")),
           p.stdout[:300])
    bad_suite = os.path.join(tmp, "bad.suite")
    with open(bad_suite, "w") as f:
        f.write("[global]\nreps=1\n[x]\ndevice=blk\nqd=1,banana\n")
    p = vtbench([bad_suite], os.path.join(tmp, "bad"))
    result("malformed suite: exit 2, names file:line", p.returncode == 2 and f"{bad_suite}:5" in p.stderr, p.stderr)
    p = vtbench(["colour=blue"], os.path.join(tmp, "bad2"))
    result("unknown key: exit 2 with a message", p.returncode == 2 and "unknown key 'colour'" in p.stderr, p.stderr)
    p = vtbench(["device=net", "size=4"], os.path.join(tmp, "bad3"))
    result("impossible combination: exit 2", p.returncode == 2 and "size=4" in p.stderr, p.stderr)
    p = run([VTB, "frobnicate"])
    result("unknown command: exit 2", p.returncode == 2, p.stderr)
    # Empty matrix values crashed cmd_run (SIGSEGV on cells.v[0]) and left an empty run behind.
    bad = []
    for i, arg in enumerate(["qd=", "variant=", "size=", "device=", "qd=,", "qd=1,,16", "duration=nan"]):
        d = os.path.join(tmp, f"empty{i}")
        p = vtbench([arg], d)
        if p.returncode != 2 or arg.split("=")[0] not in p.stderr or os.path.exists(d):
            bad.append((arg, p.returncode, p.stderr[-200:]))
    result("empty or non-finite values: exit 2 naming the key, no run directory left", not bad, str(bad))
    big = os.path.join(tmp, "big.suite")
    with open(big, "w") as f:
        f.write("device=net\nops=1\nreps=1\nseed=" + ",".join(str(i) for i in range(1, 100001)) + "\n")
    p = vtbench([big], os.path.join(tmp, "big"))
    p2 = vtbench(["duration=86400", "reps=3"], os.path.join(tmp, "long"))
    result("a 100k-cell matrix or a 72-hour run: the count and estimate said, refused without --yes (exit 2)",
           p.returncode == 2 and "100000 cells" in p.stderr and "--yes" in p.stderr and
           p2.returncode == 2 and "72:00" in p2.stderr and not os.path.exists(os.path.join(tmp, "big")),
           p.stderr[-300:] + p2.stderr[-300:])

    # A failing cell and a hung cell are recorded; the run goes on.
    d = os.path.join(tmp, "faults")
    with open(os.path.join(tmp, "faults.suite"), "w") as f:
        f.write("[global]\nreps=1\nwarmup=0\n"
                "[broken]\ndevice=blk\nbacking=/nonexistent/dir/disk.img\nbacking_create=1\nops=10\n"
                "[hang]\ndevice=blk\nops=1000000000\ntimeout=2\n"
                "[fine]\ndevice=scmi\nops=100\n")
    p = vtbench([os.path.join(tmp, "faults.suite")], d, timeout=120)
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    errs = [r["error"] or "" for r in rows]
    result("failed and timed-out cells are recorded, the run continues, exit 1",
           p.returncode == 1 and len(rows) == 3 and "No such file" in errs[0] and "timeout" in errs[1]
           and rows[2]["error"] is None and rows[2]["ops"] == 100, f"rc={p.returncode} {errs}")
    p = vtbench(["device=blk", "ops=10"], d)
    result("an existing results directory is not overwritten", p.returncode == 2 and "already holds" in p.stderr, p.stderr)


def transport_limits(tmp):
    """argo against Xen's argo.c and the transports' declared limits,
    through the real forked domains: a failed sendv ends the cell at once
    with its reason; the cells the old half-ring limit broke run; the suite
    refuses a request a transport cannot carry (exit 2, file:line or the
    argument) and runs the largest legal one; each receiver's notify after
    a drain is an exit."""
    quick = ["reps=1", "warmup=0.1s", "probes=off"]
    # A sendv error other than -EAGAIN (injected by the hypervisor model):
    # the cell ends with the error long before its timeout.
    for side in ("fe", "be"):
        d = os.path.join(tmp, f"argo-fail-{side}")
        p = run([VTB, "run", "device=blk", "transport=argo", "variant=sync,batch", "size=4k", "qd=2",
                 "pattern=write", "duration=60s", "timeout=20", "--out", d] + quick,
                timeout=200, env=dict(os.environ, VTB_ARGO_FAIL_SENDV=f"{side}:50"))
        rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
        errs = [r["error"] or "" for r in rows]
        result(f"argo: a failed sendv ({side.upper()}) breaks the cell at once with the reason, sync and batch",
               p.returncode == 1 and len(rows) == 2 and
               all(f"argo {side.upper()}: sendv" in e and "Invalid argument" in e and "timeout" not in e for e in errs),
               f"rc={p.returncode} {errs} {p.stderr[-300:]}")
    # What the half-ring limit broke, and the largest sizes the limits allow.
    cells = [("argo/sync", "524288", "1", "write"), ("argo/sync", "524288", "1", "read"),
             ("argo/batch", "131072", "4", "write"), ("argo/batch", "262144", "4", "read"),
             ("argo/batch", "262144", "4", "write"), ("argo/sync", "1048064", "1", "write"),
             ("argo/batch", "1048064", "2", "read"), ("fatvq", "261632", "2", "write"),
             ("fatvq", "261632", "2", "read")]
    d = os.path.join(tmp, "limits-run")
    suite = os.path.join(tmp, "limits.suite")
    with open(suite, "w") as f:
        f.write("[global]\ndevice=blk\nops=24\nverify=1\ntimeout=60\n")
        for i, (t, size, qd, pat) in enumerate(cells):
            f.write(f"[c{i}]\ntransport={t}\nsize={size}\nqd={qd}\npattern={pat}\n")
        f.write("[ring]\ntransport=fatvq\nring=1m\nsize=256k\npattern=write\n")
    p = vtbench([suite] + quick, d, timeout=400)
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    bad = [(r["cell"]["transport"], r["cell"]["size"], r["cell"]["qd"], r["error"]) for r in rows
           if r["error"] is not None or r["verified"] is not True or r["ops"] != 24]
    result("argo blk 512k sync and 128k/256k qd 4 batch, the largest legal sizes (argo 1048064, fatvq 261632, "
           "fatvq ring=1m 256k) run verified", p.returncode == 0 and len(rows) == len(cells) + 1 and not bad,
           f"rc={p.returncode} {bad} {p.stderr[-300:]}")
    # One more sector is refused up front, naming where the size was set.
    suite = os.path.join(tmp, "toobig.suite")
    with open(suite, "w") as f:
        f.write("[global]\ndevice=blk\nreps=1\n[big]\ntransport=fatvq\nsize=256k\n")
    p = vtbench([suite], os.path.join(tmp, "toobig"))
    result("fatvq: a 256k request on the default ring is refused, exit 2, file:line",
           p.returncode == 2 and f"{suite}:6" in p.stderr and "fatvq" in p.stderr, p.stderr[-300:])
    p = vtbench(["device=blk", "transport=argo/batch", "size=1048576", "pattern=write"], os.path.join(tmp, "toobig2"))
    result("argo: a request over what a message carries is refused, exit 2, naming the argument",
           p.returncode == 2 and "argument 'size=1048576'" in p.stderr and "argo" in p.stderr, p.stderr[-300:])
    # Notify: each side's XEN_ARGO_OP_notify after a drain that took
    # messages, a hypervisor call (on proc a copy reading the caller's own
    # rx_ptr, as Xen reads it through its mapping).  No warmup and few ops,
    # so no ring wraps and no sendv re-reads rx_ptr: every copy past one per
    # sendv is a notify.  qd 1 sync: one per op each side.  notify=poll too:
    # a polling sender retries once its masked VIRQ's pending bit is set,
    # and only the receiver's notify sets it for space.
    d = os.path.join(tmp, "argo-notify")
    p = vtbench(["device=blk", "transport=argo", "variant=sync,batch", "qd=1,4", "notify=event,poll",
                 "ops=150", "reps=1", "warmup=0", "probes=off"], d, timeout=200)
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    problems = []
    for r in rows:
        c, ops = r["cell"], max(r["ops"], 1)
        calls = {k: (v["copies"] - v["xport_ops"]) / ops for k, v in r["domains"].items()}
        sendv = {k: v["xport_ops"] / ops for k, v in r["domains"].items()}
        slack = 3.0 * c["qd"] / ops
        name = f"{c['variant']} qd={c['qd']} {c['notify']}"
        if r["error"] is not None:
            problems.append(f"{name}: {r['error']}")
        elif any(abs(v["exits"] - v["copies"] - v["notifies"] - v["waits"]) > 1 for v in r["domains"].values()):
            problems.append(f"{name}: exits beyond the seam's calls {r['domains']}")
        elif c["variant"] == "sync" and c["qd"] == 1:
            if any(abs(v - 1) > slack for v in calls.values()):
                problems.append(f"{name}: notify calls per op {calls}, want 1 each side")
        else:
            # At most one per message the peer sent, at least one per wake-up.
            for me, peer in (("fe", "be"), ("be", "fe")):
                if not 0 < calls[me] <= sendv[peer] + slack:
                    problems.append(f"{name}: {me} notify calls {calls[me]} vs {sendv[peer]} messages in")
    result("argo: a notify exit per receive drain, event and poll (qd 1 sync: one per op each side)",
           p.returncode == 0 and len(rows) == 8 and not problems, f"rc={p.returncode} {problems} {p.stderr[-300:]}")


def peer(tmp):
    """transport=dpdk: testpmd's virtio-user and vhost PMDs as ordinary rows
    when testpmd is installed, skipped with the reason when it is not."""
    args = ["device=net", "mode=tx", "size=64", "transport=dpdk", "notify=poll", "duration=2s", "warmup=1s", "reps=1"]
    d = os.path.join(tmp, "peer")
    p = vtbench(args, d, timeout=120)
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    schema = jsonschema.Draft202012Validator(json.load(open(os.path.join(ROOT, "results", "schema.json"))))
    ok = len(rows) == 1 and rows[0]["error"] is None and rows[0]["cell"]["transport"] == "dpdk" and \
        rows[0]["cell"]["variant"] == "testpmd" and rows[0]["ops"] > 0 and rows[0]["ops_per_s"] > 0 and \
        rows[0]["peer"] and rows[0]["cpu_s"]["fe"] > 0 and not list(schema.iter_errors(rows[0]))
    result("peer: testpmd virtio-user -> vhost rxonly written as an ordinary row",
           p.returncode == 0 and ok, f"rc={p.returncode} {rows[:1]} {p.stderr[-400:]}")
    d = os.path.join(tmp, "peer-missing")
    env = dict(os.environ, PATH="/nonexistent")
    p = subprocess.run([VTB, "run"] + args + ["--out", d], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    meta = json.load(open(os.path.join(d, "meta.json"))) if os.path.exists(os.path.join(d, "meta.json")) else {}
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    result("peer: without testpmd the cell is skipped with the reason, the run succeeds",
           p.returncode == 0 and not rows and "not installed" in p.stderr and
           [s["why"] for s in meta.get("skipped", [])] == ["dpdk-testpmd is not installed (Debian package dpdk-dev)"],
           f"rc={p.returncode} {meta.get('skipped')} {p.stderr[-300:]}")
    p = vtbench(["device=net", "mode=tx", "transport=dpdk", "notify=event", "duration=2s", "warmup=1s"], os.path.join(tmp, "peer-bad"))
    result("peer: transport=dpdk in event mode is refused with exit 2",
           p.returncode == 2 and "notify=poll" in p.stderr, p.stderr[-300:])


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def packed_indirect(tmp):
    """RING_PACKED with INDIRECT_DESC through the forked domains: every
    device, both notify modes (event suppression in DESC mode and poll),
    verified.  The BE used to take SIGSEGV on the pair (vtb_vqdev_init
    refused it and vring.c used the NULL) and the suite refused the cell."""
    d = os.path.join(tmp, "packed-indirect")
    p = vtbench(["device=blk,net,scmi", "transport=shm", "variant=packed", "indirect=1", "notify=event,poll",
                 "verify=1", "qd=1,8", "ops=400", "warmup=20ms", "reps=1"], d, timeout=300)
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    bad = [(r["cell"]["device"], r["cell"]["notify"], r["cell"]["qd"], r["error"], r["verified"], r["ops"])
           for r in rows if r["error"] is not None or r["verified"] is not True or r["ops"] != r["cell"]["ops_target"]
           or not r["cell"]["indirect"] or r["cell"]["variant"] != "packed"]
    result("shm/packed indirect=1: 12 cells (blk, net, scmi; event, poll; qd 1, 8) run, complete and verify",
           p.returncode == 0 and len(rows) == 12 and not bad, f"rc={p.returncode} {bad[:4]} {p.stderr[-600:]}")


def faults(tmp):
    """kill -9 of a domain mid-cell is a failed row and the run goes on; a
    harness killed mid-run leaves whole lines, and --resume finishes it
    without redoing what was done."""
    import signal
    import time
    d = os.path.join(tmp, "kill-be")
    p = subprocess.Popen([VTB, "run", "device=blk", "qd=1,2", "duration=3s", "warmup=0", "reps=1", "--out", d],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    for _ in range(200):	# the first cell's domains: BE spawned first
        time.sleep(0.05)
        kids = children(p.pid)
        if len(kids) >= 2:
            time.sleep(0.5)
            killed = kids[0]
            os.kill(killed, signal.SIGKILL)
            break
    out, err = p.communicate(timeout=120)
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    result("kill -9 of a BE mid-cell: that row failed with the reason, the next cell ran, exit 1",
           killed and p.returncode == 1 and len(rows) == 2 and rows[0]["error"] and "signal 9" in rows[0]["error"]
           and rows[1]["error"] is None and rows[1]["ops"] > 0, f"rc={p.returncode} {[r['error'] for r in rows]} {err[-300:]}")

    d = os.path.join(tmp, "resume")
    args = ["device=scmi,net", "qd=1,4", "ops=300", "warmup=0", "reps=5"]
    p = subprocess.Popen([VTB, "run"] + args + ["--out", d], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    path = os.path.join(d, "results.jsonl")
    for _ in range(600):
        time.sleep(0.02)
        if os.path.exists(path) and open(path).read().count("\n") >= 6:
            break
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    before = open(path).read() if os.path.exists(path) else ""
    whole = before.count("\n")
    with open(path, "a") as f:	# as if the kill had landed mid-write
        f.write('{"schema":1,"run_id":"cut sho')
    p = vtbench(["--resume", d])
    rows = rows_of(d) if p.returncode == 0 else []
    meta = json.load(open(os.path.join(d, "meta.json"))) if rows else {}
    keys = [(r["cell"]["index"], r["rep"]) for r in rows]
    result("--resume after kill -9 of the harness: whole lines kept, nothing redone, every cell and rep once",
           6 <= whole < 20 and len(rows) == 20 and sorted(keys) == sorted(set(keys)) and
           {k[0] for k in keys} == {0, 1, 2, 3} and len({r["run_id"] for r in rows}) == 1 and
           rows[:whole] == [json.loads(l) for l in before.splitlines()[:whole]] and
           meta.get("resumed", {}).get("rows_before") == whole and meta["resumed"]["partial_line_cut"],
           f"rc={p.returncode} whole={whole} rows={len(rows)} {meta.get('resumed')} {p.stderr[-300:]}")
    p = vtbench(["--resume", d, "device=blk"])
    result("--resume refuses suites or keys beside it (exit 2)", p.returncode == 2, p.stderr[-200:])


def full_disk(tmp):
    """A filesystem that fills mid-run: the run stops with exit 3 and says
    why, meta.json stays the last good one, and --resume finishes the run
    once there is room, every cell and repetition once."""
    mnt = os.path.join(tmp, "small")
    os.makedirs(mnt)
    p = run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", mnt])
    if p.returncode:
        result("a full disk mid-run: exit 3, last good meta.json, resumable", False, f"cannot mount a tmpfs: {p.stderr}")
        return
    try:
        d = os.path.join(mnt, "run")
        args = ["device=net", "qd=1,2", "ops=200", "warmup=0", "reps=4", "probes=off"]
        p1 = vtbench(args, d)
        try:
            meta_ok = bool(json.load(open(os.path.join(d, "meta.json"))).get("run_id"))
        except (OSError, ValueError):
            meta_ok = False
        run(["mount", "-o", "remount,size=4m", mnt])
        p2 = vtbench(["--resume", d])
        rows = rows_of(d) if p2.returncode == 0 else []
        keys = sorted((r["cell"]["index"], r["rep"]) for r in rows)
        result("a full disk mid-run: exit 3, last good meta.json, resumable",
               p1.returncode == 3 and "cannot write" in p1.stderr and meta_ok and p2.returncode == 0 and
               keys == [(i, k) for i in range(2) for k in range(4)],
               f"first rc={p1.returncode} meta_ok={meta_ok} {p1.stderr[-300:]} resume rc={p2.returncode} "
               f"{keys} {p2.stderr[-300:]}")
    finally:
        run(["umount", "-l", mnt])


def run_dir_lock(tmp):
    """Two runs into one --out: the second exits 2 naming the first's pid
    and writes nothing; a directory holding another run's meta.json is
    refused; --out naming a file or nothing is bad input."""
    import time
    d = os.path.join(tmp, "locked")
    a = subprocess.Popen([VTB, "run", "device=net", "qd=1,2", "ops=2000", "warmup=0", "reps=2", "probes=off", "--out", d],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = os.path.join(d, ".lock")
    for _ in range(500):
        if os.path.exists(lock) and open(lock).read().strip():
            break
        time.sleep(0.01)
    b = vtbench(["device=blk", "ops=100", "reps=1"], d)
    a_out, a_err = a.communicate(timeout=300)
    rows = rows_of(d) if a.returncode == 0 else []
    result("a second run into a locked --out exits 2 naming the holder's pid; the first run's rows are its own",
           b.returncode == 2 and f"pid {a.pid}" in b.stderr and a.returncode == 0 and len(rows) == 4 and
           {r["cell"]["device"] for r in rows} == {"net"} and len({r["run_id"] for r in rows}) == 1,
           f"b rc={b.returncode} {b.stderr[-200:]} a rc={a.returncode} rows={len(rows)} {a_err[-200:]}")
    foreign = os.path.join(tmp, "foreign")
    os.makedirs(foreign)
    with open(os.path.join(foreign, "meta.json"), "w") as f:
        f.write('{"schema": 1, "run_id": "someone-else"}\n')
    p = vtbench(["device=net", "ops=100", "reps=1"], foreign)
    kept = open(os.path.join(foreign, "meta.json")).read()
    afile = os.path.join(tmp, "a-file")
    open(afile, "w").close()
    p2 = vtbench(["device=net", "ops=100", "reps=1"], afile)
    p3 = run([VTB, "run", "device=net", "ops=100", "reps=1", "--out="])
    result("--out holding another run's meta.json, a file, or nothing: exit 2, nothing overwritten",
           p.returncode == 2 and "someone-else" in kept and p2.returncode == 2 and p3.returncode == 2,
           f"{p.returncode} {p2.returncode} {p3.returncode} {p.stderr[-200:]}")


def resume_inputs(tmp):
    """--resume rebuilds exactly the run's cells from its inputs kept apart
    in meta.json, whatever comments the suite holds and even once the suite
    file is gone; its rows keep their cells; a newer schema is refused."""
    suite = os.path.join(tmp, "comments.suite")
    with open(suite, "w", encoding="latin-1") as f:	# a comment that is not UTF-8
        f.write("[global]\nreps=2\nwarmup=0\nops=200\nprobes=off\n# suite /etc/passwd caf\xe9\n"
                "[one]\ndevice=net\nnotify=event\n# command line\nnotify=poll\n[two]\ndevice=scmi\n")
    d = os.path.join(tmp, "resume-inputs")
    p = vtbench([suite, "qd=1"], d)
    rows = rows_of(d) if p.returncode == 0 else []
    path = os.path.join(d, "results.jsonl")
    lines = open(path).read().splitlines(True) if rows else []
    meta0 = json.load(open(os.path.join(d, "meta.json"))) if rows else {}
    rep0 = [l for l in lines if json.loads(l)["rep"] == 0]
    if rows:
        with open(path, "w") as f:
            f.writelines(rep0)
        os.unlink(suite)
    p2 = vtbench(["--resume", d])
    after = rows_of(d) if p2.returncode == 0 else []
    cells = {}
    for r in after:
        cells.setdefault(r["cell"]["index"], []).append(json.dumps(r["cell"], sort_keys=True))
    result("--resume rebuilds the run's own cells from meta.json's inputs (suite comments, a deleted suite file)",
           len(rows) == 4 and len(rep0) == 2 and len(after) == 4 and all(len(set(v)) == 1 for v in cells.values()) and
           [r["cell"]["notify"] for r in after if r["cell"]["device"] == "net"] == ["poll", "poll"],
           f"rc={p.returncode}/{p2.returncode} {len(rows)} {len(after)} {p2.stderr[-300:]}")
    try:
        meta = json.load(open(os.path.join(d, "meta.json"), encoding="utf-8", errors="strict"))
    except (OSError, ValueError) as e:
        meta = {}
        result("meta.json is valid UTF-8 JSON whatever bytes a suite comment holds", False, str(e))
    else:
        result("meta.json is valid UTF-8 JSON whatever bytes a suite comment holds",
               "caf\xe9" in meta["inputs"]["suites"][0]["text"], meta["inputs"]["suites"][0]["text"][:80])
    keep = ("started",)
    res = meta.get("resumes", [])
    result("--resume keeps the run's start, start calibration, placement and per-rep calibrations; adds its own",
           meta and all(meta.get(k) == meta0.get(k) for k in keep) and
           meta["calibration"]["start"] == meta0["calibration"]["start"] and
           meta["calibration"]["reps"] == meta0["calibration"]["reps"] and
           meta["placement"]["pingpong_ns_start"] == meta0["placement"]["pingpong_ns_start"] and
           len(res) == 1 and res[0]["rows_before"] == 2 and res[0]["calibration_start"]["ok"] in (True, False) and
           len(res[0]["reps"]) == 2,
           f"{meta.get('started')} vs {meta0.get('started')} resumes={json.dumps(res)[:300]}")
    meta["schema"] = 2
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f)
    p3 = vtbench(["--resume", d])
    result("--resume refuses a meta.json of a newer schema (exit 2)", p3.returncode == 2 and "schema" in p3.stderr,
           p3.stderr[-200:])


def enospc_verify(tmp):
    """A transport that answers "no room, try later" (fatvq on a small ring)
    under randrw with verification: the generator's sector generations
    move only once a write is queued, so every read checks out."""
    d = os.path.join(tmp, "enospc")
    p = vtbench(["device=blk", "transport=fatvq", "ring=256k", "size=64k", "qd=8", "pattern=randrw", "verify=1",
                 "ops=3000", "reps=1", "probes=off"], d)
    rows = rows_of(d) if p.returncode == 0 else []
    result("blk randrw verify over a full fatvq ring: every read verifies",
           len(rows) == 1 and rows[0]["error"] is None and rows[0]["verified"] is True,
           f"rc={p.returncode} {[r['error'] for r in rows]} {p.stderr[-300:]}")


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for k in children(todo.pop()):
            out.append(k)
            todo.append(k)
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def orphans(tmp):
    """SIGKILL of the harness in each phase leaves no process behind: every
    child vtbench starts (calibration helpers, domains, peers) dies with it.
    The phase is told by what runs: one helper before the first row (start
    calibration), one between rows (a repetition's calibration), two (a
    cell's domains), one after the last row (end calibration)."""
    import signal
    want = ["start calibration", "between repetitions", "mid-cell", "end calibration"]
    caught, left = {}, []
    # Under load: a busy loop on each CPU competes with the harness and its children.
    hogs = [subprocess.Popen([sys.executable, "-c", "import time\nt = time.monotonic() + 300\nwhile time.monotonic() < t: pass"])
            for _ in range(os.cpu_count() or 2)]
    try:
        orphan_rounds(want, caught, left, tmp)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    for _, k in left:
        try:
            os.kill(k, signal.SIGKILL)
        except OSError:
            pass
    result("SIGKILL of the harness in every phase leaves no process behind (under load)",
           len(caught) == len(want) and not left, f"caught {caught}, left {left}")


def orphan_rounds(want, caught, left, tmp):
    import signal
    import time
    for attempt in range(4):
        for phase in want:
            if phase in caught:
                continue
            d = os.path.join(tmp, f"orphan-{attempt}-{want.index(phase)}")
            p = subprocess.Popen([VTB, "run", "device=net", "qd=1,2", "ops=3000", "warmup=0", "reps=2", "probes=off",
                                  "--out", d], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            path = os.path.join(d, "results.jsonl")
            deadline = time.monotonic() + 60
            while p.poll() is None and time.monotonic() < deadline:
                kids = children(p.pid)
                try:
                    rows = open(path).read().count("\n")
                except OSError:
                    rows = 0
                now = ("mid-cell" if len(kids) == 2 else None if not kids else
                       "start calibration" if rows == 0 else "end calibration" if rows == 4 else "between repetitions")
                if now == phase:
                    tree = descendants(p.pid)
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
                    gone = time.monotonic() + 10
                    while any(alive(k) for k in tree) and time.monotonic() < gone:
                        time.sleep(0.02)
                    caught[phase] = len(tree)
                    left += [(phase, k) for k in tree if alive(k)]
                    break
                time.sleep(0.002)
            if p.poll() is None:
                p.kill()
            p.wait()


def analysis(tmp):
    """The pytest suite of analysis/ (synthetic runs with known answers),
    each test counted here; then report and compare on a real run."""
    xml = os.path.join(tmp, "pytest.xml")
    # on every CPU (pytest-xdist): most of its time is each test's own
    # python and pandas start-up, which parallelises
    workers = ["-n", str(os.cpu_count() or 1)] if (os.cpu_count() or 1) > 1 else []
    p = run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", *workers, f"--junitxml={xml}",
             os.path.join(ROOT, "analysis", "tests")], timeout=900)
    import xml.etree.ElementTree as ET
    try:
        cases = ET.parse(xml).getroot().iter("testcase")
    except (OSError, ET.ParseError) as e:
        result("analysis pytest suite ran", False, f"{e}: {p.stdout[-1500:]}{p.stderr[-500:]}")
        return
    n = 0
    for c in cases:
        n += 1
        bad = c.find("failure") if c.find("failure") is not None else c.find("error")
        skipped = c.find("skipped")
        name = f"analysis: {c.get('classname', '').split('.')[-1]}::{c.get('name')}"
        if skipped is not None:
            result(name + " (skipped)", False, skipped.get("message", ""))
        else:
            result(name, bad is None, (bad.get("message", "") + (bad.text or "")[-1500:]) if bad is not None else "")
    result("analysis pytest suite ran its tests", n >= 30 and p.returncode in (0, 1), p.stdout[-500:])
    d = os.path.join(tmp, "for-report")
    p = vtbench(["device=blk,scmi", "size=4k", "qd=1", "transport=shm,grant", "variant=*",
                 "notify=poll", "reps=2", "duration=100ms", "warmup=20ms"], out=d)
    result("a small real run for the report", p.returncode == 0, p.stderr[-300:])
    p = run([VTB, "report", d])
    page = p.stdout.strip()
    html = open(page).read() if p.returncode == 0 and os.path.exists(page) else ""
    result("vtbench report on a real run: decision tables against shm, figures, calibration, suite",
           page == os.path.join(d, "report", "index.html") and html.count("<svg") >= 8 and
           "grant/copy" in html and "1.00×" in html and "Calibration" in html and "memcpy_4k" in html and
           "doorbell" in html, p.stderr[-500:])
    sys.path.insert(0, os.path.join(ROOT, "analysis", "tests"))
    import browser
    if html:
        console, shot = browser.render(page)
        frac = browser.ink(shot)[0] if shot else 0
        result("the real run's report renders in headless chromium, no console errors, not blank",
               console == [] and frac > 0.03, f"{console[:5]} ink={frac}")
        # Each figure as laid out: a box of its own, inside a wide and a narrow window.
        for width in (1400, 600):
            try:
                boxes = browser.figure_boxes(page, width)
                bad, n = browser.bad_figures(boxes), len(boxes["figures"])
            except (RuntimeError, ValueError, subprocess.SubprocessError) as e:
                boxes, bad, n = {}, [str(e)], 0
            result(f"the real run's report in headless chromium at {width} px: every figure drawn, "
                   f"non-zero size, inside the viewport", n == html.count("<svg") and n >= 8 and not bad,
                   f"{n} of {html.count('<svg')} figures measured, viewport {boxes.get('viewport')}, bad: {bad[:3]}")
    p = run([VTB, "compare", d, d, "--json", os.path.join(tmp, "cmp.json")])
    cmp = json.load(open(os.path.join(tmp, "cmp.json"))) if p.returncode == 0 else {}
    # Ten cells, each once per placement it ran in (the vCPUs may move mid-run).
    cells = {(r["cell"]["transport"], r["cell"]["variant"], r["cell"]["device"]) for r in rows_of(d)}
    groups = {c + ((r.get("placement") or {}).get("tag"),)
              for r in rows_of(d) for c in [(r["cell"]["transport"], r["cell"]["variant"], r["cell"]["device"])]}
    result("vtbench compare of a run with itself: every cell matched in its placement, no change, exit 0",
           p.returncode == 0 and len(cells) == 10 and len(cmp.get("cells", [])) == len(groups) and
           all(c["same_placement"] for c in cmp["cells"]) and cmp["regressions"] == 0, p.stdout[-500:])
    p = run([VTB, "trend", d, d, "--out", os.path.join(tmp, "trend")])
    result("vtbench trend reads a run once however it is named, writes JSON and HTML",
           p.returncode == 0 and os.path.exists(os.path.join(tmp, "trend", "trend.json")) and "1 runs" in p.stdout,
           p.stdout[-300:] + p.stderr[-300:])


def compare_real(tmp):
    """compare on a real run's own noise: its repetitions split in two
    halves (an unchanged pair), then a regression planted in one cell of
    the second half.  The plant is large (x0.2) and the unchanged pair is
    judged at --alpha 0.005, so neither check depends on how loaded the
    machine is: the figure for a 10% regression comes from
    analysis/tests/test_power.py.  Every row is given the run's first
    placement, so each cell pairs all its repetitions whatever the vCPUs
    did mid-run (placement is compare's concern elsewhere)."""
    d = os.path.join(tmp, "for-compare")
    p = vtbench(["device=blk", "size=4k", "qd=1", "transport=shm,grant,viommu", "variant=*", "notify=event",
                 "reps=10", "duration=100ms", "warmup=20ms"], out=d)
    result("a small real run of 10 repetitions for compare", p.returncode == 0, p.stderr[-300:])
    rows = rows_of(d)
    if not rows:
        return
    sys.path.insert(0, os.path.join(ROOT, "analysis"))
    sys.path.insert(0, os.path.join(ROOT, "analysis", "tests"))
    import plant
    tag = (rows[0].get("placement") or {}).get("tag")
    rows = [dict(r, placement=dict(r.get("placement") or {}, tag=tag)) for r in rows]
    cells = sorted({plant.cell_key(r) for r in rows})
    planted = next(k for k in cells if k[7] == "grant" and k[8] == "copy")
    even = [n for n in range(10) if n % 2 == 0]

    def judged(name, key, f, alpha):
        a, b = plant.write_pair(os.path.join(tmp, f"cmp-{name}"), rows, even, key, f)
        out = os.path.join(tmp, f"cmp-{name}-{alpha}.json")
        p = run([VTB, "compare", a, b, "--alpha", alpha, "--json", out])
        res = json.load(open(out)) if p.returncode in (0, 1, 4) and os.path.exists(out) else {}
        flagged = sorted({c["transport"] for c in res.get("cells", []) for m in ("ops", "p99")
                          if c[f"{m}_status"] in ("regression", "improvement")})
        return p, res, flagged, f"exit {p.returncode}, flagged {flagged}: {p.stdout[-800:]}{p.stderr[-300:]}"
    # At --alpha 0.005 an unchanged cell is flagged in at most one make test
    # in 200; the planted cell is judged at the default 0.05.
    p, res, flagged, why = judged("unchanged", None, 1.0, "0.005")
    tested = sum(c.get("ops_p") is not None for c in res.get("cells", []))
    result("compare of a real run's halves (5 repetitions each, 8 cells): every cell tested, nothing flagged, exit 0",
           # 4 only if a repetition of B failed outright (a timeout under load): not a finding of compare's
           (p.returncode == 0 or (p.returncode == 4 and res.get("b_failed"))) and tested == len(cells) and not flagged,
           f"{tested} of {len(cells)} cells tested; {why}")
    p, res, flagged, why = judged("planted", planted, 0.2, "0.05")
    cell = next((c for c in res.get("cells", []) if c["transport"] == "grant/copy"), {})
    result("compare flags a x0.2 throughput regression planted in one cell of a real run's second half: exit 1",
           p.returncode == 1 and cell.get("ops_status") == "regression", why)
    p, res, flagged, why = judged("planted", planted, 0.2, "0.005")
    result("... and no other cell of it", set(flagged) <= {"grant/copy"}, why)

# -- QEMU guests (images/, `make images`) against QEMU's built-in devices ----

BLK_CHECKS = {f"io_{s}_qd{q}" for s in (512, 4096, 65536, 1 << 20) for q in (1, 4, 16)} | \
    {"capacity", "serial", "flush", "zero_prep_65536_qd1", "write_zeroes", "discard_prep_65536_qd1",
     "discard", "final_flush"}


def _guest_failures(results, want_checks):
    """Names of failed checks and of wanted checks that never reported."""
    bad = [f"{r.get('check')}: {json.dumps(r)}" for r in results if not r.get("ok")]
    seen = {r.get("check") for r in results}
    return bad + [f"{c}: not reported" for c in sorted(want_checks - seen)]


def _blk_drive(img, serial):
    return ["-drive", f"file={img},if=none,id=d0,format=raw,cache=none",
            "-device", f"virtio-blk-pci,drive=d0,serial={serial}"]


def _guest_blk(tmp, arch, name, size=64 << 20):
    """blk on QEMU's virtio-blk-pci: every check in the guest passes, then
    the backing file holds exactly what the guest says it wrote (and the
    fill pattern elsewhere); the host check itself must catch one flipped
    byte in a written region and one outside every region."""
    img = os.path.join(tmp, f"{name}.img")
    guest.make_backing(img, size)
    serial = f"vtb-{name}"
    results, console, rc = guest.boot(arch, "blk", {"serial": serial, "capacity": size},
                                      _blk_drive(img, serial), timeout=600)
    acc = guest.accel(arch)
    bad = _guest_failures(results, BLK_CHECKS)
    result(f"{name}: {arch} guest ({acc}) boots, Linux virtio_blk on QEMU's virtio-blk-pci passes every "
           f"O_DIRECT size/qd, capacity, serial, flush, write-zeroes and discard check (rc 0)",
           rc == 0 and not bad, "; ".join(bad)[:1500] + console[-1500:])
    recs = guest.writes(console)
    why = guest.check_backing(img, recs) if recs else "no VTB-WRITE records"
    result(f"{name}: the backing file holds exactly the {len(recs)} regions the guest reports, fill elsewhere",
           why is None, why or "")
    if why is not None or not recs:
        return
    pat = next(r for r in recs if r["kind"] == "pattern")
    end = max(r["off"] + r["len"] for r in recs)
    caught = []
    for at in (pat["off"] + pat["len"] // 2, end + 4096):
        with open(img, "r+b") as f:
            f.seek(at)
            b = f.read(1)
            f.seek(at)
            f.write(bytes([b[0] ^ 0x40]))
        caught.append(guest.check_backing(img, recs) is not None)
        with open(img, "r+b") as f:
            f.seek(at)
            f.write(b)
    result(f"{name}: the backing-file check catches a flipped byte inside a written region and past them all",
           caught == [True, True], str(caught))


def guest_x86_blk(tmp):
    _guest_blk(tmp, "x86_64", "guest-x86-blk")


def guest_arm64_blk(tmp):
    """The kernel built from linux-source-6.12 with the SCMI device tree."""
    _guest_blk(tmp, "arm64", "guest-arm64-blk")


def guest_arm64_rdp(tmp):
    """The restricted-dma-pool tree: a virtio-blk-pci with iommu_platform=on
    (so Linux uses the DMA API) passes blk with its data bounced through the
    pool, which the guest's swiotlb debugfs shows used."""
    img = os.path.join(tmp, "guest-rdp.img")
    guest.make_backing(img, 64 << 20)
    drive = ["-drive", f"file={img},if=none,id=d0,format=raw,cache=none",
             "-device", "virtio-blk-pci,drive=d0,serial=vtb-rdp,disable-legacy=on,iommu_platform=on"]
    results, console, rc = guest.boot("arm64", "blk", {"serial": "vtb-rdp", "ops": 1}, drive, timeout=600, dtb="rdp")
    bad = _guest_failures(results, BLK_CHECKS)
    pools = guest.swiotlb(console)
    rdp = {k: v for k, v in pools.items() if k.startswith("restricted-dma@")}
    why = guest.check_backing(img, guest.writes(console))
    result("guest rdp: arm64 blk through a restricted-dma-pool (iommu_platform=on) passes, the pool's "
           "high-water mark is above zero, the backing file holds what was written",
           rc == 0 and not bad and len(rdp) == 1 and all(v[2] > 0 for v in rdp.values()) and why is None,
           f"pools {pools}; {why}; " + "; ".join(bad)[:1200] + console[-1200:])


def guest_counts_parse(tmp):
    """The two count parsers on hand-made input: QEMU's trace log (with and
    without the pid@time: prefix) split by device, and the last VTB-COUNTS."""
    log = os.path.join(tmp, "trace.log")
    with open(log, "w") as f:
        f.write("virtio_blk_handle_read vdev 0xb req 0x1 sector 8 nsectors 8\n"
                "virtio_queue_notify vdev 0xb n 0 vq 0x2\n"
                "123@1.5:virtio_queue_notify vdev 0xa n 0 vq 0x3\n"
                "virtio_queue_notify vdev 0xa n 0 vq 0x3\n"
                "123@1.6:virtio_iommu_map domain=1 virt_start=0x0 virt_end=0xfff phys_start=0x0 flags=1\n"
                "virtio_iommu_unmap domain=1 virt_start=0x0 virt_end=0xfff\n"
                "virtio_iommu_unmap domain=1 virt_start=0x0 virt_end=0xfff\n")
    h = guest.host_counts(log)
    c = guest.counts('VTB-COUNTS {"iommu_map":1}\nx VTB-COUNTS {"iommu_map":7,"swiotlb_bounced":null}\n')
    result("guest.host_counts splits kicks by device and counts MAP/UNMAP; guest.counts takes the last line",
           h == {"iommu_map": 1, "iommu_unmap": 2, "blk_kicks": 1, "other_kicks": 2} and
           c == {"iommu_map": 7, "swiotlb_bounced": None}, f"{h} {c}")


def guest_scmi_absent(tmp):
    """scmi without a virtio-scmi device: the DT node is there, no arm-scmi
    device binds, the tool says so in one result and exits 2 (absent)."""
    results, console, rc = guest.boot("arm64", "scmi", {"probe_wait": 2}, [], timeout=400)
    pres = [r for r in results if r.get("check") == "present"]
    ok = rc == 2 and len(pres) == 1 and pres[0].get("present") is False and pres[0].get("dt_node") is True \
        and len(results) == 1
    result("guest scmi: with the SCMI DT node but no virtio-scmi device, the guest reports present=false "
           "(dt_node=true) and exits 2", ok, json.dumps(results) + console[-1500:])


class _UdpEcho:
    """A loopback UDP echo for QEMU's -netdev dgram: every datagram goes back
    to its sender, at most max_frames of them, for at most secs seconds."""

    def __init__(self, max_frames=10000, secs=600):
        import socket
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.count, self.stop, self.max, self.secs = 0, False, max_frames, secs
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        import time as _t
        end = _t.monotonic() + self.secs
        while not self.stop and self.count < self.max and _t.monotonic() < end:
            try:
                d, a = self.sock.recvfrom(65536)
            except OSError:
                continue
            self.sock.sendto(d, a)
            self.count += 1

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()


def _free_udp_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _guest_net(tmp, arch):
    """net on QEMU's virtio-net-pci whose frames go to a loopback UDP echo:
    link up, MAC and MTU as set, every frame of 60..1514 bytes back verified."""
    echo = _UdpEcho()
    mac = "52:54:00:76:74:62"
    try:
        nd = (f"dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={_free_udp_port()},"
              f"remote.type=inet,remote.host=127.0.0.1,remote.port={echo.port}")
        results, console, rc = guest.boot(arch, "net", {"mac": mac, "mtu": 1500},
                                          ["-netdev", nd, "-device", f"virtio-net-pci,netdev=n0,mac={mac}"],
                                          timeout=600)
    finally:
        echo.close()
    bad = _guest_failures(results, {"up", "mac", "mtu", "link", "echo"})
    e = next((r for r in results if r.get("check") == "echo"), {})
    result(f"guest net: {arch} virtio_net on QEMU's virtio-net-pci: link up, MAC and MTU as set, "
           "1455 frames of 60..1514 bytes echoed back byte for byte",
           rc == 0 and not bad and e.get("sent") == 1455 and e.get("received") == 1455 and echo.count >= 1455,
           "; ".join(bad)[:1500] + f" echoed {echo.count} " + console[-1000:])


def guest_x86_net(tmp):
    _guest_net(tmp, "x86_64")


def guest_arm64_net(tmp):
    """The built arm64 kernel: AF_PACKET and virtio_net without an IP stack."""
    _guest_net(tmp, "arm64")


def guest_reboot(tmp):
    """reboot:blk with boots=2: the guest runs blk, reboots (QEMU without
    -no-reboot resets it), runs blk again on the same device; both pass."""
    img = os.path.join(tmp, "guest-reboot.img")
    guest.make_backing(img, 64 << 20)
    calls = []
    results, console, rc = guest.boot("x86_64", "reboot:blk", {"serial": "vtb-rb", "ops": 1},
                                      _blk_drive(img, "vtb-rb"), timeout=900, boots=2, on_done=calls.append)
    per_boot = [[r for r in results if r["boot"] == b] for b in (0, 1)]
    _, rcs = guest.parse(console)
    bad = [x for b in per_boot for x in _guest_failures(b, BLK_CHECKS)]
    result("guest reboot: blk passes on the first boot and again after the guest reboots (two VTB-DONE rc=0, "
           "on_done called after each)",
           rcs[:2] == [0, 0] and not bad and calls == [1, 2],
           f"rcs {rcs} calls {calls}; " + "; ".join(bad)[:1500] + console[-800:])


def guest_cmdline(tmp):
    """What ci/guest.py hands QEMU: the machine.conf shape (the arm64 DT was
    dumped from it), the DT itself, shared memfd RAM, -no-reboot only for
    one boot, vtb.args that /init can split."""
    conf = guest.machine_conf()
    a = guest.qemu_cmd("arm64", "scmi", {"wait": 1})
    x = guest.qemu_cmd("x86_64", "reboot:blk", ["ops=1"], boots=2, accel_="tcg")
    def after(cmd, flag):
        return [cmd[i + 1] for i, w in enumerate(cmd[:-1]) if w == flag]
    ok = after(a, "-M") == [conf["ARM64_MACHINE"]] and after(a, "-cpu") == [conf["ARM64_CPU"]] and \
        after(a, "-smp") == [conf["ARM64_SMP"]] and after(a, "-m") == [conf["ARM64_MEM"]] and \
        after(a, "-dtb")[0].endswith("virt-scmi.dtb") and "-no-reboot" in a and "-no-reboot" not in x and \
        f"memory-backend-memfd,id=mem,size={conf['X86_64_MEM']},share=on" in x and \
        "vtb.test=reboot:blk vtb.args=ops=1" in after(x, "-append")[0]
    for bad in ({"args": {"serial": "a b"}}, {"kargs": ["a b"]}, {"kargs": ["vtb.test=shell"]}):
        try:
            guest.cmdline("x86_64", "blk", **bad)
            ok = False
        except ValueError:
            pass
    k = guest.cmdline("x86_64", "blkbench", {"qd": 4}, kargs=["swiotlb=force", "iommu.strict=0"])
    ok = ok and " swiotlb=force iommu.strict=0 vtb.test=blkbench vtb.args=qd=4" in k
    result("guest.py builds the QEMU command line from machine.conf (shared memfd RAM, arm64 DT, reboot mode, "
           "a configuration's kernel parameters before vtb.*)",
           ok, " ".join(a) + " | " + " ".join(x))
    dts = run(["dtc", "-q", "-I", "dtb", "-O", "dts", os.path.join(guest.IMAGES, "arm64", "virt-scmi.dtb")])
    t = dts.stdout
    result("arm64 DT: /firmware/scmi is arm,scmi-virtio with protocol@15 (reg 0x15) beside QEMU's own nodes",
           dts.returncode == 0 and 'compatible = "arm,scmi-virtio"' in t and "protocol@15 {" in t and
           "reg = <0x15>" in t and "pcie@" in t and "virtio_mmio@" in t, dts.stderr[-500:])


def accel_detect(tmp):
    """images/accel.sh answers kvm or tcg, and tcg for a KVM that cannot run
    the guest; a /dev/kvm that opens decides nothing by itself."""
    k, i, _ = guest.artefacts("x86_64")
    p = run(["sh", "images/accel.sh", k, i, "60"], timeout=120)
    result(f"accel.sh prints kvm or tcg ({p.stdout.strip()})", p.stdout.strip() in ("kvm", "tcg"), p.stderr[-500:])
    if p.stdout.strip() == "kvm":
        return
    # Where it said tcg but /dev/kvm opens, a KVM boot must really fail here.
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        conf = guest.machine_conf()
        # Read until the guest finishes or KVM gives up: a stopped vCPU
        # leaves QEMU up, so waiting for it to exit would only time out.
        q = subprocess.Popen([conf["X86_64_QEMU"], "-M", conf["X86_64_MACHINE"], "-accel", "kvm", "-cpu", "host",
                              "-m", "256M", "-nographic", "-no-reboot", "-kernel", k, "-initrd", i,
                              "-append", "console=ttyS0 quiet panic=-1 vtb.test=boot"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = []
        import threading
        killer = threading.Timer(60, q.kill)
        killer.start()
        for line in q.stdout:
            out.append(line)
            if "VTB-DONE" in line or "KVM internal error" in line:
                break
        q.kill()
        killer.cancel()
        q.communicate()
        text = "".join(out)
        result("... and a KVM boot of the same guest indeed does not reach VTB-DONE rc=0",
               "VTB-DONE rc=0" not in text, text[-500:])


def install_deps_backports(tmp):
    """install-deps.sh derives bookworm-backports from the machine's own
    entries (deb822 and one-line), keeps the URI and keyring, and adds
    nothing where an entry for it exists."""
    def entry(name, files, what="--backports-entry"):
        d = os.path.join(tmp, "apt-" + name)
        os.makedirs(os.path.join(d, "sources.list.d"), exist_ok=True)
        for f, text in files.items():
            with open(os.path.join(d, f), "w") as fh:
                fh.write(text)
        p = run(["sh", "ci/install-deps.sh", what], env=dict(os.environ, APT_ETC=d), timeout=60)
        return d, p
    codename = ""
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("VERSION_CODENAME="):
                codename = line.split("=", 1)[1].strip().strip('"')
    if codename != "bookworm":
        print(f"skip - install-deps backports derivation: bookworm only, this is {codename!r}")
        return
    d, p = entry("deb822", {"sources.list.d/debian.sources":
                            "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
                            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
                            "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n"
                            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"})
    want = (f"write {d}/sources.list.d/vtb-backports.sources\nTypes: deb\nURIs: http://mirror.invalid/debian\n"
            "Suites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg")
    result("install-deps: from a deb822 bookworm entry, a bookworm-backports .sources with its URI and keyring",
           p.returncode == 0 and p.stdout.strip() == want, p.stdout + p.stderr)
    d, p = entry("list", {"sources.list": "# a comment\ndeb http://mirror.invalid/debian-security bookworm-security main\n"
                                          "deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm main contrib\n"})
    want = (f"write {d}/sources.list.d/vtb-backports.list\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm-backports main")
    result("install-deps: from a one-line bookworm entry, the same options and URI for bookworm-backports",
           p.returncode == 0 and p.stdout.strip() == want, p.stdout + p.stderr)
    d, p = entry("present", {"sources.list.d/debian.sources":
                             "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\nComponents: main\n",
                             "sources.list.d/bp.sources":
                             "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm-backports\nComponents: main\n"})
    result("install-deps: an existing bookworm-backports entry is reported present, not duplicated",
           p.returncode == 0 and p.stdout.strip() == f"present {d}/sources.list.d/bp.sources", p.stdout + p.stderr)
    d, p = entry("disabled", {"sources.list.d/debian.sources":
                              "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\nComponents: main\n",
                              "sources.list.d/bp.sources":
                              "Enabled: no\nTypes: deb\nURIs: http://mirror.invalid/debian\n"
                              "Suites: bookworm-backports\nComponents: main\n"})
    result("install-deps: a disabled backports entry does not count as present",
           p.returncode == 0 and p.stdout.startswith("write "), p.stdout + p.stderr)
    deb822 = ("Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
              "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    d, p = entry("src", {"sources.list.d/debian.sources": deb822}, "--src-entry")
    want = (f"write {d}/sources.list.d/vtb-src.sources\nTypes: deb-src\nURIs: http://mirror.invalid/debian\n"
            "Suites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg")
    d2, p2 = entry("src-present", {"sources.list.d/debian.sources": deb822.replace("Types: deb", "Types: deb deb-src")},
                   "--src-entry")
    result("install-deps: the release's deb-src entry derived the same way (Xen's source package), and one "
           "already there reported present",
           p.returncode == 0 and p.stdout.strip() == want and p2.returncode == 0 and
           p2.stdout.strip() == f"present {d2}/sources.list.d/debian.sources", p.stdout + p.stderr + p2.stdout)
    d, p = entry("none", {"sources.list": "deb http://mirror.invalid/debian-security bookworm-security main\n"})
    result("install-deps: no entry serving bookworm main is an error, not a guess",
           p.returncode != 0 and not p.stdout.strip(), p.stdout + p.stderr)


def guest_tool_host(tmp):
    """vtb_guest on the host, where that is safe: the net echo sweep over
    the loopback interface (lo hands every frame back), usage errors, and
    the pattern the host check recomputes (same bytes for a sub-range)."""
    tool = os.path.join(guest.IMAGES, os.uname().machine.replace("aarch64", "arm64"), "vtb_guest")
    p = run([tool, "net", "lo", "min=60", "max=300", "step=7", "link_wait=0", "timeout_ms=1000"], timeout=120)
    res, _ = guest.parse(p.stdout)
    e = next((r for r in res if r.get("check") == "echo"), {})
    want = len(range(60, 300, 7)) + (1 if (300 - 60) % 7 else 0)
    result(f"vtb_guest net on the host's lo: {want} frames of 60..300 bytes come back byte for byte",
           p.returncode == 0 and e.get("sent") == want and e.get("received") == want and e.get("bad") == 0,
           p.stdout[-800:] + p.stderr[-300:])
    u = [run([tool] + a, timeout=30).returncode for a in (["bogus", "x"], ["blk"], ["pattern", "3", "8", "1"])]
    m = run([tool, "net", "vtbnone0"], timeout=30)
    result("vtb_guest: bad usage exits 3, a missing interface exits 2 (absent)",
           u == [3, 3, 3] and m.returncode == 2, f"{u} {m.returncode} {m.stdout}")
    whole = guest.pattern(0, 8192, 5)
    result("vtb_guest pattern: a sub-range is the same bytes as that slice of the whole",
           guest.pattern(4096, 1024, 5) == whole[4096:5120] and whole != guest.pattern(0, 8192, 6), "")


def image_cache(tmp):
    """images/cache.sh: a put then a get gives back the directory for the
    same key, another key finds nothing, and VTB_IMAGE_CACHE=off finds
    nothing and stores nothing, yet its put succeeds (a recipe's
    `get || { build && put; }` must not fail for a disabled cache)."""
    cache = os.path.join(tmp, "cache")
    src = os.path.join(tmp, "art")
    os.makedirs(src)
    with open(os.path.join(src, "Image"), "w") as f:
        f.write("kernel bytes")
    key, other = os.path.join(tmp, "a", "kernel.key"), os.path.join(tmp, "b", "kernel.key")
    for k, text in ((key, "linux-source 6.12.118\n"), (other, "linux-source 6.12.117\n")):
        os.makedirs(os.path.dirname(k))
        with open(k, "w") as f:
            f.write(text)
    sh = os.path.join(ROOT, "images", "cache.sh")
    on = dict(os.environ, VTB_IMAGE_CACHE=cache)
    off = dict(os.environ, VTB_IMAGE_CACHE="off")
    put = run(["sh", sh, "put", key, src], env=on, timeout=60)
    back = os.path.join(tmp, "back")
    get = run(["sh", sh, "get", key, back], env=on, timeout=60)
    got = open(os.path.join(back, "Image")).read() if os.path.exists(os.path.join(back, "Image")) else None
    miss = run(["sh", sh, "get", other, os.path.join(tmp, "miss")], env=on, timeout=60)
    result("image cache: put then get gives the directory back; another key finds nothing",
           put.returncode == 0 and get.returncode == 0 and got == "kernel bytes" and miss.returncode == 1,
           f"put {put.returncode} get {get.returncode} {got!r} miss {miss.returncode} {put.stderr}{get.stderr}")
    n = len(os.listdir(cache))
    put_off = run(["sh", sh, "put", other, src], env=off, timeout=60)
    get_off = run(["sh", sh, "get", key, os.path.join(tmp, "off")], env=off, timeout=60)
    result("image cache: VTB_IMAGE_CACHE=off finds nothing, stores nothing, and its put succeeds",
           put_off.returncode == 0 and get_off.returncode == 1 and len(os.listdir(cache)) == n,
           f"put {put_off.returncode} get {get_off.returncode} {put_off.stderr}")



# The blk cell the guest suites share: one random read/write pattern.
SMALL_BLK_SECTION = """[blk]
device=blk
pattern=randrw
size=4k
qd=4
"""

QEMU_TEST_SUITE = """
[global]
platform=qemu
transport=shm,swiotlb,viommu,grant
variant=*
verify=1
duration=300ms
warmup=100ms
reps=1

""" + SMALL_BLK_SECTION + """
[net]
device=net
mode=tx,rr,rx
size=64
qd=1

[scmi]
arch=arm64
device=scmi
mix=sensor_read:100
transport=shm
variant=split
qd=1
boot_runs=1

# the guest's native AIO beside its io_uring, in one configuration's boot
[aio]
device=blk
pattern=randrw
size=4k
qd=4
guest_io=aio
transport=viommu
variant=strict

# blk and net in the arm64 guest (Debian's arm64 kernel), bounced
[arm64-blk]
arch=arm64
device=blk
pattern=randrw
size=4k
qd=4
transport=swiotlb
variant=pool

[arm64-net]
arch=arm64
device=net
mode=tx
size=64
qd=1
transport=swiotlb
variant=pool

# the seed threads' pre-shared region: a restricted-dma-pool in the device
# tree (the arm64 kernel vtbench builds), and a virtio-iommu on arm64
[arm64-rdp]
arch=arm64
device=blk
pattern=randrw
size=4k
qd=4
transport=swiotlb
variant=rdp

[arm64-viommu]
arch=arm64
device=blk
pattern=randrw
size=4k
qd=4
transport=viommu
variant=strict

# the disk over vhost-user: vtbench serve (the proc platform's device
# model) and qemu-storage-daemon
[vhu]
device=blk
pattern=randrw
size=4k
qd=4
backend=vtbench,qsd
transport=shm
variant=split

# the NIC over vhost-user: vtbench serve's net model as the guest's peer
# (in the boot of [vhu]'s backend=vtbench disk)
[vhu-net]
device=net
mode=tx,rr,rx
size=64
qd=1
backend=vtbench
transport=shm
variant=split

# one x86_64 configuration's boot timed too (boot_runs is per cell: the
# first cell of a configuration that asks for it times that configuration)
[boot]
device=blk
pattern=randread
size=4k
qd=1
transport=viommu
variant=strict
boot_runs=1
"""


def guest_qemu_platform(tmp):
    """platform=qemu end to end: vtbench's blk and net cells inside the
    x86_64 guest over every configuration, one boot each, verified by the
    guest (blk, rr) and by the harness's peer (every frame), with the guest
    kernel's counts per op and QEMU's agreeing; grant has no meaning there
    and is skipped with the reason."""
    d = os.path.join(tmp, "qemu-platform")
    suite = os.path.join(tmp, "qemu-test.suite")
    with open(suite, "w") as f:
        f.write(QEMU_TEST_SUITE)
    p = run([VTB, "run", suite, "--out", d], timeout=900)
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    meta = {}
    if os.path.exists(os.path.join(d, "meta.json")):
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
    def key(r):
        c = r["cell"]
        arch = ["arm64"] if c["arch"] == "arm64" else []
        if c["device"] == "blk":
            return (c["transport"], c["variant"], "-".join(arch + ["blk"] + [v for v in (c["guest_io"], c["backend"])
                                                                             if v not in ("io_uring", "qemu")]))
        served = [c["backend"]] if c.get("backend", "qemu") != "qemu" else []
        return (c["transport"], c["variant"], "-".join(arch + served + [c["device"], c["mode"]]))
    boots = {(r["cell"]["arch"], r["cell"]["transport"], r["cell"]["variant"]): r for r in rows
             if r["cell"]["device"] == "boot"}
    scmi = [r for r in rows if r["cell"]["device"] == "scmi"]
    rows = [r for r in rows if r["cell"]["device"] not in ("boot", "scmi") and
            not (r["cell"]["pattern"] == "randread" and r["cell"]["device"] == "blk")]
    by = {key(r): r for r in rows}
    cfgs = [("shm", "split"), ("shm", "packed"), ("swiotlb", "pool"), ("viommu", "strict"), ("viommu", "lazy"),
            ("viommu", "passthrough")]
    want = [(t, v, w) for t, v in cfgs for w in ("blk", "net-tx", "net-rr", "net-rx")] + [
        ("viommu", "strict", "blk-aio"), ("shm", "split", "blk-vtbench"), ("shm", "split", "blk-qsd"),
        ("shm", "split", "vtbench-net-tx"), ("shm", "split", "vtbench-net-rr"), ("shm", "split", "vtbench-net-rx"),
        ("swiotlb", "pool", "arm64-blk"), ("swiotlb", "pool", "arm64-net-tx"), ("swiotlb", "rdp", "arm64-blk"),
        ("viommu", "strict", "arm64-blk")]
    skipped = [s for s in meta.get("skipped", []) if "grant" in json.dumps(s)]
    result("qemu platform: one row per configuration and cell, verified in the guest, grant skipped with its reason",
           p.returncode == 0 and sorted(by) == sorted(want) and len(skipped) == 12 and
           all(r["verified"] is True and r["error"] is None and r["ops"] > 0 and r["cell"]["platform"] == "qemu"
               and r["guest"]["accel"] in ("kvm", "tcg") and r["guest"]["kernel"] for r in rows) and
           all("no meaning on platform=qemu" in json.dumps(s) for s in skipped),
           f"rc={p.returncode} rows={sorted(by)} skipped={len(skipped)} {p.stderr[-800:]}")
    if sorted(by) != sorted(want):
        return
    result("qemu platform: arm64 scmi over plain vhost-user-scmi-pci: every hwmon reading in the guest is one "
           "SENSOR_READING_GET vtbench serve answered, an interrupt each, at most a kick each (EVENT_IDX spares the "
           "kicks that serve, still polling, does not need)",
           len(scmi) == 1 and scmi[0]["error"] is None and scmi[0]["verified"] is True and scmi[0]["ops"] > 0 and
           scmi[0]["device_stats"]["serve_sensor_reads"] == scmi[0]["ops"] and
           scmi[0]["guest"]["crosscheck"].startswith("ok") and
           0 < scmi[0]["device_stats"]["serve_kicks"] <= scmi[0]["ops"] + 1 and
           0.98 <= scmi[0]["device_stats"]["serve_irqs"] / scmi[0]["ops"] <= 1.02,
           str([(r["ops"], r["error"], r["device_stats"], r["guest"]["crosscheck"]) for r in scmi]))
    result("qemu platform: boot_runs=1 times a whole boot of each configuration asking for it with hyperfine, "
           "one boot row each", sorted(boots) == [("arm64", "shm", "split"), ("x86_64", "viommu", "strict")] and
           all(b["error"] is None and b["ops"] == 1 and b["hist"]["count"] == 1 and b["seconds"] > 0 and
               b["guest"]["accel"] in ("kvm", "tcg") and "hyperfine" in b["guest"]["config"] for b in boots.values()),
           str({k: (b["ops"], b["seconds"], b["error"]) for k, b in boots.items()}))
    po = {k: r["per_op"] for k, r in by.items()}
    ds = {k: r["device_stats"] for k, r in by.items()}
    net = [k for k in by if "net" in k[2] and not k[2].endswith("rx")]
    rx = [k for k in by if k[2].endswith("net-rx")]
    result("qemu platform: every frame the guest sent reached the peer intact and in order, every rr echo came back",
           all(ds[k]["peer_frames"] == by[k]["ops"] and ds[k]["peer_bad"] == 0 and ds[k]["peer_gaps"] == 0 and
               ds[k]["peer_other"] == 0 for k in net),
           str({k: (by[k]["ops"], ds[k]["peer_frames"], ds[k]["peer_bad"], ds[k]["peer_gaps"]) for k in net}))
    result("qemu platform rx: every frame the peer sent for the guest's pulls arrived intact and in order, a pull "
           "per frame at qd 1",
           len(rx) == 7 and all(ds[k]["peer_sent"] == by[k]["ops"] > 0 and ds[k]["peer_send_fail"] == 0 and
                                ds[k]["peer_sent_bytes"] == by[k]["bytes"] and
                                ds[k]["peer_bad"] == 0 and ds[k]["peer_gaps"] == 0 and
                                ds[k]["peer_frames"] == 0 and ds[k]["peer_pulls"] == by[k]["ops"] and
                                by[k]["verified"] is True for k in rx),
           str({k: (by[k]["ops"], ds[k].get("peer_sent"), ds[k].get("peer_pulls"), ds[k]["peer_bad"]) for k in rx}))
    runs = {k: ds[k].get("guest_buf_runs") for k in by if "blk" in k[2]}
    result("qemu platform: every blk buffer is one physically contiguous run (huge pages), so maps count buffers",
           all(v == 4 for v in runs.values()), str(runs))
    uring = {k: (by[k]["ops"], ds[k].get("guest_uring_cqes")) for k in by if "blk" in k[2]}
    st, sa = po[("viommu", "strict", "blk")], po[("viommu", "strict", "blk-aio")]
    result("qemu platform: blk cells go through io_uring (the guest kernel posted a CQE per request on the ring), "
           "guest_io=aio through native AIO (no ring), with the same maps and unmaps per request",
           all(v == o for k, (o, v) in uring.items() if k[2] != "blk-aio") and
           uring[("viommu", "strict", "blk-aio")][1] is None and sa["maps"] > 0 and
           abs(sa["maps"] - st["maps"]) <= 0.02 * st["maps"] and abs(sa["unmaps"] - st["unmaps"]) <= 0.02 * st["unmaps"],
           f"{uring} strict io_uring {st} aio {sa}")
    sv, q = by[("shm", "split", "blk-vtbench")], by[("shm", "split", "blk-qsd")]
    sd = sv["device_stats"]
    result("qemu platform: backend=vtbench serves the disk over vhost-user-blk: every request the guest made is one "
           "vtbench serve answered, its kicks and interrupts are the row's, none reach QEMU's trace",
           # serve's counters are read by signal at each mark while its
           # threads run: one was seen a request off, so allow qd
           abs(sd.get("serve_ops", -99) - sv["ops"]) <= sv["cell"]["qd"] and 0 < sd.get("serve_kicks", 0) <= sv["ops"] and
           0 < sd.get("serve_irqs", 0) <= sv["ops"] and "host_kicks" not in sd and
           sv["guest"]["crosscheck"].startswith("ok; requests") and "vhost-user-blk-pci" in sv["guest"]["config"] and
           abs(sv["per_op"]["notifies"] * sv["ops"] - sd.get("serve_kicks", 0) - sd.get("serve_irqs", 0)) <= 1,
           f"{sv['ops']} {sd} {sv['per_op']} {sv['guest']}")
    served = {k: by[k] for k in by if k[2].startswith("vtbench-net")}
    result("qemu platform: backend=vtbench serves the NIC over vhost-user: vtbench serve's net model is the guest's "
           "peer (its counts are the frame checks above), its kicks and interrupts are the row's notifies, none "
           "reach QEMU's trace; rr takes a kick and two interrupts (TX done, RX) per round trip",
           len(served) == 3 and all(
               r["guest"]["crosscheck"].startswith("ok: vtbench serve's peer counts") and
               "vhost-user" in r["guest"]["config"] and "host_kicks" not in r["device_stats"] and
               r["device_stats"].get("serve_kicks", 0) > 0 and r["device_stats"].get("serve_irqs", 0) > 0 and
               abs(r["per_op"]["notifies"] * r["ops"] - r["device_stats"]["serve_kicks"] -
                   r["device_stats"]["serve_irqs"]) <= 1 for r in served.values()) and
           abs(served[("shm", "split", "vtbench-net-rr")]["device_stats"].get("serve_irqs", 0) -
               2 * served[("shm", "split", "vtbench-net-rr")]["ops"]) <= 2,
           str({k: (r["ops"], r["device_stats"], r["per_op"]["notifies"], r["guest"]["crosscheck"][:80])
                for k, r in served.items()}))
    result("qemu platform: backend=qsd serves the disk from qemu-storage-daemon, verified by the guest, and the row "
           "says no host-side count exists rather than showing QEMU's zero",
           q["verified"] is True and q["guest"]["crosscheck"].startswith("guest only") and
           "qemu-storage-daemon" in q["guest"]["config"] and "host_kicks" not in q["device_stats"],
           f"{q['ops']} {q['device_stats']} {q['guest']}")
    plain = all(po[(t, v, w)]["maps"] == 0 and po[(t, v, w)]["bounce_copies"] == 0 for t, v in
                [("shm", "split"), ("shm", "packed"), ("viommu", "passthrough")]
                for w in ("blk", "net-tx", "net-rr", "net-rx"))
    result("qemu platform: plain, packed and passthrough rows neither bounce nor map", plain, str(po))
    ab, an = po[("swiotlb", "pool", "arm64-blk")], po[("swiotlb", "pool", "arm64-net-tx")]
    result("qemu platform arm64: blk and net in the arm64 guest (Debian's kernel, TCG) bounce as x86_64's: "
           "≥ 1 per request, its bytes within [bs, bs + 1 KiB]; a bounce per frame",
           ab["bounce_copies"] >= 1 and 4096 <= ab["copy_bytes"] <= 5120 and ab["maps"] == 0 and
           0.98 <= an["bounce_copies"] <= 1.05 and 64 <= an["copy_bytes"] <= 128 and
           by[("swiotlb", "pool", "arm64-blk")]["guest"]["kernel"].endswith("arm64"), f"{ab} {an}")
    rd, av = po[("swiotlb", "rdp", "arm64-blk")], by[("viommu", "strict", "arm64-blk")]
    result("qemu platform arm64: blk through the device tree's restricted-dma-pool (the arm64 kernel vtbench builds) "
           "bounces every request as swiotlb=force does; a virtio-iommu in strict mode maps and unmaps every buffer, "
           "QEMU's MAP and UNMAP agreeing",
           rd["bounce_copies"] >= 1 and 4096 <= rd["copy_bytes"] <= 5120 and rd["maps"] == 0 and
           "+deb" not in by[("swiotlb", "rdp", "arm64-blk")]["guest"]["kernel"] and
           av["per_op"]["maps"] >= 2 and abs(av["per_op"]["maps"] - av["per_op"]["unmaps"]) <= 0.02 * av["per_op"]["maps"]
           and av["guest"]["crosscheck"].startswith("ok") and av["guest"]["kernel"].endswith("arm64"),
           f"{rd} {by[('swiotlb', 'rdp', 'arm64-blk')]['guest']} {av['per_op']} {av['guest']}")
    sw, swt, swr = (po[("swiotlb", "pool", w)] for w in ("blk", "net-tx", "net-rr"))
    rxo, rxd = by[("swiotlb", "pool", "net-rx")]["ops"], ds[("swiotlb", "pool", "net-rx")]
    swx, stx = po[("swiotlb", "pool", "net-rx")], po[("viommu", "strict", "net-rx")]
    sto, std = by[("viommu", "strict", "net-rx")]["ops"], ds[("viommu", "strict", "net-rx")]
    # a frame received and a pull sent per op, rx buffers mapped as virtio_net refills its 256-entry ring
    result("qemu platform rx: swiotlb bounces every frame received and every pull sent; strict maps and unmaps "
           "each of them",
           abs(swx["bounce_copies"] * rxo - rxo - rxd["peer_pulls"]) <= 256 and
           abs(stx["maps"] * sto - sto - std["peer_pulls"]) <= 256 and
           abs(stx["unmaps"] * sto - sto - std["peer_pulls"]) <= 256,
           f"swiotlb {swx} ops {rxo} pulls {rxd['peer_pulls']}; strict {stx} ops {sto} pulls {std['peer_pulls']}")
    rr_ops = by[("swiotlb", "pool", "net-rr")]["ops"]
    result("qemu platform: swiotlb=force bounces every request (≥ 1 per op, bytes within [bs, bs + 1 KiB]) "
           "and every frame (tx: 1, its bytes and the 12-byte header; rr: 1 and the rx ring's refills)",
           sw["bounce_copies"] >= 1 and 4096 <= sw["copy_bytes"] <= 5120 and sw["maps"] == 0 and
           0.98 <= swt["bounce_copies"] <= 1.05 and 64 <= swt["copy_bytes"] <= 64 + 64 and
           # rr: a tx bounce per frame, and rx buffers mapped as virtio_net refills its 256-entry ring,
           # so a window counts up to a ring's worth of them fewer or more than its frames
           swr["bounce_copies"] * rr_ops >= 2 * rr_ops - 256, f"{sw} {swt} {swr} rr ops {rr_ops}")
    for w in ("blk", "net-tx"):
        st, sd = po[("viommu", "strict", w)], ds[("viommu", "strict", w)]
        lz, ld = po[("viommu", "lazy", w)], ds[("viommu", "lazy", w)]
        least = 2 if w == "blk" else 1
        result(f"qemu platform {w}: strict maps and unmaps every buffer, an iommu-queue kick for each",
               st["maps"] >= least and abs(st["maps"] - st["unmaps"]) <= 0.02 * st["maps"] and
               sd["host_iommu_kicks"] >= 0.98 * (sd["host_map"] + sd["host_unmap"]), f"{st} {sd}")
        result(f"qemu platform {w}: lazy unmaps every buffer but syncs the unmaps behind the flush queue",
               lz["maps"] >= least and abs(lz["maps"] - lz["unmaps"]) <= 0.02 * lz["maps"] and
               ld["host_map"] <= ld["host_iommu_kicks"] <= ld["host_map"] + ld["host_unmap"] / 2, f"{lz} {ld}")
    result("qemu platform: the guest's maps and unmaps agree with QEMU's in every row the host can count",
           all(r["guest"]["crosscheck"].startswith(("ok", "maps agree")) for r in rows
               if r["cell"].get("backend") != "qsd"),
           str([r["guest"]["crosscheck"] for r in rows]))
    result("qemu platform: QEMU's time is split into the guest's vCPU (FE) and the device side (BE)",
           all(r["cpu_s"]["fe"] > 0 and r["cpu_s"]["be"] >= 0 for r in rows), str([r["cpu_s"] for r in rows]))


NIGHTLY_SUITE = """# ci/nightly's test: two cells, enough repetitions for compare to judge
[global]
device=blk
pattern=randread
size=4k
qd=4
transport=shm/split,grant/copy
reps=6
duration=200ms
warmup=50ms
probes=off
"""
SQUAD_NAME = re.compile(r"[A-Za-z0-9_.+-]+")


def squad_format_errors(tests, metrics, metadata):
    """What breaks SQUAD's submission formats (its doc/intro.rst): tests
    {SUITE/TEST: pass|fail}, metrics {SUITE/METRIC: number | [numbers]},
    metadata {KEY: string} with a job_id, suite_versions {SUITE: string};
    a test or metric name holds no slash, the suite may."""
    bad = []
    for k, v in tests.items():
        suite, _, name = k.rpartition("/")
        if not suite or not SQUAD_NAME.fullmatch(name) or str(v).lower() not in ("pass", "fail"):
            bad.append(f"test {k}: {v}")
    for k, v in metrics.items():
        suite, _, name = k.rpartition("/")
        vals = v if isinstance(v, list) else [v]
        if not suite or not SQUAD_NAME.fullmatch(name) or not vals or \
                not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in vals):
            bad.append(f"metric {k}: {v}")
    for k, v in metadata.items():
        ok = isinstance(v, dict) and all(isinstance(x, str) for x in v.values()) if k == "suite_versions" \
            else isinstance(v, str)
        if not ok:
            bad.append(f"metadata {k}: {v!r}")
    if not metadata.get("job_id"):
        bad.append("metadata has no job_id")
    return bad


def nightly(tmp):
    """ci/nightly three times on one board, the third night's grant/copy
    rows scaled by 0.2 after the run (VTB_NIGHTLY_PLANT): nights one and two
    are good, the third flags exactly that cell against the second, with
    the revisions between; the front page, the board's page, latest.json,
    the trend and each night's provenance and SQUAD files are written, and
    the SQUAD files hold the rows' figures in SQUAD's format."""
    suite = os.path.join(tmp, "nightly.suite")
    with open(suite, "w") as f:
        f.write(NIGHTLY_SUITE)
    top = os.path.join(tmp, "nightly")
    rcs, outs = [], []
    for i in range(3):
        env = dict(os.environ, VTB_NIGHTLY_PLANT="transport=grant,variant=copy:0.2") if i == 2 else None
        # --threshold 50 on throughput: a planted 80% drop, never two nights' drift on a loaded CI
        # machine (whose p99 moves several-fold from night to night)
        p = run([os.path.join(ROOT, "ci", "nightly"), top, "--board", "ci-board", "--suite", suite,
                 "--threshold", "50", "--metric", "ops"], timeout=600, env=env)
        rcs.append(p.returncode)
        outs.append(p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr[-600:])
    board = os.path.join(top, "ci-board")
    ns = sorted(d for d in os.listdir(board) if os.path.isfile(os.path.join(board, d, "nightly.json"))) \
        if os.path.isdir(board) else []
    verdicts = []
    for d in ns:
        with open(os.path.join(board, d, "nightly.json")) as f:
            verdicts.append(json.load(f))
    regs = verdicts[2]["regressions"] if len(verdicts) == 3 else []
    # (a cell is flagged once per placement both nights measured it in)
    result("ci/nightly: two good nights, then exactly the planted regression (grant/copy throughput) flagged "
           "against the night before, exit 1",
           rcs == [0, 0, 1] and [v["status"] for v in verdicts] == ["ok", "ok", "regression"] and
           not verdicts[0]["regressions"] and not verdicts[1]["regressions"] and 1 <= len(regs) <= 2 and
           all(r["transport"] == "grant/copy" and r["metric"] == "ops" and r["hi"] < 1 and
               r["from_night"] == ns[1] and r["to_night"] == ns[2] and r["from_rev"] for r in regs) and
           len({r["placement"] for r in regs}) == len(regs) and verdicts[2]["planted"],
           f"rc {rcs} {outs} {[(v['status'], v['regressions']) for v in verdicts]}")
    if len(verdicts) != 3:
        return
    latest = json.load(open(os.path.join(board, "latest.json")))
    front = open(os.path.join(top, "index.html")).read()
    page = open(os.path.join(board, "index.html")).read()
    prov = json.load(open(os.path.join(board, ns[2], "provenance.json")))
    result("ci/nightly: latest.json is the newest night with its regression; the front page lists the board and "
           "its status; the board's page links every night's report and comparison and embeds the trend",
           latest["night"] == ns[2] and latest["status"] == "regression" and latest["regressions"] == regs and
           "ci-board/index.html" in front and "regression" in front and
           all(f"{n}/report/index.html" in page for n in ns) and
           all(f"{n}/compare.html" in page for n in ns[1:]) and 'src="trend/index.html"' in page and
           os.path.isfile(os.path.join(board, "trend", "index.html")) and "planted" in page and
           all(os.path.isfile(os.path.join(board, n, "report", "index.html")) for n in ns),
           f"{latest.get('night')} {latest.get('status')} {sorted(os.listdir(board))}")
    result("ci/nightly: each night records what it was made with (vtbench revision, kernel, CPU, QEMU, "
           "calibration fingerprint)",
           all(prov.get(k) for k in ("vtbench", "kernel", "cpu", "calibration")) and "hypervisor" in prov and
           "qemu" in prov, str(prov))
    sq = os.path.join(board, ns[0], "squad")
    tests, metrics, metadata = (json.load(open(os.path.join(sq, f))) for f in
                                ("tests.json", "metrics.json", "metadata.json"))
    rows = rows_of(os.path.join(board, ns[0]))
    grant = sorted(r["ops_per_s"] for r in rows if r["cell"]["transport"] == "grant")
    mg = [v for k, v in metrics.items() if "grant_copy" in k and k.endswith(".ops_per_s")]
    places = {(r["cell"]["transport"], r["placement"]["tag"]) for r in rows}
    result("vtbench export --squad: a test per cell and placement, passed, and each one's throughput per "
           "repetition as a metric, in SQUAD's submission format",
           not squad_format_errors(tests, metrics, metadata) and len(tests) == len(places) and
           set(tests.values()) == {"pass"} and sorted(x for v in mg for x in v) == grant and
           metadata["job_id"] == json.load(open(os.path.join(board, ns[0], "meta.json")))["run_id"],
           f"{squad_format_errors(tests, metrics, metadata)} {tests} {mg} {grant}")
    # a failed repetition makes its cell a failed test
    bad = os.path.join(tmp, "nightly-failed")
    shutil.copytree(os.path.join(board, ns[0]), bad, ignore=shutil.ignore_patterns("squad", "report"))
    lines = open(os.path.join(bad, "results.jsonl")).read().splitlines()
    r0 = json.loads(lines[0])
    r0["error"], r0["ops"], r0["ops_per_s"], r0["verified"] = "planted: BE killed by signal 9", 0, 0.0, None
    lines[0] = json.dumps(r0)
    with open(os.path.join(bad, "results.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    p = run([VTB, "export", "--squad", bad, "--out", os.path.join(bad, "sq")], timeout=120)
    t2 = json.load(open(os.path.join(bad, "sq", "tests.json"))) if p.returncode == 0 else {}
    failed = f"_{r0['cell']['transport']}_{r0['cell']['variant']}_placement-{r0['placement']['tag']}"
    result("vtbench export --squad: a cell with a failed repetition is a failed test, the others pass",
           p.returncode == 0 and len(t2) == len(places) and
           all((v == "fail") == k.endswith(failed) for k, v in t2.items()), f"{p.stderr[-400:]} {failed} {t2}")
    lava_checks(tmp, os.path.join(board, ns[0]), bad, r0)
    # the checker itself: what SQUAD would refuse, it names
    result("squad format check refuses a result other than pass or fail, a name outside a suite, a string "
           "metric, a number in metadata and metadata without a job_id",
           len(squad_format_errors({"a/b/c/d": "pass", "a/x/y": "maybe", "top": "pass"},
                                   {"s/m": "fast", "s/n": [1, 2]}, {"n": 3})) == 5)


LAVA_BOARD_ACTIONS = """- deploy:
    to: tftp
    timeout: {minutes: 10}
    kernel: {url: "https://lab.example.org/Image", type: image}
    ramdisk: {url: "https://lab.example.org/rootfs.cpio.gz", compression: gz}
    dtb: {url: "https://lab.example.org/board.dtb"}
    os: debian
- boot:
    method: u-boot
    commands: ramdisk
    timeout: {minutes: 10}
    prompts: ["root@"]
"""


def lava_checks(tmp, good_run, failed_run, failed_row):
    """vtbench lava job renders jobs LAVA's own schema (Debian's
    lava-common) accepts, for a QEMU device of each arch and for a board
    with the lab's deploy and boot actions, and refuses one it would
    reject; vtbench export --lava gives a lava-test-case per cell and
    measurement (the cell's figures), a failed cell one failed case with its
    reason, and runs in a shell."""
    repo, rev = "https://git.example.org/vtbench.git", "0123456789abcdef0123456789abcdef01234567"
    acts = os.path.join(tmp, "board-actions.yaml")
    with open(acts, "w") as f:
        f.write(LAVA_BOARD_ACTIONS)
    jobs, errs = {}, []
    for dev in ("qemu-amd64", "qemu-arm64", "board"):
        extra = ["--device-type", "synquacer", "--board-actions", acts] if dev == "board" else \
            ["--rootfs", f"https://lab.example.org/debian-{dev[5:]}.img"]
        p = run([VTB, "lava", "job", "--device", dev, "--repository", repo, "--revision", rev,
                 "--suite", "harness/suites/default.suite", *extra], timeout=120)
        errs.append(p.stderr[-300:])
        try:
            import yaml
            jobs[dev] = yaml.safe_load(p.stdout) if p.returncode == 0 else None
        except Exception as e:   # noqa: BLE001
            errs.append(str(e))
    def test_of(j):
        t = [a["test"] for a in (j or {}).get("actions", []) if "test" in a]
        return t[0]["definitions"][0] if t else {}
    ok = all(jobs.get(d) for d in ("qemu-amd64", "qemu-arm64", "board")) and all(
        test_of(j)["repository"] == repo and test_of(j)["revision"] == rev and
        test_of(j)["path"] == "ci/lava/vtbench.yaml" and
        test_of(j)["params"]["SUITE"] == "harness/suites/default.suite" for j in jobs.values())
    ok = ok and jobs["qemu-arm64"]["context"]["arch"] == "arm64" and jobs["qemu-amd64"]["device_type"] == "qemu" \
        and jobs["board"]["device_type"] == "synquacer" and \
        [next(iter(a)) for a in jobs["board"]["actions"]] == ["deploy", "boot", "test"]
    with open(acts, "w") as f:
        f.write(LAVA_BOARD_ACTIONS.replace("    to: tftp\n", ""))
    p = run([VTB, "lava", "job", "--device", "board", "--device-type", "synquacer", "--board-actions", acts,
             "--repository", repo, "--revision", rev], timeout=120)
    result("vtbench lava job: QEMU jobs (amd64, arm64) and a board job with the lab's deploy and boot actions, each "
           "accepted by LAVA's own job schema, the test action cloning vtbench at the revision asked; a job LAVA "
           "would reject is refused with its reason",
           ok and p.returncode == 2 and "not one LAVA accepts" in p.stderr, f"{errs} {p.returncode} {p.stderr[-300:]}")
    from lava_common.schemas.test.testdef import validate as validate_testdef
    import yaml
    try:
        validate_testdef(yaml.safe_load(open(os.path.join(ROOT, "ci", "lava", "vtbench.yaml"))))
        why = None
    except Exception as e:   # noqa: BLE001
        why = str(e)
    result("ci/lava/vtbench.yaml is a test definition LAVA's schema accepts", why is None, str(why))
    # the cases, through a stub lava-test-case that records its arguments
    stub = os.path.join(tmp, "lava-bin")
    os.makedirs(stub, exist_ok=True)
    log = os.path.join(tmp, "lava-cases.log")
    with open(os.path.join(stub, "lava-test-case"), "w") as f:
        f.write(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex_quote(log)}\n')
    os.chmod(os.path.join(stub, "lava-test-case"), 0o755)
    rows = rows_of(good_run)
    p = run([VTB, "export", "--lava", good_run], timeout=120)
    sh = run(["sh", "-c", p.stdout], timeout=60, env=dict(os.environ, PATH=stub + ":" + os.environ["PATH"]))
    got = open(log).read().splitlines() if os.path.exists(log) else []
    name_ok = all(re.fullmatch(r"[-_a-zA-Z0-9.]+", g.split()[0]) for g in got)
    ops = [g for g in got if ".ops_per_s " in g]
    grant_med = statistics.median(r["ops_per_s"] for r in rows if r["cell"]["transport"] == "grant"
                                  and r["placement"]["tag"] == rows[0]["placement"]["tag"])
    grant_case = [g for g in ops if "grant_copy" in g and f"placement-{rows[0]['placement']['tag']}" in g]
    meas = float(grant_case[0].split("--measurement ")[1].split()[0]) if grant_case else -1
    result("vtbench export --lava: a passed lava-test-case per cell and measurement, its figure the cell's (ops/s "
           "the repetitions' median), names LAVA takes",
           p.returncode == 0 and sh.returncode == 0 and got and name_ok and all("--result pass" in g for g in got) and
           len(ops) == len({(r["cell"]["transport"], r["placement"]["tag"]) for r in rows}) and
           abs(meas - grant_med) <= 1e-5 * grant_med + 1 and all("--units " in g for g in got),
           f"{p.stderr[-300:]} {sh.stderr[-300:]} {got[:4]} {meas} {grant_med}")
    p = run([VTB, "export", "--lava", failed_run], timeout=120)
    fails = [ln for ln in p.stdout.splitlines() if "--result fail" in ln]
    result("vtbench export --lava: a cell with a failed repetition is one failed case, its reason printed before it",
           p.returncode == 0 and len(fails) == 1 and "--measurement" not in fails[0] and
           failed_row["error"] in p.stdout.split(fails[0])[0].splitlines()[-1], p.stdout[-800:])


def shlex_quote(s):
    import shlex
    return shlex.quote(s)


ARM64_PROC_SUITE = """# vtbench on the proc platform inside the arm64 guest (TCG)
[global]
transport=shm/split,grant/copy,swiotlb/pool
notify=event
verify=1
reps=1
warmup=0
ops=200
probes=off

""" + SMALL_BLK_SECTION + """
[net]
device=net
mode=rr
size=64
qd=1
"""


def guest_arm64_proc(tmp):
    """vtbench itself cross-built for aarch64 (static, Debian's arm64
    liburing) runs a small proc suite inside the arm64 guest (Debian's
    arm64 kernel, TCG): every row verified, in the schema, on aarch64, its
    per-op costs the ones each transport's expectations hold it to, as on
    x86_64."""
    vtb = os.path.join(ROOT, "build", "arm64", "vtbench")
    suite = os.path.join(tmp, "arm64-proc.suite")
    with open(suite, "w") as f:
        f.write(ARM64_PROC_SUITE)
    _, base, _ = guest.artefacts("arm64", "deb")
    rd = guest.initrd_with(base, {"/bin/vtbench": vtb, "/vtb/suite": suite}, os.path.join(tmp, "arm64-proc.initrd"))
    _, console, rc = guest.boot("arm64", "vtbench", kernel="deb", initrd=rd, timeout=600)
    d = os.path.join(tmp, "arm64-proc-run")
    got = guest.run_of(console, d)
    rows = rows_of(d) if "results.jsonl" in got else []
    meta = json.load(open(os.path.join(d, "meta.json"))) if "meta.json" in got else {}
    schema = json.load(open(os.path.join(ROOT, "results", "schema.json")))
    bad = [e.message for r in rows for e in jsonschema.Draft202012Validator(schema).iter_errors(r)]
    costs = [p for r in rows for p in cost_problems(r)]
    result("arm64: vtbench (aarch64, static) runs the proc platform inside the arm64 guest: 6 rows verified, in the "
           "schema, on aarch64, each transport's per-op costs as its expectations say",
           rc == 0 and len(rows) == 6 and all(r["error"] is None and r["verified"] is True for r in rows) and
           not bad and not costs and "aarch64" in (meta.get("host") or {}).get("kernel", "") and
           # QEMU's cortex-a57: arm64's /proc/cpuinfo names it by MIDR fields only
           (meta.get("host") or {}).get("cpu") == "Arm Cortex-A57" and
           meta.get("git_rev") not in (None, "", "unknown"),
           f"rc={rc} rows={len(rows)} {bad[:2]} {costs[:3]} {meta.get('host')} "
           + "\n".join(ln for ln in console.splitlines() if "VTB-LOG" in ln)[-1500:])


def lava_run_qemu(tmp):
    """LAVA for real: Debian's lava-dispatcher runs the rendered QEMU job
    (amd64) with lava-run and a device dictionary (no LAVA server).  LAVA
    appends its test overlay and the prebuilt static vtbench to the x86_64
    image's ramdisk, boots it, clones this checkout's HEAD as the test
    definition's repository and runs ci/lava/qemu-test.suite in the guest,
    whose host /usr (Python and its packages, read-only over virtio-9p)
    runs vtbench export --lava; the run directory comes back through a
    writable share."""
    sys.path.insert(0, os.path.join(ROOT, "analysis"))
    from vtba import lava
    art, out = os.path.join(tmp, "lava-art"), os.path.join(tmp, "lava-out")
    os.makedirs(art)
    os.makedirs(out)
    dev, job = os.path.join(tmp, "lava-device.yaml"), os.path.join(tmp, "lava-job.yaml")
    kernel, ramdisk, _ = guest.artefacts("x86_64")
    p = run([VTB, "lava", "device", "--arch", "amd64", "--accel", guest.accel(), "--share", "hostusr=/usr:ro",
             "--share", "hostalt=/etc/alternatives:ro", "--share", f"artifacts={art}", "--out", dev], timeout=60)
    rev = run(["git", "-C", ROOT, "rev-parse", "HEAD"], timeout=30).stdout.strip()
    q = run([VTB, "lava", "job", "--device", "qemu-amd64", "--suite", "ci/lava/qemu-test.suite", "--repository", ROOT,
             "--revision", rev, "--kernel", "file://" + kernel, "--ramdisk", "file://" + ramdisk,
             "--kernel-args", "vtb.test=shell vtb.9p=hostusr:/usr:ro,hostalt:/etc/alternatives:ro,artifacts:/artifacts",
             "--vtbench", "file://" + os.path.join(ROOT, "build", "static", "vtbench"), "--artifacts", "/artifacts",
             "--job-minutes", "20", "--out", job], timeout=60)
    if p.returncode or q.returncode:
        result("lava-run: the QEMU job and its device dictionary render", False, p.stderr[-500:] + q.stderr[-500:])
        return
    t = time.monotonic()
    r = run(["lava-run", "--job-id", str(os.getpid()), "--output-dir", out, "--device", dev, job], timeout=1200)
    log = r.stdout + r.stderr     # lava-run logs to stderr
    with open(os.path.join(tmp, "lava-run.log"), "w") as f:
        f.write(log)
    verdict, cases = lava.job_results(log)
    cases = [c for c in cases if c.get("definition") == "0_vtbench"]
    by = {c["case"]: c for c in cases}
    tars = sorted(f for f in os.listdir(art) if f.endswith(".tar.gz"))
    run_dir = None
    if len(tars) == 1:
        subprocess.run(["tar", "-xzf", os.path.join(art, tars[0]), "-C", art], check=False)
        run_dir = os.path.join(art, tars[0][:-len(".tar.gz")])
    result(f"lava-run: the QEMU job (amd64, ramdisk, {guest.accel()}) finishes, vtbench built from its prebuilt "
           f"binary and the suite run in the guest, the run directory attached ({time.monotonic() - t:.0f} s)",
           r.returncode == 0 and verdict == "pass" and by.get("vtbench-build", {}).get("result") == "pass" and
           by.get("vtbench-run", {}).get("result") == "pass" and
           by.get("vtbench-run-directory", {}).get("result") == "pass" and run_dir is not None and
           os.path.isfile(os.path.join(run_dir, "results.jsonl")),
           f"rc={r.returncode} verdict={verdict} tars={tars} cases={len(cases)} "
           + "\n".join(ln for ln in log.splitlines() if '"lvl": "error"' in ln or "exception" in ln)[-1500:])
    if run_dir is None or not os.path.isfile(os.path.join(run_dir, "results.jsonl")):
        return
    want = lava.cases(run_dir)
    got = [c for c in cases if c["case"] not in ("vtbench-build", "vtbench-run", "vtbench-run-directory")]

    def same(a, b):
        return a is None and b is None or a is not None and b is not None and math.isclose(a, b, rel_tol=1e-5)
    diff = [(w[0], w[1], w[2], g.get("result"), g.get("measurement"))
            for w, g in zip(want, got) if w[0] != g["case"] or w[1] != g.get("result") or
            not same(w[2], g.get("measurement")) or (w[3] or None) != g.get("units")]
    rows = rows_of(run_dir)
    ok_rows = [x for x in rows if x["error"] is None]
    thru = {w[0]: by.get(w[0], {}).get("measurement") for w in want if w[0].endswith(".ops_per_s")}
    raw = sorted(x["ops_per_s"] for x in ok_rows)
    result("lava-run: LAVA's results are the run's cells, one case per cell and measurement, each figure the "
           "run directory's (ops/s, p99, ratio to shm, per-op counts), each cell's ops/s its row's",
           len(got) == len(want) and not diff and len(ok_rows) == 6 and
           all(x["verified"] is True for x in ok_rows) and len(thru) == 6 and
           None not in thru.values() and
           all(math.isclose(a, b, rel_tol=1e-5) for a, b in zip(sorted(thru.values()), raw)),
           f"{len(got)} vs {len(want)} {diff[:4]} {thru} {raw}")
    failed = [x for x in rows if x["error"] is not None]
    fcases = [c for c in got if c["result"] == "fail"]
    reason = next((ln for ln in log.splitlines() if "failed: timeout" in ln and "vtbench: proc." in ln), "")
    result("lava-run: the cell that failed in the guest (its watchdog's timeout) is one failed test case, its "
           "reason printed on the console before it",
           len(failed) == 1 and failed[0]["error"].startswith("timeout") and len(fcases) == 1 and
           fcases[0]["case"] in reason and "timeout: cell still running" in reason,
           f"{[x['error'] for x in failed]} {fcases} {reason[:300]}")


def guest_xen_dom0(tmp):
    """The xen image: Debian's Xen 4.17 boots under QEMU (TCG, smap=0) with
    the x86_64 image's kernel and initramfs as PV dom0, which reaches /init,
    sees Xen 4.17 as the control domain and has the Xen devices issue 20's
    services use: event channels, privcmd, grant maps, grant allocation."""
    results, console, rc = guest.boot("xen", "boot", timeout=400)
    hv = next((r for r in results if r.get("check") == "hypervisor"), {})
    ts = next((r for r in results if r.get("check") == "toolstack"), {})
    devs = set(hv.get("devices", "").split())
    result("xen: Debian's Xen 4.17 boots the x86_64 image as PV dom0 (TCG): /init reached, Xen 4.17 seen, "
           "dom0 the control domain with /dev/xen/{evtchn,privcmd,gntdev,gntalloc}",
           rc == 0 and "(XEN) Xen version 4.17" in console and hv.get("hypervisor", "").startswith("xen 4.17") and
           hv.get("capabilities") == "control_d" and {"evtchn", "privcmd", "gntdev", "gntalloc"} <= devs,
           f"rc={rc} {hv} " + "\n".join(ln for ln in console.splitlines() if "VTB-" in ln or "(XEN) Xen" in ln)[-1500:])
    result("xen: dom0 runs Debian's toolstack: xenstored and xen-init-dom0 started by /init, xl info names Xen "
           "4.17, xl list shows Domain-0 as domain 0",
           ts.get("xen_version", "").startswith("4.17") and ts.get("domains", "").split()[:1] == ["Domain-0:0"],
           f"{ts} " + "\n".join(ln for ln in console.splitlines() if "VTB-LOG" in ln)[-800:])
    argo = next((r for r in results if r.get("check") == "argo"), {})
    result("xen: Debian's hypervisor has no Argo: argo_op from dom0's privcmd is -ENOSYS",
           argo.get("argo") == "not built" and argo.get("errno") == 38, str(argo))


def guest_xen_argo(tmp):
    """The hypervisor built from Debian's Xen source package with
    CONFIG_ARGO=y, booted with argo=1: dom0 reaches /init with the toolstack,
    and argo_op(notify) from its privcmd succeeds (Argo enabled for the
    domain); the build's config has ARGO and UNSUPPORTED."""
    results, console, rc = guest.boot("xen-argo", "boot", timeout=400)
    argo = next((r for r in results if r.get("check") == "argo"), {})
    ts = next((r for r in results if r.get("check") == "toolstack"), {})
    cfg = open(os.path.join(guest.IMAGES, "xen-argo", "build", "config")).read().splitlines()
    result("xen: the Argo build (Debian's source, CONFIG_ARGO=y) boots dom0 with argo=1: xl info says 4.17, "
           "argo_op(notify) from dom0 returns 0",
           rc == 0 and "argo=1" in console and ts.get("xen_version", "").startswith("4.17") and
           argo.get("argo") == "enabled" and argo.get("ret") == 0 and
           "CONFIG_ARGO=y" in cfg and "CONFIG_UNSUPPORTED=y" in cfg,
           f"rc={rc} {argo} {ts} " + "\n".join(ln for ln in console.splitlines() if "VTB-LOG" in ln)[-600:])


def guest_xen_domu(tmp):
    """dom0 starts a PV domU with xl create (the x86_64 kernel and
    initramfs again, xenconsoled logging its console): the domU reaches
    /init, sees Xen 4.17 as an unprivileged domain, powers off, and dom0
    hands its console back."""
    _, console, rc = guest.boot("xen", "xen-domu", timeout=500)
    domu = [ln.split("VTB-DOMU ", 1)[1] for ln in console.splitlines() if "VTB-DOMU VTB-" in ln]
    res = [json.loads(ln.split("VTB-RESULT ", 1)[1]) for ln in domu if ln.startswith("VTB-RESULT ")]
    hv = next((r for r in res if r.get("check") == "hypervisor"), {})
    result("xen: dom0's xl create starts a PV domU that reaches /init under Xen 4.17 as an unprivileged domain "
           "(no control_d), powers off, its console handed back by xenconsoled",
           rc == 0 and any(r.get("check") == "init" and r.get("ok") for r in res) and
           hv.get("hypervisor", "").startswith("xen 4.17") and hv.get("capabilities") == "" and
           "VTB-DONE rc=0 test=boot" in domu,
           f"rc={rc} {res} " + "\n".join(ln for ln in console.splitlines() if "VTB-LOG" in ln and "[" not in ln)[-800:])


def guest_qemu_crosscheck(tmp):
    """The cross-check can fail: with a map lost from QEMU's count and one
    sink frame in ten lost by the peer (VTB_QEMU_FAULT), the row fails and
    says which counts disagree."""
    d = os.path.join(tmp, "qemu-fault")
    env = dict(os.environ, VTB_QEMU_FAULT="lose-maps,drop-frames")
    p = run([VTB, "run", "platform=qemu", "device=net", "transport=viommu", "variant=strict", "mode=tx", "size=64",
             "verify=1", "duration=300ms", "warmup=100ms", "reps=1", "--out", d], timeout=300, env=env)
    rows = rows_of(d) if os.path.exists(os.path.join(d, "results.jsonl")) else []
    r = rows[0] if len(rows) == 1 else {}
    cc = (r.get("guest") or {}).get("crosscheck", "")
    ds = r.get("device_stats", {})
    m = re.search(r"iommu:map (\d+) .*QEMU MAP (\d+)", cc)
    result("qemu platform: a planted miscount (maps, lost frames) fails the row with both disagreements",
           p.returncode != 0 and r.get("error", "") and "disagree" in r["error"] and cc.startswith("MISMATCH")
           and m is not None and int(m.group(2)) < int(m.group(1)) and ds.get("peer_gaps", 0) > 0 and
           ds.get("peer_frames", 0) < r.get("ops", 0), f"rc={p.returncode} error={r.get('error')} cc={cc} {ds}")


def guests(tmp):
    timed(image_cache, tmp)
    timed(guest_tool_host, tmp)
    timed(guest_cmdline, tmp)
    timed(install_deps_backports, tmp)
    timed(accel_detect, tmp)
    timed(guest_x86_blk, tmp)
    timed(guest_x86_net, tmp)
    timed(guest_reboot, tmp)
    timed(guest_arm64_blk, tmp)
    timed(guest_arm64_net, tmp)
    timed(guest_arm64_rdp, tmp)
    timed(guest_arm64_proc, tmp)
    timed(lava_run_qemu, tmp)
    timed(guest_xen_dom0, tmp)
    timed(guest_xen_domu, tmp)
    timed(guest_xen_argo, tmp)
    timed(guest_counts_parse, tmp)
    timed(guest_qemu_platform, tmp)
    timed(guest_qemu_crosscheck, tmp)
    timed(guest_scmi_absent, tmp)
    # Linux's own drivers against vtbench serve (ci/interop.py)
    t = time.monotonic()
    interop.run_all(tmp, result)
    print(f"# phase interop: {time.monotonic() - t:.0f} s", flush=True)


def fuzz(build, targets):
    """Each libFuzzer target: every seed and saved crash replayed, then a
    few seconds of fuzzing (make fuzz FUZZ_SECONDS=N runs longer)."""
    secs = os.environ.get("VTB_FUZZ_SMOKE_SECONDS", "3")
    p = run(["sh", os.path.join(ROOT, "ci", "fuzz.sh"), "smoke", secs, build] + targets, timeout=120 + 30 * len(targets))
    seen = set()
    for line in p.stdout.splitlines():
        word, _, rest = line.partition(" ")
        name = rest.split(":")[0]
        if word in ("ok", "FAIL") and name in targets:
            seen.add(name)
            result(f"fuzz smoke {name}: seeds and saved crashes pass, {secs}s of fuzzing finds nothing", word == "ok",
                   rest + p.stdout[p.stdout.find(line) + len(line):][:600])
    for t in set(targets) - seen:
        result(f"fuzz smoke {t} ran", False, p.stdout[-500:] + p.stderr[-500:])


def _testpmd_tx(sock, secs, size, cpus="0@0,1@0", qsize=256):
    """testpmd's virtio-user txonly into a vhost-user socket for secs
    seconds, then SIGINT; (its TX-packets total, its output)."""
    import signal
    import time
    argv = ["dpdk-testpmd", "--lcores", cpus, "--no-huge", "--no-pci", "-m", "256",
            f"--file-prefix=vtb-vhu-{os.getpid()}", "--vdev",
            f"net_virtio_user0,path={sock},queues=1,queue_size={qsize}", "--", "--forward-mode=txonly",
            f"--txpkts={size}", "--nb-cores=1", "--total-num-mbufs=8192", f"--txd={qsize}", f"--rxd={qsize}",
            "--stats-period=1"]
    t = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    time.sleep(secs)
    t.send_signal(signal.SIGINT)
    try:
        out, _ = t.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        t.kill()
        out, _ = t.communicate()
    tx = None
    acc = out.find("Accumulated forward statistics")
    for line in out[acc:].splitlines() if acc >= 0 else []:
        if "TX-packets:" in line:
            tx = int(line.split("TX-packets:")[1].split()[0])
            break
    return tx, out


def vhost_user_dpdk(tmp):
    """vtbench serve device=net mode=sink fed by DPDK testpmd's virtio-user
    (txonly), event and poll: packets move, and the frames serve took from
    its TX ring are testpmd's TX-packets, each 12 + 64 bytes, less those
    still in the ring when testpmd stopped it (GET_VRING_BASE stops the
    back-end where it is: at most the ring's 256, seen once as one 32-frame
    burst under ASan and load); a SIGUSR1 mid-run writes a stats line no
    later than the final one."""
    import signal
    import time
    if not shutil.which("dpdk-testpmd"):
        result("vhost-user: testpmd virtio-user into vtbench serve", False, "dpdk-testpmd not installed")
        return
    for notify in ("event", "poll"):
        sock = os.path.join(tmp, f"vhu-{notify}.sock")
        stats = os.path.join(tmp, f"vhu-{notify}.jsonl")
        srv = subprocess.Popen([VTB, "serve", "device=net", "mode=sink", f"notify={notify}", f"socket={sock}",
                                f"stats={stats}", "cpus=1", "--once"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        import threading
        mid = threading.Timer(2.0, lambda: srv.send_signal(signal.SIGUSR1))
        mid.start()
        tx, out = _testpmd_tx(sock, 4, 64)
        mid.cancel()
        try:
            _, err = srv.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
            _, err = srv.communicate()
        lines = [json.loads(l) for l in open(stats)] if os.path.exists(stats) else []
        last = lines[-1] if lines else {}
        q = {x["q"]: x for x in last.get("queues", [])}
        ok = tx is not None and tx > 0 and srv.returncode == 0 and len(lines) == 2 and \
            tx - 256 <= q.get(1, {}).get("ops", -1) <= tx and q[1]["bytes"] == q[1]["ops"] * (12 + 64) and \
            q[0]["ops"] == 0 and \
            last["total"]["errors"] == 0 and last["refused"] == 0 and last["connections"] == 1 and \
            0 < lines[0]["queues"][1]["ops"] <= tx
        result(f"vhost-user: testpmd virtio-user txonly into vtbench serve net sink ({notify}): "
               "serve's TX frames are testpmd's TX-packets, less at most a ring still unread at its stop",
               ok, f"testpmd tx={tx} serve rc={srv.returncode} stats={lines} {err[-300:]} {out[-400:]}")


# A boot sector: DS=0, then "VTB-BOOT-OK" out of COM1, then halt.
_BOOT_MSG = b"VTB-BOOT-OK"
_BOOT_CODE = bytes([0x31, 0xC0, 0x8E, 0xD8, 0xFC, 0xBA, 0xF8, 0x03, 0xBE, 0x17, 0x7C, 0xAC, 0x84, 0xC0,
                    0x74, 0x03, 0xEE, 0xEB, 0xF8, 0xFA, 0xF4, 0xEB, 0xFD])


def _serve_with_qemu(tmp, name, serve_args, qemu_argv, secs, until=None):
    """vtbench serve --once, then QEMU against it for at most secs (or until
    its serial file holds until); (serve's last stats line, its stderr,
    QEMU's serial output)."""
    import time
    sock = os.path.join(tmp, f"{name}.sock")
    stats = os.path.join(tmp, f"{name}.jsonl")
    serial = os.path.join(tmp, f"{name}.serial")
    srv = subprocess.Popen([VTB, "serve", f"socket={sock}", f"stats={stats}", "trace=1", "--once"] + serve_args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    for _ in range(500):
        if os.path.exists(sock):
            break
        time.sleep(0.01)
    q = subprocess.Popen(qemu_argv + ["-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-monitor", "none",
                                      "-display", "none", "-serial", f"file:{serial}",
                                      "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
                                      "-machine", "memory-backend=mem",
                                      "-chardev", f"socket,id=c0,path={sock}"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    t0 = time.time()
    while time.time() - t0 < secs and q.poll() is None:
        if until and os.path.exists(serial) and until in open(serial, "rb").read():
            time.sleep(0.5)
            break
        time.sleep(0.2)
    q.kill()
    qout, _ = q.communicate()
    try:
        _, err = srv.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        srv.kill()
        _, err = srv.communicate()
    lines = [json.loads(l) for l in open(stats)] if os.path.exists(stats) else []
    out = open(serial, "rb").read() if os.path.exists(serial) else b""
    return (lines[-1] if lines else {}), srv.returncode, err + qout, out


def vhost_user_qemu(tmp):
    """QEMU 10 (TCG, no guest kernel) against vtbench serve: SeaBIOS boots a
    sector read through vhost-user-blk (the sector's code prints on the
    serial port), iPXE's DHCP frames through vhost-user net come back from
    echo (RX == TX, byte for byte counted), and vhost-user-scmi on arm virt
    completes the handshake; nothing refused, no ring broken."""
    qx, qa = shutil.which("qemu-system-x86_64"), shutil.which("qemu-system-aarch64")
    if not qx or not qa:
        result("vhost-user: QEMU against vtbench serve", False, "qemu-system-x86_64/aarch64 not installed")
        return
    disk = os.path.join(tmp, "boot.img")
    with open(disk, "wb") as f:
        sector = bytearray(512)
        sector[:len(_BOOT_CODE)] = _BOOT_CODE
        sector[len(_BOOT_CODE):len(_BOOT_CODE) + len(_BOOT_MSG) + 1] = _BOOT_MSG + b"\0"
        sector[510:512] = b"\x55\xaa"
        f.write(bytes(sector) + bytes(1 << 20))
    st, rc, err, out = _serve_with_qemu(tmp, "qblk", ["device=blk", f"backing={disk}"],
                                        [qx, "-M", "q35", "-device", "vhost-user-blk-pci,chardev=c0,num-queues=1"],
                                        60, _BOOT_MSG)
    q = st.get("queues", [{}])
    result("vhost-user: SeaBIOS boots a sector through vtbench serve blk (QEMU vhost-user-blk-pci)",
           _BOOT_MSG in out and rc == 0 and st.get("connections") == 1 and st.get("refused") == 0 and
           q[0].get("ops", 0) >= 1 and q[0].get("errors") == 0, f"rc={rc} serial={out[-200:]!r} stats={st} {err[-600:]}")
    st, rc, err, out = _serve_with_qemu(tmp, "qnet", ["device=net", "mode=echo"],
                                        [qx, "-M", "q35", "-netdev", "vhost-user,id=n0,chardev=c0",
                                         "-device", "virtio-net-pci,netdev=n0"], 90, b"No more network devices")
    q = {x["q"]: x for x in st.get("queues", [])}
    result("vhost-user: iPXE's frames through vtbench serve net echo come back (QEMU vhost-user netdev)",
           rc == 0 and st.get("refused") == 0 and q.get(1, {}).get("ops", 0) >= 1 and
           q[0]["ops"] == q[1]["ops"] and q[0]["bytes"] == q[1]["bytes"] and st["total"]["errors"] == 0,
           f"rc={rc} stats={st} {err[-600:]}")
    st, rc, err, out = _serve_with_qemu(tmp, "qscmi", ["device=scmi"],
                                        [qa, "-M", "virt", "-cpu", "cortex-a57", "-device", "vhost-user-scmi-pci,chardev=c0"],
                                        6)
    result("vhost-user: QEMU's vhost-user-scmi-pci (arm virt) negotiates with vtbench serve scmi",
           rc == 0 and st.get("connections") == 1 and st.get("refused") == 0 and "GET_FEATURES" in err and
           "GET_PROTOCOL_FEATURES" in err and "refused" not in err, f"rc={rc} stats={st} {err[-600:]}")


def serve_cli(tmp):
    """vtbench serve refuses what it cannot serve with exit 2 and says why;
    a socket it cannot bind is exit 3."""
    odd = os.path.join(tmp, "odd.img")
    with open(odd, "wb") as f:
        f.write(bytes(1000))
    sock = os.path.join(tmp, "cli.sock")
    cases = [
        (["device=tape", f"socket={sock}"], 2, "blk, net or scmi"),
        (["device=blk", f"socket={sock}"], 2, "backing=FILE"),
        (["device=blk", f"socket={sock}", f"backing={odd}"], 2, "multiple of 512"),
        (["device=net", f"socket={sock}", "queues=2"], 2, "one queue pair"),
        (["device=net", f"socket={sock}", "mode=loop"], 2, "echo, sink, source or guest"),
        (["device=net", f"socket={sock}", "mode=guest", "seed=-1"], 2, "bad argument"),
        (["device=net", f"socket={sock}", "ring=1000"], 2, "bad argument"),
        (["device=net"], 2, "usage"),
        (["device=net", "socket=" + os.path.join(tmp, "x" * 120)], 3, "socket="),
    ]
    bad = []
    for args, rc, say in cases:
        p = run([VTB, "serve"] + args, timeout=30)
        if p.returncode != rc or say not in p.stderr:
            bad.append(f"{args}: rc={p.returncode} {p.stderr[-200:]}")
    result("vhost-user: vtbench serve refuses bad arguments with exit 2 (an unusable socket: 3), saying why",
           not bad, "; ".join(bad))


def timed(phase, *args):
    """Runs one phase of the suite and says how long it took, so the
    budget (make test under 20 minutes) can be kept phase by phase."""
    t = time.monotonic()
    phase(*args)
    print(f"# phase {phase.__name__}: {time.monotonic() - t:.0f} s", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--unit", action="append", default=[])
    ap.add_argument("--freestanding", default="")
    ap.add_argument("--fuzz", default="", help="libFuzzer targets to smoke-run")
    ap.add_argument("--fuzz-build", default="build/fuzz")
    ap.add_argument("--arm64", default="", help="unit tests cross-built for aarch64, run under qemu-user")
    ap.add_argument("--arm64-build", default="build/arm64")
    ap.add_argument("--arm64-only", action="store_true", help="run only the aarch64 unit tests")
    ap.add_argument("--guests", action="store_true",
                    help="boot the QEMU guests of build/images against QEMU's built-in devices")
    a = ap.parse_args()
    if a.arm64_only:
        arm64(os.path.join(ROOT, a.arm64_build), a.arm64.split())
        print(f"{passed} passed, {failed} failed")
        return 1 if failed else 0
    timed(unit, os.path.join(ROOT, a.build), a.unit)
    if a.arm64:
        timed(arm64, os.path.join(ROOT, a.arm64_build), a.arm64.split())
    timed(make_default)
    timed(reference_check_selftest)
    timed(expectations_selftest)
    timed(freestanding, a.freestanding.split())
    if a.fuzz:
        timed(fuzz, os.path.join(ROOT, a.fuzz_build), a.fuzz.split())
    with tempfile.TemporaryDirectory(prefix="vtbench-test-") as tmp:
        timed(cli, tmp)
        timed(transport_limits, tmp)
        timed(e2e, tmp)
        timed(scmi_conformance, tmp)
        timed(indirect_dma, tmp)
        timed(packed_indirect, tmp)
        timed(paired_adaptive, tmp)
        timed(probes, tmp)
        timed(peer, tmp)
        timed(serve_cli, tmp)
        timed(vhost_user_dpdk, tmp)
        timed(vhost_user_qemu, tmp)
        timed(faults, tmp)
        timed(orphans, tmp)
        timed(run_dir_lock, tmp)
        timed(resume_inputs, tmp)
        timed(full_disk, tmp)
        timed(enospc_verify, tmp)
        timed(analysis, tmp)
        timed(compare_real, tmp)
        timed(nightly, tmp)
        if a.guests:
            timed(guests, tmp)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
