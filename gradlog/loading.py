"""From a path (or stream) to :class:`Run` objects: format detection, discovery, loading."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from gradlog.errors import DamagedInputError, EmptyLogError, GradlogError, MultipleRunsError, UnknownFormatError
from gradlog.parsers import REGISTRY, all_parsers, get_parser
from gradlog.run import Run
from gradlog.source import Source

__all__ = ["load", "load_all", "discover", "detect_format", "formats", "RunRef"]

PathOrStream = str | os.PathLike[str] | BinaryIO


@dataclass(frozen=True)
class RunRef:
    """A run found on disk: where it is and which format reads it."""

    path: Path
    format: str


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
                f"{source.name}: damaged gzip data, nothing could be decompressed "
                f"({source.head_error})")
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


def _finish(parsed: Any, source: Source, fmt: str, roles: Mapping[str, Any] | None,
            name: str | None) -> Run:
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
    path : a log file (``.gz`` is decompressed transparently), a run directory, an
        open binary stream, or a :class:`RunRef` from :func:`discover` (read as that one
        run, even a run directory some of whose subdirectories hold other runs).
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
        If ``path`` is a directory holding several runs (use :func:`load_all`).
    GradlogError
        Any other problem, with the file and what is wrong in the message.
    """
    if isinstance(path, RunRef):
        return _load(path.path, format=format or path.format, roles=roles, strict=strict,
                     name=name, whole=False)
    return _load(path, format=format, roles=roles, strict=strict, name=name, whole=True)


def _load(path: PathOrStream, *, format: str | None, roles: Mapping[str, Any] | None,
          strict: bool, name: str | None, whole: bool) -> Run:
    """:func:`load`; with ``whole=False`` a run directory found by :func:`discover` is
    read as that one run even when some of its subdirectories hold runs of their own."""
    source = _source(path)
    parser = get_parser(format) if format else _detect(source)
    split = getattr(parser, "split_runs", None)
    if source.is_dir and split is not None and whole:
        runs = split(source)
        if len(runs) > 1:
            raise MultipleRunsError(
                f"{source.name}: holds {len(runs)} runs ({', '.join(p.name for p in runs[:5])}"
                f"{', ...' if len(runs) > 5 else ''}); use gradlog.load_all() or `gradlog batch`"
            )
        if len(runs) == 1 and Path(runs[0]) != source.path:
            source = Source.from_path(runs[0])
    parsed = parser.read(source, strict=strict)
    return _finish(parsed, source, parser.NAME, roles, name)


def discover(path: str | os.PathLike[str]) -> list[RunRef]:
    """Find every run under ``path`` (a file, a run directory, or an archive tree).

    Directories a format reads as a whole (TensorBoard run directories, Lightning
    version folders, MLflow runs) are one run each; other files are sniffed one by one.
    Hidden files and directories are skipped. Files no format recognises are left out,
    and so are tables the generic CSV format would read but that have neither a step-like
    column nor a loss, LR, validation or gradient column (datasets, predictions,
    manifests); ``gradlog.load`` of such a file still reads it.

    Returns
    -------
    list of RunRef, sorted by path.

    Raises
    ------
    GradlogError
        If ``path`` does not exist.
    """
    root = Path(path)
    if not root.exists():
        raise GradlogError(f"{root}: no such file or directory")
    found: list[RunRef] = []
    if root.is_file():
        try:
            found.append(RunRef(root, detect_format(root)))
        except GradlogError:
            pass
        return found
    _walk(root, found, set())
    return sorted(found, key=lambda r: str(r.path))


def _walk(directory: Path, found: list[RunRef], seen: set[Path]) -> None:
    """Add the runs under ``directory`` to ``found`` (``seen``: their paths).

    When a format reads ``directory`` (a run directory or a root of runs), its runs are
    taken, and the rest of the directory is still searched: a run's own files and part
    folders (a parser's optional ``run_members(run_dir)``; the whole directory for
    formats without it) are left alone, other subdirectories may hold runs of other
    formats (a CSV log beside a TensorBoard run, a ``version_1`` with ``metrics.csv``
    beside a ``version_0`` with event files).
    """
    src = Source.from_path(directory)
    covered: set[Path] = set()
    for parser in all_parsers():
        if not parser.sniff(src):
            continue
        split = getattr(parser, "split_runs", None)
        members = getattr(parser, "run_members", None)
        runs = [Path(r) for r in split(src)] if split is not None else [directory]
        for r in runs:
            if r not in seen:
                seen.add(r)
                found.append(RunRef(r, parser.NAME))
            if members is not None and r.is_dir():
                covered.update(Path(m) for m in members(r))
            else:
                covered.add(r)
        break
    if directory in covered:
        return
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        p = Path(entry.path)
        if entry.name.startswith(".") or p in covered:
            continue
        if entry.is_dir(follow_symlinks=False):
            _walk(p, found, seen)
        elif entry.is_file():
            _add_file(p, found, seen)


def _add_file(p: Path, found: list[RunRef], seen: set[Path]) -> None:
    try:
        s = Source.from_path(p)
        if not s.head:
            return
        for parser in all_parsers():
            if parser.sniff(s):
                superseded = getattr(parser, "superseded", None)
                if superseded is not None and superseded(p):
                    break  # an older copy of a run listed through its latest copy
                plausible = getattr(parser, "plausible_run", None)
                if plausible is not None and not plausible(s):
                    break  # a table that is not a training log (a dataset, a manifest)
                if p not in seen:
                    seen.add(p)
                    found.append(RunRef(p, parser.NAME))
                break
    except GradlogError:
        return


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
