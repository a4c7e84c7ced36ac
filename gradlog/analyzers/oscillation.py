"""Step-size-driven oscillation versus minibatch noise.

Every SGD minibatch loss is noisy; that alone is not a finding. A step that is too
large for the local curvature leaves signatures noise lacks, and each is measured and
reported as evidence:

1. **alternation** - residuals about a robust trend that alternate (strongly negative
   lag-1 autocorrelation, most power near period 2). Noise gives ~0 (or positive:
   momentum and the iterate's own noise ball make it smoother, not alternating).
2. **amplitude vs LR** - the fluctuation shrinks with the LR across decays (slope of
   log amplitude on log LR ~1). Sampling noise at a given iterate does not depend on
   the LR (slope ~0). Valid even when the log is subsampled.
3. **validation oscillation** - a validation loss on fixed data that alternates or
   whose jitter scales with the LR: minibatch sampling cannot explain that.
4. **gradient norm swinging with the loss** - the gradient norm alternates in step
   with the loss residuals (a bounce across a valley: high on the walls).
5. **first-order arithmetic** - a step ``eta * g`` promises a decrease of about
   ``eta * ||g||^2``; when that promise is comparable to the loss itself while the
   loss does not fall, the second-order term ``eta^2/2 g'Hg`` eats the gain
   (Goodfellow et al., Deep Learning, §8.2.1): the step overshoots.

``step_size_oscillation`` is reported on signal 5 (itself three conditions: the
promise is large, the loss does not fall, and the gradient norm follows the iterate's
state rather than minibatch sampling), or on ``config.osc_min_signals`` of signals 1-4.
On real runs (``bench/diagnosis``) the bounce of an iterate at the edge of stability
shows in 5, rarely in 1-4: the loss of a bouncing mode is ``lambda*x^2/2``, which does
not alternate when ``x`` does. ``noisy_loss`` (info) is reported when the fluctuation is
large and no signal is present.

The signatures are measured (and cached) by
:func:`~gradlog.analyzers.oscillation_measures.oscillation_signals`; this module holds the
two detectors that read them, and re-exports the measure.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import batch_size, require_loss, require_role
from gradlog.analyzers.lr_plateau import decay_tests
from gradlog.analyzers.oscillation_measures import oscillation_signals
from gradlog.analyzers.trends import trend_of
from gradlog.findings import Finding
from gradlog.run import Run
from gradlog.wording import fmt_lr, fmt_step, nice_floor, nice_round, pct, times

__all__ = ["oscillation_signals", "detect_step_size_oscillation", "detect_noisy_loss"]

_REFS = (
    "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.2.1 (ill-conditioning: the "
    "½ε²gᵀHg term) and §8.3.2 (momentum)",
    "Cohen et al., Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability, ICLR 2021",
    "Goh, Why Momentum Really Works, Distill 2017 (heavy-ball stability ηλ < 2(1+β))",
)


SIGNAL_WORDS = {
    "alternation": "residuals alternating step to step",
    "amplitude_scales_with_lr": "a fluctuation that shrinks with the LR",
    "validation_oscillation": "a validation loss that alternates",
    "grad_norm_swings_with_loss": "a gradient norm alternating with the loss",
    "first_order_overshoot": "a step promising (η‖g‖²) a large part of the loss without the loss falling",
}


def _public_phases(sig: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in sig["phases"]]


def _evidence(sig: dict[str, Any]) -> dict[str, Any]:
    fo = [r["first_order_ratio"] for r in sig["phases"] if "first_order_ratio" in r]
    lag = [r["lag1_autocorr"] for r in sig["phases"] if math.isfinite(r["lag1_autocorr"])]
    hf = [r["highfreq_fraction"] for r in sig["phases"] if math.isfinite(r["highfreq_fraction"])]
    beta = sig["momentum"]
    return {
        "signals": sig["signals"],
        "signals_present": sig["signals_present"],
        "signals_unavailable": sig["signals_unavailable"],
        "phases": _public_phases(sig),
        "lag1_autocorr": min(lag) if lag else None,
        "highfreq_fraction": max(hf) if hf else None,
        "amplitude": sig["amplitude"],
        "amplitude_unit": "relative (robust SD of the residual / level)",
        "amplitude_lr_slope": sig["amplitude_lr_slope"],
        "decays": sig["decays"],
        "validation": {k: v for k, v in sig["validation"].items()},
        "grad_loss_corr": sig["grad"].get("loss_corr"),
        "grad_lag1_autocorr": sig["grad"].get("lag1_autocorr"),
        "first_order_ratio": max(fo) if fo else None,
        "stability_limit": 2.0 * (1.0 + beta) if beta is not None else 2.0,
        "momentum": beta,
        "log_interval": sig["log_interval"],
    }


def detect_step_size_oscillation(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect a loss that oscillates because the learning rate is too large.

    Returns
    -------
    list with at most one ``step_size_oscillation`` Finding (warning); its evidence holds
    ``phases`` (start, end, lr, amplitude, lag1_autocorr per LR phase) and every signal.

    Raises
    ------
    NotAssessable
        When the run has no training loss or no learning-rate series.
    """
    d = require_loss(run, "step_size_oscillation", min_points=config.min_loss_points)
    require_role(run, "lr", "step_size_oscillation")
    sig = oscillation_signals(run, config)
    if sig is None or not sig["oscillating"]:
        return []
    rows = sig["phases"]
    osc_rows = [r for r in rows if r["start"] in sig["oscillating_phases"]]
    calm = [r for r in rows if r not in osc_rows and r["lr"]]
    lr_hi = max(r["lr"] for r in osc_rows if r["lr"]) if any(r["lr"] for r in osc_rows) else math.nan
    target = _suggested_lr(lr_hi, calm, config)
    ev = _evidence(sig)
    ev["suggested_lr"] = target if math.isfinite(target) else None
    present = sig["signals_present"]
    fo = [r for r in osc_rows if r.get("first_order_ratio") is not None]
    fo_row = max(fo, key=lambda r: r["first_order_ratio"]) if fo else None
    words = _signal_sentences(sig, ev, fo_row)
    summary = (
        "The step size is too large for the local curvature: " + "; ".join(words[p] for p in present) + "."
    )
    start = osc_rows[0]["start"]
    end = osc_rows[-1]["end"]
    rec = (
        f"Lower the learning rate about {times(lr_hi / target)} ({fmt_lr(lr_hi)} → {fmt_lr(target)})"
        if math.isfinite(target) and math.isfinite(lr_hi) and target > 0
        else f"Lower the learning rate about {config.lr_lower_factor:g}x"
    )
    rec += f", or decay it earlier: the oscillation lasts from step {fmt_step(start)} to {fmt_step(end)}"
    if calm:
        rec += f" and is gone once the LR is {fmt_lr(max(r['lr'] for r in calm))}"
    rec += ". A warm-up or gradient clipping helps if the bounce is at the start only."
    return [
        Finding(
            id="step_size_oscillation",
            severity="warning",
            summary=summary,
            tags=(d.tag,),
            step_range=(start, end),
            confidence=min(
                config.confidence_max,
                config.osc_confidence_base + config.osc_confidence_per_signal * len(present),
            ),
            evidence=ev,
            explanation=_oscillation_explanation(sig, fo_row),
            recommendation=rec,
            references=_REFS,
        )
    ]


