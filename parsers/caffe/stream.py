"""Streaming a Caffe log into the reader in large chunks of whole lines, with a cap on
the length of a line (a longer one is skipped and counted), so that memory stays
bounded on any input."""

from __future__ import annotations

import lzma
import zlib

import numpy as np

from gradlog.frame import ParseResult
from gradlog.frame.source import Source
from gradlog.parsers._csv import is_cut_number
from gradlog.parsers.caffe.reader import Reader

#: Bytes read per chunk (the last partial line is carried to the next chunk).
CHUNK_BYTES = 2 << 20
#: The longest line kept, in bytes (without its newline): a longer one is skipped and
#: counted (``meta["skipped"]["overlong_lines"]``), so that an input without newlines
#: cannot make the reader's buffer grow without bound.
MAX_LINE_BYTES = 1 << 20


def read_stream(source: Source, reader: Reader, strict: bool) -> ParseResult:
    """Stream ``source`` into ``reader`` in chunks of whole lines; return its result.

    A line longer than :data:`MAX_LINE_BYTES` is not kept: its bytes are dropped up to
    its newline (the buffer never grows past about twice that size) and the reader
    counts it. Raises what :meth:`Reader.finish` raises.
    """
    size = CHUNK_BYTES
    cap = MAX_LINE_BYTES
    buf = bytearray(size)
    dropping = -1  # bytes of an over-long line dropped so far; -1: not in one
    with source.open() as fh:
        # readinto1 makes at most one underlying read, so a damaged gzip stream still
        # yields everything before the damage; the buffer is reused for every chunk
        readinto = getattr(fh, "readinto1", None) or getattr(fh, "readinto")  # noqa: B009
        view = memoryview(buf)
        have = 0  # bytes at the front of buf: the carried partial line
        eof = False
        while not eof:
            while have < size:
                try:
                    got = readinto(view[have:size])
                except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
                    reader.tally.truncation = str(exc)
                    got = 0
                if not got:
                    eof = True
                    break
                have += got
            if dropping >= 0:  # inside an over-long line: drop it up to its newline
                nl = buf.find(b"\n", 0, have)
                if nl < 0:
                    dropping += have
                    have = 0
                    if eof:
                        reader.overlong(dropping, cap)
                    continue
                reader.overlong(dropping + nl, cap)
                dropping = -1
                rest = have - nl - 1
                buf[:rest] = buf[nl + 1 : have]
                have = rest
            end = have if eof else buf.rfind(b"\n", 0, have) + 1
            if end == 0 and not eof:
                if have > cap:  # the line is already too long: drop it
                    dropping = have
                    have = 0
                    continue
                size *= 2  # a line longer than the buffer: a bigger buffer
                bigger = bytearray(size)
                bigger[:have] = buf[:have]
                buf, view = bigger, memoryview(bigger)
                continue
            _feed_chunk(reader, buf, end, eof)
            rest = have - end
            buf[:rest] = buf[end:have]
            have = rest
        view.release()
    return reader.finish(strict=strict)


def _cut_record(line: bytes) -> bool:
    """True when ``line``, the last line of the input and without its newline, ends in a
    number cut short (``lr = 1e-0`` of ``1e-05``, ``loss = 0.`` of ``0.25``): a record
    still being written, whose value would be read wrong."""
    words = line.rsplit(None, 1)
    return bool(words) and is_cut_number(words[-1].decode("ascii", "replace"))


def _feed_chunk(reader: Reader, buf: bytearray, end: int, eof: bool) -> None:
    """Feed the lines of ``buf[:end]`` (whole lines; at the end of the input the last
    one may lack its newline), leaving out those longer than :data:`MAX_LINE_BYTES`."""
    cap = MAX_LINE_BYTES
    spans: list[tuple[int, int]] = []  # [start, newline) of each over-long line
    half = max(cap // 2, 1)
    # an over-long line holds a whole aligned window of cap/2 bytes without a newline
    if end > cap and any(buf.find(b"\n", p, p + half) < 0 for p in range(0, end - half + 1, half)):
        arr = np.frombuffer(buf, dtype=np.uint8, count=end)
        nl = np.flatnonzero(arr == 10)
        starts = np.concatenate([[0], nl + 1])
        stops = np.append(nl, end)
        for a, b in zip(starts.tolist(), stops.tolist(), strict=False):
            if b - a > cap:
                spans.append((a, b))
    if not spans:
        if eof and end and buf[end - 1] != 10:
            cut = buf.rfind(b"\n", 0, end) + 1
            if _cut_record(bytes(buf[cut:end])):
                if cut:
                    reader.feed(buf, cut)
                reader.cut_last_line()
            else:
                reader.feed(bytes(buf[:end]) + b"\n")
        elif end:
            reader.feed(buf, end)
        return
    pos = 0
    for a, b in spans:
        if a > pos:
            reader.feed(bytes(buf[pos:a]))
        reader.overlong(b - a, cap)
        pos = b + 1
    if pos < end:
        tail = bytes(buf[pos:end])
        reader.feed(tail if tail.endswith(b"\n") else tail + b"\n")
