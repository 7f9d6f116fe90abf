"""vtbench and LAVA: `vtbench lava job` renders a job from ci/lava's
templates, and `vtbench export --lava RUN` turns a run into the
lava-test-case calls of LAVA's test shell.

A job is checked against LAVA's own job schema (lava_common, Debian's
lava-common) before it is written, and the test definition against LAVA's
test-definition schema, so a lab gets a job its server accepts."""
import os
import shlex
import subprocess

import jinja2
import yaml

from . import cells as C
from .data import RunError, load_run, write_text
from .export import cell_names, slug

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAVA_DIR = os.path.join(ROOT, "ci", "lava")
DEVICES = ("qemu-amd64", "qemu-arm64", "board")
# What each cell reports: the row field, its LAVA units, a per-op count or not.
MEASUREMENTS = (("ops_per_s", "ops/s"), ("p99_us", "us"), ("ops_ratio", "x_shm"), ("copies", "per_op"),
                ("maps", "per_op"), ("notifies", "per_op"), ("exits", "per_op"))


def _revision():
    try:
        p = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
        return p.stdout.strip() if p.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def validate_job(text):
    """LAVA's own verdict on a job: None, or what it rejects."""
    try:
        from lava_common.schemas import validate
    except ImportError:
        return "lava_common is not installed (Debian's lava-common; sh ci/install-deps.sh)"
    try:
        validate(yaml.safe_load(text), strict=True)
    except Exception as e:   # noqa: BLE001 (voluptuous raises its own Invalid tree)
        return f"{type(e).__name__}: {e}"
    return None


def validate_testdef(path):
    from lava_common.schemas.test.testdef import validate
    with open(path) as f:
        validate(yaml.safe_load(f))


