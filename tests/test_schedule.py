"""The LR schedule named: its kind and landmarks (gradlog.series.lr_schedule), in words
in every report, on synthetic curves of each kind, the labelled validation runs and real
logs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gradlog
from gradlog.render.schedule import schedule_line, scope_label, stop_note
from gradlog.series import lr_schedule

VALIDATION = Path(__file__).resolve().parents[2] / "shared" / "validation" / "runs"
STEPS = np.arange(0, 1000)


def _sched(values: np.ndarray, steps: np.ndarray = STEPS) -> gradlog.series.LRSchedule:
    s = lr_schedule(pd.Series(values, index=steps))
    assert s is not None
    return s


# -- synthetic curves of each kind --------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "kind", "param", "expected"),
    [
        (0.1 * (1 - STEPS / 1000), "linear", "end_step", 1000.0),
        (0.05 * (1 + np.cos(np.pi * STEPS / 1000)), "cosine", "end_step", 1000.0),
        (0.1 * (1 - STEPS / 1000) ** 2, "poly", "power", 2.0),
        (0.01 * (1 - STEPS / 1000) ** 0.9, "poly", "power", 0.9),  # DeepLab's poly
        (0.1 * 0.995**STEPS, "exponential", "half_life", np.log(2) / -np.log(0.995)),
        (0.01 * (1 + 1e-3 * STEPS) ** -0.75, "inverse", "power", 0.75),  # Caffe's "inv"
    ],
)
def test_continuous_decays_are_named_with_their_numbers(values, kind, param, expected):
    s = _sched(values)
    assert (s.kind, s.warmup, s.continuous) == (kind, None, True)
    assert s.params[param] == pytest.approx(expected, rel=0.01)
    assert s.landmarks == ()
    assert [g.name for g in s.segments] == ["decay"]


def test_warmup_then_cosine_has_the_warmup_end_as_landmark():
    lr = np.where(STEPS < 100, (STEPS + 1) / 100 * 0.1, 0.05 * (1 + np.cos(np.pi * (STEPS - 99) / 901)))
    s = _sched(lr)
    assert (s.kind, s.warmup) == ("cosine", "linear")
    assert [(m.name, m.step) for m in s.landmarks] == [("warmup_end", 99)]
    assert [(g.name, g.start, g.end) for g in s.segments] == [("warm-up", 0, 99), ("decay", 99, 999)]
    assert schedule_line(s) == (
        "linear warm-up from 0.001 to 0.1 over 100 steps, then cosine decay to 0 by step 999"
    )


def test_warmup_then_constant():
    s = _sched(np.minimum(1.0, (STEPS + 1) / 100) * 0.1)
    assert (s.kind, s.warmup) == ("constant", "linear")
    assert [(m.name, m.step) for m in s.landmarks] == [("warmup_end", 99)]
    assert schedule_line(s, "iteration") == (
        "linear warm-up from 0.001 to 0.1 over 100 iterations, then constant"
    )


def test_constant_then_linear_decay_marks_the_decay_start():
    s = _sched(np.where(STEPS < 700, 0.1, 0.1 * (1 - (STEPS - 700) / 300)))
    assert s.kind == "linear"
    assert [(m.name, m.step) for m in s.landmarks] == [("decay_start", 700)]
    assert [(g.name, g.start, g.end) for g in s.segments] == [("constant", 0, 700), ("decay", 700, 999)]
    assert schedule_line(s).startswith("constant 0.1 until step 700, then linear decay to 0.000333")


def test_step_schedule_lists_its_decays():
    s = _sched(np.where(STEPS < 300, 0.1, np.where(STEPS < 600, 0.01, 0.001)))
    assert (s.kind, s.continuous) == ("step", False)
    assert [(m.name, m.step) for m in s.landmarks] == [("decay", 300), ("decay", 600)]
    assert s.params["factor"] == pytest.approx(0.1)
    assert schedule_line(s) == "step decay: 0.1, then 0.01 from step 300, then 0.001 from step 600"


def test_a_per_epoch_staircase_is_the_decay_it_follows_and_few_small_steps_are_steps():
    # TF's exponential_decay(staircase=True): x0.96 every 10 steps, 100 stairs
    stair = _sched(0.1 * 0.96 ** (STEPS // 10))
    assert stair.kind == "exponential"
    assert stair.params["half_life"] == pytest.approx(10 * np.log(2) / -np.log(0.96), rel=0.05)
    # multistep with gamma 0.8 (each step below the 1.5x that cuts the analyzers' phases)
    steps = _sched(0.1 * 0.8 ** (STEPS // 250))
    assert steps.kind == "step"
    assert [m.step for m in steps.landmarks] == [250, 500, 750]
    assert steps.params["factor"] == pytest.approx(0.8)


def test_a_slow_cosine_the_log_stops_inside_says_where_it_was_heading():
    s = _sched(0.05 * (1 + np.cos(np.pi * STEPS / 4000)))
    assert s.kind == "cosine"
    assert s.params["end_step"] == pytest.approx(4000, rel=0.01)
    assert schedule_line(s) == (
        "cosine decay from 0.1, at 0.0854 when the log stops at step 999 (on course for 0 near step 4,000)"
    )


def test_constant_restarts_and_range_test():
    assert _sched(np.full(1000, 0.1)).kind == "constant"
    assert schedule_line(_sched(np.full(1000, 0.1))) == "constant 0.1"
    restarts = _sched(0.05 * (1 + np.cos(np.pi * (STEPS % 250) / 250)))
    assert restarts.kind == "other"  # SGDR-like restarts: no single decay shape
    rising = _sched(1e-5 * 1.01**STEPS)
    assert rising.kind == "rising"
    assert schedule_line(rising).startswith("rising from 1e-05 to 0.208")
    assert lr_schedule(pd.Series([np.nan, 0.0], index=[0, 1])) is None


def test_a_tiny_decay_logged_at_a_few_points_is_not_a_step_schedule():
    # Caffe's poly (power 0.5) logged every 40 iterations for 200: 0.1% per point
    lr = 0.01 * (1 - np.arange(24000, 24201, 40) / 48000) ** 0.5
    s = _sched(lr, np.arange(24000, 24201, 40))
    assert s.kind != "step" and s.continuous


def test_to_dict_is_plain_json():
    s = _sched(0.1 * (1 - STEPS / 1000))
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert d["kind"] == "linear" and d["segments"][0]["name"] == "decay"
    assert d["points"] == 1000 and d["interval"] == 1


# -- the labelled validation runs: config.schedule says the truth ---------------------------


def _truth(config: dict) -> tuple[str, str | None, list[tuple[str, int]]]:
    """What the log can show of the configured schedule (a run that diverged before the
    first milestone logged a constant LR)."""
    sc = config["schedule"]
    if sc["type"] == "constant":
        return "constant", None, []
    if sc["type"] == "warmup_constant":
        return "constant", "linear", [("warmup_end", sc["warmup"] - 1)]
    if sc["type"] == "cosine":
        return "cosine", None, []
    assert sc["type"] == "step"
    seen = [m for m in sc["milestones"] if m < config["steps_run"]]
    return ("step" if seen else "constant"), None, [("decay", m) for m in seen]


@pytest.mark.corpus
def test_classifier_agrees_with_every_validation_run():
    if not VALIDATION.is_dir():
        pytest.skip("../shared/validation is not present")
    runs = sorted(VALIDATION.glob("*/metrics.csv"))
    assert len(runs) == 62
    kinds = set()
    for path in runs:
        config = json.loads((path.parent / "labels.json").read_text())["config"]
        m = pd.read_csv(path)
        s = _sched(m["lr"].to_numpy(), m["step"].to_numpy())
        got = (s.kind, s.warmup, [(x.name, x.step) for x in s.landmarks])
        assert got == _truth(config), path.parent.name
        kinds.add(s.kind)
    assert kinds == {"constant", "step", "cosine"}


# -- real logs ----------------------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "kind", "warmup", "line"),
    [
        (
            "caffe/caffenet128_rmsprop_linear_lr_truncated.log",  # lr_policy poly, power 1
            "linear",
            None,
            "linear decay from 0.1, at 0.0732 when the log stops at iteration 85,600 "
            "(on course for 0 near iteration 320,000)",
        ),
        (
            "caffe/googlenet_glogfile_diverges_to_115.log",  # lr_policy poly, power 0.5
            "poly",
            None,
            "poly decay (power 0.5) from 0.01, at 0.00576 when the log stops at iteration 32,080 "
            "(on course for 0 near iteration 48,000)",
        ),
        (
            "keras/brats2020_unet_csvlogger_lr.log",  # ReduceLROnPlateau
            "step",
            None,
            "step decay: 5 changes between epochs 4 and 18, from 0.001 to 1e-06 (×0.2 each)",
        ),
        (
            "hf_trainer/qwen05_verifier_grad_norm_trainer_state.json",  # warm-up, cosine
            "cosine",
            "linear",
            None,
        ),
        (
            "csv_other/yolov8n_plates_train25_results.csv",  # warm-up, linear, stopped at 134/200
            "linear",
            "linear",  # Ultralytics' warmup_epochs=3
            "linear warm-up from 0.00333 to 0.0099 over 3 epochs, then linear decay, at 0.00347 "
            "when the log stops at epoch 134 (on course for 0 near epoch 200)",
        ),
    ],
)
def test_real_schedules(corpus, name, kind, warmup, line):
    run = gradlog.load(corpus / name)
    s = _sched(run.series(run.roles["lr"]).to_numpy(), run.series(run.roles["lr"]).index.to_numpy())
    assert (s.kind, s.warmup) == (kind, warmup)
    if line is not None:
        assert schedule_line(s, run.meta.get("step_unit") or "step") == line


# -- in the reports -----------------------------------------------------------------------


def _cosine_run(tmp_path: Path) -> Path:
    steps = np.arange(0, 800)
    rng = np.random.default_rng(0)
    lr = np.where(steps < 100, (steps + 1) / 100 * 0.1, 0.05 * (1 + np.cos(np.pi * (steps - 99) / 701)))
    loss = 2.0 * np.exp(-steps / 300) + 0.1 + 0.02 * rng.standard_normal(len(steps))
    p = tmp_path / "cosine.csv"
    pd.DataFrame({"step": steps, "loss": loss, "lr": lr}).to_csv(p, index=False)
    return p


def test_every_report_names_the_schedule(tmp_path):
    rep = gradlog.analyze(_cosine_run(tmp_path))
    line = "linear warm-up from 0.001 to 0.1 over 100 steps, then cosine decay to 0 by step 799"
    from gradlog.render.text import render_text

    text = render_text([rep], width=200)
    assert f"LR schedule: {line}" in text
    assert f"| LR schedule | {line} |" in rep.to_markdown()
    from gradlog.render.html import render_html

    assert f"<b>LR schedule:</b> {line}</p>" in render_html([rep], figures=False)
    doc = json.loads(rep.to_json())
    sched = doc["runs"][0]["lr_schedule"]
    assert (sched["kind"], sched["warmup"], sched["description"]) == ("cosine", "linear", line)
    assert sched["landmarks"] == [{"name": "warmup_end", "step": 99, "lr": 0.1}]
    jsonschema = pytest.importorskip("jsonschema")
    from gradlog.render.jsonout import schema

    jsonschema.validate(doc, schema())


def test_per_phase_trends_are_named_by_the_schedule(tmp_path):
    rep = gradlog.analyze(_cosine_run(tmp_path))
    from gradlog.render.schedule import schedule_of

    sched = schedule_of(rep.run)
    labels = {scope_label(t, sched) for t in rep.trends}
    assert "run" in labels
    assert not any(x.startswith("phase") for x in labels)  # a warm-up and a decay, no phases
    assert labels <= {"run", "warm-up", "decay"}


# -- a run that stopped early ------------------------------------------------------------


@pytest.mark.corpus
def test_a_caffe_run_that_stopped_early_says_so_in_every_report(corpus):
    rep = gradlog.analyze(corpus / "caffe/caffenet128_rmsprop_linear_lr_truncated.log")
    note = "stopped early at iteration 85,600 of max_iter 320,000 (27% of the planned run)"
    assert stop_note(rep.run) == note
    from gradlog.render.html import render_html
    from gradlog.render.text import render_text

    assert note in render_text([rep], width=200)
    from gradlog.render.markdown import md_escape

    assert md_escape(note) in rep.to_markdown()
    assert note in render_html([rep], figures=False)


def test_stop_note_only_when_the_log_says_it_stopped_early():
    frame = pd.DataFrame({"tag": ["train/loss"] * 3, "step": [0, 10, 20], "value": [1.0, 0.9, 0.8]})
    from gradlog.frame import build_frame

    f, _ = build_frame(frame["tag"].tolist(), frame["step"].tolist(), frame["value"].tolist())
    meta = {"name": "x", "step_unit": "iteration", "hparams": {"max_iter": 100}}
    assert stop_note(gradlog.Run(f, {**meta, "stopped_early": False, "last_iteration": 20})) == ""
    assert stop_note(gradlog.Run(f, {**meta, "stopped_early": True, "last_iteration": 20})) == (
        "stopped early at iteration 20 of max_iter 100 (20% of the planned run)"
    )
    # without the planned length: where it stopped
    assert stop_note(gradlog.Run(f, {"name": "x", "stopped_early": True})) == "stopped early at step 20"


def test_trends_per_stretch_of_a_continuous_schedule_are_named(tmp_path):
    # the scopes the trends of a continuous schedule carry ("lr_segment <name>") read as
    # the stretch they cover, in the verbose trend table
    from dataclasses import replace

    from gradlog.render.text import render_text

    rep = gradlog.analyze(_cosine_run(tmp_path))
    (run_trend,) = [t for t in rep.trends if t.tag == "train/loss" and t.scope == "run"]
    seg = [
        replace(run_trend, scope="lr_segment warm-up", step_start=0, step_end=99),
        replace(run_trend, scope="lr_segment decay", step_start=99, step_end=799),
    ]
    rep2 = gradlog.Report(run=rep.run, findings=rep.findings, trends=[run_trend, *seg])
    lines = render_text([rep2], verbose=True).splitlines()
    i = next(k for k, x in enumerate(lines) if x.startswith("  train/loss "))
    assert lines[i + 1].split()[:2] == ["warm-up", "0-99"]
    assert lines[i + 2].split()[:2] == ["decay", "99-799"]
