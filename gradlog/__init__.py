"""gradlog: post-hoc analysis of training logs.

>>> import gradlog
>>> run = gradlog.load("train.log")          # Caffe, CSV, Lightning, Keras, HF, TensorBoard ...
>>> report = gradlog.analyze(run)             # findings with evidence and recommendations
>>> print(report.to_text())
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, BinaryIO

from gradlog._version import __version__
from gradlog.errors import (
    DamagedInputError,
    EmptyLogError,
    FrameError,
    GradlogError,
    MultipleRunsError,
    ParseError,
    RoleError,
    UnknownFormatError,
)
from gradlog.findings import FINDING_IDS, Finding, Trend
from gradlog.loading import RunRef, detect_format, discover, formats, load, load_all
from gradlog.report import Report
from gradlog.run import Run

__all__ = [
    "__version__",
    "load",
    "load_all",
    "discover",
    "detect_format",
    "formats",
    "analyze",
    "Run",
    "RunRef",
    "Report",
    "Finding",
    "Trend",
    "FINDING_IDS",
    "GradlogError",
    "UnknownFormatError",
    "ParseError",
    "DamagedInputError",
    "EmptyLogError",
    "FrameError",
    "RoleError",
    "MultipleRunsError",
]


def analyze(
    run: Run | str | os.PathLike[str] | BinaryIO,
    *,
    roles: Mapping[str, Any] | None = None,
    config: Any = None,
) -> Report:
    """Analyse a run (or load one from a path first) and return its Report.

    Parameters
    ----------
    run : a Run, or anything :func:`load` accepts.
    roles : role overrides (``{"loss": "my_loss"}``).
    config : a :class:`gradlog.analyzers.AnalysisConfig` (default: ``DEFAULT_CONFIG``).

    Returns
    -------
    Report

    Raises
    ------
    GradlogError
        If the path cannot be loaded or a role override is invalid.
    """
    from gradlog.analyzers import DEFAULT_CONFIG, run_analysis

    if not isinstance(run, Run):
        run = load(run, roles=roles)
    elif roles:
        run = run.with_roles(**roles)
    a = run_analysis(run, config=DEFAULT_CONFIG if config is None else config)
    kwargs = {"lr_advice": a.lr_advice} if a.lr_advice is not None else {}
    return Report(run=a.run, findings=a.findings, trends=a.trends, not_assessable=a.not_assessable,
                  **kwargs)
