#!/usr/bin/python3
"""Boots vtbench's QEMU guests (images/, built by `make images`) and returns
what the guest found.  For ci/run-tests.py and by hand:

    import guest
    results, console, rc = guest.boot("x86_64", "blk", {"serial": "vtb0"},
        ["-drive", "file=d.img,if=none,id=d0,format=raw,cache=none",
         "-device", "virtio-blk-pci,drive=d0,serial=vtb0"])

    python3 ci/guest.py x86_64 blk --args serial=vtb0 -- -drive ... -device ...
    python3 ci/guest.py arm64 scmi --print-cmd

results: the guest's VTB-RESULT objects in order, each with "boot" (0 for
the first boot); rc: the guest's VTB-DONE rc of its last boot (0 all checks
passed, 1 some failed, 2 device absent, 3 bad usage), or -1 when no boot
reported VTB-DONE (QEMU failed, the guest hung past timeout).  writes(console)
gives blk's VTB-WRITE records and check_backing() compares a backing file
with them.

Every guest gets its RAM as a shared memfd (vhost-user backends map it) and
the -M/-cpu/-smp/-m of images/machine.conf, from which the arm64 device tree
was dumped.  x86_64 runs under KVM when images/accel.sh boots a guest with it
(VTB_ACCEL=kvm|tcg overrides), else TCG; arm64 always under TCG."""
import argparse
import gzip
import json
import os
import re
import select
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(ROOT, "build", "images")
RC_NO_DONE = -1
_accel = None


