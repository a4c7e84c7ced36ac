"""Gradient statistics per layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gradlog.plots._common import (
    _GRAD_IDS,
    _STAT_LABELS,
    BLACK,
    EMA_WEIGHT,
    LAYER_COLORS,
    SMOOTH_MIN_POINTS,
    _decays,
    _declutter,
    _findings,
    _finite,
    _isnum,
    _legend,
    _log_ok,
    _mark_decays,
    _natural_key,
    _new_ax,
    _num,
    _plain_log_ticks,
    _run_of,
    _shade_all,
    _short,
    _step_label,
    _thin,
    _trend_follows,
    _trends,
    _txt,
    ema_debiased,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from gradlog.report import Report
    from gradlog.run import Run


def _long_ema_weight(n: int) -> float:
    """An EMA weight whose window spans about 1% of ``n`` points (at least TensorBoard's
    0.6, at most 0.99): several layers' per-step gradient norms overlap, and only their
    drift over the run is the point of the figure."""
    return float(np.clip(1.0 - 2.0 / (n / 100.0 + 1.0), EMA_WEIGHT, 0.99))


#: At most this many layers get a colour of their own; the rest are drawn grey.
MAX_LAYER_COLORS = 8
_REST = "#BBBBBB"
_GROWTH_IDS = ("grad_norm_growth", "exploding_gradients")


def _window(obj: Any) -> tuple[float, float] | None:
    """The analysed window of the gradient findings: the evidence's ``window`` (else the
    finding's step range) of the first growth finding; None without one."""
    for f in _findings(obj):
        if f.id not in _GROWTH_IDS:
            continue
        w = f.evidence.get("window") if isinstance(f.evidence, dict) else None
        if isinstance(w, (list, tuple)) and len(w) == 2 and all(_isnum(x) for x in w):
            return float(w[0]), float(w[1])
        if f.step_range is not None:
            return float(f.step_range[0]), float(f.step_range[1])
    return None


def _evidence_by_tag(obj: Any) -> dict[str, dict[str, Any]]:
    """The growth findings' numbers per tag: the records of a finding's ``layers``
    evidence (one per series, with ``tag``), or the evidence of a finding about one tag."""
    out: dict[str, dict[str, Any]] = {}
    for f in _findings(obj):
        if f.id not in _GROWTH_IDS or not isinstance(f.evidence, dict):
            continue
        recs = f.evidence.get("layers")
        if isinstance(recs, (list, tuple)):
            for r in recs:
                if isinstance(r, dict) and isinstance(r.get("tag"), str):
                    out.setdefault(r["tag"], r)
        elif len(f.tags) == 1:
            out.setdefault(f.tags[0], f.evidence)
    return out


def _layer_colors(layers: Sequence[str], named: set[str]) -> dict[str, str]:
    """A distinguishable colour per layer when there are at most
    :data:`MAX_LAYER_COLORS`; else the layers a finding names (then layers evenly spread
    over the depth) get the colours and the rest are grey."""
    cycle = LAYER_COLORS
    if len(layers) <= MAX_LAYER_COLORS:
        return {t: cycle[i] for i, t in enumerate(layers)}
    chosen = [t for t in layers if t in named][:MAX_LAYER_COLORS]
    free = MAX_LAYER_COLORS - len(chosen)
    if free > 0:
        rest = [t for t in layers if t not in chosen]
        idx = np.unique(np.linspace(0, len(rest) - 1, free).round().astype(int))
        chosen += [rest[i] for i in idx]
    order = [t for t in layers if t in chosen]
    return {t: cycle[order.index(t)] if t in chosen else _REST for t in layers}


