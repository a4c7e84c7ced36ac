"""Benchmark: reading a large TensorBoard event file into a frame, gradlog vs tbparse vs TensorBoard.

Writes an event file of N scalar events (4 interleaved tags, like a training loop that
logs loss, lr, grad norm and a metric every step; ``simple_value`` as PyTorch and
tensorboardX write them), then reads it in a fresh process per reader and reports
seconds, events/s, MB/s, the peak memory the read added (RSS high-water mark minus RSS
after imports) and, for gradlog, the size of the final frame.

Readers:

* ``gradlog``: ``gradlog.load(path, format="tensorboard")`` (run with this interpreter);
* ``tbparse``: ``tbparse.SummaryReader(path).scalars`` (a DataFrame);
* ``EventAccumulator``: TensorBoard's ``EventAccumulator(path, size_guidance={"scalars": 0})``
  + ``Reload()`` + ``Scalars(tag)`` for every tag (lists of events, no DataFrame).

tbparse and tensorboard are not gradlog dependencies: install them in a separate
virtualenv and pass its interpreter with ``--other-python``::

    python3 -m venv /tmp/tb-bench && /tmp/tb-bench/bin/pip install tbparse tensorboard
    python bench/bench_tensorboard.py --events 1000000 --other-python /tmp/tb-bench/bin/python

Without ``--other-python`` only gradlog is measured. ``--events`` takes several sizes
(``--events 1000000 10000000``); ``--skip-others-above N`` leaves the slow readers out
for files larger than N events. This is a benchmark, not a test: run it by hand.

``--discover N`` measures ``gradlog.discover`` on a log root of N TensorBoard runs (one
in ten a Keras ``train/``+``validation/`` run, one in twenty-five with an
``add_hparams`` folder), in one process: a cold discovery (the listing memo of
``gradlog.parsers._tb_runs`` cleared) and a warm one (the memo kept from the one
before), counting directory listings (``os.scandir``/``os.listdir`` calls: within one
discovery every folder is listed once, however many formats ask) and event-file head
reads. With ``--against REF`` it compares discovery of that root with another version
of gradlog instead (see ``bench/bench_discovery.py --against``)::

    python bench/bench_tensorboard.py --discover 10000 --against HEAD
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TAGS = ("train/loss", "train/lr", "grad_norm/total", "val/accuracy")

_MEASURE = r"""
import json, resource, sys, time
which, path = sys.argv[1], sys.argv[2]
def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 1e6
if which == "gradlog":
    import gradlog
    from gradlog.parsers import tensorboard  # noqa: F401  (import cost not timed)
elif which == "tbparse":
    from tbparse import SummaryReader
else:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
base = rss_mb()
t0 = time.perf_counter()
extra = {}
if which == "gradlog":
    run = gradlog.load(path, format="tensorboard")
    rows = len(run.frame)
    extra["frame_mb"] = float(run.frame.memory_usage(deep=True).sum()) / 1e6
elif which == "tbparse":
    df = SummaryReader(path).scalars
    rows = len(df)
else:
    ea = EventAccumulator(path, size_guidance={"scalars": 0})
    ea.Reload()
    rows = sum(len(ea.Scalars(t)) for t in ea.Tags()["scalars"])
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB -> MB (Linux)
print(json.dumps({"reader": which, "seconds": seconds, "rows": rows,
                  "peak_mb": peak - base, **extra}))
