"""Findings and trends: the records analyzers produce and reports render.

The finding ids are a stable, documented contract (users script against them); see
:data:`FINDING_IDS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePath
from typing import Any, Literal

__all__ = [
    "Finding",
    "Trend",
    "LRAdvice",
    "LR_ACTIONS",
    "FINDING_IDS",
    "SEVERITIES",
    "severity_rank",
]

Severity = Literal["info", "warning", "critical"]
LRAction = Literal["lower", "raise", "decay_now", "decay_earlier", "keep", "unknown"]
#: The actions an :class:`LRAdvice` can recommend, in a stable order.
LR_ACTIONS: tuple[str, ...] = ("lower", "raise", "decay_now", "decay_earlier", "keep", "unknown")
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")

#: Every finding id gradlog can emit, with what it means.
FINDING_IDS: dict[str, str] = {
    "nonfinite_values": "NaN/inf appeared in the loss or a gradient statistic",
    "divergence": "the loss blew up (grew far above its minimum, or to inf/NaN)",
    "step_size_oscillation": "the learning rate is too large for the local curvature: the "
    "loss oscillates in a way that scales with the LR, not just minibatch noise",
    "lr_limited_plateau": "the loss sat on a plateau that the learning rate set: it dropped "
    "sharply right after an LR decay",
    "loss_plateau": "the loss stopped improving",
    "grad_norm_growth": "a gradient norm rose over training while the loss was flat or falling",
    "loss_spikes": "isolated upward spikes of the loss",
    "lr_too_small": "steady, slow, un-oscillating decrease that is still going at the end",
    "noisy_loss": "the loss fluctuates from minibatch sampling, not from the step size",
    "overfitting": "validation loss rose from its minimum while training loss kept falling",
    "vanishing_gradients": "per-layer gradient statistics span orders of magnitude, the "
    "earliest layers far smaller",
    "exploding_gradients": "gradient statistics grow without bound",
    "run_crashed": "the job stopped on an error the log shows (CUDA out of memory, a failed check)",
}


def severity_rank(severity: str) -> int:
    """Return 0 for info, 1 for warning, 2 for critical.

    Raises
    ------
    ValueError
        For an unknown severity.
    """
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"unknown severity {severity!r}; use one of {', '.join(SEVERITIES)}") from None


def plain(value: Any) -> Any:
    """Return ``value`` as plain JSON data.

    NaN and infinities become None; numpy scalars and arrays become Python numbers and
    lists; tuples and sets become lists; paths and dates become strings; any other
    object becomes its ``str()``. Dictionary keys become strings.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
        if value is None or isinstance(value, (bool, int, str)):
            return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [plain(v) for v in sorted(value, key=str)]
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


