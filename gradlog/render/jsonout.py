"""The JSON report: a documented, versioned, strict-JSON shape (null, never NaN).

The document is ``{"gradlog_version", "schema_version", "runs": [...]}``; its JSON
Schema ships with gradlog as ``gradlog/render/report.schema.json`` (see
:func:`schema`). Field names are stable within a ``schema_version``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gradlog._version import __version__
from gradlog.findings import plain as strict

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.report import Report
    from gradlog.run import Run

__all__ = ["run_dict", "reports_dict", "reports_json", "strict", "schema", "SCHEMA_FILE", "SCHEMA_VERSION"]

#: Version of the JSON shape (bumped on any incompatible change; documented in README);
#: ``gradlog.report.SCHEMA_VERSION`` re-exports it.
SCHEMA_VERSION = "1.1"

#: File name of the JSON Schema, inside the ``gradlog.render`` package.
SCHEMA_FILE = "report.schema.json"


def run_dict(report: Report) -> dict[str, Any]:
    """Return one run's entry of the JSON document (see README, "JSON report")."""
    run = report.run
    summary = run.summary()
    tags = [
        {
            "tag": str(r["tag"]),
            "role": r["role"] or None,
            "count": int(r["count"]),
            "first_step": int(r["first_step"]),
            "last_step": int(r["last_step"]),
            "first": r["first"],
            "last": r["last"],
            "min": r["min"],
            "max": r["max"],
            "nonfinite": int(r["nonfinite"]),
        }
        for r in summary.to_dict(orient="records")
    ]
    roles = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in run.roles.items()}
    return strict(
        {
            "run": run.name,
            "source": run.meta.get("source"),
            "format": run.meta.get("format"),
            "steps": run.steps,
            "roles": roles,
            "meta": {k: v for k, v in run.meta.items() if k not in ("source", "format", "name")},
            "tags": tags,
            "trends": [t.to_dict() for t in report.trends],
            "lr_advice": report.lr_advice.to_dict(),
            "lr_schedule": _schedule_dict(run),
            "findings": [f.to_dict() for f in report.findings],
            "not_assessable": [dict(x) for x in report.not_assessable],
        }
    )


def _schedule_dict(run: Run) -> dict[str, Any] | None:
    """The run's LR schedule with its description (None without an LR series)."""
    from gradlog.render.schedule import schedule_line, schedule_of

    sched = schedule_of(run)
    if sched is None:
        return None
    out = sched.to_dict()
    out["description"] = schedule_line(sched, str(run.meta.get("step_unit") or "step"))
    return out


def reports_dict(reports: Sequence[Report]) -> dict[str, Any]:
    """Return the whole JSON document for several runs."""
    return {
        "gradlog_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "runs": [run_dict(r) for r in reports],
    }


def reports_json(reports: Sequence[Report], *, indent: int | None = 2) -> str:
    """Return the JSON document as strict JSON text (``allow_nan=False``)."""
    return json.dumps(reports_dict(reports), indent=indent, allow_nan=False)


def schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the report document."""
    from importlib.resources import files

    return json.loads(files("gradlog.render").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