def plot_grad_norms(
    report_or_run: Report | Run,
    *,
    ax: Axes | None = None,
    ema_weight: float | None = None,
    relative: bool | None = None,
) -> Axes:
    """Plot every layer's gradient statistic against steps.

    ``relative`` (the default when a gradient finding gives its analysed window): each
    layer divided by its level at the start of that window, on a log axis, so the 1.3x
    rise a finding speaks of reads as 1.3; the level is the finding's ``start_level``
    for the layers a finding names, else the median of the layer's first tenth of the
    window. The early transient before the window is greyed, marked and cut from the
    y-range. ``relative=False`` draws the absolute levels (log axis) with the fitted
    trends that follow their curve (dashed).

    One line per layer (smoothed with TensorBoard's debiased EMA, the raw values faint
    beneath when absolute or at most three lines are coloured; ``ema_weight=None`` picks a window of about 1% of the points), the global
    norm in black when the log has it, the LR decay steps, and the gradient findings
    shaded. At most :data:`MAX_LAYER_COLORS` layers get a colour (the layers the findings
    name first), the others are grey; a layer a growth finding names has ``↑`` and the
    evidence's fold change after its name in the legend. The y axis names the statistic:
    an L2 norm (``grad_norm/...``) or Caffe's mean absolute value (``grad_absmean/...``),
    from the tag prefix or ``run.meta["statistics"]``.

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
        ax.text(
            0.5,
            0.5,
            "no gradient statistics in this log",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#555555",
        )
        ax.set_axis_off()
        return ax
    sty = _GradStyle.of(report_or_run, run, layers, tags, total, relative, ema_weight)
    shown: list[np.ndarray] = []
    drawn_trend = False
    for tag in tags:
        drawn = _draw_layer(ax, run, tag, sty)
        if drawn is not None:
            shown.append(drawn[0])
            drawn_trend |= drawn[1]
    _finish_grad_axes(
        ax, report_or_run, run, sty, np.concatenate(shown) if shown else np.array([]), drawn_trend
    )
    return ax


@dataclass
class _GradStyle:
    """How the gradient figure draws its layers: colours, labels, the analysed window
    and whether the layers are divided by their level at its start."""

    layers: list[str]
    total: str | None
    colors: dict[str, str]
    rising: set[str]
    evidence: dict[str, dict[str, Any]]
    trends: dict[str, Any]
    relative: bool
    window: tuple[float, float] | None
    run_range: tuple[int, int]
    raw_too: bool
    n_grey: int
    ema_weight: float | None
    grey_labelled: bool = False

    @classmethod
    def of(
        cls,
        obj: Any,
        run: Run,
        layers: list[str],
        tags: list[str],
        total: str | None,
        relative: bool | None,
        ema_weight: float | None,
    ) -> _GradStyle:
        """Read the style from the findings (window, named and rising layers, evidence)."""
        window = _window(obj)
        if relative is None:
            relative = window is not None
        steps_all = run.steps
        run_range = (steps_all["first"] or 0, steps_all["last"] or 0)
        if relative and window is None:
            window = (float(run_range[0]), float(run_range[1]))
        named = {t for f in _findings(obj) if f.id in _GRAD_IDS for t in f.tags}
        colors = _layer_colors(layers, named)
        n_coloured = sum(1 for t in tags if t == total or colors.get(t) != _REST)
        return cls(
            layers=layers,
            total=total,
            colors=colors,
            rising={t for f in _findings(obj) if f.id in _GROWTH_IDS for t in f.tags},
            evidence=_evidence_by_tag(obj),
            trends={t.tag: t for t in _trends(obj) if t.scope == "run"} if not relative else {},
            relative=relative,
            window=window,
            run_range=run_range,
            raw_too=n_coloured <= 3,  # faint raw values beneath: only when they do not pile up
            n_grey=sum(1 for c in colors.values() if c == _REST),
            ema_weight=ema_weight,
        )

    def label(self, run: Run, tag: str, grey: bool) -> str:
        """The legend entry of a layer (the grey rest share one entry)."""
        layers = self.layers
        label = "total" if tag == self.total else _txt(_short(tag, layers))
        if tag == self.total and layers and _stat_label(run, [tag]) != _stat_label(run, layers):
            label += f" ({_stat_label(run, [tag])})"  # e.g. Caffe: layers mean |diff|, total L2
        if tag in self.rising:
            label += " ↑"  # named by a growth finding
            fold = _num(self.evidence.get(tag, {}).get("fold_change"))
            if self.relative and fold is not None:
                label += f" ×{fold:.3g}"
        if grey:
            label = "_nolegend_" if self.grey_labelled else f"other layers ({self.n_grey})"
            self.grey_labelled = True
        return label

    def reference(self, tag: str, steps: np.ndarray, v: np.ndarray) -> float | None:
        """The level a layer is divided by (1 when absolute; None: no level to divide by)."""
        if not (self.relative and self.window is not None):
            return 1.0
        ev_level = _num(self.evidence.get(tag, {}).get("start_level"))
        if ev_level is not None and ev_level > 0:
            return ev_level
        w0, w1 = self.window
        first = v[(steps >= w0) & (steps <= w0 + 0.1 * (w1 - w0))]
        if not first.size or not np.median(first) > 0:
            return None
        return float(np.median(first))


def _draw_layer(ax: Axes, run: Run, tag: str, sty: _GradStyle) -> tuple[np.ndarray, bool] | None:
    """Draw one layer (raw faint, smoothed on top, its fitted trend); return the values
    that set the y-range and whether a trend was drawn (None: nothing drawn)."""
    color = BLACK if tag == sty.total else sty.colors[tag]
    s = _finite(run.series(tag))
    s = s[s.to_numpy() > 0]
    if s.empty:
        return None
    grey = color == _REST
    label = sty.label(run, tag, grey)
    steps, v = s.index.to_numpy(), s.to_numpy()
    ref = sty.reference(tag, steps, v)
    if ref is None:
        return None
    if sty.relative and sty.window is not None:
        v = v / ref
    lw = 2.0 if tag == sty.total else (0.9 if grey else 1.4)
    z = 2 if grey else 3
    gid = f"grad:{tag}" if not grey else f"grad_rest:{tag}"
    if len(v) > SMOOTH_MIN_POINTS:
        if not grey and (sty.raw_too or not sty.relative):
            ax.plot(*_thin(steps, v), color=color, lw=0.6, alpha=0.2, gid=f"grad_raw:{tag}", zorder=1)
        w = sty.ema_weight if sty.ema_weight is not None else _long_ema_weight(len(v))
        smooth = ema_debiased(v, w)
        ax.plot(*_thin(steps, smooth), color=color, lw=lw, zorder=z, gid=gid, label=label)
    else:
        smooth = v
        ax.plot(steps, v, color=color, lw=lw, marker="o", ms=3, zorder=z, gid=gid, label=label)
    if sty.relative and sty.window is not None:  # the y-range: the drawn curves in the window
        shown = smooth[(steps >= sty.window[0]) & (steps <= sty.window[1])]
    else:
        shown = v
    t = sty.trends.get(tag)
    if t is not None and not grey and _trend_follows(t, s):
        xs = np.linspace(t.step_start, t.step_end, 50)
        ax.plot(xs, t.line(xs), color=color, lw=1.0, ls="--", gid=f"trend:{tag}:run", zorder=4)
        return shown, True
    return shown, False


def _finish_grad_axes(
    ax: Axes, obj: Any, run: Run, sty: _GradStyle, allv: np.ndarray, drawn_trend: bool
) -> None:
    """Scale, labels, the transient, decays, finding spans, title and legend."""
    if _log_ok(allv):
        ax.set_yscale("log")
    stat = _stat_label(run, sty.layers or ([sty.total] if sty.total else []))
    window = sty.window
    if sty.relative and window is not None:
        _mark_transient(ax, sty.run_range, window, allv)
        ax.axhline(1.0, color="#555555", lw=0.8, ls="-", zorder=1)
        ax.set_ylabel(f"{stat.splitlines()[0]}\n/ level at {_step_label(run)} {window[0]:,.0f}", fontsize=9)
    else:
        ax.set_ylabel(stat, fontsize=9)
    ax.set_xlabel(_step_label(run))
    _mark_decays(ax, _decays(run, obj))
    labels = _shade_all(ax, [f for f in _findings(obj) if f.id in _GRAD_IDS], sty.run_range)
    ax.grid(True, which="major", alpha=0.3, lw=0.5)
    what = "gradients per layer" if sty.layers else "global gradient norm"
    if sty.relative:
        what += " relative to the start of the analysed window"
    ax.set_title(
        f"{_txt(run.name)}: {what}" + (" (dashed: fitted trend)" if drawn_trend else ""),
        fontsize=10,
        loc="left",
    )
    _plain_log_ticks(ax)
    n = len([h for h in ax.get_legend_handles_labels()[1]])
    if n <= 6:
        _legend(ax, loc="best", ncol=2 if n > 3 else 1)
    else:
        _legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=min(5, (n + 1) // 2))
    _declutter(ax, labels)


def _mark_transient(
    ax: Axes, run_range: tuple[int, int], window: tuple[float, float], inside: np.ndarray
) -> None:
    """Grey the steps before the analysed window, say so in the legend, and fit the
    y-range to the drawn curves inside the window (the early transient is cut from it)."""
    if window[0] > run_range[0]:
        ax.axvspan(
            run_range[0],
            window[0],
            color="#DDDDDD",
            alpha=0.6,
            lw=0,
            zorder=0,
            gid="transient",
            label="before the window (cut from the y-range)",
        )
    v = inside[np.isfinite(inside) & (inside > 0)]
    if v.size:
        lo, hi = float(np.percentile(v, 0.5)), float(np.percentile(v, 99.5))
        lo, hi = min(lo, 1.0), max(hi, 1.0)
        if ax.get_yscale() == "log":
            pad = (hi / lo) ** 0.08 if hi > lo else 1.1
            ax.set_ylim(lo / pad, hi * pad)
        else:
            pad = 0.08 * (hi - lo) if hi > lo else 0.1
            ax.set_ylim(lo - pad, hi + pad)


def _stat_label(run: Run, tags: Sequence[str]) -> str:
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
