"""The ``compare`` click command (gradlog/cli_compare.py), invoked through CliRunner."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradlog.cli_compare import compare

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_compare import LIN_SWEEP, write_sweep


def _runner() -> CliRunner:
    try:  # click 8.1 mixes stderr into stdout unless told not to; 8.2+ keeps them apart
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


def run(*args: str):
    return _runner().invoke(compare, [str(a) for a in args], catch_exceptions=False)


def test_json_to_stdout(tmp_path):
    paths = write_sweep(tmp_path)
    res = run(*paths, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) == {"gradlog_version", "schema_version", "runs", "comparison"}
    by_src = {Path(r["source"]).parent.name: r["lr_advice"] for r in doc["runs"]}
    assert by_src["lr0.001"]["action"] == "raise" and by_src["lr0.001"]["scope"] == "sweep"
    assert by_src["lr0.1"]["scope"] == "run"
    assert doc["comparison"]["usable_range"] == [0.1, 0.1]


def test_text_default_and_by_option(tmp_path):
    paths = write_sweep(
        tmp_path, lrs=(0.001, 0.1), with_lr=True, hparams={"lr": [0.001, 0.1], "batch_size": [32, 64]}
    )
    res = run(*paths)
    assert res.exit_code == 0
    assert res.stdout.startswith("== gradlog compare: 2 runs, by lr ")
    assert "More than one setting differs between the runs (lr, batch_size)" in " ".join(res.stdout.split())
    res = run(*paths, "--by", "batch_size")
    assert "by batch_size" in res.stdout.splitlines()[0]
    res = run(*paths, "--by", "dropout")
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("Error: compare --by dropout: no value of 'dropout' for run")


def test_output_directory_gets_report_and_figures(tmp_path):
    out = tmp_path / "out"
    res = run(*LIN_SWEEP, "--format", "markdown", "-o", out)
    assert res.exit_code == 0
    md = (out / "comparison.md").read_text()
    assert "![sweep](figures/compare_sweep.png)" in md
    assert (out / "figures" / "compare_curves.png").stat().st_size > 10_000
    res = run(*LIN_SWEEP, "--format", "json", "-o", out)
    assert json.loads((out / "comparison.json").read_text())["comparison"]["by"] == "lr"
    assert "wrote " in res.stderr


def test_exit_codes_for_unreadable_inputs(tmp_path):
    paths = write_sweep(tmp_path, lrs=(0.01, 0.1))
    bad = tmp_path / "broken.csv"
    bad.write_bytes(b"\x00\x01\x02 not a log")
    res = run(*paths, bad, "--format", "json")
    assert res.exit_code == 3
    assert len(json.loads(res.stdout)["runs"]) == 2  # the readable runs are still compared
    assert "1 of 3 inputs could not be read" in res.stderr
    assert run(*paths, bad, "--allow-errors", "--format", "json").exit_code == 0
    res = run(bad)
    assert res.exit_code == 2 and res.stderr.startswith("Error: ")
    assert run(tmp_path / "missing.csv").exit_code == 2


def test_fail_on(tmp_path):
    res = run(*LIN_SWEEP, "--fail-on", "critical")  # the 2.6 run diverged
    assert res.exit_code == 1
    paths = write_sweep(tmp_path, lrs=(0.01, 0.1))
    assert run(*paths, "--fail-on", "critical").exit_code == 0


@pytest.mark.parametrize("fmt, start", [("html", "<!DOCTYPE html>"), ("markdown", "# gradlog comparison")])
def test_other_formats(tmp_path, fmt, start):
    res = run(*write_sweep(tmp_path, lrs=(0.01, 0.1)), "--format", fmt)
    assert res.exit_code == 0 and res.stdout.startswith(start)
