"""Loss plateaus and LR-limited plateaus, on seeded synthetic runs with known truth."""

from __future__ import annotations

import pytest

from gradlog.analyzers import (
    NotAssessable,
    detect_loss_plateau,
    detect_lr_limited_plateau,
    detect_lr_too_small,
)
from gradlog.analyzers.lr_plateau import decay_tests
from gradlog.analyzers.synthetic import synthetic_run


def _lr_floor_run():
    # the loss settles by ~step 1,300 at a floor the LR sets (0.2 + 3 * lr); the LR is cut
    # 10x at step 6,000 and the floor drops from 0.5 to 0.23
    return synthetic_run(seed=3, steps=9000, decays=(6000,), floor=0.2, floor_per_lr=3.0, tau=300, noise=0.1)


def test_drop_after_decay_is_lr_limited_plateau():
    (f,) = detect_lr_limited_plateau(_lr_floor_run())
    assert f.id == "lr_limited_plateau"
    assert f.evidence["decay_steps"] == [6000]
    (t,) = f.evidence["decays"]
    assert t["observed_drop"] == pytest.approx(0.54, abs=0.03)
    assert abs(t["predicted_drop"]) < 0.02  # the trend before the decay was flat
    assert t["z"] > 10 and t["limited"]
    # where the loss had stopped improving before the decay: when to decay instead
    assert 1000 <= t["plateau_start"] <= 1800
    assert f.step_range == (t["plateau_start"], 6000)
    assert f.severity == "warning"  # most of the phase was wasted
    assert f"decay around step {t['plateau_start']:,}" in f.recommendation


def test_final_plateau_after_the_decay():
    (f,) = detect_loss_plateau(_lr_floor_run())
    assert f.tags == ("train/loss",)
    assert 6000 < f.step_range[0] < 6500 and f.step_range[1] == 9000
    assert f.evidence["plateau_start_step"] == f.step_range[0]
    assert 0 <= f.evidence["improvement_since"] < 0.05
    assert f.evidence["improvement_before"] == pytest.approx(0.76, abs=0.05)
    assert f.evidence["step_size"]["earlier_lr_limited_decays"] == [6000]
    assert "0.01 → 0.001" in f.recommendation


def test_decay_that_changes_nothing_is_evidence_against_the_step_size():
    run = synthetic_run(seed=4, steps=9000, decays=(5000,), floor=0.3, tau=300, noise=0.1)
    assert detect_lr_limited_plateau(run) == []
    (t,) = decay_tests(run)
    assert t["step"] == 5000 and not t["limited"]
    assert abs(t["observed_drop"]) < 0.03
    (f,) = detect_loss_plateau(run)
    assert 1000 < f.step_range[0] < 2500
    v = f.evidence["step_size"]
    assert v["verdict"] == "not_step_size"
    assert v["decays_in_plateau"][0]["step"] == 5000
    assert "does not look like the cause" in f.explanation


def test_flat_from_the_start():
    run = synthetic_run(seed=5, steps=4000, start_loss=0.3, floor=0.3, noise=0.05)
    (f,) = detect_loss_plateau(run)
    assert f.step_range == (0, 4000)
    assert f.summary.startswith("The loss never improved")
    assert f.severity == "warning"


def test_steady_slow_decrease_is_not_a_plateau_but_lr_too_small():
    run = synthetic_run(seed=6, steps=5000, tau=5000, noise=0.02, lr=0.001)
    assert detect_loss_plateau(run) == []
    (f,) = detect_lr_too_small(run)
    assert f.step_range == (2500, 5000)  # the last half: third vs last quarter
    # exp(-t/T): the last quarter lies (e^-0.625 - e^-0.875) / e^-0.625 = 22% below the third
    assert f.evidence["late_drop_rel"] == pytest.approx(0.22, abs=0.05)
    assert f.evidence["late_share"] == pytest.approx(0.19, abs=0.04)
    assert f.evidence["suggested_lr"] == pytest.approx(0.003)
    assert "0.001 → 0.003" in f.recommendation


def test_decayed_lr_explains_a_late_decrease_so_not_lr_too_small():
    run = synthetic_run(seed=6, steps=5000, tau=5000, noise=0.02, lr=0.001, decays=(2000,), decay_factor=0.3)
    assert detect_lr_too_small(run) == []


