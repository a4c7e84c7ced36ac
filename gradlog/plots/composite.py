"""The report's figures: one per kind, and all of them in one Figure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradlog.plots._common import (
    _OSC_IDS,
    _bare_figure,
    _findings,
    quiet_numerics,
)
from gradlog.plots.first_order import _FO_ID, plot_first_order
from gradlog.plots.gradients import plot_grad_norms
from gradlog.plots.oscillation import _amp_points, plot_amplitude_vs_lr, plot_oscillation
from gradlog.plots.overview import plot_overview

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from gradlog.report import Report
    from gradlog.run import Run

# -- figures for reports --------------------------------------------------------------


def _has_grads(run: Run) -> bool:
    return bool(run.roles.get("grad")) or bool(run.roles.get("grad_total"))


def _has_osc(report: Any) -> bool:
    return any(f.id in _OSC_IDS for f in _findings(report))


def _has_first_order(report: Any) -> bool:
    """True when an oscillation finding rests (also) on the first-order overshoot."""
    return any(
        f.id == "step_size_oscillation"
        and isinstance(f.evidence, dict)
        and _FO_ID in (f.evidence.get("signals_present") or ())
        for f in _findings(report)
    )


def report_figures(report: Report) -> list[tuple[str, Figure]]:
    """Return the report's figures (:func:`_report_figures`), drawn without numpy's
    floating-point warnings (:func:`quiet_numerics`)."""
    with quiet_numerics():
        return _report_figures(report)


def _report_figures(report: Report) -> list[tuple[str, Figure]]:
    """Return the report's figures, each 800 px wide at 100 dpi, as ``(kind, Figure)``.

    ``overview`` always; ``grad_norms`` when the run has gradient statistics;
    ``oscillation`` (with the amplitude against the LR) when an oscillation or noisy-loss
    finding is present; ``first_order`` (:func:`plot_first_order`) when the
    ``step_size_oscillation`` finding's ``signals_present`` holds ``first_order_overshoot``.
    Bare Figures (no pyplot): save them with ``fig.savefig``.
    """
    out: list[tuple[str, Figure]] = []
    fig = _bare_figure(3.8)
    plot_overview(report, ax=fig.add_subplot())
    out.append(("overview", fig))
    if _has_grads(report.run):
        n = len(report.run.roles.get("grad") or []) + 1
        fig = _bare_figure(3.6 if n <= 8 else 4.2)
        plot_grad_norms(report, ax=fig.add_subplot())
        out.append(("grad_norms", fig))
    if _has_osc(report):
        fig = _bare_figure(3.2)
        if len(_amp_points(report)) >= 2:
            gs = fig.add_gridspec(1, 2, width_ratios=[3, 1])
            plot_oscillation(report, ax=fig.add_subplot(gs[0, 0]))
            plot_amplitude_vs_lr(report, ax=fig.add_subplot(gs[0, 1]))
        else:
            plot_oscillation(report, ax=fig.add_subplot())
        out.append(("oscillation", fig))
    if _has_first_order(report):
        fig = _bare_figure(3.6)
        plot_first_order(report, ax=fig.add_subplot())
        out.append(("first_order", fig))
    return out


def report_figure(report: Report) -> Figure:
    """Return one Figure with the overview, the gradients (when the log has them) and the
    oscillation evidence (when there is an oscillation finding), sharing the step axis.

    A bare :class:`matplotlib.figure.Figure` (no pyplot state): Jupyter shows it, and
    ``fig.savefig("report.png")`` writes it.
    """
    with quiet_numerics():
        return _report_figure(report)


def _report_figure(report: Report) -> Figure:
    rows = [("overview", 3.8)]
    if _has_grads(report.run):
        rows.append(("grad_norms", 3.4))
    if _has_osc(report):
        rows.append(("oscillation", 3.0))
    if _has_first_order(report):
        rows.append(("first_order", 3.4))
    fig = _bare_figure(sum(h for _k, h in rows))
    gs = fig.add_gridspec(len(rows), 2, height_ratios=[h for _k, h in rows], width_ratios=[3, 1])
    first = None
    for i, (kind, _h) in enumerate(rows):
        if kind == "oscillation" and len(_amp_points(report)) >= 2:
            plot_oscillation(report, ax=fig.add_subplot(gs[i, 0], sharex=first))
            plot_amplitude_vs_lr(report, ax=fig.add_subplot(gs[i, 1]))
            continue
        ax = fig.add_subplot(gs[i, :], sharex=first)
        first = first or ax
        if kind == "overview":
            plot_overview(report, ax=ax)
        elif kind == "grad_norms":
            plot_grad_norms(report, ax=ax)
        elif kind == "first_order":
            plot_first_order(report, ax=ax)
        else:
            plot_oscillation(report, ax=ax)
    return fig
