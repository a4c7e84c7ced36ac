"""An archive you can trust: every file the walk considers gets a row (ok, error, skipped)
with its reason, nothing readable is exit 2 whatever the flags, and "nothing wrong found"
stays apart from "too little in the log to say"."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

import gradlog
from gradlog import cli
from gradlog.batch import BATCH_COLUMNS, run_batch
from gradlog.discovery import survey

FORMATS = ", ".join(gradlog.parsers.REGISTRY)


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
def archive(samples, tmp_path):
    """Good runs, short ones, damaged and foreign files, as archives hold them."""
    a = tmp_path / "arch"
    (a / "good").mkdir(parents=True)
    shutil.copy(samples / "caffe_numpy_cnn.log", a / "good" / "train.log")
    shutil.copy(samples / "pytorch_cnn" / "train_log.csv", a / "good" / "train_log.csv")
    (a / "good" / "hparams.yaml").write_text("lr: 0.1\n")  # the CSV's side file: no row
    (a / "short").mkdir()
    (a / "short" / "three_epochs.csv").write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,0.8,0.9\n2,0.7,0.85\n")
    (a / "short" / "acc_only.csv").write_text("epoch,acc,val_acc\n0,0.1,0.1\n1,0.2,0.2\n2,0.3,0.3\n")
    (a / "bad").mkdir()
    (a / "bad" / "other_program.log").write_text("starting server on port 8080\nready\nbye\n" * 5)
    (a / "bad" / "garbage.log").write_bytes(bytes(range(256)) * 20)
    (a / "bad" / "empty.csv").write_bytes(b"")
    (a / "bad" / "header_only.csv").write_text("step,loss\n")
    (a / "misc").mkdir()
    (a / "misc" / "curve.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (a / "misc" / "model.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    (a / "misc" / "config.yaml").write_text("model: resnet\nlayers: 18\n")
    (a / "misc" / "notes.json").write_text('{"comment": "first try", "tags": ["a", "b"]}\n')
    (a / ".hidden").mkdir()
    (a / ".hidden" / "x.log").write_text("not considered\n")
    return a


#: (relative path, status, the reason's tail) of every row of the archive
EXPECTED = [
    ("bad/empty.csv", "error", "empty file"),
    ("bad/garbage.log", "error", f"not a training log gradlog can read (formats tried: {FORMATS})"),
    ("bad/header_only.csv", "error", "the table has a header but no data rows"),
    ("bad/other_program.log", "error", f"not a training log gradlog can read (formats tried: {FORMATS})"),
    ("good/train.log", "ok", ""),
    ("good/train_log.csv", "ok", ""),
    ("misc/config.yaml", "skipped", "a document, script, config or media file, not a training log"),
    ("misc/curve.png", "skipped", "an image, not a training log"),
    ("misc/model.pt", "skipped", "a model or data file, not a training log"),
    (
        "misc/notes.json",
        "skipped",
        "a table with no step-like column and no loss, LR, validation "
        "or gradient column (not a training log)",
    ),
    ("short/acc_only.csv", "ok", "no loss"),
    ("short/three_epochs.csv", "ok", "too few points (3)"),
]


def _rows(table, root):
    return [
        (os.path.relpath(p, root), s, r.rsplit(": ", 1)[-1] if s != "ok" else r)
        for p, s, r in zip(table["path"], table["status"], table["reason"], strict=False)
    ]


def test_every_file_gets_a_row(archive) -> None:
    table = run_batch(archive, jobs=1)
    assert _rows(table, archive) == [(p, s, r.rsplit(": ", 1)[-1]) for p, s, r in EXPECTED]
    by = {
        os.path.relpath(p, archive): row
        for p, row in zip(table["path"], table.to_dict("records"), strict=False)
    }
    # not assessed is not "nothing wrong": assessed False, the detectors that could not run
    short = by["short/three_epochs.csv"]
    assert (short["assessed"], short["findings"], short["finding_ids"]) == (False, 0, "")
    assert short["not_assessable"].split()[:3] == ["divergence", "step_size_oscillation", "noisy_loss"]
    assert by["good/train.log"]["assessed"] is True and by["good/train.log"]["reason"] == ""
    # error and skipped rows have no LR verdict, no assessed flag
    assert {by[k]["lr_action"] for k in by if by[k]["status"] != "ok"} == {""}
    assert all(pd.isna(by[k]["assessed"]) for k in by if by[k]["status"] != "ok")
    assert by["bad/header_only.csv"]["format"] == "csv_wide"  # claimed, then failed


def test_symlink_loops_dangling_links_and_folders_that_cannot_be_opened(archive, monkeypatch) -> None:
    links = archive / "links"
    links.mkdir()
    os.symlink("b", links / "a")
    os.symlink("a", links / "b")
    os.symlink("missing.log", links / "dangling.log")
    os.symlink("..", links / "up")  # a folder link (a loop back to the archive): not followed
    locked = archive / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = survey(archive)
    got = [
        (os.path.relpath(u.path, archive), u.status, u.reason.split(": ", 1)[1])
        for u in found.unread
        if u.path.parent in (links, archive)
    ]
    assert got == [
        ("links/a", "error", "symbolic link loop (not followed)"),
        ("links/b", "error", "symbolic link loop (not followed)"),
        ("links/dangling.log", "error", "broken symbolic link (its target missing.log does not exist)"),
        ("links/up", "skipped", "symbolic link to a folder (not followed)"),
        ("locked", "error", "cannot open this folder (Permission denied)"),
    ]
    assert len(found.runs) == 5  # header_only.csv is claimed (and fails when read)
    # the CLI: rows, not a traceback; `analyze DIR` reports the runs and names the rest
    r = _runner().invoke(cli.main, ["batch", str(links), "--no-cache"])
    assert r.exit_code == 2 and r.stderr.endswith(
        f"Error: {links}: no training log found (3 errors; see the summary's reason column)\n"
    )
    r = _runner().invoke(cli.main, ["analyze", str(archive / "good"), str(links), "--format", "json"])
    assert r.exit_code == 3 and "Traceback" not in r.stderr
    assert r.stderr.count("symbolic link loop") == 2
    assert [x["run"] for x in json.loads(r.stdout)["runs"]] == ["train.log", "train_log.csv"]


def test_a_file_that_cannot_be_read_gets_its_row(archive, monkeypatch) -> None:
    from gradlog.frame.source import Source

    real = Source.from_path.__func__
    locked = archive / "good" / "train.log"

    def from_path(cls, path):
        if str(path) == str(locked):
            raise gradlog.GradlogError(f"{path}: cannot read (Permission denied)")
        return real(cls, path)

    monkeypatch.setattr(Source, "from_path", classmethod(from_path))
    table = run_batch(archive / "good", jobs=1)
    assert list(zip(table["path"], table["status"], table["reason"], strict=False)) == [
        (str(locked), "error", f"{locked}: cannot read (Permission denied)"),
        (str(archive / "good" / "train_log.csv"), "ok", ""),
    ]


def test_include_exclude_and_dry_run(archive) -> None:
    refs = gradlog.discover(archive, include=["*.csv"], exclude=["short"])
    assert [os.path.relpath(r.path, archive) for r in refs] == ["bad/header_only.csv", "good/train_log.csv"]
    found = survey(archive, include=["good/*"])
    assert [os.path.relpath(r.path, archive) for r in found.runs] == ["good/train.log", "good/train_log.csv"]
    assert found.unread == []
    r = _runner().invoke(
        cli.main, ["batch", str(archive), "--dry-run", "--exclude", "bad", "--exclude", "misc/*.p*"]
    )
    assert r.exit_code == 0, r.stderr
    lines = [x.split(None, 3) for x in r.stdout.splitlines()]
    assert [(w, f, os.path.relpath(p, archive)) for w, f, p, *_ in lines] == [
        ("read", "caffe", "good/train.log"),
        ("read", "lightning", "good/train_log.csv"),
        ("skipped", "-", "misc/config.yaml"),
        ("skipped", "csv_wide", "misc/notes.json"),
        ("read", "keras", "short/acc_only.csv"),
        ("read", "keras", "short/three_epochs.csv"),
    ]
    assert r.stderr == "4 runs would be read; 0 error, 2 skipped\n"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], 3),  # some runs could not be read
        (["--allow-errors"], 0),
        (["--fail-on", "info"], 3),  # 3 before 1
        (["--fail-on", "info", "--allow-errors"], 1),
        (["--fail-on", "critical", "--allow-errors"], 0),
    ],
)
def test_exit_codes(archive, args, code) -> None:
    r = _runner().invoke(cli.main, ["batch", str(archive), "-j", "1", "--no-cache", *args])
    assert r.exit_code == code, r.stderr
    assert r.stderr == "12 files and runs: 4 ok (2 not assessed), 4 error, 4 skipped\n"
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == list(BATCH_COLUMNS)
    assert [(x["status"], x["assessed"]) for x in rows if x["path"].endswith(".csv")] == [
        ("error", ""),
        ("error", ""),
        ("ok", "true"),
        ("ok", "false"),
        ("ok", "false"),
    ]


@pytest.mark.parametrize(
    "flags", [[], ["--allow-errors"], ["--fail-on", "info"], ["--allow-errors", "--fail-on", "info"]]
)
def test_nothing_readable_is_exit_2_whatever_the_flags(archive, flags, tmp_path) -> None:
    out = tmp_path / "summary.csv"
    r = _runner().invoke(cli.main, ["batch", str(archive / "bad"), "-o", str(out), "--no-cache", *flags])
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        f"4 files and runs: 0 ok, 4 error, 0 skipped; summary in {out}",
        f"Error: {archive / 'bad'}: no run could be read (4 errors; see the summary's reason column)",
    ]
    assert [x["status"] for x in csv.DictReader(out.open())] == ["error"] * 4  # still written
    r = _runner().invoke(cli.main, ["analyze", str(archive / "bad"), *flags])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 4 and r.stderr.startswith("Error: ")


def test_json_summary_follows_its_schema(archive, tmp_path) -> None:
    import jsonschema

    from gradlog.render.summary import schema

    out = tmp_path / "summary.json"
    r = _runner().invoke(cli.main, ["batch", str(archive), "-o", str(out), "--no-cache", "--allow-errors"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema())
    assert (doc["gradlog_version"], doc["schema_version"]) == (gradlog.__version__, "1.0")
    rows = {os.path.relpath(x["path"], archive): x for x in doc["rows"]}
    assert len(rows) == 12
    assert rows["short/acc_only.csv"] | {"path": ""} == rows["short/acc_only.csv"] | {
        "path": "",
        "status": "ok",
        "format": "keras",
        "assessed": False,
        "reason": "no loss",
        "findings": 0,
        "finding_ids": "",
    }
    assert rows["bad/empty.csv"]["assessed"] is None and rows["bad/empty.csv"]["steps"] is None
    assert rows["good/train.log"]["steps"] == 157
    bad = dict(doc, rows=[dict(doc["rows"][0], status="fine")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema())


def test_text_summary_keeps_not_assessed_apart(archive) -> None:
    r = _runner().invoke(
        cli.main, ["batch", str(archive), "--format", "text", "--no-cache", "-j", "1", "--allow-errors"]
    )
    assert r.exit_code == 0, r.stderr
    lines = {x.split()[0]: x for x in r.stdout.splitlines()[1:-1]}
    assert lines["short/three_epochs.csv"].endswith("NOT ASSESSED: too few points (3)")
    assert lines["short/acc_only.csv"].split()[1:3] == ["ok", "unknown"]
    assert lines["short/acc_only.csv"].endswith("NOT ASSESSED: no loss")
    assert lines["misc/curve.png"].split()[1] == "skipped"
    assert lines["misc/curve.png"].endswith("an image, not a training log")
    assert r.stdout.splitlines()[-1] == "12 files and runs: 4 ok (2 not assessed), 4 error, 4 skipped"


def test_real_runs_that_hold_too_little_are_not_assessed(corpus) -> None:
    """On the corpus: an hparams-only TensorBoard file and 3-epoch logs are "not assessed"
    (not "ok, 0 findings"); runs without an LR series are still assessed."""
    table = run_batch(corpus, jobs=1)
    na = {
        os.path.relpath(p, corpus): r
        for p, r, a in zip(table["path"], table["reason"], table["assessed"], strict=False)
        if a is not pd.NA and not a
    }
    assert na == {
        "caffe/googlenet_glogfile_resumed_then_diverges.log": "too few points (6)",
        "caffe/lenet_caffe1_iter_per_sec_format.log": "too few points (2)",
        "keras/irfanet10_csvlogger_crlf.log": "too few points (3)",
        "lightning/genrisk_gan_v0_nan_metrics.csv": "no finite loss values",
        "tensorboard/lightning_tft_hparams_only": "no loss",
        "tensorboard/tf1_keras_irfanet_3ep": "too few points (3)",
        "tensorboard/tf2_mnist_katib": "too few points (10)",
    }
    by = dict(
        zip(table["path"].map(lambda p: os.path.relpath(p, corpus)), table.to_dict("records"), strict=False)
    )
    overfit = by["tensorboard/tf1_keras_irfanet_109ep_overfit"]  # no LR logged, still assessed
    assert overfit["assessed"] is True and "overfitting" in overfit["finding_ids"]
    assert "step_size_oscillation" in overfit["not_assessable"]
    assert (table["status"] == "ok").sum() == 26
