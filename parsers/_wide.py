"""The wide table -> common frame conversion (private).

:func:`wide_to_frame` turns a :class:`parsers._csv.Table` into the common frame: one
tag per column, keeping only the rows where the column has a value, with the step
column chosen by name (or given by the format). Per-epoch rows without a step are put
on the step axis at the last step of their epoch. When the steps of the file only go
up (the usual case), the long columns are laid out once, in place, tag by tag; otherwise
the frame is sorted and the later record of a repeated step wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gradlog.errors import DamagedInputError, EmptyLogError, ParseError
from gradlog.frame import layout_frame, long_column
from gradlog.frame.source import Source
from gradlog.frame.tags import normalise_tags

from ._csv import Table, read_table
from ._csvcols import Column
from ._jsondoc import Points, assemble_frame

__all__ = ["STEP_COLUMNS", "choose_step_column", "read_wide", "step_unit_of", "wide_to_frame"]

#: Step-like column names in order of preference (lower case, stripped).
STEP_COLUMNS: tuple[str, ...] = (
    "step",
    "global_step",
    "_step",
    "steps",
    "iteration",
    "iter",
    "iters",
    "iterations",
    "it",
    "batch",
    "epoch",
)
_STEP_UNITS = {
    "step": "step",
    "global_step": "step",
    "_step": "step",
    "steps": "step",
    "iteration": "iteration",
    "iter": "iteration",
    "iters": "iteration",
    "iterations": "iteration",
    "it": "iteration",
    "batch": "batch",
    "epoch": "epoch",
}


def step_unit_of(column: str | None) -> str:
    """Return the ``meta["step_unit"]`` for a step column name (``row`` for none)."""
    if column is None:
        return "row"
    return _STEP_UNITS.get(column.strip().lower(), "step")


def _integer_steps(v: np.ndarray) -> bool:
    """True when every value is a whole number that fits an int64 step."""
    return bool(np.all(np.isfinite(v)) and np.all(v == np.round(v)) and np.all(np.abs(v) < 2.0**62))


def _not_integer_reason(table: Table, col: Column, v: np.ndarray) -> str:
    first = int(np.flatnonzero(~(np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < 2.0**62)))[0])
    row = int(np.flatnonzero(col.mask())[first])
    return (
        f"column {col.name!r} not used as the step: it holds values that are not whole "
        f"numbers in the int64 range ({v[first]:g} at line {table.line_of(row)}); it is "
        "read as a metric"
    )


def choose_step_column(
    table: Table, prefer: Sequence[str] = STEP_COLUMNS, why: list[str] | None = None
) -> Column | None:
    """Return the step column: the first name of ``prefer`` present whose values are
    integers (where present), or None (the row index is the step).

    ``why``, when given, receives a one-line reason for each step-named column passed
    over because its values are not whole numbers an int64 holds (``step`` = 0.5).
    """
    for want in prefer:
        col = table.get(want)
        if col is None:
            continue
        v = col.values[col.mask()]
        if not v.size:
            continue
        if not _integer_steps(v):
            if why is not None:
                why.append(_not_integer_reason(table, col, v))
            continue
        # a step axis has (mostly) distinct values: not a constant `batch` size column,
        # nor an `epoch` repeated on every per-batch row (steps that only go up are
        # distinct: no sort needed to count them)
        if v.size > 2 and not bool(np.all(v[1:] > v[:-1])) and len(np.unique(v)) * 2 < v.size:
            continue
        return col
    return None


def _step_column(
    table: Table, source: Source, step: str | None | bool, meta: dict[str, Any]
) -> Column | None:
    if step is True:
        passed_over: list[str] = []
        col = choose_step_column(table, why=passed_over)
        if passed_over:
            using = (
                f"; the step is column {col.name!r}" if col is not None else "; the row number is the step"
            )
            meta["warnings"].extend(w + using for w in passed_over)
        return col
    if not step:
        return None
    col = table.get(str(step))
    if col is None:
        raise ParseError(
            f"{source.name}: no {step!r} column (columns: "
            f"{', '.join(n[:80] for n in table.header.names[:50])})"
        )
    if not _integer_steps(col.values[col.mask()]):
        raise ParseError(f"{source.name}: the {step!r} column holds values that are not integer steps")
    return col


@dataclass
class _Rows:
    """The step of every row; which rows have one (None: all); per-epoch rows."""

    steps: np.ndarray
    ok: np.ndarray | None = None
    epoch: np.ndarray | None = None


def _row_steps(
    table: Table,
    source: Source,
    step_col: Column | None,
    metrics: list[Column],
    epoch_column: str | None,
    meta: dict[str, Any],
    strict: bool,
) -> _Rows:
    n = table.nrows
    if step_col is None:
        return _Rows(np.arange(n, dtype=np.int64))
    has = step_col.mask()
    if has.all():
        ints = step_col.ints
        return _Rows(ints if ints is not None else step_col.values.astype(np.int64))
    rows = _Rows(np.zeros(n, dtype=np.int64))
    rows.steps[has] = step_col.values[has].astype(np.int64)
    epoch = table.get(epoch_column) if epoch_column else None
    if epoch is not None and epoch is not step_col:
        emask = epoch.mask() & ~has
        rows.steps, mapped = _map_epoch_rows(rows.steps, has, epoch, emask)
        rows.epoch = emask & mapped
        rows.ok = has | rows.epoch
        if rows.epoch.any():
            meta["epoch_rows"] = int(np.count_nonzero(rows.epoch))
    else:
        rows.ok = has
    if n - np.count_nonzero(rows.ok):
        # rows without a step that hold a value somewhere are skipped, counted
        holds = np.zeros(n, dtype=bool)
        for c in metrics:
            holds |= c.mask()
        lost_rows = np.flatnonzero(holds & ~rows.ok)
        if lost_rows.size:
            msg = (
                f"{lost_rows.size} row(s) without a {step_col.name!r} value skipped "
                f"(first: line {table.line_of(int(lost_rows[0]))})"
            )
            if strict:
                raise DamagedInputError(f"{source.name}: {msg}")
            meta["skipped"]["rows_without_step"] = int(lost_rows.size)
            meta["warnings"].append(msg)
    return rows


def _restarts(table: Table, rows: _Rows, meta: dict[str, Any]) -> bool:
    """Record where the step goes backwards in file order; return True when the steps
    of the kept rows are strictly increasing."""
    valid = rows.steps if rows.ok is None else rows.steps[rows.ok]
    if valid.size < 2:
        meta["restarts"] = []
        return True
    d = np.diff(valid)
    back = np.flatnonzero(d < 0)
    idx = None if rows.ok is None else np.flatnonzero(rows.ok)
    restarts = []
    for b in back[:100]:
        row = int(b + 1) if idx is None else int(idx[b + 1])
        restarts.append(
            {"line": table.line_of(row), "step": int(valid[b + 1]), "previous_step": int(valid[b])}
        )
    meta["restarts"] = restarts
    if len(back) > 100:
        meta["warnings"].append(f"{len(back)} restarts (the step went backwards); first 100 listed")
    return bool(np.all(d > 0))


def _parts(
    metrics: list[Column], rows: _Rows, epoch_column: str | None, meta: dict[str, Any]
) -> list[tuple[str, str, np.ndarray | None, np.ndarray]]:
    """(key, source name, row mask or None for every row, values) per tag-to-be: a
    column with values on step rows *and* on per-epoch rows is split in two, the
    per-epoch values going to ``<name>_epoch``."""
    out: list[tuple[str, str, np.ndarray | None, np.ndarray]] = []
    seen: dict[str, int] = {}
    all_names = {c.name for c in metrics}
    for c in metrics:
        key = c.name
        if c.name in seen:
            # two columns with one name: the later gets a suffix, its source_tag stays
            seen[c.name] += 1
            key = f"{c.name}_{seen[c.name]}"
            while key in seen or key in all_names:
                seen[c.name] += 1
                key = f"{c.name}_{seen[c.name]}"
            meta["warnings"].append(f"duplicate column name {c.name!r} read as {key!r}")
        else:
            seen[c.name] = 1
        m: np.ndarray | None = c.present
        if m is None and np.isnan(c.values).any():
            m = ~np.isnan(c.values)
        if rows.ok is not None:
            m = rows.ok if m is None else (m & rows.ok)
        ep = rows.epoch
        if ep is not None and ep.any() and c.name.lower() != (epoch_column or ""):
            mm = m if m is not None else np.ones(len(c.values), dtype=bool)
            on_epoch, on_step = mm & ep, mm & ~ep
            if on_epoch.any() and on_step.any():
                out.append((key, c.name, on_step, c.values))
                out.append((key + "_epoch", c.name, on_epoch, c.values))
                continue
        out.append((key, c.name, m, c.values))
    return out


#: Rows from which :func:`_layout` fills its three long columns on two threads (numpy
#: copies release the GIL; pandas' own read_csv parses on two threads too).
_THREADED_ROWS = 2_000_000


def _fill_column(
    n: int,
    dtype: Any,
    kept: list[tuple[str, str, np.ndarray | None, np.ndarray, int]],
    source: np.ndarray | None,
) -> np.ndarray:
    """Return a long column of ``n`` rows with ``source`` (the per-row steps or wall
    times; None: each part's own values) laid in part by part, keeping each part's
    rows."""
    out = long_column(n, dtype)
    pos = 0
    for _tag, _src, m, values, count in kept:
        arr = values if source is None else source
        if m is None:
            out[pos : pos + count] = arr
        else:
            np.compress(m, arr, out=out[pos : pos + count])
        pos += count
    return out


def _layout(
    parts: list[tuple[str, str, np.ndarray | None, np.ndarray]],
    tags: dict[str, str],
    steps: np.ndarray,
    wall: np.ndarray | None,
) -> tuple[pd.DataFrame, int]:
    """The frame of steps that only go up: every long column allocated once and filled
    in place, tag by tag (no pieces, no concatenation, no sort)."""
    kept = []
    for key, src, m, values in parts:
        count = len(values) if m is None else int(np.count_nonzero(m))
        if count:
            kept.append((tags[key], src, m, values, count))
    kept.sort(key=lambda p: p[0])
    lens = np.array([p[4] for p in kept], dtype=np.int64)
    total = int(lens.sum())
    jobs: list[tuple[Any, tuple[Any, ...]]] = [
        (_fill_column, (total, np.int64, kept, steps)),
        (_fill_column, (total, np.float64, kept, None)),
        (_fill_column, (total, np.float64, kept, wall))
        if wall is not None
        else (long_column, (total, np.float64, np.nan)),
    ]
    if total >= _THREADED_ROWS:
        # each job maps and fills its own column: the kernel's page population and the
        # copies run on both cores
        with ThreadPoolExecutor(max_workers=2) as pool:
            cols = [fut.result() for fut in [pool.submit(fn, *args) for fn, args in jobs]]
    else:
        cols = [fn(*args) for fn, args in jobs]
    return layout_frame([p[0] for p in kept], [p[1] for p in kept], lens, *cols), 0


def _by_points(
    parts: list[tuple[str, str, np.ndarray | None, np.ndarray]],
    tags: dict[str, str],
    steps: np.ndarray,
    wall: np.ndarray | None,
) -> tuple[pd.DataFrame, int]:
    """The frame of steps that go backwards somewhere (a resumed run): per-tag points,
    sorted, the later record of a repeated step winning."""
    cols: list[Points] = []
    for key, src, m, values in parts:
        if m is None:
            cols.append(Points(tags[key], src, steps, values, wall))
        elif m.any():
            cols.append(Points(tags[key], src, steps[m], values[m], None if wall is None else wall[m]))
    return assemble_frame(cols)


def wide_to_frame(
    table: Table,
    source: Source,
    *,
    step: str | None | bool = True,
    strict: bool = False,
    epoch_column: str | None = "epoch",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Convert a wide table into the common frame.

    Parameters
    ----------
    table : what :func:`parsers._csv.read_table` returned.
    source : for messages.
    step : ``True`` to choose the step column by name (:data:`STEP_COLUMNS`), a column
        name to use that column, or ``None``/``False`` to use the row index.
    strict : raise instead of skipping rows without a step.
    epoch_column : name of the epoch column that maps per-epoch rows (rows without a
        step) onto the step axis, when it is not the step column itself.

    Returns
    -------
    (frame, meta) : ``meta`` has ``step_unit``, ``step_column``, ``rows``, ``columns``,
        ``skipped``, ``warnings``, ``restarts``, ``replaced_points`` and, for mixed
        files, ``epoch_rows``.

    Raises
    ------
    ParseError
        If a named step column is missing or not integer.
    EmptyLogError
        If no column holds a number.
    DamagedInputError
        In strict mode, for rows without a step.
    """
    meta = dict(table.meta)
    meta["skipped"] = dict(meta.get("skipped", {}))
    meta["warnings"] = list(meta.get("warnings", []))
    step_col = _step_column(table, source, step, meta)
    meta["step_column"] = step_col.name if step_col is not None else None
    meta["step_unit"] = step_unit_of(meta["step_column"])
    meta["rows"] = table.nrows
    meta["columns"] = list(table.header.names)
    if table.wall_column is not None:
        meta["wall_time_column"] = table.wall_column
    metrics = [c for c in table.columns if c is not step_col and c.name]
    _unnamed(table, meta)
    rows = _row_steps(table, source, step_col, metrics, epoch_column, meta, strict)
    increasing = _restarts(table, rows, meta)
    parts = _parts(metrics, rows, epoch_column, meta)
    if not any(m is None or m.any() for _k, _s, m, _v in parts):
        raise EmptyLogError(
            f"{source.name}: no column holds a number (columns: "
            f"{', '.join(n[:80] for n in table.header.names[:50])})"
        )
    tags = normalise_tags([p[0] for p in parts])
    build = _layout if increasing and rows.epoch is None else _by_points
    frame, replaced = build(parts, tags, rows.steps, table.wall_time)
    meta["replaced_points"] = replaced
    if replaced:
        meta["warnings"].append(
            f"{replaced} point(s) re-logged at an earlier step were replaced by the later record"
        )
    return frame, meta


def _unnamed(table: Table, meta: dict[str, Any]) -> None:
    """Note columns without a name (e.g. the index column pandas' to_csv writes)."""
    unnamed = [i + 1 for i, nm in enumerate(table.header.names) if not nm]
    if not unnamed:
        return
    meta["ignored_columns"] = [f"column {i} (no name)" for i in unnamed]
    dropped = sum(int(np.count_nonzero(c.mask())) for c in table.columns if not c.name)
    if dropped:
        meta["skipped"]["unnamed_column_values"] = dropped
        where = ", ".join(str(i) for i in unnamed)
        meta["warnings"].append(
            f"column(s) {where} have no name: their {dropped} value(s) were not read (a saved row index?)"
        )


def read_wide(
    source: Source,
    *,
    step: str | None | bool = True,
    strict: bool = False,
    epoch_column: str | None = "epoch",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a wide CSV into the common frame: :func:`parsers._csv.read_table` then
    :func:`wide_to_frame` (the parsed table is freed before the frame is returned).

    Returns
    -------
    (frame, meta)

    Raises
    ------
    ParseError, EmptyLogError, DamagedInputError
        As :func:`parsers._csv.read_table` and :func:`wide_to_frame`.
    """
    return wide_to_frame(
        read_table(source, strict=strict), source, step=step, strict=strict, epoch_column=epoch_column
    )


def _map_epoch_rows(
    steps: np.ndarray, has: np.ndarray, epoch: Column, emask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Give per-epoch rows (no step, an epoch) the last step logged in that epoch, or
    the last step before them in file order. Returns (steps, mapped rows)."""
    out = steps.copy()
    mapped = np.zeros(len(steps), dtype=bool)
    ev = epoch.values
    both = has & epoch.mask()
    last_of: dict[float, int] = {}
    if both.any():
        e_b, s_b = ev[both], steps[both]
        order = np.lexsort((s_b, e_b))
        e_sorted, s_sorted = e_b[order], s_b[order]
        ends = np.flatnonzero(np.r_[e_sorted[1:] != e_sorted[:-1], True])
        last_of = {float(e_sorted[i]): int(s_sorted[i]) for i in ends}
    # forward fill of the step in file order, for epochs never seen on a step row
    idx = np.where(has, np.arange(len(steps)), -1)
    np.maximum.accumulate(idx, out=idx)
    for r in np.flatnonzero(emask):
        e = float(ev[r])
        if e in last_of:
            out[r] = last_of[e]
            mapped[r] = True
        elif idx[r] >= 0:
            out[r] = steps[idx[r]]
            mapped[r] = True
        else:
            nxt = np.flatnonzero(has[r:])
            if nxt.size:
                out[r] = steps[r + nxt[0]]
                mapped[r] = True
    return out, mapped
