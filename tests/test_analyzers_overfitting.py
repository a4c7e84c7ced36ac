"""Overfitting on seeded synthetic runs."""

from __future__ import annotations

import numpy as np
import pytest

from gradlog.analyzers import NotAssessable, detect_overfitting
from gradlog.analyzers.synthetic import make_run, synthetic_run


def test_validation_rise_with_falling_training_loss():
    # training loss falls all along (tau 3,000); validation rises 30% per 1,000 steps
    # on top of it from step 3,000
    run = synthetic_run(
        seed=5,
        steps=8000,
        tau=3000,
        val_every=200,
        overfit_from=3000,
        overfit_rate=0.3,
        val_jitter=0.01,
        val_jitter_lr_scaled=False,
    )
    (f,) = detect_overfitting(run)
    ev = f.evidence
    assert 3000 <= ev["val_min_step"] <= 4400
    assert f.step_range == (ev["val_min_step"], 8000)
    assert ev["val_min"] == pytest.approx(1.13, abs=0.05)
    assert ev["val_last"] == pytest.approx(run.series("val/loss").iloc[-1])
    assert ev["rise"] > 0.5
    assert ev["train_change_since"] < -0.4
    assert f"step {ev['val_min_step']:,}" in f.recommendation


def test_validation_rise_with_flat_training_loss_is_not_overfitting():
    run = synthetic_run(
        seed=5,
        steps=8000,
        val_every=200,
        overfit_from=3000,
        overfit_rate=0.2,
        val_jitter=0.01,
        val_jitter_lr_scaled=False,
    )
    assert detect_overfitting(run) == []


def test_noisy_flat_validation_is_not_overfitting():
    run = synthetic_run(seed=5, steps=8000, val_every=200, val_jitter=0.03, val_jitter_lr_scaled=False)
    assert detect_overfitting(run) == []


def test_validation_rising_with_training_loss_is_not_overfitting():
    t = np.arange(0, 3001, 10)
    vs = np.arange(100, 3001, 100)
    train = 0.3 + 0.0002 * t  # training loss rises too: instability, not overfitting
    val = 0.4 + 0.0003 * vs
    run = make_run({"train/loss": (t, train), "val/loss": (vs, val)})
    assert detect_overfitting(run) == []


def test_five_evaluations_suffice_for_a_clear_rise():
    # like a fine-tuning run evaluated every 1,000 steps: 0.321 -> 0.420
    t = np.arange(25, 5001, 25)
    train = 0.3 * np.exp(-t / 500) + 1e-4
    vs = np.array([1000, 2000, 3000, 4000, 5000])
    val = np.array([0.321, 0.358, 0.394, 0.412, 0.420])
    run = make_run({"train/loss": (t, train), "val/loss": (vs, val)})
    (f,) = detect_overfitting(run)
    assert f.evidence["val_min_step"] == 1000
    assert f.evidence["val_min"] == pytest.approx(0.321)
    assert f.evidence["val_last"] == pytest.approx(0.420)


def test_without_validation_loss_not_assessable():
    run = synthetic_run(seed=1, steps=1000)
    with pytest.raises(NotAssessable, match="no validation-loss series"):
        detect_overfitting(run)


def test_summary_says_the_minimum_is_smoothed_and_gives_the_lowest_evaluation():
    vs = np.arange(0, 2001, 100)
    val = np.array(
        [
            0.6042,
            0.64,
            0.62,
            0.63,
            0.65,
            0.66,
            0.68,
            0.70,
            0.71,
            0.73,
            0.75,
            0.77,
            0.78,
            0.80,
            0.82,
            0.84,
            0.85,
            0.87,
            0.89,
            0.90,
            0.92,
        ]
    )
    ts = np.arange(0, 2001)
    run = make_run({"train/loss": (ts, 2.0 * np.exp(-ts / 500.0) + 0.05), "val/loss": (vs, val)})
    (f,) = detect_overfitting(run)
    ev = f.evidence
    assert ev["val_min_step"] == 100 and ev["val_min"] == pytest.approx(0.62)
    assert ev["val_lowest"] == pytest.approx(0.6042) and ev["val_lowest_step"] == 0
    assert "lowest around step 100 (0.62 smoothed; lowest evaluation 0.604 at step 0)" in f.summary


def _overfit_with_accuracy(acc_after_min):
    # training loss falls; validation loss bottoms out at step 3,000 and rises; the
    # validation accuracy after that follows ``acc_after_min(steps)``
    rng = np.random.default_rng(3)
    steps = np.arange(0, 8000, 10)
    train = 2.0 * np.exp(-steps / 3000) + 0.05 * rng.standard_normal(steps.size) ** 2
    vs = np.arange(0, 8001, 200)
    val = np.where(vs < 3000, 1.5 - 0.2 * vs / 1000, 0.9 + 0.25 * (vs - 3000) / 1000)
    val = val + 0.01 * rng.standard_normal(vs.size)
    acc = np.where(vs < 3000, 0.5 + 0.1 * vs / 1000, acc_after_min(vs)) + 0.002 * rng.standard_normal(vs.size)
    return make_run({"train/loss": (steps, train), "val/loss": (vs, val), "val/acc": (vs, acc)})


def test_loss_only_overfitting_while_accuracy_still_improves_says_so():
    run = _overfit_with_accuracy(lambda vs: 0.8 + 0.02 * (vs - 3000) / 1000)  # 0.80 -> 0.90
    (f,) = detect_overfitting(run)
    ev = f.evidence
    assert 2800 <= ev["val_min_step"] <= 3400
    assert ev["val_metric"] == "val/acc" and ev["val_metric_still_improving"] is True
    assert ev["val_metric_end"] == pytest.approx(0.9, abs=0.01)
    assert "still improved" in f.summary and "calibration" in f.explanation
    assert f.recommendation.startswith("Choose the checkpoint by val/acc")
    assert f.confidence <= 0.95 * 0.7


def test_classic_overfitting_when_accuracy_stalls():
    run = _overfit_with_accuracy(lambda vs: 0.8 - 0.005 * (vs - 3000) / 1000)  # stalls, drifts down
    (f,) = detect_overfitting(run)
    assert f.evidence["val_metric_still_improving"] is False
    assert "still improved" not in f.summary
    assert f.recommendation.startswith("Keep the checkpoint from around step")


@pytest.mark.parametrize("rise, found", [(0.07, False), (0.16, True)])
def test_a_small_clear_rise_is_not_called_overfitting(rise, found):
    # a clean validation curve (no jitter, so any rise is many noise SDs) that rises by
    # `rise` after its minimum at step 2,000 while the training loss keeps falling: below
    # the 10% floor (the middle of the bench's 5-15% gray zone) it is not reported
    t = np.arange(0, 6001, 10)
    train = 0.05 + 2.0 * np.exp(-t / 1500)
    vs = np.arange(200, 6001, 200)
    val = np.where(vs <= 2000, 0.5 + 0.5 * (2000 - vs) / 2000, 0.5 * (1 + rise * (vs - 2000) / 4000))
    run = make_run({"train/loss": (t, train), "val/loss": (vs, val)})
    out = detect_overfitting(run)
    assert bool(out) is found
    if found:
        assert out[0].evidence["val_min_step"] == 2000
        assert out[0].evidence["rise"] == pytest.approx(rise, abs=0.03)
