"""Weights & Biases local run folders: ``wandb/run-<date>-<id>/`` (and ``offline-run-...``).

What a run folder holds, by SDK age:

* **Current SDKs** write every record into ``run-<id>.wandb`` (a binary record log,
  read by :mod:`parsers._wandb_records`, which documents the format; no wandb package
  needed). Each ``wandb.log`` call is a history record; the run record carries the
  config, the run id, name and project; the exit record the exit code.
* **Older SDKs** (before the binary file, and beside it until ~0.10) wrote
  ``files/wandb-history.jsonl`` (or ``wandb-history.jsonl`` in the run folder): one
  JSON object per ``wandb.log`` call, with ``_step``, ``_timestamp``, ``_runtime``.
  ``files/config.yaml`` (``key: {desc: ..., value: ...}``) holds the config.

Reading: every numeric value of a history row is a point at its ``_step`` (``_step``
missing: the row's index); ``_timestamp`` is the wall time; names are normalised
(``loss`` -> ``train/loss``, ``train/loss`` kept, a nested ``{"val": {"acc": ..}}``
-> ``val/acc``, whose source tag is ``val.acc`` as W&B shows it). Media, tables and histograms (objects with ``_type``), strings and
booleans are not scalars: counted in ``meta["skipped"]["non_scalar_values"]``, never
an error (they are not data gradlog reads). ``NaN``/``Infinity`` are values. A line
that is not JSON is skipped and counted with its line number (an error under
``strict``); a last line still being written, or a record cut off at the end of the
``.wandb`` file, is counted in ``meta["truncated"]``. The config goes to
``meta["hparams"]`` (flattened, the usual keys and the optimizer facts added), the
run's id, name, project and exit code to ``meta["wandb"]``. When a folder has both
files, the ``.wandb`` file is read.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from gradlog.errors import DamagedInputError, EmptyLogError, ParseError
from gradlog.frame import ParseResult
from gradlog.frame.listing import list_dir, walk_memoised
from gradlog.frame.source import Source
from gradlog.frame.tags import normalise_tags

from . import _tabular as tab
from . import _wandb_records as rec

NAME = "wandb"
DESCRIPTION = "Weights & Biases run folder: wandb/run-*/ (run-<id>.wandb, or files/wandb-history.jsonl)"

HISTORY = "wandb-history.jsonl"
_RUN_DIR_RE = re.compile(r"(?:offline-)?run-\d{8}_\d{6}-[A-Za-z0-9]{1,64}")
_META_KEYS = ("_step", "_timestamp", "_runtime")


def _listing(d: Path) -> dict[str, os.DirEntry[str]]:
    """The entries of ``d`` by name (listed once per discovery walk); empty when ``d``
    cannot be listed."""
    try:
        return {e.name: e for e in list_dir(d)}
    except OSError:
        return {}


def _is_file(entry: os.DirEntry[str] | None) -> bool:
    try:
        return entry is not None and entry.is_file()
    except OSError:
        return False


def _record_file(d: Path) -> Path | None:
    """The last ``run-*.wandb`` file of ``d`` by name, or None."""
    found = [
        Path(e.path)
        for name, e in _listing(d).items()
        if name.startswith("run-") and name.endswith(".wandb") and _is_file(e)
    ]
    return found[-1] if found else None


def _history_file(d: Path) -> Path | None:
    here = _listing(d)
    files = here.get("files")
    try:
        in_files = files is not None and files.is_dir()
    except OSError:
        in_files = False
    if in_files and _is_file(_listing(d / "files").get(HISTORY)):
        return d / "files" / HISTORY
    return d / HISTORY if _is_file(here.get(HISTORY)) else None


def _is_run_dir(d: Path) -> bool:
    return walk_memoised("wandb.is_run_dir", d, _run_dir_check)


def _run_dir_check(d: Path) -> bool:
    return _record_file(d) is not None or _history_file(d) is not None


def _run_dirs(d: Path) -> list[Path]:
    """The run folders under ``d`` (itself when it is one), once per discovery walk."""
    return list(walk_memoised("wandb.runs", d, _find_run_dirs))


def _find_run_dirs(d: Path) -> list[Path]:
    if _is_run_dir(d):
        return [d]
    children = []
    for name, e in _listing(d).items():
        if not _RUN_DIR_RE.fullmatch(name):
            continue
        try:
            if e.is_dir() and not e.is_symlink():
                children.append(Path(e.path))
        except OSError:
            continue
    return [c for c in children if _is_run_dir(c)]


def sniff(source: Source) -> bool:
    """Return True for a W&B run folder, a ``wandb/`` folder of runs, a ``.wandb`` record
    file, or a ``wandb-history.jsonl`` file."""
    if source.is_dir:
        return source.path is not None and bool(_run_dirs(source.path))
    if source.head.startswith(rec.MAGIC):
        return True
    if source.suffix_name == HISTORY:
        first = source.head.lstrip()[:1]
        return first in (b"{", b"")
    return False


def split_runs(source: Source) -> list[Path]:
    """Return the run folders under ``source`` (itself when it is one run), in name
    order (which is start-time order); the ``latest-run`` link is not a run."""
    if source.path is None:
        return []
    if not source.is_dir:
        return [source.path]
    return _run_dirs(source.path)


# -- values --------------------------------------------------------------------------------


class _Points:
    """Per-key steps, values and wall times, plus what was skipped."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[list[int], list[float], list[float]]] = {}
        self.tag_key: dict[str, str] = {}  # key as logged -> name to normalise
        self.non_scalar = 0

    def add_row(self, row: dict[str, Any], step: int, wall: float) -> None:
        for path, value in _flat_items(row):
            key = ".".join(path)
            if key in _META_KEYS:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.non_scalar += 1
                continue
            got = self.data.get(key)
            if got is None:
                got = self.data[key] = ([], [], [])
                self.tag_key[key] = "/".join(path)
            got[0].append(step)
            got[1].append(float(value))
            got[2].append(wall)


