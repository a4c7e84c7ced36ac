"""Sweep-aware verdicts: each run's single-run LR verdict checked against its siblings
(:func:`sweep_verdict`), and the one sentence that reads a comparison
(:func:`sentence`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gradlog.compare.records import USABLE_FRACTION, ComparedRun, Comparison
from gradlog.findings import LRAction
from gradlog.wording import fmt_num, fmt_setting

__all__ = ["BOUNCE_IDS", "sweep_verdict", "sentence"]

#: The findings that say a run bounced at the step size.
BOUNCE_IDS = ("step_size_oscillation",)
_LOWER_ACTIONS = ("lower", "decay_now", "decay_earlier")


def _loss(x: float) -> str:
    """A smoothed loss in a sentence (``n/a`` when it is not finite)."""
    return fmt_num(x, 3, missing="n/a")


def _round(x: float) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.4g}")


def _sib(r: ComparedRun, comp: Comparison) -> dict[str, Any]:
    return {
        "run": r.name,
        "lr": r.value,
        "improvement": _round(r.improvement),
        "loss_at_step": _round(r.loss_at_common),
        "step": comp.common_step,
        "bounced": r.bounced,
        "blew_up": r.blew_up,
    }


@dataclass(frozen=True)
class _Sweep:
    """What one run's verdict is checked against: the usable range, the best run, the
    run's siblings (other LRs), the ranking step in words, the run's share of the best
    improvement, and the evidence every changed verdict cites."""

    r: ComparedRun
    comp: Comparison
    lo: float
    hi: float
    best: ComparedRun
    sibs: list[ComparedRun]
    at: str
    share: float | None
    rng: str

    def changed(
        self,
        action: LRAction,
        summary: str,
        to_lr: float | None,
        confidence: float,
        siblings: Sequence[ComparedRun],
    ) -> ComparedRun:
        """Return the run with a sweep-scoped verdict that cites the sibling numbers."""
        r, comp, adv = self.r, self.comp, self.r.run_advice
        ev_self = {
            "lr": r.value,
            "improvement": _round(r.improvement),
            "loss_at_step": _round(r.loss_at_common),
            "step": comp.common_step,
            "still_falling": r.still_falling,
            "bounced": r.bounced,
            "blew_up": r.blew_up,
        }
        base_ev = {
            "usable_range": [self.lo, self.hi],
            "best_run": self.best.name,
            "best_lr": self.best.value,
            "best_improvement": _round(self.best.improvement),
            "usable_fraction": USABLE_FRACTION,
        }
        because = (
            {
                "finding": "sweep",
                "evidence": {
                    **base_ev,
                    "this_run": ev_self,
                    "siblings": [_sib(s, comp) for s in siblings],
                },
            },
            *adv.because,
        )
        new = dataclasses.replace(
            adv,
            action=action,
            to_lr=to_lr,
            summary=summary,
            scope="sweep",
            run_action=adv.action,
            confidence=confidence,
            because=because,
        )
        return dataclasses.replace(r, report=dataclasses.replace(r.report, lr_advice=new))


def _below(s: _Sweep) -> ComparedRun:
    """Below the usable range, no bounce, no blow-up: ``raise`` to the smallest usable LR
    whose run did not bounce (unchanged when every usable LR above it bounced)."""
    r, adv = s.r, s.r.run_advice
    if r.bounced or r.blew_up or adv.action in _LOWER_ACTIONS:
        return r
    targets = [
        x for x in s.sibs if x.value > r.value and x.position == "in" and not x.bounced and not x.blew_up
    ]
    if not targets:
        return r
    target = min(targets, key=lambda x: x.value)
    falling = (
        "its loss was still falling at the end"
        if r.still_falling
        else "its loss had flattened at a higher level"
    )
    share_txt = f"{s.share:.0%} of" if s.share is not None and s.share >= 0 else "less than"
    summary = (
        f"Raise the learning rate to about {fmt_setting(target.value)}: at {fmt_setting(r.value)} the loss "
        f"improved {share_txt} what the best sibling ({fmt_setting(s.best.value)}) reached by {s.at} "
        f"({_loss(r.loss_at_common)} against {_loss(s.best.loss_at_common)}), and {falling}; "
        f"the usable range was {s.rng}."
    )
    if adv.action == "raise" and adv.to_lr is not None and math.isclose(adv.to_lr, target.value, rel_tol=0.1):
        return r
    return s.changed(
        "raise",
        summary,
        float(target.value),
        0.8 if r.still_falling else 0.6,
        [x for x in s.sibs if x.value > r.value and x.position == "in"],
    )


def _above(s: _Sweep) -> ComparedRun:
    """Above the usable range: ``lower`` to its top (it bounced, blew up or ended worse)."""
    r, adv = s.r, s.r.run_advice
    if adv.action == "lower" and adv.to_lr is not None and adv.to_lr <= s.hi * (1 + 1e-9):
        return r  # the run's own estimate already lowers it into (or below) the range
    why = (
        "it diverged"
        if r.blew_up
        else "it bounced at the step size"
        if r.bounced
        else "it ended clearly worse"
    )
    mine = "a blow-up" if r.blew_up else _loss(r.loss_at_common)
    summary = (
        f"Lower the learning rate to about {fmt_setting(s.hi)}: {why}, while the runs at {s.rng} did "
        f"better (best {fmt_setting(s.best.value)}: {_loss(s.best.loss_at_common)} against {mine} at {s.at})."
    )
    return s.changed(
        "lower",
        summary,
        float(s.hi),
        0.8 if (r.bounced or r.blew_up) else 0.6,
        [x for x in s.sibs if x.value < r.value and x.position == "in"],
    )


def _inside(s: _Sweep) -> ComparedRun:
    """Inside the usable range: a ``raise`` becomes ``keep`` when the sweep tried another
    LR of the range or a higher one (no clear gain from a higher LR)."""
    r, adv = s.r, s.r.run_advice
    if adv.action != "raise":
        return r
    others = [x for x in s.sibs if x.value > r.value or x.position == "in"]
    if not others:
        return r
    pct = f"{s.share:.0%}" if s.share is not None else "most"
    summary = (
        f"Keep the learning rate: {fmt_setting(r.value)} is inside the sweep's usable range ({s.rng}; "
        f"{pct} of the best improvement by {s.at}), and the other LRs tried "
        f"({', '.join(fmt_setting(x.value) for x in others)}) did not do clearly better."
    )
    return s.changed("keep", summary, None, 0.6, others)


def sweep_verdict(r: ComparedRun, comp: Comparison) -> ComparedRun:
    """Return ``r`` with its verdict checked against its siblings (see the package doc).

    Rules, each with a physical reason:

    * below the usable range, no bounce, no blow-up: ``raise`` to the smallest usable LR
      whose run did not bounce (the siblings went further on the same budget). When every
      usable LR above it bounced, the verdict stays: raising it would send it to an LR the
      same sweep marks as too large for the curvature.
    * above the usable range: ``lower`` to the largest usable LR (it bounced, blew up or
      ended clearly worse than lower LRs did).
    * inside the range, ``raise`` becomes ``keep`` when the sweep tried another LR of the
      range or a higher one: within the range the improvement differs by less than 10%,
      so the sweep shows no clear gain from a higher LR.

    A ``lower`` inside the range stays, even when a higher LR did not bounce: the
    sharpness a run settles at depends on its LR (a larger step drives it to flatter
    regions), so bouncing at a small LR and not at a larger one is possible.
    """
    assert comp.usable_range is not None
    lo, hi = comp.usable_range
    best = next((s for s in comp.runs if s.name == comp.best_run), None)
    if best is None or r.value is None:
        return r
    best_imp = best.improvement
    sw = _Sweep(
        r=r,
        comp=comp,
        lo=lo,
        hi=hi,
        best=best,
        sibs=[s for s in comp.runs if s is not r and s.value != r.value],
        at=f"step {comp.common_step:,}" if comp.common_step is not None else "the end",
        share=r.improvement / best_imp if best_imp and math.isfinite(r.improvement) else None,
        rng=fmt_setting(lo) if lo == hi else f"{fmt_setting(lo)}-{fmt_setting(hi)}",
    )
    if r.position == "below":
        return _below(sw)
    if r.position == "above":
        return _above(sw)
    if r.position == "in":
        return _inside(sw)
    return r


def _listed(runs: Sequence[ComparedRun], with_loss: bool, most: int = 4) -> str:
    """Return ``0.003: 0.59; 0.01: 0.41`` (or ``0.003, 0.01``); past ``most`` runs, the first
    and the last with the count between."""

    def one(r: ComparedRun) -> str:
        return f"{fmt_setting(r.value)}: {_loss(r.loss_at_common)}" if with_loss else fmt_setting(r.value)

    sep = "; " if with_loss else ", "
    if len(runs) <= most:
        return sep.join(one(r) for r in runs)
    return f"{one(runs[0])}{sep}... {len(runs) - 2} more ...{sep}{one(runs[-1])}"


def sentence(comp: Comparison) -> str:
    """Return the one sentence that reads the comparison."""
    runs = comp.runs
    if len(runs) == 1:
        return "Only one run: nothing to compare."
    if comp.best_run is None:
        return "No run's smoothed training loss improved: the comparison cannot rank them."
    best = next(r for r in runs if r.name == comp.best_run)
    at = f"at step {comp.common_step:,}" if comp.common_step is not None else "at the end"
    if comp.by is None:
        return (
            f"Compared on their curves only: {best.name} improved most ({_loss(best.loss_at_common)} {at})."
        )
    label = "LR" if comp.by == "lr" else comp.by
    if comp.usable_range is None or not all(isinstance(r.value, float) for r in runs):
        return (
            f"{best.name} ({comp.by}={fmt_setting(best.value)}) did best ({_loss(best.loss_at_common)} {at})."
        )
    lo, hi = comp.usable_range
    rng = fmt_setting(lo) if lo == hi else f"{fmt_setting(lo)}-{fmt_setting(hi)}"
    parts = [
        f"the usable {label} range was {rng} (best {fmt_setting(best.value)}: {_loss(best.loss_at_common)} {at})"
    ]
    below = [r for r in runs if r.position == "below"]
    above = [r for r in runs if r.position == "above"]
    if below:
        parts.append(f"below it the loss fell slowly ({_listed(below, True)})")
    if above:
        bounced = [r for r in above if r.bounced and not r.blew_up]
        blew = [r for r in above if r.blew_up]
        worse = [r for r in above if not r.bounced and not r.blew_up]
        bits = []
        if bounced:
            bits.append(f"bounced ({_listed(bounced, False)})")
        if blew:
            bits.append(f"diverged ({_listed(blew, False)})")
        if worse:
            bits.append(f"ended worse ({_listed(worse, True)})")
        parts.append("above it the runs " + " or ".join(bits))
    s = parts[0][0].upper() + parts[0][1:]
    if len(parts) > 1:
        s += ": " + ", ".join(parts[1:])
    return s + "."
