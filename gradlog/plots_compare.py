"""Figures of a comparison of runs (a sweep), drawn with matplotlib.

Every ``plot_*`` function takes ``ax=`` (a new figure only when ``ax`` is None) and
returns the Axes; :func:`comparison_figure` and :func:`comparison_figures` build bare
:class:`matplotlib.figure.Figure` objects without pyplot (nothing here selects a
backend or calls ``show``).

* :func:`plot_sweep_curves`: the runs' training losses overlaid, smoothed by a centred
  running median, on a shared (log, when positive) axis, one colour per varied value
  from a sequential colour map with a labelled colour bar; the ranking step dotted.
* :func:`plot_sweep`: the final and best smoothed loss against the varied value (log
  axis when positive) with the usable range shaded and the runs that bounced or blew
  up marked: the LR-sweep plot practitioners draw by hand.

Artists carry a ``gid``: ``curve:<run>``, ``common_step``, ``blowup:<run>``, ``final``,
``best``, ``bounced``, ``blew_up``, ``usable_range``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gradlog.plots import PALETTE, WIDTH_IN
from gradlog.wording import fmt_setting

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gradlog.compare import ComparedRun, Comparison

__all__ = [
    "CMAP",
    "FIGURE_CAPTIONS",
    "comparison_figure",
    "comparison_figures",
    "plot_sweep",
    "plot_sweep_curves",
]

#: The sequential colour map of the varied value (perceptually uniform, colour-blind safe).
CMAP = "viridis"
#: Lines are thinned to about this many points before drawing.
MAX_POINTS = 2000
ORANGE, VERMILLION, GREY = "#E69F00", "#D55E00", "#999999"

#: What each figure shows (alt text and captions of the reports).
FIGURE_CAPTIONS = {
    "curves": "Training loss of every run, smoothed by a centred running median, on a shared "
    "axis; colour: the varied value (colour bar). Dotted: the step the runs are "
    "ranked at; x: where a run's loss blew up.",
    "sweep": "Final (filled) and best (hollow) smoothed loss against the varied value; "
    "shaded: the usable range (improvement at least 0.9 of the best); orange ring: "
    "the run bounced at the step size; vermilion x at the top: the loss blew up.",
}


def _new_ax(ax: Axes | None, height: float = 4.0) -> Axes:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
    return fig.add_subplot()


def _numeric(comp: Comparison) -> bool:
    return comp.by is not None and all(isinstance(r.value, float) for r in comp.runs)


def _colours(comp: Comparison) -> tuple[list[Any], Any, str | None]:
    """Return (colour per run, ScalarMappable or None, colour-bar label)."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    runs = comp.runs
    if _numeric(comp) and len({r.value for r in runs}) > 1:
        vals = np.array([r.value for r in runs], dtype=float)
        positive = bool(np.all(vals > 0))
        norm = LogNorm(vals.min(), vals.max()) if positive else Normalize(vals.min(), vals.max())
        cmap = colormaps[CMAP].resampled(256)
        # keep the lightest yellow off the white background
        colours = [cmap(0.9 * float(norm(v))) for v in vals]
        from matplotlib.colors import ListedColormap

        shown = ListedColormap(cmap(np.linspace(0, 0.9, 230)))
        sm = ScalarMappable(norm=norm, cmap=shown)
        label = ("learning rate (LR)" if comp.by == "lr" else str(comp.by)) + (
            " (log scale)" if positive else ""
        )
        return colours, sm, label
    return [PALETTE[i % len(PALETTE)] for i in range(len(runs))], None, None


