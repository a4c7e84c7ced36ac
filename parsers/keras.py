"""Keras ``CSVLogger``: ``epoch,<metrics in alphabetical order>`` (``training.log``).

Keras writes one row per epoch: the ``epoch`` column (0-based) then every entry of
``logs`` sorted by name (``acc``/``accuracy``, ``loss``, ``lr``/``learning_rate``,
``val_*``), separated by ``,`` (or the ``separator`` the user chose, often ``;``).
The step axis is the epoch (``meta["step_unit"] == "epoch"``).

Recognised by the header: ``epoch`` first, the other names in sorted order, no other
step-like column and no ``group/name`` columns (those are Ultralytics').

The CSVLogger writes no settings: ``meta["hparams"]`` has ``optimizer``, ``momentum`` and
``weight_decay`` as None (an ``lr``/``learning_rate`` column is read as the series
``train/lr``). A ragged row is skipped and counted with its line number; a last line
still being written is dropped and counted in ``meta["truncated"]``.
"""

from __future__ import annotations

from gradlog.frame import ParseResult
from gradlog.frame.source import Source

from . import _tabular as tab

NAME = "keras"
DESCRIPTION = "Keras CSVLogger: epoch,loss,val_loss,...,lr (',' or ';' separated)"


def sniff(source: Source) -> bool:
    """Return True for a CSV whose header is ``epoch`` followed by sorted metric names."""
    hdr = tab.sniff_table(source)
    if hdr is None or len(hdr.names) < 2 or hdr.names[0].lower() != "epoch":
        return False
    rest = list(hdr.names[1:])
    low = [n.lower() for n in rest]
    if any(n in tab.STEP_COLUMNS or "/" in n or not n for n in low):
        return False
    if "train_loss" in low and any(n.startswith("eval_") for n in low):
        return False  # timm's summary.csv
    return rest == sorted(rest)


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read a Keras CSVLogger file; the step is the epoch.

    Returns
    -------
    ParseResult

    Raises
    ------
    ParseError
        If the file cannot be read as a table (the message names the line) or the
        ``epoch`` column is not integer.
    """
    frame, meta = tab.read_wide(source, step="epoch", strict=strict)
    return ParseResult(frame, tab.finish_meta(meta))
