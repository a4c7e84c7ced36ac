"""The ``gradlog`` command line: a thin layer over the library.

Exit codes: 0 ok; 1 a finding at or above ``--fail-on``; 2 bad usage or unreadable
input (one ``Error: ...`` line, no traceback).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import gradlog
from gradlog.batch import BATCH_COLUMNS, DASK_MISSING, run_batch
from gradlog.errors import GradlogError, MultipleRunsError, UnknownFormatError
from gradlog.findings import SEVERITIES, severity_rank

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from gradlog.report import Report
    from gradlog.run import Run

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
PLOT_KINDS = ("tags", "overview", "grad_norms", "oscillation", "first_order", "report")


class _Error(click.ClickException):
    """A GradlogError shown as one ``Error: ...`` line, exit code 2."""

    exit_code = 2


def _roles(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in pairs:
        if "=" not in p:
            raise click.BadParameter(f"{p!r} is not ROLE=TAG (e.g. loss=my_loss)", param_hint="--role")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _load_runs(path: str, input_format: str | None, roles: dict[str, str], strict: bool) -> list["Run"]:
    """Load one path; a directory holding several runs gives all of them."""
    try:
        try:
            return [gradlog.load(path, format=input_format, roles=roles or None, strict=strict)]
        except MultipleRunsError:
            return gradlog.load_all(path, roles=roles or None, strict=strict)
        except UnknownFormatError:
            # a folder of plain logs (an archive): every run found inside it
            if input_format is None and os.path.isdir(path):
                return gradlog.load_all(path, roles=roles or None, strict=strict)
            raise
    except GradlogError as exc:
        raise _Error(str(exc)) from exc


def _stdout_isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _use_color(flag: bool | None) -> bool:
    """``--color``/``--no-color`` decide; otherwise colour only on a TTY without NO_COLOR."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    return _stdout_isatty()


def _width() -> int:
    if not _stdout_isatty():
        return 80
    return max(60, min(shutil.get_terminal_size((80, 24)).columns, 120))


def _fail(reports: Sequence["Report"], fail_on: str | None) -> None:
    if fail_on is None:
        return
    worst = [r.max_severity for r in reports if r.max_severity is not None]
    if worst and max(severity_rank(s) for s in worst) >= severity_rank(fail_on):
        sys.exit(1)


