"""The common frame: the tidy table every parser returns and everything else reads.

One row per logged scalar, columns (in this order):

========== ================ =====================================================
column     dtype            meaning
========== ================ =====================================================
tag        category (str)   normalised ``<group>/<name>`` tag (``train/loss``)
step       int64            iteration / global step (the epoch for per-epoch logs)
value      float64          the value; NaN and +-inf kept as logged
wall_time  float64          Unix seconds, NaN where the log has none
source_tag category (str)   the name as it appears in the log
========== ================ =====================================================

Rows are sorted by (tag, step) with the categories of ``tag`` in alphabetical order,
and no (tag, step) pair appears twice: when a log re-records a step (a resumed job),
the later record wins and the number of replaced points is reported by
:func:`build_frame`.

Part of the frame contract (:mod:`gradlog.frame`): parsers import it; it imports only
:mod:`gradlog.errors`.
"""

from __future__ import annotations

import mmap
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gradlog.errors import FrameError

__all__ = [
    "COLUMNS",
    "DTYPES",
    "ParseResult",
    "build_frame",
    "empty_frame",
    "layout_frame",
    "long_column",
    "take_vouched",
    "validate_frame",
    "vouch",
]

COLUMNS: tuple[str, ...] = ("tag", "step", "value", "wall_time", "source_tag")
DTYPES: dict[str, str] = {
    "tag": "category",
    "step": "int64",
    "value": "float64",
    "wall_time": "float64",
    "source_tag": "category",
}


#: Arrays of at least this many bytes come from an anonymous memory map (see long_column).
_MAP_BYTES = 16 << 20
_MAP_FLAGS = (
    getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0) | getattr(mmap, "MAP_POPULATE", 0)
)


def long_column(n: int, dtype: Any, fill: float | None = None) -> np.ndarray:
    """Return a writable array of ``n`` elements for a long frame column, uninitialised
    unless ``fill`` is given.

    Large arrays are an anonymous memory map, faulted in by the one system call that maps
    it (``MAP_POPULATE`` where the platform has it) instead of one page fault per 4 KiB
    page as the array is first written, and without the transparent-huge-page advice of
    numpy's allocator (slow to fault in on a busy VM). Measured here on a 19-million-row
    float64 column: mapping and filling it takes about half the time of faulting the
    pages in one by one. The map is released with the array. Small arrays use
    :func:`numpy.empty`.
    """
    dt = np.dtype(dtype)
    nbytes = int(n) * dt.itemsize
    if nbytes < _MAP_BYTES:
        out = np.empty(n, dtype=dt)
    else:
        try:
            buf = mmap.mmap(-1, nbytes, flags=_MAP_FLAGS) if _MAP_FLAGS else mmap.mmap(-1, nbytes)
        except (OSError, ValueError):  # no such flags on this platform
            buf = mmap.mmap(-1, nbytes)
        out = np.frombuffer(buf, dtype=dt, count=n)
    if fill is not None:
        out.fill(fill)
    return out


def _categorical(values: Any) -> pd.Categorical:
    if isinstance(values, pd.Categorical):
        cats = values.categories
        if len(cats) and not cats.is_monotonic_increasing:
            return values.reorder_categories(sorted(cats))
        return values
    arr = np.asarray(values, dtype=object)
    if arr.size == 0:
        return pd.Categorical([], categories=pd.Index([], dtype=object))
    uniques, codes = np.unique(arr.astype(str), return_inverse=True)
    return pd.Categorical.from_codes(codes.astype(np.int32), categories=pd.Index(uniques, dtype=object))


def empty_frame() -> pd.DataFrame:
    """Return a frame with the common columns and dtypes and no rows."""
    return build_frame([], [], [])[0]


