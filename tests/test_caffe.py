"""The Caffe reader on crafted logs: one small log per line shape and per quirk.

The debug_info cases follow the print order of Caffe's ``Solver::Step`` (solver.cpp),
``Net::ForwardDebugInfo``/``BackwardDebugInfo``/``Backward``/``UpdateDebugInfo``
(net.cpp) and ``SGDSolver::ApplyUpdate``/``ClipGradients`` (sgd_solver.cpp).
"""

from __future__ import annotations

import gzip
import io
import math
from pathlib import Path

import numpy as np
import pytest

import gradlog
from gradlog.errors import DamagedInputError, EmptyLogError, ParseError, UnknownFormatError
from gradlog.frame.source import Source
from gradlog.parsers import caffe
from gradlog.parsers.caffe import bulk as caffe_bulk
from gradlog.parsers.caffe import stream as caffe_stream


class Log:
    """Build a glog-format log line by line (1 ms per line, from a fixed start)."""

    def __init__(self, day: str = "0412", start: float = 10 * 3600.0, pid: int = 4321) -> None:
        self.day = day
        self.t = start
        self.pid = pid
        self.lines: list[str] = []

    def add(self, msg: str, src: str = "solver.cpp:218", level: str = "I", dt: float = 0.001) -> Log:
        self.t += dt
        h, rem = divmod(self.t, 3600)
        m, s = divmod(rem, 60)
        self.lines.append(f"{level}{self.day} {int(h):02d}:{int(m):02d}:{s:09.6f} {self.pid:5d} {src}] {msg}")
        return self

    def raw(self, text: str) -> Log:
        self.lines.append(text)
        return self

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def write(self, tmp_path, name: str = "train.log", *, encoding_newline: str = "\n") -> str:
        path = tmp_path / name
        path.write_bytes(self.text().replace("\n", encoding_newline).encode())
        return str(path)


def v(tag: str, step: int) -> float:
    """A distinct value per (tag, step), so every value shows where it landed."""
    return round(step + (sum(map(ord, tag)) % 997) / 1000, 6)


def fwd(log: Log, step: int, test: bool = False) -> None:
    pre = "t" if test else ""
    for layer, blob in (("data", "data"), ("conv1", "conv1"), ("relu1", "conv1"), ("fc", "fc")):
        log.add(
            f"    [Forward] Layer {layer}, top blob {blob} data: {v(pre + 'f' + layer, step)}", "net.cpp:608"
        )
        if layer in ("conv1", "fc"):
            for p in (0, 1):
                log.add(
                    f"    [Forward] Layer {layer}, param blob {p} data: "
                    f"{v(pre + 'pf' + layer + str(p), step)}",
                    "net.cpp:620",
                )
    log.add(f"    [Forward] Layer loss, top blob loss data: {v(pre + 'floss', step)}", "net.cpp:608")


def bwd(log: Log, step: int, grad_total: float | None = None) -> None:
    log.add(f"    [Backward] Layer loss, bottom blob fc diff: {v('bloss', step)}", "net.cpp:636")
    for layer, bottom in (("fc", "conv1"), ("relu1", "conv1"), ("conv1", None)):
        if bottom:
            log.add(
                f"    [Backward] Layer {layer}, bottom blob {bottom} diff: {v('b' + layer, step)}",
                "net.cpp:636",
            )
        if layer in ("conv1", "fc"):
            for p in (0, 1):
                log.add(
                    f"    [Backward] Layer {layer}, param blob {p} diff: {v('g' + layer + str(p), step)}",
                    "net.cpp:647",
                )
    g = v("gn", step) if grad_total is None else grad_total
    log.add(
        f"    [Backward] All net params (data, diff): L1 norm = ({v('l1d', step)}, "
        f"{v('l1g', step)}); L2 norm = ({v('l2d', step)}, {g})",
        "net.cpp:736",
        level="E",
    )


def display(log: Log, step: int, *, rate: bool = True, lr: float = 0.01) -> None:
    if rate:
        log.add(f"Iteration {step} (9.5 iter/s, 2.1s/20 iters), loss = {v('smooth', step)}")
    else:
        log.add(f"Iteration {step}, loss = {v('smooth', step)}")
    log.add(
        f"    Train net output #0: loss = {v('out', step)} (* 1 = {v('out', step)} loss)", "solver.cpp:237"
    )
    log.add(f"Iteration {step}, lr = {lr}", "sgd_solver.cpp:106")


def update(log: Log, step: int) -> None:
    for layer in ("conv1", "fc"):
        for p in (0, 1):
            log.add(
                f"    [Update] Layer {layer}, param {p} data: {v('ud' + layer + str(p), step)}; "
                f"diff: {v('uu' + layer + str(p), step)}",
                "net.cpp:758",
            )


def add_test_pass(log: Log, step: int, batches: int = 2, net: int = 0) -> None:
    log.add(f"Iteration {step}, Testing net (#{net})", "solver.cpp:338")
    for _ in range(batches):
        fwd(log, step, test=True)
    log.add(f"    Test net output #0: accuracy = {v('acc' + str(net), step)}", "solver.cpp:406")
    log.add(
        f"    Test net output #1: loss = {v('tloss' + str(net), step)} (* 1 = "
        f"{v('tloss' + str(net), step)} loss)",
        "solver.cpp:406",
    )


def start(log: Log, name: str = "TinyNet") -> None:
    log.add("Initializing solver from parameters: ", "solver.cpp:48")
    for line in (
        "test_iter: 2",
        "base_lr: 0.01",
        "display: 2",
        "max_iter: 6",
        'lr_policy: "fixed"',
        "average_loss: 1",
        "debug_info: true",
        "net_param {",
        '  name: "TinyNet"',
        "}",
        'type: "SGD"',
    ):
        log.raw(line)
    log.add(f"Solving {name}", "solver.cpp:288")
    log.add("Learning Rate Policy: fixed", "solver.cpp:289")


def series(run: gradlog.Run, tag: str) -> dict[int, float]:
    return {int(k): float(x) for k, x in run.series(tag).items()}


