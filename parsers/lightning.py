"""PyTorch Lightning ``CSVLogger``: ``lightning_logs/version_N/metrics.csv`` (+ ``hparams.yaml``).

Lightning writes one row per ``log_metrics`` call with a ``step`` column (the global
step) and an ``epoch`` column, and leaves the other cells empty (sparse rows): a metric
logged with ``on_step=True`` appears as ``<name>_step`` every ``log_every_n_steps``
steps, one logged ``on_epoch=True`` as ``<name>_epoch`` on the epoch-end row, and
validation/test metrics on their own rows. Each column keeps only the rows where it has
a value; ``train_loss_step`` becomes the tag ``train/loss`` and ``train_loss_epoch``
``train/loss_epoch`` (see :mod:`gradlog.roles`); ``epoch`` becomes the tag
``train/epoch``.

What is read as Lightning:

* a ``version_N`` directory holding ``metrics.csv`` (one run);
* a directory whose sub-directories hold ``metrics.csv`` files (``lightning_logs/``:
  one run per version, see :func:`split_runs`);
* a CSV file with ``step`` and ``epoch`` columns that is called ``metrics.csv`` (or
  ``...metrics.csv``), or has ``*_step``/``*_epoch`` columns, or has ``hparams.yaml``
  beside it.

``hparams.yaml`` beside ``metrics.csv`` is read with PyYAML's safe loader (the
``!!python/...`` tags Lightning writes are kept as plain data, never executed) into
``meta["hparams"]``: nested keys flattened (``optimizer.lr``), the usual names added
(``lr``, ``batch_size``, ``momentum``, ``weight_decay``, ``max_epochs`` ...) and the
optimizer as a lower-case name (``optimizer: !!python/name:torch.optim.SGD ''`` ->
``sgd``; ``optimizer.class_path`` of a LightningCLI config too).

A ragged row is skipped and counted with its line number; a last line still being
written is dropped and counted in ``meta["truncated"]``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gradlog.errors import GradlogError, ParseError
from gradlog.frame import ParseResult
from gradlog.frame.listing import list_dir, walk_memoised
from gradlog.frame.source import Source

from . import _tabular as tab

NAME = "lightning"
DESCRIPTION = "PyTorch Lightning CSVLogger: lightning_logs/version_N/metrics.csv (+ hparams.yaml)"

METRICS_FILE = "metrics.csv"
HPARAMS_FILE = "hparams.yaml"
_VERSION_RE = re.compile(r"(\d+)")
_VERSION_DIR_RE = re.compile(r"version_(\d+)")


def _has_step_header(csv_path: str) -> bool:
    try:
        hdr = tab.sniff_table(Source.from_path(csv_path))
    except GradlogError:
        return False
    return hdr is not None and "step" in hdr.lower()


def _natural(p: Path) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in _VERSION_RE.split(p.name))


def _entries(d: str | Path) -> tuple[os.DirEntry[str], ...]:
    try:
        return list_dir(d)
    except OSError:
        return ()


def _is(entry: os.DirEntry[str], kind: str) -> bool:
    """``entry.is_dir()`` or ``entry.is_file()`` (symbolic links followed); False when
    it cannot be told."""
    try:
        return entry.is_dir() if kind == "dir" else entry.is_file()
    except OSError:
        return False


def _version_dirs(directory: str | Path) -> list[Path]:
    children = [e.path for e in _entries(directory) if not e.name.startswith(".") and _is(e, "dir")]
    return sorted((Path(c) for c in children if _is_version_dir(c)), key=_natural)


def _is_version_dir(directory: str | Path) -> bool:
    """``directory`` holds a ``metrics.csv`` with a ``step`` column (its listing and the
    file's header looked at once per discovery walk)."""
    return walk_memoised("lightning.is_version_dir", str(directory), _version_dir_check)


def _version_dir_check(directory: str) -> bool:
    if not any(e.name == METRICS_FILE and _is(e, "file") for e in _entries(directory)):
        return False
    return _has_step_header(os.path.join(directory, METRICS_FILE))


def sniff(source: Source) -> bool:
    """Return True for a Lightning version directory, a ``lightning_logs/`` folder of
    versions, or a ``metrics.csv`` with Lightning's ``step`` and ``epoch`` columns."""
    if source.is_dir:
        assert source.path is not None
        return _is_version_dir(source.path) or bool(_version_dirs(source.path))
    hdr = tab.sniff_table(source)
    if hdr is None:
        return False
    low = hdr.lower()
    if "step" not in low or "epoch" not in low:
        return False
    if source.suffix_name.lower().endswith(METRICS_FILE):
        return True
    if any(n.endswith(("_step", "_epoch")) for n in low if n not in ("step", "epoch")):
        return True
    return source.path is not None and (source.path.parent / HPARAMS_FILE).is_file()


def split_runs(source: Source) -> list[Path]:
    """Return the runs a directory holds: itself for a version directory, else one
    path per sub-directory holding a ``metrics.csv`` (``version_0``, ``version_1`` ...,
    in natural order)."""
    if not source.is_dir or source.path is None:
        return [source.path] if source.path is not None else []
    if _is_version_dir(source.path):
        return [source.path]
    return _version_dirs(source.path)


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read one Lightning run (a version directory or its ``metrics.csv``).

    Returns
    -------
    ParseResult
        ``meta``: ``step_unit`` ``step``, ``step_column`` ``step``, ``rows``, ``columns``,
        ``hparams`` (from ``hparams.yaml``), ``version`` (from the directory name), and the
        CSV reader's ``skipped``/``warnings``/``restarts``.

    Raises
    ------
    ParseError
        If a directory holds no ``metrics.csv`` or several versions, or the CSV cannot
        be read (the message names the line).
    """
    directory: Path | None
    if source.is_dir:
        assert source.path is not None
        directory = source.path
        if not (directory / METRICS_FILE).is_file():
            versions = _version_dirs(directory)
            if len(versions) != 1:
                raise ParseError(
                    f"{source.name}: {len(versions)} Lightning versions here; "
                    "read each version_N directory (gradlog.load_all)"
                )
            directory = versions[0]
        csv_source = Source.from_path(directory / METRICS_FILE)
    else:
        csv_source = source
        directory = source.path.parent if source.path is not None else None
    frame, meta = tab.read_wide(csv_source, step="step", strict=strict)
    hparams, warns, hp_file = tab.hparams_beside(directory, (HPARAMS_FILE,))
    meta["warnings"].extend(warns)
    if hp_file:
        meta["hparams_file"] = hp_file
    if directory is not None and (source.is_dir or csv_source.suffix_name == METRICS_FILE):
        m = _VERSION_DIR_RE.fullmatch(directory.name)
        if m:
            meta["version"] = int(m.group(1))
            meta["name"] = f"{directory.parent.name}/{directory.name}"
    return ParseResult(frame, tab.finish_meta(meta, hparams=hparams))
