"""Analyse many runs at once: one summary row per file or run, in parallel processes or on Dask.

>>> from gradlog.batch import run_batch
>>> table = run_batch("archive/", jobs=4)                      # a process pool on this machine
>>> table = run_batch("archive/", scheduler="tcp://host:8786")  # a Dask cluster
>>> table[table.status == "error"]                             # the files that could not be read
>>> table[table.assessed == False]                             # read, but too little to judge

Every file the walk considered has a row: ``ok`` (a run, analysed), ``error`` (a log
that could not be read, or a folder that could not be searched) or ``skipped`` (plainly
not a log), each with its ``reason``. A file that cannot be read or analysed never stops
a batch. Dask (``pip install 'gradlog[dask]'``) is imported only when a ``scheduler`` is
given. With a :class:`gradlog.cache.Cache`, runs whose inputs did not change are not
analysed again.

The parts: :mod:`gradlog.batch_rows` (what a run's row holds, the table),
:mod:`gradlog.batch_workers` (this process or a pool of workers),
:mod:`gradlog.batch_dask` (Dask) and :mod:`gradlog.batch_sweeps` (``--compare``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gradlog.batch_dask import DASK_MISSING, on_dask
from gradlog.batch_rows import (
    BATCH_COLUMNS,
    STATUSES,
    analyze_ref,
    blank_row,
    make_table,
    report_name,
    unread_row,
)
from gradlog.batch_sweeps import compare_sweeps, sweep_groups
from gradlog.batch_workers import default_jobs, input_size, on_processes
from gradlog.discovery import SIDE_FILES, RunRef, Survey, survey
from gradlog.errors import GradlogError

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from gradlog.cache import Cache

__all__ = [
    "BATCH_COLUMNS",
    "DASK_MISSING",
    "STATUSES",
    "analyze_ref",
    "compare_sweeps",
    "default_jobs",
    "report_name",
    "run_batch",
    "status_counts",
    "sweep_groups",
]

Progress = Callable[[dict[str, Any]], None]


def status_counts(table: pd.DataFrame) -> dict[str, int]:
    """Return ``{"ok": n, "error": n, "skipped": n, "not_assessed": n}`` of a summary table."""
    st = table["status"]
    out = {s: int((st == s).sum()) for s in STATUSES}
    out["not_assessed"] = int(((st == "ok") & table["assessed"].eq(False).fillna(False)).sum())
    return out


def run_batch(
    path_or_refs: str | os.PathLike[str] | Iterable[RunRef] | Survey,
    *,
    jobs: int | None = None,
    scheduler: str | Client | None = None,
    progress: Progress | None = None,
    connect_timeout: float = 10.0,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    cache: Cache | None = None,
    reports: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Analyse every run of an archive and return the summary table.

    Parameters
    ----------
    path_or_refs : path, Survey, or iterable of RunRef
        A file or directory (walked with :func:`gradlog.discovery.survey`: every file
        gets a row), a survey already made, or runs already discovered (their rows only).
    jobs : int, optional
        Worker processes (default: from the archive, see :func:`default_jobs`: small
        archives run in this process; ``1`` always does). Runs go to the workers by
        path, in small chunks, largest first; only their rows come back. With ``scheduler="local"``:
        the number of Dask workers. Ignored for a remote scheduler or a given Client.
    scheduler : str or distributed.Client, optional
        Run on Dask instead of a process pool: a scheduler address
        (``"tcp://host:8786"``), ``"local"`` for a ``LocalCluster`` on this machine
        (``jobs`` single-threaded worker processes), or a connected ``Client``
        (left open). Needs ``pip install 'gradlog[dask]'``.
    progress : callable, optional
        Called with each run's row as soon as it is done (in completion order), e.g.
        ``lambda row: bar.update(1)``; not called for error/skipped rows of discovery.
    connect_timeout : float
        Seconds to wait for a remote Dask scheduler (``"tcp://..."``) to answer before
        giving up with a GradlogError (default 10; Dask's own default is 30).
    include, exclude : glob patterns scoping the walk of a path (see ``survey``).
    cache : Cache, optional
        Reuse the rows of runs whose inputs, gradlog version and configuration did not
        change, and store the new ones.
    reports : directory, optional
        Write each analysed run's HTML report there, named by :func:`report_name`
        (relative to ``root``).
    root : path, optional
        The archive the reports are named relative to (default: the walked path).

    Returns
    -------
    pandas.DataFrame
        One row per run or unread file, columns :data:`BATCH_COLUMNS`, sorted by path;
        integer columns are ``Int64`` and ``assessed`` is ``boolean`` (``<NA>`` where
        they do not apply). ``table.attrs["loss_sparkline"]`` maps each ok row's path to
        its smoothed loss (for the summary page); ``table.attrs["cache_hits"]`` counts
        the runs the cache answered. An empty archive gives an empty table.

    Raises
    ------
    GradlogError
        If the path does not exist, or the Dask scheduler cannot be reached.
    ImportError
        If a ``scheduler`` is given and dask.distributed is not installed.
    ValueError
        If ``jobs`` is below 1.
    """
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    if not connect_timeout > 0:
        raise ValueError(f"connect_timeout must be positive, not {connect_timeout}")
    found, root = _survey(path_or_refs, root, include, exclude)
    report_dir = Path(reports) if reports is not None else None
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)

    def report_of(ref: RunRef) -> Path | None:
        return None if report_dir is None else report_dir / report_name(ref.path, root)

    rows: list[dict[str, Any]] = []
    keys: dict[Path, str] = {}
    todo = _from_cache(found.runs, cache, keys, report_of, rows, progress)
    hits = len(rows)

    def finished(row: dict[str, Any]) -> None:
        key = keys.get(Path(row["path"]))
        if cache is not None and key is not None and row["status"] == "ok":
            cache.put(key, {k: v for k, v in row.items() if k != "path"})
        _done(row, rows, progress)

    if todo and scheduler is not None:
        on_dask(todo, scheduler, jobs, finished, connect_timeout, report_of)
    elif todo:
        sizes = {r.path: input_size(Path(r.path)) for r in todo}
        n = jobs if jobs is not None else default_jobs(len(todo), total_bytes=sum(sizes.values()))
        # the largest first, so no big run is left alone at the end
        todo.sort(key=lambda r: -sizes[r.path])
        on_processes(todo, min(n, len(todo)), finished, report_of, sizes)
    rows.extend(unread_row(u) for u in found.unread)
    reports_of = None if report_dir is None else {str(r.path): str(report_of(r)) for r in found.runs}
    return _summary(rows, hits, reports_of)


