"""Overfitting: the validation loss rose from its minimum while the training loss kept falling."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import SeriesData, require_loss, require_role, series_data
from gradlog.analyzers.divergence import divergence_info
from gradlog.analyzers.stats import pow10, robust_sd, running_median
from gradlog.findings import Finding
from gradlog.run import Run
from gradlog.wording import fmt_num, fmt_step, pct

__all__ = ["metric_since", "detect_overfitting"]

# Validation metrics where higher is better / lower is better (by name); others are not
# interpreted.
_HIGHER_BETTER = (
    "acc",
    "top",
    "map",
    "f1",
    "auc",
    "precision",
    "recall",
    "iou",
    "dice",
    "bleu",
    "rouge",
    "r2",
)
_LOWER_BETTER = ("wer", "cer", "err", "mae", "mse", "rmse", "perplexity", "ppl")


def metric_since(
    run: Run, start: int, stop: float, config: AnalysisConfig = DEFAULT_CONFIG
) -> dict[str, Any] | None:
    """How the validation metric moved from ``start`` to the end (before ``stop``).

    Returns ``{"tag", "at_min", "end", "improved"}`` (``improved``: the end level is
    better than the level at ``start`` by ``config.metric_improve_z`` standard errors of
    the metric's own noise), or None when the run has no interpretable metric (or fewer
    than ``config.metric_min_points`` evaluations in the span).
    """
    tag = run.roles.get("val_metric")
    if not tag or tag not in run:
        return None
    name = tag.rsplit("/", 1)[-1].lower().replace("_", "").replace("-", "")
    if any(w in name for w in _LOWER_BETTER):
        sign = -1.0
    elif any(w in name for w in _HIGHER_BETTER):
        sign = 1.0
    else:
        return None
    m = series_data(run, tag)
    keep = (m.fsteps >= start) & (m.fsteps <= stop)
    vals = m.fvalues[keep]
    if vals.size < config.metric_min_points:
        return None
    k = max(2, int(round(config.metric_level_fraction * vals.size)))
    at_min, end = float(np.median(vals[:k])), float(np.median(vals[-k:]))
    noise = robust_sd(np.diff(vals)) / math.sqrt(2.0) if vals.size >= config.noise_min_points else 0.0
    se = noise * math.sqrt(2.0 / k)
    improved = sign * (end - at_min) > max(config.metric_improve_z * se, 1e-12)
    return {"tag": tag, "at_min": at_min, "end": end, "improved": bool(improved)}


def detect_overfitting(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect a validation loss that rose from its minimum while the training loss fell.

    The minimum is taken on the validation loss smoothed by a 3-point running median (one
    lucky evaluation does not set it); the end level is the median of the last points
    after it. The rise must be at least ``config.overfit_min_rise`` (relative) and
    ``config.overfit_z`` noise SDs, with at least ``config.val_after_min_points``
    evaluations after the minimum, and the training loss must have fallen by
    ``config.overfit_train_min_fall`` meanwhile.

    Returns
    -------
    list with at most one ``overfitting`` Finding (warning); evidence ``val_min_step``,
    ``val_min`` (the smoothed minimum), ``val_min_raw`` (the evaluation at that step),
    ``val_lowest`` / ``val_lowest_step`` (the lowest single evaluation), ``val_last``.

    Raises
    ------
    NotAssessable
        When the run has no training loss or no validation loss.
    """
    d = require_loss(run, "overfitting", min_points=config.overfit_min_loss_points)
    v = require_role(run, "val_loss", "overfitting")
    div = divergence_info(run, config)
    stop = float(div["begin_step"]) if div is not None else math.inf
    keep = v.fsteps <= stop
    vs, vy = v.fsteps[keep], v.y[keep]
    rise = _val_rise(vy, v.positive, config)
    if rise is None:
        return []
    i_min, after, min_level, last_level, rel_rise, z = rise
    min_step = int(vs[i_min])
    # the training loss over the same span: it must not have risen
    train = _train_change(d, vs, min_step, stop, config)
    if train is None:
        return []
    t_at, t_end, train_change = train
    vmin_raw = float(v.fvalues[keep][i_min])
    vlast = float(v.fvalues[keep][-1])
    # the lowest single evaluation (the minimum above is of the smoothed curve)
    i_low = int(np.argmin(vy))
    low_raw, low_step = float(v.fvalues[keep][i_low]), int(vs[i_low])
    ev: dict[str, Any] = {
        "val_min_step": min_step,
        "val_min": v.to_value(min_level),
        "val_min_raw": vmin_raw,
        "val_lowest": low_raw,
        "val_lowest_step": low_step,
        "val_last": vlast,
        "val_end_level": v.to_value(last_level),
        "rise": rel_rise,
        "z": z,
        "evaluations_after_min": after,
        "train_loss_at_val_min": d.to_value(t_at),
        "train_loss_end": d.to_value(t_end),
        "train_change_since": train_change,
    }
    metric = metric_since(run, min_step, stop, config)
    if metric is not None:
        ev["val_metric"] = metric["tag"]
        ev["val_metric_at_min"] = metric["at_min"]
        ev["val_metric_end"] = metric["end"]
        ev["val_metric_still_improving"] = metric["improved"]
    still = metric is not None and metric["improved"]
    last_step = int(vs[-1])
    summary, expl, rec = _overfit_texts(ev, metric, last_step)
    # a loss-only rise while the metric improves is overfitting of confidence only
    confidence = min(
        config.confidence_max, config.overfit_confidence_base + config.overfit_confidence_per_z * z
    )
    confidence *= config.overfit_confidence_calibration if still else 1.0
    return [
        Finding(
            id="overfitting",
            severity="warning",
            summary=summary,
            tags=(v.tag, d.tag),
            step_range=(min_step, last_step),
            confidence=confidence,
            evidence=ev,
            explanation=expl,
            recommendation=rec,
            references=("Goodfellow, Bengio & Courville, Deep Learning (2016), §7.8 (early stopping)",),
        )
    ]


