"""Benchmark: discovery (``gradlog.discover`` / ``survey``) of a large archive.

Anchor (issue 16, item 5): discovery reads an archive of 10,000 runs -- small CSV logs,
Caffe logs and TensorBoard run directories in nested folders, 2% of them damaged --
once: it lists each folder and reads each file's head once, and asks the formats'
questions of that head without reading the tree again.

The figure is a ratio taken in one process: ``survey(root)`` against a plain walk of
the same tree that lists every folder and reads the first 64 KiB of every file
(``os.walk`` + ``read``: the I/O any discovery must do), interleaved ``--rounds`` times
(the TensorBoard listing memo is cleared before each survey, so each is a cold one).
A profile of one more survey gives the share of its time spent in the formats' sniffing
and in listing/stat calls.

Run by hand (not a test)::

    python bench/bench_discovery.py                   # 10,000 runs, 3 rounds
    python bench/bench_discovery.py --runs 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import build_archive  # noqa: E402

from gradlog.discovery import survey  # noqa: E402


def plain_walk(root: Path) -> int:
    """List every folder under ``root`` and read the first 64 KiB of every file; return
    the number of files read."""
    n = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for f in filenames:
            with open(os.path.join(dirpath, f), "rb") as fh:
                fh.read(64 * 1024)
            n += 1
    return n


def _clear_memos() -> None:
    from gradlog.parsers import _tb_runs

    _tb_runs.CACHE.clear()


def _cold_survey(root: Path):
    _clear_memos()
    return survey(root)


def _profile_shares(root: Path) -> list[tuple[str, float]]:
    """Share of one cold survey's time spent inside a few functions (cumulative time of
    their outermost calls; the shares may overlap)."""
    _clear_memos()
    pr = cProfile.Profile()
    pr.enable()
    survey(root)
    pr.disable()
    st = pstats.Stats(pr)
    total = max(st.total_tt, 1e-9)  # type: ignore[attr-defined]
    wanted = {
        "sniff_table (the CSV formats' header sniffing)": ("_csv.py", "sniff_table"),
        "_decode (decoding the head as text)": ("_csv.py", "_decode"),
        "Source.from_path (open, read the head)": ("source.py", "from_path"),
        "os.stat calls": ("~", "<built-in method posix.stat>"),
    }
    out = []
    for label, (fname, func) in wanted.items():
        cum = sum(
            v[3]
            for (file, _line, fn), v in st.stats.items()  # type: ignore[attr-defined]
            if file.endswith(fname) and fn == func
        )
        out.append((label, cum / total))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "gradlog-bench")
    args = ap.parse_args(argv)

    root = args.dir / f"archive_{args.runs}"
    if not root.is_dir():
        t = time.perf_counter()
        tmp = root.with_name(root.name + ".tmp")
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        kinds = build_archive(tmp, args.runs)
        tmp.rename(root)
        print(f"built {root}: {dict(kinds)} in {time.perf_counter() - t:.0f} s")
    walk, disc = [], []
    found = None
    for _ in range(args.rounds):  # interleaved
        t = time.perf_counter()
        nfiles = plain_walk(root)
        walk.append(time.perf_counter() - t)
        t = time.perf_counter()
        found = _cold_survey(root)
        disc.append(time.perf_counter() - t)
    assert found is not None
    w, d = np.array(walk), np.array(disc)
    print(f"archive: {root} ({args.runs} runs, {nfiles} files); load average {os.getloadavg()[0]:.1f}")
    print(f"  found {len(found.runs)} runs, {len(found.unread)} unread")
    print(f"  plain walk + 64 KiB heads: best {w.min():.2f} s  median {np.median(w):.2f} s")
    print(
        f"  survey (cold):             best {d.min():.2f} s  median {np.median(d):.2f} s  "
        f"({1e3 * np.median(d) / args.runs:.2f} ms per run)"
    )
    print(
        f"  survey / plain walk: median of rounds {np.median(d / w):.2f}x, best/best {d.min() / w.min():.2f}x"
    )
    for label, share in _profile_shares(root):
        print(f"  profile: {share:6.1%} in {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
