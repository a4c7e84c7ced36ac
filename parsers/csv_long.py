"""Long (tidy) CSV: ``step,tag,value[,wall_time][,source_tag]``.

This is what ``gradlog convert`` writes (:func:`gradlog.export.write_frame`) and what
tbparse exports (``step,tag,value[,wall_time][,dir_name]``). Reading a file that
``gradlog convert`` wrote gives back the same frame: tags, steps, values bit for bit
(``nan``, ``inf``, ``-inf`` included), wall times and source tags.

* With a ``source_tag`` column the tags are taken as they are (they were normalised
  when the file was written); without one (tbparse) they are normalised and the
  original name becomes the source tag. tbparse's ``dir_name`` (``train``,
  ``validation`` ...) is put in front of the tag before normalising
  (``validation`` + ``epoch_loss`` -> ``val/epoch_loss``).
* ``nan``/``NaN`` and ``inf``/``-inf``/``Infinity`` are values; an empty value or step
  cell is a row that was not logged: skipped and counted.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from gradlog.errors import DamagedInputError, EmptyLogError, ParseError
from gradlog.frame import ParseResult, build_frame
from gradlog.frame.source import Source
from gradlog.frame.tags import normalise_tags

from . import _tabular as tab

NAME = "csv_long"
DESCRIPTION = "long CSV: step,tag,value[,wall_time][,source_tag] (gradlog convert, tbparse)"

REQUIRED = ("step", "tag", "value")
OPTIONAL = ("wall_time", "source_tag", "dir_name")
_NAN = ["nan", "NaN", "NAN", "-nan", "+nan", "-NaN"]


def sniff(source: Source) -> bool:
    """Return True for a CSV whose columns are ``step``, ``tag``, ``value`` and at most
    ``wall_time``, ``source_tag``, ``dir_name``, or for a Parquet file (``gradlog convert
    -o x.parquet`` writes the same columns)."""
    if _is_parquet(source):
        return True
    hdr = tab.sniff_table(source)
    if hdr is None:
        return False
    low = hdr.lower()
    return set(REQUIRED) <= set(low) and set(low) <= set(REQUIRED + OPTIONAL) and len(low) == len(set(low))


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read a long CSV.

    Returns
    -------
    ParseResult
        ``meta``: ``step_unit`` ``step``, ``rows``, ``skipped``, ``warnings``,
        ``replaced_points``.

    Raises
    ------
    ParseError
        If the header is not a long table, the file is ragged (the message names the
        line) or a step is not an integer.
    EmptyLogError
        If no row holds a point.
    DamagedInputError
        In strict mode, when a row would be skipped.
    """
    if _is_parquet(source):
        return _read_parquet(source, strict)
    hdr = tab.sniff_table(source)
    if hdr is None or not set(REQUIRED) <= set(hdr.lower()):
        raise ParseError(f"{source.name}: not a long CSV (needs columns step, tag, value)")
    low = hdr.lower()
    names = list(low)
    kwargs: dict[str, Any] = dict(
        sep=hdr.sep,
        header=None,
        names=names,
        skiprows=hdr.header_line + 1,
        keep_default_na=False,
        engine="c",
        quotechar='"',
        index_col=False,
        na_values={"step": [""], "value": _NAN, "wall_time": _NAN + [""]},
        dtype={"tag": object, "source_tag": object, "dir_name": object},
        encoding="utf-8",
        encoding_errors="replace",
    )
    data = source.read_bytes()
    meta: dict[str, Any] = {
        "step_unit": "step",
        "step_column": "step",
        "skipped": {},
        "warnings": [],
        "separator": hdr.sep,
    }
    data = _drop_binary_lines(data, source.name, meta, strict)
    df = _parse(data, source.name, names, kwargs, meta, strict)
    n = len(df)
    if n == 0:
        raise EmptyLogError(f"{source.name}: the table has a header but no data rows")
    first_line = hdr.header_line + 2

    steps, int_step = _int_steps(df["step"])
    values, ok_value = _numbers(df["value"])
    tags = df["tag"].astype(object).to_numpy()
    max_tag = tab.max_tag_length()
    ok_tag = np.array([isinstance(t, str) and t != "" for t in tags], dtype=bool)
    long_tag = np.array([isinstance(t, str) and len(t) > max_tag for t in tags], dtype=bool)
    if long_tag.any():
        msg = (
            f"{int(long_tag.sum())} row(s) with a tag longer than {max_tag} characters "
            f"skipped (first: line {first_line + int(np.flatnonzero(long_tag)[0])}; set "
            "GRADLOG_MAX_TAG_LENGTH to read them)"
        )
        if strict:
            raise DamagedInputError(f"{source.name}: {msg}")
        meta["skipped"]["long_tags"] = int(long_tag.sum())
        meta["warnings"].append(msg)
        ok_tag &= ~long_tag
    good = int_step & ok_value & ok_tag
    unterminated = bool(data) and not data.endswith((b"\n", b"\r"))
    if unterminated and good[-1] and _last_cell_cut(data, hdr.sep):
        good[-1] = False  # ``1e-0`` of ``1e-05`` reads as 1: a record still being written
    bad_rows = ~(good | long_tag)
    if bad_rows[-1] and unterminated:
        # the last record, without its newline, is incomplete: a run still writing
        msg = f"line {first_line + n - 1}: truncated last line (a run still writing?) skipped"
        if strict:
            raise DamagedInputError(f"{source.name}: {msg}")
        bad_rows[-1] = False
        meta["skipped"]["truncated_last_line"] = 1
        tab.note_truncated(meta, 1, msg)
    bad = int(np.count_nonzero(bad_rows))
    if bad:
        first = int(np.flatnonzero(bad_rows)[0])
        msg = (
            f"{bad} row(s) without an integer step, a tag or a number skipped "
            f"(first: line {first_line + first})"
        )
        if strict:
            raise DamagedInputError(f"{source.name}: {msg}")
        meta["skipped"]["bad_rows"] = bad
        meta["warnings"].append(msg)
    if not good.any():
        raise EmptyLogError(f"{source.name}: no row holds a point")

    if "wall_time" in df.columns:
        walls, ok_wall = _numbers(df["wall_time"])
        walls = np.where(ok_wall, walls, np.nan)
    else:
        walls = np.full(n, np.nan)

    tag_col, src = _tags_and_sources(df, tags, good)
    tag_sel, src_sel = tag_col[good], src[good]
    st = steps[good]
    frame, replaced = _build(tag_sel, st, values[good], walls[good], src_sel)
    meta["rows"] = n
    meta["replaced_points"] = replaced
    if replaced:
        meta["warnings"].append(
            f"{replaced} point(s) re-logged at an earlier step were replaced by the later record"
        )
    return ParseResult(frame, tab.finish_meta(meta))


