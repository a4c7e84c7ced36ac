"""The text of CSV cells (private): number spellings, absent-cell words and the caps.

The leaf the CSV modules share (:mod:`parsers._csv` sniffs with it and re-exports it,
:mod:`parsers._csvread` reads with it): :func:`is_number` and :func:`is_cut_number`
(their patterns written without nested or ambiguous quantifiers, linear on any input),
the spellings read as an absent cell, :func:`text_bytes`, and the caps on tag length and
column count, each raised by an environment variable.

This module imports only leaf modules of gradlog.
"""

from __future__ import annotations

import os
import re

from gradlog.errors import ParseError

__all__ = ["is_cut_number", "is_number", "max_columns", "max_tag_length", "text_bytes"]

# Numbers, written without nested or ambiguous quantifiers (linear on any input).
_NUM_RE = re.compile(
    r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)", re.IGNORECASE
)
_COMMA_NUM_RE = re.compile(r"[-+]?\d+,\d+(?:[eE][-+]?\d+)?")
_ABSENT = ["", "None", "none", "NONE", "null", "NULL", "Null", "NA", "N/A", "n/a", "<NA>", "nil"]
_TAG_ENV = "GRADLOG_MAX_TAG_LENGTH"
_COLS_ENV = "GRADLOG_MAX_CSV_COLUMNS"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParseError(f"{name}={raw!r} is not a whole number") from None
    if value <= 0:
        raise ParseError(f"{name}={raw!r} must be positive")
    return value


def max_tag_length() -> int:
    """The longest column name / tag read (``$GRADLOG_MAX_TAG_LENGTH``, default 1,024)."""
    return _env_int(_TAG_ENV, 1024)


def max_columns() -> int:
    """The most fields a CSV header may have (``$GRADLOG_MAX_CSV_COLUMNS``, default 65,536)."""
    return _env_int(_COLS_ENV, 65536)


def text_bytes(data: bytes, name: str) -> bytes:
    """Return CSV bytes without a UTF-8 BOM.

    Raises
    ------
    ParseError
        If the data holds a NUL byte (a binary file), naming the line.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise ParseError(f"{name}: line {line}: binary data (a NUL byte); not a CSV text file")
    return data


def _is_number(cell: str) -> bool:
    return _NUM_RE.fullmatch(cell.strip()) is not None


def is_number(cell: str) -> bool:
    """Return True when ``cell`` (blanks around it ignored) spells one number: decimal,
    exponent, ``nan``/``inf``/``infinity`` in any case."""
    return _is_number(cell)


def _is_comma_number(cell: str) -> bool:
    return _COMMA_NUM_RE.fullmatch(cell.strip()) is not None


def is_cut_number(cell: str) -> bool:
    """Return True for a number that reads as one but that no logger writes whole: one
    ending in its decimal point (``0.`` of ``0.05``) or with the lone exponent digit 0
    (``1e-0`` of ``1e-05``: printf and Python write at least two exponent digits, and
    an exponent of zero is never written). Only the last cell of a last line without
    its newline is tested with it (a record being written), where such a value is a
    number cut short, not a value to keep."""
    c = cell.strip().strip('"').lower()
    if not c or not _is_number(c) or c.endswith(("nan", "inf", "infinity")):
        return False
    if c.endswith("."):
        return True
    e = c.rfind("e")
    return e >= 0 and c[e + 1 :].lstrip("+-") == "0"
