"""Renderers of a :class:`~gradlog.compare.Comparison`: JSON, terminal text, Markdown, HTML.

The JSON document is the analyze document with one more key:
``{"gradlog_version", "schema_version", "runs": [...], "comparison": {...}}``. ``runs``
holds every run's analyze entry (its ``source``, ``format`` and *sweep-aware*
``lr_advice``); ``comparison`` holds the sweep (``by``, ``values``, ``best_run``,
``usable_range``, ``runs``: one row per run). Its JSON Schema ships as
``gradlog/render/comparison.schema.json`` (:func:`comparison_schema`); each item of
``runs`` follows the report's schema (``report.schema.json``, ``$defs/run``).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradlog._version import __version__
from gradlog.render._common import (
    fmt_num,
    fmt_step,
    safe_filename,
    severity_counts,
    single_line,
)

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.compare import ComparedRun, Comparison

__all__ = [
    "SCHEMA_FILE",
    "comparison_dict",
    "comparison_json",
    "comparison_schema",
    "figure_files",
    "html_fragment",
    "render_html",
    "render_markdown",
    "render_text",
]

#: File name of the comparison's JSON Schema, inside the ``gradlog.render`` package.
SCHEMA_FILE = "comparison.schema.json"
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_PAGE_CSS = "body { margin: 1.5em auto; padding: 0 1em; background: #fff; max-width: 960px; }"
_CMP_CSS = """
.gradlog .sentence { font-size: 1.05em; background: #f3f8fb; border-left: 4px solid #0072B2;
  padding: 0.4em 0.8em; }
