"""What a comparison returns: one :class:`ComparedRun` per run and the
:class:`Comparison` that holds them, with its table, JSON and renderers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gradlog.findings import LRAdvice, plain
from gradlog.report import Report

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["COMPARISON_SCHEMA_VERSION", "USABLE_FRACTION", "ComparedRun", "Comparison"]

#: A value is in the usable range when its improvement is at least this share of the best.
USABLE_FRACTION = 0.9
#: Version of the ``comparison`` object of the JSON document.
COMPARISON_SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: its place in the sweep and its sweep-aware verdict.

    Attributes
    ----------
    name : unique display name within the comparison.
    report : the run's Report, whose ``lr_advice`` is the sweep-aware one.
    run_advice : the single-run verdict (what ``gradlog analyze`` says).
    value : the varied value (None when the runs are compared on curves only).
    value_source : where it came from: ``hparams``, ``logged_lr`` or ``folder_name``.
    hparams : the comparable hyperparameters (hparams, then folder names, then logged LR).
    last_step : the run's last finite loss step.
    initial_loss, loss_at_common, final_loss, best_loss : smoothed levels.
    improvement : the sweep's initial loss minus the level at the ranking step (``-inf`` when the
        loss blew up).
    rank : 1 for the best improvement.
    position : ``below``, ``in`` or ``above`` the usable range, or None.
    bounced, blew_up : the run had ``step_size_oscillation`` / diverged or went non-finite.
    still_falling : the smoothed loss still fell over the last 20% of the run (None: unknown).
    val_tag, best_val, best_val_step : the validation metric's best value and its step.
    """

    name: str
    report: Report
    run_advice: LRAdvice
    value: Any
    value_source: str | None
    hparams: dict[str, Any]
    last_step: int | None
    initial_loss: float
    loss_at_common: float
    final_loss: float
    best_loss: float
    improvement: float
    rank: int | None
    position: str | None
    bounced: bool
    blew_up: bool
    still_falling: bool | None
    val_tag: str | None
    best_val: float | None
    best_val_step: int | None

    @property
    def advice(self) -> LRAdvice:
        """Return the sweep-aware verdict (``report.lr_advice``)."""
        return self.report.lr_advice

    @property
    def source(self) -> str | None:
        """Return the path the run was read from."""
        src = self.report.run.meta.get("source")
        return str(src) if src is not None else None

    def to_dict(self) -> dict[str, Any]:
        """Return this run's row of the ``comparison`` object (plain JSON data)."""
        return plain(
            {
                "run": self.name,
                "source": self.source,
                "format": self.report.run.meta.get("format"),
                "value": self.value,
                "value_source": self.value_source,
                "steps": self.last_step,
                "initial_loss": self.initial_loss,
                "loss_at_common_step": self.loss_at_common,
                "final_loss": self.final_loss,
                "best_loss": self.best_loss,
                "improvement": self.improvement if math.isfinite(self.improvement) else None,
                "rank": self.rank,
                "position": self.position,
                "bounced": self.bounced,
                "blew_up": self.blew_up,
                "still_falling": self.still_falling,
                "best_val": {
                    "tag": self.val_tag,
                    "value": self.best_val,
                    "step": self.best_val_step,
                },
                "lr_advice": self.advice.action,
                "run_action": self.run_advice.action,
                "scope": self.advice.scope,
                "findings": sorted({f.id for f in self.report.findings}),
            }
        )


