"""What a parser reads from: a file, a directory, or an open binary stream.

A :class:`Source` gives parsers a cheap look at the first bytes (``head``, already
decompressed when the file is gzip, bzip2 or xz), and opens the whole content as a
binary stream (again decompressed). Parsers never open paths themselves, so compressed
logs and streams work for every format.

Inputs whose size is not known in advance are read as streams and never re-opened:

* a pipe, a FIFO or a character device given as a path (``/dev/stdin``,
  ``<(zcat log.gz)``) is opened once; the head that format detection looks at is kept
  and handed back in front of the rest, so nothing is lost. A format that needs to read
  such an input twice gets a clear :class:`~gradlog.errors.GradlogError`;
* a named pipe with no writer does not block forever: after :data:`FIFO_WAIT_SECONDS`
  it is an :class:`~gradlog.errors.EmptyLogError`;
* decompressed content and pipes/devices are capped at :func:`max_stream_bytes` bytes
  (default 4 GiB; override with the ``GRADLOG_MAX_STREAM_BYTES`` environment variable,
  the module attribute :data:`MAX_STREAM_BYTES`, or ``Source.from_path(...,
  max_bytes=...)``), beyond which reading stops with a :class:`~gradlog.errors.ParseError`.

Names in messages have their control characters escaped (:func:`display_name`): a file
name holding a newline does not split an ``Error:`` line in two.

Part of the frame contract (:mod:`gradlog.frame`): parsers import it; it imports only
:mod:`gradlog.errors`.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import os
import stat
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from gradlog.errors import EmptyLogError, GradlogError, ParseError

__all__ = [
    "FIFO_WAIT_SECONDS",
    "GZIP_MAGIC",
    "HEAD_BYTES",
    "MAX_STREAM_BYTES",
    "Source",
    "display_name",
    "max_stream_bytes",
]

HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_BZ2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")

#: Default cap on the bytes read from an input whose size is not known in advance
#: (decompressed content, pipes, devices). ``None`` reads the environment variable
#: ``GRADLOG_MAX_STREAM_BYTES`` and else uses 4 GiB; set an int to override.
MAX_STREAM_BYTES: int | None = None
_DEFAULT_MAX_STREAM_BYTES = 4 << 30
#: How long a named pipe with no writer is waited for before it reads as empty.
FIFO_WAIT_SECONDS = 5.0
_BUFFER = 1 << 20
_T = TypeVar("_T")


def max_stream_bytes() -> int:
    """Return the cap on bytes read from decompressed content, pipes and devices.

    :data:`MAX_STREAM_BYTES` when set, else ``GRADLOG_MAX_STREAM_BYTES`` from the
    environment, else 4 GiB.

    Raises
    ------
    GradlogError
        If the environment variable is not a positive integer.
    """
    if MAX_STREAM_BYTES is not None:
        return int(MAX_STREAM_BYTES)
    env = os.environ.get("GRADLOG_MAX_STREAM_BYTES")
    if env is None or not env.strip():
        return _DEFAULT_MAX_STREAM_BYTES
    try:
        value = int(env)
    except ValueError:
        value = 0
    if value <= 0:
        raise GradlogError(f"GRADLOG_MAX_STREAM_BYTES={env!r}: not a positive number of bytes")
    return value


def display_name(name: str | os.PathLike[str]) -> str:
    """Return ``name`` fit for a one-line message: control and other non-printable
    characters escaped the way Python writes them (``\\n``, ``\\x1b``, ``\\u2028``)."""
    text = os.fspath(name)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _compression_of(raw: bytes) -> str | None:
    if raw[:2] == GZIP_MAGIC:
        return "gzip"
    if raw[:3] == _BZ2_MAGIC and raw[3:4].isdigit():
        return "bz2"
    if raw[:6] == _XZ_MAGIC:
        return "xz"
    return None


def _decompressing(target: Any, kind: str) -> BinaryIO:
    """Return a stream that decompresses ``target``, a path (closed with the stream) or
    an open binary stream (left open); ``kind`` comes from :func:`_compression_of`."""
    if kind == "gzip":
        return cast(BinaryIO, gzip.open(target, "rb"))
    if kind == "bz2":
        return cast(BinaryIO, bz2.open(target, "rb"))
    return cast(BinaryIO, lzma.open(target, "rb"))


def _head_from_raw(raw: bytes, kind: str) -> bytes:
    """Return what the first member of ``raw`` decompresses to (up to HEAD_BYTES)."""
    try:
        if kind == "gzip":
            return zlib.decompressobj(31).decompress(raw, HEAD_BYTES)
        if kind == "bz2":
            return bz2.BZ2Decompressor().decompress(raw, HEAD_BYTES)
        return lzma.LZMADecompressor().decompress(raw, HEAD_BYTES)
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
        return b""


def _vanished(name: str, exc: OSError) -> GradlogError:
    if isinstance(exc, FileNotFoundError):
        return GradlogError(f"{name}: no longer exists (removed after it was found?)")
    if exc.errno == errno.ELOOP:
        return GradlogError(f"{name}: too many levels of symbolic links (a symlink loop?)")
    return GradlogError(f"{name}: cannot read ({exc.strerror or exc})")


@dataclass
class Source:
    """An input to read.

    Attributes
    ----------
    path : the file or directory, or None for a stream (an open stream, a pipe, a FIFO
        or a device): a Source with a path is a regular file or directory that can be
        opened again.
    name : what error messages call it (the path with control characters escaped, or
        ``<stream>``).
    head : up to the first 64 KiB of the (decompressed) content; ``b""`` for a directory.
    is_dir : True for a directory (run directories, Lightning/MLflow folders).
    compressed : True when the content is compressed (gzip, bzip2 or xz).
    head_error : why decompressing the head stopped early (damaged or cut-off
        compressed data), or None.
    compression : ``"gzip"``, ``"bz2"``, ``"xz"`` or None.
    max_bytes : the most bytes read from decompressed content or a stream (see
        :func:`max_stream_bytes`).
    """

    path: Path | None
    name: str
    head: bytes = b""
    is_dir: bool = False
    compressed: bool = False
    head_error: str | None = None
    compression: str | None = None
    max_bytes: int = field(default_factory=max_stream_bytes)
    _stream: io.RawIOBase | None = field(default=None, repr=False)
    _consumed: bool = field(default=False, repr=False)
    #: Per-Source memo for parsers (e.g. a directory walk shared by sniff and split).
    memo: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    def memoised(self, key: str, compute: Callable[[Source], _T]) -> _T:
        """Return ``compute(self)``, computed once per Source and kept under ``key``.

        For what several formats ask of the same head (is it a CSV table, and with which
        header?): discovery and format detection sniff one Source with every format, so
        a question answered once is answered for all of them. ``compute`` must depend on
        the Source only (its head, path and kind), and its result must not be changed by
        the caller. An exception is not kept: it is raised again on the next call.
        """
        memo = self.memo
        if key in memo:
            return cast(_T, memo[key])
        value = compute(self)
        memo[key] = value
        return value

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Source:
        """Return a Source for a file, a directory, or a pipe/FIFO/device path.

        A path that is not a regular file or a directory (``/dev/stdin``, a named pipe,
        ``<(zcat log.gz)``) is opened once here and read as a stream.

        Raises
        ------
        GradlogError
            If the path does not exist or cannot be read (the message names it, with
            control characters escaped).
        EmptyLogError
            If the path is a named pipe that nothing was written to within
            :data:`FIFO_WAIT_SECONDS`.
        """
        p = path if isinstance(path, Path) else Path(path)
        name = display_name(p)
        cap = max_stream_bytes() if max_bytes is None else int(max_bytes)
        try:
            st = os.stat(p)
        except FileNotFoundError:
            raise GradlogError(f"{name}: no such file or directory") from None
        except OSError as exc:
            raise _vanished(name, exc) from exc
        if stat.S_ISDIR(st.st_mode):
            return cls(path=p, name=name, is_dir=True, max_bytes=cap)
        if not stat.S_ISREG(st.st_mode):
            return cls._from_special(p, name, st, cap)
        try:
            with open(p, "rb") as fh:
                raw = fh.read(HEAD_BYTES)
                kind = _compression_of(raw)
                if kind is None:
                    return cls(path=p, name=name, head=raw, max_bytes=cap)
                fh.seek(0)
                head, error = _read_head(_decompressing(fh, kind))
        except OSError as exc:
            raise _vanished(name, exc) from exc
        if error is not None:
            # A cut-off or damaged stream: return what decompresses; the parser reports it.
            alt = _head_from_raw(raw, kind)
            head = alt if len(alt) > len(head) else head
        return cls(
            path=p, name=name, head=head, compressed=True, head_error=error, compression=kind, max_bytes=cap
        )

    @classmethod
    def _from_special(cls, p: Path, name: str, st: os.stat_result, cap: int) -> Source:
        """Open a pipe, FIFO or device once and return it as a stream Source."""
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise _vanished(name, exc) from exc
        try:
            first = _first_bytes(fd) if stat.S_ISFIFO(st.st_mode) else b""
            if first is None:
                raise EmptyLogError(
                    f"{name}: a named pipe that nothing was written to "
                    f"(waited {FIFO_WAIT_SECONDS:g} s for a writer)"
                )
            os.set_blocking(fd, True)
            fh = os.fdopen(fd, "rb", buffering=0)
        except BaseException:
            os.close(fd)
            raise
        return cls.from_stream(
            cast(BinaryIO, _Chain(first, fh, own=True)), name=name, max_bytes=cap, _own=True
        )

    @classmethod
    def from_stream(
        cls, stream: BinaryIO, name: str | None = None, *, max_bytes: int | None = None, _own: bool = False
    ) -> Source:
        """Return a Source over an open binary stream (read once, from its position).

        The head read for detection is kept and given back in front of the rest when
        the stream is opened, so nothing is lost. The stream is left open.

        Raises
        ------
        GradlogError
            If the stream is a text stream, or does not yield bytes.
        """
        if isinstance(stream, io.TextIOBase):
            raise GradlogError("streams must be opened in binary mode ('rb')")
        label = name or getattr(stream, "name", None) or "<stream>"
        label = display_name(label) if isinstance(label, (str, os.PathLike)) else "<stream>"
        cap = max_stream_bytes() if max_bytes is None else int(max_bytes)
        try:
            raw = _read_full(stream, HEAD_BYTES)
        except OSError as exc:
            raise GradlogError(f"{label}: cannot read ({exc.strerror or exc})") from exc
        if not isinstance(raw, bytes):
            raise GradlogError(f"{label}: stream must yield bytes")
        kind = _compression_of(raw)
        rest = _Chain(raw, stream, own=_own)
        inner: io.RawIOBase
        error = None
        if kind is not None:
            dec = _Capped(_decompressing(rest, kind), cap, label)
            head, error = _read_head(dec)
            inner = _Chain(head, dec)
        else:
            head = raw
            inner = _Chain(b"", _Capped(rest, cap, label))
        return cls(
            path=None,
            name=label,
            head=head,
            compressed=kind is not None,
            head_error=error,
            compression=kind,
            max_bytes=cap,
            _stream=inner,
        )

    @property
    def suffix_name(self) -> str:
        """The file name without a trailing ``.gz``/``.bz2``/``.xz`` (for name-based hints)."""
        base = self.path.name if self.path is not None else self.name
        for suffix in _COMPRESSED_SUFFIXES:
            if base.endswith(suffix):
                return base[: -len(suffix)]
        return base

    @property
    def is_stream(self) -> bool:
        """True when the Source can be read only once (a stream, pipe, FIFO or device)."""
        return self._stream is not None

    def open(self) -> BinaryIO:
        """Open the whole (decompressed) content as a binary stream.

        A stream-backed Source can be opened once.

        Raises
        ------
        GradlogError
            If the source is a directory, a stream that was already read, or a file
            that was removed (or became unreadable) since it was found.
        """
        if self.is_dir:
            raise GradlogError(f"{self.name}: is a directory, not a file")
        if self._stream is not None:
            if self._consumed:
                raise GradlogError(
                    f"{self.name}: the stream was already read (a stream, pipe or device is "
                    "read once, and this format needs to read it again: save it to a file)"
                )
            self._consumed = True
            return cast(BinaryIO, io.BufferedReader(self._stream, _BUFFER))
        assert self.path is not None
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - returned to the caller
        except OSError as exc:
            raise _vanished(self.name, exc) from exc
        if self.compression is None:
            return fh
        fh.close()  # (opened to report a vanished file clearly; the decompressor reopens it)
        try:
            dec = _decompressing(self.path, self.compression)
        except OSError as exc:
            raise _vanished(self.name, exc) from exc
        capped = _Capped(dec, self.max_bytes, self.name)
        return cast(BinaryIO, io.BufferedReader(capped, _BUFFER))

    def read_bytes(self, max_bytes: int | None = None) -> bytes:
        """Return the whole (decompressed) content.

        Parameters
        ----------
        max_bytes : refuse content longer than this (a whole-document format's cap);
            None for no cap beyond the Source's own stream cap.

        Raises
        ------
        ParseError
            If compressed data is damaged, or the content is longer than ``max_bytes``.
        GradlogError
            If the file cannot be read (removed, unreadable).
        """
        with self.open() as fh:
            try:
                if max_bytes is None:
                    return fh.read()
                data = fh.read(max_bytes + 1)
            except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
                if isinstance(exc, OSError) and self.compression is None:
                    raise _vanished(self.name, exc) from exc
                raise ParseError(f"{self.name}: damaged {self.compression} data ({exc})") from exc
        if len(data) > max_bytes:
            raise ParseError(
                f"{self.name}: longer than {max_bytes} bytes, the most this format reads into memory"
            )
        return data


def _read_full(stream: Any, size: int) -> Any:
    """Read up to ``size`` bytes, looping over short reads (pipes), until EOF."""
    parts: list[bytes] = []
    have = 0
    while have < size:
        chunk = stream.read(size - have)
        if not isinstance(chunk, bytes):
            return chunk  # let the caller report the wrong type
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def _first_bytes(fd: int) -> bytes | None:
    """Return the first bytes of a non-blocking FIFO, waiting for a writer a while.

    A read that would block means a writer is connected (returns ``b""``: the caller
    then reads in blocking mode); an end of file means no writer yet: wait up to
    FIFO_WAIT_SECONDS, then return None.
    """
    deadline = time.monotonic() + FIFO_WAIT_SECONDS
    while True:
        try:
            data = os.read(fd, HEAD_BYTES)
        except BlockingIOError:
            return b""
        if data:
            return data
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _read_head(stream: Any) -> tuple[bytes, str | None]:
    """Return (up to HEAD_BYTES from a decompressing stream, why it stopped early or None).

    Damage stops the head quietly: the parser that reads the whole stream reports it.
    """
    parts: list[bytes] = []
    have = 0
    error = None
    read = getattr(stream, "read1", None) or stream.read
    while have < HEAD_BYTES:
        try:
            chunk = read(HEAD_BYTES - have)
        except GradlogError:
            raise
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            error = str(exc) or type(exc).__name__
            break
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts), error


class _Capped(io.RawIOBase):
    """A read-only stream over ``inner`` that stops with a ParseError past ``cap`` bytes."""

    def __init__(self, inner: Any, cap: int, name: str) -> None:
        self._inner = inner
        self._cap = cap
        self._name = name
        self._seen = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()

    def _count(self, n: int) -> None:
        self._seen += n
        if self._seen > self._cap:
            raise ParseError(
                f"{self._name}: the decompressed or streamed content is longer than "
                f"{self._cap} bytes, the most gradlog reads from such an input (set "
                "GRADLOG_MAX_STREAM_BYTES to raise it)"
            )

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        readinto = getattr(self._inner, "readinto1", None) or getattr(self._inner, "readinto", None)
        if readinto is not None:
            n = readinto(b) or 0
        else:  # pragma: no cover - every stream we wrap has readinto
            data = self._inner.read(len(b))
            n = len(data)
            b[:n] = data
        self._count(n)
        return n

    def read1(self, size: int = -1) -> bytes:
        read1 = getattr(self._inner, "read1", None) or self._inner.read
        data = read1(size if size is not None and size >= 0 else _BUFFER)
        self._count(len(data))
        return data


class _Chain(io.RawIOBase):
    """A read-only stream that yields ``first`` and then the rest of ``stream``."""

    def __init__(self, first: bytes, stream: Any, *, own: bool = True) -> None:
        self._first = memoryview(first)
        self._stream = stream
        self._own = own  # close ``stream`` with this one

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            if self._own:
                self._stream.close()
        finally:
            super().close()

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        if len(self._first):
            n = min(len(b), len(self._first))
            b[:n] = self._first[:n]
            self._first = self._first[n:]
            return n
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            return readinto(b) or 0
        data = self._stream.read(len(b))  # pragma: no cover - streams without readinto
        if not data:
            return 0
        n = len(data)
        b[:n] = data
        return n

    def read1(self, size: int = -1) -> bytes:
        if len(self._first):
            n = len(self._first) if size is None or size < 0 else min(size, len(self._first))
            out = bytes(self._first[:n])
            self._first = self._first[n:]
            return out
        read1 = getattr(self._stream, "read1", None) or self._stream.read
        return read1(size if size is not None and size >= 0 else _BUFFER)

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            parts = [bytes(self._first)]
            self._first = memoryview(b"")
            parts.append(self._stream.read())
            return b"".join(parts)
        return super().read(size) or b""
