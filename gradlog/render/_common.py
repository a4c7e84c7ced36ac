"""What the renderers share (text, Markdown, HTML): numbers, evidence lines, safe file
names, findings grouped by kind and cause, merged not-assessable reasons, headings that
tell runs with the same file name apart, and the unit trend slopes read in.

Numbers are formatted by :mod:`gradlog.wording` (the one number-formatting
module; its leaf module imports nothing from gradlog): ``fmt_num`` here is its
:func:`~gradlog.wording.fmt_value`, the table form. Besides it, this module
imports nothing from gradlog at run time (``FINDING_IDS`` and ``SEVERITIES`` lazily, from
the findings contract; the early-stop note lazily, from :mod:`gradlog.render.schedule`)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from gradlog.wording import fmt_p, fmt_step, fmt_steps, single_line
from gradlog.wording import fmt_value as fmt_num

if TYPE_CHECKING:  # pragma: no cover
    from gradlog.findings import Finding, Trend
    from gradlog.run import Run

__all__ = [
    "fmt_num",
    "fmt_step",
    "fmt_steps",
    "cell_value",
    "evidence_items",
    "evidence_line",
    "safe_filename",
    "unique_names",
    "severity_counts",
    "role_items",
    "meta_notes",
    "single_line",
    "FindingGroup",
    "group_findings",
    "group_not_assessable",
    "display_names",
    "SlopeUnit",
    "slope_unit",
    "trend_change",
    "trend_rate",
    "fmt_p",
    "short_tags",
]

_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
_DASHES_RE = re.compile(r"-{2,}")
_WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}


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


def cell_value(mapping: Mapping[Any, Any], key: str) -> Any:
    """Return the value of ``key`` in a record of an evidence table, matching keys by
    their text (``""`` when the record has none)."""
    for k, v in mapping.items():
        if str(k) == key:
            return v
    return ""


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


def severity_counts(findings: Iterable[Finding]) -> str:
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


def meta_notes(run: Run) -> list[str]:
    """Return one-line notes about how ``run``'s log was read: restarts, skipped records,
    replaced points and parser warnings (each counted)."""
    meta = run.meta
    from gradlog.render.schedule import stop_note

    notes: list[str] = []
    stop = stop_note(run)
    if stop:
        notes.append(stop)
    restarts = meta.get("restarts") or []
    if restarts:
        notes.append(
            f"{len(restarts)} restart{'s' if len(restarts) != 1 else ''}: "
            + "; ".join(_restart(r) for r in restarts[:5])
            + ("; ..." if len(restarts) > 5 else "")
        )
    for k, v in (meta.get("skipped") or {}).items():
        if v:
            notes.append(f"skipped {fmt_num(v)} {single_line(str(k).replace('_', ' '))}")
    if meta.get("replaced_points"):
        notes.append(f"{fmt_num(meta['replaced_points'])} points re-logged later (the later record was kept)")
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
        bits += [f"{k}={_fmt_value(v)}" for k, v in r.items() if k not in ("step", "at_step", "iteration")][
            :3
        ]
        return single_line(" ".join(b for b in bits if b))
    return single_line(r)


# -- findings grouped by kind and cause ------------------------------------------------


def short_tags(tags: Sequence[str]) -> list[str]:
    """Return the tags without the group prefix they all share (``grad_norm/conv1`` ->
    ``conv1`` when every tag starts with ``grad_norm/``); tags stay whole otherwise."""
    tags = [single_line(t) for t in tags]
    if len(tags) >= 2:
        heads = {t.split("/", 1)[0] for t in tags}
        if len(heads) == 1 and all("/" in t for t in tags):
            return [t.split("/", 1)[1] for t in tags]
    return list(tags)


#: Evidence keys a grouped finding shows per member, when every member has them.
_MEMBER_KEYS: tuple[tuple[str, str], ...] = (("fold_change", "fold change"), ("p_value", "p"))


@dataclass(frozen=True)
class FindingGroup:
    """Findings of one kind and one cause (same id, severity and recommendation), shown
    as one: e.g. one ``grad_norm_growth`` per layer becomes one card listing the layers.

    A group of one is the finding itself (its own summary and evidence).
    """

    findings: tuple[Finding, ...]

    @property
    def first(self) -> Finding:
        """Return the most confident member (the one the group is headed by)."""
        return self.findings[0]

    @property
    def id(self) -> str:
        """Return the finding id shared by the members."""
        return self.first.id

    @property
    def count(self) -> int:
        """Return the number of findings in the group."""
        return len(self.findings)

    @property
    def severity(self) -> str:
        """Return the members' (shared) severity."""
        return self.first.severity

    @property
    def confidence(self) -> float:
        """Return the highest member confidence."""
        return max(float(f.confidence) for f in self.findings)

    @property
    def step_range(self) -> tuple[int, int] | None:
        """Return the union of the members' step ranges (None when one covers the run)."""
        ranges = [f.step_range for f in self.findings]
        if any(r is None for r in ranges):
            return None
        return (min(r[0] for r in ranges if r), max(r[1] for r in ranges if r))

    @property
    def tags(self) -> list[str]:
        """Return every member's tags, in order, without repeats."""
        out: list[str] = []
        for f in self.findings:
            out += [t for t in f.tags if t not in out]
        return out

    @property
    def summary(self) -> str:
        """Return the summary: the finding's own for a group of one; else what the
        finding id means and the series it was found in."""
        if self.count == 1:
            return self.first.summary
        from gradlog.findings import FINDING_IDS

        what = FINDING_IDS.get(self.id, self.id)
        return f"{what[:1].upper()}{what[1:]} ({self.count} series)."

    @property
    def labels(self) -> list[str]:
        """Return one short label per member (its tags without the shared prefix)."""
        names = [", ".join(f.tags) if f.tags else f.id for f in self.findings]
        return short_tags(names)

    def members(self) -> list[tuple[str, Mapping[str, Any]]]:
        """Return ``(label, numbers)`` per series the group is about: one per finding of
        a group of several; for one finding whose evidence lists its series
        (``layers``: records with ``tag``/``layer``), one per record; else none."""
        if self.count > 1:
            return [
                (label, f.evidence if isinstance(f.evidence, Mapping) else {})
                for label, f in zip(self.labels, self.findings, strict=True)
            ]
        recs = self.first.evidence.get("layers") if isinstance(self.first.evidence, Mapping) else None
        if (
            not isinstance(recs, (list, tuple))
            or len(recs) < 2
            or not all(isinstance(r, Mapping) for r in recs)
        ):
            return []
        names = [str(r.get("tag") or r.get("layer") or "?") for r in recs]
        return list(zip(short_tags(names), recs, strict=True))

    def member_columns(self) -> list[tuple[str, str]]:
        """Return ``(evidence key, heading)`` of the numbers every member has."""
        mem = self.members()
        return [(k, head) for k, head in _MEMBER_KEYS if mem and all(k in ev for _l, ev in mem)]

    def member_rows(self) -> list[tuple[str, list[str]]]:
        """Return ``(label, [formatted values of member_columns()])`` per member."""
        cols = self.member_columns()
        rows = []
        for label, ev in self.members():
            vals = []
            for k, _h in cols:
                v = ev.get(k)
                vals.append(
                    fmt_p(v)
                    if k == "p_value"
                    else (f"×{fmt_num(v, 3)}" if k == "fold_change" else fmt_num(v, 3))
                )
            rows.append((label, vals))
        return rows

    def member_summaries(self) -> list[str]:
        """Return each member's own summary when the group has several findings whose
        evidence holds no common numbers to tabulate (e.g. a training- and a
        validation-loss plateau); empty otherwise."""
        if self.count < 2 or self.member_columns():
            return []
        return [single_line(f.summary) for f in self.findings]

    def member_line(self) -> str:
        """Return the members in one line: ``conv3 ×1.27 (p <0.001); conv4 ×1.44 ...``."""
        cols = self.member_columns()
        parts = []
        for label, vals in self.member_rows():
            bits = [label]
            for (k, _h), v in zip(cols, vals, strict=True):
                bits.append(f"(p {v})" if k == "p_value" else v)
            parts.append(" ".join(bits))
        return "; ".join(parts)

    @property
    def evidence(self) -> Mapping[str, Any]:
        """Return the evidence of a group of one (the group's own members otherwise)."""
        return self.first.evidence if self.count == 1 else {}

    @property
    def explanation(self) -> str:
        """Return the (shared) explanation."""
        return self.first.explanation

    @property
    def recommendation(self) -> str:
        """Return the (shared) recommendation."""
        return self.first.recommendation

    @property
    def references(self) -> list[str]:
        """Return every member's references, without repeats."""
        out: list[str] = []
        for f in self.findings:
            out += [r for r in f.references if r not in out]
        return out


