#!/usr/bin/python3
"""One guest workload over three blk backends (issue 18, section 4): the
x86_64 guest of images/ runs vtb_guest blkbench (random 4 KiB O_DIRECT
reads, native AIO at a queue depth) on

  serve  vtbench serve device=blk over vhost-user-blk-pci
  qsd    qemu-storage-daemon's vhost-user-blk export
  qemu   QEMU's built-in virtio-blk-pci

and prints, per backend and queue depth, the guest's IOPS and, per
request, the doorbells and interrupts each backend counts: serve's own
counters; QEMU's trace events virtio_queue_notify and virtio_notify* for
the built-in device; for qsd, which has neither, the eventfd reads and
writes of its process (perf's syscall tracepoints: every read(2) and
write(2) it makes, an upper bound).  The guest's own count of virtio
interrupts (/proc/interrupts) is given for all three.  Also each
backend's peak resident memory (VmHWM).  All three read the host file
through the page cache (vtbench serve has no O_DIRECT mode, so the others
run with cache.direct=off and cache=writeback).  Under TCG the guest's speed is
emulated: the counts hold, the times are TCG's.

    python3 ci/bench_blk_backends.py [--ms 5000] [--qd 1,16] [--reps 3]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest  # noqa: E402
import interop  # noqa: E402

SIZE = 256 << 20


def hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
            return int(m.group(1)) if m else None
    except OSError:
        return None


def bench_result(results):
    return next((r for r in results if r.get("check") == "randread"), {})


def run_serve(tmp, img, qd, ms):
    srv = interop.Serve(tmp, f"b-serve-{qd}", ["device=blk", f"backing={img}"])
    results, console, rc = guest.boot("x86_64", "blkbench", {"qd": qd, "ms": ms},
                                      interop._blk_dev(srv.sock, queues=1), timeout=600)
    peak = hwm(srv.p.pid)
    st = srv.stop()
    t = st.get("total", {})
    return bench_result(results), {"kicks": t.get("doorbells_in"), "irqs": t.get("notifies"),
                                   "backend_ops": t.get("ops"), "rss_kb": peak}


def run_qsd(tmp, img, qd, ms):
    sock = os.path.join(tmp, f"qsd-{qd}.sock")
    q = subprocess.Popen(["qemu-storage-daemon",
                          "--blockdev", f"driver=file,node-name=f0,filename={img},cache.direct=off",
                          "--export", f"type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path={sock},"
                          "writable=on"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(sock) and q.poll() is None:
        time.sleep(0.05)
    perf_out = os.path.join(tmp, f"qsd-{qd}.perf")
    perf = subprocess.Popen(["perf", "stat", "-x,", "-o", perf_out, "-e",
                             "syscalls:sys_enter_read,syscalls:sys_enter_write", "-p", str(q.pid)])
    results, console, rc = guest.boot("x86_64", "blkbench", {"qd": qd, "ms": ms},
                                      ["-chardev", f"socket,id=vblk,path={sock}",
                                       "-device", "vhost-user-blk-pci,chardev=vblk,num-queues=1"], timeout=600)
    peak = hwm(q.pid)
    perf.send_signal(2)
    perf.wait()
    q.terminate()
    q.wait()
    counts = {}
    with open(perf_out) as f:
        for line in f:
            w = line.strip().split(",")
            if len(w) > 2 and w[0].isdigit():
                counts[w[2]] = int(w[0])
    return bench_result(results), {"kicks": counts.get("syscalls:sys_enter_read"),
                                   "irqs": counts.get("syscalls:sys_enter_write"), "rss_kb": peak}


def run_qemu(tmp, img, qd, ms):
    trace = os.path.join(tmp, f"qemu-{qd}.trace")
    events = os.path.join(tmp, "qemu.events")
    with open(events, "w") as f:
        f.write("virtio_queue_notify\nvirtio_notify\nvirtio_notify_irqfd\n")
    results, console, rc = guest.boot("x86_64", "blkbench", {"qd": qd, "ms": ms},
                                      ["-drive", f"file={img},if=none,id=d0,format=raw,cache=writeback",
                                       "-device", "virtio-blk-pci,drive=d0,num-queues=1",
                                       "-trace", f"events={events},file={trace}"], timeout=600)
    kicks = irqs = 0
    with open(trace, errors="replace") as f:
        for line in f:
            if "virtio_queue_notify " in line:
                kicks += 1
            elif re.search(r"virtio_notify(_irqfd)? ", line):
                irqs += 1
    return bench_result(results), {"kicks": kicks, "irqs": irqs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ms", type=int, default=5000)
    ap.add_argument("--qd", default="1,16")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        img = os.path.join(tmp, "bench.img")
        with open(img, "wb") as f:
            f.write(os.urandom(SIZE))
        for rep in range(a.reps):
            for qd in [int(x) for x in a.qd.split(",")]:
                for name, fn in (("serve", run_serve), ("qsd", run_qsd), ("qemu", run_qemu)):
                    r, c = fn(tmp, img, qd, a.ms)
                    ops = r.get("ops") or 0
                    row = {"backend": name, "qd": qd, "rep": rep, "accel": guest.accel("x86_64"),
                           "iops": r.get("iops"), "ops": ops, "errors": r.get("errors"),
                           "guest_irqs_per_op": round(r.get("virtio_irqs", 0) / ops, 3) if ops else None,
                           "kicks_per_op": round(c["kicks"] / ops, 3) if ops and c.get("kicks") is not None else None,
                           "irqs_per_op": round(c["irqs"] / ops, 3) if ops and c.get("irqs") is not None else None,
                           "rss_kb": c.get("rss_kb")}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
