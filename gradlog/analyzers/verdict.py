"""Reconciliation: the detectors' findings turned into one coherent story and the run's
learning-rate verdict.

Detectors measure and report independently; this is the one place that reads all of
their findings together (never a file, never a detector). It removes what another
finding contradicts (``noisy_loss`` beside ``step_size_oscillation`` on the same steps; a
"stop here" while the validation metric still improves; a training plateau while the
loss still falls significantly at the end), and sets the :class:`~gradlog.findings.LRAdvice`
that every report shows first. The verdict never contradicts the findings it leaves.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import clipping, is_adaptive_optimizer, series_data
from gradlog.analyzers.lr_small import late_descent
from gradlog.analyzers.overfitting import metric_since
from gradlog.analyzers.spikes import recommendation as spike_advice
from gradlog.findings import Finding, LRAdvice
from gradlog.run import Run
from gradlog.wording import fmt_lr, fmt_step, nice_floor, pct

__all__ = ["lr_verdict", "reconcile", "speak_epochs", "still_falling"]


def _first(findings: list[Finding], fid: str) -> Finding | None:
    return next((f for f in findings if f.id == fid), None)


def _because(f: Finding, *keys: str) -> dict[str, Any]:
    return {"finding": f.id, "evidence": {k: f.evidence[k] for k in keys if k in f.evidence}}


def _lr_now(run: Run) -> float | None:
    tag = run.roles.get("lr")
    if not tag or tag not in run:
        return None
    d = series_data(run, str(tag))
    if d.n == 0:
        return None
    v = float(d.fvalues[-1])
    return v if math.isfinite(v) else None


def _positive(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _overlap(a: tuple[int, int] | None, b: tuple[int, int] | None) -> bool:
    if a is None or b is None:
        return True
    return a[0] <= b[1] and b[0] <= a[1]


def still_falling(run: Run, config: AnalysisConfig = DEFAULT_CONFIG) -> dict[str, Any] | None:
    """Return the late-descent measure when the training loss is still falling steadily
    at the end (its last quarter ``config.lr_small_z`` standard errors below the third,
    and at least ``config.still_falling_min_rel`` lower), else None."""
    m = late_descent(run, config)
    if m is None:
        return None
    if m["late_z"] >= config.lr_small_z and m["late_drop_rel"] >= config.still_falling_min_rel:
        return m
    return None


_STOP_RE = re.compile(r"\b(stop|stopping|stopped)\b", re.I)


def _says_stop(f: Finding) -> bool:
    """True when the recommendation speaks of stopping the run (not of a loss that stopped)."""
    rec = f.recommendation
    return (
        bool(_STOP_RE.search(rec))
        and not rec.lower().startswith("do not stop")
        and ("stops improving" not in rec.lower() or rec.lower().startswith("stop"))
    )


_STEP_NUMBER_RE = re.compile(r"\b([Ss])teps? (?=[0-9])")


def _in_epochs(text: str) -> str:
    """``step 8`` -> ``epoch 8`` (only before a number: "step size" stays)."""
    return _STEP_NUMBER_RE.sub(lambda m: "Epoch " if m.group(1) == "S" else "epoch ", text)


def speak_epochs(
    run: Run, findings: list[Finding], advice: LRAdvice | None = None
) -> tuple[list[Finding], LRAdvice | None]:
    """For a log whose step is the epoch (``meta["step_unit"] == "epoch"``), say "epoch N"
    where the findings and the verdict say "step N"; other logs are returned unchanged."""
    if str(run.meta.get("step_unit", "")).lower() != "epoch":
        return findings, advice
    out = [
        dataclasses.replace(
            f,
            summary=_in_epochs(f.summary),
            explanation=_in_epochs(f.explanation),
            recommendation=_in_epochs(f.recommendation),
        )
        for f in findings
    ]
    if advice is not None:
        advice = dataclasses.replace(advice, summary=_in_epochs(advice.summary))
    return out, advice


def reconcile(run: Run, findings: list[Finding], *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Return the findings of ``run`` made consistent with each other.

    - ``noisy_loss`` ("no sign of a too-large step", "nothing is wrong") is dropped where
      ``step_size_oscillation`` or ``divergence`` covers the same steps;
    - ``lr_too_small`` is dropped beside oscillation or divergence;
    - a validation ``loss_plateau`` is dropped beside ``overfitting`` (which tells it);
    - a training ``loss_plateau`` is dropped while the loss still falls steadily at the
      end (:func:`still_falling`): that is slow progress, not a plateau;
    - ``loss_spikes`` does not advise lowering the LR beside ``lr_too_small`` (kept);
    - a recommendation to stop is rewritten while the validation metric still improves
      after the step it names by more than its noise.
    """
    too_large = [f for f in findings if f.id in ("step_size_oscillation", "divergence")]
    overfit = any(f.id == "overfitting" for f in findings)
    blown = any(f.id in ("divergence", "step_size_oscillation") for f in findings)
    falling = still_falling(run, config)
    too_small = not blown and any(f.id == "lr_too_small" for f in findings)
    out: list[Finding] = []
    for f in findings:
        if f.id == "loss_spikes" and too_small:
            f = dataclasses.replace(f, recommendation=spike_advice(f.evidence, lower_lr=False))
        if f.id == "noisy_loss" and any(_overlap(f.step_range, o.step_range) for o in too_large):
            continue
        if f.id == "lr_too_small" and blown:
            continue
        if f.id == "loss_plateau" and f.evidence.get("series") == "validation" and overfit:
            continue  # the validation loss rose from its minimum: overfitting tells that story
        if (
            f.id == "loss_plateau"
            and f.evidence.get("series") == "training"
            and falling is not None
            and not blown
        ):
            continue
        if f.id in ("loss_plateau", "overfitting") and _says_stop(f) and f.step_range is not None:
            gain = metric_since(run, int(f.step_range[0]), math.inf, config)
            if gain is not None and gain["improved"]:
                name = str(gain["tag"]).rsplit("/", 1)[-1]
                f = dataclasses.replace(
                    f,
                    recommendation=(
                        f"Do not stop at step {fmt_step(f.step_range[0])}: the validation {name} still "
                        f"improved after it ({gain['at_min']:.4g} → {gain['end']:.4g}). Keep the checkpoint "
                        f"with the best validation {name}."
                    ),
                    evidence={**f.evidence, "val_metric_after": gain},
                )
        out.append(f)
    return out


