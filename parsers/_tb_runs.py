"""Where TensorBoard runs are: event files, run directories, their parts, log roots.

A run directory holds event files itself, or phase folders (``train/``,
``validation/``) that hold them; its *parts* (phase folders, ``add_hparams`` and
``add_scalars`` folders) belong to it, its other subdirectories may be runs of their own.
A log root holds runs up to three levels down.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import DecodeError

from gradlog.errors import GradlogError
from gradlog.frame.listing import list_dir, walk_memoised
from gradlog.frame.source import Source

from . import _tfrecord as tfr
from ._tb_proto import _Event

#: Subdirectories that split one run by phase (Keras's TF2 callback writes train/ and
#: validation/); their tags are prefixed by the subdirectory.
SPLIT_DIRS = frozenset({"train", "training", "validation", "val", "valid", "eval", "evaluation", "test"})
_EVENT_NAME_RE = re.compile(r"tfevents")
_STAMP_RE = re.compile(r"tfevents\.(\d+)")
#: ``add_hparams``'s default folder name: ``str(time.time())``.
_TIMESTAMP_DIR_RE = re.compile(r"^\d{9,}(\.\d+)?$")
#: Files next to run directories that suggest the directory is an archive of other logs.
_LOG_SUFFIXES = (".log", ".csv", ".tsv", ".txt", ".json", ".jsonl", ".gz")
_ROOT_DEPTH = 3
_T = TypeVar("_T")


def _is_event_name(name: str) -> bool:
    return bool(_EVENT_NAME_RE.search(name)) and not name.startswith(".")


class _StatCache:
    """A bounded memo of per-path results, each valid while the path's ``stat`` is unchanged.

    Reading a run asks the same questions of a TensorBoard tree as finding it did (is
    this a run directory? which are its parts?), from several entry points (``sniff``,
    ``split_runs``, ``read``, ``run_members``). Listing a directory and reading an event
    file's head are done once; a repeated question costs one ``stat`` (a directory's
    mtime changes when an entry is added, removed or renamed; a file's size or mtime
    when it is written). Within one discovery walk the walk's own memo answers first
    (:func:`gradlog.frame.listing.walk_memo`: no ``stat`` at all).
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self.enabled = True
        self.hits = 0
        self.misses = 0
        self._data: dict[Path, tuple[tuple[int, int, int], object]] = {}

    def get(self, path: Path, compute: Callable[[Path], _T]) -> _T:
        """Return ``compute(path)``, from the memo when ``path`` did not change since."""
        if not self.enabled:
            return compute(path)
        try:
            st = os.stat(path)
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            return compute(path)
        hit = self._data.get(path)
        if hit is not None and hit[0] == key:
            self.hits += 1
            return hit[1]  # type: ignore[return-value]
        self.misses += 1
        value = compute(path)
        if len(self._data) >= self.max_entries:
            self._data.clear()
        self._data[path] = (key, value)
        return value

    def clear(self) -> None:
        """Forget everything (and reset the counters)."""
        self._data.clear()
        self.hits = self.misses = 0


#: Directory listings and event-file heads (see :class:`_StatCache`).
CACHE = _StatCache()


def _listdir(d: Path) -> tuple[list[Path], list[Path]]:
    """Return (non-hidden files, non-hidden subdirectories) of ``d``, sorted: once per
    discovery walk (:func:`~gradlog.frame.listing.walk_memo`), else from :data:`CACHE`."""
    return walk_memoised("tensorboard.listdir", d, _cached_listdir)


def _cached_listdir(d: Path) -> tuple[list[Path], list[Path]]:
    return CACHE.get(d, _scan_dir)


