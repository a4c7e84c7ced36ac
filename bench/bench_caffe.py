"""Benchmark: gradlog's Caffe reader against a straightforward line-by-line reader.

    python bench/bench_caffe.py                        # 200 MB debug_info log in bench/data/
    python bench/bench_caffe.py --mb 50                # a smaller one
    python bench/bench_caffe.py --shape plain          # a plain GoogLeNet log (display 1)
    python bench/bench_caffe.py --shape caffe1 --mb 100
                                                       # Caffe 1.0 lenet shape: display 1,
                                                       # test every 500 iterations
    python bench/bench_caffe.py --shape corpus --mb 100
                                                       # the corpus's real Caffe logs,
                                                       # concatenated to ~100 MB
    python bench/bench_caffe.py --shape all --mb 100   # all four, one after the other
    python bench/bench_caffe.py --plain --against HEAD --repeat 3
                                                       # before/after, interleaved, same run

Generates (once, cached in ``bench/data/``, which git ignores) a Caffe solver log of
the requested size and shape:

- ``debug`` (default): mostly ``debug_info`` lines, as current Caffe prints them for a
  5-conv + 2-FC net (AlexNet-like: conv1-5 with ReLU/pooling, fc6, fc7), with the
  loss/lr lines of every display iteration and a test pass (with the test net's
  ``[Forward]`` lines) every 1000 iterations;
- ``plain`` (``--plain``): no debug_info (:func:`generate_plain`), GoogLeNet's three
  heads and two test nets, display 1: every line a loss, output, lr or test line;
- ``caffe1``: the shape of Caffe 1.0's lenet log (:func:`generate_caffe1`): per
  iteration ``Iteration N (x iter/s, ...), loss``, one ``Train net output`` and
  ``Iteration N, lr``; a test every 500 iterations; now and then the data layer's
  ``Restarting data prefetching`` line;
- ``corpus``: the real Caffe logs of ``../shared/corpus/caffe`` (read, never copied
  into the repository), concatenated until the size is reached.

Both readers build the same common frame (every row on its iteration, wall times
included) on the generated shapes; the script checks that they agree on a smaller log
first. Each reader then runs on the big log in a fresh subprocess, which reports its
time and its peak memory (``ru_maxrss``) above the baseline of the interpreter with
numpy, pandas and gradlog imported and a tiny log already read, next to
``frame.memory_usage(deep=True)``. The ratio of the two times (measured in one run of
this script) is what counts: absolute times move with the machine's load.

Targets: >= 6x the line-by-line reader on every shape (issue 16); peak extra memory
under 2x the frame.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

# -- the log generator ----------------------------------------------------------------------------
# (layer, tops, params, bottoms that get a gradient) in forward order
NET = [
    ("data", ["data", "label"], 0, []),
    ("conv1", ["conv1"], 2, []),
    ("relu1", ["conv1"], 0, ["conv1"]),
    ("norm1", ["norm1"], 0, ["conv1"]),
    ("pool1", ["pool1"], 0, ["norm1"]),
    ("conv2", ["conv2"], 2, ["pool1"]),
    ("relu2", ["conv2"], 0, ["conv2"]),
    ("norm2", ["norm2"], 0, ["conv2"]),
    ("pool2", ["pool2"], 0, ["norm2"]),
    ("conv3", ["conv3"], 2, ["pool2"]),
    ("relu3", ["conv3"], 0, ["conv3"]),
    ("conv4", ["conv4"], 2, ["conv3"]),
    ("relu4", ["conv4"], 0, ["conv4"]),
    ("conv5", ["conv5"], 2, ["conv4"]),
    ("relu5", ["conv5"], 0, ["conv5"]),
    ("pool5", ["pool5"], 0, ["conv5"]),
    ("fc6", ["fc6"], 2, ["pool5"]),
    ("relu6", ["fc6"], 0, ["fc6"]),
    ("drop6", ["fc6"], 0, ["fc6"]),
    ("fc7", ["fc7"], 2, ["fc6"]),
    ("loss", ["loss"], 0, ["fc7"]),
]
TEST_NET = NET[:-1] + [("accuracy", ["accuracy"], 0, []), ("loss", ["loss"], 0, [])]
DISPLAY = 20


class _Clock:
    def __init__(self) -> None:
        self.t = 14 * 3600 + 45 * 60 + 14.588873  # 07/03 14:45:14.588873
        self.day = 3

    def stamp(self, dt: float) -> str:
        self.t += dt
        if self.t >= 86400:
            self.t -= 86400
            self.day += 1
        h, rem = divmod(self.t, 3600)
        m, s = divmod(rem, 60)
        return f"07{self.day:02d} {int(h):02d}:{int(m):02d}:{s:09.6f}"


def generate(path: Path, mb: float, *, seed: int = 0) -> None:
    """Write a Caffe debug_info log of about ``mb`` megabytes."""
    rng = np.random.default_rng(seed)
    clock = _Clock()
    target = int(mb * 1e6)
    size = 0
    it = 0
    with open(path, "w") as fh:
        head = (
            "I{} 30876 caffe.cpp:211] Use GPU with device ID 0\n"
            "I{} 30876 solver.cpp:48] Initializing solver from parameters: \n"
            'base_lr: 0.01\ndisplay: 20\nmax_iter: 450000\nlr_policy: "step"\n'
            "gamma: 0.1\nmomentum: 0.9\nweight_decay: 0.0005\nstepsize: 100000\n"
            'debug_info: true\ntype: "SGD"\n'
            "I{} 30876 solver.cpp:280] Solving AlexNet\n"
            "I{} 30876 solver.cpp:281] Learning Rate Policy: step\n"
        )
        fh.write(head.format(*(clock.stamp(0.001) for _ in range(4))))
        while size < target:
            out = []
            if it % 1000 == 0:
                out.append(f"I{clock.stamp(0.01)} 30876 solver.cpp:330] Iteration {it}, Testing net (#0)")
                for _ in range(10):
                    for layer, tops, nparam, _b in TEST_NET:
                        for t in tops:
                            out.append(
                                f"I{clock.stamp(1e-4)} 30876 net.cpp:593]     [Forward] Layer "
                                f"{layer}, top blob {t} data: {rng.random():.6g}"
                            )
                        for p in range(nparam):
                            out.append(
                                f"I{clock.stamp(1e-5)} 30876 net.cpp:605]     [Forward] Layer "
                                f"{layer}, param blob {p} data: {rng.random() * 0.01:.6g}"
                            )
                out.append(
                    f"I{clock.stamp(0.001)} 30876 solver.cpp:397]     Test net output #0: "
                    f"accuracy = {rng.random():.6g}"
                )
                v = rng.random() * 3
                out.append(
                    f"I{clock.stamp(1e-5)} 30876 solver.cpp:397]     Test net output #1: "
                    f"loss = {v:.6g} (* 1 = {v:.6g} loss)"
                )
            vals = rng.random(200)
            j = 0
            for layer, tops, nparam, _b in NET:
                for t in tops:
                    out.append(
                        f"I{clock.stamp(2e-4)} 30876 net.cpp:593]     [Forward] Layer {layer}, "
                        f"top blob {t} data: {vals[j]:.6g}"
                    )
                    j += 1
                for p in range(nparam):
                    out.append(
                        f"I{clock.stamp(1e-5)} 30876 net.cpp:605]     [Forward] Layer {layer}, "
                        f"param blob {p} data: {vals[j] * 0.01:.6g}"
                    )
                    j += 1
            for layer, _t, nparam, bottoms in reversed(NET):
                for b in bottoms:
                    out.append(
                        f"I{clock.stamp(2e-4)} 30876 net.cpp:621]     [Backward] Layer {layer}, "
                        f"bottom blob {b} diff: {vals[j] * 1e-5:.6g}"
                    )
                    j += 1
                for p in range(nparam):
                    out.append(
                        f"I{clock.stamp(1e-5)} 30876 net.cpp:632]     [Backward] Layer {layer}, "
                        f"param blob {p} diff: {vals[j] * 1e-4:.6g}"
                    )
                    j += 1
            a = rng.random(4)
            out.append(
                f"E{clock.stamp(1e-4)} 30876 net.cpp:684]     [Backward] All net params (data, diff): "
                f"L1 norm = ({a[0] * 1e5:.6g}, {a[1] * 10:.6g}); L2 norm = ({a[2] * 100:.6g}, "
                f"{a[3]:.6g})"
            )
            loss = 7 * np.exp(-it / 1e5) + rng.random() * 0.5
            out.append(
                f"I{clock.stamp(0.05)} 30876 solver.cpp:218] Iteration {it} (3.2 iter/s, "
                f"6.25s/20 iters), loss = {loss:.6g}"
            )
            out.append(
                f"I{clock.stamp(1e-5)} 30876 solver.cpp:237]     Train net output #0: loss = "
                f"{loss:.6g} (* 1 = {loss:.6g} loss)"
            )
            out.append(
                f"I{clock.stamp(1e-5)} 30876 sgd_solver.cpp:105] Iteration {it}, lr = "
                f"{0.01 * 0.1 ** (it // 100000):.6g}"
            )
            text = "\n".join(out) + "\n"
            fh.write(text)
            size += len(text)
            it += DISPLAY
        fh.write(f"I{clock.stamp(0.01)} 30876 solver.cpp:322] Optimization Done.\n")


# GoogLeNet's three heads: (output name, loss weight); plain logs print one line each
PLAIN_TRAIN = [("loss1/loss1", 0.3), ("loss2/loss1", 0.3), ("loss3/loss3", 1.0)]
PLAIN_TEST = [
    ("loss1/loss1", 0.3),
    ("loss1/top-1", None),
    ("loss1/top-5", None),
    ("loss2/loss1", 0.3),
    ("loss2/top-1", None),
    ("loss2/top-5", None),
    ("loss3/loss3", 1.0),
    ("loss3/top-1", None),
    ("loss3/top-5", None),
]


def generate_plain(path: Path, mb: float, *, seed: int = 0) -> None:
    """Write a plain (no debug_info) Caffe solver log of about ``mb`` megabytes.

    As Caffe 1.0 prints a GoogLeNet run with ``display: 1``: per iteration the
    ``Iteration N (X iter/s, ...), loss`` line, three ``Train net output`` lines (with
    their loss weights) and the ``Iteration N, lr`` line; every 1000 iterations two
    test nets (nine outputs each) and a snapshot; now and then a data-layer message.
    """
    rng = np.random.default_rng(seed)
    clock = _Clock()
    target = int(mb * 1e6)
    size = 0
    it = 0
    with open(path, "w") as fh:
        head = (
            "I{} 30876 caffe.cpp:211] Use GPU with device ID 0\n"
            "I{} 30876 solver.cpp:48] Initializing solver from parameters: \n"
            "test_iter: 1000\ntest_iter: 500\ntest_interval: 1000\nbase_lr: 0.01\n"
            'display: 1\nmax_iter: 10000000\nlr_policy: "step"\ngamma: 0.96\n'
            'momentum: 0.9\nweight_decay: 0.0002\nstepsize: 320000\ntype: "SGD"\n'
            "I{} 30876 solver.cpp:280] Solving GoogleNet\n"
            "I{} 30876 solver.cpp:281] Learning Rate Policy: step\n"
        )
        fh.write(head.format(*(clock.stamp(0.001) for _ in range(4))))
        while size < target:
            out = []
            if it % 1000 == 0:
                if it:
                    out.append(
                        f"I{clock.stamp(0.01)} 30876 solver.cpp:456] Snapshotting to binary "
                        f"proto file snapshots/googlenet_iter_{it}.caffemodel"
                    )
                    out.append(
                        f"I{clock.stamp(0.2)} 30876 sgd_solver.cpp:273] Snapshotting solver "
                        f"state to binary proto file snapshots/googlenet_iter_{it}.solverstate"
                    )
                for net in (0, 1):
                    out.append(
                        f"I{clock.stamp(0.01)} 30876 solver.cpp:330] Iteration {it}, Testing net (#{net})"
                    )
                    for k, (name, w) in enumerate(PLAIN_TEST):
                        x = rng.random() * (7 if w else 1)
                        tail = f" (* {w:g} = {x * w:.6g} loss)" if w else ""
                        out.append(
                            f"I{clock.stamp(1e-5)} 30876 solver.cpp:397]     Test net output "
                            f"#{k}: {name} = {x:.6g}{tail}"
                        )
            if rng.random() < 0.02:
                out.append(
                    f"I{clock.stamp(0.01)} 30876 blocking_queue.cpp:50] Data layer prefetch queue empty"
                )
            xs = 7 * np.exp(-it / 1e5) + rng.random(3) * 0.5
            total = 0.3 * xs[0] + 0.3 * xs[1] + xs[2]
            out.append(
                f"I{clock.stamp(0.3)} 30876 solver.cpp:218] Iteration {it} (3.2 iter/s, "
                f"0.31s/1 iters), loss = {total:.6g}"
            )
            for k, ((name, w), x) in enumerate(zip(PLAIN_TRAIN, xs, strict=False)):
                out.append(
                    f"I{clock.stamp(1e-5)} 30876 solver.cpp:237]     Train net output #{k}: "
                    f"{name} = {x:.6g} (* {w:g} = {x * w:.6g} loss)"
                )
            out.append(
                f"I{clock.stamp(1e-5)} 30876 sgd_solver.cpp:105] Iteration {it}, lr = "
                f"{0.01 * 0.96 ** (it // 320000):.6g}"
            )
            text = "\n".join(out) + "\n"
            fh.write(text)
            size += len(text)
            it += 1
        fh.write(f"I{clock.stamp(0.01)} 30876 solver.cpp:322] Optimization Done.\n")


def generate_caffe1(path: Path, mb: float, *, seed: int = 0) -> None:
    """Write a plain Caffe 1.0 log of lenet's shape (display 1, test every 500
    iterations) of about ``mb`` megabytes."""
    rng = np.random.default_rng(seed)
    clock = _Clock()
    target = int(mb * 1e6)
    size = 0
    it = 0
    with open(path, "w") as fh:
        head = (
            "I{} 4259 caffe.cpp:211] Use CPU.\n"
            "I{} 4259 solver.cpp:44] Initializing solver from parameters: \n"
            "test_iter: 100\ntest_interval: 500\nbase_lr: 0.01\ndisplay: 1\n"
            'max_iter: 100000000\nlr_policy: "inv"\ngamma: 0.0001\npower: 0.75\n'
            "momentum: 0.9\nweight_decay: 0.0005\nsnapshot: 5000\nsolver_mode: CPU\n"
            "I{} 4259 solver.cpp:56] Solving LeNet\n"
            "I{} 4259 solver.cpp:57] Learning Rate Policy: inv\n"
        )
        fh.write(head.format(*(clock.stamp(0.001) for _ in range(4))))
        while size < target:
            out = []
            if it % 500 == 0:
                out.append(f"I{clock.stamp(0.01)}  4259 solver.cpp:330] Iteration {it}, Testing net (#0)")
                acc, tl = rng.random(), rng.random() * 0.3
                out.append(
                    f"I{clock.stamp(0.4)}  4259 solver.cpp:397]     Test net output #0: accuracy = {acc:.6g}"
                )
                out.append(
                    f"I{clock.stamp(1e-5)}  4259 solver.cpp:397]     Test net output #1: "
                    f"loss = {tl:.6g} (* 1 = {tl:.6g} loss)"
                )
            if it % 937 == 936:
                out.append(
                    f"I{clock.stamp(1e-3)}  4259 data_layer.cpp:73] Restarting data prefetching from start."
                )
            loss = 2.3 * np.exp(-it / 2e3) + rng.random() * 0.05
            rate = 4.5 + rng.random()
            out.append(
                f"I{clock.stamp(0.2)}  4259 solver.cpp:218] Iteration {it} ({rate:.6g} "
                f"iter/s, {1 / rate:.5g}s/1 iters), loss = {loss:.6g}"
            )
            out.append(
                f"I{clock.stamp(1e-5)}  4259 solver.cpp:237]     Train net output #0: "
                f"loss = {loss:.6g} (* 1 = {loss:.6g} loss)"
            )
            out.append(
                f"I{clock.stamp(1e-5)}  4259 sgd_solver.cpp:105] Iteration {it}, lr = "
                f"{0.01 * (1 + 1e-4 * it) ** -0.75:.6g}"
            )
            text = "\n".join(out) + "\n"
            fh.write(text)
            size += len(text)
            it += 1
        fh.write(f"I{clock.stamp(0.01)}  4259 solver.cpp:322] Optimization Done.\n")


CORPUS = HERE.parent.parent / "shared" / "corpus" / "caffe"


def generate_corpus(path: Path, mb: float, *, seed: int = 0) -> None:
    """Write the corpus's real Caffe logs, one after the other, repeated until about
    ``mb`` megabytes."""
    logs = sorted(CORPUS.glob("*.log"))
    if not logs:
        raise SystemExit(f"no Caffe logs in {CORPUS}")
    datas = [p.read_bytes() for p in logs]
    datas = [d if d.endswith(b"\n") else d + b"\n" for d in datas]
    target = int(mb * 1e6)
    size = 0
    with open(path, "wb") as fh:
        while size < target:
            for d in datas:
                fh.write(d)
                size += len(d)
                if size >= target:
                    break


GENERATORS = {
    "debug": generate,
    "plain": generate_plain,
    "caffe1": generate_caffe1,
    "corpus": generate_corpus,
}


# -- the line-by-line reader (the comparison) ----------------------------------------------------------
_PREFIX = re.compile(r"^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d\.\d+) +\S+ \S+:\d+\] +(.*)$")
_FWD_TOP = re.compile(r"^\[Forward\] Layer (.+), top blob (.+) data: (\S+)$")
_FWD_PARAM = re.compile(r"^\[Forward\] Layer (.+), param blob (.+) data: (\S+)$")
_BWD_BOTTOM = re.compile(r"^\[Backward\] Layer (.+), bottom blob (.+) diff: (\S+)$")
_BWD_PARAM = re.compile(r"^\[Backward\] Layer (.+), param blob (.+) diff: (\S+)$")
_ALL = re.compile(
    r"^\[Backward\] All net params \(data, diff\): L1 norm = \((\S+), (\S+)\); "
    r"L2 norm = \((\S+), (\S+)\)$"
)
_LOSS = re.compile(r"^Iteration (\d+) \((\S+) iters?/s, [^)]*\), loss = (\S+)$")
_LOSS_OLD = re.compile(r"^Iteration (\d+), loss = (\S+)$")
_TRAIN_OUT = re.compile(r"^Train net output #\d+: (\S+) = (\S+)")
_LR = re.compile(r"^Iteration (\d+), lr = (\S+)$")
_TESTING = re.compile(r"^Iteration (\d+), Testing net \(#(\d+)\)$")
_TEST_OUT = re.compile(r"^Test net output #\d+: (\S+) = (\S+)")


def line_by_line(path: Path):
    """Read the benchmark log one line at a time (one regex search per line type)."""
    import datetime as dt

    from gradlog.frame import build_frame

    rows: list[tuple[str, int, float, float]] = []
    block: list[tuple[str, float]] = []  # debug rows waiting for their Iteration line
    in_test = False
    test_step = test_net = 0
    train_step = 0
    first_rate = True
    epoch0 = dt.datetime(1970, 1, 1).toordinal()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = _PREFIX.match(line.rstrip("\n"))
            if not m:
                continue
            mo, d, hh, mi, ss, msg = m.groups()
            wall = (
                (dt.date(1970, int(mo), int(d)).toordinal() - epoch0) * 86400
                + int(hh) * 3600
                + int(mi) * 60
                + float(ss)
            )
            if x := _FWD_TOP.match(msg):
                if not in_test:
                    block.append((f"fwd_absmean/{x[1]}/{x[2]}", float(x[3])))
            elif x := _FWD_PARAM.match(msg):
                if not in_test:
                    block.append((f"param_absmean/{x[1]}/{x[2]}", float(x[3])))
            elif x := _BWD_BOTTOM.match(msg):
                block.append((f"bwd_absmean/{x[1]}/{x[2]}", float(x[3])))
            elif x := _BWD_PARAM.match(msg):
                block.append((f"grad_absmean/{x[1]}/{x[2]}", float(x[3])))
            elif x := _ALL.match(msg):
                block += [
                    ("param_l1/total", float(x[1])),
                    ("grad_l1/total", float(x[2])),
                    ("param_norm/total", float(x[3])),
                    ("grad_norm/total", float(x[4])),
                ]
            elif (x := _LOSS.match(msg)) or (x := _LOSS_OLD.match(msg)):
                in_test = False
                train_step = int(x[1])
                rows += [(tag, train_step, val, wall) for tag, val in block]
                block = []
                rows.append(("train/loss_smoothed", train_step, float(x[x.re.groups]), wall))
                if x.re is _LOSS:
                    if first_rate:
                        first_rate = False
                    else:
                        rows.append(("train/iter_per_s", train_step, float(x[2]), wall))
            elif x := _TRAIN_OUT.match(msg):
                rows.append((f"train/{x[1]}", train_step, float(x[2]), wall))
            elif x := _LR.match(msg):
                rows.append(("train/lr", int(x[1]), float(x[2]), wall))
            elif x := _TESTING.match(msg):
                in_test, test_step, test_net = True, int(x[1]), int(x[2])
            elif x := _TEST_OUT.match(msg):
                in_test = False
                rows.append((f"test{test_net}/{x[1]}", test_step, float(x[2]), wall))
    tags, steps, values, walls = zip(*rows, strict=False)
    frame, _ = build_frame(tags, steps, values, walls)
    return frame


# -- measuring -------------------------------------------------------------------------------------------
def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reader_at(rev: str):
    """Import the Caffe reader as it was at git revision ``rev`` (read with ``git show``,
    nothing in the work tree changes) from a temporary package; return its module. Both
    layouts are handled: ``parsers/caffe.py`` with ``parsers/_caffe_*.py`` beside it, and
    the package ``parsers/caffe/``."""
    import importlib
    import tempfile

    root = HERE.parent
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "parsers/"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    top = Path(tempfile.mkdtemp(prefix="bench_caffe_rev_")) / "caffe_at_rev"
    top.mkdir()
    (top / "__init__.py").write_text("")
    pkg_files = [n for n in names if re.fullmatch(r"parsers/caffe/\w+\.py", n)]
    if pkg_files:
        for name in pkg_files:
            text = subprocess.run(
                ["git", "show", f"{rev}:{name}"], cwd=root, check=True, capture_output=True, text=True
            ).stdout
            text = text.replace("gradlog.parsers.caffe", "caffe_at_rev")
            (top / Path(name).name).write_text(text)
        sys.path.insert(0, str(top.parent))
        return importlib.import_module("caffe_at_rev")
    for name in [n for n in names if re.fullmatch(r"parsers/_?caffe\w*\.py", n)]:
        text = subprocess.run(
            ["git", "show", f"{rev}:{name}"], cwd=root, check=True, capture_output=True, text=True
        ).stdout
        text = re.sub(r"from gradlog\.parsers import (_caffe\w*)", r"from . import \1", text)
        text = re.sub(r"from gradlog\.parsers\.(_caffe\w*) import", r"from .\1 import", text)
        (top / Path(name).name).write_text(text)
    sys.path.insert(0, str(top.parent))
    return importlib.import_module("caffe_at_rev.caffe")


def child(reader: str, path: Path, shape: str = "debug") -> dict:
    """Run one reader once, in this (fresh) process; return its figures.

    ``reader`` is ``gradlog`` (the work tree's reader), ``gradlog@REV`` (the reader at
    git revision REV) or ``line_by_line``.
    """
    import pandas  # noqa: F401

    import gradlog.frame  # noqa: F401
    import gradlog.parsers.caffe
    from gradlog.frame.source import Source

    if reader.startswith("gradlog"):
        mod = _reader_at(reader.split("@", 1)[1]) if "@" in reader else gradlog.parsers.caffe

        def load(p: Path):
            return mod.read(Source.from_path(p)).frame
    else:
        load = line_by_line
    tiny = DATA / f"tiny_caffe_{shape}.log"
    if not tiny.exists():
        (generate_plain if shape == "plain" else generate_caffe1 if shape == "caffe1" else generate)(
            tiny, 0.05
        )
    # warm up: lazy imports and first-use allocations belong to the baseline
    load(tiny)
    base = _maxrss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    frame = load(path)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _maxrss_mb()
    return {
        "reader": reader,
        "seconds": secs,
        "cpu_seconds": cpu,
        "mb": path.stat().st_size / 1e6,
        "rows": len(frame),
        "peak_extra_mb": peak - base,
        "frame_mb": float(frame.memory_usage(deep=True).sum()) / 2**20,
    }


def _run_child(reader: str, path: Path, shape: str) -> dict:
    cmd = [sys.executable, __file__, "--child", reader, str(path), "--shape", shape]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_same(mb: float = 3.0, shape: str = "debug") -> None:
    """Both readers give the same frame on a small generated log (values, steps, wall
    times); the corpus shape is checked by the test suite instead (its logs hold
    restarts the line-by-line reader does not handle)."""
    import gradlog

    if shape == "corpus":
        return
    path = DATA / f"check_caffe_{shape}_{mb:g}mb.log"
    if not path.exists():
        GENERATORS[shape](path, mb, seed=1)
    a = gradlog.load(path).frame
    b = line_by_line(path)
    cols = ["tag", "step", "value"]
    a2 = a[cols].astype({"tag": str}).reset_index(drop=True)
    b2 = b[cols].astype({"tag": str}).reset_index(drop=True)
    # wall times: the same seconds, up to float rounding of the two computations
    if not a2.equals(b2) or not np.allclose(a["wall_time"], b["wall_time"], rtol=0, atol=1e-6):
        raise SystemExit(f"the readers disagree on {path}:\n{a2.compare(b2).head()}")
    print(f"check: both readers give the same {len(a)} rows on a {mb:g} MB {shape} log")


def run_shape(shape: str, args: argparse.Namespace) -> dict[str, float]:
    """Time the readers on one shape; print the table; return reader -> seconds."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"caffe_{shape}_{args.mb:g}mb.log"
    if not path.exists():
        t = time.perf_counter()
        GENERATORS[shape](path, args.mb)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f}s")
    check_same(shape=shape)
    readers = ["gradlog"] + [f"gradlog@{rev}" for rev in args.against]
    if not args.skip_baseline:
        readers.append("line_by_line")
    print(
        f"[{shape}] load average before: {os.getloadavg()[0]:.2f} (the machine's other work "
        f"slows the wall clock)"
    )
    best: dict[str, dict] = {}
    for _ in range(max(1, args.repeat)):
        for reader in readers:
            r = _run_child(reader, path, shape)
            if reader not in best or r["seconds"] < best[reader]["seconds"]:
                best[reader] = r
    print(
        f"{'reader':18s} {'MB':>6s} {'s':>7s} {'MB/s':>7s} {'CPU MB/s':>8s} {'rows':>9s} "
        f"{'peak+MB':>8s} {'frame MB':>8s} {'peak/frame':>10s}"
    )
    for r in best.values():
        print(
            f"{r['reader']:18s} {r['mb']:6.0f} {r['seconds']:7.2f} {r['mb'] / r['seconds']:7.1f} "
            f"{r['mb'] / r['cpu_seconds']:8.1f} {r['rows']:9d} {r['peak_extra_mb']:8.1f} "
            f"{r['frame_mb']:8.1f} {r['peak_extra_mb'] / r['frame_mb']:10.2f}"
        )
    ref = best["gradlog"]
    for reader, r in best.items():
        if reader != "gradlog":
            print(
                f"[{shape}] gradlog (work tree) vs {reader}: {r['seconds'] / ref['seconds']:.2f}x "
                f"faster (CPU time: {r['cpu_seconds'] / ref['cpu_seconds']:.2f}x)"
            )
    return {k: v["seconds"] for k, v in best.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=200.0, help="size of the log")
    ap.add_argument(
        "--shape", choices=[*GENERATORS, "all"], default=None, help="the log's shape (default: debug)"
    )
    ap.add_argument("--plain", action="store_true", help="the same as --shape plain")
    ap.add_argument(
        "--against",
        metavar="REV",
        action="append",
        default=[],
        help="also time the reader as it is at this git revision (e.g. HEAD); repeatable",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time each reader this many times, interleaved (the best is shown)",
    )
    ap.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--skip-baseline", action="store_true", help="do not time the line-by-line reader")
    args = ap.parse_args(argv)
    shape = args.shape or ("plain" if args.plain else "debug")
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), shape)))
        return
    shapes = list(GENERATORS) if shape == "all" else [shape]
    ratios = {}
    for sh in shapes:
        secs = run_shape(sh, args)
        if "line_by_line" in secs:
            ratios[sh] = secs["line_by_line"] / secs["gradlog"]
    if len(ratios) > 1:
        print(
            "summary, gradlog vs the line-by-line reader: "
            + ", ".join(f"{sh} {x:.2f}x" for sh, x in ratios.items())
        )


if __name__ == "__main__":
    main()
