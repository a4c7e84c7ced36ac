"""Every pattern the Caffe reader applies to untrusted text takes time linear in the line.

A generous smoke test per regex (the linear-time checks proper belong to the fuzz
harness): each pattern gets 1 MB adversarial lines built from a line it nearly matches
(its blanks stretched, its pieces repeated, its end cut off) and must finish far under
a limit that a quadratic pattern would miss by hours. Then whole logs of such lines.
"""

from __future__ import annotations

import io
import re
import time

import pytest

import gradlog
from gradlog.frame.source import Source
from gradlog.parsers import caffe
from gradlog.parsers.caffe import lines as L

MB = 1 << 20
#: Seconds one pattern may take on 1 MB (linear time takes about 0.01 s; a quadratic
#: pattern takes minutes to hours).
LIMIT = 3.0
PRE = b"I0412 10:00:00.000000  4321 solver.cpp:218] "


def adversarial(seed: bytes) -> list[bytes]:
    """1 MB lines made from ``seed``: its blanks stretched to a long run (before the end,
    and at the end followed by a non-blank), it repeated, it repeated with its last
    byte cut, a run of each of its bytes."""
    out = []
    half = MB // 2
    if b" " in seed:
        head, _, tail = seed.rpartition(b" ")
        out.append(head + b" " * half + tail + b" " * half + b"x")
        first, _, rest = seed.partition(b" ")
        out.append(first + b" " * MB + rest)
    reps = max(1, MB // max(len(seed), 1))
    out.append(seed * reps)
    out.append(seed[:-1] * reps)
    out.append(seed + b"x" * MB)
    for ch in sorted(set(seed) - set(b"0123456789abcdefghijklmnopqrstuvwxyz"))[:6] + [ord(b"x")]:
        out.append(seed[: len(seed) // 2] + bytes([ch]) * MB)
    return [x.replace(b"\n", b" ") for x in out]


def timed(fn, arg) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


#: (name, how the reader applies it, lines it nearly matches)
PATTERNS = [
    (
        "LINE_FAST",
        lambda s: L.LINE_FAST.findall(s + b"\n"),
        [PRE + b"    [Forward] Layer conv1, top blob conv1 data: 0.5", b"I0 x] [F y"],
    ),
    (
        "LINE_SAFE",
        lambda s: L.LINE_SAFE.findall(s + b"\n"),
        [PRE + b"    [Backward] Layer fc, param blob 0 diff: 1e-05", b"I0 x] [B y"],
    ),
    (
        "EVENT_RE",
        lambda s: L.EVENT_RE.findall(s + b"\n"),
        [
            PRE + b"Iteration 20 (3.2 iter/s, 6.2s/20 iters), loss = 0.5, 3 iter/s avg",
            PRE + b"    Train net output #0: loss = 0.4012 (* 1 = 0.4012 loss)",
            PRE + b"Iteration 20, lr = 0.01",
            b"I0412 10:00:00.000000 a b c d e] x",
        ],
    ),
    (
        "DEBUG_2014_RE",
        L.DEBUG_2014_RE.match,
        [b"[debug_info] [Forward] Layer conv1, top blob conv1 data: 1523.2 (0.0312)"],
    ),
    (
        "ALL_PARAMS_RE",
        lambda s: L.ALL_PARAMS_RE.findall(s + b"\n"),
        [b"L1 norm = (1234.5, 0.87); L2 norm = (12.3, 0.0042)"],
    ),
    (
        "iteration",
        L.HANDLERS[b"Iterat"],
        [
            b"Iteration 20 (3.2 iter/s, 6.2s/20 iters), loss = 0.5",
            b"Iteration 20, loss = 0.5, x",
            b"Iteration 20, lr = 0.01",
            b"Iteration 500, Testing net (#0)",
        ],
    ),
    (
        "output",
        L.HANDLERS[b"Train "],
        [b"Train net output #0: loss = 0.4012 (* 1 = 0.4012 loss)", b"Train net output #0: a = b = c"],
    ),
    (
        "test",
        L.HANDLERS[b"Test n"],
        [
            b"Test net output #1: loss = 0.2817 (* 1 = 0.2817 loss)",
            b"Test score #0: 0.9126",
            b"Test loss: 0.2817",
        ],
    ),
    (
        "clip",
        L.HANDLERS[b"Gradie"],
        [b"Gradient clipping: scaling down gradients (L2 norm 41.2 > 35) by scale factor 0.8495"],
    ),
    (
        "info",
        L.HANDLERS[b"MultiS"],
        [
            b"MultiStep Status: Iteration 20000, step = 1",
            b"Learning Rate Policy: step",
            b"Snapshotting to binary proto file a.caffemodel",
        ],
    ),
    (
        "debug_2014",
        L.HANDLERS[b"[debug"],
        [b"[debug_info] [Backward] Layer conv1, param blob 0 diff: 2.5 (0.000125)"],
    ),
    (
        "parse_debug_key",
        L.parse_debug_key,
        [
            b"[Forward] Layer conv1, top blob conv1 data: ",
            b"[Backward] Layer fc, param blob 0 diff: ",
            b"[Update] Layer fc2, param blob 0 (owned by layer fc, param 0) diff: ",
            b"[Update] Layer fc, param 0 data: ",
            b"[Forward] Input data data: ",
        ],
    ),
    ("HEADER_RE", L.HEADER_RE.match, [b"Log file created at: 2015/07/03 14:45:14"]),
    ("param_line", L.param_line, [b"  base_lr:   0.01  ", b'lr_policy: "step"']),
    ("PROTO_LINE_RE", L.PROTO_LINE_RE.match, [b'  name: "conv1"', b"  convolution_param {", b"  a.b.c : x"]),
    (
        "STACK_LINE_RE",
        L.STACK_LINE_RE.match,
        [b"    @     0x7f2f5a1c1daa  caffe::Solver::Step()", b"*** Check failure stack trace: ***"],
    ),
    (
        "CRASH_LINE_RE",
        L.CRASH_LINE_RE.match,
        [b"RuntimeError: CUDA error: out of memory", b"*** Aborted at 1461 (unix time) try"],
    ),
    ("GARBLED_RE", L.GARBLED_RE.search, [b"a print from a Python layer"]),
    (
        "SNIFF_LINE_RE",
        lambda s: list(L.SNIFF_LINE_RE.finditer(s[:65536])),
        [PRE + b"Solving GoogleNet", b"\nI0412 10:00:00.000000 a b.cpp:1"],
    ),
    (
        "SNIFF_MSG_RE",
        L.SNIFF_MSG_RE.match,
        [b"Iteration 20 (3.2 iter/s, 6.2s/20 iters), loss = 0.5", b"Solving GoogleNet  "],
    ),
    ("SNIFF_WEAK_RE", L.SNIFF_WEAK_RE.match, [b"Creating layer conv1", b"data -> data  "]),
]


@pytest.mark.parametrize(("name", "apply", "seeds"), PATTERNS, ids=[p[0] for p in PATTERNS])
def test_each_pattern_takes_linear_time_on_1_mb_lines(name, apply, seeds):
    worst = 0.0
    for seed in seeds:
        for line in adversarial(seed):
            worst = max(worst, timed(apply, line))
            assert worst < LIMIT, (name, seed, line[:80])


def test_every_pattern_of_the_line_module_is_covered():
    """A new pattern in caffe/lines.py needs its smoke test here."""
    covered = {p[0] for p in PATTERNS}
    names = {
        n
        for n, x in vars(L).items()
        if isinstance(x, re.Pattern) and not n.startswith("_") and x.pattern.__class__ is bytes
    }
    assert names - covered - {"PARAM_LINE_RE"} == set()  # (param_line applies it)


def _read(data: bytes, strict: bool = False):
    return caffe.read(Source.from_stream(io.BytesIO(data), name="adv"), strict=strict)


def test_a_solver_parameter_line_with_a_long_run_of_blanks(tmp_path):
    # (80 KB of these took 17 s before the param line was read without a lazy group)
    head = PRE.replace(b"solver.cpp:218", b"solver.cpp:48") + b"Initializing solver from parameters: \n"
    line = b"base_lr:" + b" " * (MB - 100) + b"0.01 x\n"
    body = PRE + b"Iteration 0, loss = 2.5\n" + PRE + b"Iteration 0, lr = 0.01\n"
    t0 = time.perf_counter()
    res = _read(head + line + b"momentum:" + b" " * 1000 + b"0.9" + b" " * 1000 + b"\n" + body)
    assert time.perf_counter() - t0 < LIMIT
    assert res.meta["hparams"]["momentum"] == 0.9
    assert res.meta["hparams"]["base_lr"] == "0.01 x"  # (as printed)


def test_malformed_debug_lines_without_their_bracket(tmp_path):
    # (193 KB of lines like these took 10 s: the chunk scanner ran past each line's end)
    bad = b"I0412 [Forward Layer conv1, top blob conv1 data 0.5\n" * 40000 + b"] \n"
    t0 = time.perf_counter()
    res = _read(bad + PRE + b"Iteration 0, loss = 2.5\n" + PRE + b"Iteration 0, lr = 0.01\n")
    assert time.perf_counter() - t0 < LIMIT
    assert res.meta["skipped"]["non_glog_lines"] == 40001
    bad = (PRE + b"    [Forward] Layer conv1 top blob conv1 data 0.5\n") * 20000
    t0 = time.perf_counter()
    res = _read(bad + PRE + b"Iteration 0, loss = 2.5\n")
    assert time.perf_counter() - t0 < LIMIT
    assert res.meta["skipped"]["malformed_lines"] == 20000


def test_a_log_of_1_mb_adversarial_lines_reads_in_linear_time(tmp_path):
    lines = []
    for _name, _apply, seeds in PATTERNS:
        for seed in seeds:
            lines.append(PRE + seed.replace(b"\n", b" ") + b" " * 200000 + b"x")
    data = b"\n".join(lines) + b"\n" + PRE + b"Iteration 0, loss = 2.5\n"
    assert len(data) > 5 * MB
    path = tmp_path / "adv.log"
    path.write_bytes(data)
    t0 = time.perf_counter()
    run = gradlog.load(path, format="caffe")
    assert time.perf_counter() - t0 < 4 * LIMIT
    assert run.series("train/loss_smoothed")[0] == 2.5
