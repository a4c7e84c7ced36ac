"""Discovery: which files and folders under a path are runs, and why the others are not.

Walks an archive tree once. A directory that a format reads as a whole (a TensorBoard
run directory, a Lightning version folder, an MLflow run) is one run; every other file
is sniffed by the parsers in detection order. A generic table is a run only when it
looks like a training log (a step-like column, or a column playing a role: loss,
learning rate, validation, gradient norm) — that question is asked here, with
:mod:`gradlog.roles`, not in the parsers. :func:`survey` accounts for every file that is
not a run (:class:`Unread`, with a one-line reason).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gradlog.errors import GradlogError
from gradlog.frame.listing import list_dir, walk_memo
from gradlog.frame.source import Source
from gradlog.frame.tags import normalise_tags
from gradlog.parsers import REGISTRY, all_parsers
from gradlog.roles import infer_roles

__all__ = [
    "LOG_SUFFIXES",
    "SIDE_FILES",
    "RunRef",
    "Survey",
    "Unread",
    "discover",
    "looks_like_run",
    "survey",
    "tb_name",
]


@dataclass(frozen=True)
class RunRef:
    """A run found on disk: where it is and which format reads it."""

    path: Path
    format: str


def discover(
    path: str | os.PathLike[str], *, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> list[RunRef]:
    """Find every run under ``path`` (a file, a run directory, or an archive tree).

    Directories a format reads as a whole (TensorBoard run directories, Lightning
    version folders, MLflow runs) are one run each; other files are sniffed one by one.
    Hidden files and directories are skipped, and symbolic links to folders are not
    followed. Files no format recognises are left out, and so are tables the generic CSV
    format would read but that have neither a step-like column nor a loss, LR,
    validation or gradient column (datasets, predictions, manifests); ``gradlog.load``
    of such a file still reads it. :func:`survey` says why each of those was left out.

    Parameters
    ----------
    include, exclude : glob patterns (``fnmatch``, ``*`` also crosses ``/``) matched
        against the path relative to ``path`` and against the name; see :func:`survey`.

    Returns
    -------
    list of RunRef, sorted by path.

    Raises
    ------
    GradlogError
        If ``path`` does not exist.
    """
    return survey(path, include=include, exclude=exclude).runs


def survey(
    path: str | os.PathLike[str], *, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> Survey:
    """Walk ``path`` and account for everything it holds: the runs, and why every other
    file (and every folder that could not be searched) is not one.

    A file a run consumes (the files of a run directory, ``hparams.yaml``, ``args.yaml``,
    ``config.json`` ... beside a log) belongs to that run and is not listed. Every other
    file the walk considered is a run or an :class:`Unread` entry:

    - ``error``: a ``.log``, ``.csv``, ``.tsv``, ``.jsonl`` or event file that no format
      claims (the message lists the formats tried), an empty such file, a file or folder
      that cannot be read (permission), a symbolic link loop or a broken link;
    - ``skipped``: plainly not a log (an image, a checkpoint, an archive, a JSON/YAML/text
      file holding no series, a table that is not a training log, an older copy of a
      run, a symbolic link to a folder, which is not followed).

    Parameters
    ----------
    include : keep only runs (files or run folders) whose relative path or name
        matches one of these globs (default: all).
    exclude : leave out files and folders (not searched) whose relative path or name
        matches one of these globs.

    Returns
    -------
    Survey
        ``runs`` (RunRef, sorted by path) and ``unread`` (Unread, sorted by path).

    Raises
    ------
    GradlogError
        If ``path`` does not exist (a dangling link, or nothing there).
    """
    root = Path(path)
    if not os.path.lexists(root):
        raise GradlogError(f"{shown(root)}: no such file or directory")
    with walk_memo():  # each folder listed once, however many formats ask about it
        return _survey(root, _Walk(root, tuple(include), tuple(exclude)))


def _survey(root: Path, walk: _Walk) -> Survey:
    """:func:`survey` of an existing ``root``, inside the walk's listing memo."""
    try:
        st = os.stat(root)
    except OSError as exc:
        walk.unread.append(
            _link_problem(root, exc)
            or Unread(root, "error", f"{shown(root)}: cannot read ({exc.strerror or exc})")
        )
        return walk.result()
    if stat.S_ISDIR(st.st_mode):
        walk.directory(root)
    elif stat.S_ISREG(st.st_mode):
        walk.file(root, side=False, named=True)
    else:
        walk.unread.append(Unread(root, "skipped", f"{shown(root)}: {_special(st.st_mode)}"))
    return walk.result()


