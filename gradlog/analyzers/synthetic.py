"""Seeded synthetic training runs with known behaviour, for tests and examples.

Every curve is built from explicit components, so a test knows the truth:

- the loss relaxes from ``start_loss`` towards a floor ``floor + floor_per_lr * lr`` (a
  floor the LR sets: it drops when the LR decays, over ``relax`` steps);
- minibatch noise multiplies the loss by ``exp(N(0, noise))`` independently per
  iteration (it does not depend on the LR);
- a step-size bounce multiplies it by ``1 + alternation * (lr / lr0) * (-1)^step``
  (period 2 in iterations, amplitude proportional to the LR);
- only every ``interval``-th iteration is logged (so a bounce aliases when the
  interval is even, as in real display intervals);
- optional validation loss, per-layer gradient norms, a divergence, spikes.

>>> from gradlog.analyzers.synthetic import synthetic_run
>>> run = synthetic_run(seed=1, steps=4000, alternation=0.3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradlog.frame import build_frame
from gradlog.run import Run

__all__ = ["make_run", "synthetic_run"]


def make_run(
    series: Mapping[str, tuple[Sequence[int] | np.ndarray, Sequence[float] | np.ndarray]],
    meta: Mapping[str, Any] | None = None,
    *,
    name: str = "synthetic",
) -> Run:
    """Return a Run from ``{tag: (steps, values)}``."""
    tags: list[str] = []
    steps: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for tag, (st_in, va) in series.items():
        st = np.asarray(st_in, dtype=np.int64)
        tags.extend([tag] * len(st))
        steps.append(st)
        values.append(np.asarray(va, dtype=float))
    frame, _ = build_frame(
        np.array(tags, dtype=object),
        np.concatenate(steps) if steps else np.array([], dtype=np.int64),
        np.concatenate(values) if values else np.array([], dtype=float),
    )
    m = {"format": "synthetic", "name": name, "step_unit": "iteration", **dict(meta or {})}
    return Run(frame, m, name=name)


def synthetic_run(
    *,
    seed: int = 0,
    steps: int = 5000,
    interval: int = 1,
    lr: float = 0.1,
    decays: Sequence[int] = (),
    decay_factor: float = 0.1,
    start_loss: float = 2.3,
    floor: float = 0.3,
    floor_per_lr: float = 0.0,
    tau: float = 400.0,
    relax: float = 50.0,
    noise: float = 0.05,
    alternation: float = 0.0,
    val_every: int | None = None,
    val_jitter: float = 0.0,
    val_jitter_lr_scaled: bool = True,
    overfit_from: int | None = None,
    overfit_rate: float = 0.0,
    grad_layers: Sequence[str] = (),
    grad_levels: Sequence[float] | None = None,
    grad_growth: float = 0.0,
    grad_noise: float = 0.1,
    grad_total: bool = False,
    grad_follow_alternation: bool = True,
    divergence_at: int | None = None,
    divergence_tau: float = 40.0,
    spikes: Sequence[int] = (),
    spike_factor: float = 4.0,
    momentum: float | None = None,
    batch_size: int | None = None,
    lr_logged: bool = True,
    loss_tag: str = "train/loss",
) -> Run:
    """Return a synthetic run with the components described in the module docstring.

    ``grad_growth`` is the natural-log growth of every gradient norm over the whole run
    (``log(3)`` triples it); ``overfit_rate`` is the relative rise of the validation loss
    per 1,000 steps after ``overfit_from``; ``divergence_at`` starts an exponential
    blow-up (time constant ``divergence_tau`` steps) that ends in inf/NaN.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(steps + 1, dtype=float)
    lr_t = np.full_like(t, lr)
    for d in sorted(decays):
        lr_t[t >= d] *= decay_factor
    # the LR-set floor relaxes to its new value after each decay
    target = floor + floor_per_lr * lr_t
    fl = np.empty_like(t)
    fl[0] = target[0]
    a = 1.0 / max(relax, 1.0)
    for i in range(1, len(t)):
        fl[i] = fl[i - 1] + a * (target[i] - fl[i - 1])
    clean = fl + (start_loss - floor) * np.exp(-t / tau)
    if divergence_at is not None:
        grow = np.exp(np.clip((t - divergence_at) / divergence_tau, 0.0, 700.0))
        clean = clean * grow
    loss = clean * np.exp(rng.normal(0.0, noise, len(t)))
    sign = np.where(t.astype(np.int64) % 2 == 0, 1.0, -1.0)
    bounce = alternation * (lr_t / lr) * sign
    loss = loss * (1.0 + bounce)
    for s in spikes:
        k = np.arange(s, min(s + 6, len(t)))
        loss[k] *= 1.0 + (spike_factor - 1.0) * np.exp(-(k - s) / 1.5)
    if divergence_at is not None:
        loss[loss > 1e6] = np.inf
        first_inf = np.flatnonzero(~np.isfinite(loss))
        if first_inf.size:
            loss[first_inf[0] + 1 :] = np.nan

    logged = t[::interval].astype(np.int64)
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {loss_tag: (logged, loss[logged])}
    if lr_logged:
        series["train/lr"] = (logged, lr_t[logged])
    if val_every:
        vs = np.arange(val_every, steps + 1, val_every)
        val = clean[vs].copy() * 1.1
        if overfit_from is not None:
            val = val * np.exp(np.clip(vs - overfit_from, 0, None) / 1000.0 * overfit_rate)
        if val_jitter:
            scale = lr_t[vs] / lr if val_jitter_lr_scaled else 1.0
            val = val * np.exp(rng.normal(0.0, val_jitter, len(vs)) * scale)
        series["val/loss"] = (vs, val)
    if grad_layers:
        levels = list(grad_levels) if grad_levels is not None else [1.0] * len(grad_layers)
        rel = (clean / clean[0]) if divergence_at is not None else np.ones_like(t)
        swing = (1.0 + 2.0 * bounce) if grad_follow_alternation else 1.0
        sq = np.zeros(len(logged))
        for name, lev in zip(grad_layers, levels, strict=False):
            g = lev * np.exp(grad_growth * t / steps) * rel * swing
            g = g * np.exp(rng.normal(0.0, grad_noise, len(t)))
            g = np.where(np.isfinite(loss), g, np.inf)
            series[f"grad_norm/{name}"] = (logged, g[logged])
            sq = sq + g[logged] ** 2
        if grad_total:
            series["grad_norm/total"] = (logged, np.sqrt(sq))
    hp: dict[str, Any] = {}
    if momentum is not None:
        hp["momentum"] = momentum
    if batch_size is not None:
        hp["batch_size"] = batch_size
    return make_run(series, {"hparams": hp})
