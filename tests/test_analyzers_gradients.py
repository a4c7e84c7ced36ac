"""Gradient-norm growth, vanishing and exploding gradients on seeded synthetic runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradlog.analyzers import (
    NotAssessable,
    detect_exploding_gradients,
    detect_grad_norm_growth,
    detect_vanishing_gradients,
)
from gradlog.analyzers.synthetic import make_run, synthetic_run


def _growing(**kw):
    args = dict(
        seed=1,
        steps=6000,
        noise=0.1,
        grad_layers=("conv1", "conv2", "fc3"),
        grad_growth=math.log(3),
        start_loss=0.35,
        floor=0.3,
    )
    args.update(kw)
    return synthetic_run(**args)


def test_rising_norms_with_flat_loss_one_finding_for_all_layers():
    (f,) = detect_grad_norm_growth(_growing())
    assert set(f.tags) == {"grad_norm/conv1", "grad_norm/conv2", "grad_norm/fc3"}
    assert f.severity == "info"
    assert f.step_range == (600, 6000)  # after the first 10% (initial transient)
    assert "3 layers" in f.summary
    rows = {r["tag"]: r for r in f.evidence["layers"]}
    assert set(rows) == set(f.tags)
    for ev in [f.evidence, *rows.values()]:
        # norms triple over the run: x3^0.81 between the medians of the window's ends
        assert ev["fold_change"] == pytest.approx(3**0.81, rel=0.05)
        assert ev["slope"] == pytest.approx(math.log10(3) / 6, rel=0.05)  # log10 per 1,000 steps
        lo, hi = ev["slope_ci"]
        assert lo < ev["slope"] < hi and lo > 0
        assert ev["p_value"] < 1e-6
    assert f.evidence["loss_direction"] == "flat"
    assert not any(f.evidence["defect_checks"].values())
    assert "§8.2.1" in f.explanation and "not a defect by itself" in f.explanation
    assert "No action needed" in f.recommendation


def test_flat_norms_give_nothing():
    assert detect_grad_norm_growth(_growing(grad_growth=0.0)) == []


def test_small_drift_below_the_fold_threshold_gives_nothing():
    assert detect_grad_norm_growth(_growing(grad_growth=0.1)) == []


def test_growth_with_rising_loss_is_a_warning():
    rng = np.random.default_rng(2)
    t = np.arange(3000)
    loss = 0.3 * np.exp(0.5 * t / 3000) * np.exp(rng.normal(0, 0.05, 3000))  # 1.6x: no divergence
    g = np.exp(2 * t / 3000) * np.exp(rng.normal(0, 0.1, 3000))
    run = make_run({"train/loss": (t, loss), "grad_norm/total": (t, g)})
    (f,) = detect_grad_norm_growth(run)
    assert f.severity == "warning"
    assert f.evidence["defect_checks"]["loss_rising"]
    assert "warning sign" in f.explanation


def test_vanishing_across_layers_by_depth():
    run = synthetic_run(
        seed=1,
        steps=3000,
        noise=0.1,
        grad_layers=("conv1", "conv2", "conv3", "conv4"),
        grad_levels=(1e-5, 1e-3, 1e-1, 1.0),
    )
    (f,) = detect_vanishing_gradients(run)
    assert f.evidence["kind"] == "across_layers"
    assert f.evidence["smallest_layer"] == "conv1"
    assert f.evidence["span"] == pytest.approx(1e5, rel=0.05)


def test_ordinary_spread_across_layers_is_not_vanishing():
    run = synthetic_run(
        seed=1,
        steps=3000,
        noise=0.1,
        grad_layers=("conv1", "conv2", "conv3", "conv4"),
        grad_levels=(0.01, 0.1, 0.3, 1.0),
    )
    assert detect_vanishing_gradients(run) == []
    assert detect_exploding_gradients(run) == []


def test_gradient_detectors_need_gradient_series():
    run = synthetic_run(seed=1, steps=1000)
    with pytest.raises(NotAssessable, match="no gradient-norm series"):
        detect_grad_norm_growth(run)
    with pytest.raises(NotAssessable):
        detect_vanishing_gradients(run)


def test_persistent_but_trendless_gradient_norms_are_not_growth():
    # 40 runs of stationary AR(1) log gradient norms (phi = 0.995, no trend) beside a falling
    # loss: the trend test must keep its nominal error rate (before the autocorrelation
    # correction five of these runs gave grad_norm_growth with p = 0.0004-0.008)
    from scipy.signal import lfilter

    n, phi, found = 2000, 0.995, []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        e = rng.normal(0.0, 0.05, n)
        e[0] /= math.sqrt(1.0 - phi * phi)
        log_g = lfilter([1.0], [1.0, -phi], e)
        t = np.arange(n)
        loss = (2.0 * np.exp(-t / (n / 5)) + 0.3) * np.exp(rng.normal(0.0, 0.05, n))
        run = make_run(
            {"train/loss": (t, loss), "train/lr": (t, np.full(n, 0.1)), "grad_norm/total": (t, np.exp(log_g))}
        )
        found += detect_grad_norm_growth(run)
    assert len(found) <= 2
