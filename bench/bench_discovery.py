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

``--against REF`` compares this tree's discovery with another version's (a git ref,
checked out in a temporary ``git worktree`` removed afterwards, or the path of a
checkout): each round runs one survey of each version in a fresh process, interleaved,
timing the survey only (not the imports); the first round also counts the directory
listings (``os.scandir``/``os.listdir`` calls) and checks that both versions find the
same runs and give the same reasons for the rest.

Run by hand (not a test)::

    python bench/bench_discovery.py                   # 10,000 runs, 3 rounds
    python bench/bench_discovery.py --runs 2000 --rounds 5
    python bench/bench_discovery.py --against HEAD    # before/after, one run
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
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


#: Run in a fresh process: import gradlog from the checkout ``argv[1]`` (this tree when
#: empty), survey ``argv[2]`` once, print seconds, results and (``argv[3]`` == "1") the
#: directory listings as JSON.
_CHILD = r"""
import collections, hashlib, importlib.machinery, importlib.util, json, os, sys, time
tree, root, count = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if tree:
    roots = {"gradlog": os.path.join(tree, "gradlog"), "gradlog.parsers": os.path.join(tree, "parsers")}

    class Finder:
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name in roots:
                init = os.path.join(roots[name], "__init__.py")
                return importlib.util.spec_from_file_location(
                    name, init, submodule_search_locations=[roots[name]])
            if name.startswith("gradlog."):
                return importlib.machinery.PathFinder.find_spec(name, path)
            return None

    sys.meta_path.insert(0, Finder)
import gradlog.parsers
from gradlog.discovery import survey
gradlog.parsers.all_parsers()  # the formats imported before the clock starts
assert gradlog.__file__.startswith(tree or os.path.dirname(os.path.dirname(gradlog.__file__)))
listed = collections.Counter()
if count:
    scandir, listdir = os.scandir, os.listdir
    def counted(real):
        def call(p=".", *a):
            listed[os.fspath(p)] += 1
            return real(p, *a)
        return call
    os.scandir, os.listdir = counted(scandir), counted(listdir)
t, c = time.perf_counter(), time.process_time()
found = survey(root)
seconds, cpu = time.perf_counter() - t, time.process_time() - c
text = json.dumps([[str(r.path), r.format] for r in found.runs]
                  + [[str(u.path), u.status, u.reason, u.format] for u in found.unread])
print(json.dumps({"seconds": seconds, "cpu": cpu, "runs": len(found.runs), "unread": len(found.unread),
                  "digest": hashlib.sha256(text.encode()).hexdigest()[:16],
                  "listings": sum(listed.values()), "listed_dirs": len(listed),
                  "most": max(listed.values(), default=0)}))
"""


@contextmanager
def _checkout(ref: str):
    """Yield the path of a checkout of ``ref``: ``ref`` itself when it is a folder, else
    a temporary ``git worktree`` of it (removed afterwards)."""
    if Path(ref, "gradlog").is_dir():
        yield Path(ref).resolve()
        return
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="gradlog-against-") as tmp:
        wt = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(wt), ref], check=True
        )
        try:
            yield wt
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(wt)], check=False)


def _child_survey(tree: Path | None, root: Path, count: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tree or ""), str(root), "1" if count else "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"survey failed ({tree or 'this tree'}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare_against(ref: str, root: Path, rounds: int) -> None:
    """Survey ``root`` with this tree and with ``ref``, interleaved, and print the ratio."""
    ndirs = 1 + sum(len(d) for _, d, _ in os.walk(root))
    with _checkout(ref) as other:
        wall: dict[str, list[float]] = {"before": [], "after": []}
        cpu: dict[str, list[float]] = {"before": [], "after": []}
        first: dict[str, dict] = {}
        for i in range(rounds + 1):  # round 0 counts listings (slower): not timed
            for label, tree in (("before", other), ("after", None)):
                got = _child_survey(tree, root, count=i == 0)
                if i == 0:
                    first[label] = got
                else:
                    wall[label].append(got["seconds"])
                    cpu[label].append(got["cpu"])
    print(f"against {ref} ({other}): {root} ({ndirs} directories)")
    for label in ("before", "after"):
        g, t, c = first[label], np.array(wall[label]), np.array(cpu[label])
        print(
            f"  {label:<6} {g['runs']} runs, {g['unread']} unread (digest {g['digest']}); "
            f"{g['listings']} listings of {g['listed_dirs']} directories (at most {g['most']} of one)"
        )
        print(
            f"         survey wall best {t.min():.2f} s, median {np.median(t):.2f} s; "
            f"CPU best {c.min():.2f} s, median {np.median(c):.2f} s"
        )
    same = first["before"]["digest"] == first["after"]["digest"]
    print(f"  same runs and reasons: {'yes' if same else 'NO'}")
    for what, got in (("wall", wall), ("CPU", cpu)):
        b, a = np.array(got["before"]), np.array(got["after"])
        print(
            f"  after is {np.median(b / a):.2f}x as fast in {what} time (median of {rounds} "
            f"interleaved rounds; best/best {b.min() / a.min():.2f}x)"
        )
    print(f"  load average {os.getloadavg()[0]:.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "gradlog-bench")
    ap.add_argument("--against", default=None, metavar="REF", help="compare with a git ref or a checkout")
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
    if args.against:
        compare_against(args.against, root, args.rounds)
        return 0
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
