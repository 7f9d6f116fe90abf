"""Statistics over repetitions: medians with bootstrap confidence
intervals, ratios of medians with theirs, percentiles of merged histograms
(also under resampling), and tests for a difference.

Every resampling uses a generator seeded from its inputs, so a report or a
comparison computed twice from the same rows says the same thing."""
import hashlib
import itertools
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

# --- compare's test: a shift between two cells' repetitions, the noise
# model pooled over every cell of both runs (analysis/README.md, "compare").

MIN_GROUPS = 5          # fewer cells than this: no run-wide shift
PRIOR_N = 8             # weight, in residuals, of the pooled scale in each cell's own
CLIP = 4.0              # residuals beyond CLIP pooled scales count as CLIP in a cell's own scale
PERMS = 2000            # label splits per cell at most (all of them when fewer)
TAIL_DF = 4             # the t tail a p-value beyond every relabelling is extended along


_MED_VAR = {}


def _med_var(m):
    """Variance of the median of m standard normal values (simulated once,
    seeded: there is no closed form for small m)."""
    if m not in _MED_VAR:
        x = np.random.default_rng(m).standard_normal((200000, m))
        _MED_VAR[m] = float(np.var(np.median(x, axis=1)))
    return _MED_VAR[m]


def _loo(x):
    """Leave-one-out residuals x_i - median(x without i), scaled by
    1 / sqrt(1 + var(median of n-1)) to the spread of the values
    themselves: a residual about the median of all would be 0 for the median
    repetition itself and understate the noise with few repetitions, one
    about the others' median alone carries that median's error too."""
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    if n < 2:
        return x[..., :0]
    loo = np.stack([np.median(np.delete(x, i, axis=-1), axis=-1) for i in range(n)], axis=-1)
    return (x - loo) / math.sqrt(1 + _med_var(n - 1))


def _hl(a, b):
    """Hodges-Lehmann shift: the median of every difference b_j - a_i
    (rows of a and b are independent samples when 2-D)."""
    d = b[..., None, :] - a[..., :, None]
    return np.median(d.reshape(d.shape[:-2] + (-1,)), axis=-1)


def _scale(a, b, pooled):
    """A cell's noise: the root mean square of its own residuals, each
    clipped at CLIP times the pooled scale (one window the host halved
    must not make a cell untestable), shrunk towards the pooled scale
    (five repetitions alone say little about their own spread).  Not a
    MAD: latencies come in histogram buckets, and with few repetitions the
    MAD of tied values can be near 0 by chance."""
    r = np.concatenate([_loo(a), _loo(b)], axis=-1)
    k = r.shape[-1]
    own2 = np.mean(np.minimum(r * r, (CLIP * pooled) ** 2), axis=-1) if k else 0.0
    return np.sqrt((k * own2 + PRIOR_N * pooled ** 2) / (k + PRIOR_N))


def _splits(n, na, g):
    """Boolean masks (k, n) of ways to give na of n values to side A: all
    of them when there are at most PERMS, else PERMS drawn at random."""
    if math.comb(n, na) <= PERMS:
        combs = np.array(list(itertools.combinations(range(n), na)))
        m = np.zeros((len(combs), n), dtype=bool)
        m[np.arange(len(combs))[:, None], combs] = True
        return m
    return np.argsort(g.random((PERMS, n)), axis=1) < na


def _stat(a, b, pooled):
    return np.abs(_hl(a, b)) / (_scale(a, b, pooled) * math.sqrt(1 / a.shape[-1] + 1 / b.shape[-1]))


def shift_tests(pairs, seed=(), relative=True):
    """[(a, b)] arrays of log values, one pair per cell ->
    ([{"shift", "lo", "hi", "rel", "p", "se"} or None], run-wide shift).

    The statistic of a cell is the Hodges-Lehmann shift of b against a over
    its scale times sqrt(1/na + 1/nb).  Its null distribution is not
    assumed normal (a host disturbance makes the noise heavy-tailed and
    lopsided) but is the pooled permutation null: every cell's repetitions
    relabelled between A and B every way there is (or PERMS ways), the same
    statistic computed for each, and the values of all cells pooled.  A
    cell's own permutations are a valid null for it; pooling them over
    every cell resolves p-values down to 1 / (cells x splits), fine enough
    for Holm over a suite, and keeps what real cells do (two disturbed
    windows on one side included) in the null.  relative: each cell's shift
    is judged against the median shift of all cells (what the whole run
    did, which the machine's state on each run's day shares) when there are
    MIN_GROUPS cells or more; that run-wide shift is returned for its own
    test."""
    ok = [i for i, (a, b) in enumerate(pairs) if len(a) >= 2 and len(b) >= 2]
    out = [None] * len(pairs)
    if not ok:
        return out, None
    cells = {i: tuple(np.asarray(x, dtype=float) for x in pairs[i]) for i in ok}
    res = np.concatenate([np.concatenate([_loo(a), _loo(b)]) for a, b in cells.values()])
    pooled = max(1.4826 * float(np.median(np.abs(res))), 1e-6)
    est = {i: float(_hl(a, b)) for i, (a, b) in cells.items()}
    run_shift = float(np.median(list(est.values()))) if relative and len(ok) >= MIN_GROUPS else None
    # The run-wide shift is a median of len(ok) shifts: its own error
    # (about 1.57 / len(ok) of a shift's variance) widens each test's.
    widen = math.sqrt(1 + 1.57 / len(ok)) if run_shift is not None else 1.0
    g = _rng("perm", seed, res.tobytes())
    own, obs = {}, {}
    for i, (a, b) in cells.items():
        b = b - (run_shift or 0.0)
        x = np.concatenate([a, b])
        m = _splits(len(x), len(a), g)
        pa = np.broadcast_to(x, m.shape)[m].reshape(len(m), len(a))
        pb = np.broadcast_to(x, m.shape)[~m].reshape(len(m), len(b))
        # Every relabelling but the cell's own labelling (and its mirror):
        # a cell whose repetitions fall in two modes (a flush queue's state,
        # a placement) puts its own large values into the null, and a
        # regressed cell's diluted relabellings stay below its own.
        ident = np.arange(len(x)) < len(a)
        keep = ~((m == ident).all(axis=1) | (m == ~ident).all(axis=1))
        own[i] = _stat(pa, pb, pooled)[keep]
        obs[i] = (float(_stat(a, b, pooled)) / widen,
                  float(_scale(a, b, pooled)) * math.sqrt(1 / len(a) + 1 / len(b)) * widen)
    null = np.sort(np.concatenate(list(own.values())))
    q95 = float(np.quantile(null, LEVEL))
    for i in ok:
        t, se = obs[i]
        above = len(null) - np.searchsorted(null, t, side="left")
        p = (1 + above) / (len(null) + 1)
        if not above:
            # Beyond every relabelling: p below the permutations'
            # resolution, taken on along a heavy (t, 4 df) tail from the
            # largest of them, so that three repetitions a side over a
            # suite can still reach Holm's threshold.
            p *= float(sps.t.sf(t, TAIL_DF) / sps.t.sf(min(t, float(null[-1])), TAIL_DF))
        h = est[i]
        out[i] = {"shift": h, "lo": h - q95 * se, "hi": h + q95 * se, "rel": h - (run_shift or 0.0),
                  "p": float(min(1.0, p)), "se": se}
    return out, run_shift
