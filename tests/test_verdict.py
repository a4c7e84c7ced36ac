"""The LR verdict and the reconciliation, on small fixtures rebuilt from the wrong-advice
cases of the LR-verdict issue (each case: what the log looked like, and what must not
be said about it)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradlog
from gradlog.analyzers.synthetic import make_run
from gradlog.findings import LRAdvice
from gradlog.roles import infer_roles


def _stop_or_decay(report) -> list[str]:
    bad = []
    for f in report.findings:
        rec = f.recommendation.lower()
        if (
            rec.startswith("stop")
            or "stop earlier" in rec
            or rec.startswith("decay")
            or "lower the lr" in rec
        ):
            bad.append(f.id)
    return bad


def _too_small(seed: int = 0, steps: int = 1000, lr: float = 0.003, decays: tuple[int, ...] = ()) -> object:
    """A logistic regression at a tiny LR: the loss falls slowly and steadily to the end."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    lr_s = np.full(steps, lr)
    for d in decays:
        lr_s[d:] *= 0.1
    level = 0.05 + 0.65 * np.exp(-t / (1.5 * steps))
    loss = level * np.exp(rng.normal(0, 0.08, steps))
    g = np.sqrt(level) * 0.4 * np.exp(rng.normal(0, 0.05, steps))
    return make_run({"train/loss": (t, loss), "train/lr": (t, lr_s), "grad_norm/total": (t, g)})


def test_lr_too_small_is_raise_with_a_derived_lr_never_decay():
    # the logistic regression at LR 0.003 (its sweep did best at 0.3) was told
    # "decay the LR 10x"
    rep = gradlog.analyze(_too_small())
    (f,) = rep.by_id("lr_too_small")
    assert f.evidence["late_share"] > 0.15 and f.evidence["late_z"] > 3
    assert f.evidence["promise_share"] < 0.01
    a = rep.lr_advice
    assert a.action == "raise" and a.scope == "run" and a.lr == pytest.approx(0.003)
    # the promise eta*||g||^2 is ~0.05% of the loss: the 10x cap applies
    assert a.to_lr == pytest.approx(0.03)
    assert a.finding_ids == ("lr_too_small",)
    assert a.because[0]["evidence"]["late_share"] == pytest.approx(f.evidence["late_share"])
    assert _stop_or_decay(rep) == []


def test_step_decayed_small_lr_is_never_told_to_stop_or_decay():
    # the CNN replica at LR 0.001 / 0.003 (decays at 50% and 75%) was told "stop earlier to
    # save compute" while its loss still fell
    rep = gradlog.analyze(_too_small(seed=1, steps=2000, lr=0.001, decays=(1000, 1500)))
    assert rep.lr_advice.action not in ("lower", "decay_now", "decay_earlier")
    assert _stop_or_decay(rep) == []
    assert not rep.by_id("loss_plateau")


