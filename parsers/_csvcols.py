"""The columns of a parsed CSV table (private): numbers, date-times and the wall clock.

:func:`numeric_columns` turns what :func:`pandas.read_csv` parsed into float64
:class:`Column` objects: a column of text is left out (listed in
``meta["text_columns"]``), a few cells that are not numbers are skipped and counted,
and a wall-clock column (Unix seconds, milliseconds or ISO date-times) is moved out of
the metrics into the table's ``wall_time``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gradlog.errors import DamagedInputError
from gradlog.frame.source import Source

if TYPE_CHECKING:
    from ._csvread import Table

__all__ = ["WALL_COLUMNS", "Column", "numeric_columns"]

WALL_COLUMNS = ("wall_time", "walltime", "wall", "timestamp", "time", "datetime", "date_time")
_NAN_WORDS = frozenset({"nan", "+nan", "-nan", "nan(ind)", "-nan(ind)", "1.#qnan", "-1.#ind"})


@dataclass
class Column:
    """One numeric column of a table.

    Attributes
    ----------
    name : the name as logged (stripped of padding).
    values : float64, one per row (NaN where absent or logged as NaN).
    present : bool mask of the rows where the column was logged, or None when that is
        exactly ``~isnan(values)`` (no NaN was logged).
    ints : the exact int64 values of an all-integer column, or None.
    """

    name: str
    values: np.ndarray
    present: np.ndarray | None = None
    ints: np.ndarray | None = None

    def mask(self) -> np.ndarray:
        """Return the rows where the column has a value."""
        return ~np.isnan(self.values) if self.present is None else self.present


def numeric_columns(table: Table, df: pd.DataFrame, source: Source, *, strict: bool, max_name: int) -> None:
    """Fill ``table.columns`` (and ``text_columns``, ``wall_time``) from ``df``, whose
    columns are numbered in header order.

    Raises
    ------
    DamagedInputError
        In strict mode, for a cell that is not a number or a column whose name is
        longer than ``max_name``.
    """
    meta = table.meta
    bad_cells = 0
    first_bad: tuple[str, int] | None = None
    long_names: list[int] = []
    for i, name in enumerate(table.header.names):
        if len(name) > max_name:
            long_names.append(i + 1)
            continue
        ser = df[i]
        col, nbad, first = _numeric(ser, name)
        if col is None and name.strip().lower() in WALL_COLUMNS:
            col = _datetime_column(ser, name)
        if col is None:
            if ser.notna().any():
                table.text_columns.append(name or f"column {i + 1}")
            continue
        if nbad:
            bad_cells += nbad
            if first_bad is None:
                first_bad = (name, first)
        table.columns.append(col)
    if long_names:
        msg = (
            f"{len(long_names)} column(s) with a name longer than {max_name} characters "
            f"not read (column {', '.join(map(str, long_names[:10]))}; "
            "set GRADLOG_MAX_TAG_LENGTH to read them)"
        )
        if strict:
            raise DamagedInputError(f"{source.name}: {msg}")
        meta["skipped"]["long_name_columns"] = len(long_names)
        meta["warnings"].append(msg)
    if bad_cells:
        assert first_bad is not None
        msg = (
            f"{bad_cells} cell(s) that are not numbers skipped (first: column "
            f"{first_bad[0][:80]!r}, line {table.line_of(first_bad[1])})"
        )
        if strict:
            raise DamagedInputError(f"{source.name}: {msg}")
        meta["skipped"]["non_numeric_cells"] = bad_cells
        meta["warnings"].append(msg)
    if table.text_columns:
        meta["text_columns"] = list(table.text_columns)
    table.nrows = len(table.columns[0].values) if table.columns else 0
    _pick_wall_time(table)


def _datetime_column(ser: pd.Series, name: str) -> Column | None:
    """A column of date-times (``2024-05-01 12:00:03``) as Unix seconds, or None."""
    obj = ser.astype(object)
    present = ser.notna().to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(obj, errors="coerce", utc=True, format="ISO8601")
        except (ValueError, TypeError):
            return None
    ok = parsed.notna().to_numpy()
    if ok.sum() < max(1, present.sum() // 2):
        return None
    secs = np.full(len(ser), np.nan)
    ns = parsed[ok].astype("int64").to_numpy() if ok.any() else np.empty(0, np.int64)
    unit = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}.get(getattr(parsed.dt, "unit", "ns"), 1e9)
    secs[ok] = ns / unit
    return Column(name, secs)


def _numeric(ser: pd.Series, name: str) -> tuple[Column | None, int, int]:
    """Return (column, number of bad cells, row of the first bad cell) or (None, 0, 0)
    for a text column."""
    kind = ser.dtype.kind if isinstance(ser.dtype, np.dtype) else "O"
    if kind == "f":
        return Column(name, ser.to_numpy(dtype=np.float64, copy=False)), 0, 0
    if kind in "iu":
        ints = ser.to_numpy(dtype=np.int64) if kind == "i" else None
        return Column(name, ser.to_numpy(dtype=np.float64), ints=ints), 0, 0
    if kind == "b":
        return Column(name, ser.to_numpy(dtype=np.float64)), 0, 0
    return _mixed(ser, name)


def _to_float(v: object) -> float:
    """``float(v)`` for one cell: NaN when it is not a number, +-inf when it is a number
    beyond the float range (an integer of hundreds of digits)."""
    if v is None:
        return math.nan
    text = str(v).strip()
    try:
        return float(text)
    except OverflowError:
        return -math.inf if text.startswith("-") else math.inf
    except ValueError:
        try:
            return float(int(text))
        except OverflowError:
            return -math.inf if text.startswith("-") else math.inf
        except ValueError:
            return math.nan


def _mixed(ser: pd.Series, name: str) -> tuple[Column | None, int, int]:
    """A column of text, or of numbers with a few words (``nan``, ``Infinity``, damage)."""
    obj = ser.astype(object)
    absent = ser.isna().to_numpy()
    blank = obj.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    if blank.any():
        absent = absent | blank  # a cell of spaces is an empty cell
    if absent.all():
        return None, 0, 0
    try:
        values = pd.to_numeric(obj, errors="coerce").to_numpy(dtype=np.float64)
    except OverflowError:  # an integer cell of hundreds of digits: beyond float, +-inf
        values = obj.map(_to_float).to_numpy(dtype=np.float64)
    failed = np.isnan(values) & ~absent
    if failed.any():
        idx = np.flatnonzero(failed)
        words = obj.iloc[idx].map(lambda v: str(v).strip().lower())
        is_nan_word = words.isin(_NAN_WORDS).to_numpy()
        failed_idx = idx[~is_nan_word]
    else:
        failed_idx = np.empty(0, dtype=np.intp)
    ok = int(np.count_nonzero(~absent)) - failed_idx.size
    if ok == 0 or failed_idx.size > max(3, ok):
        return None, 0, 0  # a text column (names, dates, phases ...)
    present = ~absent
    if failed_idx.size:
        present = present.copy()
        present[failed_idx] = False
    has_nan = bool(np.any(np.isnan(values) & present))
    return (
        Column(name, values, present if (has_nan or failed_idx.size) else None),
        int(failed_idx.size),
        int(failed_idx[0]) if failed_idx.size else 0,
    )


def _pick_wall_time(table: Any) -> None:
    """Move a wall-clock column (Unix seconds or milliseconds) out of the metrics."""
    for want in WALL_COLUMNS:
        for i, col in enumerate(table.columns):
            if col.name.strip().lower() != want:
                continue
            v = col.values
            fin = v[np.isfinite(v)]
            if fin.size == 0:
                continue
            lo = float(fin.min())
            if lo > 1e11:  # milliseconds since 1970 (after 1973)
                wall = v / 1000.0
            elif lo > 1e8:  # seconds since 1970 (after 1973)
                wall = v.copy()
            else:
                continue  # elapsed seconds: a metric like any other
            table.wall_time = wall
            table.wall_column = col.name
            del table.columns[i]
            return