def build_frame(
    tag: Sequence[str] | pd.Categorical | np.ndarray,
    step: Sequence[int] | np.ndarray,
    value: Sequence[float] | np.ndarray,
    wall_time: Sequence[float] | np.ndarray | None = None,
    source_tag: Sequence[str] | pd.Categorical | np.ndarray | Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Assemble, sort and de-duplicate rows into the common frame.

    Parameters
    ----------
    tag, step, value : array-likes of equal length, in the order the log recorded them.
    wall_time : optional array-like (NaN where unknown); all NaN when omitted.
    source_tag : optional array-like of the original names, or a mapping from the
        normalised tag to its original name; the tag itself when omitted.

    Returns
    -------
    (frame, replaced) : the validated frame, and how many points were dropped because
        a later record re-logged the same (tag, step) (the later record wins).

    Raises
    ------
    FrameError
        If the columns have different lengths or a step is not an integer.
    """
    tags = _categorical(tag)
    n = len(tags)
    steps = np.asarray(step)
    if steps.dtype.kind == "f":
        if not np.all(np.isfinite(steps)) or np.any(steps != np.round(steps)):
            raise FrameError("steps must be integers")
        steps = steps.astype(np.int64)
    elif steps.size == 0:
        steps = steps.astype(np.int64)
    elif steps.dtype.kind not in "iu":
        raise FrameError(f"steps must be integers, got dtype {steps.dtype}")
    steps = steps.astype(np.int64, copy=False)
    values = np.asarray(value, dtype=np.float64)
    walls = (
        np.full(n, np.nan, dtype=np.float64) if wall_time is None else np.asarray(wall_time, dtype=np.float64)
    )
    if not (len(steps) == len(values) == len(walls) == n):
        raise FrameError(
            f"columns differ in length: tag {n}, step {len(steps)}, value {len(values)}, "
            f"wall_time {len(walls)}"
        )

    codes = np.asarray(tags.codes).astype(np.int32, copy=False)
    if n and np.any(codes < 0):
        raise FrameError("a tag is missing (None)")
    # Sort by (tag, step), stable, so that among equal keys the later record is last.
    if n > 1 and not _is_sorted_unique(codes, steps):
        order = np.lexsort((steps, codes))
        codes, steps, values, walls = codes[order], steps[order], values[order], walls[order]
        src_order: np.ndarray | None = order
    else:
        src_order = None
    replaced = 0
    if n > 1:
        same_next = (codes[1:] == codes[:-1]) & (steps[1:] == steps[:-1])
        if same_next.any():
            keep = np.ones(n, dtype=bool)
            keep[:-1] = ~same_next  # keep the last of each run of equal keys
            replaced = int(n - keep.sum())
            codes, steps, values, walls = codes[keep], steps[keep], values[keep], walls[keep]
            src_order = np.flatnonzero(keep) if src_order is None else src_order[keep]

    tag_col = pd.Categorical.from_codes(codes.astype(np.int32), categories=tags.categories)
    src_col = tag_col if source_tag is None else _source_column(source_tag, tags, codes, src_order)

    frame = pd.DataFrame(
        {
            "tag": tag_col,
            "step": steps,
            "value": values,
            "wall_time": walls,
            "source_tag": src_col,
        },
        copy=False,
    )
    for col in ("tag", "source_tag"):
        c = frame[col].cat
        if len(c.codes) and np.bincount(c.codes.to_numpy(), minlength=len(c.categories)).min() == 0:
            frame[col] = c.remove_unused_categories()
    validate_frame(frame)
    vouch(frame)
    return frame, replaced


def _source_column(
    source_tag: Sequence[str] | pd.Categorical | np.ndarray | Mapping[str, str],
    tags: pd.Categorical,
    codes: np.ndarray,
    order: np.ndarray | None,
) -> pd.Categorical:
    """The ``source_tag`` column of :func:`build_frame`'s kept rows.

    Parameters
    ----------
    source_tag : the original name per input row, or a mapping from the normalised tag
        to its original name (a tag missing from it is its own source tag).
    tags : the input rows' tags; ``codes``: the kept rows' codes into ``tags.categories``.
    order : the input row of each kept row (sorted, de-duplicated), or None when the
        rows were kept as they came.

    Raises
    ------
    FrameError
        If ``source_tag`` has not one entry per input row.
    """
    if isinstance(source_tag, Mapping):
        names = [source_tag.get(c, c) for c in tags.categories]
        uniq = sorted(set(names))
        pos = {s: i for i, s in enumerate(uniq)}
        remap = np.array([pos[s] for s in names], dtype=np.int32)
        return pd.Categorical.from_codes(
            remap[codes] if len(codes) else np.array([], dtype=np.int32),
            categories=pd.Index(uniq, dtype=object),
        )
    src_all = _categorical(source_tag)
    if len(src_all) != len(tags):
        raise FrameError(f"source_tag has {len(src_all)} rows, expected {len(tags)}")
    src_codes = np.asarray(src_all.codes)
    if order is not None:
        src_codes = src_codes[order]
    return pd.Categorical.from_codes(src_codes, categories=src_all.categories)


# -- frames known to be valid ---------------------------------------------------------
# A frame that build_frame validated, that ParseResult validated, or that a parser laid
# out in a way that guarantees the contract is "vouched for": the next ParseResult or Run
# that receives that very object skips the O(rows) check. Run *takes* the voucher, so
# the frame a Run exposes (which a user may change in place) is validated again if it is
# handed to a new Run. Keyed by id(); the weak reference drops the entry with the frame.
_VOUCHED: dict[int, weakref.ref[pd.DataFrame]] = {}


def vouch(frame: pd.DataFrame) -> pd.DataFrame:
    """Record that ``frame`` meets the contract, so that the :class:`ParseResult` or
    :class:`gradlog.Run` it is handed to next does not check it again.

    For builders only: call it on a frame that :func:`validate_frame` passed, or that was
    laid out in a way that guarantees the contract (sorted categories, rows sorted by
    (tag, step), no repeated pair). Returns ``frame``.
    """
    key = id(frame)

    def _gone(_ref: object, key: int = key) -> None:
        _VOUCHED.pop(key, None)

    _VOUCHED[key] = weakref.ref(frame, _gone)
    return frame


def _vouched(frame: object, *, take: bool) -> bool:
    ref = _VOUCHED.get(id(frame))
    if ref is None or ref() is not frame:
        return False
    if take:
        _VOUCHED.pop(id(frame), None)
    return _columns_ok(frame)


def take_vouched(frame: object) -> bool:
    """Return True when ``frame`` was vouched for (see :func:`vouch`) and its columns
    and dtypes are still those of the contract; the voucher is used up either way."""
    return _vouched(frame, take=True)


def _columns_ok(frame: object) -> bool:
    if not isinstance(frame, pd.DataFrame) or tuple(frame.columns) != COLUMNS:
        return False
    for col, dtype in DTYPES.items():
        actual = frame[col].dtype
        if dtype == "category":
            if not isinstance(actual, pd.CategoricalDtype):
                return False
        elif str(actual) != dtype:
            return False
    return True


def _code_dtype(k: int) -> Any:
    """The integer dtype pandas keeps the codes of ``k`` categories in."""
    return np.int8 if k < 127 else (np.int16 if k < 32767 else np.int32)


def _run_codes(lens: np.ndarray, ids: np.ndarray, dtype: Any) -> np.ndarray:
    """``np.repeat(ids, lens)`` as ``dtype``, written into a :func:`long_column`."""
    out = long_column(int(lens.sum()), dtype)
    pos = 0
    for v, m in zip(ids.tolist(), lens.tolist(), strict=True):
        out[pos : pos + m] = v
        pos += m
    return out


def layout_frame(
    tags: Sequence[str],
    source_tags: Sequence[str],
    lens: Sequence[int] | np.ndarray,
    step: np.ndarray,
    value: np.ndarray,
    wall_time: np.ndarray,
) -> pd.DataFrame:
    """Return the common frame of long columns already laid out tag by tag.

    Parameters
    ----------
    tags : the tags in alphabetical order, each once.
    source_tags : the name as logged of each tag.
    lens : how many rows each tag has: the first ``lens[0]`` rows of the columns are
        ``tags[0]``'s, and so on, each tag's steps strictly increasing.
    step, value, wall_time : the long columns (int64, float64, float64), used as they
        are (not copied).

    Returns
    -------
    pandas.DataFrame
        The frame, checked against the contract once (see :func:`vouch`).

    Raises
    ------
    FrameError
        If the tags are not sorted and distinct, the lengths disagree, or a tag's steps
        do not strictly increase (a parser bug).
    """
    tags = [str(t) for t in tags]
    k = len(tags)
    if len(source_tags) != k or len(lens) != k:
        raise FrameError(f"{k} tags, {len(source_tags)} source tags and {len(lens)} lengths")
    if any(a >= b for a, b in zip(tags, tags[1:], strict=False)):
        raise FrameError("layout tags are not sorted and distinct")
    lens_arr = np.asarray(lens, dtype=np.int64)
    n = int(lens_arr.sum())
    step = np.asarray(step)
    if step.dtype != np.int64:
        raise FrameError(f"steps must be int64, got dtype {step.dtype}")
    value = np.asarray(value, dtype=np.float64)
    wall_time = np.asarray(wall_time, dtype=np.float64)
    if not (len(step) == len(value) == len(wall_time) == n):
        raise FrameError(
            f"columns differ in length: tags {n}, step {len(step)}, value {len(value)}, wall_time {len(wall_time)}"
        )
    codes = _run_codes(lens_arr, np.arange(k), _code_dtype(k))
    names = sorted(set(map(str, source_tags)))
    pos = {s: i for i, s in enumerate(names)}
    src_ids = np.array([pos[str(s)] for s in source_tags], dtype=np.int64)
    src_codes = _run_codes(lens_arr, src_ids, _code_dtype(len(names)))
    frame = pd.DataFrame(
        {
            "tag": pd.Categorical.from_codes(codes, categories=pd.Index(tags, dtype=object), validate=False),
            "step": step,
            "value": value,
            "wall_time": wall_time,
            "source_tag": pd.Categorical.from_codes(
                src_codes, categories=pd.Index(names, dtype=object), validate=False
            ),
        },
        columns=list(COLUMNS),
        copy=False,
    )
    validate_frame(frame)
    return vouch(frame)


def _is_sorted_unique(codes: np.ndarray, steps: np.ndarray) -> bool:
    if len(codes) < 2:
        return True
    dc = np.diff(codes)
    if np.any(dc < 0):
        return False
    return bool(np.all((dc > 0) | (steps[1:] > steps[:-1])))


def validate_frame(frame: pd.DataFrame) -> None:
    """Check a frame against the contract.

    Raises
    ------
    FrameError
        If a column is missing or extra, has the wrong dtype, the rows are not sorted
        by (tag, step) with alphabetical tag categories, or a (tag, step) pair repeats.
    """
    if not isinstance(frame, pd.DataFrame):
        raise FrameError(f"a frame must be a pandas DataFrame, got {type(frame).__name__}")
    if tuple(frame.columns) != COLUMNS:
        raise FrameError(f"frame columns are {list(frame.columns)}, expected {list(COLUMNS)}")
    for col, dtype in DTYPES.items():
        actual = frame[col].dtype
        if dtype == "category":
            if not isinstance(actual, pd.CategoricalDtype):
                raise FrameError(f"column {col!r} has dtype {actual}, expected category")
        elif str(actual) != dtype:
            raise FrameError(f"column {col!r} has dtype {actual}, expected {dtype}")
    tag = frame["tag"].array
    cats = tag.categories
    if len(cats) and not cats.is_monotonic_increasing:
        raise FrameError("tag categories are not in alphabetical order")
    codes = np.asarray(tag.codes)  # a view, no copy
    n = len(codes)
    if n and codes.min() < 0:
        raise FrameError("column 'tag' has missing values")
    if n < 2:
        return
    if bool((codes[1:] < codes[:-1]).any()):
        raise FrameError("frame is not sorted by tag")
    steps = frame["step"].to_numpy()
    k = len(cats)
    ends = np.searchsorted(codes, np.arange(k, dtype=codes.dtype), side="right")
    bad = steps[1:] <= steps[:-1]
    bad[ends[(ends > 0) & (ends < n)] - 1] = False  # the first row of a tag may step back
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        if steps[i + 1] < steps[i]:
            raise FrameError("frame is not sorted by step within a tag")
        raise FrameError(f"duplicate (tag, step) row: ({cats[codes[i]]!s}, {int(steps[i])})")


class ParseResult:
    """What a parser returns: the frame, the meta it found, and optional role hints.

    Attributes
    ----------
    frame : the common frame (built with :func:`build_frame`).
    meta : format-specific facts (``step_unit``, ``warnings``, ``skipped``, ``restarts``,
        ``replaced_points``, ``statistics``, ``hparams`` ...); see :class:`gradlog.Run`.
    roles : role hints the format knows for sure (``{"loss": "train/loss"}``); the
        rest is inferred from tag names.
    """

    __slots__ = ("frame", "meta", "roles")

    def __init__(
        self, frame: pd.DataFrame, meta: dict[str, Any] | None = None, roles: dict[str, Any] | None = None
    ) -> None:
        """Hold a parser's output; ``frame`` is checked against the contract unless a
        builder vouched for it (see :func:`vouch`).

        Raises
        ------
        FrameError
            If ``frame`` breaks the common-frame contract (a parser bug).
        """
        if not _vouched(frame, take=False):
            validate_frame(frame)
            vouch(frame)
        self.frame = frame
        self.meta = dict(meta or {})
        self.roles = dict(roles or {})