.gradlog .note { background: #fff8e6; border-left: 4px solid #E69F00; padding: 0.3em 0.8em; }
.gradlog td.num, .gradlog th.num { text-align: right; font-variant-numeric: tabular-nums; }
.gradlog tr.best td { font-weight: 600; }
.gradlog .changed { color: #D55E00; font-weight: 600; }
.gradlog .rule { color: #555; font-size: 0.9em; }
"""


# -- data ---------------------------------------------------------------------------------


def comparison_dict(comp: Comparison) -> dict[str, Any]:
    """Return the whole JSON document of a comparison (plain data, null for NaN)."""
    from gradlog.render.jsonout import reports_dict

    doc = reports_dict(comp.reports)
    doc["comparison"] = comp.to_dict()
    return doc


def comparison_json(comp: Comparison, *, indent: int | None = 2) -> str:
    """Return the JSON document as strict JSON text (``allow_nan=False``)."""
    return json.dumps(comparison_dict(comp), indent=indent, allow_nan=False)


def comparison_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the comparison document."""
    from importlib.resources import files

    return json.loads(files("gradlog.render").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def _val(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return "-" if v is None else single_line(v)


def _loss(x: float) -> str:
    return fmt_num(x, 3)


def _advice_cell(r: ComparedRun) -> str:
    """The verdict in a table cell: ``raise to 0.3 (sweep; was keep)``."""
    a = r.advice
    cell = a.action + (
        f" to {_val(a.to_lr)}" if a.to_lr is not None and a.action in ("raise", "lower") else ""
    )
    if a.scope == "sweep":
        cell += f" (was {r.run_advice.action})" if r.run_advice.action != a.action else " (sweep)"
    return cell


def _at_common(r: ComparedRun) -> str:
    return "blew up" if r.blew_up else _loss(r.loss_at_common)


def _table_names(names: list[str]) -> list[str]:
    """Drop the suffix all names share (``_b128_m0.9_const_s0.csv``, ``/metrics.csv``) when
    what is left still tells them apart."""
    if len(names) < 2:
        return names
    import os.path

    rev = os.path.commonprefix([n[::-1] for n in names])[::-1]
    cut = min((rev.find(c) for c in "_./-" if c in rev), default=-1)
    if cut < 0:
        return names
    cut_len = len(rev) - cut
    short = [n[: len(n) - cut_len] for n in names]
    return short if all(short) and len(set(short)) == len(short) else names


def _middle(name: str, width: int) -> str:
    """Shorten ``name`` to ``width`` characters by cutting its middle."""
    if len(name) <= width:
        return name
    keep = max(width - 1, 2)
    head = keep // 2
    return name[:head] + "…" + name[len(name) - (keep - head) :]


def _findings(r: ComparedRun) -> str:
    ids = sorted({f.id for f in r.report.findings})
    return ", ".join(ids) if ids else "-"


def _settings_lines(comp: Comparison) -> list[str]:
    out = []
    if comp.varied:
        out.append(
            "differ: "
            + "; ".join(
                f"{k} ({', '.join(_val(v) for v in sorted(set(vals), key=str))})"
                if k != comp.by
                else f"{k} (compared by)"
                for k, vals in comp.varied.items()
            )
        )
    if comp.same:
        items = list(comp.same.items())
        shown = ", ".join(f"{k}={_val(v)}" for k, v in items[:12])
        out.append("same: " + shown + (f", ... ({len(items)} in all)" if len(items) > 12 else ""))
    return out


# -- text ---------------------------------------------------------------------------------


def _wrap(text: str, width: int, indent: str = "  ", first: str = "") -> list[str]:
    import textwrap

    return textwrap.wrap(
        single_line(text),
        width=width,
        initial_indent=first or indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def render_text(comp: Comparison, *, color: bool = False, width: int = 80) -> str:
    """Return the terminal report of a comparison: the sentence, the notes, the table and
    each run's sweep-aware LR verdict (ANSI bold/colour when ``color``)."""

    def paint(s: str, code: str) -> str:
        return f"\x1b[{code}m{s}\x1b[0m" if color else s

    n = len(comp.runs)
    by = comp.by or "curves only"
    title = f"== gradlog compare: {n} run{'s' if n != 1 else ''}, by {by} "
    out = [paint(title + "=" * max(width - len(title), 0), "1")]
    out += [paint(x, "1") for x in _wrap(comp.sentence, width, "  ", "")]
    for note in comp.notes:
        out += _wrap(note, width, "    ", "  ! ")
    out += _wrap(comp.rule[0].upper() + comp.rule[1:] + ".", width, "    ", "  rule: ")
    for line in _settings_lines(comp):
        out += _wrap(line, width, "    ", "  ")
    out.append("")
    col = comp.by or "value"
    at = f"@{fmt_step(comp.common_step)}" if comp.common_step is not None else "@end"
    cells = [_advice_cell(r) for r in comp.runs]
    ends_differ = any(r.last_step != comp.common_step for r in comp.runs if not r.blew_up)
    heads = ["#", "run", col[:12], "steps", "loss" + at] + (["final"] if ends_differ else []) + ["best"]
    rows = []
    for r in comp.runs:
        rows.append(
            [
                str(r.rank) if r.rank is not None else "-",
                "",
                _val(r.value),
                fmt_step(r.last_step),
                _at_common(r),
            ]
            + ([_loss(r.final_loss)] if ends_differ else [])
            + [_loss(r.best_loss)]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]
    names = _table_names([single_line(r.name) for r in comp.runs])
    room = width - 1 - sum(w + 1 for i, w in enumerate(widths) if i != 1) - 2 - min(max(map(len, cells)), 20)
    widths[1] = max(8, min(max(len(n) for n in names), room))
    for row, nm in zip(rows, names, strict=True):
        row[1] = _middle(nm, widths[1])

    def fmt_row(cells_: list[str]) -> str:
        return " ".join(
            c.ljust(w) if i == 1 else c.rjust(w) for i, (c, w) in enumerate(zip(cells_, widths, strict=True))
        )

    out.append(paint(" " + fmt_row(heads) + "  LR verdict", "1"))
    for r, row, cell in zip(comp.runs, rows, cells, strict=True):
        mark = "*" if r.name == comp.best_run else " "
        line = mark + fmt_row(row) + "  " + cell
        if len(line) > width:
            line = mark + fmt_row(row) + "\n" + " " * max(width - len(cell), 4) + cell
        out.append(paint(line, "33") if r.advice.scope == "sweep" else line)
    out += _wrap(
        f"(* best; loss{at}: smoothed loss at the ranking step"
        + ("; final: at the run's own end" if ends_differ else "")
        + "; best: its minimum; "
        "(was X) / (sweep): the siblings changed the verdict or its LR)",
        width,
        "   ",
        "  ",
    )
    out.append("")
    for r in comp.runs:
        head = f"- {single_line(r.name)}" + (f" ({comp.by}={_val(r.value)})" if comp.by else "") + ": "
        out += _wrap(r.advice.line(), width, "    ", head)
        if r.advice.scope == "sweep":
            out += _wrap(
                f"single-run verdict was {r.run_advice.action}: {r.run_advice.summary}", width, "    ", "    "
            )
        extra = []
        if r.best_val is not None:
            extra.append(f"best {r.val_tag} {fmt_num(r.best_val, 4)} at step {fmt_step(r.best_val_step)}")
        extra.append(f"findings: {_findings(r)}")
        out += _wrap("; ".join(extra), width, "    ", "    ")
    return "\n".join(out) + "\n"


# -- figures ------------------------------------------------------------------------------


def figure_files(
    comp: Comparison, directory: str | os.PathLike[str], *, stem: str = "compare", dpi: int = 100
) -> list[tuple[str, Path]]:
    """Write the comparison's figures into ``directory`` as ``<stem>_<kind>.png``.

    Returns
    -------
    list of (kind, path).

    Raises
    ------
    OSError
        If the directory cannot be created or a file cannot be written.
    """
    from gradlog.render.figures import png_bytes

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for kind, fig in comp.figures():
        p = d / f"{safe_filename(stem)}_{kind}.png"
        p.write_bytes(png_bytes(fig, dpi=dpi))
        out.append((kind, p))
    return out


# -- Markdown -----------------------------------------------------------------------------


def _md(text: Any) -> str:
    from gradlog.render.markdown import md_escape

    return md_escape(text)


def render_markdown(
    comp: Comparison, figures_dir: str | os.PathLike[str] | None = None, *, link_prefix: str | None = None
) -> str:
    """Return the Markdown report of a comparison; with ``figures_dir`` the figures are
    written there (``compare_curves.png``, ``compare_sweep.png``) and linked (relative to
    the directory containing ``figures_dir``, or ``link_prefix``).

    Raises
    ------
    OSError
        If a figure cannot be written.
    """
    from gradlog.plots_compare import FIGURE_CAPTIONS

    n = len(comp.runs)
    out = [
        "# gradlog comparison",
        "",
        (
            f"{n} run{'s' if n != 1 else ''}, compared by {_md(comp.by or 'their curves only')}; "
            f"gradlog {__version__}."
        ),
        "",
        f"**{_md(comp.sentence)}**",
        "",
    ]
    for note in comp.notes:
        out += [f"> {_md(note)}", ""]
    out += [f"Rule: {_md(comp.rule)}.", ""]
    for line in _settings_lines(comp):
        out += [f"- {_md(line)}"]
    if comp.varied or comp.same:
        out.append("")
    col = comp.by or "value"
    at = f"loss at step {fmt_step(comp.common_step)}" if comp.common_step is not None else "loss"
    head = [
        "rank",
        "run",
        _md(col),
        "steps",
        _md(at),
        "final",
        "best",
        "best val (step)",
        "LR verdict",
        "findings",
    ]
    align = ["---:", "---", "---:", "---:", "---:", "---:", "---:", "---", "---", "---"]
    out += ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    for r in comp.runs:
        name = _md(r.name)
        if r.name == comp.best_run:
            name = f"**{name}**"
        bv = f"{fmt_num(r.best_val, 4)} ({fmt_step(r.best_val_step)})" if r.best_val is not None else "-"
        cells = [
            str(r.rank) if r.rank is not None else "-",
            name,
            _md(_val(r.value)),
            fmt_step(r.last_step),
            _at_common(r),
            _loss(r.final_loss),
            _loss(r.best_loss),
            _md(bv),
            _md(_advice_cell(r)),
            _md(_findings(r)),
        ]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    if figures_dir is not None:
        prefix = link_prefix if link_prefix is not None else Path(figures_dir).name
        for kind, path in figure_files(comp, figures_dir):
            link = f"{prefix}/{path.name}" if prefix else path.name
            out += [f"![{kind}]({link})", "", f"*{_md(FIGURE_CAPTIONS.get(kind, kind))}*", ""]
    out += ["## LR verdicts", ""]
    for r in comp.runs:
        label = f"{_md(r.name)}" + (f" ({_md(comp.by)}={_md(_val(r.value))})" if comp.by else "")
        out.append(f"- **{label}**: {_md(r.advice.line())}")
        if r.advice.scope == "sweep":
            out.append(f"  - changed by the sweep; single-run verdict: {_md(r.run_advice.line())}")
        out.append(f"  - findings: {_md(severity_counts(r.report.findings))} ({_md(_findings(r))})")
    out.append("")
    return "\n".join(out)


# -- HTML ---------------------------------------------------------------------------------


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _body(comp: Comparison, *, figures: bool = True, level: int = 2) -> str:
    from gradlog.plots_compare import FIGURE_CAPTIONS
    from gradlog.render.figures import png_data_uri

    h = f"h{level}"
    parts = [f'<p class="sentence">{_e(comp.sentence)}</p>']
    parts += [f'<p class="note">{_e(n)}</p>' for n in comp.notes]
    parts.append(f'<p class="rule">Rule: {_e(comp.rule)}.</p>')
    sl = _settings_lines(comp)
    if sl:
        parts.append("<ul>" + "".join(f"<li>{_e(x)}</li>" for x in sl) + "</ul>")
    col = comp.by or "value"
    at = f"loss at step {fmt_step(comp.common_step)}" if comp.common_step is not None else "loss"
    head = (
        "<tr>"
        + "".join(
            f'<th class="num">{_e(c)}</th>' if i in (0, 2, 3, 4, 5, 6) else f"<th>{_e(c)}</th>"
            for i, c in enumerate(
                [
                    "rank",
                    "run",
                    col,
                    "steps",
                    at,
                    "final",
                    "best",
                    "best val (step)",
                    "LR verdict",
                    "findings",
                ]
            )
        )
        + "</tr>"
    )
    rows = []
    for r in comp.runs:
        bv = f"{fmt_num(r.best_val, 4)} ({fmt_step(r.best_val_step)})" if r.best_val is not None else "-"
        adv = (
            f'<span class="changed" title="{_e(r.advice.summary)}">{_e(_advice_cell(r))}</span>'
            if r.advice.scope == "sweep"
            else f'<span title="{_e(r.advice.summary)}">{_e(r.advice.action)}</span>'
        )
        cls = ' class="best"' if r.name == comp.best_run else ""
        rows.append(
            f'<tr{cls}><td class="num">{_e(r.rank if r.rank is not None else "-")}</td>'
            f'<td><code>{_e(r.name)}</code></td><td class="num">{_e(_val(r.value))}</td>'
            f'<td class="num">{_e(fmt_step(r.last_step))}</td><td class="num">{_e(_at_common(r))}</td>'
            f'<td class="num">{_e(_loss(r.final_loss))}</td><td class="num">{_e(_loss(r.best_loss))}</td>'
            f"<td>{_e(bv)}</td><td>{adv}</td><td>{_e(_findings(r))}</td></tr>"
        )
    parts.append(f'<div class="table-wrap"><table class="compare">{head}{"".join(rows)}</table></div>')
    if figures:
        for kind, fig in comp.figures():
            parts.append(
                f'<figure class="figure-{_e(kind)}"><img alt="{_e(kind)} of the comparison" '
                f'src="{png_data_uri(fig)}" width="800"><figcaption>'
                f"{_e(FIGURE_CAPTIONS.get(kind, kind))}</figcaption></figure>"
            )
    parts.append(f"<{h}>LR verdicts</{h}><ul>")
    for r in comp.runs:
        label = r.name + (f" ({comp.by}={_val(r.value)})" if comp.by else "")
        item = f"<li><b>{_e(label)}</b>: {_e(r.advice.line())}"
        if r.advice.scope == "sweep":
            item += (
                f'<br><span class="changed">changed by the sweep</span>; single-run verdict: '
                f"{_e(r.run_advice.line())}"
            )
        parts.append(item + "</li>")
    parts.append("</ul>")
    return "\n".join(parts)


def render_html(comp: Comparison, *, figures: bool = True, run_sections: bool = True) -> str:
    """Return one self-contained HTML page: the comparison (table, figures, verdicts) and,
    with ``run_sections``, each run's notebook view folded below it. No script; a
    Content-Security-Policy forbids any."""
    from gradlog.render.html import CSS, report_html_fragment

    runs = ""
    if run_sections:
        runs = "<h2>Runs</h2>" + "\n".join(
            f"<details><summary>{_e(r.name)}: {_e(r.advice.line())}</summary>"
            f"{report_html_fragment(r.report)}</details>"
            for r in comp.runs
        )
    n = len(comp.runs)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="gradlog {_e(__version__)}">\n'
        f"<title>gradlog comparison ({n} runs)</title>\n"
        f'<style>{_PAGE_CSS}{CSS}{_CMP_CSS}</style>\n</head>\n<body>\n<div class="gradlog">\n'
        f'<header><h1>gradlog comparison</h1><p class="meta-line">{n} run{"s" if n != 1 else ""}, '
        f"by {_e(comp.by or 'their curves only')} &middot; gradlog {_e(__version__)}</p></header>\n"
        f"{_body(comp, figures=figures)}\n{runs}\n</div>\n</body>\n</html>\n"
    )


def html_fragment(comp: Comparison) -> str:
    """Return the notebook view of a comparison (an HTML fragment with scoped style)."""
    from gradlog.render.html import CSS

    return (
        f'<div class="gradlog"><style>{CSS}{_CMP_CSS}</style>'
        f"<h3>Comparison of {len(comp.runs)} runs by {_e(comp.by or 'their curves only')}</h3>"
        f"{_body(comp, level=4)}</div>"
    )