"""


def _masked_crc(data: bytes) -> int:
    import google_crc32c

    c = google_crc32c.value(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _record(payload: bytes) -> bytes:
    head = struct.pack("<Q", len(payload))
    return head + struct.pack("<I", _masked_crc(head)) + payload + struct.pack("<I", _masked_crc(payload))


def write_event_file(path: Path, n_events: int, tags: tuple[str, ...] = TAGS) -> None:
    """Write ``n_events`` simple_value scalar events (+ the file_version event), the
    ``tags`` in turn."""
    from gradlog.parsers.tensorboard import (
        _MESSAGES,  # tensorboardX's Event/Summary classes
    )

    event, summary = _MESSAGES["Event"], _MESSAGES["Summary"]
    with open(path, "wb") as fh:
        fh.write(_record(event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()))
        buf = []
        for i in range(n_events):
            step, k = divmod(i, len(tags))
            value = 2.0 / (1.0 + 0.001 * step) + 0.01 * k
            ev = event(
                wall_time=1.7e9 + 0.05 * i,
                step=step,
                summary=summary(value=[summary.Value(tag=tags[k], simple_value=value)]),
            )
            buf.append(_record(ev.SerializeToString()))
            if len(buf) >= 50_000:
                fh.write(b"".join(buf))
                buf.clear()
        fh.write(b"".join(buf))


def measure(python: str, which: str, path: Path) -> dict:
    """Run one reader in a fresh process and return its measurements."""
    out = subprocess.run(
        [python, "-c", _MEASURE, which, str(path)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        return {"reader": which, "error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_log_root(root: Path, n_runs: int) -> None:
    """Write a log root of ``n_runs`` small runs, 500 to an experiment folder."""
    for i in range(n_runs):
        run = root / f"exp{i // 500:03d}" / f"run{i:05d}"
        if i % 10 == 0:  # Keras TF2: train/ and validation/
            for phase in ("train", "validation"):
                (run / phase).mkdir(parents=True, exist_ok=True)
                write_event_file(run / phase / f"events.out.tfevents.{1700000000 + i}.k.v2", 8)
            continue
        run.mkdir(parents=True, exist_ok=True)
        write_event_file(run / f"events.out.tfevents.{1700000000 + i}.host.{i}", 8)
        if i % 25 == 2:  # add_scalars("Loss", {"train": .., "val": ..}): Loss_train/, Loss_val/
            for key in ("train", "val"):
                sub = run / f"Loss_{key}"
                sub.mkdir(exist_ok=True)
                write_event_file(sub / f"events.out.tfevents.{1700000300 + i}.host.{key}", 1, tags=("Loss",))
        if i % 25 == 1:  # add_hparams: a time.time() folder with its own event file
            hp = run / "1700000123.456"
            hp.mkdir(exist_ok=True)
            write_event_file(hp / f"events.out.tfevents.{1700000200 + i}.host.hp", 1)


def bench_discover(n_runs: int, workdir: str | None, against: str | None = None, rounds: int = 3) -> None:
    """Time ``gradlog.discover`` on a root of ``n_runs`` runs, cold and warm, counting
    listings and head reads (or compare with the gradlog of ``against``)."""
    import os

    import gradlog
    from gradlog.parsers import _tb_runs

    with tempfile.TemporaryDirectory(prefix="gradlog-bench-discover-") as tmp:
        root = Path(workdir or tmp) / f"root_{n_runs}"
        if not root.exists():
            t0 = time.perf_counter()
            write_log_root(root, n_runs)
            print(f"wrote {n_runs:,} runs in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        dirs = sum(1 for _ in root.rglob("*") if _.is_dir()) + 1
        if against:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from bench_discovery import compare_against

            compare_against(against, root, rounds)
            return
        counts = {"listings": 0, "heads": 0}
        scandir, listdir, heads = os.scandir, os.listdir, _tb_runs._read_head_summaries

        def counted(real):  # type: ignore[no-untyped-def]
            def call(*args):  # type: ignore[no-untyped-def]
                counts["listings"] += 1
                return real(*args)

            return call

        def counted_heads(p):  # type: ignore[no-untyped-def]
            counts["heads"] += 1
            return heads(p)

        print(f"\ndiscover: a log root of {n_runs:,} TensorBoard runs ({dirs:,} directories)")
        print(f"{'memo':<6}{'seconds':>9}{'runs':>8}{'listings':>10}{'head reads':>12}")
        os.scandir, os.listdir = counted(scandir), counted(listdir)
        _tb_runs._read_head_summaries = counted_heads
        try:
            for cold in (True, False, True, False):
                if cold:
                    _tb_runs.CACHE.clear()
                counts.update(listings=0, heads=0)
                t0 = time.perf_counter()
                refs = gradlog.discover(root)
                dt = time.perf_counter() - t0
                print(
                    f"{'cold' if cold else 'warm':<6}{dt:>9.2f}{len(refs):>8,}{counts['listings']:>10,}"
                    f"{counts['heads']:>12,}"
                )
        finally:
            os.scandir, os.listdir = scandir, listdir
            _tb_runs._read_head_summaries = heads


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    ap.add_argument(
        "--other-python",
        default=None,
        help="interpreter of a virtualenv with tbparse and tensorboard installed",
    )
    ap.add_argument(
        "--skip-others-above",
        type=int,
        default=2_000_000,
        help="measure tbparse/EventAccumulator only up to this many events",
    )
    ap.add_argument("--workdir", default=None, help="where to write the event files (default: a temp dir)")
    ap.add_argument(
        "--discover",
        type=int,
        default=None,
        metavar="N",
        help="measure discovery on a log root of N runs instead",
    )
    ap.add_argument(
        "--against", default=None, metavar="REF", help="with --discover: compare with a git ref or a checkout"
    )
    ap.add_argument("--rounds", type=int, default=3, help="with --against: interleaved rounds")
    args = ap.parse_args(argv)
    if args.discover:
        bench_discover(args.discover, args.workdir, args.against, args.rounds)
        return

    with tempfile.TemporaryDirectory(prefix="gradlog-bench-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in args.events:
            run_dir = work / f"run_{n}"
            run_dir.mkdir(exist_ok=True)
            path = run_dir / f"events.out.tfevents.1700000000.bench.{n}"
            if not path.exists():
                t0 = time.perf_counter()
                write_event_file(path, n)
                print(f"wrote {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            size_mb = path.stat().st_size / 1e6
            print(f"\n{n:,} scalar events, {size_mb:.1f} MB")
            print(
                f"{'reader':<18}{'seconds':>9}{'events/s':>13}{'MB/s':>9}{'peak MB':>10}"
                f"{'frame MB':>10}{'peak/frame':>11}{'rows':>11}"
            )
            results = [measure(sys.executable, "gradlog", path)]
            if args.other_python and n <= args.skip_others_above:
                results.append(measure(args.other_python, "tbparse", path))
                results.append(measure(args.other_python, "EventAccumulator", path))
            ours = results[0].get("seconds")
            for r in results:
                if "error" in r:
                    print(f"{r['reader']:<18} error: {r['error']}")
                    continue
                s = r["seconds"]
                frame = r.get("frame_mb")
                ratio = f"{r['peak_mb'] / frame:.2f}" if frame else "-"
                print(
                    f"{r['reader']:<18}{s:>9.2f}{n / s:>13,.0f}{size_mb / s:>9.1f}{r['peak_mb']:>10.1f}"
                    f"{frame if frame else float('nan'):>10.1f}{ratio:>11}{r['rows']:>11,}"
                )
            for r in results[1:]:
                if "seconds" in r and ours:
                    print(f"gradlog is {r['seconds'] / ours:.1f}x faster than {r['reader']}")


if __name__ == "__main__":
    main()