def _lower(run: Run, f: Finding, lr: float | None, config: AnalysisConfig, *, diverged: bool) -> LRAdvice:
    """Return the ``lower`` verdict that ``f`` (a divergence or an oscillation) supports."""
    to_lr = _positive(f.evidence.get("suggested_lr"))
    base = _positive(f.evidence.get("lr_at_blowup")) or _positive(f.evidence.get("oscillating_lr")) or lr
    if to_lr is None and base is not None:
        to_lr = nice_floor(base / (config.lr_decay_factor if diverged else config.lr_lower_factor))
    what = (
        "the loss diverged"
        if diverged
        else "the loss bounces: each step overshoots the valley it should descend"
    )
    tail = f" (about {fmt_lr(to_lr)})" if to_lr is not None else ""
    summary = f"Lower the learning rate{tail}: {what}"
    if f.step_range is not None:
        summary += f" (from step {fmt_step(f.step_range[0])})"
    summary += "."
    if not diverged:
        summary += " Decaying it earlier works too."
    if is_adaptive_optimizer(run):
        summary += " (Adaptive optimizer: judged from the loss and gradient-norm pattern.)"
    keys = (
        ("suggested_lr", "fold_rise", "lr_at_blowup")
        if diverged
        else ("signals_present", "first_order_ratio", "suggested_lr")
    )
    return LRAdvice(
        "lower",
        summary,
        step_range=f.step_range,
        lr=lr,
        to_lr=to_lr,
        confidence=f.confidence,
        because=(_because(f, *keys),),
    )


def lr_verdict(run: Run, findings: list[Finding], *, config: AnalysisConfig = DEFAULT_CONFIG) -> LRAdvice:
    """Return the learning-rate verdict that the (reconciled) findings of ``run`` support.

    Precedence: divergence or non-finite loss, then step-size oscillation (``lower``); an
    LR-limited plateau (``decay_now`` when the loss is flat again at the end, else
    ``decay_earlier``); an LR too small (``raise``); otherwise ``keep`` when the loss
    could be judged, ``unknown`` with the reason when it could not (no loss, too few
    points). Never ``raise`` beside oscillation or divergence, never ``lower`` or a decay
    while the loss still falls steadily at the end without a bounce.

    Returns
    -------
    LRAdvice
    """
    lr = _lr_now(run)
    div = _first(findings, "divergence")
    osc = _first(findings, "step_size_oscillation")
    plat = _first(findings, "lr_limited_plateau")
    small = _first(findings, "lr_too_small")
    if div is not None:
        return _lower(run, div, lr, config, diverged=True)
    if osc is not None:
        return _lower(run, osc, lr, config, diverged=False)
    if plat is not None:
        return _decay_advice(run, plat, lr, config)
    if small is not None:
        return _raise_advice(small, lr)
    loss = run.roles.get("loss")
    if not loss or loss not in run:
        return LRAdvice(
            "unknown",
            "No verdict: the log has no training loss.",
            lr=lr,
            confidence=0.0,
            reason="no training loss",
        )
    d = series_data(run, str(loss))
    if d.n == 0:
        return LRAdvice(
            "unknown",
            "No verdict: the training loss has no finite value.",
            lr=lr,
            confidence=0.0,
            reason="no finite loss values",
        )
    if d.n < config.verdict_min_points:
        return LRAdvice(
            "unknown",
            f"No verdict: only {d.n} loss points were logged.",
            lr=lr,
            confidence=0.0,
            reason=f"too few points ({d.n})",
        )
    nf = _first(findings, "nonfinite_values")
    if nf is not None and any(t == loss for t in nf.tags):
        return _lower(run, nf, lr, config, diverged=True)
    return _keep_advice(run, findings, lr, config)


