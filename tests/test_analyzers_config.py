"""The tunables in AnalysisConfig reach the detectors: a user who changes one sees its effect.

The defaults are pinned elsewhere (every detector's tests run on DEFAULT_CONFIG); these
tests change one field at a time and check the value a user would read.
"""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

import gradlog
from gradlog.analyzers import detect_step_size_oscillation
from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.synthetic import synthetic_run


def _bouncing(**kw):
    # a period-2 bounce that scales with the LR, 0.1 -> 0.01 -> 0.001
    args = dict(
        seed=1,
        steps=6000,
        decays=(3000, 4500),
        alternation=0.3,
        val_every=100,
        grad_layers=("a",),
        grad_total=True,
        momentum=0.9,
    )
    args.update(kw)
    return synthetic_run(**args)


def test_oscillation_confidence_follows_the_policy():
    run = _bouncing()
    (f,) = detect_step_size_oscillation(run)
    # three signals: base 0.45 + 3 x 0.15
    assert f.evidence["signals_present"] == [
        "alternation",
        "amplitude_scales_with_lr",
        "grad_norm_swings_with_loss",
    ]
    assert f.confidence == pytest.approx(0.9)
    (capped,) = detect_step_size_oscillation(run, config=replace(DEFAULT_CONFIG, confidence_max=0.5))
    assert capped.confidence == pytest.approx(0.5)


def test_decay_ratio_decides_what_counts_as_a_decay():
    run = _bouncing()
    (f,) = detect_step_size_oscillation(run)
    assert [d["step"] for d in f.evidence["decays"]] == [3000, 4500]
    # the LR falls 10x at each decay: with a 20x threshold neither counts, and the
    # amplitude-vs-LR signal is gone while the others remain
    (g,) = detect_step_size_oscillation(run, config=replace(DEFAULT_CONFIG, osc_decay_ratio=20.0))
    assert g.evidence["decays"] == []
    assert g.evidence["signals_present"] == ["alternation", "grad_norm_swings_with_loss"]


def test_lower_factor_sets_the_suggested_lr_without_a_calm_phase():
    run = synthetic_run(
        seed=1, steps=4000, alternation=0.3, grad_layers=("a",), grad_total=True, momentum=0.9
    )
    (f,) = detect_step_size_oscillation(run)
    assert f.evidence["suggested_lr"] == pytest.approx(0.03)  # 0.1 / 3, rounded down
    (g,) = detect_step_size_oscillation(run, config=replace(DEFAULT_CONFIG, lr_lower_factor=10.0))
    assert g.evidence["suggested_lr"] == pytest.approx(0.01)
    assert "(0.1 → 0.01)" in g.recommendation


def test_keep_verdict_confidence_is_configurable():
    run = synthetic_run(seed=3, steps=4000)
    assert gradlog.analyze(run).lr_advice.action == "keep"
    assert gradlog.analyze(run).lr_advice.confidence == pytest.approx(0.5)
    cfg = replace(DEFAULT_CONFIG, keep_confidence=0.4)
    assert gradlog.analyze(
        synthetic_run(seed=3, steps=4000), config=cfg
    ).lr_advice.confidence == pytest.approx(0.4)


def test_every_tunable_is_a_plain_value_with_a_default():
    # the config stays hashable (it keys the per-run measure cache) and complete
    cfg = AnalysisConfig()
    assert cfg == DEFAULT_CONFIG and hash(cfg) == hash(DEFAULT_CONFIG)
    for f in fields(AnalysisConfig):
        assert isinstance(getattr(cfg, f.name), (int, float, tuple)), f.name
