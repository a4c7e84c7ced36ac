"""Analyse many runs at once: one summary row per run, in parallel processes or on Dask.

>>> from gradlog.batch import run_batch
>>> table = run_batch("archive/", jobs=4)                      # a process pool on this machine
>>> table = run_batch("archive/", scheduler="tcp://host:8786")  # a Dask cluster
>>> table[table.status == "error"]                             # the files that could not be read

A file that cannot be read or analysed never stops a batch: its row says
``status == "error"`` and why. Dask (``pip install 'gradlog[dask]'``) is imported only
when a ``scheduler`` is given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

import gradlog
from gradlog.errors import GradlogError
from gradlog.loading import RunRef

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

__all__ = ["BATCH_COLUMNS", "DASK_MISSING", "analyze_ref", "run_batch"]

#: Columns of the summary table, in order (also the header of ``gradlog batch``'s CSV).
BATCH_COLUMNS = ("path", "format", "status", "error", "run", "first_step", "last_step",
                 "steps", "tags", "findings", "max_severity", "finding_ids")
#: Integer columns; missing (an error row, a run with no steps) is ``<NA>``.
INT_COLUMNS = ("first_step", "last_step", "steps", "tags", "findings")
#: What to install when a Dask scheduler is asked for and dask is absent.
DASK_MISSING = "dask.distributed: pip install 'gradlog[dask]'"
_MAX_ERROR = 500

Progress = Callable[[dict[str, Any]], None]


def _blank(ref: RunRef) -> dict[str, Any]:
    row: dict[str, Any] = {c: None if c in INT_COLUMNS else "" for c in BATCH_COLUMNS}
    row.update(path=str(ref.path), format=ref.format)
    return row


def _error_row(ref: RunRef, message: str) -> dict[str, Any]:
    row = _blank(ref)
    row.update(status="error", error=message[:_MAX_ERROR])
    return row


def analyze_ref(ref: RunRef) -> dict[str, Any]:
    """Load and analyse one discovered run and return its summary row.

    Parameters
    ----------
    ref : RunRef
        A run as :func:`gradlog.discover` found it (path and format).

    Returns
    -------
    dict
        One value per column of :data:`BATCH_COLUMNS`. ``status`` is ``"ok"``, or
        ``"error"`` with ``error`` = ``"<ExceptionType>: <first line of its message>"``
        (at most 500 characters). Integer columns are ``None`` where they do not apply;
        text columns are ``""``. ``finding_ids`` is the distinct finding ids,
        space-separated, in report order.

    Raises
    ------
    Nothing for a bad file: any error while loading or analysing it is recorded in the
    row, so one bad file never stops a batch.
    """
    row = _blank(ref)
    try:
        run = gradlog.load(RunRef(Path(ref.path), ref.format))  # exactly the run discovered
        rep = gradlog.analyze(run)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a batch
        msg = str(exc).splitlines()[0] if str(exc) else ""
        return _error_row(ref, f"{type(exc).__name__}: {msg}")
    st = run.steps
    row.update(status="ok", run=run.name, first_step=st["first"], last_step=st["last"],
               steps=st["count"], tags=len(run.tags), findings=len(rep.findings),
               max_severity=rep.max_severity or "",
               finding_ids=" ".join(dict.fromkeys(f.id for f in rep.findings)))
    return row


def run_batch(
    path_or_refs: str | os.PathLike[str] | Iterable[RunRef],
    *,
    jobs: int | None = None,
    scheduler: "str | Client | None" = None,
    progress: Progress | None = None,
    connect_timeout: float = 10.0,
) -> pd.DataFrame:
    """Analyse every run of an archive and return the summary table.

    Parameters
    ----------
    path_or_refs : path or iterable of RunRef
        A file or directory (searched with :func:`gradlog.discover`), or runs already
        discovered.
    jobs : int, optional
        Worker processes (default: the number of CPUs, at most one per run; ``1`` runs in
        this process). With ``scheduler="local"``: the number of Dask workers. Ignored
        for a remote scheduler or a given Client.
    scheduler : str or distributed.Client, optional
        Run on Dask instead of a process pool: a scheduler address
        (``"tcp://host:8786"``), ``"local"`` for a ``LocalCluster`` on this machine
        (``jobs`` single-threaded worker processes), or a connected ``Client``
        (left open). Needs ``pip install 'gradlog[dask]'``.
    progress : callable, optional
        Called with each row as soon as its run is done (in completion order), e.g.
        ``lambda row: bar.update(1)``.
    connect_timeout : float
        Seconds to wait for a remote Dask scheduler (``"tcp://..."``) to answer before
        giving up with a GradlogError (default 10; Dask's own default is 30).

    Returns
    -------
    pandas.DataFrame
        One row per run, columns :data:`BATCH_COLUMNS`, sorted by path; integer columns
        are ``Int64`` (``<NA>`` where they do not apply). An empty archive gives an empty
        table.

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
    if isinstance(path_or_refs, (str, os.PathLike)):
        refs = gradlog.discover(path_or_refs)
    else:
        refs = list(path_or_refs)
    if not refs:
        rows: list[dict[str, Any]] = []
    elif scheduler is not None:
        rows = _on_dask(refs, scheduler, jobs, progress, connect_timeout)
    else:
        rows = _on_processes(refs, min(jobs or os.cpu_count() or 1, len(refs)), progress)
    return _table(rows)


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=list(BATCH_COLUMNS))
    for c in BATCH_COLUMNS:
        df[c] = df[c].astype("Int64" if c in INT_COLUMNS else object)
    return df.sort_values("path", kind="stable", ignore_index=True)


