"""The summary of a batch: one row per file or run, as CSV, strict JSON or a page.

The JSON document is ``{"gradlog_version", "schema_version", "rows": [...]}``, one
object per row with the columns of :data:`gradlog.batch.BATCH_COLUMNS` (null where a
column does not apply); its JSON Schema ships as ``gradlog/render/summary.schema.json``
(see :func:`schema`).

The HTML page is one self-contained file: a sortable table (a few lines of inline
JavaScript; without them it is still a plain table in path order) with, per run, a
sparkline of its smoothed loss, the LR verdict, the worst severity, the findings, whether
the log held enough to assess, and a link to the run's own report when there is one.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradlog._version import __version__

#: Columns of the batch summary table, in order (the header of ``gradlog batch``'s CSV).
SUMMARY_COLUMNS = (
    "path",
    "status",
    "format",
    "run",
    "first_step",
    "last_step",
    "steps",
    "tags",
    "lr_action",
    "max_severity",
    "findings",
    "finding_ids",
    "assessed",
    "not_assessable",
    "reason",
    "group",
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "SUMMARY_SCHEMA_FILE",
    "SUMMARY_SCHEMA_VERSION",
    "schema",
    "summary_csv",
    "summary_html",
    "summary_json",
    "summary_rows",
]

#: Version of the batch JSON shape (bumped on any incompatible change).
SUMMARY_SCHEMA_VERSION = "1.0"
#: File name of the JSON Schema, inside the ``gradlog.render`` package.
SUMMARY_SCHEMA_FILE = "summary.schema.json"
_SEVERITY_RANK = {"": 0, "info": 1, "warning": 2, "critical": 3}


def _plain(v: Any) -> Any:
    """A cell as JSON has it: None for NA/NaN, Python ints/bools."""
    if v is None:
        return None
    try:
        import pandas as pd

        if v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return None
    except ImportError:  # pragma: no cover
        pass
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def summary_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the rows of a batch table as plain dicts (None where a value is missing)."""
    cols = list(SUMMARY_COLUMNS)
    return [
        {c: _plain(v) for c, v in zip(cols, rec, strict=False)}
        for rec in table[cols].itertuples(index=False, name=None)
    ]


def summary_json(table: pd.DataFrame, *, indent: int | None = 2) -> str:
    """Return the strict-JSON summary document of a batch table."""
    doc = {
        "gradlog_version": __version__,
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "rows": summary_rows(table),
    }
    return json.dumps(doc, indent=indent, allow_nan=False, ensure_ascii=False)


def summary_csv(table: pd.DataFrame) -> str:
    """Return the CSV summary (header = :data:`SUMMARY_COLUMNS`; empty cells where a value
    does not apply; ``assessed`` as ``true``/``false``)."""
    out = table[list(SUMMARY_COLUMNS)].copy()
    out["assessed"] = (
        out["assessed"]
        .map(lambda v: "" if v is None or _plain(v) is None else ("true" if v else "false"))
        .astype(object)
    )
    return out.to_csv(index=False, lineterminator="\n", na_rep="")


