"""Hugging Face ``Trainer`` state: ``trainer_state.json`` (in the output and checkpoint folders).

The ``log_history`` list holds one entry per logging event: training entries
(``loss``, ``learning_rate``, ``grad_norm``, ``epoch``, ``step`` ...), evaluation entries
(``eval_loss``, ``eval_<metric>``, ``eval_runtime`` ...) and, at the end, one summary
entry (``train_loss`` averaged over the run, ``train_runtime``, ``total_flos`` ...).

* Every numeric key of an entry is a tag at the entry's ``step`` (the global step):
  ``loss`` -> ``train/loss``, ``learning_rate`` -> ``train/lr``, ``grad_norm`` ->
  ``grad_norm/total``, ``eval_loss`` -> ``val/loss``, ``eval_wer`` -> ``val/wer``,
  ``epoch`` -> ``train/epoch`` (fractional epochs).
* The summary entry is not a series: it goes to ``meta["train_summary"]``.
* ``train_batch_size``, ``max_steps``, ``num_train_epochs``, ``logging_steps``,
  ``eval_steps``, ``save_steps`` go to ``meta["hparams"]`` (with ``batch_size``,
  ``max_epochs`` added); ``best_metric``, ``best_model_checkpoint``, ``global_step`` to
  ``meta["trainer_state"]``.
* ``training_args.json`` or ``training_args.bin`` beside it (the Trainer's arguments,
  read without running the pickle, see :mod:`parsers._hfargs`) add the optimizer
  (``optim`` -> ``meta["hparams"]["optimizer"]``, e.g. ``adamw``; AdamW, HF's default,
  only when that file is there), ``learning_rate`` -> ``lr``, ``weight_decay``,
  ``per_device_train_batch_size``, the Adam betas and the scheduler.
* A document cut short (a run still writing) keeps its complete ``log_history``
  entries, counted in ``meta["truncated"]``; the size is capped (see
  :mod:`parsers._jsondoc`).
* JSON's ``NaN`` and ``Infinity`` are values; entries without an integer ``step`` and
  values that are not numbers are skipped and counted.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from gradlog.errors import DamagedInputError, EmptyLogError, ParseError
from gradlog.frame import ParseResult
from gradlog.frame.listing import list_dir
from gradlog.frame.source import Source
from gradlog.frame.tags import normalise_tags

from . import _tabular as tab
from ._hfargs import read_training_args

NAME = "hf_trainer"
DESCRIPTION = "Hugging Face Trainer trainer_state.json (log_history)"

_HPARAM_KEYS = (
    "train_batch_size",
    "max_steps",
    "num_train_epochs",
    "logging_steps",
    "eval_steps",
    "save_steps",
)
_STATE_KEYS = (
    "global_step",
    "epoch",
    "best_metric",
    "best_model_checkpoint",
    "best_global_step",
    "is_hyper_param_search",
    "trial_name",
)


def sniff(source: Source) -> bool:
    """Return True for a JSON object with a ``log_history`` key in its first 64 KiB."""
    if source.is_dir:
        return False
    head = source.head
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    head = head.lstrip()
    return head.startswith(b"{") and b'"log_history"' in head


_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def superseded(path: Path) -> bool:
    """Return True for a checkpoint copy of a run's state that a later copy supersedes.

    The Trainer saves ``<output_dir>/checkpoint-N/trainer_state.json`` at every save, each
    the history up to step N; ``<output_dir>/trainer_state.json`` (written at the end) or
    a ``checkpoint-M`` with M > N holds all of it. :func:`gradlog.discover` lists only
    the most complete copy, so an output folder is one run, not one per checkpoint.
    """
    m = _CHECKPOINT_RE.match(path.parent.name)
    if path.name != "trainer_state.json" or m is None:
        return False
    out = path.parent.parent
    if (out / "trainer_state.json").is_file():
        return True
    n = int(m.group(1))
    try:
        siblings = list_dir(out)  # listed once per discovery walk, not per checkpoint
    except OSError:
        return False
    return any(
        (mm := _CHECKPOINT_RE.match(d.name)) is not None
        and int(mm.group(1)) > n
        and os.path.isfile(os.path.join(d.path, "trainer_state.json"))
        for d in siblings
    )


def _is_summary(entry: dict[str, Any]) -> bool:
    return "train_runtime" in entry or (
        "train_loss" in entry and "loss" not in entry and not any(k.startswith("eval_") for k in entry)
    )


def _as_float(v: object) -> float:
    """``float(v)``, with a JSON integer beyond the float range as +-inf (not an error)."""
    try:
        return float(v)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf if int(v) > 0 else -math.inf  # type: ignore[call-overload]


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read ``trainer_state.json``.

    Returns
    -------
    ParseResult
        ``meta``: ``step_unit`` ``step``, ``entries``, ``train_summary``,
        ``trainer_state``, ``hparams``, ``skipped``, ``warnings``.

    Raises
    ------
    ParseError
        If the file is not valid JSON (the message names the line and column) or has
        no ``log_history`` list.
    EmptyLogError
        If ``log_history`` holds no numeric value.
    DamagedInputError
        In strict mode, when an entry or a value would be skipped.
    """
    raw = tab.read_document(source)
    state, truncated = tab.load_json(raw, source.name, strict=strict, salvage="log_history")
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise ParseError(f"{source.name}: no 'log_history' list; not a trainer_state.json")
    history: list[Any] = state["log_history"]
    meta: dict[str, Any] = {
        "step_unit": "step",
        "step_column": "step",
        "skipped": {},
        "warnings": [],
        "entries": len(history),
    }
    tab.note_truncated(
        meta,
        truncated,
        f"the JSON document is cut short (a run still writing?): "
        f"the {len(history)} complete log_history entries were read",
    )
    keys, summary = _collect(history, source.name, meta, strict)
    if not keys:
        raise EmptyLogError(f"{source.name}: log_history holds no logged value")

    tags = normalise_tags(keys)
    parts = []
    for k, pts in keys.items():
        arr_s = np.fromiter((p[0] for p in pts), dtype=np.int64, count=len(pts))
        arr_v = np.fromiter((_as_float(p[1]) for p in pts), dtype=np.float64, count=len(pts))
        if arr_s.size > 1 and np.any(np.diff(arr_s) < 0):
            order = np.argsort(arr_s, kind="stable")
            arr_s, arr_v = arr_s[order], arr_v[order]
        parts.append(tab.Points(tags[k], k, arr_s, arr_v))
    frame, replaced = tab.assemble_frame(parts)
    meta["replaced_points"] = replaced
    if replaced:
        meta["warnings"].append(f"{replaced} value(s) logged twice at one step; the later kept")
    if summary:
        meta["train_summary"] = summary
    meta["trainer_state"] = {k: state[k] for k in _STATE_KEYS if k in state and _json_scalar(state[k])}
    hp = {k: state[k] for k in _HPARAM_KEYS if k in state and _json_scalar(state[k])}
    directory = source.path.parent if source.path is not None else None
    args, warns, args_file = read_training_args(directory)
    meta["warnings"].extend(warns)
    if args_file:
        meta["hparams_file"] = args_file
        for k, v in args.items():
            hp.setdefault(k, v)
    return ParseResult(frame, tab.finish_meta(meta, hparams=tab.normalise_hparams(hp)))


