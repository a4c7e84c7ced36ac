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
    unterminated = bool(data) and not data.endswith((b"\n", b"\r"))
    steps, values, tags, good = _checked_rows(
        df,
        source.name,
        meta,
        strict,
        first_line=hdr.header_line + 2,
        max_tag=tab.max_tag_length(),
        open_last=unterminated,
        cut_last=unterminated and _last_cell_cut(data, hdr.sep),
    )
    frame, _ = _points(df, steps, values, tags, good, meta)
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
    steps, values, tags, good = _checked_rows(df, source.name, meta, strict)
    frame, _ = _points(df, steps, values, tags, good, meta)
    return ParseResult(frame, tab.finish_meta(meta))


def _checked_rows(
    df: pd.DataFrame,
    name: str,
    meta: dict[str, Any],
    strict: bool,
    *,
    first_line: int | None = None,
    max_tag: int | None = None,
    open_last: bool = False,
    cut_last: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The row checks of both paths: a row holds a point when its step is an integer,
    its value a number (or a NaN spelling) and its tag a non-empty string; the others
    are skipped and counted in ``meta`` (errors under ``strict``).

    Parameters
    ----------
    first_line : the file line of the first row, to name the first skipped row (a CSV);
        None when rows have no line (Parquet).
    max_tag : longer tags are skipped and counted apart (``long_tags``); None: no cap.
    open_last : the last row is a line without its newline (a run still writing): when
        it fails the checks it is a truncated last line, not a bad row.
    cut_last : that line's last cell is a number cut short (``1e-0`` of ``1e-05``).

    Returns
    -------
    (steps, values, tags, good) : int64 steps, float64 values, the tags as logged, and
        the mask of the rows that hold a point.

    Raises
    ------
    EmptyLogError
        If no row holds a point.
    DamagedInputError
        In strict mode, when a row would be skipped.
    """
    line0 = 0 if first_line is None else first_line  # (max_tag and open_last: CSV only)
    steps, int_step = _int_steps(df["step"])
    values, ok_value = _numbers(df["value"])
    tags = df["tag"].astype(object).to_numpy()
    ok_tag = np.array([isinstance(t, str) and t != "" for t in tags], dtype=bool)
    long_tag = np.zeros(len(tags), dtype=bool)
    if max_tag is not None:
        long_tag = np.array([isinstance(t, str) and len(t) > max_tag for t in tags], dtype=bool)
    if long_tag.any():
        msg = (
            f"{int(long_tag.sum())} row(s) with a tag longer than {max_tag} characters "
            f"skipped (first: line {line0 + int(np.flatnonzero(long_tag)[0])}; set "
            "GRADLOG_MAX_TAG_LENGTH to read them)"
        )
        _skip(name, meta, strict, "long_tags", int(long_tag.sum()), msg)
        ok_tag &= ~long_tag
    good = int_step & ok_value & ok_tag
    if cut_last and good[-1]:
        good[-1] = False  # ``1e-0`` of ``1e-05`` reads as 1: a record still being written
    bad_rows = ~(good | long_tag)
    if open_last and bad_rows[-1]:
        # the last record, without its newline, is incomplete: a run still writing
        msg = f"line {line0 + len(tags) - 1}: truncated last line (a run still writing?) skipped"
        if strict:
            raise DamagedInputError(f"{name}: {msg}")
        bad_rows[-1] = False
        meta["skipped"]["truncated_last_line"] = 1
        tab.note_truncated(meta, 1, msg)
    bad = int(np.count_nonzero(bad_rows))
    if bad:
        msg = f"{bad} row(s) without an integer step, a tag or a number skipped"
        if first_line is not None:
            msg += f" (first: line {first_line + int(np.flatnonzero(bad_rows)[0])})"
        _skip(name, meta, strict, "bad_rows", bad, msg)
    if not good.any():
        raise EmptyLogError(f"{name}: no row holds a point")
    return steps, values, tags, good


def _skip(name: str, meta: dict[str, Any], strict: bool, key: str, count: int, msg: str) -> None:
    """Count ``count`` skipped rows under ``key`` with the warning ``msg`` (an error
    under ``strict``)."""
    if strict:
        raise DamagedInputError(f"{name}: {msg}")
    meta["skipped"][key] = count
    meta["warnings"].append(msg)


def _points(
    df: pd.DataFrame,
    steps: np.ndarray,
    values: np.ndarray,
    tags: np.ndarray,
    good: np.ndarray,
    meta: dict[str, Any],
) -> tuple[pd.DataFrame, int]:
    """The frame of the rows that hold a point (wall times where the table has them);
    ``rows`` and ``replaced_points`` noted in ``meta``. Returns (frame, replaced)."""
    n = len(df)
    if "wall_time" in df.columns:
        walls, ok_wall = _numbers(df["wall_time"])
        walls = np.where(ok_wall, walls, np.nan)
    else:
        walls = np.full(n, np.nan)
    tag_col, src = _tags_and_sources(df, tags, good)
    frame, replaced = _build(tag_col[good], steps[good], values[good], walls[good], src[good])
    meta["rows"] = n
    meta["replaced_points"] = replaced
    if replaced:
        meta["warnings"].append(
            f"{replaced} point(s) re-logged at an earlier step were replaced by the later record"
        )
    return frame, replaced


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
