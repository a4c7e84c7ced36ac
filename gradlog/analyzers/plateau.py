"""Loss plateau: where the loss stopped improving, how little it moved since, and whether
the step size is the reason (with the evidence either way)."""

from __future__ import annotations

import math
from typing import Any

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import (
    SeriesData,
    batch_size,
    loss_data,
    lr_at,
    momentum,
    phases,
    require_loss,
    series_data,
)
from gradlog.analyzers.divergence import divergence_info
from gradlog.analyzers.lr_plateau import decay_tests
from gradlog.analyzers.oscillation import SIGNAL_WORDS, oscillation_signals
from gradlog.analyzers.segments import Plateau, plateau_of
from gradlog.analyzers.trends import trend_of
from gradlog.findings import Finding, Severity
from gradlog.run import Run
from gradlog.wording import fmt_lr, fmt_num, fmt_step, nice_floor, pct

__all__ = ["step_size_verdict", "detect_loss_plateau"]


def step_size_verdict(run: Run, start: float, config: AnalysisConfig = DEFAULT_CONFIG) -> dict[str, Any]:
    """Say whether the step size explains a plateau starting at ``start``, with evidence.

    Returns
    -------
    dict: ``verdict`` (``"oscillation"``, ``"lr_limited"``, ``"not_step_size"``,
    ``"decays_untested"``, ``"untested"`` or ``"no_lr"``), ``oscillating`` (during the plateau),
    ``oscillating_lr``, ``signals_present``,
    ``fluctuation`` (relative amplitude), ``decays_in_plateau`` (tests of the decays
    after ``start``: observed vs predicted drop), ``earlier_lr_limited_decays``.
    """
    sig = oscillation_signals(run, config)
    tests = decay_tests(run, config)
    has_lr = bool(run.roles.get("lr")) and run.roles.get("lr") in run
    # The plateau's start is an estimate (two copies of one run logged at different
    # intervals put it 100 steps apart), so a decay shortly before it that did not lower
    # the loss counts as tried during the plateau: the loss went flat after it anyway.
    d = loss_data(run)
    span = float(d.fsteps[-1] - d.fsteps[0]) if d is not None and d.n else 0.0
    margin = config.plateau_decay_margin * span
    inside = [t for t in tests if t["step"] >= start or (t["step"] >= start - margin and not t["limited"])]
    tested = {t["step"] for t in tests}
    ph = phases(run)
    untested = [
        b.start
        for a, b in zip(ph, ph[1:], strict=False)
        if b.lr < a.lr and b.start >= start and b.start not in tested
    ]
    before = [t["step"] for t in tests if t["step"] < start and t["limited"]]
    osc_in = []
    if sig and sig["oscillating"]:
        osc_in = [r for r in sig["phases"] if r["start"] in sig["oscillating_phases"] and r["end"] >= start]
    out: dict[str, Any] = {
        "oscillating": bool(osc_in),
        "oscillating_lr": max((r["lr"] for r in osc_in if r["lr"]), default=None),
        "signals_present": list(sig["signals_present"]) if sig else [],
        "fluctuation": sig["amplitude"] if sig else None,
        "decays_in_plateau": [
            {
                k: t[k]
                for k in ("step", "lr_before", "lr_after", "observed_drop", "predicted_drop", "z", "limited")
            }
            for t in inside
        ],
        "untested_decays_in_plateau": untested,
        "earlier_lr_limited_decays": before,
    }
    if not has_lr:
        out["verdict"] = "no_lr"
    elif out["oscillating"]:
        out["verdict"] = "oscillation"
    elif any(t["limited"] for t in inside):
        out["verdict"] = "lr_limited"
    elif inside:
        out["verdict"] = "not_step_size"
    elif untested:
        out["verdict"] = "decays_untested"
    else:
        out["verdict"] = "untested"
    return out


