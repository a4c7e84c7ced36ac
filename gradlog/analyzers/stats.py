"""Robust statistics for noisy, autocorrelated training curves.

Everything here works on plain numpy arrays and is O(n) except the pairwise statistics
(Theil-Sen, Mann-Kendall), which are only ever given binned / thinned series of a few
hundred points.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy import stats as sps

__all__ = [
    "TrendFit",
    "bin_medians",
    "theil_sen",
    "mann_kendall",
    "thin_independent",
    "fit_trend",
    "robust_sd",
    "robust_levels",
    "lag1_autocorr",
    "winsorize",
    "running_median",
    "smooth_residuals",
    "highfreq_fraction",
    "residual_lag1_null",
    "n_effective",
    "spearman",
]

_MAD_TO_SD = 1.4826


def bin_medians(x: np.ndarray, y: np.ndarray, max_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce ``(x, y)`` to at most ``max_bins`` equal-count bins.

    Returns
    -------
    (xb, yb) : the mean ``x`` and the median ``y`` of each bin (the input unchanged when
        it already has at most ``max_bins`` points). The remainder of an uneven split
        forms one extra, smaller last bin, so the end of the series is never dropped.
    """
    n = len(y)
    if n <= max_bins:
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    size = int(math.ceil(n / max_bins))
    m = (n // size) * size
    xb = np.asarray(x[:m], dtype=float).reshape(-1, size).mean(axis=1)
    yb = np.median(np.asarray(y[:m], dtype=float).reshape(-1, size), axis=1)
    if m < n:
        xb = np.append(xb, float(np.mean(x[m:])))
        yb = np.append(yb, float(np.median(y[m:])))
    return xb, yb


def theil_sen(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Return the Theil-Sen ``(slope, intercept, low, high)`` of ``y`` on ``x``.

    The intercept is the line's value at ``x = 0``; ``low``/``high`` bound the slope
    with the given confidence (Sen's interval, scipy.stats.theilslopes). NaNs when there
    are fewer than 3 points or ``x`` is constant.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(y) < 3 or np.ptp(x) == 0:
        return (math.nan, math.nan, math.nan, math.nan)
    res = sps.theilslopes(y, x, alpha=confidence)
    slope = float(res[0])
    # Conover's intercept, median(y - slope * x): robust to outliers in y as well
    icpt = float(np.median(y - slope * x))
    return (slope, icpt, float(res[2]), float(res[3]))


def mann_kendall(y: np.ndarray) -> tuple[float, float]:
    """Return the Mann-Kendall ``(z, p)`` (two-sided, ties corrected) of a series.

    Valid for independent points only: give it a thinned series (:func:`thin_independent`).
    ``p`` is 1.0 for fewer than 4 points.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n < 4:
        return (0.0, 1.0)
    iu = np.triu_indices(n, k=1)
    s = float(np.sign(y[iu[1]] - y[iu[0]]).sum())
    _vals, counts = np.unique(y, return_counts=True)
    ties = counts[counts > 1].astype(float)
    var = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18.0
    if var <= 0:
        return (0.0, 1.0)
    if s > 0:
        z = (s - 1.0) / math.sqrt(var)
    elif s < 0:
        z = (s + 1.0) / math.sqrt(var)
    else:
        z = 0.0
    p = float(2.0 * sps.norm.sf(abs(z)))
    return (z, min(1.0, p))


def lag1_autocorr(r: np.ndarray) -> float:
    """Return the lag-1 autocorrelation of ``r`` (NaN for fewer than 4 points or a constant)."""
    r = np.asarray(r, dtype=float)
    if len(r) < 4:
        return math.nan
    d = r - r.mean()
    den = float(np.dot(d, d))
    if den <= 0:
        return math.nan
    return float(np.dot(d[1:], d[:-1]) / den)


def _detrend_ols(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean()
    den = float(np.dot(xc, xc))
    b = float(np.dot(xc, y - y.mean()) / den) if den > 0 else 0.0
    return y - y.mean() - b * xc


def thin_independent(x: np.ndarray, y: np.ndarray, min_points: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Merge adjacent points until the detrended residuals look independent.

    Adjacent pairs are averaged while the lag-1 autocorrelation of the residuals about
    a straight line exceeds its one-sided 5% critical value (1.645/sqrt(n)) and the
    halved series would keep at least ``min_points`` points.

    Returns
    -------
    (x, y, factor) : the thinned series and how many input points each point merges.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    factor = 1
    while len(y) // 2 >= min_points:
        rho = lag1_autocorr(_detrend_ols(x, y))
        if not (rho > 1.645 / math.sqrt(len(y))):
            break
        m = (len(y) // 2) * 2
        x = x[:m].reshape(-1, 2).mean(axis=1)
        y = y[:m].reshape(-1, 2).mean(axis=1)
        factor *= 2
    return x, y, factor


@dataclass(frozen=True)
class TrendFit:
    """A robust trend of one series: Theil-Sen line, its interval, a valid trend test.

    ``slope``/``low``/``high`` are in y units per x unit; ``intercept`` is the value at
    ``x = 0``; ``p_value`` is Mann-Kendall's on the thinned series of ``n_test`` points
    (each merging ``thin_factor`` bins); ``start_level``/``end_level`` are robust
    (median) levels of the first/last part of the raw points.
    """

    slope: float
    intercept: float
    low: float
    high: float
    p_value: float
    z: float
    n: int
    n_test: int
    thin_factor: int
    start_level: float
    end_level: float

    def significant(self, alpha: float) -> bool:
        """Return True when the trend test rejects "no trend" and the interval excludes 0."""
        return (self.p_value < alpha and math.isfinite(self.low) and math.isfinite(self.high)
                and (self.low > 0 or self.high < 0))

    def direction(self, alpha: float) -> str:
        """Return ``"rising"``, ``"falling"`` or ``"flat"``."""
        if not self.significant(alpha):
            return "flat"
        return "rising" if self.slope > 0 else "falling"


def fit_trend(x: np.ndarray, y: np.ndarray, *, max_bins: int, min_points: int,
              level_fraction: float, level_min_points: int) -> TrendFit | None:
    """Fit a robust trend to raw points ``(x, y)`` (finite values only).

    The series is binned to ``max_bins`` medians, then thinned until independent
    (:func:`thin_independent`); the Theil-Sen slope, its 95% interval and the
    Mann-Kendall test are computed on the thinned series, so the interval and the
    p-value are valid for autocorrelated training curves.

    Returns
    -------
    TrendFit, or None for fewer than 4 points or a constant ``x``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(y) < 4 or np.ptp(x) == 0:
        return None
    start, end = robust_levels(y, level_fraction, level_min_points)
    xb, yb = bin_medians(x, y, max_bins)
    xt, yt, factor = thin_independent(xb, yb, min_points)
    slope, icpt, lo, hi = theil_sen(xt, yt)
    z, p = mann_kendall(yt)
    return TrendFit(slope, icpt, lo, hi, p, z, len(y), len(yt), factor, start, end)


def robust_sd(r: np.ndarray) -> float:
    """Return 1.4826 * MAD of ``r`` (the SD for Gaussian data; NaN when empty)."""
    r = np.asarray(r, dtype=float)
    if r.size == 0:
        return math.nan
    return float(_MAD_TO_SD * np.median(np.abs(r - np.median(r))))


def robust_levels(y: np.ndarray, fraction: float, min_points: int) -> tuple[float, float]:
    """Return the medians of the first and last ``fraction`` of ``y`` (at least ``min_points``)."""
    y = np.asarray(y, dtype=float)
    if y.size == 0:
        return (math.nan, math.nan)
    k = max(min_points, int(round(fraction * len(y))))
    k = min(k, len(y))
    return (float(np.median(y[:k])), float(np.median(y[-k:])))


def winsorize(r: np.ndarray, k: float = 5.0) -> np.ndarray:
    """Clip ``r`` at its median +- ``k`` robust SDs (spikes do not dominate moments)."""
    r = np.asarray(r, dtype=float)
    s = robust_sd(r)
    if not math.isfinite(s) or s <= 0:
        return r
    m = float(np.median(r))
    return np.clip(r, m - k * s, m + k * s)


def running_median(y: np.ndarray, window: int) -> np.ndarray:
    """Return the centred running median of ``y`` over ``window`` points (edges mirrored)."""
    y = np.asarray(y, dtype=float)
    w = max(1, int(window))
    if w % 2 == 0:
        w += 1
    if len(y) == 0 or w == 1:
        return y.copy()
    w = min(w, len(y) if len(y) % 2 == 1 else len(y) - 1)
    if w <= 1:
        return y.copy()
    return ndimage.median_filter(y, size=w, mode="mirror")


def smooth_residuals(y: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``y`` into a robust smooth trend and the residuals about it.

    The trend is the running median (``window`` points) of the [1, 2, 1]/4 filtered
    series; that filter cancels an exact period-2 pattern, so an alternating series
    keeps its alternation in the residuals instead of in the trend.

    Returns
    -------
    (trend, residual) arrays of the same length as ``y``.
    """
    y = np.asarray(y, dtype=float)
    if len(y) < 3:
        return y.copy(), np.zeros_like(y)
    f = np.empty_like(y)
    f[1:-1] = 0.25 * y[:-2] + 0.5 * y[1:-1] + 0.25 * y[2:]
    f[0] = 0.5 * (y[0] + y[1])
    f[-1] = 0.5 * (y[-1] + y[-2])
    trend = running_median(f, window)
    return trend, y - trend


@functools.lru_cache(maxsize=64)
def residual_lag1_null(window: int, n: int, reps: int = 200) -> tuple[float, float]:
    """Return the mean and SD of the lag-1 autocorrelation that white noise of ``n``
    points shows after :func:`smooth_residuals` with ``window`` (seeded simulation).

    Detrending makes residuals negatively autocorrelated even for white noise (about
    -0.33 for a 5-point window, -0.07 for 15), so an alternation test must compare
    against this null, not against zero.
    """
    rng = np.random.default_rng(12345)
    n = max(8, min(int(n), 2000))
    vals = [lag1_autocorr(smooth_residuals(rng.normal(size=n), window)[1]) for _ in range(reps)]
    return float(np.mean(vals)), float(np.std(vals))


def highfreq_fraction(r: np.ndarray, fmin: float = 0.35) -> tuple[float, float]:
    """Return the fraction of the variance of ``r`` above ``fmin`` cycles/sample, and the
    frequency (cycles/sample) of the largest periodogram ordinate.

    White noise puts ``(0.5 - fmin) / 0.5`` of its power above ``fmin``; a period-2
    pattern puts almost all of it at 0.5.
    """
    r = np.asarray(r, dtype=float)
    if len(r) < 8:
        return (math.nan, math.nan)
    d = r - r.mean()
    p = np.abs(np.fft.rfft(d)) ** 2
    f = np.fft.rfftfreq(len(d))
    p, f = p[1:], f[1:]
    tot = float(p.sum())
    if tot <= 0:
        return (math.nan, math.nan)
    return (float(p[f > fmin].sum() / tot), float(f[int(np.argmax(p))]))


def n_effective(n: int, rho: float) -> float:
    """Return the effective sample size of ``n`` AR(1)-correlated points (lag-1 ``rho``)."""
    if not math.isfinite(rho) or rho <= 0:
        return float(n)
    rho = min(rho, 0.99)
    return max(1.0, n * (1.0 - rho) / (1.0 + rho))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Return Spearman's rank correlation (NaN for fewer than 3 points)."""
    if len(a) < 3:
        return math.nan
    rho = sps.spearmanr(a, b)[0]
    return float(rho)
