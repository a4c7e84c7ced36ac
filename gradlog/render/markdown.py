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
    evidence_items,
    fmt_num,
    fmt_step,
    fmt_steps,
    meta_notes,
    role_items,
    safe_filename,
    severity_counts,
    single_line,
    unique_names,
)

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.findings import Finding
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


def _finding_md(f: "Finding") -> list[str]:
    out = [f"#### {f.severity.upper()}: `{f.id}` "
           f"({fmt_steps(f.step_range)}, confidence {f.confidence:.2f})", "",
           f"**{md_escape(f.summary)}**", ""]
    if f.tags:
        out += ["Series: " + ", ".join(md_escape(t) for t in f.tags), ""]
    if f.evidence:
        out.append("Evidence:")
        out.append("")
        for k, v in evidence_items(f.evidence):
            out.append(f"- {md_escape(k)}: {md_escape(v)}")
        out.append("")
        for k, v in f.evidence.items():
            if isinstance(v, (list, tuple)) and v and all(isinstance(x, Mapping) for x in v):
                cols: list[str] = []
                for x in v:
                    cols += [str(c) for c in x if str(c) not in cols]
                rows = [[md_escape(fmt_num(_get(x, c)) if not isinstance(_get(x, c), str)
                                   else _get(x, c)) for c in cols] for x in v[:100]]
                out += [f"{md_escape(k)}:", ""] + _table([md_escape(c) for c in cols], rows,
                                                        right=range(len(cols))) + [""]
    if f.explanation:
        out += [f"Why: {md_escape(f.explanation)}", ""]
    if f.recommendation:
        out += [f"**What to do:** {md_escape(f.recommendation)}", ""]
    if f.references:
        out += ["References: " + "; ".join(md_escape(r) for r in f.references), ""]
    return out


def _get(mapping: Mapping[Any, Any], key: str) -> Any:
    for k, v in mapping.items():
        if str(k) == key:
            return v
    return ""


def _section(report: "Report", figures: dict[str, str]) -> list[str]:
    from gradlog.render.figures import FIGURE_CAPTIONS, FIGURES_AFTER_FINDINGS

    run = report.run
    st = run.steps
    unit = run.meta.get("step_unit") or "step"
    facts = [
        ["format", md_escape(run.meta.get("format") or "?")],
        ["source", md_escape(run.meta.get("source") or "")],
        [f"{unit}s", (f"{fmt_step(st['first'])} to {fmt_step(st['last'])} "
                      f"({fmt_num(st['count'])} distinct)") if st["count"] else "none"],
        ["tags", str(len(run.tags))],
    ] + [[f"role: {r}", md_escape(v)] for r, v in role_items(run.roles)]
    out = [f"## {md_escape(run.name)}", ""] + _table(["", ""], facts) + [""]
    notes = meta_notes(report)
    if notes:
        out += [f"- {md_escape(n)}" for n in notes] + [""]

    def fig(kind: str) -> list[str]:
        if kind not in figures:
            return []
        return [f"![{kind} of {md_escape(run.name)}]({figures[kind]})", "",
                f"*{md_escape(FIGURE_CAPTIONS.get(kind, kind))}*", ""]

    out += fig("overview")
    out += [f"### Findings: {severity_counts(report.findings)}", ""]
    if not report.findings:
        out += ["No findings: none of the detectors saw enough evidence.", ""]
    for f in report.findings:
        out += _finding_md(f)
    if report.not_assessable:
        out += ["### Not assessable", ""]
        out += [f"- `{md_escape(na.get('id', ''))}`: {md_escape(na.get('reason', ''))}"
                for na in report.not_assessable] + [""]
    for kind in FIGURES_AFTER_FINDINGS:
        out += fig(kind)
    if report.trends:
        rows = []
        for t in report.trends:
            p = "<0.001" if t.p_value == t.p_value and t.p_value < 0.001 else fmt_num(t.p_value, 3)
            rows.append([md_escape(t.tag), t.scope, f"{fmt_step(t.step_start)} to {fmt_step(t.step_end)}",
                         fmt_num(t.slope, 3) + (" (log10)" if t.log_space else ""),
                         f"[{fmt_num(t.slope_low, 3)}, {fmt_num(t.slope_high, 3)}]", md_escape(p),
                         fmt_num(t.fold_change, 3), t.direction])
        out += ["### Trends", ""]
        out += _table(["tag", "scope", "steps", "slope / 1k steps", "95% interval", "p", "fold",
                       "direction"], rows, right=(3, 5, 6)) + [""]
    summ = run.summary()
    rows = [[md_escape(r.tag), md_escape(r.role), fmt_num(r.count), fmt_num(r.first), fmt_num(r.last),
             fmt_num(r.min), fmt_num(r.max)] for r in summ.itertuples()]
    out += [f"### Tags ({len(run.tags)})", ""]
    out += _table(["tag", "role", "count", "first", "last", "min", "max"], rows,
                  right=(2, 3, 4, 5, 6)) + [""]
    return out


def render_markdown(reports: Sequence["Report"], figures_dir: str | os.PathLike[str] | None = None,
                    *, link_prefix: str | None = None) -> str:
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
    out = ["# gradlog report", "",
           f"{len(reports)} run{'s' if len(reports) != 1 else ''}, gradlog {__version__}.", ""]
    if len(reports) > 1:
        out += [f"- {md_escape(r.run.name)}: {severity_counts(r.findings)}" for r in reports] + [""]
    for rep, stem in zip(reports, stems):
        figs: dict[str, str] = {}
        if figures_dir is not None:
            for kind, path in figure_files(rep, figures_dir, stem=stem):
                figs[kind] = f"{prefix}/{path.name}" if prefix else path.name
        out += _section(rep, figs)
    return "\n".join(out).rstrip("\n") + "\n"