def detect_loss_plateau(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect a training or validation loss that stopped improving before the end of the run.

    Returns
    -------
    ``loss_plateau`` Findings, at most one for the training loss and one for the
    validation loss (``tags`` says which): ``step_range`` = (plateau start, last step);
    evidence ``plateau_start_step``, ``improvement_since`` (relative),
    ``improvement_before``, ``fraction_of_run``, the tail's trend, and ``step_size`` (the
    verdict on the step size, see :func:`step_size_verdict`).

    Raises
    ------
    NotAssessable
        When the run has no training loss.
    """
    d = require_loss(run, "loss_plateau", min_points=config.min_loss_points)
    if divergence_info(run, config) is not None:
        return []
    out: list[Finding] = []
    p = plateau_of(d, -math.inf, math.inf, config)
    train_falling = False
    if p is not None and _is_plateau(p, config):
        out.append(_finding(run, d, p, "training", config))
    else:
        tr = trend_of(run, d.tag, config=config)
        train_falling = tr is not None and tr.direction == "falling"
    vtag = run.roles.get("val_loss")
    # (a validation plateau beside overfitting is settled by the reconciliation step)
    if vtag and vtag in run:
        v = series_data(run, vtag)
        pv = plateau_of(v, -math.inf, math.inf, config, min_points=config.val_min_points)
        if pv is not None and _is_plateau(pv, config):
            out.append(_finding(run, v, pv, "validation", config, train_falling=train_falling))
    return out


def _is_plateau(p: Plateau, config: AnalysisConfig) -> bool:
    if p.fraction < config.plateau_min_fraction:
        return False
    if p.above_best > config.plateau_rise_bands * p.band:
        return False  # the flat tail sits above the best level: the loss rose, it did not stall
    if p.band > config.plateau_max_band:
        return False  # the level is too noisy to say where it stopped moving
    # still falling steadily over the tail: that is slow progress, not a plateau
    return not (math.isfinite(p.trend_drop) and p.trend_drop >= config.plateau_band)


def _finding(
    run: Run, d: SeriesData, p: Plateau, which: str, config: AnalysisConfig, *, train_falling: bool = False
) -> Finding:
    verdict = step_size_verdict(run, p.start_step, config)
    never = p.start_step == int(d.fsteps[0])
    ev: dict[str, Any] = {
        "series": which,
        "plateau_start_step": p.start_step,
        "improvement_since": p.improvement_since,
        "improvement_before": p.improvement_before,
        "level_at_start": p.start_level,
        "end_level": p.end_level,
        "fraction_of_run": p.fraction,
        "band": p.band,
        "slope": p.slope,
        "slope_ci": [p.slope_low, p.slope_high],
        "trend_drop_over_plateau": p.trend_drop,
        "step_size": verdict,
    }
    what = "The loss" if which == "training" else "The validation loss"
    if never and which == "validation":
        summary = (
            f"{what} was flat from its first evaluation (step {fmt_step(p.start_step)}) on: it "
            f"stayed within {pct(p.band)} of {fmt_num(p.end_level)}."
        )
    elif never:
        summary = (
            f"{what} never improved: it stayed within {pct(p.band)} of {fmt_num(p.end_level)} "
            f"for the whole run."
        )
    else:
        summary = (
            f"{what} stopped improving around step {fmt_step(p.start_step)} "
            f"(the last {pct(p.fraction)} of the run): it moved by only {pct(abs(p.improvement_since))} since "
            f"({fmt_num(p.start_level)} → {fmt_num(p.end_level)}), after falling "
            f"{pct(p.improvement_before)} before."
        )
    if which == "validation" and train_falling:
        summary += " The training loss is still falling."
    expl, rec = _advice(run, p, verdict, config)
    if which == "validation" and train_falling:
        expl = (
            "The training loss keeps falling while the loss on held-out data does not: the extra "
            "steps fit the training set only (its noise and idiosyncrasies), without generalising. " + expl
        )
        # the step-size advice of _advice is about the training loss; here the training loss
        # is still improving, so only the generalisation advice applies
        rec = (
            f"Keep the checkpoint from around step {fmt_step(p.start_step)}: later steps fit the "
            "training set only. To go further, improve generalisation (regularisation, augmentation, "
            "more or cleaner data)."
        )
    # a converged loss is not a problem by itself; one that never moved is
    severity: Severity = "warning" if never and which == "training" else "info"
    return Finding(
        id="loss_plateau",
        severity=severity,
        summary=summary,
        tags=(d.tag,),
        step_range=(p.start_step, int(d.fsteps[-1])),
        confidence=min(
            config.confidence_max,
            config.plateau_confidence_base + config.plateau_confidence_per_fraction * min(1.0, p.fraction),
        ),
        evidence=ev,
        explanation=expl,
        recommendation=rec,
        references=(
            "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.3.1 (SGD and the "
            "learning-rate schedule)",
        ),
    )


def _max_promise(run: Run, config: AnalysisConfig) -> float | None:
    """The largest first-order promise eta*||g||^2 / loss over the LR phases (plain SGD,
    L2 norm), or None when the log cannot give it."""
    sig = oscillation_signals(run, config)
    vals = [r["first_order_ratio"] for r in (sig["phases"] if sig else []) if "first_order_ratio" in r]
    return max(vals) if vals else None


def _advice_oscillation(
    run: Run, p: Plateau, verdict: dict[str, Any], config: AnalysisConfig
) -> tuple[str, str]:
    """The plateau explained by a too-large step: (explanation, recommendation)."""
    lr_now = lr_at(run, p.end_step)
    expl = (
        "The step size explains it: the loss shows the signatures of a step too large for the "
        "curvature ("
        + "; ".join(SIGNAL_WORDS[s] for s in verdict["signals_present"])
        + "), so the iterate bounces instead of descending (see step_size_oscillation)."
    )
    lr_osc = verdict["oscillating_lr"] or lr_now
    target = nice_floor(lr_osc / config.lr_lower_factor) if math.isfinite(lr_osc) else math.nan
    rec = (
        (
            f"Lower the LR about {config.lr_lower_factor:g}x ({fmt_lr(lr_osc)} → {fmt_lr(target)}) or decay it around step "
            f"{fmt_step(p.start_step)}."
        )
        if math.isfinite(lr_osc)
        else f"Lower the LR about {config.lr_lower_factor:g}x."
    )
    return expl, rec


def _advice_not_step_size(
    run: Run, p: Plateau, verdict: dict[str, Any], config: AnalysisConfig
) -> tuple[str, str]:
    """The LR decays inside the plateau changed nothing: (explanation, recommendation)."""
    tested = ", ".join(
        f"step {fmt_step(t['step'])}: {pct(t['observed_drop'])} observed vs "
        f"{pct(t['predicted_drop'])} predicted"
        for t in verdict["decays_in_plateau"]
    )
    expl = (
        "The step size does not look like the cause: no oscillation signature (checked: "
        "alternation, amplitude vs LR, validation, gradient norm, first-order ratio), and the "
        f"LR decays inside the plateau did not lower the loss beyond its trend ({tested}). "
        "The model has reached what this data, capacity and regularisation allow at this "
        "stage."
    )
    promise = _max_promise(run, config)
    if promise is not None and promise < config.lr_small_max_promise:
        # a decay that changes nothing rules out the LR's noise floor, not an LR too small
        # to make progress: with steps that promise a sliver of the loss, do not say stop
        expl += (
            f" Each step promised at most {pct(promise)} of the loss (η‖g‖², at the highest LR), "
            "so an LR too small to make progress in time fits the log as well."
        )
        rec = (
            f"Before stopping around step {fmt_step(p.start_step)}, rule out an LR too small: a short "
            "run at 3-10x the LR (an LR range test) shows whether the loss can go lower faster. If it "
            "cannot, change what limits the loss: more capacity, less regularisation, or better data."
        )
    else:
        rec = (
            f"Stop earlier (around step {fmt_step(p.start_step)}) to save compute, or change what limits "
            "the loss: more capacity, less regularisation (dropout, weight decay) if the training loss "
            "is the target, or better data. To confirm the step size is fine, an LR range test or a "
            "line search on a small subset is cheap."
        )
    return expl, rec


def _advice_lr_unchanged(
    run: Run, p: Plateau, verdict: dict[str, Any], config: AnalysisConfig
) -> tuple[str, str]:
    """The LR did not change during the plateau: (explanation, recommendation)."""
    lr_now = lr_at(run, p.end_step)
    expl = (
        "The LR did not change during the plateau, so the log cannot show whether a decay would "
        "have helped; the loss shows no oscillation signature."
    )
    if verdict["earlier_lr_limited_decays"]:
        earlier = ", ".join(fmt_step(x) for x in verdict["earlier_lr_limited_decays"])
        expl += (
            f" Earlier, the decay at step {earlier}"
            " lowered the loss at once (see lr_limited_plateau), so this level is likely set by the "
            "LR too."
        )
    if verdict["earlier_lr_limited_decays"] and math.isfinite(lr_now):
        rec = (
            f"Decay the LR once more ({config.lr_decay_factor:g}x: {fmt_lr(lr_now)} → "
            f"{fmt_lr(lr_now / config.lr_decay_factor)}) around step "
            f"{fmt_step(p.start_step)}: the earlier decay showed the LR sets the level."
        )
    elif math.isfinite(lr_now):
        rec = (
            f"If a lower loss matters, test whether the LR sets this level: a {config.lr_decay_factor:g}x decay "
            f"({fmt_lr(lr_now)} → {fmt_lr(lr_now / config.lr_decay_factor)}) from around step {fmt_step(p.start_step)}; "
            "with a fixed LR SGD settles at a noise floor the LR sets, and a loss that drops at once "
            "after the decay shows it. Otherwise the run could have stopped there."
        )
    else:
        rec = (
            f"If a lower loss matters, test a {config.lr_decay_factor:g}x LR decay from around step "
            f"{fmt_step(p.start_step)}: "
            "a loss that drops at once shows the LR set the level."
        )
    return expl, rec


def _advice(run: Run, p: Plateau, verdict: dict[str, Any], config: AnalysisConfig) -> tuple[str, str]:
    """Return (explanation, recommendation) for a plateau given the step-size verdict."""
    v = verdict["verdict"]
    beta = momentum(run)
    b = batch_size(run)
    expl = (
        "A plateau is the loss no longer decreasing at a rate that matters: its smoothed level "
        f"stayed within {pct(p.band)} of its final value from step {fmt_step(p.start_step)} on. "
    )
    if v == "oscillation":
        more, rec = _advice_oscillation(run, p, verdict, config)
        expl += more
    elif v == "lr_limited":
        hit = [t for t in verdict["decays_in_plateau"] if t["limited"]][0]
        expl += (
            f"The LR decay at step {fmt_step(hit['step'])} lowered the loss {pct(hit['observed_drop'])} "
            f"against {pct(hit['predicted_drop'])} predicted by its trend: the level was set by the LR "
            "(see lr_limited_plateau)."
        )
        rec = f"Decay the LR around step {fmt_step(p.start_step)}, when progress stopped."
    elif v == "not_step_size":
        more, rec = _advice_not_step_size(run, p, verdict, config)
        expl += more
    elif v == "decays_untested":
        steps_ = ", ".join(fmt_step(x) for x in verdict["untested_decays_in_plateau"])
        expl += (
            f"The LR was decayed during the plateau (at step {steps_}) but the log has too few points "
            "around the decays to test whether the loss dropped beyond its trend; no oscillation "
            "signature was found."
        )
        rec = (
            f"Stop earlier (around step {fmt_step(p.start_step)}): further decays did not restart progress "
            "visibly. Change what limits the loss instead (capacity, regularisation, data); log the loss "
            "more often to let the decays be tested."
        )
    elif v == "no_lr":
        expl += "The log has no LR series, so whether the step size set this level cannot be tested."
        rec = (
            f"Log the learning rate. If it was constant, a decay ({config.lr_decay_factor:g}x) around step "
            f"{fmt_step(p.start_step)} "
            "is the usual next step: SGD with a fixed LR settles at a noise floor set by the LR."
        )
    else:
        more, rec = _advice_lr_unchanged(run, p, verdict, config)
        expl += more
    fl = verdict["fluctuation"]
    if fl is not None and math.isfinite(fl) and fl >= config.noise_min_amplitude and v != "oscillation":
        rec += (
            f" The loss scatters ±{pct(fl)} from minibatch noise: a larger batch "
            + (f"({b} → {4 * b}) " if b else "(4x) ")
            + "halves that."
        )
    if beta is not None and v == "oscillation":
        rec += f" (Momentum β = {beta:g}: the heavy-ball limit is ηλ < {2 * (1 + beta):.3g}.)"
    return expl, rec
