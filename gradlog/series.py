"""Small, shared computations on one series: LR phases, the LR schedule's kind and
landmarks, and TensorBoard's smoothing.

Used by analyzers, plots and reports alike (one implementation of each)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LRPhase",
    "lr_phases",
    "lr_decays",
    "ema_debiased",
    "LRLandmark",
    "LRSegment",
    "LRSchedule",
    "lr_schedule",
    "SCHEDULE_KINDS",
]


@dataclass(frozen=True)
class LRPhase:
    """A step range over which the learning rate stayed within a factor of itself.

    ``lr`` is the median LR of the phase; ``start``/``end`` are the first and last
    logged LR steps of the phase (``end`` of the last phase is its last logged step).
    """

    index: int
    start: int
    end: int
    lr: float


def lr_phases(lr: pd.Series, *, min_ratio: float = 1.5, flat_tol: float = 0.02) -> list[LRPhase]:
    """Split an LR series into phases at its discrete jumps (a step schedule's decays).

    A phase boundary is a jump between two logged points by more than ``min_ratio``
    (either way) where the LR is flat on both sides of it (the neighbouring logged
    changes within ``flat_tol``): what a step, multistep or plateau schedule does. A
    continuous schedule (linear, poly, cosine, exponential) changes a little at every
    point and has no such jump, so it stays one phase (its ``lr`` the median), instead of
    being cut into invented "decays" each time it has moved by ``min_ratio``. A leading
    warm-up ramp (the LR climbing by more than ``min_ratio`` to its peak) is a phase of its
    own, ending where the peak is reached.

    Returns
    -------
    list of LRPhase, in step order (empty when the series has no positive finite value).
    """
    s = lr[np.isfinite(lr.to_numpy()) & (lr.to_numpy() > 0)]
    if s.empty:
        return []
    steps = s.index.to_numpy()
    vals = s.to_numpy(dtype=float)
    n = len(vals)
    with np.errstate(over="ignore"):  # 1e300 / 1e-10 is inf: a jump all the same
        ratio = vals[1:] / vals[:-1]  # ratio[i-1]: the change from point i-1 to point i
    jump = (ratio > min_ratio) | (ratio < 1.0 / min_ratio)
    small = np.abs(ratio - 1.0) <= flat_tol
    cuts: list[int] = []
    for i in np.flatnonzero(jump) + 1:
        before_flat = i < 2 or bool(small[i - 2])
        after_flat = i > n - 2 or bool(small[i])
        if before_flat and after_flat:
            cuts.append(int(i))
    # a warm-up: the LR climbs from well below its peak to the peak, then the schedule
    # proper starts there (constant, stepped or decaying): the warm-up is a phase of its own
    peak = float(vals.max())
    top = int(np.argmax(vals >= (1.0 - flat_tol) * peak))
    if (
        vals[0] * min_ratio < peak
        and top > 1
        and bool(np.all(ratio[:top] >= 1.0 - flat_tol))
        and (not cuts or top < cuts[0])
    ):
        cuts.insert(0, top)
    phases: list[LRPhase] = []
    bounds = [0, *cuts, n]
    for a, b in zip(bounds, bounds[1:], strict=False):
        phases.append(LRPhase(len(phases), int(steps[a]), int(steps[b - 1]), float(np.median(vals[a:b]))))
    return phases


def lr_decays(lr: pd.Series, *, min_ratio: float = 1.5) -> list[int]:
    """Return the steps at which a new, lower LR phase begins (the decay steps)."""
    ph = lr_phases(lr, min_ratio=min_ratio)
    return [b.start for a, b in zip(ph, ph[1:], strict=False) if b.lr < a.lr]


def ema_debiased(values: np.ndarray | pd.Series, weight: float = 0.6) -> np.ndarray:
    """Return TensorBoard's debiased exponential moving average of ``values``.

    The same smoothing TensorBoard's scalar dashboard applies with its slider at
    ``weight`` (default 0.6): ``last = last * w + (1 - w) * v``, divided by
    ``1 - w ** n`` for the n finite points seen so far; non-finite values are passed
    through and do not update the average.
    """
    from scipy.signal import lfilter

    v = np.asarray(values, dtype=float)
    out = v.copy()
    fin = np.isfinite(v)
    x = v[fin]
    if x.size:
        last = lfilter([1.0 - weight], [1.0, -weight], x)
        out[fin] = last / (1.0 - weight ** np.arange(1, x.size + 1)) if weight > 0 else last
    return out


# -- the LR schedule: its kind and landmarks ----------------------------------------------

#: What :func:`lr_schedule` calls a schedule (``LRSchedule.kind``): the shape after any
#: warm-up. ``step`` is piecewise constant (step, multistep, plateau); ``linear``,
#: ``poly``, ``cosine``, ``exponential`` and ``inverse`` (Caffe's ``inv``,
#: inverse-square-root) are continuous decays; ``rising`` climbs to the end of the log;
#: ``other`` changes continuously in no shape of these (cyclic, restarts, noisy).
SCHEDULE_KINDS = ("constant", "step", "linear", "poly", "cosine", "exponential", "inverse", "rising", "other")

#: The kinds that change a little at every logged point (no phases of a constant LR).
CONTINUOUS_KINDS = frozenset({"linear", "poly", "cosine", "exponential", "inverse", "other"})

#: Relative change between two logged LRs that still counts as "the same LR"
#: (float32 storage, six printed digits).
_SAME = 1e-3
#: A decay model fits when its RMS error is at most this fraction of the LR at the
#: decay start; a more complex model must beat a simpler one by ``_BETTER`` x.
_FIT_OK = 0.02
_BETTER = 2.0
#: Below this RMS error (a fraction of the start LR) two fits are equally exact: the
#: printed digits of a logged LR cannot tell them apart.
_EXACT = 2e-4
#: At most this many points are fitted (evenly thinned by index).
_FIT_POINTS = 400
#: At most this many distinct levels make a piecewise-constant schedule a ``step`` one;
#: more (a per-epoch staircase) is fitted as the continuous decay it follows.
_MAX_LEVELS = 12
#: A warm-up multiplies the LR by more than this on its way to the peak.
_WARMUP_RISE = 1.2
#: A step schedule's levels differ by at least this factor (smaller moves are a slow
#: continuous decay logged at a few points).
_MIN_STEP = 1.1


@dataclass(frozen=True)
class LRLandmark:
    """A step where the LR schedule changes character.

    ``name`` is ``warmup_end`` (the warm-up reached its peak: the LR from here on is the
    schedule proper), ``decay_start`` (the LR starts to fall after staying constant),
    ``decay`` (a step schedule's jump down) or ``increase`` (a jump up); ``step`` is the
    first logged step of what follows the landmark (for ``warmup_end``: the step at which
    the peak was first logged), ``lr`` the LR there.
    """

    name: str
    step: int
    lr: float


@dataclass(frozen=True)
class LRSegment:
    """The stretch of a schedule between two landmarks.

    ``name`` is ``warm-up``, ``constant``, ``decay`` (a continuous decay), ``rise`` or
    ``phase k`` (level k of a step schedule, from 0); ``start``/``end`` are its first and
    last logged steps; ``lr_start``/``lr_end`` the LR there.
    """

    name: str
    start: int
    end: int
    lr_start: float
    lr_end: float


@dataclass(frozen=True)
class LRSchedule:
    """What the learning rate of a run did, named: its kind, warm-up and landmarks.

    Attributes
    ----------
    kind : one of :data:`SCHEDULE_KINDS` (the shape after any warm-up).
    warmup : ``"linear"`` (a straight ramp), ``"other"`` (another rising ramp), or None.
    first_step, last_step : the first and last logged LR steps.
    start_lr, peak_lr, end_lr : the first, largest and last logged LR.
    landmarks : where the schedule changes character, in step order.
    segments : the stretches between the landmarks, in step order (one for a constant
        LR); their trends are the ones to compare.
    params : the fitted decay's numbers: ``floor`` (LR the decay tends to), ``end_step``
        (step at which it reaches the floor, extrapolated past the log when the log
        stops earlier), ``power`` (poly, inverse), ``half_life`` (exponential, in steps);
        ``factor`` (a step schedule's median ratio between successive levels).
    fit_error : RMS error of the decay fit as a fraction of the LR at the decay start
        (None when nothing was fitted).
    points : the number of logged LR values read.
    interval : the median spacing of their steps (1: the LR of every step is logged).
    """

    kind: str
    warmup: str | None
    first_step: int
    last_step: int
    start_lr: float
    peak_lr: float
    end_lr: float
    landmarks: tuple[LRLandmark, ...] = ()
    segments: tuple[LRSegment, ...] = ()
    params: dict[str, float] = field(default_factory=dict)
    fit_error: float | None = None
    points: int = 0
    interval: int = 0

    @property
    def continuous(self) -> bool:
        """True when the LR changes at (almost) every logged point after any warm-up."""
        return self.kind in CONTINUOUS_KINDS

    def landmark(self, name: str) -> LRLandmark | None:
        """Return the first landmark called ``name`` (None when there is none)."""
        return next((m for m in self.landmarks if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the schedule as plain JSON-ready data (lists and dicts)."""
        return {
            "kind": self.kind,
            "warmup": self.warmup,
            "continuous": self.continuous,
            "first_step": self.first_step,
            "last_step": self.last_step,
            "start_lr": self.start_lr,
            "peak_lr": self.peak_lr,
            "end_lr": self.end_lr,
            "landmarks": [asdict(m) for m in self.landmarks],
            "segments": [asdict(s) for s in self.segments],
            "params": dict(self.params),
            "fit_error": self.fit_error,
            "points": self.points,
            "interval": self.interval,
        }


def lr_schedule(lr: pd.Series) -> LRSchedule | None:
    """Name the schedule an LR series follows, with its landmarks.

    The series is read as: an optional warm-up (the LR climbs by more than 1.5x to its
    peak, never falling on the way), then the schedule proper: ``constant``; ``step``
    (piecewise constant, at most 12 levels); or a continuous decay after an optional
    constant stretch, classified by the model that fits it best (``linear``, ``poly``,
    ``cosine``, ``exponential``, ``inverse``; a model with more parameters must fit at
    least twice as well), ``other`` when none fits within 2% of the LR at the decay
    start, or when the LR rises again after falling. ``rising`` when the LR climbs to the
    end of the log.

    Parameters
    ----------
    lr : the LR indexed by step (NaN/inf ignored; zeros kept for the end value).

    Returns
    -------
    LRSchedule, or None when the series has no positive finite value.
    """
    with np.errstate(all="ignore"):  # LRs near the float limits: inf/0 ratios are handled
        return _lr_schedule(lr)


def _lr_schedule(lr: pd.Series) -> LRSchedule | None:
    v = lr.to_numpy(dtype=float)
    keep = np.isfinite(v) & (v >= 0)
    steps = lr.index.to_numpy()[keep].astype(np.int64)
    vals = v[keep]
    if not (vals > 0).any():
        return None
    peak = float(vals.max())
    base: dict[str, Any] = {
        "first_step": int(steps[0]),
        "last_step": int(steps[-1]),
        "start_lr": float(vals[0]),
        "peak_lr": peak,
        "end_lr": float(vals[-1]),
        "points": len(vals),
        "interval": int(np.median(np.diff(steps))) if len(steps) > 1 else 0,
    }
    top, moves = _warmup_end(vals)
    if 0 < moves < 3 and _levels(vals[top:]) is not None:
        top = 0  # a jump or two up, then flat levels: a step schedule, not a warm-up ramp
    warm = _warmup_shape(steps[: top + 1], vals[: top + 1]) if top else None
    marks: list[LRLandmark] = []
    segs: list[LRSegment] = []
    if top:
        marks.append(LRLandmark("warmup_end", int(steps[top]), float(vals[top])))
        segs.append(_segment("warm-up", steps, vals, 0, top))
    rest_s, rest_v = steps[top:], vals[top:]
    if top and top == len(vals) - 1:
        return LRSchedule("rising", None, segments=(replace(segs[0], name="rise"),), **base)
    if np.max(rest_v) <= (1 + _SAME) * max(np.min(rest_v), 1e-300):
        segs.append(_segment("constant", rest_s, rest_v, 0, len(rest_v) - 1))
        return LRSchedule("constant", warm, landmarks=tuple(marks), segments=tuple(segs), **base)
    levels = _levels(rest_v)
    if levels is not None:
        return _step_schedule(rest_s, rest_v, levels, warm, marks, segs, base)
    return _decay_schedule(rest_s, rest_v, warm, marks, segs, base)


def _segment(name: str, steps: np.ndarray, vals: np.ndarray, a: int, b: int) -> LRSegment:
    return LRSegment(name, int(steps[a]), int(steps[b]), float(vals[a]), float(vals[b]))


def _warmup_end(vals: np.ndarray) -> tuple[int, int]:
    """Where a leading warm-up reaches the peak LR: (index of the peak, number of rising
    moves on the way); (0, 0) when the LR does not start with a warm-up.

    A warm-up climbs by more than :data:`_WARMUP_RISE` to the peak and never falls on the
    way."""
    peak = float(vals.max())
    top = int(np.argmax(vals >= (1.0 - _SAME) * peak))
    if top < 1 or vals[0] * _WARMUP_RISE >= peak:
        return 0, 0
    d = np.diff(vals[: top + 1])
    if (d < -_SAME * peak).any():
        return 0, 0
    return top, int((d > _SAME * peak).sum())


def _warmup_shape(steps: np.ndarray, vals: np.ndarray) -> str:
    """``linear`` when a straight line through the ramp misses no point by more than 2% of
    its peak (RMS), else ``other``."""
    x = steps.astype(float)
    if len(x) < 3:
        return "linear"
    coef = np.polyfit(x - x[0], vals, 1)
    err = float(np.sqrt(np.mean((np.polyval(coef, x - x[0]) - vals) ** 2)) / vals.max())
    return "linear" if err <= _FIT_OK else "other"


def _levels(vals: np.ndarray) -> list[tuple[int, int]] | None:
    """The index ranges of a piecewise-constant series' levels, or None when it is not one
    with at most :data:`_MAX_LEVELS` levels (a continuous schedule, or a staircase of many
    small steps that is read as the decay it follows).

    A point starts a new level when it differs from the first point of the current level
    by more than :data:`_SAME` (so a slow continuous decay, logged at every step, is not
    mistaken for a flat one); the LR must stay flat over at least two thirds of its moves
    and the levels differ by at least :data:`_MIN_STEP`."""
    starts = [0]
    i, n = 0, len(vals)
    while True:
        ref = float(vals[i])
        moved = np.abs(vals[i + 1 :] - ref) > _SAME * max(ref, 1e-300)
        if not moved.any():
            break
        i = i + 1 + int(np.argmax(moved))
        starts.append(i)
        if len(starts) > _MAX_LEVELS:
            return None
    if len(starts) - 1 > n / 3:
        return None
    lv = vals[starts]
    if ((np.maximum(lv[1:], lv[:-1]) / np.maximum(np.minimum(lv[1:], lv[:-1]), 1e-300)) < _MIN_STEP).any():
        return None
    bounds = [*starts, n]
    return [(a, b - 1) for a, b in zip(bounds, bounds[1:], strict=False)]


def _step_schedule(
    steps: np.ndarray,
    vals: np.ndarray,
    levels: list[tuple[int, int]],
    warm: str | None,
    marks: list[LRLandmark],
    segs: list[LRSegment],
    base: dict[str, Any],
) -> LRSchedule:
    """A piecewise-constant schedule: one ``phase k`` segment per level, a ``decay`` (or
    ``increase``) landmark at the first step of every level after the first."""
    lv = [float(np.median(vals[a : b + 1])) for a, b in levels]
    for k, (a, b) in enumerate(levels):
        segs.append(LRSegment(f"phase {k}", int(steps[a]), int(steps[b]), lv[k], lv[k]))
        if k:
            marks.append(LRLandmark("decay" if lv[k] < lv[k - 1] else "increase", int(steps[a]), lv[k]))
    ratios = [b / a for a, b in zip(lv, lv[1:], strict=False) if a > 0]
    params = {"factor": float(np.median(ratios))} if ratios else {}
    return LRSchedule("step", warm, landmarks=tuple(marks), segments=tuple(segs), params=params, **base)


def _decay_schedule(
    steps: np.ndarray,
    vals: np.ndarray,
    warm: str | None,
    marks: list[LRLandmark],
    segs: list[LRSegment],
    base: dict[str, Any],
) -> LRSchedule:
    """A continuous schedule: an optional constant stretch, then a decay whose shape is the
    model that fits it best (``other`` when none fits, or when the LR rises again)."""
    n = len(vals)
    moved = np.flatnonzero(np.abs(vals - vals[0]) > _SAME * vals[0])
    hold = int(moved[0]) - 1 if moved.size else n - 1
    span = float(steps[-1] - steps[0])
    kind, params, err = _fit_decay(steps, vals)
    if hold >= 2 and steps[hold] - steps[0] >= 0.05 * span:
        k2, p2, e2 = _fit_decay(steps[hold:], vals[hold:])
        if e2 is not None and (err is None or kind == "other" or e2 * _BETTER <= max(err, _EXACT)):
            kind, params, err = k2, p2, e2
            marks.append(LRLandmark("decay_start", int(steps[hold]), float(vals[hold])))
            segs.append(_segment("constant", steps, vals, 0, hold))
            segs.append(_segment("decay", steps, vals, hold, n - 1))
            return LRSchedule(
                kind, warm, landmarks=tuple(marks), segments=tuple(segs), params=params, fit_error=err, **base
            )
    segs.append(_segment("decay", steps, vals, 0, n - 1))
    return LRSchedule(
        kind, warm, landmarks=tuple(marks), segments=tuple(segs), params=params, fit_error=err, **base
    )


# the decay models, on x in [0, 1] (steps since the decay start / its span) and y = LR / LR
# at the decay start; each returns (RMS error, params in those units) or None


def _rms(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def _fit_linear(x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, float]] | None:
    b, a = np.polyfit(x, y, 1)
    if b >= 0:
        return None
    return _rms(a + b * x, y), {"zero_x": -a / b}


def _fit_exponential(x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, float]] | None:
    if (y <= 0).any():
        return None
    b, a = np.polyfit(x, np.log(y), 1)
    if b >= 0:
        return None
    return _rms(np.exp(a + b * x), y), {"half_x": math.log(2.0) / -b}


def _shape_fit(k: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares of ``y = c * k + m * (1 - k)``: (error, c, m)."""
    A = np.column_stack([k, 1.0 - k])
    (c, m), *_ = np.linalg.lstsq(A, y, rcond=None)
    return _rms(A @ np.array([c, m]), y), float(c), float(m)


def _best_horizon(x: np.ndarray, y: np.ndarray, shape: Any) -> tuple[float, float, float, float]:
    """The horizon L >= 1 (where the decay reaches its floor, in units of the logged span)
    that fits ``shape(x / L)`` best: (error, L, c, m)."""
    from scipy.optimize import minimize_scalar

    def err(logl: float) -> float:
        return _shape_fit(shape(x / math.exp(logl)), y)[0]

    res = minimize_scalar(err, bounds=(0.0, math.log(50.0)), method="bounded", options={"xatol": 1e-4})
    # the log often ends exactly at the floor (L = 1), the bound the search only nears
    logl = 0.0 if err(0.0) <= float(res.fun) else float(res.x)
    e, c, m = _shape_fit(shape(x / math.exp(logl)), y)
    return e, math.exp(logl), c, m


def _cosine(u: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.cos(np.pi * np.clip(u, 0.0, 1.0)))


def _fit_cosine(x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, float]] | None:
    e, L, c, m = _best_horizon(x, y, _cosine)
    return e, {"horizon": L, "floor": m}


def _fit_poly(x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, float]] | None:
    from scipy.optimize import minimize_scalar

    def at(logp: float) -> tuple[float, float, float, float]:
        p = math.exp(logp)
        return _best_horizon(x, y, lambda u: np.clip(1.0 - u, 0.0, 1.0) ** p)

    grid = np.log(np.geomspace(0.2, 8.0, 24))
    errs = [at(g)[0] for g in grid]
    i = int(np.argmin(errs))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = minimize_scalar(lambda g: at(g)[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    logp = float(res.x) if float(res.fun) < errs[i] else float(grid[i])
    e, L, c, m = at(logp)
    return e, {"power": math.exp(logp), "horizon": L, "floor": m}


def _fit_inverse(x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, float]] | None:
    """``y = c (1 + g x) ** -p`` (Caffe's ``inv``; inverse square root for p = 0.5)."""
    from scipy.optimize import minimize_scalar

    def at(logg: float) -> tuple[float, float]:
        base = 1.0 + math.exp(logg) * x

        def err(logp: float) -> float:
            k = base ** -math.exp(logp)
            c = float(k @ y / (k @ k))
            return _rms(c * k, y)

        r = minimize_scalar(err, bounds=(math.log(0.05), math.log(5.0)), method="bounded")
        return float(r.fun), math.exp(float(r.x))

    grid = np.log(np.geomspace(0.01, 1000.0, 16))
    fits = [at(g) for g in grid]
    i = int(np.argmin([f[0] for f in fits]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = minimize_scalar(lambda g: at(g)[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    logg = float(res.x) if float(res.fun) < fits[i][0] else float(grid[i])
    e, p = at(logg)
    return e, {"g": math.exp(logg), "power": p}


#: The decay models, simplest first, with their number of free parameters.
_MODELS: tuple[tuple[str, int, Any], ...] = (
    ("linear", 2, _fit_linear),
    ("exponential", 2, _fit_exponential),
    ("cosine", 3, _fit_cosine),
    ("inverse", 3, _fit_inverse),
    ("poly", 4, _fit_poly),
)


def _fit_decay(steps: np.ndarray, vals: np.ndarray) -> tuple[str, dict[str, float], float | None]:
    """Classify a decay: (kind, params in steps and LR units, RMS error / start LR)."""
    if len(vals) < 4 or vals[0] <= 0:
        return "other", {}, None
    running_min = np.minimum.accumulate(vals)
    if (vals > 1.5 * running_min).any():  # it rises again: cyclic, restarts
        return "other", {}, None
    idx = np.unique(np.linspace(0, len(vals) - 1, min(len(vals), _FIT_POINTS)).astype(int))
    t0, span = float(steps[0]), float(steps[-1] - steps[0])
    x = (steps[idx].astype(float) - t0) / span
    y = vals[idx] / vals[0]
    fits = [(name, npar, fn(x, y)) for name, npar, fn in _MODELS]
    ok = [(name, npar, f) for name, npar, f in fits if f is not None]
    if not ok:
        return "other", {}, None
    best = min(f[0] for _n, _k, f in ok)
    if best > _FIT_OK:
        return "other", {}, best
    name, _npar, (err, p) = next(
        (n, k, f)
        for n, k, f in sorted(ok, key=lambda r: (r[1], r[2][0]))
        if f[0] <= max(best * _BETTER, _EXACT)
    )
    return name, _decay_params(name, p, t0, span, float(vals[0])), err


def _decay_params(name: str, p: dict[str, float], t0: float, span: float, lr0: float) -> dict[str, float]:
    """The fitted numbers in steps and LR units (see :class:`LRSchedule`)."""
    if name == "linear":
        out = {"floor": 0.0, "end_step": t0 + p["zero_x"] * span}
    elif name == "exponential":
        out = {"floor": 0.0, "half_life": p["half_x"] * span}
    elif name == "inverse":
        out = {"floor": 0.0, "gamma": p["g"] / span, "power": p["power"]}
    else:
        out = {"floor": max(p["floor"], 0.0) * lr0, "end_step": t0 + p["horizon"] * span}
        if name == "poly":
            out["power"] = p["power"]
    return {k: float(v) for k, v in out.items()}
