"""Gradient statistics: growth while the loss is flat or falling, and vanishing / exploding
gradients across layers or over time."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import (
    NotAssessable,
    loss_data,
    require_loss,
    series_data,
    statistic_name,
)
from gradlog.analyzers.divergence import divergence_info
from gradlog.analyzers.stats import pow10, spearman
from gradlog.analyzers.trends import trend_of
from gradlog.findings import Finding, Trend
from gradlog.run import Run
from gradlog.wording import fmt_step, pct, times

__all__ = ["grad_tags", "detect_grad_norm_growth", "detect_exploding_gradients", "detect_vanishing_gradients"]

_DIGITS_RE = re.compile(r"\d+")
_GOODFELLOW = (
    "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.2.1 (ill-conditioning: the "
    "gradient norm does not shrink, and often grows, while the gᵀHg term grows; Fig. 8.1)"
)


def grad_tags(run: Run) -> list[str]:
    """Return the gradient-statistic tags of the run (per layer, then the total)."""
    tags = [t for t in (run.roles.get("grad") or []) if t in run]
    tot = run.roles.get("grad_total")
    if tot and tot in run and tot not in tags:
        tags.append(tot)
    return tags


def _layer(tag: str) -> str:
    parts = tag.split("/")
    if parts[0] == "grad_absmean" and len(parts) >= 3:
        return "/".join(parts[1:-1])
    return "/".join(parts[1:]) or tag


def _stop(run: Run, config: AnalysisConfig) -> float:
    div = divergence_info(run, config)
    return float(div["begin_step"]) - 1 if div is not None else math.inf


def _growth_window(run: Run, tag: str, config: AnalysisConfig) -> tuple[float, float | None]:
    g = series_data(run, tag)
    first, last = float(g.fsteps[0]), float(g.fsteps[-1])
    stop = _stop(run, config)
    end = min(last, stop)
    return first + config.grad_skip_fraction * (end - first), (None if stop == math.inf else stop)


def _loss_over(run: Run, start: float, end: float | None, config: AnalysisConfig) -> Trend | None:
    d = loss_data(run)
    if d is None or d.n < config.grad_min_loss_points:
        return None
    return trend_of(run, d.tag, start=start, end=end, scope="grad window", config=config)


def detect_grad_norm_growth(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect gradient statistics that rose over training while the loss was flat or falling.

    For each gradient tag, over the run after its first ``config.grad_skip_fraction``
    (none when the loss diverged): a Theil-Sen slope of log10 with its interval above
    zero, a Mann-Kendall p (thinned series) below ``config.grad_growth_alpha``, and a
    fold change of at least ``config.grad_growth_min_fold``.

    Returns
    -------
    at most one ``grad_norm_growth`` Finding (info; warning when the loss rose too or a
    statistic grew tenfold) listing every tag that rose in ``tags``; evidence
    ``fold_change``, ``slope``, ``slope_ci``, ``p_value`` of the one that rose most and,
    when several rose, ``layers``: one row per tag (fold change, p-value, slope, levels).

    Raises
    ------
    NotAssessable
        When the run has no gradient statistics or no training loss.
    """
    tags = grad_tags(run)
    if not tags:
        raise NotAssessable("grad_norm_growth", "no gradient-norm series in the log")
    require_loss(run, "grad_norm_growth", min_points=config.grad_min_loss_points)
    if divergence_info(run, config) is not None:
        return []  # a diverging run's gradients grow with its loss: see divergence / exploding
    rows: list[tuple[str, Trend, Trend | None, bool]] = []
    for tag in tags:
        g = series_data(run, tag)
        if g.n < config.mk_min_points or not g.positive:
            continue
        start, end = _growth_window(run, tag, config)
        tr = trend_of(run, tag, start=start, end=end, scope="after warm-up", config=config)
        if tr is None or tr.n < config.mk_min_points:
            continue
        if not (
            tr.p_value < config.grad_growth_alpha
            and tr.slope_low > 0
            and tr.fold_change >= config.grad_growth_min_fold
        ):
            continue
        lt = _loss_over(run, tr.step_start, end, config)
        loss_rising = (
            lt is not None and lt.direction == "rising" and lt.fold_change > config.grad_loss_flat_fold
        )
        rows.append((tag, tr, lt, loss_rising))
    if not rows:
        return []
    if len(rows) == 1:
        return [_growth_finding(run, *rows[0], config)]
    return [_grouped_growth(run, rows, config)]