# -- debug_info: current Caffe (debug lines on display iterations only) ------------------------
def current_caffe_log() -> Log:
    log = Log()
    start(log)
    for step in (0, 2, 4):
        if step in (0, 4):
            add_test_pass(log, step)
        fwd(log, step)
        bwd(log, step)
        display(log, step)
    log.add("Iteration 6, loss = 0.5", "solver.cpp:317")
    add_test_pass(log, 6)
    log.add("Optimization Done.", "solver.cpp:322")
    return log


def test_current_caffe_debug_lines_land_on_their_iteration(tmp_path):
    run = gradlog.load(current_caffe_log().write(tmp_path))
    assert run.meta["format"] == "caffe"
    for tag, key in (
        ("grad_absmean/conv1/0", "gconv10"),
        ("grad_absmean/fc/1", "gfc1"),
        ("bwd_absmean/fc/conv1", "bfc"),
        ("fwd_absmean/relu1/conv1", "frelu1"),
        ("param_absmean/conv1/1", "pfconv11"),
        ("fwd_absmean/loss/loss", "floss"),
        ("grad_norm/total", "gn"),
        ("grad_l1/total", "l1g"),
        ("param_norm/total", "l2d"),
        ("param_l1/total", "l1d"),
    ):
        assert series(run, tag) == {s: v(key, s) for s in (0, 2, 4)}, tag
    assert series(run, "train/loss") == {s: v("out", s) for s in (0, 2, 4)}
    assert series(run, "train/loss_smoothed") == {
        0: v("smooth", 0),
        2: v("smooth", 2),
        4: v("smooth", 4),
        6: 0.5,
    }
    assert series(run, "test0/accuracy") == {s: v("acc0", s) for s in (0, 4, 6)}
    assert series(run, "test0/loss") == {s: v("tloss0", s) for s in (0, 4, 6)}
    # the test net's [Forward] lines (2 batches x 9 lines x 3 passes) are not train values
    assert run.meta["skipped"]["test_net_debug_lines"] == 54
    assert not any(t.startswith("fwd_absmean/t") for t in run.tags)
    assert run.meta["caffe"]["runs"][0]["debug_info"] == "display_only"
    assert run.roles["grad_total"] == "grad_norm/total"
    assert run.roles["loss"] == "train/loss" and run.roles["lr"] == "train/lr"
    assert "grad_absmean/conv1/0" in run.roles["grad"]


def test_debug_values_take_the_time_of_their_iteration_line(tmp_path):
    run = gradlog.load(current_caffe_log().write(tmp_path))
    w_loss = run.wall_times("train/loss_smoothed")
    w_grad = run.wall_times("grad_norm/total")
    for s in (0, 2, 4):
        assert w_grad[s] == w_loss[s]
    assert w_loss[2] - w_loss[0] == pytest.approx(0.020, abs=1e-6)  # 20 lines apart


def test_iter_size_passes_in_one_iteration_keep_the_last(tmp_path):
    log = Log()
    start(log)
    for step in (0, 2):
        fwd(log, step)
        bwd(log, step, grad_total=1.0)  # first of iter_size = 2 passes
        fwd(log, step)
        bwd(log, step, grad_total=2.0)  # the accumulated gradient
        display(log, step)
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "grad_norm/total") == {0: 2.0, 2: 2.0}
    assert series(run, "grad_absmean/conv1/0") == {0: v("gconv10", 0), 2: v("gconv10", 2)}


def test_lost_forward_lines_do_not_move_backward_values(tmp_path):
    log = Log()
    start(log)
    fwd(log, 0)
    bwd(log, 0)
    display(log, 0)
    bwd(log, 2)  # this block's [Forward] lines are missing
    display(log, 2)
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "grad_absmean/conv1/0") == {0: v("gconv10", 0), 2: v("gconv10", 2)}
    assert series(run, "grad_norm/total") == {0: v("gn", 0), 2: v("gn", 2)}


def test_a_block_without_its_iteration_line_is_dropped_and_counted(tmp_path):
    log = Log()
    start(log)
    for step in (0, 20, 40, 60):
        fwd(log, step)
        bwd(log, step)
        if step != 40:
            display(log, step)
        else:
            log.add(f"Iteration {step}, lr = 0.01", "sgd_solver.cpp:106")
    run = gradlog.load(log.write(tmp_path))
    assert sorted(series(run, "grad_norm/total")) == [0, 20, 60]
    assert run.meta["skipped"]["unplaced_values"] == 9 + 7 + 4  # [Forward], [Backward], All
    assert any("without their Iteration line between iterations 20 and 60" in w for w in run.meta["warnings"])
    assert series(run, "train/lr")[40] == 0.01


# -- debug_info: older Caffe (debug lines on every iteration, [Update] lines) ------------------
def old_caffe_log(skip_block: int | None = None, clip_at: tuple[int, ...] = ()) -> Log:
    log = Log()
    start(log)
    for step in range(0, 7):
        if step % 3 == 0:
            add_test_pass(log, step, batches=1)
        if step != skip_block:
            fwd(log, step)
            bwd(log, step)
        if step % 3 == 0:
            display(log, step, rate=False)
        if step in clip_at:
            log.add(
                f"Gradient clipping: scaling down gradients (L2 norm {v('clip', step)} > 35) "
                f"by scale factor 0.5",
                "sgd_solver.cpp:92",
            )
        if step != skip_block:
            update(log, step)
    log.add("Iteration 7, loss = 0.25", "solver.cpp:291")
    return log


def test_old_caffe_blocks_between_display_lines_are_the_iterations_between(tmp_path):
    run = gradlog.load(old_caffe_log(clip_at=(1, 3, 5)).write(tmp_path))
    steps = list(range(7))
    assert series(run, "grad_norm/total") == {s: v("gn", s) for s in steps}
    assert series(run, "grad_absmean/fc/0") == {s: v("gfc0", s) for s in steps}
    assert series(run, "update_absmean/conv1/1") == {s: v("uuconv11", s) for s in steps}
    assert series(run, "update_param_absmean/fc/0") == {s: v("udfc0", s) for s in steps}
    assert series(run, "train/loss") == {0: v("out", 0), 3: v("out", 3), 6: v("out", 6)}
    # clipping lines inside a block belong to it (display or not)
    assert series(run, "grad_norm/total_preclip") == {s: v("clip", s) for s in (1, 3, 5)}
    assert run.meta["clipping_events"] == 3
    assert run.meta["caffe"]["runs"][0]["debug_info"] == "every_iteration"
    assert "update_lines" in run.meta["caffe"]["line_formats"]
    # intermediate iterations have no line of their own: their time is interpolated
    w = run.wall_times("grad_norm/total")
    assert w[0] < w[1] < w[2] < w[3]


