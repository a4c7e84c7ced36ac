"""Compare runs side by side and read a sweep: which run had the right learning rate.

:func:`compare` takes several runs (paths, :class:`~gradlog.run.Run` objects or
already computed :class:`~gradlog.report.Report` objects), analyses each once, finds the
hyperparameter the runs differ in, compares their smoothed training losses at equal
steps, and returns a :class:`Comparison`: a table, one sentence that reads the sweep,
the usable learning-rate range, and each run's *sweep-aware* ``lr_advice``.

How the sweep is read (the rule is also said in every report, ``Comparison.rule``):

* Each run's training loss is smoothed by a trailing running median (window: 5% of its
  points, at least 5). Its *improvement* is the sweep's initial loss (the median of the
  runs' first logged values: the loss before any update, which the LR cannot change)
  minus the run's smoothed level at the ranking step. Runs whose loss blew up
  (``divergence``, non-finite loss at the end) rank last (improvement ``-inf``).
* The ranking step is the shortest common step of the runs that did not blow up, or
  their end when they have the same length (runs of different lengths are compared
  like with like; the table also gives each run's own end).
* The *usable range* is the set of values whose improvement is at least 0.9 of the
  best (:data:`USABLE_FRACTION`).
* When the varied value is the learning rate, each run's single-run verdict is checked
  against its siblings (details in :func:`_sweep_verdict`): a run below the usable range
  that did not bounce or blow up is ``raise``, to the smallest usable LR whose run did not
  bounce (its siblings went further on the same budget; never towards an LR the same
  sweep marks as too large); a run above it is ``lower``, to the top of the range (it
  bounced, blew up or ended clearly worse); a run inside the range keeps its single-run
  verdict, except a ``raise`` when the sweep tried other LRs of the range or higher ones
  (within the range the improvement differs by less than 10%). A verdict the siblings
  changed (its action, or its suggested LR) has ``scope="sweep"``, keeps the single-run
  action in ``run_action`` and names the sibling numbers in ``because`` (a ``"sweep"``
  entry first). Runs that differ in something other than the LR keep their verdicts.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gradlog.errors import GradlogError, MultipleRunsError
from gradlog.findings import LRAction, LRAdvice, plain
from gradlog.report import Report
from gradlog.run import Run

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "COMPARISON_SCHEMA_VERSION",
    "USABLE_FRACTION",
    "ComparedRun",
    "Comparison",
    "compare",
    "folder_hparams",
    "hparams_of",
]

#: A value is in the usable range when its improvement is at least this share of the best.
USABLE_FRACTION = 0.9
#: Version of the ``comparison`` object of the JSON document.
COMPARISON_SCHEMA_VERSION = "1.0"
#: Trailing running-median window, as a share of a run's loss points (at least 5 points).
SMOOTH_FRACTION = 0.05
#: The last share of the run over which "still falling" is judged.
TAIL_FRACTION = 0.2

#: Preferred hyperparameters when several differ (the LR first: this is what a sweep is for).
_PREFERRED = ("lr", "batch_size", "momentum", "weight_decay", "optimizer")
#: hparams that name a place, a time or an identity, not a setting (never "varied").
_IGNORED_KEY_RE = re.compile(
    r"(^name$|(^|[._\-])(dir|dirs|path|paths|file|files|folder|id|uuid|time|timestamp|date|"
    r"version|host|hostname|user|logging_dir|output_dir|run_name|exp_name|job_name|report_to|hub_\w+|"
    r"push_to_hub|resume_from_checkpoint|save_\w+|log_\w+|logging_\w+|eval_steps|"
    r"tracking_uri|artifact\w*|experiment\w*|git\w*)$)",
    re.IGNORECASE,
)
#: Settings read from folder and file names: ``lr0.01``, ``lr=1e-3``, ``bs-32``.
_FOLDER_RE = re.compile(
    r"(?<![A-Za-z])(lr|learning[_-]?rate|base[_-]?lr|bs|batch[_-]?size|wd|weight[_-]?decay|"
    r"momentum|mom)[=_-]?((?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)(?![\d.])",
    re.IGNORECASE,
)
_FOLDER_KEYS = {
    "lr": "lr",
    "learningrate": "lr",
    "baselr": "lr",
    "bs": "batch_size",
    "batchsize": "batch_size",
    "wd": "weight_decay",
    "weightdecay": "weight_decay",
    "momentum": "momentum",
    "mom": "momentum",
}
_LOWER_IS_BETTER_RE = re.compile(r"loss|err|wer|cer|perplex|ppl|mae|mse|rmse|nll", re.IGNORECASE)
_BOUNCE_IDS = ("step_size_oscillation",)
_BLOWUP_IDS = ("divergence", "nonfinite_values")
_LOWER_ACTIONS = ("lower", "decay_now", "decay_earlier")


# -- what each run is ---------------------------------------------------------------------


def _scalar(v: Any) -> Any:
    """Return a hyperparameter value usable for comparison, or None."""
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str) and 0 < len(v) <= 200:
        return v
    return None


def hparams_of(run: Run) -> dict[str, Any]:
    """Return the run's comparable hyperparameters: scalar values of ``meta["hparams"]``
    (numbers as floats), without keys that name a place, a time or an identity
    (``output_dir``, ``run_name``, ``seed`` stays)."""
    hp = run.meta.get("hparams") or {}
    out: dict[str, Any] = {}
    if isinstance(hp, Mapping):
        for k, v in hp.items():
            key = str(k)
            if _IGNORED_KEY_RE.search(key):
                continue
            sv = _scalar(v)
            if sv is not None:
                out[key] = sv
    return out


def folder_hparams(source: str | os.PathLike[str] | None) -> dict[str, float]:
    """Return the settings written in a run's file and folder names (``lr0.01``,
    ``lr=1e-3``, ``bs32``, ``wd-1e-4``), nearest name first wins; empty when none."""
    if not source:
        return {}
    p = Path(str(source))
    parts = [p.stem if p.suffix else p.name, *[q.name for q in list(p.parents)[:3]]]
    out: dict[str, float] = {}
    for part in parts:
        for m in _FOLDER_RE.finditer(part):
            key = _FOLDER_KEYS[re.sub(r"[_-]", "", m.group(1).lower())]
            try:
                val = float(m.group(2))
            except ValueError:
                continue
            if math.isfinite(val):
                out.setdefault(key, val)
    return out


def _logged_lr_peak(run: Run) -> float | None:
    tag = run.roles.get("lr")
    if not tag or tag not in run:
        return None
    v = run.series(str(tag)).to_numpy(dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(v.max()) if v.size else None


@dataclass(frozen=True)
class _Curve:
    """The smoothed-loss facts of one run (internal)."""

    tag: str | None
    steps: np.ndarray
    level: np.ndarray  # trailing running median, finite points only
    initial: float
    end_step: int | None
    blew_up: bool
    window: int

    def level_at(self, step: int | None) -> float:
        if step is None or self.level.size == 0:
            return float("nan")
        i = int(np.searchsorted(self.steps, step, side="right")) - 1
        return float(self.level[i]) if i >= 0 else float("nan")


def _curve(report: Report) -> _Curve:
    run = report.run
    tag = run.roles.get("loss")
    ids = {f.id for f in report.findings}
    if not tag or tag not in run:
        return _Curve(None, np.zeros(0, dtype=np.int64), np.zeros(0), float("nan"), None, False, 0)
    s = run.series(str(tag))
    y = s.to_numpy(dtype=float)
    x = s.index.to_numpy()
    fin = np.isfinite(y)
    blew_up = "divergence" in ids or (y.size > 0 and not fin[-1])
    for f in report.findings:
        if f.id == "nonfinite_values" and str(tag) in f.tags:
            blew_up = True
    yf, xf = y[fin], x[fin]
    if yf.size == 0:
        return _Curve(str(tag), xf, yf, float("nan"), None, True, 0)
    w = int(max(5, min(1001, round(SMOOTH_FRACTION * yf.size))))
    roll = pd.Series(yf).rolling(w, min_periods=1)
    level = roll.median().to_numpy()
    initial = float(yf[0])
    return _Curve(str(tag), xf, level, initial, int(xf[-1]), bool(blew_up), w)


def _still_falling(report: Report, c: _Curve, y: np.ndarray | None = None) -> bool | None:
    """Return whether the loss still fell over the last :data:`TAIL_FRACTION` of the run,
    None when unknown.

    True when the report has an ``lr_too_small`` finding, False when it has a
    ``loss_plateau`` finding on the loss that reaches the end (the report and the
    comparison never disagree); otherwise True when the raw loss of
    the second half of that tail is lower than that of the first half (one-sided
    Mann-Whitney U test, p < 0.05) and its median at least 0.1% lower.
    """
    if c.tag is None or c.end_step is None or c.blew_up:
        return None
    if any(f.id == "lr_too_small" for f in report.findings):
        return True
    for f in report.findings:
        if (
            f.id == "loss_plateau"
            and c.tag in f.tags
            and f.step_range is not None
            and f.step_range[1] >= c.end_step - TAIL_FRACTION * (c.end_step - int(c.steps[0])) / 2
        ):
            return False
    s = report.run.series(c.tag)
    v = s.to_numpy(dtype=float)
    x = s.index.to_numpy()
    first = int(x[0])
    keep = np.isfinite(v) & (x >= c.end_step - TAIL_FRACTION * (c.end_step - first))
    tail = v[keep]
    if tail.size < 10:
        return None
    h = tail.size // 2
    a, b = tail[:h], tail[h:]
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(a, b, alternative="greater").pvalue)
    ma, mb = float(np.median(a)), float(np.median(b))
    return bool(p < 0.05 and mb < ma - 1e-3 * abs(ma))


def _best_val(run: Run) -> tuple[str | None, float | None, int | None]:
    tag = run.roles.get("val_metric")
    if not tag or tag not in run:
        return None, None, None
    s = run.series(str(tag))
    s = s[np.isfinite(s.to_numpy(dtype=float))]
    if s.empty:
        return str(tag), None, None
    lower = bool(_LOWER_IS_BETTER_RE.search(str(tag).split("/")[-1]))
    i = int(np.argmin(s.to_numpy()) if lower else np.argmax(s.to_numpy()))
    return str(tag), float(s.iloc[i]), int(s.index[i])


# -- the records --------------------------------------------------------------------------


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
                "best_val": {"tag": self.val_tag, "value": self.best_val, "step": self.best_val_step},
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


# -- building -----------------------------------------------------------------------------


def _as_reports(items: Iterable[Any], roles: Mapping[str, Any] | None) -> list[Report]:
    from gradlog import analyze
    from gradlog.loading import load, load_all

    out: list[Report] = []
    for item in items:
        if isinstance(item, Report):
            out.append(item)
            continue
        if isinstance(item, Run):
            run = item.with_roles(**roles) if roles else item
            out.append(analyze(run))
            continue
        if not isinstance(item, (str, os.PathLike)):
            raise GradlogError(
                f"compare: cannot compare a {type(item).__name__}; give paths, Runs or Reports"
            )
        try:
            runs = [load(item, roles=roles)]
        except MultipleRunsError:
            runs = load_all(item, roles=roles)
        out.extend(analyze(r) for r in runs)
    return out


def _unique_names(reports: Sequence[Report]) -> list[str]:
    """Return a distinct short name per run: the run name, or enough of its path to tell
    runs with the same file name apart (``v25/metrics.csv``)."""
    names = [r.run.name for r in reports]
    sources = [str(r.run.meta.get("source") or r.run.name) for r in reports]
    if len(set(names)) == len(names):
        return names
    parts = [Path(s).parts for s in sources]
    for depth in range(2, 8):
        cand = ["/".join(p[-depth:]) if len(p) >= depth else "/".join(p) for p in parts]
        if len(set(cand)) == len(cand):
            return cand
    return [f"{n} #{i + 1}" for i, n in enumerate(names)]


def _differ(vals: Sequence[Any]) -> bool:
    first = vals[0]
    for v in vals[1:]:
        if isinstance(first, float) and isinstance(v, float):
            if not math.isclose(first, v, rel_tol=1e-9, abs_tol=0.0):
                return True
        elif v != first:
            return True
    return False


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _params(reports: Sequence[Report]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Return each run's comparable settings and where each came from."""
    params, sources = [], []
    for rep in reports:
        hp = hparams_of(rep.run)
        fo = folder_hparams(rep.run.meta.get("source"))
        p: dict[str, Any] = {}
        src: dict[str, str] = {}
        for k, v in fo.items():
            p[k], src[k] = v, "folder_name"
        for k, v in hp.items():
            p[k], src[k] = v, "hparams"
        if src.get("lr") != "hparams":  # the logged LR before a folder name
            peak = _logged_lr_peak(rep.run)
            if peak is not None:
                p["lr"], src["lr"] = peak, "logged_lr"
        params.append(p)
        sources.append(src)
    return params, sources


