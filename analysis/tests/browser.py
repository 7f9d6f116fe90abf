"""Render a page in Debian's headless Chromium: its console messages
(the report runs no script, so any is an error: an uncaught exception, a
blocked resource, a console.error) and a screenshot."""
import os
import re
import shutil
import subprocess
import tempfile

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def render(path, width=1400, height=2000):
    """(console lines, PNG path) for a file on disk."""
    shot = tempfile.mktemp(suffix=".png", prefix="vtba-shot-")
    prof = tempfile.mkdtemp(prefix="vtba-chromium-")
    try:
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            "--enable-logging=stderr", "--v=0", f"--user-data-dir={prof}",
                            f"--window-size={width},{height}", f"--screenshot={shot}",
                            "file://" + os.path.abspath(path)], capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    console = [l for l in p.stderr.splitlines() if re.search(r":CONSOLE\b|Uncaught|net::ERR_", l)]
    return console, shot if os.path.exists(shot) else None


def ink(png):
    """Share of pixels that are not the background, and distinct colours."""
    from PIL import Image
    im = Image.open(png).convert("RGB")
    im.thumbnail((350, 500))
    px = list(im.getdata())
    bg = max(set(px), key=px.count)
    return sum(p != bg for p in px) / len(px), len(set(px))


def external_refs(html):
    """src/href values a report opened from disk could not load: anything
    but data: URIs, in-page anchors and relative files."""
    refs = re.findall(r'\s(?:src|href)="([^"]*)"', html)
    return [r for r in refs if not (r.startswith("data:") or r.startswith("#") or
                                    not re.match(r"^[a-z]+:", r) and not r.startswith("//"))]
