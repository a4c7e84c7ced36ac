"""Generic wide CSV: what a hand-written PyTorch training loop writes.

One row per logging event, one column per metric, for example::

    step,epoch,loss,lr,grad_norm/conv1,grad_norm/fc,val_loss
    0,0,2.31,0.1,0.52,0.31,
    1,0,2.12,0.1,0.61,0.35,
    ...
    99,0,0.71,0.1,0.93,0.41,0.83

* The step axis is the first column called ``step``, ``global_step``, ``iteration``,
  ``iter``, ``it``, ``batch`` or ``epoch`` whose values are integers (and mostly
  distinct), else the row index; ``meta["step_column"]`` and ``meta["step_unit"]`` say
  which.
* An empty cell means "not logged at this step": a ``val_loss`` column filled only on
  evaluation rows keeps only those rows. ``nan``, ``NaN``, ``inf``, ``-inf``,
  ``Infinity`` are values and are kept.
* A file that mixes per-step rows with per-epoch rows (no step, an epoch) keeps both:
  the per-epoch rows are put on the step axis at the last step of their epoch, and a
  column logged on both kinds of rows is split into ``<name>`` and ``<name>_epoch``.
* Separators ``,`` ``;`` and tab, quotes, a UTF-8 BOM, CRLF line ends, thousands of
  columns; a truncated last line (a run still writing) is skipped, counted in
  ``meta["truncated"]`` and ``meta["skipped"]`` and warned about. A ragged row (too
  few or too many fields) or a row with NUL bytes is skipped and counted with its line
  number (an error under ``strict``); a file with more such rows than good ones is a
  ParseError that names the first.
* A wall-clock column (``wall_time``, ``timestamp``, ``time`` ... holding Unix seconds,
  milliseconds or ISO date-times) fills the frame's ``wall_time``.
* ``hparams.yaml`` / ``hparams.json`` beside the file go to ``meta["hparams"]``.
"""

from __future__ import annotations

from gradlog.frame import ParseResult
from gradlog.frame.source import Source

from . import _tabular as tab

NAME = "csv_wide"
DESCRIPTION = "CSV with one column per metric (a PyTorch loop's log): step,loss,lr,..."

#: Hyperparameter files read from the log's directory, first found wins.
HPARAM_FILES = ("hparams.yaml", "hparams.yml", "hparams.json")


def sniff(source: Source) -> bool:
    """Return True for a text file whose first line is a header of column names over
    rows with numbers (the generic fallback: more specific CSV formats come first)."""
    return tab.sniff_table(source) is not None


def table_header(source: Source) -> tuple[list[str], bool] | None:
    """Return the header's column names and whether one of them is a step-like axis
    (``step``, ``iteration``, ``epoch`` ...), or None when the file is not a table.
    Discovery uses it to tell a training log from a dataset or a predictions file."""
    hdr = tab.sniff_table(source)
    if hdr is None:
        return None
    names = [n for n in hdr.names if n]
    return names, any(n.strip().lower() in tab.STEP_COLUMNS for n in names)


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read a wide CSV into the common frame.

    Returns
    -------
    ParseResult
        ``meta`` has ``step_column``, ``step_unit`` (``step``, ``iteration``, ``batch``,
        ``epoch`` or ``row``), ``rows``, ``columns``, ``separator``, ``skipped``,
        ``warnings``, ``restarts``, ``replaced_points`` and ``hparams``.

    Raises
    ------
    ParseError
        If the file is not a CSV table, or mostly ragged or binary (the message names
        the line).
    EmptyLogError
        If no row or no numeric column is found.
    DamagedInputError
        In strict mode, for anything that would be skipped.
    """
    frame, meta = tab.read_wide(source, step=True, strict=strict)
    hparams, warns, hp_file = tab.hparams_beside(
        source.path.parent if source.path is not None else None, HPARAM_FILES
    )
    meta["warnings"].extend(warns)
    if hp_file:
        meta["hparams_file"] = hp_file
    return ParseResult(frame, tab.finish_meta(meta, hparams=hparams))
