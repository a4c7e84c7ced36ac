"""Analyzers: plain functions over a Run that return findings (placeholder until the
analysis issue lands: only the entry point exists)."""

from __future__ import annotations

from gradlog.report import Report
from gradlog.run import Run

__all__ = ["analyze_run"]


def analyze_run(run: Run) -> Report:
    """Return the Report of ``run`` (no detectors are wired in yet)."""
    return Report(run=run)
