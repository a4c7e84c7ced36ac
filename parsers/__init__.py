"""Input formats: one module per format, listed in one explicit registry.

Every parser module exposes the same small surface:

``NAME``
    the format's name (``gradlog.load(path, format=NAME)``).
``DESCRIPTION``
    one line for ``gradlog formats``.
``sniff(source) -> bool``
    cheap, content-based recognition of a :class:`gradlog.frame.source.Source` (a file's
    first 64 KiB in ``source.head``, or a directory when ``source.is_dir``).
``read(source, *, strict=False) -> ParseResult``
    the whole input as the common frame plus meta; raises a ``GradlogError``
    subclass naming the file and what is wrong.
``split_runs(source) -> list[Path]`` (directory formats only, optional)
    the runs a directory holds (a TensorBoard log root, a ``lightning_logs/`` folder).
``superseded(path) -> bool`` (optional)
    True for a file that a more complete copy of the same run supersedes (a
    Hugging Face ``checkpoint-N/trainer_state.json``); discovery leaves it out.
``run_members(run_dir) -> list[Path]`` (directory formats only, optional)
    what a run directory owns (its files and phase folders); discovery searches the
    rest of the tree for runs of their own.
``table_header(source) -> (names, has_step_column) | None`` (generic tables, optional)
    for a file ``sniff`` accepted: the header's column names and whether one is a
    step axis. Discovery (:func:`gradlog.discovery.looks_like_run`) decides from them
    whether the table is a training log and not a dataset, predictions or a manifest;
    an archive search leaves the others out, while ``gradlog.load`` of the file itself
    still reads it.

The registry order is the detection order: specific formats before generic ones.
Parsers import only the frame contract (:mod:`gradlog.frame`: build, tags, source) and
:mod:`gradlog.errors`; the import-linter contracts in ``pyproject.toml`` check it.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

__all__ = ["REGISTRY", "all_parsers", "get_parser"]

#: Detection order: the first parser whose ``sniff`` accepts the input reads it.
REGISTRY: tuple[str, ...] = (
    "tensorboard",
    "caffe",
    "hf_trainer",
    "mlflow",
    "wandb",
    "lightning",
    "keras",
    "ultralytics",
    "timm",
    "caffe_parselog",
    "csv_long",
    "csv_wide",
)


@cache
def get_parser(name: str) -> ModuleType:
    """Return the parser module called ``name``.

    Raises
    ------
    gradlog.errors.GradlogError
        If no such format exists (the message lists the known formats).
    """
    from gradlog.errors import GradlogError

    if name not in REGISTRY:
        raise GradlogError(f"unknown format {name!r}; formats are: {', '.join(REGISTRY)}")
    return importlib.import_module(f"{__name__}.{name}")


def all_parsers() -> list[ModuleType]:
    """Return every parser module, in detection order."""
    return [get_parser(n) for n in REGISTRY]