def test_validation_plateau_while_training_loss_falls():
    # validation loss flat from ~step 1,500 (floor reached) while the training loss
    # keeps falling slowly: fitting the training set only
    import numpy as np

    from gradlog.analyzers.synthetic import make_run

    rng = np.random.default_rng(11)
    t = np.arange(0, 6001, 10)
    train = (0.2 + 2.0 * np.exp(-t / 400)) * np.exp(-t / 8000) * np.exp(rng.normal(0, 0.05, len(t)))
    vs = np.arange(100, 6001, 100)
    val = (0.5 + 2.0 * np.exp(-vs / 400)) * np.exp(rng.normal(0, 0.01, len(vs)))
    run = make_run({"train/loss": (t, train), "train/lr": (t, np.full(len(t), 0.1)), "val/loss": (vs, val)})
    found = detect_loss_plateau(run)
    assert [f.tags for f in found] == [("val/loss",)]
    (f,) = found
    assert f.evidence["series"] == "validation"
    assert 1000 <= f.step_range[0] <= 2000 and f.step_range[1] == 6000
    assert "training loss is still falling" in f.summary


def test_lr_limited_plateau_needs_a_decay():
    run = synthetic_run(seed=7, steps=3000)
    with pytest.raises(NotAssessable, match="never decreased"):
        detect_lr_limited_plateau(run)


def test_lightning_copy_of_the_motivating_run_shows_the_plateau(samples):
    # The same run as sample_logs/pytorch_cnn/train_log.csv, but the loss only every 10
    # steps (400 points): the lowest smoothed level is then a noisier minimum, which must
    # not be mistaken for "the loss rose from its best" (config.plateau_rise_bands).
    import gradlog

    rep = gradlog.analyze(gradlog.load(samples / "pytorch_cnn" / "lightning_logs" / "version_0"))
    (f,) = rep.by_id("loss_plateau")
    assert f.tags == ("train/loss",)
    assert 2300 <= f.step_range[0] <= 2500 and f.step_range[1] == 3999
    assert abs(f.evidence["improvement_since"]) < 0.05


@pytest.mark.parametrize("seed", [0, 1])
def test_very_noisy_flat_plateau_uses_the_whole_window_for_its_level(seed):
    # a minibatch loss as noisy as a batch-8 run's (lognormal sigma 1.2) sits flat at 0.8
    # until the decay at step 1,000 and settles at 0.35 after it (a 56% drop). The trend
    # before is flat, so every point of the window before measures the level: with the
    # last third alone the drop is under 4 standard errors for these seeds.
    run = synthetic_run(
        seed=seed,
        steps=2000,
        decays=(1000,),
        lr=0.1,
        floor=0.3,
        floor_per_lr=5.0,
        start_loss=0.8,
        tau=50,
        noise=1.2,
        relax=20,
    )
    (t,) = decay_tests(run)
    assert t["step"] == 1000 and t["window_before"] == [700, 999]
    assert t["pre_trend_fall"] == 0.0 and t["predicted_drop"] == 0.0
    assert t["observed_drop"] == pytest.approx(0.5, abs=0.05)
    assert 4.0 <= t["z"] < 5.0 and t["limited"]
    (f,) = detect_lr_limited_plateau(run)
    assert f.evidence["decay_steps"] == [1000] and f.step_range[1] == 1000
    assert "its median level fell" in f.summary


def test_hf_copy_counts_the_decay_at_the_plateau_start(samples):
    # The Hugging Face copy of the motivating run logs every 10 steps, and its plateau is
    # estimated to start at step 2,010, just after the LR halving at 2,000 (the CSV copy:
    # 1,910, just before it). Either way the halving did not lower the loss, which is
    # evidence that the step size did not set the level.
    import gradlog

    rep = gradlog.analyze(gradlog.load(samples / "pytorch_cnn" / "trainer_state.json"))
    (f,) = rep.by_id("loss_plateau")
    assert f.step_range == (2010, 4000)
    verdict = f.evidence["step_size"]
    assert verdict["verdict"] == "not_step_size"
    (decay,) = verdict["decays_in_plateau"]
    assert (decay["step"], decay["lr_before"], decay["lr_after"]) == (2000, 0.0125, 0.00625)
    assert not decay["limited"] and decay["observed_drop"] < 0.1
    assert "step 2,000" in f.explanation


