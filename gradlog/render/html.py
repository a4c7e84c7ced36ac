"""The HTML report: one self-contained, light, print-friendly page.

Figures are embedded as base64 PNG; there is no script, and a Content-Security-Policy
forbids any, so the page reads the same offline. Everything that comes from a log
(run names, paths, tags, layer names, hyperparameters, parser warnings) is escaped:
a tag named ``<script>alert(1)</script>`` shows as that text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gradlog._version import __version__
from gradlog.render._common import (
    FindingGroup,
    cell_value,
    display_names,
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
    from gradlog.run import Run

__all__ = ["render_html", "run_summary_html", "report_html_fragment", "CSS"]

_URL_RE = re.compile(r"^https?://[^\s<>\"']+$")
_MAX_LIST = 20

#: The page's style sheet; every rule is scoped under ``.gradlog`` so the same rules
#: serve the standalone page and the notebook fragments.
CSS = """
.gradlog { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #1a1a1a; background: #fff; line-height: 1.45; font-size: 15px; max-width: 900px; }
.gradlog h1 { font-size: 1.6em; margin: 0.2em 0; }
.gradlog h2 { font-size: 1.3em; margin: 1.4em 0 0.3em; border-bottom: 2px solid #ddd;
  padding-bottom: 0.2em; overflow-wrap: break-word; }
.gradlog h3 { font-size: 1.1em; margin: 1em 0 0.4em; }
.gradlog .table-wrap { max-width: 100%; overflow-x: auto; }
.gradlog table { border-collapse: collapse; margin: 0.4em 0; font-size: 0.9em; max-width: 100%; }
.gradlog th, .gradlog td { border: 1px solid #ddd; padding: 2px 8px; text-align: left;
  vertical-align: top; overflow-wrap: break-word; word-break: normal; hyphens: none; }
.gradlog th { background: #f4f4f4; }
.gradlog th.key, .gradlog table.facts th { white-space: nowrap; }
.gradlog td.num, .gradlog th.num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
.gradlog td.tag { min-width: 8em; }
.gradlog table.facts th { width: 9em; }
.gradlog .lr-advice { font-weight: 600; font-size: 1.05em; margin: 0.4em 0;
  padding: 0.3em 0.6em; background: #f3f7fb; border-left: 4px solid #0072B2; }
.gradlog .finding { border: 1px solid #ccc; border-left: 6px solid #56B4E9; border-radius: 4px;
  padding: 0.4em 0.9em; margin: 0.6em 0; break-inside: avoid; page-break-inside: avoid;
  overflow-wrap: break-word; }
.gradlog .finding.sev-warning { border-left-color: #E69F00; }
.gradlog .finding.sev-critical { border-left-color: #D55E00; }
.gradlog .finding h4 { margin: 0.2em 0; font-size: 1em; }
.gradlog .badge { display: inline-block; padding: 0 0.5em; border-radius: 3px; font-size: 0.85em;
  font-weight: 600; text-transform: uppercase; background: #56B4E9; color: #000; }
.gradlog .sev-warning .badge { background: #E69F00; color: #000; }
.gradlog .sev-critical .badge { background: #D55E00; color: #fff; }
.gradlog .meta-line { color: #555; font-size: 0.9em; }
.gradlog .lr-schedule { font-size: 0.9em; margin: 0.2em 0; }
.gradlog .summary { font-weight: 600; margin: 0.3em 0; }
.gradlog .recommendation { margin: 0.3em 0; }
.gradlog details { margin: 0.3em 0; }
.gradlog details > summary { cursor: pointer; color: #333; }
.gradlog details[open] > summary { margin-bottom: 0.3em; }
.gradlog code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 0.92em; }
.gradlog figure { margin: 0.6em 0; }
.gradlog figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
.gradlog figcaption { color: #555; font-size: 0.85em; }
.gradlog .notes { color: #444; font-size: 0.9em; margin: 0.3em 0; }
.gradlog .none { color: #555; font-style: italic; }
.gradlog nav ul { padding-left: 1.2em; }
@media print {
  .gradlog { font-size: 11pt; max-width: none; }
  .gradlog nav { display: none; }
  .gradlog h2 { break-after: avoid; page-break-after: avoid; }
  .gradlog figure { break-inside: avoid; page-break-inside: avoid; }
  .gradlog a { color: inherit; }
  .gradlog .table-wrap { overflow: visible; }
}
"""

_PAGE_CSS = "body { margin: 1.5em auto; padding: 0 1em; background: #fff; max-width: 900px; }"
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def _wbr(text: str) -> str:
    """Escaped ``text`` with line-break opportunities after ``_`` and ``/`` (long tags and
    evidence keys wrap at their word boundaries instead of letter by letter)."""
    return _e(text).replace("_", "_<wbr>").replace("/", "/<wbr>")


def _table(body: str, cls: str = "") -> str:
    """A table inside a horizontally scrolling box, so it never overflows its card."""
    c = f' class="{cls}"' if cls else ""
    return f'<div class="table-wrap"><table{c}>{body}</table></div>'


def _value_html(value: Any) -> str:
    """Render an evidence value: scalars formatted, lists joined, records as a table."""
    if isinstance(value, Mapping):
        rows = "".join(f"<tr><th>{_wbr(str(k))}</th><td>{_value_html(v)}</td></tr>" for k, v in value.items())
        return _table(rows)
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) for v in value):
            cols: list[str] = []
            for v in value:
                cols += [str(k) for k in v if str(k) not in cols]
            head = "".join(f"<th>{_wbr(c)}</th>" for c in cols)
            body = "".join(
                "<tr>"
                + "".join(f'<td class="num">{_value_html(cell_value(v, c))}</td>' for c in cols)
                + "</tr>"
                for v in value[:200]
            )
            more = f'<p class="meta-line">... {len(value) - 200} more rows</p>' if len(value) > 200 else ""
            return _table(f"<tr>{head}</tr>{body}") + more
        shown = ", ".join(_value_html(v) for v in value[:_MAX_LIST])
        more = f", ... ({len(value)} in all)" if len(value) > _MAX_LIST else ""
        return shown + more
    if isinstance(value, str):
        return _e(value)
    return _e(fmt_num(value))


def _reference(ref: str) -> str:
    if _URL_RE.match(ref):
        return f'<a href="{_e(ref)}">{_e(ref)}</a>'
    return _e(ref)


def _members_html(g: FindingGroup) -> str:
    """The members of a grouped finding: one row per series with its numbers."""
    cols = g.member_columns()
    steps = g.count > 1 and len({f.step_range for f in g.findings}) > 1
    head = "<tr><th>series</th>" + "".join(f'<th class="num">{_e(h)}</th>' for _k, h in cols)
    head += ('<th class="num">steps</th>' if steps else "") + "</tr>"
    rows = g.member_rows()
    body = "".join(
        f'<tr><td class="tag"><code>{_wbr(label)}</code></td>'
        + "".join(f'<td class="num">{_e(v)}</td>' for v in vals)
        + (f'<td class="num">{_e(fmt_steps(g.findings[i].step_range))}</td>' if steps else "")
        + "</tr>"
        for i, (label, vals) in enumerate(rows)
    )
    return _table(head + body, "members")


def _finding_html(g: FindingGroup, anchor: str, explained: dict[str, str]) -> str:
    """One card per group: the summary, the members (grouped), the recommendation; the
    evidence, the explanation (once per page; later cards point to it) and the
    references folded."""
    count = f" &times;{g.count}" if g.count > 1 else ""
    parts = [
        f'<article class="finding sev-{_e(g.severity)}" id="{_e(anchor)}" '
        f'data-finding-id="{_e(g.id)}" data-severity="{_e(g.severity)}" '
        f'data-count="{g.count}">',
        f'<h4><span class="badge">{_e(g.severity)}</span> <code>{_e(g.id)}</code>{count} '
        f'<span class="meta-line">{_e(fmt_steps(g.step_range))} &middot; confidence '
        f"{g.confidence:.2f}</span></h4>",
        f'<p class="summary">{_e(g.summary)}</p>',
    ]
    if g.member_summaries():
        parts.append(
            '<ul class="members">' + "".join(f"<li>{_e(x)}</li>" for x in g.member_summaries()) + "</ul>"
        )
    elif g.members():
        parts.append(_members_html(g))
    if g.recommendation:
        parts.append(f'<p class="recommendation"><strong>What to do:</strong> {_e(g.recommendation)}</p>')
    if g.count == 1 and g.tags and not g.members():
        parts.append(
            '<p class="meta-line">Series: ' + ", ".join(f"<code>{_wbr(t)}</code>" for t in g.tags) + "</p>"
        )
    if g.count == 1 and g.evidence:
        rows = "".join(
            f'<tr><th class="key">{_e(k)}</th><td>{_value_html(v)}</td></tr>' for k, v in g.evidence.items()
        )
        parts.append(
            '<details class="evidence"><summary>Evidence</summary>' + _table(rows, "evidence") + "</details>"
        )
    elif g.count > 1:
        inner = "".join(
            f"<h5><code>{_wbr(label)}</code></h5>"
            + _table(
                "".join(
                    f'<tr><th class="key">{_e(k)}</th><td>{_value_html(v)}</td></tr>'
                    for k, v in f.evidence.items()
                ),
                "evidence",
            )
            for label, f in zip(g.labels, g.findings, strict=True)
            if f.evidence
        )
        if inner:
            parts.append(f'<details class="evidence"><summary>Evidence per series</summary>{inner}</details>')
    if g.explanation:
        key = single_line(g.explanation)
        if key in explained:
            parts.append(
                f'<p class="meta-line why-ref">Why: as explained under '
                f"<code>{_e(explained[key])}</code> above.</p>"
            )
        else:
            explained[key] = g.id
            parts.append(f'<details class="why"><summary>Why</summary><p>{_e(g.explanation)}</p></details>')
    if g.references:
        refs = "".join(f"<li>{_reference(r)}</li>" for r in g.references)
        parts.append(f'<details class="references"><summary>References</summary><ul>{refs}</ul></details>')
    parts.append("</article>")
    return "\n".join(parts)


def _facts_html(run: Run) -> str:
    st = run.steps
    unit = run.meta.get("step_unit") or "step"
    rows = [
        ("format", _e(run.meta.get("format") or "?")),
        ("source", f"<code>{_wbr(str(run.meta.get('source') or ''))}</code>"),
        (
            f"{unit}s",
            _e(f"{fmt_step(st['first'])} to {fmt_step(st['last'])} ({fmt_num(st['count'])} distinct)")
            if st["count"]
            else "none",
        ),
        ("tags", _e(str(len(run.tags)))),
    ]
    rows += [(f"role: {role}", _wbr(val)) for role, val in role_items(run.roles)]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return _table(body, "facts")


def _headline_html(run: Run) -> str:
    """The run's facts in one line: format, steps, tags and source."""
    st = run.steps
    unit = run.meta.get("step_unit") or "step"
    steps = (
        f"{fmt_step(st['first'])} to {fmt_step(st['last'])} ({fmt_num(st['count'])} distinct)"
        if st["count"]
        else "none"
    )
    src = run.meta.get("source")
    return (
        f'<p class="meta-line">{_e(run.meta.get("format") or "?")} &middot; {_e(unit)}s '
        f"{_e(steps)} &middot; {len(run.tags)} tags"
        + (f" &middot; <code>{_wbr(str(src))}</code>" if src else "")
        + "</p>"
    )


def _lr_html(report: Report) -> str:
    return f'<p class="lr-advice">{_e(report.lr_advice.line())}</p>'


def _schedule_html(run: Run) -> str:
    """The LR schedule named in one line (empty without an LR series)."""
    sched = schedule_of(run)
    if sched is None:
        return ""
    line = schedule_line(sched, str(run.meta.get("step_unit") or "step"))
    return f'<p class="lr-schedule"><b>LR schedule:</b> {_e(line)}</p>'


def _notes_html(run: Run) -> str:
    notes = meta_notes(run)
    if not notes:
        return ""
    return '<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"


def _tags_html(run: Run) -> str:
    summ = run.summary()
    head = (
        '<tr><th>tag</th><th>role</th><th class="num">count</th><th class="num">first step'
        '</th><th class="num">last step</th><th class="num">first</th><th class="num">last</th>'
        '<th class="num">min</th><th class="num">max</th><th class="num">NaN/inf</th></tr>'
    )
    rows = []
    for r in summ.itertuples():
        rows.append(
            f'<tr><td class="tag"><code>{_wbr(str(r.tag))}</code></td><td>{_e(r.role)}</td>'
            + "".join(
                f'<td class="num">{_e(fmt_num(x))}</td>'
                for x in (r.count, r.first_step, r.last_step, r.first, r.last, r.min, r.max, r.nonfinite)
            )
            + "</tr>"
        )
    return _table(head + "".join(rows), "tags")


def _trends_html(report: Report) -> str:
    if not report.trends:
        return ""
    unit = slope_unit(report.run)
    sched = schedule_of(report.run)
    head = (
        '<tr><th>series</th><th>scope</th><th class="num">steps</th><th class="num">change'
        f'</th><th class="num">slope per {_e(unit.label)}</th><th class="num">p</th>'
        "<th>trend</th></tr>"
    )
    rows = []
    for t in report.trends:
        rows.append(
            f'<tr><td class="tag"><code>{_wbr(t.tag)}</code></td><td>{_e(scope_label(t, sched))}</td>'
            f'<td class="num">{_e(fmt_step(t.step_start))} to {_e(fmt_step(t.step_end))}</td>'
            f'<td class="num">{_e(trend_change(t))}</td>'
            f'<td class="num">{_e(trend_rate(t, unit))}</td>'
            f'<td class="num">{_e(fmt_p(t.p_value))}</td><td>{_e(t.direction)}</td></tr>'
        )
    n = len({t.tag for t in report.trends})
    return (
        f'<details class="trends"><summary>Trends of {n} series (change: end / start '
        f"level)</summary>{_table(head + ''.join(rows), 'trends')}</details>"
    )


def _hparams_html(run: Run) -> str:
    hp = run.meta.get("hparams") or {}
    if not isinstance(hp, Mapping) or not hp:
        return ""
    rows = "".join(
        f"<tr><th>{_wbr(str(k))}</th><td>{_value_html(v)}</td></tr>" for k, v in list(hp.items())[:200]
    )
    return (
        f'<details class="hparams"><summary>Hyperparameters ({len(hp)})</summary>'
        f"{_table(rows, 'hparams')}</details>"
    )


def _figure_html(kind: str, uri: str, run_name: str) -> str:
    from gradlog.render.figures import FIGURE_CAPTIONS

    cap = FIGURE_CAPTIONS.get(kind, kind)
    return (
        f'<figure class="figure-{_e(kind)}"><img alt="{_e(kind)} of {_e(run_name)}" '
        f'src="{uri}" width="800"><figcaption>{_e(cap)}</figcaption></figure>'
    )


def _figures(report: Report, kinds: Sequence[str] | None = None, *, dpi: int = 100) -> dict[str, str]:
    from gradlog.plots import report_figures
    from gradlog.render.figures import png_data_uri

    out = {}
    for kind, fig in report_figures(report):
        if kinds is None or kind in kinds:
            out[kind] = png_data_uri(fig, dpi=dpi)
    return out


def _findings_html(report: Report, prefix: str, explained: dict[str, str]) -> str:
    parts = [f"<h3>Findings: {_e(severity_counts(report.findings))}</h3>"]
    if not report.findings:
        parts.append('<p class="none">No findings: none of the detectors saw enough evidence.</p>')
    for i, g in enumerate(group_findings(report.findings), 1):
        parts.append(_finding_html(g, f"{prefix}-finding-{i}", explained))
    if report.not_assessable:
        items = "".join(
            f"<li>{', '.join(f'<code>{_e(i)}</code>' for i in ids)}: {_e(reason)}</li>"
            for ids, reason in group_not_assessable(report.not_assessable)
        )
        parts.append(
            f'<details class="not-assessable-box"><summary>Not assessable '
            f'({len(report.not_assessable)})</summary><ul class="not-assessable">{items}'
            "</ul></details>"
        )
    return "\n".join(parts)


def _run_section(
    report: Report, anchor: str, heading: str, explained: dict[str, str], *, figures: bool = True
) -> str:
    from gradlog.render.figures import FIGURES_AFTER_FINDINGS

    run = report.run
    figs = _figures(report) if figures else {}
    parts = [
        f'<section class="run" id="{_e(anchor)}">',
        f"<h2>{_wbr(heading)}</h2>",
        _lr_html(report),
        _headline_html(run),
        _schedule_html(run),
        _notes_html(run),
    ]
    if "overview" in figs:
        parts.append(_figure_html("overview", figs["overview"], run.name))
    parts.append(_findings_html(report, anchor, explained))
    for kind in FIGURES_AFTER_FINDINGS:
        if kind in figs:
            parts.append(_figure_html(kind, figs[kind], run.name))
    parts.append(_trends_html(report))
    parts.append(
        f'<details class="run-facts"><summary>Tags ({len(run.tags)}) and roles'
        f"</summary>{_facts_html(run)}{_tags_html(run)}</details>"
    )
    parts.append(_hparams_html(run))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def render_html(reports: Sequence[Report], *, figures: bool = True, title: str | None = None) -> str:
    """Return one self-contained HTML page with a section per run.

    Parameters
    ----------
    reports : the Reports, in order.
    figures : embed the figures (base64 PNG); False for a text-only page.
    title : the page title (default: "gradlog report" and the run names).

    Returns
    -------
    str, a complete HTML5 document with no external resource and no script.
    """
    names = display_names([r.run.name for r in reports], [r.run.meta.get("source") for r in reports])
    anchors = unique_names(f"run-{safe_filename(r.run.name)}" for r in reports)
    page_title = title or ("gradlog report: " + ", ".join(names[:3]) + (", ..." if len(names) > 3 else ""))
    nav = ""
    if len(reports) > 1:
        items = "".join(
            f'<li><a href="#{_e(a)}">{_e(n)}</a>: {_e(r.lr_advice.line())} '
            f'<span class="meta-line">({_e(severity_counts(r.findings))})</span></li>'
            for a, r, n in zip(anchors, reports, names, strict=True)
        )
        nav = f"<nav><ul>{items}</ul></nav>"
    explained: dict[str, str] = {}
    sections = "\n".join(
        _run_section(r, a, n, explained, figures=figures)
        for r, a, n in zip(reports, anchors, names, strict=True)
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="gradlog {_e(__version__)}">\n'
        f"<title>{_e(page_title)}</title>\n"
        f"<style>{_PAGE_CSS}{CSS}</style>\n</head>\n<body>\n"
        '<div class="gradlog">\n'
        f"<header><h1>gradlog report</h1>"
        f'<p class="meta-line">{len(reports)} run{"s" if len(reports) != 1 else ""} &middot; '
        f"gradlog {_e(__version__)}</p>{nav}</header>\n"
        f"{sections}\n</div>\n</body>\n</html>\n"
    )


def report_html_fragment(report: Report) -> str:
    """Return the notebook view of a report: the LR verdict, the overview figure, the
    findings (details folded) and the trends (folded); an HTML fragment with its own
    scoped style, no script."""
    run = report.run
    figs = _figures(report, kinds=("overview",))
    parts = [
        f'<div class="gradlog"><style>{CSS}</style>',
        f"<h3>{_wbr(run.name)}</h3>",
        _lr_html(report),
        _headline_html(run),
        _schedule_html(run),
    ]
    if "overview" in figs:
        parts.append(_figure_html("overview", figs["overview"], run.name))
    parts.append(_findings_html(report, f"run-{safe_filename(run.name)}", {}))
    parts.append(_trends_html(report))
    parts.append("</div>")
    return "\n".join(p for p in parts if p)


def run_summary_html(run: Run) -> str:
    """Return the notebook view of a run: its facts, how it was read, and one row per tag
    (an HTML fragment with its own scoped style, no script)."""
    return "\n".join(
        [
            f'<div class="gradlog"><style>{CSS}</style>',
            f"<h3>{_wbr(run.name)}</h3>",
            _facts_html(run),
            _notes_html(run),
            _tags_html(run),
            "</div>",
        ]
    )
