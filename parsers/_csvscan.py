"""The byte scan that runs before a CSV table is parsed (private).

:func:`scan_bytes` counts the separators of every line with numpy, without parsing:
it finds rows whose field count differs from the header's (ragged rows), lines that
hold a NUL byte (binary damage), blank lines and an unterminated last line (a run
still writing). :func:`scan_quoted` does the same with the csv module for files that
use quotes (where a quoted separator or newline would be miscounted). The scan is
linear in the size of the file and keeps only the numbers of the bad lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from gradlog.errors import ParseError
from gradlog.frame.source import Source

__all__ = ["BadRow", "Scan", "chunks", "scan_bytes", "scan_quoted"]


@dataclass(frozen=True)
class BadRow:
    """A data row that is skipped: ``line`` (1-based, for messages), ``record``
    (0-based record index, what ``pandas.read_csv(skiprows=...)`` counts), ``fields``
    (its field count) and ``kind`` (``ragged`` or ``nul``)."""

    line: int
    record: int
    fields: int
    kind: str


@dataclass
class Scan:
    """What the scan found (see the module docstring)."""

    nlines: int = 0  # physical lines (a last line without newline counts)
    ends_with_newline: bool = True
    last_fields: int = -1  # field count of an unterminated last line
    last_record: int = -1  # its record index
    last_has_nul: bool = False
    last_cells: list[str] | None = None  # the cells of an unterminated last line
    nbytes: int = 0  # bytes scanned
    blank: int = 0  # blank lines after the header (not at the end)
    bad: list[BadRow] = field(default_factory=list)
    bare_cr: bool = False  # a CR not followed by LF: a line end to pandas, not to this scan

    @property
    def nul_line(self) -> int | None:
        """The first line with a NUL byte, or None."""
        return next((b.line for b in self.bad if b.kind == "nul"), None)


def _line_counts(a: np.ndarray, is_sep: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(newline positions, line starts, separators per line) of ``a[:end]``."""
    nl = np.flatnonzero(a[:end] == 10)
    starts = np.r_[0, nl[:-1] + 1]
    counts = np.add.reduceat(is_sep[:end].view(np.uint8), starts, dtype=np.int64)
    counts[nl == starts] = 0  # empty lines: reduceat yields the byte itself
    return nl, starts, counts


