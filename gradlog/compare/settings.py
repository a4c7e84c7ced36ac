"""The settings a run was trained with, as a comparison reads them: its hparams, the
peak of its logged LR, and what its file and folder names say (``lr0.01``, ``bs32``)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradlog.report import Report
from gradlog.run import Run

__all__ = ["hparams_of", "folder_hparams", "run_settings", "differ", "PREFERRED"]

#: Preferred hyperparameters when several differ (the LR first: this is what a sweep is for).
PREFERRED = ("lr", "batch_size", "momentum", "weight_decay", "optimizer")
#: hparams that name a place, a time or an identity, not a setting (never "varied").
_IGNORED_KEY_RE = re.compile(
    r"(^name$|(^|[._\-])(dir|dirs|path|paths|file|files|folder|id|uuid|time|timestamp|date|"
    r"version|host|hostname|user|logging_dir|output_dir|run_name|exp_name|job_name|report_to|hub_\w+|"
    r"push_to_hub|resume_from_checkpoint|save_\w+|log_\w+|logging_\w+|eval_steps|"
    r"tracking_uri|artifact\w*|experiment\w*|git\w*)$)",
    re.IGNORECASE,
)
#: Settings read from folder and file names: ``lr0.01``, ``lr=1e-3``, ``bs-32``.
_FOLDER_RE = re.compile(
    r"(?<![A-Za-z])(lr|learning[_-]?rate|base[_-]?lr|bs|batch[_-]?size|wd|weight[_-]?decay|"
    r"momentum|mom)[=_-]?((?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)(?![\d.])",
    re.IGNORECASE,
)
_FOLDER_KEYS = {
    "lr": "lr",
    "learningrate": "lr",
    "baselr": "lr",
    "bs": "batch_size",
    "batchsize": "batch_size",
    "wd": "weight_decay",
    "weightdecay": "weight_decay",
    "momentum": "momentum",
    "mom": "momentum",
}


def _scalar(v: Any) -> Any:
    """Return a hyperparameter value usable for comparison, or None."""
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str) and 0 < len(v) <= 200:
        return v
    return None


def hparams_of(run: Run) -> dict[str, Any]:
    """Return the run's comparable hyperparameters: scalar values of ``meta["hparams"]``
    (numbers as floats), without keys that name a place, a time or an identity
    (``output_dir``, ``run_name``, ``seed`` stays)."""
    hp = run.meta.get("hparams") or {}
    out: dict[str, Any] = {}
    if isinstance(hp, Mapping):
        for k, v in hp.items():
            key = str(k)
            if _IGNORED_KEY_RE.search(key):
                continue
            sv = _scalar(v)
            if sv is not None:
                out[key] = sv
    return out


def folder_hparams(source: str | os.PathLike[str] | None) -> dict[str, float]:
    """Return the settings written in a run's file and folder names (``lr0.01``,
    ``lr=1e-3``, ``bs32``, ``wd-1e-4``), nearest name first wins; empty when none."""
    if not source:
        return {}
    p = Path(str(source))
    parts = [p.stem if p.suffix else p.name, *[q.name for q in list(p.parents)[:3]]]
    out: dict[str, float] = {}
    for part in parts:
        for m in _FOLDER_RE.finditer(part):
            key = _FOLDER_KEYS[re.sub(r"[_-]", "", m.group(1).lower())]
            try:
                val = float(m.group(2))
            except ValueError:
                continue
            if math.isfinite(val):
                out.setdefault(key, val)
    return out


def _logged_lr_peak(run: Run) -> float | None:
    tag = run.roles.get("lr")
    if not tag or tag not in run:
        return None
    v = run.series(str(tag)).to_numpy(dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(v.max()) if v.size else None


def differ(vals: Sequence[Any]) -> bool:
    """Return True when the values are not all the same (floats within a relative 1e-9 are)."""
    first = vals[0]
    for v in vals[1:]:
        if isinstance(first, float) and isinstance(v, float):
            if not math.isclose(first, v, rel_tol=1e-9, abs_tol=0.0):
                return True
        elif v != first:
            return True
    return False


def run_settings(
    reports: Sequence[Report],
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Return each run's comparable settings and where each came from."""
    params, sources = [], []
    for rep in reports:
        hp = hparams_of(rep.run)
        fo = folder_hparams(rep.run.meta.get("source"))
        p: dict[str, Any] = {}
        src: dict[str, str] = {}
        for k, v in fo.items():
            p[k], src[k] = v, "folder_name"
        for k, v in hp.items():
            p[k], src[k] = v, "hparams"
        if src.get("lr") != "hparams":  # the logged LR before a folder name
            peak = _logged_lr_peak(rep.run)
            if peak is not None:
                p["lr"], src["lr"] = peak, "logged_lr"
        params.append(p)
        sources.append(src)
    return params, sources