@dataclass(frozen=True)
class Unread:
    """A file or folder that discovery considered and that is not a run.

    Attributes
    ----------
    path : the file or folder.
    status : ``"error"`` (damaged, unreadable, or a log-like file no format reads) or
        ``"skipped"`` (plainly not a log).
    reason : one line naming the file and saying why.
    format : the format that claimed the file, when one did (else ``""``).
    """

    path: Path
    status: str
    reason: str
    format: str = ""


@dataclass
class Survey:
    """What :func:`survey` found: ``runs`` and everything else, ``unread``."""

    runs: list[RunRef] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)


#: Side files a run beside them consumes (hyper-parameters, configs); no row of their own.
SIDE_FILES = frozenset(
    {
        "hparams.yaml",
        "hparams.yml",
        "hparams.json",
        "args.yaml",
        "opt.yaml",
        "hyp.yaml",
        "config.json",
        "config.yaml",
        "meta.yaml",
        "params.yaml",
        "training_args.json",
        "trainer_config.yaml",
    }
)
#: Suffixes of files that are meant to be logs: when no format reads one, that is an error.
LOG_SUFFIXES = (".log", ".csv", ".tsv", ".jsonl")
_NOT_LOGS: tuple[tuple[tuple[str, ...], str], ...] = (
    ((".png", ".jpg", ".jpeg", ".gif", ".bmp", ".svg", ".webp", ".tif", ".tiff", ".ico"), "an image"),
    (
        (
            ".pt",
            ".pth",
            ".ckpt",
            ".caffemodel",
            ".solverstate",
            ".h5",
            ".hdf5",
            ".pb",
            ".onnx",
            ".safetensors",
            ".bin",
            ".npy",
            ".npz",
            ".pkl",
            ".pickle",
            ".weights",
            ".params",
            ".keras",
            ".tflite",
            ".engine",
            ".torchscript",
            ".mlmodel",
        ),
        "a model or data file",
    ),
    ((".zip", ".tar", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst"), "an archive"),
    (
        (
            ".py",
            ".sh",
            ".ipynb",
            ".prototxt",
            ".md",
            ".rst",
            ".html",
            ".pdf",
            ".cfg",
            ".ini",
            ".toml",
            ".txt",
            ".yaml",
            ".yml",
            ".json",
            ".xml",
            ".mp4",
            ".avi",
            ".wav",
        ),
        "a document, script, config or media file",
    ),
)


def shown(p: Path | str) -> str:
    """``p`` as a message shows it: control characters escaped (one line per message)."""
    s = str(p)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


def _special(mode: int) -> str:
    kind = (
        "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )
    return f"{kind}, not a log file (not read)"


def _link_problem(p: Path, exc: OSError) -> Unread | None:
    if exc.errno == errno.ELOOP:
        return Unread(p, "error", f"{shown(p)}: symbolic link loop (not followed)")
    if exc.errno == errno.ENOENT and os.path.islink(p):
        return Unread(
            p,
            "error",
            f"{shown(p)}: broken symbolic link (its target {shown(os.readlink(p))} does not exist)",
        )
    return None


class _Walk:
    """One discovery walk: the runs found, the rest accounted for."""

    def __init__(self, root: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> None:
        self.root = root
        self.include = include
        self.exclude = exclude
        self.found: list[RunRef] = []
        self.unread: list[Unread] = []
        self.seen: set[Path] = set()
        self._side: list[Path] = []  # side files of the current folder, decided at its end
        self._side_used: set[Path] = set()  # folders in which a run consumes side files

    # -- filters ----------------------------------------------------------------------
    def _rel(self, p: Path) -> str:
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return p.as_posix()

    def _matches(self, p: Path, patterns: tuple[str, ...]) -> bool:
        rel = self._rel(p)
        return any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(p.name, g) for g in patterns)

    def excluded(self, p: Path) -> bool:
        return bool(self.exclude) and p != self.root and self._matches(p, self.exclude)

    def excluded_within(self, p: Path) -> bool:
        """``p`` or a folder between it and the root is excluded (runs a format lists)."""
        if not self.exclude:
            return False
        q = p
        while q != self.root and q != q.parent:
            if self.excluded(q):
                return True
            q = q.parent
        return False

    def included(self, p: Path) -> bool:
        return not self.include or self._matches(p, self.include)

    # -- results ----------------------------------------------------------------------
    def add_run(self, p: Path, fmt: str) -> None:
        if p in self.seen:
            return
        self.seen.add(p)
        if self.included(p) and not self.excluded_within(p):
            self.found.append(RunRef(p, fmt))
        if not p.is_dir():
            self._side_used.add(p.parent)

    def add_unread(self, p: Path, status: str, reason: str, fmt: str = "") -> None:
        if self.included(p):
            self.unread.append(Unread(p, status, reason, fmt))

    def result(self) -> Survey:
        return Survey(
            sorted(self.found, key=lambda r: str(r.path)), sorted(self.unread, key=lambda u: str(u.path))
        )

    def flush_side_files(self) -> None:
        for p in self._side:
            if p.parent not in self._side_used:
                self.file(p, side=False)
        self._side = []

    # -- walking ----------------------------------------------------------------------
    def directory(self, directory: Path) -> None:
        """Add the runs under ``directory``.

        When a format reads ``directory`` (a run directory or a root of runs), its runs
        are taken, and the rest of the directory is still searched: a run's own files
        and part folders (a parser's optional ``run_members(run_dir)``; the whole
        directory for formats without it) are left alone, other subdirectories may hold
        runs of other formats.
        """
        covered: set[Path] = set()
        try:
            src = Source.from_path(directory)
            for parser in all_parsers():
                if not parser.sniff(src):
                    continue
                split = getattr(parser, "split_runs", None)
                members = getattr(parser, "run_members", None)
                runs = [_as_path(r) for r in split(src)] if split is not None else [directory]
                for r in runs:
                    self.add_run(r, parser.NAME)
                    if members is None:
                        covered.add(r)
                    elif r == directory:
                        covered.update(_as_path(m) for m in members(r))
                    elif r.parent == directory and not r.is_dir():
                        covered.add(r)
                    # (the members of a run further down are left out when the walk
                    # gets to its folder: only this folder's entries are looked up here)
                break
        except (GradlogError, OSError) as exc:
            self.add_unread(
                directory,
                "error",
                f"{shown(directory)}: cannot search this folder ({getattr(exc, 'strerror', None) or exc})",
            )
            return
        if directory in covered:
            return
        try:
            entries = list_dir(directory)
        except OSError as exc:
            self.add_unread(
                directory, "error", f"{shown(directory)}: cannot open this folder ({exc.strerror or exc})"
            )
            return
        side, self._side = self._side, []
        for entry in entries:
            p = Path(entry.path)
            if entry.name.startswith(".") or p in covered or self.excluded(p):
                continue
            self.entry(entry, p)
        self.flush_side_files()
        self._side = side

    def entry(self, entry: os.DirEntry[str], p: Path) -> None:
        try:
            if entry.is_dir(follow_symlinks=False):
                self.directory(p)
                return
            if entry.is_symlink():
                st = os.stat(p)  # the target; a loop or a dangling link raises
                if stat.S_ISDIR(st.st_mode):
                    self.add_unread(p, "skipped", f"{shown(p)}: symbolic link to a folder (not followed)")
                    return
            else:
                st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            problem = _link_problem(p, exc)
            if problem is not None:
                self.add_unread(p, problem.status, problem.reason)
            else:
                self.add_unread(p, "error", f"{shown(p)}: cannot read ({exc.strerror or exc})")
            return
        if not stat.S_ISREG(st.st_mode):
            self.add_unread(p, "skipped", f"{shown(p)}: {_special(st.st_mode)}")
            return
        self.file(p)

    def file(self, p: Path, *, side: bool = True, named: bool = False) -> None:
        """Classify one regular file: a run, or an Unread entry saying why not.

        A file ``named`` by the user (the walk's root) is a run when a format reads it,
        even an older copy of a run or a table that does not look like a training log.
        """
        name = p.name.removesuffix(".gz")
        if side and name.lower() in SIDE_FILES:
            self._side.append(p)  # a run beside it consumes it; else classified at the end
            return
        try:
            s = Source.from_path(p)
        except GradlogError as exc:
            self.add_unread(p, "error", shown(str(exc)))
            return
        loglike = name.lower().endswith(LOG_SUFFIXES) or tb_name(name)
        if not s.head:
            if s.head_error is not None:
                self.add_unread(
                    p,
                    "error",
                    f"{shown(p)}: damaged {s.compression or 'gzip'} data, nothing could be decompressed ({s.head_error})",
                )
            else:
                self.add_unread(p, "error" if loglike else "skipped", f"{shown(p)}: empty file")
            return
        try:
            for parser in all_parsers():
                if not parser.sniff(s):
                    continue
                superseded = getattr(parser, "superseded", None)
                if superseded is not None and not named and superseded(p):
                    self.add_unread(
                        p,
                        "skipped",
                        f"{shown(p)}: an older copy of a run listed through its latest copy",
                        parser.NAME,
                    )
                    return
                header = getattr(parser, "table_header", None)
                table = header(s) if header is not None and not named else None
                if table is not None and not looks_like_run(*table):
                    self.add_unread(
                        p,
                        "skipped",
                        f"{shown(p)}: a table with no step-like column "
                        "and no loss, LR, validation or gradient "
                        "column (not a training log)",
                        parser.NAME,
                    )
                    return
                self.add_run(p, parser.NAME)
                return
        except (GradlogError, OSError) as exc:
            self.add_unread(p, "error", shown(str(exc)))
            return
        tried = ", ".join(REGISTRY)
        if loglike:
            self.add_unread(
                p, "error", f"{shown(p)}: not a training log gradlog can read (formats tried: {tried})"
            )
            return
        low = name.lower()
        what = next((kind for suffixes, kind in _NOT_LOGS if low.endswith(suffixes)), None)
        if what is not None:
            self.add_unread(p, "skipped", f"{shown(p)}: {what}, not a training log")
            return
        what = "binary data" if b"\x00" in s.head[:4096] else "no format reads it"
        self.add_unread(p, "skipped", f"{shown(p)}: {what} (formats tried: {tried})")


def _as_path(p: str | os.PathLike[str]) -> Path:
    return p if isinstance(p, Path) else Path(p)


def tb_name(name: str) -> bool:
    """Return True when ``name`` looks like a TensorBoard event file's name."""
    return "tfevents" in name and not name.startswith(".")


#: Roles any one of which makes a table a training log.
_RUN_ROLES = ("loss", "lr", "val_loss", "val_metric", "grad_total", "grad")


def looks_like_run(names: Sequence[str], has_step_column: bool) -> bool:
    """Return True when a table with these column names looks like a training log: it
    has a step-like column (``has_step_column``, as the parser judged its header) or a
    column that plays a role (a loss, a learning rate, a validation metric, a gradient
    norm). A dataset, a predictions file or a manifest has neither."""
    if has_step_column:
        return True
    roles = infer_roles(normalise_tags([n for n in names if n]).values())
    return any(roles[r] for r in _RUN_ROLES)