def _env():
    return jinja2.Environment(loader=jinja2.FileSystemLoader(LAVA_DIR), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


# Where a job's prebuilt vtbench lands in its ramdisk: a directory every
# ramdisk has, since LAVA copies a file overlay into an existing one.
VTBENCH_PATH = "/bin/vtbench"


def render_job(device, suite, repository, revision, artifacts="", rootfs=None, kernel=None, device_type=None,
               board_actions=None, job_minutes=120, test_minutes=100, ramdisk=None, kernel_args="", prompt=None,
               vtbench=None):
    if device not in DEVICES:
        raise RunError(f"--device {device}: one of {', '.join(DEVICES)}")
    env = _env()
    ctx = {"suite": suite, "repository": repository, "revision": revision, "artifacts": artifacts,
           "job_minutes": job_minutes, "test_minutes": min(test_minutes, job_minutes),
           "vtbench_path": VTBENCH_PATH if vtbench else ""}
    if vtbench and not ramdisk:
        raise RunError("--vtbench: goes into a --ramdisk (a board or a disk image builds vtbench itself)")
    if device == "board":
        if not device_type or not board_actions:
            raise RunError("--device board: needs --device-type (the lab's) and --board-actions FILE (its deploy "
                           "and boot actions, a YAML list)")
        try:
            with open(board_actions) as f:
                acts = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as e:
            raise RunError(f"--board-actions {board_actions}: {e}") from None
        if not isinstance(acts, list) or not all(isinstance(a, dict) and len(a) == 1 for a in acts):
            raise RunError(f"--board-actions {board_actions}: a YAML list of actions (- deploy: ..., - boot: ...)")
        text = env.get_template("board.yaml.j2").render(
            device_type=device_type, board_actions=yaml.safe_dump(acts, default_flow_style=False).rstrip(), **ctx)
    else:
        if bool(rootfs) == bool(ramdisk):
            raise RunError(f"--device {device}: needs --rootfs URL (a Debian image with a root login on the "
                           "serial console and the network the test definition installs from) or --ramdisk URL "
                           "with --kernel URL")
        if ramdisk and not kernel:
            raise RunError("--ramdisk: needs --kernel URL")
        arch = device.split("-")[1]
        text = env.get_template("qemu.yaml.j2").render(
            arch=arch, rootfs=rootfs, kernel=kernel, ramdisk=ramdisk, kernel_args=kernel_args, vtbench=vtbench,
            console="ttyAMA0" if arch == "arm64" else "ttyS0", memory_mb=4096,
            prompt=prompt or "root@", **ctx)
    why = validate_job(text)
    if why:
        raise RunError(f"the rendered job is not one LAVA accepts: {why}")
    return text


def _write_or_print(out, text):
    if out:
        write_text(out, text)
        print(out)
    else:
        print(text, end="")


def cmd_job(a):
    validate_testdef(os.path.join(LAVA_DIR, "vtbench.yaml"))
    text = render_job(a.device, a.suite, a.repository, a.revision or _revision() or "HEAD", a.artifacts or "",
                      a.rootfs, a.kernel, a.device_type, a.board_actions, a.job_minutes, ramdisk=a.ramdisk,
                      kernel_args=a.kernel_args, prompt=a.prompt, vtbench=a.vtbench)
    _write_or_print(a.out, text)
    return 0


def render_device(arch="amd64", accel="tcg", memory_mb=2048, smp=2, shares=(), test_minutes=30, boot_minutes=5):
    """A device dictionary for lava-run: a QEMU device on this machine,
    each share (TAG=DIR[:ro]) a virtio-9p export of a host directory."""
    extra = []
    for sh in shares:
        tag, _, path = sh.partition("=")
        ro = path.endswith(":ro")
        path = path[:-3] if ro else path
        if not tag or not path or not os.path.isdir(path):
            raise RunError(f"--share {sh}: TAG=DIR[:ro], DIR an existing directory")
        extra.append(f"-virtfs local,path={os.path.abspath(path)},mount_tag={tag},security_model=none"
                     + (",readonly=on" if ro else ""))
    text = _env().get_template("qemu-device.yaml.j2").render(
        arch=arch, command="qemu-system-aarch64" if arch == "arm64" else "qemu-system-x86_64", accel=accel,
        cpu="cortex-a57" if accel == "tcg" else "host", console="ttyAMA0" if arch == "arm64" else "ttyS0",
        memory_mb=memory_mb, smp=smp, extra=extra, test_minutes=test_minutes, boot_minutes=boot_minutes)
    try:
        from lava_common.schemas.device import validate
    except ImportError:
        raise RunError("lava_common is not installed (Debian's lava-common; sh ci/install-deps.sh)") from None
    try:
        validate(yaml.safe_load(text))
    except Exception as e:   # noqa: BLE001 (voluptuous raises its own Invalid tree)
        raise RunError(f"the rendered device dictionary is not one LAVA accepts: {type(e).__name__}: {e}") from None
    return text


def cmd_device(a):
    _write_or_print(a.out, render_device(a.arch, a.accel, a.memory, a.smp, a.share, a.test_minutes))
    return 0


def cases(run_dir):
    """[(name, result, measurement, units, reason)] of a run: a case per
    cell and measurement, and a cell that failed is one failed case with its
    rows' errors."""
    run = load_run(run_dir)
    if not run.rows:
        raise RunError(f"{run_dir}: no rows")
    df = C.vs_base(C.cell_frame(run))
    out = []
    for _, rec in df.iterrows():
        suite, name = cell_names(rec)
        base = slug(f"{suite.split('/', 1)[1]}/{name}".replace("/", "."))
        if rec["failed"]:
            out.append((base, "fail", None, None, "; ".join(rec["errors"])))
            continue
        for field, units in MEASUREMENTS:
            v = rec.get(field)
            if v is not None and v == v:
                out.append((f"{base}.{field}", "pass", float(v), units, None))
    return out


def shell(case_list):
    lines = []
    for name, result, value, units, reason in case_list:
        if reason:
            lines.append(f"echo {shlex.quote(f'vtbench: {name} failed: {reason}')}")
        cmd = f"lava-test-case {shlex.quote(name)} --result {result}"
        if value is not None:
            cmd += f" --measurement {value:.6g} --units {shlex.quote(units)}"
        lines.append(cmd)
    return "\n".join(lines) + "\n"


def job_results(log_text):
    """What a lava-run log (its stdout: a YAML mapping per line) recorded:
    (the job's verdict, the test definitions' cases in order, each a dict
    with case, definition, result and, where given, measurement and
    units), the dispatcher's own "lava" cases left out."""
    verdict, out = None, []
    for line in log_text.splitlines():
        if '"lvl": "results"' not in line:
            continue
        try:
            rec = yaml.safe_load(line)
        except yaml.YAMLError:
            continue
        msg = rec.get("msg") if isinstance(rec, dict) else None
        if not isinstance(msg, dict):
            continue
        if msg.get("definition") == "lava":
            if msg.get("case") == "job":
                verdict = msg.get("result")
            continue
        case = {k: msg[k] for k in ("case", "definition", "result", "units") if k in msg}
        if "measurement" in msg:
            case["measurement"] = float(msg["measurement"])
        out.append(case)
    return verdict, out