def test_old_caffe_with_a_lost_block_drops_that_stretch(tmp_path):
    run = gradlog.load(old_caffe_log(skip_block=4).write(tmp_path))
    # between the display lines of 3 and 6 one block is missing: 4 and 5 are unknown
    assert sorted(series(run, "grad_norm/total")) == [0, 1, 2, 3, 6]
    assert run.meta["skipped"]["unplaced_values"] == 9 + 7 + 4 + 8  # block 5, with its [Update]s
    assert any("between iterations 3 and 6" in w for w in run.meta["warnings"])


def test_shared_parameter_update_lines_and_input_blobs(tmp_path):
    log = Log()
    start(log)
    log.add("    [Forward] Input data data: 0.25", "net.cpp:590")
    fwd(log, 0)
    bwd(log, 0)
    display(log, 0)
    log.add("    [Update] Layer fc2, param blob 0 (owned by layer fc, param 0) diff: 0.125", "net.cpp:770")
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "input_absmean/data") == {0: 0.25}
    assert series(run, "update_absmean/fc2/0") == {0: 0.125}


def test_2014_debug_info_format(tmp_path):
    log = Log()
    start(log)
    log.add("[debug_info] [Forward] Layer conv1, top blob conv1 data: 1523.2 (0.0312)", "net.cpp:490")
    log.add("[debug_info] [Backward] Layer conv1, param blob 0 diff: 2.5 (0.000125)", "net.cpp:510")
    log.add("Iteration 0, loss = 2.3")
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "fwd_absmean/conv1/conv1") == {0: 0.0312}
    assert series(run, "grad_absmean/conv1/0") == {0: 0.000125}


# -- gradient clipping (no debug_info) ---------------------------------------------------------
def test_clipping_is_placed_only_when_its_iteration_is_certain(tmp_path):
    log = Log()
    start(log)
    for step in range(4):  # display 1: each clip line follows its lr line
        display(log, step)
        log.add(
            f"Gradient clipping: scaling down gradients (L2 norm {40 + step} > 35) by scale factor 0.8",
            "sgd_solver.cpp:92",
        )
    for step in (10, 20):  # display 10: clipping on iterations in between too
        display(log, step)
        for _ in range(3):
            log.add(
                "Gradient clipping: scaling down gradients (L2 norm 50 > 35) by scale factor 0.7",
                "sgd_solver.cpp:92",
            )
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "grad_norm/total_preclip") == {0: 40.0, 1: 41.0, 2: 42.0}
    assert run.meta["clipping_events"] == 10
    assert run.meta["skipped"]["unplaced_clipping_events"] == 7


# -- training and test lines -------------------------------------------------------------------
def test_outputs_names_multiple_test_nets_and_old_test_scores(tmp_path):
    log = Log()
    start(log)
    log.add("Iteration 0, Testing net (#0)", "solver.cpp:338")
    log.add("Test loss: 1.5", "solver.cpp:390")
    log.add("    Test net output #0: loss1/loss1 = 2.5 (* 0.3 = 0.75 loss)", "solver.cpp:406")
    log.add("    Test net output #1: loss3/top-1 = 0.125", "solver.cpp:406")
    log.add("Iteration 0, Testing net (#1)", "solver.cpp:338")
    log.add("    Test net output #0: loss1/loss1 = 3.5 (* 0.3 = 1.05 loss)", "solver.cpp:406")
    log.add("Iteration 0, loss = 9.0", "solver.cpp:189")
    log.add("    Train net output #0: loss1/loss1 = 7.0 (* 0.3 = 2.1 loss)", "solver.cpp:204")
    log.add("    Train net output #1: loss3/loss3 = 6.9 (* 1 = 6.9 loss)", "solver.cpp:204")
    log.add("    Train net output #2: prob = 0.25", "solver.cpp:204")
    log.add("    Train net output #3: prob = 0.75", "solver.cpp:204")  # element 1 of a 2-element blob
    log.add("Iteration 0, lr = 0.01", "solver.cpp:467")
    log.add("Iteration 1, Testing net", "solver.cpp:100")  # 2014: no (#k)
    log.add("Test score #0: 0.5", "solver.cpp:120")
    log.add("Test score #1: 1.25", "solver.cpp:120")
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "test0/total_loss") == {0: 1.5}
    assert series(run, "test0/loss1/loss1") == {0: 2.5}
    assert series(run, "test1/loss1/loss1") == {0: 3.5}
    assert series(run, "test0/loss3/top-1") == {0: 0.125}
    assert series(run, "train/loss1/loss1") == {0: 7.0}
    assert series(run, "train/prob") == {0: 0.25} and series(run, "train/prob/1") == {0: 0.75}
    assert series(run, "test0/score0") == {1: 0.5} and series(run, "test0/score1") == {1: 1.25}
    # the main loss is the output with the largest loss weight, not the first one
    assert run.roles["loss"] == "train/loss3/loss3"
    assert run.roles["val_metric"] == "test0/loss3/top-1"
    assert run.meta["caffe"]["loss_weights"] == {"train/loss1/loss1": 0.3, "train/loss3/loss3": 1.0}
    src = dict(zip(run.frame["tag"].astype(str), run.frame["source_tag"].astype(str), strict=False))
    assert src["train/loss1/loss1"] == "loss1/loss1" and src["test0/score1"] == "Test score #1"


def test_outputs_without_their_header_line_are_not_placed(tmp_path):
    log = Log()
    start(log)
    display(log, 0)
    log.add("    Train net output #0: loss = 9.9", "solver.cpp:237")  # after the lr line
    log.add("    Test net output #0: accuracy = 0.5", "solver.cpp:406")  # no Testing line
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "train/loss") == {0: v("out", 0)}
    assert "test0/accuracy" not in run
    assert run.meta["skipped"]["unplaced_values"] == 2