def _val_rise(
    vy: np.ndarray, positive: bool, config: AnalysisConfig
) -> tuple[int, int, float, float, float, float] | None:
    """Return ``(i_min, evaluations after it, smoothed minimum, end level, relative rise,
    z)`` of the validation loss ``vy`` (analysis space), or None when it did not rise by
    ``config.overfit_min_rise`` and ``config.overfit_z`` noise SDs over at least
    ``config.val_after_min_points`` evaluations."""
    n = len(vy)
    if n < config.val_after_min_points + 1:
        return None
    if n >= config.overfit_smooth_min_points:
        sm = running_median(vy, config.min_median_window)
        # at the ends a 3-point median would discard the first/last evaluation outright
        sm[0], sm[-1] = 0.5 * (vy[0] + vy[1]), 0.5 * (vy[-1] + vy[-2])
    else:
        sm = vy
    i_min = int(np.argmin(sm))
    after = n - 1 - i_min
    if after < config.val_after_min_points:
        return None
    k = min(after, max(config.overfit_end_min_points, int(round(config.overfit_end_fraction * n))))
    last_level = float(np.median(vy[-k:]))
    min_level = float(sm[i_min])
    sigma = robust_sd(np.diff(vy)) / math.sqrt(2.0) if n >= config.noise_min_points else 0.0
    rise = last_level - min_level
    # the SE of the end level (k points) and of the smoothed minimum (a 3-point median)
    se = sigma * math.sqrt(1.0 / k + 1.0 / config.min_median_window)
    z = rise / se if se > 0 else (math.inf if rise > 0 else 0.0)
    if positive:
        rel_rise = pow10(rise) - 1.0
    else:
        rel_rise = rise / (abs(min_level) or 1.0)
    if rel_rise < config.overfit_min_rise or z < config.overfit_z:
        return None
    return i_min, after, min_level, last_level, rel_rise, z


def _train_change(
    d: SeriesData, vs: np.ndarray, min_step: int, stop: float, config: AnalysisConfig
) -> tuple[float, float, float] | None:
    """Return ``(level at the validation minimum, end level, relative change)`` of the
    training loss (analysis space), or None when it did not fall by
    ``config.overfit_train_min_fall`` (or has no points in a window)."""
    span = vs[-1] - vs[0]
    w = config.overfit_train_window
    ts, ty = d.window(min_step - w * span, min_step + w * span)
    te_s, te_y = d.window(vs[-1] - config.overfit_train_end_window * span, stop)
    if len(ty) == 0 or len(te_y) == 0:
        return None
    t_at = float(np.median(ty))
    t_end = float(np.median(te_y))
    if d.positive:
        train_change = pow10(t_end - t_at) - 1.0
    else:
        train_change = (t_end - t_at) / (abs(t_at) or 1.0)
    if train_change > -config.overfit_train_min_fall:
        return None
    return t_at, t_end, train_change


def _overfit_texts(ev: dict[str, Any], metric: dict[str, Any] | None, last_step: int) -> tuple[str, str, str]:
    """Return (summary, explanation, recommendation) of an ``overfitting`` finding."""
    still = metric is not None and metric["improved"]
    min_step, low_raw, low_step = ev["val_min_step"], ev["val_lowest"], ev["val_lowest_step"]
    rel_rise, z, after = ev["rise"], ev["z"], ev["evaluations_after_min"]
    train_change = ev["train_change_since"]
    smoothed = fmt_num(ev["val_min"])
    lowest = (
        f"; lowest evaluation {fmt_num(low_raw)} at step {fmt_step(low_step)}"
        if fmt_num(low_raw) != smoothed
        else ""
    )
    summary = (
        f"Overfitting: the validation loss was lowest around step {fmt_step(min_step)} "
        f"({smoothed} smoothed{lowest}) and rose {pct(rel_rise)} to {fmt_num(ev['val_end_level'])} "
        f"by step {fmt_step(last_step)}, while the training loss " + f"fell {pct(-train_change)}."
    )
    expl = (
        "The model kept fitting the training set after it stopped generalising: the training loss "
        "went on falling while the loss on held-out data rose from its minimum (a rise of "
        f"{z:.1f} noise SDs of the validation curve, over {after} evaluations). The steps after the "
        "minimum made the model worse on new data."
    )
    rec = (
        f"Keep the checkpoint from around step {fmt_step(min_step)} (early stopping with a patience of "
        f"a few evaluations would have stopped there). To train longer usefully, regularise more "
        "(weight decay, dropout, data augmentation), use more data, or a smaller model."
    )
    if still:
        assert metric is not None
        mname = metric["tag"]
        summary += f" Yet {mname} still improved ({fmt_num(metric['at_min'])} → {fmt_num(metric['end'])})."
        expl += (
            f" But the validation metric {mname} kept improving over the same steps: the "
            "held-out loss rose because the model grew over-confident on the examples it still "
            "gets wrong (worse calibration), not because it makes more errors. Stopping at the "
            "loss minimum would have cost accuracy."
        )
        rec = (
            f"Choose the checkpoint by {mname}, not by the validation loss (early stopping on the "
            f"loss would stop at step {fmt_step(min_step)}, before the metric's best). If calibrated "
            "probabilities matter, add label smoothing or temperature scaling; more regularisation "
            "(weight decay, dropout, augmentation) addresses both."
        )
    return summary, expl, rec