def _decay_advice(run: Run, plat: Finding, lr: float | None, config: AnalysisConfig) -> LRAdvice:
    """Return the ``decay_now`` or ``decay_earlier`` verdict an LR-limited plateau supports."""
    # "now" only while the loss is not still falling (a decay is about the past otherwise)
    again = plat.evidence.get("flat_again_since") is not None and still_falling(run, config) is None
    decays = plat.evidence.get("decays") or []
    hit: dict[str, Any] = next((t for t in decays if t.get("limited")), {})
    ev = {
        "decay_step": hit.get("step"),
        "observed_drop": hit.get("observed_drop"),
        "predicted_drop": hit.get("predicted_drop"),
        "z": hit.get("z"),
    }
    cited = ({"finding": plat.id, "evidence": ev},)
    if again and lr is not None:
        since = int(plat.evidence["flat_again_since"])
        return LRAdvice(
            "decay_now",
            f"Decay the learning rate now ({fmt_lr(lr)} → {fmt_lr(lr / config.lr_decay_factor)}): the loss has "
            f"been flat again since step {fmt_step(since)}, and the last decay lowered it at once.",
            step_range=(since, int(plat.evidence.get("last_step", since))),
            lr=lr,
            to_lr=lr / config.lr_decay_factor,
            confidence=plat.confidence,
            because=cited,
        )
    start = plat.step_range[0] if plat.step_range else None
    drop = hit.get("observed_drop")
    summary = "Decay the learning rate earlier"
    if start is not None:
        summary += f" (around step {fmt_step(start)})"
    summary += ": the loss waited on a plateau until "
    summary += (
        f"the decay at step {fmt_step(hit['step'])} lowered it {pct(drop)} at once."
        if hit.get("step") is not None and drop is not None
        else "a decay lowered it."
    )
    return LRAdvice(
        "decay_earlier",
        summary,
        step_range=plat.step_range,
        lr=lr,
        confidence=plat.confidence,
        because=cited,
    )


def _raise_advice(small: Finding, lr: float | None) -> LRAdvice:
    """Return the ``raise`` verdict an ``lr_too_small`` finding supports."""
    to_lr = _positive(small.evidence.get("suggested_lr"))
    summary = "Raise the learning rate"
    if to_lr is not None:
        summary += f" (about {fmt_lr(to_lr)})"
    summary += (
        f": the loss was still falling steadily at the end, {pct(small.evidence.get('late_share', math.nan))}"
        " of its whole decrease in the last half of the run, without bouncing."
    )
    return LRAdvice(
        "raise",
        summary,
        step_range=small.step_range,
        lr=lr,
        to_lr=to_lr,
        confidence=small.confidence,
        because=(_because(small, "late_share", "late_z", "promise_share", "suggested_lr"),),
    )


def _keep_advice(run: Run, findings: list[Finding], lr: float | None, config: AnalysisConfig) -> LRAdvice:
    """Return the ``keep`` verdict (no sign of an LR too large or too small), with the
    training plateau and the clipping it should mention."""
    summary = "Keep the learning rate: no sign that it is too large (no bounce, no blow-up) or too small."
    plateau = next(
        (f for f in findings if f.id == "loss_plateau" and f.evidence.get("series") == "training"), None
    )
    because: tuple[dict[str, Any], ...] = ()
    if plateau is not None:
        summary += (
            f" The loss has been flat since step {fmt_step(plateau.evidence.get('plateau_start_step', 0))};"
            " whether the LR sets that level, only a decay can show."
        )
        because = (_because(plateau, "plateau_start_step", "improvement_since"),)
    if lr is None:
        summary = summary.replace("Keep the learning rate", "Keep the learning rate (not logged)")
    confidence = config.keep_confidence
    clip = clipping(run, config)
    if clip is not None:
        at = f" at {clip['threshold']:.3g}" if clip.get("threshold") else ""
        share = f" on {pct(clip['share'])} of the logged steps" if clip.get("share") else ""
        summary += (
            f" The gradient norm was clipped{at}{share}: clipping caps each step, so it can hide "
            "an LR that is too large; judge the LR with the clipping off or from the clipped share."
        )
        confidence = config.keep_confidence_clipped
    return LRAdvice("keep", summary, lr=lr, confidence=confidence, because=because)
