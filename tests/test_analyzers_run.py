"""``gradlog.analyze`` end to end: trends, not-assessable reasons, JSON-ready evidence,
and the real sample logs with their expected findings."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gradlog
from gradlog.analyzers import DETECTORS, run_analysis
from gradlog.analyzers.synthetic import make_run, synthetic_run
from gradlog.findings import FINDING_IDS


def test_trends_for_every_role_bearing_series_whole_run_and_per_phase():
    run = synthetic_run(
        seed=1, steps=6000, decays=(3000, 4500), noise=0.1, grad_layers=("a",), grad_total=True, val_every=100
    )
    rep = gradlog.analyze(run)
    scopes = {(t.tag, t.scope) for t in rep.trends}
    for tag in ("train/loss", "val/loss", "grad_norm/total", "grad_norm/a"):
        assert {(tag, "run"), (tag, "lr_phase 0"), (tag, "lr_phase 1"), (tag, "lr_phase 2")} <= scopes
    assert ("train/lr", "run") in scopes
    loss = next(t for t in rep.trends if t.tag == "train/loss" and t.scope == "lr_phase 0")
    assert loss.role == "loss" and loss.log_space
    assert (loss.step_start, loss.step_end, loss.n) == (0, 2999, 3000)
    assert loss.direction == "falling" and loss.p_value < 1e-6
    assert loss.slope_low <= loss.slope <= loss.slope_high
    assert loss.test.startswith("Mann-Kendall on")
    # the fitted line passes near the robust levels it was fitted to
    assert loss.line([loss.step_start])[0] == pytest.approx(10**loss.intercept)
    lr = next(t for t in rep.trends if t.tag == "train/lr")
    assert lr.fold_change == pytest.approx(0.01)


def test_every_detector_runs_and_findings_are_strict_json():
    run = synthetic_run(
        seed=1,
        steps=6000,
        decays=(3000, 4500),
        alternation=0.3,
        val_every=100,
        grad_layers=("conv1", "conv2", "conv3"),
        grad_total=True,
        grad_growth=1.0,
        momentum=0.9,
        batch_size=32,
    )
    rep = run_analysis(run)
    assert len(DETECTORS) == 13  # run_crashed included
    ids = {f.id for f in rep.findings}
    assert ids <= set(FINDING_IDS)
    assert "step_size_oscillation" in ids and "grad_norm_growth" in ids
    # strict JSON: NaN/inf in the evidence must have become null
    json.dumps([f.to_dict() for f in rep.findings] + [t.to_dict() for t in rep.trends], allow_nan=False)
    for f in rep.findings:
        assert f.summary and f.explanation and f.recommendation and 0 <= f.confidence <= 1


def test_no_loss_at_all_is_said_with_the_tags():
    t = np.arange(100)
    run = make_run({"train/accuracy": (t, np.linspace(0.1, 0.9, 100)), "train/lr": (t, np.full(100, 0.1))})
    rep = gradlog.analyze(run)
    assert rep.findings == []
    reasons = {d["id"]: d["reason"] for d in rep.not_assessable}
    for fid in ("divergence", "step_size_oscillation", "loss_plateau", "overfitting"):
        assert reasons[fid].startswith("no training-loss series in the log (tags: train/accuracy, train/lr)")
    assert reasons["grad_norm_growth"] == "no gradient-norm series in the log"


def test_missing_lr_and_validation_are_not_guessed():
    run = synthetic_run(seed=2, steps=3000, noise=0.1, lr_logged=False)
    rep = gradlog.analyze(run)
    reasons = {d["id"]: d["reason"] for d in rep.not_assessable}
    assert reasons["lr_limited_plateau"] == "no learning-rate series in the log"
    assert reasons["lr_too_small"] == "no learning-rate series in the log"
    assert reasons["overfitting"] == "no validation-loss series in the log"


# ---- the real samples ---------------------------------------------------------------


def test_pytorch_cnn_sample_plateau_with_rising_gradient_norms(samples):
    """The motivating question on a real run (see sample_logs/make_torch_samples.py): the
    minibatch loss stops improving near step 1,900 (400-step medians 1.33 -> 1.29 over the
    second half) while the deep layers' gradient 2-norms rise 9-15% over the same steps."""
    path = samples / "pytorch_cnn" / "train_log.csv"
    if not path.exists():
        pytest.skip("sample not generated")
    rep = gradlog.analyze(gradlog.load(path))
    # where progress stopped, and how little it moved since
    (plateau,) = rep.by_id("loss_plateau")
    assert plateau.tags == ("train/loss",) and plateau.severity == "info"
    start, end = plateau.step_range
    assert 1850 <= start <= 1970 and end == 3999
    ev = plateau.evidence
    assert ev["plateau_start_step"] == start
    assert ev["fraction_of_run"] == pytest.approx(0.52, abs=0.02)
    assert 0 < ev["improvement_since"] < 0.05
    assert ev["level_at_start"] == pytest.approx(1.35, abs=0.03)
    assert ev["end_level"] == pytest.approx(1.29, abs=0.03)
    assert ev["improvement_before"] == pytest.approx(0.34, abs=0.03)
    # the step size is not the cause: the LR halving at step 2,000, inside the plateau,
    # was tested and lowered the loss no more than its trend predicts
    verdict = ev["step_size"]
    assert verdict["verdict"] == "not_step_size" and not verdict["oscillating"]
    assert verdict["signals_present"] == []
    (decay,) = verdict["decays_in_plateau"]
    assert (decay["step"], decay["lr_before"], decay["lr_after"]) == (2000, 0.0125, 0.00625)
    # the level before is the median of the whole (flat) window before the decay
    assert not decay["limited"] and decay["observed_drop"] == pytest.approx(0.033, abs=0.01)
    assert decay["z"] < 2.5
    assert "does not look like the cause" in plateau.explanation
    # the deep layers' gradient norms (and the total) rose; conv1, conv2 and fc2 did not
    # one finding for the cause, one row per series that rose
    (gf,) = rep.by_id("grad_norm_growth")
    assert gf.step_range == (400, 3999) and gf.severity == "info"
    assert gf.evidence["loss_direction"] == "falling"
    assert "not a defect by itself" in gf.explanation
    growth = {r["tag"]: r for r in gf.evidence["layers"]}
    assert (
        set(growth)
        == set(gf.tags)
        == {"grad_norm/conv3", "grad_norm/conv4", "grad_norm/conv5", "grad_norm/fc1", "grad_norm/total"}
    )
    for r in growth.values():
        assert 1.2 <= r["fold_change"] < 1.6 and r["p_value"] < 1e-7
        assert r["slope_ci"][0] > 0
    assert growth["grad_norm/conv4"]["fold_change"] == pytest.approx(1.44, abs=0.05)
    assert growth["grad_norm/conv5"]["fold_change"] == pytest.approx(1.29, abs=0.05)
    assert growth["grad_norm/conv5"]["p_value"] < 1e-30
    assert gf.evidence["fold_change"] == growth["grad_norm/conv4"]["fold_change"]  # the largest
    assert not rep.by_id("step_size_oscillation") and not rep.by_id("lr_limited_plateau")
    assert not rep.by_id("divergence") and not rep.by_id("overfitting")
    assert not rep.by_id("exploding_gradients") and not rep.by_id("vanishing_gradients")
    # the scatter is minibatch noise, and no decay of the three was a sharp drop
    (noisy,) = rep.by_id("noisy_loss")
    assert noisy.evidence["amplitude"] == pytest.approx(0.16, abs=0.02)
    assert not any(noisy.evidence["signals"].values())
    tests = noisy.evidence["decay_tests"]
    assert [t["step"] for t in tests] == [240, 800, 2000]
    assert not any(t["limited"] for t in tests)
    assert all(t["observed_drop"] < 0.1 for t in tests)
    assert {f.id for f in rep.findings} == {"loss_plateau", "grad_norm_growth", "noisy_loss"}


