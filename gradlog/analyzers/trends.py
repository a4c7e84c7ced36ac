"""Trends of every role-bearing series: whole run and per LR phase.

Each trend is a Theil-Sen slope (per 1,000 steps, of log10(value) for positive
series) with its 95% interval, a Mann-Kendall test on a series thinned until its
points are independent (training curves are strongly autocorrelated, so the test on
the raw points would call almost anything significant), and the fold change between
robust (median) start and end levels.

The direction agrees with the fold change: a significant slope whose sign the levels
contradict (a layer that rose 6x in the first phase and then fell slowly: the slope
falls, the end level is above the start) is ``flat`` (no one direction over the run),
and a series whose levels moved by at least :data:`DECISIVE_FOLD` either way is
``rising``/``falling`` even when the thinned test lacks the power to say so (a loss that
blew up 17x in a few points is not "flat").
"""

from __future__ import annotations

import math

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import cached, phase_windows, phases, schedule, series_data
from gradlog.analyzers.stats import bin_medians, fit_trend
from gradlog.findings import Trend
from gradlog.run import Run

__all__ = ["trend_of", "compute_trends", "role_tags", "DECISIVE_FOLD", "direction_of"]

#: A series whose robust end level is at least this many times its start level (or at
#: most its inverse) rose (fell), whatever the power of the trend test.
#: (``config.trend_decisive_fold`` overrides it when the config has one.)
DECISIVE_FOLD = 2.0


def direction_of(test_direction: str, fold: float, decisive: float = DECISIVE_FOLD) -> str:
    """Return the direction a trend reports: the test's, unless the fold change says
    otherwise.

    ``test_direction`` is ``rising``/``falling``/``flat`` from the trend test; ``fold``
    the robust end / start level (NaN when undefined). Returns ``rising`` or ``falling``
    when the fold change is at least ``decisive`` (at most ``1/decisive``); ``flat`` when
    the test's direction and the fold change point opposite ways; else the test's.
    """
    if not math.isfinite(fold) or fold <= 0:
        return test_direction
    if fold >= decisive:
        return "rising"
    if fold <= 1.0 / decisive:
        return "falling"
    if (test_direction == "rising" and fold < 1.0) or (test_direction == "falling" and fold > 1.0):
        return "flat"
    return test_direction


def role_tags(run: Run) -> list[tuple[str, str]]:
    """Return ``[(tag, role)]`` for every series that plays a role, in a stable order."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for role in ("loss", "val_loss", "val_metric", "lr", "grad_total"):
        tag = run.roles.get(role)
        if tag and tag in run and tag not in seen:
            out.append((tag, role))
            seen.add(tag)
    for tag in run.roles.get("grad") or []:
        if tag in run and tag not in seen:
            out.append((tag, "grad"))
            seen.add(tag)
    return out


def _fine_bins(run: Run, tag: str, config: AnalysisConfig) -> tuple[np.ndarray, np.ndarray]:
    """Medians of the series in ``fine_bins_factor`` x ``max_bins`` equal-count bins
    (cached): long windows are fitted on these instead of re-reading every raw point."""

    def make() -> tuple[np.ndarray, np.ndarray]:
        d = series_data(run, tag)
        return bin_medians(d.fsteps.astype(float), d.y, config.fine_bins_factor * config.max_bins)

    return cached(run, ("fine_bins", tag, config.max_bins, config.fine_bins_factor), make)


def trend_of(
    run: Run,
    tag: str,
    *,
    start: float | None = None,
    end: float | None = None,
    role: str | None = None,
    scope: str = "run",
    config: AnalysisConfig = DEFAULT_CONFIG,
) -> Trend | None:
    """Return the :class:`~gradlog.findings.Trend` of ``tag`` over ``[start, end]`` steps.

    Returns
    -------
    Trend, or None when the window has fewer than ``config.trend_run_min_points`` finite points (or
    ``config.trend_min_points`` for a per-phase scope) or a single step.
    """

    def make() -> Trend | None:
        d = series_data(run, tag)
        lo = -math.inf if start is None else start
        hi = math.inf if end is None else end
        steps, y = d.window(lo, hi)
        need = config.trend_run_min_points if scope == "run" else config.trend_min_points
        if len(y) < need or steps[0] == steps[-1]:
            return None
        s0 = int(steps[0])
        n = len(y)
        fx, fy = _fine_bins(run, tag, config)
        inside = (fx >= steps[0]) & (fx <= steps[-1])
        if n > config.fine_bins_from * config.max_bins and inside.sum() >= config.max_bins:
            # long window: fit on the cached fine bins (medians) inside it
            steps, y = fx[inside], fy[inside]
        fit = fit_trend(
            (steps - s0) / 1000.0,
            y,
            max_bins=config.max_bins,
            min_points=config.mk_min_points,
            level_fraction=config.level_fraction,
            level_min_points=config.level_min_points,
            smooth_min_autocorr=config.trend_smooth_min_autocorr,
        )
        if fit is None:
            return None
        start_level = d.to_value(fit.start_level)
        end_level = d.to_value(fit.end_level)
        if start_level > 0 and end_level > 0:
            fold = end_level / start_level
        else:
            fold = math.nan
        thin = f", each of {fit.thin_factor} bins" if fit.thin_factor > 1 else ""
        if fit.autocorr > 0:
            thin += f", variance corrected for lag-1 autocorrelation {fit.autocorr:.2f}"
        return Trend(
            tag=tag,
            role=role,
            scope=scope,
            step_start=s0,
            step_end=int(steps[-1]),
            n=int(n),
            log_space=d.positive,
            slope=fit.slope,
            slope_low=fit.low,
            slope_high=fit.high,
            intercept=fit.intercept,
            p_value=fit.p_value,
            test=f"Mann-Kendall on {fit.n_test} thinned points{thin}",
            fold_change=fold,
            start_level=start_level,
            end_level=end_level,
            direction=direction_of(
                fit.direction(config.trend_alpha),
                fold,
                float(getattr(config, "trend_decisive_fold", DECISIVE_FOLD)),
            ),
        )

    return cached(run, ("trend", tag, start, end, role, scope, config), make)


def compute_trends(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Trend]:
    """Return the trends of every role-bearing series: the whole run, then each LR phase.

    Per-phase trends are added when the run has at least two LR phases and the series
    has at least ``config.trend_min_points`` finite points in the phase.
    """
    out: list[Trend] = []
    ph = phases(run)
    sched = schedule(run)
    for tag, role in role_tags(run):
        if series_data(run, tag).n < config.trend_run_min_points:
            continue
        t = trend_of(run, tag, role=role, scope="run", config=config)
        if t is not None:
            out.append(t)
        if role != "lr" and sched is not None and sched.continuous and len(sched.segments) >= 2:
            # a continuous schedule: trends over its named stretches (warm-up, constant,
            # decay), not at halvings of the LR
            for g in sched.segments:
                tg = trend_of(
                    run, tag, start=g.start, end=g.end, role=role, scope=f"lr_segment {g.name}", config=config
                )
                if tg is not None:
                    out.append(tg)
        elif len(ph) >= 2 and role != "lr":
            for p, start, end in phase_windows(run):
                tp = trend_of(
                    run, tag, start=start, end=end, role=role, scope=f"lr_phase {p.index}", config=config
                )
                if tp is not None:
                    out.append(tp)
    return out
