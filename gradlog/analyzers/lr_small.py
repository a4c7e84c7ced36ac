"""LR too small: a steady, un-oscillating decrease of the loss that is still going at the end."""

from __future__ import annotations

import math

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import phases, require_loss, require_role
from gradlog.analyzers.divergence import divergence_info
from gradlog.analyzers.oscillation import oscillation_signals
from gradlog.analyzers.stats import pow10
from gradlog.analyzers.trends import trend_of
from gradlog.analyzers.wording import fmt_lr, fmt_step, nice_round, pct
from gradlog.findings import Finding
from gradlog.run import Run

__all__ = ["detect_lr_too_small"]


def detect_lr_too_small(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect a loss still falling steadily at the end of the run under an undecayed LR.

    Conditions: over the last ``config.lr_small_window`` of the run the loss falls
    significantly (Mann-Kendall p below ``config.lr_small_alpha``) by at least
    ``config.lr_small_min_drop``, not slowing down (the rate over the last third at
    least ``config.lr_small_min_rate_ratio`` of the window's), with no oscillation
    signature and a scatter small next to the decrease, while the LR at the end is at
    least half its maximum (a decayed LR explains a late decrease by itself).

    Returns
    -------
    list with at most one ``lr_too_small`` Finding (info).

    Raises
    ------
    NotAssessable
        When the run has no training loss or no LR series.
    """
    d = require_loss(run, "lr_too_small", min_points=config.min_loss_points)
    lr = require_role(run, "lr", "lr_too_small")
    if not d.positive or divergence_info(run, config) is not None or lr.n == 0:
        return []
    first, last = float(d.fsteps[0]), float(d.fsteps[-1])
    w0 = last - config.lr_small_window * (last - first)
    tw = trend_of(run, d.tag, start=w0, end=None, scope="final window", config=config)
    tl = trend_of(run, d.tag, start=last - (last - w0) / 3.0, end=None, scope="final third", config=config)
    if tw is None or tl is None or tw.n < config.min_loss_points:
        return []
    if not (tw.p_value < config.lr_small_alpha and tw.slope_high < 0):
        return []
    span_k = (last - w0) / 1000.0
    drop = 1.0 - pow10(tw.slope * span_k)
    if drop < config.lr_small_min_drop:
        return []
    rate_ratio = tl.slope / tw.slope if tw.slope < 0 else 0.0
    if rate_ratio < config.lr_small_min_rate_ratio:
        return []
    sig = oscillation_signals(run, config)
    if sig is not None and sig["oscillating"]:
        return []
    amp = sig["amplitude"] if sig is not None else math.nan
    drop_log = -tw.slope * span_k
    if math.isfinite(amp) and math.log10(1 + amp) > drop_log / 3.0:
        return []  # the scatter is comparable to the decrease: not a steady descent
    lr_end = float(lr.fvalues[-1])
    lr_max = float(lr.fvalues.max())
    if lr_end < 0.5 * lr_max:
        return []
    per_k = 1.0 - pow10(tw.slope)
    target = nice_round(3.0 * lr_end)
    summary = (f"The loss was still falling steadily at the end: {pct(drop)} over the last "
               f"{pct(config.lr_small_window)} of the run (from step {fmt_step(w0)}), without slowing down, "
               f"at LR {fmt_lr(lr_end)}.")
    expl = ("A loss that falls smoothly, without oscillating, at an undiminished rate up to the last "
            "step has not converged: each step is safely inside the stable region, so the step could be "
            "larger (the descent rate grows with the LR until the curvature limit is reached) or the run "
            "could be longer.")
    rec = (f"Try an LR about 3x higher ({fmt_lr(lr_end)} → {fmt_lr(target)}) and watch for oscillation, "
           f"or train longer: at the current rate the loss falls about {pct(per_k)} per 1,000 steps.")
    return [Finding(
        id="lr_too_small",
        severity="info",
        summary=summary,
        tags=(d.tag,),
        step_range=(int(tw.step_start), int(tw.step_end)),
        confidence=0.6 if len(phases(run)) <= 1 else 0.5,
        evidence={"drop_over_window": drop, "window_start_step": int(tw.step_start),
                  "slope": tw.slope, "slope_ci": [tw.slope_low, tw.slope_high], "p_value": tw.p_value,
                  "rate_ratio_last_third": rate_ratio, "lr_end": lr_end, "lr_max": lr_max,
                  "suggested_lr": target, "fluctuation": amp},
        explanation=expl,
        recommendation=rec,
        references=("Goodfellow, Bengio & Courville, Deep Learning (2016), §11.4.1 (a learning rate "
                    "too small makes training slow and can stall it)",),
    )]
