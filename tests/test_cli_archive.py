"""`gradlog analyze DIR` on a folder of plain logs analyses every run inside it."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from gradlog.cli import main


def test_analyze_folder_of_logs(samples, tmp_path):
    shutil.copy(samples / "pytorch_cnn" / "train_log.csv", tmp_path / "a.csv")
    shutil.copy(samples / "caffe_numpy_cnn.log", tmp_path / "b.log")
    res = CliRunner().invoke(main, ["analyze", str(tmp_path), "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert [(r["run"], r["format"]) for r in doc["runs"]] == [("a.csv", "csv_wide"), ("b.log", "caffe")]


def test_analyze_empty_folder_is_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["analyze", str(tmp_path)])
    assert res.exit_code == 2
    assert "no training log found" in res.output
