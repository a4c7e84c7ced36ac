"""The rows of ``gradlog batch``'s summary table: what one run's row holds (analysed here
by :func:`analyze_ref`, in whatever process runs it), the rows of runs that could not be
read, and the typed table they make.

A row is a plain dict keyed by :data:`BATCH_COLUMNS` plus ``loss_sparkline``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import gradlog
from gradlog.discovery import RunRef, Unread
from gradlog.render.summary import SUMMARY_COLUMNS

__all__ = [
    "BATCH_COLUMNS",
    "BOOL_COLUMNS",
    "INT_COLUMNS",
    "STATUSES",
    "analyze_ref",
    "blank_row",
    "error_row",
    "make_table",
    "report_name",
    "unread_row",
]

#: Columns of the summary table, in order (also the header of ``gradlog batch``'s CSV);
#: defined beside the summary's renderers and schema.
BATCH_COLUMNS = SUMMARY_COLUMNS
#: The values of the ``status`` column.
STATUSES = ("ok", "error", "skipped")
#: Integer columns; missing (an error row, a run with no steps) is ``<NA>``.
INT_COLUMNS = ("first_step", "last_step", "steps", "tags", "findings")
#: Boolean columns; ``<NA>`` on error and skipped rows.
BOOL_COLUMNS = ("assessed",)
#: Loss detectors: when one of them cannot run for want of loss data (no loss, too few
#: points), the run is not assessed. (A missing LR or gradient series only narrows what
#: is assessed; ``not_assessable`` lists those detectors.)
CORE_DETECTORS = ("divergence", "loss_plateau")
#: Points of the smoothed-loss sparkline kept per run.
SPARK_POINTS = 60
_MAX_REASON = 500


def blank_row(path: Path | str, fmt: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {c: None if c in INT_COLUMNS or c in BOOL_COLUMNS else "" for c in BATCH_COLUMNS}
    row.update(path=str(path), format=fmt)
    return row


def error_row(ref: RunRef, message: str) -> dict[str, Any]:
    row = blank_row(ref.path, ref.format)
    row.update(status="error", reason=message[:_MAX_REASON])
    return row


def unread_row(u: Unread) -> dict[str, Any]:
    row = blank_row(u.path, u.format)
    row.update(status=u.status, reason=u.reason[:_MAX_REASON])
    return row


_FEW = re.compile(r"has (\d+) (?:finite )?points")


def _loss_reason(reason: str) -> bool:
    """Whether a detector could not run for want of loss data."""
    return reason.startswith("no training-loss") or bool(_FEW.search(reason))


def _short_reason(reason: str) -> str:
    """``"no loss"``, ``"too few points (4)"``, or the detector's own reason."""
    if reason.startswith("no training-loss"):
        return "no loss"
    m = _FEW.search(reason)
    if m:
        return "no finite loss values" if m.group(1) == "0" else f"too few points ({m.group(1)})"
    return reason.split(";")[0][:120]


def _sparkline(run: gradlog.Run) -> list[float]:
    """The run's loss, smoothed (an EMA over ~5% of its points) and thinned to at most
    :data:`SPARK_POINTS` values; ``[]`` without a loss."""
    tag = run.roles.get("loss")
    if not tag or tag not in run:
        return []
    v = run.series(tag).to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return []
    span = max(1, v.size // 20)
    smooth = pd.Series(v).ewm(span=span, adjust=True).mean().to_numpy()
    idx = np.unique(np.linspace(0, v.size - 1, min(SPARK_POINTS, v.size)).round().astype(int))
    return [float(f"{x:.4g}") for x in smooth[idx]]


def report_name(path: Path | str, root: Path | str | None = None) -> str:
    """Return the file name of a run's HTML report in ``--reports DIR``: its path
    relative to ``root`` with ``/`` as ``__``, made safe, plus a short hash (unique)."""
    p = Path(path)
    try:
        rel = p.relative_to(root).as_posix() if root is not None else p.as_posix()
    except ValueError:
        rel = p.as_posix()
    rel = rel.strip("/") or p.name or "run"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", rel.replace("/", "__"))[-80:].lstrip("._") or "run"
    h = hashlib.blake2b(str(p).encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()
    return f"{slug}-{h}.html"


def analyze_ref(ref: RunRef, report_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Load and analyse one discovered run and return its summary row.

    Parameters
    ----------
    ref : RunRef
        A run as :func:`gradlog.discover` found it (path and format).
    report_path : path, optional
        Also write the run's HTML report there (atomically).

    Returns
    -------
    dict
        One value per column of :data:`BATCH_COLUMNS`, plus ``loss_sparkline`` (the
        smoothed loss, at most 60 values). ``status`` is ``"ok"``, or ``"error"`` with
        ``reason`` = ``"<ExceptionType>: <first line of its message>"`` (at most 500
        characters). Integer columns are ``None`` where they do not apply; text columns
        are ``""``. ``finding_ids`` is the distinct finding ids, space-separated, in
        report order; ``assessed`` is False when the log holds too little loss data for
        the loss detectors (``reason`` says why: ``"no loss"``, ``"too few points
        (3)"``), and ``not_assessable`` lists every detector that could not run (for
        want of a loss, an LR or a gradient series).

    Raises
    ------
    Nothing for a bad file: any error while loading or analysing it is recorded in the
    row, so one bad file never stops a batch.
    """
    row = blank_row(ref.path, ref.format)
    try:
        run = gradlog.load(RunRef(Path(ref.path), ref.format))  # exactly the run discovered
        rep = gradlog.analyze(run)
        spark = _sparkline(run)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a batch
        msg = str(exc).splitlines()[0] if str(exc) else ""
        return {**error_row(ref, f"{type(exc).__name__}: {msg}"), "loss_sparkline": []}
    st = run.steps
    na = list(getattr(rep, "not_assessable", []) or [])
    core = [x for x in na if x.get("id") in CORE_DETECTORS and _loss_reason(str(x.get("reason", "")))]
    advice = getattr(rep, "lr_advice", None)
    row.update(
        status="ok",
        run=run.name,
        first_step=st["first"],
        last_step=st["last"],
        steps=st["count"],
        tags=len(run.tags),
        findings=len(rep.findings),
        max_severity=rep.max_severity or "",
        finding_ids=" ".join(dict.fromkeys(f.id for f in rep.findings)),
        lr_action=getattr(advice, "action", "") or "",
        assessed=not core,
        not_assessable=" ".join(dict.fromkeys(str(x.get("id")) for x in na)),
        reason=_short_reason(str(core[0].get("reason", ""))) if core else "",
    )
    if report_path is not None:
        try:
            from gradlog.cache import atomic_write_text

            atomic_write_text(report_path, rep.to_html())
        except Exception as exc:  # noqa: BLE001 - the row stands; the link will be missing
            row["reason"] = (
                row["reason"] + "; " if row["reason"] else ""
            ) + f"report not written ({type(exc).__name__}: {exc})"[:200]
    row["loss_sparkline"] = spark
    return row


def make_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The summary table of ``rows``: columns :data:`BATCH_COLUMNS`, typed, sorted by path."""
    df = pd.DataFrame.from_records(rows, columns=list(BATCH_COLUMNS))
    for c in BATCH_COLUMNS:
        df[c] = df[c].astype("Int64" if c in INT_COLUMNS else "boolean" if c in BOOL_COLUMNS else object)
    df["group"] = [g if isinstance(g, str) else "" for g in df["group"]]
    return df.sort_values("path", kind="stable", ignore_index=True)
