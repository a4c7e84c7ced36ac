"""The first-order check of the step size: the loss against the decrease eta*|g|^2 promises."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gradlog.plots._common import (
    _OSC_IDS,
    BLACK,
    BLUE,
    EMA_WEIGHT,
    GREEN,
    GREY,
    SMOOTH_MIN_POINTS,
    VERMILLION,
    _decays,
    _declutter,
    _findings,
    _finite,
    _g,
    _isnum,
    _legend,
    _log_ok,
    _lr_series,
    _mark_decays,
    _new_ax,
    _plain_log_ticks,
    _run_of,
    _step_label,
    _thin,
    _txt,
    _unavailable,
    ema_debiased,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from gradlog.findings import Finding
    from gradlog.report import Report
    from gradlog.run import Run

# -- the first-order check -------------------------------------------------------------

_FO_ID = "first_order_overshoot"
#: A realised decrease below this fraction of the promise is drawn at it (with a triangle).
_REALISED_FLOOR = 1e-4


def _grad_l2_tag(run: Run) -> str | None:
    """The gradient L2 norm the first-order check uses, chosen as the analyzers choose it:
    ``grad_total`` when the log has one, else the first per-layer ``grad_norm/...`` tag;
    None when that is not a 2-norm (the promise ``eta * ||g||^2`` needs one)."""
    total = run.roles.get("grad_total")
    if total and total in run:
        return total if total.startswith("grad_norm/") else None
    for tag in run.roles.get("grad") or []:
        if tag in run and tag.startswith("grad_norm/"):
            return tag
    return None


def _lr_at(lr: pd.Series, steps: np.ndarray) -> np.ndarray:
    """The LR in effect at ``steps``: the last logged at or before, the first before it."""
    idx = lr.index.to_numpy()
    pos = np.clip(np.searchsorted(idx, steps, side="right") - 1, 0, len(idx) - 1)
    return lr.to_numpy()[pos]


def _promise(lr: pd.Series, gnorm: pd.Series) -> pd.Series:
    """``eta * ||g||^2`` at every step with a finite gradient norm (positive, finite values
    only: a zero gradient promises nothing a log axis can show; a norm of 1e160 overflows)."""
    with np.errstate(over="ignore", invalid="ignore"):
        p = _lr_at(lr, gnorm.index.to_numpy()) * gnorm.to_numpy() ** 2
    keep = np.isfinite(p) & (p > 0)
    return pd.Series(p[keep], index=gnorm.index[keep])


def _first_order_rows(report: Any, loss: pd.Series) -> tuple[list[dict[str, Any]], Finding | None]:
    """Per LR phase, the numbers of the oscillation finding's evidence
    (``step_size_oscillation``, else ``noisy_loss``): the analysed window
    (``window_start`` to ``end``), the LR, the median gradient norm ``grad_level``, the
    ``first_order_ratio`` and ``first_order_efficiency``. The median promise is
    ``lr * grad_level**2`` and the median loss level ``promise / first_order_ratio`` (the
    analyzers' ratio is exactly that quotient); a number the evidence lacks is not drawn.

    Returns ``([], None)`` without such a finding: the figure then draws the curves and
    claims nothing (plots do not re-run the analyzers).
    """
    finding = None
    phases: list[dict[str, Any]] = []
    for fid in _OSC_IDS:
        for f in _findings(report):
            if finding is None and f.id == fid and isinstance(f.evidence.get("phases"), (list, tuple)):
                finding = f
                phases = [dict(p) for p in f.evidence["phases"] if isinstance(p, dict)]
    if finding is None:
        return [], None
    rows = []
    first = float(loss.index[0])
    for p in phases:
        try:
            a, b = max(float(p["start"]), first), float(p["end"])
        except (KeyError, TypeError, ValueError):
            continue
        if not b > a or not _isnum(p.get("lr")):
            continue
        lo = min(max(float(p["window_start"]), a), b) if _isnum(p.get("window_start")) else a
        eta = float(p["lr"])
        ratio = float(p["first_order_ratio"]) if _isnum(p.get("first_order_ratio")) else None
        promise = level = float("nan")
        if _isnum(p.get("grad_level")):
            with np.errstate(over="ignore", invalid="ignore"):
                promise = eta * float(p["grad_level"]) ** 2
            if ratio is not None and ratio > 0 and np.isfinite(promise):
                level = promise / ratio
        rows.append(
            {
                "start": a,
                "lo": lo,
                "end": b,
                "lr": eta,
                "promise": promise,
                "level": level,
                "ratio": ratio,
                "efficiency": (
                    float(p["first_order_efficiency"]) if _isnum(p.get("first_order_efficiency")) else None
                ),
                "overshoot": bool(p.get("first_order_overshoot")),
            }
        )
    return rows, finding


def _fo_hit(row: dict[str, Any], finding: Finding | None) -> bool:
    """True when the finding says the phase overshoots to first order: a
    ``step_size_oscillation`` resting on ``first_order_overshoot`` whose evidence marks
    this phase (``first_order_overshoot`` in the phase's record)."""
    if finding is None or finding.id != "step_size_oscillation" or not row["overshoot"]:
        return False
    return _FO_ID in (finding.evidence.get("signals_present") or ())


def _pct(x: float) -> str:
    """A fraction as a percentage with two significant digits, as the findings word it
    (0.283 -> "28%", 0.0054 -> "0.54%"; never "100%" for 0.997)."""
    v = 100.0 * x
    if abs(v) >= 100 or v == 0:
        return f"{v:.0f}%"
    digits = 2
    r = float(f"{v:.{digits}g}")
    while abs(r) >= 100 > abs(v) and digits < 6:
        digits += 1
        r = float(f"{v:.{digits}g}")
    return f"{r:g}%"


def _fo_text(row: dict[str, Any], compact: bool) -> str:
    lines = [f"LR {_g(row['lr'])}"]
    r, e = row["ratio"], row["efficiency"]
    if r is None:
        lines.append("not assessed" if compact else "first order not assessed")
        return "\n".join(lines)
    lines.append(f"promise {_pct(r)}" if compact else f"promise {_pct(r)} of the loss per step")
    if e is None:
        return "\n".join(lines)
    if e <= 0:
        lines.append("loss rose" if compact else "realised none: the loss rose")
    else:
        lines.append(f"realised {_pct(e)}" if compact else f"realised {_pct(e)} of it")
    return "\n".join(lines)


def plot_first_order(report: Report, *, ax: Axes | None = None, ema_weight: float = EMA_WEIGHT) -> Axes:
    """Plot the first-order check of the step size: the loss and the decrease a step
    promises, ``eta * ||g||^2``, on one log axis.

    A step ``eta * g`` promises to lower the loss by about ``eta * ||g||^2``; when that is
    a large part of the loss while the loss does not fall, the curvature term eats the
    gain and the step overshoots. Drawn: the loss and the promise per logged step (raw,
    faint; TensorBoard's debiased EMA unless at most :data:`SMOOTH_MIN_POINTS` points),
    the promise from the LR in effect and the gradient L2 norm the analyzers use
    (``grad_total``, else the first ``grad_norm/...`` layer). Per LR phase, over the part
    the analyzers measure (the evidence's ``window_start`` on): the median
    loss and the median promise ``eta * median(||g||)^2`` (dashed), the realised decrease
    per step (``efficiency * promise``, dotted green, when positive), and a box with the
    phase's ``first_order_ratio`` ("promise 28% of the loss per step") and
    ``first_order_efficiency`` ("realised 0.54% of it") from the oscillation finding's
    evidence (without such a finding only the curves are drawn, and the title says so; a
    number the evidence lacks, e.g. the ratio of an adaptive optimizer's phase, is not
    drawn and the box says "not assessed"); the box is vermilion and bold where the
    finding says the phase overshoots. Boxes never overlap (a crowded one moves down).
    The LR decays are dotted lines.

    Without a loss, an LR or a gradient 2-norm the panel says what is missing.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.transforms import blended_transform_factory

    run = _run_of(report)
    ax = _new_ax(ax, height=3.4)
    loss_tag = run.roles.get("loss")
    loss = _finite(run.series(loss_tag)) if loss_tag and loss_tag in run else None
    lr = _lr_series(run)
    gtag = _grad_l2_tag(run)
    missing = [
        what
        for what, ok in (
            ("training loss", loss is not None and not loss.empty),
            ("learning rate", lr is not None),
            ("gradient L2 norm (grad_norm/...)", gtag is not None),
        )
        if not ok
    ]
    if missing or loss is None or lr is None or gtag is None:
        return _unavailable(ax, "first-order check not available: the log has no " + " and no ".join(missing))
    gnorm = _finite(run.series(gtag))
    promise = _promise(lr, gnorm)
    if promise.empty:
        return _unavailable(ax, f"first-order check not available: {_txt(gtag)} has no positive finite value")
    drawn = _draw_loss_and_promise(ax, loss, promise, _txt(loss_tag), ema_weight)
    rows, finding = _first_order_rows(report, loss)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    span = max(float(max(loss.index[-1], promise.index[-1]) - min(loss.index[0], promise.index[0])), 1.0)
    labelled: set[str] = set()  # the legend entries already given
    boxes = []
    for k, row in enumerate(rows):
        drawn += _draw_phase_levels(ax, k, row, labelled)
        boxes.append(_phase_box(ax, k, row, finding, trans, span))
    _finish_first_order(ax, run, report, drawn, finding)
    _declutter(ax, boxes)
    return ax


def _draw_loss_and_promise(
    ax: Axes, loss: pd.Series, promise: pd.Series, loss_label: str, ema_weight: float
) -> list[np.ndarray]:
    """Draw the loss and the promise per step (raw faint, EMA on top); return their values."""
    drawn = []
    for s, color, gid, label in (
        (loss, BLUE, "loss", loss_label),
        (promise, VERMILLION, "promise", "promise per step η‖g‖²"),
    ):
        v = s.to_numpy()
        drawn.append(v)
        if len(v) > SMOOTH_MIN_POINTS:
            ax.plot(*_thin(s.index, v), color=color, lw=0.6, alpha=0.25, gid=f"{gid}_raw")
            ax.plot(
                *_thin(s.index, ema_debiased(v, ema_weight)),
                color=color,
                lw=1.6,
                gid=f"{gid}_smooth",
                label=f"{label} (EMA {ema_weight:g})",
            )
        else:
            ax.plot(s.index, v, color=color, lw=1.5, marker="o", ms=3, gid=f"{gid}_raw", label=label)
    return drawn


def _draw_phase_levels(ax: Axes, k: int, row: dict[str, Any], labelled: set[str]) -> list[np.ndarray]:
    """Draw one LR phase's median loss, median promise and realised decrease (dashed,
    dashed, dotted); return the realised level drawn (it joins the y-range)."""
    lo, b = row["lo"], row["end"]
    out: list[np.ndarray] = []
    if np.isfinite(row["level"]) and row["level"] > 0:
        ax.hlines(
            row["level"],
            lo,
            b,
            color=BLUE,
            lw=1.3,
            ls="--",
            gid=f"loss_level:{k}",
            label="_nolegend_" if "level" in labelled else "medians per LR phase",
            zorder=4,
        )
        labelled.add("level")
    if np.isfinite(row["promise"]) and row["promise"] > 0:
        ax.hlines(
            row["promise"], lo, b, color=VERMILLION, lw=1.3, ls="--", gid=f"promise_level:{k}", zorder=4
        )
    e = row["efficiency"]
    if e is not None and e > 0 and np.isfinite(row["promise"]) and row["promise"] > 0:
        # drawn at least 1e-4 of the promise (a triangle says "lower"): a realised
        # decrease of 1e-9 must not squash the rest of the figure into a line
        realised = e * row["promise"]
        shown = max(realised, _REALISED_FLOOR * row["promise"])
        out.append(np.array([shown]))
        ax.hlines(
            shown,
            lo,
            b,
            color=GREEN,
            lw=1.8,
            ls=":",
            gid=f"realised:{k}",
            zorder=4,
            label="_nolegend_" if "realised" in labelled else "realised decrease per step",
        )
        labelled.add("realised")
        if shown > realised:
            ax.plot([0.5 * (lo + b)], [shown], "v", color=GREEN, ms=6, gid=f"realised_below:{k}")
    return out


def _phase_box(
    ax: Axes, k: int, row: dict[str, Any], finding: Finding | None, trans: Any, span: float
) -> Any:
    """The box with one phase's first-order numbers (vermilion and bold where the finding
    says the phase overshoots); returns the Text."""
    hit = _fo_hit(row, finding)
    compact = (row["end"] - row["start"]) / span < 0.3
    return ax.text(
        row["start"],
        0.97,
        _fo_text(row, compact),
        transform=trans,
        va="top",
        ha="left",
        fontsize=7.5,
        color=BLACK,
        clip_on=True,
        gid=f"first_order:{k}",
        fontweight="bold" if hit else "normal",
        bbox={
            "boxstyle": "round,pad=0.25",
            "fc": "white",
            "ec": VERMILLION if hit else GREY,
            "lw": 1.2 if hit else 0.8,
            "alpha": 0.9,
        },
    )


def _finish_first_order(
    ax: Axes, run: Run, report: Report, drawn: list[np.ndarray], finding: Finding | None
) -> None:
    """Decays, the log axis with room for the boxes, labels, title and legend."""
    _mark_decays(ax, _decays(run, report))
    allv = np.concatenate(drawn)
    allv = allv[np.isfinite(allv)]
    if _log_ok(allv):
        ax.set_yscale("log")
        lo_v, hi_v = float(allv.min()), float(allv.max())
        if hi_v > lo_v:
            # room above the data for the boxes of the phases
            ax.set_ylim(lo_v / (hi_v / lo_v) ** 0.05, hi_v * (hi_v / lo_v) ** 0.4)
        _plain_log_ticks(ax)
    ax.set_xlabel(_step_label(run))
    ax.set_ylabel("loss; decrease per step")
    src = f"evidence of {finding.id}" if finding is not None else "no oscillation finding"
    ax.set_title(f"first-order check: does the loss fall as η‖g‖² promises? ({src})", fontsize=10, loc="left")
    ax.grid(True, which="major", alpha=0.3, lw=0.5)
    _legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
