"""TFRecord framing as TensorBoard writes it: find the records, check both CRCs, resync.

A record is ``uint64 length | uint32 masked_crc32c(length) | data | uint32
masked_crc32c(data)``, little-endian, where ``mask(c) = ((c >> 15) | (c << 17)) +
0xa282ead8 (mod 2**32)``.

:class:`RecordScanner` reads a binary stream in large blocks and yields
:class:`RecordBlock` objects: a buffer plus the offsets and lengths of the records in it
whose two CRCs check out. The common case costs no Python per record:

* **framing** is done with numpy: every offset whose bytes could start a header (the
  high five bytes of the length are zero) is a candidate, the candidates that chain
  (``next = start + 16 + length``) from the start of the block are the records;
* **both CRCs of every record in the block are checked with one CRC call**: CRC-32C is
  linear, so after replacing each stored (masked) CRC by the raw CRC it claims, the raw
  CRC of the whole block is zero exactly when every record checks out (a single bad
  record always makes it non-zero; several bad records cancel with probability 2**-32).

When either step fails (a damaged record, a record too large for a candidate, an
unusual layout) the block is walked record by record with one CRC call per field, a bad
record is skipped and counted, and reading resumes at the next offset where a header
*and* its data check out. Damage is reported in :attr:`RecordScanner.damage`, a cut-off
last record in :attr:`RecordScanner.truncated`.

This module only frames bytes; it knows nothing about events.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import google_crc32c
import numpy as np

__all__ = [
    "FOOTER_BYTES",
    "HEADER_BYTES",
    "Damage",
    "RecordBlock",
    "RecordScanner",
    "first_record",
    "frame_record",
    "masked_crc32c",
]

HEADER_BYTES = 12  # uint64 length + uint32 masked crc of the length
FOOTER_BYTES = 4  # uint32 masked crc of the data
_OVERHEAD = HEADER_BYTES + FOOTER_BYTES
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
#: A buffer with more than one candidate header per this many bytes is filtered by
#: header CRC first (an event record is >= 16 + ~20 bytes, with ~3 candidates each).
_DENSE = 8
#: Rounds of pruning candidates that no record ends at (spurious chains are short).
_FAST_ROUNDS = 8
#: Records larger than this are treated as damage (no writer produces a 2 GiB event).
MAX_RECORD_BYTES = 1 << 31
DEFAULT_BLOCK_BYTES = 1 << 20

_crc = google_crc32c.value
_crc_extend = google_crc32c.extend
_HDR = struct.Struct("<QI")
_U32S = struct.Struct("<I")


def masked_crc32c(data: bytes) -> int:
    """Return TensorBoard's masked CRC-32C of ``data``."""
    c = _crc(data)
    return ((((c >> 15) | (c << 17)) & _U32) + _MASK_DELTA) & _U32


def _crc_byte_table() -> tuple[int, np.ndarray]:
    """Return (crc32c of 8 zero bytes, T) where T[i, v] is what byte value ``v`` at
    position ``i`` (0-3) of an 8-byte string adds (XOR) to that CRC. CRC-32C is affine, so
    the CRC of ``b0 b1 b2 b3 0 0 0 0`` is ``crc0 ^ T[0, b0] ^ T[1, b1] ^ T[2, b2] ^ T[3, b3]``."""
    crc0 = _crc(bytes(8))
    table = np.zeros((4, 256), dtype=np.uint32)
    for i in range(4):
        for v in range(256):
            msg = bytearray(8)
            msg[i] = v
            table[i, v] = _crc(bytes(msg)) ^ crc0
    return crc0, table


_CRC8_ZERO, _CRC8_TABLE = _crc_byte_table()