@dataclass
class Comparison:
    """Several runs compared side by side (see :func:`compare`).

    Attributes
    ----------
    runs : one :class:`ComparedRun` per run, in the order of the varied value.
    by : the varied hyperparameter (None: compared on the curves only).
    varied : ``{name: [value per run]}`` of every hyperparameter that differs.
    same : ``{name: value}`` of those all runs share.
    common_step : the ranking step (shortest common step, or the common end).
    rule : the ranking rule, in words.
    best_run : the name of the run with the best improvement (None when none improved).
    usable_range : ``(low, high)`` of the usable values, or None.
    sentence : one sentence that reads the sweep.
    notes : what the reader must know (one run only, several settings differ, ...).
    """

    runs: list[ComparedRun]
    by: str | None
    varied: dict[str, list[Any]] = field(default_factory=dict)
    same: dict[str, Any] = field(default_factory=dict)
    common_step: int | None = None
    rule: str = ""
    best_run: str | None = None
    usable_range: tuple[Any, Any] | None = None
    sentence: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def reports(self) -> list[Report]:
        """Return the runs' Reports (with the sweep-aware ``lr_advice``), in table order."""
        return [r.report for r in self.runs]

    @property
    def values(self) -> list[Any]:
        """Return the varied value of each run, in table order."""
        return [r.value for r in self.runs]

    @property
    def changed(self) -> list[ComparedRun]:
        """Return the runs whose verdict the siblings changed."""
        return [r for r in self.runs if r.advice.scope == "sweep"]

    def to_frame(self) -> pd.DataFrame:
        """Return the table, one row per run.

        Columns: ``run``, the varied value (named after ``by``, or ``value``), ``steps``,
        ``loss_at_common_step``, ``final_loss``, ``best_loss``, ``improvement``, ``rank``,
        ``position``, ``best_val``, ``best_val_step``, ``lr_advice``, ``run_action``,
        ``scope``, ``findings`` (comma-separated ids), ``source``.
        """
        col = self.by or "value"
        rows = []
        for r in self.runs:
            rows.append(
                {
                    "run": r.name,
                    col: r.value,
                    "steps": r.last_step,
                    "loss_at_common_step": r.loss_at_common,
                    "final_loss": r.final_loss,
                    "best_loss": r.best_loss,
                    "improvement": r.improvement,
                    "rank": r.rank,
                    "position": r.position,
                    "best_val": r.best_val,
                    "best_val_step": r.best_val_step,
                    "lr_advice": r.advice.action,
                    "run_action": r.run_advice.action,
                    "scope": r.advice.scope,
                    "findings": ", ".join(sorted({f.id for f in r.report.findings})),
                    "source": r.source,
                }
            )
        cols = [
            "run",
            col,
            "steps",
            "loss_at_common_step",
            "final_loss",
            "best_loss",
            "improvement",
            "rank",
            "position",
            "best_val",
            "best_val_step",
            "lr_advice",
            "run_action",
            "scope",
            "findings",
            "source",
        ]
        return pd.DataFrame(rows, columns=cols)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``comparison`` object of the JSON document (plain JSON data)."""
        return plain(
            {
                "schema_version": COMPARISON_SCHEMA_VERSION,
                "by": self.by,
                "values": [r.value for r in self.runs],
                "varied": self.varied,
                "same": self.same,
                "common_step": self.common_step,
                "rule": self.rule,
                "usable_fraction": USABLE_FRACTION,
                "best_run": self.best_run,
                "usable_range": list(self.usable_range) if self.usable_range is not None else None,
                "sentence": self.sentence,
                "notes": list(self.notes),
                "runs": [r.to_dict() for r in self.runs],
            }
        )

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return ``{gradlog_version, schema_version, runs: [...], comparison: {...}}`` as
        strict JSON (null, never NaN); ``runs`` holds each run's analyze JSON with its
        sweep-aware ``lr_advice``."""
        from gradlog.render.compare import comparison_json

        return comparison_json(self, indent=indent)

    def to_text(self, *, color: bool = False, width: int = 80) -> str:
        """Return the terminal report of the comparison."""
        from gradlog.render.compare import render_text

        return render_text(self, color=color, width=width)

    def to_markdown(self, figures_dir: str | Path | None = None) -> str:
        """Return the Markdown report; the figures are written into ``figures_dir`` if given."""
        from gradlog.render.compare import render_markdown

        return render_markdown(self, figures_dir=figures_dir)

    def to_html(self) -> str:
        """Return one self-contained HTML page (figures embedded)."""
        from gradlog.render.compare import render_html

        return render_html(self)

    def figures(self) -> list[tuple[str, Figure]]:
        """Return ``[(kind, Figure)]``: ``curves`` (always, when a run has a loss) and
        ``sweep`` (final and best loss against the varied value, when it is numeric)."""
        from gradlog.plots_compare import comparison_figures

        return comparison_figures(self)

    def plot(self) -> Figure:
        """Return one Figure with the overlaid loss curves and, for a numeric sweep, the
        final/best loss against the varied value."""
        from gradlog.plots_compare import comparison_figure

        return comparison_figure(self)

    def _repr_html_(self) -> str:
        from gradlog.render.compare import html_fragment

        return html_fragment(self)

    def __repr__(self) -> str:
        return (
            f"<Comparison of {len(self.runs)} runs by {self.by or 'curves'}: "
            f"best {self.best_run!r}, usable range {self.usable_range}>"
        )
