"""The common frame from the rows read: compact row chunks, scattered into (tag, step)
order; a re-logged step keeps its later record."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def compact(
    tag: np.ndarray, step: np.ndarray, value: np.ndarray, wall: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """Rows in their smallest exact form: small integer dtypes, and the wall times run-length
    encoded when rows share them (all values of one debug block share their iteration's
    time), so that memory stays proportional to the rows and small."""
    tag = tag.astype(np.int16) if len(tag) and int(tag.max()) < 32767 else tag.astype(np.int32)
    if len(step) and int(step.min()) >= -(2**31) and int(step.max()) < 2**31:
        step = step.astype(np.int32)
    if len(wall) > 8:
        cut = np.flatnonzero(wall[1:] != wall[:-1]) + 1
        if len(cut) * 4 < len(wall):
            starts = np.concatenate([[0], cut])
            lengths = np.diff(np.append(starts, len(wall))).astype(np.int32)
            return tag, step, value, (wall[starts], lengths)
    return tag, step, value, wall


def assemble(
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray, Any]], names: list[str], sources: list[str]
) -> tuple[pd.DataFrame, int]:
    """Build the common frame from rows in log order (the later record wins).

    The rows are scattered chunk by chunk into their place in the (tag, step) order:
    each tag's rows keep log order, which is step order unless a run was resumed (then
    that tag is sorted by step, the later record first among equals, and the earlier
    duplicates are dropped). Each chunk is freed as soon as it is placed.
    """
    ntag = len(names)
    counts = np.zeros(ntag, dtype=np.int64)
    for p in pieces:
        counts += np.bincount(p[0], minlength=ntag)
    used = np.flatnonzero(counts)
    order_names = sorted(names[i] for i in used)
    alpha = {nm: i for i, nm in enumerate(order_names)}
    rank = np.full(ntag, -1, dtype=np.int64)
    for i in used.tolist():
        rank[i] = alpha[names[i]]
    n = int(counts.sum())
    per_alpha = np.zeros(len(order_names), dtype=np.int64)
    per_alpha[rank[used]] = counts[used]
    start_alpha = np.concatenate([[0], np.cumsum(per_alpha)[:-1]]) if len(per_alpha) else per_alpha
    start = np.zeros(ntag, dtype=np.int64)
    start[used] = start_alpha[rank[used]]
    steps = np.empty(n, dtype=np.int64)
    values = np.empty(n, dtype=np.float64)
    walls = np.empty(n, dtype=np.float64)
    filled = np.zeros(ntag, dtype=np.int64)
    for i in range(len(pieces)):
        t, st, v, w = pieces[i]
        pieces[i] = None  # type: ignore[call-overload]
        if not len(t):
            continue
        if isinstance(w, tuple):
            w = np.repeat(w[0], w[1])
        o = np.argsort(t, kind="stable")
        ts = t[o].astype(np.int64)
        first = np.flatnonzero(np.concatenate([[True], ts[1:] != ts[:-1]]))
        sizes = np.diff(np.append(first, len(ts)))
        grp = ts[first]
        dest = start[ts] + filled[ts] + (np.arange(len(ts)) - np.repeat(first, sizes))
        filled[grp] += sizes
        steps[dest] = st[o]
        values[dest] = v[o]
        walls[dest] = w[o]
        del t, st, v, w, o, ts, dest
    pieces.clear()
    ctype = np.int8 if len(order_names) < 128 else (np.int16 if len(order_names) < 32767 else np.int32)
    c = np.repeat(np.arange(len(order_names), dtype=ctype), per_alpha)
    replaced = 0
    if n > 1 and not _steps_increase(c, steps):
        o2 = _tag_step_order(c, steps)
        c, steps, values, walls = c[o2], steps[o2], values[o2], walls[o2]
        del o2
        dup = (c[1:] == c[:-1]) & (steps[1:] == steps[:-1])
        if dup.any():
            keep = np.ones(n, dtype=bool)
            keep[:-1] = ~dup
            replaced = int(n - keep.sum())
            c, steps, values, walls = c[keep], steps[keep], values[keep], walls[keep]
    src_by_name = {names[i]: sources[i] for i in used.tolist()}
    src_names = sorted(set(src_by_name.values()))
    spos = {x: i for i, x in enumerate(src_names)}
    stype = np.int8 if len(src_names) < 128 else (np.int16 if len(src_names) < 32767 else np.int32)
    smap = np.array([spos[src_by_name[nm]] for nm in order_names], dtype=stype)
    tag_col = pd.Categorical.from_codes(c, categories=pd.Index(order_names, dtype=object))
    src_col = pd.Categorical.from_codes(
        smap[c] if len(c) else np.zeros(0, dtype=stype), categories=pd.Index(src_names, dtype=object)
    )
    del c
    frame = pd.DataFrame(
        {"tag": tag_col, "step": steps, "value": values, "wall_time": walls, "source_tag": src_col},
        copy=False,
    )
    return frame, replaced  # (ParseResult validates it)


def _tag_step_order(c: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The stable (tag, step) order: equal (tag, step) rows keep log order. One int64
    key when tag codes and steps fit in it (a single sort), else ``lexsort``."""
    if len(steps) and int(c.max()) < 256 and int(steps.min()) >= 0 and int(steps.max()) < 1 << 55:
        return np.argsort((c.astype(np.int64) << 55) | steps, kind="stable")
    return np.lexsort((steps, c))


def _steps_increase(c: np.ndarray, steps: np.ndarray, block: int = 1 << 20) -> bool:
    """True when the steps strictly increase within every tag (checked in slices, so
    the temporaries stay small)."""
    n = len(steps)
    for a in range(0, n - 1, block):
        b = min(n, a + block + 1)
        same = c[a + 1 : b] == c[a : b - 1]
        if np.any(same & (steps[a + 1 : b] <= steps[a : b - 1])):
            return False
    return True