def group_findings(findings: Iterable[Finding]) -> list[FindingGroup]:
    """Return the findings grouped by kind and cause: the same id, severity and
    recommendation make one group. Groups keep the order of their first member (so a
    report's most-severe-first order survives); members are ordered by confidence."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.id, f.severity, single_line(f.recommendation)), []).append(f)
    return [FindingGroup(tuple(sorted(g, key=lambda f: -float(f.confidence)))) for g in groups.values()]


def group_not_assessable(items: Iterable[Mapping[str, Any]]) -> list[tuple[list[str], str]]:
    """Return ``([ids], reason)`` with the ids that share one reason merged, in order."""
    out: dict[str, list[str]] = {}
    for na in items:
        reason = single_line(na.get("reason", ""))
        ids = out.setdefault(reason, [])
        fid = single_line(na.get("id", ""))
        if fid not in ids:
            ids.append(fid)
    return [(ids, reason) for reason, ids in out.items()]


def display_names(names: Sequence[str], sources: Sequence[Any]) -> list[str]:
    """Return a heading per run: its name, or, where names repeat, the shortest trailing
    part of its source path that tells it apart (``a/train.log`` and ``b/train.log``)."""
    out = [single_line(n) for n in names]
    parts = [PurePath(str(s)).parts if s else () for s in sources]
    for name in set(out):
        idx = [i for i, n in enumerate(out) if n == name]
        if len(idx) < 2:
            continue
        longest = max(len(parts[i]) for i in idx)
        for k in range(2, longest + 1):
            cand = {i: "/".join(parts[i][-k:]) if parts[i] else name for i in idx}
            if len(set(cand.values())) == len(idx):
                break
        for i in idx:
            if parts[i]:
                out[i] = single_line(cand[i])
    return out


# -- trend units ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SlopeUnit:
    """The unit slopes are shown in: ``steps`` logged steps, named ``label``."""

    steps: float
    label: str


_SCALES = (
    (10**9, "1G"),
    (10**8, "100M"),
    (10**7, "10M"),
    (10**6, "1M"),
    (10**5, "100k"),
    (10**4, "10k"),
    (10**3, "1k"),
    (100, "100"),
    (10, "10"),
)


def slope_unit(run: Run) -> SlopeUnit:
    """Return the unit a run's slopes read best in: per epoch for a per-epoch log, else
    per 10^k steps with 10^k the largest power of ten within the logged span (per 1k
    steps over 4,000 steps, per 10M iterations over 82M)."""
    unit = str(run.meta.get("step_unit") or "step")
    if unit == "epoch":
        return SlopeUnit(1.0, "epoch")
    st = run.steps
    span = float((st.get("last") or 0) - (st.get("first") or 0))
    for n, name in _SCALES:
        if span >= n:
            return SlopeUnit(float(n), f"{name} {unit}s")
    return SlopeUnit(1.0, unit)


def trend_rate(t: Trend, unit: SlopeUnit) -> str:
    """Return the trend's slope in ``unit``: a percentage per unit for a positive series
    fitted in log space (``+7.7%``), else the change of the value (``-0.012``)."""
    per_unit = float(t.slope) * unit.steps / 1000.0
    if not math.isfinite(per_unit):
        return "nan"
    if t.log_space:
        factor = 10.0 ** max(min(per_unit, 300.0), -300.0)
        pct = (factor - 1.0) * 100.0
        if abs(pct) >= 1000:
            return f"×{fmt_num(factor, 2)}"
        if abs(pct) < 0.1:  # fits the 7-character column: +0.01%
            return f"{pct:+.1g}%"
        return f"{pct:+.2g}%" if abs(pct) < 10 else f"{pct:+.0f}%"
    s = fmt_num(per_unit, 2)
    return s if s.startswith("-") else "+" + s


def trend_change(t: Trend) -> str:
    """Return the fold change as ``×1.27`` (``-`` when it is not defined)."""
    f = t.fold_change
    if f is None or not isinstance(f, (int, float)) or not math.isfinite(f):
        return "-"
    return f"×{fmt_num(f, 3)}"