def _collect(
    history: list[Any], source_name: str, meta: dict[str, Any], strict: bool
) -> tuple[dict[str, list[tuple[int, float]]], dict[str, Any]]:
    """Return (points per key, the summary entry) of ``log_history``; what is skipped is
    counted in ``meta``.

    Raises
    ------
    DamagedInputError
        In strict mode, for an entry or a value that would be skipped.
    """
    keys: dict[str, list[tuple[int, float]]] = {}
    no_step = 0
    out_of_range = 0
    first_out: int | None = None
    not_number = 0
    nulls = 0
    first_bad: int | None = None
    summary: dict[str, Any] = {}
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            no_step += 1
            first_bad = i if first_bad is None else first_bad
            continue
        step = entry.get("step")
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if not isinstance(step, int) or isinstance(step, bool):
            no_step += 1
            first_bad = i if first_bad is None else first_bad
            continue
        if not _INT64_MIN <= step <= _INT64_MAX:
            out_of_range += 1
            first_out = i if first_out is None else first_out
            continue
        if _is_summary(entry):
            summary = {k: v for k, v in entry.items() if _json_scalar(v)}
            continue
        for k, v in entry.items():
            if k == "step":
                continue
            if v is None:
                nulls += 1
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                if not isinstance(v, (dict, list, str)):
                    not_number += 1
                elif isinstance(v, str):
                    f = _float_or_none(v)
                    if f is None:
                        not_number += 1
                        continue
                    keys.setdefault(k, []).append((step, f))
                continue
            keys.setdefault(k, []).append((step, _as_float(v)))
    _count(meta, source_name, strict, no_step, out_of_range, first_bad, first_out, nulls, not_number)
    return keys, summary


def _count(
    meta: dict[str, Any],
    name: str,
    strict: bool,
    no_step: int,
    out_of_range: int,
    first_bad: int | None,
    first_out: int | None,
    nulls: int,
    not_number: int,
) -> None:
    """Record the skipped entries and values in ``meta`` (or raise, under strict)."""
    for count, key, what, first in (
        (no_step, "entries_without_step", "without an integer step", first_bad),
        (out_of_range, "steps_out_of_range", "with a step outside the 64-bit integer range", first_out),
    ):
        if not count:
            continue
        msg = f"{count} log_history entr{'y' if count == 1 else 'ies'} {what} skipped (first: entry {first})"
        if strict:
            raise DamagedInputError(f"{name}: {msg}")
        meta["skipped"][key] = count
        meta["warnings"].append(msg)
    if nulls:
        # null is an explicit "no value" (not damage): counted, never an error
        meta["skipped"]["null_values"] = nulls
        meta["warnings"].append(f"{nulls} null value(s) (no value logged) skipped")
    if not_number:
        msg = f"{not_number} value(s) that are not numbers skipped"
        if strict:
            raise DamagedInputError(f"{name}: {msg}")
        meta["skipped"]["non_numeric_values"] = not_number
        meta["warnings"].append(msg)


_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _json_scalar(v: Any) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    return v is None or isinstance(v, (int, str, bool))


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
