"""Where a loss stopped improving within a window of steps (shared by the plateau and
LR-limited-plateau detectors)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gradlog.analyzers.config import AnalysisConfig
from gradlog.analyzers.context import SeriesData
from gradlog.analyzers.stats import bin_medians, pow10, robust_sd, running_median, theil_sen

__all__ = ["Plateau", "plateau_of"]


@dataclass(frozen=True)
class Plateau:
    """The flat tail of a window.

    Attributes
    ----------
    start_step, end_step : from where the smoothed level stays in the band, to the last step.
    start_level, end_level : smoothed level at the start, robust level at the end (units).
    improvement_since : relative decrease from start_level to end_level (may be < 0).
    improvement_before : relative decrease from the window's first level to start_level.
    fraction : (end_step - start_step) / (window's last - first step).
    band : the relative band used (after widening for noise).
    trend_drop : relative decrease the Theil-Sen line over the tail projects across it.
    slope, slope_low, slope_high : that line's slope (analysis units per 1,000 steps).
    n : finite points in the tail.
    above_best : how far the end level is above the lowest smoothed level (relative); a
        tail well above the best level is a loss that rose, not one that stopped improving.
    """

    start_step: int
    end_step: int
    start_level: float
    end_level: float
    improvement_since: float
    improvement_before: float
    fraction: float
    band: float
    trend_drop: float
    slope: float
    slope_low: float
    slope_high: float
    n: int
    above_best: float


def plateau_of(
    d: SeriesData, lo: float, hi: float, config: AnalysisConfig, min_points: int | None = None
) -> Plateau | None:
    """Return the flat tail of the finite points of ``d`` in ``[lo, hi]``.

    The window is binned (medians of about 10 points, at most ``config.max_bins`` bins)
    and smoothed with a running median over a tenth of the bins; the tail starts at the
    earliest bin after which the smoothed level stays within ``config.plateau_band``
    (relative; widened to three standard errors of the smoothed level when that is
    larger) of the robust end level.

    Returns
    -------
    Plateau, or None for fewer than ``min_points`` (default ``config.min_loss_points``) points.
    """
    steps, y = d.window(lo, hi)
    need = config.min_loss_points if min_points is None else min_points
    if len(y) < need or steps[-1] == steps[0]:
        return None
    # medians of ~10 points per bin (fewer for short series), then a running median over
    # a tenth of the bins: a level estimate whose noise is small next to the band
    nb = min(
        config.max_bins, max(len(y) // config.plateau_points_per_bin, min(len(y), config.plateau_min_bins))
    )
    xb, yb = bin_medians(steps.astype(float), y, nb)
    w = max(config.min_median_window, (len(yb) // config.plateau_smooth_div) | 1)
    sm = running_median(yb, w)
    k = max(config.level_min_points, int(round(config.level_fraction * len(y))))
    end_level = float(np.median(y[-k:]))
    start_level0 = float(np.median(y[:k]))
    # standard error of the smoothed level (a median of w bins); the band is never
    # narrower than 3 of them, so noise alone does not end a plateau
    noise = 1.2533 * robust_sd(yb - sm) / math.sqrt(w)
    if d.positive:
        band = max(math.log10(1.0 + config.plateau_band), config.plateau_band_se * noise)
    else:
        scale = float(np.ptp(sm)) or 1.0
        band = max(config.plateau_band * scale, config.plateau_band_se * noise)
    inside = np.abs(sm - end_level) <= band
    ok_from = np.flip(np.cumprod(np.flip(inside)))
    idx = np.flatnonzero(ok_from)
    if idx.size == 0:
        return None
    i = int(idx[0])
    # the first raw step of the starting bin
    if i == 0:
        start_step = int(steps[0])
    else:
        start_step = int(steps[int(np.searchsorted(steps, 0.5 * (xb[i - 1] + xb[i]), side="left"))])
    tail = steps >= start_step
    ts, ty = steps[tail], y[tail]
    slope = lo_s = hi_s = math.nan
    trend_drop = math.nan
    if len(ty) >= config.trend_run_min_points and ts[-1] > ts[0]:
        xb2, yb2 = bin_medians((ts - ts[0]) / 1000.0, ty, config.max_bins)
        slope, _ic, lo_s, hi_s = theil_sen(xb2, yb2)
        span = (ts[-1] - ts[0]) / 1000.0
        if d.positive:
            trend_drop = 1.0 - pow10(slope * span)
        else:
            trend_drop = -slope * span / (abs(end_level) or 1.0)
    sv, ev, fv = d.to_value(float(sm[i])), d.to_value(end_level), d.to_value(start_level0)
    best = d.to_value(float(np.min(sm)))
    if d.positive:
        above = ev / best - 1.0
        since = (sv - ev) / sv
        before = (fv - sv) / fv
        band_rel = pow10(band) - 1.0
    else:
        scale = float(np.ptp(sm)) or 1.0
        since = (sv - ev) / scale
        before = (fv - sv) / scale
        band_rel = band / scale
        above = (ev - best) / scale
    total = float(steps[-1] - steps[0])
    return Plateau(
        start_step=start_step,
        end_step=int(steps[-1]),
        start_level=sv,
        end_level=ev,
        improvement_since=float(since),
        improvement_before=float(before),
        fraction=float((steps[-1] - start_step) / total) if total > 0 else 0.0,
        band=float(band_rel),
        trend_drop=float(trend_drop),
        slope=float(slope),
        slope_low=float(lo_s),
        slope_high=float(hi_s),
        n=int(len(ty)),
        above_best=float(above),
    )
