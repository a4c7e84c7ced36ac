"""The robust statistics behind every analyzer: Theil-Sen, Mann-Kendall on thinned
series, residual autocorrelation and its null, binning."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradlog.analyzers.stats import (
    bin_medians,
    block_autocorr,
    fit_trend,
    highfreq_fraction,
    lag1_autocorr,
    mann_kendall,
    mk_variance_factor,
    n_effective,
    residual_lag1_null,
    robust_levels,
    robust_sd,
    smooth_residuals,
    smooth_trend,
    theil_sen,
    thin_independent,
)


def test_theil_sen_recovers_slope_despite_outliers():
    x = np.arange(100.0)
    y = 2.0 + 0.5 * x
    y[[5, 50, 90]] += 100.0
    slope, icpt, lo, hi = theil_sen(x, y)
    assert slope == pytest.approx(0.5)
    assert icpt == pytest.approx(2.0)
    assert lo <= 0.5 <= hi


def test_mann_kendall_detects_monotone_and_not_noise():
    rng = np.random.default_rng(0)
    z, p = mann_kendall(np.arange(20.0))
    assert p < 1e-6 and z > 0
    _z, p_noise = mann_kendall(rng.normal(size=200))
    assert p_noise > 0.01
    assert mann_kendall(np.ones(10)) == (0.0, 1.0)


def test_thinning_stops_when_residuals_are_independent():
    rng = np.random.default_rng(1)
    white = rng.normal(size=400)
    _x, y, factor = thin_independent(np.arange(400.0), white, 12)
    assert factor == 1 and len(y) == 400
    walk = np.cumsum(rng.normal(size=400))  # strongly autocorrelated
    _x, y, factor = thin_independent(np.arange(400.0), walk, 12)
    assert factor >= 4 and len(y) >= 12


def _ar1(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    e = rng.normal(size=n)
    out = np.empty(n)
    out[0] = e[0]
    for i in range(1, n):
        out[i] = rho * out[i - 1] + e[i]
    return out


def test_fit_trend_on_autocorrelated_noise_keeps_its_false_positive_rate():
    rng = np.random.default_rng(2)
    hits = raw_hits = 0
    for _ in range(60):
        y = _ar1(rng, 2000, 0.95)
        fit = fit_trend(
            np.arange(2000.0), y, max_bins=400, min_points=12, level_fraction=0.1, level_min_points=3
        )
        hits += fit.significant(0.05)
        raw_hits += mann_kendall(bin_medians(np.arange(2000.0), y, 400)[1])[1] < 0.05
    # without thinning most of these trendless series would look significant
    assert raw_hits >= 20
    assert hits <= 9


def test_fit_trend_levels_and_direction():
    x = np.arange(1000.0)
    y = np.log10(np.exp(-x / 500.0))
    fit = fit_trend(x / 1000.0, y, max_bins=400, min_points=12, level_fraction=0.1, level_min_points=3)
    assert fit.direction(0.05) == "falling"
    assert fit.start_level == pytest.approx(np.median(y[:100]))
    assert fit.end_level == pytest.approx(np.median(y[-100:]))


def test_bin_medians_keeps_the_tail():
    x = np.arange(1003.0)
    xb, yb = bin_medians(x, x, 100)
    assert len(xb) <= 101 and yb[-1] == 1001.5  # median of the 2-point remainder
    assert xb[-1] > 990  # the end of the series is never dropped
    xs, ys = bin_medians(x[:50], x[:50], 100)
    assert len(ys) == 50


def test_alternation_shows_in_residual_lag1_and_spectrum():
    rng = np.random.default_rng(3)
    t = np.arange(1000)
    trend = np.linspace(1.0, 0.5, 1000)
    alt = trend + 0.2 * (-1.0) ** t + rng.normal(0, 0.02, 1000)
    _tr, r = smooth_residuals(alt, 15)
    assert lag1_autocorr(r) < -0.9
    hf, peak = highfreq_fraction(r)
    assert hf > 0.9 and peak == pytest.approx(0.5)
    noise = trend + rng.normal(0, 0.2, 1000)
    _tr, rn = smooth_residuals(noise, 15)
    m0, s0 = residual_lag1_null(15, 1000)
    assert abs(lag1_autocorr(rn) - m0) < 4 * s0


def test_residual_lag1_null_depends_on_the_window():
    m5, _ = residual_lag1_null(5, 200)
    m15, _ = residual_lag1_null(15, 200)
    assert m5 < -0.25 < m15 < 0


def test_small_helpers():
    assert robust_sd(np.array([1.0, 2.0, 3.0, 4.0, 100.0])) == pytest.approx(1.4826)
    assert robust_levels(np.arange(100.0), 0.1, 3) == (4.5, 94.5)
    assert n_effective(100, 0.5) == pytest.approx(100 / 3)
    assert n_effective(100, -0.3) == 100
    assert math.isnan(lag1_autocorr(np.ones(10)))


def test_suggested_numbers_are_rounded_on_the_1_2_3_5_ladder():
    from gradlog.wording import fmt_step, nice_floor, nice_round, pct

    assert nice_round(0.0033) == 0.003
    assert nice_round(0.45) == 0.5
    assert nice_round(1.0 / 3.0 * 0.1) == 0.03
    assert nice_floor(0.4) == 0.3  # "about 3x lower" never rounds up towards the bad LR
    assert nice_floor(0.05) == 0.05
    assert fmt_step(2000) == "2,000"
    assert pct(0.123) == "12%"
    assert pct(0.997) == "99.7%" and pct(0.99997) == "99.997%"  # never "100%" short of it
    assert pct(1.58) == "158%" and pct(-0.5) == "-50%"


# ---- Mann-Kendall on series still autocorrelated after thinning ---------------------------


def _ar1_filter(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    from scipy.signal import lfilter

    e = rng.normal(0.0, sd, n)
    e[0] /= math.sqrt(1.0 - phi * phi)  # start in the stationary distribution
    return lfilter([1.0], [1.0, -phi], e)


def test_mk_variance_factor_hamed_rao():
    assert mk_variance_factor(23, 0.0) == 1.0 and mk_variance_factor(23, -0.3) == 1.0
    assert mk_variance_factor(23, 0.5) == pytest.approx(2.46, abs=0.01)
    assert mk_variance_factor(23, 0.9) > mk_variance_factor(23, 0.5) > mk_variance_factor(23, 0.2) > 1.0
    # the corrected z shrinks by the square root of the factor
    y = np.arange(23.0)
    z0, _ = mann_kendall(y)
    z1, p1 = mann_kendall(y, 0.5)
    assert z1 == pytest.approx(z0 / math.sqrt(2.4647), rel=1e-3) and p1 > mann_kendall(y)[1]


def test_block_autocorr_of_ar1_block_means():
    assert block_autocorr(0.5, 1) == 0.5 and block_autocorr(0.0, 16) == 0.0
    assert block_autocorr(0.94, 16) == pytest.approx(0.545, abs=0.005)
    rng = np.random.default_rng(11)
    x = _ar1_filter(rng, 400_000, 0.9, 1.0)
    means = x.reshape(-1, 8).mean(axis=1)
    assert lag1_autocorr(means) == pytest.approx(block_autocorr(0.9, 8), abs=0.02)


def test_smooth_trend_tells_curvature_from_noise():
    x = np.arange(23.0)
    assert smooth_trend(np.log10(0.3 + 2.0 * np.exp(-x / 3.0)))
    assert not smooth_trend(np.random.default_rng(3).normal(size=23))


def test_smooth_trend_cut_off_comes_from_the_config():
    from gradlog.analyzers.config import DEFAULT_CONFIG

    x = np.arange(23.0)
    curve = np.log10(0.3 + 2.0 * np.exp(-x / 3.0))  # bias-corrected difference lag-1 about 1.12
    assert DEFAULT_CONFIG.trend_smooth_min_autocorr == 0.5
    assert smooth_trend(curve, DEFAULT_CONFIG.trend_smooth_min_autocorr)
    assert not smooth_trend(curve, 1.2)


def test_fit_trend_on_very_persistent_noise_keeps_its_false_positive_rate():
    # stationary AR(1) with phi = 0.995 (about 5 independent points in 1,800): the thinning
    # stops at ~22 points whose residuals are still autocorrelated; uncorrected, 10 of these
    # 40 trendless series gave p < 0.01
    hits = 0
    for seed in range(40):
        y = _ar1_filter(np.random.default_rng(1000 + seed), 1800, 0.995, 0.05)
        fit = fit_trend(
            np.arange(1800) / 1000.0, y, max_bins=400, min_points=12, level_fraction=0.1, level_min_points=3
        )
        hits += fit.p_value < 0.01
    assert hits <= 2


def test_smooth_exponential_decay_keeps_a_tiny_p_value():
    rng = np.random.default_rng(1)
    t = np.arange(3000.0)
    y = np.log10((0.3 + 2.0 * np.exp(-t / 400.0)) * np.exp(rng.normal(0.0, 0.1, t.size)))
    fit = fit_trend(t / 1000.0, y, max_bins=400, min_points=12, level_fraction=0.1, level_min_points=3)
    assert fit.autocorr == 0.0 and fit.p_value < 1e-6 and fit.direction(0.05) == "falling"


@pytest.mark.parametrize("shape", [(5, 1), (5, 2), (7, 3), (100, 62), (100, 61)])
def test_row_medians_equal_numpys(shape):
    from gradlog.analyzers.stats import row_medians

    a = np.random.default_rng(0).normal(size=shape)
    a[0, 0] = a[0, -1]  # ties
    np.testing.assert_allclose(row_medians(a), np.median(a, axis=1))
    a[1, 0] = np.nan
    assert np.isnan(row_medians(a)[1]) and not np.isnan(row_medians(a)[2])
