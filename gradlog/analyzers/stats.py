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
    "mk_variance_factor",
    "residual_autocorr",
    "block_autocorr",
    "smooth_trend",
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
    "pow10",
    "log_ratio",
]

_MAD_TO_SD = 1.4826
# 10**x overflows a float above this exponent (and underflows to 0 below -324).
_MAX_EXP10 = math.log10(np.finfo(float).max)


def pow10(x: float) -> float:
    """Return ``10 ** x`` as a float that never raises: inf above the float range, 0.0
    below it, NaN for NaN (an analysis-space level back in the series' units)."""
    x = float(x)
    if math.isnan(x):
        return math.nan
    if x > _MAX_EXP10:
        return math.inf
    if x < -330.0:
        return 0.0
    return float(10.0**x)


def log_ratio(num: float, den: float) -> float:
    """Return ``ln(num / den)`` for two positive numbers without overflow (NaN unless both
    are positive and finite)."""
    num, den = float(num), float(den)
    if not (num > 0 and den > 0 and math.isfinite(num) and math.isfinite(den)):
        return math.nan
    return math.log(num) - math.log(den)


def row_medians(a: np.ndarray) -> np.ndarray:
    """Return the median of each row of the 2-D array ``a`` (``np.median(a, axis=1)``).

    One partition at the upper middle, and the lower middle of an even row as the
    largest element below it: numpy's median partitions at two positions, which costs
    several times more on long arrays of short rows. Rows holding a NaN give NaN.
    """
    k = a.shape[1]
    if k == 0 or a.shape[0] == 0:
        return np.median(a, axis=1)
    h = k // 2
    p = np.partition(a, h, axis=1)
    med = p[:, h]
    if k % 2 == 0:
        med = 0.5 * (med + p[:, :h].max(axis=1))
    bad = np.isnan(a).any(axis=1)
    if bad.any():
        med = np.where(bad, np.nan, med)
    return med


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
    yb = row_medians(np.asarray(y[:m], dtype=float).reshape(-1, size))
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


def mk_variance_factor(n: int, rho: float) -> float:
    """Return the factor ``n / n*`` by which lag-1 autocorrelation ``rho`` inflates the
    variance of the Mann-Kendall statistic of ``n`` points (1.0 for ``rho <= 0``).

    Hamed & Rao (1998, J. Hydrology 204:182-196): ``n/n* = 1 + 2/(n(n-1)(n-2)) *
    sum_k (n-k)(n-k-1)(n-k-2) rho_s(k)``, with the rank autocorrelations of an AR(1)
    series, ``rho_s(k) = (6/pi) arcsin(rho**k / 2)``.
    """
    if n < 4 or not math.isfinite(rho) or rho <= 0:
        return 1.0
    rho = min(rho, 0.95)
    k = np.arange(1, n - 2, dtype=float)
    rs = (6.0 / math.pi) * np.arcsin(rho**k / 2.0)
    w = (n - k) * (n - k - 1) * (n - k - 2)
    return float(1.0 + 2.0 * np.sum(w * rs) / (n * (n - 1) * (n - 2)))


