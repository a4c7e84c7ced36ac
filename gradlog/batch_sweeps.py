"""Sweeps in a batch: the analysed runs of one folder that share their tags, compared
(``gradlog batch --compare``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

import gradlog
from gradlog.errors import GradlogError

__all__ = ["compare_sweeps", "sweep_groups"]


def sweep_groups(paths: list[str]) -> dict[str, list[str]]:
    """Group run paths into candidate sweeps: runs that sit in the same folder, else (a run
    alone in its own folder) the runs under the same parent folder one level up.

    Returns
    -------
    ``{folder: [paths]}`` for every folder that gathers at least two runs.
    """
    by_dir: dict[Path, list[str]] = {}
    for p in paths:
        pp = Path(p)
        d = pp if pp.is_dir() else pp.parent
        by_dir.setdefault(d, []).append(p)
    groups: dict[Path, list[str]] = {}
    for d, ps in by_dir.items():
        key = d if len(ps) >= 2 else d.parent
        groups.setdefault(key, []).extend(ps)
    return {str(k): sorted(v) for k, v in groups.items() if len(v) >= 2}


def _same_run(a: gradlog.Run, b: gradlog.Run) -> bool:
    """The same run logged twice (a CSV and a TensorBoard copy): same loss at the same steps."""
    la, lb = a.roles.get("loss"), b.roles.get("loss")
    if not la or not lb:
        return False
    sa, sb = a.series(str(la)), b.series(str(lb))
    if len(sa) != len(sb) or len(sa) == 0:
        return False
    return bool(np.array_equal(sa.index.to_numpy(), sb.index.to_numpy())) and bool(
        np.allclose(sa.to_numpy(), sb.to_numpy(), rtol=1e-5, equal_nan=True)
    )


def compare_sweeps(
    table: pd.DataFrame, out_dir: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Group the analysed runs of a batch table into sweeps and compare each group.

    Runs are in one sweep when they sit under the same folder (one level up from a run's
    own folder counts too, :func:`sweep_groups`) and share their tag set; the same run
    logged twice counts once. Each sweep's comparison is written to ``out_dir`` as
    ``sweep-<folder>.json`` and ``.html``, and the table's ``group`` column names it.

    Returns
    -------
    the table with ``group`` filled in (a copy).

    Raises
    ------
    OSError
        When ``out_dir`` cannot be written.
    """
    from gradlog.cache import atomic_write_text
    from gradlog.compare import compare

    out = table.copy()
    ok = out[(out["status"] == "ok") & (out["assessed"].fillna(False).astype(bool))]
    dest = Path(out_dir)
    for folder, paths in sweep_groups([str(p) for p in ok["path"]]).items():
        runs: dict[str, gradlog.Run] = {}
        for p in paths:
            try:
                run = gradlog.load(p)
            except GradlogError:
                continue
            if any(_same_run(run, r) for r in runs.values()):
                continue
            runs[p] = run
        by_tags: dict[frozenset[str], list[str]] = {}
        for p, run in runs.items():
            by_tags.setdefault(frozenset(run.tags), []).append(p)
        for k, members in enumerate(v for v in by_tags.values() if len(v) >= 2):
            try:
                comp = compare([runs[p] for p in members])
            except GradlogError:
                continue
            try:
                rel = Path(folder).relative_to(root).as_posix() if root is not None else folder
            except ValueError:
                rel = folder
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", rel.strip("/")).strip("._")[-60:] or "root"
            if k:
                name += f"-{k + 1}"
            dest.mkdir(parents=True, exist_ok=True)
            atomic_write_text(dest / f"sweep-{name}.json", comp.to_json() + "\n")
            atomic_write_text(dest / f"sweep-{name}.html", comp.to_html())
            out.loc[out["path"].isin(members), "group"] = name
    return out
