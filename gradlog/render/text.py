"""The terminal report: readable at 80 columns, coloured only when asked to.

One section per run: a header (run, format, steps, tags, roles, how the log was read),
the findings most severe first (each with its one-line summary, the evidence in a line
and the recommendation), the trend table, the tag table and what could not be assessed.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gradlog.render._common import (
    evidence_items,
    fmt_num,
    fmt_step,
    fmt_steps,
    meta_notes,
    role_items,
    severity_counts,
    single_line,
)

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.findings import Finding, Trend
    from gradlog.report import Report

__all__ = ["render_text"]

_RESET = "\x1b[0m"
_STYLES = {
    "bold": "\x1b[1m",
    "dim": "\x1b[2m",
    "critical": "\x1b[1;31m",
    "warning": "\x1b[1;33m",
    "info": "\x1b[1;36m",
}
_MIN_WIDTH = 60
_EXP_RE = re.compile(r"e([+-])0*(\d+)")


class _Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, style: str) -> str:
        if not self.color or not text:
            return text
        return f"{_STYLES[style]}{text}{_RESET}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 1)] + "..."


def _wrap(text: str, width: int, indent: str, first: str | None = None) -> list[str]:
    return textwrap.wrap(single_line(text), width=width, initial_indent=first or indent,
                         subsequent_indent=indent, break_on_hyphens=False) or [first or indent]


def _finding(f: "Finding", width: int, paint: _Painter) -> list[str]:
    sev = f.severity.upper()
    head = (f"  {paint(f'{sev:<8}', f.severity)} {paint(f.id, 'bold')}  "
            f"{fmt_steps(f.step_range)}  confidence {f.confidence:.2f}")
    out = [head]
    out += _wrap(f.summary, width, "    ")
    if f.tags:
        out.append(_clip("    tags: " + ", ".join(single_line(t) for t in f.tags), width))
    if f.evidence:
        out.append(_evidence(f.evidence, width))
    if f.recommendation:
        out += _wrap(f.recommendation, width, "      ", first="    -> ")
    return out


def _evidence(evidence: dict, width: int) -> str:
    """The evidence in one line: whole ``key=value`` items while they fit, then a count."""
    items = [f"{k}={v}" for k, v in evidence_items(evidence)]
    line = "    evidence: "
    for i, item in enumerate(items):
        rest = len(items) - i - 1
        tail = f"; +{rest} more" if rest else ""
        sep = "" if i == 0 else "; "
        if len(line) + len(sep) + len(item) + len(tail) <= width:
            line += sep + item
            continue
        if i == 0:  # not even one item fits: clip it
            return _clip(line + item, width)
        return line + f"; +{len(items) - i} more"
    return line


def _compact(x: float, digits: int = 3) -> str:
    s = fmt_num(x, digits)
    return _EXP_RE.sub(lambda m: "e" + m.group(1).replace("+", "") + m.group(2), s)


def _trend_rows(trends: Sequence["Trend"], width: int) -> list[str]:
    out = [f"    {'scope':<8} {'steps':<13} {'slope/1k':>8} {'95% interval':>20} {'p':>6} "
           f"{'fold':>6} dir"]
    by_tag: dict[str, list["Trend"]] = {}
    for t in trends:
        by_tag.setdefault(t.tag, []).append(t)
    for tag, rows in by_tag.items():
        role = f" ({rows[0].role})" if rows[0].role else ""
        unit = ", slope of log10(value)" if rows[0].log_space else ""
        out.append(_clip(f"  {single_line(tag)}{role}{unit}", width))
        for t in rows:
            interval = f"[{_compact(t.slope_low)}, {_compact(t.slope_high)}]"
            steps = f"{_short_step(t.step_start)}-{_short_step(t.step_end)}"
            scope = t.scope.replace("lr_phase ", "phase ")
            out.append(
                f"    {scope:<8} {steps:<13} {_compact(t.slope):>8} {interval:>20} "
                f"{_p(t.p_value):>6} {_compact(t.fold_change):>6} {t.direction:<7}".rstrip()
            )
    return out


def _short_step(x: int) -> str:
    """A step for the 13-character column: ``25,600`` as is, ``25.6M`` past a million."""
    if abs(x) >= 1_000_000:
        return f"{x / 1e6:.4g}M"
    return fmt_step(x)


def _p(p: float) -> str:
    if p != p:
        return "nan"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _tag_rows(report: "Report", width: int) -> list[str]:
    summ = report.run.summary()
    tag_w = max(12, width - 2 - 8 - 3 * 11 - 11)
    out = [f"  {'tag':<{tag_w}} {'count':>7} {'first':>10} {'last':>10} {'min':>10} role"]
    for row in summ.itertuples():
        out.append(
            f"  {_clip(single_line(row.tag), tag_w):<{tag_w}} {row.count:>7} "
            f"{fmt_num(row.first):>10} {fmt_num(row.last):>10} {fmt_num(row.min):>10} "
            f"{row.role or ''}".rstrip()
        )
    return out


def _section(report: "Report", width: int, paint: _Painter) -> list[str]:
    run = report.run
    st = run.steps
    unit = run.meta.get("step_unit") or "step"
    title = f"== {single_line(run.name)} "
    out = [paint(_clip(title + "=" * max(width - len(title), 0), width), "bold")]
    steps = (f"{fmt_step(st['first'])}-{fmt_step(st['last'])} ({fmt_num(st['count'])} distinct)"
             if st["count"] else "none")
    out.append(_clip(f"format: {run.meta.get('format') or '?'}   {unit}s: {steps}   "
                     f"tags: {len(run.tags)}", width))
    if run.meta.get("source"):
        out.append(_clip(f"source: {single_line(run.meta['source'])}", width))
    roles = role_items(run.roles)
    if roles:
        out += _wrap("; ".join(f"{k}={v}" for k, v in roles), width, "       ", first="roles: ")
    for note in meta_notes(report):
        out += _wrap(note, width, "  ", first="")
    out.append("")
    out.append(paint(f"Findings: {severity_counts(report.findings)}", "bold"))
    for f in report.findings:
        out += _finding(f, width, paint)
        out.append("")
    if not report.findings:
        out.append("")
    if report.trends:
        out.append(paint("Trends", "bold"))
        out += _trend_rows(report.trends, width)
        out.append("")
    if report.not_assessable:
        out.append(paint("Not assessable", "bold"))
        for na in report.not_assessable:
            out += _wrap(f"{na.get('id')}: {na.get('reason', '')}", width, "      ", first="  ")
        out.append("")
    out.append(paint("Tags", "bold"))
    out += _tag_rows(report, width)
    out.append("")
    return out


def render_text(reports: Sequence["Report"], *, color: bool = False, width: int = 80) -> str:
    """Return the terminal report of several runs, one section each.

    Parameters
    ----------
    reports : the Reports to show, in order.
    color : add ANSI colours (severity and headings); only for a terminal.
    width : wrap and clip lines to this many columns (at least 60).

    Returns
    -------
    str, ending with a newline.
    """
    width = max(int(width), _MIN_WIDTH)
    paint = _Painter(color)
    out: list[str] = []
    for rep in reports:
        out += _section(rep, width, paint)
    return "\n".join(out).rstrip("\n") + "\n"
