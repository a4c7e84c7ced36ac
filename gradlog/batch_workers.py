"""Where the runs of ``gradlog batch`` are analysed on this machine: in this process, or in
a pool of worker processes started once per batch.

Workers are forked from this process after it has imported the analyzers and analysed
the smallest run of each format (what a format loads or builds on first use is then
inherited, not paid once per worker). They are sent paths in small chunks (never frames)
and send back rows (about 0.7 kB each); at most a few chunks per worker are in flight, so
the parent's memory does not grow with the archive.

Measured on 1,000 small runs, per run of ~50 ms CPU: sending a chunk's paths ~45 us,
its rows back ~25 us, the parent's bookkeeping ~0.5 ms; the pool starts once (~90 ms)
and the workers import nothing (they are forked after the imports and the warm-up).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gradlog.batch_rows import analyze_ref, error_row
from gradlog.discovery import RunRef

__all__ = [
    "MIN_BYTES_PER_WORKER",
    "MIN_RUNS_PER_WORKER",
    "default_jobs",
    "idle_cpus",
    "input_size",
    "on_processes",
]

#: Below this many runs to analyse per worker, worker processes cost more than they save.
MIN_RUNS_PER_WORKER = 16
#: ... or below this many bytes of input per extra worker.
MIN_BYTES_PER_WORKER = 32 * 1024 * 1024
#: A chunk closes early at this many bytes of input, so big runs travel alone.
CHUNK_BYTES = 4 * 1024 * 1024

Finished = Callable[[dict[str, Any]], None]
ReportOf = Callable[[RunRef], "Path | None"]
Job = tuple[RunRef, "str | None"]


def default_jobs(n_runs: int, cpus: int | None = None, total_bytes: int = 0) -> int:
    """Return the worker count for ``n_runs`` runs to analyse (``total_bytes`` of input).

    Worker processes pay for themselves only with enough work each: one worker per
    :data:`MIN_RUNS_PER_WORKER` runs or per :data:`MIN_BYTES_PER_WORKER` bytes of input,
    at most ``cpus`` (default: :func:`idle_cpus`, the CPUs other work leaves free); below
    that, the runs are analysed in this process (``1``). A second worker on a CPU that
    another program keeps busy only adds its overhead: on a loaded machine the default
    stays at one, so it is never slower than ``-j 1``.
    """
    cpus = cpus or idle_cpus()
    by_work = max(n_runs // MIN_RUNS_PER_WORKER, total_bytes // MIN_BYTES_PER_WORKER)
    return max(1, min(cpus, n_runs, by_work))


def idle_cpus() -> int:
    """Return the CPUs this process may run on (its affinity) less those the 1-minute
    load average says other work keeps busy, rounded, at least 1."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return max(1, min(usable, int(usable - load + 0.5)))


def input_size(path: Path) -> int:
    """Bytes of input of a run (a file's size; a directory's files, two levels deep)."""
    try:
        if not path.is_dir():
            return path.stat().st_size
        total = 0
        for dirpath, dirnames, filenames in os.walk(path):
            if dirpath.count(os.sep) - str(path).count(os.sep) >= 2:
                dirnames[:] = []
            for f in filenames:
                try:
                    total += os.stat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
        return total
    except OSError:
        return 0


def _report(report_of: ReportOf, ref: RunRef) -> str | None:
    p = report_of(ref)
    return None if p is None else str(p)


def analyze_chunk(chunk: list[Job]) -> list[dict[str, Any]]:
    """What runs in a worker: analyse each run of ``chunk``; return their rows."""
    return [analyze_ref(ref, rp) for ref, rp in chunk]


def chunks(
    refs: list[RunRef], size: int, report_of: ReportOf, sizes: dict[Path, int] | None = None
) -> Iterator[list[Job]]:
    """Chunks of at most ``size`` runs; a chunk closes early at :data:`CHUNK_BYTES` of
    input, so big runs travel alone and spread over the workers."""
    chunk: list[Job] = []
    nbytes = 0
    for r in refs:
        chunk.append((r, _report(report_of, r)))
        nbytes += (sizes or {}).get(r.path, 0)
        if len(chunk) >= size or nbytes >= CHUNK_BYTES:
            yield chunk
            chunk, nbytes = [], 0
    if chunk:
        yield chunk


def in_process(refs: list[RunRef], finished: Finished, report_of: ReportOf) -> None:
    """Analyse ``refs`` one after the other in this process."""
    for ref in refs:
        finished(analyze_ref(ref, _report(report_of, ref)))


def warm_up(
    refs: list[RunRef], finished: Finished, report_of: ReportOf, sizes: dict[Path, int] | None
) -> list[RunRef]:
    """Analyse the smallest run of each format here; return the runs left."""
    first: dict[str, RunRef] = {}
    for ref in refs:
        cur = first.get(ref.format)
        if cur is None or (sizes or {}).get(ref.path, 0) < (sizes or {}).get(cur.path, 0):
            first[ref.format] = ref
    chosen = {id(r) for r in first.values()}
    in_process(list(first.values()), finished, report_of)
    return [r for r in refs if id(r) not in chosen]


def _died(chunk: list[Job], exc: BaseException, finished: Finished) -> None:
    for ref, _ in chunk:
        finished(error_row(ref, f"worker process died: {exc}"))


def on_processes(
    refs: list[RunRef],
    jobs: int,
    finished: Finished,
    report_of: ReportOf,
    sizes: dict[Path, int] | None = None,
) -> None:
    """Analyse ``refs`` with ``jobs`` worker processes (in this process when ``jobs`` is 1);
    ``finished`` gets each row, in completion order."""
    if jobs <= 1:
        return in_process(refs, finished, report_of)
    import gradlog.analyzers  # noqa: F401 - imported once here, inherited by forked workers

    # Warm this process with the smallest run of each format before the workers fork:
    # what a format imports or builds on first use (protobuf for event files, YAML for
    # hparams, compiled patterns, SciPy's lazily loaded parts) is then inherited by every
    # worker instead of being paid once per worker. These runs are real work: their rows
    # count like the others.
    refs = warm_up(refs, finished, report_of, sizes)
    if not refs:
        return None
    jobs = min(jobs, len(refs))
    size = max(1, min(8, math.ceil(len(refs) / (jobs * 8))))
    _pool(chunks(refs, size, report_of, sizes), jobs, finished)
    return None


def _pool(todo: Iterator[list[Job]], jobs: int, finished: Finished) -> None:
    """Run the chunks of ``todo`` on ``jobs`` workers (started once), at most four chunks
    per worker in flight; a chunk whose worker died gets error rows."""
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pending: dict[Future[list[dict[str, Any]]], list[Job]] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for chunk in todo:
            pending[pool.submit(analyze_chunk, chunk)] = chunk
            if len(pending) >= jobs * 4:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                chunk = pending.pop(fut)
                try:
                    out = fut.result()
                except BrokenProcessPool as exc:
                    _died(chunk, exc, finished)
                    out = []
                for row in out:
                    finished(row)
                nxt = next(todo, None)
                if nxt is None:
                    continue
                try:
                    pending[pool.submit(analyze_chunk, nxt)] = nxt
                except BrokenProcessPool as exc:
                    _died(nxt, exc, finished)
                    for rest in todo:
                        _died(rest, exc, finished)