def compare(
    runs_or_paths: Iterable[Run | Report | str | os.PathLike[str]],
    by: str = "auto",
    *,
    roles: Mapping[str, Any] | None = None,
) -> Comparison:
    """Compare runs side by side and read them as a sweep of one hyperparameter.

    Parameters
    ----------
    runs_or_paths : paths (each loaded with :func:`gradlog.load`; a directory holding
        several runs gives all of them), :class:`~gradlog.run.Run` objects (analysed
        here), or :class:`~gradlog.report.Report` objects (used as they are). Runs of
        different formats and lengths may be mixed.
    by : the varied hyperparameter: ``"auto"`` (the LR when it differs, else the first
        setting that differs), ``"lr"``, ``"batch_size"`` or any hparams key. Values come
        from the run's hparams, else (for ``lr``) the peak of the logged LR, else folder
        names such as ``lr0.01`` or ``lr=1e-3``.
    roles : role overrides applied to every run loaded or analysed here.

    Returns
    -------
    Comparison
        With each run's sweep-aware ``lr_advice`` in ``comparison.runs[i].report``.

    Raises
    ------
    GradlogError
        If no run is given, a path cannot be read, or ``by`` names a setting some run
        does not have (the message names the run).
    """
    reports = _as_reports(runs_or_paths, roles)
    if not reports:
        raise GradlogError("compare: no run to compare")
    names = _unique_names(reports)
    params, sources = _params(reports)
    notes: list[str] = []

    common_keys = set(params[0]).intersection(*params[1:]) if params else set()
    any_keys = set().union(*params) if params else set()
    varied = {k: [p[k] for p in params] for k in sorted(common_keys) if _differ([p[k] for p in params])}
    same = {k: params[0][k] for k in sorted(common_keys) if k not in varied}
    only_some = sorted(any_keys - common_keys)

    chosen: str | None
    if by == "auto":
        order = [k for k in _PREFERRED if k in varied] + sorted(k for k in varied if k not in _PREFERRED)
        chosen = order[0] if order else None
    else:
        chosen = "lr" if by.lower() in ("lr", "learning_rate") else by
        missing = [n for n, p in zip(names, params, strict=True) if chosen not in p]
        if missing:
            srcs = "hparams, the logged LR or folder names" if chosen == "lr" else "hparams or folder names"
            raise GradlogError(
                f"compare --by {by}: no value of {chosen!r} for run "
                f"{missing[0]} ({srcs})" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            )

    if len(reports) == 1:
        notes.append("Only one run: there is nothing to compare; its verdict is the single-run one.")
    elif chosen is None:
        if not any_keys:
            notes.append(
                "The runs share no hyperparameter names (no hparams, logged LR or "
                "folder-name setting): compared on their loss curves only."
            )
        else:
            notes.append(
                "No hyperparameter the runs share differs between them"
                + (f" (only some runs have {', '.join(only_some[:5])})" if only_some else "")
                + ": compared on their loss curves only."
            )
    if len(reports) > 1 and chosen is not None:
        others = [k for k in varied if k != chosen]
        if others:
            notes.append(
                f"More than one setting differs between the runs ({', '.join([chosen, *others])}): "
                f"the comparison by {chosen} mixes their effects."
            )

    curves = [_curve(r) for r in reports]
    ok = [c for c in curves if c.end_step is not None and not c.blew_up]
    ends = [c.end_step for c in ok]
    if ends and len(set(ends)) == 1:
        common: int | None = ends[0]
        rule_at = f"at the end (step {common:,}; all runs that did not blow up have that length)"
    elif ends:
        known = [e for e in ends if e is not None]
        common = min(known)
        rule_at = (
            f"at the shortest common step ({common:,}) of the runs that did not blow up "
            f"(their ends: {min(known):,}-{max(known):,})"
        )
    else:
        common = None
        rule_at = "nowhere: no run kept a finite loss"
    rule = (
        f"runs ranked by the improvement of their smoothed training loss (the initial loss, "
        f"the median of the runs' first logged values, minus the trailing running median over "
        f"{SMOOTH_FRACTION:.0%} of the run) {rule_at}; "
        f"runs whose loss blew up rank last; usable range = the values whose improvement is at "
        f"least {USABLE_FRACTION:g} of the best"
    )

    inits = [c.initial for c in curves if math.isfinite(c.initial)]
    initial = float(np.median(inits)) if inits else float("nan")
    improv = []
    for c in curves:
        if c.end_step is None or c.blew_up or common is None:
            improv.append(-math.inf)
        else:
            improv.append(initial - c.level_at(common))
    improv = [v if math.isfinite(v) or v == -math.inf else -math.inf for v in improv]

    values = [p.get(chosen) if chosen else None for p in params]
    vsources = [s.get(chosen) if chosen else None for s in sources]
    numeric = chosen is not None and all(isinstance(v, float) for v in values)

    order_idx = sorted(range(len(reports)), key=lambda i: -improv[i])
    ranks: list[int | None] = [None] * len(reports)
    for rk, i in enumerate(order_idx, start=1):
        ranks[i] = rk if improv[i] > -math.inf else None
    best_i = order_idx[0] if improv[order_idx[0]] > 0 else None
    best = improv[best_i] if best_i is not None else None

    usable: tuple[Any, Any] | None = None
    positions: list[str | None] = [None] * len(reports)
    if best is not None and chosen is not None and len(reports) > 1:
        inside = [i for i in range(len(reports)) if improv[i] >= USABLE_FRACTION * best]
        if numeric:
            nums = [float(v) for v in values if v is not None]  # all floats here
            lo = min(nums[i] for i in inside)
            hi = max(nums[i] for i in inside)
            usable = (lo, hi)
            for i, fv in enumerate(nums):
                positions[i] = "below" if fv < lo else "above" if fv > hi else "in"
        else:  # categories (optimizer names): no range, the values within reach of the best
            usable_vals = sorted({_fmt(values[i]) for i in inside})
            notes.append(
                f"The {chosen} values within {USABLE_FRACTION:g} of the best improvement: "
                f"{', '.join(usable_vals)}."
            )
            for i in range(len(reports)):
                positions[i] = "in" if i in inside else "out"

    out_runs: list[ComparedRun] = []
    for i, rep in enumerate(reports):
        c = curves[i]
        ids = {f.id for f in rep.findings}
        finals = c.level_at(c.end_step)
        best_level = (
            float(np.nanmin(c.level[c.window - 1 :]))
            if c.level.size >= c.window
            else (float(np.nanmin(c.level)) if c.level.size else float("nan"))
        )
        vt, bv, bs = _best_val(rep.run)
        out_runs.append(
            ComparedRun(
                name=names[i],
                report=rep,
                run_advice=rep.lr_advice,
                value=values[i],
                value_source=vsources[i],
                hparams=params[i],
                last_step=c.end_step,
                initial_loss=c.initial,
                loss_at_common=c.level_at(common) if not c.blew_up else float("nan"),
                final_loss=finals,
                best_loss=best_level,
                improvement=improv[i],
                rank=ranks[i],
                position=positions[i],
                bounced=bool(ids & set(_BOUNCE_IDS)),
                blew_up=c.blew_up or bool(ids & {"divergence"}),
                still_falling=_still_falling(rep, c),
                val_tag=vt,
                best_val=bv,
                best_val_step=bs,
            )
        )

    comp = Comparison(
        runs=out_runs,
        by=chosen,
        varied=varied,
        same=same,
        common_step=common,
        rule=rule,
        best_run=names[best_i] if best_i is not None else None,
        usable_range=usable,
        notes=notes,
    )
    if chosen == "lr" and numeric and usable is not None and len({*values}) > 1:
        comp.runs = [_sweep_verdict(r, comp) for r in comp.runs]
    elif len(reports) > 1 and chosen is not None and chosen != "lr":
        comp.notes.append(
            f"The runs differ in {chosen}, not in the learning rate: each run keeps "
            f"its single-run LR verdict."
        )
    if best is None and len(reports) > 1:
        comp.notes.append("No run's smoothed loss improved: there is no usable range.")
    if numeric:
        comp.runs.sort(key=lambda r: (r.value, r.name))
    comp.sentence = _sentence(comp)
    return comp


