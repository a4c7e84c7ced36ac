"""Benchmark: discovery and batch analysis of an archive of many runs.

Builds an archive in a temporary directory from the bundled samples (``--copies`` copies
each of a wide CSV, a Caffe log, a TensorBoard run directory and a Lightning folder, each
copy in its own folder, as an archive of old experiments looks), then times
``gradlog.discover`` and ``gradlog.batch.run_batch`` with ``--jobs`` worker processes.

    python bench/bench_batch.py --copies 300 --jobs 2

Prints runs found per format, seconds for each stage, runs per second, and the peak
resident memory of this process (the workers are separate processes).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import gradlog
from gradlog.batch import run_batch

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"


def build_archive(root: Path, copies: int) -> None:
    """Write ``copies`` copies of four sample runs (four formats) under ``root``."""
    for i in range(copies):
        d = root / f"csv_{i:05d}"
        d.mkdir()
        shutil.copy(SAMPLES / "pytorch_cnn" / "train_log.csv", d / "train_log.csv")
        d = root / f"caffe_{i:05d}"
        d.mkdir()
        shutil.copy(SAMPLES / "caffe_numpy_cnn.log", d / "train.log")
        shutil.copytree(SAMPLES / "tensorboard" / "mlp_digits_resumed", root / f"tb_{i:05d}" / "run")
        shutil.copytree(SAMPLES / "pytorch_cnn" / "lightning_logs", root / f"pl_{i:05d}" / "lightning_logs")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        build_archive(root, args.copies)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        print(f"archive: {args.copies} x 4 runs, {size / 1e6:.0f} MB, built in "
              f"{time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        refs = gradlog.discover(root)
        t_disc = time.perf_counter() - t0
        print(f"discover: {len(refs)} runs in {t_disc:.2f} s ({1e3 * t_disc / max(len(refs), 1):.2f} ms/run); "
              + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r.format for r in refs).items())))
        t0 = time.perf_counter()
        table = run_batch(refs, jobs=args.jobs)
        t_run = time.perf_counter() - t0
        ok = int((table["status"] == "ok").sum())
        print(f"run_batch -j {args.jobs}: {ok}/{len(table)} ok in {t_run:.1f} s "
              f"({len(table) / t_run:.1f} runs/s)")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the parent process: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
