"""Linear-time check: a long run of one character must cost time linear in its length.

    python bench/fuzz/linear.py                      # every family, 256 KB vs 1 MB runs
    python bench/fuzz/linear.py --family lightning --size 4000000
    python bench/fuzz/linear.py --yaml-only          # just the settings reader (seconds)

A regex with nested or ambiguous quantifiers, or a parser that rescans (libyaml on
nested ``[``), takes time that grows with the square of such a run. For the first seed of
each family (``seeds.py``) and each of its files, a run of each character in
``RUN_CHARS`` (the fuzzer's, plus YAML's structural ones) is inserted at the start, after
the first line, in the middle and at the end, at ``--size``/4 and at ``--size`` bytes,
and the file is loaded with ``gradlog.load`` (any outcome: loaded or a GradlogError).
The ratio of the two times is ~4 when linear and ~16 when quadratic; a case is flagged
when the ratio is over ``--max-ratio`` (default 8) and the long run took over 0.25 s
(below that the ratio is timer noise). Each flagged case is timed again (best of three
for the long run, of four for the short one) and reported only if still flagged. Exit status 1 when any case is flagged.

``--yaml-only`` times :func:`gradlog.parsers._hparams.read_yaml` directly on the
Lightning seed's ``hparams.yaml`` (the reader behind every ``*.yaml`` settings file).

The suite keeps only generous smoke tests (a 1 MB line finishes); this is the measure.
Not a test: run by hand (the machine's load adds noise: re-run a flagged case alone).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import worker  # noqa: E402
from mutate import RUN_CHARS  # noqa: E402
from seeds import FAMILIES, Case, all_seeds  # noqa: E402

#: The fuzzer's run characters plus YAML's structure (flow nesting, block items, aliases).
CHARS: list[bytes] = [*RUN_CHARS, b"]", b"}", b"- ", b"*", b"&", b"!", b"#", b"\n", b"'", b"?"]


def _positions(data: bytes) -> dict[str, int]:
    nl = data.find(b"\n")
    return {"start": 0, "line 2": nl + 1 if nl >= 0 else 0, "middle": len(data) // 2, "end": len(data)}


def _with_run(data: bytes, pos: int, char: bytes, size: int) -> bytes:
    return data[:pos] + char * max(1, size // len(char)) + data[pos:]


def _timed(fn: Callable[[], object]) -> float:
    from gradlog.errors import GradlogError

    t0 = time.perf_counter()
    try:
        fn()
    except GradlogError:
        pass
    return time.perf_counter() - t0


def _measure(make: Callable[[int], Callable[[], object]], size: int) -> tuple[float, float]:
    """Return (time at size/4 (best of two), time at size)."""
    small = min(_timed(make(size // 4)) for _ in range(2))
    return small, _timed(make(size))


def check(
    cases: list[tuple[str, Callable[[int], Callable[[], object]]]],
    size: int,
    max_ratio: float,
    min_seconds: float = 0.25,
) -> list[tuple[str, float, float]]:
    """Time every case at ``size``/4 and ``size``; return the flagged ones as
    ``(name, seconds at size, ratio)``, worst first."""
    flagged = []
    worst: tuple[float, str] = (0.0, "")
    for name, make in cases:
        small, big = _measure(make, size)
        ratio = big / max(small, 1e-4)
        worst = max(worst, (big, name))
        if ratio > max_ratio and big > min_seconds:
            # again, best of three: a busy machine stalls single runs for tenths of a second
            small2, big2 = _measure(make, size)
            small, big = min(small, small2), min(big, big2, _timed(make(size)))
            ratio = big / max(small, 1e-4)
            if ratio > max_ratio and big > min_seconds:
                flagged.append((name, big, ratio))
                print(
                    f"  FLAGGED {name}: {big:.2f} s at {size:,} bytes, x{ratio:.1f} for 4x the run",
                    flush=True,
                )
    print(f"  {len(cases)} cases; slowest {worst[1]} ({worst[0]:.3f} s)", flush=True)
    return sorted(flagged, key=lambda f: -f[1])


def load_cases(families: list[str], scratch: Path) -> list[tuple[str, Callable[[int], Callable[[], object]]]]:
    """One case per (family, file of its first seed, character, position)."""
    import gradlog

    seeds = all_seeds()
    out: list[tuple[str, Callable[[int], Callable[[], object]]]] = []
    for fam in families:
        seed = seeds[fam][0]
        for rel in sorted(seed.files):
            data = seed.files[rel]
            for where, pos in _positions(data).items():
                for char in CHARS:

                    def make(n: int, seed: Case = seed, rel: str = rel, pos: int = pos, char: bytes = char):
                        case = seed.copy()
                        case.files[rel] = _with_run(seed.files[rel], pos, char, n)
                        path = worker.materialize(case, scratch / "input")
                        return lambda: gradlog.load(path)

                    out.append((f"{fam}:{rel} {char[:4]!r} x n at {where}", make))
    return out


def yaml_cases() -> list[tuple[str, Callable[[int], Callable[[], object]]]]:
    """One case per (character, position) in the Lightning seed's hparams.yaml."""
    from gradlog.parsers._hparams import read_yaml

    text = all_seeds()["lightning"][0].files["version_0/hparams.yaml"]
    out: list[tuple[str, Callable[[int], Callable[[], object]]]] = []
    for where, pos in _positions(text).items():
        for char in CHARS:

            def make(n: int, pos: int = pos, char: bytes = char):
                doc = _with_run(text, pos, char, n).decode("utf-8", "replace")
                return lambda: read_yaml(doc)

            out.append((f"read_yaml {char[:4]!r} x n at {where}", make))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", action="append", choices=list(FAMILIES))
    ap.add_argument("--size", type=int, default=1 << 20, help="the long run, in bytes (the short one is 1/4)")
    ap.add_argument("--max-ratio", type=float, default=8.0)
    ap.add_argument("--yaml-only", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    flagged = []
    print("read_yaml (settings files):", flush=True)
    flagged += check(yaml_cases(), args.size, args.max_ratio)
    if not args.yaml_only:
        scratch = Path(tempfile.mkdtemp(prefix="gradlog-linear-"))
        try:
            for fam in args.family or list(FAMILIES):
                print(f"gradlog.load, family {fam}:", flush=True)
                flagged += check(load_cases([fam], scratch), args.size, args.max_ratio)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{len(flagged)} case(s) not linear" + (":" if flagged else ""))
    for name, secs, ratio in flagged:
        print(f"  {name}: {secs:.2f} s, x{ratio:.1f}")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
