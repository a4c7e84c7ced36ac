"""From a path (or stream) to :class:`Run` objects: format detection and loading.

Finding the runs under an archive tree is :mod:`gradlog.discovery`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from gradlog.discovery import RunRef, discover, shown
from gradlog.errors import (
    DamagedInputError,
    EmptyLogError,
    GradlogError,
    MultipleRunsError,
    UnknownFormatError,
)
from gradlog.frame.source import Source
from gradlog.parsers import REGISTRY, all_parsers, get_parser
from gradlog.run import Run

__all__ = ["detect_format", "formats", "load", "load_all"]

PathOrStream = str | os.PathLike[str] | BinaryIO


def formats() -> list[tuple[str, str]]:
    """Return ``(name, description)`` of every supported format, in detection order."""
    return [(p.NAME, p.DESCRIPTION) for p in all_parsers()]


def _source(obj: PathOrStream) -> Source:
    if isinstance(obj, (str, os.PathLike)):
        return Source.from_path(obj)
    if hasattr(obj, "read"):
        return Source.from_stream(obj)  # type: ignore[arg-type]
    raise GradlogError(f"cannot read from a {type(obj).__name__}; give a path or a binary stream")


def _detect(source: Source) -> ModuleType:
    if not source.is_dir and not source.head:
        if source.head_error is not None:
            raise DamagedInputError(
                f"{source.name}: damaged {source.compression or 'gzip'} data, nothing could be decompressed ({source.head_error})"
            )
        raise EmptyLogError(f"{source.name}: empty file")
    for parser in all_parsers():
        if parser.sniff(source):
            return parser
    kind = "directory" if source.is_dir else "file"
    raise UnknownFormatError(
        f"{source.name}: not a training log gradlog can read (this {kind} matched none of "
        f"the formats tried: {', '.join(REGISTRY)})"
    )


def detect_format(path: PathOrStream) -> str:
    """Return the name of the format that reads ``path``.

    Raises
    ------
    UnknownFormatError
        If no format matches (the message lists the formats tried).
    EmptyLogError
        If the file is empty.
    DamagedInputError
        If the file is gzip data of which nothing decompresses.
    """
    return _detect(_source(path)).NAME


def _finish(parsed: Any, source: Source, fmt: str, roles: Mapping[str, Any] | None, name: str | None) -> Run:
    meta = dict(parsed.meta)
    meta.setdefault("source", str(source.path) if source.path is not None else source.name)
    meta["format"] = fmt
    run_name = name or meta.get("name") or (source.path.name if source.path else source.name)
    meta["name"] = run_name
    merged_roles = {**parsed.roles, **(roles or {})}
    return Run(parsed.frame, meta, merged_roles or None, name=str(run_name))


def load(
    path: PathOrStream | RunRef,
    *,
    format: str | None = None,
    roles: Mapping[str, Any] | None = None,
    strict: bool = False,
    name: str | None = None,
) -> Run:
    """Read one training run.

    Parameters
    ----------
    path : a log file (``.gz`` is decompressed transparently), a run directory, a
        folder holding one run whatever its format (an Ultralytics run folder with its
        ``results.csv``, an experiment folder with one log), an open binary stream, or a
        :class:`RunRef` from :func:`discover` (read as that one run, even a run directory
        some of whose subdirectories hold other runs).
    format : a format name (see :func:`formats`) to skip detection.
    roles : role overrides, e.g. ``{"loss": "my_loss"}`` (tag or source tag).
    strict : turn any damage (skipped records, truncation) into an error.
    name : the run's name in reports (default: the file or directory name).

    Returns
    -------
    Run

    Raises
    ------
    UnknownFormatError
        If no format recognises the input.
    MultipleRunsError
        If ``path`` is a directory holding several runs (the message names them; use
        :func:`load_all`).
    GradlogError
        Any other problem, with the file and what is wrong in the message.
    """
    if isinstance(path, RunRef):
        return _load(
            path.path, format=format or path.format, roles=roles, strict=strict, name=name, whole=False
        )
    return _load(path, format=format, roles=roles, strict=strict, name=name, whole=True)


def _load(
    path: PathOrStream,
    *,
    format: str | None,
    roles: Mapping[str, Any] | None,
    strict: bool,
    name: str | None,
    whole: bool,
) -> Run:
    """:func:`load`; with ``whole=False`` a run directory found by :func:`discover` is
    read as that one run even when some of its subdirectories hold runs of their own."""
    source = _source(path)
    try:
        parser = get_parser(format) if format else _detect(source)
    except UnknownFormatError:
        if not (source.is_dir and whole and source.path is not None):
            raise
        # a folder no format reads as a whole (an Ultralytics run folder, a folder of
        # logs): the one run discovery finds in it
        refs = discover(source.path)
        if len(refs) > 1:
            raise _several(source.path, [r.path for r in refs]) from None
        if not refs:
            raise
        return _load(refs[0].path, format=refs[0].format, roles=roles, strict=strict, name=name, whole=False)
    split = getattr(parser, "split_runs", None)
    if source.is_dir and split is not None and whole:
        runs = split(source)
        if len(runs) > 1:
            assert source.path is not None
            raise _several(source.path, [Path(r) for r in runs])
        if len(runs) == 1 and Path(runs[0]) != source.path:
            source = Source.from_path(runs[0])
    parsed = parser.read(source, strict=strict)
    return _finish(parsed, source, parser.NAME, roles, name)


def _several(folder: Path, runs: list[Path]) -> MultipleRunsError:
    def rel(p: Path) -> str:
        try:
            return p.relative_to(folder).as_posix() if p != folder else "."
        except ValueError:
            return str(p)

    listed = ", ".join(shown(rel(p)) for p in runs[:5])
    return MultipleRunsError(
        f"{shown(folder)}: holds {len(runs)} runs ({listed}{', ...' if len(runs) > 5 else ''}); "
        "use gradlog.load_all() or `gradlog batch`"
    )


def load_all(
    path: str | os.PathLike[str],
    *,
    roles: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> list[Run]:
    """Read every run under ``path`` (see :func:`discover`).

    Returns
    -------
    list of Run, in path order.

    Raises
    ------
    GradlogError
        If ``path`` holds no readable run, or one of the runs cannot be read (use
        ``gradlog batch`` to go on past bad files).
    """
    refs = discover(path)
    if not refs:
        raise UnknownFormatError(f"{path}: no training log found (formats tried: {', '.join(REGISTRY)})")
    return [load(r, roles=roles, strict=strict) for r in refs]