def summary_text(table: pd.DataFrame, *, root: str | os.PathLike[str] | None = None, width: int = 100) -> str:
    """Return the summary as aligned plain text: one line per row (path, status, LR
    verdict, worst severity, and what was found: the finding ids, "nothing wrong found",
    "not assessed: <reason>", or why the file was not read), then the counts."""
    rows = summary_rows(table)
    root_s = str(root) if root is not None else None
    lines = []
    for r in rows:
        shown = _rel(r["path"], root_s)
        if r["status"] != "ok":
            what = _without_path(r["reason"] or "", r["path"])
        elif r["assessed"] is False:
            what = f"NOT ASSESSED: {r['reason']}" + (f"; {r['finding_ids']}" if r["finding_ids"] else "")
        else:
            what = r["finding_ids"] or "nothing wrong found"
        lines.append((shown, r["status"], r["lr_action"] or "-", r["max_severity"] or "-", what))
    w = min(max((len(x[0]) for x in lines), default=4), max(20, width // 2))
    out = [f"{'path':<{w}}  {'status':<7}  {'lr':<13}  {'worst':<8}  found"]
    for shown, st, lr, sev, what in lines:
        out.append(f"{shown:<{w}}  {st:<7}  {lr:<13}  {sev:<8}  {what}".rstrip())
    st = Counter(r["status"] for r in rows)
    na = sum(1 for r in rows if r["status"] == "ok" and r["assessed"] is False)
    out.append(
        f"{len(rows)} files and runs: {st['ok']} ok ({na} not assessed), "
        f"{st['error']} error, {st['skipped']} skipped"
    )
    return "\n".join(out) + "\n"


def schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the batch summary document."""
    from importlib.resources import files

    return json.loads(files("gradlog.render").joinpath(SUMMARY_SCHEMA_FILE).read_text(encoding="utf-8"))


# -- the page ---------------------------------------------------------------------------


def _sparkline(values: Sequence[float], width: int = 120, height: int = 26) -> str:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if len(vals) < 2:
        return '<span class="muted">no loss</span>'
    logy = min(vals) > 0 and max(vals) / min(vals) > 20
    ys = [math.log10(v) for v in vals] if logy else vals
    lo, hi = min(ys), max(ys)
    span = hi - lo or 1.0
    n = len(ys)
    pts = " ".join(
        f"{2 + (width - 4) * i / (n - 1):.1f},{2 + (height - 4) * (hi - y) / span:.1f}"
        for i, y in enumerate(ys)
    )
    label = f"smoothed loss {vals[0]:.4g} \u2192 {vals[-1]:.4g} (min {min(vals):.4g})" + (
        ", log scale" if logy else ""
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{html.escape(label)}"><title>{html.escape(label)}</title>'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{pts}"/></svg>'
    )


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#1d1d1f}
h1{font-size:1.4em;margin:0 0 .2em}
.counts span{display:inline-block;margin:.2em .6em .2em 0;padding:.1em .5em;border-radius:4px;
 background:#f0f0f3}
table{border-collapse:collapse;width:100%;margin-top:1em}
th,td{border-bottom:1px solid #e2e2e6;padding:.35em .5em;text-align:left;vertical-align:top}
th{position:sticky;top:0;background:#fafafc;white-space:nowrap}
th button{font:inherit;font-weight:600;border:0;background:none;padding:0;cursor:pointer}
th button::after{content:" \\2195";color:#aaa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.path{overflow-wrap:anywhere;min-width:14em;max-width:34em}
.muted{color:#777}
.spark{color:#2a62c9;display:block}
.sev{font-weight:600;padding:0 .35em;border-radius:3px}
.sev-critical{background:#fbd5d5;color:#8a1010}.sev-warning{background:#fdeccb;color:#7a4a00}
.sev-info{background:#dde8fb;color:#173f86}
.st-error{color:#8a1010;font-weight:600}.st-skipped{color:#777}
.na{background:#f3eefc;color:#4b2a86;padding:0 .35em;border-radius:3px}
.ok-clean{color:#17692c}
code{font-size:.92em}
tr.skipped td{color:#888}
@media print{th button::after{content:""}}
"""

_JS = """
document.querySelectorAll('table.sortable th button').forEach(function(b){
  b.addEventListener('click',function(){
    var th=b.parentNode,table=th.closest('table'),tbody=table.tBodies[0];
    var k=th.getAttribute('data-k'),asc=th.getAttribute('aria-sort')!=='ascending';
    table.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',asc?'ascending':'descending');
    function key(r){var c=r.querySelector('td[data-k="'+k+'"]');return c?c.getAttribute('data-v'):'';}
    var rows=Array.prototype.slice.call(tbody.rows);
    rows.sort(function(a,b){
      var x=key(a),y=key(b),nx=parseFloat(x),ny=parseFloat(y),c;
      if(!isNaN(nx)&&!isNaN(ny)){c=nx-ny;}else{c=(x||'').localeCompare(y||'');}
      return asc?c:-c;
    });
    rows.forEach(function(r){tbody.appendChild(r);});
  });
});
"""


def _rel(path: str, root: str | None) -> str:
    if root:
        try:
            rel = Path(path).relative_to(root).as_posix()
            return rel if rel != "." else Path(path).name or path
        except ValueError:
            pass
    return path


def _without_path(reason: str, path: str) -> str:
    """The reason without the path it starts with (the row already shows it)."""
    for lead in (f"{path}: ",):
        if reason.startswith(lead):
            return reason[len(lead) :]
        head, sep, rest = reason.partition(": ")
        if sep and rest.startswith(lead):
            return f"{head}: {rest[len(lead) :]}"
    return reason


def summary_html(
    table: pd.DataFrame,
    *,
    title: str = "gradlog batch summary",
    root: str | os.PathLike[str] | None = None,
    reports: Mapping[str, str] | None = None,
    sparklines: Mapping[str, Sequence[float]] | None = None,
) -> str:
    """Return the self-contained summary page of a batch table.

    Parameters
    ----------
    table : the table :func:`gradlog.batch.run_batch` returned.
    title : the page title.
    root : paths are shown relative to it (the archive).
    reports : path -> link (relative URL) of each run's own report.
    sparklines : path -> smoothed loss values (default: ``table.attrs["loss_sparkline"]``).

    Returns
    -------
    str
        An HTML5 document (no external resource).
    """
    e = html.escape
    rows = summary_rows(table)
    sparks = sparklines if sparklines is not None else table.attrs.get("loss_sparkline", {})
    links = reports or {}
    root_s = str(root) if root is not None else None
    body = [_summary_row(r, root_s, links, sparks) for r in rows]
    where = f'<p class="muted">{e(root_s)}</p>' if root_s else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="gradlog {e(__version__)}">'
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{e(title)}</h1>{where}<p class="counts">{"".join(_counts(rows))}</p>'
        f'<table class="sortable"><thead>{_HEAD}</thead><tbody>{"".join(body)}</tbody></table>'
        f'<p class="muted">Click a column title to sort. gradlog {e(__version__)}.</p>'
        f"<script>{_JS}</script></body></html>\n"
    )


#: The summary table's columns: (sort key, heading).
_COLUMNS = (
    ("run", "run"),
    ("status", "status"),
    ("loss", "loss (smoothed)"),
    ("lr", "LR verdict"),
    ("sev", "worst severity"),
    ("findings", "findings"),
    ("assessed", "assessed"),
    ("steps", "steps"),
    ("format", "format"),
)
_HEAD = (
    "<tr>"
    + "".join(f'<th scope="col" data-k="{k}"><button type="button">{h}</button></th>' for k, h in _COLUMNS)
    + "</tr>"
)


def _counts(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The counts above the table: runs, ok, clean, not assessed, errors, skipped, LR verdicts."""
    e = html.escape
    st = Counter(r["status"] for r in rows)
    na = sum(1 for r in rows if r["status"] == "ok" and r["assessed"] is False)
    clean = sum(1 for r in rows if r["status"] == "ok" and r["assessed"] and not r["findings"])
    actions = Counter(r["lr_action"] for r in rows if r["status"] == "ok" and r["lr_action"])
    counts = [
        f"<span>{len(rows)} files and runs</span>",
        f"<span>{st['ok']} ok</span>",
        f"<span>{clean} with nothing wrong found</span>",
        f'<span class="na">{na} not assessed (too little in the log)</span>',
        f'<span class="st-error">{st["error"]} error</span>',
        f'<span class="st-skipped">{st["skipped"]} skipped</span>',
    ]
    if actions:
        counts.append("<span>LR: " + ", ".join(f"{e(a)} {n}" for a, n in actions.most_common()) + "</span>")
    return counts


def _summary_row(
    r: Mapping[str, Any],
    root_s: str | None,
    links: Mapping[str, str],
    sparks: Mapping[str, Sequence[float]],
) -> str:
    """One run's row (a run that could not be read says why across the middle columns)."""
    e = html.escape
    path = r["path"]
    shown = _rel(path, root_s)
    link = links.get(path)
    name = f'<a href="{e(link, quote=True)}">{e(shown)}</a>' if link and r["status"] == "ok" else e(shown)
    status = r["status"]
    sev = r["max_severity"] or ""
    if status != "ok":
        what = f'<span class="st-{e(status)}">{e(status)}</span>'
        reason = e(_without_path(r["reason"] or "", path))
        return (
            f'<tr class="{e(status)}"><td class="path" data-k="run" '
            f'data-v="{e(shown, quote=True)}">{name}</td>'
            f'<td data-k="status" data-v="{e(status)}">{what}</td>'
            f'<td colspan="5" data-k="reason" data-v="">{reason}</td>'
            f'<td class="num" data-k="steps" data-v="-1"></td>'
            f'<td data-k="format" data-v="{e(r["format"] or "")}">{e(r["format"] or "")}</td></tr>'
        )
    ids = (r["finding_ids"] or "").split()
    if r["assessed"] is False:
        assessed = f'<span class="na">not assessed: {e(r["reason"] or "")}</span>'
        findings = '<span class="na">not enough in the log to say</span>' if not ids else ""
    else:
        assessed = "yes"
        findings = "" if ids else '<span class="ok-clean">nothing wrong found</span>'
    if ids:
        findings = " ".join(f"<code>{e(i)}</code>" for i in ids) + findings
    sev_html = f'<span class="sev sev-{e(sev)}">{e(sev)}</span>' if sev else '<span class="muted">none</span>'
    steps = r["steps"] if r["steps"] is not None else ""
    return (
        f'<tr><td class="path" data-k="run" data-v="{e(shown, quote=True)}">{name}</td>'
        f'<td data-k="status" data-v="ok">ok</td>'
        f'<td data-k="loss" data-v="{len(sparks.get(path) or [])}">'
        f"{_sparkline(sparks.get(path) or [])}</td>"
        f'<td data-k="lr" data-v="{e(r["lr_action"] or "")}">{e(r["lr_action"] or "")}</td>'
        f'<td data-k="sev" data-v="{_SEVERITY_RANK.get(sev, 0)}">{sev_html}</td>'
        f'<td data-k="findings" data-v="{r["findings"] or 0}">{findings}</td>'
        f'<td data-k="assessed" data-v="{1 if r["assessed"] else 0}">{assessed}</td>'
        f'<td class="num" data-k="steps" data-v="{steps}">{steps}</td>'
        f'<td data-k="format" data-v="{e(r["format"] or "")}">{e(r["format"] or "")}</td></tr>'
    )
