"""Shared, cached access to a run's series for the detectors.

Several detectors read the same loss, LR phases and fits; each is computed once per
(run, config) and kept in a weak cache keyed on the Run, so calling the plain detector
functions one by one costs no more than :func:`gradlog.analyzers.run_analysis`.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.stats import pow10
from gradlog.errors import NotAssessable
from gradlog.run import Run
from gradlog.series import LRPhase, LRSchedule, lr_phases, lr_schedule

__all__ = [
    "NotAssessable",
    "SeriesData",
    "cached",
    "clear_cache",
    "series_data",
    "loss_data",
    "phases",
    "phase_windows",
    "lr_at",
    "hparam",
    "momentum",
    "batch_size",
    "is_adaptive_optimizer",
    "clipping",
    "total_grad_tag",
    "require_loss",
    "require_role",
    "statistic_name",
]

T = TypeVar("T")

_CACHE: weakref.WeakKeyDictionary[Run, dict[Hashable, Any]] = weakref.WeakKeyDictionary()
_ADAPTIVE_RE = re.compile(r"adam|rmsprop|adagrad|adadelta|lamb|lion|adafactor|nadam", re.I)


def cached(run: Run, key: Hashable, fn: Callable[[], T]) -> T:
    """Return ``fn()`` computed once per ``(run, key)``."""
    store = _CACHE.setdefault(run, {})
    if key not in store:
        store[key] = fn()
    return store[key]


def clear_cache(run: Run) -> None:
    """Drop everything cached for ``run`` (the arrays are copies of its series)."""
    _CACHE.pop(run, None)


@dataclass(frozen=True)
class SeriesData:
    """One series as arrays.

    Attributes
    ----------
    tag : the tag.
    steps, values : every logged point (NaN/inf kept).
    fsteps, fvalues : the finite points only.
    interval : the median spacing of logged steps (1 = every iteration logged).
    positive : True when every finite value is > 0 (the series is analysed in log10).
    y : the finite values in analysis space (log10 when positive).
    """

    tag: str
    steps: np.ndarray
    values: np.ndarray
    fsteps: np.ndarray
    fvalues: np.ndarray
    interval: int
    positive: bool
    y: np.ndarray

    @property
    def n(self) -> int:
        """Return the number of finite points."""
        return int(self.fvalues.size)

    def to_value(self, y: float) -> float:
        """Map an analysis-space number back to the series' units."""
        return pow10(y) if self.positive else float(y)

    def window(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(steps, y)`` of the finite points with ``start <= step <= end``."""
        i0 = _search(self.fsteps, start, "left")
        i1 = _search(self.fsteps, end, "right")
        return self.fsteps[i0:i1], self.y[i0:i1]


def _search(steps: np.ndarray, at: float, side: Literal["left", "right"]) -> int:
    """``np.searchsorted(steps, at, side)`` for integer ``steps`` and a float bound, without
    numpy casting the whole array to float on every call (O(log n), not O(n))."""
    if math.isinf(at):
        return 0 if at < 0 else len(steps)
    if steps.dtype.kind in "iu" and math.isfinite(at):
        b = math.ceil(at) if side == "left" else math.floor(at)
        if abs(b) < 2**62:
            return int(np.searchsorted(steps, np.int64(b), side=side))
    return int(np.searchsorted(steps, at, side=side))


def series_data(run: Run, tag: str) -> SeriesData:
    """Return the cached :class:`SeriesData` of ``tag``.

    Raises
    ------
    KeyError
        If the run has no such tag.
    """

    def make() -> SeriesData:
        s = run.series(tag)
        steps = np.asarray(s.index.to_numpy(), dtype=np.int64)
        values = np.asarray(s.to_numpy(), dtype=float)
        # views of the run's frame where no copy was needed: never written through
        steps, values = steps.view(), values.view()
        steps.flags.writeable = False
        values.flags.writeable = False
        fin = np.isfinite(values)
        if fin.all():
            fs, fv = steps, values
        else:
            fs, fv = steps[fin], values[fin]
        interval = 1
        if len(fs) > 1:
            gaps = np.diff(fs)
            lo, hi = int(gaps.min()), int(gaps.max())
            # a regular log (the common case) needs no median
            interval = lo if lo == hi else int(np.median(gaps))
        positive = bool(fv.size) and bool(np.all(fv > 0))
        y = np.log10(fv) if positive else fv
        return SeriesData(tag, steps, values, fs, fv, max(1, interval), positive, y)

    return cached(run, ("series", tag), make)


def loss_data(run: Run) -> SeriesData | None:
    """Return the training loss (role ``loss``) or None when the run has none."""
    tag = run.roles.get("loss")
    if not tag or tag not in run:
        return None
    return series_data(run, tag)


def phases(run: Run) -> list[LRPhase]:
    """Return the run's LR phases (:func:`gradlog.series.lr_phases`; empty without an LR)."""
    tag = run.roles.get("lr")
    if not tag or tag not in run:
        return []
    return cached(run, ("phases",), lambda: lr_phases(run.series(tag)))


def schedule(run: Run) -> LRSchedule | None:
    """Return the run's named LR schedule (:func:`gradlog.series.lr_schedule`, cached;
    None without an LR)."""
    tag = run.roles.get("lr")
    if not tag or tag not in run:
        return None
    return cached(run, ("schedule",), lambda: lr_schedule(run.series(tag)))


def phase_windows(run: Run) -> list[tuple[LRPhase, float, float | None]]:
    """Return ``(phase, start, end)`` per LR phase, where the window runs from the phase's
    first step to the step before the next phase (``None``: to the end of the run)."""
    ph = phases(run)
    out: list[tuple[LRPhase, float, float | None]] = []
    for p in ph:
        end = float(ph[p.index + 1].start - 1) if p.index + 1 < len(ph) else None
        start = float(p.start) if p.index > 0 else -math.inf
        out.append((p, start, end))
    return out


def lr_at(run: Run, step: float) -> float:
    """Return the LR in effect at ``step`` (the last logged LR at or before it; NaN without one)."""
    tag = run.roles.get("lr")
    if not tag or tag not in run:
        return math.nan
    d = series_data(run, tag)
    if d.n == 0:
        return math.nan
    i = int(np.searchsorted(d.fsteps, step, side="right")) - 1
    return float(d.fvalues[max(i, 0)])


def hparam(run: Run, *names: str) -> Any:
    """Return the first hyperparameter of ``names`` found in ``run.meta["hparams"]`` (or None)."""
    hp = run.meta.get("hparams") or {}
    lower = {str(k).lower(): v for k, v in hp.items()}
    for name in names:
        if name.lower() in lower and lower[name.lower()] is not None:
            return lower[name.lower()]
    return None


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def momentum(run: Run) -> float | None:
    """Return the SGD momentum from the hyperparameters (None when unknown or out of [0, 1))."""
    m = _number(hparam(run, "momentum", "sgd_momentum"))
    return m if m is not None and 0.0 <= m < 1.0 else None


def batch_size(run: Run) -> int | None:
    """Return the training batch size from the hyperparameters (None when unknown)."""
    b = _number(hparam(run, "batch_size", "train_batch_size", "per_device_train_batch_size", "batch", "bs"))
    return int(b) if b is not None and b >= 1 else None


def is_adaptive_optimizer(run: Run) -> bool:
    """Return True when the hyperparameters name an adaptive optimizer (Adam, RMSprop ...)."""
    opt = hparam(run, "optimizer", "optim", "solver_type", "type")
    return bool(opt) and bool(_ADAPTIVE_RE.search(str(opt)))


def total_grad_tag(run: Run) -> str | None:
    """Return the gradient 2-norm to compare with the loss: the ``grad_total`` role when it
    is an L2 norm, else the first per-layer ``grad_norm/...`` tag, else None (Caffe's
    mean-absolute statistics are not 2-norms)."""
    tag = run.roles.get("grad_total")
    if tag and tag in run and str(tag).startswith("grad_norm/"):
        return str(tag)
    for t in run.roles.get("grad") or []:
        if t in run and str(t).startswith("grad_norm/"):
            return str(t)
    return None


def clipping(run: Run, config: AnalysisConfig = DEFAULT_CONFIG) -> dict[str, Any] | None:
    """Return how the log shows gradient clipping, or None when it does not.

    Two sources: Caffe's ``Gradient clipping: scaling down gradients (L2 norm X > C)``
    lines (``meta["clipping"]``: ``threshold`` and ``count``), and a flat ceiling in the
    logged total gradient norm (at least ``config.clip_ceiling_share`` of its values
    within ``config.clip_rel_tol`` of its maximum: a norm pinned at the clip value).

    Returns
    -------
    dict with ``threshold`` (or None), ``share`` (of logged steps clipped, or None) and
    ``source`` (``"log"`` or ``"ceiling"``), or None.
    """

    def make() -> dict[str, Any] | None:
        meta = run.meta.get("clipping")
        if isinstance(meta, dict) and (meta.get("count") or 0) > 0:
            loss = run.roles.get("loss")
            n = series_data(run, str(loss)).n if loss and loss in run else 0
            share = min(1.0, float(meta["count"]) / n) if n else None
            return {"threshold": _number(meta.get("threshold")), "share": share, "source": "log"}
        tag = run.roles.get("grad_total")
        if not tag or tag not in run:
            return None
        g = series_data(run, str(tag)).fvalues
        if g.size < config.clip_min_points:
            return None
        top = float(np.max(g))
        if not (math.isfinite(top) and top > 0):
            return None
        share = float(np.mean(g >= top * (1.0 - config.clip_rel_tol)))
        if share < config.clip_ceiling_share or share > config.clip_max_share:
            return None  # no ceiling, or a constant series (a dead net, a placeholder)
        return {"threshold": top, "share": share, "source": "ceiling"}

    return cached(run, ("clipping", config), make)


def _tag_list(run: Run, limit: int = 30) -> str:
    tags = run.tags
    shown = ", ".join(tags[:limit])
    if len(tags) > limit:
        shown += f" ... ({len(tags) - limit} more)"
    return shown or "(none)"


def require_loss(run: Run, finding_id: str, min_points: int = 1) -> SeriesData:
    """Return the loss data, or raise NotAssessable naming the run's tags.

    Raises
    ------
    NotAssessable
        When the run has no training loss, or fewer than ``min_points`` finite points.
    """
    d = loss_data(run)
    if d is None:
        raise NotAssessable(
            finding_id,
            f"no training-loss series in the log (tags: {_tag_list(run)}); name one with --role loss=TAG",
        )
    if d.n < min_points:
        raise NotAssessable(
            finding_id, f"the loss {d.tag} has {d.n} finite points (at least {min_points} needed)"
        )
    return d


_ROLE_WORDS = {
    "lr": "learning-rate",
    "val_loss": "validation-loss",
    "val_metric": "validation-metric",
    "grad_total": "total gradient-norm",
}


def require_role(run: Run, role: str, finding_id: str) -> SeriesData:
    """Return the data of the tag playing ``role``, or raise NotAssessable.

    Raises
    ------
    NotAssessable
        When the run has no series in that role.
    """
    tag = run.roles.get(role)
    if not tag or tag not in run:
        raise NotAssessable(finding_id, f"no {_ROLE_WORDS.get(role, role)} series in the log")
    return series_data(run, tag)


def statistic_name(tag: str) -> str:
    """Return what a gradient tag measures, in words."""
    if tag.startswith("grad_absmean/"):
        return "mean |gradient|"
    if tag.startswith("grad_norm/") or tag.endswith("/l2"):
        return "gradient 2-norm"
    return "gradient statistic"