def test_rates_the_first_one_of_each_run_is_not_kept(tmp_path):
    log = Log()
    start(log)
    log.add("Iteration 0 (-1.02432e-37 iter/s, 0.199s/100 iters), loss = 2.4")
    log.add("Iteration 100 (16.5 iter/s, 6.06s/100 iter), loss = 0.3")
    log.add("Iteration 200 (17.25 iter/s, 5.8s/100 iters), loss = 0.25, 17 iter/s avg")
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "train/iter_per_s") == {100: 16.5, 200: 17.25}
    assert series(run, "train/loss_smoothed") == {0: 2.4, 100: 0.3, 200: 0.25}
    assert run.meta["skipped"]["first_rate_of_run"] == 1
    assert run.roles["loss"] == "train/loss_smoothed"  # no raw output in this log


def test_nan_inf_and_msvc_values_are_kept(tmp_path):
    log = Log()
    start(log)
    for step, val in (
        (0, "-nan"),
        (1, "nan"),
        (2, "inf"),
        (3, "-inf"),
        (4, "1.#INF"),
        (5, "-1.#IND"),
        (6, "87.3365"),
    ):
        log.add(f"Iteration {step}, loss = {val}")
        log.add(f"    Train net output #0: loss = {val} (* 1 = {val} loss)", "solver.cpp:237")
    run = gradlog.load(log.write(tmp_path))
    s = series(run, "train/loss")
    assert math.isnan(s[0]) and math.isnan(s[1]) and math.isnan(s[5])
    assert s[2] == math.inf and s[3] == -math.inf and s[4] == math.inf and s[6] == 87.3365
    assert int(run.summary().set_index("tag").loc["train/loss", "nonfinite"]) == 6


def test_multistep_status_lines_make_no_steps(tmp_path):
    log = Log()
    start(log)
    display(log, 0, lr=0.1)
    log.add("MultiStep Status: Iteration 5, step = 1", "sgd_solver.cpp:61")
    display(log, 5, lr=0.01)
    log.add("Plateau Status: Iteration 5, current minimum_loss = 0.1", "sgd_solver.cpp:80")
    run = gradlog.load(log.write(tmp_path))
    assert run.steps == {"first": 0, "last": 5, "count": 2}
    assert series(run, "train/lr") == {0: 0.1, 5: 0.01}
    assert run.meta["caffe"]["multistep_events"] == [{"step": 5, "stage": 1}]
    assert run.meta["replaced_points"] == 0


# -- runs, resumes, restarts -------------------------------------------------------------------
def test_resume_later_record_wins_and_restart_is_recorded(tmp_path):
    log = Log()
    start(log)
    for step in (0, 10, 20, 30):
        display(log, step, rate=False)
    log.add("Snapshotting to binary proto file snap_iter_20.caffemodel", "solver.cpp:459")
    log.add("Check failed: error == cudaSuccess (2 vs. 0)  out of memory", "syncedmem.cpp:56", level="F")
    log.raw("*** Check failure stack trace: ***")
    log.raw("    @     0x7f2f5a1c1daa  (unknown)")
    log.add("Resuming from snap_iter_20.solverstate", "caffe.cpp:209")
    start(log)
    log.add("SGDSolver: restoring history", "sgd_solver.cpp:300")
    for step in (20, 30, 40):
        log.add(f"Iteration {step}, loss = {step + 0.5}")
        log.add(f"Iteration {step}, lr = 0.001", "sgd_solver.cpp:106")
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "train/loss_smoothed") == {
        0: v("smooth", 0),
        10: v("smooth", 10),
        20: 20.5,
        30: 30.5,
        40: 40.5,
    }
    assert series(run, "train/lr") == {0: 0.01, 10: 0.01, 20: 0.001, 30: 0.001, 40: 0.001}
    assert run.meta["replaced_points"] == 4
    assert run.meta["runs_in_file"] == 2
    (r,) = run.meta["restarts"]
    assert r["kind"] == "resume" and r["step"] == 20 and r["previous_step"] == 30
    assert r["resumed_from"] == "snap_iter_20.solverstate"
    assert log.lines[r["line"] - 1].endswith("Resuming from snap_iter_20.solverstate")
    assert run.meta["caffe"]["fatal_errors"][0]["message"].startswith("Check failed: error")
    assert run.meta["caffe"]["runs"][0]["ended"] == "fatal"
    # the stack trace is the crash's, not damage; the crash is not the job's end (it resumed)
    assert "stack_trace_lines" not in run.meta["skipped"]
    assert run.meta["caffe"]["stack_trace_lines"] == 2
    (crash,) = run.meta["crashes"]
    assert crash["kind"] == "cuda_oom" and crash["step"] == 30 and crash["trace_lines"] == 2
    assert crash["relaunched"] is True and run.meta["crash"] is None


def test_counter_going_back_without_a_solving_line_is_a_restart(tmp_path):
    log = Log()
    start(log)
    for step in (0, 100, 200):
        display(log, step)
    for step in (100, 200, 300):  # the same job relaunched into the same file, no header
        log.add(f"Iteration {step}, loss = {step + 0.25}")
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "train/loss_smoothed") == {0: v("smooth", 0), 100: 100.25, 200: 200.25, 300: 300.25}
    (r,) = run.meta["restarts"]
    assert r["kind"] == "counter_reset" and r["step"] == 100 and r["previous_step"] == 200
    assert any("goes back from 200 to 100" in w for w in run.meta["warnings"])


# -- line endings, bytes, non-glog lines -------------------------------------------------------
def test_cr_joined_and_non_glog_lines_are_skipped_and_counted(tmp_path):
    log = current_caffe_log()
    text = log.text()
    loss2 = next(ln for ln in log.lines if "Iteration 2 (" in ln)
    # a progress bar and a cut glog prefix glued by \r in front of a loss line
    text = text.replace(loss2 + "\n", "progress 50%\rprogress 99%\r" + loss2[:30] + "\r" + loss2 + "\n")
    text = text.replace("Solving TinyNet\n", "Solving TinyNet\nPython layer says hello\n", 1)
    path = tmp_path / "cr.log"
    path.write_bytes(text.encode())
    run = gradlog.load(str(path))
    ref = gradlog.load(current_caffe_log().write(tmp_path, "ref.log"))
    assert run.frame.equals(ref.frame)
    assert run.meta["caffe"]["cr_joined_lines"] == 3
    assert run.meta["skipped"]["non_glog_lines"] == 4
    # line numbers count newlines only (a \r joins parts of one line)
    bad = text.replace("Optimization Done.", "Iteration 7, loss = oops")
    path.write_bytes(bad.encode())
    line = bad.split("\n").index(next(ln for ln in bad.split("\n") if "oops" in ln)) + 1
    with pytest.raises(DamagedInputError, match=f"line {line}: 1 malformed lines"):
        gradlog.load(str(path), strict=True)


