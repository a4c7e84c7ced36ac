"""Benchmark: a large wide CSV into the common frame, against pandas.read_csv alone.

Anchors (issue 3): a 1,000,000-row x 20-column wide CSV loads with ``gradlog.load``
in under 3x the time ``pandas.read_csv`` alone takes on the same file in the same
process, with peak memory under 3x the final frame.

Run by hand (not a test)::

    .venv/bin/python bench/bench_csv.py                  # 1,000,000 x 20, 5 rounds
    .venv/bin/python bench/bench_csv.py --rows 200000 --rounds 3

The file is generated once (a PyTorch-loop-like log: ``step``, ``epoch``, ``loss``,
``lr``, 15 per-layer ``grad_norm/<layer>`` columns with float32 values printed in full,
and a ``val_loss`` filled every 100th row) and kept in ``--dir`` for later runs.

Time: one child process alternates ``pandas.read_csv(path)`` and ``gradlog.load(path)``
``--rounds`` times and reports the best and the median of each, and the ratio of each
round's load to the read_csv just before it (the anchor is the median of those ratios:
on a shared machine both halves of a round see about the same load). Memory: two more child processes
each do one thing (read_csv, or load) and report their peak resident memory above the
resident memory they had before reading (``ru_maxrss`` minus the RSS after imports),
next to the size of the final frame (``frame.memory_usage(deep=True)``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_GRAD = 15


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Write the benchmark CSV (20 columns) to ``path``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    step = np.arange(rows, dtype=np.int64)
    cols: dict[str, np.ndarray] = {"step": step, "epoch": step // 1000}
    loss = (2.5 * np.exp(-step / (rows / 4)) + 0.1 * rng.random(rows)).astype(np.float32)
    cols["loss"] = loss.astype(np.float64)
    cols["lr"] = (0.1 * 0.1 ** (step // (rows // 3 + 1))).astype(np.float64)
    for i in range(N_GRAD):
        g = (0.5 + 0.1 * i + 0.05 * rng.standard_normal(rows)).astype(np.float32)
        cols[f"grad_norm/layer{i}"] = g.astype(np.float64)
    val = np.full(rows, np.nan)
    every = step % 100 == 99
    val[every] = cols["loss"][every] + 0.05
    cols["val_loss"] = val
    tmp = path.with_suffix(".tmp")
    pd.DataFrame(cols).to_csv(tmp, index=False, na_rep="", lineterminator="\n")
    tmp.replace(path)


_TIME_CHILD = r"""
import gc, json, sys, time
import numpy as np, pandas as pd
import gradlog
path, rounds = sys.argv[1], int(sys.argv[2])
# touch some memory first, so that both sides run on memory the VM has already mapped
w = np.ones(300_000_000); del w
rc, gl = [], []
for _ in range(rounds):
    t = time.perf_counter(); df = pd.read_csv(path); rc.append(time.perf_counter() - t)
    del df; gc.collect()
    t = time.perf_counter(); run = gradlog.load(path); gl.append(time.perf_counter() - t)
    n = len(run.frame); tags = len(run.tags)
    del run; gc.collect()
print(json.dumps({"read_csv": rc, "load": gl, "rows": n, "tags": tags}))
"""

_MEM_CHILD = r"""
import json, resource, sys
import numpy as np, pandas as pd
import gradlog
path, what = sys.argv[1], sys.argv[2]
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()
base = rss()
if what == "read_csv":
    obj = pd.read_csv(path); size = int(obj.memory_usage(deep=True).sum())
else:
    obj = gradlog.load(path); size = int(obj.frame.memory_usage(deep=True).sum())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"base": base, "peak": peak, "size": size}))
"""


def _child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "gradlog-bench")
    args = ap.parse_args(argv)

    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"wide_{args.rows}x20.csv"
    if not path.exists():
        t = time.perf_counter()
        make_csv(path, args.rows)
        size = path.stat().st_size / 1e6
        print(f"wrote {path} ({size:.0f} MB) in {time.perf_counter() - t:.1f} s")
    print(f"file: {path} ({path.stat().st_size / 1e6:.0f} MB, {args.rows} rows x 20 columns)")

    t = _child(_TIME_CHILD, str(path), str(args.rounds))
    rc, gl = np.array(t["read_csv"]), np.array(t["load"])
    print(f"frame: {t['rows']:,} rows, {t['tags']} tags")
    print(f"pandas.read_csv  best {rc.min():.3f} s  median {np.median(rc):.3f} s  "
          f"({', '.join(f'{x:.2f}' for x in rc)})")
    print(f"gradlog.load     best {gl.min():.3f} s  median {np.median(gl):.3f} s  "
          f"({', '.join(f'{x:.2f}' for x in gl)})")
    best_ratio = gl.min() / rc.min()
    med_ratio = np.median(gl) / np.median(rc)
    paired = float(np.median(gl / rc))  # each round's load against the read_csv just before it
    print(f"time ratio load/read_csv: median of rounds {paired:.2f}x, best/best "
          f"{best_ratio:.2f}x, median/median {med_ratio:.2f}x (target < 3x)")

    m_rc = _child(_MEM_CHILD, str(path), "read_csv")
    m_gl = _child(_MEM_CHILD, str(path), "load")
    mb = 1e6
    print(f"read_csv: peak +{(m_rc['peak'] - m_rc['base']) / mb:.0f} MB above "
          f"{m_rc['base'] / mb:.0f} MB; DataFrame {m_rc['size'] / mb:.0f} MB")
    grow = m_gl["peak"] - m_gl["base"]
    print(f"load:     peak +{grow / mb:.0f} MB above {m_gl['base'] / mb:.0f} MB; "
          f"frame {m_gl['size'] / mb:.0f} MB; peak/frame {grow / m_gl['size']:.2f}x (target < 3x)")
    ok = paired < 3 and grow / m_gl["size"] < 3
    print("anchors met" if ok else "anchors NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
