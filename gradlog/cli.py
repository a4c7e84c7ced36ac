"""The ``gradlog`` command line: a thin layer over the library.

Exit codes, the same for every command (precedence 2 > 3 > 1 > 0):

- 0: every run was read (and no finding reached ``--fail-on``);
- 1: a finding at or above ``--fail-on``;
- 2: bad usage, or nothing readable at all, whatever the flags (one ``Error: ...`` line,
  no traceback);
- 3: some runs could not be read (``--allow-errors`` makes this 0).

``-o`` names the output: a file when the output is one file (a report whose name ends in
its format's suffix, an image, a converted table, a batch summary), a directory otherwise
(a report with its figures); anything else is a clear error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import gradlog
from gradlog.batch import DASK_MISSING, run_batch, status_counts
from gradlog.cli_common import (
    EXIT_FAIL_ON,
    EXIT_OK,
    EXIT_SOME_UNREADABLE,
    EXIT_USAGE,
    CliError,
    exit_code,
    one_line,
    parse_roles,
    read_path,
    stdout_isatty,
    terminal_width,
    use_color,
)
from gradlog.errors import GradlogError
from gradlog.findings import SEVERITIES, severity_rank

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from gradlog.report import Report
    from gradlog.run import Run

__all__ = [
    "EXIT_FAIL_ON",
    "EXIT_OK",
    "EXIT_SOME_UNREADABLE",
    "EXIT_USAGE",
    "CliError",
    "exit_code",
    "main",
    "one_line",
]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
PLOT_KINDS = ("tags", "overview", "grad_norms", "oscillation", "first_order", "report")

#: Exit codes (see the module docstring).
#: ``analyze``'s report formats and the suffix of each one's file.
REPORT_SUFFIX = {"text": ".txt", "json": ".json", "markdown": ".md", "html": ".html"}
#: ``batch``'s summary formats by suffix.
SUMMARY_SUFFIX = {
    ".csv": "csv",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".parquet": "parquet",
    ".txt": "text",
}


_Error = CliError  # the names the commands below use
_roles = parse_roles
_read_path = read_path
_stdout_isatty = stdout_isatty
_use_color = use_color
_width = terminal_width


class _Group(click.Group):
    """The ``gradlog`` group: click's own usage errors as one ``Error: ...`` line too."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        standalone = kwargs.pop("standalone_mode", True)
        if not standalone:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.exceptions.ClickException as exc:
            click.echo(f"Error: {one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except click.exceptions.Exit as exc:  # pragma: no cover - click returns it instead
            sys.exit(exc.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


def _load_runs(path: str, input_format: str | None, roles: dict[str, str], strict: bool) -> list[Run]:
    """Load one path as exactly one run or fail (``plot``, ``convert``).

    Raises
    ------
    CliError
        If the path cannot be read, or holds several runs.
    """
    runs, failures = _read_path(path, input_format, roles, strict)
    if failures:
        raise _Error(failures[0])
    if len(runs) > 1:
        raise _Error(f"{path}: holds {len(runs)} runs; give one of them")
    return runs


def _fail_met(reports: Sequence[Report], fail_on: str | None) -> bool:
    if fail_on is None:
        return False
    worst = [r.max_severity for r in reports if r.max_severity is not None]
    return bool(worst) and max(severity_rank(s) for s in worst) >= severity_rank(fail_on)


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(gradlog.__version__, "-V", "--version", prog_name="gradlog")
def main() -> None:
    """gradlog: what a training run did and why, from its log.

    Reads Caffe solver logs, CSV logs (PyTorch loops, Lightning, Keras, Ultralytics,
    timm), Hugging Face trainer_state.json, MLflow runs and TensorBoard event files.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option(
    "--format",
    "out_format",
    type=click.Choice(list(REPORT_SUFFIX)),
    default=None,
    help="Report format (default: from the -o name's suffix, else text).",
)
@click.option(
    "-o",
    "--output",
    "outdir",
    type=click.Path(),
    default=None,
    help="Write the report instead of printing it: a file when the name ends in the "
    "format's suffix (report.html, report.json, report.md, report.txt), else a "
    "directory that gets report.<suffix> (Markdown: and its figures/).",
)
@click.option(
    "--fail-on",
    type=click.Choice(list(SEVERITIES)),
    default=None,
    help="Exit with 1 when a finding at or above this severity is found.",
)
@click.option(
    "--allow-errors", is_flag=True, help="Exit with 0, not 3, when some of the inputs could not be read."
)
@click.option(
    "--role",
    "role_pairs",
    multiple=True,
    metavar="ROLE=TAG",
    help="Say which tag plays a role (loss, lr, val_loss, val_metric, grad_total, grad).",
)
@click.option(
    "--input-format", default=None, metavar="NAME", help="Skip format detection (see `gradlog formats`)."
)
@click.option("--strict", is_flag=True, help="Treat any damage in the input as an error.")
@click.option(
    "--color/--no-color",
    "color",
    default=None,
    help="Colour the terminal report (default: only on a terminal, and not when NO_COLOR is set).",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Text report: add the source, the roles, per-phase trends and the tag table.",
)
def analyze(
    paths: tuple[str, ...],
    out_format: str | None,
    outdir: str | None,
    fail_on: str | None,
    allow_errors: bool,
    role_pairs: tuple[str, ...],
    input_format: str | None,
    strict: bool,
    color: bool | None,
    verbose: bool,
) -> None:
    """Analyse training logs and report what the curves did (one section per run).

    A run or file that cannot be read is named on standard error; the others are still
    reported (exit code 3, or 0 with --allow-errors). Nothing readable at all: exit 2.
    """
    roles = _roles(role_pairs)
    target, out_format = _report_target(outdir, out_format)
    reports = []
    failures: list[str] = []
    for p in paths:
        runs, bad = _read_path(p, input_format, roles, strict)
        failures.extend(bad)
        for run in runs:
            try:
                reports.append(gradlog.analyze(run))
            except GradlogError as exc:
                failures.append(str(exc))
    if not reports:
        for msg in failures[:-1]:
            click.echo(f"Error: {one_line(msg)}", err=True)
        raise _Error(failures[-1] if failures else "nothing to analyse")
    for msg in failures:
        click.echo(f"Error: {one_line(msg)}", err=True)
    try:
        _emit(reports, out_format, target, color, verbose=verbose)
    except OSError as exc:
        raise _Error(f"{exc.filename or outdir}: cannot write ({exc.strerror or exc})") from exc
    code = exit_code(
        readable=len(reports),
        unreadable=len(failures),
        fail_met=_fail_met(reports, fail_on),
        allow_errors=allow_errors,
    )
    if code:
        sys.exit(code)


def _report_target(output: str | None, fmt: str | None) -> tuple[Path | None, str]:
    """Return (the report file to write or None for stdout, the format) for ``-o``.

    Raises
    ------
    CliError
        When ``-o`` names a file of another format, or an existing file where a
        directory is needed.
    """
    if output is None:
        return None, fmt or "text"
    out = Path(output)
    by_suffix = {v: k for k, v in REPORT_SUFFIX.items()}
    suffix = out.suffix.lower()
    if suffix in by_suffix and not out.is_dir():
        named = by_suffix[suffix]
        if fmt is not None and fmt != named:
            raise _Error(
                f"{output}: a {suffix} name for a {fmt} report; name the file "
                f"*{REPORT_SUFFIX[fmt]} or give a directory"
            )
        return out, named
    fmt = fmt or "text"
    if out.exists() and not out.is_dir():
        raise _Error(
            f"{output}: is a file, not a directory; give a directory or a name ending in {REPORT_SUFFIX[fmt]}"
        )
    return out / f"report{REPORT_SUFFIX[fmt]}", fmt


def _emit(
    reports: list[Report], out_format: str, target: Path | None, color: bool | None, *, verbose: bool = False
) -> None:
    from gradlog.cache import atomic_write_text
    from gradlog.render.html import render_html
    from gradlog.render.jsonout import reports_json
    from gradlog.render.markdown import render_markdown
    from gradlog.render.text import render_text

    if target is None:
        if out_format == "json":
            click.echo(reports_json(reports))
        elif out_format == "markdown":
            click.echo(render_markdown(reports), nl=False)
        elif out_format == "html":
            click.echo(render_html(reports), nl=False)
        else:
            use = _use_color(color)
            click.echo(render_text(reports, color=use, width=_width(), verbose=verbose), nl=False, color=use)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if out_format == "json":
        text = reports_json(reports) + "\n"
    elif out_format == "markdown":
        text = render_markdown(reports, figures_dir=target.parent / "figures")
    elif out_format == "html":
        text = render_html(reports)
    else:
        text = render_text(reports, color=False, verbose=verbose)
    atomic_write_text(target, text)
    click.echo(f"wrote {target}", err=True)


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.option(
    "-t",
    "--tags",
    "tag_args",
    multiple=True,
    metavar="TAG[,TAG...]",
    help="Tags to draw (repeat or comma-separate; default: loss, validation loss, LR).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Image file; the extension picks the type (.png, .svg, .pdf).",
)
@click.option(
    "--kind",
    type=click.Choice(PLOT_KINDS),
    default="tags",
    show_default=True,
    help="tags: the chosen tags; overview / grad_norms / oscillation / first_order / "
    "report: the report's figures with the findings drawn on them.",
)
@click.option("--logy/--linear", default=None, help="Log or linear y axis (default: from the data).")
@click.option(
    "--dpi",
    type=click.IntRange(20, 600),
    default=100,
    show_default=True,
    help="Resolution of raster images (8 in wide: 800 px at 100 dpi).",
)
@click.option("--input-format", default=None, metavar="NAME", help="Skip format detection.")
def plot(
    path: str,
    tag_args: tuple[str, ...],
    output: str,
    kind: str,
    logy: bool | None,
    dpi: int,
    input_format: str | None,
) -> None:
    """Draw a quick figure of a log: some tags against steps, or a report figure."""
    from matplotlib.figure import Figure

    from gradlog import plots

    runs = _load_runs(path, input_format, {}, False)
    if len(runs) > 1:
        raise _Error(f"{path}: holds {len(runs)} runs; plot one of them")
    run = runs[0]
    tags = [t.strip() for arg in tag_args for t in arg.split(",") if t.strip()] or None
    if tags:
        missing = [t for t in tags if t not in run]
        if missing:
            raise _Error(
                f"{run.name}: no tag {', '.join(map(repr, missing))}; tags are: {', '.join(run.tags)}"
            )
    if kind == "tags":
        fig = Figure(figsize=(plots.WIDTH_IN, 4.0), layout="constrained")
        plots.plot_tags(run, tags=tags, ax=fig.add_subplot(), logy=logy)
    else:
        report = gradlog.analyze(run)
        if kind == "report":
            fig = plots.report_figure(report)
        else:
            figs = dict(plots.report_figures(report))
            if kind not in figs:
                raise _Error(f"{run.name}: no {kind} figure for this log (available: {', '.join(figs)})")
            fig = figs[kind]
    try:
        fig.savefig(output, dpi=dpi)
    except ValueError as exc:  # an image type matplotlib does not write
        raise _Error(f"{output}: {exc}") from exc
    except OSError as exc:
        raise _Error(f"{output}: cannot write ({exc.strerror or exc})") from exc
    click.echo(f"wrote {output}", err=True)


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file: .csv (or .csv.gz) writes the long frame; .parquet needs pyarrow.",
)
@click.option("--input-format", default=None, metavar="NAME", help="Skip format detection.")
@click.option("--strict", is_flag=True, help="Treat any damage in the input as an error.")
def convert(path: str, output: str, input_format: str | None, strict: bool) -> None:
    """Write a log as the tidy long table (step, tag, value, wall_time, source_tag)."""
    from gradlog.export import write_frame

    runs = _load_runs(path, input_format, {}, strict)
    if len(runs) > 1:
        raise _Error(f"{path}: holds {len(runs)} runs; convert one of them")
    try:
        n = write_frame(runs[0], output)
    except GradlogError as exc:
        raise _Error(str(exc)) from exc
    click.echo(f"wrote {n} rows ({len(runs[0].tags)} tags) to {output}", err=True)


@main.command("formats")
def formats_cmd() -> None:
    """List the input formats gradlog reads, in detection order."""
    import textwrap

    width = min(_width(), 100)
    for name, desc in gradlog.formats():
        lines = textwrap.wrap(desc, width=width - 15) or [""]
        click.echo(f"{name:<14} {lines[0]}")
        for more in lines[1:]:
            click.echo(f"{'':<14} {more}")


# -- compare --------------------------------------------------------------------
# `gradlog compare PATH...` is defined in its own module (gradlog.cli_compare) and
# registered here.
from gradlog.cli_compare import compare as _compare_cmd  # noqa: E402

main.add_command(_compare_cmd)
# It follows the same exit codes (exit_code()), `-o` meaning (_report_target()) and
# one-line errors (CliError) as the commands of this module.


# -- batch ------------------------------------------------------------------------


@main.command()
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
@click.option(
    "--fail-on",
    type=click.Choice(list(SEVERITIES)),
    default=None,
    help="Exit with 1 when a run has a finding at or above this severity.",
)
@click.option("--allow-errors", is_flag=True, help="Exit with 0, not 3, when some files could not be read.")
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
    from gradlog.loading import survey

    fmt = _summary_format(output, out_format)
    _check_batch_extras(fmt, output, dask_address)
    try:
        found = survey(directory, include=include, exclude=exclude)
    except GradlogError as exc:
        raise _Error(str(exc)) from exc
    if not found.runs and not found.unread:
        raise _Error(f"{directory}: no training log found")
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
            raise _Error(f"{exc.filename or where}: cannot write ({exc.strerror or exc})") from exc
    try:
        _write_summary(table, output, fmt, directory)
    except OSError as exc:
        raise _Error(f"{output}: cannot write ({exc.strerror or exc})") from exc
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
            raise _Error(f"--dask needs {DASK_MISSING}") from None
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise _Error(
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
            raise _Error(str(exc)) from exc
        except OSError as exc:
            raise _Error(f"{exc.filename or reports_dir}: cannot write ({exc.strerror or exc})") from exc


def _exit_batch(
    directory: str, ok: int, errors: int, fail_met: bool, allow_errors: bool, runs: Sequence[Any]
) -> None:
    code = exit_code(readable=ok, unreadable=errors, fail_met=fail_met, allow_errors=allow_errors)
    if code == EXIT_USAGE:
        what = "no run could be read" if runs else "no training log found"
        raise _Error(
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
            raise _Error("-o -: a parquet summary cannot go to standard output; name a .parquet file")
        return fmt or "csv"
    p = Path(output)
    if p.is_dir():
        raise _Error(
            f"{output}: is a directory; the summary is one file (.csv, .json, .html, .parquet or .txt)"
        )
    name = p.name.lower()
    suffix = ".csv" if name.endswith(".csv.gz") else p.suffix.lower()
    named = SUMMARY_SUFFIX.get(suffix)
    if named is None:
        if fmt is not None:
            return fmt
        raise _Error(
            f"{output}: unknown summary type; use .csv, .json, .html, .parquet or .txt (or --format)"
        )
    if fmt is not None and fmt != named:
        raise _Error(f"{output}: a {suffix} name for a {fmt} summary")
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
        text = summary_text(table, root=root, width=_width())
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


if __name__ == "__main__":  # pragma: no cover
    main()