def test_crlf_log_reads_like_lf(tmp_path):
    a = gradlog.load(current_caffe_log().write(tmp_path, "lf.log"))
    b = gradlog.load(current_caffe_log().write(tmp_path, "crlf.log", encoding_newline="\r\n"))
    assert a.frame.equals(b.frame)
    assert "crlf" in b.meta["caffe"]["line_formats"]


def test_non_utf8_lines_are_skipped_and_counted(tmp_path):
    data = current_caffe_log().text().encode()
    data = data.replace(b"Layer fc, param blob 1 diff", b"Layer f\xff\xfec, param blob 1 diff", 1)
    data = data.replace(b"Optimization Done.", b"Optimization Done. \xc3\x28")
    path = tmp_path / "bytes.log"
    path.write_bytes(data)
    run = gradlog.load(str(path))
    assert run.meta["skipped"]["non_utf8_lines"] == 2
    assert series(run, "grad_absmean/fc/1") == {2: v("gfc1", 2), 4: v("gfc1", 4)}
    with pytest.raises(DamagedInputError, match=r"line \d+: 2 non utf8 lines"):
        gradlog.load(str(path), strict=True)


def test_malformed_values_are_counted_and_strict_mode_raises(tmp_path):
    log = Log()
    start(log)
    display(log, 0)
    log.add("Iteration 2, loss = 0.5x")
    log.add("    Train net output #0: loss = abc (* 1 = abc loss)", "solver.cpp:237")
    log.add("    [Forward] Layer conv1, top blob conv1 data: 1.2.3", "net.cpp:608")
    log.add("Iteration 4, loss = 0.25")
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "train/loss_smoothed") == {0: v("smooth", 0), 4: 0.25}
    assert run.meta["skipped"]["malformed_lines"] == 3
    with pytest.raises(DamagedInputError, match="malformed lines"):
        gradlog.load(log.write(tmp_path), strict=True)


# -- wall time ---------------------------------------------------------------------------------
def test_year_from_the_glog_header_and_new_year_roll_over(tmp_path):
    log = Log(day="1231", start=23 * 3600 + 59 * 60 + 59.99)
    log.raw("Log file created at: 2015/12/31 23:59:59")
    log.raw("Running on machine: box")
    log.raw("Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg")
    start(log)
    log.add("Iteration 0, loss = 1.0")
    log.day = "0101"
    log.t = 0.5
    log.add("Iteration 10, loss = 0.5")
    run = gradlog.load(log.write(tmp_path))
    w = run.wall_times("train/loss_smoothed")
    assert w[0] == pytest.approx(1451606399.0 + 0.994, abs=1e-5)  # 2015-12-31 23:59:59.994 UTC
    assert w[10] == pytest.approx(1451606400.501, abs=1e-5)  # 2016-01-01 00:00:00.501
    assert run.meta["wall_time_year_assumed"] is False
    assert run.meta["caffe"]["glog_header"]["running_on_machine"] == "box"


def test_without_a_year_one_is_assumed_and_durations_stay_right(tmp_path):
    log = Log(day="0228", start=23 * 3600 + 59 * 60 + 59.0)
    start(log)
    log.add("Iteration 0, loss = 1.0")
    log.day, log.t = "0229", 12 * 3600.0  # a Feb 29 line: that year was a leap year
    log.add("Iteration 10, loss = 0.5")
    log.day, log.t = "0301", 0.0
    log.add("Iteration 20, loss = 0.25")
    run = gradlog.load(log.write(tmp_path))
    w = run.wall_times("train/loss_smoothed")
    assert run.meta["wall_time_year_assumed"] is True
    assert run.meta["caffe"]["year"] == {"source": "assumed", "assumed_year": caffe.ASSUMED_YEAR}
    assert w[10] - w[0] == pytest.approx(12 * 3600 + 1 - 0.004 + 0.001, abs=1e-4)
    assert w[20] - w[10] == pytest.approx(12 * 3600 + 0.001 - 0.001 + 0.001 - 0.001, abs=1e-2)


def test_year_from_a_glog_file_name(tmp_path):
    log = Log(day="0703")
    start(log)
    log.add("Iteration 0, loss = 1.0")
    path = log.write(tmp_path, "caffe.host.user.log.INFO.20150703-144016.30328")
    run = gradlog.load(path)
    assert run.meta["caffe"]["year"]["source"] == "file_name"
    assert run.meta["wall_time_year_assumed"] is False
    assert 1435881600 < run.wall_times("train/loss_smoothed")[0] < 1435968000  # 2015-07-03


def test_glog_year_prefix(tmp_path):
    text = current_caffe_log().text()
    text = (
        "\n".join(
            ("I2019" + ln[1:]) if ln[:1] == "I" and ln[1:5].isdigit() else ln for ln in text.splitlines()
        )
        + "\n"
    )
    path = tmp_path / "y.log"
    path.write_text(text)
    run = gradlog.load(str(path))
    w = run.wall_times("train/loss_smoothed")[0]
    assert 1555027200 < w < 1555113600  # 2019-04-12
    assert series(run, "grad_norm/total") == {s: v("gn", s) for s in (0, 2, 4)}


# -- input kinds and errors --------------------------------------------------------------------
def test_gz_and_stream_inputs_read_like_the_file(tmp_path):
    path = current_caffe_log().write(tmp_path)
    ref = gradlog.load(path)
    gz = tmp_path / "train.log.gz"
    gz.write_bytes(gzip.compress(Path(path).read_bytes()))
    assert gradlog.load(str(gz)).frame.equals(ref.frame)
    with open(path, "rb") as fh:
        assert gradlog.load(fh).frame.equals(ref.frame)
    assert gradlog.load(io.BytesIO(gz.read_bytes())).frame.equals(ref.frame)