def _header_crc_ok(a: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Return, for each offset in ``starts`` (whose bytes 4-7 are zero), whether the
    masked CRC stored at +8 matches its 8-byte length; vectorised (see :func:`_crc_byte_table`)."""
    if not len(starts):
        return np.zeros(0, dtype=bool)
    c = np.full(len(starts), _CRC8_ZERO, dtype=np.uint32)
    for i in range(4):
        c ^= _CRC8_TABLE[i][a[starts + i]]
    c64 = c.astype(np.uint64)
    masked = ((((c64 >> 15) | (c64 << 17)) & _U32) + _MASK_DELTA) & _U32
    stored = np.zeros(len(starts), dtype=np.uint64)
    for i in range(4):
        stored |= a[starts + 8 + i].astype(np.uint64) << np.uint64(8 * i)
    return masked == stored


def _zero_headers(z: np.ndarray, start: int, span: int) -> np.ndarray:
    """Return, for the ``span`` offsets from ``start``, whether the 12 header bytes there
    are all zero (``z``: the buffer's ``== 0`` mask). Such a header never checks out (the
    masked CRC of a zero length is not zero): in a zero-filled stretch (a file
    preallocated by a writer that died) this drops every candidate cheaply."""
    out = z[start : start + span].copy()
    for k in range(1, HEADER_BYTES):
        out &= z[start + k : start + k + span]
    return out


def frame_record(data: bytes) -> bytes:
    """Return ``data`` framed as one TFRecord (header, data, data CRC)."""
    head = struct.pack("<Q", len(data))
    return head + _U32S.pack(masked_crc32c(head)) + data + _U32S.pack(masked_crc32c(data))


def first_record(head: bytes) -> bytes | None:
    """Return the payload of the first record in ``head`` if both its CRCs check out.

    Returns None when ``head`` does not start with a complete, valid record.
    """
    if len(head) < _OVERHEAD:
        return None
    length, hcrc = _HDR.unpack_from(head, 0)
    if masked_crc32c(head[:8]) != hcrc or length + _OVERHEAD > len(head):
        return None
    end = HEADER_BYTES + length
    payload = head[HEADER_BYTES:end]
    if masked_crc32c(payload) != _U32S.unpack_from(head, end)[0]:
        return None
    return payload


@dataclass(frozen=True)
class Damage:
    """A stretch of the input that held no valid record.

    Attributes
    ----------
    offset : byte offset in the (decompressed) stream where the damage starts.
    nbytes : how many bytes were skipped.
    reason : ``"data_crc"`` (a record whose length checks out but whose data does not),
        ``"header"`` (bytes where no header checks out; reading resumed at the next
        valid record) or ``"truncated"`` (the stream ends inside a record).
    """

    offset: int
    nbytes: int
    reason: str

    def describe(self) -> str:
        """Return a one-line description (without the file name)."""
        what = {
            "data_crc": "a record whose data CRC does not match was skipped",
            "header": "bytes with no valid record header were skipped",
            "truncated": "the file ends inside a record (cut short or still being written)",
        }.get(self.reason, self.reason)
        return f"byte {self.offset}: {what} ({self.nbytes} bytes)"


@dataclass
class RecordBlock:
    """Verified records inside one buffer.

    Attributes
    ----------
    buf : the bytes holding the records.
    starts : int64 offsets (in ``buf``) of each record's header.
    lengths : int64 payload lengths.
    contiguous : True when the records tile ``buf[starts[0]:end]`` with no gaps, in
        which case ``buf[starts[0]:end]`` is exactly these records (see :attr:`end`).
    """

    buf: bytes
    starts: np.ndarray
    lengths: np.ndarray
    contiguous: bool

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def end(self) -> int:
        """Return the offset just past the last record."""
        if not len(self.starts):
            return 0
        return int(self.starts[-1] + self.lengths[-1] + _OVERHEAD)

    def payloads(self) -> list[bytes]:
        """Return the records' data as a list of bytes objects."""
        buf = self.buf
        return [
            buf[s + HEADER_BYTES : s + HEADER_BYTES + n]
            for s, n in zip(self.starts.tolist(), self.lengths.tolist(), strict=True)
        ]


class RecordScanner:
    """Read the records of a TFRecord stream in blocks, checking both CRCs.

    Parameters
    ----------
    stream : a binary stream positioned at the first record.
    block_bytes : how many bytes to read at a time (a record larger than this is read
        whole).

    Attributes (filled while iterating)
    ----------
    records : number of valid records yielded.
    damage : list of :class:`Damage` for every skipped stretch (not the truncated tail).
    truncated : the :class:`Damage` for a cut-off last record, or None.
    bytes_read : total bytes read from the stream.
    stream_error : the error that ended reading early (a damaged or cut-off gzip
        stream), or None; the records read before it are kept.
    """

    def __init__(self, stream: BinaryIO, *, block_bytes: int = DEFAULT_BLOCK_BYTES) -> None:
        self._stream = stream
        self._block = max(int(block_bytes), 4096)
        self.records = 0
        self.damage: list[Damage] = []
        self.truncated: Damage | None = None
        self.bytes_read = 0
        self._kcache: dict[int, int] = {}
        self._bad_since: int | None = None  # stream offset where the current bad stretch began
        self._bad_reason = "header"
        self.stream_error: str | None = None

    # -- public --------------------------------------------------------------------
    def blocks(self) -> Iterator[RecordBlock]:
        """Yield blocks of verified records, in stream order.

        A read error (damaged or cut-off gzip data) ends the stream: the records
        before it are yielded and the error is kept in :attr:`stream_error`.
        """
        carry = b""
        base = 0  # stream offset of carry[0]
        need = self._block
        eof = False
        while not eof:
            chunk = self._read(max(need, self._block))
            if not chunk:
                eof = True
                buf = carry
            else:
                self.bytes_read += len(chunk)
                buf = carry + chunk if carry else chunk
            if not buf:
                break
            block, used, need = self._scan(buf, base, eof)
            if block is not None and len(block):
                self.records += len(block)
                yield block
            carry = buf[used:]
            base += used
            if eof:
                self._finish(carry, base)
        if self._bad_since is not None:
            self._close_bad(base + len(carry) if not eof else base)

    def _read(self, size: int) -> bytes:
        """Read up to ``size`` bytes; a stream error (damaged gzip) ends the stream."""
        if self.stream_error is not None:
            return b""
        # read1 returns what one underlying read gives, so the bytes decoded before an
        # error are not thrown away with it (a buffered read() would lose them).
        read = getattr(self._stream, "read1", None) or self._stream.read
        parts: list[bytes] = []
        got = 0
        while got < size:
            try:
                part = read(size - got)
            except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
                self.stream_error = str(exc) or type(exc).__name__
                break
            if not part:
                break
            parts.append(part)
            got += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    # -- one buffer ------------------------------------------------------------------
    def _scan(self, buf: bytes, base: int, eof: bool) -> tuple[RecordBlock | None, int, int]:
        """Return (block, bytes consumed, bytes wanted next) for one buffer."""
        if self._bad_since is None:
            fast = self._fast_frame(buf)
            if fast is not None:
                starts, lengths, end = fast
                if len(starts) and self._batch_crc_ok(buf, starts, lengths, end):
                    return RecordBlock(buf, starts, lengths, True), end, self._block
        return self._walk(buf, base, eof)

    def _fast_frame(self, buf: bytes) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Find the record chain with numpy; None when it is not a clean chain from 0."""
        n = len(buf)
        if n < _OVERHEAD:
            return None
        a = np.frombuffer(buf, dtype=np.uint8)
        last = n - HEADER_BYTES  # a full header must fit: start <= last
        z = a == 0
        m = z[3 : last + 4].copy()
        for k in (4, 5, 6, 7):
            m &= z[k : last + 1 + k]
        cand = np.flatnonzero(m)
        if not len(cand) or cand[0] != 0:
            return None
        if len(cand) > n // _DENSE:
            # Far more candidates than records fit (a zero-filled stretch, junk): keep
            # only headers whose CRC checks out, in numpy. Real logs never get here.
            cand = np.flatnonzero(m & ~_zero_headers(z, 0, last + 1))
            cand = cand[_header_crc_ok(a, cand)]
            if not len(cand) or cand[0] != 0:
                return None
        lengths = (
            a[cand].astype(np.int64)
            | (a[cand + 1].astype(np.int64) << 8)
            | (a[cand + 2].astype(np.int64) << 16)
        )
        nxt = cand + _OVERHEAD + lengths
        # A short record's header also looks like a candidate one and two bytes earlier
        # (its length's high bytes are zero), and bytes inside data can look like one
        # too. Keep only what the chain from offset 0 can reach: repeatedly drop the
        # candidates that no remaining candidate's record ends at.
        hit = np.zeros(n + 1, dtype=bool)
        for _ in range(_FAST_ROUNDS):
            hit[:] = False
            hit[np.minimum(nxt, n)] = True
            keep = hit[cand]
            keep[0] = True
            if keep.all():
                break
            cand, lengths, nxt = cand[keep], lengths[keep], nxt[keep]
        if len(cand) > 1 and not np.array_equal(nxt[:-1], cand[1:]):
            return None
        if nxt[-1] > n:  # the last record continues in the next read
            cand, lengths, nxt = cand[:-1], lengths[:-1], nxt[:-1]
        if not len(cand):
            return None
        return cand, lengths, int(nxt[-1])

    def _k(self, length: int) -> int:
        """Return crc32c of ``length`` zero bytes (the affine part of CRC-32C)."""
        k = self._kcache.get(length)
        if k is None:
            k = self._kcache[length] = _crc(bytes(length))
        return k

    def _batch_crc_ok(self, buf: bytes, starts: np.ndarray, lengths: np.ndarray, end: int) -> bool:
        """Check every header and data CRC of a clean chain with one CRC call."""
        a = np.frombuffer(buf, dtype=np.uint8, count=end)
        w = a.copy()
        k8 = self._k(8)
        # A header's CRC covers 8 bytes; a record's data CRC covers `lengths` bytes.
        slots = ((starts + 8, np.uint32(k8)), (starts + HEADER_BYTES + lengths, self._k_table(lengths)))
        for pos, kvals in slots:
            stored = (
                w[pos].astype(np.uint32)
                | (w[pos + 1].astype(np.uint32) << 8)
                | (w[pos + 2].astype(np.uint32) << 16)
                | (w[pos + 3].astype(np.uint32) << 24)
            )
            r = stored - np.uint32(_MASK_DELTA)
            # unmask, then remove the affine part: what is left is the raw CRC claimed
            raw = ((r >> np.uint32(17)) | (r << np.uint32(15))) ^ kvals
            w[pos] = (raw & 0xFF).astype(np.uint8)
            w[pos + 1] = ((raw >> 8) & 0xFF).astype(np.uint8)
            w[pos + 2] = ((raw >> 16) & 0xFF).astype(np.uint8)
            w[pos + 3] = (raw >> 24).astype(np.uint8)
        return _crc_extend(_U32, w) == _U32

    def _k_table(self, lengths: np.ndarray) -> np.ndarray:
        top = int(lengths.max())
        if top < (1 << 16):
            present = np.zeros(top + 1, dtype=bool)
            present[lengths] = True
            lut = np.zeros(top + 1, dtype=np.uint32)
            for ln in np.flatnonzero(present).tolist():
                lut[ln] = self._k(ln)
            return lut[lengths]
        uniq, inv = np.unique(lengths, return_inverse=True)
        return np.array([self._k(int(u)) for u in uniq], dtype=np.uint32)[inv]

    # -- record-by-record walk (damage, big records, odd layouts) ------------------
    def _walk(self, buf: bytes, base: int, eof: bool) -> tuple[RecordBlock | None, int, int]:
        n = len(buf)
        pos = 0
        starts: list[int] = []
        lengths: list[int] = []
        need = self._block
        while True:
            if self._bad_since is not None:
                found, pos, want = self._resync(buf, pos, eof)
                if not found:
                    need = max(want, self._block)
                    break  # wait for more data (or EOF: _finish)
                self._close_bad(base + pos)
            if pos + HEADER_BYTES > n:
                break
            length, hcrc = _HDR.unpack_from(buf, pos)
            if masked_crc32c(buf[pos : pos + 8]) != hcrc or length > MAX_RECORD_BYTES:
                self._open_bad(base + pos, "header")
                pos += 1
                continue
            end = pos + HEADER_BYTES + length
            if end + FOOTER_BYTES > n:
                need = end + FOOTER_BYTES - pos
                break
            if masked_crc32c(buf[pos + HEADER_BYTES : end]) != _U32S.unpack_from(buf, end)[0]:
                # The length checked out, so the next record starts right after this one.
                self.damage.append(Damage(base + pos, length + _OVERHEAD, "data_crc"))
                pos = end + FOOTER_BYTES
                continue
            starts.append(pos)
            lengths.append(length)
            pos = end + FOOTER_BYTES
        block = None
        if starts:
            s = np.array(starts, dtype=np.int64)
            ln = np.array(lengths, dtype=np.int64)
            contiguous = bool(np.array_equal(s[1:], s[:-1] + ln[:-1] + _OVERHEAD))
            block = RecordBlock(buf, s, ln, contiguous)
        return block, pos, need

    def _resync(self, buf: bytes, pos: int, eof: bool) -> tuple[bool, int, int]:
        """Find the next offset >= pos where a whole valid record starts.

        Returns (True, offset, 0) when found; (False, offset to keep from, bytes wanted
        from there) when the buffer ends first.
        """
        n = len(buf)
        last = n - HEADER_BYTES
        if pos > last:
            return False, pos, 0
        a = np.frombuffer(buf, dtype=np.uint8)
        z = a[pos:] == 0
        span = last - pos + 1
        m = z[4 : 4 + span].copy()  # length < 2**32: bytes 4..7 are zero
        for k in (5, 6, 7):
            m &= z[k : k + span]
        cand = np.flatnonzero(m & ~_zero_headers(z, 0, span)) + pos  # (z starts at pos)
        cand = cand[_header_crc_ok(a, cand)]  # in numpy: a run of zeros costs no Python
        for c in cand.tolist():
            length, hcrc = _HDR.unpack_from(buf, c)
            if length > MAX_RECORD_BYTES:
                continue
            end = c + HEADER_BYTES + length
            if end + FOOTER_BYTES > n:
                if eof:
                    continue
                return False, c, end + FOOTER_BYTES - c  # check its data once it is read
            if masked_crc32c(buf[c + HEADER_BYTES : end]) == _U32S.unpack_from(buf, end)[0]:
                return True, c, 0
        return False, (n if eof else max(pos, last + 1)), 0

    def _open_bad(self, offset: int, reason: str) -> None:
        if self._bad_since is None:
            self._bad_since = offset
            self._bad_reason = reason

    def _close_bad(self, offset: int) -> None:
        if self._bad_since is not None:
            if offset > self._bad_since:
                self.damage.append(Damage(self._bad_since, offset - self._bad_since, self._bad_reason))
            self._bad_since = None

    def _finish(self, rest: bytes, base: int) -> None:
        """Account for the bytes left over at the end of the stream."""
        if self._bad_since is not None:
            self._close_bad(base + len(rest))
            return
        if not rest:
            return
        if len(rest) >= HEADER_BYTES:
            _length, hcrc = _HDR.unpack_from(rest, 0)
            if masked_crc32c(rest[:8]) != hcrc:
                self.damage.append(Damage(base, len(rest), "header"))
                return
        self.truncated = Damage(base, len(rest), "truncated")
