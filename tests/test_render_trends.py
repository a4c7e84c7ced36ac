"""Trends that agree with the curve: the direction never contradicts the fold change, a
blow-up is not "flat", and slopes read in the log's own unit."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradlog
from gradlog.analyzers.synthetic import make_run
from gradlog.analyzers.trends import DECISIVE_FOLD, direction_of
from gradlog.findings import Trend
from gradlog.render._common import SlopeUnit, slope_unit, trend_change, trend_rate


@pytest.mark.parametrize(
    ("test", "fold", "expected"),
    [
        ("falling", 1.13, "flat"),  # the slope falls, the end level is above the start: no one direction
        ("rising", 0.9, "flat"),
        ("flat", 17.0, "rising"),  # a 17x blow-up is not flat for a test with little power
        ("flat", 0.4, "falling"),
        ("falling", 0.8, "falling"),
        ("rising", 1.3, "rising"),
        ("flat", 1.5, "flat"),
        ("rising", math.nan, "rising"),
    ],
)
def test_direction_agrees_with_the_fold_change(test: str, fold: float, expected: str) -> None:
    assert direction_of(test, fold) == expected
    assert DECISIVE_FOLD == 2.0


def test_no_trend_of_the_sample_contradicts_its_fold_change(samples) -> None:
    rep = gradlog.analyze(samples / "pytorch_cnn" / "train_log.csv")
    for t in rep.trends:
        if t.direction == "rising":
            assert t.fold_change > 1, t
        if t.direction == "falling":
            assert t.fold_change < 1, t
    conv1 = next(t for t in rep.trends if t.tag == "grad_norm/conv1" and t.scope == "run")
    assert conv1.fold_change > 1 and conv1.direction == "flat"  # was "falling" at x1.13


@pytest.mark.corpus
def test_a_run_that_blew_up_17x_is_rising_not_flat(corpus) -> None:
    # GoogLeNet diverging to 115: the thinned trend test has little power (p = 0.22), but
    # the robust end level is 17x the start
    rep = gradlog.analyze(corpus / "caffe" / "googlenet_glogfile_diverges_to_115.log")
    t = next(t for t in rep.trends if t.tag == "train/loss3/loss3" and t.scope == "run")
    assert t.fold_change == pytest.approx(16.96, rel=0.01) and t.p_value > 0.05
    assert t.direction == "rising"
    line = next(x for x in rep.to_text().splitlines() if x.strip().startswith("train/loss3/loss3"))
    assert "×17" in line and line.endswith("rising")


def _trend(slope: float, log_space: bool = True) -> Trend:
    return Trend(
        tag="train/loss",
        role="loss",
        scope="run",
        step_start=0,
        step_end=1,
        n=10,
        log_space=log_space,
        slope=slope,
        slope_low=slope,
        slope_high=slope,
        intercept=0.0,
        p_value=0.01,
        test="MK",
        fold_change=0.632,
        start_level=1.0,
        end_level=0.632,
        direction="falling",
    )


def test_slope_units_follow_the_log() -> None:
    def unit(last: int, step_unit: str = "step") -> str:
        steps = np.linspace(0, last, 50).astype(np.int64)
        run = make_run({"train/loss": (steps, np.linspace(2, 1, 50))})
        run.meta["step_unit"] = step_unit
        return slope_unit(run).label

    assert unit(3999) == "1k steps"
    assert unit(82_000_000, "iteration") == "10M iterations"
    assert unit(320_000, "iteration") == "100k iterations"
    assert unit(23, "epoch") == "epoch"
    # log10 slope per 1,000 steps -0.0324 reads as -7.2% per 1k steps; per epoch a
    # slope of -155 per 1,000 epochs is -0.155 per epoch in value units
    assert trend_rate(_trend(-0.0324), SlopeUnit(1000.0, "1k steps")) == "-7.2%"
    assert trend_rate(_trend(-155.0, log_space=False), SlopeUnit(1.0, "epoch")) == "-0.15"
    assert trend_rate(_trend(-6.01e-6 * 1000 / 1000), SlopeUnit(1e7, "10M iterations")) == "-13%"
    assert trend_change(_trend(-0.0324)) == "×0.632"