def _summary(rows: list[dict[str, Any]], hits: int, reports: dict[str, str] | None) -> pd.DataFrame:
    """The summary table of ``rows``, with its ``attrs`` (sparklines, cache hits, reports)."""
    table = make_table(rows)
    table.attrs["loss_sparkline"] = {
        r["path"]: r.get("loss_sparkline") or [] for r in rows if r["status"] == "ok"
    }
    table.attrs["cache_hits"] = hits
    if reports is not None:
        table.attrs["reports"] = reports
    return table


def _survey(
    path_or_refs: str | os.PathLike[str] | Iterable[RunRef] | Survey,
    root: str | os.PathLike[str] | None,
    include: Sequence[str],
    exclude: Sequence[str],
) -> tuple[Survey, Path | None]:
    """What to analyse (a path walked, a survey, or runs) and the root reports are named from."""
    root_path = Path(root) if root is not None else None
    if isinstance(path_or_refs, (str, os.PathLike)):
        return survey(path_or_refs, include=include, exclude=exclude), root_path or Path(path_or_refs)
    if isinstance(path_or_refs, Survey):
        return path_or_refs, root_path
    return Survey(list(path_or_refs), []), root_path


def _from_cache(
    refs: list[RunRef],
    cache: Cache | None,
    keys: dict[Path, str],
    report_of: Callable[[RunRef], Path | None],
    rows: list[dict[str, Any]],
    progress: Progress | None,
) -> list[RunRef]:
    """Add the rows the cache holds to ``rows``; return the runs left to analyse."""
    todo: list[RunRef] = []
    for ref in refs:
        hit = _cached(cache, ref, keys, report_of(ref))
        if hit is not None:
            _done(hit, rows, progress)
        else:
            todo.append(ref)
    return todo


def _cached(
    cache: Cache | None, ref: RunRef, keys: dict[Path, str], report: Path | None
) -> dict[str, Any] | None:
    """The row the cache holds for ``ref`` (None on a miss; ``keys`` gets its key)."""
    if cache is None:
        return None
    from gradlog.cache import input_files
    from gradlog.parsers import get_parser

    path = Path(ref.path)
    try:
        members = getattr(get_parser(ref.format), "run_members", None)
        files = input_files(
            path, SIDE_FILES, members(path) if members is not None and path.is_dir() else None
        )
    except (GradlogError, OSError):
        return None
    key = cache.key(path.name, ref.format, path, files)
    if key is None:
        return None
    keys[path] = key
    value = cache.get(key)
    if value is None or (report is not None and not report.is_file()):
        return None
    row = blank_row(path, ref.format)
    row.update({k: v for k, v in value.items() if k in row or k == "loss_sparkline"})
    row["path"] = str(path)
    return row


def _done(row: dict[str, Any], rows: list[dict[str, Any]], progress: Progress | None) -> None:
    rows.append(row)
    if progress is not None:
        progress(row)