def _is_parquet(source: Source) -> bool:
    """True for a file that starts with Parquet's magic bytes."""
    return not source.is_dir and source.head[:4] == b"PAR1"


def _read_parquet(source: Source, strict: bool) -> ParseResult:
    """Read the long frame from a Parquet file (the optional ``parquet`` extra, pyarrow).

    Raises
    ------
    ParseError
        Without pyarrow, when the file is not readable Parquet, or lacks step/tag/value.
    EmptyLogError
        If no row holds a point.
    DamagedInputError
        In strict mode, when a row would be skipped.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ParseError(
            f"{source.name}: a Parquet file; reading it needs pyarrow: pip install 'gradlog[parquet]'"
        ) from None
    try:
        df = pq.read_table(io.BytesIO(source.read_bytes())).to_pandas()
    except Exception as exc:  # pyarrow raises its own error types for damaged files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParseError(f"{source.name}: not readable Parquet ({first})") from None
    df.columns = [str(c).lower() for c in df.columns]
    if not set(REQUIRED) <= set(df.columns):
        raise ParseError(f"{source.name}: a Parquet file without the columns step, tag, value")
    n = len(df)
    if n == 0:
        raise EmptyLogError(f"{source.name}: the Parquet table has no rows")
    meta: dict[str, Any] = {"step_unit": "step", "step_column": "step", "skipped": {}, "warnings": []}
    steps, int_step = _int_steps(df["step"])
    values, ok_value = _numbers(df["value"])
    tags = df["tag"].astype(object).to_numpy()
    ok_tag = np.array([isinstance(t, str) and t != "" for t in tags], dtype=bool)
    good = int_step & ok_value & ok_tag
    bad = int(n - np.count_nonzero(good))
    if bad:
        msg = f"{bad} row(s) without an integer step, a tag or a number skipped"
        if strict:
            raise DamagedInputError(f"{source.name}: {msg}")
        meta["skipped"]["bad_rows"] = bad
        meta["warnings"].append(msg)
    if not good.any():
        raise EmptyLogError(f"{source.name}: no row holds a point")
    if "wall_time" in df.columns:
        walls, ok_wall = _numbers(df["wall_time"])
        walls = np.where(ok_wall, walls, np.nan)
    else:
        walls = np.full(n, np.nan)
    tag_col, src = _tags_and_sources(df, tags, good)
    frame, replaced = _build(tag_col[good], steps[good], values[good], walls[good], src[good])
    meta["rows"] = n
    meta["replaced_points"] = replaced
    return ParseResult(frame, tab.finish_meta(meta))


def _last_cell_cut(data: bytes, sep: str) -> bool:
    """Return True when the last cell of the (unterminated) last line is a number cut
    short (:func:`parsers._csv.is_cut_number`)."""
    last = data[data.rfind(b"\n") + 1 :][-200:].decode("utf-8", "replace")
    return tab.is_cut_number(last.rsplit(sep, 1)[-1])


_SKIP_RE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


def _drop_binary_lines(data: bytes, name: str, meta: dict[str, Any], strict: bool) -> bytes:
    """Blank the lines holding NUL bytes (damage): skipped and counted, or an error under
    ``strict`` or when they are most of the file."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" not in data:
        return data
    lines = data.split(b"\n")
    bad = [i for i, ln in enumerate(lines) if b"\x00" in ln]
    msg = f"line {bad[0] + 1}: binary data (a NUL byte)"
    if strict or len(bad) * 2 >= len(lines):
        err = DamagedInputError if strict else ParseError
        raise err(f"{name}: {msg}; not a CSV text file")
    for i in bad:
        lines[i] = b""
    meta["skipped"]["binary_rows"] = len(bad)
    meta["warnings"].append(f"{len(bad)} row(s) with binary data (NUL bytes) skipped (first: {msg})")
    return b"\n".join(lines)


