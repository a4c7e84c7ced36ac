"""One meaning for ``-o`` across the commands, and every usage error as one ``Error:`` line."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from click.testing import CliRunner

from gradlog import cli


def _runner() -> CliRunner:
    try:  # click < 8.2 mixes stderr into stdout unless told not to
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never write to the user's real cache: $XDG_CACHE_HOME is a temporary folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".xdg-cache"))


@pytest.fixture
def log(samples, tmp_path):
    p = tmp_path / "in" / "caffe.log"
    p.parent.mkdir()
    shutil.copy(samples / "caffe_numpy_cnn.log", p)
    return p


def test_analyze_o_is_a_file_when_named_like_one(log, tmp_path) -> None:
    out = tmp_path / "report.html"
    r = _runner().invoke(cli.main, ["analyze", str(log), "--format", "html", "-o", str(out)])
    assert (r.exit_code, r.stderr) == (0, f"wrote {out}\n")
    assert out.is_file() and out.read_text().startswith("<!DOCTYPE html>")
    # the suffix picks the format when --format is not given
    out = tmp_path / "sub" / "r.json"
    r = _runner().invoke(cli.main, ["analyze", str(log), "-o", str(out)])
    assert r.exit_code == 0 and json.loads(out.read_text())["runs"][0]["run"] == "caffe.log"
    # Markdown into a file: its figures beside it
    out = tmp_path / "md" / "notes.md"
    r = _runner().invoke(cli.main, ["analyze", str(log), "-o", str(out)])
    assert r.exit_code == 0
    assert "](figures/caffe.log_overview.png)" in out.read_text()
    assert (tmp_path / "md" / "figures" / "caffe.log_overview.png").is_file()


def test_analyze_o_is_a_directory_otherwise(log, tmp_path) -> None:
    d = tmp_path / "outdir"
    r = _runner().invoke(cli.main, ["analyze", str(log), "--format", "html", "-o", str(d)])
    assert (r.exit_code, r.stderr) == (0, f"wrote {d / 'report.html'}\n")
    # an existing directory named like a file is still a directory
    d2 = tmp_path / "odd.html"
    d2.mkdir()
    r = _runner().invoke(cli.main, ["analyze", str(log), "--format", "html", "-o", str(d2)])
    assert (r.exit_code, r.stderr) == (0, f"wrote {d2 / 'report.html'}\n")


def test_o_that_does_not_fit_is_a_clear_error(log, tmp_path) -> None:
    r = _runner().invoke(
        cli.main, ["analyze", str(log), "--format", "html", "-o", str(tmp_path / "report.json")]
    )
    assert (r.exit_code, r.stderr) == (
        2,
        f"Error: {tmp_path / 'report.json'}: a .json name for a "
        "html report; name the file *.html or give a directory\n",
    )
    afile = tmp_path / "afile"
    afile.write_text("x")
    r = _runner().invoke(cli.main, ["analyze", str(log), "-o", str(afile)])
    assert (r.exit_code, r.stderr) == (
        2,
        f"Error: {afile}: is a file, not a directory; give a directory or a name ending in .txt\n",
    )
    assert afile.read_text() == "x"
    # batch: one file, its type from the suffix
    r = _runner().invoke(cli.main, ["batch", str(log.parent), "-o", str(tmp_path)])
    assert (r.exit_code, r.stderr) == (
        2,
        f"Error: {tmp_path}: is a directory; the summary is one "
        "file (.csv, .json, .html, .parquet or .txt)\n",
    )
    r = _runner().invoke(cli.main, ["batch", str(log.parent), "-o", str(tmp_path / "s.xlsx")])
    assert (r.exit_code, r.stderr) == (
        2,
        f"Error: {tmp_path / 's.xlsx'}: unknown summary type; use "
        ".csv, .json, .html, .parquet or .txt (or --format)\n",
    )
    # plot and convert write one file: a directory is a one-line error
    for cmd in ("plot", "convert"):
        r = _runner().invoke(cli.main, [cmd, str(log), "-o", str(tmp_path)])
        assert r.exit_code == 2
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: ") and "directory" in r.stderr


def test_batch_o_writes_each_format(log, tmp_path) -> None:
    for name in ("s.csv", "s.json", "s.html", "s.csv.gz"):
        out = tmp_path / "o" / name
        r = _runner().invoke(cli.main, ["batch", str(log.parent), "-o", str(out), "--no-cache"])
        assert r.exit_code == 0, r.stderr
        assert r.stderr == f"1 files and runs: 1 ok, 0 error, 0 skipped; summary in {out}\n"
    import gzip

    rows = list(csv.DictReader(gzip.open(tmp_path / "o" / "s.csv.gz", "rt")))
    assert [(x["status"], x["steps"]) for x in rows] == [("ok", "157")]
    assert json.loads((tmp_path / "o" / "s.json").read_text())["rows"][0]["steps"] == 157
    r = _runner().invoke(cli.main, ["batch", str(log.parent), "--format", "json", "--no-cache"])
    assert json.loads(r.stdout)["rows"][0]["run"] == "caffe.log"


def test_click_usage_errors_are_one_line(tmp_path) -> None:
    for args in (
        ["analyze", str(tmp_path / "missing.log")],
        ["analyze"],
        ["nope"],
        ["batch", str(tmp_path), "-j", "0"],
        ["analyze", str(tmp_path), "--format", "pdf"],
    ):
        r = _runner().invoke(cli.main, args, prog_name="gradlog")
        assert r.exit_code == 2, args
        assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
        assert "Usage:" not in r.stderr and "Try 'gradlog" not in r.stderr
    r = _runner().invoke(cli.main, ["analyze", str(tmp_path / "missing.log")], prog_name="gradlog")
    assert r.stderr == (
        f"Error: Invalid value for 'PATHS...': Path '{tmp_path / 'missing.log'}' does not exist.\n"
    )


def test_a_newline_in_a_file_name_stays_on_one_line(tmp_path) -> None:
    bad = tmp_path / "two\nlines.log"
    bad.write_bytes(b"\x00\x01\x02 not a log\n" * 4)
    r = _runner().invoke(cli.main, ["analyze", str(bad)])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "two\\nlines.log: not a training log" in r.stderr
    r = _runner().invoke(cli.main, ["batch", str(tmp_path), "--dry-run"])
    assert r.exit_code == 2 and "two\\nlines.log" in r.stdout and r.stdout.count("\n") == 1


def test_the_real_command_prints_one_line(tmp_path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "gradlog", "plot", str(tmp_path / "nope.log"), "-o", "x.png"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr == (
        f"Error: Invalid value for 'PATH': Path '{tmp_path / 'nope.log'}' does not exist.\n"
    )
