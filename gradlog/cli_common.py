"""What every ``gradlog`` command shares: the exit codes, the one-line error, reading the
paths a command is given, role pairs, colour and width of the terminal, and the click
options that several commands declare (``--role``, ``--input-format``, ``--strict``,
``--color``, ``--fail-on``, ``--allow-errors``).

Exit codes, the same for every command: 0 ok; 1 a finding at or above ``--fail-on``; 2 bad
usage, or nothing readable at all; 3 some of several inputs could not be read
(``--allow-errors`` makes that 0). Precedence 2 > 3 > 1 > 0.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

import gradlog
from gradlog.errors import GradlogError, MultipleRunsError
from gradlog.findings import SEVERITIES
from gradlog.run import Run

__all__ = [
    "CONTEXT",
    "EXIT_OK",
    "EXIT_FAIL_ON",
    "EXIT_USAGE",
    "EXIT_SOME_UNREADABLE",
    "CliError",
    "allow_errors_option",
    "color_option",
    "exit_code",
    "fail_on_option",
    "input_format_option",
    "one_line",
    "parse_roles",
    "read_path",
    "role_option",
    "stdout_isatty",
    "strict_option",
    "terminal_width",
    "use_color",
]

EXIT_OK, EXIT_FAIL_ON, EXIT_USAGE, EXIT_SOME_UNREADABLE = 0, 1, 2, 3
#: The click context of every command: ``-h`` as well as ``--help``, help up to 100 columns.
CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

_F = TypeVar("_F", bound=Callable[..., Any])


def one_line(message: str) -> str:
    """Return ``message`` on one line: control characters (a newline in a file name)
    shown escaped."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


class CliError(click.ClickException):
    """A GradlogError (or bad usage) shown as one ``Error: ...`` line, exit code 2."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def exit_code(*, readable: int, unreadable: int, fail_met: bool, allow_errors: bool) -> int:
    """Return the exit code of a command that read ``readable`` runs and could not read
    ``unreadable`` inputs (2 > 3 > 1 > 0; see the module docstring)."""
    if readable == 0:
        return EXIT_USAGE
    if unreadable and not allow_errors:
        return EXIT_SOME_UNREADABLE
    if fail_met:
        return EXIT_FAIL_ON
    return EXIT_OK


def parse_roles(pairs: tuple[str, ...]) -> dict[str, str]:
    """Return ``{role: tag}`` from ``--role ROLE=TAG`` options.

    Raises
    ------
    click.BadParameter
        For a pair without ``=``.
    """
    out: dict[str, str] = {}
    for p in pairs:
        if "=" not in p:
            raise click.BadParameter(f"{p!r} is not ROLE=TAG (e.g. loss=my_loss)", param_hint="--role")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def read_path(
    path: str, input_format: str | None, roles: dict[str, str], strict: bool
) -> tuple[list[Run], list[str]]:
    """Load one path: ``(runs, messages of what could not be read)``.

    A directory holding several runs (or a folder of logs) gives every run found inside
    it; each run or log-like file that fails is one message, the others are still read.
    """
    r = roles or None
    if path == "-":  # standard input: read as a stream, nothing lost to detection
        try:
            stream = click.get_binary_stream("stdin")
            return [gradlog.load(stream, format=input_format, roles=r, strict=strict, name="stdin")], []
        except GradlogError as exc:
            return [], [str(exc)]
    try:
        return [gradlog.load(path, format=input_format, roles=r, strict=strict)], []
    except GradlogError as exc:
        if not os.path.isdir(path) or (input_format is not None and not isinstance(exc, MultipleRunsError)):
            return [], [str(exc)]
    except OSError as exc:  # e.g. a file removed or made unreadable while it was read
        return [], [f"{exc.filename or path}: cannot read ({exc.strerror or exc})"]
    from gradlog.discovery import survey

    try:
        found = survey(path)
    except GradlogError as exc:
        return [], [str(exc)]
    runs: list[Run] = []
    failures = [u.reason for u in found.unread if u.status == "error"]
    for ref in found.runs:
        try:
            runs.append(gradlog.load(ref, roles=r, strict=strict))
        except GradlogError as exc:
            failures.append(str(exc))
        except OSError as exc:
            failures.append(f"{exc.filename or ref.path}: cannot read ({exc.strerror or exc})")
    if not runs and not failures:
        failures.append(f"{path}: no training log found")
    return runs, failures


def stdout_isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def use_color(flag: bool | None) -> bool:
    """``--color``/``--no-color`` decide; otherwise colour only on a TTY without NO_COLOR."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    return stdout_isatty()


def terminal_width() -> int:
    """Return the width to render for: the terminal's (60-120), or 80 when not a terminal."""
    if not stdout_isatty():
        return 80
    return max(60, min(shutil.get_terminal_size((80, 24)).columns, 120))


# -- options that several commands declare -------------------------------------------------


def role_option() -> Callable[[_F], _F]:
    """Return the ``--role ROLE=TAG`` option (repeatable; read it with :func:`parse_roles`)."""
    return click.option(
        "--role",
        "role_pairs",
        multiple=True,
        metavar="ROLE=TAG",
        help="Say which tag plays a role (loss, lr, val_loss, val_metric, grad_total, grad).",
    )


def input_format_option(help: str = "Skip format detection (see `gradlog formats`).") -> Callable[[_F], _F]:
    """Return the ``--input-format NAME`` option, with ``help`` as its help text."""
    return click.option("--input-format", default=None, metavar="NAME", help=help)


def strict_option() -> Callable[[_F], _F]:
    """Return the ``--strict`` flag: any damage in the input is an error."""
    return click.option("--strict", is_flag=True, help="Treat any damage in the input as an error.")


def color_option(help: str) -> Callable[[_F], _F]:
    """Return the ``--color/--no-color`` option (default None; read it with :func:`use_color`)."""
    return click.option("--color/--no-color", "color", default=None, help=help)


def fail_on_option(
    help: str = "Exit with 1 when a run has a finding at or above this severity.",
) -> Callable[[_F], _F]:
    """Return the ``--fail-on SEVERITY`` option (default None), with ``help`` as its help text."""
    return click.option("--fail-on", type=click.Choice(list(SEVERITIES)), default=None, help=help)


def allow_errors_option(help: str) -> Callable[[_F], _F]:
    """Return the ``--allow-errors`` flag, with ``help`` as its help text."""
    return click.option("--allow-errors", is_flag=True, help=help)
