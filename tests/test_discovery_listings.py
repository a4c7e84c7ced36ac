"""Discovery lists each folder once per survey, however many formats ask about it.

Every format that reads folders (TensorBoard, Lightning, MLflow, W&B) asks its
questions of the folder discovery stands in and of the folders below it, and asks them
again as discovery goes down: they share one listing per folder for the walk
(``gradlog.frame.listing.walk_memo``). The listings are counted here at ``os.scandir`` /
``os.listdir`` (``Path.iterdir``, ``Path.glob`` and ``os.walk`` go through them).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

import gradlog
from gradlog.discovery import survey
from gradlog.frame.listing import list_dir, walk_memo
from gradlog.parsers import _tb_runs
from gradlog.parsers import _tfrecord as tfr
from gradlog.parsers import tensorboard as tb

WANDB_RUN = Path(__file__).parent / "data" / "wandb" / "wandb" / "offline-run-20261202_052706-feo65q41"


def _events(path: Path, tag: str = "loss") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    recs = [tb._Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()]
    for s in range(3):
        ev = tb._Event(wall_time=1.7e9 + s, step=s)
        ev.summary.value.add(tag=tag, simple_value=1.0 / (s + 1))
        recs.append(ev.SerializeToString())
    path.write_bytes(b"".join(tfr.frame_record(r) for r in recs))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _tree(root: Path, samples: Path) -> Path:
    """An archive with a run of every folder format, and files beside them."""
    tbl = root / "tb"
    _events(tbl / "run_a" / "events.out.tfevents.1.h")
    _events(tbl / "run_a" / "Loss_val" / "events.out.tfevents.2.h", tag="Loss")  # a part
    _events(tbl / "keras" / "train" / "events.out.tfevents.1.h.v2", tag="epoch_loss")
    _events(tbl / "keras" / "validation" / "events.out.tfevents.1.h.v2", tag="epoch_loss")
    metrics = (samples / "pytorch_cnn/lightning_logs/version_0/metrics.csv").read_text()
    for v in (0, 1):
        _write(root / "lit" / "lightning_logs" / f"version_{v}" / "metrics.csv", metrics)
    run = root / "ml" / "mlruns" / "0" / "a1b2"
    _write(run / "meta.yaml", "run_id: a1b2\nrun_name: brave-fox\nexperiment_id: '0'\n")
    _write(run / "metrics" / "train_loss", "1700000000000 2.5 0\n1700000001000 2.0 10\n")
    _write(run / "params" / "lr", "0.1")
    _write(run / "tags" / "mlflow.runName", "brave-fox")
    _write(root / "ml" / "mlruns" / "0" / "meta.yaml", "experiment_id: '0'\nname: demo\n")
    shutil.copytree(WANDB_RUN, root / "wb" / "wandb" / WANDB_RUN.name)
    (root / "wb" / "wandb" / WANDB_RUN.name / "files").mkdir()
    (root / "csv" / "exp1").mkdir(parents=True)
    shutil.copy(samples / "pytorch_cnn" / "train_log.csv", root / "csv" / "exp1" / "train_log.csv")
    shutil.copy(samples / "caffe_numpy_cnn.log", root / "csv" / "exp1" / "caffe.log")
    (root / "csv" / "empty").mkdir()
    (root / "csv" / "notes.txt").write_text("nothing to see\n")
    return root


@pytest.fixture
def listings(monkeypatch):
    """Every directory listing made, by path (as given to scandir/listdir)."""
    seen: Counter[str] = Counter()

    def counted(real):
        def call(path=".", *args):
            seen[os.path.normpath(os.fspath(path))] += 1
            return real(path, *args)

        return call

    monkeypatch.setattr(os, "scandir", counted(os.scandir))
    monkeypatch.setattr(os, "listdir", counted(os.listdir))
    _tb_runs.CACHE.clear()  # the TensorBoard memo across calls: not what is measured
    yield seen
    _tb_runs.CACHE.clear()


def _rel(root: Path, p: Path | str) -> str:
    return Path(p).relative_to(root).as_posix() or "."


def test_a_survey_lists_each_folder_once(tmp_path, samples, listings):
    root = _tree(tmp_path / "arch", samples)
    folders = {_rel(root, p) for p in [root, *root.rglob("*")] if p.is_dir()}
    listings.clear()
    found = survey(root)
    assert [(_rel(root, r.path), r.format) for r in found.runs] == [
        ("csv/exp1/caffe.log", "caffe"),
        ("csv/exp1/train_log.csv", "csv_wide"),
        ("lit/lightning_logs/version_0", "lightning"),
        ("lit/lightning_logs/version_1", "lightning"),
        ("ml/mlruns/0/a1b2", "mlflow"),
        ("tb/keras", "tensorboard"),
        ("tb/run_a", "tensorboard"),
        (f"wb/wandb/{WANDB_RUN.name}", "wandb"),
    ]
    assert [(_rel(root, u.path), u.status) for u in found.unread] == [
        ("csv/notes.txt", "skipped"),
        ("ml/mlruns/0/meta.yaml", "skipped"),
    ]
    listed = {_rel(root, p): n for p, n in listings.items()}
    assert len(folders) == 25
    assert listed == dict.fromkeys(folders, 1)  # each once (was up to 8 times one folder)


def test_the_listings_are_kept_for_one_survey_only(tmp_path, samples, listings):
    root = _tree(tmp_path / "arch", samples)
    metrics = root / "lit" / "lightning_logs" / "version_0" / "metrics.csv"
    listings.clear()
    assert len(gradlog.discover(root)) == 8
    n = sum(listings.values())
    _write(root / "lit" / "lightning_logs" / "version_2" / "metrics.csv", metrics.read_text())
    listings.clear()
    _tb_runs.CACHE.clear()
    refs = gradlog.discover(root)
    assert [r.path.name for r in refs if r.format == "lightning"] == ["version_0", "version_1", "version_2"]
    assert sum(listings.values()) == n + 1 == 26  # listed again, and the new folder


def test_list_dir_memoises_only_inside_a_walk(tmp_path, listings):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.txt").write_text("x")
    assert [e.name for e in list_dir(tmp_path)] == ["a.txt", "b"]
    (tmp_path / ".hidden").write_text("x")
    assert [e.name for e in list_dir(tmp_path)] == [".hidden", "a.txt", "b"]  # listed again
    assert listings[str(tmp_path)] == 2
    with walk_memo():
        first = list_dir(tmp_path)
        (tmp_path / "c").mkdir()
        assert list_dir(str(tmp_path)) is first  # a text path is the same folder
        with pytest.raises(FileNotFoundError):
            list_dir(tmp_path / "gone")
        with pytest.raises(FileNotFoundError):
            list_dir(tmp_path / "gone")  # the error again, not a second listing
    assert listings[str(tmp_path)] == 3
    assert listings[str(tmp_path / "gone")] == 1
    assert [e.name for e in list_dir(tmp_path)] == [".hidden", "a.txt", "b", "c"]


def test_a_trainer_output_folder_is_listed_once_not_once_per_checkpoint(tmp_path, samples, listings):
    state = samples / "pytorch_cnn" / "trainer_state.json"
    out = tmp_path / "hf_out"
    for n in (500, 1000, 1500, 2000):
        (out / f"checkpoint-{n}").mkdir(parents=True)
        shutil.copy(state, out / f"checkpoint-{n}" / "trainer_state.json")
    listings.clear()
    found = survey(tmp_path)
    assert [_rel(tmp_path, r.path) for r in found.runs] == ["hf_out/checkpoint-2000/trainer_state.json"]
    assert sorted(_rel(tmp_path, u.path) for u in found.unread) == [
        f"hf_out/checkpoint-{n}/trainer_state.json" for n in (1000, 1500, 500)
    ]
    assert listings[os.path.normpath(out)] == 1