def _warmup_edge_of_stability(seed: int = 0, steps: int = 800, peak: float = 1.0) -> object:
    """Linear warm-up over 100 steps, then a constant LR: every step promises (eta*||g||^2)
    20% of the loss and the loss realises ~3% of that, falling steadily to the end, with a
    gradient norm that follows the iterate's state: edge-of-stability training, no bounce."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    lr = np.minimum(1.0, (t + 1) / 100.0) * peak
    level = 0.9 * 10 ** (-0.0029 * t)
    loss = level * np.exp(rng.normal(0, 0.05, steps))
    ar = np.zeros(steps)
    for i in range(1, steps):
        ar[i] = 0.9 * ar[i - 1] + rng.normal(0, 0.05)
    g = np.sqrt(0.2 * level / peak) * np.exp(ar)
    return make_run({"train/loss": (t, loss), "train/lr": (t, lr), "grad_norm/total": (t, g)})


def test_warmup_then_constant_edge_of_stability_is_not_oscillation():
    rep = gradlog.analyze(_warmup_edge_of_stability())
    assert not rep.by_id("step_size_oscillation")
    assert rep.lr_advice.action == "keep"
    assert _stop_or_decay(rep) == []


def test_noisy_stable_small_batch_run_is_kept():
    # a batch-8 run with a noisy but stable loss was told to decay
    rng = np.random.default_rng(3)
    t = np.arange(1000)
    level = 0.2 + 0.5 * np.exp(-t / 150)
    loss = level * np.exp(rng.normal(0, 0.45, t.size))
    g = np.sqrt(level) * np.exp(rng.normal(0, 0.4, t.size))  # noise-dominated: white
    run = make_run(
        {"train/loss": (t, loss), "train/lr": (t, np.full(t.size, 0.01)), "grad_norm/total": (t, g)}
    )
    rep = gradlog.analyze(run)
    assert rep.lr_advice.action == "keep"
    assert not rep.by_id("step_size_oscillation") and not rep.by_id("divergence")
    assert not any(
        "decay" in f.recommendation.lower() and "test" not in f.recommendation.lower() for f in rep.findings
    )


def test_one_low_minibatch_value_is_not_a_divergence():
    # a resumed GoogLeNet log: "rose 6.5x above its minimum (0.0241)" while its median
    # stayed ~0.15 from start to end
    vals = [0.15, 0.16, 0.14, 0.0241, 0.15, 0.16, 0.155, 0.15]
    t = np.arange(len(vals)) * 40
    rep = gradlog.analyze(make_run({"train/loss": (t, vals)}))
    assert not rep.by_id("divergence")
    assert rep.lr_advice.action != "lower"


def test_divergence_minimum_is_a_logged_step_before_the_rise():
    # a Faster R-CNN log put the minimum on a step that was never logged
    rng = np.random.default_rng(4)
    t = np.arange(0, 6000, 20)
    loss = np.where(t < 4000, 1.0 * np.exp(-t / 1500) + 0.3, 8.0) * np.exp(rng.normal(0, 0.05, t.size))
    rep = gradlog.analyze(make_run({"train/loss": (t, loss), "train/lr": (t, np.full(t.size, 0.01))}))
    (f,) = rep.by_id("divergence")
    assert f.evidence["min_step"] in set(t.tolist())
    assert f.evidence["min_step"] < f.step_range[0] <= 4000
    assert f.severity == "critical"  # sustained to the end
    assert rep.lr_advice.action == "lower" and rep.lr_advice.to_lr is not None


def test_a_loss_whose_lowest_point_is_its_last_did_not_diverge():
    rng = np.random.default_rng(5)
    t = np.arange(300)
    level = np.concatenate([np.full(100, 1.0), np.full(150, 3.0), np.linspace(3.0, 0.2, 50)])
    loss = level * np.exp(rng.normal(0, 0.03, t.size))
    rep = gradlog.analyze(make_run({"train/loss": (t, loss)}))
    assert not rep.by_id("divergence")


def test_a_jump_far_above_the_first_values_that_stays_is_divergence():
    # a Caffe run whose loss jumped from 7.9 to 53 within 20 iterations and stayed at 35-60
    # for 1,000 iterations got no finding
    rng = np.random.default_rng(6)
    t = np.arange(0, 1040, 20)
    loss = np.where(t < 20, 7.9, rng.uniform(35, 60, t.size))
    rep = gradlog.analyze(make_run({"train/loss": (t, loss), "train/lr": (t, np.full(t.size, 0.01))}))
    (f,) = rep.by_id("divergence")
    assert f.severity == "critical"
    assert f.evidence["min_loss"] == pytest.approx(7.9, rel=0.05)
    assert rep.lr_advice.action == "lower"


def test_a_loss_component_is_not_the_loss_when_a_total_is_logged():
    roles = infer_roles(
        [
            "train/rpn_cls_loss",
            "train/rpn_loss_bbox",
            "train/loss_cls",
            "train/loss_bbox",
            "train/loss_smoothed",
            "train/lr",
        ]
    )
    assert roles["loss"] == "train/loss_smoothed"
    # a single loss output keeps the raw per-iteration value
    assert infer_roles(["train/softmax_loss", "train/loss_smoothed"])["loss"] == "train/softmax_loss"


def test_noisy_loss_is_dropped_beside_oscillation_on_the_same_steps():
    from gradlog.analyzers.verdict import reconcile
    from gradlog.findings import Finding

    run = _too_small()
    osc = Finding("step_size_oscillation", "warning", "bounces", step_range=(0, 999))
    noisy = Finding("noisy_loss", "info", "noise", step_range=(0, 999))
    assert [f.id for f in reconcile(run, [osc, noisy])] == ["step_size_oscillation"]


def test_unknown_with_a_reason_without_a_loss_or_with_too_few_points():
    t = np.arange(5)
    rep = gradlog.analyze(make_run({"train/loss": (t, [1.0, 0.9, 0.8, 0.7, 0.6])}))
    assert rep.lr_advice.action == "unknown" and rep.lr_advice.reason == "too few points (5)"
    rep = gradlog.analyze(make_run({"val/accuracy": (t, [0.1, 0.2, 0.3, 0.4, 0.5])}))
    assert rep.lr_advice.action == "unknown" and rep.lr_advice.reason == "no training loss"
    # three NaN points: too few to call a divergence, and no finite value to judge
    t3 = np.arange(3)
    rep = gradlog.analyze(make_run({"train/loss": (t3, [np.nan] * 3), "train/lr": (t3, [0.1] * 3)}))
    assert rep.lr_advice.action == "unknown" and rep.lr_advice.reason == "no finite loss values"
    assert rep.lr_advice.summary == "No verdict: the training loss has no finite value."


def test_lr_advice_json_shape():
    doc = gradlog.analyze(_too_small()).to_dict()
    a = doc["lr_advice"]
    assert set(a) == {
        "action",
        "step_range",
        "lr",
        "to_lr",
        "confidence",
        "because",
        "summary",
        "reason",
        "scope",
    }
    assert a["action"] == "raise" and a["reason"] is None and a["scope"] == "run"
    assert all(set(b) == {"finding", "evidence"} for b in a["because"])
    assert math.isfinite(a["confidence"])


def test_lr_advice_contract_is_validated():
    with pytest.raises(ValueError, match="unknown LR action"):
        LRAdvice("shrink", "x")  # type: ignore[arg-type]
    a = LRAdvice("keep", "Keep it.")
    assert a.line() == "LR: keep \u2014 Keep it."
    assert "run_action" not in a.to_dict()
    s = LRAdvice("raise", "Raise it.", scope="sweep", run_action="keep")
    assert s.to_dict()["run_action"] == "keep"


def test_decays_that_change_nothing_under_tiny_steps_do_not_say_stop():
    # the CNN replica at LR 0.001: the loss flattened, two decays changed nothing, and each
    # step promised ~0.5% of the loss; "stop earlier to save compute" was the opposite of
    # what helped (its sweep did best at 10x the LR)
    rng = np.random.default_rng(7)
    t = np.arange(2000)
    lr = np.where(t < 1000, 0.001, np.where(t < 1500, 0.0001, 0.00001))
    level = 0.45 + 0.2 * np.exp(-t / 200)
    loss = level * np.exp(rng.normal(0, 0.15, t.size))
    g = np.full(t.size, 1.6) * np.exp(rng.normal(0, 0.1, t.size))  # eta*g^2/L ~ 0.5%
    rep = gradlog.analyze(make_run({"train/loss": (t, loss), "train/lr": (t, lr), "grad_norm/total": (t, g)}))
    (p,) = rep.by_id("loss_plateau")
    assert p.evidence["step_size"]["verdict"] == "not_step_size"
    assert not p.recommendation.lower().startswith("stop")
    assert "3-10x the LR" in p.recommendation
    assert rep.lr_advice.action == "keep"


def test_a_norm_pinned_at_the_clip_value_is_said_and_blocks_raise():
    # the too-small fixture, but with its total gradient norm pinned at a clip value on
    # half of the steps: the verdict must not raise, and must say why it is unsure
    run = _too_small()
    t = np.arange(1000)
    g = np.where(t % 2 == 0, 1.0, 0.5)
    clipped = make_run(
        {
            "train/loss": (t, run.series("train/loss").to_numpy()),
            "train/lr": (t, run.series("train/lr").to_numpy()),
            "grad_norm/total": (t, g),
        }
    )
    rep = gradlog.analyze(clipped)
    assert not rep.by_id("lr_too_small")
    a = rep.lr_advice
    assert a.action == "keep" and "clipped at 1" in a.summary and "50%" in a.summary
    assert a.confidence < 0.5


def test_run_crashed_from_the_crash_the_parser_recorded():
    t = np.arange(100)
    run = make_run(
        {"train/loss": (t, np.linspace(2, 1, 100))},
        meta={
            "crash": {
                "kind": "cuda_oom",
                "line": 412,
                "step": 99,
                "text": "Check failed: error == cudaSuccess (2 vs. 0) out of memory",
            },
            "restarts": [],
        },
    )
    rep = gradlog.analyze(run)
    (f,) = rep.by_id("run_crashed")
    assert f.severity == "warning" and f.step_range == (99, 99)
    assert "out of GPU memory" in f.summary and "line 412" in f.summary
    assert f.evidence["relaunched"] is False
    assert "smaller batch" in f.recommendation
    # a later launch in the same file ran on: info
    run.meta["restarts"] = [{"kind": "relaunch", "line": 500, "step": 0}]
    (g,) = gradlog.analyze(run).by_id("run_crashed")
    assert g.severity == "info" and g.evidence["relaunched"] is True


def test_a_divergence_right_after_a_resume_says_so():
    t = np.arange(0, 4000, 20)
    loss = np.where(t < 2040, 1.0, 60.0)
    run = make_run(
        {"train/loss": (t, loss), "train/lr": (t, np.full(t.size, 0.01))},
        meta={"restarts": [{"kind": "resume", "line": 900, "step": 2000}]},
    )
    (f,) = gradlog.analyze(run).by_id("divergence")
    assert f.evidence["after_resume_step"] == 2000
    assert "resume at step 2,000" in f.summary
    run2 = make_run({"train/loss": (t, loss)}, meta={"restarts": [{"kind": "resume", "step": 400}]})
    (g,) = gradlog.analyze(run2).by_id("divergence")
    assert "after_resume_step" not in g.evidence


def _logreg_run(lr: float, *, adam: bool, steps: int = 1000, seed: int = 0, hparams: bool = False):
    """A real (tiny) training run: logistic regression on 32 features, batch 32, trained
    here with numpy by Adam or plain SGD, logging loss, LR and gradient 2-norm per step."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 32))
    y = (x @ rng.normal(size=32) + rng.normal(size=2000) > 0).astype(float)
    w, m, v = np.zeros(32), np.zeros(32), np.zeros(32)
    losses, norms = [], []
    for t in range(steps):
        idx = rng.integers(0, 2000, 32)
        p = 1.0 / (1.0 + np.exp(-x[idx] @ w))
        losses.append(float(-np.mean(y[idx] * np.log(p + 1e-12) + (1 - y[idx]) * np.log(1 - p + 1e-12))))
        g = x[idx].T @ (p - y[idx]) / 32
        norms.append(float(np.linalg.norm(g)))
        if adam:
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w -= lr * (m / (1 - 0.9 ** (t + 1))) / (np.sqrt(v / (1 - 0.999 ** (t + 1))) + 1e-8)
        else:
            w -= lr * g
    t = np.arange(steps)
    meta = {"hparams": {"optimizer": "adam" if adam else "sgd"}} if hparams else None
    return make_run(
        {"train/loss": (t, losses), "train/lr": (t, np.full(steps, lr)), "grad_norm/total": (t, norms)}, meta
    )


