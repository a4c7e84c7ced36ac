"""Shared series helpers: LR phases and TensorBoard's debiased EMA."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gradlog.series import ema_debiased, lr_decays, lr_phases


def test_step_schedule_phases():
    steps = np.arange(0, 3000, 10)
    lr = np.where(steps < 1000, 0.1, np.where(steps < 2000, 0.01, 0.001))
    ph = lr_phases(pd.Series(lr, index=steps))
    assert [(p.start, p.end, p.lr) for p in ph] == [(0, 990, 0.1), (1000, 1990, 0.01), (2000, 2990, 0.001)]
    assert lr_decays(pd.Series(lr, index=steps)) == [1000, 2000]


def test_smooth_schedule_is_one_phase_not_invented_decays():
    steps = np.arange(0, 1000)
    for lr in (
        0.1 * (1 - steps / 1000) + 1e-4,  # poly power 1 (linear)
        0.05 * (1 + np.cos(np.pi * steps / 1000)) + 1e-6,  # cosine
        0.1 * 0.995**steps,
    ):  # exponential
        (ph,) = lr_phases(pd.Series(lr, index=steps), min_ratio=2.0)
        assert (ph.start, ph.end) == (0, 999)
        assert lr_decays(pd.Series(lr, index=steps)) == []


def test_warmup_is_its_own_phase_and_steps_after_it_are_decays():
    steps = np.arange(0, 1000)
    lr = np.minimum(1.0, (steps + 1) / 100) * np.where(steps < 600, 0.1, 0.01)
    ph = lr_phases(pd.Series(lr, index=steps))
    assert [(p.start, p.end) for p in ph] == [(0, 96), (97, 599), (600, 999)]
    assert lr_decays(pd.Series(lr, index=steps)) == [600]
    # logged every 50 steps, the same step schedule keeps its decay
    sub = pd.Series(lr[::50], index=steps[::50])
    assert lr_decays(sub) == [600]


def test_constant_and_empty_lr():
    assert len(lr_phases(pd.Series([0.01] * 5, index=range(5)))) == 1
    assert lr_phases(pd.Series([], dtype=float)) == []
    assert lr_decays(pd.Series([0.01] * 5, index=range(5))) == []


def test_ema_debiased_matches_tensorboard():
    # TensorBoard: last = last*w + (1-w)*v; smoothed = last / (1 - w**n)
    v = np.array([1.0, 2.0, 3.0])
    out = ema_debiased(v, 0.6)
    assert out[0] == 1.0  # debiasing makes the first point the value itself
    assert np.isclose(out[1], (0.6 * 0.4 * 1 + 0.4 * 2) / (1 - 0.36))
    assert np.isclose(out[2], ((0.6 * (0.6 * 0.4 + 0.8)) + 0.4 * 3) / (1 - 0.216))
    nan_in = ema_debiased(np.array([1.0, np.nan, 1.0]))
    assert np.isnan(nan_in[1]) and nan_in[2] == 1.0
