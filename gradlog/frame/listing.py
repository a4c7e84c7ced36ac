"""Directory listings shared by one discovery walk: each folder listed once.

Discovery asks every format about every folder (``sniff``, ``split_runs``,
``run_members``), and each would list the same folders again. Within :func:`walk_memo`
(the walk of one survey, per thread) :func:`list_dir` lists a folder once and
:func:`walk_memoised` keeps what a format derives from a listing or a head. Outside a
walk both compute afresh, so loading one run never sees a stale listing.

Part of the frame contract (:mod:`gradlog.frame`): parsers import it; it imports nothing
of gradlog.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TypeVar, cast

__all__ = ["list_dir", "walk_memo", "walk_memoised"]

_P = TypeVar("_P", str, Path)
_T = TypeVar("_T")

#: The memo of the discovery walk under way in this thread (see :func:`walk_memo`):
#: directory listings under ``(None, path)``, other results under ``(key, path)``.
_WALK: ContextVar[dict[tuple[str | None, str], object] | None] = ContextVar("gradlog_walk", default=None)


@contextmanager
def walk_memo() -> Iterator[None]:
    """Within this block, each directory is listed once (:func:`list_dir`) and each
    :func:`walk_memoised` result computed once, however many formats ask.

    Discovery walks a tree under it: every format's ``sniff``/``split_runs`` of every
    folder asks about the same folders, and the tree is taken not to change while it is
    walked. Nested blocks share the outer memo; it is dropped when the outer block ends.
    """
    if _WALK.get() is not None:
        yield
        return
    token = _WALK.set({})
    try:
        yield
    finally:
        _WALK.reset(token)


def walk_memoised(key: str, path: _P, compute: Callable[[_P], _T]) -> _T:
    """Return ``compute(path)``, kept under ``key`` and ``path`` for the rest of the walk
    when one is under way (:func:`walk_memo`; else computed on each call). For what a
    format derives from a folder's listing or a file's head; an exception is not kept."""
    memo = _WALK.get()
    if memo is None:
        return compute(path)
    k = (key, _key(path))
    if k in memo:
        return cast(_T, memo[k])
    value = compute(path)
    memo[k] = value
    return value


def _key(path: str | os.PathLike[str]) -> str:
    """``path`` as the walk's memo knows it: as a Path shows it. Text paths come from
    the listings (``os.DirEntry.path``), which are already in that form, but for the
    ``./`` in front of what ``.`` holds."""
    if isinstance(path, Path):
        return str(path)
    text = os.fspath(path)
    while text.startswith("./") and len(text) > 2:
        text = text[2:].lstrip("/")
    return text


def list_dir(path: str | os.PathLike[str]) -> tuple[os.DirEntry[str], ...]:
    """Return the entries of the directory ``path`` (hidden ones too), sorted by name.

    During a walk (:func:`walk_memo`) each directory is listed once, however many
    formats ask (a folder that cannot be listed raises the same error each time). The
    entries' ``is_dir``/``is_file``/``is_symlink`` come from the listing (no ``stat``
    but for symbolic links, whose answers the entry keeps).

    Raises
    ------
    OSError
        If the directory cannot be listed.
    """
    memo = _WALK.get()
    if memo is None:
        return _scandir(path)
    k = (None, _key(path))
    got = memo.get(k)
    if got is None:
        try:
            got = _scandir(path)
        except OSError as exc:
            got = exc
        memo[k] = got
    if isinstance(got, OSError):  # a fresh error each time (not one traceback growing)
        raise OSError(got.errno, got.strerror, got.filename) if got.errno is not None else got
    return cast(tuple[os.DirEntry[str], ...], got)


def _scandir(path: str | os.PathLike[str]) -> tuple[os.DirEntry[str], ...]:
    with os.scandir(path) as it:
        return tuple(sorted(it, key=lambda e: e.name))
