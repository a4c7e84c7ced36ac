"""Degenerate numbers give findings, not tracebacks: a dead network's all-zero gradient
norm, gradient norms near 1e160 and losses near 1e300 (squares and powers that overflow
a float)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import gradlog
from gradlog.analyzers import detect_lr_limited_plateau, detect_overfitting
from gradlog.analyzers.lr_plateau import decay_tests
from gradlog.analyzers.oscillation import oscillation_signals
from gradlog.analyzers.stats import log_ratio, pow10
from gradlog.analyzers.synthetic import make_run
from gradlog.wording import nice_round


def _strict(report) -> dict:
    def bad(c):
        raise ValueError(c)

    return json.loads(report.to_json(), parse_constant=bad)


def _flat_loss(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.arange(n), 2.30 + rng.normal(0.0, 0.01, n)


def test_dead_network_with_zero_gradient_norm_is_a_plateau_not_a_crash():
    steps, loss = _flat_loss(0)
    run = make_run(
        {"loss": (steps, loss), "lr": (steps, np.full(400, 0.5)), "grad_norm/total": (steps, np.zeros(400))}
    )
    sig = oscillation_signals(run)
    # a zero gradient promises no decrease: no first-order ratio (it was a ZeroDivisionError)
    assert all("first_order_ratio" not in r for r in sig["phases"])
    assert sig["oscillating"] is False
    report = gradlog.analyze(run)
    assert [f.id for f in report.findings] == ["loss_plateau"]
    assert report.findings[0].summary.startswith("The loss never improved")
    doc = _strict(report)
    assert doc


def test_gradient_norms_near_1e160_do_not_overflow_the_first_order_ratio():
    steps, loss = _flat_loss(1)
    rng = np.random.default_rng(2)
    g = 1e160 * np.exp(rng.normal(0.0, 0.1, 400))
    run = make_run({"loss": (steps, loss), "lr": (steps, np.full(400, 0.5)), "grad_norm/total": (steps, g)})
    sig = oscillation_signals(run)
    # 0.5 * (1e160)^2 / 2.3 is beyond a float: left out rather than inf or an OverflowError
    assert all("first_order_ratio" not in r for r in sig["phases"])
    report = gradlog.analyze(run)
    assert "step_size_oscillation" not in [f.id for f in report.findings]
    _strict(report)


def test_moderate_gradient_norms_keep_their_first_order_ratio():
    steps, loss = _flat_loss(3)
    run = make_run(
        {
            "loss": (steps, loss),
            "lr": (steps, np.full(400, 0.5)),
            "grad_norm/total": (steps, np.full(400, 2.0)),
        }
    )
    (row,) = oscillation_signals(run)["phases"]
    assert row["first_order_ratio"] == pytest.approx(0.5 * 4.0 / np.median(loss[60:]), rel=0.01)


def test_loss_near_1e300_across_a_decay_is_tested_without_overflow():
    # a loss that spans 600 decades around an LR decay: 10**600 is not a float
    n = 400
    steps = np.arange(n)
    loss = np.where(steps < 200, 1e300, 1e-300) * np.exp(np.random.default_rng(4).normal(0, 0.1, n))
    run = make_run({"loss": (steps, loss), "lr": (steps, np.where(steps < 200, 0.1, 0.01))})
    (t,) = decay_tests(run)
    assert t["step"] == 200
    assert t["observed_drop"] == pytest.approx(1.0)
    assert math.isfinite(t["z"]) and t["z"] > 4
    (f,) = detect_lr_limited_plateau(run)
    assert f.evidence["decay_steps"] == [200]
    _strict(gradlog.analyze(run))


def test_validation_rise_of_hundreds_of_decades_is_reported_not_raised():
    n = 40
    vs = np.arange(1, n + 1) * 50
    val = np.where(vs < 1000, 1e-200, 1e200)
    val[:10] = np.linspace(2.0, 1.0, 10)
    ts = np.arange(0, 2001)
    train = 2.0 * np.exp(-ts / 300.0) + 0.01
    run = make_run({"train/loss": (ts, train), "val/loss": (vs, val)})
    (f,) = detect_overfitting(run)
    assert f.evidence["rise"] == math.inf
    _strict(gradlog.analyze(run))


def test_safe_numeric_helpers():
    assert pow10(2.0) == pytest.approx(100.0)
    assert pow10(400.0) == math.inf
    assert pow10(-400.0) == 0.0
    assert math.isnan(pow10(math.nan))
    assert log_ratio(1e300, 1e-300) == pytest.approx(600 * math.log(10))
    assert math.isnan(log_ratio(0.0, 1.0)) and math.isnan(log_ratio(1.0, math.inf))
    # a subnormal LR was a ZeroDivisionError in the 1-2-3-5 rounding
    assert nice_round(5e-324) == 5e-324
    assert nice_round(0.0033) == pytest.approx(0.003)
