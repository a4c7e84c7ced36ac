"""The command line: exact output and exit codes (0 ok, 1 --fail-on, 2 bad usage or input).

Most tests give the CLI hand-made runs and reports (``gradlog.load``/``gradlog.analyze``
replaced), so the exit codes are exercised with findings of every severity; the tests at
the end run it on real logs.
"""

from __future__ import annotations

import csv
import io
import json
import struct

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import gradlog  # noqa: E402
from gradlog import cli, cli_common  # noqa: E402
from gradlog.batch import BATCH_COLUMNS  # noqa: E402
from gradlog.errors import UnknownFormatError  # noqa: E402
from gradlog.findings import Finding  # noqa: E402
from gradlog.frame import build_frame  # noqa: E402
from gradlog.render.jsonout import schema  # noqa: E402


def _runner() -> CliRunner:
    try:  # click < 8.2 mixes stderr into stdout unless told not to
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


def _run(name: str, tag: str = "train/loss") -> gradlog.Run:
    steps = np.arange(0, 200, 10)
    frame, _ = build_frame(
        [tag] * 20 + ["train/lr"] * 20,
        np.concatenate([steps, steps]),
        np.concatenate([np.linspace(2.0, 1.0, 20), np.full(20, 0.1)]),
    )
    return gradlog.Run(
        frame, {"name": name, "source": f"/logs/{name}", "format": "caffe", "step_unit": "iteration"}
    )


