"""The detrended loss per LR phase and the oscillation amplitude against the LR."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gradlog.plots._common import (
    _OSC_IDS,
    BLACK,
    PALETTE,
    _decays,
    _declutter,
    _findings,
    _finite,
    _g,
    _isnum,
    _mark_decays,
    _new_ax,
    _num,
    _run_of,
    _step_label,
    _thin,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from gradlog.findings import Finding
    from gradlog.report import Report


def _residual(loss: pd.Series) -> tuple[pd.Series, bool]:
    """The loss's deviation from its smooth trend, detrended as the analyzers detrend it
    (:func:`gradlog.analyzers.stats.smooth_residuals` with the configured
    ``osc_trend_window``: a running median of the [1, 2, 1]/4-filtered series, in log10
    for a positive loss), over finite points.

    Returns ``(residual, relative)``: for a positive loss the deviation is relative
    (``10**r - 1``, i.e. loss / trend - 1: the unit of the evidence's amplitudes);
    otherwise absolute.
    """
    from gradlog.analyzers.config import DEFAULT_CONFIG
    from gradlog.analyzers.stats import smooth_residuals

    s = _finite(loss)
    v = s.to_numpy()
    relative = bool(len(v)) and bool(np.all(v > 0))
    _trend, r = smooth_residuals(np.log10(v) if relative else v, DEFAULT_CONFIG.osc_trend_window)
    res = np.power(10.0, r) - 1.0 if relative else r
    return pd.Series(res, index=s.index), relative


def _phases(report: Any) -> tuple[list[dict[str, Any]], Finding | None]:
    """The per-LR-phase evidence of the oscillation finding (``step_size_oscillation``,
    else ``noisy_loss``); ``([], None)`` without one (plots do not re-measure)."""
    for fid in _OSC_IDS:
        for f in _findings(report):
            if f.id == fid and isinstance(f.evidence.get("phases"), (list, tuple)):
                return [dict(p) for p in f.evidence["phases"] if isinstance(p, dict)], f
    return [], None


def plot_oscillation(report: Report, *, ax: Axes | None = None) -> Axes:
    """Plot what the oscillation finding rests on: the detrended loss (detrended as the
    analyzers do; ``loss / trend - 1`` for a positive loss, the difference otherwise)
    with, per LR phase, the amplitude band (+-amplitude, the analyzers' robust SD of the
    residual relative to the level) and the numbers (LR, amplitude, lag-1
    autocorrelation) from the finding's ``phases`` evidence; the boxes never overlap.

    Without a ``step_size_oscillation``/``noisy_loss`` finding only the detrended loss is
    drawn, and the title says that nothing was measured.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.transforms import blended_transform_factory

    run = _run_of(report)
    ax = _new_ax(ax, height=3.0)
    loss_tag = run.roles.get("loss")
    if not loss_tag or loss_tag not in run:
        ax.text(
            0.5,
            0.5,
            "no loss series in this log",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#555555",
        )
        ax.set_axis_off()
        return ax
    res, relative = _residual(run.series(loss_tag))
    ax.plot(
        *_thin(res.index, res.to_numpy()),
        color="#555555",
        lw=0.7,
        alpha=0.8,
        gid="residual",
        label="deviation of the loss from its smooth trend",
    )
    phases, finding = _phases(report)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    boxes = []
    for k, p in enumerate(phases):
        try:
            a, b, amp = float(p["start"]), float(p["end"]), float(p["amplitude"])
        except (KeyError, TypeError, ValueError):
            continue
        color = PALETTE[k % (len(PALETTE) - 1)]
        ax.fill_between([a, b], [-amp, -amp], [amp, amp], color=color, alpha=0.18, lw=0, gid=f"amplitude:{k}")
        ax.hlines([-amp, amp], a, b, color=color, lw=1.4)
        lr = p.get("lr")
        ac = p.get("lag1_autocorr")
        txt = "\n".join(
            x
            for x in (
                f"LR {_g(lr)}" if _isnum(lr) else "",
                f"amp {_g(amp)}",
                f"ρ₁ {_num(ac):+.2f}" if _num(ac) is not None else "",
            )
            if x
        )
        boxes.append(
            ax.text(
                a,
                0.97,
                " " + txt.replace("\n", "\n "),
                transform=trans,
                va="top",
                ha="left",
                fontsize=7.5,
                color=BLACK,
                clip_on=True,
                gid=f"phase_box:{k}",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": color, "alpha": 0.85},
            )
        )
    _mark_decays(ax, _decays(run, report), label=False)
    if len(res):
        lim = np.nanpercentile(np.abs(res.to_numpy()), 99.5)
        amps = [float(p.get("amplitude") or 0) for p in phases if _isnum(p.get("amplitude"))]
        top = max([lim] + amps) * 1.9
        if top > 0:
            ax.set_ylim(-top * 0.75, top)
    ax.axhline(0, color=BLACK, lw=0.5)
    ax.set_xlabel(_step_label(run))
    ax.set_ylabel("loss / trend - 1" if relative else "loss - trend")
    if finding is not None:
        ax.set_title(f"detrended loss per LR phase (evidence of {finding.id})", fontsize=10, loc="left")
    else:
        ax.set_title(
            "detrended loss (no oscillation finding: no amplitude measured)", fontsize=10, loc="left"
        )
    ax.grid(True, alpha=0.3, lw=0.5)
    _declutter(ax, boxes)
    return ax


def plot_amplitude_vs_lr(report: Report, *, ax: Axes | None = None) -> Axes:
    """Plot the oscillation amplitude of each LR phase against the phase's LR (log-log):
    a step-size-driven oscillation rises with the LR, minibatch noise does not. The points
    and the slope written under the axis (``amplitude_lr_slope``) come from the
    oscillation finding's evidence; without one the panel says so.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_ax(ax, height=3.0)
    pts = _amp_points(report)
    if not pts:
        ax.text(
            0.5,
            0.5,
            "no amplitudes in the evidence",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#555555",
        )
        ax.set_axis_off()
        return ax
    lrs, amps = np.array(pts).T
    for k, (x, y) in enumerate(pts):
        ax.plot([x], [y], "o", color=PALETTE[k % (len(PALETTE) - 1)], ms=7, gid=f"phase:{k}")
    ax.plot(lrs, amps, color="#777777", lw=0.8, zorder=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, data in ((ax.xaxis, lrs), (ax.yaxis, amps)):
        decades = float(np.log10(data.max() / data.min()))
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades < 1.2 else (1.0,)))
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.2g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    xlabel = "learning rate"
    slope = _amp_lr_slope(report)
    if slope is not None:
        xlabel += f"\n(log-log slope {slope:.2f})"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("amplitude")
    ax.set_title("amplitude vs LR", fontsize=10, loc="left")
    ax.grid(True, which="both", alpha=0.3, lw=0.5)
    return ax


def _amp_points(report: Any) -> list[tuple[float, float]]:
    """(LR, amplitude) of each LR phase with both positive and finite."""
    phases, _f = _phases(report)
    return [
        (float(p["lr"]), float(p["amplitude"]))
        for p in phases
        if _isnum(p.get("lr"))
        and _isnum(p.get("amplitude"))
        and float(p["lr"]) > 0
        and float(p["amplitude"]) > 0
    ]


def _amp_lr_slope(report: Any) -> float | None:
    """The evidence's log-log slope of the amplitude against the LR, or None."""
    _phases_, f = _phases(report)
    return _num(f.evidence.get("amplitude_lr_slope")) if f is not None else None
