"""Discovery asks "is this table a run?" (not the parsers): gradlog.discovery.looks_like_run."""

from __future__ import annotations

import gradlog
from gradlog.discovery import looks_like_run
from gradlog.parsers import csv_wide


def test_a_table_is_a_run_by_its_step_column_or_a_role_column():
    assert looks_like_run(["id", "label", "pixel0"], True)  # a step-like column was seen
    assert looks_like_run(["when", "train_loss"], False)  # a loss
    assert looks_like_run(["learning_rate", "x"], False)  # an LR
    assert looks_like_run(["grad_norm/conv1"], False)  # a gradient norm
    assert not looks_like_run(["id", "label", "pixel0"], False)  # a dataset
    assert not looks_like_run(["image", "prediction", "score"], False)  # predictions


def test_discovery_leaves_a_dataset_out_and_load_still_reads_it(tmp_path):
    (tmp_path / "train.csv").write_text("step,loss\n0,2.5\n1,2.0\n")
    (tmp_path / "data.csv").write_text("id,label,pixel0\n0,3,0.5\n1,7,0.25\n")
    found = gradlog.survey(tmp_path)
    assert [r.path.name for r in found.runs] == ["train.csv"]
    (skipped,) = found.unread
    assert skipped.path.name == "data.csv" and skipped.status == "skipped"
    assert "not a training log" in skipped.reason
    assert gradlog.load(tmp_path / "data.csv").frame["tag"].nunique() >= 2


def test_the_parser_reports_the_header_and_whether_it_has_a_step_axis(tmp_path):
    from gradlog.frame import Source

    p = tmp_path / "log.csv"
    p.write_text("Iteration,acc\n0,0.1\n")
    assert csv_wide.table_header(Source.from_path(p)) == (["Iteration", "acc"], True)
    p.write_text("a,b\n0,1\n")
    assert csv_wide.table_header(Source.from_path(p)) == (["a", "b"], False)