SEVERITY_OF = {"ok.log": None, "info.log": "info", "warn.log": "warning", "crit.log": "critical"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never write to the user's real cache: $XDG_CACHE_HOME is a temporary folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".xdg-cache"))


@pytest.fixture
def logs(tmp_path, monkeypatch):
    """Files whose names say the worst finding their (hand-made) report has."""
    for name in [*SEVERITY_OF, "broken.log"]:
        (tmp_path / name).write_text("x\n")

    def fake_load(path, *, format=None, roles=None, strict=False, name=None):
        p = str(getattr(path, "path", path)).rsplit("/", 1)[-1]  # a path or a RunRef
        if p == "broken.log":
            raise UnknownFormatError(
                f"{p}: not a training log gradlog can read (this file "
                "matched none of the formats tried: caffe, csv_long)"
            )
        run = _run(p)
        return run.with_roles(**roles) if roles else run

    def fake_analyze(run, *, roles=None):
        sev = SEVERITY_OF.get(run.name)
        findings = (
            []
            if sev is None
            else [
                Finding(
                    "loss_plateau",
                    sev,
                    "The loss stopped improving after step 150.",
                    tags=("train/loss",),
                    step_range=(150, 190),
                    confidence=0.7,
                    evidence={"plateau_start_step": 150},
                    recommendation="Decay the LR at 150.",
                )
            ]
        )
        return gradlog.Report(run=run, findings=findings)

    monkeypatch.setattr(gradlog, "load", fake_load)
    monkeypatch.setattr(gradlog, "analyze", fake_analyze)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def test_version_and_help() -> None:
    r = _runner().invoke(cli.main, ["--version"])
    assert (r.exit_code, r.stdout) == (0, f"gradlog, version {gradlog.__version__}\n")
    r = _runner().invoke(cli.main, ["-h"])
    assert r.exit_code == 0
    for cmd in ("analyze", "batch", "convert", "formats", "plot"):
        assert f"  {cmd} " in r.stdout


def test_analyze_text(logs) -> None:
    r = _runner().invoke(cli.main, ["analyze", str(logs / "warn.log")])
    assert r.exit_code == 0 and r.stderr == ""
    assert r.stdout == (
        "== warn.log " + "=" * 68 + "\n"
        "LR: unknown \u2014 No learning-rate verdict was computed.\n"
        "format: caffe   iterations: 0-190 (20 distinct)   tags: 2\n"
        "\n"
        "Findings: 1 finding (1 warning)\n"
        "  WARNING  loss_plateau  steps 150-190  confidence 0.70\n"
        "    The loss stopped improving after step 150.\n"
        "    evidence: plateau_start_step=150\n"
        "    -> Decay the LR at 150.\n"
    )
    # --verbose adds the source, the roles and the tag table
    v = _runner().invoke(cli.main, ["analyze", "--verbose", str(logs / "warn.log")])
    assert v.exit_code == 0
    assert "roles: loss=train/loss; lr=train/lr" in v.stdout, v.stdout
    assert "train/lr                        20        0.1        0.1        0.1 lr" in v.stdout


@pytest.mark.parametrize(
    ("name", "fail_on", "code"),
    [
        ("ok.log", "info", 0),
        ("info.log", "info", 1),
        ("info.log", "warning", 0),
        ("warn.log", "warning", 1),
        ("warn.log", "critical", 0),
        ("crit.log", "critical", 1),
        ("crit.log", None, 0),
    ],
)
def test_fail_on_exit_codes(logs, name, fail_on, code) -> None:
    args = ["analyze", str(logs / name), "--format", "json"]
    if fail_on:
        args += ["--fail-on", fail_on]
    r = _runner().invoke(cli.main, args)
    assert r.exit_code == code
    assert json.loads(r.stdout)["runs"][0]["run"] == name  # the report is written either way


def test_fail_on_looks_at_every_run(logs) -> None:
    r = _runner().invoke(
        cli.main, ["analyze", str(logs / "ok.log"), str(logs / "crit.log"), "--fail-on", "critical"]
    )
    assert r.exit_code == 1
    heads = [x for x in r.stdout.splitlines() if x.startswith("== ")]
    assert [h.split()[1].rsplit("/", 1)[-1] for h in heads] == ["ok.log", "crit.log"]


def test_unreadable_input_among_several_is_exit_3_and_the_rest_is_reported(logs) -> None:
    msg = (
        "Error: broken.log: not a training log gradlog can read (this file matched "
        "none of the formats tried: caffe, csv_long)\n"
    )
    r = _runner().invoke(
        cli.main, ["analyze", str(logs / "ok.log"), str(logs / "broken.log"), "--format", "json"]
    )
    assert (r.exit_code, r.stderr) == (3, msg)
    assert [x["run"] for x in json.loads(r.stdout)["runs"]] == ["ok.log"]
    r = _runner().invoke(
        cli.main,
        ["analyze", str(logs / "ok.log"), str(logs / "broken.log"), "--allow-errors", "--format", "json"],
    )
    assert (r.exit_code, r.stderr) == (0, msg)
    # 3 wins over 1 (--fail-on met), 2 over everything: nothing readable, whatever the flags
    r = _runner().invoke(
        cli.main, ["analyze", str(logs / "crit.log"), str(logs / "broken.log"), "--fail-on", "info"]
    )
    assert r.exit_code == 3
    r = _runner().invoke(
        cli.main,
        ["analyze", str(logs / "crit.log"), str(logs / "broken.log"), "--fail-on", "info", "--allow-errors"],
    )
    assert r.exit_code == 1
    r = _runner().invoke(
        cli.main, ["analyze", str(logs / "broken.log"), "--allow-errors", "--fail-on", "info"]
    )
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", msg)


def test_bad_usage_is_exit_2(logs) -> None:
    r = _runner().invoke(cli.main, ["analyze", str(logs / "missing.log")], prog_name="gradlog")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[-1] == (
        f"Error: Invalid value for 'PATHS...': Path '{logs / 'missing.log'}' does not exist."
    )
    r = _runner().invoke(cli.main, ["analyze", str(logs / "ok.log"), "--format", "pdf"])
    assert r.exit_code == 2 and "'pdf' is not one of" in r.stderr
    r = _runner().invoke(cli.main, ["analyze", str(logs / "ok.log"), "--role", "loss"])
    assert r.exit_code == 2 and "'loss' is not ROLE=TAG" in r.stderr
    r = _runner().invoke(cli.main, ["analyze", str(logs / "ok.log"), "--role", "loss=nope"])
    assert r.exit_code == 2
    assert r.stderr == "Error: ok.log: no tag 'nope'; tags are: train/loss, train/lr\n"


def test_json_output_follows_the_schema(logs) -> None:
    import jsonschema

    r = _runner().invoke(
        cli.main, ["analyze", str(logs / "warn.log"), str(logs / "ok.log"), "--format", "json"]
    )
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, schema())
    assert [(x["run"], len(x["findings"])) for x in doc["runs"]] == [("warn.log", 1), ("ok.log", 0)]
    assert doc["runs"][0]["findings"][0]["step_range"] == [150, 190]


