"""Analyzers: plain functions over a Run that return findings.

Each detector is ``detect_x(run, *, config=DEFAULT_CONFIG) -> list[Finding]``; one that
lacks a series it needs raises :class:`NotAssessable`, which :func:`analyze_run`
records in ``Report.not_assessable`` (said, not guessed). Every threshold lives in
:mod:`gradlog.analyzers.config`.
"""

from __future__ import annotations

from collections.abc import Callable

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
from gradlog.analyzers.verdict import lr_verdict, reconcile
from gradlog.findings import Finding
from gradlog.report import Report
from gradlog.run import Run

__all__ = [
    "analyze_run",
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

#: Every detector, in the order :func:`analyze_run` runs them.
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


def analyze_run(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> Report:
    """Return the Report of ``run``: every detector's findings, the trends of the
    role-bearing series, and what could not be assessed (and why).

    Returns
    -------
    Report
    """
    findings: list[Finding] = []
    not_assessable: list[dict[str, str]] = []
    # Logs can hold values near +-1e300, zeros and infinities; the detectors turn the
    # resulting inf/NaN intermediates into "no evidence", so numpy's floating-point
    # warnings would only be noise on the user's terminal.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        try:
            trends = compute_trends(run, config=config)
            for detect in DETECTORS:
                try:
                    findings.extend(detect(run, config=config))
                except NotAssessable as e:
                    not_assessable.append({"id": e.finding_id, "reason": e.reason})
            findings = reconcile(run, findings, config=config)
            advice = lr_verdict(run, findings, config=config)
        finally:
            clear_cache(run)
    return Report(run=run, findings=findings, trends=trends, not_assessable=not_assessable,
                  lr_advice=advice)
