"""Reading several runs as a sweep (:func:`compare`): load and analyse each once, find the
setting they differ in, rank their smoothed losses at a common step, find the usable
range, and check each run's LR verdict against its siblings."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradlog.compare.curves import (
    SMOOTH_FRACTION,
    Curve,
    best_val,
    loss_curve,
    still_falling,
)
from gradlog.compare.records import USABLE_FRACTION, ComparedRun, Comparison
from gradlog.compare.settings import PREFERRED, differ, run_settings
from gradlog.compare.verdict import BOUNCE_IDS, sentence, sweep_verdict
from gradlog.errors import GradlogError, MultipleRunsError
from gradlog.report import Report
from gradlog.run import Run
from gradlog.wording import fmt_setting

__all__ = ["compare"]


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


@dataclass
class _Settings:
    """Which setting the comparison is by, and what the runs share and do not."""

    chosen: str | None
    varied: dict[str, list[Any]]
    same: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _choose(params: Sequence[dict[str, Any]], names: Sequence[str], by: str) -> _Settings:
    """Return the varied setting (``by``, or the preferred one that differs) with the notes
    a reader needs (one run only, no shared setting, several differ).

    Raises
    ------
    GradlogError
        If ``by`` names a setting some run does not have.
    """
    common_keys = set(params[0]).intersection(*params[1:]) if params else set()
    any_keys = set().union(*params) if params else set()
    varied = {k: [p[k] for p in params] for k in sorted(common_keys) if differ([p[k] for p in params])}
    same = {k: params[0][k] for k in sorted(common_keys) if k not in varied}
    only_some = sorted(any_keys - common_keys)

    chosen: str | None
    if by == "auto":
        order = [k for k in PREFERRED if k in varied] + sorted(k for k in varied if k not in PREFERRED)
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
    out = _Settings(chosen, varied, same)
    if len(params) == 1:
        out.notes.append("Only one run: there is nothing to compare; its verdict is the single-run one.")
    elif chosen is None:
        if not any_keys:
            out.notes.append(
                "The runs share no hyperparameter names (no hparams, logged LR or "
                "folder-name setting): compared on their loss curves only."
            )
        else:
            out.notes.append(
                "No hyperparameter the runs share differs between them"
                + (f" (only some runs have {', '.join(only_some[:5])})" if only_some else "")
                + ": compared on their loss curves only."
            )
    if len(params) > 1 and chosen is not None:
        others = [k for k in varied if k != chosen]
        if others:
            out.notes.append(
                f"More than one setting differs between the runs ({', '.join([chosen, *others])}): "
                f"the comparison by {chosen} mixes their effects."
            )
    return out


def _ranking_step(curves: Sequence[Curve]) -> tuple[int | None, str]:
    """Return the step the runs are ranked at and the ranking rule in words: the common
    end of the runs that did not blow up, else their shortest common step."""
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
    return common, rule


def _improvements(curves: Sequence[Curve], common: int | None) -> list[float]:
    """Return each run's improvement: the sweep's initial loss (the median of the runs'
    first values) minus its smoothed level at ``common``; ``-inf`` when it blew up."""
    inits = [c.initial for c in curves if math.isfinite(c.initial)]
    initial = float(np.median(inits)) if inits else float("nan")
    improv = []
    for c in curves:
        if c.end_step is None or c.blew_up or common is None:
            improv.append(-math.inf)
        else:
            improv.append(initial - c.level_at(common))
    return [v if math.isfinite(v) or v == -math.inf else -math.inf for v in improv]


def _ranks(improv: Sequence[float]) -> tuple[list[int | None], int | None]:
    """Return each run's rank (None for a run that blew up) and the best run's index
    (None when no run improved)."""
    order_idx = sorted(range(len(improv)), key=lambda i: -improv[i])
    ranks: list[int | None] = [None] * len(improv)
    for rk, i in enumerate(order_idx, start=1):
        ranks[i] = rk if improv[i] > -math.inf else None
    best_i = order_idx[0] if improv[order_idx[0]] > 0 else None
    return ranks, best_i


def _usable(
    values: Sequence[Any],
    improv: Sequence[float],
    best: float,
    chosen: str,
    numeric: bool,
    notes: list[str],
) -> tuple[tuple[Any, Any] | None, list[str | None]]:
    """Return the usable range of a numeric setting (None for categories, whose usable
    values go into ``notes``) and each run's position: ``below``/``in``/``above`` (``in``
    /``out`` for categories)."""
    n = len(values)
    positions: list[str | None] = [None] * n
    inside = [i for i in range(n) if improv[i] >= USABLE_FRACTION * best]
    if numeric:
        nums = [float(v) for v in values if v is not None]  # all floats here
        lo = min(nums[i] for i in inside)
        hi = max(nums[i] for i in inside)
        for i, fv in enumerate(nums):
            positions[i] = "below" if fv < lo else "above" if fv > hi else "in"
        return (lo, hi), positions
    # categories (optimizer names): no range, the values within reach of the best
    usable_vals = sorted({fmt_setting(values[i]) for i in inside})
    notes.append(
        f"The {chosen} values within {USABLE_FRACTION:g} of the best improvement: {', '.join(usable_vals)}."
    )
    for i in range(n):
        positions[i] = "in" if i in inside else "out"
    return None, positions


def _compared_run(rep: Report, c: Curve, common: int | None, **row: Any) -> ComparedRun:
    """Return one run's row: its curve's levels, what its findings say, the given ``row``
    fields (name, value, value_source, hparams, improvement, rank, position)."""
    ids = {f.id for f in rep.findings}
    best_level = (
        float(np.nanmin(c.level[c.window - 1 :]))
        if c.level.size >= c.window
        else (float(np.nanmin(c.level)) if c.level.size else float("nan"))
    )
    vt, bv, bs = best_val(rep.run)
    return ComparedRun(
        report=rep,
        run_advice=rep.lr_advice,
        last_step=c.end_step,
        initial_loss=c.initial,
        loss_at_common=c.level_at(common) if not c.blew_up else float("nan"),
        final_loss=c.level_at(c.end_step),
        best_loss=best_level,
        bounced=bool(ids & set(BOUNCE_IDS)),
        blew_up=c.blew_up or bool(ids & {"divergence"}),
        still_falling=still_falling(rep, c),
        val_tag=vt,
        best_val=bv,
        best_val_step=bs,
        **row,
    )


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
    params, sources = run_settings(reports)
    st = _choose(params, names, by)
    chosen, notes = st.chosen, st.notes
    curves = [loss_curve(r) for r in reports]
    common, rule = _ranking_step(curves)
    improv = _improvements(curves, common)
    values = [p.get(chosen) if chosen else None for p in params]
    numeric = chosen is not None and all(isinstance(v, float) for v in values)
    ranks, best_i = _ranks(improv)
    best = improv[best_i] if best_i is not None else None
    usable: tuple[Any, Any] | None = None
    positions: list[str | None] = [None] * len(reports)
    if best is not None and chosen is not None and len(reports) > 1:
        usable, positions = _usable(values, improv, best, chosen, numeric, notes)
    out_runs = [
        _compared_run(
            rep,
            curves[i],
            common,
            name=names[i],
            value=values[i],
            value_source=sources[i].get(chosen) if chosen else None,
            hparams=params[i],
            improvement=improv[i],
            rank=ranks[i],
            position=positions[i],
        )
        for i, rep in enumerate(reports)
    ]
    comp = Comparison(
        runs=out_runs,
        by=chosen,
        varied=st.varied,
        same=st.same,
        common_step=common,
        rule=rule,
        best_run=names[best_i] if best_i is not None else None,
        usable_range=usable,
        notes=notes,
    )
    if chosen == "lr" and numeric and usable is not None and len({*values}) > 1:
        comp.runs = [sweep_verdict(r, comp) for r in comp.runs]
    elif len(reports) > 1 and chosen is not None and chosen != "lr":
        comp.notes.append(
            f"The runs differ in {chosen}, not in the learning rate: each run keeps "
            f"its single-run LR verdict."
        )
    if best is None and len(reports) > 1:
        comp.notes.append("No run's smoothed loss improved: there is no usable range.")
    if numeric:
        comp.runs.sort(key=lambda r: (r.value, r.name))
    comp.sentence = sentence(comp)
    return comp