def test_chunk_boundaries_do_not_change_anything(tmp_path, monkeypatch, samples):
    data = (samples / "caffe_numpy_cnn_debug.log").read_bytes()[:200_000]
    cut = data.index(b"\n", 100_000) + 1
    # lines longer than a chunk: a Python print and a long glog message
    data = (
        data[:cut]
        + b"x" * 5000
        + b"\n"
        + b"I0316 00:00:01.000000  4242 layer.cpp:1] "
        + b"y" * 3000
        + b"\n"
        + data[cut:]
    )
    path = tmp_path / "part.log"
    path.write_bytes(data)
    ref = gradlog.load(str(path))
    assert ref.meta["skipped"]["non_glog_lines"] == 1
    for size in (997, 4096, 65536):
        monkeypatch.setattr(caffe_stream, "CHUNK_BYTES", size)
        run = gradlog.load(str(path))
        assert run.frame.equals(ref.frame), size
        assert run.meta == ref.meta, size


def test_a_truncated_gzip_keeps_what_was_read(tmp_path):
    path = current_caffe_log().write(tmp_path)
    raw = gzip.compress(Path(path).read_bytes() * 50)
    gz = tmp_path / "cut.log.gz"
    gz.write_bytes(raw[: len(raw) * 2 // 3])
    run = gradlog.load(str(gz))
    assert run.meta["skipped"]["truncated_input"] == 1
    assert "grad_norm/total" in run
    with pytest.raises(DamagedInputError, match="truncated input"):
        gradlog.load(str(gz), strict=True)


def test_empty_and_foreign_inputs_raise_clear_errors(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    with pytest.raises(EmptyLogError):
        gradlog.load(str(empty))
    with pytest.raises(EmptyLogError):
        gradlog.load(str(empty), format="caffe")
    text = tmp_path / "notes.txt"
    text.write_text("epoch 1 loss 0.5\nepoch 2 loss 0.4\n")
    with pytest.raises(UnknownFormatError, match="caffe"):
        gradlog.load(str(text))
    with pytest.raises(ParseError, match="not a Caffe log"):
        gradlog.load(str(text), format="caffe")
    # glog lines from another program are not claimed
    other = Log()
    other.add("Starting server on port 8080", "main.cc:12").add("Iteration of the event loop", "loop.cc:7")
    path = other.write(tmp_path, "server.log")
    assert not caffe.sniff(Source.from_path(path))
    # a Caffe log with no training values yet
    setup = Log()
    setup.add("Initializing solver from parameters: ", "solver.cpp:48")
    with pytest.raises(EmptyLogError, match="without Caffe training values"):
        gradlog.load(setup.write(tmp_path, "setup.log"))


def test_sniff_is_content_based(tmp_path):
    path = current_caffe_log().write(tmp_path, "whatever.csv")
    assert caffe.sniff(Source.from_path(path))
    assert gradlog.detect_format(path) == "caffe"
    head_only_net = Log().add("Creating layer conv1", "net.cpp:100").write(tmp_path, "n.log")
    assert caffe.sniff(Source.from_path(head_only_net))


def test_meta_documents_the_tags(tmp_path):
    run = gradlog.load(current_caffe_log().write(tmp_path))
    meta = run.meta
    assert meta["step_unit"] == "iteration"
    for key in (
        "train/loss_smoothed",
        "grad_norm/total",
        "grad_absmean/<layer>/<param>",
        "update_absmean/<layer>/<param>",
        "test<k>/<output>",
        "grad_norm/total_preclip",
    ):
        assert key in meta["statistics"]
    assert "not an L2 norm" in meta["statistics"]["grad_absmean/<layer>/<param>"]
    solver = meta["caffe"]["runs"][0]["solver"]
    assert solver["base_lr"] == 0.01 and solver["debug_info"] is True and solver["type"] == "SGD"
    assert "name" not in solver  # nested net_param fields are not solver keys
    assert meta["skipped"]["parameter_dump_lines"] == 11
    np.testing.assert_array_equal(run.frame["step"].to_numpy().dtype, np.dtype("int64"))


# -- regressions found in review ------------------------------------------------------------------
def test_an_iteration_beyond_int64_is_a_malformed_line_not_a_crash(tmp_path):
    log = Log()
    log.add("Solving TinyNet", "solver.cpp:288")
    display(log, 0, rate=False)
    big = "99999999999999999999999"
    log.add(f"Iteration {big}, loss = 2.5")
    log.add("    Train net output #0: loss = 2.4 (* 1 = 2.4 loss)", "solver.cpp:237")
    log.add(f"Iteration {big}, lr = 0.01", "sgd_solver.cpp:106")
    log.add(f"Iteration {big}, Testing net (#0)", "solver.cpp:338")
    log.add("    Test net output #0: accuracy = 0.5", "solver.cpp:406")
    log.add(f"Iteration {2**63 - 1}, loss = 3.5")
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "train/loss_smoothed") == {0: v("smooth", 0), 2**63 - 1: 3.5}
    # the outputs after the unreadable lines are not put on iteration 0
    assert series(run, "train/loss") == {0: v("out", 0)}
    assert "test0/accuracy" not in run
    assert run.meta["skipped"]["malformed_lines"] == 3
    assert run.meta["skipped"]["unplaced_values"] == 2


def test_outputs_after_a_cut_iteration_line_are_not_put_on_the_previous_one(tmp_path):
    log = Log()
    log.add("Solving TinyNet", "solver.cpp:288")
    display(log, 0, rate=False)
    log.add("Iteration 1")  # "Iteration 100, loss = ..." cut in its number
    log.add("    Train net output #0: loss = 0.5 (* 1 = 0.5 loss)", "solver.cpp:237")
    log.add("Iteration 100, lr = 0.01", "sgd_solver.cpp:106")
    display(log, 200, rate=False)
    run = gradlog.load(log.write(tmp_path))
    assert series(run, "train/loss") == {0: v("out", 0), 200: v("out", 200)}
    assert series(run, "train/lr") == {0: 0.01, 100: 0.01, 200: 0.01}
    assert run.meta["skipped"] == {"malformed_lines": 1, "unplaced_values": 1}


def test_glog_logs_of_other_programs_with_common_file_names_are_not_claimed(tmp_path):
    other = Log()
    other.add("Creating default 'local' authorizer", "common.cpp:42")
    other.add("Setting up server on port 5050", "master.cpp:12")
    other.add("Loading model", "parallel.cpp:42").add("done", "net.cpp:12")
    other.add("Iteration 1, cost = 3.2", "solver.cpp:100")
    other.add("Solving problem with 10 residuals", "solver.cpp:101")
    path = other.write(tmp_path, "server.INFO")
    assert not caffe.sniff(Source.from_path(path))
    with pytest.raises(UnknownFormatError):
        gradlog.load(path)
    # Caffe's own setup lines from its source files are still recognised
    setup = Log().add("Setting up conv1", "net.cpp:150").write(tmp_path, "setup.log")
    assert caffe.sniff(Source.from_path(setup))


# -- plain logs read in bulk ----------------------------------------------------------------------
def plain_log(iterations: int = 400, *, year: bool = False) -> Log:
    """A plain (no debug_info) GoogLeNet-like log, with the lines a real one has between
    its display lines: snapshots, data-layer messages, a Python print, a NaN loss, a
    multi-element test output, "Test loss:" lines and a relaunch."""
    log = Log(day="20160412" if year else "0412")
    log.add("Solving GoogleNet", "solver.cpp:288")
    for it in range(iterations):
        if it % 100 == 0:
            log.add(f"Iteration {it}, Testing net (#0)", "solver.cpp:338")
            log.add(f"Test loss: {v('tl', it)}", "solver.cpp:398")
            for k, name in enumerate(("loss3/top-1", "loss3/top-1", "loss3/loss3")):
                log.add(f"    Test net output #{k}: {name} = {v(name + str(k), it)}", "solver.cpp:406")
        if it % 150 == 75:
            log.add(f"Snapshotting to binary proto file g_iter_{it}.caffemodel", "solver.cpp:456")
            log.add("Data layer prefetch queue empty", "blocking_queue.cpp:50")
        if it == 233:
            log.raw("a print from a Python layer")
        loss = "nan" if it == 300 else v("smooth", it)
        log.add(f"Iteration {it} (3.2 iter/s, 6.2s/20 iters), loss = {loss}")
        for k, (name, w) in enumerate((("loss1/loss1", "0.3"), ("loss3/loss3", "1"))):
            log.add(f"    Train net output #{k}: {name} = {v(name, it)} (* {w} = 0.5 loss)", "solver.cpp:237")
        log.add(f"Iteration {it}, lr = {0.01 if it < 200 else 0.001}", "sgd_solver.cpp:106")
        if it == 350:  # a relaunch: the counter starts again
            log.add("Solving GoogleNet", "solver.cpp:288")
    return log


def _read_both(path: str, monkeypatch) -> tuple[gradlog.Run, gradlog.Run, dict[str, int]]:
    """The log read with the bulk path on small chunks, and line by line; and how many
    lines the bulk path read."""
    lines = {"bulk": 0}
    bulk = caffe_bulk.read_common

    def counting(rd, sc, data, a, b):
        stop = bulk(rd, sc, data, a, b)
        lines["bulk"] += (b - a) if stop < 0 else 0
        return stop

    monkeypatch.setattr(caffe_bulk, "read_common", counting)
    monkeypatch.setattr(caffe_stream, "CHUNK_BYTES", 16384)
    fast = gradlog.load(path)
    monkeypatch.setattr(caffe_bulk, "PLAIN_MIN_BYTES", 1 << 62)
    slow = gradlog.load(path)
    return fast, slow, lines


@pytest.mark.parametrize("year", [False, True])
def test_a_plain_log_read_in_bulk_gives_what_line_by_line_gives(tmp_path, monkeypatch, year):
    path = plain_log(year=year).write(tmp_path)
    fast, slow, lines = _read_both(path, monkeypatch)
    n_lines = Path(path).read_bytes().count(b"\n")
    assert lines["bulk"] > 0.8 * n_lines
    assert fast.frame.equals(slow.frame)
    assert fast.meta == slow.meta and fast.roles == slow.roles
    # and the values are the logged ones
    assert fast.series("train/loss3/loss3")[123] == v("loss3/loss3", 123)
    assert math.isnan(fast.series("train/loss_smoothed")[300])
    assert fast.series("train/lr")[199] == 0.01 and fast.series("train/lr")[200] == 0.001
    assert fast.series("test0/loss3/top-1/1")[300] == v("loss3/top-11", 300)  # element 1
    assert fast.series("test0/total_loss")[200] == v("tl", 200)
    assert fast.meta["caffe"]["loss_weights"] == {"train/loss1/loss1": 0.3, "train/loss3/loss3": 1.0}
    assert fast.meta["caffe"]["snapshot_lines"] == 3
    assert fast.meta["skipped"]["non_glog_lines"] == 1
    assert fast.meta["runs_in_file"] == 2
    assert len(fast.series("train/iter_per_s")) == 400 - 2  # the first rate of each run
    if year:
        assert fast.meta["caffe"]["year"]["source"] == "glog_prefix"
        assert fast.wall_times("train/lr")[0] == pytest.approx(1460455200.010, abs=1e-6)


def test_a_chunk_mixing_glog_timestamps_with_and_without_a_year_is_read_line_by_line(tmp_path, monkeypatch):
    log = plain_log(120)
    log.lines[200] = log.lines[200].replace("I0412 ", "I20160412 ", 1)
    path = log.write(tmp_path)
    fast, slow, lines = _read_both(path, monkeypatch)
    assert fast.frame.equals(slow.frame) and fast.meta == slow.meta


# -- a line without a newline ---------------------------------------------------------------------
def test_a_line_longer_than_the_limit_is_skipped_and_counted(tmp_path, monkeypatch):
    log = Log()
    start(log)
    display(log, 0, rate=False)
    before = log.text().encode()
    after = Log(start=11 * 3600.0)
    display(after, 20, rate=False)
    junk = b"x" * (3 << 20)  # 3 MiB without a newline
    path = tmp_path / "junk.log"
    path.write_bytes(before + junk + b"\n" + after.text().encode())
    line = before.count(b"\n") + 1
    for size in (997, 65536, caffe_stream.CHUNK_BYTES):
        monkeypatch.setattr(caffe_stream, "CHUNK_BYTES", size)
        run = gradlog.load(str(path))
        assert series(run, "train/loss") == {0: v("out", 0), 20: v("out", 20)}
        assert series(run, "train/lr") == {0: 0.01, 20: 0.01}
        assert run.meta["skipped"]["overlong_lines"] == 1
        assert run.meta["warnings"] == [f"{path}: line {line}: longer than 1 MiB ({3 << 20} bytes): skipped"]
    with pytest.raises(DamagedInputError, match=f"line {line}: 1 overlong lines"):
        gradlog.load(str(path), strict=True)
    # at the end of the input, without any newline after it
    path.write_bytes(before + junk)
    run = gradlog.load(str(path))
    assert series(run, "train/loss") == {0: v("out", 0)}
    assert run.meta["skipped"]["overlong_lines"] == 1


def test_a_line_at_the_limit_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(caffe_stream, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(caffe_stream, "CHUNK_BYTES", 1000)
    log = Log()
    start(log)
    display(log, 0, rate=False)
    log.add("Setting up a layer with a long name " + "y" * 4019, "net.cpp:100")
    log.raw("z" * 4097)
    display(log, 20, rate=False)
    assert len(log.lines[-5]) == 4096  # the glog line: exactly at the limit
    path = log.write(tmp_path)
    run = gradlog.load(path)
    assert series(run, "train/loss") == {0: v("out", 0), 20: v("out", 20)}
    assert run.meta["skipped"]["overlong_lines"] == 1  # the 4097-byte line only
    assert run.meta["warnings"] == [f"{path}: line 19: longer than 4096 bytes (4097 bytes): skipped"]


# -- old Caffe that prints every iteration, without [Update] lines ---------------------------------
def every_iteration_log(passes_per_iteration: int = 1, iter_size: int | None = None, last: int = 7) -> Log:
    """Debug lines on every iteration, display 3, and no [Update] line between the
    iterations: the passes of iterations 1 and 2 run straight into those of 3."""
    log = Log()
    log.add("Initializing solver from parameters: ", "solver.cpp:48")
    for line in ["display: 3", "debug_info: true"] + ([f"iter_size: {iter_size}"] if iter_size else []):
        log.raw(line)
    log.add("Solving TinyNet", "solver.cpp:288")
    for step in range(last):
        for p in range(passes_per_iteration):
            fwd(log, step)
            bwd(log, step, grad_total=v("gn", step) + p)
        if step % 3 == 0:
            display(log, step, rate=False)
    log.add(f"Iteration {last}, loss = 0.25", "solver.cpp:291")
    return log


def test_iterations_without_update_lines_between_them_are_split_not_merged(tmp_path):
    run = gradlog.load(every_iteration_log().write(tmp_path))
    steps = range(7)
    assert series(run, "grad_norm/total") == {s: v("gn", s) for s in steps}
    assert series(run, "grad_absmean/conv1/0") == {s: v("gconv10", s) for s in steps}
    assert series(run, "fwd_absmean/fc/fc") == {s: v("ffc", s) for s in steps}
    assert run.meta["caffe"]["runs"][0]["debug_info"] == "every_iteration"
    assert run.meta["caffe"]["debug_blocks_split"] == 2
    assert run.meta["replaced_points"] == 0 and run.meta["warnings"] == []
    w = run.wall_times("grad_norm/total")
    w_loss = run.wall_times("train/loss_smoothed")
    assert w[3] == w_loss[3] and w_loss[0] < w[1] < w[2] < w[3]


def test_iter_size_from_the_solver_parameters_groups_the_passes(tmp_path):
    run = gradlog.load(every_iteration_log(2, iter_size=2).write(tmp_path))
    # each iteration's second pass (the accumulated gradient) is its value
    assert series(run, "grad_norm/total") == {s: v("gn", s) + 1 for s in range(7)}
    assert run.meta["caffe"]["runs"][0]["debug_info"] == "every_iteration"
    assert run.meta["replaced_points"] == 7 * 20  # the first pass of each: 20 values
    assert "ambiguous_debug_values" not in run.meta["skipped"]


def test_repeated_passes_whose_iteration_is_unknown_are_skipped_and_counted(tmp_path):
    # two passes per iteration, iter_size not in the parameters: the passes before an
    # Iteration line may be iter_size passes or earlier iterations; only the last is used
    run = gradlog.load(every_iteration_log(2).write(tmp_path))
    assert series(run, "grad_norm/total") == {0: v("gn", 0) + 1, 3: v("gn", 3) + 1, 6: v("gn", 6) + 1}
    # 20 values per pass: 1 earlier pass at 0, 5 at 3 and at 6
    assert run.meta["skipped"]["ambiguous_debug_values"] == (1 + 5 + 5) * 20
    assert len(run.meta["warnings"]) == 1
    assert "line 39 (iteration 0) and 2 later: 3 debug_info block(s)" in run.meta["warnings"][0]
    assert run.meta["caffe"]["runs"][0]["debug_info"] is None


@pytest.mark.parametrize("cut", ["1e-0", "0."])
def test_a_caffe_log_still_being_written_drops_its_cut_last_number(tmp_path, cut):
    # a log read while the job runs: `lr = 1e-05` cut to `lr = 1e-0` read as lr = 1
    src = Path(__file__).resolve().parents[1] / "sample_logs" / "caffe_numpy_cnn.log"
    lines = src.read_text().splitlines()
    i = max(k for k, line in enumerate(lines) if ", lr = " in line)
    head = lines[i][: lines[i].index(", lr = ") + len(", lr = ")]
    p = tmp_path / "train.log"
    p.write_text("\n".join(lines[:i] + [head + cut]))
    run = gradlog.load(p)
    lr = run.series("train/lr")
    assert lr.index[-1] == 2960 and lr.iloc[-1] == 0.005
    assert run.meta["truncated"] == 1 and run.meta["skipped"]["truncated_last_line"] == 1
    with pytest.raises(DamagedInputError, match="truncated last line"):
        gradlog.load(p, strict=True)
    # the same line complete but without its newline is kept
    p.write_text("\n".join(lines[:i] + [head + "0.005"]))
    run = gradlog.load(p)
    assert run.series("train/lr").index[-1] == 2980 and "truncated" not in run.meta
