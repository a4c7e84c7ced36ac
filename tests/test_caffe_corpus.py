"""The Caffe reader on every real log of ../shared/corpus/caffe/.

Every pinned number was read off the log with grep (line numbers in the comments).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import gradlog

pytestmark = pytest.mark.corpus

# file -> {tag: number of points}
COUNTS = {
    "caffenet128_bs1_three_runs_resumed_fatal.log": {
        "train/loss": 1600,
        "train/loss_smoothed": 1601,
        "train/lr": 1600,
        "test0/accuracy": 321,
        "test0/loss": 321,
    },
    "caffenet128_rmsprop_linear_lr_truncated.log": {
        "train/loss": 4281,
        "train/loss_smoothed": 4281,
        "train/lr": 4281,
        "test0/accuracy": 86,
        "test0/loss": 86,
    },
    "caffenet_rmsprop099_stagnant_loss.log": {
        "train/loss": 2225,
        "train/loss_smoothed": 2225,
        "train/lr": 2225,
        "test0/accuracy": 22,
        "test0/loss": 22,
    },
    "fkp_regression_nesterov_euclidean_2015.log": {
        "train/loss": 200,
        "train/loss_smoothed": 201,
        "train/lr": 200,
        "test0/loss": 41,
    },
    "googlenet_glogfile_diverges_to_115.log": {
        "train/loss1/loss1": 803,
        "train/loss2/loss1": 803,
        "train/loss3/loss3": 803,
        "train/loss_smoothed": 804,
        "train/lr": 803,
        "test0/loss3/top-1": 133,
        "test0/loss1/top-5": 133,
    },
    "googlenet_glogfile_resumed_then_diverges.log": {
        "train/loss3/loss3": 6,
        "train/loss_smoothed": 6,
        "train/lr": 6,
        "test0/loss3/top-1": 1,
    },
    "googlenet_glogfile_two_test_nets.log": {
        "train/loss3/loss3": 1200,
        "train/loss_smoothed": 1201,
        "train/lr": 1200,
        "test0/loss3/top-1": 201,
        "test1/loss3/top-1": 201,
        "test0/total_loss": 201,
        "test1/total_loss": 201,
    },
    "intel_caffe_mkl2017_googlenet_cpu_poly.log": {
        "train/accuracy": 480,
        "train/loss": 480,
        "train/loss1/loss": 480,
        "train/loss2/loss": 480,
        "train/loss_smoothed": 481,
        "train/lr": 480,
    },
    "lenet_caffe1_iter_per_sec_format.log": {
        "train/loss": 2,
        "train/loss_smoothed": 2,
        "train/lr": 2,
        "train/iter_per_s": 1,
    },
    "squeezenet128_linear_lr_top5.log": {
        "train/loss": 4250,
        "train/loss_smoothed": 4251,
        "train/lr": 4250,
        "test0/accuracy": 170,
        "test0/accuracy_top5": 170,
    },
    "squeezenet224_2gpu_resumed_iter217.log": {
        "train/accuracy": 4244,
        "train/loss": 4244,
        "train/loss_smoothed": 4245,
        "train/lr": 4244,
        "test0/accuracy": 34,
        "test0/accuracy_top5": 34,
        "test0/loss": 34,
    },
}

# file -> [(tag, step, value)] read off the log
VALUES = {
    "caffenet128_bs1_three_runs_resumed_fatal.log": [
        ("train/loss_smoothed", 51200, 6.91568),  # line 1479
        ("train/loss_smoothed", 34048000, 2.16574),  # line 5524 (run 2)
        ("train/lr", 34048000, 3.9063e-06),  # line 5526
        ("train/loss", 72652800, 2.70257),  # line 9894 (run 3)
        ("train/loss_smoothed", 81920000, 2.30725),  # line 10588 (final forward pass)
        ("test0/accuracy", 81920000, 0.47406),  # line 10591: the last test
    ],
    "caffenet128_rmsprop_linear_lr_truncated.log": [
        ("train/loss_smoothed", 1000, 6.74791),
        ("train/loss", 1000, 6.73123),
        ("train/lr", 1000, 0.0996875),
        ("train/lr", 85600, 0.07325),  # the last line
        ("train/loss_smoothed", 20, 6.93296),
        ("test0/accuracy", 85000, 0.34162),
    ],
    "caffenet_rmsprop099_stagnant_loss.log": [
        ("train/loss_smoothed", 20, 17.4089),  # the early spike (smoothed) ...
        ("train/loss", 20, 6.90963),  # ... is not in the raw output
        ("train/lr", 1000, 0.001),
        ("train/loss", 44480, 5.69827),
        ("test0/accuracy", 44000, 0.06288),
    ],
    "fkp_regression_nesterov_euclidean_2015.log": [
        ("train/loss_smoothed", 1000, 0.0226538),
        ("train/lr", 1000, 0.003),
        ("test0/loss", 20000, 0.0147376),
    ],
    "googlenet_glogfile_diverges_to_115.log": [
        ("train/loss_smoothed", 24000, 2.4083),
        ("train/loss1/loss1", 24000, 4.3303),
        ("train/loss2/loss1", 24000, 1.8858),
        ("train/loss3/loss3", 24000, 2.40283),
        ("test0/loss3/top-1", 31920, 0.004),
    ],  # line 11822: the last test
    "googlenet_glogfile_resumed_then_diverges.log": [
        ("test0/loss1/loss1", 24000, 11.3731),
        ("test0/loss3/top-5", 24000, 0.548),
        ("train/loss_smoothed", 24000, 7.01314),
        ("train/loss_smoothed", 24040, 97.2178),
        ("train/loss3/loss3", 24040, 87.3365),
        ("train/lr", 24200, 0.00704154),
    ],
    "googlenet_glogfile_two_test_nets.log": [
        ("train/loss_smoothed", 24000, 6.74662),
        ("train/loss3/loss3", 24000, 4.29034),
        ("test0/loss3/top-1", 48000, None),
        ("train/lr", 48000 - 40, 0.01),
    ],
    "intel_caffe_mkl2017_googlenet_cpu_poly.log": [
        ("train/loss_smoothed", 2, 9.3),
        ("train/accuracy", 2, 0.28125),
        ("train/loss1/loss", 2, 14.2663),
        ("train/loss", 8, 1.28692),
        ("train/loss", 10, 0.965559),
        ("train/loss_smoothed", 960, 1.34066),
        ("train/lr", 0, 0.01),
        ("train/lr", 958, 0.000456438),
    ],
    "lenet_caffe1_iter_per_sec_format.log": [
        ("train/loss", 0, 2.40473),
        ("train/loss_smoothed", 100, 0.224371),
        ("train/iter_per_s", 100, 4.71409),
        ("train/lr", 100, 0.00992565),
    ],
    "squeezenet128_linear_lr_top5.log": [
        ("train/loss_smoothed", 100000, 2.55246),
        ("train/loss", 100000, 2.56325),
        ("train/lr", 100000, 0.0164706),
        ("train/lr", 0, 0.04),
        ("train/lr", 169960, 9.41277e-06),
        ("test0/accuracy", 170000, 0.546579),
        ("test0/accuracy_top5", 170000, 0.777561),
    ],
    "squeezenet224_2gpu_resumed_iter217.log": [
        ("train/loss_smoothed", 240, 6.86874),
        ("train/lr", 240, 0.0399435),
        ("train/accuracy", 100000, 0.578125),
        ("train/loss", 100000, 1.66346),
        ("test0/accuracy", 170000, 0.59202),
        ("test0/loss", 170000, 1.80022),
    ],
}


_RUNS: dict[str, gradlog.Run] = {}


@pytest.fixture
def runs(corpus):
    """Every corpus log, read once for the whole module."""
    if not _RUNS:
        _RUNS.update({name: gradlog.load(corpus / "caffe" / name) for name in COUNTS})
    return _RUNS


def test_the_corpus_is_all_here(corpus):
    assert sorted(p.name for p in (corpus / "caffe").glob("*.log")) == sorted(COUNTS)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_and_values(runs, name):
    run = runs[name]
    assert run.meta["format"] == "caffe"
    for tag, n in COUNTS[name].items():
        assert len(run.series(tag)) == n, tag
    for tag, step, value in VALUES[name]:
        got = run.series(tag)[step]
        if value is None:
            assert not math.isnan(got)
        else:
            assert got == value, (tag, step)
    # every row has a wall time (from the glog timestamps); no step was logged twice
    assert run.frame["wall_time"].notna().all()
    assert run.meta["replaced_points"] == 0


def test_the_last_test_accuracy_of_the_googlenet_with_two_test_nets(runs):
    run = runs["googlenet_glogfile_two_test_nets.log"]
    s0 = run.series("test0/loss3/top-1")
    s1 = run.series("test1/loss3/top-1")
    assert s0.index[-1] == 48000 and s0.iloc[-1] == 0.000833333  # line 20046
    assert s1.index[-1] == 48000 and s1.iloc[-1] == 0.001  # line 20057


def test_three_runs_resumed_with_a_failed_launch(runs):
    run = runs["caffenet128_bs1_three_runs_resumed_fatal.log"]
    assert run.meta["runs_in_file"] == 3
    assert [(r["kind"], r["line"], r["step"], r["previous_step"]) for r in run.meta["restarts"]] == [
        ("resume", 4052, 34048000, 34048000),
        ("resume", 8425, 72652800, 72601600),
    ]
    assert run.meta["restarts"][1]["resumed_from"].endswith("_iter_72648645.solverstate")
    assert [r["ended"] for r in run.meta["caffe"]["runs"]] == ["stopped", "stopped", "done"]
    (fatal,) = run.meta["caffe"]["fatal_errors"]
    assert fatal["line"] == 4034 and "File not found" in fatal["message"]
    assert run.meta["caffe"]["stack_trace_lines"] == 11  # the crash's trace, not damage
    assert "stack_trace_lines" not in run.meta["skipped"]
    assert run.meta["caffe"]["test_interrupted"] == 1
    lr = run.series("train/lr")
    assert sorted(lr.unique()) == [3.9063e-08, 3.9063e-07, 3.9063e-06, 3.9063e-05]
    assert (lr.diff().dropna() <= 0).all()  # a step schedule, only down
    # the 34048000 test pass was interrupted (no outputs); the resumed run tests there
    assert run.series("test0/accuracy").index[0] == 0
    assert 34048000 in run.series("test0/loss").index


def test_resumed_googlenet_diverges(runs):
    run = runs["googlenet_glogfile_resumed_then_diverges.log"]
    (r,) = run.meta["caffe"]["runs"]
    assert r["resumed_from"].endswith("bvlc_googlenet_quick_iter_24000.solverstate")
    assert r["first_step"] == 24000 and r["last_step"] == 24240
    assert run.meta["restarts"] == []
    assert run.roles["loss"] == "train/loss3/loss3" and run.roles["val_loss"] == "test0/loss3/loss3"
    assert (run.series("train/loss3/loss3").iloc[1:] == 87.3365).all()
    assert run.meta["caffe"]["year"]["source"] == "glog_header"
    first = run.wall_times("test0/loss3/loss3")[24000]  # line 6382
    assert first == pytest.approx(pd.Timestamp("2015-07-03 14:40:20.995021").timestamp(), abs=1e-6)


def test_googlenet_diverges_to_115(runs):
    run = runs["googlenet_glogfile_diverges_to_115.log"]
    smoothed = run.series("train/loss_smoothed")
    assert smoothed[0] == 12.4667
    assert (smoothed.round(0) == 115).sum() == 134 and smoothed[26800] == 115.181
    # 268 train output lines and 44 test output lines hold the saturated 87.3365
    train = sum((run.series(t) == 87.3365).sum() for t in run.tags if t.startswith("train/loss"))
    test = sum((run.series(t) == 87.3365).sum() for t in run.tags if t.startswith("test0/"))
    assert (train, test) == (268, 44)
    assert len(run.series("train/lr").unique()) == 803
    assert run.roles["val_metric"] == "test0/loss3/top-1"


def test_squeezenet_relaunch_after_out_of_memory(runs):
    run = runs["squeezenet128_linear_lr_top5.log"]
    assert run.meta["runs_in_file"] == 2
    (r,) = run.meta["restarts"]
    assert (r["kind"], r["line"], r["step"], r["previous_step"]) == ("relaunch", 3354, 0, None)
    assert run.meta["caffe"]["runs"][0]["ended"] == "fatal"
    assert "out of memory" in run.meta["caffe"]["fatal_errors"][0]["message"]
    assert run.meta["caffe"]["stack_trace_lines"] == 17  # the crash's trace, not damage
    assert "stack_trace_lines" not in run.meta["skipped"]
    assert "test0/loss" not in run and run.roles.get("val_loss") is None
    assert len(run.series("train/lr").unique()) == 4250


def test_squeezenet_resumed_at_217(runs):
    run = runs["squeezenet224_2gpu_resumed_iter217.log"]
    assert run.steps["first"] == 240 and run.steps["last"] == 170000
    (r,) = run.meta["caffe"]["runs"]
    assert r["resumed_from"] == "snapshots/squeezenet224_iter_217.solverstate"
    assert r["solver"]["lr_policy"] == "poly" and r["solver"]["power"] == 1


def test_intel_fork_resume_and_roles(runs):
    run = runs["intel_caffe_mkl2017_googlenet_cpu_poly.log"]
    (r,) = run.meta["restarts"]
    assert (r["kind"], r["step"], r["previous_step"]) == ("resume", 10, 8)
    assert r["resumed_from"].endswith("snapshot_iter_10.solverstate")
    assert run.roles["loss"] == "train/loss" and run.roles.get("val_loss") is None
    assert run.meta["caffe"]["loss_weights"]["train/loss1/loss"] == 0.3
    assert len(run.series("train/lr").unique()) == 480
    assert run.meta["caffe"]["snapshot_lines"] == 62  # 31 snapshots, 2 lines each
    # MKL prints lines of its own: skipped and counted, none of them data
    assert run.meta["skipped"]["non_glog_lines"] == 1060


def test_lenet_caffe1_rate_and_final_empty_line(runs):
    run = runs["lenet_caffe1_iter_per_sec_format.log"]
    assert run.meta["skipped"]["first_rate_of_run"] == 1  # the -1.02432e-37 iter/s
    assert "iter_per_s" in run.meta["caffe"]["line_formats"]
    assert run.meta["caffe"]["runs"][0]["solver"]["lr_policy"] == "inv"
    assert run.meta["wall_time_year_assumed"] is True


def test_fkp_regression_has_no_accuracy(runs):
    run = runs["fkp_regression_nesterov_euclidean_2015.log"]
    assert run.roles["val_loss"] == "test0/loss" and run.roles.get("val_metric") is None
    assert run.meta["caffe"]["runs"][0]["solver"]["base_lr"] == 0.003
    assert pd.Timestamp(run.wall_times("train/loss_smoothed")[0], unit="s").year == 2015
    assert run.meta["caffe"]["runs"][0]["ended"] == "done"


# the share of lines the bulk reading of plain lines takes, on 64 KiB chunks (the rest: the
# first chunk of a run, where tags are new, and stretches around rare lines)
BULK_SHARE = {
    "caffenet128_bs1_three_runs_resumed_fatal.log": 0.6,
    "caffenet128_rmsprop_linear_lr_truncated.log": 0.85,
    "googlenet_glogfile_two_test_nets.log": 0.55,
    "squeezenet128_linear_lr_top5.log": 0.75,
    "squeezenet224_2gpu_resumed_iter217.log": 0.8,
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_bulk_reading_of_plain_lines_changes_nothing(corpus, runs, monkeypatch, name):
    from gradlog.parsers.caffe import bulk as caffe_bulk
    from gradlog.parsers.caffe import stream as caffe_stream

    lines = {"bulk": 0}
    bulk = caffe_bulk.read_common

    def counting(rd, sc, data, a, b):
        stop = bulk(rd, sc, data, a, b)
        lines["bulk"] += (b - a) if stop < 0 else 0
        return stop

    monkeypatch.setattr(caffe_bulk, "read_common", counting)
    monkeypatch.setattr(caffe_stream, "CHUNK_BYTES", 1 << 16)
    path = corpus / "caffe" / name
    fast = gradlog.load(path)
    monkeypatch.setattr(caffe_bulk, "PLAIN_MIN_BYTES", 1 << 62)
    slow = gradlog.load(path)
    assert fast.frame.equals(slow.frame)
    assert fast.meta == slow.meta and fast.roles == slow.roles
    # and the same as read in the usual 2 MiB chunks (the pinned values above)
    assert fast.frame.equals(runs[name].frame)
    n = path.read_bytes().count(b"\n")
    assert lines["bulk"] >= BULK_SHARE.get(name, 0.0) * n
