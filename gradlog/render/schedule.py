"""The LR schedule and the run's end in words, for every report: the schedule named
(``linear warm-up from 0.001 to 0.1 over 100 steps, then cosine decay to 0 by step
800``), a per-LR-phase trend named by the stretch of the schedule it covers, and a run
that stopped before its planned end (``stopped early at iteration 85,600 of max_iter
320,000``).

The schedule itself (kind, landmarks, fitted decay) is :func:`gradlog.series.lr_schedule`;
this module only words it."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gradlog.wording import fmt_step
from gradlog.wording import fmt_value as fmt_num

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.findings import Trend
    from gradlog.run import Run
    from gradlog.series import LRSchedule

__all__ = ["schedule_of", "schedule_line", "stop_note", "scope_label"]

_SCHEDULES: weakref.WeakKeyDictionary[Any, LRSchedule | None] = weakref.WeakKeyDictionary()

#: How a decay kind reads in a sentence.
_DECAY_WORDS = {
    "linear": "linear decay",
    "poly": "poly decay",
    "cosine": "cosine decay",
    "exponential": "exponential decay",
    "inverse": "inverse decay",
    "other": "an LR that varies in no recognised shape",
}


def schedule_of(run: Run) -> LRSchedule | None:
    """Return the run's LR schedule (:func:`gradlog.series.lr_schedule` of its ``lr`` role,
    computed once per run), or None when the run has no LR series."""
    from gradlog.series import lr_schedule

    try:
        return _SCHEDULES[run]
    except (KeyError, TypeError):
        pass
    tag = run.roles.get("lr")
    sched = lr_schedule(run.series(tag)) if tag and tag in run else None
    try:
        _SCHEDULES[run] = sched
    except TypeError:  # pragma: no cover - a Run that cannot be weakly referenced
        pass
    return sched


def _lr(x: float, peak: float) -> str:
    """An LR in a sentence: ``0`` when it is below a thousandth of the peak."""
    return "0" if x <= 1e-3 * peak else fmt_num(x, 3)


def _warmup_words(s: LRSchedule, unit: str) -> str:
    end = s.landmark("warmup_end")
    if end is None:
        return ""
    shape = "linear warm-up" if s.warmup == "linear" else "warm-up"
    n = end.step - s.first_step + (1 if s.interval == 1 else 0)  # steps 0..99: 100 steps
    return f"{shape} from {_lr(s.start_lr, s.peak_lr)} to {fmt_num(end.lr, 3)} over {fmt_num(n)} {unit}s"


def _step_words(s: LRSchedule, unit: str) -> str:
    phases = [g for g in s.segments if g.name.startswith("phase ")]
    moves = [m for m in s.landmarks if m.name in ("decay", "increase")]
    what = "step decay" if all(m.name == "decay" for m in moves) else "step schedule"
    if len(phases) <= 4:
        parts = [fmt_num(phases[0].lr_start, 3)]
        parts += [f"{fmt_num(g.lr_start, 3)} from {unit} {fmt_step(g.start)}" for g in phases[1:]]
        return f"{what}: " + ", then ".join(parts)
    factor = s.params.get("factor")
    each = f" (×{fmt_num(factor, 2)} each)" if factor else ""
    return (
        f"{what}: {len(moves)} changes between {unit}s {fmt_step(moves[0].step)} and "
        f"{fmt_step(moves[-1].step)}, from {fmt_num(phases[0].lr_start, 3)} to "
        f"{fmt_num(phases[-1].lr_start, 3)}{each}"
    )


def _decay_words(s: LRSchedule, unit: str, held: bool) -> str:
    """``cosine decay to 0 by step 800``; a decay the log stops inside says where it was
    and where the fit ends (``... on course for 0 near iteration 320,000``)."""
    seg = next((g for g in reversed(s.segments) if g.name == "decay"), None)
    what = _DECAY_WORDS.get(s.kind, s.kind)
    p = s.params
    if s.kind in ("poly", "inverse") and "power" in p:
        what += f" (power {fmt_num(p['power'], 2)})"
    if s.kind == "exponential" and p.get("half_life"):
        what += f" (halving every {fmt_num(round(p['half_life']))} {unit}s)"
    if seg is None or s.kind == "other":
        few = f"; {s.points} logged values, too few to name its shape" if s.points < 4 else ""
        return (
            f"{what} between {fmt_num(s.peak_lr, 3)} and {_lr(min(s.end_lr, s.start_lr), s.peak_lr)} "
            f"({unit}s {fmt_step(s.first_step)} to {fmt_step(s.last_step)}{few})"
        )
    start = "" if held else f" from {fmt_num(seg.lr_start, 3)}"
    end_step = p.get("end_step")
    span = max(s.last_step - seg.start, 1)
    if end_step is not None and end_step > s.last_step + 0.05 * span and s.end_lr > 0.05 * seg.lr_start:
        floor = _lr(p.get("floor", 0.0), s.peak_lr)
        return (
            f"{what}{start}, at {fmt_num(s.end_lr, 3)} when the log stops at {unit} "
            f"{fmt_step(s.last_step)} (on course for {floor} near {unit} {fmt_step(round(end_step, -1))})"
        )
    return f"{what}{start} to {_lr(s.end_lr, s.peak_lr)} by {unit} {fmt_step(s.last_step)}"


def schedule_line(s: LRSchedule | None, unit: str = "step") -> str:
    """Return the schedule named in one phrase, e.g. ``linear warm-up from 0.001 to 0.1
    over 100 steps, then cosine decay to 0 by step 800`` (``""`` for None).

    ``unit`` is the log's step unit (``step``, ``iteration``, ``epoch``)."""
    if s is None:
        return ""
    parts = []
    warm = _warmup_words(s, unit)
    if warm:
        parts.append(warm)
    if s.kind == "rising" and not warm:
        return (
            f"rising from {fmt_num(s.start_lr, 3)} to {fmt_num(s.peak_lr, 3)} until the log ends "
            f"at {unit} {fmt_step(s.last_step)} (a warm-up or an LR range test)"
        )
    if s.kind == "constant":
        parts.append("constant" if warm else f"constant {fmt_num(s.peak_lr, 3)}")
    elif s.kind == "step":
        parts.append(_step_words(s, unit))
    else:
        start = s.landmark("decay_start")
        if start is not None:
            hold = "constant" if warm else f"constant {fmt_num(start.lr, 3)}"
            parts.append(f"{hold} until {unit} {fmt_step(start.step)}")
        parts.append(_decay_words(s, unit, held=start is not None or bool(warm)))
    return ", then ".join(parts)


