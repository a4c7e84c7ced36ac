"""MLflow file store: ``mlruns/<experiment>/<run>/metrics/<name>`` (+ ``params/``, ``meta.yaml``).

Each metric file holds one line per logged value, ``<timestamp ms> <value> <step>``
(very old MLflow: no step). A metric called ``train/loss`` is stored as
``metrics/train/loss`` (a sub-folder); the tag comes from the name as logged, normalised
(``train_loss`` -> ``train/loss``). The timestamp becomes the frame's ``wall_time``.
A metric logged without steps (every line at step 0) gets the line index as its step,
with a warning. A line that is not ``timestamp value step`` is skipped and counted
(``meta["skipped"]["bad_lines"]``; an error under ``strict``); a last line without its
newline that is not a whole record (a run still writing: fields missing, a value cut
short such as ``1e-0``) is dropped and counted in ``meta["truncated"]``.

* a run directory (``metrics/`` + ``meta.yaml``, or ``metrics/`` + ``params/``) is one run;
* an experiment directory or the ``mlruns`` root holds several (see :func:`split_runs`).

``params/<name>`` files go to ``meta["hparams"]`` (numbers parsed, usual keys added:
``lr``, ``batch_size``, ``momentum`` ...), ``meta.yaml``'s ``run_name`` /
``tags/mlflow.runName`` to ``meta["name"]``, and the run id, experiment id and status to
``meta["mlflow"]``.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gradlog.errors import DamagedInputError, EmptyLogError, ParseError
from gradlog.frame import ParseResult
from gradlog.frame.listing import list_dir, walk_memoised
from gradlog.frame.source import Source
from gradlog.frame.tags import normalise_tags

from . import _tabular as tab

NAME = "mlflow"
DESCRIPTION = "MLflow file store: mlruns/<experiment>/<run>/metrics/<name> (+ params/)"


def _listing(d: str | Path) -> dict[str, os.DirEntry[str]]:
    """The entries of ``d`` by name (listed once per discovery walk); empty when ``d``
    cannot be listed."""
    try:
        return {e.name: e for e in list_dir(d)}
    except OSError:
        return {}


def _is(entry: os.DirEntry[str] | None, kind: str) -> bool:
    """``entry`` is a directory (``kind`` ``"dir"``) or a file, symbolic links followed."""
    if entry is None:
        return False
    try:
        return entry.is_dir() if kind == "dir" else entry.is_file()
    except OSError:
        return False


def _is_run_dir(d: str | Path) -> bool:
    return walk_memoised("mlflow.is_run_dir", str(d), _run_dir_check)


def _run_dir_check(d: str) -> bool:
    here = _listing(d)
    return _is(here.get("metrics"), "dir") and (
        _is(here.get("meta.yaml"), "file") or _is(here.get("params"), "dir") or _is(here.get("tags"), "dir")
    )


def _children(d: str | Path) -> list[str]:
    """The non-hidden subdirectories of ``d``, by name."""
    return [e.path for e in _listing(d).values() if not e.name.startswith(".") and _is(e, "dir")]


def _runs_under(d: Path) -> list[Path]:
    """The run directories under ``d`` (itself, its children, or its grandchildren);
    worked out once per discovery walk (``sniff`` and ``split_runs`` both ask)."""
    return list(walk_memoised("mlflow.runs", d, _find_runs))


def _find_runs(d: Path) -> list[Path]:
    if _is_run_dir(d):
        return [d]
    runs: list[Path] = []
    for c in _children(d):  # experiment directories, or runs of one experiment
        if _is_run_dir(c):
            runs.append(Path(c))
        else:
            runs.extend(Path(r) for r in _children(c) if _is_run_dir(r))
    return runs


def sniff(source: Source) -> bool:
    """Return True for an MLflow run directory, experiment directory or ``mlruns`` root."""
    if not source.is_dir or source.path is None:
        return False
    return bool(_runs_under(source.path))


def split_runs(source: Source) -> list[Path]:
    """Return the run directories under ``source`` (itself when it is one run)."""
    if source.path is None:
        return []
    return _runs_under(source.path)


#: The steps an int64 holds, as floats: [-2**63, 2**63).
_INT64_MIN = -(2.0**63)
_INT64_END = 2.0**63


def _metric_files(metrics_dir: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(metrics_dir):
        dirs.sort()
        for f in sorted(files):
            p = Path(root) / f
            name = p.relative_to(metrics_dir).as_posix()
            out.append((name, p))
    return out


def _cut_tail(data: bytes) -> tuple[bytes, int]:
    """Drop a last line without its newline that is not a whole record (a run still
    writing): fewer fields than the line before it, a field that is not a number, or a
    value cut short (``1e-0``, ``0.``). Return (the data, its line number or 0)."""
    if not data or data.endswith((b"\n", b"\r")):
        return data, 0
    nl = data.rfind(b"\n")
    tail = data[nl + 1 :]
    if not tail.strip():
        return data, 0
    fields = tail[:400].split()
    before = data[: max(nl, 0)]
    prev = before[before.rfind(b"\n") + 1 :].split() if nl >= 0 else []
    want = len(prev) if prev else 3
    whole = len(fields) >= want and len(tail) <= 400
    if whole:
        text = [f.decode("ascii", "replace") for f in fields]
        whole = all(tab.is_number(t) for t in text) and not tab.is_cut_number(text[-1])
    if whole:
        return data, 0
    return data[: nl + 1], data.count(b"\n") + 1


def _read_metric(path: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
    """Return (steps, values, wall seconds, bad lines, first bad line, line of a cut last
    record or 0) of one metric file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    data, nul_lines = _blank_binary_lines(data)
    data, cut = _cut_tail(data)
    data, wide_head = _drop_wide_head(data)
    if wide_head:  # counted with the NUL lines: bad lines, numbered from 1
        nul_lines = sorted(set(nul_lines) | set(range(1, wide_head + 1)))
    if not data.strip():
        return (
            np.empty(0, np.int64),
            np.empty(0),
            np.empty(0),
            len(nul_lines),
            min(nul_lines, default=0),
            cut,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = pd.read_csv(
                io.BytesIO(data),
                sep=r"\s+",
                header=None,
                names=["ts", "value", "step"],
                engine="c",
                dtype=object,
                keep_default_na=False,
                na_values=[""],
                on_bad_lines="skip",
                index_col=False,
                encoding="utf-8",
                encoding_errors="replace",
            )
    except pd.errors.EmptyDataError:
        return (
            np.empty(0, np.int64),
            np.empty(0),
            np.empty(0),
            len(nul_lines),
            min(nul_lines, default=0),
            cut,
        )
    except (pd.errors.ParserError, ValueError, UnicodeError) as exc:
        raise ParseError(f"{path}: cannot read as an MLflow metric file ({exc})") from None
    ts = pd.to_numeric(df["ts"], errors="coerce").to_numpy(dtype=np.float64)
    value_text = df["value"].astype(object)
    vals = pd.to_numeric(value_text, errors="coerce").to_numpy(dtype=np.float64)
    words = value_text.map(
        lambda x: isinstance(x, str) and x.strip().lower() in ("nan", "-nan", "+nan")
    ).to_numpy(dtype=bool)
    steps = pd.to_numeric(df["step"], errors="coerce").to_numpy(dtype=np.float64)
    has_step = ~np.isnan(steps)
    if not has_step.any():
        steps = np.zeros(len(df))  # very old MLflow: no step column
        has_step = np.ones(len(df), dtype=bool)
    ok = ~np.isnan(ts) & (~np.isnan(vals) | words) & has_step
    ok[ok] &= steps[ok] == np.round(steps[ok])
    ok &= (steps >= _INT64_MIN) & (steps < _INT64_END)  # a step int64 cannot hold is a bad line
    lines = sum(1 for ln in data.splitlines() if ln.strip())
    nbad = int(len(df) - np.count_nonzero(ok)) + max(0, lines - len(df))
    first = int(np.flatnonzero(~ok)[0]) + 1 if (~ok).any() else (len(df) + 1 if nbad else 0)
    if nul_lines:
        nbad += len(nul_lines)
        first = min(first, nul_lines[0]) if first else nul_lines[0]
    return steps[ok].astype(np.int64), vals[ok], ts[ok] / 1000.0, nbad, first, cut


def _drop_wide_head(data: bytes) -> tuple[bytes, int]:
    """Blank the leading lines with more than three fields; return (data, how many).

    pandas makes the extra leading fields of a first row longer than the names an
    index (a 256 KB first line of 130,000 fields took minutes, and every line was then
    read wrong); later long rows are skipped by ``on_bad_lines``. The lines are emptied,
    not removed, so that line numbers stay right.
    """
    n, pos = 0, 0
    while True:
        while pos < len(data) and data[pos : pos + 1] in (b"\n", b"\r"):
            pos += 1  # blank lines before it
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        if pos >= len(data) or len(data[pos : min(end, pos + (1 << 20))].split(None, 3)) <= 3:
            return (data if not n else b"\n" * data.count(b"\n", 0, pos) + data[pos:]), n
        n += 1
        pos = end


def _blank_binary_lines(data: bytes) -> tuple[bytes, list[int]]:
    """Blank the lines holding NUL bytes (damage, counted by the caller as bad lines);
    return the data and their 1-based line numbers."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" not in data:
        return data, []
    lines = data.split(b"\n")
    bad = [i + 1 for i, ln in enumerate(lines) if b"\x00" in ln]
    return b"\n".join(b"" if b"\x00" in ln else ln for ln in lines), bad


def _read_params(params_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not params_dir.is_dir():
        return out
    for name, p in _metric_files(params_dir):
        try:
            text = p.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        out[name] = tab.parse_scalar(text) if text else ""
    return out


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read one MLflow run directory.

    Returns
    -------
    ParseResult
        ``meta``: ``step_unit`` ``step``, ``hparams`` (from ``params/``), ``name`` (the run
        name), ``mlflow`` (run id, experiment id, status, start and end time),
        ``skipped``, ``warnings``.

    Raises
    ------
    ParseError
        If ``source`` is not a run directory (or holds several runs), or a metric file
        cannot be read.
    EmptyLogError
        If the run logged no metric.
    DamagedInputError
        In strict mode, for lines that would be skipped.
    """
    if not source.is_dir or source.path is None:
        raise ParseError(f"{source.name}: an MLflow run is a directory (mlruns/<experiment>/<run>)")
    runs = _runs_under(source.path)
    if len(runs) != 1:
        raise ParseError(
            f"{source.name}: {len(runs)} MLflow runs here; read each run directory (gradlog.load_all)"
        )
    run_dir = runs[0]
    meta: dict[str, Any] = {"step_unit": "step", "step_column": "step", "skipped": {}, "warnings": []}
    info, warns = _run_info(run_dir)
    meta["warnings"].extend(warns)
    names: list[str] = []
    loaded: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    bad_total = 0
    for name, path in _metric_files(run_dir / "metrics"):
        steps, vals, walls, nbad, first, cut = _read_metric(path, name)
        if nbad:
            bad_total += nbad
            what = f"{nbad} line(s) that are not 'timestamp value step' skipped (first: line {first})"
            if strict:
                raise DamagedInputError(f"{path}: {what}")
            meta["warnings"].append(f"{path.name}: {what}")
        if cut:
            what = f"line {cut}: truncated last line (a run still writing?) skipped"
            if strict:
                raise DamagedInputError(f"{path}: {what}")
            meta["skipped"]["truncated_last_line"] = meta["skipped"].get("truncated_last_line", 0) + 1
            tab.note_truncated(meta, 1, f"{path.name}: {what}")
        if steps.size == 0:
            continue
        if steps.size > 1 and np.all(steps == steps[0]):
            steps = np.arange(steps.size, dtype=np.int64)
            meta["warnings"].append(f"{name}: logged without steps; the line index is its step")
            meta.setdefault("indexed_metrics", []).append(name)
        order = np.argsort(steps, kind="stable")
        names.append(name)
        loaded.append((name, steps[order], vals[order], walls[order]))
    if bad_total:
        meta["skipped"]["bad_lines"] = bad_total
    if not loaded:
        raise EmptyLogError(f"{source.name}: the MLflow run logged no metric")
    tags = normalise_tags(names)
    parts = [tab.Points(tags[n], n, s, v, w) for n, s, v, w in loaded]
    frame, replaced = tab.assemble_frame(parts)
    meta["replaced_points"] = replaced
    if replaced:
        meta["warnings"].append(f"{replaced} value(s) logged twice at one step; the later kept")
    params = _read_params(run_dir / "params")
    if info.get("run_name"):
        meta["name"] = str(info["run_name"])
    meta["mlflow"] = info
    return ParseResult(frame, tab.finish_meta(meta, hparams=tab.normalise_hparams(params)))


def _run_info(run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    info: dict[str, Any] = {"run_id": run_dir.name, "experiment_id": run_dir.parent.name}
    warns: list[str] = []
    meta_file = run_dir / "meta.yaml"
    if meta_file.is_file():
        got, w = tab.read_settings_file(meta_file)
        data = got or {}
        warns.extend(w)
        for k in (
            "run_id",
            "run_name",
            "experiment_id",
            "status",
            "start_time",
            "end_time",
            "lifecycle_stage",
            "user_id",
        ):
            if data.get(k) not in (None, ""):
                info[k] = data[k]
    run_name_tag = run_dir / "tags" / "mlflow.runName"
    if "run_name" not in info and run_name_tag.is_file():
        try:
            info["run_name"] = run_name_tag.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            pass
    return info, warns