def machine_conf():
    """images/machine.conf as a dict."""
    conf = {}
    with open(os.path.join(ROOT, "images", "machine.conf")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, _, v = line.partition("=")
                conf[k] = v
    return conf


def artefacts(arch, kernel="built", dtb="scmi"):
    """(kernel, initrd, dtb or None) for arch x86_64 or arm64; kernel
    "built" (arm64: the kernel built from linux-source with SCMI) or "deb"
    (arm64: Debian's prebuilt arm64 kernel with its modules); dtb "scmi"
    (QEMU's tree + the SCMI node) or "rdp" (also a restricted-dma-pool for
    every PCI device: those with iommu_platform=on bounce through it)."""
    if arch == "x86_64":
        d = os.path.join(IMAGES, "x86_64")
        return os.path.join(d, "kernel", "vmlinuz"), os.path.join(d, "initramfs.cpio.gz"), None
    if arch != "arm64":
        raise ValueError(f"arch {arch!r}: x86_64 or arm64")
    if dtb not in ("scmi", "rdp"):
        raise ValueError(f"dtb {dtb!r}: scmi or rdp")
    dtb = os.path.join(IMAGES, "arm64", "virt-scmi.dtb" if dtb == "scmi" else "virt-scmi-rdp.dtb")
    if kernel == "deb":
        d = os.path.join(IMAGES, "arm64-deb")
        return os.path.join(d, "kernel", "vmlinuz"), os.path.join(d, "initramfs.cpio.gz"), dtb
    d = os.path.join(IMAGES, "arm64")
    return os.path.join(d, "kernel", "Image"), os.path.join(d, "initramfs.cpio.gz"), dtb


def accel(arch="x86_64"):
    """kvm or tcg, decided once per process by images/accel.sh."""
    global _accel
    if arch != "x86_64" or os.uname().machine != "x86_64":
        return "tcg"
    if os.environ.get("VTB_ACCEL") in ("kvm", "tcg"):
        return os.environ["VTB_ACCEL"]
    if _accel is None:
        k, i, _ = artefacts("x86_64")
        try:
            p = subprocess.run(["sh", os.path.join(ROOT, "images", "accel.sh"), k, i],
                               capture_output=True, text=True, timeout=90)
            _accel = "kvm" if p.stdout.strip() == "kvm" else "tcg"
        except subprocess.TimeoutExpired:
            _accel = "tcg"
    return _accel


def cmdline(arch, test, args=None, dev=None, kargs=()):
    """The kernel command line: console, the guest configuration's own
    kernel parameters (kargs, e.g. swiotlb=force), then what /init reads."""
    conf = machine_conf()
    console = {"x86_64": conf["X86_64_CONSOLE"], "xen": "hvc0", "xen-argo": "hvc0"}.get(arch, conf["ARM64_CONSOLE"])
    for w in kargs:
        if not w or any(c in w for c in " \"'") or w.startswith("vtb."):
            raise ValueError(f"kernel argument {w!r}: one word, not vtb.*")
    words = [f"console={console}", "quiet", "panic=-1"] + list(kargs) + [f"vtb.test={test}"]
    if dev:
        words.append(f"vtb.dev={dev}")
    if args:
        items = args.items() if isinstance(args, dict) else [a.split("=", 1) for a in args]
        for k, v in items:
            if any(c in f"{k}{v}" for c in " ,\"'"):
                raise ValueError(f"vtb.args {k}={v}: no spaces, commas or quotes")
        words.append("vtb.args=" + ",".join(f"{k}={v}" for k, v in items))
    return " ".join(words)


# The xen guest: Debian's Xen 4.17 under QEMU (x86_64, TCG: it needs smap=0
# there), the x86_64 image's kernel and initramfs as its PV dom0.
XEN_ARGS = "console=com1 com1=115200 dom0_mem=512M,max:512M smap=0 loglvl=all guest_loglvl=all"
XEN_QEMU_MEM, XEN_SMP = "1G", "2"


def xen_cmd(test, args=None, extra_qemu_args=(), initrd=None, kargs=(), argo=False):
    """QEMU booting Xen as a multiboot kernel, dom0's kernel and initramfs
    its modules (-initrd "KERNEL ARGS,INITRD"; a comma inside ARGS doubled).
    argo: the hypervisor built from Debian's source with Argo, argo=1."""
    conf = machine_conf()
    xen = os.path.join(IMAGES, "xen-argo", "build", "xen") if argo else os.path.join(IMAGES, "xen", "xen")
    k, _, _ = artefacts("x86_64")
    image_initrd = os.path.join(IMAGES, "xen", "dom0-initramfs.cpio.gz")   # x86_64's + the toolstack
    dom0 = cmdline("xen", test, args, kargs=kargs).replace(",", ",,")
    return [conf["X86_64_QEMU"], "-M", conf["X86_64_MACHINE"], "-accel", "tcg", "-cpu", "max", "-smp", XEN_SMP,
            "-m", XEN_QEMU_MEM, "-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot",
            "-kernel", xen, "-append", XEN_ARGS + (" argo=1" if argo else ""),
            "-initrd", f"{k} {dom0},{initrd or image_initrd}"] + \
        list(extra_qemu_args)


def qemu_cmd(arch, test, args=None, extra_qemu_args=(), boots=1, kernel="built", dev=None, accel_=None,
             dtb="scmi", kargs=(), initrd=None):
    """The QEMU command line for one guest run (a list); initrd: another
    initramfs than the image's (initrd_with); arch xen: Xen with the
    x86_64 image as dom0."""
    if arch in ("xen", "xen-argo"):
        return xen_cmd(test, args, extra_qemu_args, initrd, kargs, argo=arch == "xen-argo")
    conf = machine_conf()
    k, image_initrd, dtb = artefacts(arch, kernel, dtb)
    initrd = initrd or image_initrd
    if arch == "x86_64":
        a = accel_ or accel(arch)
        mem = conf["X86_64_MEM"]
        cmd = [conf["X86_64_QEMU"], "-M", conf["X86_64_MACHINE"], "-accel", a,
               "-cpu", "host" if a == "kvm" else "max", "-smp", conf["X86_64_SMP"]]
    else:
        mem = conf["ARM64_MEM"]
        cmd = [conf["ARM64_QEMU"], "-M", conf["ARM64_MACHINE"], "-accel", "tcg",
               "-cpu", conf["ARM64_CPU"], "-smp", conf["ARM64_SMP"], "-dtb", dtb]
    cmd += ["-m", mem, "-object", f"memory-backend-memfd,id=mem,size={mem},share=on",
            "-machine", "memory-backend=mem", "-nographic", "-nodefaults",
            # an interactive shell gets the monitor too (Ctrl-A X quits)
            "-serial", "mon:stdio" if test == "shell" else "stdio",
            "-kernel", k, "-initrd", initrd, "-append", cmdline(arch, test, args, dev, kargs)]
    if boots == 1:
        cmd.append("-no-reboot")
    return cmd + list(extra_qemu_args)


def _cpio_newc(files):
    """A cpio archive (newc, as the kernel unpacks an initramfs) of
    {path in the archive: (bytes, mode)}, with the directories they need."""
    out, ino = bytearray(), 1
    dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
    entries = [(d, b"", 0o40755) for d in dirs] + [(p, data, mode) for p, (data, mode) in sorted(files.items())]
    for name, data, mode in entries + [("TRAILER!!!", b"", 0)]:
        nb = name.encode() + b"\0"
        out += b"070701" + b"".join(b"%08X" % v for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out += nb + b"\0" * (-(110 + len(nb)) % 4) + data + b"\0" * (-len(data) % 4)
        ino += 1
    return bytes(out)


def initrd_with(base, files, out):
    """base (an image's initramfs) with files appended as a second archive
    (the kernel unpacks both, the later over the earlier): {path in the
    guest: host file}.  Returns out."""
    blobs = {}
    for guest_path, host_path in files.items():
        with open(host_path, "rb") as f:
            blobs[guest_path.lstrip("/")] = (f.read(), 0o100755 if os.access(host_path, os.X_OK) else 0o100644)
    with open(base, "rb") as f, open(out, "wb") as o:
        o.write(f.read())
        o.write(gzip.compress(_cpio_newc(blobs), 6))
    return out


def run_of(console, out_dir):
    """The run vtb.test=vtbench handed back on the console (VTB-RUN FILE
    LINE), rebuilt as a run directory; its file names."""
    files = {}
    for line in console.splitlines():
        m = re.match(r"VTB-RUN (meta\.json|results\.jsonl) (.*)$", line.rstrip("\r"))
        if m:
            files.setdefault(m.group(1), []).append(m.group(2))
    os.makedirs(out_dir, exist_ok=True)
    for name, lines in files.items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write("\n".join(lines) + "\n")
    return sorted(files)


def parse(console):
    """VTB-RESULT objects with their boot number, and each boot's rc."""
    results, rcs = [], []
    for line in console.splitlines():
        i = line.find("VTB-RESULT ")
        if i >= 0:
            try:
                r = json.loads(line[i + len("VTB-RESULT "):])
            except ValueError:
                r = {"check": "unparsable", "ok": False, "line": line}
            r["boot"] = len(rcs)
            results.append(r)
        i = line.find("VTB-DONE rc=")
        if i >= 0:
            word = line[i + len("VTB-DONE rc="):].split()[0]
            rcs.append(int(word) if word.lstrip("-").isdigit() else RC_NO_DONE)
    return results, rcs


def swiotlb(console):
    """{pool: (nslabs, used, hiwater)} from the guest's VTB-SWIOTLB lines
    (the last boot's figures win)."""
    out = {}
    for line in console.splitlines():
        i = line.find("VTB-SWIOTLB ")
        if i >= 0:
            w = line[i:].split()
            if len(w) == 5 and all(x.isdigit() for x in w[2:]):
                out[w[1]] = tuple(int(x) for x in w[2:])
    return out


def counts(console):
    """The guest kernel's whole-boot DMA counts from the VTB-COUNTS line
    (keys as blkbench's: swiotlb_bounced, iommu_map, iommu_unmap and their
    _bytes; None where the guest kernel has no such event); the last
    boot's line wins, {} when there is none."""
    out = {}
    for line in console.splitlines():
        i = line.find("VTB-COUNTS ")
        if i >= 0:
            try:
                out = json.loads(line[i + len("VTB-COUNTS "):])
            except ValueError:
                out = {"unparsable": line}
    return out


# QEMU's trace events for what the host side counts (with -D FILE).
HOST_TRACE = ("virtio_iommu_map", "virtio_iommu_unmap", "virtio_queue_notify", "virtio_blk_handle_read")


def host_trace_args(path):
    return [a for e in HOST_TRACE for a in ("-trace", e)] + ["-D", path]


def host_counts(path):
    """What QEMU handled, from a host_trace_args log: virtio-iommu MAP and
    UNMAP requests, and kicks (virtio_queue_notify) split into those of the
    virtio-blk device (the vdev its read handler names) and the others."""
    out = {"iommu_map": 0, "iommu_unmap": 0, "blk_kicks": 0, "other_kicks": 0}
    blk, kicks = set(), {}
    with open(path, errors="replace") as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            ev = w[0].split(":")[-1]
            vdev = w[w.index("vdev") + 1] if "vdev" in w[:-1] else None
            if ev == "virtio_iommu_map":
                out["iommu_map"] += 1
            elif ev == "virtio_iommu_unmap":
                out["iommu_unmap"] += 1
            elif ev == "virtio_blk_handle_read":
                blk.add(vdev)
            elif ev == "virtio_queue_notify":
                kicks[vdev] = kicks.get(vdev, 0) + 1
    for vdev, n in kicks.items():
        out["blk_kicks" if vdev in blk else "other_kicks"] += n
    return out


def writes(console):
    """blk's VTB-WRITE records, in the order the guest made them."""
    out = []
    for line in console.splitlines():
        i = line.find("VTB-WRITE ")
        if i >= 0:
            out.append(json.loads(line[i + len("VTB-WRITE "):]))
    return out


def boot(arch, test, args=None, extra_qemu_args=(), timeout=300, boots=1, kernel="built", dev=None, dtb="scmi",
         on_done=None, kargs=(), initrd=None):
    """Runs the guest until it has reported VTB-DONE boots times (test
    reboot:NAME makes it reboot in between; then QEMU is stopped here), or
    timeout seconds.  on_done(n), if given, is called as the n-th VTB-DONE
    (1-based) arrives, e.g. to restart a backend before the next boot; what
    it returns, if bytes, goes to the guest's console (test again:NAME runs
    NAME twice in one boot and waits for a line in between: boots=2).
    Returns (results, console text, rc)."""
    if boots > 1 and not test.startswith(("reboot:", "again:")):
        raise ValueError("boots > 1 needs test reboot:NAME or again:NAME")
    if test.startswith("again:") and boots != 2:
        raise ValueError("again:NAME makes two passes: boots=2")
    cmd = qemu_cmd(arch, test, args, extra_qemu_args, 1 if test.startswith("again:") else boots, kernel, dev,
                   dtb=dtb, kargs=kargs, initrd=initrd)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    chunks, done, deadline = [], 0, time.monotonic() + timeout
    tail = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                chunks.append(f"\n[guest.py: killed after {timeout} s]\n".encode())
                break
            r, _, _ = select.select([p.stdout], [], [], min(left, 1.0))
            if not r:
                continue
            b = os.read(p.stdout.fileno(), 65536)
            if not b:
                break
            chunks.append(b)
            tail = (tail + b)[-4096:]
            if b"VTB-DONE" in tail:
                now = b"".join(chunks).count(b"VTB-DONE rc=")
                for n in range(done + 1, now + 1):
                    say = on_done(n) if on_done else None
                    if isinstance(say, bytes):
                        p.stdin.write(say)
                        p.stdin.flush()
                done = now
            if boots > 1 and done >= boots:
                # let the last boot's line end before stopping QEMU
                time.sleep(0.5)
                break
    finally:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        p.stdin.close()
        rest = p.stdout.read()
        if rest:
            chunks.append(rest)
        p.stdout.close()
    console = b"".join(chunks).decode(errors="replace")
    results, rcs = parse(console)
    return results, console, rcs[-1] if rcs else RC_NO_DONE


# -- blk's backing file --------------------------------------------------
# The pattern is vtb_guest's: the 8-byte word at offset o holds
# splitmix64(seed ^ (o / 8)), little-endian.

def pattern(off, length, seed):
    """The bytes vtb_guest writes at off (the host build of the same tool)."""
    tool = os.path.join(IMAGES, os.uname().machine.replace("aarch64", "arm64"), "vtb_guest")
    p = subprocess.run([tool, "pattern", str(off), str(length), str(seed)], capture_output=True, check=True)
    if len(p.stdout) != length:
        raise RuntimeError(f"vtb_guest pattern gave {len(p.stdout)} bytes, not {length}")
    return p.stdout


FILL_SEED = 0xF111


def make_backing(path, size):
    """A backing file of size bytes holding the fill pattern, so bytes the
    guest never wrote can be told from bytes it wrote or zeroed."""
    with open(path, "wb") as f:
        f.write(pattern(0, size, FILL_SEED))


def check_backing(path, recs, block=4096):
    """None if path holds exactly what recs say (pattern regions, zeroed
    regions, the fill pattern everywhere else; each block of a discarded
    region may read as what it held or as zeros), else the first difference."""
    size = os.path.getsize(path)
    want = bytearray(pattern(0, size, FILL_SEED))
    loose = []
    for r in recs:
        o, n = r["off"], r["len"]
        if o < 0 or n < 0 or o + n > size:
            return f"record {r} outside the {size}-byte file"
        if r["kind"] == "pattern":
            want[o:o + n] = pattern(o, n, r["seed"])
        elif r["kind"] == "zero":
            want[o:o + n] = bytes(n)
        elif r["kind"] == "discard":
            loose.append((o, n))
        else:
            return f"record {r}: unknown kind"
    with open(path, "rb") as f:
        got = f.read()
    zero = bytes(block)
    for o, n in loose:
        for b in range(o, o + n, block):
            e = min(b + block, o + n)
            if got[b:e] == zero[:e - b]:
                want[b:e] = got[b:e]
    if got == want:
        return None
    at = next(i for i in range(0, size, block) if got[i:i + block] != want[i:i + block])
    at += next(i for i in range(block) if got[at + i] != want[at + i])
    return f"first difference at byte {at}: file {got[at]:#04x}, expected {want[at]:#04x}"


def main():
    ap = argparse.ArgumentParser(description="boot a vtbench guest")
    ap.add_argument("arch", choices=["x86_64", "arm64", "xen", "xen-argo"])
    ap.add_argument("test", help="blk, net, scmi, boot, shell, or reboot:NAME")
    ap.add_argument("--args", default="", help="K=V,... for vtb_guest")
    ap.add_argument("--dev", default=None)
    ap.add_argument("--kernel", default="built", choices=["built", "deb"])
    ap.add_argument("--dtb", default="scmi", choices=["scmi", "rdp"])
    ap.add_argument("--boots", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--print-cmd", action="store_true")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    a = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    a.qemu = extra  # extra QEMU arguments, after --
    args = [w for w in a.args.split(",") if w]
    if a.print_cmd:
        print(shlex.join(qemu_cmd(a.arch, a.test, args, a.qemu, a.boots, a.kernel, a.dev, dtb=a.dtb)))
        return 0
    if a.test == "shell":
        cmd = qemu_cmd(a.arch, a.test, args, a.qemu, 1, a.kernel, a.dev, dtb=a.dtb)
        return subprocess.call(cmd)
    results, console, rc = boot(a.arch, a.test, args, a.qemu, a.timeout, a.boots, a.kernel, a.dev, a.dtb)
    for r in results:
        print(json.dumps(r))
    if rc == RC_NO_DONE:
        sys.stderr.write(console[-3000:])
    print(f"rc={rc}")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