@click.group(context_settings=CONTEXT)
@click.version_option(gradlog.__version__, "-V", "--version", prog_name="gradlog")
def main() -> None:
    """gradlog: what a training run did and why, from its log.

    Reads Caffe solver logs, CSV logs (PyTorch loops, Lightning, Keras, Ultralytics,
    timm), Hugging Face trainer_state.json, MLflow runs and TensorBoard event files.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "out_format", type=click.Choice(["text", "json", "markdown", "html"]),
              default="text", show_default=True, help="Report format.")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False), default=None,
              help="Write the report (report.txt/.json/.md/.html) and its figures into this "
                   "directory instead of printing it.")
@click.option("--fail-on", type=click.Choice(list(SEVERITIES)), default=None,
              help="Exit with 1 when a finding at or above this severity is found.")
@click.option("--role", "role_pairs", multiple=True, metavar="ROLE=TAG",
              help="Say which tag plays a role (loss, lr, val_loss, val_metric, grad_total, grad).")
@click.option("--input-format", default=None, metavar="NAME",
              help="Skip format detection (see `gradlog formats`).")
@click.option("--strict", is_flag=True, help="Treat any damage in the input as an error.")
@click.option("--color/--no-color", "color", default=None,
              help="Colour the terminal report (default: only on a terminal, and not when "
                   "NO_COLOR is set).")
def analyze(paths: tuple[str, ...], out_format: str, outdir: str | None, fail_on: str | None,
            role_pairs: tuple[str, ...], input_format: str | None, strict: bool,
            color: bool | None) -> None:
    """Analyse training logs and report what the curves did (one section per run)."""
    roles = _roles(role_pairs)
    reports = []
    for p in paths:
        for run in _load_runs(p, input_format, roles, strict):
            try:
                reports.append(gradlog.analyze(run))
            except GradlogError as exc:
                raise _Error(str(exc)) from exc
    try:
        _emit(reports, out_format, outdir, color)
    except OSError as exc:
        raise _Error(f"{exc.filename or outdir}: cannot write ({exc.strerror or exc})") from exc
    _fail(reports, fail_on)


def _emit(reports: list["Report"], out_format: str, outdir: str | None, color: bool | None) -> None:
    from gradlog.render.html import render_html
    from gradlog.render.jsonout import reports_json
    from gradlog.render.markdown import render_markdown
    from gradlog.render.text import render_text

    if outdir is None:
        if out_format == "json":
            click.echo(reports_json(reports))
        elif out_format == "markdown":
            click.echo(render_markdown(reports), nl=False)
        elif out_format == "html":
            click.echo(render_html(reports), nl=False)
        else:
            use = _use_color(color)
            click.echo(render_text(reports, color=use, width=_width()), nl=False, color=use)
        return
    d = Path(outdir)
    d.mkdir(parents=True, exist_ok=True)
    if out_format == "json":
        target = d / "report.json"
        target.write_text(reports_json(reports) + "\n", encoding="utf-8")
    elif out_format == "markdown":
        target = d / "report.md"
        target.write_text(render_markdown(reports, figures_dir=d / "figures"), encoding="utf-8")
    elif out_format == "html":
        target = d / "report.html"
        target.write_text(render_html(reports), encoding="utf-8")
    else:
        target = d / "report.txt"
        target.write_text(render_text(reports, color=False), encoding="utf-8")
    click.echo(f"wrote {target}", err=True)


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("-t", "--tags", "tag_args", multiple=True, metavar="TAG[,TAG...]",
              help="Tags to draw (repeat or comma-separate; default: loss, validation loss, LR).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Image file; the extension picks the type (.png, .svg, .pdf).")
@click.option("--kind", type=click.Choice(PLOT_KINDS), default="tags", show_default=True,
              help="tags: the chosen tags; overview / grad_norms / oscillation / first_order / "
                   "report: the report's figures with the findings drawn on them.")
@click.option("--logy/--linear", default=None, help="Log or linear y axis (default: from the data).")
@click.option("--dpi", type=click.IntRange(20, 600), default=100, show_default=True,
              help="Resolution of raster images (8 in wide: 800 px at 100 dpi).")
@click.option("--input-format", default=None, metavar="NAME", help="Skip format detection.")
def plot(path: str, tag_args: tuple[str, ...], output: str, kind: str, logy: bool | None, dpi: int,
         input_format: str | None) -> None:
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
            raise _Error(f"{run.name}: no tag {', '.join(map(repr, missing))}; "
                         f"tags are: {', '.join(run.tags)}")
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
                raise _Error(f"{run.name}: no {kind} figure for this log "
                             f"(available: {', '.join(figs)})")
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
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file: .csv (or .csv.gz) writes the long frame; .parquet needs pyarrow.")
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
    for name, desc in gradlog.formats():
        click.echo(f"{name:<14} {desc}")


# -- batch ------------------------------------------------------------------------

@main.command()
@click.argument("directory", type=click.Path(exists=True))
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(dir_okay=False),
              help="Summary CSV, one row per run (- for standard output).")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: the number of CPUs; 1 runs in this process). "
                   "With --dask local: the number of Dask workers.")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Run on Dask: a scheduler address (tcp://host:8786), or 'local' for a "
                   "cluster on this machine. Needs: pip install 'gradlog[dask]'.")
@click.option("--dask-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds to wait for a --dask scheduler to answer.")
@click.option("--fail-on", type=click.Choice(list(SEVERITIES)), default=None,
              help="Exit with 1 when a run has a finding at or above this severity.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar on standard error (default: when it is a terminal).")
def batch(directory: str, output: str, jobs: int | None, dask_address: str | None,
          dask_timeout: float, fail_on: str | None, progress: bool | None) -> None:
    """Analyse every run found under DIRECTORY and write a summary table.

    Runs are analysed in parallel processes (or on a Dask cluster with --dask); a file
    that cannot be read is recorded in the table (status "error") and never stops the
    batch.
    """
    if dask_address is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise _Error(f"--dask needs {DASK_MISSING}") from None
    try:
        refs = gradlog.discover(directory)
    except GradlogError as exc:
        raise _Error(str(exc)) from exc
    if not refs:
        raise _Error(f"{directory}: no training log found")
    show = progress if progress is not None else sys.stderr.isatty()
    bar_cm = (click.progressbar(length=len(refs), label="analysing", file=sys.stderr) if show
              else _NoBar())
    with bar_cm as bar:
        try:
            table = run_batch(refs, jobs=jobs, scheduler=dask_address,
                              progress=lambda row: bar.update(1), connect_timeout=dask_timeout)
        except GradlogError as exc:
            raise _Error(str(exc)) from exc
    try:
        if output == "-":
            _write_table(sys.stdout, table)
        else:
            with open(output, "w", newline="", encoding="utf-8") as fh:
                _write_table(fh, table)
    except OSError as exc:
        raise _Error(f"{output}: cannot write ({exc.strerror or exc})") from exc
    bad = int((table["status"] != "ok").sum())
    click.echo(f"{len(table)} runs, {len(table) - bad} analysed, {bad} could not be read"
               + (f"; summary in {output}" if output != "-" else ""), err=True)
    if fail_on is not None:
        worst = [severity_rank(s) for s in table["max_severity"] if s]
        if worst and max(worst) >= severity_rank(fail_on):
            sys.exit(1)


class _NoBar:
    """Stands in for a progress bar when none is shown."""

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        """Do nothing."""


def _write_table(fh: Any, table: "pd.DataFrame") -> None:
    table.to_csv(fh, index=False, columns=list(BATCH_COLUMNS), lineterminator="\n", na_rep="")


if __name__ == "__main__":  # pragma: no cover
    main()
