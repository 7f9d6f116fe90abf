"""Jinja2 environment and number formatting shared by the HTML pages."""
import math
import os

import jinja2

_env = None


def num(v, digits=3):
    """A number to `digits` significant digits, with k/M/G for large ones."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    a = abs(v)
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.{digits}g}{suf}"
    if a and a < 0.01:
        return f"{v:.2g}"
    return f"{v:.{digits}g}"


def ratio(v):
    return "–" if v is None or v != v else f"{v:.2f}×"


def ci(lo, hi, fmt=num):
    if lo is None or hi is None or lo != lo or hi != hi:
        return ""
    return f"[{fmt(lo)}, {fmt(hi)}]"


def pct(v, digits=1):
    return "–" if v is None or v != v else f"{v:.{digits}f}%"


def isnum(v):
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def env():
    global _env
    if _env is None:
        _env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")),
            autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True)
        _env.filters.update(num=num, ratio=ratio, pct=pct, ci=ci)
        _env.globals.update(isnum=isnum, ci=ci, num=num, ratio=ratio)
    return _env


def render(template, **ctx):
    return env().get_template(template).render(**ctx)