def _scan_dir(d: Path) -> tuple[list[Path], list[Path]]:
    """:func:`_listdir` without the memo. A symlink to a directory is followed unless it
    points to ``d`` or one of its ancestors (a loop); broken or looping links are left out."""
    files: list[Path] = []
    dirs: list[Path] = []
    try:
        entries = list_dir(d)  # sorted by name; listed once per discovery walk
    except OSError:
        return [], []
    real_d: str | None = None
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            if e.is_dir():
                if e.is_symlink():
                    real_d = real_d or os.path.realpath(d)
                    target = os.path.realpath(e.path)
                    if real_d == target or real_d.startswith(target.rstrip(os.sep) + os.sep):
                        continue  # a loop back up the tree
                dirs.append(Path(e.path))
            elif e.is_file():
                files.append(Path(e.path))
        except OSError:
            continue
    return files, dirs


def _has_events(d: Path) -> bool:
    files, _ = _listdir(d)
    return any(_is_event_name(f.name) for f in files)


def _head_summaries(path: Path) -> tuple[frozenset[str], bool]:
    """Return (the summary tags in the first 64 KiB of an event file, whether one of
    them is an hparams summary); empty when the head holds no decodable summary."""
    return walk_memoised("tensorboard.head", path, _cached_head_summaries)


def _cached_head_summaries(path: Path) -> tuple[frozenset[str], bool]:
    return CACHE.get(path, _read_head_summaries)


def _read_head_summaries(path: Path) -> tuple[frozenset[str], bool]:
    try:
        head = Source.from_path(path).head
    except GradlogError:
        return frozenset(), False
    tags: set[str] = set()
    hparams = False
    if len(head) < tfr.HEADER_BYTES + tfr.FOOTER_BYTES:
        return frozenset(tags), hparams
    scanner = tfr.RecordScanner(io.BytesIO(head), block_bytes=len(head))
    for blk in scanner.blocks():
        for payload in blk.payloads():
            try:
                ev = _Event.FromString(payload)
            except DecodeError:
                continue
            if ev.WhichOneof("what") != "summary":
                continue
            for v in ev.summary.value:
                if v.HasField("metadata") and v.metadata.plugin_data.plugin_name == "hparams":
                    hparams = True
                else:
                    tags.add(v.tag)
    return frozenset(tags), hparams


def _is_part(sub: Path) -> bool:
    """Return True when ``sub`` (a subdirectory holding event files) belongs to the run
    of its parent directory rather than being a run of its own.

    Parts are phase folders (``train/``, ``validation/`` ...), ``add_hparams`` folders
    (``hparams/`` or a ``time.time()`` name, or whose events hold an hparams summary)
    and PyTorch ``add_scalars`` folders (``Loss_train/`` holding tag ``Loss``: every tag
    ``t`` in the folder's first events has the folder name start with ``t`` + ``_``).
    """
    name = sub.name
    if name.lower() in SPLIT_DIRS or name.lower() == "hparams" or _TIMESTAMP_DIR_RE.match(name):
        return True
    events = _sorted_events(sub)
    if not events:
        return False
    tags, hparams = _head_summaries(events[0])
    if hparams:
        return True
    return bool(tags) and all(
        name.startswith(t.replace("/", "_") + "_") and len(name) > len(t) + 1 for t in tags
    )


def _parts(d: Path, dirs: list[Path] | None = None) -> list[Path]:
    """Return the subdirectories of run directory ``d`` that belong to its run."""
    if dirs is None:
        _files, dirs = _listdir(d)
    return [s for s in dirs if _has_events(s) and _is_part(s)]


def _is_run_dir(files: list[Path], dirs: list[Path]) -> bool:
    """A run directory holds event files itself, or phase folders that hold them."""
    return any(_is_event_name(f.name) for f in files) or any(
        s.name.lower() in SPLIT_DIRS and _has_events(s) for s in dirs
    )


def _runs_under(d: Path, depth: int) -> tuple[list[Path], bool]:
    """:func:`_find_runs`, once per directory and depth in a discovery walk (the runs of a
    folder are asked for from each of the three folders above it)."""
    runs, pure = walk_memoised(f"tensorboard.runs.{depth}", d, lambda p: _find_runs(p, depth))
    return list(runs), pure