def test_markdown_and_html_into_a_directory(logs) -> None:
    out = logs / "out"
    r = _runner().invoke(
        cli.main, ["analyze", str(logs / "warn.log"), "--format", "markdown", "-o", str(out)]
    )
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", f"wrote {out / 'report.md'}\n")
    md = (out / "report.md").read_text()
    assert "![overview of warn.log](figures/warn.log_overview.png)" in md
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["warn.log_overview.png"]
    r = _runner().invoke(
        cli.main,
        ["analyze", str(logs / "crit.log"), "--format", "html", "-o", str(out), "--fail-on", "critical"],
    )
    assert (r.exit_code, r.stderr) == (1, f"wrote {out / 'report.html'}\n")
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'data-finding-id="loss_plateau"' in page
    r = _runner().invoke(cli.main, ["analyze", str(logs / "ok.log"), "--format", "markdown"])
    assert r.exit_code == 0 and r.stdout.startswith("# gradlog report\n") and "![" not in r.stdout
    r = _runner().invoke(cli.main, ["analyze", str(logs / "ok.log"), "-o", str(out)])
    head = (out / "report.txt").read_text().splitlines()[0]
    assert head.startswith("== ") and head.split()[1].endswith("ok.log")


def test_output_directory_that_cannot_be_written(logs) -> None:
    (logs / "afile").write_text("")
    r = _runner().invoke(
        cli.main, ["analyze", str(logs / "ok.log"), "--format", "html", "-o", str(logs / "afile" / "sub")]
    )
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: ") and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_colour_only_on_a_tty_and_never_with_no_color(logs, monkeypatch) -> None:
    path = str(logs / "crit.log")
    red = "\x1b[1;31mCRITICAL\x1b[0m"
    r = _runner().invoke(cli.main, ["analyze", path], color=True)
    assert red not in r.stdout  # not a terminal
    monkeypatch.setattr(cli_common, "stdout_isatty", lambda: True)
    r = _runner().invoke(cli.main, ["analyze", path], color=True)
    assert red in r.stdout
    r = _runner().invoke(cli.main, ["analyze", path, "--no-color"], color=True)
    assert "\x1b[" not in r.stdout
    r = _runner().invoke(cli.main, ["analyze", path], color=True, env={"NO_COLOR": "1"})
    assert "\x1b[" not in r.stdout
    monkeypatch.setattr(cli_common, "stdout_isatty", lambda: False)
    r = _runner().invoke(cli.main, ["analyze", path, "--color"], color=True)
    assert red in r.stdout  # asked for explicitly (e.g. for `less -R`)


def _png_width(path) -> int:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">I", head[16:20])[0]


def test_plot(logs) -> None:
    out = logs / "fig.png"
    r = _runner().invoke(
        cli.main, ["plot", str(logs / "ok.log"), "--tags", "train/loss,train/lr", "-o", str(out)]
    )
    assert (r.exit_code, r.stderr) == (0, f"wrote {out}\n")
    assert _png_width(out) == 800
    r = _runner().invoke(
        cli.main, ["plot", str(logs / "warn.log"), "--kind", "overview", "-o", str(logs / "ov.svg")]
    )
    assert r.exit_code == 0 and (logs / "ov.svg").read_text().lstrip().startswith("<?xml")
    r = _runner().invoke(
        cli.main, ["plot", str(logs / "ok.log"), "-t", "nope", "-t", "train/loss", "-o", str(out)]
    )
    assert r.exit_code == 2
    assert r.stderr == "Error: ok.log: no tag 'nope'; tags are: train/loss, train/lr\n"
    r = _runner().invoke(cli.main, ["plot", str(logs / "ok.log"), "-o", str(logs / "fig.xyz")])
    assert r.exit_code == 2
    assert r.stderr.startswith(f"Error: {logs / 'fig.xyz'}: Format 'xyz' is not supported")
    r = _runner().invoke(cli.main, ["plot", str(logs / "ok.log"), "--kind", "grad_norms", "-o", str(out)])
    assert r.exit_code == 2
    assert r.stderr == "Error: ok.log: no grad_norms figure for this log (available: overview)\n"


