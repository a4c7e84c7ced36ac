"""Solver facts the Caffe reader puts in the meta for the advice: the optimizer and its
settings (``meta["hparams"]``), a crash (``meta["crash"]``), a run that stopped short of
``max_iter`` (``meta["stopped_early"]``), gradient clipping (``meta["clipping"]``) and
the total loss of a multi-loss net. Small crafted logs, then the corpus."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import gradlog
from gradlog.errors import DamagedInputError


def _helpers():
    """The log builders of test_caffe.py (pytest's importlib mode puts no test folder on
    the path)."""
    spec = importlib.util.spec_from_file_location(
        "_caffe_log_builders", Path(__file__).with_name("test_caffe.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_H = _helpers()
Log, display, series, v = _H.Log, _H.display, _H.series, _H.v


def solver_log(params: list[str] | None, *, steps=(0, 100, 200, 300), done: bool = False) -> Log:
    log = Log()
    if params is not None:
        log.add("Initializing solver from parameters: ", "solver.cpp:48")
        for line in params:
            log.raw(line)
    log.add("Solving TinyNet", "solver.cpp:288")
    for step in steps:
        display(log, step, rate=False)
    if done:
        log.add("Optimization Done.", "solver.cpp:322")
    return log


@pytest.mark.parametrize(
    ("line", "optimizer"),
    [
        ('type: "Adam"', "adam"),
        ('type: "RMSProp"', "rmsprop"),
        ('type: "AdaDelta"', "adadelta"),
        ('type: "AdaGrad"', "adagrad"),
        ('type: "Nesterov"', "nesterov"),
        ('type: "SGD"', "sgd"),
        ("solver_type: NESTEROV", "nesterov"),
        ("solver_type: ADAGRAD", "adagrad"),
        ("solver_type: SGD", "sgd"),
        (None, "sgd"),
    ],
)
def test_the_optimizer_from_the_solver_type(tmp_path, line, optimizer):
    params = [
        "base_lr: 0.01",
        "momentum:    0.9   ",
        "weight_decay: 0.0005",
        "max_iter: 1000",
        'lr_policy: "step"',
        "gamma: 0.1",
        "stepsize: 500",
        "display: 100",
        "iter_size: 2",
        "average_loss: 1",
        "clip_gradients: 35",
        "net_param {",
        "  momentum: 0.5",
        "}",
    ] + ([line] if line else [])
    run = gradlog.load(solver_log(params).write(tmp_path))
    hp = run.meta["hparams"]
    assert hp["optimizer"] == optimizer
    assert (hp["base_lr"], hp["momentum"], hp["weight_decay"], hp["max_iter"]) == (0.01, 0.9, 0.0005, 1000)
    assert (hp["lr_policy"], hp["gamma"], hp["stepsize"], hp["stepvalue"]) == ("step", 0.1, 500, None)
    assert (hp["iter_size"], hp["average_loss"], hp["clip_gradients"]) == (2, 1, 35)


def test_a_log_without_solver_parameters_has_every_key_none(tmp_path):
    log = solver_log(None)
    log.add("Learning Rate Policy: multistep", "solver.cpp:289")
    run = gradlog.load(log.write(tmp_path))
    hp = run.meta["hparams"]
    assert hp["optimizer"] is None and hp["momentum"] is None and hp["weight_decay"] is None
    assert hp["max_iter"] is None and hp["clip_gradients"] is None
    assert hp["lr_policy"] == "multistep"  # from the "Learning Rate Policy" line
    assert run.meta["stopped_early"] is None and run.meta["last_iteration"] == 300
    assert run.meta["crash"] is None and run.meta["clipping"] is None


def test_stepvalues_are_a_list(tmp_path):
    params = ['lr_policy: "multistep"', "stepvalue: 100", "stepvalue: 250", "max_iter: 300"]
    run = gradlog.load(solver_log(params).write(tmp_path))
    assert run.meta["hparams"]["stepvalue"] == [100, 250]


@pytest.mark.parametrize(
    ("max_iter", "done", "stopped"),
    [
        (1000, False, True),  # ended at 300 of 1000 without "Optimization Done"
        (1000, True, False),  # Caffe said it was done
        (300, False, False),  # reached max_iter
        (310, False, False),  # within the last displays: the log just ends there
    ],
)
def test_stopped_early(tmp_path, max_iter, done, stopped):
    run = gradlog.load(solver_log([f"max_iter: {max_iter}", "display: 100"], done=done).write(tmp_path))
    assert run.meta["last_iteration"] == 300
    assert run.meta["stopped_early"] is stopped


def test_optimization_stopped_early_line(tmp_path):
    log = solver_log(["max_iter: 1000"])
    log.add("Optimization stopped early.", "solver.cpp:309")
    log.add("Optimization Done.", "caffe.cpp:215")
    run = gradlog.load(log.write(tmp_path))
    assert run.meta["stopped_early"] is True


def test_a_cuda_out_of_memory_crash(tmp_path):
    log = solver_log(["max_iter: 1000"])
    log.add("Check failed: error == cudaSuccess (2 vs. 0)  out of memory", "syncedmem.cpp:56", level="F")
    log.raw("*** Check failure stack trace: ***")
    for _ in range(17):
        log.raw("    @     0x7f2f5a1c1daa  caffe::SyncedMemory::to_gpu()")
    path = log.write(tmp_path)
    run = gradlog.load(path)
    line = next(i for i, ln in enumerate(log.lines, 1) if "Check failed" in ln)
    assert run.meta["crash"] == {
        "kind": "cuda_oom",
        "line": line,
        "step": 300,
        "text": "Check failed: error == cudaSuccess (2 vs. 0)  out of memory",
    }
    assert run.meta["crashes"][0]["trace_lines"] == 18
    assert run.meta["caffe"]["stack_trace_lines"] == 18
    assert "stack_trace_lines" not in run.meta["skipped"]
    assert run.meta["stopped_early"] is True and run.meta["last_iteration"] == 300
    gradlog.load(path, strict=True)  # a crash's trace is not damage


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            '*** Aborted at 1461234567 (unix time) try "date -d @1461234567" if you are using GNU date ***',
            "error",
        ),
        ("RuntimeError: CUDA error: out of memory", "cuda_oom"),
        ("terminate called after throwing an instance of 'std::bad_alloc'", "error"),
        ("Error: could not open the data source", "error"),
    ],
)
def test_crash_lines_without_a_glog_prefix(tmp_path, text, kind):
    log = solver_log(["max_iter: 1000"])
    log.raw("Traceback (most recent call last):")
    log.raw('  File "train.py", line 12, in <module>')
    log.raw(text)
    log.raw("*** SIGSEGV (@0x0) received by PID 4321 (TID 0x7f) from PID 0; stack trace: ***")
    log.raw("    @     0x7f2f5a1c1daa  (unknown)")
    run = gradlog.load(log.write(tmp_path))
    crash = run.meta["crash"]
    assert crash["kind"] == kind and crash["step"] == 300 and crash["text"] == text[:200]
    assert crash["line"] == len(log.lines) - 2
    assert run.meta["caffe"]["stack_trace_lines"] == 4
    assert "non_glog_lines" not in run.meta["skipped"]


def test_an_error_line_followed_by_more_iterations_is_not_the_end(tmp_path):
    log = solver_log(["max_iter: 1000"], steps=(0, 100))
    log.raw("Error: a Python layer complained")
    display(log, 200, rate=False)
    run = gradlog.load(log.write(tmp_path))
    assert run.meta["crash"] is None
    (c,) = run.meta["crashes"]
    assert c["step"] == 100 and c["relaunched"] is False


def test_a_crash_then_a_relaunch_that_finishes(tmp_path):
    log = solver_log(["max_iter: 300"], steps=(0, 100))
    log.add("Check failed: fd != -1 (-1 vs. -1) File not found: x.prototxt", "io.cpp:36", level="F")
    log.add("Initializing solver from parameters: ", "solver.cpp:48")
    log.raw("max_iter: 300")
    log.add("Solving TinyNet", "solver.cpp:288")
    for step in (0, 100, 200, 300):
        display(log, step, rate=False)
    log.add("Optimization Done.", "solver.cpp:322")
    run = gradlog.load(log.write(tmp_path))
    assert run.meta["crash"] is None and run.meta["stopped_early"] is False
    (c,) = run.meta["crashes"]
    assert (c["kind"], c["step"], c["relaunched"]) == ("check_failed", 100, True)


def test_gradient_clipping_values_and_threshold(tmp_path):
    log = solver_log(["clip_gradients: 35", "display: 1"], steps=())
    for step in range(4):
        display(log, step, rate=False)
        if step != 2:
            log.add(
                f"Gradient clipping: scaling down gradients (L2 norm {40 + step} > 35) by scale factor 0.8",
                "sgd_solver.cpp:92",
            )
    display(log, 4, rate=False)
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "grad_norm/total_preclip") == {0: 40.0, 1: 41.0, 3: 43.0}
    assert run.meta["clipping"] == {
        "threshold": 35.0,
        "count": 3,
        "placed": 3,
        "tag": "grad_norm/total_preclip",
    }
    src = run.frame.loc[run.frame["tag"] == "grad_norm/total_preclip", "source_tag"].iloc[0]
    assert "Gradient clipping" in src


def test_clipping_on_iterations_the_log_does_not_display_is_counted_not_damage(tmp_path):
    log = solver_log(["display: 10"], steps=())
    for step in (10, 20):
        display(log, step, rate=False)
        for _ in range(3):
            log.add(
                "Gradient clipping: scaling down gradients (L2 norm 50 > 35) by scale factor 0.7",
                "sgd_solver.cpp:92",
            )
    path = log.write(tmp_path)
    run = gradlog.load(path, strict=True)
    assert run.meta["clipping"] == {"threshold": 35.0, "count": 6, "placed": 0, "tag": None}


def test_clipping_enabled_but_never_triggered(tmp_path):
    run = gradlog.load(solver_log(["clip_gradients: 10"]).write(tmp_path))
    assert run.meta["clipping"] == {"threshold": 10.0, "count": 0, "placed": 0, "tag": None}
    run = gradlog.load(solver_log(["clip_gradients: -1"]).write(tmp_path, "off.log"))
    assert run.meta["clipping"] is None


FRCNN = (("rpn_cls_loss", 1), ("rpn_loss_bbox", 1), ("loss_cls", 1), ("loss_bbox", 1))


def frcnn_log(average_loss: int | None) -> Log:
    log = Log()
    log.add("Initializing solver from parameters: ", "solver.cpp:48")
    log.raw("display: 20")
    if average_loss is not None:
        log.raw(f"average_loss: {average_loss}")
    log.add("Solving VGG16", "solver.cpp:288")
    for step in (0, 20, 40):
        log.add(f"Iteration {step}, loss = {v('total', step)}", "solver.cpp:229")
        for k, (name, w) in enumerate(FRCNN):
            log.add(
                f"    Train net output #{k}: {name} = {v(name, step)} (* {w} = {v(name, step)} loss)",
                "solver.cpp:245",
            )
        log.add(f"Iteration {step}, lr = 0.001", "sgd_solver.cpp:106")
    return log


@pytest.mark.parametrize("average_loss", [None, 1])
def test_a_multi_loss_net_s_total_is_the_loss(tmp_path, average_loss):
    run = gradlog.load(frcnn_log(average_loss).write(tmp_path))
    assert run.roles["loss"] == "train/loss"
    assert series(run, "train/loss") == {s: v("total", s) for s in (0, 20, 40)}
    for name, _w in FRCNN:
        assert series(run, f"train/{name}") == {s: v(name, s) for s in (0, 20, 40)}
    assert "train/loss_smoothed" not in run
    src = run.frame.loc[run.frame["tag"] == "train/loss", "source_tag"].iloc[0]
    assert src == "Iteration N, loss"
    ml = run.meta["caffe"]["multi_loss"]
    assert ml["tag"] == "train/loss" and ml["components"] == sorted(f"train/{n}" for n, _ in FRCNN)
    assert "train/loss" in run.meta["statistics"]


def test_a_smoothed_multi_loss_total_keeps_its_name_and_plays_the_loss(tmp_path):
    run = gradlog.load(frcnn_log(20).write(tmp_path))
    assert run.roles["loss"] == "train/loss_smoothed"
    assert "train/loss" not in run
    assert run.meta["caffe"]["multi_loss"]["average_loss"] == 20


def test_strict_fails_on_garbled_lines_not_on_prints(tmp_path):
    log = solver_log(["max_iter: 1000"])
    log.raw("a print from a Python layer: 12 images")
    path = log.write(tmp_path)
    assert gradlog.load(path, strict=True).meta["skipped"]["non_glog_lines"] == 1
    log.raw("\x01\x07\x1b[garbage\x00")
    path = log.write(tmp_path, "garbled.log")
    run = gradlog.load(path)
    assert run.meta["skipped"]["garbled_lines"] == 1
    with pytest.raises(DamagedInputError, match=f"line {len(log.lines)}: 1 garbled lines"):
        gradlog.load(path, strict=True)


# -- the corpus ----------------------------------------------------------------------------------
@pytest.mark.corpus
def test_corpus_solver_facts(corpus):
    def load(name):
        return gradlog.load(corpus / "caffe" / name)

    run = load("caffenet128_rmsprop_linear_lr_truncated.log")
    hp = run.meta["hparams"]
    assert hp["optimizer"] == "rmsprop" and hp["rms_decay"] == 0.95 and hp["momentum"] is None
    assert (hp["base_lr"], hp["lr_policy"], hp["power"], hp["max_iter"]) == (0.1, "poly", 1, 320000)
    assert run.meta["last_iteration"] == 85600 and run.meta["stopped_early"] is True
    assert load("fkp_regression_nesterov_euclidean_2015.log").meta["hparams"]["optimizer"] == "nesterov"
    run = load("googlenet_glogfile_two_test_nets.log")
    assert run.meta["hparams"]["optimizer"] == "adagrad" and run.meta["stopped_early"] is False
    run = load("squeezenet128_linear_lr_top5.log")  # OOM in the first launch (line 3335)
    assert run.meta["hparams"]["iter_size"] == 2  # the relaunch's solver (line 4066)
    assert run.meta["hparams"]["optimizer"] == "sgd" and run.meta["hparams"]["momentum"] == 0.9
    (c,) = run.meta["crashes"]
    assert (c["kind"], c["line"], c["step"], c["trace_lines"], c["relaunched"]) == (
        "cuda_oom",
        3335,
        None,
        17,
        True,
    )
    assert run.meta["crash"] is None and run.meta["stopped_early"] is False
    run = load("caffenet128_bs1_three_runs_resumed_fatal.log")
    (c,) = run.meta["crashes"]
    assert (c["kind"], c["line"], c["step"]) == ("check_failed", 4034, 34048000)
    run = load("intel_caffe_mkl2017_googlenet_cpu_poly.log")
    assert run.meta["hparams"]["clip_gradients"] == -1 and run.meta["clipping"] is None
    # a main head with auxiliary heads of smaller weight: the head is the loss
    run = load("googlenet_glogfile_diverges_to_115.log")
    assert run.roles["loss"] == "train/loss3/loss3" and "multi_loss" not in run.meta["caffe"]


def test_random_byte_lines_fail_strict(tmp_path):
    import random

    rng = random.Random(7)
    clean = solver_log(["max_iter: 1000"]).text().encode()
    lines = clean.split(b"\n")
    for trial in range(20):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(8, 40))).replace(b"\n", b"")
        at = rng.randrange(1, len(lines))
        path = tmp_path / f"r{trial}.log"
        path.write_bytes(b"\n".join(lines[:at] + [junk] + lines[at:]))
        run = gradlog.load(path)
        damaged = {
            k: n
            for k, n in run.meta["skipped"].items()
            if k in ("garbled_lines", "non_utf8_lines", "malformed_lines")
        }
        assert sum(damaged.values()) >= 1, junk
        with pytest.raises(DamagedInputError):
            gradlog.load(path, strict=True)


@pytest.mark.parametrize("suffix", [".xz", ".bz2"])
def test_a_cut_xz_or_bz2_log_keeps_what_came_before_the_cut(tmp_path, suffix):
    import bz2
    import lzma

    # (bz2 decompresses whole blocks, 100 kB at level 1: the log is larger than two)
    log = solver_log(["max_iter: 1000000"], steps=range(0, 20000, 10))
    raw = log.text().encode()
    packed = lzma.compress(raw, preset=0) if suffix == ".xz" else bz2.compress(raw, 1)
    path = tmp_path / f"cut.log{suffix}"
    path.write_bytes(packed[: len(packed) * 3 // 4])
    run = gradlog.load(path)
    assert run.meta["skipped"]["truncated_input"] == 1
    assert 0 < len(run.series("train/lr")) < 2000
    assert run.series("train/lr").index[0] == 0
    with pytest.raises(DamagedInputError, match="truncated input"):
        gradlog.load(path, strict=True)
