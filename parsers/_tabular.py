"""Shared machinery of the tabular formats (private): CSV sniffing and reading, the
wide-table -> common-frame conversion, fast frame assembly, and the hyperparameter
files that sit beside a log (``hparams.yaml``, ``args.yaml``, MLflow ``params/``).

The CSV formats (csv_wide, lightning, keras, ultralytics, timm) differ only in how they
recognise a file and which column is the step axis; the reading is done here, once:

* :func:`sniff_table` looks at the first 64 KiB: text (no NUL bytes), a header line of
  names, the separator (``,``, ``;`` or tab, and a decimal comma when ``;``-separated).
* :func:`read_table` reads the whole table with :func:`pandas.read_csv` (the C parser),
  after a vectorised scan of the bytes that finds ragged rows (named by line), a
  truncated last line (a run still writing: dropped, counted, warned), and binary data.
  Empty cells mean "not logged here"; ``nan``/``inf`` spellings are values.
* :func:`wide_to_frame` turns the table into the common frame: one tag per column,
  keeping only the rows where the column has a value, with the step column chosen by
  name (or given by the format).

This module imports only leaf modules of gradlog.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gradlog.errors import DamagedInputError, EmptyLogError, FrameError, ParseError
from gradlog.frame import COLUMNS, build_frame
from gradlog.roles import normalise_tags
from gradlog.source import HEAD_BYTES, Source

__all__ = [
    "TableHeader",
    "Table",
    "sniff_table",
    "read_table",
    "wide_to_frame",
    "read_wide",
    "choose_step_column",
    "assemble_frame",
    "Points",
    "Column",
    "STEP_COLUMNS",
    "step_unit_of",
    "read_simple_yaml",
    "flatten",
    "normalise_hparams",
    "hparams_beside",
    "parse_scalar",
    "finish_meta",
]

# -- names -------------------------------------------------------------------------------

#: Step-like column names in order of preference (lower case, stripped).
STEP_COLUMNS: tuple[str, ...] = ("step", "global_step", "_step", "steps", "iteration", "iter",
                                 "iters", "iterations", "it", "batch", "epoch")
_STEP_UNITS = {"step": "step", "global_step": "step", "_step": "step", "steps": "step",
               "iteration": "iteration", "iter": "iteration", "iters": "iteration",
               "iterations": "iteration", "it": "iteration", "batch": "batch", "epoch": "epoch"}
_WALL_COLUMNS = ("wall_time", "walltime", "wall", "timestamp", "time", "datetime", "date_time")
_ABSENT = ["", "None", "none", "NONE", "null", "NULL", "Null", "NA", "N/A", "n/a", "<NA>", "nil"]
_NAN_WORDS = frozenset({"nan", "+nan", "-nan", "nan(ind)", "-nan(ind)", "1.#qnan", "-1.#ind"})
_SEPARATORS = (",", ";", "\t")
_NUM_RE = re.compile(
    r"^\s*[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|infinity)\s*$", re.I)
_COMMA_NUM_RE = re.compile(r"^\s*[-+]?\d+,\d+(?:[eE][-+]?\d+)?\s*$")
_LETTER_RE = re.compile(r"[A-Za-z]")
_IDENT_RE = re.compile(r"^[A-Za-z_][\w./\-]*$")
_DOT_NUM_RE = re.compile(r"^\s*[-+]?\d*\.\d+")
_LINE_SPLIT_RE = re.compile(r"\r\n|\r|\n")
_C_ERROR_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_EOF_QUOTE_RE = re.compile(r"EOF inside string starting at row (\d+)")
_MAX_NAME = 256


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


def step_unit_of(column: str | None) -> str:
    """Return the ``meta["step_unit"]`` for a step column name (``row`` for none)."""
    if column is None:
        return "row"
    return _STEP_UNITS.get(column.strip().lower(), "step")


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


def _decode(raw: bytes) -> str | None:
    """Decode the head as text; None when it looks binary."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw or b"\x00" in raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 4 and len(raw) >= HEAD_BYTES - 4:
            text = raw[: exc.start].decode("utf-8")  # a character cut by the 64 KiB limit
        else:
            text = raw.decode("utf-8", errors="replace")
            if text.count("\ufffd") > max(2, len(text) // 100):
                return None
    ctrl = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\t\r\n\x0c")
    if ctrl > 2:
        return None
    return text


def _split(line: str, sep: str) -> list[str]:
    if '"' in line:
        try:
            return next(csv.reader([line], delimiter=sep, quotechar='"'))
        except (csv.Error, StopIteration):
            return line.split(sep)
    return line.split(sep)


def _is_number(cell: str) -> bool:
    return bool(_NUM_RE.match(cell))


def sniff_table(source: Source) -> TableHeader | None:
    """Return the header of a CSV table in ``source.head``, or None if it is not one.

    A table has a header line of names (at least one with a letter, none a number,
    none longer than 256 characters) and, unless the file is the header alone, a data
    line with at least one number. Leading blank lines and ``#`` comment lines are
    skipped.
    """
    if source.is_dir:
        return None
    text = _decode(source.head)
    if text is None:
        return None
    lines = _LINE_SPLIT_RE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    if len(source.head) >= HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut by the 64 KiB limit
    idx = 0
    while idx < len(lines) and (not lines[idx].strip() or lines[idx].lstrip().startswith("#")):
        idx += 1
    if idx >= len(lines) or idx > 50:
        return None
    header = lines[idx]
    data = [ln for ln in lines[idx + 1: idx + 40] if ln.strip()][:8]
    sep = _choose_sep(header, data[:3])
    names = [n.strip().strip('"').strip() for n in _split(header, sep)]
    if not names or any(len(n) > _MAX_NAME for n in names):
        return None
    named = [n for n in names if n]
    if not named or any(_is_number(n) for n in named):
        return None
    if sum(1 for n in named if _LETTER_RE.search(n)) * 2 < len(named):
        return None
    rows = [tuple(_split(ln, sep)) for ln in data[:5]]
    if len(names) == 1:
        # one column: a plain identifier over numbers only
        if not _IDENT_RE.match(names[0]) or len(rows) < 2:
            return None
        if not all(len(r) == 1 and _is_number(r[0]) for r in rows):
            return None
    elif rows:
        if not any(_is_number(c) or _COMMA_NUM_RE.match(c) for r in rows for c in r):
            return None
        if not any(len(r) == len(names) for r in rows):
            # nothing in the head lines up with the header: not a table we read, unless
            # the one data line is a truncated last line (a run that just started)
            if not (len(rows) == 1 and len(rows[0]) < len(names)
                    and not text.endswith(("\n", "\r"))):
                return None
    decimal = "."
    if sep == ";" and rows and any(_COMMA_NUM_RE.match(c) for r in rows for c in r) \
            and not any(_DOT_NUM_RE.match(c) for r in rows for c in r):
        decimal = ","
    return TableHeader(names=tuple(names), sep=sep, decimal=decimal, header_line=idx,
                       quoted='"' in text, first_rows=tuple(rows))


def _choose_sep(header: str, data: list[str]) -> str:
    best, best_score = ",", -1
    for sep in _SEPARATORS:
        n = len(_split(header, sep)) - 1
        if n == 0:
            continue
        agree = sum(1 for ln in data if len(_split(ln, sep)) - 1 == n)
        score = agree * 1000 + n
        if score > best_score:
            best, best_score = sep, score
    return best


# -- reading -----------------------------------------------------------------------------

@dataclass
class Column:
    """One numeric column of a table.

    Attributes
    ----------
    name : the name as logged (stripped of padding).
    values : float64, one per row (NaN where absent or logged as NaN).
    present : bool mask of the rows where the column was logged, or None when that is
        exactly ``~isnan(values)`` (no NaN was logged).
    """

    name: str
    values: np.ndarray
    present: np.ndarray | None = None
    ints: np.ndarray | None = None  # the exact int64 values of an all-integer column

    def mask(self) -> np.ndarray:
        """Return the rows where the column has a value."""
        return ~np.isnan(self.values) if self.present is None else self.present


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
    """

    columns: list[Column]
    nrows: int
    first_line: int
    header: TableHeader
    text_columns: list[str] = field(default_factory=list)
    wall_time: np.ndarray | None = None
    wall_column: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Column | None:
        """Return the first column called ``name`` (case-insensitive), or None."""
        low = name.lower()
        for c in self.columns:
            if c.name.lower() == low:
                return c
        return None


@dataclass
class _Scan:
    nlines: int = 0            # physical lines (a last line without newline counts)
    ends_with_newline: bool = True
    last_fields: int = -1      # field count of an unterminated last line
    short_line: int | None = None  # 1-based line number of the first short row
    short_fields: int = 0
    blank: int = 0             # blank lines after the header
    nul_line: int | None = None


def _scan_bytes(chunks: Iterable[memoryview], sep: str, ncols: int, header_line: int) -> _Scan:
    """Count the fields of every line without parsing them.

    Finds the first row with fewer fields than the header, the first NUL byte, blank
    lines and an unterminated last line. Only right for files without quotes (a quoted
    separator or newline would be miscounted): the caller re-checks with
    :func:`_scan_quoted` when it finds a problem in a file that has quotes.
    """
    s = _Scan()
    sep_b = ord(sep)
    line_no = 0            # lines completed so far
    carry = b""            # the unfinished line
    carry_seps = 0
    blanks: list[int] = []  # 0-based numbers of blank lines after the header
    last_content = -1       # 0-based number of the last line with content
    for chunk in chunks:
        n = len(chunk)
        if n == 0:
            continue
        raw = chunk.obj if isinstance(chunk, memoryview) else chunk  # bytes or bytearray
        a = np.frombuffer(chunk, dtype=np.uint8)
        if s.nul_line is None:
            z = raw.find(b"\x00", 0, n)
            if z >= 0:
                s.nul_line = line_no + int(np.count_nonzero(a[:z] == 10)) + 1
        last_nl = raw.rfind(b"\n", 0, n)
        is_sep = a == sep_b
        if last_nl < 0:
            carry += bytes(chunk)
            carry_seps += int(np.count_nonzero(is_sep))
            continue
        end = last_nl + 1
        n_lines = int(np.count_nonzero(a[:end] == 10))
        tail_seps = int(np.count_nonzero(is_sep[end:]))
        done_seps = int(np.count_nonzero(is_sep)) - tail_seps + carry_seps
        if ncols > 1 and not (done_seps == n_lines * (ncols - 1)
                              and (line_no > header_line or header_line == 0)):
            # Some line has another field count (when all sums agree, every completed
            # line has the header's count, or one has more and another fewer: pandas
            # reports the one with more, so none has fewer). Count line by line.
            nl = np.flatnonzero(a[:end] == 10)
            starts = np.r_[0, nl[:-1] + 1]
            counts = np.add.reduceat(is_sep[:end].view(np.uint8), starts, dtype=np.int64)
            counts[nl == starts] = 0  # empty lines: reduceat yields the byte itself
            counts[0] += carry_seps
            # short rows and blank lines both have too few separators; both are rare
            blank_here: set[int] = set()
            for i in np.flatnonzero(counts < ncols - 1):
                ln = line_no + int(i)  # 0-based
                start = int(starts[i])
                text = (carry if i == 0 else b"") + bytes(chunk[start: int(nl[i])])
                if not text.strip():
                    blank_here.add(int(i))
                    if ln > header_line:
                        blanks.append(ln)
                    continue
                if ln <= header_line or s.short_line is not None:
                    continue
                s.short_line, s.short_fields = ln + 1, int(counts[i]) + 1
            i = n_lines - 1
            while i in blank_here:
                i -= 1
            if i >= 0:
                last_content = line_no + i
        else:
            last_content = line_no + n_lines - 1
        line_no += n_lines
        carry = bytes(chunk[end:])
        carry_seps = tail_seps
    s.nlines = line_no
    if carry:
        s.nlines += 1
        if carry.strip():
            s.ends_with_newline = False
            s.last_fields = carry_seps + 1
            last_content = line_no
    s.blank = sum(1 for b in blanks if b < last_content)
    return s


def _scan_quoted(text: str, sep: str, ncols: int, header_line: int) -> _Scan:
    """The same scan with the csv module, for files that use quotes.

    Raises
    ------
    ParseError
        If the csv module cannot read a line (the message names it, without the file).
    """
    s = _Scan()
    s.ends_with_newline = text.endswith(("\n", "\r")) or not text
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"',
                        skipinitialspace=True)
    last_line = 0
    last_len = 0
    pending_blank = 0
    try:
        for row in reader:
            line = reader.line_num
            if line - 1 <= header_line:
                last_line = line
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                pending_blank += 1
                continue
            s.blank += pending_blank
            pending_blank = 0
            if ncols > 1 and len(row) < ncols and s.short_line is None:
                s.short_line, s.short_fields = line, len(row)
            last_line, last_len = line, len(row)
    except csv.Error as exc:
        raise ParseError(f"line {reader.line_num}: {exc}") from exc
    s.nlines = last_line
    if not s.ends_with_newline:
        s.last_fields = last_len
        if s.short_line == last_line:
            s.short_line = None
    return s


def _chunks(source: Source, size: int = 1 << 22) -> Iterable[memoryview]:
    """Yield the (decompressed) content in blocks, reusing one buffer."""
    buf = bytearray(size)
    with source.open() as fh:
        readinto = getattr(fh, "readinto", None)
        while True:
            if readinto is not None:
                n = readinto(buf)
                if not n:
                    return
                yield memoryview(buf)[:n]
            else:  # pragma: no cover - every stream we open has readinto
                data = fh.read(size)
                if not data:
                    return
                yield memoryview(data)


def read_table(source: Source, header: TableHeader | None = None, *,
               strict: bool = False) -> Table:
    """Read a CSV table into numeric columns.

    Parameters
    ----------
    source : the file (or stream).
    header : what :func:`sniff_table` found (sniffed again when None).
    strict : raise instead of skipping a truncated last line or non-numeric cells.

    Returns
    -------
    Table

    Raises
    ------
    ParseError
        If the file is not a CSV table, has a row with more or fewer fields than the
        header (the message names the line), holds binary data (NUL bytes) or an
        unterminated quote.
    EmptyLogError
        If the table has a header but no data row.
    DamagedInputError
        In strict mode, for a truncated last line or a cell that is not a number.
    """
    hdr = header or sniff_table(source)
    if hdr is None:
        head = source.head
        if b"\x00" in head:
            line = head.count(b"\n", 0, head.index(b"\x00")) + 1
            raise ParseError(f"{source.name}: line {line}: binary data (a NUL byte); "
                             "not a CSV text file")
        raise ParseError(f"{source.name}: not a CSV table (no header line of column names)")
    ncols = len(hdr.names)
    meta: dict[str, Any] = {"separator": hdr.sep, "skipped": {}, "warnings": []}
    if hdr.decimal != ".":
        meta["decimal"] = hdr.decimal

    # 1. scan the bytes: ragged rows, NULs, a truncated last line
    data: bytes | None = None
    scan: _Scan | None = None
    try:
        if source.path is not None and not source.compressed and not hdr.quoted:
            # a plain file: scan it in blocks; pandas reads it from the path
            scan = _scan_bytes(_chunks(source), hdr.sep, ncols, hdr.header_line)
            if scan.short_line is not None or scan.nul_line is not None:
                data = source.read_bytes()  # look again, precisely (quotes further down?)
        else:
            data = source.read_bytes()
    except OSError as exc:
        raise ParseError(f"{source.name}: cannot read ({exc})") from exc
    if data is not None:
        data = text_bytes(data, source.name)
        if b'"' in data:
            try:
                scan = _scan_quoted(data.decode("utf-8", errors="replace"), hdr.sep, ncols,
                                    hdr.header_line)
            except ParseError as exc:
                raise ParseError(f"{source.name}: {exc}") from None
        else:
            scan = _scan_bytes([memoryview(data)], hdr.sep, ncols, hdr.header_line)
    assert scan is not None
    if scan.nul_line is not None:
        raise ParseError(f"{source.name}: line {scan.nul_line}: binary data (a NUL byte); "
                         "not a CSV text file")
    drop_last = False
    if not scan.ends_with_newline and ncols > 1 and 0 <= scan.last_fields < ncols \
            and scan.nlines > hdr.header_line + 1:
        drop_last = True
        msg = (f"line {scan.nlines}: truncated last line ({scan.last_fields} of {ncols} fields; "
               "a run still writing?) skipped")
        if strict:
            raise DamagedInputError(f"{source.name}: {msg}")
        meta["skipped"]["truncated_last_line"] = 1
        meta["warnings"].append(msg)
    if scan.short_line is not None and not (drop_last and scan.short_line == scan.nlines):
        raise ParseError(f"{source.name}: line {scan.short_line}: {scan.short_fields} fields where "
                         f"the header has {ncols} (a ragged table)")
    if scan.blank:
        meta["skipped"]["blank_lines"] = scan.blank

    # 2. parse with pandas
    kwargs: dict[str, Any] = dict(
        sep=hdr.sep, decimal=hdr.decimal, header=None, names=list(range(ncols)),
        skiprows=hdr.header_line + 1, keep_default_na=False, na_values=_ABSENT,
        quotechar='"', skip_blank_lines=True, encoding="utf-8", encoding_errors="replace",
        engine="c", index_col=False,
    )
    if ncols == 1:
        kwargs["sep"] = ","
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if data is None:
                df = pd.read_csv(source.path, **kwargs)
            else:
                df = pd.read_csv(io.BytesIO(data), **kwargs)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame({i: pd.Series([], dtype="float64") for i in range(ncols)})
    except pd.errors.ParserError as exc:
        raise ParseError(f"{source.name}: {_c_error(str(exc), ncols)}") from None
    except (ValueError, OverflowError, UnicodeError, MemoryError) as exc:
        raise ParseError(f"{source.name}: cannot read as a CSV table ({exc})") from None
    del data
    if drop_last and len(df):
        df = df.iloc[:-1]
    if len(df) == 0:
        raise EmptyLogError(f"{source.name}: the table has a header but no data rows")

    # 3. numeric columns
    columns: list[Column] = []
    text_cols: list[str] = []
    bad_cells = 0
    first_bad: tuple[str, int] | None = None
    for i, name in enumerate(hdr.names):
        ser = df[i]
        col, nbad, first = _numeric(ser, name)
        if col is None and name.strip().lower() in _WALL_COLUMNS:
            col = _datetime_column(ser, name)
        if col is None:
            if ser.notna().any():
                text_cols.append(name or f"column {i + 1}")
            continue
        if nbad:
            bad_cells += nbad
            if first_bad is None:
                first_bad = (name, first)
        columns.append(col)
    del df
    first_line = hdr.header_line + 2
    if bad_cells:
        assert first_bad is not None
        line = first_line + first_bad[1]
        msg = (f"{bad_cells} cell(s) that are not numbers skipped (first: column "
               f"{first_bad[0]!r}, line {line})")
        if strict:
            raise DamagedInputError(f"{source.name}: {msg}")
        meta["skipped"]["non_numeric_cells"] = bad_cells
        meta["warnings"].append(msg)
    if text_cols:
        meta["text_columns"] = text_cols
    nrows_kept = len(columns[0].values) if columns else 0
    table = Table(columns=columns, nrows=nrows_kept, first_line=first_line, header=hdr,
                  text_columns=text_cols, meta=meta)
    _pick_wall_time(table, source)
    return table


def _datetime_column(ser: pd.Series, name: str) -> Column | None:
    """A column of date-times (``2024-05-01 12:00:03``) as Unix seconds, or None."""
    obj = ser.astype(object)
    present = ser.notna().to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(obj, errors="coerce", utc=True, format="ISO8601")
        except (ValueError, TypeError):
            return None
    ok = parsed.notna().to_numpy()
    if ok.sum() < max(1, present.sum() // 2):
        return None
    secs = np.full(len(ser), np.nan)
    ns = parsed[ok].astype("int64").to_numpy() if ok.any() else np.empty(0, np.int64)
    unit = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}.get(getattr(parsed.dt, "unit", "ns"), 1e9)
    secs[ok] = ns / unit
    return Column(name, secs)


def _c_error(msg: str, ncols: int) -> str:
    m = _C_ERROR_RE.search(msg)
    if m:
        return (f"line {m.group(2)}: {m.group(3)} fields where the header has {m.group(1)} "
                "(a ragged table)")
    m = _EOF_QUOTE_RE.search(msg)
    if m:
        return f"a quote opened near data row {m.group(1)} is never closed"
    return f"cannot read as a CSV table ({msg.strip().splitlines()[-1] if msg.strip() else msg})"


def _numeric(ser: pd.Series, name: str) -> tuple[Column | None, int, int]:
    """Return (column, number of bad cells, row of the first bad cell) or (None, 0, 0)
    for a text column."""
    kind = ser.dtype.kind if isinstance(ser.dtype, np.dtype) else "O"
    if kind == "f":
        return Column(name, ser.to_numpy(dtype=np.float64, copy=False)), 0, 0
    if kind in "iu":
        ints = ser.to_numpy(dtype=np.int64) if kind == "i" else None
        return Column(name, ser.to_numpy(dtype=np.float64), ints=ints), 0, 0
    if kind == "b":
        return Column(name, ser.to_numpy(dtype=np.float64)), 0, 0
    # text, or mixed (a literal 'nan' / 'Infinity' in a numeric column)
    obj = ser.astype(object)
    absent = ser.isna().to_numpy()
    blank = obj.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    if blank.any():
        absent = absent | blank  # a cell of spaces is an empty cell
    if absent.all():
        return None, 0, 0
    values = pd.to_numeric(obj, errors="coerce").to_numpy(dtype=np.float64)
    failed = np.isnan(values) & ~absent
    if failed.any():
        idx = np.flatnonzero(failed)
        words = obj.iloc[idx].map(lambda v: str(v).strip().lower())
        is_nan_word = words.isin(_NAN_WORDS).to_numpy()
        failed_idx = idx[~is_nan_word]
    else:
        failed_idx = np.empty(0, dtype=np.intp)
    ok = int(np.count_nonzero(~absent)) - failed_idx.size
    if ok == 0 or failed_idx.size > max(3, ok):
        return None, 0, 0  # a text column (names, dates, phases ...)
    present = ~absent
    if failed_idx.size:
        present = present.copy()
        present[failed_idx] = False
    has_nan = bool(np.any(np.isnan(values) & present))
    return (Column(name, values, present if (has_nan or failed_idx.size) else None),
            int(failed_idx.size), int(failed_idx[0]) if failed_idx.size else 0)


def _pick_wall_time(table: Table, source: Source) -> None:
    """Move a wall-clock column (Unix seconds or milliseconds) out of the metrics."""
    for want in _WALL_COLUMNS:
        for i, col in enumerate(table.columns):
            if col.name.strip().lower() != want:
                continue
            v = col.values
            fin = v[np.isfinite(v)]
            if fin.size == 0:
                continue
            lo = float(fin.min())
            if lo > 1e11:      # milliseconds since 1970 (after 1973)
                wall = v / 1000.0
            elif lo > 1e8:     # seconds since 1970 (after 1973)
                wall = v.copy()
            else:
                continue       # elapsed seconds: a metric like any other
            table.wall_time = wall
            table.wall_column = col.name
            del table.columns[i]
            return


# -- wide table -> frame -----------------------------------------------------------------

def _integer_steps(v: np.ndarray) -> bool:
    """True when every value is a whole number that fits an int64 step."""
    return bool(np.all(np.isfinite(v)) and np.all(v == np.round(v))
                and np.all(np.abs(v) < 2.0 ** 62))


def choose_step_column(table: Table, prefer: Sequence[str] = STEP_COLUMNS,
                       why: list[str] | None = None) -> Column | None:
    """Return the step column: the first name of ``prefer`` present whose values are
    integers (where present), or None (the row index is the step).

    ``why``, when given, receives a one-line reason for each step-named column passed
    over because its values are not whole numbers an int64 holds (``step`` = 0.5).
    """
    for want in prefer:
        col = table.get(want)
        if col is None:
            continue
        v = col.values[col.mask()]
        if not v.size:
            continue
        if not _integer_steps(v):
            if why is not None:
                first = int(np.flatnonzero(~(np.isfinite(v) & (v == np.round(v))
                                             & (np.abs(v) < 2.0 ** 62)))[0])
                row = int(np.flatnonzero(col.mask())[first])
                bad = v[first:first + 1]
                why.append(f"column {col.name!r} not used as the step: it holds values that are "
                           f"not whole numbers in the int64 range ({bad[0]:g} at line "
                           f"{table.first_line + row}); it is read as a metric")
            continue
        # a step axis has (mostly) distinct values: not a constant `batch` size column,
        # nor an `epoch` repeated on every per-batch row
        if v.size > 2 and len(np.unique(v)) * 2 < v.size:
            continue
        return col
    return None


def wide_to_frame(table: Table, source: Source, *, step: str | None | bool = True,
                  strict: bool = False, epoch_column: str | None = "epoch"
                  ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Convert a wide table into the common frame.

    Parameters
    ----------
    table : what :func:`read_table` returned.
    source : for messages.
    step : ``True`` to choose the step column by name (:data:`STEP_COLUMNS`), a column
        name to use that column, or ``None``/``False`` to use the row index.
    strict : raise instead of skipping rows without a step.
    epoch_column : name of the epoch column that maps per-epoch rows (rows without a
        step) onto the step axis, when it is not the step column itself.

    Returns
    -------
    (frame, meta) : ``meta`` has ``step_unit``, ``step_column``, ``rows``, ``columns``,
        ``skipped``, ``warnings``, ``restarts``, ``replaced_points`` and, for mixed
        files, ``epoch_rows``.

    Raises
    ------
    ParseError
        If a named step column is missing or not integer.
    EmptyLogError
        If no column holds a number.
    DamagedInputError
        In strict mode, for rows without a step.
    """
    meta = dict(table.meta)
    meta["skipped"] = dict(meta.get("skipped", {}))
    meta["warnings"] = list(meta.get("warnings", []))
    n = table.nrows
    if step is True:
        passed_over: list[str] = []
        step_col = choose_step_column(table, why=passed_over)
        if passed_over:
            using = (f"; the step is column {step_col.name!r}" if step_col is not None
                     else "; the row number is the step")
            meta["warnings"].extend(w + using for w in passed_over)
    elif step:
        step_col = table.get(str(step))
        if step_col is None:
            raise ParseError(f"{source.name}: no {step!r} column (columns: "
                             f"{', '.join(table.header.names)})")
        v = step_col.values[step_col.mask()]
        if not _integer_steps(v):
            raise ParseError(f"{source.name}: the {step!r} column holds values that are not "
                             "integer steps")
    else:
        step_col = None
    meta["step_column"] = step_col.name if step_col is not None else None
    meta["step_unit"] = step_unit_of(meta["step_column"])
    meta["rows"] = n
    meta["columns"] = list(table.header.names)
    if table.wall_column is not None:
        meta["wall_time_column"] = table.wall_column

    metrics = [c for c in table.columns if c is not step_col and c.name]
    unnamed = [i + 1 for i, nm in enumerate(table.header.names) if not nm]
    if unnamed:
        # e.g. the index column pandas' to_csv writes by default
        meta["ignored_columns"] = [f"column {i} (no name)" for i in unnamed]
        dropped = sum(int(np.count_nonzero(c.mask())) for c in table.columns if not c.name)
        if dropped:
            meta["skipped"]["unnamed_column_values"] = dropped
            where = ", ".join(str(i) for i in unnamed)
            meta["warnings"].append(f"column(s) {where} have no name: their {dropped} value(s) "
                                    "were not read (a saved row index?)")

    # step of each row
    row_ok: np.ndarray | None = None
    epoch_row: np.ndarray | None = None
    if step_col is None:
        steps = np.arange(n, dtype=np.int64)
    else:
        has = step_col.mask()
        steps_f = step_col.values
        if has.all():
            steps = step_col.ints if step_col.ints is not None else steps_f.astype(np.int64)
        else:
            steps = np.zeros(n, dtype=np.int64)
            steps[has] = steps_f[has].astype(np.int64)
            epoch = table.get(epoch_column) if epoch_column else None
            if epoch is not None and epoch is not step_col:
                emask = epoch.mask() & ~has
                steps, mapped = _map_epoch_rows(steps, has, epoch, emask)
                epoch_row = emask & mapped
                row_ok = has | epoch_row
                if epoch_row.any():
                    meta["epoch_rows"] = int(np.count_nonzero(epoch_row))
            else:
                row_ok = has
            missing = int(n - np.count_nonzero(row_ok))
            if missing:
                # rows without a step that hold a value somewhere are skipped, counted
                holds = np.zeros(n, dtype=bool)
                for c in metrics:
                    holds |= c.mask()
                lost = int(np.count_nonzero(holds & ~row_ok))
                if lost:
                    line = table.first_line + int(np.flatnonzero(holds & ~row_ok)[0])
                    msg = (f"{lost} row(s) without a {step_col.name!r} value skipped "
                           f"(first: line {line})")
                    if strict:
                        raise DamagedInputError(f"{source.name}: {msg}")
                    meta["skipped"]["rows_without_step"] = lost
                    meta["warnings"].append(msg)
    # restarts: the step goes backwards in file order
    valid_steps = steps if row_ok is None else steps[row_ok]
    rows_idx = None if row_ok is None else np.flatnonzero(row_ok)
    back = np.flatnonzero(np.diff(valid_steps) < 0) if valid_steps.size > 1 else np.empty(0, int)
    restarts = []
    for b in back[:100]:
        row = int(b + 1) if rows_idx is None else int(rows_idx[b + 1])
        restarts.append({"line": table.first_line + row, "step": int(valid_steps[b + 1]),
                         "previous_step": int(valid_steps[b])})
    meta["restarts"] = restarts
    if len(back) > 100:
        meta["warnings"].append(f"{len(back)} restarts (the step went backwards); first 100 listed")

    # one part per metric column (a column with values on step rows *and* on per-epoch
    # rows is split in two: the per-epoch values go to `<name>_epoch`)
    names: list[str] = []
    parts: list[tuple[str, np.ndarray, np.ndarray]] = []
    seen: dict[str, int] = {}
    all_names = {c.name for c in metrics}
    for c in metrics:
        if c.name in seen:
            # two columns with one name: the later gets a suffix, its source_tag stays
            seen[c.name] += 1
            alias = f"{c.name}_{seen[c.name]}"
            while alias in seen or alias in all_names:
                seen[c.name] += 1
                alias = f"{c.name}_{seen[c.name]}"
            meta["warnings"].append(f"duplicate column name {c.name!r} read as {alias!r}")
            key = alias
        else:
            seen[c.name] = 1
            key = c.name
        m = c.mask()
        if row_ok is not None:
            m = m & row_ok
        if epoch_row is not None and epoch_row.any() and c.name.lower() != (epoch_column or ""):
            on_epoch = m & epoch_row
            on_step = m & ~epoch_row
            if on_epoch.any() and on_step.any():
                names.append(key)
                parts.append((c.name, on_step, c.values))
                names.append(key + "_epoch")
                parts.append((c.name, on_epoch, c.values))
                continue
        names.append(key)
        parts.append((c.name, m, c.values))
    tags = normalise_tags(names)
    cols: list[Points] = []
    for (src, m, values), nm in zip(parts, names):
        if not m.any():
            continue
        if m.all():
            cols.append(Points(tags[nm], src, steps, values, table.wall_time))
        else:
            cols.append(Points(tags[nm], src, steps[m], values[m],
                               None if table.wall_time is None else table.wall_time[m]))
    if not cols:
        raise EmptyLogError(f"{source.name}: no column holds a number (columns: "
                            f"{', '.join(table.header.names)})")
    frame, replaced = assemble_frame(cols)
    meta["replaced_points"] = replaced
    if replaced:
        meta["warnings"].append(f"{replaced} point(s) re-logged at an earlier step were replaced "
                                "by the later record")
    return frame, meta


def read_wide(source: Source, *, step: str | None | bool = True, strict: bool = False,
              epoch_column: str | None = "epoch") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a wide CSV into the common frame: :func:`read_table` then
    :func:`wide_to_frame` (the parsed table is freed before the frame is returned).

    Returns
    -------
    (frame, meta)

    Raises
    ------
    ParseError, EmptyLogError, DamagedInputError
        As :func:`read_table` and :func:`wide_to_frame`.
    """
    return wide_to_frame(read_table(source, strict=strict), source, step=step, strict=strict,
                         epoch_column=epoch_column)


def _map_epoch_rows(steps: np.ndarray, has: np.ndarray, epoch: Column, emask: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Give per-epoch rows (no step, an epoch) the last step logged in that epoch, or
    the last step before them in file order. Returns (steps, mapped rows)."""
    out = steps.copy()
    mapped = np.zeros(len(steps), dtype=bool)
    ev = epoch.values
    both = has & epoch.mask()
    last_of: dict[float, int] = {}
    if both.any():
        e_b, s_b = ev[both], steps[both]
        order = np.lexsort((s_b, e_b))
        e_sorted, s_sorted = e_b[order], s_b[order]
        ends = np.flatnonzero(np.r_[e_sorted[1:] != e_sorted[:-1], True])
        last_of = {float(e_sorted[i]): int(s_sorted[i]) for i in ends}
    # forward fill of the step in file order, for epochs never seen on a step row
    idx = np.where(has, np.arange(len(steps)), -1)
    np.maximum.accumulate(idx, out=idx)
    for r in np.flatnonzero(emask):
        e = float(ev[r])
        if e in last_of:
            out[r] = last_of[e]
            mapped[r] = True
        elif idx[r] >= 0:
            out[r] = steps[idx[r]]
            mapped[r] = True
        else:
            nxt = np.flatnonzero(has[r:])
            if nxt.size:
                out[r] = steps[r + nxt[0]]
                mapped[r] = True
    return out, mapped


@dataclass
class Points:
    """One tag's points, ready for :func:`assemble_frame`."""

    tag: str
    source_tag: str
    steps: np.ndarray
    values: np.ndarray
    wall_time: np.ndarray | None = None


def assemble_frame(cols: list[Points]) -> tuple[pd.DataFrame, int]:
    """Build the common frame from per-tag arrays.

    When every tag's steps are strictly increasing (the usual case) the frame is laid
    out directly, tag by tag, without a sort; otherwise :func:`gradlog.frame.build_frame`
    sorts it and the later record of a repeated (tag, step) wins. Identical repeats
    (same step, same value) are dropped first and not counted as replaced.

    Returns
    -------
    (frame, replaced points)

    Raises
    ------
    FrameError
        If the arrays break the frame contract (a parser bug).
    """
    cols = sorted(cols, key=lambda c: c.tag)
    tags = [c.tag for c in cols]
    if len(set(tags)) != len(tags):
        raise FrameError("two columns share a tag")
    ordered = True
    increasing: dict[int, bool] = {}  # by id of a steps array shared by several columns
    for i, c in enumerate(cols):
        st = np.asarray(c.steps)
        if (c.steps is st and increasing.get(id(st)) and st.dtype == np.int64
                and isinstance(c.values, np.ndarray) and c.values.dtype == np.float64):
            continue  # the same strictly increasing int64 steps as an earlier column
        if st.dtype.kind == "f":
            if not (np.all(np.isfinite(st)) and np.all(st == np.round(st))):
                raise FrameError(f"steps of {c.tag!r} are not integers")
        st = st.astype(np.int64, copy=False)
        vals = np.asarray(c.values, dtype=np.float64)
        if st.size > 1:
            d = np.diff(st)
            if not np.all(d > 0):
                # drop exact repeats (same step, same value) before deciding
                same = (d == 0) & ((vals[1:] == vals[:-1])
                                   | (np.isnan(vals[1:]) & np.isnan(vals[:-1])))
                if same.any():
                    keep = np.r_[~same, True]
                    st, vals = st[keep], vals[keep]
                    wt = None if c.wall_time is None else np.asarray(c.wall_time, np.float64)[keep]
                    cols[i] = c = Points(c.tag, c.source_tag, st, vals, wt)
                    d = np.diff(st)
                if not np.all(d > 0):
                    ordered = False
            elif c.steps is st:
                increasing[id(st)] = True
        if c.steps is not st or c.values is not vals:
            cols[i] = Points(c.tag, c.source_tag, st, vals, c.wall_time)
    lens = np.array([len(c.steps) for c in cols], dtype=np.int64)
    total = int(lens.sum())
    steps = _concat([c.steps for c in cols], np.int64, total)
    values = _concat([c.values for c in cols], np.float64, total)
    if any(c.wall_time is not None for c in cols):
        walls = _concat([c.wall_time if c.wall_time is not None
                         else np.full(len(c.steps), np.nan) for c in cols], np.float64, total)
    else:
        walls = np.full(total, np.nan)
    k = len(cols)
    code_dtype = np.int8 if k < 127 else (np.int16 if k < 32000 else np.int32)
    codes = np.repeat(np.arange(k, dtype=code_dtype), lens)
    src_names = sorted({c.source_tag for c in cols})
    src_pos = {s: i for i, s in enumerate(src_names)}
    ks = len(src_names)
    src_dtype = np.int8 if ks < 127 else (np.int16 if ks < 32000 else np.int32)
    src_map = np.array([src_pos[c.source_tag] for c in cols], dtype=src_dtype)
    if not ordered:
        tag_cat = pd.Categorical.from_codes(codes, categories=pd.Index(tags, dtype=object))
        src_cat = pd.Categorical.from_codes(src_map[codes],
                                            categories=pd.Index(src_names, dtype=object))
        return build_frame(tag_cat, steps, values, walls, src_cat)
    tag_cat = pd.Categorical.from_codes(codes, categories=pd.Index(tags, dtype=object),
                                        validate=False)
    src_cat = pd.Categorical.from_codes(src_map[codes],
                                        categories=pd.Index(src_names, dtype=object),
                                        validate=False)
    frame = pd.DataFrame({"tag": tag_cat, "step": steps, "value": values, "wall_time": walls,
                          "source_tag": src_cat}, columns=list(COLUMNS), copy=False)
    return frame, 0


def _concat(arrays: list[np.ndarray], dtype: Any, total: int) -> np.ndarray:
    if len(arrays) == 1:
        return np.asarray(arrays[0], dtype=dtype)
    out = np.empty(total, dtype=dtype)
    pos = 0
    for a in arrays:
        out[pos: pos + len(a)] = a
        pos += len(a)
    return out


# -- hyperparameters beside a log --------------------------------------------------------

_YAML_KEY_RE = re.compile(
    r"^(\s*)([^\s#:\-][^:#]*?|-[^\s:#][^:#]*?|\"[^\"]*\"|'[^']*')\s*:(?:\s+(.*?))?\s*$")
_INT_RE = re.compile(r"^[-+]?\d+$")
_FLOAT_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


def parse_scalar(text: str) -> Any:
    """Return a YAML/text scalar as int, float, bool, None or str (quotes removed)."""
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    low = t.lower()
    if low in ("", "~", "null", "none"):
        return None
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if _INT_RE.match(t):
        return int(t)
    if _FLOAT_RE.match(t):
        return float(t)
    if low in (".inf", "+.inf", "inf", "infinity"):
        return math.inf
    if low in ("-.inf", "-inf", "-infinity"):
        return -math.inf
    if low in (".nan", "nan"):
        return math.nan
    return t


def _strip_comment(text: str) -> str:
    if "#" not in text:
        return text
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text


def _flow(text: str, warn: list[str]) -> Any:
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        inner = t[1:-1].strip()
        if not inner:
            return []
        if "[" in inner or "{" in inner:
            warn.append(f"nested flow value kept as text: {t[:60]}")
            return t
        return [parse_scalar(x) for x in next(csv.reader([inner], skipinitialspace=True))]
    if t.startswith("{") and t.endswith("}"):
        inner = t[1:-1].strip()
        if not inner:
            return {}
        if "[" in inner or "{" in inner:
            warn.append(f"nested flow value kept as text: {t[:60]}")
            return t
        out: dict[str, Any] = {}
        for item in next(csv.reader([inner], skipinitialspace=True)):
            k, _, v = item.partition(":")
            out[k.strip().strip("'\"")] = parse_scalar(v)
        return out
    if t.startswith("!!") or t.startswith("!"):
        warn.append(f"tagged value kept as text: {t[:60]}")
        return t
    if t in ("|", ">", "|-", ">-", "|+", ">+"):
        return None  # block scalar: the caller skips its lines
    return parse_scalar(t)


@dataclass
class _YLine:
    indent: int
    text: str
    lineno: int


def read_simple_yaml(text: str) -> tuple[dict[str, Any], list[str]]:
    """Read the simple YAML that loggers write (``hparams.yaml``, ``args.yaml``,
    MLflow ``meta.yaml``): nested mappings by indentation, ``- item`` lists (also at
    the indentation of their key), flow ``[...]``/``{...}`` one level deep, quoted and
    plain scalars, comments.

    Python-object tags (``!!python/...``) are kept as text and block scalars (``|``,
    ``>``) skipped, with a warning each; lines it cannot read are skipped with a warning.

    Returns
    -------
    (mapping, warnings)
    """
    warn: list[str] = []
    lines: list[_YLine] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        body = _strip_comment(raw.rstrip())
        if not body.strip():
            continue
        lines.append(_YLine(len(body) - len(body.lstrip(" ")), body.strip(), lineno))
    if not lines:
        return {}, warn
    value, i = _y_block(lines, 0, lines[0].indent, warn)
    while i < len(lines):
        warn.append(f"line {lines[i].lineno}: not understood, skipped")
        i += 1
    if not isinstance(value, dict):
        warn.append("the document is not a mapping; nothing read")
        return {}, warn
    return value, warn


def _y_is_item(line: _YLine) -> bool:
    return line.text == "-" or line.text.startswith("- ")


def _y_block(lines: list[_YLine], i: int, indent: int, warn: list[str]) -> tuple[Any, int]:
    if _y_is_item(lines[i]):
        return _y_list(lines, i, indent, warn)
    return _y_mapping(lines, i, indent, warn)


def _y_value(lines: list[_YLine], i: int, indent: int, val: str | None, key: str,
             warn: list[str], *, list_parent: bool) -> tuple[Any, int]:
    """The value of ``key:`` whose line ended with ``val``; ``i`` is the next line."""
    if val is not None and val.startswith("!"):
        # a tag (``!!python/tuple``, ``!!float``): drop it, read what follows
        tag, _, rest = val.partition(" ")
        warn.append(f"line {lines[i - 1].lineno}: tag {tag} of {key!r} ignored")
        val = rest.strip()
    if val is None or val == "":
        if i < len(lines) and (lines[i].indent > indent
                               or (lines[i].indent == indent and _y_is_item(lines[i])
                                   and not list_parent)):
            return _y_block(lines, i, lines[i].indent, warn)
        return None, i
    if val in ("|", ">", "|-", ">-", "|+", ">+"):
        warn.append(f"line {lines[i - 1].lineno}: block text of {key!r} skipped")
        while i < len(lines) and lines[i].indent > indent:
            i += 1
        return None, i
    return _flow(val, warn), i


def _y_mapping(lines: list[_YLine], i: int, indent: int,
               warn: list[str]) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    while i < len(lines) and lines[i].indent == indent and not _y_is_item(lines[i]):
        line = lines[i]
        m = _YAML_KEY_RE.match(line.text)
        i += 1
        if not m:
            warn.append(f"line {line.lineno}: not understood, skipped")
            while i < len(lines) and lines[i].indent > indent:
                i += 1
            continue
        key = m.group(2).strip().strip("'\"")
        out[key], i = _y_value(lines, i, indent, m.group(3), key, warn, list_parent=False)
        while i < len(lines) and lines[i].indent > indent:
            warn.append(f"line {lines[i].lineno}: not understood, skipped")
            i += 1
    return out, i


def _y_list(lines: list[_YLine], i: int, indent: int, warn: list[str]) -> tuple[list[Any], int]:
    out: list[Any] = []
    while i < len(lines) and lines[i].indent == indent and _y_is_item(lines[i]):
        body = lines[i].text[1:].strip()
        if not body:
            i += 1
            if i < len(lines) and lines[i].indent > indent:
                item, i = _y_block(lines, i, lines[i].indent, warn)
                out.append(item)
            else:
                out.append(None)
            continue
        m = _YAML_KEY_RE.match(body)
        if m and not body.startswith(("'", '"', "[", "{")):
            # "- key: value" opens a mapping whose keys sit where "key" starts
            col = indent + len(lines[i].text) - len(body)
            lines[i] = _YLine(col, body, lines[i].lineno)
            item, i = _y_mapping(lines, i, col, warn)
            out.append(item)
        else:
            out.append(_flow(body, warn))
            i += 1
    return out, i


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return nested mappings as one level with dotted keys (lists kept)."""
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


_HPARAM_KEYS: dict[str, tuple[str, ...]] = {
    "lr": ("lr", "learning_rate", "base_lr", "lr0", "learningrate", "init_lr", "initial_lr"),
    "batch_size": ("batch_size", "train_batch_size", "per_device_train_batch_size", "batch",
                   "batchsize", "bs", "total_batch_size"),
    "momentum": ("momentum", "sgd_momentum"),
    "weight_decay": ("weight_decay", "wd"),
    "max_steps": ("max_steps", "max_iter", "max_iters", "max_iterations", "num_steps",
                  "total_steps", "num_training_steps"),
    "max_epochs": ("max_epochs", "epochs", "num_epochs", "num_train_epochs", "n_epochs"),
}


def normalise_hparams(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Return the hyperparameters with the usual keys added where obvious.

    ``lr`` (from ``learning_rate``, ``base_lr``, ``lr0``, ``optimizer.lr`` ...),
    ``batch_size``, ``momentum``, ``weight_decay``, ``max_steps``, ``max_epochs``; a key
    matches on its last dotted part, top-level keys first; only numbers are taken. The
    original keys are kept; an existing normalised key is never overwritten.
    """
    out = dict(flat)
    for norm, aliases in _HPARAM_KEYS.items():
        if norm in flat and _is_num(flat[norm]):
            continue
        found = None
        for alias in aliases:
            hits = [k for k in flat if k.lower() == alias or k.lower().endswith("." + alias)]
            hits.sort(key=lambda k: (k.count("."), k))
            for k in hits:
                v = _as_number(flat[k])
                if v is not None and not (norm in ("max_steps", "max_epochs") and v < 0):
                    found = v
                    break
            if found is not None:
                break
        if found is not None:
            out[norm] = found
    return out


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _as_number(v: Any) -> int | float | None:
    if _is_num(v):
        return v
    if isinstance(v, str):
        p = parse_scalar(v)
        if _is_num(p):
            return p
    return None


def hparams_beside(path: Path | None, names: Sequence[str]
                   ) -> tuple[dict[str, Any], list[str], str | None]:
    """Read the first hyperparameter file of ``names`` found in ``path`` (a directory).

    ``.yaml``/``.yml`` files are read with :func:`read_simple_yaml`, ``.json`` with the
    json module. Nested keys are flattened (``optimizer.lr``) and the usual keys
    normalised (:func:`normalise_hparams`).

    Returns
    -------
    (hparams, warnings, file name or None)
    """
    if path is None:
        return {}, [], None
    for name in names:
        p = path / name
        if not p.is_file():
            continue
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return {}, [f"{p}: cannot read ({exc.strerror or exc})"], None
        if name.endswith(".json"):
            try:
                data = json.loads(text)
            except ValueError as exc:
                return {}, [f"{p}: not valid JSON ({exc}); hyperparameters not read"], None
            warn: list[str] = []
            if not isinstance(data, dict):
                return {}, [f"{p}: not a JSON object; hyperparameters not read"], None
        else:
            data, warn = read_simple_yaml(text)
            warn = [f"{p.name}: {w}" for w in warn]
        return normalise_hparams(flatten(data)), warn, name
    return {}, [], None


def finish_meta(meta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Return ``meta`` with the keys every run has (``skipped``, ``warnings``,
    ``restarts``, ``replaced_points``, ``hparams``) present, plus ``extra``."""
    meta.setdefault("skipped", {})
    meta.setdefault("warnings", [])
    meta.setdefault("restarts", [])
    meta.setdefault("replaced_points", 0)
    meta.setdefault("hparams", {})
    meta.update(extra)
    return meta
