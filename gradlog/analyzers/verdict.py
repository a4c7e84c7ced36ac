"""The run's learning-rate verdict, reconciled from the detectors' findings.

Detectors measure and report; this step reads their findings (never a file, never the
detectors themselves) and turns them into one :class:`~gradlog.findings.LRAdvice` that
never contradicts them.
"""

from __future__ import annotations

import math
from typing import Any

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import series_data
from gradlog.analyzers.wording import fmt_lr
from gradlog.findings import Finding, LRAdvice
from gradlog.run import Run

__all__ = ["lr_verdict"]


def _first(findings: list[Finding], fid: str) -> Finding | None:
    return next((f for f in findings if f.id == fid), None)


def _because(f: Finding, *keys: str) -> dict[str, Any]:
    ev = {k: f.evidence[k] for k in keys if k in f.evidence}
    return {"finding": f.id, "evidence": ev}


def _lr_now(run: Run) -> float | None:
    tag = run.roles.get("lr")
    if not tag:
        return None
    d = series_data(run, str(tag))
    if d.n == 0:
        return None
    v = float(d.fvalues[-1])
    return v if math.isfinite(v) else None


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def lr_verdict(run: Run, findings: list[Finding], *, config: AnalysisConfig = DEFAULT_CONFIG) -> LRAdvice:
    """Return the learning-rate verdict that the findings of ``run`` support.

    Precedence: divergence or step-size oscillation (``lower``), an LR-limited plateau
    (``decay_earlier``), an LR too small (``raise``); otherwise ``keep`` when the loss
    was assessed, ``unknown`` with the reason when it was not.

    Returns
    -------
    LRAdvice
    """
    lr = _lr_now(run)
    div = _first(findings, "divergence")
    osc = _first(findings, "step_size_oscillation")
    plat = _first(findings, "lr_limited_plateau")
    small = _first(findings, "lr_too_small")
    if div is not None or osc is not None:
        f = div if div is not None else osc
        assert f is not None
        to_lr = _finite(f.evidence.get("suggested_lr"))
        if to_lr is None and lr is not None:
            to_lr = lr / 10.0 if div is not None else lr / 3.0
        what = "the loss diverged" if div is not None else "the loss bounces at the step size"
        tail = f" (try about {fmt_lr(to_lr)})" if to_lr is not None else ""
        return LRAdvice(
            "lower", f"Lower the learning rate: {what}{tail}.", step_range=f.step_range, lr=lr,
            to_lr=to_lr, confidence=f.confidence,
            because=(_because(f, "suggested_lr", "amplitude_lr_ratio", "fold_rise"),),
        )
    if plat is not None:
        return LRAdvice(
            "decay_earlier", "Decay the learning rate earlier: the loss waited on a plateau until the "
            "decay lowered it.", step_range=plat.step_range, lr=lr, confidence=plat.confidence,
            because=(_because(plat, "drop", "decay_step"),),
        )
    if small is not None:
        to_lr = _finite(small.evidence.get("suggested_lr"))
        return LRAdvice(
            "raise", "Raise the learning rate: the loss was still falling steadily at the end."
            + (f" Try about {fmt_lr(to_lr)}." if to_lr is not None else ""),
            step_range=small.step_range, lr=lr, to_lr=to_lr, confidence=small.confidence,
            because=(_because(small, "drop_over_window", "suggested_lr"),),
        )
    if not run.roles.get("loss"):
        return LRAdvice("unknown", "No verdict: the log has no training loss.", lr=lr,
                        confidence=0.0, reason="no loss")
    return LRAdvice("keep", "Keep the learning rate: nothing in the log points to a better one.",
                    lr=lr, confidence=0.5)
