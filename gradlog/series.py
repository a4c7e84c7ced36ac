"""Small, shared computations on one series: LR phases and TensorBoard's smoothing.

Used by analyzers and plots alike (one implementation of each)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["LRPhase", "lr_phases", "lr_decays", "ema_debiased"]


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
