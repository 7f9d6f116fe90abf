"""Render a page in Debian's headless Chromium: its console messages
(the report runs no script, so any is an error: an uncaught exception, a
blocked resource, a console.error) and a screenshot."""
import html as htmllib
import json
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


# Appended to a copy of the page: the rendered box of every figure (each
# <svg>), and the viewport it must fit, written into the DOM for --dump-dom.
_MEASURE = """<script>
(function () {
  var out = {viewport: document.documentElement.clientWidth, figures: []};
  document.querySelectorAll("svg").forEach(function (s, i) {
    var r = s.getBoundingClientRect();
    var t = s.querySelector("title");
    var h = s.closest("div") && s.closest("div").previousElementSibling;
    out.figures.push({i: i, left: r.left, right: r.right, top: r.top + window.scrollY, width: r.width, height: r.height,
                      title: (s.getAttribute("aria-label") || (t && t.textContent) || "").slice(0, 120)});
  });
  var pre = document.createElement("pre");
  pre.id = "vtba-figure-boxes";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def figure_boxes(path, width=1400, height=2000):
    """{viewport: px, figures: [{left, right, width, height, title}]} of the
    page as Chromium lays it out in a window `width` px wide."""
    with open(path) as f:
        page = f.read()
    # Beside the original, so relative links resolve the same.
    fd, copy = tempfile.mkstemp(suffix=".html", prefix=".vtba-measure-", dir=os.path.dirname(os.path.abspath(path)))
    prof = tempfile.mkdtemp(prefix="vtba-chromium-")
    try:
        with os.fdopen(fd, "w") as f:
            i = page.rfind("</body>")
            f.write(page[:i] + _MEASURE + page[i:] if i >= 0 else page + _MEASURE)
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--user-data-dir={prof}", f"--window-size={width},{height}", "--dump-dom",
                            "file://" + copy], capture_output=True, text=True, timeout=180)
    finally:
        os.unlink(copy)
        shutil.rmtree(prof, ignore_errors=True)
    m = re.search(r'<pre id="vtba-figure-boxes">(.*?)</pre>', p.stdout, re.S)
    if not m:
        raise RuntimeError(f"chromium wrote no figure boxes (exit {p.returncode}): {p.stderr[-500:]}")
    return json.loads(htmllib.unescape(m.group(1)))


def bad_figures(boxes):
    """The figures drawn with no area or reaching outside the viewport."""
    vw = boxes["viewport"]
    return [f for f in boxes["figures"]
            if not (f["width"] >= 1 and f["height"] >= 1 and f["left"] >= 0 and f["right"] <= vw + 0.5)]


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