def test_caffe_samples_converge_cleanly(samples):
    plain = samples / "caffe_numpy_cnn.log"
    debug = samples / "caffe_numpy_cnn_debug.log"
    if not (plain.exists() and debug.exists()):
        pytest.skip("samples not generated")
    rep = gradlog.analyze(gradlog.load(plain))
    # the training loss falls to ~0.001 (its relative scatter is not news); the test-net
    # loss is flat at ~0.0235 from step 1,000-1,500 on: a validation plateau, nothing else
    (f,) = rep.findings
    assert f.id == "loss_plateau" and f.tags == ("test0/loss",)
    assert f.step_range == (1500, 3000)
    assert abs(f.evidence["improvement_since"]) < 0.05
    # the training loss still improves: the advice is about generalisation only
    assert "generalisation" in f.recommendation and "less regularisation" not in f.recommendation
    assert {d["id"] for d in rep.not_assessable} == {
        "grad_norm_growth",
        "exploding_gradients",
        "vanishing_gradients",
    }
    rep = gradlog.analyze(gradlog.load(debug))
    assert rep.findings == [] and rep.not_assessable == []
    # Caffe's debug_info mean |gradient| per layer, falling with the loss
    absmean = [t for t in rep.trends if t.tag.startswith("grad_absmean/") and t.scope == "run"]
    assert len(absmean) == 4 and all(t.direction == "falling" for t in absmean)


# ---- real labelled runs of bench/diagnosis (labels from instrumentation not in the log) ----

BENCH = (
    # ill-conditioned regression at the edge of stability: eta*lambda_max/(2(1+beta)) = 0.85
    ("lin_osc__linear_illcond_lr1.2_b128_m0.5_const_s0", {"step_size_oscillation"}),
    # hard negative: batch 2, small LR: very noisy loss around a stable iterate
    ("hardneg_tinybatch__mlp_digits_lr0.005_b2_m0.9_const_s0", set()),
    # 30% label noise, LR cut 10x at step 800: the training loss drops ~65% at once, but
    # the validation loss does not move (+4%): the net fits its noisy labels, and decaying
    # earlier would not have helped the held-out loss, so no lr_limited_plateau (the
    # independent ../shared/validation set labels such runs so too)
    ("plateau_decay__mlp_digits_lr0.1_b32_m0.9_step50_s0", {"overfitting"}),
    # LR 0.25: the network collapses back to chance
    ("dies__mlp_digits_lr0.25_b32_m0.9_const_s0", {"divergence"}),
)
LABELLED = ("step_size_oscillation", "lr_limited_plateau", "divergence", "overfitting", "grad_norm_growth")


@pytest.mark.parametrize("name,expected", BENCH)
def test_labelled_bench_runs(name, expected):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "diagnosis" / "runs" / f"{name}.csv"
    if not path.exists():
        pytest.skip("bench/diagnosis runs not generated")
    rep = gradlog.analyze(gradlog.load(path))
    assert {f.id for f in rep.findings} & set(LABELLED) == expected
