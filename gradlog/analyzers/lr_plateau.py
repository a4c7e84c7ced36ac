"""LR-limited plateaus: did the loss drop at an LR decay beyond what its trend and noise
predicted? If so, the level before the decay was set by the learning rate (SGD settles
into a noise floor, or bounces, at a height that scales with the step size), and the
decay could have come as soon as the loss stopped improving.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import (
    NotAssessable,
    SeriesData,
    cached,
    loss_data,
    phases,
    require_loss,
    require_role,
    series_data,
)
from gradlog.analyzers.divergence import divergence_info
from gradlog.analyzers.segments import plateau_of
from gradlog.analyzers.stats import (
    bin_medians,
    lag1_autocorr,
    n_effective,
    pow10,
    robust_sd,
    theil_sen,
)
from gradlog.findings import Finding
from gradlog.run import Run
from gradlog.wording import fmt_lr, fmt_step, pct

__all__ = ["decay_tests", "detect_lr_limited_plateau"]

_REFS = (
    "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.3.1: SGD needs a decreasing "
    "learning rate because the minibatch gradient noise does not vanish at a minimum",
    "He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (the drop of the "
    "training error at each 10x LR decay)",
)


def _step_of(x: float, step: float) -> float:
    """The step a binned x (thousands of steps from ``step``) stands for."""
    return step + 1000.0 * x


def _mean_level(v: np.ndarray) -> tuple[float, float]:
    """Return the mean of ``v`` and its standard error, the lag-1 autocorrelation
    counted (``sd / sqrt(n_eff)``); ``(nan, inf)`` for fewer than 2 finite points."""
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return math.nan, math.inf
    rho = lag1_autocorr(v)
    return float(v.mean()), float(v.std(ddof=1)) / math.sqrt(n_effective(len(v), rho))


def _mean_test(
    before: np.ndarray, after: np.ndarray, pred: float, pred_se: float
) -> tuple[float, float, float, float] | None:
    """The level test on window MEANS of a positive loss (``before``/``after`` in log10).

    Each logged minibatch loss is an unbiased estimate of the full-data loss at its step
    (the batch is drawn independently of the weights), so a window mean estimates the
    mean full-data loss, the excursions of a bouncing iterate included: the level a step
    size sets. A median drops those excursions; it is the better estimator under
    heavy-tailed minibatch noise, so both are computed and the stronger evidence is
    kept. ``pred`` (log10) is the trend's predicted change, ``pred_se`` its error.

    Returns ``(observed, predicted, beyond, z)`` (drops as fractions), or None when a
    window has fewer than 2 finite points.
    """
    if len(before) < 2 or len(after) < 2:
        return None
    # in units of the largest value: the ratio of the means is unchanged, and a loss
    # near 1e300 does not overflow its squares
    top = max(float(before.max()), float(after.max()))
    mb, sb = _mean_level(np.power(10.0, before - top))
    ma, sa = _mean_level(np.power(10.0, after - top))
    if not (mb > 0 and ma > 0 and math.isfinite(sb) and math.isfinite(sa)):
        return None
    ln10 = math.log(10.0)
    ln_obs, ln_pred = math.log(ma / mb), pred * ln10
    se = math.sqrt((sb / mb) ** 2 + (sa / ma) ** 2 + (pred_se * ln10) ** 2)
    ln_excess = ln_pred - ln_obs  # > 0: dropped more than the trend predicted
    z = ln_excess / se if se > 0 else (math.inf if ln_excess > 0 else 0.0)
    return 1.0 - math.exp(ln_obs), 1.0 - math.exp(ln_pred), 1.0 - math.exp(-ln_excess), z


def _median_se(r: np.ndarray) -> float:
    """Standard error of the median of autocorrelated residuals ``r``."""
    if len(r) < 3:
        return math.inf
    s = robust_sd(r)
    rho = lag1_autocorr(r)
    return 1.2533 * s / math.sqrt(n_effective(len(r), rho))


def _test_decay(
    d: SeriesData, prev_start: float, step: float, next_end: float, config: AnalysisConfig
) -> dict[str, Any] | None:
    # before: the last part of the previous phase (at least its last 4 points)
    span = step - prev_start
    pre_lo = step - config.decay_window_fraction * span
    ps, py = d.window(pre_lo, step - 1)
    if len(py) < config.decay_min_pre_points:
        ps, py = d.window(prev_start, step - 1)
        ps, py = ps[-config.decay_min_pre_points :], py[-config.decay_min_pre_points :]
    # after: the second half of a window as long as the one before (within the next
    # phase), past the relaxation to the new level (at least 3 points)
    h = min(config.decay_window_fraction * span, next_end - step)
    qs, qy = d.window(step + 0.5 * h, step + h)
    if len(qy) < config.decay_min_post_points:
        qs, qy = d.window(step, next_end)
        qs, qy = qs[: config.decay_min_post_points], qy[: config.decay_min_post_points]
    if len(py) < 3 or len(qy) < 2:
        return None
    xb, yb = bin_medians((ps - step) / 1000.0, py, config.max_bins)
    slope, icpt, lo, hi = theil_sen(xb, yb)
    if not math.isfinite(slope):
        return None
    res_pre = yb - (icpt + slope * xb)
    slope_se = (hi - lo) / 3.92 if math.isfinite(hi - lo) else 0.0
    flat = not (lo > 0 or hi < 0)
    if flat:
        # a slope its own interval cannot tell from zero is not extrapolated: the level
        # before the decay is taken as flat (and known only to its noise)
        slope, slope_se = 0.0, 0.0
    pre_span = float(xb[-1] - xb[0])
    pre_fall = 1.0 - pow10(slope * pre_span) if d.positive else -slope * pre_span / (abs(icpt) or 1.0)
    # the level the decay is compared with: the last third of the window, or all of it
    # when the window is flat (every point then measures the same level)
    tail = np.ones(len(xb), dtype=bool) if flat else xb >= xb[0] + config.decay_tail_from * (xb[-1] - xb[0])
    qb_x, qb_y = bin_medians((qs - step) / 1000.0, qy, config.max_bins)
    x_tail = float(np.median(xb[tail]))
    y_tail = float(np.median(yb[tail]))
    x_post = float(np.median(qb_x))
    y_post = float(np.median(qb_y))
    if len(qb_y) >= config.decay_post_fit_min_points:
        ps_, pi_, _l, _h = theil_sen(qb_x, qb_y)
        res_post = qb_y - (pi_ + ps_ * qb_x) if math.isfinite(ps_) else qb_y - y_post
    else:
        res_post = qb_y - y_post
    dx = x_post - x_tail
    # a falling trend is extrapolated; a rising (noisy, flat) one is held at its level
    pred = min(slope, 0.0) * dx
    # The median level test (the original): robust to heavy-tailed minibatch noise.
    obs = y_post - y_tail
    # hypot: the squares of errors of a series near 1e160 would overflow
    se = math.hypot(_median_se(res_pre[tail]), _median_se(res_post), slope_se * dx)
    excess = pred - obs  # > 0: dropped more than the trend predicted
    z = excess / se if se > 0 else (math.inf if excess > 0 else 0.0)
    level = "median"
    if d.positive:
        rel = lambda v: 1.0 - pow10(-v)  # noqa: E731 - drop as a fraction
        observed, predicted, beyond = rel(-obs), rel(-pred), rel(excess)
        pre_tail = py[ps >= _step_of(xb[tail][0], step)]
        mean_test = (
            _mean_test(pre_tail, qy, pred, slope_se * dx)
            if min(len(pre_tail), len(qy)) >= config.decay_mean_min_points
            else None
        )

        def strong(r: tuple[float, float, float, float]) -> tuple[bool, float]:
            return (r[3] >= config.decay_z_min and r[2] >= config.decay_min_drop, r[3])

        # the evidence kept is the test that clears the thresholds (either estimator is
        # a valid level), else the one with the larger z
        if mean_test is not None and strong(mean_test) > strong((observed, predicted, beyond, z)):
            observed, predicted, beyond, z = mean_test
            level = "mean"
    else:
        scale = abs(y_tail) or 1.0
        observed, predicted, beyond = -obs / scale, -pred / scale, excess / scale
    # The resolution the values were logged at (a loss printed with 4 decimals moves in
    # steps of 1e-4): a change of the level by less than two of those steps is rounding,
    # whatever its relative size (0.0002 -> 0.0001 is "50%").
    inw = (d.fsteps >= ps[0]) & (d.fsteps <= qs[-1])
    levels = np.unique(d.fvalues[inw])
    gaps = np.diff(levels)
    resolution = float(gaps.min()) if gaps.size else 0.0
    change = abs(d.to_value(y_post) - d.to_value(y_tail))
    return {
        "step": int(step),
        "pre_trend_fall": float(pre_fall),
        "observed_drop": float(observed),
        "predicted_drop": float(predicted),
        "drop_beyond_trend": float(beyond),
        "z": float(z),
        "level": level,
        "window_before": [int(ps[0]), int(ps[-1])],
        "window_after": [int(qs[0]), int(qs[-1])],
        "resolution": resolution,
        "below_resolution": bool(resolution > 0 and change < 2.0 * resolution),
    }


def _val_drop(run: Run, t: dict[str, Any], config: AnalysisConfig) -> float | None:
    """Relative drop of the validation loss between the windows a decay test compared
    (mean after vs mean before), or None without a validation loss logged on both
    sides (``config.decay_val_min_points`` points each)."""
    vtag = run.roles.get("val_loss")
    if not vtag or vtag not in run:
        return None
    v = series_data(run, str(vtag))
    if v.n == 0:
        return None
    b0, b1 = t["window_before"]
    a0, a1 = t["window_after"]
    before = v.fvalues[(v.fsteps >= b0) & (v.fsteps <= b1)]
    after = v.fvalues[(v.fsteps >= a0) & (v.fsteps <= a1)]
    if len(before) < config.decay_val_min_points or len(after) < config.decay_val_min_points:
        return None
    # means, as for the training loss: a bounce of the iterate caught by an evaluation
    # is part of the level the LR set
    lb, la = float(np.mean(before)), float(np.mean(after))
    if not (math.isfinite(lb) and math.isfinite(la)) or lb <= 0:
        return None
    return 1.0 - la / lb


def decay_tests(run: Run, config: AnalysisConfig = DEFAULT_CONFIG) -> list[dict[str, Any]]:
    """Test every LR decay: the observed drop of the loss vs the one its trend predicted.

    Returns
    -------
    list of dicts, one per testable decay: ``step``, ``lr_before``, ``lr_after``,
    ``observed_drop``, ``predicted_drop``, ``drop_beyond_trend`` (relative),
    ``z`` (in standard errors), ``resolution`` (the smallest step between the logged
    values around the decay), ``below_resolution`` (the level moved by less than two of
    those steps: rounding, not a drop), ``limited`` (beyond the thresholds and not below
    the resolution),
    ``plateau_start`` (where the loss stopped improving before the decay: the start of
    the phase's flat tail, or of the flat window the trend was fitted on; None when it
    was not flat) and
    ``steps_saved`` (how much earlier the decay could have come),
    ``val_drop`` (the validation loss's relative drop over the same windows, or None
    when it is not logged on both sides; a validation loss that does not fall vetoes
    ``limited``).
    """

    def make() -> list[dict[str, Any]]:
        d = loss_data(run)
        ph = phases(run)
        if d is None or d.n < config.decay_min_loss_points or len(ph) < 2:
            return []
        div = divergence_info(run, config)
        stop = float(div["begin_step"]) if div is not None else math.inf
        last = float(d.fsteps[-1])
        out: list[dict[str, Any]] = []
        for i in range(1, len(ph)):
            a, b = ph[i - 1], ph[i]
            if not b.lr < a.lr or b.start >= stop:
                continue
            next_end = float(ph[i + 1].start - 1) if i + 1 < len(ph) else last
            next_end = min(next_end, stop)
            prev_start = float(a.start) if i > 1 else float(max(a.start, d.fsteps[0]))
            t = _test_decay(d, prev_start, float(b.start), next_end, config)
            if t is None:
                continue
            t["lr_before"] = a.lr
            t["lr_after"] = b.lr
            t["val_drop"] = _val_drop(run, t, config)
            val_flat = t["val_drop"] is not None and t["val_drop"] < config.decay_val_min_drop
            t["limited"] = bool(
                t["z"] >= config.decay_z_min
                and t["drop_beyond_trend"] >= config.decay_min_drop
                and t["pre_trend_fall"] <= config.decay_pre_max_fall
                and not t["below_resolution"]
                and not val_flat
            )
            p = plateau_of(d, prev_start, b.start - 1, config)
            useful = (
                p is not None
                and p.fraction >= config.plateau_min_fraction
                and p.trend_drop < config.plateau_band
            )
            if useful and p is not None:
                t["plateau_start"] = p.start_step
            elif t["pre_trend_fall"] <= config.decay_pre_max_fall:
                # too noisy to place the start: the fitted window before the decay was flat
                t["plateau_start"] = t["window_before"][0]
            else:
                t["plateau_start"] = None
            t["steps_saved"] = int(b.start - t["plateau_start"]) if t["plateau_start"] is not None else 0
            out.append(t)
        return out

    return cached(run, ("decays", config), make)


def detect_lr_limited_plateau(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect plateaus the learning rate set: the loss dropped sharply right after a decay.

    Returns
    -------
    list with at most one ``lr_limited_plateau`` Finding; evidence ``decay_steps`` (the
    decays after which the loss dropped beyond its trend) and ``decays`` (every tested
    decay: observed vs predicted drop, z, plateau start, steps saved).

    Raises
    ------
    NotAssessable
        When the run has no loss, no LR series, or an LR that never decreases.
    """
    d = require_loss(run, "lr_limited_plateau", min_points=config.min_loss_points)
    require_role(run, "lr", "lr_limited_plateau")
    ph = phases(run)
    if not any(b.lr < a.lr for a, b in zip(ph, ph[1:], strict=False)):
        lr = series_data(run, str(run.roles["lr"]))
        if lr.n >= 2 and float(lr.fvalues[-1]) < 0.5 * float(lr.fvalues.max()):
            raise NotAssessable(
                "lr_limited_plateau",
                "the learning rate decays continuously (no discrete decay to test a drop at)",
            )
        raise NotAssessable(
            "lr_limited_plateau", "the learning rate never decreased, so no decay could be tested"
        )
    tests = decay_tests(run, config)
    if not tests:
        raise NotAssessable(
            "lr_limited_plateau", "no LR decay had enough loss points on both sides to be tested"
        )
    hits = [t for t in tests if t["limited"]]
    if not hits:
        return []
    first = hits[0]
    start = first["plateau_start"] if first["plateau_start"] is not None else first["window_before"][0]
    end = hits[-1]["step"]
    saved = sum(t["steps_saved"] for t in hits)
    span = float(d.fsteps[-1] - d.fsteps[0]) or 1.0
    parts = [
        f"at step {fmt_step(t['step'])} (LR {fmt_lr(t['lr_before'])} → {fmt_lr(t['lr_after'])}) its "
        f"{'mean' if t.get('level') == 'mean' else 'median'} level fell "
        f"{pct(t['observed_drop'])} where its trend predicted {pct(t['predicted_drop'])}"
        for t in hits
    ]
    summary = "The loss plateaued at a level the learning rate set: " + "; ".join(parts) + "."
    expl = (
        "With a fixed learning rate SGD does not settle at the minimum but in a band around it "
        "whose height grows with the step size (the minibatch gradient noise does not vanish at a "
        "minimum, and a step too large for the curvature bounces). A loss that sits flat and then "
        "drops as soon as the LR is cut was held up by the LR, not by the model: the time spent "
        "on the flat part before the decay bought little."
    )
    rec = _decay_earlier_advice(hits, span, config)
    last_phase = ph[-1]
    flat_again: int | None = None
    if tests[-1]["step"] == end and last_phase.start == end:
        p = plateau_of(d, float(last_phase.start), float(d.fsteps[-1]), config)
        if (
            p is not None
            and p.fraction >= config.decay_flat_again_fraction
            and p.trend_drop < config.plateau_band
        ):
            flat_again = int(p.start_step)
            rec += (
                f" The loss is flat again since step {fmt_step(p.start_step)}: one more decay "
                f"(LR {fmt_lr(last_phase.lr)} → {fmt_lr(last_phase.lr / config.lr_decay_factor)}) would likely "
                "lower it further."
            )
    return [
        Finding(
            id="lr_limited_plateau",
            severity="warning" if saved >= config.decay_saved_warning_share * span else "info",
            summary=summary,
            tags=(d.tag,),
            step_range=(int(start), int(end)),
            confidence=min(
                config.confidence_max,
                config.decay_confidence_base
                + config.decay_confidence_per_z * max(t["z"] for t in hits) / config.decay_z_min,
            ),
            evidence={
                "decay_steps": [t["step"] for t in hits],
                "decays": tests,
                "steps_saved": saved,
                "flat_again_since": flat_again,
                "last_step": int(d.fsteps[-1]),
            },
            explanation=expl,
            recommendation=rec,
            references=_REFS,
        )
    ]


def _decay_earlier_advice(hits: list[dict[str, Any]], span: float, config: AnalysisConfig) -> str:
    """Return the advice to decay earlier, at the plateau starts of the decays ``hits``."""
    recs = []
    for t in hits:
        if t["plateau_start"] is not None and t["steps_saved"] > 0:
            recs.append(
                f"decay around step {fmt_step(t['plateau_start'])} instead of "
                f"{fmt_step(t['step'])} (the loss was flat from there on; "
                f"{fmt_step(t['steps_saved'])} steps saved)"
            )
    rec = (
        "Decay the LR as soon as the loss stops improving: " + "; ".join(recs) + "."
        if recs
        else "Decay the LR earlier: the decays lowered the loss at once."
    )
    rec += (
        " A plateau-triggered schedule (ReduceLROnPlateau on the training loss, patience about "
        f"{fmt_step(max(1, int(config.decay_patience_fraction * span)))} steps) does this automatically."
    )
    return rec
