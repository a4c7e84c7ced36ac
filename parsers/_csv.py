"""CSV tables (private): sniffing the header and reading the numeric columns.

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
import io
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gradlog.errors import DamagedInputError, EmptyLogError, ParseError
from gradlog.frame.source import HEAD_BYTES, Source

from . import _csvscan
from ._csvcols import Column, numeric_columns
from ._jsondoc import note_truncated

__all__ = [
    "Column",
    "Table",
    "TableHeader",
    "c_error",
    "max_columns",
    "max_tag_length",
    "read_table",
    "sniff_table",
    "text_bytes",
]

_SEPARATORS = (",", ";", "\t")
# Numbers, written without nested or ambiguous quantifiers (linear on any input).
_NUM_RE = re.compile(
    r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)", re.IGNORECASE
)
_COMMA_NUM_RE = re.compile(r"[-+]?\d+,\d+(?:[eE][-+]?\d+)?")
_LETTER_RE = re.compile(r"[A-Za-z]")
_IDENT_RE = re.compile(r"[A-Za-z_][\w./\-]*")
_DOT_NUM_RE = re.compile(r"[-+]?\d*\.\d")
_LINE_SPLIT_RE = re.compile(r"\r\n|\r|\n")
_C_ERROR_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_EOF_QUOTE_RE = re.compile(r"EOF inside string starting at row (\d+)")
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


# -- reading -----------------------------------------------------------------------------


@dataclass
class Table:
    """A CSV table read into numeric columns.

    Attributes
    ----------
    columns : the numeric columns in file order.
    nrows : number of data rows kept.
    first_line : 1-based line number of the first data row (for messages).
    text_columns : columns skipped because they hold text, not numbers.
    wall_time : Unix seconds per row when a wall-clock column was found, else None.
    wall_column : that column's name.
    meta : ``skipped`` counts, ``warnings``, ``separator`` ...
    skipped_lines : 1-based line numbers of the data rows skipped before parsing
        (sorted), to name the line of a parsed row (:meth:`line_of`).
    """

    columns: list[Column]
    nrows: int
    first_line: int
    header: TableHeader
    text_columns: list[str] = field(default_factory=list)
    wall_time: np.ndarray | None = None
    wall_column: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    skipped_lines: np.ndarray | None = None

    def get(self, name: str) -> Column | None:
        """Return the first column called ``name`` (case-insensitive), or None."""
        low = name.lower()
        for c in self.columns:
            if c.name.lower() == low:
                return c
        return None

    def line_of(self, row: int) -> int:
        """Return the 1-based file line of parsed data row ``row`` (skipped rows
        accounted for; blank lines are not)."""
        line = self.first_line + row
        if self.skipped_lines is None or not len(self.skipped_lines):
            return line
        k = 0
        while True:
            k2 = int(np.searchsorted(self.skipped_lines, line + k, side="right"))
            if k2 == k:
                return line + k
            k = k2


@dataclass
class _Plan:
    """What the scan decided: rows to skip, whether to drop the last line, and where
    pandas reads from."""

    skip_records: list[int]
    bad: list[_csvscan.BadRow]
    drop_last: bool
    data: bytes | None
    blank: int
    scanned: int = 0  # bytes the scan saw (pandas reads no more: a file still growing)
    rows: int = 1  # at most this many data rows (0: none, pandas need not run)


def _scan(source: Source, hdr: TableHeader, ncols: int, precise: bool) -> tuple[_csvscan.Scan, bytes | None]:
    """Scan the bytes; return the scan and the bytes when they were read whole."""
    data: bytes | None = None
    try:
        if source.path is not None and not source.compressed and not hdr.quoted:
            # a plain file: scan it in blocks; pandas reads it from the path
            scan = _csvscan.scan_bytes(
                _csvscan.chunks(source), hdr.sep, ncols, hdr.header_line, precise=precise
            )
            if not scan.bad and not scan.bare_cr:
                return scan, None
            data = source.read_bytes()  # look again, precisely (quotes further down?)
        else:
            data = source.read_bytes()
    except OSError as exc:
        raise ParseError(f"{source.name}: cannot read ({exc})") from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = _bare_cr_to_lf(data)
    if b'"' in data:
        try:
            scan = _csvscan.scan_quoted(
                data.decode("utf-8", errors="replace"), hdr.sep, ncols, hdr.header_line
            )
        except ParseError as exc:
            raise ParseError(f"{source.name}: {exc}") from None
    else:
        scan = _csvscan.scan_bytes([memoryview(data)], hdr.sep, ncols, hdr.header_line, precise=precise)
    return scan, data


_BARE_CR_RE = re.compile(rb"\r(?!\n)")


def _bare_cr_to_lf(data: bytes) -> bytes:
    """Return ``data`` with every CR not followed by LF made an LF.

    pandas' C parser ends a line at a lone CR (old Mac line ends, or a stray CR in a
    damaged row), the scan only at LF: without this, the two number the records
    differently, a skipped ragged row is not the row pandas skips, and pandas widens the
    table to the fields of the row it was not told to skip (a 200 KB row of 100,000
    fields took 70 s). A lone CR counts as a line end in the line numbers of warnings,
    as in Python's universal newlines and in editors.
    """
    if b"\r" not in data or data.count(b"\r") == data.count(b"\r\n"):
        return data
    return _BARE_CR_RE.sub(b"\n", data)


def _bad_message(b: _csvscan.BadRow, ncols: int) -> str:
    if b.kind == "nul":
        return f"line {b.line}: binary data (a NUL byte)"
    return f"line {b.line}: {b.fields} fields where the header has {ncols}"


def _plan(
    source: Source, hdr: TableHeader, ncols: int, meta: dict[str, Any], *, strict: bool, precise: bool = False
) -> _Plan:
    """Scan, then decide what is skipped (counted in ``meta``) and what is an error.

    Raises
    ------
    ParseError
        If bad rows outnumber the good ones (not a table we read).
    DamagedInputError
        In strict mode, for any bad row or a truncated last line.
    """
    scan, data = _scan(source, hdr, ncols, precise)
    drop_last = False
    cut = _cut_last_line(scan, hdr, ncols)
    if cut is not None and scan.nlines > hdr.header_line + 1:
        drop_last = True
        msg = f"line {scan.nlines}: truncated last line ({cut}; a run still writing?) skipped"
        if strict:
            raise DamagedInputError(f"{source.name}: {msg}")
        meta["skipped"]["truncated_last_line"] = 1
        note_truncated(meta, 1, msg)
    bad = scan.bad
    if bad:
        kept = scan.nlines - hdr.header_line - 1 - len(bad) - scan.blank - int(drop_last)
        if strict or len(bad) > max(kept, 0):
            err = DamagedInputError if strict else ParseError
            tail = "; not a CSV text file" if bad[0].kind == "nul" else " (a ragged table)"
            raise err(f"{source.name}: {_bad_message(bad[0], ncols)}{tail}")
        _count_bad(meta, bad, ncols)
    if scan.blank:
        meta["skipped"]["blank_lines"] = scan.blank
    skip = [b.record for b in bad]
    if drop_last and scan.last_has_nul:
        skip.append(scan.last_record)
    rows = scan.nlines - hdr.header_line - 1 - len(bad) - scan.blank - int(drop_last)
    return _Plan(skip, bad, drop_last and not scan.last_has_nul, data, scan.blank, scan.nbytes, rows)


def _cut_last_line(scan: _csvscan.Scan, hdr: TableHeader, ncols: int) -> str | None:
    """Why the last line (without its newline) is an incomplete record, or None when it
    is complete: too few fields, a NUL byte, or a cell that is not a number where the
    first rows have one (a number cut in the middle, ``1e-`` of ``1e-05``), or a last cell
    that is a number no logger writes whole (``1e-0``, ``0.``: :func:`is_cut_number`)."""
    if scan.ends_with_newline:
        return None
    if scan.last_has_nul:
        return "a NUL byte"
    if ncols > 1 and 0 <= scan.last_fields < ncols:
        return f"{scan.last_fields} of {ncols} fields"
    cells = scan.last_cells or []
    for i, cell in enumerate(cells[:ncols]):
        c = cell.strip().strip('"')
        if i == len(cells) - 1 and hdr.decimal != "," and is_cut_number(c):
            return f"{c[:20]!r} in column {i + 1} is a number cut short"
        if not c or c in _ABSENT or _is_number(c) or (hdr.decimal == "," and _is_comma_number(c)):
            continue
        if any(i < len(r) and _is_number(r[i]) for r in hdr.first_rows):
            return f"{c[:20]!r} in column {i + 1} is not a complete number"
    return None


def _count_bad(meta: dict[str, Any], bad: list[_csvscan.BadRow], ncols: int) -> None:
    ragged = [b for b in bad if b.kind == "ragged"]
    nul = [b for b in bad if b.kind == "nul"]
    for rows, key, what in (
        (ragged, "ragged_rows", "ragged row(s)"),
        (nul, "binary_rows", "row(s) with binary data (NUL bytes)"),
    ):
        if not rows:
            continue
        meta["skipped"][key] = len(rows)
        listed = "; ".join(_bad_message(b, ncols) for b in rows[:10])
        more = f"; and {len(rows) - 10} more" if len(rows) > 10 else ""
        meta["warnings"].append(f"{len(rows)} {what} skipped ({listed}{more})")


def _read_csv(source: Source, hdr: TableHeader, ncols: int, plan: _Plan) -> pd.DataFrame:
    """Parse with pandas' C parser, skipping the planned rows.

    Raises
    ------
    ParseError
        If pandas cannot read it (a ragged row the scan did not see is reported by
        the caller's rescan).
    """
    skip: Any = hdr.header_line + 1
    if plan.skip_records:
        skip = set(range(hdr.header_line + 1)) | set(plan.skip_records)
    kwargs: dict[str, Any] = {
        "sep": hdr.sep if ncols > 1 else ",",
        "decimal": hdr.decimal,
        "header": None,
        "names": list(range(ncols)),
        "skiprows": skip,
        "keep_default_na": False,
        "na_values": _ABSENT,
        "quotechar": '"',
        "skip_blank_lines": True,
        "encoding": "utf-8",
        "encoding_errors": "replace",
        "engine": "c",
        "index_col": False,
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if plan.data is None:
                return pd.read_csv(source.path, **kwargs)
            return pd.read_csv(io.BytesIO(plan.data), **kwargs)
    except pd.errors.EmptyDataError:
        return pd.DataFrame({i: pd.Series([], dtype="float64") for i in range(ncols)})
    except (ValueError, OverflowError, UnicodeError, MemoryError) as exc:
        if isinstance(exc, pd.errors.ParserError):
            raise
        raise ParseError(f"{source.name}: cannot read as a CSV table ({exc})") from None


def _freeze_growth(source: Source, plan: _Plan, meta: dict[str, Any]) -> None:
    """When a file read from its path grew after the scan (a run still writing), read
    only the bytes the scan saw, so that the table is one consistent snapshot."""
    if plan.data is not None or source.path is None:
        return
    try:
        size = os.path.getsize(source.path)
        if size <= plan.scanned:
            return
        with open(source.path, "rb") as fh:
            plan.data = fh.read(plan.scanned)
    except OSError as exc:
        raise ParseError(f"{source.name}: cannot read ({exc})") from exc
    meta["warnings"].append(
        f"the file grew while it was read (a run still writing): the "
        f"{size - plan.scanned} byte(s) appended were not read"
    )


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
    hdr = _header_of(source, header)
    ncols = len(hdr.names)
    meta: dict[str, Any] = {"separator": hdr.sep, "skipped": {}, "warnings": []}
    if hdr.decimal != ".":
        meta["decimal"] = hdr.decimal
    plan = _plan(source, hdr, ncols, meta, strict=strict)
    if plan.rows <= 0:  # (pandas takes seconds to build an empty table of 50,000 columns)
        raise EmptyLogError(f"{source.name}: the table has a header but no data rows")
    _freeze_growth(source, plan, meta)
    try:
        df = _read_csv(source, hdr, ncols, plan)
    except pd.errors.ParserError as exc:
        # a row the quick scan could not see (a long row and a short one cancelling out
        # in one block): count every line and try again
        meta = {
            "separator": hdr.sep,
            "skipped": {},
            "warnings": [],
            **({"decimal": hdr.decimal} if hdr.decimal != "." else {}),
        }
        plan = _plan(source, hdr, ncols, meta, strict=strict, precise=True)
        _freeze_growth(source, plan, meta)
        try:
            df = _read_csv(source, hdr, ncols, plan)
        except pd.errors.ParserError:
            raise ParseError(f"{source.name}: {c_error(str(exc), ncols)}") from None
    plan.data = None
    if plan.drop_last and len(df):
        df = df.iloc[:-1]
    if len(df) == 0:
        raise EmptyLogError(f"{source.name}: the table has a header but no data rows")
    skipped = np.array(sorted(b.line for b in plan.bad), dtype=np.int64) if plan.bad else None
    table = Table(
        columns=[],
        nrows=len(df),
        first_line=hdr.header_line + 2,
        header=hdr,
        meta=meta,
        skipped_lines=skipped,
    )
    numeric_columns(table, df, source, strict=strict, max_name=max_tag_length())
    return table


def c_error(msg: str, ncols: int) -> str:
    """A pandas C-parser message as one line that names the line."""
    m = _C_ERROR_RE.search(msg[:2000])
    if m:
        return f"line {m.group(2)}: {m.group(3)} fields where the header has {m.group(1)} (a ragged table)"
    m = _EOF_QUOTE_RE.search(msg[:2000])
    if m:
        return f"a quote opened near data row {m.group(1)} is never closed"
    return f"cannot read as a CSV table ({msg.strip().splitlines()[-1] if msg.strip() else msg})"
