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
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import gradlog
from gradlog.discovery import SIDE_FILES, RunRef, Survey, Unread, survey
from gradlog.errors import GradlogError
from gradlog.render.summary import SUMMARY_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from gradlog.cache import Cache

__all__ = [
    "BATCH_COLUMNS",
    "DASK_MISSING",
    "STATUSES",
    "analyze_ref",
    "default_jobs",
    "report_name",
    "run_batch",
    "status_counts",
]

#: Columns of the summary table, in order (also the header of ``gradlog batch``'s CSV);
#: defined beside the summary's renderers and schema.
BATCH_COLUMNS = SUMMARY_COLUMNS
#: The values of the ``status`` column.
STATUSES = ("ok", "error", "skipped")
#: Integer columns; missing (an error row, a run with no steps) is ``<NA>``.
INT_COLUMNS = ("first_step", "last_step", "steps", "tags", "findings")
#: Boolean columns; ``<NA>`` on error and skipped rows.
BOOL_COLUMNS = ("assessed",)
#: What to install when a Dask scheduler is asked for and dask is absent.
DASK_MISSING = "dask.distributed: pip install 'gradlog[dask]'"
#: Loss detectors: when one of them cannot run for want of loss data (no loss, too few
#: points), the run is not assessed. (A missing LR or gradient series only narrows what
#: is assessed; ``not_assessable`` lists those detectors.)
CORE_DETECTORS = ("divergence", "loss_plateau")
#: Points of the smoothed-loss sparkline kept per run.
SPARK_POINTS = 60
_MAX_REASON = 500
#: Below this many runs to analyse per worker, worker processes cost more than they save.
MIN_RUNS_PER_WORKER = 16
#: ... or below this many bytes of input per extra worker.
MIN_BYTES_PER_WORKER = 32 * 1024 * 1024

Progress = Callable[[dict[str, Any]], None]


