"""What a parser reads from: a file, a directory, or an open binary stream.

A :class:`Source` gives parsers a cheap look at the first bytes (``head``, already
decompressed when the file is gzip), and opens the whole content as a binary stream
(again decompressed). Parsers never open paths themselves, so ``.gz`` logs and
streams work for every format.

This module is a leaf: parsers import it, the frame and the errors only.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from gradlog.errors import GradlogError, ParseError

__all__ = ["Source", "HEAD_BYTES", "GZIP_MAGIC"]

HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Source:
    """An input to read.

    Attributes
    ----------
    path : the file or directory, or None for a stream without a name.
    name : what error messages call it (the path, or ``<stream>``).
    head : up to the first 64 KiB of the (decompressed) content; ``b""`` for a directory.
    is_dir : True for a directory (run directories, Lightning/MLflow folders).
    compressed : True when the content is gzip-compressed.
    head_error : why decompressing the head stopped early (damaged or cut-off gzip
        data), or None.
    """

    path: Path | None
    name: str
    head: bytes = b""
    is_dir: bool = False
    compressed: bool = False
    head_error: str | None = None
    _stream: BinaryIO | None = field(default=None, repr=False)
    _consumed: bool = field(default=False, repr=False)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> "Source":
        """Return a Source for a file or directory.

        Raises
        ------
        GradlogError
            If the path does not exist or cannot be read.
        """
        p = Path(path)
        if not p.exists():
            raise GradlogError(f"{p}: no such file or directory")
        if p.is_dir():
            return cls(path=p, name=str(p), is_dir=True)
        try:
            with open(p, "rb") as fh:
                raw = fh.read(HEAD_BYTES)
        except OSError as exc:
            raise GradlogError(f"{p}: cannot read ({exc.strerror or exc})") from exc
        compressed = raw[:2] == GZIP_MAGIC
        head, error = _gunzip_head(raw, p) if compressed else (raw, None)
        return cls(path=p, name=str(p), head=head, compressed=compressed, head_error=error)

    @classmethod
    def from_stream(cls, stream: BinaryIO, name: str | None = None) -> "Source":
        """Return a Source over an open binary stream (read once, from its position).

        Raises
        ------
        GradlogError
            If the stream is a text stream.
        """
        if isinstance(stream, io.TextIOBase):
            raise GradlogError("streams must be opened in binary mode ('rb')")
        label = name or getattr(stream, "name", None) or "<stream>"
        if not isinstance(label, str):
            label = "<stream>"
        raw = stream.read(HEAD_BYTES)
        if not isinstance(raw, bytes):
            raise GradlogError(f"{label}: stream must yield bytes")
        compressed = raw[:2] == GZIP_MAGIC
        rest = _Chain(raw, stream)
        inner: BinaryIO = rest  # type: ignore[assignment]
        error = None
        if compressed:
            inner = gzip.GzipFile(fileobj=rest, mode="rb")  # type: ignore[assignment]
            head, error = _read_head(inner)
            inner = _Chain(head, inner)  # type: ignore[assignment]
        else:
            head = raw
        return cls(path=None, name=label, head=head, compressed=compressed, head_error=error,
                   _stream=inner)

    @property
    def suffix_name(self) -> str:
        """The file name without a trailing ``.gz`` (for name-based hints)."""
        base = self.path.name if self.path is not None else self.name
        return base[:-3] if base.endswith(".gz") else base

    def open(self) -> BinaryIO:
        """Open the whole (decompressed) content as a binary stream.

        A stream-backed Source can be opened once.

        Raises
        ------
        GradlogError
            If the source is a directory or a stream that was already read.
        """
        if self.is_dir:
            raise GradlogError(f"{self.name}: is a directory, not a file")
        if self._stream is not None:
            if self._consumed:
                raise GradlogError(f"{self.name}: the stream was already read")
            self._consumed = True
            return self._stream
        assert self.path is not None
        if self.compressed:
            return gzip.open(self.path, "rb")  # type: ignore[return-value]
        return open(self.path, "rb")

    def read_bytes(self) -> bytes:
        """Return the whole (decompressed) content.

        Raises
        ------
        ParseError
            If a gzip file is damaged.
        """
        with self.open() as fh:
            try:
                return fh.read()
            except (OSError, EOFError) as exc:
                raise ParseError(f"{self.name}: damaged gzip data ({exc})") from exc


def _read_head(stream: BinaryIO) -> tuple[bytes, str | None]:
    """Return (up to HEAD_BYTES from a (gzip) stream, why it stopped early or None).

    Damage stops the head quietly: the parser that reads the whole stream reports it.
    """
    parts: list[bytes] = []
    have = 0
    error = None
    while have < HEAD_BYTES:
        try:
            chunk = stream.read1(HEAD_BYTES - have)  # type: ignore[attr-defined]
        except (OSError, EOFError, zlib.error) as exc:
            error = str(exc) or type(exc).__name__
            break
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts), error


def _gunzip_head(raw: bytes, path: Path) -> tuple[bytes, str | None]:
    """Return (the decompressed head of a gzip file, why decompressing failed or None)."""
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(HEAD_BYTES), None
    except (OSError, EOFError, zlib.error) as exc:
        # A truncated or damaged gzip: return what decompresses; the parser reports it.
        error = str(exc) or type(exc).__name__
        d = zlib.decompressobj(31)
        try:
            return d.decompress(raw, HEAD_BYTES), error
        except zlib.error:
            return b"", error


class _Chain(io.RawIOBase):
    """A read-only stream that yields ``first`` and then the rest of ``stream``."""

    def __init__(self, first: bytes, stream: BinaryIO) -> None:
        self._first = memoryview(first)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        if len(self._first):
            n = min(len(b), len(self._first))
            b[:n] = self._first[:n]
            self._first = self._first[n:]
            return n
        data = self._stream.read(len(b))
        if not data:
            return 0
        n = len(data)
        b[:n] = data
        return n

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            parts = [bytes(self._first)]
            self._first = memoryview(b"")
            parts.append(self._stream.read())
            return b"".join(parts)
        return super().read(size) or b""
