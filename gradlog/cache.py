"""The incremental cache of ``gradlog batch``: a run whose inputs did not change is not
analysed again.

An entry is keyed by

- the content of every file the run reads (the log, a run directory's files, the
  ``hparams.yaml`` / ``args.yaml`` ... beside a log): a BLAKE2b hash of the bytes, with
  each file's size and modification time as a fast path (an unchanged ``stat`` reuses the
  hash recorded last time; a changed one is hashed again, so a file that was only
  touched still hits);
- the run's name (reports show it) and format;
- gradlog's version and the analysis configuration.

The default location is ``$XDG_CACHE_HOME/gradlog`` (``~/.cache/gradlog``). Every write
goes to a temporary file in the same folder and is renamed into place, so an interrupted
batch never leaves a half-written entry; an entry that cannot be read is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gradlog._version import __version__

__all__ = ["Cache", "atomic_write_text", "default_cache_dir", "input_files"]

#: Bumped when the layout or the meaning of an entry changes.
CACHE_LAYOUT = "1"
_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """Return ``$XDG_CACHE_HOME/gradlog``, or ``~/.cache/gradlog`` when it is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gradlog"


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed into place.

    Raises
    ------
    OSError
        If the folder cannot be written (the temporary file is removed).
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def input_files(
    path: Path, side_files: Iterable[str] = (), members: Iterable[Path] | None = None
) -> list[Path]:
    """Return the files a run at ``path`` reads, sorted.

    A file run: the file and the ``side_files`` (names) that exist beside it. A run
    directory: every non-hidden file under ``members`` (default: the whole directory).
    """
    if path.is_file():
        out = [path]
        out.extend(path.parent / n for n in side_files if (path.parent / n).is_file())
        return sorted(out)
    roots = list(members) if members is not None else [path]
    files: list[Path] = []
    for r in roots:
        if r.is_file():
            files.append(r)
            continue
        for dirpath, dirnames, filenames in os.walk(r):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            files.extend(Path(dirpath) / f for f in filenames if not f.startswith("."))
    return sorted(set(files))


class Cache:
    """Analysis results kept on disk between batches.

    Parameters
    ----------
    directory : where entries live (created on the first write).
    config : anything whose ``repr`` fingerprints the analysis configuration (default:
        :data:`gradlog.analyzers.config.DEFAULT_CONFIG`).
    """

    def __init__(self, directory: str | os.PathLike[str], config: Any = None) -> None:
        if config is None:
            from gradlog.analyzers.config import DEFAULT_CONFIG

            config = DEFAULT_CONFIG
        self.directory = Path(directory)
        self._root = self.directory / f"v{CACHE_LAYOUT}"
        self._salt = hashlib.blake2b(f"{__version__}\0{config!r}".encode(), digest_size=16).hexdigest()
        self.hashed_bytes = 0  # bytes read to hash contents (0 on a warm, untouched archive)

    # -- file digests -----------------------------------------------------------------
    def _index_path(self, f: Path) -> Path:
        h = hashlib.blake2b(os.fsencode(os.path.abspath(f)), digest_size=16).hexdigest()
        return self._root / "files" / h[:2] / f"{h}.json"

    def file_digest(self, f: Path) -> str:
        """Return the content hash of file ``f`` (recorded under its size and mtime).

        Raises
        ------
        OSError
            If ``f`` cannot be read.
        """
        st = os.stat(f)
        idx = self._index_path(f)
        try:
            rec = json.loads(idx.read_text(encoding="utf-8"))
            if rec["size"] == st.st_size and rec["mtime_ns"] == st.st_mtime_ns:
                return str(rec["digest"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        h = hashlib.blake2b(digest_size=20)
        with open(f, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                self.hashed_bytes += len(chunk)
        digest = h.hexdigest()
        self._write(idx, json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "digest": digest}))
        return digest

    # -- entries ----------------------------------------------------------------------
    def key(self, name: str, fmt: str, root: Path, files: list[Path]) -> str | None:
        """Return the entry key of a run (``name``, ``fmt``) reading ``files`` (paths under
        or beside ``root``), or None when one of them cannot be read (no caching)."""
        base = root if root.is_dir() else root.parent
        parts = [self._salt, name, fmt]
        try:
            for f in files:
                try:
                    rel = f.relative_to(base).as_posix()
                except ValueError:
                    rel = str(f)
                parts.append(f"{rel}\0{self.file_digest(f)}")
        except OSError:
            return None
        return hashlib.blake2b(
            "\n".join(parts).encode("utf-8", "surrogateescape"), digest_size=20
        ).hexdigest()

    def _entry_path(self, key: str) -> Path:
        return self._root / "runs" / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the stored value of ``key``, or None (absent or unreadable)."""
        try:
            value = json.loads(self._entry_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` (JSON-able) under ``key``; a failed write is ignored (the cache
        is an optimisation, never a reason for a batch to fail)."""
        try:
            self._write(self._entry_path(key), json.dumps(value, allow_nan=False))
        except (OSError, ValueError):
            pass

    def _write(self, path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
        except OSError:
            pass
