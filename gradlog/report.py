"""The :class:`Report`: a run's findings and trends, and the ways to show them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gradlog.findings import Finding, LRAdvice, Trend, severity_rank
from gradlog.render.jsonout import SCHEMA_VERSION
from gradlog.run import Run

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["Report", "SCHEMA_VERSION"]

# SCHEMA_VERSION lives beside the schema (gradlog.render.jsonout) and is re-exported here.


@dataclass
class Report:
    """The analysis of one run.

    Attributes
    ----------
    run : the analysed Run.
    findings : ordered most severe first.
    trends : fitted trends of the role-bearing series (whole run and per LR phase).
    not_assessable : ``[{"id": ..., "reason": ...}]`` for detectors whose series the
        log does not have (said, not guessed).
    lr_advice : the run's learning-rate verdict (always set; ``unknown`` with a reason
        when the log cannot tell).
    """

    run: Run
    findings: list[Finding] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    not_assessable: list[dict[str, str]] = field(default_factory=list)
    lr_advice: LRAdvice = field(
        default_factory=lambda: LRAdvice(
            "unknown", "No learning-rate verdict was computed.", reason="not analysed", confidence=0.0
        )
    )

    def __post_init__(self) -> None:
        self.findings = sorted(self.findings, key=lambda f: (-severity_rank(f.severity), -f.confidence, f.id))

    @property
    def max_severity(self) -> str | None:
        """Return the highest severity among the findings, or None when there are none."""
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=severity_rank)

    def by_id(self, finding_id: str) -> list[Finding]:
        """Return the findings with this id (possibly empty)."""
        return [f for f in self.findings if f.id == finding_id]

    def to_dict(self) -> dict[str, Any]:
        """Return this run's entry of the JSON report (see README, "JSON schema")."""
        from gradlog.render.jsonout import run_dict

        return run_dict(self)

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return the whole JSON document for this one run (strict JSON, null for NaN)."""
        from gradlog.render.jsonout import reports_json

        return reports_json([self], indent=indent)

    def to_text(self, *, color: bool = False, width: int = 80, verbose: bool = False) -> str:
        """Return the terminal report (``verbose``: with per-phase trends and the tag table)."""
        from gradlog.render.text import render_text

        return render_text([self], color=color, width=width, verbose=verbose)

    def to_markdown(self, figures_dir: str | Path | None = None) -> str:
        """Return the Markdown report; figures are written into ``figures_dir`` if given."""
        from gradlog.render.markdown import render_markdown

        return render_markdown([self], figures_dir=figures_dir)

    def to_html(self) -> str:
        """Return one self-contained HTML page (figures embedded)."""
        from gradlog.render.html import render_html

        return render_html([self])

    def to_frame(self) -> pd.DataFrame:
        """Return the findings as a DataFrame, one row per finding."""
        rows = []
        for f in self.findings:
            d = f.to_dict()
            d["step_start"], d["step_end"] = f.step_range if f.step_range else (None, None)
            d["evidence"] = json.dumps(d["evidence"], sort_keys=True)
            rows.append(d)
        cols = [
            "id",
            "severity",
            "confidence",
            "summary",
            "tags",
            "step_start",
            "step_end",
            "evidence",
            "explanation",
            "recommendation",
            "references",
        ]
        return pd.DataFrame(rows, columns=cols)

    def trends_frame(self) -> pd.DataFrame:
        """Return the trends as a DataFrame, one row per (tag, scope)."""
        return pd.DataFrame([t.to_dict() for t in self.trends], columns=list(Trend.__dataclass_fields__))

    def plot(self) -> Figure:
        """Return the overview Figure (loss, trend, plateau, LR; gradients when present).

        A bare Figure that Jupyter shows inline without ``%matplotlib inline`` (it has
        ``_repr_png_``); ``fig.savefig(path)`` writes it."""
        from gradlog.plots import report_figure

        return report_figure(self)

    def _repr_html_(self) -> str:
        from gradlog.render.html import report_html_fragment

        return report_html_fragment(self)

    def __repr__(self) -> str:
        ids = ", ".join(f.id for f in self.findings) or "no findings"
        return f"<Report {self.run.name!r}: {ids}>"