class _ByteScanner:
    """State of :func:`scan_bytes` across chunks."""

    def __init__(self, sep: str, ncols: int, header_line: int, precise: bool) -> None:
        self.s = Scan()
        self.sep_b = ord(sep)
        self.ncols = ncols
        self.header_line = header_line
        self.precise = precise
        self.line_no = 0  # lines completed so far
        self.carry = b""  # the unfinished line
        self.carry_seps = 0
        self.carry_nul = False
        self.blanks: list[int] = []  # 0-based numbers of blank lines after the header
        self.last_content = -1  # 0-based number of the last line with content
        self.cr_at_end = False  # the previous chunk ended in CR (its LF may start this one)

    def feed(self, chunk: memoryview) -> None:
        n = len(chunk)
        if n == 0:
            return
        self.s.nbytes += n
        raw = chunk.obj if isinstance(chunk.obj, (bytes, bytearray)) else bytes(chunk)
        sep = bytes([self.sep_b])
        if not self.s.bare_cr:
            if self.cr_at_end and raw[:1] != b"\n":
                self.s.bare_cr = True
            ncr = raw.count(b"\r", 0, n)
            if ncr:
                ends_cr = raw[n - 1 : n] == b"\r"
                self.s.bare_cr = self.s.bare_cr or ncr - int(ends_cr) != raw.count(b"\r\n", 0, n)
            self.cr_at_end = bool(ncr) and raw[n - 1 : n] == b"\r"
        # bytes.count/find run at memory speed: the per-line numpy pass is only for
        # blocks whose separator count does not match the header's on every line
        has_nul = raw.find(b"\x00", 0, n) >= 0
        last_nl = raw.rfind(b"\n", 0, n)
        if last_nl < 0:
            self.carry += bytes(chunk)
            self.carry_seps += raw.count(sep, 0, n)
            self.carry_nul = self.carry_nul or has_nul
            return
        end = last_nl + 1
        n_lines = raw.count(b"\n", 0, end)
        tail_seps = raw.count(sep, end, n)
        done_seps = raw.count(sep, 0, end) + self.carry_seps
        nul_at_head = self.carry_nul
        uniform = done_seps == n_lines * (self.ncols - 1) and (
            self.line_no > self.header_line or self.header_line == 0
        )
        if self.ncols > 1 and (self.precise or not uniform) or has_nul or nul_at_head:
            a = np.frombuffer(chunk, dtype=np.uint8)
            self._per_line(chunk, a, a == self.sep_b, end, n_lines, has_nul)
        else:
            self.last_content = self.line_no + n_lines - 1
        self.line_no += n_lines
        self.carry = bytes(chunk[end:])
        self.carry_seps = tail_seps
        self.carry_nul = raw.find(b"\x00", end, n) >= 0

    def _per_line(
        self, chunk: memoryview, a: np.ndarray, is_sep: np.ndarray, end: int, n_lines: int, has_nul: bool
    ) -> None:
        """Count the fields of every completed line of this chunk."""
        nl, starts, counts = _line_counts(a, is_sep, end)
        counts[0] += self.carry_seps
        nul_rows: set[int] = set()
        if has_nul:
            z = np.flatnonzero(a[:end] == 0)
            nul_rows = {int(i) for i in np.searchsorted(nl, z)}
        if self.carry_nul:
            nul_rows.add(0)
        want = self.ncols - 1
        odd = set(np.flatnonzero(counts != want).tolist()) if self.ncols > 1 else set()
        blank_here: set[int] = set()
        for i in sorted(odd | nul_rows):
            ln = self.line_no + i  # 0-based
            text = (self.carry if i == 0 else b"") + bytes(chunk[int(starts[i]) : int(nl[i])])
            if i not in nul_rows and not text.strip():
                blank_here.add(i)
                if ln > self.header_line:
                    self.blanks.append(ln)
                continue
            if ln <= self.header_line:
                continue
            kind = "nul" if i in nul_rows else "ragged"
            self.s.bad.append(BadRow(ln + 1, ln, int(counts[i]) + 1, kind))
        i = n_lines - 1
        while i in blank_here:
            i -= 1
        if i >= 0:
            self.last_content = self.line_no + i

    def finish(self) -> Scan:
        s = self.s
        s.bare_cr = s.bare_cr or self.cr_at_end and not self.carry.endswith(b"\r")
        s.nlines = self.line_no
        if self.carry:
            s.nlines += 1
            if self.carry.strip():
                s.ends_with_newline = False
                s.last_fields = self.carry_seps + 1
                s.last_record = self.line_no
                s.last_has_nul = self.carry_nul
                if len(self.carry) <= 1 << 20:
                    text = self.carry.decode("utf-8", errors="replace").rstrip("\r")
                    s.last_cells = text.split(chr(self.sep_b))
                self.last_content = self.line_no
        s.blank = sum(1 for b in self.blanks if b < self.last_content)
        return s


def scan_bytes(
    chunks: Iterable[memoryview], sep: str, ncols: int, header_line: int, *, precise: bool = False
) -> Scan:
    """Scan an unquoted CSV's bytes (see the module docstring).

    When the separators of a chunk add up to the header's count on every line, the
    lines are not counted one by one unless ``precise`` (a row with one field too many
    and another with one too few cancel out in the sum; the caller rescans precisely
    when the parser meets such a row).

    Returns
    -------
    Scan
    """
    sc = _ByteScanner(sep, ncols, header_line, precise)
    for chunk in chunks:
        sc.feed(chunk)
    return sc.finish()


def scan_quoted(text: str, sep: str, ncols: int, header_line: int) -> Scan:
    """The same scan with the csv module, for files that use quotes; records (not
    physical lines) are what ``pandas.read_csv(skiprows=...)`` counts.

    Raises
    ------
    ParseError
        If the csv module cannot read a line (the message names it, without the file).
    """
    s = Scan()
    s.ends_with_newline = text.endswith(("\n", "\r")) or not text
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"', skipinitialspace=True)
    last_line = 0
    last: tuple[int, int, bool] = (-1, 0, False)  # record, fields, NUL
    last_row: list[str] = []
    pending_blank = 0
    record = -1
    try:
        for row in reader:
            record += 1
            line = reader.line_num
            if line - 1 <= header_line:
                last_line = line
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                pending_blank += 1
                continue
            s.blank += pending_blank
            pending_blank = 0
            nul = any("\x00" in c for c in row)
            if nul or (ncols > 1 and len(row) != ncols):
                s.bad.append(BadRow(line, record, len(row), "nul" if nul else "ragged"))
            last_line, last, last_row = line, (record, len(row), nul), row
    except csv.Error as exc:
        raise ParseError(f"line {reader.line_num}: {exc}") from exc
    s.nlines = last_line
    if not s.ends_with_newline:
        s.last_record, s.last_fields, s.last_has_nul = last
        s.last_cells = last_row
        if s.bad and s.bad[-1].record == s.last_record:
            s.bad.pop()  # the unterminated last line is judged on its own
    return s


def chunks(source: Source, size: int = 1 << 22) -> Iterable[memoryview]:
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