def test_convert(logs) -> None:
    out = logs / "out.csv"
    r = _runner().invoke(cli.main, ["convert", str(logs / "ok.log"), "-o", str(out)])
    assert (r.exit_code, r.stderr) == (0, f"wrote 40 rows (2 tags) to {out}\n")
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["step", "tag", "value", "wall_time", "source_tag"]
    assert rows[1] == ["0", "train/loss", "2.0", "nan", "train/loss"]
    assert len(rows) == 41
    r = _runner().invoke(cli.main, ["convert", str(logs / "ok.log"), "-o", str(logs / "out.txt")])
    assert r.exit_code == 2
    assert r.stderr == (f"Error: {logs / 'out.txt'}: unknown output type; use .csv, .csv.gz or .parquet\n")


def test_batch_records_bad_files_and_goes_on(logs, monkeypatch) -> None:
    refs = [gradlog.RunRef(logs / n, "caffe") for n in ("broken.log", "crit.log", "ok.log")]
    monkeypatch.setattr(
        gradlog.discovery, "survey", lambda path, include=(), exclude=(): gradlog.Survey(refs, [])
    )
    out = logs / "summary.csv"
    r = _runner().invoke(cli.main, ["batch", str(logs), "-j", "1", "-o", str(out), "--no-cache"])
    assert r.exit_code == 3  # a run could not be read
    assert r.stderr == f"3 files and runs: 2 ok, 1 error, 0 skipped; summary in {out}\n"
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [
        (x["path"].rsplit("/", 1)[-1], x["status"], x["max_severity"], x["finding_ids"]) for x in rows
    ] == [
        ("broken.log", "error", "", ""),
        ("crit.log", "ok", "critical", "loss_plateau"),
        ("ok.log", "ok", "", ""),
    ]
    assert rows[0]["reason"].startswith("UnknownFormatError: broken.log: not a training log")
    assert [rows[1][k] for k in ("first_step", "last_step", "steps", "tags")] == ["0", "190", "20", "2"]
    r = _runner().invoke(cli.main, ["batch", str(logs), "-j", "1", "--fail-on", "critical", "--no-cache"])
    assert r.exit_code == 3  # 3 before 1
    r = _runner().invoke(
        cli.main, ["batch", str(logs), "-j", "1", "--fail-on", "critical", "--no-cache", "--allow-errors"]
    )
    assert r.exit_code == 1
    assert list(csv.reader(io.StringIO(r.stdout)))[0] == list(BATCH_COLUMNS)
    monkeypatch.setattr(
        gradlog.discovery, "survey", lambda path, include=(), exclude=(): gradlog.Survey([], [])
    )
    r = _runner().invoke(cli.main, ["batch", str(logs)])
    assert (r.exit_code, r.stderr) == (2, f"Error: {logs}: no training log found\n")


# -- real logs -------------------------------------------------------------------------------


def test_formats_lists_the_registry() -> None:
    r = _runner().invoke(cli.main, ["formats"])
    assert r.exit_code == 0
    names = [x.split()[0] for x in r.stdout.splitlines() if not x.startswith(" ")]
    assert names == list(gradlog.parsers.REGISTRY)
    # it fits 80 columns: long descriptions wrap under their description column
    assert max(len(x) for x in r.stdout.splitlines()) <= 80


def test_analyze_an_unknown_file_for_real(tmp_path) -> None:
    p = tmp_path / "notes.bin"
    p.write_bytes(b"\x00\x01\x02 nothing like a training log \xff\n" * 3)
    r = _runner().invoke(cli.main, ["analyze", str(p)])
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1
    assert "notes.bin: not a training log gradlog can read" in r.stderr
    (tmp_path / "empty.log").write_bytes(b"")
    r = _runner().invoke(cli.main, ["analyze", str(tmp_path / "empty.log")])
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: ") and r.stderr.endswith("empty.log: empty file\n")


