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
    fmt_num,
    fmt_step,
    fmt_steps,
    meta_notes,
    role_items,
    safe_filename,
    severity_counts,
    unique_names,
)

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.findings import Finding
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
.gradlog h2 { font-size: 1.3em; margin: 1.6em 0 0.4em; border-bottom: 2px solid #ddd;
  padding-bottom: 0.2em; overflow-wrap: anywhere; }
.gradlog h3 { font-size: 1.1em; margin: 1.2em 0 0.4em; }
.gradlog table { border-collapse: collapse; margin: 0.4em 0; font-size: 0.9em; }
.gradlog th, .gradlog td { border: 1px solid #ddd; padding: 2px 8px; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
.gradlog th { background: #f4f4f4; }
.gradlog table.evidence > tbody > tr > th, .gradlog table.facts th { white-space: nowrap;
  overflow-wrap: normal; }
.gradlog td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.gradlog table.facts th { width: 9em; }
.gradlog .finding { border: 1px solid #ccc; border-left: 6px solid #56B4E9; border-radius: 4px;
  padding: 0.5em 0.9em; margin: 0.8em 0; break-inside: avoid; page-break-inside: avoid; }
.gradlog .finding.sev-warning { border-left-color: #E69F00; }
.gradlog .finding.sev-critical { border-left-color: #D55E00; }
.gradlog .finding h4 { margin: 0.2em 0; font-size: 1em; }
.gradlog .badge { display: inline-block; padding: 0 0.5em; border-radius: 3px; font-size: 0.85em;
  font-weight: 600; text-transform: uppercase; background: #56B4E9; color: #000; }
.gradlog .sev-warning .badge { background: #E69F00; color: #000; }
.gradlog .sev-critical .badge { background: #D55E00; color: #fff; }
.gradlog .meta-line { color: #555; font-size: 0.9em; }
.gradlog .summary { font-weight: 600; margin: 0.3em 0; }
.gradlog dl { margin: 0.3em 0; }
.gradlog dt { font-weight: 600; margin-top: 0.3em; }
.gradlog dd { margin-left: 1.2em; }
.gradlog code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 0.92em; overflow-wrap: anywhere; }
.gradlog figure { margin: 0.8em 0; }
.gradlog figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
.gradlog figcaption { color: #555; font-size: 0.85em; }
.gradlog .notes { color: #444; font-size: 0.9em; }
.gradlog .none { color: #555; font-style: italic; }
.gradlog nav ul { padding-left: 1.2em; }
@media print {
  .gradlog { font-size: 11pt; max-width: none; }
  .gradlog nav { display: none; }
  .gradlog h2 { break-after: avoid; page-break-after: avoid; }
  .gradlog figure { break-inside: avoid; page-break-inside: avoid; }
  .gradlog a { color: inherit; }
}
"""

_PAGE_CSS = "body { margin: 1.5em auto; padding: 0 1em; background: #fff; max-width: 900px; }"
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def _value_html(value: Any) -> str:
    """Render an evidence value: scalars formatted, lists joined, records as a table."""
    if isinstance(value, Mapping):
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_value_html(v)}</td></tr>" for k, v in value.items())
        return f"<table>{rows}</table>"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) for v in value):
            cols: list[str] = []
            for v in value:
                cols += [str(k) for k in v if str(k) not in cols]
            head = "".join(f"<th>{_e(c)}</th>" for c in cols)
            body = "".join(
                "<tr>" + "".join(f'<td class="num">{_value_html(_get(v, c))}</td>' for c in cols) + "</tr>"
                for v in value[:200]
            )
            more = (f'<p class="meta-line">... {len(value) - 200} more rows</p>'
                    if len(value) > 200 else "")
            return f"<table><tr>{head}</tr>{body}</table>{more}"
        shown = ", ".join(_value_html(v) for v in value[:_MAX_LIST])
        more = f", ... ({len(value)} in all)" if len(value) > _MAX_LIST else ""
        return shown + more
    if isinstance(value, str):
        return _e(value)
    return _e(fmt_num(value))


def _get(mapping: Mapping[Any, Any], key: str) -> Any:
    for k, v in mapping.items():
        if str(k) == key:
            return v
    return ""


def _reference(ref: str) -> str:
    if _URL_RE.match(ref):
        return f'<a href="{_e(ref)}">{_e(ref)}</a>'
    return _e(ref)


def _finding_html(f: "Finding", anchor: str) -> str:
    parts = [
        f'<article class="finding sev-{_e(f.severity)}" id="{_e(anchor)}" '
        f'data-finding-id="{_e(f.id)}" data-severity="{_e(f.severity)}">',
        f'<h4><span class="badge">{_e(f.severity)}</span> <code>{_e(f.id)}</code> '
        f'<span class="meta-line">{_e(fmt_steps(f.step_range))} &middot; confidence '
        f'{f.confidence:.2f}</span></h4>',
        f'<p class="summary">{_e(f.summary)}</p>',
        "<dl>",
    ]
    if f.tags:
        parts.append("<dt>Series</dt><dd>" + ", ".join(f"<code>{_e(t)}</code>" for t in f.tags) + "</dd>")
    if f.evidence:
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_value_html(v)}</td></tr>"
                       for k, v in f.evidence.items())
        parts.append(f'<dt>Evidence</dt><dd><table class="evidence">{rows}</table></dd>')
    if f.explanation:
        parts.append(f"<dt>Why</dt><dd>{_e(f.explanation)}</dd>")
    if f.recommendation:
        parts.append(f'<dt>What to do</dt><dd class="recommendation">{_e(f.recommendation)}</dd>')
    if f.references:
        refs = "".join(f"<li>{_reference(r)}</li>" for r in f.references)
        parts.append(f"<dt>References</dt><dd><ul>{refs}</ul></dd>")
    parts.append("</dl></article>")
    return "\n".join(parts)


def _facts_html(run: "Run") -> str:
    st = run.steps
    unit = run.meta.get("step_unit") or "step"
    rows = [
        ("format", _e(run.meta.get("format") or "?")),
        ("source", f"<code>{_e(run.meta.get('source') or '')}</code>"),
        (f"{unit}s", _e(f"{fmt_step(st['first'])} to {fmt_step(st['last'])} "
                        f"({fmt_num(st['count'])} distinct)") if st["count"] else "none"),
        ("tags", _e(str(len(run.tags)))),
    ]
    rows += [(f"role: {role}", _e(val)) for role, val in role_items(run.roles)]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _notes_html(report: "Report") -> str:
    notes = meta_notes(report)
    if not notes:
        return ""
    return '<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"


def _tags_html(run: "Run") -> str:
    summ = run.summary()
    head = ("<tr><th>tag</th><th>role</th><th>count</th><th>first step</th><th>last step</th>"
            "<th>first</th><th>last</th><th>min</th><th>max</th><th>NaN/inf</th></tr>")
    rows = []
    for r in summ.itertuples():
        rows.append(
            f"<tr><td><code>{_e(r.tag)}</code></td><td>{_e(r.role)}</td>"
            + "".join(f'<td class="num">{_e(fmt_num(x))}</td>'
                      for x in (r.count, r.first_step, r.last_step, r.first, r.last, r.min, r.max,
                                r.nonfinite))
            + "</tr>"
        )
    return f'<table class="tags">{head}{"".join(rows)}</table>'


def _trends_html(report: "Report") -> str:
    if not report.trends:
        return ""
    head = ("<tr><th>tag</th><th>scope</th><th>steps</th><th>n</th><th>slope / 1,000 steps</th>"
            "<th>95% interval</th><th>p</th><th>test</th><th>fold change</th><th>direction</th></tr>")
    rows = []
    for t in report.trends:
        unit = " (log<sub>10</sub>)" if t.log_space else ""
        p = "&lt;0.001" if t.p_value == t.p_value and t.p_value < 0.001 else _e(fmt_num(t.p_value, 3))
        rows.append(
            f"<tr><td><code>{_e(t.tag)}</code></td><td>{_e(t.scope)}</td>"
            f'<td class="num">{_e(fmt_step(t.step_start))} to {_e(fmt_step(t.step_end))}</td>'
            f'<td class="num">{_e(fmt_num(t.n))}</td>'
            f'<td class="num">{_e(fmt_num(t.slope, 3))}{unit}</td>'
            f'<td class="num">[{_e(fmt_num(t.slope_low, 3))}, {_e(fmt_num(t.slope_high, 3))}]</td>'
            f'<td class="num">{p}</td><td>{_e(t.test)}</td>'
            f'<td class="num">{_e(fmt_num(t.fold_change, 3))}</td><td>{_e(t.direction)}</td></tr>'
        )
    return f'<h3>Trends</h3><table class="trends">{head}{"".join(rows)}</table>'


def _hparams_html(run: "Run") -> str:
    hp = run.meta.get("hparams") or {}
    if not isinstance(hp, Mapping) or not hp:
        return ""
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_value_html(v)}</td></tr>"
                   for k, v in list(hp.items())[:200])
    return f'<h3>Hyperparameters</h3><table class="hparams">{rows}</table>'


def _figure_html(kind: str, uri: str, run_name: str) -> str:
    from gradlog.render.figures import FIGURE_CAPTIONS

    cap = FIGURE_CAPTIONS.get(kind, kind)
    return (f'<figure class="figure-{_e(kind)}"><img alt="{_e(kind)} of {_e(run_name)}" '
            f'src="{uri}" width="800"><figcaption>{_e(cap)}</figcaption></figure>')


def _figures(report: "Report", kinds: Sequence[str] | None = None, *, dpi: int = 100) -> dict[str, str]:
    from gradlog.plots import report_figures
    from gradlog.render.figures import png_data_uri

    out = {}
    for kind, fig in report_figures(report):
        if kinds is None or kind in kinds:
            out[kind] = png_data_uri(fig, dpi=dpi)
    return out


def _findings_html(report: "Report", prefix: str) -> str:
    parts = [f"<h3>Findings: {_e(severity_counts(report.findings))}</h3>"]
    if not report.findings:
        parts.append('<p class="none">No findings: none of the detectors saw enough evidence.</p>')
    for i, f in enumerate(report.findings, 1):
        parts.append(_finding_html(f, f"{prefix}-finding-{i}"))
    if report.not_assessable:
        items = "".join(f"<li><code>{_e(na.get('id', ''))}</code>: {_e(na.get('reason', ''))}</li>"
                        for na in report.not_assessable)
        parts.append(f'<h3>Not assessable</h3><ul class="not-assessable">{items}</ul>')
    return "\n".join(parts)


def _run_section(report: "Report", anchor: str, *, figures: bool = True) -> str:
    from gradlog.render.figures import FIGURES_AFTER_FINDINGS

    run = report.run
    figs = _figures(report) if figures else {}
    parts = [f'<section class="run" id="{_e(anchor)}">', f"<h2>{_e(run.name)}</h2>",
             _facts_html(run), _notes_html(report)]
    if "overview" in figs:
        parts.append(_figure_html("overview", figs["overview"], run.name))
    parts.append(_findings_html(report, anchor))
    for kind in FIGURES_AFTER_FINDINGS:
        if kind in figs:
            parts.append(_figure_html(kind, figs[kind], run.name))
    parts.append(_trends_html(report))
    parts.append(f"<h3>Tags ({len(run.tags)})</h3>")
    parts.append(_tags_html(run))
    parts.append(_hparams_html(run))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def render_html(reports: Sequence["Report"], *, figures: bool = True, title: str | None = None) -> str:
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
    names = [r.run.name for r in reports]
    anchors = unique_names(f"run-{safe_filename(n)}" for n in names)
    page_title = title or ("gradlog report: " + ", ".join(names[:3]) + (", ..." if len(names) > 3 else ""))
    nav = ""
    if len(reports) > 1:
        items = "".join(
            f'<li><a href="#{_e(a)}">{_e(r.run.name)}</a>: {_e(severity_counts(r.findings))}</li>'
            for a, r in zip(anchors, reports)
        )
        nav = f"<nav><ul>{items}</ul></nav>"
    sections = "\n".join(_run_section(r, a, figures=figures) for r, a in zip(reports, anchors))
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


def report_html_fragment(report: "Report") -> str:
    """Return the notebook view of a report: the facts, the overview figure and the
    findings (an HTML fragment with its own scoped style, no script)."""
    run = report.run
    figs = _figures(report, kinds=("overview",))
    parts = [f'<div class="gradlog"><style>{CSS}</style>', f"<h3>{_e(run.name)}</h3>", _facts_html(run)]
    if "overview" in figs:
        parts.append(_figure_html("overview", figs["overview"], run.name))
    parts.append(_findings_html(report, f"run-{safe_filename(run.name)}"))
    parts.append("</div>")
    return "\n".join(parts)


def run_summary_html(run: "Run") -> str:
    """Return the notebook view of a run: its facts, how it was read, and one row per tag
    (an HTML fragment with its own scoped style, no script)."""
    from gradlog.report import Report

    rep = Report(run=run)
    return "\n".join([
        f'<div class="gradlog"><style>{CSS}</style>', f"<h3>{_e(run.name)}</h3>", _facts_html(run),
        _notes_html(rep), _tags_html(run), "</div>",
    ])
