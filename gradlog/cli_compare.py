"""``gradlog compare PATH...``: compare runs side by side and read the sweep.

The command is a click command of its own; the ``gradlog`` group adds it with
``main.add_command(compare)``. Exit codes, as for every gradlog command: 0 ok; 1 a
finding at or above ``--fail-on``; 2 bad usage or nothing readable (one ``Error: ...``
line, no traceback); 3 some of the inputs could not be read (``--allow-errors`` makes
that 0). Precedence 2 > 3 > 1 > 0.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gradlog.cli_common import (
    CONTEXT,
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
    strict_option,
    terminal_width,
    use_color,
)
from gradlog.errors import GradlogError
from gradlog.findings import severity_rank

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.compare import Comparison
    from gradlog.run import Run

__all__ = ["compare"]

#: File name (without extension) of the report written with ``-o DIR``.
REPORT_STEM = "comparison"


def _emit(comp: Comparison, out_format: str, outdir: str | None, color: bool | None) -> None:
    from gradlog.render.compare import figure_files

    if outdir is None:
        if out_format == "json":
            click.echo(comp.to_json())
        elif out_format == "markdown":
            click.echo(comp.to_markdown(), nl=False)
        elif out_format == "html":
            click.echo(comp.to_html(), nl=False)
        else:
            use = use_color(color)
            click.echo(comp.to_text(color=use, width=terminal_width()), nl=False, color=use)
        return
    d = Path(outdir)
    d.mkdir(parents=True, exist_ok=True)
    if out_format == "json":
        target = d / f"{REPORT_STEM}.json"
        target.write_text(comp.to_json() + "\n", encoding="utf-8")
    elif out_format == "markdown":
        target = d / f"{REPORT_STEM}.md"
        target.write_text(comp.to_markdown(figures_dir=d / "figures"), encoding="utf-8")
    elif out_format == "html":
        target = d / f"{REPORT_STEM}.html"
        target.write_text(comp.to_html(), encoding="utf-8")
    else:
        target = d / f"{REPORT_STEM}.txt"
        target.write_text(comp.to_text(color=False), encoding="utf-8")
    if out_format in ("json", "text"):
        figure_files(comp, d / "figures")
    click.echo(f"wrote {target}", err=True)


@click.command("compare", context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--by",
    default="auto",
    show_default=True,
    metavar="lr|batch_size|HPARAM|auto",
    help="The varied hyperparameter. auto: the LR when it differs, else the first "
    "setting that differs. Values come from the run's hparams, else (for lr) the "
    "peak of the logged LR, else folder names such as lr0.01 or lr=1e-3.",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["text", "json", "markdown", "html"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option(
    "-o",
    "--output",
    "outdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write comparison.txt/.json/.md/.html and the figures (figures/compare_curves.png, "
    "figures/compare_sweep.png) into this directory instead of printing.",
)
@fail_on_option()
@allow_errors_option("Compare the runs that could be read and exit 0 even when some could not.")
@role_option()
@input_format_option()
@strict_option()
@color_option("Colour the terminal report (default: only on a terminal without NO_COLOR).")
def compare(
    paths: tuple[str, ...],
    by: str,
    out_format: str,
    outdir: str | None,
    fail_on: str | None,
    allow_errors: bool,
    role_pairs: tuple[str, ...],
    input_format: str | None,
    strict: bool,
    color: bool | None,
) -> None:
    """Compare runs side by side: which run had the right learning rate.

    Ranks the runs by how far their smoothed training loss fell (at the shortest common
    step, or the end), finds the usable range of the varied setting, and checks each
    run's LR verdict against its siblings (scope "sweep" where they change it).
    """
    from gradlog.compare import compare as compare_runs

    roles = parse_roles(role_pairs)
    runs: list[Run] = []
    failed: list[str] = []
    bad_paths = 0
    for p in paths:
        got, bad = read_path(p, input_format, roles, strict)
        if bad and not got and len(paths) == 1:
            raise CliError(bad[0])
        runs.extend(got)
        failed.extend(bad)
        bad_paths += bool(bad)
        for msg in bad:
            click.echo(f"Error: {one_line(msg)}", err=True)
    if not runs:
        raise CliError(f"none of the {len(paths)} inputs could be read")
    try:
        comp = compare_runs(runs, by=by)
    except GradlogError as exc:
        raise CliError(str(exc)) from exc
    try:
        _emit(comp, out_format, outdir, color)
    except OSError as exc:
        raise CliError(f"{exc.filename or outdir}: cannot write ({exc.strerror or exc})") from exc
    worst = [severity_rank(f.severity) for r in comp.runs for f in r.report.findings]
    fail_met = fail_on is not None and bool(worst) and max(worst) >= severity_rank(fail_on)
    if failed and not allow_errors:
        click.echo(
            f"{bad_paths} of {len(paths)} inputs could not be read; compared the other {len(runs)} run(s)",
            err=True,
        )
    code = exit_code(readable=len(runs), unreadable=len(failed), fail_met=fail_met, allow_errors=allow_errors)
    if code:
        sys.exit(code)
