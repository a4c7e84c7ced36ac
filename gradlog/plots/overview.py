"""The overview: loss, validation loss, fitted trend, learning rate, findings and the LR verdict."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gradlog.plots._common import (
    _GRAD_IDS,
    BLACK,
    BLUE,
    EMA_WEIGHT,
    MAX_DECAY_LINES,
    ORANGE,
    PURPLE,
    SMOOTH_MIN_POINTS,
    VERMILLION,
    _auto_log,
    _decays,
    _declutter,
    _evidence_steps,
    _findings,
    _finite,
    _legend,
    _log_ok,
    _lr_series,
    _mark_decays,
    _new_ax,
    _plain_log_ticks,
    _run_of,
    _shade_all,
    _step_label,
    _thin,
    _trend_follows,
    _trends,
    _txt,
    _value_at,
    ema_debiased,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from gradlog.report import Report
    from gradlog.run import Run


def plot_overview(report: Report, *, ax: Axes | None = None, ema_weight: float = EMA_WEIGHT) -> Axes:
    """Plot the loss (raw, light; smoothed with TensorBoard's debiased EMA, unless it has
    at most :data:`SMOOTH_MIN_POINTS` points), its fitted trend, the validation loss and
    its trend, the learning rate on a second log axis with its decay
    steps, the findings (shaded step ranges, plateau start, spikes, divergence) and the
    LR verdict (``report.lr_advice``: its action in the title; its step range bracketed
    on the LR axis, with an arrow to the suggested ``to_lr`` when it gives one).

    A fitted trend (per LR phase when the analyzers fitted those, else over the run) is
    drawn only where its straight line follows the curve: a line that misses the trend's
    own start or end level by more than 25% (a straight fit through a curved loss) is
    left out rather than drawn wrong.

    Returns
    -------
    matplotlib.axes.Axes
        The loss axes (the LR axes is its twin).
    """
    run = _run_of(report)
    ax = _new_ax(ax)
    steps_all = run.steps
    run_range = (steps_all["first"] or 0, steps_all["last"] or 0)
    loss_tag = run.roles.get("loss")
    val_tag = run.roles.get("val_loss")
    loss = run.series(loss_tag) if loss_tag and loss_tag in run else None
    val = run.series(val_tag) if val_tag and val_tag in run else None
    values = []
    if loss is not None:
        values.append(_draw_loss(ax, loss, _txt(loss_tag), ema_weight))
    if val is not None:
        values.append(val.to_numpy())
        ax.plot(
            *_thin(val.index, val.to_numpy()),
            color=ORANGE,
            lw=1.4,
            gid="val_loss",
            marker="o" if len(val) <= 60 else None,
            ms=3,
            label=_txt(val_tag),
        )
    _draw_fitted_trends(ax, report, ((loss_tag, BLACK, loss), (val_tag, ORANGE, val)))
    allv = np.concatenate(values) if values else np.array([])
    if _auto_log(allv):
        ax.set_yscale("log")
        _plain_log_ticks(ax)
    labels = _draw_loss_findings(ax, report, loss, val, run_range)
    ax.set_xlabel(_step_label(run))
    ax.set_ylabel("loss" if loss is not None or val is not None else "")
    if loss is None and val is None:
        ax.text(
            0.5,
            0.5,
            "no loss series in this log",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#555555",
        )
    ax.grid(True, alpha=0.3, lw=0.5)
    twin = _draw_lr(ax, run, report)
    what = "loss" + (" and learning rate" if twin is not None else "")
    advice = getattr(report, "lr_advice", None)
    verdict = f" — LR: {advice.action}" if advice is not None else ""
    ax.set_title(f"{_txt(run.name)}: {what}{verdict}", fontsize=10, loc="left")
    if advice is not None and twin is not None:
        _draw_verdict(ax, twin, advice, run)
    _legend(ax, [twin] if twin is not None else [], loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4)
    _declutter(ax, labels)
    return ax


def _draw_loss(ax: Axes, loss: pd.Series, name: str, ema_weight: float) -> np.ndarray:
    """Draw the training loss (raw light, EMA on top; as it is when it has few points) and
    its NaN/inf points as crosses on the floor; return its values."""
    v = loss.to_numpy()
    if not np.isfinite(v).any():
        ax.text(
            0.5,
            0.5,
            f"{name}: no finite value ({len(v)} NaN/inf)",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color=VERMILLION,
        )
    elif len(v) > SMOOTH_MIN_POINTS:
        ax.plot(*_thin(loss.index, v), color=BLUE, lw=0.8, alpha=0.3, gid="loss_raw", label=f"{name} (raw)")
        ax.plot(
            *_thin(loss.index, ema_debiased(v, ema_weight)),
            color=BLUE,
            lw=1.6,
            gid="loss_smooth",
            label=f"{name} (EMA {ema_weight:g})",
        )
    else:  # a few points (per-epoch logs): smoothing would only add lag
        ax.plot(loss.index, v, color=BLUE, lw=1.5, marker="o", ms=3, gid="loss_raw", label=name)
    bad = loss[~np.isfinite(v)]
    if not bad.empty:
        from matplotlib.transforms import blended_transform_factory

        trans = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(
            bad.index,
            np.full(len(bad), 0.02),
            "x",
            color=VERMILLION,
            ms=5,
            mew=1.2,
            transform=trans,
            gid="nonfinite",
            label=f"NaN/inf ({len(bad)})",
            clip_on=False,
        )
    return v


def _draw_fitted_trends(ax: Axes, report: Any, curves: Any) -> None:
    """Draw each curve's fitted trend (per LR phase, or per stretch of a continuous
    schedule, when the analyzers fitted those; else over the run), only where its straight
    line follows the curve."""
    labelled = False
    for tag, color, curve in curves:
        if not tag:
            continue
        ts = [t for t in _trends(report) if t.tag == tag]
        phase = [t for t in ts if t.scope.startswith(("lr_phase", "lr_segment"))]
        for t in phase or [t for t in ts if t.scope == "run"]:
            if not _trend_follows(t, curve):
                continue
            xs = np.linspace(t.step_start, t.step_end, 50)
            ax.plot(
                xs,
                t.line(xs),
                color=color,
                lw=1.2,
                ls="--",
                gid=f"trend:{t.tag}:{t.scope}",
                label=None if labelled else "fitted trend",
                zorder=4,
            )
            labelled = True


def _draw_lr(ax: Axes, run: Run, report: Any) -> Axes | None:
    lr = _lr_series(run)
    decays = _decays(run, report)
    _mark_decays(ax, decays)
    if lr is None:
        return None
    twin = ax.twinx()
    twin.plot(
        *_thin(lr.index, lr.to_numpy()),
        color=PURPLE,
        lw=1.1,
        drawstyle="steps-post",
        gid="lr",
        label=f"{_txt(run.roles.get('lr'))} (right axis)",
        alpha=0.9,
    )
    if _log_ok(lr.to_numpy()):
        twin.set_yscale("log")
        _plain_log_ticks(twin)
    if decays and len(decays) <= MAX_DECAY_LINES:  # a smooth schedule: the curve says it
        _s, y = _value_at(lr, decays)
        twin.plot(decays, y, "v", color=PURPLE, ms=6, gid="decay_markers", clip_on=False)
    twin.set_ylabel("learning rate", color=PURPLE)
    twin.tick_params(axis="y", colors=PURPLE, which="both")
    ax.set_zorder(twin.get_zorder() + 1)  # the loss above the LR, legend on top
    ax.patch.set_visible(False)
    return twin


def _draw_verdict(ax: Axes, twin: Axes, advice: Any, run: Run) -> None:
    """Mark the LR verdict on the LR axis: a bracket over its step range at the LR of
    the log, and an arrow from the LR at the end of that range to the suggested
    ``to_lr`` (both from ``report.lr_advice``)."""
    if advice.action in ("keep", "unknown") or advice.step_range is None:
        return
    lr = _lr_series(run)
    if lr is None:
        return
    a, b = advice.step_range
    _s, at = _value_at(lr, [b])
    if not len(at) or not np.isfinite(at[0]):
        return
    y = float(at[0])
    twin.plot(
        [a, b],
        [y, y],
        color=PURPLE,
        lw=3.0,
        alpha=0.45,
        solid_capstyle="butt",
        gid="lr_verdict",
        label=f"LR verdict: {advice.action}",
    )
    if advice.to_lr is not None and np.isfinite(advice.to_lr) and advice.to_lr > 0:
        # on the loss axes (drawn above the LR axes), in the LR axes' coordinates
        # the label halfway between the LR and the suggestion (geometric on a log axis),
        # clear of the findings' labels along the top edge
        mid = (
            math.sqrt(y * advice.to_lr) if twin.get_yscale() == "log" and y > 0 else 0.5 * (y + advice.to_lr)
        )
        twin.plot([b, b], [y, mid], color=PURPLE, lw=1.4, gid="lr_verdict_stem")
        ax.annotate(
            f"LR: {advice.action} to {advice.to_lr:.3g}",
            xy=(b, advice.to_lr),
            xycoords=twin.transData,
            xytext=(b, mid),
            textcoords=twin.transData,
            ha="right",
            va="center",
            fontsize=8,
            color=PURPLE,
            gid="lr_verdict_to",
            zorder=7,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": PURPLE, "lw": 0.8, "alpha": 0.9},
            arrowprops={"arrowstyle": "->", "color": PURPLE, "lw": 1.4, "shrinkA": 0, "shrinkB": 2},
        )
        lo, hi = twin.get_ylim()
        twin.set_ylim(
            min(lo, advice.to_lr * (0.8 if twin.get_yscale() == "log" else 1.0)),
            max(hi, advice.to_lr * (1.25 if twin.get_yscale() == "log" else 1.0)),
        )


def _draw_loss_findings(
    ax: Axes, report: Any, loss: pd.Series | None, val: pd.Series | None, run_range: tuple[int, int]
) -> list[Any]:
    shown = [f for f in _findings(report) if f.id not in _GRAD_IDS]
    labels = _shade_all(ax, shown, run_range)
    unit = _step_label(_run_of(report))
    for f in shown:
        if f.id == "loss_plateau":
            start = _evidence_steps(f, "plateau_start_step") or ([f.step_range[0]] if f.step_range else [])
            for s in start[:1]:
                ax.axvline(
                    s, color=BLACK, lw=1.2, ls="-.", gid="plateau_start", label=f"plateau from {unit} {s:,}"
                )
        elif f.id == "loss_spikes" and loss is not None:
            xs, ys = _value_at(loss, _evidence_steps(f, "spike_steps"))
            if len(xs):
                ax.plot(
                    xs,
                    ys,
                    "^",
                    color=VERMILLION,
                    ms=7,
                    mec="white",
                    mew=0.6,
                    gid="spikes",
                    label="spike",
                    zorder=6,
                )
        elif f.id == "overfitting" and val is not None:
            xs, ys = _value_at(_finite(val), _evidence_steps(f, "val_min_step"))
            if len(xs):
                ax.plot(
                    xs,
                    ys,
                    "D",
                    color=ORANGE,
                    mec=BLACK,
                    ms=6,
                    gid="val_min",
                    label="validation minimum",
                    zorder=6,
                )
        elif f.id == "divergence" and f.step_range is not None:
            ax.axvline(
                f.step_range[0],
                color=VERMILLION,
                lw=1.5,
                gid="divergence_start",
                label=f"diverged at {unit} {f.step_range[0]:,}",
            )
    return labels