def residual_autocorr(x: np.ndarray, y: np.ndarray) -> float:
    """Return the lag-1 autocorrelation of the residuals of ``y`` about a quadratic in
    ``x``, bias-corrected for a short series (``(n r + 1) / (n - 4)``, Kendall's
    first-order bias of an AR(1) estimate); NaN for fewer than 8 points."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n < 8 or np.ptp(x) == 0 or not np.all(np.isfinite(y)):
        return math.nan
    xs = (x - x.mean()) / np.ptp(x)
    with np.errstate(all="ignore"):
        r = lag1_autocorr(y - np.polyval(np.polyfit(xs, y, 2), xs))
    if not math.isfinite(r):
        return math.nan
    return float(min(0.99, (n * r + 1.0) / (n - 4.0)))


def smooth_trend(y: np.ndarray, min_autocorr: float = 0.5) -> bool:
    """Return True when the point-to-point changes of ``y`` move together (lag-1
    autocorrelation of the first differences, bias-corrected, at least ``min_autocorr``;
    ``AnalysisConfig.trend_smooth_min_autocorr``).

    Noise about any linear trend gives differences that alternate (``-(1 - rho) / 2``
    for AR(1) noise of lag-1 ``rho``); a smooth curve (an exponential decay) gives
    differences that follow each other (about 0.8 on a thinned exponential decay): its
    wiggles about a straight line or quadratic are the trend's own curvature, not
    persistent noise. Even random-walk noise gives about 0, and 0.5 is 2.4 SDs above
    that on 22 points.
    """
    y = np.asarray(y, dtype=float)
    if len(y) < 8:
        return False
    r_d = lag1_autocorr(np.diff(y))
    n = len(y) - 1
    return math.isfinite(r_d) and (n * r_d + 1.0) / (n - 4.0) >= min_autocorr


def block_autocorr(phi: float, m: int) -> float:
    """Return the lag-1 autocorrelation of the means of consecutive blocks of ``m`` points
    of an AR(1) series with lag-1 ``phi`` (``phi`` itself for ``m = 1``; 0 for ``phi <= 0``).

    ``phi (1 - phi^m)^2 / (m (1 - phi^2) - 2 phi (1 - phi^m))``: the covariance of
    adjacent block sums over the variance of one.
    """
    if not math.isfinite(phi) or phi <= 0:
        return 0.0
    phi = min(phi, 0.999)
    if m <= 1:
        return float(phi)
    pm = phi**m
    den = m * (1.0 - phi * phi) - 2.0 * phi * (1.0 - pm)
    if den <= 0:
        return float(phi)
    return float(min(phi, phi * (1.0 - pm) ** 2 / den))


def mann_kendall(y: np.ndarray, rho: float = 0.0) -> tuple[float, float]:
    """Return the Mann-Kendall ``(z, p)`` (two-sided, ties corrected) of a series.

    Valid for independent points; for a series whose points are still autocorrelated
    (lag-1 ``rho`` > 0) the variance of the statistic is inflated by
    :func:`mk_variance_factor`, so ``p`` stays valid. ``p`` is 1.0 for fewer than 4 points.
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
    var *= mk_variance_factor(n, rho)
    if var <= 0 or not math.isfinite(var):
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
    (x, y, factor) : the thinned series and how many input points each point merges
        (the residuals may still be autocorrelated when the floor stopped the thinning:
        see :func:`fit_trend`).
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
    (each merging ``thin_factor`` bins), its variance inflated for the lag-1
    autocorrelation ``autocorr`` the thinned residuals still have (0 when none);
    ``start_level``/``end_level`` are robust (median) levels of the first/last part of
    the raw points.
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
    autocorr: float = 0.0

    def significant(self, alpha: float) -> bool:
        """Return True when the trend test rejects "no trend" and the interval excludes 0."""
        return (
            self.p_value < alpha
            and math.isfinite(self.low)
            and math.isfinite(self.high)
            and (self.low > 0 or self.high < 0)
        )

    def direction(self, alpha: float) -> str:
        """Return ``"rising"``, ``"falling"`` or ``"flat"``."""
        if not self.significant(alpha):
            return "flat"
        return "rising" if self.slope > 0 else "falling"


def fit_trend(
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_bins: int,
    min_points: int,
    level_fraction: float,
    level_min_points: int,
    smooth_min_autocorr: float = 0.5,
) -> TrendFit | None:
    """Fit a robust trend to raw points ``(x, y)`` (finite values only).

    The series is binned to ``max_bins`` medians, then thinned until independent
    (:func:`thin_independent`); the Theil-Sen slope, its 95% interval and the
    Mann-Kendall test are computed on the thinned series. The thinned points may still be
    autocorrelated (the thinning's stopping test has little power on a few dozen points,
    and the ``min_points`` floor can stop it): when the series was thinned or hit the
    floor, unless the thinned series is a smooth curve
    (:func:`smooth_trend` with ``smooth_min_autocorr``), the autocorrelation of the bins' residuals
    (:func:`residual_autocorr`) carried to the thinned scale (:func:`block_autocorr`)
    inflates the Mann-Kendall variance (Hamed-Rao, :func:`mk_variance_factor`), so the
    p-value stays valid for autocorrelated training curves.

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
    rho = 0.0
    if factor > 1 or len(yt) // 2 < min_points:
        # thinning stopped at the floor, or when a test on a few dozen points could no
        # longer tell that autocorrelation is left (it has little power there): estimate
        # it on the (many) bins and carry it to the thinned scale
        phi = residual_autocorr(xb, yb)
        if math.isfinite(phi) and not smooth_trend(yt, smooth_min_autocorr):
            rho = block_autocorr(phi, factor)
    z, p = mann_kendall(yt, rho)
    return TrendFit(slope, icpt, lo, hi, p, z, len(y), len(yt), factor, start, end, rho)


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
