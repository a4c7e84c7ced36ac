"""``gradlog batch`` on Dask (``pip install 'gradlog[dask]'``): each run is one task that
returns its row; a lost worker is that run's error row. Dask is imported only here, and
only when a scheduler is given."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradlog.batch_rows import analyze_ref, error_row
from gradlog.discovery import RunRef
from gradlog.errors import GradlogError

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

__all__ = ["DASK_MISSING", "on_dask"]

#: What to install when a Dask scheduler is asked for and dask is absent.
DASK_MISSING = "dask.distributed: pip install 'gradlog[dask]'"


def on_dask(
    refs: list[RunRef],
    scheduler: str | Client,
    jobs: int | None,
    finished: Callable[[dict[str, Any]], None],
    connect_timeout: float,
    report_of: Callable[[RunRef], Path | None],
) -> None:
    """Analyse ``refs`` on Dask: a ``Client`` given, ``"local"`` (a ``LocalCluster`` of
    ``jobs`` single-threaded workers) or a scheduler's address; ``finished`` gets each row."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ImportError(f"a Dask scheduler needs {DASK_MISSING}") from exc

    if isinstance(scheduler, Client):
        return _map_on(scheduler, refs, finished, as_completed, report_of)
    if scheduler == "local":
        n = min(jobs or os.cpu_count() or 1, len(refs))
        with (
            LocalCluster(n_workers=n, threads_per_worker=1, dashboard_address=":0") as cluster,
            Client(cluster) as client,
        ):
            return _map_on(client, refs, finished, as_completed, report_of)
    try:
        client = Client(scheduler, timeout=connect_timeout)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise GradlogError(
            f"{scheduler}: cannot reach the Dask scheduler within {connect_timeout:g} s ({exc})"
        ) from exc
    with client:
        return _map_on(client, refs, finished, as_completed, report_of)


def _map_on(
    client: Client,
    refs: list[RunRef],
    finished: Callable[[dict[str, Any]], None],
    as_completed: Any,
    report_of: Callable[[RunRef], Path | None],
) -> None:
    reports = [None if (p := report_of(r)) is None else str(p) for r in refs]
    futures = client.map(analyze_ref, refs, reports, pure=False)
    ref_of = {f.key: r for f, r in zip(futures, refs, strict=False)}
    for fut in as_completed(futures):
        try:
            row = fut.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker (KilledWorker ...) is one row
            msg = str(exc).splitlines()[0] if str(exc) else ""
            row = error_row(ref_of[fut.key], f"worker failed: {type(exc).__name__}: {msg}")
        finished(row)