def _done(row: dict[str, Any], rows: list[dict[str, Any]], progress: Progress | None) -> None:
    rows.append(row)
    if progress is not None:
        progress(row)


def _on_processes(refs: list[RunRef], jobs: int, progress: Progress | None) -> list[dict[str, Any]]:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    rows: list[dict[str, Any]] = []
    if jobs <= 1:
        for ref in refs:
            _done(analyze_ref(ref), rows, progress)
        return rows
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(analyze_ref, ref): ref for ref in refs}
        for fut in as_completed(futures):
            try:
                row = fut.result()
            except BrokenProcessPool as exc:
                row = _error_row(futures[fut], f"worker process died: {exc}")
            _done(row, rows, progress)
    return rows


def _on_dask(refs: list[RunRef], scheduler: "str | Client", jobs: int | None,
             progress: Progress | None, connect_timeout: float = 10.0) -> list[dict[str, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ImportError(f"a Dask scheduler needs {DASK_MISSING}") from exc

    if isinstance(scheduler, Client):
        return _map_on(scheduler, refs, progress, as_completed)
    if scheduler == "local":
        n = min(jobs or os.cpu_count() or 1, len(refs))
        with LocalCluster(n_workers=n, threads_per_worker=1, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            return _map_on(client, refs, progress, as_completed)
    try:
        client = Client(scheduler, timeout=connect_timeout)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise GradlogError(f"{scheduler}: cannot reach the Dask scheduler within "
                           f"{connect_timeout:g} s ({exc})") from exc
    with client:
        return _map_on(client, refs, progress, as_completed)


def _map_on(client: "Client", refs: list[RunRef], progress: Progress | None,
            as_completed: Any) -> list[dict[str, Any]]:
    futures = client.map(analyze_ref, refs, pure=False)
    ref_of = {f.key: r for f, r in zip(futures, refs)}
    rows: list[dict[str, Any]] = []
    for fut in as_completed(futures):
        try:
            row = fut.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker (KilledWorker ...) is one row
            msg = str(exc).splitlines()[0] if str(exc) else ""
            row = _error_row(ref_of[fut.key], f"worker failed: {type(exc).__name__}: {msg}")
        _done(row, rows, progress)
    return rows
