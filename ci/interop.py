"""Linux's own virtio drivers in QEMU guests against `vtbench serve`
(issue 18, section 3): each test starts serve, boots a guest of images/
(ci/guest.py) whose vtb_guest checks the device from inside, then checks
from the host what the backend saw (its counters) and, for blk, what the
backing file holds.  The checks are outcomes and counts, never times."""
import json
import os
import signal
import subprocess
import time

import guest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VTB = os.path.join(ROOT, "vtbench")
BLK_SIZE = 64 << 20
NET_MAC = "52:54:00:76:74:10"
NET_MTU = 1400


class Serve:
    """One `vtbench serve` process on tmp/name.sock, its counters in
    tmp/name.stats (a JSON line per SIGUSR1 and one at exit)."""

    def __init__(self, tmp, name, args, sock=None):
        self.sock = sock or os.path.join(tmp, f"{name}.sock")
        self.stats_path = os.path.join(tmp, f"{name}.stats")
        self.err_path = os.path.join(tmp, f"{name}.err")
        self.err = open(self.err_path, "a")
        self.p = subprocess.Popen([VTB, "serve", f"socket={self.sock}", f"stats={self.stats_path}"] + args,
                                  stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err, cwd=ROOT)
        # Ready once it says it listens: by then its SIGUSR1 handler is in
        # place (a stale socket file of a killed serve proves nothing).
        deadline = time.monotonic() + 20
        while self.p.poll() is None and time.monotonic() < deadline and "listening on" not in self.log():
            time.sleep(0.02)

    def lines(self):
        if not os.path.exists(self.stats_path):
            return []
        out = []
        with open(self.stats_path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"unparsable": line})
        return out

    def snapshot(self, timeout=10):
        """The counters now (SIGUSR1), or {} if serve does not answer."""
        n = len(self.lines())
        if self.p.poll() is not None:
            return {}
        self.p.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ls = self.lines()
            if len(ls) > n:
                return ls[-1]
            time.sleep(0.05)
        return {}

    def stop(self, timeout=20):
        """Ends serve (SIGTERM if still running); its last counters."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.err.close()
        ls = self.lines()
        return ls[-1] if ls else {}

    def kill(self):
        self.p.kill()
        self.p.wait()
        self.err.close()

    def log(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, errors="replace") as f:
            return f.read()[-1500:]


def _blk_dev(sock, queues=2):
    return ["-chardev", f"socket,id=vblk,path={sock}",
            "-device", f"vhost-user-blk-pci,chardev=vblk,num-queues={queues}"]


def _net_dev(sock, reconnect=False):
    rc = ",reconnect-ms=500" if reconnect else ""
    return ["-chardev", f"socket,id=vnet,path={sock}{rc}", "-netdev", "vhost-user,id=n0,chardev=vnet",
            "-device", f"virtio-net-pci,netdev=n0,mac={NET_MAC},host_mtu={NET_MTU}"]


def _bad(results):
    return [r for r in results if not r.get("ok")]


def _boot_rcs(console):
    return guest.parse(console)[1]


def _requests(results):
    return sum(r.get("requests", 0) for r in results)


def _why(results, rc, console, srv_log):
    bad = _bad(results)
    return f"rc={rc} failed checks={bad[:3]} serve: {srv_log[-600:]} console: {console[-1200:]}"


def blk(tmp, result):
    """virtio_blk on serve device=blk (2 queues): the guest's O_DIRECT
    pattern at 512 B..1 MiB and qd 1..16 reads back, capacity, GET_ID,
    flush, discard and write-zeroes as Linux issues them; then the backing
    file holds exactly what the guest wrote, and serve's counters saw every
    request without a refused message or a broken ring."""
    img = os.path.join(tmp, "vu-blk.img")
    guest.make_backing(img, BLK_SIZE)
    srv = Serve(tmp, "vu-blk", ["device=blk", f"backing={img}", "queues=2", "--once"])
    results, console, rc = guest.boot("x86_64", "blk", {"serial": "vtbench-serve-0", "capacity": BLK_SIZE,
                                                        "discard": 1},
                                      _blk_dev(srv.sock), timeout=400)
    st = srv.stop()
    acc = guest.accel("x86_64")
    ok = rc == 0 and results and not _bad(results)
    result(f"interop ({acc}): Linux virtio_blk on vtbench serve blk: every in-guest check passes "
           f"({len(results)} checks)", ok, _why(results, rc, console, srv.log()))
    recs = guest.writes(console)
    why = guest.check_backing(img, recs) if recs else "no VTB-WRITE records"
    result(f"interop ({acc}): after virtio_blk's writes, discard and write-zeroes the backing file holds "
           f"exactly what the guest wrote ({len(recs)} records)", why is None, why)
    tot = st.get("total", {})
    want = _requests(results)
    okc = (st.get("refused") == 0 and tot.get("errors") == 0 and tot.get("ops", 0) >= want > 0
           and tot.get("doorbells_in", 0) > 0 and tot.get("notifies", 0) > 0
           and tot.get("notifies", 0) + tot.get("notifies_suppressed", 0) >= tot.get("ops", 0) // 64)
    result("interop: serve blk's counters: no message refused, no ring error, ops >= the guest's "
           f"{want} data requests, kicks and interrupts counted", okc, json.dumps(st)[:800])


def blkbench(tmp, result):
    """vtb_guest blkbench (the benchmark's guest side) on serve blk: random
    4 KiB O_DIRECT reads at qd 4 for half a second; every read completes,
    the guest's disk counted a request per read or merged it into an
    adjacent one (random offsets meet now and then), and serve took at
    least as many requests as the disk sent."""
    img = os.path.join(tmp, "vu-bench.img")
    with open(img, "wb") as f:
        f.truncate(BLK_SIZE)
    srv = Serve(tmp, "vu-bench", ["device=blk", f"backing={img}", "--once"])
    results, console, rc = guest.boot("x86_64", "blkbench", {"qd": 4, "ms": 500},
                                      _blk_dev(srv.sock, queues=1), timeout=400)
    st = srv.stop()
    r = next((x for x in results if x.get("check") == "randread"), {})
    ok = (rc == 0 and r.get("ok") and r.get("ops", 0) > 0 and r.get("errors") == 0
          and r.get("disk_reads", 0) + r.get("disk_reads_merged", 0) == r.get("ops")
          and st.get("total", {}).get("ops", 0) >= r.get("disk_reads", 1 << 60))
    result("interop: vtb_guest blkbench qd 4 on serve blk: every read completes, each one a disk request or "
           "merged into an adjacent one, serve saw every request", ok, f"{r} serve {json.dumps(st)[:400]} " + _why(results, rc, console, srv.log()))


def net(tmp, result):
    """virtio_net on serve device=net mode=echo: link up, the MAC and MTU
    QEMU's config space gives, and every frame of 60..1514 bytes the guest
    sends through AF_PACKET comes back byte for byte; serve echoed as many
    frames as it took."""
    srv = Serve(tmp, "vu-net", ["device=net", "mode=echo", "--once"])
    results, console, rc = guest.boot("x86_64", "net", {"mac": NET_MAC, "mtu": NET_MTU, "max": NET_MTU + 14},
                                      _net_dev(srv.sock), timeout=400)
    st = srv.stop()
    acc = guest.accel("x86_64")
    echo = next((r for r in results if r.get("check") == "echo"), {})
    ok = rc == 0 and results and not _bad(results) and echo.get("received") == echo.get("sent", -1) > 1000
    result(f"interop ({acc}): Linux virtio_net on vtbench serve net echo: link, MAC {NET_MAC}, MTU {NET_MTU}, "
           f"{echo.get('sent')} frames of 60..{NET_MTU + 14} B back verified", ok,
           _why(results, rc, console, srv.log()))
    q = {x["q"]: x for x in st.get("queues", [])}
    rxq, txq = q.get(0, {}), q.get(1, {})
    okc = (st.get("refused") == 0 and st.get("total", {}).get("errors") == 0
           and txq.get("ops", 0) >= echo.get("sent", 1 << 60) and rxq.get("ops") == txq.get("ops")
           and rxq.get("bytes") == txq.get("bytes"))
    result("interop: serve net echo's counters: RX frames == TX frames >= the guest's, same bytes, "
           "nothing refused", okc, json.dumps(st)[:800])


def scmi(tmp, result):
    """arm64 guest, Linux's arm_scmi over virtio on serve device=scmi: the
    base protocol enumerates (vendor, protocol list with SENSOR 0x15), the
    eight sensors appear under hwmon, each reading is the server's (its
    counters give each sensor's reads and last value) and changes between
    two reads."""
    srv = Serve(tmp, "vu-scmi", ["device=scmi", "--once"])
    results, console, rc = guest.boot("arm64", "scmi", {"vendor": "vtbench", "sensors": 8},
                                      ["-chardev", f"socket,id=vscmi,path={srv.sock}",
                                       "-device", "vhost-user-scmi-pci,chardev=vscmi"], timeout=400)
    st = srv.stop()
    protos = next((r for r in results if r.get("check") == "protocols"), {})
    ok = rc == 0 and results and not _bad(results) and 0x15 in protos.get("ids", [])
    result("interop (tcg): Linux arm_scmi over virtio on vtbench serve scmi: base protocol, protocol list, "
           "8 hwmon sensors", ok, _why(results, rc, console, srv.log()))
    sensors = st.get("sensors", [])
    seen = [r for r in results if r.get("check") == "sensor"]
    bad = []
    for r in seen:
        i = int(r["label"].replace("temp", ""))
        s = sensors[i] if i < len(sensors) else {}
        if s.get("last") != r.get("value2") or s.get("reads", 0) < 2 or r.get("value1") == r.get("value2"):
            bad.append((r, s))
    result("interop: each hwmon reading in the guest is the server's last value of that sensor, and it "
           "changed between the guest's two reads", len(seen) == 8 and not bad and len(sensors) == 8,
           f"{len(seen)} sensors read, mismatches {bad[:3]}, server {sensors}")


def reboot(tmp, result):
    """The guest reboots (the driver resets the device, QEMU keeps the
    connection) and blk and net work again on the second boot."""
    img = os.path.join(tmp, "vu-rb.img")
    guest.make_backing(img, BLK_SIZE)
    srv = Serve(tmp, "vu-rb-blk", ["device=blk", f"backing={img}", "queues=2", "--once"])
    results, console, rc = guest.boot("x86_64", "reboot:blk", {"serial": "vtbench-serve-0", "ops": 1},
                                      _blk_dev(srv.sock), timeout=600, boots=2)
    st = srv.stop()
    rcs = _boot_rcs(console)
    why = guest.check_backing(img, guest.writes(console))
    result("interop: virtio_blk on vtbench serve after a guest reboot: both boots pass, the file holds "
           "what was written", rcs == [0, 0] and not _bad(results) and why is None and st.get("refused") == 0,
           f"boots {rcs} backing: {why} " + _why(results, rc, console, srv.log()))
    srv = Serve(tmp, "vu-rb-net", ["device=net", "mode=echo", "--once"])
    results, console, rc = guest.boot("x86_64", "reboot:net", {"mac": NET_MAC, "mtu": NET_MTU, "max": NET_MTU + 14, "step": 16},
                                      _net_dev(srv.sock), timeout=600, boots=2)
    st = srv.stop()
    rcs = _boot_rcs(console)
    result("interop: virtio_net on vtbench serve after a guest reboot: both boots echo every frame",
           rcs == [0, 0] and not _bad(results) and st.get("refused") == 0,
           f"boots {rcs} " + _why(results, rc, console, srv.log()))


def _again(tmp, result, name, dev, serve_args, args, sock, check_after=None):
    """Boots test again:NAME: the guest runs NAME, waits for a line on its
    console, runs NAME again.  Between the two, the backend is killed
    (SIGKILL, mid-connection) and a new one started on the same socket;
    QEMU reconnects (reconnect-ms) and the second pass must pass."""
    first = Serve(tmp, f"vu-{name}-1", serve_args, sock=sock)
    second = []

    def restart(n):
        if n != 1:
            return None
        first.kill()
        srv = Serve(tmp, f"vu-{name}-2", serve_args, sock=sock)
        second.append(srv)
        t = time.monotonic() + 60
        while time.monotonic() < t and srv.snapshot().get("connections", 0) < 1:
            time.sleep(0.2)
        return b"go\n"

    results, console, _ = guest.boot("x86_64", f"again:{name}", args, dev(sock), timeout=600, boots=2,
                                     on_done=restart)
    srv = second[0] if second else None
    st = srv.stop() if srv else {}
    rcs = _boot_rcs(console)
    extra = check_after(console) if check_after else None
    result(f"interop: {name} on vtbench serve killed (SIGKILL) and restarted under the running guest: "
           "QEMU reconnects and the guest's second pass passes",
           rcs == [0, 0] and not _bad(results) and st.get("connections", 0) >= 1 and st.get("refused") == 0
           and extra is None,
           f"passes {rcs} {extra} second serve {json.dumps(st)[:300]} "
           + _why(results, rcs[-1] if rcs else -1, console, srv.log() if srv else ""))


def reconnect(tmp, result):
    img = os.path.join(tmp, "vu-rc.img")
    guest.make_backing(img, BLK_SIZE)
    sock = os.path.join(tmp, "vu-rc-blk.sock")

    def blk_dev(s):
        return ["-chardev", f"socket,id=vblk,path={s},reconnect-ms=500",
                "-device", "vhost-user-blk-pci,chardev=vblk,num-queues=2"]

    _again(tmp, result, "blk", blk_dev, ["device=blk", f"backing={img}", "queues=2", "--once"],
           {"serial": "vtbench-serve-0", "ops": 1}, sock,
           lambda console: guest.check_backing(img, guest.writes(console)))
    sock = os.path.join(tmp, "vu-rc-net.sock")
    _again(tmp, result, "net", lambda s: _net_dev(s, reconnect=True), ["device=net", "mode=echo", "--once"],
           {"mac": NET_MAC, "mtu": NET_MTU, "max": NET_MTU + 14, "step": 16}, sock)


def run_all(tmp, result):
    for t in (blk, blkbench, net, scmi, reboot, reconnect):
        d = os.path.join(tmp, t.__name__)
        os.makedirs(d, exist_ok=True)
        t(d, result)