def _suggested_lr(lr_hi: float, calm: list[dict[str, Any]], config: AnalysisConfig) -> float:
    """Return the LR to suggest: the highest calm phase's LR below ``lr_hi``, else
    ``lr_hi / config.lr_lower_factor`` (NaN when ``lr_hi`` is unknown)."""
    if calm and math.isfinite(lr_hi):
        target = (
            max(r["lr"] for r in calm if r["lr"] < lr_hi)
            if any(r["lr"] < lr_hi for r in calm)
            else lr_hi / config.lr_lower_factor
        )
        return nice_round(target)
    # about 3x lower: a mode at the limit comes down to a third of it
    return nice_floor(lr_hi / config.lr_lower_factor) if math.isfinite(lr_hi) else math.nan


def _signal_sentences(
    sig: dict[str, Any], ev: dict[str, Any], fo_row: dict[str, Any] | None
) -> dict[str, str]:
    """Return one clause per signal, with its figure where the evidence has one."""
    return {
        "alternation": (
            f"the loss alternates step to step (lag-1 autocorrelation of its residuals "
            f"{ev['lag1_autocorr']:.2f})"
            if ev["lag1_autocorr"] is not None
            else "the loss alternates step to step"
        ),
        "amplitude_scales_with_lr": (
            "its fluctuation shrinks with the LR (amplitude ∝ "
            f"LR^{max(x['slope'] for x in sig['decays']):.2f} across a decay)"
            if sig["decays"]
            else "its fluctuation shrinks with the LR"
        ),
        "validation_oscillation": "the validation loss on fixed data alternates too",
        "grad_norm_swings_with_loss": "the gradient norm alternates with the loss",
        "first_order_overshoot": (
            f"each step promises to remove {pct(fo_row['first_order_ratio'])} of the loss "
            f"(η‖g‖² at LR {fmt_lr(fo_row['lr'])}) yet the loss does not fall"
            if fo_row is not None
            else "η‖g‖² promises a large part of the loss yet it does not fall"
        ),
    }


