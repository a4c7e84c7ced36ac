"""The ``gradlog`` command line: a thin layer over the library.

Exit codes: 0 ok; 1 a finding at or above ``--fail-on``; 2 bad usage or unreadable
input (one ``Error: ...`` line, no traceback).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

import gradlog
from gradlog.errors import GradlogError
from gradlog.findings import SEVERITIES, severity_rank

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


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


def _load(path: str, input_format: str | None, roles: dict[str, str], strict: bool) -> gradlog.Run:
    try:
        return gradlog.load(path, format=input_format, roles=roles or None, strict=strict)
    except GradlogError as exc:
        raise _Error(str(exc)) from exc


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
              help="Write the report (and its figures) into this directory.")
@click.option("--fail-on", type=click.Choice(list(SEVERITIES)), default=None,
              help="Exit with 1 when a finding at or above this severity is found.")
@click.option("--role", "role_pairs", multiple=True, metavar="ROLE=TAG",
              help="Say which tag plays a role (loss, lr, val_loss, val_metric, grad_total, grad).")
@click.option("--input-format", default=None, metavar="NAME",
              help="Skip format detection (see `gradlog formats`).")
@click.option("--strict", is_flag=True, help="Treat any damage in the input as an error.")
@click.option("--no-color", is_flag=True, help="Never colour the terminal output.")
def analyze(paths: tuple[str, ...], out_format: str, outdir: str | None, fail_on: str | None,
            role_pairs: tuple[str, ...], input_format: str | None, strict: bool,
            no_color: bool) -> None:
    """Analyse one or more training logs and report what the curves did."""
    roles = _roles(role_pairs)
    reports = []
    for p in paths:
        run = _load(p, input_format, roles, strict)
        try:
            reports.append(gradlog.analyze(run))
        except GradlogError as exc:
            raise _Error(str(exc)) from exc
    _emit(reports, out_format, outdir, no_color)
    if fail_on is not None:
        worst = [r.max_severity for r in reports if r.max_severity is not None]
        if worst and max(severity_rank(s) for s in worst) >= severity_rank(fail_on):
            sys.exit(1)


def _emit(reports: list[Any], out_format: str, outdir: str | None, no_color: bool) -> None:
    from gradlog.render.jsonout import reports_json
    from gradlog.render.text import render_text

    if out_format == "json":
        text = reports_json(reports)
        if outdir:
            Path(outdir).mkdir(parents=True, exist_ok=True)
            (Path(outdir) / "report.json").write_text(text + "\n", encoding="utf-8")
        click.echo(text)
        return
    if out_format in ("markdown", "html"):
        raise _Error(f"--format {out_format} is not available in this version")
    color = (not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty())
    click.echo(render_text(reports, color=color), nl=False)


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file: .csv (or .csv.gz) writes the long frame.")
@click.option("--input-format", default=None, metavar="NAME", help="Skip format detection.")
@click.option("--strict", is_flag=True, help="Treat any damage in the input as an error.")
def convert(path: str, output: str, input_format: str | None, strict: bool) -> None:
    """Write a log as the tidy long table (tag, step, value, wall_time, source_tag)."""
    from gradlog.export import write_frame

    run = _load(path, input_format, {}, strict)
    try:
        n = write_frame(run, output)
    except GradlogError as exc:
        raise _Error(str(exc)) from exc
    click.echo(f"wrote {n} rows ({len(run.tags)} tags) to {output}", err=True)


@main.command("formats")
def formats_cmd() -> None:
    """List the input formats gradlog reads, in detection order."""
    for name, desc in gradlog.formats():
        click.echo(f"{name:<14} {desc}")


if __name__ == "__main__":  # pragma: no cover
    main()
