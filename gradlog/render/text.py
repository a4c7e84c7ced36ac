"""The terminal report: one screen for a typical run, at 80 columns, coloured only when
asked to.

One section per run: a header (run, format, steps, source), the LR verdict, how the log
was read, the findings most severe first (findings of one kind and cause as one: its
summary, the evidence in a line and the recommendation), one trend line per
role-bearing series and what could not be assessed. ``verbose`` adds the roles, the
per-LR-phase trends and the tag table.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gradlog.render._common import (
    FindingGroup,
    SlopeUnit,
    display_names,
    evidence_items,
    fmt_num,
    fmt_p,
    fmt_step,
    fmt_steps,
    group_findings,
    group_not_assessable,
    meta_notes,
    role_items,
    severity_counts,
    single_line,
    slope_unit,
    trend_change,
    trend_rate,
)
from gradlog.render.schedule import schedule_line, schedule_of, scope_label

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.findings import Trend
    from gradlog.report import Report
    from gradlog.run import Run
    from gradlog.series import LRSchedule

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
    head = indent if first is None else first
    return textwrap.wrap(
        single_line(text), width=width, initial_indent=head, subsequent_indent=indent, break_on_hyphens=False
    ) or [head]


def _finding(g: FindingGroup, width: int, paint: _Painter, verbose: bool) -> list[str]:
    sev = g.severity.upper()
    count = f" ×{g.count}" if g.count > 1 else ""
    head = (
        f"  {paint(f'{sev:<8}', g.severity)} {paint(g.id + count, 'bold')}  "
        f"{fmt_steps(g.step_range)}  confidence {g.confidence:.2f}"
    )
    out = [head]
    out += _wrap(g.summary, width, "    ")
    for line in g.member_summaries():
        out += _wrap(line, width, "      ", first="    - ")
    if verbose and g.tags:
        out.append(_clip("    tags: " + ", ".join(single_line(t) for t in g.tags), width))
    if g.member_summaries():
        pass  # each member said its own numbers
    elif g.members() and not all(label in g.summary for label, _v in g.members()):
        out += _wrap(_group_evidence(g), width, "      ", first="    ")
    elif g.evidence:
        out.append(_evidence(g.evidence, width))
    if g.recommendation:
        out += _wrap(g.recommendation, width, "      ", first="    -> ")
    return out


def _group_evidence(g: FindingGroup) -> str:
    """The members of a group in one line: ``fold change: conv3 ×1.27, ... (p <0.001 each)``."""
    cols = [k for k, _h in g.member_columns()]
    rows = g.member_rows()
    if "fold_change" not in cols:
        return "series: " + ", ".join(label for label, _v in rows)
    fi = cols.index("fold_change")
    pi = cols.index("p_value") if "p_value" in cols else None
    ps = {vals[pi] for _l, vals in rows} if pi is not None else set()
    same_p = len(ps) == 1
    items = [
        f"{label} {vals[fi]}" + (f" (p {vals[pi]})" if pi is not None and not same_p else "")
        for label, vals in rows
    ]
    tail = f" (each p{ps.pop()})" if pi is not None and same_p else ""
    return "fold change: " + ", ".join(items) + tail


def _evidence(evidence: Mapping[str, Any], width: int) -> str:
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


#: Fixed columns of the trend table: role, steps, change, slope, p, trend (and spaces).
_TREND_FIXED = 2 + 1 + 10 + 1 + 13 + 1 + 7 + 1 + 7 + 1 + 6 + 1 + 7


def _trend_rows(
    trends: Sequence[Trend], width: int, unit: SlopeUnit, verbose: bool, sched: LRSchedule | None = None
) -> list[str]:
    """One line per series over the whole run (and, verbose, one per LR phase below it,
    named by the schedule: ``warm-up``, ``decay``, ``phase 1 (LR 0.01)``)."""
    tag_w = max(12, width - _TREND_FIXED)
    out = [f"  {'series':<{tag_w}} {'role':<10} {'steps':<13} {'change':>7} {'slope':>7} {'p':>6} trend"]
    by_tag: dict[str, list[Trend]] = {}
    for t in trends:
        by_tag.setdefault(t.tag, []).append(t)
    for tag, rows in by_tag.items():
        runs = [t for t in rows if t.scope == "run"] or rows[:1]
        shown = runs + ([t for t in rows if t not in runs] if verbose else [])
        for i, t in enumerate(shown):
            name = _clip(single_line(tag) if i == 0 else "  " + scope_label(t, sched), tag_w)
            role = (t.role or "") if i == 0 else ""
            steps = f"{_short_step(t.step_start)}-{_short_step(t.step_end)}"
            out.append(
                f"  {name:<{tag_w}} {role:<10} {steps:<13} {trend_change(t):>7} "
                f"{trend_rate(t, unit):>7} {fmt_p(t.p_value):>6} {t.direction}".rstrip()
            )
    return out


def _blowup_notes(report: Report, width: int) -> list[str]:
    """Say what a large fold change of a diverged series was: a blow-up at a step, not a
    steady trend (the table's straight-line slope understates it)."""
    out: list[str] = []
    for f in report.findings:
        if f.id != "divergence" or f.step_range is None:
            continue
        for t in report.trends:
            if t.scope == "run" and t.tag in f.tags:
                out += _wrap(
                    f"{t.tag} rose {trend_change(t)} in a blow-up from step {fmt_step(f.step_range[0])} "
                    "(see divergence), not a steady trend",
                    width,
                    "    ",
                    first="  note: ",
                )
    return out


def _short_step(x: int) -> str:
    """A step for the 13-character column: ``25,600`` as is, ``25.6M`` past a million."""
    if abs(x) >= 1_000_000:
        return f"{x / 1e6:.4g}M"
    return fmt_step(x)


def _tag_rows(run: Run, width: int) -> list[str]:
    summ = run.summary()
    tag_w = max(12, width - 2 - 8 - 3 * 11 - 11)
    out = [f"  {'tag':<{tag_w}} {'count':>7} {'first':>10} {'last':>10} {'min':>10} role"]
    for row in summ.itertuples():
        out.append(
            f"  {_clip(single_line(row.tag), tag_w):<{tag_w}} {row.count:>7} "
            f"{fmt_num(row.first):>10} {fmt_num(row.last):>10} {fmt_num(row.min):>10} "
            f"{row.role or ''}".rstrip()
        )
    return out


#: The terminal names a schedule read from at least this many logged LR values (fewer
#: are shown by the tag table better than by a phrase).
_MIN_SCHEDULE_POINTS = 5


def _named(sched: LRSchedule | None) -> bool:
    """True when the terminal report names the schedule: it has enough points and is not
    a plain constant LR (which the verdict line already states)."""
    return (
        sched is not None
        and sched.points >= _MIN_SCHEDULE_POINTS
        and (sched.kind != "constant" or sched.warmup is not None)
    )


def _section(report: Report, title_name: str, width: int, paint: _Painter, verbose: bool) -> list[str]:
    run = report.run
    st = run.steps
    unit = run.meta.get("step_unit") or "step"
    src = single_line(run.meta.get("source") or "") if verbose else ""
    title = f"== {title_name} "
    out = [paint(_clip(title + "=" * max(width - len(title), 0), width), "bold")]
    out += [paint(x, "bold") for x in _wrap(report.lr_advice.line(), width, "    ", first="")]
    steps = (
        f"{fmt_step(st['first'])}-{fmt_step(st['last'])} ({fmt_num(st['count'])} distinct)"
        if st["count"]
        else "none"
    )
    facts = f"format: {run.meta.get('format') or '?'}   {unit}s: {steps}   tags: {len(run.tags)}"
    if src and len(facts) + 3 + len(src) <= width:
        out.append(f"{facts}   {src}")
    else:
        out.append(_clip(facts, width))
        if src:
            out.append(_clip(f"source: {src}", width))
    sched = schedule_of(run)
    if _named(sched):
        out += _wrap(f"LR schedule: {schedule_line(sched, unit)}", width, "    ", first="")
    if verbose:
        roles = role_items(run.roles)
        if roles:
            out += _wrap("; ".join(f"{k}={v}" for k, v in roles), width, "       ", first="roles: ")
    for note in meta_notes(run):
        out += _wrap(note, width, "    ", first="  ")
    out.append("")
    out.append(paint(f"Findings: {severity_counts(report.findings)}", "bold"))
    for g in group_findings(report.findings):
        out += _finding(g, width, paint, verbose)
    out.append("")
    if report.trends:
        su = slope_unit(run)
        out.append(paint(f"Trends (change: end / start level; slope per {su.label})", "bold"))
        out += _trend_rows(report.trends, width, su, verbose, sched)
        out += _blowup_notes(report, width)
        out.append("")
    if report.not_assessable:
        out.append(paint("Not assessable", "bold"))
        for ids, reason in group_not_assessable(report.not_assessable):
            out += _wrap(f"{', '.join(ids)}: {reason}", width, "      ", first="  ")
        out.append("")
    if verbose:
        out.append(paint("Tags", "bold"))
        out += _tag_rows(run, width)
        out.append("")
    return out


def render_text(
    reports: Sequence[Report], *, color: bool = False, width: int = 80, verbose: bool = False
) -> str:
    """Return the terminal report of several runs, one section each.

    Parameters
    ----------
    reports : the Reports to show, in order.
    color : add ANSI colours (severity and headings); only for a terminal.
    width : wrap and clip lines to this many columns (at least 60).
    verbose : add the source path, the roles, each finding's tags, the per-LR-phase
        trends and the tag table (the default fits a typical run on one screen; runs with
        the same file name are headed by the shortest path that tells them apart).

    Returns
    -------
    str, ending with a newline.
    """
    width = max(int(width), _MIN_WIDTH)
    paint = _Painter(color)
    out: list[str] = []
    names = display_names([r.run.name for r in reports], [r.run.meta.get("source") for r in reports])
    for rep, name in zip(reports, names, strict=True):
        out += _section(rep, name, width, paint, verbose)
    return "\n".join(out).rstrip("\n") + "\n"