def _flat_items(
    row: dict[str, Any], prefix: tuple[str, ...] = (), depth: int = 0
) -> Iterable[tuple[tuple[str, ...], Any]]:
    """(key path, value) of a history row; a nested dict is walked (``{"val": {"acc":
    ..}}`` -> ``("val", "acc")``) unless it is a media object (it has ``_type``)."""
    for k, v in row.items():
        path = (*prefix, str(k))
        if isinstance(v, dict) and "_type" not in v and depth < 10:
            yield from _flat_items(v, path, depth + 1)
        else:
            yield path, v


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _step_of(row: dict[str, Any], index: int) -> int | None:
    step = row.get("_step", index)
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if isinstance(step, bool) or not isinstance(step, int) or not -(2**63) <= step < 2**63:
        return None
    return step


def _wall_of(row: dict[str, Any]) -> float:
    ts = row.get("_timestamp")
    return float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else math.nan


# -- the two history files -----------------------------------------------------------------


def _read_jsonl(path: Path, name: str, meta: dict[str, Any], strict: bool) -> _Points:
    """Read ``wandb-history.jsonl``; bad lines skipped and counted (errors if strict)."""
    data = tab.read_document(Source.from_path(path))
    lines = data.split(b"\n")
    cut = bool(lines) and lines[-1].strip() != b""
    pts = _Points()
    bad: list[int] = []
    index = 0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            row = None
        if not isinstance(row, dict) or (step := _step_of(row, index)) is None:
            if cut and i == len(lines) - 1:
                msg = f"line {i + 1}: truncated last line (a run still writing?) skipped"
                if strict:
                    raise DamagedInputError(f"{name}: {msg}") from None
                tab.note_truncated(meta, 1, msg)
                continue
            bad.append(i + 1)
            continue
        pts.add_row(row, step, _wall_of(row))
        index += 1
    if bad:
        msg = (
            f"{len(bad)} line(s) that are not a history row (a JSON object with an integer "
            f"_step) skipped (first: line {bad[0]})"
        )
        if strict:
            raise DamagedInputError(f"{name}: {msg}")
        meta["skipped"]["bad_lines"] = len(bad)
        meta["warnings"].append(msg)
    return pts


