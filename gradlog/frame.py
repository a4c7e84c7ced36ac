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

This module is a leaf: parsers import it (and :mod:`gradlog.errors`) only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gradlog.errors import FrameError

__all__ = ["COLUMNS", "DTYPES", "ParseResult", "build_frame", "empty_frame", "validate_frame"]

COLUMNS: tuple[str, ...] = ("tag", "step", "value", "wall_time", "source_tag")
DTYPES: dict[str, str] = {
    "tag": "category",
    "step": "int64",
    "value": "float64",
    "wall_time": "float64",
    "source_tag": "category",
}


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
    if source_tag is None:
        src_col = tag_col
    elif isinstance(source_tag, Mapping):
        names = [source_tag.get(c, c) for c in tags.categories]
        uniq = sorted(set(names))
        pos = {s: i for i, s in enumerate(uniq)}
        remap = np.array([pos[s] for s in names], dtype=np.int32)
        src_col = pd.Categorical.from_codes(
            remap[codes] if len(codes) else np.array([], dtype=np.int32),
            categories=pd.Index(uniq, dtype=object),
        )
    else:
        src_all = _categorical(source_tag)
        if len(src_all) != n:
            raise FrameError(f"source_tag has {len(src_all)} rows, expected {n}")
        src_codes = np.asarray(src_all.codes)
        if src_order is not None:
            src_codes = src_codes[src_order]
        src_col = pd.Categorical.from_codes(src_codes, categories=src_all.categories)

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
    return frame, replaced


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
    cats = frame["tag"].cat.categories
    if len(cats) and not cats.is_monotonic_increasing:
        raise FrameError("tag categories are not in alphabetical order")
    codes = frame["tag"].cat.codes.to_numpy()
    if len(codes) and codes.min() < 0:
        raise FrameError("column 'tag' has missing values")
    steps = frame["step"].to_numpy()
    if len(codes) > 1:
        dc = np.diff(codes.astype(np.int32))
        if np.any(dc < 0):
            raise FrameError("frame is not sorted by tag")
        same = dc == 0
        del dc
        bad = (steps[1:] <= steps[:-1]) & same
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
        validate_frame(frame)
        self.frame = frame
        self.meta = dict(meta or {})
        self.roles = dict(roles or {})
