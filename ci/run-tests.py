#!/usr/bin/python3
"""Runs every vtbench test and ends with 'N passed, M failed'.

Unit tests are C programs (each prints its own check count); the rest runs
./vtbench end to end and checks what it wrote, field by field."""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile

import jsonschema

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
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kw)


def unit(build, tests):
    for t in tests:
        p = run([os.path.join(build, t)], timeout=300)
        sys.stdout.write(p.stdout)
        result(os.path.basename(t), p.returncode == 0, p.stderr.strip()[-2000:])


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
        if kd["phase_events"] != [1, 1]:
            problems.append(f"{dn} phase USDT events {kd['phase_events']}")
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
    ours = {"sys_enter", "sys_exit", "sched_switch", "page_fault_user", "tlb_flush", "phase", "req_submit", "req_complete"}
    result("probes: 50 cells, no descriptor, link or program left behind",
           len(rows) == 50 and meta.get("probes", {}).get("leaked_fds") == 0 and not {n for _, n in left} & ours,
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
    p = vtbench(["harness/suites/test.suite"], d)
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
    result("meta.json carries the calibration at start and end, every figure positive",
           all(cal.get(e) and cal[e]["ok"] and all(cal[e][f]["v"] > 0 and cal[e][f]["spread_pct"] >= 0 for f in figs)
               and cal[e]["shootdown_ns"]["v"] >= 0 and cal[e]["placement"] in ("near", "far") for e in ("start", "end"))
           and isinstance(cal.get("moved"), list) and len(cal.get("reps", [])) == 1 and cal["reps"][0] == cal["start"],
           json.dumps(cal)[:600])
    bad = [r["cell"] for r in rows if not r["limit"] or not r["model"] or r["limit"]["ratio"] <= 0 or
           r["model"]["relative"] != (r["cell"]["transport"] != "shm") or
           (r["model"]["relative"] and not r["model"]["reference"].startswith(f"{r['cell']['device']} ")) or
           "/shm split" not in (r["model"]["reference"] or "/shm split")]
    result("every row names its limit and the model's prediction, non-shm cells against shm of the same workload",
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
        # Boundary slack: requests in flight when measuring starts or stops.
        slack = 3.0 * c["qd"] / max(r["ops"], 1) + 1e-9
        tv = (c["transport"], c["variant"])
        dp = (c["device"], c["pattern"])
        near = lambda got, want: abs(got - want) <= max(want, 1) * slack
        mapping = tv in (("grant", "map"), ("viommu", "strict"), ("viommu", "lazy"))
        if not mapping and (po["maps"] > slack or po["unmaps"] > slack):
            problems.append(f"{tv} mapped per op: {po}")
        if tv[0] != "argo" and tv != ("grant", "copy") and po["hv_copies"]:
            problems.append(f"{tv} made hypervisor copies: {po}")
        if tv == ("grant", "map"):
            # One grant map per page touched, each unmapped (with its flush) before completion.
            pages = {("blk", "randread"): 3, ("blk", "randrw"): 3}.get(dp) if c["size"] == 4096 else \
                {("blk", "read"): 18, ("blk", "write"): 18}.get(dp) if c["size"] == 65536 else None
            if fe["maps"] or be["maps"] != be["unmaps"] and abs(be["maps"] - be["unmaps"]) > 3 * c["qd"] * 18:
                problems.append(f"grant/map: maps {be['maps']} vs unmaps {be['unmaps']}")
            # The BE's counters are read live: an unmap may be counted before its flush.
            if abs(be["flushes"] - be["unmaps"]) > 2 or po["maps"] < 1 - slack:
                problems.append(f"grant/map: flushes {be['flushes']} unmaps {be['unmaps']} maps/op {po['maps']}")
            if pages is not None and not near(po["maps"], pages):
                problems.append(f"grant/map: {po['maps']} maps per op, want {pages} pages")
        if tv[0] == "argo":
            # Every message is one sendv, one hypervisor copy into the receiver's
            # ring, plus at most one re-read of the receiver's rx_ptr when the
            # sender's view shows too little space; sync sends one per request
            # and one per completion.
            copies, sendv = fe["copies"] + be["copies"], fe["xport_ops"] + be["xport_ops"]
            # A sendv carries a header and its payload pieces: never fewer
            # pieces than calls, and batch gathers up to 8 messages.
            segs = fe["copy_segs"] + be["copy_segs"]
            if not copies <= segs <= copies * 3 * 8:
                problems.append(f"argo: {segs} pieces in {copies} hypervisor copies")
            if fe["maps"] or be["maps"] or not sendv - 4 <= copies <= 2 * sendv + 4:
                problems.append(f"argo: copies {fe['copies']}+{be['copies']} vs sendv {fe['xport_ops']}+{be['xport_ops']}")
            sends = {("blk", "randread"): 2, ("blk", "read"): 2, ("blk", "write"): 2, ("blk", "randrw"): 2,
                     ("net", "tx"): 2, ("net", "rx"): 2, ("net", "rr"): 4}.get(dp)
            if tv[1] == "sync" and sends is not None and not near(po["xport_ops"], sends):
                problems.append(f"argo/sync: {po['xport_ops']} sendv per op, want {sends}")
            if tv[1] == "batch" and c["qd"] > 1 and sends is not None and po["xport_ops"] >= sends:
                problems.append(f"argo/batch at qd {c['qd']}: {po['xport_ops']} sendv per op, not fewer than sync's {sends}")
            if po["copy_bytes"] < (c["size"] if c["device"] == "blk" else 1):
                problems.append(f"argo: copy_bytes {po['copy_bytes']} below the payload")
        if tv == ("fatvq", "inline"):
            # One copy in per device-readable buffer, one out per device-written one;
            # the device works in place.
            want = {("blk", "randread"): 3, ("blk", "read"): 3, ("blk", "write"): 3, ("blk", "randrw"): 3,
                    ("net", "tx"): 1, ("net", "rx"): 1, ("net", "rr"): 2}.get(dp)
            if be["bounce_copies"] or be["maps"] or (want is not None and not near(po["bounce_copies"], want)):
                problems.append(f"fatvq: {po['bounce_copies']} copies per op (want {want}), be {be}")
        if tv in (("viommu", "strict"), ("viommu", "lazy")):
            # A MAP request per buffer, each one installed by one map call and
            # removed by one unmap (strict: right away; lazy: by the next sync).
            if fe["maps"] or fe["unmaps"] or abs(be["flushes"] - be["unmaps"]) > 2 or po["maps"] < 1 - slack:
                problems.append(f"viommu: fe {fe} be {be}")
            if not near(po["unmaps"], po["maps"]) or not near(po["xport_ops"], 2 * po["maps"]):
                problems.append(f"viommu: maps {po['maps']} unmaps {po['unmaps']} requests {po['xport_ops']} per op")
            pages = {("blk", "randread"): 3, ("blk", "randrw"): 3}.get(dp) if c["size"] == 4096 else None
            if pages is not None and not near(po["maps"], pages):
                problems.append(f"viommu: {po['maps']} MAPs per op, want {pages} (one per buffer)")
            if tv == ("viommu", "strict") and c["notify"] == "event" and po["notifies"] < 2 * po["maps"] * (1 - slack):
                problems.append(f"viommu/strict: {po['notifies']} kicks per op, want >= one per MAP and UNMAP sync")
        if tv == ("grant", "copy"):
            # One batched hypervisor copy per direction that carries data.
            calls = {("blk", "randread"): 2, ("blk", "read"): 2, ("blk", "write"): 2, ("blk", "randrw"): 2,
                     ("net", "tx"): 1, ("net", "rx"): 1, ("net", "rr"): 2}.get(dp)
            if fe["copies"] or (calls is not None and not near(po["hv_copies"], calls)):
                problems.append(f"grant/copy: {po['hv_copies']} hypervisor copies per op, want {calls}")
            if po["copy_bytes"] < (c["size"] if c["device"] == "blk" else 1) * (1 - slack):
                problems.append(f"grant/copy: copy_bytes {po['copy_bytes']} < payload")
        if tv == ("grant", "persistent"):
            # Pool pages are mapped once, on first sight, and kept.
            bounces = {("blk", "randread"): 3, ("blk", "read"): 3, ("blk", "write"): 3,
                       ("net", "tx"): 1, ("net", "rx"): 1, ("net", "rr"): 2}.get(dp)
            if po["maps"] > 0.1 or be["unmaps"] or (bounces is not None and not near(po["bounce_copies"], bounces)):
                problems.append(f"grant/persistent: maps {po['maps']} unmaps {be['unmaps']} bounces {po['bounce_copies']} want {bounces}")
        if c["transport"] == "shm" and (po["copies"] or po["copy_bytes"] or po["xport_ops"]):
            problems.append(f"shm copied: {po}")
        if c["transport"] == "swiotlb":
            # Every buffer is bounced in at map (Linux copies even device-writable
            # ones) and device-writable ones back at unmap: nout + 2*nin a request.
            want = {("blk", "randread"): 5, ("blk", "read"): 5, ("blk", "write"): 4,
                    ("net", "tx"): 1, ("net", "rx"): 2, ("net", "rr"): 3}.get((c["device"], c["pattern"]))
            if be["bounce_copies"] or be["xport_ops"]:
                problems.append(f"swiotlb BE copied: {be}")
            if fe["bounce_copies"] < fe["xport_ops"] or po["xport_ops"] < 1 - slack:
                problems.append(f"swiotlb: fewer bounce copies than slot allocations: {fe}")
            if want is not None and abs(po["bounce_copies"] - want) > want * slack:
                problems.append(f"swiotlb bounce copies {po['bounce_copies']} per op, want {want}")
            if c["device"] == "blk" and c["pattern"] == "randrw" and not 4 - slack <= po["bounce_copies"] <= 5 + slack:
                problems.append(f"swiotlb randrw bounce copies {po['bounce_copies']} not in [4, 5]")
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
    result("analysis/summary.py summarises the e2e run, one line per cell and placement",
           p.returncode == 0 and len(lines) == 3 + len({(r["cell"]["device"], r["cell"]["pattern"], str(r["cell"]["size"]),
                                                         r["cell"]["qd"], r["cell"]["transport"], r["cell"]["variant"],
                                                         r["cell"]["notify"],
                                                         (r["placement"] or {}).get("tag"), r["cell"]["probes"])
                                                        for r in rows}), p.stdout[-800:] + p.stderr[-500:])
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
                 "disk=4m", f"backing={back}"], d3)
    r = rows_of(d3)[0] if p.returncode == 0 else {}
    result("blk backing=PATH through io_uring verifies", r.get("verified") is True and
           os.path.getsize(back) == 4 << 20, f"{r.get('error')} {p.stderr[-500:]}")


