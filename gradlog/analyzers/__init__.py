"""Analyzers: measures, then detectors, then one reconciliation into a verdict.

- **measures** (cached per run, no findings): :func:`~gradlog.analyzers.oscillation_measures.oscillation_signals`,
  :func:`~gradlog.analyzers.divergence.divergence_info`, :func:`~gradlog.analyzers.lr_plateau.decay_tests`,
  :func:`~gradlog.analyzers.lr_small.late_descent`, :func:`~gradlog.analyzers.context.clipping`,
  the trends (:mod:`gradlog.analyzers.trends`);
- **detectors** ``detect_x(run, *, config=DEFAULT_CONFIG) -> list[Finding]`` read measures
  and never call each other; one that lacks a series it needs raises
  :class:`~gradlog.errors.NotAssessable` (said, not guessed);
- **reconciliation** (:mod:`gradlog.analyzers.verdict`) turns all findings into one
  coherent story and the run's :class:`~gradlog.findings.LRAdvice`.

:func:`run_analysis` runs the three and returns an :class:`Analysis`; ``gradlog.analyze``
builds the Report from it. Every threshold lives in :mod:`gradlog.analyzers.config`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import NotAssessable, clear_cache
from gradlog.analyzers.crash import detect_run_crashed
from gradlog.analyzers.divergence import detect_divergence, detect_nonfinite_values
from gradlog.analyzers.gradients import (
    detect_exploding_gradients,
    detect_grad_norm_growth,
    detect_vanishing_gradients,
)
from gradlog.analyzers.lr_plateau import detect_lr_limited_plateau
from gradlog.analyzers.lr_small import detect_lr_too_small
from gradlog.analyzers.oscillation import detect_noisy_loss, detect_step_size_oscillation
from gradlog.analyzers.overfitting import detect_overfitting
from gradlog.analyzers.plateau import detect_loss_plateau
from gradlog.analyzers.spikes import detect_loss_spikes
from gradlog.analyzers.trends import compute_trends
from gradlog.analyzers.verdict import lr_verdict, reconcile, speak_epochs
from gradlog.findings import Finding, LRAdvice, Trend
from gradlog.run import Run

__all__ = [
    "Analysis",
    "run_analysis",
    "DETECTORS",
    "AnalysisConfig",
    "DEFAULT_CONFIG",
    "NotAssessable",
    "compute_trends",
    "detect_nonfinite_values",
    "detect_divergence",
    "detect_step_size_oscillation",
    "detect_noisy_loss",
    "detect_lr_limited_plateau",
    "detect_loss_plateau",
    "detect_loss_spikes",
    "detect_lr_too_small",
    "detect_overfitting",
    "detect_grad_norm_growth",
    "detect_exploding_gradients",
    "detect_vanishing_gradients",
    "detect_run_crashed",
    "lr_verdict",
    "reconcile",
]

Detector = Callable[..., list[Finding]]

#: Every detector, in the order :func:`run_analysis` runs them.
DETECTORS: tuple[Detector, ...] = (
    detect_nonfinite_values,
    detect_divergence,
    detect_step_size_oscillation,
    detect_noisy_loss,
    detect_lr_limited_plateau,
    detect_loss_plateau,
    detect_loss_spikes,
    detect_lr_too_small,
    detect_overfitting,
    detect_grad_norm_growth,
    detect_exploding_gradients,
    detect_vanishing_gradients,
    detect_run_crashed,
)


@dataclass
class Analysis:
    """What the analyzers found in one run (``gradlog.analyze`` turns it into a Report).

    Attributes
    ----------
    run : the analysed Run.
    findings : the reconciled findings (detector order).
    trends : fitted trends of the role-bearing series.
    not_assessable : ``[{"id", "reason"}]`` for detectors whose series the log lacks.
    lr_advice : the run's learning-rate verdict.
    """

    run: Run
    findings: list[Finding] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    not_assessable: list[dict[str, str]] = field(default_factory=list)
    lr_advice: LRAdvice | None = None

    def by_id(self, finding_id: str) -> list[Finding]:
        """Return the findings with this id (possibly empty)."""
        return [f for f in self.findings if f.id == finding_id]


def run_analysis(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> Analysis:
    """Run the measures, every detector and the reconciliation on ``run``.

    Returns
    -------
    Analysis: the reconciled findings, the trends, what could not be assessed (and why)
    and the LR verdict.
    """
    findings: list[Finding] = []
    not_assessable: list[dict[str, str]] = []
    # Logs can hold values near +-1e300, zeros and infinities; the detectors turn the
    # resulting inf/NaN intermediates into "no evidence", so numpy's floating-point
    # warnings would only be noise on the user's terminal.
    # (polyfit's RankWarning on a near-degenerate fit likewise: the fit is then judged by
    # its own evidence, never by a message on stderr)
    with (
        np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", getattr(np, "exceptions", np).RankWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            trends = compute_trends(run, config=config)
            for detect in DETECTORS:
                try:
                    findings.extend(detect(run, config=config))
                except NotAssessable as e:
                    not_assessable.append({"id": e.finding_id, "reason": e.reason})
            findings = reconcile(run, findings, config=config)
            advice = lr_verdict(run, findings, config=config)
            findings, epoch_advice = speak_epochs(run, findings, advice)
            advice = epoch_advice if epoch_advice is not None else advice
        finally:
            clear_cache(run)
    return Analysis(
        run=run, findings=findings, trends=trends, not_assessable=not_assessable, lr_advice=advice
    )
