"""`gradlog batch DIR --compare`: the runs of an archive grouped into sweeps and compared."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from gradlog import cli
from gradlog.batch import sweep_groups


def _csv(path: Path, lr: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(600)
    rate = min(lr, 0.1) * 0.05
    loss = (0.2 + 2.0 * np.exp(-rate * t)) * np.exp(rng.normal(0, 0.03, t.size))
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "step,loss,lr\n" + "".join(f"{i},{v:.6g},{lr}\n" for i, v in zip(t, loss, strict=True))
    path.write_text(rows)


def test_sweep_groups_by_folder_and_one_level_up(tmp_path):
    a = [str(tmp_path / "sweep" / f"lr{x}" / "metrics.csv") for x in ("0.01", "0.1", "1")]
    b = [str(tmp_path / "flat" / f"{x}.csv") for x in ("a", "b")]
    alone = [str(tmp_path / "other" / "x" / "metrics.csv")]
    groups = sweep_groups(a + b + alone)
    assert groups == {str(tmp_path / "sweep"): sorted(a), str(tmp_path / "flat"): sorted(b)}


def test_batch_compare_fills_the_group_column_and_writes_each_comparison(tmp_path):
    root = tmp_path / "archive"
    for lr, seed in ((0.001, 1), (0.01, 2), (0.1, 3)):
        _csv(root / "sweep" / f"lr{lr}" / "metrics.csv", lr, seed)
    _csv(root / "single" / "run" / "metrics.csv", 0.1, 4)
    out = tmp_path / "summary.csv"
    reports = tmp_path / "reports"
    r = CliRunner().invoke(
        cli.main,
        ["batch", str(root), "-o", str(out), "--compare", "--reports", str(reports), "--no-cache", "-j", "1"],
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    # each metrics.csv alone in its folder is a run folder (Lightning's layout)
    groups = {
        Path(row["path"]).name if Path(row["path"]).is_dir() else Path(row["path"]).parent.name: row["group"]
        for row in rows
    }
    assert groups["lr0.001"] == groups["lr0.01"] == groups["lr0.1"] == "sweep"
    assert groups["run"] == ""
    doc = json.loads((reports / "sweep-sweep.json").read_text())
    comp = doc["comparison"]
    assert comp["by"] == "lr" and len(doc["runs"]) == 3
    assert comp["best_run"] is not None
    assert (reports / "sweep-sweep.html").read_text().lower().startswith("<!doctype html")
