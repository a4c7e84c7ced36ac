"""LR too small: a loss still falling steadily at the end, far from its floor, under
steps that promise only a sliver of the loss and do not bounce."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import (
    cached,
    clipping,
    is_adaptive_optimizer,
    phases,
    require_loss,
    require_role,
    series_data,
    total_grad_tag,
)
from gradlog.analyzers.divergence import divergence_info
from gradlog.analyzers.oscillation import oscillation_signals
from gradlog.analyzers.stats import lag1_autocorr, n_effective, robust_sd
from gradlog.findings import Finding
from gradlog.run import Run
from gradlog.wording import fmt_lr, fmt_step, nice_round, pct

__all__ = ["detect_lr_too_small", "late_descent"]

_REFS = (
    "Goodfellow, Bengio & Courville, Deep Learning (2016), §11.4.1 (a learning rate too "
    "small makes training slow and can stall it)",
    "Goodfellow, Bengio & Courville, Deep Learning (2016), §4.3 and §8.2.1 (the first-order "
    "decrease eta*||g||^2 of a gradient step and the second-order term that limits it)",
)


def _median_se(x: np.ndarray) -> float:
    """Standard error of the median of autocorrelated values ``x``."""
    if len(x) < 3:
        return math.inf
    r = x - np.median(x)
    rho = lag1_autocorr(r)
    if not math.isfinite(rho):
        rho = 0.0
    return 1.2533 * robust_sd(r) / math.sqrt(n_effective(len(r), rho))


def late_descent(run: Run, config: AnalysisConfig = DEFAULT_CONFIG) -> dict[str, Any] | None:
    """Measure how much the loss still fell late in the run, and what a step promised.

    Returns
    -------
    dict with ``early_level`` (median of the first 5% of the loss points), ``mid_level``
    (median of the third quarter), ``end_level`` (median of the last quarter), ``late_drop`` (mid
    minus end, in loss units), ``late_z`` (that drop in standard errors), ``late_share``
    (its share of the run's whole decrease), ``late_drop_rel`` (relative to the mid
    level), ``promise_share`` (median eta*||g||^2 / loss over the last 20%, or None
    without an LR and a gradient 2-norm) and ``window`` (the steps of the late windows);
    None when the loss has fewer than ``config.lr_small_min_points`` finite points or
    non-finite values.
    """

    def make() -> dict[str, Any] | None:
        d = run.roles.get("loss")
        if not d or d not in run:
            return None
        s = series_data(run, str(d))
        if s.n < config.lr_small_min_points or s.n != s.values.size:
            return None
        v, st = s.fvalues, s.fsteps
        n = len(v)
        early = v[: max(config.level_min_points, n // config.lr_small_early_div)]
        mid = v[n // 2 : (3 * n) // 4]
        end = v[(3 * n) // 4 :]
        e0, m0, l0 = float(np.median(early)), float(np.median(mid)), float(np.median(end))
        drop = m0 - l0
        se = math.hypot(_median_se(mid), _median_se(end))
        total = e0 - l0
        out: dict[str, Any] = {
            "early_level": e0,
            "mid_level": m0,
            "end_level": l0,
            "late_drop": drop,
            "late_z": drop / se if se > 0 and math.isfinite(se) else math.nan,
            "late_share": drop / total if total > 0 else math.nan,
            "late_drop_rel": drop / m0 if m0 > 0 else math.nan,
            "window": [int(st[n // 2]), int(st[-1])],
            "promise_share": None,
            "efficiency": None,
            "lr_time_ratio": _lr_time_ratio(run, st),
        }
        lr_tag, g_tag = run.roles.get("lr"), total_grad_tag(run)
        if lr_tag and lr_tag in run and g_tag:
            t0 = float(st[int(config.lr_small_promise_from * n)])
            lr_s = run.series(str(lr_tag))
            g_s = run.series(g_tag)
            both = lr_s.index.intersection(g_s.index)
            both = both[both >= t0]
            if len(both) >= config.lr_small_promise_min_points and l0 > 0:
                prom = lr_s.loc[both].to_numpy(float) * g_s.loc[both].to_numpy(float) ** 2
                prom = prom[np.isfinite(prom)]
                if prom.size:
                    out["promise_share"] = float(np.median(prom)) / l0
                    # realised decrease per step (a share of the loss) over the promised one:
                    # the quarters' medians sit half a run apart (n/2 points at this interval)
                    span = float(st[(7 * n) // 8] - st[(5 * n) // 8]) or 1.0
                    per_step = (m0 - l0) / max(m0, 1e-300) / span
                    if out["promise_share"] > 0:
                        out["efficiency"] = per_step / out["promise_share"]
        return out

    return cached(run, ("late_descent", config), make)


def _lr_time_ratio(run: Run, st: np.ndarray) -> float | None:
    """Share of the run's gradient-flow time (the cumulative LR, sum of eta over the steps)
    spent between the centres of the third and the last quarter, over the share of steps
    there: 1 for a constant LR, about 0.3 for a cosine decay to zero. None without an LR."""
    tag = run.roles.get("lr")
    if not tag or tag not in run or len(st) < 8:
        return None
    lr = series_data(run, str(tag))
    if lr.n < 2:
        return None
    idx = np.clip(np.searchsorted(lr.fsteps, st, side="right") - 1, 0, lr.n - 1)
    eta = np.abs(lr.fvalues[idx])
    dt = np.diff(st, append=st[-1])
    tau = np.concatenate(([0.0], np.cumsum(eta * dt)))[:-1]
    total_tau, total_t = float(tau[-1]), float(st[-1] - st[0])
    n = len(st)
    a, b = (5 * n) // 8, (7 * n) // 8
    if not (total_tau > 0 and total_t > 0 and st[b] > st[a]):
        return None
    return float(((tau[b] - tau[a]) / total_tau) / ((st[b] - st[a]) / total_t))


def _step_decayed(run: Run, config: AnalysisConfig) -> bool:
    """True when the LR dropped in a few discrete steps (at most
    ``config.lr_small_step_max_phases`` phases) to under ``config.lr_small_decayed`` of its
    peak (a step schedule): a decay, not the LR, can then explain a slow end."""
    ph = phases(run)
    if len(ph) < 2 or len(ph) > config.lr_small_step_max_phases:
        return False
    return ph[-1].lr < config.lr_small_decayed * max(p.lr for p in ph)


def detect_lr_too_small(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect an LR too small: the loss was still falling steadily at the end, far from
    its floor, with no bounce, under steps that promise only a sliver of the loss.

    Conditions (each with a physical reason, see :class:`AnalysisConfig`): the median
    loss of the last quarter lies ``config.lr_small_z`` standard errors below that of
    the third quarter; that late decrease is at least ``config.lr_small_late_share`` of the
    whole run's; no oscillation signature and no divergence; the first-order promise
    eta*||g||^2 is under ``config.lr_small_max_promise`` of the loss (where an LR and a
    gradient 2-norm are logged, plain SGD); and no step decay of the LR explains the
    slow end; and the gradient norm not clipped on ``config.lr_small_max_clipped`` or
    more of the steps (a clipped step hides how large the LR is).

    Returns
    -------
    list with at most one ``lr_too_small`` Finding (info). Nothing when the loss fell
    faster than an SGD step could make it (``config.lr_small_max_efficiency`` times the
    first-order promise): the step is then adaptive, whatever the log says.

    Raises
    ------
    NotAssessable
        When the run has no training loss or no LR series.
    """
    d = require_loss(run, "lr_too_small", min_points=config.min_loss_points)
    lr = require_role(run, "lr", "lr_too_small")
    if not d.positive or lr.n == 0 or divergence_info(run, config) is not None:
        return []
    m = late_descent(run, config)
    if m is None:
        return []
    # A decaying LR slows the descent by itself: the late decrease is judged against the
    # gradient-flow time (the cumulative LR) the late window holds, not against its steps.
    # Only where the step is known to be eta*g (plain SGD, a first-order promise measured):
    # an adaptive step's size does not follow the LR alone.
    adaptive = is_adaptive_optimizer(run)
    sgd_step = m["promise_share"] is not None and not adaptive
    share_min = config.lr_small_late_share * (min(1.0, m["lr_time_ratio"] or 1.0) if sgd_step else 1.0)
    if not (m["late_z"] >= config.lr_small_z and m["late_share"] >= share_min):
        return []
    if _ruled_out(run, m, adaptive, config):
        return []
    p = m["promise_share"]
    eff = m.get("efficiency")
    lr_end = float(lr.fvalues[-1])
    lr_peak = float(lr.fvalues.max())
    decayed = lr_end < config.lr_small_decayed * lr_peak
    base = lr_peak if decayed else lr_end
    if p is not None and p > 0 and not adaptive:
        factor = min(
            config.lr_small_max_factor, max(config.lr_small_min_factor, config.lr_small_promise_target / p)
        )
    else:
        factor = config.lr_small_default_factor
    target = nice_round(factor * base)
    w0, w1 = m["window"]
    summary, expl, rec = _lr_small_texts(m, base, lr_peak, decayed, factor, target, p, adaptive, config)
    strong = m["late_z"] >= config.lr_small_confident_z * config.lr_small_z
    conf = config.lr_small_confidence if strong else config.lr_small_confidence_weak
    return [
        Finding(
            id="lr_too_small",
            severity="info",
            summary=summary,
            tags=(d.tag,),
            step_range=(int(w0), int(w1)),
            confidence=conf,
            evidence={
                "late_share": m["late_share"],
                "late_drop_rel": m["late_drop_rel"],
                "late_z": m["late_z"],
                "window": [int(w0), int(w1)],
                "early_level": m["early_level"],
                "mid_level": m["mid_level"],
                "end_level": m["end_level"],
                "promise_share": p,
                "lr_end": lr_end,
                "lr_peak": lr_peak,
                "raise_factor": factor,
                "suggested_lr": target,
                "adaptive_optimizer": adaptive,
                "efficiency": eff,
                "lr_time_ratio": m["lr_time_ratio"],
            },
            explanation=expl,
            recommendation=rec,
            references=_REFS,
        )
    ]


