"""``gradlog batch DIRECTORY``: analyse every run under a folder and write a summary table.

The command is a click command of its own; the ``gradlog`` group adds it with
``main.add_command(batch)``. Exit codes, as for every gradlog command (precedence
2 > 3 > 1 > 0): 0 ok; 1 a run with a finding at or above ``--fail-on``; 2 bad usage or no
run readable (one ``Error: ...`` line, no traceback); 3 some files could not be read
(``--allow-errors`` makes that 0).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gradlog.batch import DASK_MISSING, run_batch, status_counts
from gradlog.cli_common import (
    CONTEXT,
    EXIT_USAGE,
    CliError,
    allow_errors_option,
    exit_code,
    fail_on_option,
    one_line,
    terminal_width,
)
from gradlog.errors import GradlogError
from gradlog.findings import severity_rank

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["SUMMARY_SUFFIX", "batch"]

#: ``batch``'s summary formats by suffix.
SUMMARY_SUFFIX = {
    ".csv": "csv",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".parquet": "parquet",
    ".txt": "text",
}


@click.command("batch", context_settings=CONTEXT)
@click.argument("directory", type=click.Path(exists=True))
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    type=click.Path(),
    help="The summary file; its suffix picks the format: .csv (or .csv.gz), .json, "
    ".html (a page with a sortable table), .txt (an aligned table) or .parquet "
    "(pip install 'gradlog[parquet]'); - writes to standard output (--format, "
    "default csv).",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["csv", "json", "html", "parquet", "text"]),
    default=None,
    help="Summary format (default: from the -o suffix, else csv); text: an aligned table for reading.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes (default: from the archive: small ones run in this "
    "process, large ones on every CPU; 1 runs in this process). With --dask "
    "local: the number of Dask workers.",
)
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="Only runs whose path (relative to DIRECTORY) or name matches (repeatable).",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out files and folders whose relative path or name matches (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="List what would be read, and how; analyse nothing.")
@click.option(
    "--reports",
    "reports_dir",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Also write every run's HTML report into DIR (the summary page links to them).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Where to keep results between runs (default: $XDG_CACHE_HOME/gradlog, i.e. ~/.cache/gradlog).",
)
@click.option("--no-cache", is_flag=True, help="Analyse every run, and store nothing.")
@click.option(
    "--dask",
    "dask_address",
    default=None,
    metavar="ADDRESS",
    help="Run on Dask: a scheduler address (tcp://host:8786), or 'local' for a "
    "cluster on this machine. Needs: pip install 'gradlog[dask]'.",
)
@click.option(
    "--dask-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to wait for a --dask scheduler to answer.",
)
@fail_on_option()
@allow_errors_option("Exit with 0, not 3, when some files could not be read.")
@click.option(
    "--compare",
    "compare_sweeps",
    is_flag=True,
    help="Group the runs into sweeps (same folder, same tags) and compare each: the summary "
    "gains a group column, each comparison goes to --reports DIR (or beside -o).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on standard error (default: when it is a terminal).",
)
def batch(
    directory: str,
    output: str,
    out_format: str | None,
    jobs: int | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    dry_run: bool,
    reports_dir: str | None,
    cache_dir: str | None,
    no_cache: bool,
    dask_address: str | None,
    dask_timeout: float,
    fail_on: str | None,
    allow_errors: bool,
    compare_sweeps: bool,
    progress: bool | None,
) -> None:
    """Analyse every run found under DIRECTORY and write a summary table.

    Every file the walk considers gets a row: ok (analysed), error (a log that could not
    be read, a folder that could not be searched) or skipped (plainly not a log), with
    the reason. Runs are analysed in parallel processes (or on a Dask cluster with
    --dask); a bad file never stops the batch. Unchanged runs come from the cache.
    """
    from gradlog.discovery import survey

    fmt = _summary_format(output, out_format)
    _check_batch_extras(fmt, output, dask_address)
    try:
        found = survey(directory, include=include, exclude=exclude)
    except GradlogError as exc:
        raise CliError(str(exc)) from exc
    if not found.runs and not found.unread:
        raise CliError(f"{directory}: no training log found")
    errors = sum(1 for u in found.unread if u.status == "error")
    if dry_run:
        _dry_run(found)
        click.echo(
            f"{len(found.runs)} runs would be read; {errors} error, {len(found.unread) - errors} skipped",
            err=True,
        )
        _exit_batch(directory, len(found.runs), errors, False, allow_errors, found.runs)
        return
    cache = None
    if not no_cache:
        from gradlog.cache import Cache, default_cache_dir

        cache = Cache(cache_dir if cache_dir is not None else default_cache_dir())
    show = progress if progress is not None else sys.stderr.isatty()
    table = _analyse_all(found, directory, jobs, dask_address, dask_timeout, cache, reports_dir, show)
    if compare_sweeps:
        from gradlog.batch import compare_sweeps as _compare_groups

        where = reports_dir or (str(Path(output).parent) if output != "-" else ".")
        try:
            table = _compare_groups(table, where, root=directory)
        except OSError as exc:
            raise CliError(f"{exc.filename or where}: cannot write ({exc.strerror or exc})") from exc
    try:
        _write_summary(table, output, fmt, directory)
    except OSError as exc:
        raise CliError(f"{output}: cannot write ({exc.strerror or exc})") from exc
    n = status_counts(table)
    hits = int(table.attrs.get("cache_hits", 0))
    click.echo(
        f"{len(table)} files and runs: {n['ok']} ok"
        + (f" ({n['not_assessed']} not assessed)" if n["not_assessed"] else "")
        + f", {n['error']} error, {n['skipped']} skipped"
        + (f"; {hits} from the cache" if hits else "")
        + (f"; summary in {output}" if output != "-" else ""),
        err=True,
    )
    worst = [severity_rank(s) for s in table["max_severity"] if s]
    fail_met = fail_on is not None and bool(worst) and max(worst) >= severity_rank(fail_on)
    _exit_batch(directory, n["ok"], n["error"], fail_met, allow_errors, found.runs)


def _check_batch_extras(fmt: str, output: str, dask_address: str | None) -> None:
    """Fail early, in one line, when an optional part the batch needs is not installed.

    Raises
    ------
    CliError
        If ``--dask`` is given without dask, or a .parquet summary without pyarrow.
    """
    if dask_address is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise CliError(f"--dask needs {DASK_MISSING}") from None
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CliError(
                f"{output}: a .parquet summary needs pyarrow: pip install 'gradlog[parquet]'"
            ) from None


def _analyse_all(
    found: Any,
    directory: str,
    jobs: int | None,
    dask_address: str | None,
    dask_timeout: float,
    cache: Any,
    reports_dir: str | None,
    show: bool,
) -> pd.DataFrame:
    """Run the batch over the surveyed runs (with a progress bar when ``show``); return
    the summary table.

    Raises
    ------
    CliError
        If the batch cannot run (a Dask scheduler that does not answer) or a report
        cannot be written.
    """
    bar_cm = (
        click.progressbar(length=len(found.runs), label="analysing", file=sys.stderr)
        if show and found.runs
        else _NoBar()
    )
    with bar_cm as bar:
        try:
            return run_batch(
                found,
                jobs=jobs,
                scheduler=dask_address,
                progress=lambda row: bar.update(1),
                connect_timeout=dask_timeout,
                cache=cache,
                reports=reports_dir,
                root=directory,
            )
        except GradlogError as exc:
            raise CliError(str(exc)) from exc
        except OSError as exc:
            raise CliError(f"{exc.filename or reports_dir}: cannot write ({exc.strerror or exc})") from exc


def _exit_batch(
    directory: str, ok: int, errors: int, fail_met: bool, allow_errors: bool, runs: Sequence[Any]
) -> None:
    code = exit_code(readable=ok, unreadable=errors, fail_met=fail_met, allow_errors=allow_errors)
    if code == EXIT_USAGE:
        what = "no run could be read" if runs else "no training log found"
        raise CliError(
            f"{directory}: {what} ({errors} error{'s' if errors != 1 else ''}; "
            "see the summary's reason column)"
            if errors
            else f"{directory}: {what}"
        )
    if code:
        sys.exit(code)


def _summary_format(output: str, fmt: str | None) -> str:
    """The summary format for ``-o output``.

    Raises
    ------
    CliError
        If the suffix is not a summary type, disagrees with ``--format``, or ``output``
        is a directory.
    """
    if output == "-":
        if fmt == "parquet":
            raise CliError("-o -: a parquet summary cannot go to standard output; name a .parquet file")
        return fmt or "csv"
    p = Path(output)
    if p.is_dir():
        raise CliError(
            f"{output}: is a directory; the summary is one file (.csv, .json, .html, .parquet or .txt)"
        )
    name = p.name.lower()
    suffix = ".csv" if name.endswith(".csv.gz") else p.suffix.lower()
    named = SUMMARY_SUFFIX.get(suffix)
    if named is None:
        if fmt is not None:
            return fmt
        raise CliError(
            f"{output}: unknown summary type; use .csv, .json, .html, .parquet or .txt (or --format)"
        )
    if fmt is not None and fmt != named:
        raise CliError(f"{output}: a {suffix} name for a {fmt} summary")
    return named


def _write_summary(table: pd.DataFrame, output: str, fmt: str, root: str) -> None:
    from gradlog.cache import atomic_write_text
    from gradlog.render.summary import summary_csv, summary_html, summary_json, summary_text

    if fmt == "parquet":
        p = Path(output)
        tmp = p.with_name(f".{p.name}.tmp")
        table.to_parquet(tmp, index=False)
        os.replace(tmp, p)
        return
    if fmt == "json":
        text = summary_json(table) + "\n"
    elif fmt == "html":
        links: dict[str, str] = {}
        base = Path(output).parent if output != "-" else Path.cwd()
        for path, rp in table.attrs.get("reports", {}).items():
            links[path] = Path(os.path.relpath(rp, base)).as_posix()
        text = summary_html(table, root=root, reports=links)
    elif fmt == "text":
        text = summary_text(table, root=root, width=terminal_width())
    else:
        text = summary_csv(table)
    if output == "-":
        click.echo(text, nl=False)
    elif output.lower().endswith(".gz"):
        import gzip

        p = Path(output)
        tmp = p.with_name(f".{p.name}.tmp")
        with gzip.open(tmp, "wt", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, p)
    else:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output, text)


def _dry_run(found: Any) -> None:
    """Print one line per entry: what would be read, and how (or why not)."""
    lines = [(str(r.path), "read", r.format, "") for r in found.runs]
    lines += [(str(u.path), u.status, u.format or "-", u.reason) for u in found.unread]
    for path, what, fmt, reason in sorted(lines):
        tail = f"  {reason}" if reason else ""
        click.echo(one_line(f"{what:<8} {fmt:<12} {path}" + (tail if what != "read" else "")))


class _NoBar:
    """Stands in for a progress bar when none is shown."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        """Do nothing."""
