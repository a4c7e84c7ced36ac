"""Inputs the fuzz harness (bench/fuzz) found that raised something other than a
GradlogError: each is read now, the damage counted or the value kept as +-inf."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import gradlog

REPO = Path(__file__).resolve().parents[1]


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


def test_lightning_hparams_with_a_long_run_of_brackets_is_read_at_once(tmp_path):
    """The fuzzer's slow input (two long runs of '[' in hparams.yaml: 2 s for 60 KB,
    quadratic in libyaml; 30,000 levels killed the worker with SIGSEGV)."""
    import time

    d = tmp_path / "version_0"
    d.mkdir()
    (d / "metrics.csv").write_text("epoch,step,train_loss\n0,0,2.0\n0,1,1.5\n0,2,1.25\n")
    (d / "hparams.yaml").write_text("batch_size: 32\ndropout: " + "[" * 200_000 + "\nlr: 0.05\n")
    t0 = time.perf_counter()
    run = gradlog.load(d)
    assert time.perf_counter() - t0 < 5  # ~0.05 s; was minutes, or a crash
    assert run.series("train/loss").to_dict() == {0: 2.0, 1: 1.5, 2: 1.25}
    assert run.meta["warnings"] == [
        "hparams.yaml: line 2: lists and mappings nested deeper than 100 levels; nothing read"
    ]


def test_a_stray_carriage_return_does_not_make_pandas_read_the_skipped_row(tmp_path):
    """The fuzzer's 70 s hang: a CRLF metrics.csv whose first row had a lone CR and then
    100,000 fields. pandas ends a line at a lone CR, the scan did not: pandas skipped
    the wrong record and built a table 100,000 columns wide."""
    import time

    rows = [f"0,{i},{2.0 - i / 10:.1f}" for i in range(6)]
    text = "epoch,step,train_loss\r\n" + ",0,\r" + ",1" * 20_000 + "\r\n" + "\r\n".join(rows) + "\r\n"
    d = tmp_path / "version_0"
    d.mkdir()
    (d / "metrics.csv").write_bytes(text.encode())
    t0 = time.perf_counter()
    run = gradlog.load(d)
    assert time.perf_counter() - t0 < 5  # ~0.05 s
    assert run.series("train/loss").to_dict() == {0: 2.0, 1: 1.9, 2: 1.8, 3: 1.7, 4: 1.6, 5: 1.5}
    # the lone CR ends a line, as in pandas and Python's universal newlines
    assert run.meta["warnings"] == ["1 ragged row(s) skipped (line 3: 20001 fields where the header has 3)"]


def _mlflow_run(tmp_path, loss: bytes):
    run_dir = tmp_path / "mlruns/0/0123456789abcdef"
    (run_dir / "metrics").mkdir(parents=True)
    (run_dir / "meta.yaml").write_text("run_id: 0123456789abcdef\nexperiment_id: '0'\n")
    (run_dir / "metrics/loss").write_bytes(loss)
    return run_dir


def test_an_mlflow_metric_file_whose_first_line_has_many_fields(tmp_path):
    """linear.py: a run of '- ' before the first line of a metric file took 710 s at
    256 KB (pandas made the extra fields of the first row a 130,000-level index) and
    then read every line as bad."""
    import time

    body = b"".join(b"%d %g %d\n" % (1700000000000 + i, 1.0 / (i + 1), i) for i in range(5))
    run_dir = _mlflow_run(tmp_path, b"- " * 10_000 + body)
    t0 = time.perf_counter()
    run = gradlog.load(run_dir)
    assert time.perf_counter() - t0 < 5  # ~0.02 s; was ~3 s at this size, quadratic
    # the run is on the first record's line: that line is the one bad line
    assert run.series("train/loss").to_dict() == {1: 0.5, 2: 0.333333, 3: 0.25, 4: 0.2}
    assert run.meta["skipped"] == {"bad_lines": 1}
    assert (
        run.meta["warnings"][0]
        == "loss: 1 line(s) that are not 'timestamp value step' skipped (first: line 1)"
    )


def test_a_header_of_fifty_thousand_columns_and_no_rows_is_refused_at_once(tmp_path):
    """The fuzzer's slow input: a metrics.csv cut after a header stretched by a run of
    ',' (50,000 columns): pandas took 5 s to build the empty table before the reader
    said it had no rows."""
    import time

    from gradlog.errors import EmptyLogError

    d = tmp_path / "version_0"
    d.mkdir()
    (d / "metrics.csv").write_text("epoch,step,train_loss" + "," * 50_000 + "\n")
    t0 = time.perf_counter()
    with pytest.raises(EmptyLogError, match="metrics.csv: the table has a header but no data rows"):
        gradlog.load(d)
    assert time.perf_counter() - t0 < 2.5  # ~0.1 s; 5 s before


def test_a_caffe_max_iter_of_four_hundred_digits_is_not_a_traceback(tmp_path):
    # found by bench/fuzz (caffe family): `max_iter: 99...9` overflowed a float in the
    # stopped-early check; such a max_iter is damage, the run is read without it
    text = (REPO / "sample_logs" / "caffe_numpy_cnn.log").read_text()
    assert "max_iter: 3000\n" in text
    p = tmp_path / "train.log"
    p.write_text(text.replace("max_iter: 3000\n", "max_iter: " + "9" * 400 + "\n"))
    run = gradlog.load(p)
    good = gradlog.load(REPO / "sample_logs" / "caffe_numpy_cnn.log")
    assert len(run.frame) == len(good.frame)
    assert run.meta.get("stopped_early") is None


def test_figures_of_a_loss_near_1e300_raise_no_numpy_warning():
    # found by bench/fuzz (json family): a trend line evaluated past 1e308 and matplotlib's
    # tick arithmetic on such an axis printed "overflow encountered in ..." to stderr
    from gradlog.analyzers.synthetic import make_run

    t = np.arange(200)
    loss = np.where(t < 100, 1e-300, 1e300) * np.exp(np.random.default_rng(0).normal(0, 1, 200))
    run = make_run(
        {"train/loss": (t, loss), "train/lr": (t, np.full(200, 0.1)), "grad_norm/total": (t, loss)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rep = gradlog.analyze(run)
        html = rep.to_html()
        rep.plot()
    assert "data:image/png;base64," in html