def _grouped_growth(
    run: Run, rows: list[tuple[str, Trend, Trend | None, bool]], config: AnalysisConfig
) -> Finding:
    """One ``grad_norm_growth`` finding for several series that rose for the same cause:
    the per-series numbers go to ``evidence["layers"]``; the top-level numbers are those
    of the series that rose most (so a reader of one series still finds them)."""
    rows = sorted(rows, key=lambda r: -r[1].fold_change)
    findings = [_growth_finding(run, tag, tr, lt, rising, config) for tag, tr, lt, rising in rows]
    top = findings[0]
    layers: list[dict[str, Any]] = [
        {
            "tag": tag,
            "layer": _layer(tag),
            "fold_change": tr.fold_change,
            "p_value": tr.p_value,
            "slope": tr.slope,
            "slope_ci": [tr.slope_low, tr.slope_high],
            "start_level": tr.start_level,
            "end_level": tr.end_level,
            "window": [tr.step_start, tr.step_end],
        }
        for tag, tr, _lt, _r in rows
    ]
    what = statistic_name(rows[0][0])
    first = min(tr.step_start for _t, tr, _l, _r in rows)
    last = max(tr.step_end for _t, tr, _l, _r in rows)
    shown = ", ".join(f"{x['layer']} {times(x['fold_change'])}" for x in layers[:6])
    if len(layers) > 6:
        shown += f" and {len(layers) - 6} more"
    pmax = max(x["p_value"] for x in layers)
    loss_word = top.evidence.get("loss_direction", "unknown")
    total = [r for r in rows if r[0] == run.roles.get("grad_total")]
    n_layers = len(rows) - len(total)
    subject = (f"{n_layers} layers" if n_layers != 1 else "1 layer") + (" and the total" if total else "")
    summary = (
        f"The {what}s of {subject} rose from step {fmt_step(first)} to {fmt_step(last)} "
        f"({shown}; p ≤ {pmax:.2g} each) while the loss was {loss_word}."
    )
    severity = max((f.severity for f in findings), key=lambda v: ("info", "warning", "critical").index(v))
    ev = dict(top.evidence)
    ev["layers"] = layers
    ev["window"] = [first, last]
    return Finding(
        id="grad_norm_growth",
        severity=severity,  # type: ignore[arg-type]
        summary=summary,
        tags=tuple(r[0] for r in rows),
        step_range=(first, last),
        confidence=min(f.confidence for f in findings),
        evidence=ev,
        explanation=top.explanation,
        recommendation=top.recommendation,
        references=top.references,
    )


def _growth_finding(
    run: Run, tag: str, tr: Trend, lt: Trend | None, loss_rising: bool, config: AnalysisConfig
) -> Finding:
    what = statistic_name(tag)
    layer = _layer(tag)
    per_k = pow10(tr.slope) - 1.0
    loss_word = "unknown"
    if lt is not None:
        loss_word = {"rising": "rising", "falling": "falling", "flat": "flat"}[lt.direction]
    ev: dict[str, Any] = {
        "fold_change": tr.fold_change,
        "slope": tr.slope,
        "slope_ci": [tr.slope_low, tr.slope_high],
        "slope_unit": "log10 per 1,000 steps",
        "growth_per_1000_steps": per_k,
        "p_value": tr.p_value,
        "test": tr.test,
        "window": [tr.step_start, tr.step_end],
        "start_level": tr.start_level,
        "end_level": tr.end_level,
        "statistic": what,
        "loss_direction": loss_word,
        "loss_fold_change": lt.fold_change if lt is not None else None,
    }
    # what WOULD make it a defect, and whether it holds here
    checks = {
        "loss_rising": loss_rising,
        "nonfinite": bool(np.any(~np.isfinite(series_data(run, tag).values))),
        "orders_of_magnitude": bool(tr.fold_change >= config.grad_defect_fold),
        "loss_diverged": divergence_info(run, config) is not None,
    }
    ev["defect_checks"] = checks
    rate = f"+{pct(per_k)} per 1,000 steps, " if per_k < 10 else ""
    summary = (
        f"The {what} of {layer} rose {times(tr.fold_change)} from step {fmt_step(tr.step_start)} to "
        f"{fmt_step(tr.step_end)} ({rate}p = {tr.p_value:.2g}) while the loss was {loss_word}."
    )
    expl = (
        "A gradient norm that grows while the loss is flat or falling is common in SGD training "
        "and not a defect by itself. A step ε along g changes the loss by −ε gᵀg + ½ε² gᵀHg "
        "(Goodfellow et al., Deep Learning, §8.2.1): training can keep lowering (or holding) the "
        "loss while ‖g‖ grows, because the curvature term gᵀHg grows with it — the network moves "
        "into sharper regions, and with a decaying LR the larger gradients still give small, stable "
        "steps. Minibatch gradients also carry sampling noise that does not vanish as the loss "
        "flattens. It WOULD be a defect if the loss rose with it, if values turned NaN/inf, if the "
        "norm grew by orders of magnitude (×100 or more) or kept accelerating, or if loss spikes "
        "appeared at the same time."
    )
    bad = [k for k, v in checks.items() if v]
    if bad:
        expl += " Here: " + ", ".join(k.replace("_", " ") for k in bad) + " — treat it as a warning sign."
    else:
        expl += (
            f" None of these holds here (growth {times(tr.fold_change)}, loss {loss_word}, all values "
            "finite)."
        )
    if bad:
        rec = (
            "Find the cause of the rising loss first (data, a bug, the step size); if the step size is "
            "to blame, the learning-rate verdict says so. Clipping the gradient norm contains the growth."
        )
    else:
        rec = (
            "No action needed. Keep watching: clip the gradient norm, or lower the LR, only if the loss "
            f"starts rising or the {what} keeps growing by orders of magnitude."
        )
    return Finding(
        id="grad_norm_growth",
        severity="warning" if bad or tr.fold_change >= config.grad_growth_warning_fold else "info",
        summary=summary,
        tags=(tag,),
        step_range=(tr.step_start, tr.step_end),
        confidence=(
            config.grad_growth_confidence
            if tr.p_value < config.grad_growth_confident_p
            else config.grad_growth_confidence_weak
        ),
        evidence=ev,
        explanation=expl,
        recommendation=rec,
        references=(_GOODFELLOW,),
    )


