"""Benchmark: ``gradlog.analyze`` on 10^6 logged steps x 20 series, against ``pandas.read_csv``
of the same run written as a wide CSV (target: analyze <= 4x read_csv, in one process).

Run from the repository root::

    .venv/bin/python bench/bench_analyze.py [--steps 1000000] [--series 20] [--repeat 3]

The run is synthetic (a decaying loss with minibatch noise and a step-size bounce in
the first LR phase, a step LR schedule, a total and per-layer gradient norms, all logged
at every step). The same run is written as a wide CSV (``%.6g``, the way a PyTorch loop
writes it) to a temporary file; ``pandas.read_csv`` of it and ``gradlog.analyze`` of the
Run are each timed best-of-``--repeat`` in this one process, and their ratio printed (the
ratio is what counts: absolute times move with the machine's load).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd

import gradlog
from gradlog.frame import build_frame
from gradlog.run import Run


def make_run(steps: int, series: int, seed: int = 0) -> Run:
    """Return a Run with ``series`` tags of ``steps`` points each."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.int64)
    lr = np.where(t < steps // 2, 0.1, np.where(t < 3 * steps // 4, 0.01, 0.001))
    loss = (0.3 + 2.0 * np.exp(-t / (steps / 20))) * np.exp(rng.normal(0, 0.2, steps))
    loss *= 1.0 + 0.2 * (lr / 0.1) * np.where(t % 2 == 0, 1.0, -1.0)
    cols: dict[str, np.ndarray] = {"train/loss": loss, "train/lr": lr}
    n_layers = max(0, series - 3)
    sq = np.zeros(steps)
    for k in range(n_layers):
        g = (1 + k) * np.exp(0.7 * t / steps) * np.exp(rng.normal(0, 0.3, steps))
        cols[f"grad_norm/layer{k + 1}"] = g
        sq += g * g
    cols["grad_norm/total"] = np.sqrt(sq)
    names = sorted(cols)
    codes = np.repeat(np.arange(len(names), dtype=np.int32), steps)
    tags = pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object))
    frame, _ = build_frame(tags, np.tile(t, len(names)), np.concatenate([cols[n] for n in names]))
    return Run(
        frame, {"format": "synthetic", "name": "bench", "hparams": {"momentum": 0.9, "batch_size": 32}}
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    run = make_run(args.steps, args.series)
    print(f"built {run!r} in {time.perf_counter() - t0:.2f} s")
    fd, path = tempfile.mkstemp(suffix=".csv")
    os.close(fd)
    try:
        wide = run.wide()
        wide.index.name = "step"
        wide.to_csv(path, float_format="%.6g")
        del wide
        rc = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            pd.read_csv(path)
            rc.append(time.perf_counter() - t0)
    finally:
        os.unlink(path)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        report = gradlog.analyze(run)
        times.append(time.perf_counter() - t0)
    print(f"read_csv of the same run: best {min(rc):.2f} s")
    print(
        f"analyze: best {min(times):.2f} s, median {float(np.median(times)):.2f} s over {args.repeat} "
        f"({args.steps:,} steps x {args.series} series)"
    )
    print(f"analyze / read_csv = {min(times) / min(rc):.2f} (target <= 4)")
    print("findings:", ", ".join(f.id for f in report.findings) or "none")
    print("LR verdict:", report.lr_advice.line())
    print("trends:", len(report.trends))


if __name__ == "__main__":
    main()