def _find_runs(d: Path, depth: int) -> tuple[list[Path], bool]:
    """Return (the run directories under ``d``, whether ``d`` holds nothing else).

    A directory is a run when it holds event files itself, or when its phase
    subdirectories (``train/``, ``validation/`` ...) do; its subdirectories that are not
    parts of its run (see :func:`_is_part`) are searched for runs of their own, as are
    the subdirectories of other directories, ``depth`` levels deep. ``d`` is "pure" when
    it is a run itself, or holds no log-like files beside the runs (so it is safe to
    read it as a TensorBoard log root).
    """
    files, dirs = _listdir(d)
    runs: list[Path] = []
    if _is_run_dir(files, dirs):
        runs.append(d)
        parts = set(_parts(d, dirs))
        dirs = [s for s in dirs if s not in parts]
        if depth <= 0:
            return runs, True
        for s in dirs:
            runs.extend(_runs_under(s, depth - 1)[0])
        return runs, True
    pure = not any(f.name.lower().endswith(_LOG_SUFFIXES) for f in files)
    if depth <= 0:
        return [], pure and not dirs
    for s in dirs:
        sub, sub_pure = _runs_under(s, depth - 1)
        runs.extend(sub)
        pure = pure and sub_pure
    return runs, pure


@dataclass(frozen=True)
class _EventFile:
    path: Path
    prefix: str  # "" for the run directory itself, else the subdirectory (tags get "<prefix>/")


def event_files(run_dir: str | os.PathLike[str]) -> list[tuple[Path, str]]:
    """Return the event files of one run directory with the tag prefix each gets.

    Files directly in ``run_dir`` get no prefix; files in a part subdirectory (Keras's
    ``train/`` and ``validation/``, PyTorch's ``add_scalars`` and ``add_hparams``
    folders, see :func:`_is_part`) get the subdirectory's name; other subdirectories
    are runs of their own and are left out. Within a prefix, files are in the order they were written
    (the timestamp in the name, then the name).
    """
    root = Path(run_dir)
    out = [_EventFile(p, "") for p in _sorted_events(root)]
    for s in _parts(root):
        out.extend(_EventFile(p, s.name) for p in _sorted_events(s))
    return [(f.path, f.prefix) for f in out]


def run_members(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Return what belongs to the run directory ``run_dir``: every file directly in it
    and its part subdirectories (phase, ``add_scalars`` and ``add_hparams`` folders).

    Discovery does not look for other runs among these; its other subdirectories may
    hold runs of their own.
    """
    root = Path(run_dir)
    files, dirs = _listdir(root)
    return files + _parts(root, dirs)


def _sorted_events(d: Path) -> list[Path]:
    files, _ = _listdir(d)
    ev = [f for f in files if _is_event_name(f.name)]

    def order(p: Path) -> tuple[int, str]:
        m = _STAMP_RE.search(p.name)
        return (int(m.group(1)) if m else 0, p.name)

    return sorted(ev, key=order)


def split_runs(source: Source) -> list[Path]:
    """Return the run directories a directory holds (itself, when it is one run).

    A run is a directory with event files, or with phase subdirectories (``train/``,
    ``validation/``) holding them; a log root's runs are found up to three levels down.

    Returns
    -------
    list of Path, sorted; empty when there is no event file.
    """
    if not source.is_dir or source.path is None:
        return [source.path] if source.path is not None else []
    runs, _pure = runs_of(source)
    return sorted(runs)


def runs_of(source: Source) -> tuple[list[Path], bool]:
    """Return ``_runs_under(source.path)`` (the runs, whether the directory holds nothing
    else), walked once per Source and per discovery walk: ``sniff`` and ``split_runs``
    of one Source share it."""
    assert source.path is not None
    runs, pure = source.memoised("tensorboard.runs", _source_runs)
    return list(runs), pure


def _source_runs(source: Source) -> tuple[list[Path], bool]:
    assert source.path is not None
    return _runs_under(source.path, _ROOT_DEPTH)
