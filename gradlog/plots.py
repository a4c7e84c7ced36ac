"""Figures of a run and its findings (matplotlib).

Every ``plot_*`` function takes ``ax=`` (it draws into a new figure only when ``ax`` is
None) and returns the Axes; nothing here calls ``plt.show()``. :func:`report_figure`
and :func:`report_figures` build bare :class:`matplotlib.figure.Figure` objects without
pyplot, so they render with Agg wherever they are saved, and importing gradlog never
selects a backend.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies); the findings are drawn on the figures (shaded step ranges labelled with
the finding id, markers at the steps the evidence names), so a figure says at a glance
what the text says.

The main artists carry a ``gid`` (``artist.get_gid()``) so they can be found again:
``loss_raw``, ``loss_smooth``, ``val_loss``, ``lr``, ``decay:<step>``,
``trend:<tag>:<scope>``, ``finding:<id>``, ``plateau_start``, ``spikes``, ``val_min``,
``divergence_start``, ``nonfinite``, ``grad:<tag>``, ``grad_raw:<tag>``, ``residual``,
``amplitude:<phase>``, ``tag:<tag>``; on the first-order figure ``loss_raw``,
``loss_smooth``, ``promise_raw``, ``promise_smooth``, and per LR phase ``loss_level:<k>``,
``promise_level:<k>``, ``realised:<k>``, ``realised_below:<k>``, ``first_order:<k>`` (the
box of numbers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gradlog.render._common import single_line
from gradlog.series import ema_debiased, lr_decays, lr_phases

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gradlog.findings import Finding
    from gradlog.report import Report
    from gradlog.run import Run

__all__ = [
    "PALETTE",
    "SEVERITY_COLORS",
    "EMA_WEIGHT",
    "plot_tags",
    "plot_overview",
    "plot_grad_norms",
    "plot_oscillation",
    "plot_amplitude_vs_lr",
    "plot_first_order",
    "report_figure",
    "report_figures",
]

#: Okabe-Ito colours, in the order lines use them (yellow and black left out of the cycle).
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7",
                            "#000000")
BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, BLACK = PALETTE
GREY = "#999999"
#: Shading of a finding's step range (info is grey, so it never looks like a data line).
SEVERITY_COLORS: dict[str, str] = {"info": GREY, "warning": ORANGE, "critical": VERMILLION}
SEVERITY_ORDER = ("info", "warning", "critical")
#: TensorBoard's default smoothing weight (its scalar dashboard slider).
EMA_WEIGHT = 0.6
WIDTH_IN = 8.0  # 800 px at 100 dpi
#: Series with at most this many points are drawn as they are, without smoothing.
SMOOTH_MIN_POINTS = 40
#: Lines are thinned to about this many points (min and max per bucket) before drawing.
MAX_PLOT_POINTS = 4000
#: More LR decays than this (a smooth schedule) are not drawn as vertical lines.
MAX_DECAY_LINES = 10

_GRAD_IDS = ("grad_norm_growth", "vanishing_gradients", "exploding_gradients")
_OSC_IDS = ("step_size_oscillation", "noisy_loss")
_NATURAL_RE = re.compile(r"(\d+)")
_STAT_LABELS = {
    "grad_absmean": "mean |gradient| per weight (Caffe debug_info)",
    "grad_norm": "gradient L2 norm",
    "grad_l1": "gradient L1 norm",
    "param_norm": "parameter L2 norm",
}


# -- small helpers ---------------------------------------------------------------

def _txt(text: Any) -> str:
    """Log-derived text made safe for matplotlib: one line, no control characters, and
    ``$`` escaped so that a tag never switches on (or breaks) mathtext."""
    return single_line(text).replace("$", r"\$")


def _new_ax(ax: "Axes | None", height: float = 3.6) -> "Axes":
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _fig, new = plt.subplots(figsize=(WIDTH_IN, height), layout="constrained")
    return new


def _bare_figure(height: float) -> "Figure":
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_IN, height), layout="constrained")


def _run_of(obj: Any) -> "Run":
    return obj.run if hasattr(obj, "findings") and hasattr(obj, "run") else obj


def _findings(obj: Any) -> list["Finding"]:
    return list(getattr(obj, "findings", []) or [])


def _trends(obj: Any) -> list[Any]:
    return list(getattr(obj, "trends", []) or [])


def _step_label(run: "Run") -> str:
    unit = run.meta.get("step_unit") or "step"
    return str(unit)


def _finite(s: pd.Series) -> pd.Series:
    v = s.to_numpy()
    return s[np.isfinite(v)]


def _thin(steps: Any, values: Any, max_points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return at most about ``max_points`` (default :data:`MAX_PLOT_POINTS`) points of a
    series for drawing: the minimum and the maximum of each of ``max_points / 2`` equal
    buckets, in step order, so spikes and the envelope survive; a bucket with no finite
    value keeps one NaN (a gap). Shorter series are returned unchanged."""
    x = np.asarray(steps)
    y = np.asarray(values, dtype=float)
    limit = MAX_PLOT_POINTS if max_points is None else max_points
    n = len(y)
    if n <= limit:
        return x, y
    k = -(-n // (limit // 2))  # bucket size
    m = -(-n // k)
    yy = np.full(m * k, np.nan)
    yy[:n] = np.where(np.isfinite(y), y, np.nan)
    yy = yy.reshape(m, k)
    base = np.arange(m) * k
    lo = np.where(np.isnan(yy), np.inf, yy).argmin(axis=1) + base
    hi = np.where(np.isnan(yy), -np.inf, yy).argmax(axis=1) + base
    idx = np.unique(np.concatenate([lo, hi]))
    idx = idx[idx < n]
    return x[idx], y[idx]


#: Beyond this magnitude matplotlib's log-axis tick arithmetic overflows; such series
#: (a run that blew up to 1e300) are drawn on a linear axis instead.
_LOG_LIMIT = 1e150


def _log_ok(values: np.ndarray) -> bool:
    """True when every finite value is positive and within what a log axis can draw."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(v.size and np.all(v > 0) and v.max() < _LOG_LIMIT and v.min() > 1.0 / _LOG_LIMIT)


def _auto_log(values: np.ndarray, ratio: float = 30.0) -> bool:
    v = values[np.isfinite(values)]
    if v.size < 2 or not _log_ok(v):
        return False
    return bool(v.max() / v.min() > ratio)


def _natural_key(tag: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in _NATURAL_RE.split(tag)]


def _short(tag: str, tags: Sequence[str]) -> str:
    """Return a layer label: the tag without its shared group prefix and blob suffix."""
    parts = tag.split("/")
    if len(parts) >= 2 and all(t.split("/")[0] == parts[0] for t in tags):
        parts = parts[1:]
    if len(parts) >= 2 and all(t.split("/")[-1] == parts[-1] for t in tags) and len(tags) > 1:
        parts = parts[:-1]
    return "/".join(parts)


def _lr_series(run: "Run") -> pd.Series | None:
    tag = run.roles.get("lr")
    if not tag or tag not in run:
        return None
    s = _finite(run.series(tag))
    return s if not s.empty else None


def _decays(run: "Run", obj: Any = None) -> list[int]:
    """Decay steps: those a finding names (``decay_steps``), else from the LR series."""
    for f in _findings(obj):
        ds = f.evidence.get("decay_steps") if isinstance(f.evidence, dict) else None
        if ds:
            lr = _lr_series(run)
            own = lr_decays(lr) if lr is not None else []
            return sorted({int(d) for d in ds} | set(own))
    lr = _lr_series(run)
    return lr_decays(lr) if lr is not None else []


def _plain_log_ticks(ax: "Axes") -> None:
    """On a log y axis spanning less than two decades, label ticks as plain numbers
    (``20``, ``0.05``) instead of ``2 x 10^1``."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = ax.get_ylim()
    if ax.get_yscale() != "log" or lo <= 0 or hi / lo >= 100:
        return
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _mark_decays(ax: "Axes", decays: Sequence[int], *, label: bool = True) -> None:
    if len(decays) > MAX_DECAY_LINES:  # a smooth schedule: the LR curve shows it better
        return
    for i, d in enumerate(decays):
        ax.axvline(d, color=PURPLE, lw=1.0, ls=":", alpha=0.9, zorder=1, gid=f"decay:{d}",
                   label="LR decay" if (label and i == 0) else None)


def _label_y(i: int) -> float:
    return 0.97 - 0.075 * (i % 6)


def _shade_all(ax: "Axes", findings: Sequence["Finding"], run_range: tuple[int, int]) -> None:
    """Shade the findings' step ranges; findings with the same id and range (one per
    layer, say) share one span and one label (``id x3``)."""
    groups: dict[tuple[str, Any], list[Finding]] = {}
    for f in findings:
        if f.step_range is not None:
            groups.setdefault((f.id, f.step_range), []).append(f)
    for i, group in enumerate(groups.values()):
        worst = max(group, key=lambda f: SEVERITY_ORDER.index(f.severity))
        _shade(ax, worst, i, run_range, count=len(group))


def _shade(ax: "Axes", f: "Finding", i: int, run_range: tuple[int, int], *, count: int = 1) -> None:
    """Shade a finding's step range and write its id at the top of the span."""
    from matplotlib.transforms import blended_transform_factory

    if f.step_range is None:
        return
    a, b = f.step_range
    color = SEVERITY_COLORS.get(f.severity, GREY)
    if a == b:  # a single step: a thin band of 1% of the run
        half = max((run_range[1] - run_range[0]) * 0.005, 0.5)
        a, b = a - half, b + half
    broad = (b - a) > 0.5 * max(run_range[1] - run_range[0], 1)
    ax.axvspan(a, b, color=color, alpha=0.06 if broad else 0.14, lw=0, zorder=0,
               gid=f"finding:{f.id}")
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    label = f" {f.id}" + (f" ×{count}" if count > 1 else "")
    ax.text(max(a, run_range[0]), _label_y(i), label, transform=trans, fontsize=7.5,
            va="top", ha="left", color="#333333", zorder=5, clip_on=True,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": color, "lw": 0.8,
                  "alpha": 0.85})


def _value_at(s: pd.Series, steps: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Return (steps, values) of ``s`` at the logged steps nearest to ``steps``."""
    if s.empty:
        return np.array([]), np.array([])
    idx = s.index.to_numpy()
    pos = np.clip(np.searchsorted(idx, np.asarray(steps, dtype=float)), 0, len(idx) - 1)
    left = np.clip(pos - 1, 0, len(idx) - 1)
    st = np.asarray(steps, dtype=float)
    pick = np.where(np.abs(idx[left] - st) < np.abs(idx[pos] - st), left, pos)
    return idx[pick], s.to_numpy()[pick]


def _evidence_steps(f: "Finding", key: str) -> list[int]:
    v = f.evidence.get(key) if isinstance(f.evidence, dict) else None
    if v is None:
        return []
    items = v if isinstance(v, (list, tuple)) else [v]
    out = []
    for x in items:
        try:
            out.append(int(x))
        except (TypeError, ValueError):
            continue
    return out


def _legend(ax: "Axes", extra_axes: Sequence["Axes"] = (), **kw: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    for other in extra_axes:
        h, lab = other.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles:
        ax.legend(handles, labels, fontsize=8, framealpha=0.9, **kw)


# -- public plots -------------------------------------------------------------------

def plot_tags(run: "Run", tags: Sequence[str] | None = None, *, ax: "Axes | None" = None,
              logy: bool | None = None) -> "Axes":
    """Plot some tags of a run against steps.

    Parameters
    ----------
    run : the Run.
    tags : tags to draw (default: the loss, validation loss and learning rate the run
        has). Learning-rate tags go on a second, logarithmic y axis when drawn with others.
    ax : Axes to draw into (a new figure when None).
    logy : logarithmic y axis; None decides from the data (positive, spanning > 30x).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    KeyError
        If a tag is not in the run (the message lists the tags).
    """
    if tags is None:
        tags = [t for t in (run.roles.get("loss"), run.roles.get("val_loss"), run.roles.get("lr"))
                if t]
        if not tags:
            tags = run.tags[:6]
    tags = list(tags)
    series = {t: run.series(t) for t in tags}
    ax = _new_ax(ax)
    lr_tag = run.roles.get("lr")
    lr_like = [t for t in tags if t == lr_tag or t.rsplit("/", 1)[-1].lower() in ("lr", "learning_rate")]
    main = [t for t in tags if t not in lr_like] or lr_like
    twin_tags = [t for t in lr_like if t not in main]
    colors = iter(PALETTE * (1 + len(tags) // len(PALETTE)))
    for t in main:
        s = series[t]
        ax.plot(*_thin(s.index, s.to_numpy()), color=next(colors), lw=1.2, label=_txt(t), gid=f"tag:{t}",
                marker="o" if len(s) <= 40 else None, ms=3)
    vals = np.concatenate([series[t].to_numpy() for t in main]) if main else np.array([])
    if logy if logy is not None else (_auto_log(vals) or main == lr_like):
        ax.set_yscale("log")
    twin = None
    if twin_tags:
        twin = ax.twinx()
        for t in twin_tags:
            s = series[t]
            twin.plot(*_thin(s.index, s.to_numpy()), color=PURPLE, lw=1.0, drawstyle="steps-post",
                      label=_txt(t), gid=f"tag:{t}")
        if _auto_log(np.concatenate([series[t].to_numpy() for t in twin_tags]), ratio=1.0):
            twin.set_yscale("log")
        twin.set_ylabel("learning rate", color=PURPLE)
        twin.tick_params(axis="y", colors=PURPLE)
    ax.set_xlabel(_step_label(run))
    ax.set_ylabel(_txt(main[0]) if len(main) == 1 else "value")
    ax.set_title(_txt(run.name), fontsize=10)
    ax.grid(True, alpha=0.3, lw=0.5)
    _legend(ax, [twin] if twin is not None else [], loc="best")
    return ax


def plot_overview(report: "Report", *, ax: "Axes | None" = None, ema_weight: float = EMA_WEIGHT) -> "Axes":
    """Plot the loss (raw, light; smoothed with TensorBoard's debiased EMA, unless it has
    at most :data:`SMOOTH_MIN_POINTS` points), its fitted trend, the validation loss and
    its trend, the learning rate on a second log axis with its decay
    steps, and the findings (shaded step ranges, plateau start, spikes, divergence).

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
        v = loss.to_numpy()
        values.append(v)
        if not np.isfinite(v).any():
            ax.text(0.5, 0.5, f"{_txt(loss_tag)}: no finite value ({len(v)} NaN/inf)",
                    transform=ax.transAxes, ha="center", va="center", color=VERMILLION)
        elif len(v) > SMOOTH_MIN_POINTS:
            ax.plot(*_thin(loss.index, v), color=BLUE, lw=0.8, alpha=0.3, gid="loss_raw",
                    label=f"{_txt(loss_tag)} (raw)")
            ax.plot(*_thin(loss.index, ema_debiased(v, ema_weight)), color=BLUE, lw=1.6, gid="loss_smooth",
                    label=f"{_txt(loss_tag)} (EMA {ema_weight:g})")
        else:  # a few points (per-epoch logs): smoothing would only add lag
            ax.plot(loss.index, v, color=BLUE, lw=1.5, marker="o", ms=3, gid="loss_raw",
                    label=_txt(loss_tag))
        bad = loss[~np.isfinite(v)]
        if not bad.empty:
            from matplotlib.transforms import blended_transform_factory

            trans = blended_transform_factory(ax.transData, ax.transAxes)
            ax.plot(bad.index, np.full(len(bad), 0.02), "x", color=VERMILLION, ms=5, mew=1.2,
                    transform=trans, gid="nonfinite", label=f"NaN/inf ({len(bad)})", clip_on=False)
    if val is not None:
        values.append(val.to_numpy())
        ax.plot(*_thin(val.index, val.to_numpy()), color=ORANGE, lw=1.4, gid="val_loss",
                marker="o" if len(val) <= 60 else None, ms=3,
                label=_txt(val_tag))
    # fitted trend: per LR phase when the analyzers fitted those, else over the run
    labelled = False
    for tag, color in ((loss_tag, BLACK), (val_tag, ORANGE)):
        if not tag:
            continue
        ts = [t for t in _trends(report) if t.tag == tag]
        phase = [t for t in ts if t.scope.startswith("lr_phase")]
        for t in phase or [t for t in ts if t.scope == "run"]:
            xs = np.linspace(t.step_start, t.step_end, 50)
            ax.plot(xs, t.line(xs), color=color, lw=1.2, ls="--", gid=f"trend:{t.tag}:{t.scope}",
                    label=None if labelled else "fitted trend", zorder=4)
            labelled = True
    allv = np.concatenate(values) if values else np.array([])
    if _auto_log(allv):
        ax.set_yscale("log")
        _plain_log_ticks(ax)
    _draw_loss_findings(ax, report, loss, val, run_range)
    ax.set_xlabel(_step_label(run))
    ax.set_ylabel("loss" if loss is not None or val is not None else "")
    if loss is None and val is None:
        ax.text(0.5, 0.5, "no loss series in this log", transform=ax.transAxes, ha="center",
                va="center", color="#555555")
    ax.grid(True, alpha=0.3, lw=0.5)
    twin = _draw_lr(ax, run, report)
    what = "loss" + (" and learning rate" if twin is not None else "")
    ax.set_title(f"{_txt(run.name)}: {what}", fontsize=10, loc="left")
    _legend(ax, [twin] if twin is not None else [], loc="upper center",
            bbox_to_anchor=(0.5, -0.16), ncol=4)
    return ax


def _draw_lr(ax: "Axes", run: "Run", report: Any) -> "Axes | None":
    lr = _lr_series(run)
    decays = _decays(run, report)
    _mark_decays(ax, decays)
    if lr is None:
        return None
    twin = ax.twinx()
    twin.plot(*_thin(lr.index, lr.to_numpy()), color=PURPLE, lw=1.1, drawstyle="steps-post", gid="lr",
              label=f"{_txt(run.roles.get('lr'))} (right axis)", alpha=0.9)
    if _log_ok(lr.to_numpy()):
        twin.set_yscale("log")
        _plain_log_ticks(twin)
    if decays:
        _s, y = _value_at(lr, decays)
        twin.plot(decays, y, "v", color=PURPLE, ms=6, gid="decay_markers", clip_on=False)
    twin.set_ylabel("learning rate", color=PURPLE)
    twin.tick_params(axis="y", colors=PURPLE, which="both")
    ax.set_zorder(twin.get_zorder() + 1)  # the loss above the LR, legend on top
    ax.patch.set_visible(False)
    return twin


def _draw_loss_findings(ax: "Axes", report: Any, loss: pd.Series | None, val: pd.Series | None,
                        run_range: tuple[int, int]) -> None:
    shown = [f for f in _findings(report) if f.id not in _GRAD_IDS]
    _shade_all(ax, shown, run_range)
    for f in shown:
        if f.id == "loss_plateau":
            start = _evidence_steps(f, "plateau_start_step") or (
                [f.step_range[0]] if f.step_range else [])
            for s in start[:1]:
                ax.axvline(s, color=BLACK, lw=1.2, ls="-.", gid="plateau_start",
                           label=f"plateau from {s:,}")
        elif f.id == "loss_spikes" and loss is not None:
            xs, ys = _value_at(loss, _evidence_steps(f, "spike_steps"))
            if len(xs):
                ax.plot(xs, ys, "^", color=VERMILLION, ms=7, mec="white", mew=0.6, gid="spikes",
                        label="spike", zorder=6)
        elif f.id == "overfitting" and val is not None:
            xs, ys = _value_at(_finite(val), _evidence_steps(f, "val_min_step"))
            if len(xs):
                ax.plot(xs, ys, "D", color=ORANGE, mec=BLACK, ms=6, gid="val_min",
                        label="validation minimum", zorder=6)
        elif f.id == "divergence" and f.step_range is not None:
            ax.axvline(f.step_range[0], color=VERMILLION, lw=1.5, gid="divergence_start",
                       label=f"diverged at {f.step_range[0]:,}")


def _long_ema_weight(n: int) -> float:
    """An EMA weight whose window spans about 1% of ``n`` points (at least TensorBoard's
    0.6, at most 0.99): several layers' per-step gradient norms overlap, and only their
    drift over the run is the point of the figure."""
    return float(np.clip(1.0 - 2.0 / (n / 100.0 + 1.0), EMA_WEIGHT, 0.99))


def plot_grad_norms(report_or_run: "Report | Run", *, ax: "Axes | None" = None,
                    ema_weight: float | None = None) -> "Axes":
    """Plot every layer's gradient statistic on a log axis against steps.

    One line per layer (smoothed with TensorBoard's debiased EMA, the raw values faint
    beneath; ``ema_weight=None`` picks a window of about 1% of the points),
    the global norm in black when the log has it, the fitted trends (dashed), the LR
    decay steps, and the gradient findings shaded; a layer a growth finding names has
    ``↑`` after its name in the legend. The y axis names the statistic: an L2 norm
    (``grad_norm/...``) or Caffe's mean absolute value (``grad_absmean/...``), from the tag
    prefix or ``run.meta["statistics"]``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    run = _run_of(report_or_run)
    ax = _new_ax(ax, height=3.4)
    layers = sorted(run.roles.get("grad") or [], key=_natural_key)
    total = run.roles.get("grad_total")
    tags = list(layers) + ([total] if total and total in run and total not in layers else [])
    if not tags:
        ax.text(0.5, 0.5, "no gradient statistics in this log", transform=ax.transAxes,
                ha="center", va="center", color="#555555")
        ax.set_axis_off()
        return ax
    if len(layers) <= len(PALETTE) - 1:
        colors = list(PALETTE[: len(layers)])
    else:
        import matplotlib

        cmap = matplotlib.colormaps["viridis"]
        colors = [cmap(x) for x in np.linspace(0.0, 0.9, len(layers))]
    trends = {t.tag: t for t in _trends(report_or_run) if t.scope == "run"}
    rising = {t for f in _findings(report_or_run) if f.id in ("grad_norm_growth", "exploding_gradients")
              for t in f.tags}
    for tag, color in zip(tags, colors + [BLACK]):
        s = _finite(run.series(tag))
        s = s[s.to_numpy() > 0]
        if s.empty:
            continue
        label = "total" if tag == total else _txt(_short(tag, layers))
        if tag == total and layers and _stat_label(run, [tag]) != _stat_label(run, layers):
            label += f" ({_stat_label(run, [tag])})"  # e.g. Caffe: layers mean |diff|, total L2
        if tag in rising:
            label += " ↑"  # named by a growth finding
        lw = 2.0 if tag == total else 1.4
        if len(s) > SMOOTH_MIN_POINTS:
            ax.plot(*_thin(s.index, s.to_numpy()), color=color, lw=0.6, alpha=0.25,
                    gid=f"grad_raw:{tag}")
            w = ema_weight if ema_weight is not None else _long_ema_weight(len(s))
            ax.plot(*_thin(s.index, ema_debiased(s.to_numpy(), w)), color=color, lw=lw,
                    gid=f"grad:{tag}", label=label)
        else:
            ax.plot(s.index, s.to_numpy(), color=color, lw=lw, marker="o", ms=3, gid=f"grad:{tag}",
                    label=label)
        t = trends.get(tag)
        if t is not None:
            xs = np.linspace(t.step_start, t.step_end, 50)
            ax.plot(xs, t.line(xs), color=color, lw=1.0, ls="--", gid=f"trend:{tag}:run", zorder=4)
    if _log_ok(np.concatenate([run.series(t).to_numpy() for t in tags])):
        ax.set_yscale("log")
    ax.set_ylabel(_stat_label(run, layers or tags), fontsize=9)
    ax.set_xlabel(_step_label(run))
    decays = _decays(run, report_or_run)
    _mark_decays(ax, decays)
    steps_all = run.steps
    run_range = (steps_all["first"] or 0, steps_all["last"] or 0)
    _shade_all(ax, [f for f in _findings(report_or_run) if f.id in _GRAD_IDS], run_range)
    ax.grid(True, which="major", alpha=0.3, lw=0.5)
    what = "gradients per layer" if layers else "global gradient norm"
    ax.set_title(f"{_txt(run.name)}: {what}" + (" (dashed: fitted trend)" if trends else ""),
                 fontsize=10, loc="left")
    _plain_log_ticks(ax)
    n = len(tags) + (1 if decays else 0)
    if n <= 8:
        _legend(ax, loc="lower right", ncol=2 if n > 4 else 1)
    else:
        _legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=min(6, (n + 1) // 2))
    return ax


def _stat_label(run: "Run", tags: Sequence[str]) -> str:
    """Name the statistic the tags hold (one line per distinct statistic): an L2 norm or
    Caffe's mean |diff|, from the tag prefix or from ``run.meta["statistics"]``."""
    stats = run.meta.get("statistics") or {}
    labels: list[str] = []
    for tag in tags:
        prefix = tag.split("/", 1)[0]
        desc = None
        if isinstance(stats, dict):
            desc = stats.get(tag) or stats.get(prefix) or stats.get(prefix + "/")
        if prefix in _STAT_LABELS:
            label = _STAT_LABELS[prefix]
        elif desc and str(desc).lower().startswith(("l2 norm", "l2-norm")):
            label = "gradient L2 norm"
        elif desc:
            label = _txt(str(desc).split(":", 1)[0].split(";", 1)[0][:40])
        else:
            label = _txt(prefix)
        if label not in labels:
            labels.append(label)
    return "\n".join(labels)


def _residual(loss: pd.Series) -> tuple[pd.Series, bool]:
    """The loss's deviation from its trend (a centred rolling median over an even window,
    so a period-2 bounce is not mistaken for the trend), over finite points.

    Returns ``(residual, relative)``: for a positive loss the deviation is relative
    (loss / trend - 1), the unit the analyzers give amplitudes in; otherwise absolute.
    """
    s = _finite(loss)
    w = int(np.clip(len(s) // 40, 6, 100)) // 2 * 2
    trend = s.rolling(w, center=True, min_periods=w).median()  # no biased edge windows
    relative = bool(len(s)) and bool(np.all(s.to_numpy() > 0))
    res = (s / trend - 1.0) if relative else (s - trend)
    return res.dropna(), relative


def _phases(report: Any) -> tuple[list[dict[str, Any]], "Finding | None"]:
    """The per-LR-phase evidence of the oscillation finding, or computed here."""
    for fid in _OSC_IDS:
        for f in _findings(report):
            if f.id == fid and isinstance(f.evidence.get("phases"), (list, tuple)):
                return [dict(p) for p in f.evidence["phases"] if isinstance(p, dict)], f
    run = _run_of(report)
    loss_tag = run.roles.get("loss")
    if not loss_tag or loss_tag not in run:
        return [], None
    res, _rel = _residual(run.series(loss_tag))
    lr = _lr_series(run)
    spans: list[tuple[int, int, float]] = []
    if lr is not None and not res.empty:
        ph = lr_phases(lr)
        last = max(int(res.index[-1]), ph[-1].end) if ph else 0
        spans = [(p.start, ph[i + 1].start - 1 if i + 1 < len(ph) else last, p.lr)
                 for i, p in enumerate(ph)]
    if not spans and not res.empty:
        spans = [(int(res.index[0]), int(res.index[-1]), float("nan"))]
    out = []
    for a, b, lrv in spans:
        r = res.loc[a:b].to_numpy()
        if r.size < 3:
            continue
        q25, q75 = np.percentile(r, [25, 75])
        amp = float(q75 - q25) / 1.349  # the SD for Gaussian data; robust to a square wave
        ac = float(np.corrcoef(r[:-1], r[1:])[0, 1]) if r.size > 3 and np.std(r) > 0 else float("nan")
        out.append({"start": a, "end": b, "lr": lrv, "amplitude": amp, "lag1_autocorr": ac})
    return out, None


def plot_oscillation(report: "Report", *, ax: "Axes | None" = None) -> "Axes":
    """Plot what the oscillation finding rests on: the detrended loss (its relative
    deviation from a rolling median, ``loss / trend - 1``, for a positive loss; the
    difference otherwise) with, per LR phase, the amplitude band (+-amplitude, the
    analyzers' robust SD of the residual relative to the level) and the numbers (LR,
    amplitude, lag-1 autocorrelation) from the finding's ``phases`` evidence.

    Without a ``step_size_oscillation``/``noisy_loss`` finding the same quantities are
    computed here (amplitude = interquartile range / 1.349 of the residual) and the title says so.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.transforms import blended_transform_factory

    run = _run_of(report)
    ax = _new_ax(ax, height=3.0)
    loss_tag = run.roles.get("loss")
    if not loss_tag or loss_tag not in run:
        ax.text(0.5, 0.5, "no loss series in this log", transform=ax.transAxes, ha="center",
                va="center", color="#555555")
        ax.set_axis_off()
        return ax
    res, relative = _residual(run.series(loss_tag))
    ax.plot(*_thin(res.index, res.to_numpy()), color="#555555", lw=0.7, alpha=0.8, gid="residual",
            label="deviation of the loss from its rolling median")
    phases, finding = _phases(report)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for k, p in enumerate(phases):
        try:
            a, b, amp = float(p["start"]), float(p["end"]), float(p["amplitude"])
        except (KeyError, TypeError, ValueError):
            continue
        color = PALETTE[k % (len(PALETTE) - 1)]
        ax.fill_between([a, b], [-amp, -amp], [amp, amp], color=color, alpha=0.18, lw=0,
                        gid=f"amplitude:{k}")
        ax.hlines([-amp, amp], a, b, color=color, lw=1.4)
        lr = p.get("lr")
        ac = p.get("lag1_autocorr")
        txt = "\n".join(x for x in (f"LR {_g(lr)}" if _isnum(lr) else "", f"amp {_g(amp)}",
                                     f"ρ₁ {float(ac):+.2f}" if _isnum(ac) else "") if x)
        ax.text(a, 0.97, " " + txt.replace("\n", "\n "), transform=trans, va="top", ha="left",
                fontsize=7.5, color=BLACK, clip_on=True,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": color, "alpha": 0.85})
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
    src = f"evidence of {finding.id}" if finding is not None else "computed; no oscillation finding"
    ax.set_title(f"detrended loss per LR phase ({src})", fontsize=10, loc="left")
    ax.grid(True, alpha=0.3, lw=0.5)
    return ax


def plot_amplitude_vs_lr(report: "Report", *, ax: "Axes | None" = None) -> "Axes":
    """Plot the oscillation amplitude of each LR phase against the phase's LR (log-log):
    a step-size-driven oscillation rises with the LR, minibatch noise does not.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_ax(ax, height=3.0)
    pts = _amp_points(report)
    if not pts:
        ax.text(0.5, 0.5, "no LR phases", transform=ax.transAxes, ha="center", va="center",
                color="#555555")
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
    if len(pts) >= 2 and np.ptp(np.log(lrs)) > 0:
        slope = np.polyfit(np.log10(lrs), np.log10(amps), 1)[0]
        xlabel += f"\n(log-log slope {slope:.2f})"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("amplitude")
    ax.set_title("amplitude vs LR", fontsize=10, loc="left")
    ax.grid(True, which="both", alpha=0.3, lw=0.5)
    return ax


def _amp_points(report: Any) -> list[tuple[float, float]]:
    """(LR, amplitude) of each LR phase with both positive and finite."""
    phases, _f = _phases(report)
    return [(float(p["lr"]), float(p["amplitude"])) for p in phases
            if _isnum(p.get("lr")) and _isnum(p.get("amplitude"))
            and float(p["lr"]) > 0 and float(p["amplitude"]) > 0]


def _isnum(x: Any) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def _g(x: Any) -> str:
    return f"{float(x):.3g}" if _isnum(x) else "?"


# -- the first-order check -------------------------------------------------------------

_FO_ID = "first_order_overshoot"
#: A realised decrease below this fraction of the promise is drawn at it (with a triangle).
_REALISED_FLOOR = 1e-4


def _unavailable(ax: "Axes", text: str) -> "Axes":
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#555555",
            wrap=True)
    ax.set_axis_off()
    return ax


def _grad_l2_tag(run: "Run") -> str | None:
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


def _window(s: pd.Series, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``s`` with ``lo <= step <= hi``."""
    idx = s.index.to_numpy()
    sl = slice(int(np.searchsorted(idx, lo, side="left")), int(np.searchsorted(idx, hi, side="right")))
    return idx[sl], s.to_numpy()[sl]


def _first_order_rows(report: Any, loss: pd.Series, gnorm: pd.Series,
                      lr: pd.Series) -> tuple[list[dict[str, Any]], "Finding | None"]:
    """Per LR phase: the analysed window and the medians the first-order ratio rests on.

    The phases, their analysed window (``window_start``: the phase without the
    relaxation after an LR change), ``first_order_ratio``, ``first_order_efficiency`` and
    ``first_order_overshoot`` come from the oscillation finding's evidence
    (``step_size_oscillation``, else ``noisy_loss``). Without such a finding the phases
    are the LR phases, drawn whole, and no ratio is stated: the analyzers found nothing
    to report (a phase with an adaptive optimizer has no ratio in the evidence either).
    """
    finding = None
    phases: list[dict[str, Any]] = []
    for fid in _OSC_IDS:
        for f in _findings(report):
            if finding is None and f.id == fid and isinstance(f.evidence.get("phases"), (list, tuple)):
                finding = f
                phases = [dict(p) for p in f.evidence["phases"] if isinstance(p, dict)]
    if finding is None:
        ph = lr_phases(lr)
        last = int(loss.index[-1])
        phases = [{"start": p.start, "end": ph[i + 1].start - 1 if i + 1 < len(ph) else last,
                   "lr": p.lr} for i, p in enumerate(ph)]
    rows = []
    first = float(loss.index[0])
    for p in phases:
        try:
            a, b = max(float(p["start"]), first), float(p["end"])
        except (KeyError, TypeError, ValueError):
            continue
        if not b > a:
            continue
        lo = min(max(float(p["window_start"]), a), b) if _isnum(p.get("window_start")) else a
        _gs, g = _window(gnorm, lo, b)
        _ls, lvl_v = _window(loss, lo, b)
        if len(g) < 5 or len(lvl_v) < 3:
            continue
        eta = float(p["lr"]) if _isnum(p.get("lr")) else float(_lr_at(lr, np.array([0.5 * (lo + b)]))[0])
        gmed, level = float(np.median(g)), float(np.median(lvl_v))
        with np.errstate(over="ignore", invalid="ignore"):
            promise = eta * gmed ** 2
        rows.append({
            "start": a, "lo": lo, "end": b, "lr": eta, "grad_median": gmed,
            "promise": promise, "level": level,
            "ratio": float(p["first_order_ratio"]) if _isnum(p.get("first_order_ratio")) else None,
            "efficiency": (float(p["first_order_efficiency"])
                           if _isnum(p.get("first_order_efficiency")) else None),
            "overshoot": bool(p.get("first_order_overshoot")),
            "stated": finding is not None,
        })
    return rows, finding


def _fo_hit(row: dict[str, Any], finding: "Finding | None") -> bool:
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
    if not row["stated"]:
        lines.append("no finding" if compact else "no oscillation finding")
        return "\n".join(lines)
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


def plot_first_order(report: "Report", *, ax: "Axes | None" = None,
                     ema_weight: float = EMA_WEIGHT) -> "Axes":
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
    evidence (without such a finding the whole phases are drawn and the boxes say so; an
    adaptive optimizer's phases have no ratio); the box is vermilion and bold where the
    finding says the phase overshoots.
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
    missing = [what for what, ok in (("training loss", loss is not None and not loss.empty),
                                     ("learning rate", lr is not None),
                                     ("gradient L2 norm (grad_norm/...)", gtag is not None)) if not ok]
    if missing or loss is None or lr is None or gtag is None:
        return _unavailable(ax, "first-order check not available: the log has no "
                            + " and no ".join(missing))
    gnorm = _finite(run.series(gtag))
    promise = _promise(lr, gnorm)
    if promise.empty:
        return _unavailable(ax, f"first-order check not available: {_txt(gtag)} has no positive "
                            "finite value")
    drawn = []
    for s, color, gid, label in ((loss, BLUE, "loss", _txt(loss_tag)),
                                 (promise, VERMILLION, "promise", "promise per step η‖g‖²")):
        v = s.to_numpy()
        drawn.append(v)
        if len(v) > SMOOTH_MIN_POINTS:
            ax.plot(*_thin(s.index, v), color=color, lw=0.6, alpha=0.25, gid=f"{gid}_raw")
            ax.plot(*_thin(s.index, ema_debiased(v, ema_weight)), color=color, lw=1.6,
                    gid=f"{gid}_smooth", label=f"{label} (EMA {ema_weight:g})")
        else:
            ax.plot(s.index, v, color=color, lw=1.5, marker="o", ms=3, gid=f"{gid}_raw", label=label)
    rows, finding = _first_order_rows(report, loss, gnorm, lr)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    span = max(float(max(loss.index[-1], promise.index[-1]) - min(loss.index[0], promise.index[0])), 1.0)
    labelled = realised_labelled = False
    for k, row in enumerate(rows):
        lo, b = row["lo"], row["end"]
        ax.hlines(row["level"], lo, b, color=BLUE, lw=1.3, ls="--", gid=f"loss_level:{k}",
                  label=None if labelled else "medians per LR phase", zorder=4)
        if np.isfinite(row["promise"]) and row["promise"] > 0:
            ax.hlines(row["promise"], lo, b, color=VERMILLION, lw=1.3, ls="--",
                      gid=f"promise_level:{k}", zorder=4)
        e = row["efficiency"]
        if e is not None and e > 0 and np.isfinite(row["promise"]) and row["promise"] > 0:
            # drawn at least 1e-4 of the promise (a triangle says "lower"): a realised
            # decrease of 1e-9 must not squash the rest of the figure into a line
            realised = e * row["promise"]
            shown = max(realised, _REALISED_FLOOR * row["promise"])
            drawn.append(np.array([shown]))
            ax.hlines(shown, lo, b, color=GREEN, lw=1.8, ls=":", gid=f"realised:{k}", zorder=4,
                      label=None if realised_labelled else "realised decrease per step")
            realised_labelled = True
            if shown > realised:
                ax.plot([0.5 * (lo + b)], [shown], "v", color=GREEN, ms=6, gid=f"realised_below:{k}")
        labelled = True
        hit = _fo_hit(row, finding)
        compact = (b - row["start"]) / span < 0.3
        ax.text(row["start"], 0.97, _fo_text(row, compact), transform=trans, va="top", ha="left",
                fontsize=7.5, color=BLACK, clip_on=True, gid=f"first_order:{k}",
                fontweight="bold" if hit else "normal",
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": VERMILLION if hit else GREY,
                      "lw": 1.2 if hit else 0.8, "alpha": 0.9})
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
    ax.set_title(f"first-order check: does the loss fall as η‖g‖² promises? ({src})",
                 fontsize=10, loc="left")
    ax.grid(True, which="major", alpha=0.3, lw=0.5)
    _legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    return ax


# -- figures for reports --------------------------------------------------------------

def _has_grads(run: "Run") -> bool:
    return bool(run.roles.get("grad")) or bool(run.roles.get("grad_total"))


def _has_osc(report: Any) -> bool:
    return any(f.id in _OSC_IDS for f in _findings(report))


def _has_first_order(report: Any) -> bool:
    """True when an oscillation finding rests (also) on the first-order overshoot."""
    return any(f.id == "step_size_oscillation" and isinstance(f.evidence, dict)
               and _FO_ID in (f.evidence.get("signals_present") or ())
               for f in _findings(report))


def report_figures(report: "Report") -> list[tuple[str, "Figure"]]:
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


def report_figure(report: "Report") -> "Figure":
    """Return one Figure with the overview, the gradients (when the log has them) and the
    oscillation evidence (when there is an oscillation finding), sharing the step axis.

    A bare :class:`matplotlib.figure.Figure` (no pyplot state): Jupyter shows it, and
    ``fig.savefig("report.png")`` writes it.
    """
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