def _blank(path: Path | str, fmt: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {c: None if c in INT_COLUMNS or c in BOOL_COLUMNS else "" for c in BATCH_COLUMNS}
    row.update(path=str(path), format=fmt)
    return row


def _error_row(ref: RunRef, message: str) -> dict[str, Any]:
    row = _blank(ref.path, ref.format)
    row.update(status="error", reason=message[:_MAX_REASON])
    return row


def _unread_row(u: Unread) -> dict[str, Any]:
    row = _blank(u.path, u.format)
    row.update(status=u.status, reason=u.reason[:_MAX_REASON])
    return row


_FEW = re.compile(r"has (\d+) (?:finite )?points")


def _loss_reason(reason: str) -> bool:
    """Whether a detector could not run for want of loss data."""
    return reason.startswith("no training-loss") or bool(_FEW.search(reason))


def _short_reason(reason: str) -> str:
    """``"no loss"``, ``"too few points (4)"``, or the detector's own reason."""
    if reason.startswith("no training-loss"):
        return "no loss"
    m = _FEW.search(reason)
    if m:
        return "no finite loss values" if m.group(1) == "0" else f"too few points ({m.group(1)})"
    return reason.split(";")[0][:120]


def _sparkline(run: gradlog.Run) -> list[float]:
    """The run's loss, smoothed (an EMA over ~5% of its points) and thinned to at most
    :data:`SPARK_POINTS` values; ``[]`` without a loss."""
    tag = run.roles.get("loss")
    if not tag or tag not in run:
        return []
    v = run.series(tag).to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return []
    span = max(1, v.size // 20)
    smooth = pd.Series(v).ewm(span=span, adjust=True).mean().to_numpy()
    idx = np.unique(np.linspace(0, v.size - 1, min(SPARK_POINTS, v.size)).round().astype(int))
    return [float(f"{x:.4g}") for x in smooth[idx]]


def report_name(path: Path | str, root: Path | str | None = None) -> str:
    """Return the file name of a run's HTML report in ``--reports DIR``: its path
    relative to ``root`` with ``/`` as ``__``, made safe, plus a short hash (unique)."""
    p = Path(path)
    try:
        rel = p.relative_to(root).as_posix() if root is not None else p.as_posix()
    except ValueError:
        rel = p.as_posix()
    rel = rel.strip("/") or p.name or "run"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", rel.replace("/", "__"))[-80:].lstrip("._") or "run"
    h = hashlib.blake2b(str(p).encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()
    return f"{slug}-{h}.html"


def analyze_ref(ref: RunRef, report_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Load and analyse one discovered run and return its summary row.

    Parameters
    ----------
    ref : RunRef
        A run as :func:`gradlog.discover` found it (path and format).
    report_path : path, optional
        Also write the run's HTML report there (atomically).

    Returns
    -------
    dict
        One value per column of :data:`BATCH_COLUMNS`, plus ``loss_sparkline`` (the
        smoothed loss, at most 60 values). ``status`` is ``"ok"``, or ``"error"`` with
        ``reason`` = ``"<ExceptionType>: <first line of its message>"`` (at most 500
        characters). Integer columns are ``None`` where they do not apply; text columns
        are ``""``. ``finding_ids`` is the distinct finding ids, space-separated, in
        report order; ``assessed`` is False when the log holds too little loss data for
        the loss detectors (``reason`` says why: ``"no loss"``, ``"too few points
        (3)"``), and ``not_assessable`` lists every detector that could not run (for
        want of a loss, an LR or a gradient series).

    Raises
    ------
    Nothing for a bad file: any error while loading or analysing it is recorded in the
    row, so one bad file never stops a batch.
    """
    row = _blank(ref.path, ref.format)
    try:
        run = gradlog.load(RunRef(Path(ref.path), ref.format))  # exactly the run discovered
        rep = gradlog.analyze(run)
        spark = _sparkline(run)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a batch
        msg = str(exc).splitlines()[0] if str(exc) else ""
        return {**_error_row(ref, f"{type(exc).__name__}: {msg}"), "loss_sparkline": []}
    st = run.steps
    na = list(getattr(rep, "not_assessable", []) or [])
    core = [x for x in na if x.get("id") in CORE_DETECTORS and _loss_reason(str(x.get("reason", "")))]
    advice = getattr(rep, "lr_advice", None)
    row.update(
        status="ok",
        run=run.name,
        first_step=st["first"],
        last_step=st["last"],
        steps=st["count"],
        tags=len(run.tags),
        findings=len(rep.findings),
        max_severity=rep.max_severity or "",
        finding_ids=" ".join(dict.fromkeys(f.id for f in rep.findings)),
        lr_action=getattr(advice, "action", "") or "",
        assessed=not core,
        not_assessable=" ".join(dict.fromkeys(str(x.get("id")) for x in na)),
        reason=_short_reason(str(core[0].get("reason", ""))) if core else "",
    )
    if report_path is not None:
        try:
            from gradlog.cache import atomic_write_text

            atomic_write_text(report_path, rep.to_html())
        except Exception as exc:  # noqa: BLE001 - the row stands; the link will be missing
            row["reason"] = (
                row["reason"] + "; " if row["reason"] else ""
            ) + f"report not written ({type(exc).__name__}: {exc})"[:200]
    row["loss_sparkline"] = spark
    return row


def default_jobs(n_runs: int, cpus: int | None = None, total_bytes: int = 0) -> int:
    """Return the worker count for ``n_runs`` runs to analyse (``total_bytes`` of input).

    Worker processes pay for themselves only with enough work each: one worker per
    :data:`MIN_RUNS_PER_WORKER` runs or per :data:`MIN_BYTES_PER_WORKER` bytes of input,
    at most the CPU count; below that, the runs are analysed in this process (``1``).
    """
    cpus = cpus or os.cpu_count() or 1
    by_work = max(n_runs // MIN_RUNS_PER_WORKER, total_bytes // MIN_BYTES_PER_WORKER)
    return max(1, min(cpus, n_runs, by_work))


def _size(path: Path) -> int:
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
    root = Path(root) if root is not None else None
    if isinstance(path_or_refs, (str, os.PathLike)):
        root = root or Path(path_or_refs)
        found = survey(path_or_refs, include=include, exclude=exclude)
    elif isinstance(path_or_refs, Survey):
        found = path_or_refs
    else:
        found = Survey(list(path_or_refs), [])
    refs = found.runs
    report_dir = Path(reports) if reports is not None else None
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)

    def report_of(ref: RunRef) -> Path | None:
        return None if report_dir is None else report_dir / report_name(ref.path, root)

    rows: list[dict[str, Any]] = []
    todo: list[RunRef] = []
    keys: dict[Path, str] = {}
    for ref in refs:
        hit = _cached(cache, ref, keys, report_of(ref))
        if hit is not None:
            _done(hit, rows, progress)
        else:
            todo.append(ref)
    hits = len(rows)

    def finished(row: dict[str, Any]) -> None:
        key = keys.get(Path(row["path"]))
        if cache is not None and key is not None and row["status"] == "ok":
            cache.put(key, {k: v for k, v in row.items() if k != "path"})
        _done(row, rows, progress)

    if not todo:
        pass
    elif scheduler is not None:
        _on_dask(todo, scheduler, jobs, finished, connect_timeout, report_of)
    else:
        sizes = {r.path: _size(Path(r.path)) for r in todo}
        n = jobs if jobs is not None else default_jobs(len(todo), total_bytes=sum(sizes.values()))
        # the largest first, so no big run is left alone at the end
        todo.sort(key=lambda r: -sizes[r.path])
        _on_processes(todo, min(n, len(todo)), finished, report_of, sizes)
    rows.extend(_unread_row(u) for u in found.unread)
    table = _table(rows)
    table.attrs["loss_sparkline"] = {
        r["path"]: r.get("loss_sparkline") or [] for r in rows if r["status"] == "ok"
    }
    table.attrs["cache_hits"] = hits
    if report_dir is not None:
        table.attrs["reports"] = {str(r.path): str(report_of(r)) for r in refs}
    return table


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
    row = _blank(path, ref.format)
    row.update({k: v for k, v in value.items() if k in row or k == "loss_sparkline"})
    row["path"] = str(path)
    return row


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=list(BATCH_COLUMNS))
    for c in BATCH_COLUMNS:
        df[c] = df[c].astype("Int64" if c in INT_COLUMNS else "boolean" if c in BOOL_COLUMNS else object)
    df["group"] = [g if isinstance(g, str) else "" for g in df["group"]]
    return df.sort_values("path", kind="stable", ignore_index=True)


def _done(row: dict[str, Any], rows: list[dict[str, Any]], progress: Progress | None) -> None:
    rows.append(row)
    if progress is not None:
        progress(row)


def _analyze_chunk(chunk: list[tuple[RunRef, str | None]]) -> list[dict[str, Any]]:
    return [analyze_ref(ref, rp) for ref, rp in chunk]


def _chunks(
    refs: list[RunRef],
    size: int,
    report_of: Callable[[RunRef], Path | None],
    sizes: dict[Path, int] | None = None,
) -> Iterator[list[tuple[RunRef, str | None]]]:
    """Chunks of at most ``size`` runs; a chunk closes early at 4 MB of input, so big
    runs travel alone and spread over the workers."""
    chunk: list[tuple[RunRef, str | None]] = []
    nbytes = 0
    for r in refs:
        p = report_of(r)
        chunk.append((r, None if p is None else str(p)))
        nbytes += (sizes or {}).get(r.path, 0)
        if len(chunk) >= size or nbytes >= 4 * 1024 * 1024:
            yield chunk
            chunk, nbytes = [], 0
    if chunk:
        yield chunk


def _on_processes(
    refs: list[RunRef],
    jobs: int,
    finished: Callable[[dict[str, Any]], None],
    report_of: Callable[[RunRef], Path | None],
    sizes: dict[Path, int] | None = None,
) -> None:
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    if jobs <= 1:
        for ref in refs:
            rp = report_of(ref)
            finished(analyze_ref(ref, None if rp is None else str(rp)))
        return
    import gradlog.analyzers  # noqa: F401 - imported once here, inherited by forked workers

    # Warm this process with the smallest run of each format before the workers fork:
    # what a format imports or builds on first use (protobuf for event files, YAML for
    # hparams, compiled patterns, SciPy's lazily loaded parts) is then inherited by every
    # worker instead of being paid once per worker. These runs are real work: their rows
    # count like the others.
    refs = _warm_up(refs, finished, report_of, sizes)
    if not refs:
        return
    jobs = min(jobs, len(refs))
    # Workers get small chunks of paths (never frames) and send back rows; at most a few
    # chunks per worker are in flight, so the parent's memory does not grow with the archive.
    size = max(1, min(8, math.ceil(len(refs) / (jobs * 8))))
    pending: dict[Future[list[dict[str, Any]]], list[tuple[RunRef, str | None]]] = {}
    chunks = _chunks(refs, size, report_of, sizes)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for chunk in chunks:
            pending[pool.submit(_analyze_chunk, chunk)] = chunk
            if len(pending) >= jobs * 4:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                chunk = pending.pop(fut)
                try:
                    out = fut.result()
                except BrokenProcessPool as exc:
                    out = [_error_row(ref, f"worker process died: {exc}") for ref, _ in chunk]
                for row in out:
                    finished(row)
                nxt = next(chunks, None)
                if nxt is not None:
                    try:
                        pending[pool.submit(_analyze_chunk, nxt)] = nxt
                    except BrokenProcessPool as exc:
                        for ref, _ in nxt:
                            finished(_error_row(ref, f"worker process died: {exc}"))
                        for rest in chunks:
                            for ref, _ in rest:
                                finished(_error_row(ref, f"worker process died: {exc}"))


def _warm_up(
    refs: list[RunRef],
    finished: Callable[[dict[str, Any]], None],
    report_of: Callable[[RunRef], Path | None],
    sizes: dict[Path, int] | None,
) -> list[RunRef]:
    """Analyse the smallest run of each format here; return the runs left."""
    first: dict[str, RunRef] = {}
    for ref in refs:
        cur = first.get(ref.format)
        if cur is None or (sizes or {}).get(ref.path, 0) < (sizes or {}).get(cur.path, 0):
            first[ref.format] = ref
    chosen = {id(r) for r in first.values()}
    for ref in first.values():
        rp = report_of(ref)
        finished(analyze_ref(ref, None if rp is None else str(rp)))
    return [r for r in refs if id(r) not in chosen]


def _on_dask(
    refs: list[RunRef],
    scheduler: str | Client,
    jobs: int | None,
    finished: Callable[[dict[str, Any]], None],
    connect_timeout: float,
    report_of: Callable[[RunRef], Path | None],
) -> None:
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
            row = _error_row(ref_of[fut.key], f"worker failed: {type(exc).__name__}: {msg}")
        finished(row)


def sweep_groups(paths: list[str]) -> dict[str, list[str]]:
    """Group run paths into candidate sweeps: runs that sit in the same folder, else (a run
    alone in its own folder) the runs under the same parent folder one level up.

    Returns
    -------
    ``{folder: [paths]}`` for every folder that gathers at least two runs.
    """
    by_dir: dict[Path, list[str]] = {}
    for p in paths:
        pp = Path(p)
        d = pp if pp.is_dir() else pp.parent
        by_dir.setdefault(d, []).append(p)
    groups: dict[Path, list[str]] = {}
    for d, ps in by_dir.items():
        key = d if len(ps) >= 2 else d.parent
        groups.setdefault(key, []).extend(ps)
    return {str(k): sorted(v) for k, v in groups.items() if len(v) >= 2}


def _same_run(a: gradlog.Run, b: gradlog.Run) -> bool:
    """The same run logged twice (a CSV and a TensorBoard copy): same loss at the same steps."""
    la, lb = a.roles.get("loss"), b.roles.get("loss")
    if not la or not lb:
        return False
    sa, sb = a.series(str(la)), b.series(str(lb))
    if len(sa) != len(sb) or len(sa) == 0:
        return False
    return bool(np.array_equal(sa.index.to_numpy(), sb.index.to_numpy())) and bool(
        np.allclose(sa.to_numpy(), sb.to_numpy(), rtol=1e-5, equal_nan=True)
    )


def compare_sweeps(
    table: pd.DataFrame, out_dir: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Group the analysed runs of a batch table into sweeps and compare each group.

    Runs are in one sweep when they sit under the same folder (one level up from a run's
    own folder counts too, :func:`sweep_groups`) and share their tag set; the same run
    logged twice counts once. Each sweep's comparison is written to ``out_dir`` as
    ``sweep-<folder>.json`` and ``.html``, and the table's ``group`` column names it.

    Returns
    -------
    the table with ``group`` filled in (a copy).

    Raises
    ------
    OSError
        When ``out_dir`` cannot be written.
    """
    from gradlog.cache import atomic_write_text
    from gradlog.compare import compare

    out = table.copy()
    ok = out[(out["status"] == "ok") & (out["assessed"].fillna(False).astype(bool))]
    dest = Path(out_dir)
    for folder, paths in sweep_groups([str(p) for p in ok["path"]]).items():
        runs: dict[str, gradlog.Run] = {}
        for p in paths:
            try:
                run = gradlog.load(p)
            except GradlogError:
                continue
            if any(_same_run(run, r) for r in runs.values()):
                continue
            runs[p] = run
        by_tags: dict[frozenset[str], list[str]] = {}
        for p, run in runs.items():
            by_tags.setdefault(frozenset(run.tags), []).append(p)
        for k, members in enumerate(v for v in by_tags.values() if len(v) >= 2):
            try:
                comp = compare([runs[p] for p in members])
            except GradlogError:
                continue
            try:
                rel = Path(folder).relative_to(root).as_posix() if root is not None else folder
            except ValueError:
                rel = folder
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", rel.strip("/")).strip("._")[-60:] or "root"
            if k:
                name += f"-{k + 1}"
            dest.mkdir(parents=True, exist_ok=True)
            atomic_write_text(dest / f"sweep-{name}.json", comp.to_json() + "\n")
            atomic_write_text(dest / f"sweep-{name}.html", comp.to_html())
            out.loc[out["path"].isin(members), "group"] = name
    return out