def _ruled_out(run: Run, m: dict[str, Any], adaptive: bool, config: AnalysisConfig) -> bool:
    """True when something other than a small LR explains a loss still falling late (or
    hides how large the LR is): an oscillation, a step that is not eta*g, a large
    first-order promise, a step decay of the LR, clipping."""
    sig = oscillation_signals(run, config)
    if sig is not None and sig["oscillating"]:
        return True
    eff = m.get("efficiency")
    if eff is not None and eff > config.lr_small_max_efficiency:
        # the loss fell faster than any SGD step eta*g could make it (even with heavy
        # momentum): the step is not eta*g (Adam, RMSProp ...), so the first-order evidence
        # says nothing about the LR, and an adaptive run at a good LR also still falls late
        return True
    p = m["promise_share"]
    if p is not None and not adaptive and p >= config.lr_small_max_promise:
        return True
    if _step_decayed(run, config):
        return True
    clip = clipping(run, config)
    # a clipped step hides how large the LR is: never advise raising it
    return clip is not None and (clip["share"] or 0.0) >= config.lr_small_max_clipped


def _lr_small_texts(
    m: dict[str, Any],
    base: float,
    lr_peak: float,
    decayed: bool,
    factor: float,
    target: float,
    p: float | None,
    adaptive: bool,
    config: AnalysisConfig,
) -> tuple[str, str, str]:
    """Return (summary, explanation, recommendation) of an ``lr_too_small`` finding."""
    w0 = m["window"][0]
    lr_word = "peak LR" if base == lr_peak and decayed else "LR"
    summary = (
        f"The loss was still falling steadily at the end: from the third to the last quarter "
        f"of the run (from step {fmt_step(w0)}) it fell by {pct(m['late_share'])} of its whole decrease "
        f"({pct(m['late_drop_rel'])} lower, z = {m['late_z']:.1f}), at {lr_word} {fmt_lr(base)}."
    )
    if (m["lr_time_ratio"] or 1.0) < config.lr_small_time_ratio_note:
        summary += (
            f" The LR decayed: that stretch held only {pct(m['lr_time_ratio'])} of the LR-time "
            "(sum of the LRs) that a constant LR gives it, and the loss still fell."
        )
    promise = (
        f" Each step promised only {pct(p)} of the loss (η‖g‖²)." if p is not None and not adaptive else ""
    )
    expl = (
        "A loss that falls smoothly, without bouncing, at a rate that has not slowed into a floor by "
        "the last step has not converged: the run ended within a few time constants of its "
        "descent, each step safely inside the stable region." + promise + " A larger step moves "
        "faster along the same slope until the curvature limit (ηλ ≈ 2(1+β)) is reached."
    )
    if adaptive:
        expl += (
            " This run uses an adaptive optimizer: its step is not η‖g‖², so the factor "
            "below is a conventional one, not derived from the gradient norm."
        )
    rec = (
        f"Raise the LR about {factor:.0f}x ({fmt_lr(base)} → {fmt_lr(target)}) and watch the loss "
        f"for bouncing in the first few hundred steps; or train longer."
    )
    return summary, expl, rec
