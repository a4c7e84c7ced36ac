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


def lr_phases(lr: pd.Series, *, min_ratio: float = 1.5) -> list[LRPhase]:
    """Split an LR series into phases at its discrete drops (or rises).

    A new phase starts where the LR differs from the current phase's first LR by more
    than ``min_ratio`` (a step schedule gives one phase per step; a smooth poly/cosine
    schedule gives a phase each time the LR has moved by that factor).

    Returns
    -------
    list of LRPhase, in step order (empty when the series has no positive finite value).
    """
    s = lr[np.isfinite(lr.to_numpy()) & (lr.to_numpy() > 0)]
    if s.empty:
        return []
    steps = s.index.to_numpy()
    vals = s.to_numpy()
    phases: list[LRPhase] = []
    start_i = 0
    ref = vals[0]
    for i in range(1, len(vals)):
        r = vals[i] / ref
        if r > min_ratio or r < 1.0 / min_ratio:
            phases.append(
                LRPhase(
                    len(phases), int(steps[start_i]), int(steps[i - 1]), float(np.median(vals[start_i:i]))
                )
            )
            start_i = i
            ref = vals[i]
    phases.append(LRPhase(len(phases), int(steps[start_i]), int(steps[-1]), float(np.median(vals[start_i:]))))
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