@pytest.mark.parametrize("lr", [1e-3, 3e-3, 1e-2])
def test_adam_at_good_lrs_is_not_lr_too_small(lr):
    # the held-out Adam sweeps got lr_too_small at good LRs
    for hp in (False, True):
        rep = gradlog.analyze(_logreg_run(lr, adam=True, hparams=hp))
        assert not rep.by_id("lr_too_small")
        assert rep.lr_advice.action in ("keep", "unknown")


def test_adaptive_optimizer_is_named_in_the_evidence():
    rep = gradlog.analyze(_logreg_run(3e-4, adam=True, hparams=True))
    for f in rep.by_id("lr_too_small"):
        assert f.evidence["adaptive_optimizer"] is True and "adaptive optimizer" in f.explanation


def test_epoch_logs_say_epoch_in_every_sentence():
    t = np.arange(40)
    loss = np.where(t < 8, 1.0 - 0.08 * t, 0.36) * (1 + 0.002 * np.sin(t))
    run = make_run({"train/loss": (t, loss), "train/lr": (t, np.full(40, 0.01))}, meta={"step_unit": "epoch"})
    rep = gradlog.analyze(run)
    (p,) = rep.by_id("loss_plateau")
    assert "epoch 8" in p.summary and "step 8" not in p.summary
    assert "epoch" in rep.lr_advice.summary and "step " not in rep.lr_advice.summary


