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

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import gradlog
from gradlog.cli_batch import batch
from gradlog.cli_common import (
    CONTEXT,
    EXIT_FAIL_ON,
    EXIT_OK,
    EXIT_SOME_UNREADABLE,
    EXIT_USAGE,
    CliError,
    allow_errors_option,
    color_option,
    exit_code,
    fail_on_option,
    input_format_option,
    one_line,
    parse_roles,
    read_path,
    role_option,
    stdout_isatty,
    strict_option,
    terminal_width,
    use_color,
)
from gradlog.cli_compare import compare
from gradlog.errors import GradlogError
from gradlog.findings import severity_rank

if TYPE_CHECKING:  # pragma: no cover
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

PLOT_KINDS = ("tags", "overview", "grad_norms", "oscillation", "first_order", "report")

#: Exit codes (see the module docstring).
#: ``analyze``'s report formats and the suffix of each one's file.
REPORT_SUFFIX = {"text": ".txt", "json": ".json", "markdown": ".md", "html": ".html"}


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
@fail_on_option("Exit with 1 when a finding at or above this severity is found.")
@allow_errors_option("Exit with 0, not 3, when some of the inputs could not be read.")
@role_option()
@input_format_option()
@strict_option()
@color_option("Colour the terminal report (default: only on a terminal, and not when NO_COLOR is set).")
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
@input_format_option("Skip format detection.")
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
@input_format_option("Skip format detection.")
@strict_option()
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


# `gradlog compare PATH...` and `gradlog batch DIRECTORY` are defined in their own modules
# (gradlog.cli_compare, gradlog.cli_batch) and registered here. They follow the same exit
# codes (exit_code()) and one-line errors (CliError) as the commands of this module.
main.add_command(compare)
main.add_command(batch)


if __name__ == "__main__":  # pragma: no cover
    main()
