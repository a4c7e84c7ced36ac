"""The JSON report: a documented, versioned, strict-JSON shape (null, never NaN)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gradlog._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.report import Report

__all__ = ["run_dict", "reports_dict", "reports_json", "strict"]


def strict(value: Any) -> Any:
    """Return ``value`` with every NaN/inf float replaced by None, recursively, and numpy
    scalars turned into Python ones."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if hasattr(value, "tolist"):
        return strict(value.tolist())
    return value


def run_dict(report: "Report") -> dict[str, Any]:
    """Return one run's entry of the JSON document."""
    run = report.run
    summary = run.summary()
    return strict({
        "run": run.name,
        "source": run.meta.get("source"),
        "format": run.meta.get("format"),
        "steps": run.steps,
        "roles": run.roles,
        "meta": {k: v for k, v in run.meta.items() if k not in ("source", "format", "name")},
        "tags": summary.to_dict(orient="records"),
        "trends": [t.to_dict() for t in report.trends],
        "findings": [f.to_dict() for f in report.findings],
        "not_assessable": list(report.not_assessable),
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
    """Return the JSON document as strict JSON text."""
    return json.dumps(reports_dict(reports), indent=indent, allow_nan=False, default=str)
