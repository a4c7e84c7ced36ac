"""`gradlog analyze -` reads standard input: a piped log loses nothing to detection."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import gradlog
from gradlog import cli

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"


def test_a_piped_caffe_log_reads_like_the_file():
    log = SAMPLES / "caffe_numpy_cnn.log"
    r = CliRunner().invoke(cli.main, ["analyze", "-", "--format", "json"], input=log.read_bytes())
    assert r.exit_code == 0, r.output
    (run,) = json.loads(r.stdout)["runs"]
    direct = gradlog.load(log)
    assert run["run"] == "stdin" and run["format"] == "caffe"
    assert run["steps"]["first"] == direct.steps["first"] and run["steps"]["last"] == direct.steps["last"]
    assert run["steps"]["count"] == direct.steps["count"]
    assert run["meta"]["hparams"]["optimizer"] == direct.meta["hparams"]["optimizer"]


def test_a_piped_csv_gives_the_text_report():
    rows = "step,loss,lr\n" + "".join(f"{i},{1 / (i + 1) + 0.1:.6g},0.01\n" for i in range(300))
    r = CliRunner().invoke(cli.main, ["analyze", "-"], input=rows.encode())
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("== stdin ")
    assert "steps: 0-299 (300 distinct)" in r.stdout


def test_empty_standard_input_is_one_error_line():
    r = CliRunner().invoke(cli.main, ["analyze", "-"], input=b"")
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: ")
