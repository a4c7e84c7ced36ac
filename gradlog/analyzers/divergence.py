"""Divergence (the loss blew up) and non-finite values (NaN/inf in a series)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import (
    NotAssessable,
    SeriesData,
    cached,
    is_adaptive_optimizer,
    loss_data,
    lr_at,
    momentum,
    require_loss,
    series_data,
)
from gradlog.analyzers.stats import bin_medians, pow10, robust_sd, running_median
from gradlog.findings import Finding
from gradlog.run import Run
from gradlog.wording import fmt_lr, fmt_num, fmt_step, nice_round, times

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

    The excursion is the trailing run of at least ``config.divergence_excursion_min_points``
    points (after the minimum) that are all ``config.divergence_factor`` above the minimum
    (for a signed loss: ``signed_need`` above it) and all ``config.divergence_excursion_z``
    noise SDs above the median of the points before the run.
    """
    need = math.log10(config.divergence_factor) if logspace else signed_need
    if not need > 0:
        return None
    high = y >= min_level + need
    if not high[-1]:
        return None
    lows = np.flatnonzero(~high)
    i0 = int(lows[-1]) + 1 if lows.size else 0
    if (
        len(y) - i0 < config.divergence_excursion_min_points
        or i0 < config.noise_min_points
        or steps[i0] <= min_step
    ):
        return None
    before = y[max(0, i0 - max(config.divergence_ref_min_points, len(y) // config.divergence_ref_share)) : i0]
    ref = float(np.median(before))
    sd = _noise_sd(before, config)
    if not bool(np.all(y[i0:] >= ref + config.divergence_excursion_z * sd)) or not bool(np.all(y[i0:] > ref)):
        return None
    return i0


def _noise_sd(y: np.ndarray, config: AnalysisConfig) -> float:
    """The point-to-point noise SD of ``y`` (robust; 0 with fewer than
    ``config.noise_min_points`` points)."""
    return robust_sd(np.diff(y)) / math.sqrt(2.0) if y.size >= config.noise_min_points else 0.0


def signed_gap(y: np.ndarray, config: AnalysisConfig = DEFAULT_CONFIG) -> float:
    """For a loss that is not positive: the gap below every later level that makes the
    first value a level of its own (``config.divergence_first_gap_z`` times the series'
    point-to-point noise; infinite with fewer than ``config.noise_min_points`` points)."""
    if y.size < config.noise_min_points:
        return math.inf
    return config.divergence_first_gap_z * robust_sd(np.diff(y)) / math.sqrt(2.0)


def _nonfinite_cut(d: SeriesData, config: AnalysisConfig) -> tuple[int | None, int]:
    """Return ``(step, index)`` of the first non-finite value after which the rest of the
    loss is at least ``config.nonfinite_rest_share`` non-finite, or ``(None, len)``."""
    fin = np.isfinite(d.values)
    if not fin.all():
        for i in np.flatnonzero(~fin):
            if (~fin[i:]).mean() >= config.nonfinite_rest_share:
                return int(d.steps[i]), int(i)
    return None, len(d.values)


class _Levels:
    """The robust levels of the finite loss before a non-finite end (analysis space)."""

    def __init__(self, steps: np.ndarray, vals: np.ndarray, positive: bool, config: AnalysisConfig) -> None:
        self.steps = steps
        self.logspace = positive or bool(np.all(vals > 0))
        y = np.log10(vals) if self.logspace else vals
        self.y = y
        self.xb, yb = bin_medians(steps.astype(float), y, config.max_bins)
        # a level is a median over a window of logged points, never one minibatch value
        window = next(w for n_min, w in config.divergence_smooth_windows if len(yb) >= n_min)
        self.sm = sm = running_median(yb, window)
        k = max(config.level_min_points, int(round(config.level_fraction * len(y))))
        self.end_level = float(np.median(y[-min(k, len(y)) :]))
        # the minimum comes before the rise: it is searched before the last window
        n_end = max(1, int(np.searchsorted(self.xb, steps[-min(k, len(y))], side="left")))
        self.imin = int(np.argmin(sm[:n_end])) if n_end < len(sm) else int(np.argmin(sm))
        self.min_level = float(sm[self.imin])
        self.start_level = float(sm[0])
        # the first logged values: a loss that jumps far above them right after the start
        # and stays there diverged from the start (its smoothed minimum is already high)
        first_level = float(np.median(y[: config.divergence_first_points]))
        if y.size >= config.divergence_min_points and float(y[0]) < float(np.min(sm)) - (
            math.log10(config.divergence_factor) if self.logspace else signed_gap(y, config)
        ):
            # the first value (the loss at initialisation) lies far below every level after
            # it: the loss jumped away from it at once (one lucky batch is never that far)
            first_level = float(y[0])
        if first_level < self.min_level:
            self.min_level, self.start_level, self.imin = first_level, first_level, 0
        # the point-to-point noise of the loss (robust; analysis space)
        noise = _noise_sd(y, config)
        if not math.isfinite(noise):
            noise = 0.0
        # a signed loss (a WGAN critic, a log-likelihood) has no ratios: its rise must be
        # large against its own magnitude and stand far out of its noise
        scale = max(abs(self.min_level), abs(self.start_level))
        self.signed_need = max(config.divergence_factor * scale, config.divergence_signed_z * noise)

    def to_v(self, x: float) -> float:
        return pow10(x) if self.logspace else float(x)

    def diverged(self, level: float, config: AnalysisConfig) -> bool:
        """True when ``level`` is far enough above the minimum (and has lost enough of the
        progress made) to be a divergence."""
        to_v, min_level, start_level = self.to_v, self.min_level, self.start_level
        if self.logspace:
            lost = (to_v(level) - to_v(min_level)) / max(to_v(start_level) - to_v(min_level), 1e-300)
            return level - min_level >= math.log10(config.divergence_factor) and (
                lost >= config.divergence_progress_lost
                or to_v(start_level) <= to_v(min_level) * config.divergence_no_progress
            )
        rng = float(np.ptp(self.sm))
        rise = level - min_level
        return (
            rng > 0
            and rise >= config.divergence_signed_range_share * rng
            and level > start_level
            and self.signed_need > 0
            and rise >= self.signed_need
        )

    def begin(self, nonfinite_step: int | None, config: AnalysisConfig) -> int:
        """The last step the (lightly smoothed) loss was near its minimum before the rise."""
        steps, y, min_level = self.steps, self.y, self.min_level
        seg0 = int(np.searchsorted(steps, self.xb[self.imin], side="left"))
        seg_steps, seg_y = steps[seg0:], y[seg0:]
        if seg_y.size < config.min_median_window:
            return nonfinite_step if nonfinite_step is not None else int(steps[-1])
        long = seg_y.size >= config.divergence_begin_window
        rm = running_median(seg_y, config.divergence_begin_window if long else config.min_median_window)
        noise = robust_sd(seg_y - rm) if long else 0.0
        near_rel = math.log10(1.0 + config.divergence_near_min) if self.logspace else None
        band = max(
            near_rel if near_rel is not None else config.divergence_near_min * abs(min_level),
            config.divergence_near_noise * noise,
        )
        near = np.flatnonzero(rm <= min_level + band)
        # the last point near the minimum, before the final, persistent excursion
        return int(seg_steps[int(near[-1])]) if near.size else int(seg_steps[0])


def _measure(run: Run, config: AnalysisConfig) -> dict[str, Any] | None:
    d = loss_data(run)
    if d is None or len(d.values) < config.divergence_min_points:
        return None
    nonfinite_step, cut = _nonfinite_cut(d, config)
    fin = np.isfinite(d.values)
    steps = d.steps[:cut][fin[:cut]]
    vals = d.values[:cut][fin[:cut]]
    if vals.size < config.divergence_min_points:
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
    lv = _Levels(steps, vals, d.positive, config)
    y, end_level, to_v = lv.y, lv.end_level, lv.to_v
    excursion_begin = None
    if nonfinite_step is None:
        blowup = lv.diverged(end_level, config)
        if not blowup:
            # a blow-up at the very end of the log: the last points all far above the
            # minimum and far out of the noise of the points before them
            i_excursion = _trailing_excursion(
                y, steps, lv.xb[lv.imin], lv.min_level, lv.logspace, config, lv.signed_need
            )
            if i_excursion is not None and lv.diverged(float(np.median(y[i_excursion:])), config):
                blowup = True
                end_level = float(np.median(y[i_excursion:]))
                excursion_begin = int(steps[i_excursion - 1])
        if not blowup:
            return None
    blow_factor = to_v(end_level) / to_v(lv.min_level) if lv.logspace else math.nan
    begin = excursion_begin if excursion_begin is not None else lv.begin(nonfinite_step, config)
    # the minimum's step: a logged step (the bin's centre may never have been logged)
    min_step = int(steps[int(np.argmin(np.abs(steps.astype(float) - float(lv.xb[lv.imin]))))])
    # the minimum must come before the rise; a rise that starts at the minimum itself
    # (the loss never came back near it) counts when it lasts
    after = int(np.sum(steps > begin))
    if (
        nonfinite_step is None
        and begin != int(steps[0])
        and (min_step > begin or (min_step == begin and after < config.divergence_excursion_min_points))
    ):
        return None
    return {
        "kind": "nonfinite" if nonfinite_step is not None else "blowup",
        "begin_step": begin,
        "sustained_points": after,
        "min_step": min_step,
        "min_level": to_v(lv.min_level),
        "end_level": to_v(end_level),
        "nonfinite_step": nonfinite_step,
        "rise_factor": blow_factor if nonfinite_step is None else math.inf,
        "rise": (to_v(end_level) - to_v(lv.min_level)) if nonfinite_step is None else math.inf,
        "log_space": lv.logspace,
    }


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
    return cached(run, ("divergence", config), lambda: _measure(run, config))


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
    if len(d.values) < config.divergence_min_points:
        raise NotAssessable(
            "divergence",
            f"the loss {d.tag} has {len(d.values)} points (at least {config.divergence_min_points} needed)",
        )
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
            ev["grad_norm_before"] = float(np.median(before[-config.divergence_grad_before_points :]))
            ev["grad_norm_max_after"] = float(after.max())
    what = _what_happened(info)
    summary = f"The loss diverged: it {what}; the blow-up began around step {fmt_step(begin)}."
    resume = _resume_before(run, d, begin, config)
    if resume is not None:
        ev["after_resume_step"] = resume
        summary += (
            f" It began within a few logged points of the resume at step {fmt_step(resume)}: "
            "check that the snapshot restored the solver state (LR, momentum history)."
        )
    expl = _divergence_explanation(run, beta)
    rec = _divergence_recommendation(lr, suggested, begin, config)
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
            confidence=config.divergence_confidence_nonfinite
            if info["kind"] == "nonfinite"
            else config.divergence_confidence,
            evidence=ev,
            explanation=expl,
            recommendation=rec,
            references=_REFS_DIV,
        )
    ]


def _what_happened(info: dict[str, Any]) -> str:
    """Return the clause saying how the loss diverged."""
    if info["kind"] == "nonfinite":
        return f"turned non-finite (NaN/inf) at step {fmt_step(info['nonfinite_step'])}"
    elif info["log_space"] and math.isfinite(info["rise_factor"]):
        return (
            f"rose {times(info['rise_factor'])} above its minimum "
            f"({fmt_num(info['min_level'])} at step {fmt_step(info['min_step'])}) and stayed there"
        )
    else:
        # a signed loss (or one past the float range) has no meaningful ratio: say the rise
        return (
            f"rose by {fmt_num(info['rise'])} from its minimum ({fmt_num(info['min_level'])} at step "
            f"{fmt_step(info['min_step'])}) to {fmt_num(info['end_level'])} and stayed there"
        )


def _divergence_explanation(run: Run, beta: float | None) -> str:
    """Return the explanation of a ``divergence`` finding."""
    expl = (
        "A diverging loss means the updates no longer reduce it: a step of size η along a "
        "direction of curvature λ is stable only while ηλ < 2 for plain gradient descent "
        "(ηλ < 2(1+β) with heavy-ball momentum β); beyond that the iterate is thrown further "
        "out at every step until the numbers overflow. Sharp regions (cliffs) met with a large "
        "LR, an LR warm-up that overshoots, or bad data batches all end this way."
    )
    if beta is not None and not is_adaptive_optimizer(run):
        expl += f" With the logged momentum β = {beta:g} the limit is ηλ < {2 * (1 + beta):.3g}."
    return expl


def _divergence_recommendation(lr: float, suggested: float, begin: int, config: AnalysisConfig) -> str:
    """Return the advice after a divergence that began at ``begin`` under LR ``lr``."""
    if math.isfinite(lr):
        return (
            f"Lower the learning rate: it was {fmt_lr(lr)} when the blow-up began; try about "
            f"{fmt_lr(suggested)} (≈{times(1 / config.divergence_lr_cut)} lower), or keep it and clip the "
            "gradient norm; if it happened at the end of a warm-up, lengthen the warm-up or lower "
            "its peak. Resume from a checkpoint before step " + fmt_step(begin) + "."
        )
    else:
        return (
            "Lower the learning rate about 3x (the log has no LR series to say from what), or clip "
            f"the gradient norm; resume from a checkpoint before step {fmt_step(begin)}."
        )


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
    rare_grad_only = not in_loss and all(
        c["count"] <= max(1, config.nonfinite_rare_share * c["of"]) for c in counts.values()
    )
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
