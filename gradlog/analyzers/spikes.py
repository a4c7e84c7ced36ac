"""Loss spikes: isolated upward jumps far outside the loss's own scatter."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import lr_at, require_loss, series_data
from gradlog.analyzers.divergence import divergence_info
from gradlog.analyzers.stats import pow10, robust_sd, smooth_residuals
from gradlog.findings import Finding
from gradlog.run import Run
from gradlog.wording import fmt_lr, fmt_num, fmt_step, nice_round, times

__all__ = ["detect_loss_spikes", "recommendation"]

_REFS = (
    "Pascanu, Mikolov & Bengio, On the difficulty of training recurrent neural networks, ICML 2013 "
    "(gradient norm clipping)",
    "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.2.4 (cliffs)",
)


def recommendation(evidence: dict[str, Any], *, lower_lr: bool = True) -> str:
    """Return the advice for the spikes in ``evidence`` (a ``loss_spikes`` evidence dict).

    ``lower_lr=False`` leaves out "lower the LR", for a run whose verdict is to raise it
    (a too-small LR and a rare spike: clipping and a warm-up answer the spike).
    """
    clip = evidence.get("suggested_clip_norm")
    rec = "Clip the gradient norm"
    if clip is not None:
        rec += f" (e.g. at {fmt_num(clip)}, the 99th percentile of {evidence.get('clip_tag')})"
    lr_known = [x for x in evidence.get("lr_at_spikes", []) if x is not None and math.isfinite(x)]
    if not lower_lr:
        rec += " or lengthen or add a warm-up"
    elif lr_known:
        lr_hi = max(lr_known)
        rec += (
            f", lengthen or add a warm-up, or lower the LR about 2x ({fmt_lr(lr_hi)} → "
            f"{fmt_lr(nice_round(lr_hi / 2))})"
        )
    else:
        rec += ", add a warm-up, or lower the LR about 2x"
    return rec + "; if a spike recurs at the same place every epoch, inspect that batch."


def detect_loss_spikes(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect isolated upward spikes of the loss.

    A spike is a point at least ``config.spike_z`` robust SDs and ``config.spike_ratio``
    times above the running median of the loss, and ``config.spike_ratio`` times above the
    point before it; neighbouring points merge into one spike, and the point after its
    peak must still be ``config.spike_persist_z`` robust SDs and ``config.spike_persist_ratio``
    times above the level (one hard minibatch is not a spike of the model).
    When there are more than ``config.spike_max_rate`` spikes per point, the loss is
    heavy-tailed noise rather than spiking and nothing is reported. Points after a
    divergence began are not counted, nor is a jump that runs to the last logged point
    (nothing shows it recovered).

    Returns
    -------
    list with at most one ``loss_spikes`` Finding; evidence ``spike_steps``,
    ``spike_ratios`` (peak / local level), ``count``.

    Raises
    ------
    NotAssessable
        When the run has no training loss.
    """
    d = require_loss(run, "loss_spikes", min_points=config.min_loss_points)
    if not d.positive:
        return []
    div = divergence_info(run, config)
    stop = float(div["begin_step"]) if div is not None else math.inf
    keep = d.fsteps < stop
    steps, y = d.fsteps[keep], d.y[keep]
    if len(y) < config.min_loss_points:
        return []
    _trend, r = smooth_residuals(y, config.osc_trend_window)
    sd = robust_sd(r)
    if not (sd > 0):
        return []
    groups = _spike_groups(steps, y, r, sd, float(d.fsteps[-1]), config)
    if not groups:
        return []
    peaks = [max(g, key=lambda j: r[j]) for g in groups]
    spike_steps = [int(steps[j]) for j in peaks]
    ratios = [pow10(r[j]) for j in peaks]
    count = len(peaks)
    lrs = [lr_at(run, s) for s in spike_steps]
    ev: dict[str, Any] = {
        "spike_steps": spike_steps,
        "spike_ratios": ratios,
        "count": count,
        "max_ratio": max(ratios),
        "noise_sd_log10": sd,
        "lr_at_spikes": [x if math.isfinite(x) else None for x in lrs],
    }
    clip = math.nan
    gtag = run.roles.get("grad_total")
    if gtag and gtag in run:
        g = series_data(run, gtag)
        gv = g.fvalues[g.fsteps < stop]
        if gv.size >= config.spike_clip_min_points:
            clip = float(np.percentile(gv, config.spike_clip_percentile))
            ev["suggested_clip_norm"] = nice_round(clip)
    shown = ", ".join(fmt_step(s) for s in spike_steps[:8]) + (" ..." if count > 8 else "")
    summary = (
        f"{count} loss spike{'s' if count != 1 else ''} (up to {times(max(ratios))} the local level) "
        f"at step{'s' if count != 1 else ''} {shown}."
    )
    expl = (
        "A spike is a jump far outside the loss's ordinary scatter (here ≥ "
        f"{config.spike_z:g} robust SDs and ≥ {times(config.spike_ratio)} the running median). Isolated "
        "spikes come from a step that landed on a cliff of the loss surface (a large gradient times "
        "the LR throws the iterate out), from a bad or mislabelled batch, or from the LR jumping "
        "(end of a warm-up, a restart). The loss recovering afterwards means training survived them."
    )
    if math.isfinite(clip):
        ev["clip_tag"] = gtag
    rec = recommendation(ev)
    severe = count >= config.spike_severe_count or max(ratios) >= config.spike_severe_ratio
    return [
        Finding(
            id="loss_spikes",
            severity="warning" if severe else "info",
            summary=summary,
            tags=(d.tag,),
            step_range=(spike_steps[0], spike_steps[-1]),
            confidence=config.spike_confidence if count >= 2 else config.spike_confidence_single,
            evidence=ev,
            explanation=expl,
            recommendation=rec,
            references=_REFS,
        )
    ]


def _spike_groups(
    steps: np.ndarray, y: np.ndarray, r: np.ndarray, sd: float, last: float, config: AnalysisConfig
) -> list[list[int]]:
    """Return the spikes of the loss ``y`` (log10) as groups of neighbouring point indices,
    from its residuals ``r`` about the running median (robust SD ``sd``); empty when there
    are none or so many that they are the loss's heavy-tailed noise."""
    cand = np.flatnonzero((r >= config.spike_z * sd) & (r >= math.log10(config.spike_ratio)))
    if cand.size == 0:
        return []
    groups: list[list[int]] = [[int(cand[0])]]
    for i in cand[1:]:
        if i - groups[-1][-1] <= config.spike_merge_gap:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    if len(groups) > config.spike_max_rate * len(y):
        return []  # outliers this common are the loss's heavy-tailed noise, not events
    # a spike jumps up from the point before it (the first point of a falling loss is not one)
    groups = [
        g
        for g in groups
        if g[0] >= 1 and max(y[j] for j in g) - y[g[0] - 1] >= math.log10(config.spike_ratio)
    ]
    # a spike of the model lasts: the loss of the next minibatch is still well above the
    # level (the iterate was thrown out and takes steps to come back). One minibatch far
    # above its neighbours is a hard or mislabelled batch, seen by a model that did not move.
    floor = max(config.spike_persist_z * sd, math.log10(config.spike_persist_ratio))
    groups = [g for g in groups if any(j + 1 < len(r) and r[j + 1] >= floor for j in g)]
    # a spike is followed by a recovery: a jump that runs to the last logged point has not
    # recovered (it is the start of a blow-up, or the log ends inside it), so it is not one
    groups = [g for g in groups if float(steps[g[-1]]) < last]
    return groups
