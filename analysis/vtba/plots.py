"""Plots as SVG, drawn by gnuplot: every figure of a report is queued,
then one gnuplot process draws them all (a process per figure would cost
more than the figures)."""
import html
import os
import re
import shutil
import subprocess
import tempfile

TERM = "set terminal svg size {w},{h} dynamic noenhanced font 'DejaVu Sans,10' background rgb 'white'"
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#843c39", "#7b4173"]


class GnuplotError(Exception):
    pass


def _q(s):
    """A gnuplot string literal."""
    return "'" + str(s).replace("'", "''") + "'"


class Figures:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="vtba-plot-")
        self.jobs = []      # (name, script)
        self.n = 0

    def _data(self, blocks):
        """Write data blocks (lists of rows) to one file; blocks separated
        by two blank lines, addressed by 'index i'."""
        self.n += 1
        path = os.path.join(self.tmp, f"d{self.n}.dat")
        with open(path, "w") as f:
            for b in blocks:
                for row in b:
                    f.write(" ".join(_cell(v) for v in row) + "\n")
                f.write("\n\n")
        return path

    def _add(self, name, w, h, body, title=""):
        out = os.path.join(self.tmp, f"{name}.svg")
        self.jobs.append((name, out, f"{TERM.format(w=w, h=h)}\nset output {_q(out)}\nreset session\n{body}\nunset output\n",
                          (w, h, str(title))))
        return name

    def lines(self, name, title, series, xlabel, ylabel, logx=False, logy=False, errorbars=False, steps=False,
              w=720, h=360, yrange=None, xtime=False, xtics=None, xrange=None):
        """series: [(label, [(x, y[, ylo, yhi]), ...])]; xtics: [(label, x)]
        to mark exactly those x values (e.g. the sizes that ran)."""
        series = [(lab, pts) for lab, pts in series if pts]
        if not series:
            return None
        path = self._data([pts for _, pts in series])
        plots = []
        for i, (lab, pts) in enumerate(series):
            col = PALETTE[i % len(PALETTE)]
            if lab == "regression":
                plots.append(f"{_q(path)} index {i} using 1:2 with points pt 6 ps 2.2 lw 2 lc rgb '#d62728' "
                             f"title 'regression'")
            elif errorbars and len(pts[0]) >= 4:
                plots.append(f"{_q(path)} index {i} using 1:2:3:4 with yerrorlines lc rgb {_q(col)} pt 7 ps 0.5 "
                             f"title {_q(str(lab))}")
            else:
                style = "steps" if steps else "linespoints pt 7 ps 0.5"
                plots.append(f"{_q(path)} index {i} using 1:2 with {style} lw 1.5 lc rgb {_q(col)} title {_q(str(lab))}")
        body = [f"set title {_q(str(title))}", f"set xlabel {_q(str(xlabel))}", f"set ylabel {_q(str(ylabel))}",
                "set grid", "set key outside right top", "set border 3", "set tics nomirror"]
        if logx:
            body.append("set logscale x")
        if xtime:
            # double quotes: gnuplot reads \n as a line break only there
            body += ["set xdata time", "set timefmt '%s'", 'set format x "%m-%d\\n%H:%M"']
        if logy:
            body.append("set logscale y")
        if yrange:
            body.append(f"set yrange [{yrange[0]}:{yrange[1]}]")
        if xrange:
            body.append(f"set xrange [{xrange[0]!r}:{xrange[1]!r}]")
        if xtics:
            body.append("set xtics (" + ", ".join(f"{_q(str(lab))} {x!r}" for lab, x in xtics) + ")")
        body.append("plot " + ", \\\n  ".join(plots))
        return self._add(name, w, h, "\n".join(body), title)

    def bars(self, name, title, labels, columns, ylabel, stacked=False, points=(), w=720, h=360, clip_points=False):
        """labels: one per bar (or cluster); columns: [(name, [value per
        label])]; points: [(name, [value per label])] drawn over the bars.
        clip_points: the y axis is scaled to the bars, and a point far above
        them (a measurement the bars do not explain, e.g. on a loaded host)
        is drawn at the top as a triangle with its value, so that one point
        never flattens every bar."""
        if not labels or not columns:
            return None
        ymax = None
        if clip_points and points:
            tops = [sum(_num(c[1][i]) for c in columns) if stacked else max(_num(c[1][i]) for c in columns)
                    for i in range(len(labels))]
            cap = 3 * max(tops)
            vals = [_num(v) for _, vs in points for v in vs]
            if cap > 0 and any(v > cap for v in vals):
                ymax = 1.1 * max(tops + [v for v in vals if v <= cap])
        rows = []
        for i, lab in enumerate(labels):
            row = [str(lab)] + [c[1][i] for c in columns] + [p[1][i] for p in points]
            if ymax is not None:
                for _, vs in points:
                    over = _num(vs[i]) > ymax
                    row += [0.97 * ymax if over else None, _short(vs[i]) if over else ""]
            rows.append(row)
        path = self._data([rows])
        body = [f"set title {_q(str(title))}", f"set ylabel {_q(str(ylabel))}", "set style data histograms",
                "set style histogram rowstacked" if stacked else "set style histogram clustered gap 1",
                "set style fill solid 0.85 border -1", "set boxwidth 0.75", "set grid ytics",
                "set xtics rotate by -40 left font ',9'", "set key outside right top",
                f"set yrange [0:{ymax!r}]" if ymax is not None else "set yrange [0:*]",
                "set border 3", "set tics nomirror", "set bmargin 7"]
        plots = []
        for k, (cname, _) in enumerate(columns):
            col = PALETTE[k % len(PALETTE)]
            xt = ":xtic(1)" if k == 0 else ""
            plots.append(f"{_q(path)} using {k + 2}{xt} lc rgb {_q(col)} title {_q(str(cname))}")
        for k, (pname, _) in enumerate(points):
            c = len(columns) + 2 + k
            pc = _q('#000000' if k == 0 else '#d62728')
            plots.append(f"{_q(path)} using 0:{c} with points pt {7 if k == 0 else 6} ps 1.2 "
                         f"lc rgb {pc} title {_q(str(pname))}")
            if ymax is not None:
                m = len(columns) + len(points) + 2 + 2 * k
                plots.append(f"{_q(path)} using 0:{m} with points pt 9 ps 1.4 lc rgb {pc} notitle")
                plots.append(f"{_q(path)} using 0:{m}:{m + 1} with labels left offset 1.2,0 font ',9' "
                             f"tc rgb {pc} notitle")
        body.append("plot " + ", \\\n  ".join(plots))
        return self._add(name, w, max(h, 260), "\n".join(body), title)

    def render(self):
        """Draw every queued figure; {name: inline SVG text}."""
        if not self.jobs:
            return {}
        if not shutil.which("gnuplot"):
            raise GnuplotError("gnuplot is not installed (Debian: gnuplot-nox); `make deps` installs it")
        script = os.path.join(self.tmp, "all.gp")
        with open(script, "w") as f:
            for _, _, s, _ in self.jobs:
                f.write(s)
        p = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise GnuplotError(f"gnuplot failed: {p.stderr[-2000:]}")
        out = {}
        for name, path, _, (w, h, title) in self.jobs:
            with open(path) as f:
                svg = f.read()
            # Inline: drop the XML prolog and DOCTYPE, keep the <svg> element.
            out[name] = _sized(svg[svg.index("<svg"):], w, h, title)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return out


def _sized(svg, w, h, title):
    """gnuplot's `dynamic` SVG has a viewBox and no width or height: inline in
    a shrink-to-fit box it has no size of its own and Chromium draws it 0x0.
    Give it its drawn size (the CSS scales it down to a narrower viewport,
    keeping the viewBox's aspect) and its title for a reader or a tooltip."""
    t = html.escape(title, quote=True)
    svg = re.sub(r"^<svg\b", f'<svg width="{w}" height="{h}" role="img" aria-label="{t}"', svg, count=1)
    return svg.replace("<title>Gnuplot</title>", f"<title>{t}</title>", 1)


def _num(v):
    """A value for scaling: missing or NaN counts as 0."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if v != v else v


def _short(v):
    """A point's value as its label: 3 significant digits, k/M/G."""
    v = _num(v)
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suf}"
    return f"{v:.3g}"


def _cell(v):
    if v is None:
        return "NaN"
    if isinstance(v, float):
        return "NaN" if v != v else repr(v)
    s = str(v)
    if not s or any(ch.isspace() for ch in s) or s[0] in "\"'":
        return '"' + s.replace('"', "'") + '"'
    return s
