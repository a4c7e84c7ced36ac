"""Divergence (the loss blew up) and non-finite values (NaN/inf in a series)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import (
    NotAssessable,
    cached,
    is_adaptive_optimizer,
    loss_data,
    lr_at,
    momentum,
    require_loss,
    series_data,
)
from gradlog.analyzers.stats import bin_medians, pow10, robust_sd, running_median
from gradlog.analyzers.wording import fmt_lr, fmt_num, fmt_step, nice_round, times
from gradlog.findings import Finding
from gradlog.run import Run

__all__ = ["divergence_info", "detect_divergence", "detect_nonfinite_values"]

_REFS_DIV = (
    "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.2.4 (cliffs and exploding gradients) "
    "and §11.4.1 (the learning rate is the first hyperparameter to tune)",
    "Pascanu, Mikolov & Bengio, On the difficulty of training recurrent neural networks, ICML 2013 "
    "(gradient norm clipping)",
)


def _trailing_excursion(
    y: np.ndarray,
    steps: np.ndarray,
    min_step: float,
    min_level: float,
    logspace: bool,
    config: AnalysisConfig,
    signed_need: float,
) -> int | None:
    """Return the index where a persistent excursion that runs to the last point begins, or None.

    The excursion is the trailing run of at least 3 points (after the minimum) that are all
    ``config.divergence_factor`` above the minimum (for a signed loss: ``signed_need``
    above it) and all ``config.divergence_excursion_z`` noise SDs above the median of the points before
    the run.
    """
    need = math.log10(config.divergence_factor) if logspace else signed_need
    if not need > 0:
        return None
    high = y >= min_level + need
    if not high[-1]:
        return None
    lows = np.flatnonzero(~high)
    i0 = int(lows[-1]) + 1 if lows.size else 0
    if len(y) - i0 < 3 or i0 < 5 or steps[i0] <= min_step:
        return None
    before = y[max(0, i0 - max(20, len(y) // 10)) : i0]
    ref = float(np.median(before))
    sd = robust_sd(np.diff(before)) / math.sqrt(2.0) if before.size >= 5 else 0.0
    if not bool(np.all(y[i0:] >= ref + config.divergence_excursion_z * sd)) or not bool(np.all(y[i0:] > ref)):
        return None
    return i0


def signed_gap(y: np.ndarray) -> float:
    """For a loss that is not positive: the gap below every later level that makes the
    first value a level of its own (ten times the series' point-to-point noise)."""
    return 10.0 * robust_sd(np.diff(y)) / math.sqrt(2.0) if y.size >= 5 else math.inf


def divergence_info(run: Run, config: AnalysisConfig = DEFAULT_CONFIG) -> dict[str, Any] | None:
    """Return where and how the loss diverged, or None when it did not.

    The loss diverged when it turned non-finite for good (the rest of the log is mostly
    NaN/inf), or when its smoothed level ends ``config.divergence_factor`` above its
    running minimum having lost ``config.divergence_progress_lost`` of the progress it
    had made, or when the last (at least 3) points all sit that far above the minimum and
    far out of the noise before them (a blow-up at the very end of the log). A loss that
    is not positive (a WGAN critic) has no ratios: it must rise by at least
    ``config.divergence_factor`` times its own magnitude and 10 noise SDs. ``begin_step``
    is the last step at which the loss was still near its minimum before the blow-up.

    Returns
    -------
    dict with ``kind`` (``"nonfinite"`` or ``"blowup"``), ``begin_step``, ``min_step``,
    ``min_level``, ``end_level``, ``nonfinite_step`` (or None), ``rise_factor`` (NaN for
    a signed loss), ``rise`` (end minus minimum, in loss units), ``log_space``; or None.
    """

    def make() -> dict[str, Any] | None:
        d = loss_data(run)
        if d is None or len(d.values) < 4:
            return None
        fin = np.isfinite(d.values)
        nonfinite_step = None
        cut = len(d.values)
        if not fin.all():
            bad = np.flatnonzero(~fin)
            for i in bad:
                after = fin[i:]
                if (~after).mean() >= 0.5:
                    nonfinite_step = int(d.steps[i])
                    cut = int(i)
                    break
        steps = d.steps[:cut][fin[:cut]]
        vals = d.values[:cut][fin[:cut]]
        if vals.size < 4:
            if nonfinite_step is None:
                return None
            return {
                "kind": "nonfinite",
                "begin_step": nonfinite_step,
                "min_step": None,
                "min_level": math.nan,
                "end_level": math.nan,
                "nonfinite_step": nonfinite_step,
                "rise_factor": math.inf,
                "rise": math.inf,
                "log_space": bool(d.positive),
            }
        logspace = d.positive or bool(np.all(vals > 0))
        y = np.log10(vals) if logspace else vals
        xb, yb = bin_medians(steps.astype(float), y, config.max_bins)
        # a level is a median over a window of logged points, never one minibatch value
        sm = running_median(yb, 5 if len(yb) >= 10 else 3)
        k = max(config.level_min_points, int(round(config.level_fraction * len(y))))
        end_level = float(np.median(y[-min(k, len(y)) :]))
        # the minimum comes before the rise: it is searched before the last window
        n_end = max(1, int(np.searchsorted(xb, steps[-min(k, len(y))], side="left")))
        imin = int(np.argmin(sm[:n_end])) if n_end < len(sm) else int(np.argmin(sm))
        min_level = float(sm[imin])
        start_level = float(sm[0])
        # the first logged values: a loss that jumps far above them right after the start
        # and stays there diverged from the start (its smoothed minimum is already high)
        first_level = float(np.median(y[:3]))
        if y.size >= 4 and float(y[0]) < float(np.min(sm)) - (
            math.log10(config.divergence_factor) if logspace else signed_gap(y)
        ):
            # the first value (the loss at initialisation) lies far below every level after
            # it: the loss jumped away from it at once (one lucky batch is never that far)
            first_level = float(y[0])
        if first_level < min_level:
            min_level, start_level, imin = first_level, first_level, 0
        to_v = pow10 if logspace else float
        # the point-to-point noise of the loss (robust; analysis space)
        noise = robust_sd(np.diff(y)) / math.sqrt(2.0) if len(y) >= 5 else 0.0
        if not math.isfinite(noise):
            noise = 0.0
        # a signed loss (a WGAN critic, a log-likelihood) has no ratios: its rise must be
        # large against its own magnitude and stand far out of its noise
        scale = max(abs(min_level), abs(start_level))
        signed_need = max(config.divergence_factor * scale, config.divergence_signed_z * noise)

        def diverged(level: float) -> bool:
            if logspace:
                lost = (to_v(level) - to_v(min_level)) / max(to_v(start_level) - to_v(min_level), 1e-300)
                return level - min_level >= math.log10(config.divergence_factor) and (
                    lost >= config.divergence_progress_lost or to_v(start_level) <= to_v(min_level) * 1.05
                )
            rng = float(np.ptp(sm))
            rise = level - min_level
            return (
                rng > 0
                and rise >= 0.5 * rng
                and level > start_level
                and signed_need > 0
                and rise >= signed_need
            )

        excursion_begin = None
        blowup = False
        if nonfinite_step is None:
            blowup = diverged(end_level)
            if not blowup:
                # a blow-up at the very end of the log: the last points all far above the
                # minimum and far out of the noise of the points before them
                i_excursion = _trailing_excursion(
                    y, steps, xb[imin], min_level, logspace, config, signed_need
                )
                if i_excursion is not None and diverged(float(np.median(y[i_excursion:]))):
                    blowup = True
                    end_level = float(np.median(y[i_excursion:]))
                    excursion_begin = int(steps[i_excursion - 1])
            if not blowup:
                return None
        blow_factor = to_v(end_level) / to_v(min_level) if logspace else math.nan
        # where it began: the last step the (lightly smoothed) loss was near its minimum
        seg0 = int(np.searchsorted(steps, xb[imin], side="left"))
        seg_steps, seg_y = steps[seg0:], y[seg0:]
        if excursion_begin is not None:
            begin = excursion_begin
        elif seg_y.size >= 3:
            rm = running_median(seg_y, 9 if seg_y.size >= 9 else 3)
            noise = robust_sd(seg_y - rm) if seg_y.size >= 9 else 0.0
            band = max(math.log10(1.1) if logspace else 0.1 * abs(min_level), 2.0 * noise / 3.0)
            near = np.flatnonzero(rm <= min_level + band)
            # the last point near the minimum, before the final, persistent excursion
            begin = int(seg_steps[int(near[-1])]) if near.size else int(seg_steps[0])
        else:
            begin = nonfinite_step if nonfinite_step is not None else int(steps[-1])
        # the minimum's step: a logged step (the bin's centre may never have been logged)
        min_step = int(steps[int(np.argmin(np.abs(steps.astype(float) - float(xb[imin]))))])
        if nonfinite_step is None and min_step >= begin and begin != int(steps[0]):
            return None  # the minimum must come before the rise
        return {
            "kind": "nonfinite" if nonfinite_step is not None else "blowup",
            "begin_step": begin,
            "sustained_points": int(np.sum(steps > begin)),
            "min_step": min_step,
            "min_level": to_v(min_level),
            "end_level": to_v(end_level),
            "nonfinite_step": nonfinite_step,
            "rise_factor": blow_factor if nonfinite_step is None else math.inf,
            "rise": (to_v(end_level) - to_v(min_level)) if nonfinite_step is None else math.inf,
            "log_space": logspace,
        }

    return cached(run, ("divergence", config), make)


def _resume_before(run: Run, d: Any, begin: int, config: AnalysisConfig) -> int | None:
    """The step of a resume (``meta["restarts"]`` entries with a ``step``, or a log that
    starts mid-run from a snapshot) that the blow-up follows within
    ``config.divergence_resume_points`` logged points, else None."""
    steps = d.fsteps
    if steps.size == 0:
        return None
    cands = [
        int(r["step"])
        for r in (run.meta.get("restarts") or [])
        if isinstance(r, dict) and isinstance(r.get("step"), (int, float)) and r.get("step")
    ]
    if run.meta.get("resumed_from") or (steps[0] > 0 and run.meta.get("format") == "caffe"):
        cands.append(int(steps[0]))
    for c in sorted(set(cands)):
        i0 = int(np.searchsorted(steps, c, side="left"))
        i1 = int(np.searchsorted(steps, begin, side="right"))
        if c <= begin and i1 - i0 <= config.divergence_resume_points:
            return c
    return None


def detect_divergence(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect a loss that blew up (far above its minimum for good, or to NaN/inf).

    Returns
    -------
    list with at most one ``divergence`` Finding (critical): ``step_range[0]`` is where it
    began; evidence ``lr_at_divergence`` and ``suggested_lr`` (None without an LR series),
    ``rise_factor`` (end over minimum; NaN for a loss that is not positive) and ``rise``
    (end minus minimum, in loss units).

    Raises
    ------
    NotAssessable
        When the run has no training loss.
    """
    d = require_loss(run, "divergence", min_points=0)
    if len(d.values) < 4:
        raise NotAssessable("divergence", f"the loss {d.tag} has {len(d.values)} points (at least 4 needed)")
    info = divergence_info(run, config)
    if info is None:
        return []
    begin = info["begin_step"]
    last = int(d.steps[-1])
    lr = lr_at(run, begin)
    suggested = nice_round(lr * config.divergence_lr_cut) if math.isfinite(lr) else math.nan
    beta = momentum(run)
    ev: dict[str, Any] = {
        "kind": info["kind"],
        "began_step": begin,
        "nonfinite_step": info["nonfinite_step"],
        "min_step": info["min_step"],
        "min_loss": info["min_level"],
        "end_loss": info["end_level"],
        "rise_factor": info["rise_factor"],
        "rise": info["rise"],
        "lr_at_divergence": lr if math.isfinite(lr) else None,
        "suggested_lr": suggested if math.isfinite(lr) else None,
        "momentum": beta,
    }
    gtag = run.roles.get("grad_total")
    if gtag and gtag in run:
        g = series_data(run, gtag)
        before = g.fvalues[g.fsteps <= begin]
        after = g.fvalues[g.fsteps > begin]
        if before.size and after.size:
            ev["grad_norm_before"] = float(np.median(before[-20:]))
            ev["grad_norm_max_after"] = float(after.max())
    if info["kind"] == "nonfinite":
        what = f"turned non-finite (NaN/inf) at step {fmt_step(info['nonfinite_step'])}"
    elif info["log_space"] and math.isfinite(info["rise_factor"]):
        what = (
            f"rose {times(info['rise_factor'])} above its minimum "
            f"({fmt_num(info['min_level'])} at step {fmt_step(info['min_step'])}) and stayed there"
        )
    else:
        # a signed loss (or one past the float range) has no meaningful ratio: say the rise
        what = (
            f"rose by {fmt_num(info['rise'])} from its minimum ({fmt_num(info['min_level'])} at step "
            f"{fmt_step(info['min_step'])}) to {fmt_num(info['end_level'])} and stayed there"
        )
    summary = f"The loss diverged: it {what}; the blow-up began around step {fmt_step(begin)}."
    resume = _resume_before(run, d, begin, config)
    if resume is not None:
        ev["after_resume_step"] = resume
        summary += (
            f" It began within a few logged points of the resume at step {fmt_step(resume)}: "
            "check that the snapshot restored the solver state (LR, momentum history)."
        )
    expl = (
        "A diverging loss means the updates no longer reduce it: a step of size η along a "
        "direction of curvature λ is stable only while ηλ < 2 for plain gradient descent "
        "(ηλ < 2(1+β) with heavy-ball momentum β); beyond that the iterate is thrown further "
        "out at every step until the numbers overflow. Sharp regions (cliffs) met with a large "
        "LR, an LR warm-up that overshoots, or bad data batches all end this way."
    )
    if beta is not None and not is_adaptive_optimizer(run):
        expl += f" With the logged momentum β = {beta:g} the limit is ηλ < {2 * (1 + beta):.3g}."
    if math.isfinite(lr):
        rec = (
            f"Lower the learning rate: it was {fmt_lr(lr)} when the blow-up began; try about "
            f"{fmt_lr(suggested)} (≈{times(1 / config.divergence_lr_cut)} lower), or keep it and clip the "
            "gradient norm; if it happened at the end of a warm-up, lengthen the warm-up or lower "
            "its peak. Resume from a checkpoint before step " + fmt_step(begin) + "."
        )
    else:
        rec = (
            "Lower the learning rate about 3x (the log has no LR series to say from what), or clip "
            f"the gradient norm; resume from a checkpoint before step {fmt_step(begin)}."
        )
    # critical: a blow-up sustained to the end (enough points above the minimum to be a
    # level, not a spike) or non-finite values; a short excursion at the very end is a warning
    sustained = info["kind"] == "nonfinite" or info.get("sustained_points", 0) >= config.level_min_points
    return [
        Finding(
            id="divergence",
            severity="critical" if sustained else "warning",
            summary=summary,
            tags=(d.tag,),
            step_range=(begin, last),
            confidence=0.95 if info["kind"] == "nonfinite" else 0.85,
            evidence=ev,
            explanation=expl,
            recommendation=rec,
            references=_REFS_DIV,
        )
    ]


def detect_nonfinite_values(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect NaN/inf values in the loss, validation loss, LR or gradient statistics.

    Returns
    -------
    list with at most one ``nonfinite_values`` Finding (critical when the loss or
    validation loss has them, warning when only gradient statistics do).

    Raises
    ------
    NotAssessable
        When the run has neither a loss nor any gradient statistic.
    """
    tags: list[str] = []
    for role in ("loss", "val_loss", "lr", "grad_total"):
        t = run.roles.get(role)
        if t and t in run and t not in tags:
            tags.append(t)
    tags += [t for t in (run.roles.get("grad") or []) if t in run and t not in tags]
    if not any(run.roles.get(r) for r in ("loss", "grad_total")) and not run.roles.get("grad"):
        raise NotAssessable(
            "nonfinite_values",
            f"no training-loss or gradient series in the log (tags: {', '.join(run.tags[:30]) or '(none)'})",
        )
    counts: dict[str, dict[str, Any]] = {}
    for t in tags:
        s = series_data(run, t)
        bad = ~np.isfinite(s.values)
        if bad.any():
            v = s.values[bad]
            counts[t] = {
                "count": int(bad.sum()),
                "of": int(len(s.values)),
                "first_step": int(s.steps[bad][0]),
                "last_step": int(s.steps[bad][-1]),
                "nan": int(np.isnan(v).sum()),
                "inf": int(np.isinf(v).sum()),
            }
    if not counts:
        return []
    loss_tags = {run.roles.get("loss"), run.roles.get("val_loss")}
    in_loss = any(t in loss_tags for t in counts)
    first = min(c["first_step"] for c in counts.values())
    last = max(c["last_step"] for c in counts.values())
    total = sum(c["count"] for c in counts.values())
    rare_grad_only = not in_loss and all(c["count"] <= max(1, 0.01 * c["of"]) for c in counts.values())
    names = ", ".join(sorted(counts))
    summary = (
        f"{total} non-finite value{'s' if total != 1 else ''} (NaN/inf) in {names}, "
        f"first at step {fmt_step(first)}."
    )
    expl = (
        "NaN or inf in the loss means the arithmetic overflowed or a 0/0 occurred (log of 0, "
        "division by a zero norm); once in the weights it spreads to everything."
    )
    if rare_grad_only:
        expl += (
            " Here only a few gradient statistics are non-finite while the loss stayed finite: "
            "with mixed precision and a dynamic loss scaler, such steps are detected and skipped "
            "(the scaler then lowers its scale), which is harmless when rare."
        )
    rec = (
        "Find the first bad step (" + fmt_step(first) + "): lower the LR or clip gradients if the "
        "loss was rising before it; otherwise check the inputs of that batch and operations such as "
        "log/sqrt/division for a zero argument (add an epsilon)."
    )
    if rare_grad_only:
        rec = (
            "Nothing to do if you train with a dynamic loss scaler and these are its skipped steps; "
            "otherwise " + rec[0].lower() + rec[1:]
        )
    return [
        Finding(
            id="nonfinite_values",
            severity="critical" if in_loss else ("info" if rare_grad_only else "warning"),
            summary=summary,
            tags=tuple(sorted(counts)),
            step_range=(first, last),
            confidence=1.0,
            evidence={"per_tag": counts, "first_step": first, "total": total},
            explanation=expl,
            recommendation=rec,
            references=("Micikevicius et al., Mixed Precision Training, ICLR 2018 (loss scaling)",),
        )
    ]
