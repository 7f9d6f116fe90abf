"""Statistics with known answers."""
import math

import numpy as np

import synth
from vtba import stats
from vtba.data import merged_pct


def _rep(lat):
    return synth.row("r", {}, 0, 1e6, lat)


def test_merged_percentile_is_the_percentile_of_all_samples_not_an_average():
    g = np.random.default_rng(3)
    fast = g.lognormal(np.log(2000), 0.05, 5000)      # ~2 µs
    slow = g.lognormal(np.log(200000), 0.05, 200)     # ~200 µs, few
    rows = [_rep(fast), _rep(slow)]
    true = np.percentile(np.concatenate([fast, slow]), 99)
    got = stats.Hists(rows).pct(99)
    assert abs(got - true) / true < 2 / 64            # within the histogram's bucket resolution
    assert merged_pct(rows, 99) == got                # the stdlib reader agrees
    averaged = (rows[0]["lat_ns"]["p99"] + rows[1]["lat_ns"]["p99"]) / 2
    assert abs(averaged - true) / true > 0.3          # what averaging would have said: far off
    true50 = np.percentile(np.concatenate([fast, slow]), 50)
    assert abs(stats.Hists(rows).pct(50) - true50) / true50 < 2 / 64


def test_bucket_round_trip():
    for v in (0, 1, 63, 64, 65, 127, 128, 1000, 4097, 123456789):
        i = synth.bucket(v)
        from vtba.data import bucket_mid
        mid = bucket_mid(i, synth.SUB_BITS)
        assert abs(mid - v) <= max(1.0, v / 64)


def test_median_ci_coverage():
    """The 95% bootstrap CI of the median covers the true median in about
    95% of samples (percentile bootstrap at n=15: 90-99%)."""
    g = np.random.default_rng(11)
    hits, trials = 0, 400
    for t in range(trials):
        x = g.lognormal(0, 0.3, 15)                   # true median exp(0) = 1
        _, lo, hi = stats.median_ci(x, seed=t)
        hits += lo <= 1 <= hi
    assert 0.90 <= hits / trials <= 0.99, hits / trials


def test_ratio_ci_coverage():
    g = np.random.default_rng(12)
    hits, trials = 0, 300
    for t in range(trials):
        a = g.lognormal(np.log(0.8), 0.1, 12)
        b = g.lognormal(0, 0.1, 12)
        _, lo, hi = stats.ratio_ci(a, b, seed=t)
        hits += lo <= 0.8 <= hi
    assert 0.88 <= hits / trials <= 0.995, hits / trials


def test_ci_is_deterministic_and_single_value_has_none():
    x = [1.0, 2.0, 3.0, 4.0]
    assert stats.median_ci(x, seed="a") == stats.median_ci(x, seed="a")
    m, lo, hi = stats.median_ci([5.0])
    assert m == 5.0 and math.isnan(lo) and math.isnan(hi)


def test_holm_adjust_known_values():
    # Holm by hand: sorted p (0.01, 0.02, 0.03, 0.5), m=4 -> 4*0.01=0.04,
    # max(0.04, 3*0.02)=0.06, max(0.06, 2*0.03)=0.06, max(0.06, 0.5)=0.5
    q = stats.holm_adjust([0.03, None, 0.5, 0.01, 0.02])
    assert q[1] is None
    assert [round(v, 6) for v in (q[0], q[2], q[3], q[4])] == [0.06, 0.5, 0.04, 0.06]
    assert stats.holm_adjust([0.9, 0.8]) == [1.0, 1.0]


def test_log_welch():
    g = np.random.default_rng(5)
    a = g.lognormal(0, 0.05, 8)
    assert stats.log_welch_p(a * 0.85, a) < 1e-4
    assert stats.log_welch_p(a, a) == 1.0
    assert stats.log_welch_p([1.0], [2.0, 3.0]) is None


def test_pct_ratio_ci_brackets_a_planted_latency_change():
    g = np.random.default_rng(9)
    base = [_rep(g.lognormal(np.log(1000), 0.2, 2000)) for _ in range(6)]
    slow = [_rep(g.lognormal(np.log(1500), 0.2, 2000)) for _ in range(6)]
    r, lo, hi = stats.pct_ratio_ci(slow, base, 99)
    assert lo <= 1.5 <= hi and lo > 1.2 and abs(r - 1.5) < 0.1
