"""The JSON report: a documented, versioned, strict-JSON shape (null, never NaN).

The document is ``{"gradlog_version", "schema_version", "runs": [...]}``; its JSON
Schema ships with gradlog as ``gradlog/render/report.schema.json`` (see
:func:`schema`). Field names are stable within a ``schema_version``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from gradlog._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.report import Report

__all__ = ["run_dict", "reports_dict", "reports_json", "strict", "schema", "SCHEMA_FILE"]

#: File name of the JSON Schema, inside the ``gradlog.render`` package.
SCHEMA_FILE = "report.schema.json"


def strict(value: Any) -> Any:
    """Return ``value`` as plain JSON data.

    NaN and infinities become None; numpy scalars and arrays become Python numbers and
    lists; tuples and sets become lists; paths and dates become strings; any other
    object becomes its ``str()``. Dictionary keys become strings.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
        if value is None or isinstance(value, (bool, int, str)):
            return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [strict(v) for v in sorted(value, key=str)]
    if hasattr(value, "tolist"):
        return strict(value.tolist())
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def run_dict(report: "Report") -> dict[str, Any]:
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
    return strict({
        "run": run.name,
        "source": run.meta.get("source"),
        "format": run.meta.get("format"),
        "steps": run.steps,
        "roles": roles,
        "meta": {k: v for k, v in run.meta.items() if k not in ("source", "format", "name")},
        "tags": tags,
        "trends": [t.to_dict() for t in report.trends],
        "findings": [f.to_dict() for f in report.findings],
        "not_assessable": [dict(x) for x in report.not_assessable],
    })


def reports_dict(reports: Sequence["Report"]) -> dict[str, Any]:
    """Return the whole JSON document for several runs."""
    from gradlog.report import SCHEMA_VERSION

    return {
        "gradlog_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "runs": [run_dict(r) for r in reports],
    }


def reports_json(reports: Sequence["Report"], *, indent: int | None = 2) -> str:
    """Return the JSON document as strict JSON text (``allow_nan=False``)."""
    return json.dumps(reports_dict(reports), indent=indent, allow_nan=False)


def schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the report document."""
    from importlib.resources import files

    return json.loads(files("gradlog.render").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