def _smooth(run: ComparedRun) -> tuple[np.ndarray, np.ndarray]:
    tag = run.report.run.roles.get("loss")
    if not tag or tag not in run.report.run:
        return np.zeros(0), np.zeros(0)
    s = run.report.run.series(str(tag))
    y = s.to_numpy(dtype=float)
    x = s.index.to_numpy(dtype=float)
    fin = np.isfinite(y)
    x, y = x[fin], y[fin]
    if y.size == 0:
        return x, y
    w = int(max(5, min(1001, round(0.05 * y.size))))
    if y.size > 2 * w:
        y = pd.Series(y).rolling(w, center=True, min_periods=max(1, w // 2)).median().to_numpy()
    if y.size > MAX_POINTS:
        idx = np.linspace(0, y.size - 1, MAX_POINTS).astype(int)
        x, y = x[idx], y[idx]
    return x, y


def plot_sweep_curves(
    comp: Comparison, *, ax: Axes | None = None, logy: bool | None = None, colorbar: bool = True
) -> Axes:
    """Draw every run's smoothed training loss on one axis, coloured by the varied value.

    Parameters
    ----------
    comp : the Comparison.
    ax : the Axes to draw into (a new figure when None).
    logy : log y axis; default: when every drawn value is positive.
    colorbar : add the labelled colour bar (numeric sweeps; else a legend).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_ax(ax)
    colours, sm, label = _colours(comp)
    drawn: list[np.ndarray] = []
    ends: list[tuple[str, float, float]] = []
    unit = None
    for r, col in zip(comp.runs, colours, strict=True):
        x, y = _smooth(r)
        if x.size == 0:
            continue
        unit = unit or r.report.run.meta.get("step_unit")
        name = f"{r.name} ({comp.by}={fmt_setting(r.value)})" if comp.by else r.name
        ax.plot(x, y, color=col, lw=1.4, label=name, gid=f"curve:{r.name}")
        drawn.append(y)
        if r.blew_up:
            ends.append((r.name, float(x[-1]), float(y[-1])))
    allv = np.concatenate(drawn) if drawn else np.zeros(0)
    if logy is None:
        logy = bool(allv.size) and bool(np.all(allv > 0))
    if logy:
        ax.set_yscale("log")
        if allv.size:
            # clip the view to what the sweep is about: the curves after their first drop
            hi = float(np.nanpercentile(allv, 99.5))
            lo = float(np.nanmin(allv))
            if lo > 0 and hi > lo:
                ax.set_ylim(lo / 1.3, hi * 1.3)
    top = ax.get_ylim()[1]
    for name, xe, ye in ends:  # where a loss blew up, kept inside the view
        ax.plot(
            [xe],
            [min(ye, top / 1.05 if logy else top)],
            marker="x",
            ms=9,
            mew=2,
            color=VERMILLION,
            ls="none",
            gid=f"blowup:{name}",
            clip_on=False,
        )
    if comp.common_step is not None and any(
        r.last_step != comp.common_step for r in comp.runs if r.last_step is not None and not r.blew_up
    ):
        ax.axvline(comp.common_step, color=GREY, ls=":", lw=1.2, gid="common_step")
        ax.annotate(
            f"ranked at step {comp.common_step:,}",
            xy=(comp.common_step, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(-4, -12),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color="#555555",
        )
    if logy:
        _plain_log_labels(ax)
    ax.set_xlabel(f"{unit or 'step'}")
    ax.set_ylabel("training loss (smoothed)" + (", log scale" if logy else ""))
    title = "Loss curves"
    if comp.by:
        title += f" by {'LR' if comp.by == 'lr' else comp.by}"
    ax.set_title(title, loc="left", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    if sm is not None and colorbar:
        cb = ax.figure.colorbar(sm, ax=ax, pad=0.01)
        cb.set_label(label or "")
        ticks = sorted({r.value for r in comp.runs})
        if len(ticks) <= 12:
            cb.set_ticks(ticks)
            cb.set_ticklabels([fmt_setting(t) for t in ticks])
            cb.minorticks_off()
    elif drawn:
        ax.legend(fontsize=8, loc="upper right", framealpha=0.85)
    return ax


def plot_sweep(
    comp: Comparison, *, ax: Axes | None = None, logx: bool | None = None, logy: bool | None = None
) -> Axes:
    """Draw the final and best smoothed loss against the varied value.

    The usable range is shaded; runs that bounced get an orange ring, runs whose loss
    blew up an x at the top edge. Runs without a numeric value are left out (a note
    says so on the axes).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_ax(ax, 3.6)
    pts = [r for r in comp.runs if isinstance(r.value, float)]
    if not pts:
        ax.text(
            0.5,
            0.5,
            "no numeric value varies between the runs",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="#555555",
        )
        ax.set_axis_off()
        return ax
    xs = np.array([r.value for r in pts], dtype=float)
    final = np.array([r.final_loss if not r.blew_up else np.nan for r in pts], dtype=float)
    bestl = np.array([r.best_loss if not r.blew_up else np.nan for r in pts], dtype=float)
    if logx is None:
        logx = bool(np.all(xs > 0))
    ok = np.isfinite(final)
    finite_vals = np.concatenate([final[ok], bestl[np.isfinite(bestl)]])
    if logy is None:
        logy = bool(finite_vals.size) and bool(np.all(finite_vals > 0))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    _shade_usable(ax, comp, logx)
    order = np.argsort(xs)
    ax.plot(
        xs[order][ok[order]],
        final[order][ok[order]],
        "-o",
        color="#0072B2",
        ms=6,
        lw=1.3,
        label="final loss",
        gid="final",
    )
    bok = np.isfinite(bestl)
    ax.plot(
        xs[bok],
        bestl[bok],
        "o",
        mfc="none",
        mec="#0072B2",
        ms=9,
        mew=1.2,
        ls="none",
        label="best loss",
        gid="best",
    )
    _mark_bounced_and_blown(ax, pts, xs, final, ok)
    _finish_sweep(ax, comp, pts, xs, logx, logy)
    return ax


def _shade_usable(ax: Axes, comp: Comparison, logx: bool) -> None:
    """Shade the usable range (a little wider than its ends, so one value shows)."""
    if comp.usable_range is None or not all(isinstance(v, float) for v in comp.usable_range):
        return
    lo, hi = comp.usable_range
    span_lo, span_hi = (lo / 1.15, hi * 1.15) if logx else (lo - 0.02 * abs(lo), hi + 0.02 * abs(hi))
    ax.axvspan(
        span_lo,
        span_hi,
        color="#009E73",
        alpha=0.12,
        lw=0,
        gid="usable_range",
        label=f"usable range {fmt_setting(lo)}" + ("" if lo == hi else f"-{fmt_setting(hi)}"),
    )


def _mark_bounced_and_blown(
    ax: Axes, pts: Sequence[ComparedRun], xs: np.ndarray, final: np.ndarray, ok: np.ndarray
) -> None:
    """An orange ring around the runs that bounced; an x at the top edge for those whose
    loss blew up."""
    bounced = np.array([r.bounced and not r.blew_up for r in pts])
    if bounced.any():
        ax.plot(
            xs[bounced & ok],
            final[bounced & ok],
            "o",
            mfc="none",
            mec=ORANGE,
            ms=14,
            mew=2.2,
            ls="none",
            label="bounced (step_size_oscillation)",
            gid="bounced",
        )
    blew = np.array([r.blew_up for r in pts])
    if blew.any():
        from matplotlib.transforms import blended_transform_factory

        tr = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(
            xs[blew],
            np.full(int(blew.sum()), 0.95),
            "x",
            color=VERMILLION,
            ms=10,
            mew=2.4,
            transform=tr,
            ls="none",
            label="blew up (diverged / non-finite)",
            gid="blew_up",
        )


def _finish_sweep(
    ax: Axes, comp: Comparison, pts: Sequence[ComparedRun], xs: np.ndarray, logx: bool, logy: bool
) -> None:
    """The best run's label, axis labels, title, legend and the tried values as ticks."""
    for r in pts:
        if r.name == comp.best_run and math.isfinite(r.final_loss):
            ax.annotate(
                "best",
                xy=(r.value, r.final_loss),
                xytext=(7, 3),
                textcoords="offset points",
                ha="left",
                fontsize=8,
                color="#333333",
            )
    ax.set_xlabel(("learning rate" if comp.by == "lr" else str(comp.by)) + (" (log scale)" if logx else ""))
    ax.set_ylabel("smoothed training loss" + (", log" if logy else ""))
    ax.set_title(
        "Final and best loss against " + ("the LR" if comp.by == "lr" else str(comp.by)),
        loc="left",
        fontsize=11,
    )
    ax.grid(True, which="major", alpha=0.3)
    if logy:
        _plain_log_labels(ax)
    ax.legend(fontsize=8, loc="best", framealpha=0.85)
    ticks = sorted(set(xs.tolist()))
    if logx and len(ticks) <= 10:
        ax.set_xticks(ticks)
        ax.set_xticklabels([fmt_setting(t) for t in ticks])
        ax.xaxis.set_minor_formatter(_null_formatter())


def _null_formatter() -> Any:
    from matplotlib.ticker import NullFormatter

    return NullFormatter()


def _plain_log_labels(ax: Axes) -> None:
    """Label a log y axis with plain numbers (0.3, 1, 2) instead of powers of ten when it
    spans less than three decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    lo, hi = ax.get_ylim()
    if lo <= 0 or hi / lo > 1000:
        return
    fmt = FuncFormatter(lambda v, _pos: f"{v:g}")
    ax.yaxis.set_major_formatter(fmt)
    if hi / lo < 30:
        subs = tuple(float(k) for k in range(2, 10)) if hi / lo < 4 else (2.0, 3.0, 5.0)
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs=subs))
        ax.yaxis.set_minor_formatter(fmt)
    else:
        ax.yaxis.set_minor_formatter(_null_formatter())


def comparison_figures(comp: Comparison) -> list[tuple[str, Figure]]:
    """Return ``[(kind, Figure)]``: ``curves`` when a run has a loss, ``sweep`` when the
    varied value is numeric and more than one run is compared."""
    from matplotlib.figure import Figure

    out: list[tuple[str, Figure]] = []
    if any(r.report.run.roles.get("loss") for r in comp.runs):
        fig = Figure(figsize=(WIDTH_IN, 4.2), layout="constrained")
        plot_sweep_curves(comp, ax=fig.add_subplot())
        out.append(("curves", fig))
    if len(comp.runs) > 1 and _numeric(comp):
        fig = Figure(figsize=(WIDTH_IN, 3.8), layout="constrained")
        plot_sweep(comp, ax=fig.add_subplot())
        out.append(("sweep", fig))
    return out


def comparison_figure(comp: Comparison) -> Figure:
    """Return one Figure: the overlaid curves above, the final/best loss against the
    varied value below (when numeric)."""
    from matplotlib.figure import Figure

    two = len(comp.runs) > 1 and _numeric(comp)
    fig = Figure(figsize=(WIDTH_IN, 7.6 if two else 4.2), layout="constrained")
    if two:
        a1, a2 = fig.subplots(2, 1, height_ratios=[1.1, 1])
        plot_sweep_curves(comp, ax=a1)
        plot_sweep(comp, ax=a2)
    else:
        plot_sweep_curves(comp, ax=fig.add_subplot())
    return fig
