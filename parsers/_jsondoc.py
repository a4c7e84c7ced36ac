"""The toolkit the document formats share (private): reading a whole document under a
size cap, JSON that may be cut short (a run still writing), per-tag points assembled
into the common frame, and the meta keys every run has.

Whole-document formats (JSON, YAML) are read into memory, so their size is capped:
:data:`DEFAULT_MAX_DOCUMENT_BYTES` (1 GiB), overridden by the environment variable
``GRADLOG_MAX_DOCUMENT_BYTES`` (a number of bytes) or the ``max_bytes`` argument.
Streamed formats (CSV, Caffe, TensorBoard) have no such cap.

This module imports only leaf modules of gradlog.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from gradlog.errors import DamagedInputError, FrameError, ParseError
from gradlog.frame import COLUMNS, build_frame, long_column
from gradlog.frame.source import Source

__all__ = [
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "DocumentTooLargeError",
    "Points",
    "assemble_frame",
    "finish_meta",
    "load_json",
    "max_document_bytes",
    "note_truncated",
    "read_document",
    "read_document_bytes",
]

DEFAULT_MAX_DOCUMENT_BYTES = 1 << 30
_ENV = "GRADLOG_MAX_DOCUMENT_BYTES"


class DocumentTooLargeError(ParseError):
    """A whole-document input (JSON, YAML) is larger than the cap."""


def max_document_bytes(override: int | None = None) -> int:
    """Return the cap on a whole document: ``override``, else ``$GRADLOG_MAX_DOCUMENT_BYTES``,
    else 1 GiB.

    Raises
    ------
    ParseError
        If the environment variable is not a positive whole number.
    """
    if override is not None:
        return int(override)
    env = os.environ.get(_ENV)
    if env is None or not env.strip():
        return DEFAULT_MAX_DOCUMENT_BYTES
    try:
        value = int(env.strip())
    except ValueError:
        raise ParseError(f"{_ENV}={env!r} is not a number of bytes") from None
    if value <= 0:
        raise ParseError(f"{_ENV}={env!r} must be a positive number of bytes")
    return value


def _read_capped(fh: BinaryIO, cap: int, name: str) -> bytes:
    parts: list[bytes] = []
    have = 0
    while True:
        chunk = fh.read(min(1 << 22, cap + 1 - have))
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
        if have > cap:
            raise DocumentTooLargeError(
                f"{name}: larger than {_size(cap)}, the limit for a whole-document format "
                f"(set {_ENV} to a larger number of bytes to read it)"
            )
    return b"".join(parts)


def _size(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} bytes"


def read_document(source: Source, max_bytes: int | None = None) -> bytes:
    """Return the whole (decompressed) content of ``source``, at most the cap.

    Raises
    ------
    DocumentTooLargeError
        If the content is larger than the cap (the message names the file and the
        environment variable that raises it).
    ParseError
        If the file cannot be read or a gzip stream is damaged.
    """
    cap = max_document_bytes(max_bytes)
    try:
        with source.open() as fh:
            return _read_capped(fh, cap, source.name)
    except (OSError, EOFError) as exc:
        raise ParseError(f"{source.name}: cannot read ({exc})") from exc


def read_document_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """Return the bytes of a side file (settings beside a log), at most the cap.

    Raises
    ------
    DocumentTooLargeError
        If the file is larger than the cap.
    OSError
        If it cannot be read.
    """
    cap = max_document_bytes(max_bytes)
    with open(path, "rb") as fh:
        return _read_capped(fh, cap, str(path))


def load_json(raw: bytes, name: str, *, strict: bool = False, salvage: str | None = None) -> tuple[Any, int]:
    """Parse a JSON document; when it is cut short (a run still writing) and ``salvage``
    names a top-level list key, keep the complete entries of that list.

    Returns
    -------
    (document, truncated) : ``truncated`` is 1 when the document was cut short and its
        incomplete tail dropped, else 0.

    Raises
    ------
    ParseError
        If the text is not JSON (the message names the line and column) and cannot be
        salvaged.
    DamagedInputError
        In strict mode, for a document cut short.
    """
    text = raw.decode("utf-8-sig", errors="replace")
    try:
        return json.loads(text), 0
    except json.JSONDecodeError as exc:
        # cut short: the error is at the very end, or a string runs to the end
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        if cut and salvage is not None:
            doc = _salvage_list(text, salvage)
            if doc is not None:
                if strict:
                    raise DamagedInputError(
                        f"{name}: the JSON document is cut short (a run still writing?)"
                    ) from None
                return doc, 1
        what = "cut short" if cut else "not valid JSON"
        raise ParseError(f"{name}: line {exc.lineno}, column {exc.colno}: {what} ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"{name}: not valid JSON ({type(exc).__name__})") from None


def _salvage_list(text: str, key: str) -> dict[str, Any] | None:
    """The complete entries of the list under ``"key": [`` of a cut document, or None."""
    marker = json.dumps(key)
    pos = text.find(marker)
    if pos < 0:
        return None
    i = pos + len(marker)
    dec = json.JSONDecoder()
    n = len(text)
    while i < n and text[i] in " \t\r\n":
        i += 1
    if i >= n or text[i] != ":":
        return None
    i += 1
    while i < n and text[i] in " \t\r\n":
        i += 1
    if i >= n or text[i] != "[":
        return None
    i += 1
    items: list[Any] = []
    while True:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n or text[i] == "]":
            break
        try:
            item, i = dec.raw_decode(text, i)
        except (json.JSONDecodeError, RecursionError):
            break
        items.append(item)
    return {key: items}


def note_truncated(meta: dict[str, Any], count: int, msg: str) -> None:
    """Count an incomplete last record (``meta["truncated"]``) and warn about it."""
    if count:
        meta["truncated"] = int(meta.get("truncated", 0)) + count
        meta.setdefault("warnings", []).append(msg)


# -- per-tag points -> frame ---------------------------------------------------------------


@dataclass
class Points:
    """One tag's points, ready for :func:`assemble_frame`."""

    tag: str
    source_tag: str
    steps: np.ndarray
    values: np.ndarray
    wall_time: np.ndarray | None = None


def _prepare(c: Points, increasing: dict[int, bool]) -> tuple[Points, bool]:
    """Return the points as int64/float64 with exact repeats dropped, and whether the
    steps are strictly increasing."""
    st = np.asarray(c.steps)
    if (
        c.steps is st
        and increasing.get(id(st))
        and st.dtype == np.int64
        and isinstance(c.values, np.ndarray)
        and c.values.dtype == np.float64
    ):
        return c, True  # the same strictly increasing int64 steps as an earlier column
    if st.dtype.kind == "f" and not (np.all(np.isfinite(st)) and np.all(st == np.round(st))):
        raise FrameError(f"steps of {c.tag!r} are not integers")
    st = st.astype(np.int64, copy=False)
    vals = np.asarray(c.values, dtype=np.float64)
    wt = c.wall_time
    ordered = True
    if st.size > 1:
        d = np.diff(st)
        if not np.all(d > 0):
            # drop exact repeats (same step, same value) before deciding
            same = (d == 0) & ((vals[1:] == vals[:-1]) | (np.isnan(vals[1:]) & np.isnan(vals[:-1])))
            if same.any():
                keep = np.r_[~same, True]
                st, vals = st[keep], vals[keep]
                wt = None if wt is None else np.asarray(wt, np.float64)[keep]
                d = np.diff(st)
            ordered = bool(np.all(d > 0))
        elif c.steps is st:
            increasing[id(st)] = True
    if c.steps is not st or c.values is not vals or c.wall_time is not wt:
        c = Points(c.tag, c.source_tag, st, vals, wt)
    return c, ordered


def _fill(arrays: list[np.ndarray | None], dtype: Any, total: int, fill: float | None = None) -> np.ndarray:
    """One array of ``total`` elements from pieces laid end to end (None: ``fill``)."""
    if len(arrays) == 1 and arrays[0] is not None:
        return np.asarray(arrays[0], dtype=dtype)
    out = long_column(total, dtype)
    pos = 0
    for a in arrays:
        if a is None:
            continue
        out[pos : pos + len(a)] = a
        pos += len(a)
    return out


def _nan_column(total: int) -> np.ndarray:
    """A float64 column of NaN."""
    return long_column(total, np.float64, fill=np.nan)


def assemble_frame(cols: list[Points]) -> tuple[pd.DataFrame, int]:
    """Build the common frame from per-tag arrays.

    When every tag's steps are strictly increasing (the usual case) the frame is laid
    out directly, tag by tag, without a sort; otherwise :func:`gradlog.frame.build_frame`
    sorts it and the later record of a repeated (tag, step) wins. Identical repeats
    (same step, same value) are dropped first and not counted as replaced.

    Returns
    -------
    (frame, replaced points)

    Raises
    ------
    FrameError
        If the arrays break the frame contract (a parser bug).
    """
    cols = sorted(cols, key=lambda c: c.tag)
    tags = [c.tag for c in cols]
    if len(set(tags)) != len(tags):
        raise FrameError("two columns share a tag")
    ordered = True
    increasing: dict[int, bool] = {}  # by id of a steps array shared by several columns
    for i, c in enumerate(cols):
        cols[i], ok = _prepare(c, increasing)
        ordered = ordered and ok
    lens = np.array([len(c.steps) for c in cols], dtype=np.int64)
    total = int(lens.sum())
    steps = _fill([c.steps for c in cols], np.int64, total)
    values = _fill([c.values for c in cols], np.float64, total)
    if any(c.wall_time is not None for c in cols):
        walls = _fill(
            [c.wall_time if c.wall_time is not None else np.full(len(c.steps), np.nan) for c in cols],
            np.float64,
            total,
        )
    else:
        walls = _nan_column(total)
    return frame_from_parts(tags, [c.source_tag for c in cols], lens, steps, values, walls, ordered=ordered)


def _code_dtype(k: int) -> Any:
    return np.int8 if k < 127 else (np.int16 if k < 32000 else np.int32)


def _repeat_into(out: np.ndarray, values: np.ndarray, lens: np.ndarray) -> None:
    """``out[:] = np.repeat(values, lens)`` without a temporary array."""
    pos = 0
    for v, n in zip(values.tolist(), lens.tolist(), strict=True):
        out[pos : pos + n] = v
        pos += n


def frame_from_parts(
    tags: list[str],
    sources: list[str],
    lens: np.ndarray,
    steps: np.ndarray,
    values: np.ndarray,
    walls: np.ndarray,
    *,
    ordered: bool,
) -> tuple[pd.DataFrame, int]:
    """The frame from columns laid out tag by tag (``tags`` sorted, ``lens[i]`` rows of
    ``tags[i]`` whose source tag is ``sources[i]``).

    Returns
    -------
    (frame, replaced points) : when ``ordered`` (every tag's steps strictly
        increasing) the columns are used as they are and nothing is replaced; else
        :func:`gradlog.frame.build_frame` sorts them.
    """
    k = len(tags)
    codes = long_column(int(lens.sum()), _code_dtype(k))
    _repeat_into(codes, np.arange(k, dtype=codes.dtype), lens)
    src_names = sorted(set(sources))
    src_pos = {s: i for i, s in enumerate(src_names)}
    src_map = np.array([src_pos[s] for s in sources], dtype=_code_dtype(len(src_names)))
    src_codes = long_column(len(codes), src_map.dtype)
    _repeat_into(src_codes, src_map, lens)
    if not ordered:
        tag_cat = pd.Categorical.from_codes(codes, categories=pd.Index(tags, dtype=object))
        src_cat = pd.Categorical.from_codes(src_codes, categories=pd.Index(src_names, dtype=object))
        return build_frame(tag_cat, steps, values, walls, src_cat)
    tag_cat = pd.Categorical.from_codes(codes, categories=pd.Index(tags, dtype=object), validate=False)
    src_cat = pd.Categorical.from_codes(
        src_codes, categories=pd.Index(src_names, dtype=object), validate=False
    )
    frame = pd.DataFrame(
        {"tag": tag_cat, "step": steps, "value": values, "wall_time": walls, "source_tag": src_cat},
        columns=list(COLUMNS),
        copy=False,
    )
    return frame, 0


def finish_meta(meta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Return ``meta`` with the keys every run has (``skipped``, ``warnings``,
    ``restarts``, ``replaced_points``, ``truncated``, ``hparams`` with ``optimizer``,
    ``momentum`` and ``weight_decay`` present, None when unknown), plus ``extra``."""
    meta.setdefault("skipped", {})
    meta.setdefault("warnings", [])
    meta.setdefault("restarts", [])
    meta.setdefault("replaced_points", 0)
    meta.setdefault("truncated", 0)
    meta.setdefault("hparams", {})
    meta.update(extra)
    hp = meta["hparams"]
    if isinstance(hp, dict):
        for key in ("optimizer", "momentum", "weight_decay"):
            hp.setdefault(key, None)
    return meta
