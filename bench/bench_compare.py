"""Benchmark: ``gradlog.compare`` of 50 runs x 10^4 steps against analysing them one by one.

Target: comparing costs no more than analysing the runs one by one plus 20%
(ratio <= 1.20). Run from the repository root::

    python bench/bench_compare.py [--runs 50] [--steps 10000] [--repeat 3]

The runs are synthetic CSV files written into a temporary folder (``lr<value>/metrics.csv``
with a loss, the LR and three gradient norms at every step), an LR sweep from 1e-4 to 1:
small LRs fall slowly, large ones bounce. Both sides start from the paths and end with
the JSON text, as ``gradlog analyze --format json`` and ``gradlog compare --format json``
do: the baseline loads, analyses and renders each run; the comparison does the same
through :func:`gradlog.compare` plus the sweep. The two are timed alternately, and the
best of ``--repeat`` rounds is kept for each, so load on a shared machine hits both.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import gradlog
from gradlog.compare import compare
from gradlog.render.jsonout import reports_json


def write_runs(root: Path, runs: int, steps: int, seed: int = 0) -> list[Path]:
    """Write ``runs`` CSV logs of ``steps`` rows each; return their paths."""
    rng = np.random.default_rng(seed)
    lrs = np.logspace(-4, 0, runs)
    t = np.arange(steps)
    paths = []
    for k, lr in enumerate(lrs):
        rate = min(lr, 0.05) * 0.01
        loss = (0.2 + 2.0 * np.exp(-rate * t)) * np.exp(rng.normal(0, 0.1, steps))
        if lr > 0.1:
            loss += 0.5 * lr * (1 + (-1) ** t)
        g = np.exp(rng.normal(0, 0.2, (3, steps))) * (1 + lr)
        d = root / f"run{k:02d}_lr{lr:.3g}"
        d.mkdir(parents=True)
        arr = np.column_stack([t, loss, np.full(steps, lr), g.T, np.sqrt((g**2).sum(0))])
        p = d / "metrics.csv"
        np.savetxt(
            p,
            arr,
            delimiter=",",
            fmt=["%d", "%.6g", "%.6g", "%.6g", "%.6g", "%.6g", "%.6g"],
            header="step,loss,lr,grad_norm/l1,grad_norm/l2,grad_norm/l3,grad_norm/total",
            comments="",
        )
        paths.append(p)
    return paths


def one_by_one(paths: list[Path]) -> float:
    t0 = time.perf_counter()
    reports = [gradlog.analyze(p) for p in paths]
    reports_json(reports)
    return time.perf_counter() - t0


def compared(paths: list[Path]) -> float:
    t0 = time.perf_counter()
    compare(paths).to_json()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_runs(Path(tmp), args.runs, args.steps)
        comp = compare(paths)
        print(f"{args.runs} runs x {args.steps:,} steps; {comp.sentence}")
        base, cmp_ = [], []
        for _ in range(args.repeat):
            base.append(one_by_one(paths))
            cmp_.append(compared(paths))
        b, c = min(base), min(cmp_)
        print(f"analyse one by one + JSON: best {b:.2f} s (all: {', '.join(f'{x:.2f}' for x in base)})")
        print(f"compare + JSON:            best {c:.2f} s (all: {', '.join(f'{x:.2f}' for x in cmp_)})")
        print(f"ratio compare / one by one: {c / b:.3f} (target <= 1.20)")


if __name__ == "__main__":
    main()
