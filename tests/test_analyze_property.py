"""Property tests: ``gradlog.analyze`` and every report format never raise at all on a
Run, whatever numbers the series hold (NaN, inf, 0, negative, +-1e300, one
point or a thousand, irregular steps), and the JSON report is strict JSON."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import gradlog
from gradlog.findings import LR_ACTIONS
from gradlog.frame import build_frame

# Series a training log has, under names the role inference recognises.
_TAGS = ("train/loss", "train/lr", "val/loss", "grad_norm/total", "grad_norm/conv1", "grad_norm/fc2")
_SHAPES = ("decay", "const", "walk", "alternate", "blowup", "noise", "steps")
_SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 5e-324, -1.0, 1e160)
_SCALES = (1.0, -1.0, 0.0, 1e-300, 1e300, -1e300, 1e160, 1e-8, 3.0, -3.0)


def _curve(rng: np.random.Generator, shape: str, n: int) -> np.ndarray:
    t = np.arange(n, dtype=float)
    if shape == "decay":
        return 2.3 * np.exp(-t / max(1.0, n / 5)) + 0.3
    if shape == "const":
        return np.ones(n)
    if shape == "walk":
        return np.exp(np.cumsum(rng.normal(0.0, 0.1, n)))
    if shape == "alternate":
        return 1.0 + 0.3 * np.where(t % 2 == 0, 1.0, -1.0)
    if shape == "blowup":
        return np.exp(np.clip((t - 0.7 * n) / max(1.0, n / 20), -50.0, 700.0))
    if shape == "steps":
        return np.where(t < n / 2, 1.0, 0.1)
    return rng.normal(0.0, 1.0, n)


@st.composite
def runs_st(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.one_of(st.integers(1, 30), st.integers(31, 1000)))
    # odd step spacing: irregular gaps, a large offset, sometimes negative steps
    gap_kind = draw(st.sampled_from(("one", "even", "random", "huge")))
    if gap_kind == "one":
        gaps = np.ones(n, dtype=np.int64)
    elif gap_kind == "even":
        gaps = np.full(n, draw(st.integers(2, 50)), dtype=np.int64)
    elif gap_kind == "random":
        gaps = rng.integers(1, 40, n)
    else:
        gaps = rng.integers(1, 10**9, n)
    start = draw(st.integers(-1000, 10**6))
    base_steps = start + np.cumsum(gaps)
    # mostly a loss with an LR (what most detectors need), plus any other series
    core = [t for t in ("train/loss", "train/lr") if draw(st.integers(0, 4)) > 0]
    extra = draw(st.lists(st.sampled_from(_TAGS[2:]), max_size=len(_TAGS) - 2, unique=True))
    tags = (core + extra) or ["train/loss"]
    rows_t, rows_s, rows_v = [], [], []
    for tag in tags:
        every = draw(st.sampled_from((1, 1, 1, 2, 7, 50)))
        steps = base_steps[::every]
        m = len(steps)
        if tag == "train/lr" and draw(st.booleans()):
            # an ordinary schedule: constant or step decays
            vals = draw(st.sampled_from((0.1, 0.5, 1e-3))) * np.where(
                np.arange(m) < m // 2, 1.0, draw(st.sampled_from((1.0, 0.1)))
            )
        else:
            shape = draw(st.sampled_from(_SHAPES))
            scale = draw(st.sampled_from(_SCALES)) if draw(st.booleans()) else 1.0
            vals = _curve(rng, shape, m) * scale
        noise = draw(st.sampled_from((0.0, 0.01, 0.3, 2.0)))
        with np.errstate(all="ignore"):
            vals = vals * np.exp(rng.normal(0.0, noise, m))
        n_special = draw(st.integers(0, 3))
        for _ in range(n_special):
            special = draw(st.sampled_from(_SPECIALS))
            where = draw(st.sampled_from(("one", "tail", "all", "random")))
            if where == "one":
                vals[rng.integers(0, m)] = special
            elif where == "tail":
                vals[m - max(1, m // 4) :] = special
            elif where == "all":
                vals[:] = special
            else:
                vals[rng.random(m) < 0.1] = special
        rows_t += [tag] * m
        rows_s.append(steps)
        rows_v.append(vals)
    frame, _ = build_frame(np.array(rows_t, dtype=object), np.concatenate(rows_s), np.concatenate(rows_v))
    return gradlog.Run(frame, {"format": "synthetic", "name": "prop"}, name="prop")


def _reject_constant(c: str):
    raise ValueError(f"non-strict JSON constant {c}")


def _check(run: gradlog.Run, html: bool) -> None:
    note(repr(run.frame[["tag", "step", "value"]].to_dict("list")))
    # a Run that was built is analysed and rendered without any exception at all
    report = gradlog.analyze(run)
    doc = json.loads(report.to_json(), parse_constant=_reject_constant)
    (entry,) = doc["runs"]
    assert entry["lr_advice"]["action"] in LR_ACTIONS
    assert [f["id"] for f in entry["findings"]] == [f.id for f in report.findings]
    ids = {f.id for f in report.findings}
    # the verdict never points against the findings it sits beside
    if ids & {"divergence", "step_size_oscillation"}:
        assert report.lr_advice.action != "raise"
    assert set(report.lr_advice.finding_ids) <= ids
    assert report.to_text().strip()
    assert report.to_markdown().strip()
    if html:
        assert "<html" in report.to_html().lower()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs_st())
def test_analyze_and_text_reports_never_crash(run):
    _check(run, html=False)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs_st())
def test_html_report_never_crashes(run):
    _check(run, html=True)


def test_html_report_of_a_run_that_reached_1e300():
    # matplotlib's log-axis ticks overflow on such a span: the plots use a linear axis
    from gradlog.analyzers.synthetic import make_run

    report = gradlog.analyze(make_run({"train/loss": ([1, 2], [1e300, 1.1461227146943174e160])}))
    html = report.to_html()
    assert "data:image/png;base64," in html  # the overview figure was drawn
