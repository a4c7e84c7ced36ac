"""Reading a sniffed CSV table (private): the scan, the plan and pandas' C parser.

:func:`read_rows` reads a table whose header :func:`parsers._csv.sniff_table` found,
with :func:`pandas.read_csv` (the C parser), after a linear scan of the bytes
(:mod:`parsers._csvscan`) that finds ragged rows and rows with NUL bytes (skipped and
counted with their line numbers; errors under ``strict``; a table with more bad rows
than good ones is not read) and a truncated last line (a run still writing: dropped and
counted in ``meta["truncated"]``). The parsed cells become numeric columns in
:mod:`parsers._csvcols`. :func:`parsers._csv.read_table` is the entry point.

This module imports only leaf modules of gradlog.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gradlog.errors import DamagedInputError, EmptyLogError, ParseError
from gradlog.frame.source import Source

from . import _csvscan
from ._csvcols import Column, numeric_columns
from ._csvtext import _ABSENT, _is_comma_number, _is_number, is_cut_number, max_tag_length
from ._jsondoc import note_truncated

if TYPE_CHECKING:
    from ._csv import TableHeader

__all__ = ["Table", "c_error", "read_rows"]

_C_ERROR_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_EOF_QUOTE_RE = re.compile(r"EOF inside string starting at row (\d+)")


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


def _new_meta(hdr: TableHeader) -> dict[str, Any]:
    meta: dict[str, Any] = {"separator": hdr.sep, "skipped": {}, "warnings": []}
    if hdr.decimal != ".":
        meta["decimal"] = hdr.decimal
    return meta


def read_rows(source: Source, hdr: TableHeader, *, strict: bool = False) -> Table:
    """Read the table under the header ``hdr`` into numeric columns (as
    :func:`parsers._csv.read_table`, which checks the header first)."""
    ncols = len(hdr.names)
    meta = _new_meta(hdr)
    plan = _plan(source, hdr, ncols, meta, strict=strict)
    if plan.rows <= 0:  # (pandas takes seconds to build an empty table of 50,000 columns)
        raise EmptyLogError(f"{source.name}: the table has a header but no data rows")
    _freeze_growth(source, plan, meta)
    try:
        df = _read_csv(source, hdr, ncols, plan)
    except pd.errors.ParserError as exc:
        # a row the quick scan could not see (a long row and a short one cancelling out
        # in one block): count every line and try again
        meta = _new_meta(hdr)
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