def stop_note(run: Run) -> str:
    """Return ``"stopped at iteration 85,600 of max_iter 320,000"`` for a run whose log
    says it stopped before its planned end (``meta["stopped_early"]``), else ``""``."""
    meta = run.meta
    if meta.get("stopped_early") is not True:
        return ""
    unit = str(meta.get("step_unit") or "step")
    last = meta.get("last_iteration")
    if not isinstance(last, (int, float)) or isinstance(last, bool):
        last = run.steps.get("last")
    hp_raw = meta.get("hparams")
    hp: Mapping[str, Any] = hp_raw if isinstance(hp_raw, Mapping) else {}
    planned = next(
        ((k, v) for k in ("max_iter", "max_steps", "epochs") if isinstance(v := hp.get(k), (int, float))),
        None,
    )
    where = f" at {unit} {fmt_step(last)}" if last is not None else ""
    of = f" of {planned[0]} {fmt_step(planned[1])}" if planned else ""
    share = (
        f" ({100 * last / planned[1]:.0f}% of the planned run)"
        if planned and last is not None and planned[1] > 0
        else ""
    )
    return f"stopped early{where}{of}{share}"


def scope_label(t: Trend, sched: LRSchedule | None) -> str:
    """Return how a trend's scope reads: ``run``; for a per-LR-phase trend the schedule's
    name for the stretch it covers (``warm-up``, ``constant``, ``decay``, ``phase 1``), or
    ``phase k`` without a schedule."""
    scope = str(t.scope)
    if scope == "run":
        return scope
    name = scope.replace("lr_segment ", "").replace("lr_", "")
    if sched is None:
        return name
    mid = (t.step_start + t.step_end) / 2
    seg = next((g for g in sched.segments if g.start <= mid <= g.end), None)
    if seg is None:
        return name
    if seg.name.startswith("phase "):
        return f"{name} (LR {fmt_num(seg.lr_start, 3)})" if name.startswith("phase") else name
    return seg.name