def detect_exploding_gradients(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect gradient statistics that grew by ``config.explode_fold`` or more (or to inf).

    Returns
    -------
    list with at most one ``exploding_gradients`` Finding (critical when the loss
    diverged, warning otherwise), tags = the exploding series.

    Raises
    ------
    NotAssessable
        When the run has no gradient statistics.
    """
    tags = grad_tags(run)
    if not tags:
        raise NotAssessable("exploding_gradients", "no gradient-norm series in the log")
    hits: dict[str, dict[str, Any]] = {}
    for tag in tags:
        g = series_data(run, tag)
        if g.n < config.explode_min_points or not g.positive:
            continue
        k = max(config.level_min_points, int(round(config.level_fraction * g.n)))
        start = float(np.median(g.fvalues[:k]))
        peak_i = int(np.argmax(g.fvalues))
        # robust peak: the median of the points around the maximum
        lo, hi = max(0, peak_i - k // 2), min(g.n, peak_i + k // 2 + 1)
        peak = float(np.median(g.fvalues[lo:hi]))
        inf_after = bool(np.any(np.isinf(g.values)))
        if start > 0 and (
            peak / start >= config.explode_fold
            or (inf_after and peak / start >= config.explode_fold_with_inf)
        ):
            hits[tag] = {
                "start_level": start,
                "peak_level": peak,
                "fold_change": peak / start,
                "peak_step": int(g.fsteps[peak_i]),
                "reached_inf": inf_after,
            }
    if not hits:
        return []
    div = divergence_info(run, config)
    first = min(h["peak_step"] for h in hits.values())
    layers = ", ".join(_layer(t) for t in hits)
    top = max(hits.values(), key=lambda h: h["fold_change"])
    summary = (
        f"Exploding gradients: {layers} grew up to {times(top['fold_change'])}"
        + (" and reached inf" if any(h["reached_inf"] for h in hits.values()) else "")
        + "."
    )
    expl = (
        "Gradient statistics growing by orders of magnitude mean each update is far larger than "
        "the previous ones: the iterate has entered a region of steep curvature (a cliff) or a "
        "feedback loop (a step too large makes the next gradient larger). Unless clipped, this ends "
        "in a diverged loss or NaN."
    )
    rec = (
        "Clip the gradient norm (e.g. at the median norm before the growth), lower the LR, and check "
        "normalisation layers and the initialisation."
    )
    return [
        Finding(
            id="exploding_gradients",
            severity="critical" if div is not None else "warning",
            summary=summary,
            tags=tuple(hits),
            step_range=(int(series_data(run, next(iter(hits))).fsteps[0]), first),
            confidence=config.explode_confidence,
            evidence={"per_tag": hits, "loss_diverged": div is not None},
            explanation=expl,
            recommendation=rec,
            references=(
                "Pascanu, Mikolov & Bengio, On the difficulty of training recurrent neural "
                "networks, ICML 2013",
                "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.2.4",
            ),
        )
    ]


def _depth_order(tags: list[str]) -> list[int] | None:
    """Return a depth index per tag from the numbers in the layer names, or None."""
    keys = []
    for t in tags:
        nums = _DIGITS_RE.findall(_layer(t))
        if not nums:
            return None
        keys.append(tuple(int(x) for x in nums))
    if len(set(keys)) != len(keys):
        return None
    order = sorted(range(len(tags)), key=lambda i: keys[i])
    depth = [0] * len(tags)
    for rank, i in enumerate(order):
        depth[i] = rank
    return depth


def detect_vanishing_gradients(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect per-layer gradient statistics spanning ``config.vanish_span`` with the earliest
    layers smallest (depth taken from the numbers in the layer names), or a layer whose
    statistic fell by ``config.explode_fold`` while the loss was still high.

    Returns
    -------
    list with at most one ``vanishing_gradients`` Finding (warning).

    Raises
    ------
    NotAssessable
        When the run has fewer than ``config.vanish_min_layers`` per-layer gradient series.
    """
    tags = [t for t in (run.roles.get("grad") or []) if t in run]
    if len(tags) < config.vanish_min_layers:
        raise NotAssessable(
            "vanishing_gradients",
            f"fewer than {config.vanish_min_layers} per-layer gradient series in the log",
        )
    kinds = {t.split("/", 1)[0] for t in tags}
    levels: dict[str, float] = {}
    for t in tags:
        g = series_data(run, t)
        if g.n and g.positive:
            levels[t] = float(np.median(g.fvalues))
    ev: dict[str, Any] = {}
    reason = None
    if len(levels) >= config.vanish_min_layers and len(kinds) == 1:
        found = _vanishing_across_layers(levels, config)
        if found is not None:
            reason = "across_layers"
            ev.update(found)
    if reason is None:
        found = _vanishing_over_time(run, levels, config)
        if found is not None:
            reason = "over_time"
            ev.update(found)
    if reason is None:
        return []
    ev["kind"] = reason
    if reason == "across_layers":
        summary = (
            f"Vanishing gradients: per-layer {statistic_name(tags[0])}s span {times(ev['span'])}, "
            f"smallest in the earliest layers ({ev['smallest_layer']})."
        )
        expl = (
            "Backpropagation multiplies the gradient by each layer's Jacobian; when those shrink it, "
            "the first layers receive gradients orders of magnitude smaller than the last and barely "
            "learn (saturating activations, poor initialisation, no normalisation or skip connections)."
        )
    else:
        summary = (
            "Vanishing gradients: the gradient statistic of "
            + ", ".join(ev["fold_changes"])
            + " fell by 1,000x or more while the loss stayed high."
        )
        expl = (
            "A gradient that collapses while the loss is still high means those layers stopped "
            "learning (dead ReLUs, saturated units), not that training converged."
        )
    rec = (
        "Use an initialisation scaled to the layer width (He/Glorot), normalisation layers, "
        "non-saturating activations (ReLU/leaky ReLU) or residual connections."
    )
    return [
        Finding(
            id="vanishing_gradients",
            severity="warning",
            summary=summary,
            tags=tuple(tags),
            step_range=None,
            confidence=config.vanish_confidence,
            evidence=ev,
            explanation=expl,
            recommendation=rec,
            references=(
                "Glorot & Bengio, Understanding the difficulty of training deep feedforward neural "
                "networks, AISTATS 2010",
                "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.2.5",
            ),
        )
    ]


def _vanishing_across_layers(levels: dict[str, float], config: AnalysisConfig) -> dict[str, Any] | None:
    """Return the evidence of per-layer levels spanning ``config.vanish_span`` with the
    earliest layers smallest (rank correlation of depth and log level at least
    ``config.vanish_rank_corr``, the smallest in the first 1/``config.vanish_early_div``
    of the depth), or None."""
    names = list(levels)
    depth = _depth_order(names)
    vals = np.array([levels[t] for t in names])
    span = float(vals.max() / vals.min())
    if depth is None or not span >= config.vanish_span:
        return None
    rho = spearman(np.array(depth, dtype=float), np.log10(vals))
    smallest = int(np.argmin(vals))
    if not (rho >= config.vanish_rank_corr and depth[smallest] < len(names) / config.vanish_early_div):
        return None
    return {
        "span": span,
        "depth_rank_corr": rho,
        "smallest_layer": _layer(names[smallest]),
        "levels": {_layer(t): levels[t] for t in names},
    }


def _vanishing_over_time(run: Run, levels: dict[str, float], config: AnalysisConfig) -> dict[str, Any] | None:
    """Return the evidence of layers whose statistic fell by ``config.explode_fold`` while
    the loss stayed high (its fold change at least ``config.vanish_loss_high_fold``), or None."""
    d = loss_data(run)
    if d is None or d.n < config.grad_min_loss_points:
        return None
    loss_tr = trend_of(run, d.tag, config=config)
    if loss_tr is None or not loss_tr.fold_change >= config.vanish_loss_high_fold:
        return None
    fallen = {}
    for t in levels:
        tr = trend_of(run, t, role="grad", config=config)
        if tr is not None and tr.fold_change <= 1.0 / config.explode_fold and tr.direction == "falling":
            fallen[_layer(t)] = tr.fold_change
    if not fallen:
        return None
    return {"fold_changes": fallen, "loss_fold_change": loss_tr.fold_change}