def test_real_logs_every_format_agrees(corpus, tmp_path) -> None:
    """On real logs: the JSON follows the schema, and the HTML and Markdown show the same
    findings, in the same order, as the JSON."""
    import jsonschema

    paths = [
        corpus / "keras" / "brats2020_unet_csvlogger_lr.log",
        corpus / "tensorboard" / "tf1_keras_irfanet_109ep_overfit",
        corpus / "lightning" / "genrisk_gan_v0_nan_metrics.csv",
    ]
    r = _runner().invoke(cli.main, ["analyze", *map(str, paths), "--format", "json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, schema())
    brats, overfit, gan = doc["runs"]
    assert (brats["format"], brats["steps"]) == ("keras", {"first": 0, "last": 23, "count": 24})
    lr = next(t for t in brats["tags"] if t["tag"] == "train/lr")
    assert (lr["count"], lr["first"], lr["last"]) == (24, 0.001, pytest.approx(1e-06))
    vl = next(t for t in overfit["tags"] if t["tag"] == "val/loss")
    assert (vl["count"], vl["first_step"], round(vl["min"], 3)) == (109, 0, 0.604)
    gen = next(t for t in gan["tags"] if t["tag"] == "train/gen_loss")
    assert (gen["count"], gen["nonfinite"], gen["min"]) == (320, 320, None)  # all NaN: null
    ids = [[f["id"] for f in run["findings"]] for run in doc["runs"]]
    out = tmp_path / "html"
    r = _runner().invoke(cli.main, ["analyze", *map(str, paths), "--format", "html", "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    page = (out / "report.html").read_text()
    import re

    sections = page.split('<section class="run"')[1:]
    assert len(sections) == 3
    # the page shows repeated findings of one id as one entry with a count
    shown = [re.findall(r'data-finding-id="([a-z_]+)"[^>]*data-count="(\d+)"', s) for s in sections]
    assert [[i for i, _n in run] for run in shown] == [list(dict.fromkeys(x)) for x in ids]
    assert [sum(int(n) for _i, n in run) for run in shown] == [len(x) for x in ids]
    r = _runner().invoke(
        cli.main, ["analyze", *map(str, paths), "--format", "markdown", "-o", str(tmp_path / "md")]
    )
    md = (tmp_path / "md" / "report.md").read_text()
    heads = [
        re.findall(r"^#### [A-Z]+: `([a-z_]+)`(?: \u00d7(\d+))?", s, re.M) for s in md.split("\n## ")[1:]
    ]
    assert [[i for i, _n in run] for run in heads] == [list(dict.fromkeys(x)) for x in ids]
    assert [sum(int(n or 1) for _i, n in run) for run in heads] == [len(x) for x in ids]
    figs = sorted(p.name for p in (tmp_path / "md" / "figures").iterdir())
    assert "brats2020_unet_csvlogger_lr.log_overview.png" in figs
    for name in figs:
        assert f"](figures/{name})" in md


def test_batch_in_worker_processes_on_real_files(samples, tmp_path) -> None:
    """Two worker processes over a directory with a real log and a CSV with no data rows:
    the bad file is recorded, the good one analysed, the batch finishes."""
    import shutil

    shutil.copy(samples / "pytorch_cnn" / "train_log.csv", tmp_path / "train_log.csv")
    (tmp_path / "empty.csv").write_text("step,loss\n")
    out = tmp_path / "summary.csv"
    r = _runner().invoke(cli.main, ["batch", str(tmp_path), "-j", "2", "-o", str(out)])
    assert r.exit_code == 3, r.stderr
    assert r.stderr == f"2 files and runs: 1 ok, 1 error, 0 skipped; summary in {out}\n"
    rows = {x["path"].rsplit("/", 1)[-1]: x for x in csv.DictReader(out.read_text().splitlines())}
    assert rows["empty.csv"]["status"] == "error"
    assert rows["empty.csv"]["reason"].startswith("EmptyLogError: ")
    ok = rows["train_log.csv"]
    expected = gradlog.load(tmp_path / "train_log.csv")
    assert ok["status"] == "ok" and ok["format"] == "csv_wide"
    assert (int(ok["steps"]), int(ok["tags"])) == (expected.steps["count"], len(expected.tags))