def _oscillation_explanation(sig: dict[str, Any], fo_row: dict[str, Any] | None) -> str:
    """Return the explanation of a ``step_size_oscillation`` finding."""
    present = sig["signals_present"]
    beta = sig["momentum"]
    expl = (
        "A step of size η along the gradient g changes the loss by about −η‖g‖² + ½η²gᵀHg "
        "(Goodfellow et al., §8.2.1). When η times the curvature λ of the sharpest direction "
        "approaches the stability limit (ηλ < 2 for gradient descent, ηλ < 2(1+β) with heavy-ball "
        "momentum β), the second-order term cancels the gain and the iterate bounces across the "
        "valley instead of descending it. "
    )
    if "first_order_overshoot" in present and fo_row is not None:
        expl += (
            f"Here the first-order term alone would remove {pct(fo_row['first_order_ratio'])} of the loss per "
            f"step, but the loss realises {pct(max(fo_row.get('first_order_efficiency', 0.0), 0.0))} of that "
            "promise: the curvature term eats it. That is not minibatch noise inflating ‖g‖: the gradient "
            f"norm changes slowly (lag-1 autocorrelation {fo_row.get('grad_lag1_autocorr', float('nan')):.2f}), "
            "following the iterate's state, whereas sampling noise is new at every step. "
        )
    else:
        expl += (
            "Minibatch noise alone does not alternate, does not shrink with the LR at a fixed "
            "iterate, and does not move a loss measured on fixed data. "
        )
    expl += (
        "On a bouncing mode the loss λx²/2 need not alternate even when x does, so the curve can "
        "look merely noisy or stuck."
    )
    if beta is not None and not sig["adaptive_optimizer"]:
        expl += (
            f" The log's momentum β = {beta:g} sets the limit at ηλ < {2 * (1 + beta):.3g}, "
            f"and the effective step is η/(1−β) = {times(1 / (1 - beta))} η."
        )
    if sig["log_interval"] > 1:
        expl += (
            f" The loss is logged every {sig['log_interval']} iterations, which aliases a period-2 "
            "bounce; the amplitude-vs-LR and first-order evidence do not depend on it."
        )
    return expl


def detect_noisy_loss(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect a loss that fluctuates a lot from minibatch sampling (not from the step size).

    Returns
    -------
    list with at most one ``noisy_loss`` Finding (info), reported when the relative
    fluctuation about the trend is at least ``config.noise_min_amplitude`` and none of
    the oscillation signatures is present (not even one, short of
    ``config.osc_min_signals``).

    Raises
    ------
    NotAssessable
        When the run has no training loss.
    """
    d = require_loss(run, "noisy_loss", min_points=config.min_loss_points)
    sig = oscillation_signals(run, config)
    if sig is None or sig["oscillating"] or not d.positive:
        return []
    if sig["signals_present"]:
        # one signature of a too-large step is present (too few for step_size_oscillation):
        # calling the scatter plain minibatch noise would contradict the evidence
        return []
    amp = sig["amplitude"]
    if not (math.isfinite(amp) and amp >= config.noise_min_amplitude):
        return []
    # ... and visible next to the progress the loss made (a scatter of +-100% around a
    # loss of 0.001 that fell from 2.3 is not worth a word)
    tr = trend_of(run, d.tag, config=config)
    level = float(np.median(d.fvalues))
    if tr is not None and amp * level < config.noise_min_progress * abs(tr.start_level - tr.end_level):
        return []
    ev = _evidence(sig)
    tests = decay_tests(run, config)
    ev["decay_tests"] = tests
    b = batch_size(run)
    has_lr = bool(run.roles.get("lr"))
    summary = (
        f"The loss fluctuates by about ±{pct(amp)} around its trend; the fluctuation shows none "
        "of the signatures of a too-large step, so it is minibatch noise."
    )
    checked = [SIGNAL_WORDS[k] for k in sig["signals"] if k not in sig["signals_unavailable"]]
    expl = (
        "Each logged loss is measured on one minibatch, so it scatters around the full-data loss "
        "with a standard deviation that falls as 1/√batch. That scatter is not a problem, and it is "
        "not what a too-large step leaves behind. Checked and absent: " + "; ".join(checked) + "."
    )
    if not has_lr:
        expl += " The log has no LR series, so amplitude-vs-LR could not be checked."
    if tests:
        expl += (
            " Nor does the LR set the loss's level: "
            + "; ".join(
                f"at the decay at step {fmt_step(t['step'])} the loss fell "
                f"{pct(t['observed_drop'])} ({pct(t['predicted_drop'])} predicted by its trend)"
                for t in tests
            )
            + (
                " — not the sharp drop of an LR-limited plateau."
                if not any(t["limited"] for t in tests)
                else " (see lr_limited_plateau)."
            )
        )
    if b:
        rec = (
            f"Nothing is wrong. For a smoother curve (and less gradient noise) use a larger batch "
            f"({b} → {4 * b} halves the fluctuation), or plot a running average (EMA weight 0.9). "
            "Lowering the LR would slow training without removing this scatter."
        )
    else:
        rec = (
            "Nothing is wrong. For a smoother curve use a larger batch (4x the batch halves the "
            "fluctuation) or plot a running average (EMA weight 0.9); lowering the LR would slow "
            "training without removing this scatter."
        )
    return [
        Finding(
            id="noisy_loss",
            severity="info",
            summary=summary,
            tags=(d.tag,),
            step_range=(int(d.fsteps[0]), int(d.fsteps[-1])),
            confidence=config.noise_confidence if has_lr else config.noise_confidence_no_lr,
            evidence=ev,
            explanation=expl,
            recommendation=rec,
            references=(
                "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.1.3 (minibatch "
                "gradient noise falls as 1/√m)",
            ),
        )
    ]