# -- sweep-aware verdicts -----------------------------------------------------------------


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


def _round(x: float) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.4g}")


def _sweep_verdict(r: ComparedRun, comp: Comparison) -> ComparedRun:
    """Return ``r`` with its verdict checked against its siblings (see the module doc).

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
    adv = r.run_advice
    sibs = [s for s in comp.runs if s is not r and s.value != r.value]
    best = next((s for s in comp.runs if s.name == comp.best_run), None)
    if best is None or r.value is None:
        return r
    best_imp = best.improvement
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
        "usable_range": [lo, hi],
        "best_run": best.name,
        "best_lr": best.value,
        "best_improvement": _round(best_imp),
        "usable_fraction": USABLE_FRACTION,
    }
    at = f"step {comp.common_step:,}" if comp.common_step is not None else "the end"
    share = r.improvement / best_imp if best_imp and math.isfinite(r.improvement) else None
    rng = _fmt(lo) if lo == hi else f"{_fmt(lo)}-{_fmt(hi)}"

    def changed(
        action: LRAction,
        summary: str,
        to_lr: float | None,
        confidence: float,
        siblings: Sequence[ComparedRun],
        keep_because: Sequence[dict[str, Any]],
    ) -> ComparedRun:
        because = (
            {
                "finding": "sweep",
                "evidence": {**base_ev, "this_run": ev_self, "siblings": [_sib(s, comp) for s in siblings]},
            },
            *keep_because,
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

    if r.position == "below":
        if r.bounced or r.blew_up or adv.action in _LOWER_ACTIONS:
            return r
        targets = [
            s for s in sibs if s.value > r.value and s.position == "in" and not s.bounced and not s.blew_up
        ]
        if not targets:
            return r
        target = min(targets, key=lambda s: s.value)
        falling = (
            "its loss was still falling at the end"
            if r.still_falling
            else "its loss had flattened at a higher level"
        )
        share_txt = f"{share:.0%} of" if share is not None and share >= 0 else "less than"
        summary = (
            f"Raise the learning rate to about {_fmt(target.value)}: at {_fmt(r.value)} the loss "
            f"improved {share_txt} what the best sibling ({_fmt(best.value)}) reached by {at} "
            f"({_fmt3(r.loss_at_common)} against {_fmt3(best.loss_at_common)}), and {falling}; "
            f"the usable range was {rng}."
        )
        if (
            adv.action == "raise"
            and adv.to_lr is not None
            and math.isclose(adv.to_lr, target.value, rel_tol=0.1)
        ):
            return r
        return changed(
            "raise",
            summary,
            float(target.value),
            0.8 if r.still_falling else 0.6,
            [s for s in sibs if s.value > r.value and s.position == "in"],
            adv.because,
        )
    if r.position == "above":
        if adv.action == "lower" and adv.to_lr is not None and adv.to_lr <= hi * (1 + 1e-9):
            return r  # the run's own estimate already lowers it into (or below) the range
        why = (
            "it diverged"
            if r.blew_up
            else "it bounced at the step size"
            if r.bounced
            else "it ended clearly worse"
        )
        mine = "a blow-up" if r.blew_up else _fmt3(r.loss_at_common)
        summary = (
            f"Lower the learning rate to about {_fmt(hi)}: {why}, while the runs at {rng} did "
            f"better (best {_fmt(best.value)}: {_fmt3(best.loss_at_common)} against {mine} at {at})."
        )
        return changed(
            "lower",
            summary,
            float(hi),
            0.8 if (r.bounced or r.blew_up) else 0.6,
            [s for s in sibs if s.value < r.value and s.position == "in"],
            adv.because,
        )
    if r.position != "in":
        return r
    if adv.action == "raise":
        others = [s for s in sibs if s.value > r.value or s.position == "in"]
        if not others:
            return r
        pct = f"{share:.0%}" if share is not None else "most"
        summary = (
            f"Keep the learning rate: {_fmt(r.value)} is inside the sweep's usable range ({rng}; "
            f"{pct} of the best improvement by {at}), and the other LRs tried "
            f"({', '.join(_fmt(s.value) for s in others)}) did not do clearly better."
        )
        return changed("keep", summary, None, 0.6, others, adv.because)
    return r


def _fmt3(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.3g}"


def _listed(runs: Sequence[ComparedRun], with_loss: bool, most: int = 4) -> str:
    """Return ``0.003: 0.59; 0.01: 0.41`` (or ``0.003, 0.01``); past ``most`` runs, the first
    and the last with the count between."""

    def one(r: ComparedRun) -> str:
        return f"{_fmt(r.value)}: {_fmt3(r.loss_at_common)}" if with_loss else _fmt(r.value)

    sep = "; " if with_loss else ", "
    if len(runs) <= most:
        return sep.join(one(r) for r in runs)
    return f"{one(runs[0])}{sep}... {len(runs) - 2} more ...{sep}{one(runs[-1])}"


def _sentence(comp: Comparison) -> str:
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
            f"Compared on their curves only: {best.name} improved most ({_fmt3(best.loss_at_common)} {at})."
        )
    label = "LR" if comp.by == "lr" else comp.by
    if comp.usable_range is None or not all(isinstance(r.value, float) for r in runs):
        return f"{best.name} ({comp.by}={_fmt(best.value)}) did best ({_fmt3(best.loss_at_common)} {at})."
    lo, hi = comp.usable_range
    rng = _fmt(lo) if lo == hi else f"{_fmt(lo)}-{_fmt(hi)}"
    parts = [
        (f"the usable {label} range was {rng} (best {_fmt(best.value)}: {_fmt3(best.loss_at_common)} {at})")
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
