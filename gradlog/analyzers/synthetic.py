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

# The shapes of the components (fixed; the docstring's parameters are the tunable ones):
# a spike lasts this many iterations and decays with this time constant (iterations) ...
_SPIKE_POINTS = 6
_SPIKE_DECAY = 1.5
# ... a diverging loss turns inf above this value (then NaN, as a real overflow does) ...
_INF_ABOVE = 1e6
# ... the validation loss sits this factor above the clean training loss ...
_VAL_OFFSET = 1.1
# ... and the blow-up's exponent is clipped here (exp of more overflows a float).
_LOG_FLOAT_MAX = 700.0


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
    clean = _clean_loss(t, lr_t, start_loss, floor, floor_per_lr, tau, relax, divergence_at, divergence_tau)
    sign = np.where(t.astype(np.int64) % 2 == 0, 1.0, -1.0)
    bounce = alternation * (lr_t / lr) * sign
    loss = _observed_loss(rng, clean, noise, bounce, spikes, spike_factor, divergence_at is not None)

    logged = t[::interval].astype(np.int64)
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {loss_tag: (logged, loss[logged])}
    if lr_logged:
        series["train/lr"] = (logged, lr_t[logged])
    if val_every:
        series["val/loss"] = _val_loss(
            rng,
            clean,
            lr_t,
            lr,
            steps,
            val_every,
            val_jitter,
            val_jitter_lr_scaled,
            overfit_from,
            overfit_rate,
        )
    if grad_layers:
        swing = (1.0 + 2.0 * bounce) if grad_follow_alternation else 1.0
        rel = (clean / clean[0]) if divergence_at is not None else np.ones_like(t)
        series.update(
            _grad_norms(
                rng,
                t,
                steps,
                logged,
                loss,
                rel,
                swing,
                grad_layers,
                grad_levels,
                grad_growth,
                grad_noise,
                grad_total,
            )
        )
    hp: dict[str, Any] = {}
    if momentum is not None:
        hp["momentum"] = momentum
    if batch_size is not None:
        hp["batch_size"] = batch_size
    return make_run(series, {"hparams": hp})


def _clean_loss(
    t: np.ndarray,
    lr_t: np.ndarray,
    start_loss: float,
    floor: float,
    floor_per_lr: float,
    tau: float,
    relax: float,
    divergence_at: int | None,
    divergence_tau: float,
) -> np.ndarray:
    """The noiseless loss: a relaxation to the LR-set floor, times the blow-up if any."""
    # the LR-set floor relaxes to its new value after each decay
    target = floor + floor_per_lr * lr_t
    fl = np.empty_like(t)
    fl[0] = target[0]
    a = 1.0 / max(relax, 1.0)
    for i in range(1, len(t)):
        fl[i] = fl[i - 1] + a * (target[i] - fl[i - 1])
    clean = fl + (start_loss - floor) * np.exp(-t / tau)
    if divergence_at is not None:
        grow = np.exp(np.clip((t - divergence_at) / divergence_tau, 0.0, _LOG_FLOAT_MAX))
        clean = clean * grow
    return clean


def _val_loss(
    rng: np.random.Generator,
    clean: np.ndarray,
    lr_t: np.ndarray,
    lr: float,
    steps: int,
    val_every: int,
    val_jitter: float,
    val_jitter_lr_scaled: bool,
    overfit_from: int | None,
    overfit_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The validation loss every ``val_every`` steps: the clean loss ``_VAL_OFFSET`` higher,
    rising after ``overfit_from``, with (LR-scaled) jitter."""
    vs = np.arange(val_every, steps + 1, val_every)
    val = clean[vs].copy() * _VAL_OFFSET
    if overfit_from is not None:
        val = val * np.exp(np.clip(vs - overfit_from, 0, None) / 1000.0 * overfit_rate)
    if val_jitter:
        scale = lr_t[vs] / lr if val_jitter_lr_scaled else 1.0
        val = val * np.exp(rng.normal(0.0, val_jitter, len(vs)) * scale)
    return vs, val


def _grad_norms(
    rng: np.random.Generator,
    t: np.ndarray,
    steps: int,
    logged: np.ndarray,
    loss: np.ndarray,
    rel: np.ndarray,
    swing: np.ndarray | float,
    grad_layers: Sequence[str],
    grad_levels: Sequence[float] | None,
    grad_growth: float,
    grad_noise: float,
    grad_total: bool,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-layer gradient norms (and their total): level x growth x ``rel`` (the blow-up) x
    ``swing`` (the bounce) x log-normal noise; inf where the loss is not finite."""
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    levels = list(grad_levels) if grad_levels is not None else [1.0] * len(grad_layers)
    sq = np.zeros(len(logged))
    for name, lev in zip(grad_layers, levels, strict=False):
        g = lev * np.exp(grad_growth * t / steps) * rel * swing
        g = g * np.exp(rng.normal(0.0, grad_noise, len(t)))
        g = np.where(np.isfinite(loss), g, np.inf)
        series[f"grad_norm/{name}"] = (logged, g[logged])
        sq = sq + g[logged] ** 2
    if grad_total:
        series["grad_norm/total"] = (logged, np.sqrt(sq))
    return series


def _observed_loss(
    rng: np.random.Generator,
    clean: np.ndarray,
    noise: float,
    bounce: np.ndarray,
    spikes: Sequence[int],
    spike_factor: float,
    diverges: bool,
) -> np.ndarray:
    """The logged loss: the clean loss times minibatch noise and the bounce, with spikes,
    and inf then NaN after a blow-up."""
    t_len = len(clean)
    loss = clean * np.exp(rng.normal(0.0, noise, t_len))
    loss = loss * (1.0 + bounce)
    for s in spikes:
        k = np.arange(s, min(s + _SPIKE_POINTS, t_len))
        loss[k] *= 1.0 + (spike_factor - 1.0) * np.exp(-(k - s) / _SPIKE_DECAY)
    if diverges:
        loss[loss > _INF_ABOVE] = np.inf
        first_inf = np.flatnonzero(~np.isfinite(loss))
        if first_inf.size:
            loss[first_inf[0] + 1 :] = np.nan
    return loss