def test_the_trend_table_says_a_blow_up_is_a_blow_up():
    t = np.arange(0, 6000, 20)
    loss = np.where(t < 4000, 1.0 * np.exp(-t / 1500) + 0.3, 8.0)
    rep = gradlog.analyze(make_run({"train/loss": (t, loss), "train/lr": (t, np.full(t.size, 0.01))}))
    (f,) = rep.by_id("divergence")
    text = rep.to_text()
    assert f"in a blow-up from step {f.step_range[0]:,}" in text and "note: train/loss rose" in text


def _logreg_cosine(lr: float, *, steps: int = 1000, seed: int = 0):
    """A real (tiny) plain-SGD logistic regression under a cosine decay of the LR to zero."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 32))
    y = (x @ rng.normal(size=32) + rng.normal(size=2000) > 0).astype(float)
    w = np.zeros(32)
    lrs = lr * 0.5 * (1.0 + np.cos(np.pi * np.arange(steps) / steps))
    losses, norms = [], []
    for t in range(steps):
        idx = rng.integers(0, 2000, 32)
        p = 1.0 / (1.0 + np.exp(-x[idx] @ w))
        losses.append(float(-np.mean(y[idx] * np.log(p + 1e-12) + (1 - y[idx]) * np.log(1 - p + 1e-12))))
        g = x[idx].T @ (p - y[idx]) / 32
        norms.append(float(np.linalg.norm(g)))
        w -= lrs[t] * g
    t = np.arange(steps)
    return make_run({"train/loss": (t, losses), "train/lr": (t, lrs), "grad_norm/total": (t, norms)})


def test_a_cosine_decay_does_not_hide_a_too_small_lr():
    # the held-out CNNs at batch 8 under a cosine schedule, LR 10x below their sweep's best,
    # were told "keep": the decaying LR slows the late descent by itself, so the late
    # decrease is judged against the gradient-flow time (sum of the LRs) the window holds
    small = gradlog.analyze(_logreg_cosine(0.003))
    (f,) = small.by_id("lr_too_small")
    assert f.evidence["late_share"] < 0.15  # what a constant LR would have needed
    assert small.lr_advice.action == "raise"
    good = gradlog.analyze(_logreg_cosine(0.5))
    assert not good.by_id("lr_too_small")
    assert good.lr_advice.action in ("keep", "unknown")


def test_a_cosine_decay_does_not_lower_the_bar_for_an_adaptive_run():
    # Adam's step does not follow the LR alone: its late descent under a cosine decay is
    # judged as for a constant LR
    run = _logreg_cosine(0.003)
    run.meta.setdefault("hparams", {})["optimizer"] = "adam"
    assert not gradlog.analyze(run).by_id("lr_too_small")


def test_alternation_at_an_even_logging_interval_is_not_a_bounce():
    # a validation run (200 samples, batch 16: an epoch of 12.5 steps) logged as running
    # means every 10 steps alternated from point to point with its gradient norm, and a
    # too-small LR was told to go lower: sampled every even number of steps, a period-2
    # bounce cannot alternate, so that alternation is the data order, not the step size
    rng = np.random.default_rng(0)
    t = np.arange(9, 3000, 10)
    level = 0.3 + 0.4 * np.exp(-t / 2500)
    wobble = np.where(np.arange(t.size) % 2 == 0, 1.15, 0.87)
    loss = level * wobble * np.exp(rng.normal(0, 0.02, t.size))
    g = 0.5 * wobble * np.exp(rng.normal(0, 0.02, t.size))
    run = make_run(
        {"train/loss": (t, loss), "train/lr": (t, np.full(t.size, 0.01)), "grad_norm/total": (t, g)}
    )
    rep = gradlog.analyze(run)
    assert not rep.by_id("step_size_oscillation")
    assert rep.lr_advice.action not in ("lower", "decay_now", "decay_earlier")


def test_a_continuous_decay_is_not_said_to_never_decrease():
    rep = gradlog.analyze(_logreg_cosine(0.003))
    reasons = {n["id"]: n["reason"] for n in rep.not_assessable}
    assert reasons["lr_limited_plateau"].startswith("the learning rate decays continuously")


def test_a_warm_up_then_cosine_schedule_has_trends_per_stretch_not_per_halving():
    t = np.arange(1000)
    lr = np.where(t < 100, 0.1 * (t + 1) / 100, 0.05 * (1 + np.cos(np.pi * (t - 100) / 900)))
    rng = np.random.default_rng(0)
    loss = (0.2 + 2.0 * np.exp(-t / 300)) * np.exp(rng.normal(0, 0.05, t.size))
    rep = gradlog.analyze(make_run({"train/loss": (t, loss), "train/lr": (t, lr)}))
    scopes = [(x.scope, x.step_start) for x in rep.trends if x.tag == "train/loss" and x.scope != "run"]
    assert [s for s, _ in scopes] == ["lr_segment warm-up", "lr_segment decay"]
    assert scopes[1][1] >= 95


def test_noisy_loss_is_dropped_beside_divergence_on_the_same_steps():
    # "the fluctuation is minibatch noise, nothing is wrong" next to "the loss diverged,
    # lower the LR" is contradicting advice (seen on a GRU at LR 1 with clipping)
    from gradlog.analyzers.verdict import reconcile
    from gradlog.findings import Finding

    run = _too_small()
    div = Finding("divergence", "critical", "blew up", step_range=(657, 1499))
    noisy = Finding("noisy_loss", "info", "noise", step_range=(0, 1499))
    early = Finding("noisy_loss", "info", "noise", step_range=(0, 600))
    assert [f.id for f in reconcile(run, [div, noisy])] == ["divergence"]
    assert [f.step_range for f in reconcile(run, [div, early])] == [(657, 1499), (0, 600)]
