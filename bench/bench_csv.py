"""Benchmark: a large wide CSV into the common frame, against pandas.read_csv alone.

Anchors (issue 16, item 1): a 1,000,000-row x 21-column wide CSV (``step``, ``loss``,
``lr``, ``val_loss`` and 17 ``grad_norm/layerN`` columns) loads with ``gradlog.load``
in at most 2x the time ``pandas.read_csv`` alone takes on the same file in the same
process, with peak memory at most 2x the final frame -- on a file printed ``%.6g``
(the way a PyTorch loop writes it) and on one printed in full precision alike.

Run by hand (not a test)::

    python bench/bench_csv.py                   # 1,000,000 x 21, both encodings, 5 rounds
    python bench/bench_csv.py --rows 200000 --rounds 3
    python bench/bench_csv.py --only g6         # just the %.6g file

The files are generated once and kept in ``--dir`` for later runs: ``val_loss`` is
filled every 100th row (the rest empty), values are float64 printed ``%.6g`` or with
``repr`` precision (17 significant digits).

Time: one child process alternates ``pandas.read_csv(path)`` and ``gradlog.load(path)``
``--rounds`` times and reports the best and the median of each, and the ratio of each
round's load to the read_csv just before it (the anchor is the median of those ratios:
on a shared machine both halves of a round see about the same load). Memory: two more
child processes each do one thing (read_csv, or load) and report their peak resident
memory above the resident memory they had before reading (``ru_maxrss`` minus the RSS
after imports), next to the size of the final frame (``frame.memory_usage(deep=True)``).
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

N_GRAD = 17
ENCODINGS = {"g6": "%.6g", "full": None}  # None: pandas' default, repr precision
TARGET = 2.0


def make_csv(path: Path, rows: int, float_format: str | None, seed: int = 0) -> None:
    """Write the benchmark CSV (21 columns) to ``path``, floats in ``float_format``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    step = np.arange(rows, dtype=np.int64)
    cols: dict[str, np.ndarray] = {"step": step}
    cols["loss"] = 2.5 * np.exp(-step / (rows / 4)) + 0.1 * rng.random(rows)
    cols["lr"] = 0.1 * 0.1 ** (step // (rows // 3 + 1))
    val = np.full(rows, np.nan)
    every = step % 100 == 99
    val[every] = cols["loss"][every] + 0.05
    cols["val_loss"] = val
    for i in range(N_GRAD):
        cols[f"grad_norm/layer{i}"] = 0.5 + 0.1 * i + 0.05 * rng.standard_normal(rows)
    tmp = path.with_suffix(".tmp")
    pd.DataFrame(cols).to_csv(tmp, index=False, na_rep="", lineterminator="\n", float_format=float_format)
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
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_file(path: Path, rounds: int) -> tuple[float, float]:
    """Print the figures of one file; return (time ratio, peak/frame ratio)."""
    print(f"file: {path} ({path.stat().st_size / 1e6:.0f} MB)")
    t = _child(_TIME_CHILD, str(path), str(rounds))
    rc, gl = np.array(t["read_csv"]), np.array(t["load"])
    print(f"  frame: {t['rows']:,} rows, {t['tags']} tags")
    print(
        f"  pandas.read_csv  best {rc.min():.3f} s  median {np.median(rc):.3f} s  "
        f"({', '.join(f'{x:.2f}' for x in rc)})"
    )
    print(
        f"  gradlog.load     best {gl.min():.3f} s  median {np.median(gl):.3f} s  "
        f"({', '.join(f'{x:.2f}' for x in gl)})"
    )
    paired = float(np.median(gl / rc))  # each round's load against the read_csv just before it
    print(
        f"  time ratio load/read_csv: median of rounds {paired:.2f}x, best/best "
        f"{gl.min() / rc.min():.2f}x, median/median {np.median(gl) / np.median(rc):.2f}x "
        f"(target <= {TARGET:g}x)"
    )
    m_rc = _child(_MEM_CHILD, str(path), "read_csv")
    m_gl = _child(_MEM_CHILD, str(path), "load")
    mb = 1e6
    print(
        f"  read_csv: peak +{(m_rc['peak'] - m_rc['base']) / mb:.0f} MB above "
        f"{m_rc['base'] / mb:.0f} MB; DataFrame {m_rc['size'] / mb:.0f} MB"
    )
    grow = m_gl["peak"] - m_gl["base"]
    mem = grow / m_gl["size"]
    print(
        f"  load:     peak +{grow / mb:.0f} MB above {m_gl['base'] / mb:.0f} MB; "
        f"frame {m_gl['size'] / mb:.0f} MB; peak/frame {mem:.2f}x (target <= {TARGET:g}x)"
    )
    return paired, mem


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", choices=sorted(ENCODINGS), default=None)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "gradlog-bench")
    args = ap.parse_args(argv)

    args.dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, fmt in ENCODINGS.items():
        if args.only and name != args.only:
            continue
        path = args.dir / f"wide_{args.rows}x21_{name}.csv"
        if not path.exists():
            t = time.perf_counter()
            make_csv(path, args.rows, fmt)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        results[name] = bench_file(path, args.rounds)
    for name, (paired, mem) in results.items():
        print(f"{name:>4}: time {paired:.2f}x read_csv, peak memory {mem:.2f}x the frame")
    ok = all(p <= TARGET and m <= TARGET for p, m in results.values())
    print("anchors met" if ok else "anchors NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