def _parse(
    data: bytes, name: str, names: list[str], kwargs: dict[str, Any], meta: dict[str, Any], strict: bool
) -> pd.DataFrame:
    """pandas' C parser; rows with too many fields skipped and counted with their line.

    Raises
    ------
    ParseError
        If pandas cannot read the table.
    DamagedInputError
        In strict mode, for a row with too many fields.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = pd.read_csv(io.BytesIO(data), on_bad_lines="warn", **kwargs)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=names)
    except pd.errors.ParserError as exc:
        raise ParseError(f"{name}: {tab.c_error(str(exc), len(names))}") from None
    except (ValueError, OverflowError, UnicodeError) as exc:
        raise ParseError(f"{name}: cannot read as a long CSV ({exc})") from None
    skipped = [m for w in caught for m in _SKIP_RE.finditer(str(w.message)[: 1 << 20])]
    if skipped:
        first = skipped[0]
        msg = f"line {first.group(1)}: {first.group(3)} fields where the header has {first.group(2)}"
        if strict:
            raise DamagedInputError(f"{name}: {msg} (a ragged table)")
        meta["skipped"]["ragged_rows"] = len(skipped)
        meta["warnings"].append(f"{len(skipped)} ragged row(s) skipped (first: {msg})")
    return df


def _tags_and_sources(df: pd.DataFrame, tags: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tag, source tag) per row: as written when the file has ``source_tag`` (gradlog's
    own export), else normalised from the logged name (tbparse's ``dir_name`` in front)."""
    if "source_tag" in df.columns:
        src = df["source_tag"].astype(object).to_numpy()
        src = np.array([s if isinstance(s, str) else t for s, t in zip(src, tags, strict=True)], dtype=object)
        return tags, src
    raw = tags
    if "dir_name" in df.columns:
        dirs = df["dir_name"].astype(object).to_numpy()
        raw = np.array(
            [f"{d}/{t}" if isinstance(d, str) and d else t for d, t in zip(dirs, tags, strict=True)],
            dtype=object,
        )
    mapping = normalise_tags(str(t) for t in pd.unique(raw[good]))
    tag_col = np.array([mapping.get(t, t) if isinstance(t, str) else t for t in raw], dtype=object)
    return tag_col, raw


def _int_steps(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return (int64 steps, mask of cells that hold an integer), exact beyond 2**53."""
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
        v = col.to_numpy(dtype=np.int64)
        return v, np.ones(len(v), dtype=bool)
    out = np.zeros(len(col), dtype=np.int64)
    ok = np.zeros(len(col), dtype=bool)
    for i, cell in enumerate(col.astype(object).tolist()):
        try:
            if isinstance(cell, str):
                try:
                    n = int(cell.strip())
                except ValueError:
                    f = float(cell)
                    if not (math.isfinite(f) and f.is_integer()):
                        continue
                    n = int(f)
            elif isinstance(cell, float):
                if not (math.isfinite(cell) and cell.is_integer()):
                    continue
                n = int(cell)
            else:
                n = int(cell)
        except (ValueError, TypeError, OverflowError):
            continue
        if -(2**63) <= n < 2**63:
            out[i], ok[i] = n, True
    return out, ok


def _numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return (float64 values, mask of cells that hold a number or a NaN spelling)."""
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiub":
        v = col.to_numpy(dtype=np.float64)
        return v, np.ones(len(v), dtype=bool)
    obj = col.astype(object)
    v = pd.to_numeric(obj, errors="coerce").to_numpy(dtype=np.float64)
    ok = ~np.isnan(v)
    if not ok.all():
        words = obj.map(
            lambda x: isinstance(x, float) or str(x).strip().lower() in ("nan", "-nan", "+nan")
        ).to_numpy(dtype=bool)
        ok |= words
    return v, ok


def _build(
    tags: np.ndarray, steps: np.ndarray, values: np.ndarray, walls: np.ndarray, src: np.ndarray
) -> tuple[pd.DataFrame, int]:
    """Group rows by tag and hand them to the frame assembler (rows keep their own
    source tag when a tag has several)."""
    codes, uniq = pd.factorize(pd.Series(tags, dtype=object), sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
    parts = []
    for i, tag in enumerate(uniq):
        idx = order[bounds[i] : bounds[i + 1]]
        sources = pd.unique(src[idx])
        if len(sources) > 1:
            return build_frame(tags.astype(str), steps, values, walls, src.astype(str))
        parts.append(tab.Points(str(tag), str(sources[0]), steps[idx], values[idx], walls[idx]))
    return tab.assemble_frame(parts)