def test_a_drop_of_one_rounding_step_is_not_a_drop():
    # a loss logged with 4 decimals near its floor (Hugging Face rounds it): 0.0002 before
    # the decay, 0.0001 after it is "50%" but one step of the rounding; the same values
    # logged at full precision around 2e-4 -> 1e-4 with noise are a real halving
    import numpy as np

    from gradlog.analyzers.synthetic import make_run

    t = np.arange(0, 2000, 25)
    lr = np.where(t < 1000, 1e-5, 1e-6)
    rng = np.random.default_rng(0)
    exact = np.where(t < 1000, 2e-4, 1e-4) * np.exp(rng.normal(0, 0.1, t.size))
    rounded = np.round(exact, 4)
    assert set(rounded[t < 1000]) == {2e-4} and set(rounded[t >= 1100]) == {1e-4}
    (q,) = decay_tests(make_run({"train/loss": (t, rounded), "train/lr": (t, lr)}))
    assert q["resolution"] == pytest.approx(1e-4) and q["below_resolution"]
    assert q["observed_drop"] == pytest.approx(0.5) and not q["limited"]
    (f,) = decay_tests(make_run({"train/loss": (t, exact), "train/lr": (t, lr)}))
    assert not f["below_resolution"] and f["limited"]


def test_whisper_corpus_rounded_loss_is_not_lr_limited(corpus):
    import gradlog
    from gradlog.analyzers.context import phases

    # the Whisper log (loss rounded to 4 decimals) decays its LR linearly: a continuous
    # schedule has no discrete decay, so nothing is tested and nothing is claimed (it used
    # to be cut into invented halvings, one of which "dropped 50%": 0.0002 -> 0.0001)
    rep = gradlog.analyze(gradlog.load(corpus / "hf_trainer" / "whisper_large_v2_ja_5k_trainer_state.json"))
    assert rep.by_id("lr_limited_plateau") == []
    assert decay_tests(rep.run) == []
    assert len(phases(rep.run)) <= 2  # at most a warm-up and the linear decay
    assert any(x["id"] == "lr_limited_plateau" for x in rep.not_assessable)


def _bouncing_then_decayed(seed: int):
    """A loss that bounces at LR 1 (most steps near 0.5, one in eight thrown up to ~3 by a
    step too large for the curvature) until the decay at step 400, then sits at 0.45."""
    import numpy as np

    import gradlog
    from gradlog.frame import build_frame

    rng = np.random.default_rng(seed)
    n = 800
    steps = np.arange(n)
    base = np.where(steps < 400, 0.5, 0.45) * np.exp(rng.normal(0, 0.05, n))
    bounce = (steps < 400) & (rng.random(n) < 0.125)
    loss = np.where(bounce, 3.0 * np.exp(rng.normal(0, 0.1, n)), base)
    lr = np.where(steps < 400, 1.0, 0.1)
    frame, _ = build_frame(
        ["train/loss"] * n + ["train/lr"] * n,
        np.concatenate([steps, steps]),
        np.concatenate([loss, lr]),
    )
    return gradlog.Run(frame, {"name": "bounce"})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_level_a_bouncing_iterate_sets_is_its_mean_loss(seed):
    # The median of the window before the decay is ~0.5, after it 0.45: a 10% "drop".
    # The mean before is ~0.75 (the bounces are part of the level the LR sets), after it
    # 0.45: a 40% drop, many standard errors beyond the flat trend.
    run = _bouncing_then_decayed(seed)
    (t,) = decay_tests(run)
    assert t["step"] == 400 and t["level"] == "mean" and t["predicted_drop"] == 0.0
    assert 0.3 <= t["observed_drop"] <= 0.5 and t["z"] >= 4.0 and t["limited"]
    (f,) = detect_lr_limited_plateau(run)
    assert f.evidence["decay_steps"] == [400] and f.step_range[1] == 400
    assert "at step 400 (LR 1 → 0.1) its mean level fell" in f.summary