def _config_items(items: Iterable[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items:
        key = it.key or ".".join(it.nested_key)
        if key and key != "_wandb":
            out[key] = _json_value(it.value_json)
    return out


def _history_row(h: Any) -> dict[str, Any]:
    """A history record as the row ``wandb.log`` was given: the SDK splits nested dicts
    into items with a ``nested_key`` path, which are nested again here."""
    row: dict[str, Any] = {}
    for it in h.item:
        path = [it.key] if it.key else list(it.nested_key)
        if not path or not all(path):
            continue
        value = (
            _json_value(it.value_json)
            if it.value_json
            else (it.number if it.HasField("number") else it.integer if it.HasField("integer") else it.text)
        )
        node = row
        for part in path[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        node[path[-1]] = value
    if h.HasField("step") and "_step" not in row:
        row["_step"] = int(h.step.num)
    return row


def _read_records(
    path: Path, name: str, meta: dict[str, Any], strict: bool
) -> tuple[_Points, dict[str, Any]]:
    """Read ``run-<id>.wandb``: history, config, run info, exit code."""
    data = tab.read_document(Source.from_path(path))
    if not data.startswith(rec.MAGIC):
        raise ParseError(f"{name}: not a W&B record file (no ':W&B' header)")
    scan = rec.RecordScan()
    pts = _Points()
    config: dict[str, Any] = {}
    info: dict[str, Any] = {}
    index = 0
    for r in rec.iter_records(data, scan):
        if r.HasField("history"):
            row = _history_row(r.history)
            step = _step_of(row, index)
            if step is not None:
                pts.add_row(row, step, _wall_of(row))
                index += 1
        elif r.HasField("run"):
            run = r.run
            info.update(
                {
                    k: getattr(run, k)
                    for k in ("run_id", "project", "entity", "display_name", "run_group", "job_type")
                    if getattr(run, k)
                }
            )
            if run.HasField("start_time"):
                info["start_time"] = run.start_time.seconds + run.start_time.nanos / 1e9
            config.update(_config_items(run.config.update))
        elif r.HasField("config"):
            config.update(_config_items(r.config.update))
            for it in r.config.remove:
                config.pop(it.key or ".".join(it.nested_key), None)
        elif r.HasField("exit"):
            info["exit_code"] = int(r.exit.exit_code)
    _count_scan(scan, name, meta, strict)
    return pts, {"config": config, "info": info}


def _count_scan(scan: rec.RecordScan, name: str, meta: dict[str, Any], strict: bool) -> None:
    damaged = scan.bad_chunks + scan.orphan_chunks + scan.undecodable
    if damaged:
        msg = (
            f"{damaged} damaged record chunk(s) skipped (a CRC mismatch, a broken split "
            f"record or an undecodable record; first at byte {scan.first_bad_offset})"
        )
        if strict:
            raise DamagedInputError(f"{name}: {msg}")
        meta["skipped"]["damaged_records"] = damaged
        meta["warnings"].append(msg)
    if scan.truncated:
        msg = "the last record is cut off (a run still writing?) and was skipped"
        if strict:
            raise DamagedInputError(f"{name}: {msg}")
        tab.note_truncated(meta, scan.truncated, msg)


def _config_yaml(run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """``files/config.yaml`` (``key: {desc, value}``) as plain settings."""
    for p in (run_dir / "files" / "config.yaml", run_dir / "config.yaml"):
        if p.is_file():
            data, warns = tab.read_settings_file(p)
            if data is None:
                return {}, warns
            out = {
                k: (v.get("value") if isinstance(v, dict) and "value" in v else v)
                for k, v in data.items()
                if k not in ("_wandb", "wandb_version")
            }
            return out, warns
    return {}, []


# -- the run -------------------------------------------------------------------------------


def _frame(pts: _Points, name: str) -> tuple[Any, int]:
    if not pts.data:
        raise EmptyLogError(f"{name}: the W&B run logged no scalar")
    tags = normalise_tags(list(pts.tag_key.values()))
    parts = []
    for key, (steps, values, walls) in pts.data.items():
        s = np.asarray(steps, dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        w = np.asarray(walls, dtype=np.float64)
        if s.size > 1 and np.any(np.diff(s) < 0):
            order = np.argsort(s, kind="stable")
            s, v, w = s[order], v[order], w[order]
        parts.append(tab.Points(tags[pts.tag_key[key]], key, s, v, None if np.isnan(w).all() else w))
    return tab.assemble_frame(parts)


def _locate(source: Source) -> tuple[Path | None, Path | None, Path | None]:
    """(run folder, record file, history file) of the input."""
    if source.path is None:
        raise ParseError(f"{source.name}: a W&B run is read from its folder or files, not from a stream")
    p = source.path
    if not source.is_dir:
        if source.head.startswith(rec.MAGIC):
            return p.parent, p, None
        return (p.parent.parent if p.parent.name == "files" else p.parent), None, p
    runs = _run_dirs(p)
    if len(runs) != 1:
        raise ParseError(f"{source.name}: {len(runs)} W&B runs here; read each run folder (gradlog.load_all)")
    return runs[0], _record_file(runs[0]), _history_file(runs[0])


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read one W&B run (its folder, its ``.wandb`` file or its ``wandb-history.jsonl``).

    Returns
    -------
    ParseResult
        ``meta``: ``step_unit`` ``step``, ``hparams`` (the config), ``wandb`` (run id,
        name, project, exit code, the file read), ``skipped``, ``warnings``,
        ``truncated``.

    Raises
    ------
    ParseError
        If the input is not a W&B run, holds several, or is a stream.
    EmptyLogError
        If the run logged no scalar.
    DamagedInputError
        In strict mode, for a damaged record or line, or one cut short.
    """
    run_dir, record_file, history_file = _locate(source)
    meta: dict[str, Any] = {"step_unit": "step", "step_column": "_step", "skipped": {}, "warnings": []}
    info: dict[str, Any] = {}
    config: dict[str, Any] = {}
    if record_file is not None:
        pts, extra = _read_records(record_file, str(record_file), meta, strict)
        info, config = extra["info"], extra["config"]
        info["file"] = record_file.name
    else:
        assert history_file is not None
        pts = _read_jsonl(history_file, str(history_file), meta, strict)
        info["file"] = history_file.name
    if run_dir is not None:
        yaml_config, warns = _config_yaml(run_dir)
        meta["warnings"].extend(warns)
        for k, v in yaml_config.items():
            config.setdefault(k, v)
        info.setdefault("run_id", run_dir.name.rsplit("-", 1)[-1])
    if pts.non_scalar:
        meta["skipped"]["non_scalar_values"] = pts.non_scalar
    frame, replaced = _frame(pts, source.name)
    meta["replaced_points"] = replaced
    if replaced:
        meta["warnings"].append(
            f"{replaced} value(s) logged again at an earlier step were "
            "replaced by the later record (a resumed run?)"
        )
    if info.get("display_name") or info.get("run_id"):
        meta["name"] = str(info.get("display_name") or info.get("run_id"))
    meta["wandb"] = info
    hparams = tab.normalise_hparams(tab.flatten(config))
    return ParseResult(frame, tab.finish_meta(meta, hparams=hparams))
