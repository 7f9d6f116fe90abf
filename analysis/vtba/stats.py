"""Statistics over repetitions: medians with bootstrap confidence
intervals, ratios of medians with theirs, percentiles of merged histograms
(also under resampling), and tests for a difference.

Every resampling uses a generator seeded from its inputs, so a report or a
comparison computed twice from the same rows says the same thing."""
import hashlib
import math
import warnings

import numpy as np
from scipy import stats as sps

from .data import bucket_mid

B = 2000          # bootstrap resamples
LEVEL = 0.95


def _rng(*parts):
    h = hashlib.sha256(repr(parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def median_ci(x, level=LEVEL, seed=()):
    """Median and percentile-bootstrap CI of the median."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    m = float(np.median(x))
    if len(x) == 1:
        return m, math.nan, math.nan
    idx = _rng("median", seed, x.tobytes()).integers(0, len(x), size=(B, len(x)))
    meds = np.median(x[idx], axis=1)
    a = (1 - level) / 2
    return m, float(np.quantile(meds, a)), float(np.quantile(meds, 1 - a))


def cv(x):
    """Coefficient of variation (sample standard deviation over mean)."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2 or not np.mean(x):
        return math.nan
    return float(np.std(x, ddof=1) / np.mean(x))


def ratio_ci(num, den, level=LEVEL, seed=()):
    """median(num) / median(den), with a CI from resampling both sides
    independently."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if not len(num) or not len(den) or np.median(den) == 0:
        return math.nan, math.nan, math.nan
    r = float(np.median(num) / np.median(den))
    if len(num) < 2 and len(den) < 2:
        return r, math.nan, math.nan
    g = _rng("ratio", seed, num.tobytes(), den.tobytes())
    a = np.median(num[g.integers(0, len(num), size=(B, len(num)))], axis=1)
    b = np.median(den[g.integers(0, len(den), size=(B, len(den)))], axis=1)
    ok = b > 0
    rs = a[ok] / b[ok]
    q = (1 - level) / 2
    return r, float(np.quantile(rs, q)), float(np.quantile(rs, 1 - q))


class Hists:
    """The repetitions' latency histograms as one dense matrix, so that a
    percentile of any merge of them (all, or a bootstrap resample) is a
    matrix product and a cumulative sum."""

    def __init__(self, rows):
        self.sub_bits = rows[0]["hist"]["sub_bits"]
        idx = sorted({i for r in rows for i, _ in r["hist"]["buckets"]})
        pos = {i: k for k, i in enumerate(idx)}
        self.h = np.zeros((len(rows), len(idx)))
        for n, r in enumerate(rows):
            for i, c in r["hist"]["buckets"]:
                self.h[n, pos[i]] += c
        self.mids = np.array([bucket_mid(i, self.sub_bits) for i in idx])
        self.lo = min(r["lat_ns"]["min"] for r in rows)
        self.hi = max(r["lat_ns"]["max"] for r in rows)

    def _pct(self, merged, p):
        tot = merged[..., -1:] if merged.ndim > 1 else merged[-1:]
        rank = np.maximum(1, np.ceil(p / 100 * tot))
        k = np.argmax(merged >= rank, axis=-1)
        return np.clip(self.mids[k], self.lo, self.hi)

    def pct(self, p):
        if not self.h.size or not self.h.sum():
            return math.nan
        return float(self._pct(np.cumsum(self.h.sum(axis=0)), p))

    def resampled_pct(self, p, g):
        """Percentile p of B resampled merges (repetitions drawn with
        replacement)."""
        n = self.h.shape[0]
        w = np.zeros((B, n))
        pick = g.integers(0, n, size=(B, n))
        np.add.at(w, (np.repeat(np.arange(B), n), pick.ravel()), 1)
        merged = np.cumsum(w @ self.h, axis=1)
        return self._pct(merged, p)

    def cdf(self):
        """(latency_ns, cumulative fraction) at each occupied bucket."""
        tot = self.h.sum(axis=0)
        c = np.cumsum(tot)
        keep = tot > 0
        return np.clip(self.mids[keep], self.lo, self.hi), c[keep] / c[-1]


def pct_ratio_ci(rows, base_rows, p=99, level=LEVEL, seed=()):
    """merged-percentile(rows) / merged-percentile(base_rows), with a CI
    from resampling each side's repetitions."""
    a, b = Hists(rows), Hists(base_rows)
    pa, pb = a.pct(p), b.pct(p)
    if not pb:
        return math.nan, math.nan, math.nan
    r = pa / pb
    if len(rows) < 2 and len(base_rows) < 2:
        return r, math.nan, math.nan
    g = _rng("pct", seed, p, a.h.tobytes(), b.h.tobytes())
    rs = a.resampled_pct(p, g) / np.maximum(b.resampled_pct(p, g), 1e-9)
    q = (1 - level) / 2
    return r, float(np.quantile(rs, q)), float(np.quantile(rs, 1 - q))


def log_welch_p(a, b, equal_var=False):
    """Two-sided p-value of Welch's t-test on the logarithms: a test of a
    ratio between two sets of repetitions.  equal_var: Student's test with
    the pooled variance instead, for a few repetitions against many taken
    on the same machine (a trend's window), where five values alone can
    understate their own spread by chance.  With two or three repetitions a
    side a rank test cannot reach 5% at all, a t-test on logs can when the
    spread is small.  None when either side has fewer than two values or
    both have no spread."""
    a, b = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    if len(a) < 2 or len(b) < 2:
        return None
    if np.ptp(a) < 1e-12 and np.ptp(b) < 1e-12:
        return 0.0 if abs(a[0] - b[0]) > 1e-12 else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # near-identical values: the p-value stands
        return float(sps.ttest_ind(a, b, equal_var=equal_var).pvalue)


def holm_adjust(pvals):
    """Holm-adjusted p-values (None stays None).  Many cells are tested at
    once; at 5% one in twenty unchanged cells would be flagged otherwise.
    Holm bounds the chance of flagging ANY unchanged cell (the family-wise
    error): what a nightly gate needs, where one false alarm a night would
    teach people to ignore it."""
    idx = [i for i, p in enumerate(pvals) if p is not None]
    out = [None] * len(pvals)
    m = len(idx)
    run = 0.0
    for k, i in enumerate(sorted(idx, key=lambda i: pvals[i])):
        run = max(run, min(1.0, (m - k) * pvals[i]))
        out[i] = float(run)
    return out


def sign_p(x):
    """Two-sided sign test that the values' median is 0: did (nearly)
    every cell of a run move the same way?  None for fewer than 5 values."""
    x = np.asarray(x, dtype=float)
    x = x[x != 0]
    if len(x) < 5:
        return None
    return float(sps.binomtest(int((x > 0).sum()), len(x), 0.5).pvalue)


def mad(x):
    """Median absolute deviation, scaled to estimate a normal's sigma."""
    x = np.asarray(x, dtype=float)
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if len(x) else math.nan


def paired_ratio_ci(ratios, level=LEVEL):
    """A ratio measured paired (a cell and its reference taking turns in
    one window, one ratio per repetition): the geometric mean, and
    Student's t interval on the logarithms, as the harness's adaptive
    rule judges it (harness/adapt.c).  Returns (ratio, lo, hi, half-width
    in percent); the bounds are NaN below two repetitions."""
    logs = [math.log(x) for x in ratios if x is not None and x > 0 and math.isfinite(x)]
    if not logs:
        return math.nan, math.nan, math.nan, math.nan
    m = sum(logs) / len(logs)
    if len(logs) < 2:
        return math.exp(m), math.nan, math.nan, math.nan
    sd = float(np.std(logs, ddof=1))
    t = sps.t.ppf(0.5 + level / 2, len(logs) - 1)
    h = t * sd / math.sqrt(len(logs))
    return math.exp(m), math.exp(m - h), math.exp(m + h), (math.exp(h) - 1) * 100
