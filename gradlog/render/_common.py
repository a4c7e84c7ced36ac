"""Helpers shared by the renderers: numbers, evidence lines, safe file names."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.findings import Finding
    from gradlog.report import Report

__all__ = [
    "fmt_num",
    "fmt_step",
    "fmt_steps",
    "evidence_items",
    "evidence_line",
    "safe_filename",
    "unique_names",
    "severity_counts",
    "role_items",
    "meta_notes",
    "single_line",
]

_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
_DASHES_RE = re.compile(r"-{2,}")
_WS_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


def fmt_num(x: Any, digits: int = 4) -> str:
    """Return a number in at most ``digits`` significant digits (``nan``/``inf`` as such,
    ``-`` for None); integers print whole, with thousands separators from 10,000."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}" if abs(x) >= 10_000 else str(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f == int(f) and abs(f) < 1e15 and abs(f) >= 1:
        i = int(f)
        return f"{i:,}" if abs(i) >= 10_000 else str(i)
    return f"{f:.{digits}g}"


def fmt_step(x: Any) -> str:
    """Return a step as an integer with thousands separators (``-`` for None)."""
    if x is None:
        return "-"
    return f"{int(x):,}"


def fmt_steps(step_range: Iterable[Any] | None) -> str:
    """Return ``"steps 1,000-5,000"`` for a range, ``"whole run"`` for None."""
    if step_range is None:
        return "whole run"
    a, b = list(step_range)
    if a == b:
        return f"step {fmt_step(a)}"
    return f"steps {fmt_step(a)}-{fmt_step(b)}"


def single_line(text: Any) -> str:
    """Return ``text`` as one line: control characters and runs of whitespace become
    one space."""
    return _WS_RE.sub(" ", _CONTROL_RE.sub(" ", str(text))).strip()


def _fmt_value(value: Any, max_items: int = 6) -> str:
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k}={_fmt_value(v, 3)}" for k, v in list(value.items())[:max_items])
        more = ", ..." if len(value) > max_items else ""
        return "{" + inner + more + "}"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) for v in value):
            return f"[{len(value)} records]"
        inner = ", ".join(_fmt_value(v, 3) for v in list(value)[:max_items])
        more = f", ... ({len(value)} in all)" if len(value) > max_items else ""
        return "[" + inner + more + "]"
    if isinstance(value, str):
        return single_line(value)
    return fmt_num(value)


def evidence_items(evidence: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return ``(key, formatted value)`` for every evidence entry, in the analyzer's
    order; lists of records (per-phase tables) are summarised as a count."""
    return [(single_line(k), _fmt_value(v)) for k, v in evidence.items()]


def evidence_line(evidence: Mapping[str, Any]) -> str:
    """Return the evidence as one line ``key=value; key=value``."""
    return "; ".join(f"{k}={v}" for k, v in evidence_items(evidence))


def safe_filename(name: str, *, default: str = "run", max_len: int = 80) -> str:
    """Return a file name derived from ``name`` that is safe to create in a directory.

    Only ASCII letters, digits, ``.``, ``_`` and ``-`` survive (others become ``-``);
    the result has no path separator, no ``..``, no control character, does not start
    with ``.`` or ``-``, is not a reserved device name, and is at most ``max_len`` long.
    ``default`` is returned when nothing usable is left.
    """
    s = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    s = _UNSAFE_RE.sub("-", s)
    s = s.replace("..", "-")
    s = _DASHES_RE.sub("-", s).strip(".-_")
    s = s[:max_len].strip(".-_")
    if not s or s.split(".")[0].lower() in _WINDOWS_RESERVED:
        s = f"{default}-{s}" if s else default
    return s


def unique_names(names: Iterable[str]) -> list[str]:
    """Return ``names`` made unique (case-insensitively) by suffixes ``-2``, ``-3``..."""
    seen: set[str] = set()
    out: list[str] = []
    for n in names:
        cand, i = n, 2
        while cand.lower() in seen:
            cand = f"{n}-{i}"
            i += 1
        seen.add(cand.lower())
        out.append(cand)
    return out


def severity_counts(findings: Iterable["Finding"]) -> str:
    """Return ``"1 critical, 2 warning"`` style counts (``"no findings"`` when empty)."""
    from gradlog.findings import SEVERITIES

    fs = list(findings)
    if not fs:
        return "no findings"
    parts = []
    for sev in reversed(SEVERITIES):
        n = sum(1 for f in fs if f.severity == sev)
        if n:
            parts.append(f"{n} {sev}")
    return f"{len(fs)} finding{'s' if len(fs) != 1 else ''} ({', '.join(parts)})"


def role_items(roles: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return ``(role, tag)`` pairs for the roles a run has (``grad``: a count + list)."""
    out: list[tuple[str, str]] = []
    for role, val in roles.items():
        if isinstance(val, (list, tuple)):
            if val:
                shown = ", ".join(val[:4]) + (", ..." if len(val) > 4 else "")
                out.append((role, f"{len(val)} layer{'s' if len(val) != 1 else ''}: {shown}"))
        elif val:
            out.append((role, str(val)))
    return out


def meta_notes(report: "Report") -> list[str]:
    """Return one-line notes about how the log was read: restarts, skipped records,
    replaced points and parser warnings (each counted)."""
    meta = report.run.meta
    notes: list[str] = []
    restarts = meta.get("restarts") or []
    if restarts:
        notes.append(f"{len(restarts)} restart{'s' if len(restarts) != 1 else ''}: "
                     + "; ".join(_restart(r) for r in restarts[:5])
                     + ("; ..." if len(restarts) > 5 else ""))
    for k, v in (meta.get("skipped") or {}).items():
        if v:
            notes.append(f"skipped {fmt_num(v)} {single_line(str(k).replace('_', ' '))}")
    if meta.get("replaced_points"):
        notes.append(f"{fmt_num(meta['replaced_points'])} points re-logged later "
                     "(the later record was kept)")
    warns = meta.get("warnings") or []
    for w in warns[:10]:
        notes.append(f"warning: {single_line(w)}")
    if len(warns) > 10:
        notes.append(f"... and {len(warns) - 10} more warnings")
    return notes


def _restart(r: Any) -> str:
    if isinstance(r, Mapping):
        step = r.get("step", r.get("at_step", r.get("iteration")))
        bits = [f"at step {fmt_step(step)}" if isinstance(step, (int, float)) else ""]
        bits += [f"{k}={_fmt_value(v)}" for k, v in r.items()
                 if k not in ("step", "at_step", "iteration")][:3]
        return single_line(" ".join(b for b in bits if b))
    return single_line(r)