def cli(tmp):
    p = run([VTB, "calibrate", "--json"], timeout=60)
    try:
        c = json.loads(p.stdout)
    except ValueError:
        c = {}
    result("vtbench calibrate --json: every figure measured and positive",
           p.returncode == 0 and c.get("ok") and all(c[k]["v"] > 0 for k in c if isinstance(c[k], dict) and k != "shootdown_ns"),
           p.stdout[-500:] + p.stderr[-300:])
    p = run([VTB, "calibrate", "cpus=0,0"])
    result("vtbench calibrate rejects bad CPUs with exit 2", p.returncode == 2, p.stderr)
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

    # A failing cell and a hung cell are recorded; the run goes on.
    d = os.path.join(tmp, "faults")
    with open(os.path.join(tmp, "faults.suite"), "w") as f:
        f.write("[global]\nreps=1\nwarmup=0\n"
                "[broken]\ndevice=blk\nbacking=/nonexistent/dir/disk.img\nops=10\n"
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


def analysis(tmp):
    """The pytest suite of analysis/ (synthetic runs with known answers),
    each test counted here; then report and compare on a real run."""
    xml = os.path.join(tmp, "pytest.xml")
    p = run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--unit", action="append", default=[])
    ap.add_argument("--freestanding", default="")
    ap.add_argument("--fuzz", default="", help="libFuzzer targets to smoke-run")
    ap.add_argument("--fuzz-build", default="build/fuzz")
    a = ap.parse_args()
    unit(os.path.join(ROOT, a.build), a.unit)
    freestanding(a.freestanding.split())
    if a.fuzz:
        fuzz(os.path.join(ROOT, a.fuzz_build), a.fuzz.split())
    with tempfile.TemporaryDirectory(prefix="vtbench-test-") as tmp:
        cli(tmp)
        e2e(tmp)
        packed_indirect(tmp)
        probes(tmp)
        peer(tmp)
        faults(tmp)
        analysis(tmp)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
