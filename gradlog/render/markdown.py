"""The Markdown report (GitHub-flavoured): the report text, and its figures as PNG files.

Everything that comes from a log is escaped, so a tag named ``<script>`` or ``a|b``
shows as written and neither breaks a table nor injects HTML.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradlog._version import __version__
from gradlog.render._common import (
    FindingGroup,
    cell_value,
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
    safe_filename,
    severity_counts,
    single_line,
    slope_unit,
    trend_change,
    trend_rate,
    unique_names,
)
from gradlog.render.schedule import schedule_line, schedule_of, scope_label

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.report import Report

__all__ = ["render_markdown", "md_escape"]

_MD_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md_escape(text: Any) -> str:
    """Return ``text`` as one line of literal Markdown: punctuation that Markdown
    interprets is backslash-escaped and ``<``, ``>``, ``&`` become entities."""
    s = single_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL_RE.sub(r"\\\1", s)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(head))]
    return [_row(head), _row(align), *(_row(r) for r in rows)]


def _details(summary: str, body: list[str]) -> list[str]:
    """A folded block (GitHub renders ``<details>``); ``body`` is Markdown."""
    return [f"<details><summary>{summary}</summary>", "", *body, "</details>", ""]


def _records_table(k: str, v: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for x in v:
        cols += [str(c) for c in x if str(c) not in cols]
    rows = [
        [
            md_escape(
                fmt_num(cell_value(x, c)) if not isinstance(cell_value(x, c), str) else cell_value(x, c)
            )
            for c in cols
        ]
        for x in v[:100]
    ]
    return (
        [f"{md_escape(k)}:", ""] + _table([md_escape(c) for c in cols], rows, right=range(len(cols))) + [""]
    )


def _evidence_md(evidence: Mapping[str, Any]) -> list[str]:
    out = [f"- {md_escape(k)}: {md_escape(v)}" for k, v in evidence_items(evidence)] + [""]
    for k, v in evidence.items():
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, Mapping) for x in v):
            out += _records_table(str(k), v)
    return out


def _finding_md(g: FindingGroup, explained: dict[str, str]) -> list[str]:
    count = f" ×{g.count}" if g.count > 1 else ""
    out = [
        f"#### {g.severity.upper()}: `{g.id}`{count} "
        f"({fmt_steps(g.step_range)}, confidence {g.confidence:.2f})",
        "",
        f"**{md_escape(g.summary)}**",
        "",
    ]
    if g.member_summaries():
        out += [f"- {md_escape(x)}" for x in g.member_summaries()] + [""]
    elif g.members():
        cols = g.member_columns()
        rows = [[md_escape(label), *[md_escape(v) for v in vals]] for label, vals in g.member_rows()]
        out += _table(["series", *[h for _k, h in cols]], rows, right=range(1, len(cols) + 1)) + [""]
    elif g.tags:
        out += ["Series: " + ", ".join(md_escape(t) for t in g.tags), ""]
    if g.recommendation:
        out += [f"**What to do:** {md_escape(g.recommendation)}", ""]
    if g.count == 1 and g.evidence:
        out += _details("Evidence", _evidence_md(g.evidence))
    elif g.count > 1:
        body: list[str] = []
        for label, f in zip(g.labels, g.findings, strict=True):
            if f.evidence:
                body += [f"{md_escape(label)}:", ""] + _evidence_md(f.evidence)
        if body:
            out += _details("Evidence per series", body)
    if g.explanation:
        key = single_line(g.explanation)
        if key in explained:
            out += [f"Why: as explained under `{explained[key]}` above.", ""]
        else:
            explained[key] = g.id
            out += _details("Why", [md_escape(g.explanation), ""])
    if g.references:
        out += ["References: " + "; ".join(md_escape(r) for r in g.references), ""]
    return out


def _trends_md(report: Report) -> list[str]:
    if not report.trends:
        return []
    unit = slope_unit(report.run)
    sched = schedule_of(report.run)
    rows = [
        [
            md_escape(t.tag),
            md_escape(scope_label(t, sched)),
            f"{fmt_step(t.step_start)} to {fmt_step(t.step_end)}",
            trend_change(t),
            trend_rate(t, unit),
            md_escape(fmt_p(t.p_value)),
            t.direction,
        ]
        for t in report.trends
    ]
    table = _table(
        ["series", "scope", "steps", "change", f"slope per {unit.label}", "p", "trend"],
        rows,
        right=(2, 3, 4, 5),
    ) + [""]
    n = len({t.tag for t in report.trends})
    return _details(f"Trends of {n} series (change: end / start level)", table)


def _section(report: Report, heading: str, figures: dict[str, str], explained: dict[str, str]) -> list[str]:
    from gradlog.render.figures import FIGURE_CAPTIONS, FIGURES_AFTER_FINDINGS

    run = report.run
    st = run.steps
    unit = run.meta.get("step_unit") or "step"
    facts = [
        ["format", md_escape(run.meta.get("format") or "?")],
        ["source", md_escape(run.meta.get("source") or "")],
        [
            f"{unit}s",
            (f"{fmt_step(st['first'])} to {fmt_step(st['last'])} ({fmt_num(st['count'])} distinct)")
            if st["count"]
            else "none",
        ],
        ["tags", str(len(run.tags))],
    ]
    sched = schedule_of(run)
    if sched is not None:
        facts.append(["LR schedule", md_escape(schedule_line(sched, unit))])
    facts += [[f"role: {r}", md_escape(v)] for r, v in role_items(run.roles)]
    out = [f"## {md_escape(heading)}", "", f"**{md_escape(report.lr_advice.line())}**", ""]
    out += _table(["", ""], facts) + [""]
    notes = meta_notes(run)
    if notes:
        out += [f"- {md_escape(n)}" for n in notes] + [""]

    def fig(kind: str) -> list[str]:
        if kind not in figures:
            return []
        return [
            f"![{kind} of {md_escape(run.name)}]({figures[kind]})",
            "",
            f"*{md_escape(FIGURE_CAPTIONS.get(kind, kind))}*",
            "",
        ]

    out += fig("overview")
    out += [f"### Findings: {severity_counts(report.findings)}", ""]
    if not report.findings:
        out += ["No findings: none of the detectors saw enough evidence.", ""]
    for g in group_findings(report.findings):
        out += _finding_md(g, explained)
    if report.not_assessable:
        out += ["### Not assessable", ""]
        out += [
            "- " + ", ".join(f"`{md_escape(i)}`" for i in ids) + f": {md_escape(reason)}"
            for ids, reason in group_not_assessable(report.not_assessable)
        ] + [""]
    for kind in FIGURES_AFTER_FINDINGS:
        out += fig(kind)
    out += _trends_md(report)
    summ = run.summary()
    rows = [
        [
            md_escape(r.tag),
            md_escape(r.role),
            fmt_num(r.count),
            fmt_num(r.first),
            fmt_num(r.last),
            fmt_num(r.min),
            fmt_num(r.max),
        ]
        for r in summ.itertuples()
    ]
    out += _details(
        f"Tags ({len(run.tags)})",
        _table(["tag", "role", "count", "first", "last", "min", "max"], rows, right=(2, 3, 4, 5, 6)) + [""],
    )
    return out


def render_markdown(
    reports: Sequence[Report],
    figures_dir: str | os.PathLike[str] | None = None,
    *,
    link_prefix: str | None = None,
) -> str:
    """Return the Markdown report of several runs, one section each.

    Parameters
    ----------
    reports : the Reports, in order.
    figures_dir : when given, each run's figures are written there as PNG files named
        ``<run>_<kind>.png`` (the run name sanitised: no path separator, no ``..``, no
        control character) and linked from the text; without it the text has no images.
    link_prefix : the path the image links start with; default: the last component of
        ``figures_dir``, i.e. the links work for a Markdown file saved in the directory
        that contains ``figures_dir``.

    Returns
    -------
    str

    Raises
    ------
    OSError
        If a figure cannot be written.
    """
    from gradlog.render.figures import figure_files

    prefix = link_prefix if link_prefix is not None else (Path(figures_dir).name if figures_dir else "")
    stems = unique_names(safe_filename(r.run.name) for r in reports)
    out = [
        "# gradlog report",
        "",
        f"{len(reports)} run{'s' if len(reports) != 1 else ''}, gradlog {__version__}.",
        "",
    ]
    headings = display_names([r.run.name for r in reports], [r.run.meta.get("source") for r in reports])
    if len(reports) > 1:
        out += [
            f"- {md_escape(h)}: {md_escape(r.lr_advice.line())} ({severity_counts(r.findings)})"
            for r, h in zip(reports, headings, strict=True)
        ] + [""]
    explained: dict[str, str] = {}
    for rep, stem, heading in zip(reports, stems, headings, strict=True):
        figs: dict[str, str] = {}
        if figures_dir is not None:
            for kind, path in figure_files(rep, figures_dir, stem=stem):
                figs[kind] = f"{prefix}/{path.name}" if prefix else path.name
        out += _section(rep, heading, figs, explained)
    return "\n".join(out).rstrip("\n") + "\n"
