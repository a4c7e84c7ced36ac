"""Inputs the fuzz harness (bench/fuzz) found that raised something other than a
GradlogError: each is read now, the damage counted or the value kept as +-inf."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np

import gradlog


def test_a_csv_cell_of_hundreds_of_digits_is_inf_not_a_crash(tmp_path):
    rows = ["step,loss,lr"] + [f"{i},{1.0 / (i + 1):.6g},0.1" for i in range(30)]
    rows[5] = "4," + "9" * 400 + ",0.1"
    p = tmp_path / "train_log.csv"
    p.write_text("\n".join(rows) + "\n")
    run = gradlog.load(p)
    s = run.series("train/loss")
    assert s.loc[4] == math.inf and s.loc[5] == 0.166667
    gradlog.analyze(run).to_text()


def test_an_hf_trainer_state_with_a_huge_integer_loss_is_read(tmp_path):
    hist = [{"step": i, "loss": 1.0 / i, "learning_rate": 0.001, "epoch": i / 10} for i in range(1, 30)]
    text = json.dumps({"log_history": hist, "global_step": 29})
    text = text.replace('"loss": 0.2,', '"loss": ' + "7" * 400 + ",", 1)
    p = tmp_path / "trainer_state.json"
    p.write_text(text)
    run = gradlog.load(p)
    assert run.series("train/loss").loc[5] == math.inf
    assert run.series("train/loss").loc[4] == 0.25


def test_a_caffe_iteration_of_thousands_of_digits_is_a_malformed_line(tmp_path):
    head = "Log file created at: 2026/12/02 10:00:00\n"
    ok = (
        "I1202 10:00:00.000000  1 solver.cpp:228] Iteration {n}, loss = 0.4\n"
        "I1202 10:00:00.000000  1 solver.cpp:244]     Train net output #0: loss = 0.4 (* 1 = 0.4 loss)\n"
        "I1202 10:00:00.000000  1 sgd_solver.cpp:106] Iteration {n}, lr = 0.01\n"
    )
    bad = (
        "I1202 10:00:00.000000  1 solver.cpp:228] Iteration " + "9" * 6000 + ", loss = 0.5\n"
        "I1202 10:00:00.000000  1 solver.cpp:244]     Train net output #"
        + "7" * 6000
        + ": loss = 0.5 (* 1 = 0.5 loss)\n"
    )
    p = tmp_path / "train.log"
    p.write_text(head + ok.format(n=0) + bad + ok.format(n=20) + ok.format(n=40))
    run = gradlog.load(p, format="caffe")
    assert run.meta["skipped"]["malformed_lines"] == 2
    assert list(run.series("train/loss").index) == [0, 20, 40]


def test_no_numpy_warning_reaches_the_user_from_a_degenerate_fit(recwarn):
    from gradlog.analyzers.synthetic import make_run

    t = np.arange(300)
    lr = np.where(t < 100, 1e-300, np.where(t < 200, 1e-301, 1e-302))  # log-LR nearly collinear
    loss = 1.0 + 0.3 * np.where(t % 2 == 0, 1.0, -1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradlog.analyze(make_run({"train/loss": (t, loss), "train/lr": (t, lr)}))
