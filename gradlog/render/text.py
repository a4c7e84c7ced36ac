"""The terminal report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.report import Report

__all__ = ["render_text"]


def _num(x: float) -> str:
    if x != x:
        return "nan"
    return f"{x:.4g}"


def render_text(reports: Sequence["Report"], *, color: bool = False, width: int = 80) -> str:
    """Return the plain-text report of several runs, one section each."""
    out: list[str] = []
    for rep in reports:
        run = rep.run
        st = run.steps
        meta = run.meta
        out.append(f"== {run.name}")
        out.append(f"format: {meta.get('format')}   steps: {st['first']}..{st['last']} "
                   f"({st['count']} distinct)   tags: {len(run.tags)}")
        for r in meta.get("restarts", []):
            out.append(f"restart: {r}")
        for k, v in meta.get("skipped", {}).items():
            if v:
                out.append(f"skipped: {v} {k.replace('_', ' ')}")
        for w in meta.get("warnings", []):
            out.append(f"warning: {w}")
        summ = run.summary()
        out.append("")
        out.append(f"{'tag':<34} {'count':>7} {'first':>10} {'last':>10} {'min':>10}")
        for row in summ.itertuples():
            tag = row.tag if len(row.tag) <= 34 else row.tag[:31] + "..."
            out.append(f"{tag:<34} {row.count:>7} {_num(row.first):>10} {_num(row.last):>10} "
                       f"{_num(row.min):>10}")
        out.append("")
    return "\n".join(out)
