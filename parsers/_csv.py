"""CSV tables (private): sniffing the header and reading the numeric columns.

The entry points, in three modules: sniffing here; the reading in
:mod:`parsers._csvread` (with :mod:`parsers._csvscan` and :mod:`parsers._csvcols`);
the cell spellings and caps in :mod:`parsers._csvtext`. Every name the parsers use is
importable from here.

* :func:`sniff_table` looks at the first 64 KiB: text, a header line of names, the
  separator (``,``, ``;`` or tab, and a decimal comma when ``;``-separated). A few
  lines with NUL bytes (damage) do not hide the table.
* :func:`read_table` reads the whole table with :func:`pandas.read_csv` (the C parser),
  after a linear scan of the bytes (:mod:`parsers._csvscan`) that finds ragged rows and
  rows with NUL bytes (skipped and counted with their line numbers; errors under
  ``strict``; a table with more bad rows than good ones is not read), a truncated last
  line (a run still writing: fields missing, a cell that is not a whole number, or a
  last cell no logger writes whole, ``1e-0`` or ``0.``: dropped and counted in
  ``meta["truncated"]``). A lone CR ends a line (as for pandas and Python's universal
  newlines): the data is read with such CRs made LFs.
  Empty cells mean "not logged here"; ``nan``/``inf`` spellings are values.

Caps (each with a clear error or a skip-and-count, and an environment variable that
raises it): column names longer than ``GRADLOG_MAX_TAG_LENGTH`` (default 1,024
characters) are skipped and counted; a header of more than ``GRADLOG_MAX_CSV_COLUMNS``
(default 65,536) fields is a ParseError.

This module imports only leaf modules of gradlog.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

from gradlog.errors import ParseError
from gradlog.frame.source import HEAD_BYTES, Source

from ._csvcols import Column
from ._csvread import Table, c_error, read_rows
from ._csvtext import (
    _COLS_ENV,
    _is_comma_number,
    _is_number,
    is_cut_number,
    is_number,
    max_columns,
    max_tag_length,
    text_bytes,
)
from ._csvtext import _COMMA_NUM_RE as _COMMA_NUM_RE  # the patterns, for the linearity tests
from ._csvtext import _NUM_RE as _NUM_RE

__all__ = [
    "Column",
    "Table",
    "TableHeader",
    "c_error",
    "is_cut_number",
    "is_number",
    "max_columns",
    "max_tag_length",
    "read_table",
    "sniff_table",
    "text_bytes",
]

_SEPARATORS = (",", ";", "\t")
_LETTER_RE = re.compile(r"[A-Za-z]")
_IDENT_RE = re.compile(r"[A-Za-z_][\w./\-]*")
_DOT_NUM_RE = re.compile(r"[-+]?\d*\.\d")
_LINE_SPLIT_RE = re.compile(r"\r\n|\r|\n")


# -- sniffing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TableHeader:
    """What the first 64 KiB say about a CSV table.

    Attributes
    ----------
    names : the column names, stripped of padding and quotes, in file order.
    sep : the field separator.
    decimal : the decimal mark (``,`` only in ``;``-separated tables that use it).
    header_line : 0-based index of the header line (after leading comments/blank lines).
    quoted : True when the head holds a double quote.
    first_rows : up to 5 data rows (lists of raw cells) from the head.
    """

    names: tuple[str, ...]
    sep: str
    decimal: str
    header_line: int
    quoted: bool
    first_rows: tuple[tuple[str, ...], ...]

    def lower(self) -> list[str]:
        """Return the names in lower case."""
        return [n.lower() for n in self.names]


#: Control characters other than tab, CR, LF and form feed (a binary file has them).
_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")


def _decode(raw: bytes) -> str | None:
    """Decode the head as text (lines holding NUL bytes blanked when they are a
    minority); None when it looks binary."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw:
        return None
    if b"\x00" in raw:
        lines = raw.split(b"\n")
        bad = sum(1 for ln in lines if b"\x00" in ln)
        if bad * 2 >= len([ln for ln in lines if ln.strip()]):
            return None
        raw = b"\n".join(b"" if b"\x00" in ln else ln for ln in lines)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 4 and len(raw) >= HEAD_BYTES - 4:
            text = raw[: exc.start].decode("utf-8")  # a character cut by the 64 KiB limit
        else:
            text = raw.decode("utf-8", errors="replace")
            if text.count("\ufffd") > max(2, len(text) // 100):
                return None
    if len(_CTRL_RE.findall(text, 0, 4096)) > 2:
        return None
    return text


def _split(line: str, sep: str) -> list[str]:
    if '"' in line:
        try:
            return next(csv.reader([line], delimiter=sep, quotechar='"'))
        except (csv.Error, StopIteration):
            return line.split(sep)
    return line.split(sep)


def _head_lines(source: Source) -> tuple[str, list[str]] | None:
    """The decoded head and its complete lines, or None when it is not text."""
    if source.is_dir:
        return None
    text = _decode(source.head)
    if text is None:
        return None
    lines = _LINE_SPLIT_RE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    if len(source.head) >= HEAD_BYTES and not text.endswith(("\n", "\r")):
        if len(lines) <= 1:
            return None  # one line longer than the head: no header we can see whole
        lines = lines[:-1]  # the last line may be cut by the 64 KiB limit
    return text, lines


def _names_ok(names: list[str]) -> bool:
    named = [n for n in names if n]
    if not named or any(_is_number(n) for n in named):
        return False
    return sum(1 for n in named if _LETTER_RE.search(n)) * 2 >= len(named)


def _rows_ok(names: list[str], rows: list[tuple[str, ...]], text: str) -> bool:
    if len(names) == 1:
        # one column: a plain identifier over numbers only
        return (
            _IDENT_RE.fullmatch(names[0]) is not None
            and len(rows) >= 2
            and all(len(r) == 1 and _is_number(r[0]) for r in rows)
        )
    if not rows:
        return True
    if not any(_is_number(c) or _is_comma_number(c) for r in rows for c in r):
        return False
    if any(len(r) == len(names) for r in rows):
        return True
    # nothing in the head lines up with the header: not a table we read, unless the
    # one data line is a truncated last line (a run that just started)
    return len(rows) == 1 and len(rows[0]) < len(names) and not text.endswith(("\n", "\r"))


def sniff_table(source: Source) -> TableHeader | None:
    """Return the header of a CSV table in ``source.head``, or None if it is not one.

    Computed once per Source (:meth:`Source.memoised`): every CSV format's ``sniff``
    and ``table_header`` ask it of the same head during detection and discovery.

    A table has a header line of names (at least half with a letter, none a number)
    and, unless the file is the header alone, a data line with at least one number
    that has the header's field count. Leading blank lines and ``#`` comment lines are
    skipped; lines with NUL bytes are ignored when they are a minority.
    """
    return source.memoised("csv.sniff_table", _sniff_table)


def _sniff_table(source: Source) -> TableHeader | None:
    got = _head_lines(source)
    if got is None:
        return None
    text, lines = got
    idx = 0
    while idx < len(lines) and (not lines[idx].strip() or lines[idx].lstrip().startswith("#")):
        idx += 1
    if idx >= len(lines) or idx > 50:
        return None
    header = lines[idx]
    data = [ln for ln in lines[idx + 1 : idx + 40] if ln.strip()][:8]
    sep = _choose_sep(header, data[:3])
    names = [n.strip().strip('"').strip() for n in _split(header, sep)]
    if not _names_ok(names):
        return None
    rows = [tuple(_split(ln, sep)) for ln in data[:5]]
    if not _rows_ok(names, rows, text):
        return None
    decimal = "."
    if (
        sep == ";"
        and rows
        and any(_is_comma_number(c) for r in rows for c in r)
        and not any(_DOT_NUM_RE.match(c.strip()) for r in rows for c in r)
    ):
        decimal = ","
    return TableHeader(
        names=tuple(names),
        sep=sep,
        decimal=decimal,
        header_line=idx,
        quoted='"' in text,
        first_rows=tuple(rows),
    )


def _choose_sep(header: str, data: list[str]) -> str:
    best, best_score = ",", -1
    for sep in _SEPARATORS:
        n = header.count(sep) if '"' not in header else len(_split(header, sep)) - 1
        if n == 0:
            continue
        agree = sum(1 for ln in data if len(_split(ln, sep)) - 1 == n)
        score = agree * 1000 + n
        if score > best_score:
            best, best_score = sep, score
    return best


def _header_of(source: Source, header: TableHeader | None) -> TableHeader:
    hdr = header or sniff_table(source)
    if hdr is None:
        head = source.head
        if b"\x00" in head:
            line = head.count(b"\n", 0, head.index(b"\x00")) + 1
            raise ParseError(f"{source.name}: line {line}: binary data (a NUL byte); not a CSV text file")
        raise ParseError(f"{source.name}: not a CSV table (no header line of column names)")
    if len(hdr.names) > max_columns():
        raise ParseError(
            f"{source.name}: {len(hdr.names)} columns, more than the limit of "
            f"{max_columns()} (set {_COLS_ENV} to read more)"
        )
    return hdr


def read_table(source: Source, header: TableHeader | None = None, *, strict: bool = False) -> Table:
    """Read a CSV table into numeric columns.

    Parameters
    ----------
    source : the file (or stream).
    header : what :func:`sniff_table` found (sniffed again when None).
    strict : raise instead of skipping a damaged row, a truncated last line or
        non-numeric cells.

    Returns
    -------
    Table

    Raises
    ------
    ParseError
        If the file is not a CSV table, has more ragged or binary rows than good ones
        (the message names the first line), an unterminated quote, or too many columns.
    EmptyLogError
        If the table has a header but no data row.
    DamagedInputError
        In strict mode, for a ragged or binary row, a truncated last line or a cell that
        is not a number.
    """
    return read_rows(source, _header_of(source, header), strict=strict)
