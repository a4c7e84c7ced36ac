"""What every figure shares: the palette, bare figures that Jupyter shows, thinning,
log-axis choices, decay lines, finding spans and labels that never overlap."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gradlog.series import ema_debiased, lr_decays
from gradlog.wording import fmt_num, single_line


@contextmanager
def quiet_numerics() -> Iterator[None]:
    """Draw without numpy's floating-point warnings: a log can hold values near 1e300, and
    the axis arithmetic (matplotlib's tick steps, a trend line evaluated at the ends) then
    overflows to inf, which the figure handles; the warnings would only reach the user's
    terminal as noise."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


__all__ = [
    "quiet_numerics",
    "PALETTE",
    "SEVERITY_COLORS",
    "EMA_WEIGHT",
    "WIDTH_IN",
    "MAX_PLOT_POINTS",
    "SMOOTH_MIN_POINTS",
    "MAX_DECAY_LINES",
    "GREY",
    "ema_debiased",
]


if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gradlog.findings import Finding
    from gradlog.run import Run

#: Okabe-Ito colours, in the order lines use them (yellow and black left out of the cycle).
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000")
BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, BLACK = PALETTE
GREY = "#999999"
#: Shading of a finding's step range (info is grey, so it never looks like a data line).
SEVERITY_COLORS: dict[str, str] = {"info": GREY, "warning": ORANGE, "critical": VERMILLION}
SEVERITY_ORDER = ("info", "warning", "critical")
#: Colours of up to eight layers on one panel: the Okabe-Ito palette without black and
#: yellow (it vanishes on white), then Paul Tol's wine and a brown.
LAYER_COLORS: tuple[str, ...] = (BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, "#882255", "#8C510A")
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


def _new_ax(ax: Axes | None, height: float = 3.6) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _fig, new = plt.subplots(figsize=(WIDTH_IN, height), layout="constrained")
    return new


def _figure_class() -> type:
    """The bare Figure subclass the report figures are made of (built on first use, so
    importing gradlog never imports matplotlib)."""
    global _REPORT_FIGURE
    if _REPORT_FIGURE is None:
        import io

        from matplotlib.figure import Figure

        class ReportFigure(Figure):
            """A pyplot-free Figure that Jupyter shows inline (``_repr_png_``), with or
            without ``%matplotlib inline``; ``savefig`` writes it anywhere."""

            def _repr_png_(self) -> bytes:
                buf = io.BytesIO()
                self.savefig(buf, format="png", dpi=100, metadata={"Software": None})
                return buf.getvalue()

        _REPORT_FIGURE = ReportFigure
    return _REPORT_FIGURE


_REPORT_FIGURE: type | None = None


def __getattr__(name: str) -> Any:
    if name == "ReportFigure":
        return _figure_class()
    raise AttributeError(name)


def _bare_figure(height: float) -> Figure:
    """Return a new bare :class:`ReportFigure` 800 px wide (at 100 dpi) and ``height``
    inches tall, with constrained layout and no pyplot state."""
    fig: Figure = _figure_class()(figsize=(WIDTH_IN, height), layout="constrained")
    return fig


def _run_of(obj: Any) -> Run:
    return obj.run if hasattr(obj, "findings") and hasattr(obj, "run") else obj


def _findings(obj: Any) -> list[Finding]:
    return list(getattr(obj, "findings", []) or [])


def _trends(obj: Any) -> list[Any]:
    return list(getattr(obj, "trends", []) or [])


def _step_label(run: Run) -> str:
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
    grid = yy.reshape(m, k)
    base = np.arange(m) * k
    lo = np.where(np.isnan(grid), np.inf, grid).argmin(axis=1) + base
    hi = np.where(np.isnan(grid), -np.inf, grid).argmax(axis=1) + base
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


def _lr_series(run: Run) -> pd.Series | None:
    tag = run.roles.get("lr")
    if not tag or tag not in run:
        return None
    s = _finite(run.series(tag))
    return s if not s.empty else None


def _decays(run: Run, obj: Any = None) -> list[int]:
    """Decay steps: those a finding names (``decay_steps``), else from the LR series."""
    for f in _findings(obj):
        ds = f.evidence.get("decay_steps") if isinstance(f.evidence, dict) else None
        if ds:
            lr = _lr_series(run)
            own = lr_decays(lr) if lr is not None else []
            return sorted({int(d) for d in ds} | set(own))
    lr = _lr_series(run)
    return lr_decays(lr) if lr is not None else []


def _plain_log_ticks(ax: Axes) -> None:
    """On a log y axis spanning less than two decades, label ticks as plain numbers
    (``20``, ``0.05``) instead of ``2 x 10^1``; under a factor of 4 (a relative axis
    around 1) place them as on a linear axis (0.8, 1, 1.2, ...) so more than one shows."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

    lo, hi = ax.get_ylim()
    if ax.get_yscale() != "log" or lo <= 0 or hi / lo >= 100:
        return
    if hi / lo < 4:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _mark_decays(ax: Axes, decays: Sequence[int], *, label: bool = True) -> None:
    if len(decays) > MAX_DECAY_LINES:  # a smooth schedule: the LR curve shows it better
        return
    for i, d in enumerate(decays):
        ax.axvline(
            d,
            color=PURPLE,
            lw=1.0,
            ls=":",
            alpha=0.9,
            zorder=1,
            gid=f"decay:{d}",
            label="LR decay" if (label and i == 0) else None,
        )


def _shade_all(ax: Axes, findings: Sequence[Finding], run_range: tuple[int, int]) -> list[Any]:
    """Shade the findings' step ranges (one span per distinct range); findings with the
    same id (one per layer, say) share one label (``id ×3``) at their first span.

    Returns the labels (Text), for :func:`_declutter` once the plot is complete."""
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        if f.step_range is not None:
            groups.setdefault(f.id, []).append(f)
    out = []
    for group in groups.values():
        spans: dict[tuple[int, int], Finding] = {}
        for f in group:
            assert f.step_range is not None
            cur = spans.get(f.step_range)
            if cur is None or SEVERITY_ORDER.index(f.severity) > SEVERITY_ORDER.index(cur.severity):
                spans[f.step_range] = f
        first = min(spans)
        for rng, f in sorted(spans.items()):
            label = _shade(ax, f, rng, run_range, count=len(group), label=rng == first)
            if label is not None:
                out.append(label)
    return out


def _shade(
    ax: Axes,
    f: Finding,
    step_range: tuple[int, int],
    run_range: tuple[int, int],
    *,
    count: int = 1,
    label: bool = True,
) -> Any:
    """Shade ``step_range`` (a finding's) and, with ``label``, write the finding's id at
    the top of the span; returns the label (Text) or None."""
    from matplotlib.transforms import blended_transform_factory

    a, b = float(step_range[0]), float(step_range[1])
    color = SEVERITY_COLORS.get(f.severity, GREY)
    if a == b:  # a single step: a thin band of 1% of the run
        half = max((run_range[1] - run_range[0]) * 0.005, 0.5)
        a, b = a - half, b + half
    broad = (b - a) > 0.5 * max(run_range[1] - run_range[0], 1)
    ax.axvspan(a, b, color=color, alpha=0.06 if broad else 0.14, lw=0, zorder=0, gid=f"finding:{f.id}")
    if not label:
        return None
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    text = f" {f.id}" + (f" ×{count}" if count > 1 else "")
    return ax.text(
        max(a, run_range[0]),
        0.97,
        text,
        transform=trans,
        fontsize=7.5,
        va="top",
        ha="left",
        color="#333333",
        zorder=5,
        clip_on=True,
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": color, "lw": 0.8, "alpha": 0.85},
    )


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


def _evidence_steps(f: Finding, key: str) -> list[int]:
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


def _legend(ax: Axes, extra_axes: Sequence[Axes] = (), **kw: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    for other in extra_axes:
        h, lab = other.get_legend_handles_labels()
        handles += h
        labels += lab
    seen: set[str] = set()
    keep = []
    for i, lab in enumerate(labels):  # one entry per label (two plateaus, one legend line)
        if lab not in seen:
            seen.add(lab)
            keep.append(i)
    handles, labels = [handles[i] for i in keep], [labels[i] for i in keep]
    if handles:
        ax.legend(handles, labels, fontsize=8, framealpha=0.9, **kw)


def _num(x: Any) -> float | None:
    """``x`` as a finite float, or None (evidence values may be missing, null or text)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _isnum(x: Any) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def _g(x: Any) -> str:
    """A number from the evidence in a label (``?`` when it is missing)."""
    return fmt_num(x, 3, missing="?")


def _unavailable(ax: Axes, text: str) -> Axes:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#555555", wrap=True)
    ax.set_axis_off()
    return ax


def _declutter(ax: Axes, texts: Sequence[Any], *, pad_px: float = 2.0) -> None:
    """Move labels down (in axes coordinates) until none overlaps an earlier one.

    ``texts`` are :class:`matplotlib.text.Text` placed with a y in axes coordinates
    (finding labels, phase boxes), in the order they should keep their place; the figure
    is laid out once (``draw_without_rendering``) to measure them. A label pushed below
    the bottom of the axes is hidden, never drawn over another.
    """
    texts = [t for t in texts if t is not None and t.get_visible()]
    if len(texts) < 2:
        return
    fig: Any = ax.figure
    try:
        getattr(fig, "figure", fig).draw_without_rendering()
    except Exception:  # noqa: BLE001 - measuring is best effort; labels stay as placed
        return
    height = ax.get_window_extent().height
    if height <= 0:
        return
    placed: list[Any] = []
    for t in texts:
        box = t.get_window_extent()
        for _ in range(len(placed) + 1):
            hits = [p for p in placed if box.overlaps(p)]
            if not hits:
                break
            shift = (box.y1 - min(p.y0 for p in hits) + pad_px) / height
            t.set_y(t.get_position()[1] - shift)
            box = t.get_window_extent()
        if box.y0 < ax.get_window_extent().y0 or any(box.overlaps(p) for p in placed):
            t.set_visible(False)
            continue
        placed.append(box)


def _trend_follows(
    t: Any, series: pd.Series | None = None, tolerance: float = 1.25, third_tolerance: float = 1.1
) -> bool:
    """True when a fitted trend line follows its curve, so it may be drawn.

    Its values at the first and last step must be within ``tolerance`` (a factor, for a
    log-space trend; else that fraction of the levels) of the trend's own robust start
    and end levels; and, given the ``series`` it was fitted to, the median of the curve
    over each third of the trend's steps must be within ``third_tolerance`` of the line
    (a straight fit through a curved loss misses its first or middle third). A line
    that fails is not drawn rather than drawn wrong.
    """
    try:
        y0, y1 = (float(v) for v in t.line([t.step_start, t.step_end]))
        s0, s1 = float(t.start_level), float(t.end_level)
    except (TypeError, ValueError):
        return False
    if not all(np.isfinite([y0, y1, s0, s1])):
        return False
    if t.log_space and min(y0, y1, s0, s1) <= 0:
        return False
    scale = max(abs(s1 - s0), abs(s0), abs(s1), 1e-300)
    if t.log_space:
        lim = np.log(tolerance)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            off0, off1 = abs(np.log(y0 / s0)), abs(np.log(y1 / s1))
        if not (off0 <= lim and off1 <= lim):  # NaN/inf (an underflowed ratio) also fails
            return False
    elif abs(y0 - s0) > (tolerance - 1) * scale or abs(y1 - s1) > (tolerance - 1) * scale:
        return False
    if series is None:
        return True
    x = series.index.to_numpy(dtype=float)
    y = series.to_numpy(dtype=float)
    keep = (x >= t.step_start) & (x <= t.step_end) & np.isfinite(y)
    if t.log_space:
        keep &= y > 0
    if keep.sum() < 6:
        return True
    x, y = x[keep], y[keep]
    line = np.asarray(t.line(x), dtype=float)
    for idx in np.array_split(np.arange(len(x)), 3):
        if t.log_space:
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                off = float(np.median(np.log(y[idx] / line[idx])))
            if not abs(off) <= np.log(third_tolerance):
                return False
        elif not abs(float(np.median(y[idx] - line[idx]))) <= (third_tolerance - 1) * scale:
            return False
    return True