@dataclass(frozen=True)
class Finding:
    """One diagnosis about a run.

    Attributes
    ----------
    id : one of :data:`FINDING_IDS`.
    severity : ``info``, ``warning`` or ``critical``.
    summary : one sentence.
    tags : the tags it is about.
    step_range : ``(first, last)`` steps it concerns, or None for the whole run.
    confidence : 0-1.
    evidence : the numbers (slopes with intervals, p-values, ratios, steps).
    explanation : why, in plain language, with the mechanism.
    recommendation : what to do, with numbers where they can be derived.
    references : literature or documentation backing the explanation.
    """

    id: str
    severity: Severity
    summary: str
    tags: tuple[str, ...] = ()
    step_range: tuple[int, int] | None = None
    confidence: float = 0.5
    evidence: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    explanation: str = ""
    recommendation: str = ""
    references: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.id not in FINDING_IDS:
            raise ValueError(f"unknown finding id {self.id!r}")
        severity_rank(self.severity)
        if not 0.0 <= float(self.confidence) <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "references", tuple(self.references))
        if self.step_range is not None:
            a, b = self.step_range
            object.__setattr__(self, "step_range", (int(a), int(b)))

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as plain JSON-ready data (NaN/inf become None)."""
        return {
            "id": self.id,
            "severity": self.severity,
            "summary": self.summary,
            "tags": list(self.tags),
            "step_range": list(self.step_range) if self.step_range is not None else None,
            "confidence": round(float(self.confidence), 3),
            "evidence": plain(self.evidence),
            "explanation": self.explanation,
            "recommendation": self.recommendation,
            "references": list(self.references),
        }


@dataclass(frozen=True)
class Trend:
    """A fitted trend of one series over a step range.

    Attributes
    ----------
    tag, role : the series and the role it plays (or None).
    scope : ``"run"`` for the whole run, ``"lr_phase <k>"`` for one phase of a stepped LR,
        or ``"lr_segment <name>"`` for a stretch of a continuous schedule (``warm-up``,
        ``constant``, ``decay``).
    step_start, step_end, n : the steps covered and how many points.
    log_space : True when the slope is of log10(value) (positive series).
    slope, slope_low, slope_high : Theil-Sen slope per 1,000 steps, with its 95% interval
        (in log10 units per 1,000 steps when ``log_space``).
    intercept : the fitted line's value at ``step_start`` (log10 when ``log_space``), so
        the line is ``intercept + slope * (step - step_start) / 1000``.
    p_value : of the trend test named in ``test`` (valid for autocorrelated series).
    test : the test used (e.g. ``"Mann-Kendall on a thinned series"``).
    fold_change : robust end level / robust start level.
    start_level, end_level : those robust levels (medians of the first/last part).
    direction : ``"rising"``, ``"falling"`` or ``"flat"``; it agrees with the fold change:
        flat when the trend is not significant or slope and fold change disagree, and a
        fold change of ``trend_decisive_fold`` (2x) or more either way decides it.
    """

    tag: str
    role: str | None
    scope: str
    step_start: int
    step_end: int
    n: int
    log_space: bool
    slope: float
    slope_low: float
    slope_high: float
    intercept: float
    p_value: float
    test: str
    fold_change: float
    start_level: float
    end_level: float
    direction: str

    def to_dict(self) -> dict[str, Any]:
        """Return the trend as plain JSON-ready data (NaN/inf become None)."""
        return {k: plain(getattr(self, k)) for k in self.__dataclass_fields__}

    def line(self, steps: Any) -> Any:
        """Return the fitted trend evaluated at ``steps`` (in value units)."""
        import numpy as np

        with np.errstate(over="ignore"):  # a line past 1e308 is inf, which is what it is
            y = self.intercept + self.slope * (np.asarray(steps, dtype=float) - self.step_start) / 1000.0
            return np.power(10.0, y) if self.log_space else y


@dataclass(frozen=True)
class LRAdvice:
    """The run's learning-rate verdict: the one thing to do with the LR, and why.

    Attributes
    ----------
    action : ``lower``, ``raise``, ``decay_now``, ``decay_earlier``, ``keep`` or ``unknown``.
    step_range : ``(first, last)`` steps the advice concerns, or None.
    lr : the LR at the end of the log (None when no LR is logged).
    to_lr : a suggested LR where the evidence gives one, else None.
    confidence : 0-1.
    because : ``({"finding": id, "evidence": {...}}, ...)``: the finding ids and the one
        or two numbers the verdict rests on.
    summary : one plain sentence.
    reason : why the action is ``unknown`` (no LR logged, too few points), else None.
    scope : ``run`` (this log alone) or ``sweep`` (changed by sibling runs of a comparison).
    run_action : with ``scope == "sweep"``, the single-run action it replaced; else None.
    """

    action: LRAction
    summary: str
    step_range: tuple[int, int] | None = None
    lr: float | None = None
    to_lr: float | None = None
    confidence: float = 0.5
    because: tuple[dict[str, Any], ...] = ()
    reason: str | None = None
    scope: Literal["run", "sweep"] = "run"
    run_action: str | None = None

    def __post_init__(self) -> None:
        if self.action not in LR_ACTIONS:
            raise ValueError(f"unknown LR action {self.action!r}; use one of {', '.join(LR_ACTIONS)}")
        if self.scope not in ("run", "sweep"):
            raise ValueError(f"unknown scope {self.scope!r}; use run or sweep")
        if not 0.0 <= float(self.confidence) <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")
        object.__setattr__(self, "because", tuple(dict(b) for b in self.because))
        if self.step_range is not None:
            a, b = self.step_range
            object.__setattr__(self, "step_range", (int(a), int(b)))

    @property
    def finding_ids(self) -> tuple[str, ...]:
        """Return the ids of the findings the verdict rests on, in order."""
        return tuple(str(b.get("finding")) for b in self.because)

    def line(self) -> str:
        """Return the one-line form every report shows: ``LR: <action> — <summary>``."""
        return f"LR: {self.action} \u2014 {self.summary}"

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as plain JSON-ready data; ``run_action`` only for a sweep."""
        d: dict[str, Any] = {
            "action": self.action,
            "step_range": list(self.step_range) if self.step_range is not None else None,
            "lr": plain(self.lr),
            "to_lr": plain(self.to_lr),
            "confidence": round(float(self.confidence), 3),
            "because": [plain(b) for b in self.because],
            "summary": self.summary,
            "reason": self.reason,
            "scope": self.scope,
        }
        if self.scope == "sweep":
            d["run_action"] = self.run_action
        return d
