"""Discovery in archive trees: which folders are one TensorBoard run, which are runs of their own."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import gradlog
from gradlog.errors import EmptyLogError, MultipleRunsError
from gradlog.parsers import _tfrecord as tfr
from gradlog.parsers import tensorboard as tb

IRFANET = "tensorboard/tf1_keras_irfanet_3ep/events.out.tfevents.1508192728.brain"
YOLO = "tensorboard/yolov5_helmet_exp2_torch/events.out.tfevents.1671637532.gakko.30470.0"
KATIB_TEST = "tensorboard/tf2_mnist_katib/test/events.out.tfevents.1637681485.2d662933d616.19.1.v2"
TF2_RUN = "tensorboard/tf2_tensor_scalars"
MLP = "tensorboard/mlp_digits_resumed"

_Summary = tb._MESSAGES["Summary"]


def _write_events(path, tag_values, *, hparams=False):
    """Write an event file: a file_version record, then one scalar event per (tag, step, value)."""
    records = [tb._Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()]
    if hparams:
        v = _Summary.Value(tag="_hparams_/session_start_info")
        v.metadata.plugin_data.plugin_name = "hparams"
        records.append(tb._Event(wall_time=1.0, summary=_Summary(value=[v])).SerializeToString())
    for tag, step, value in tag_values:
        ev = tb._Event(
            wall_time=2.0 + step,
            step=step,
            summary=_Summary(value=[_Summary.Value(tag=tag, simple_value=value)]),
        )
        records.append(ev.SerializeToString())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(tfr.frame_record(r) for r in records))


@pytest.fixture
def archive(corpus, samples, tmp_path):
    arch = tmp_path / "arch"
    arch.mkdir()
    shutil.copyfile(corpus / IRFANET, arch / "events.out.tfevents.1508192728.brain")
    (arch / "exp1").mkdir()
    shutil.copyfile(corpus / YOLO, arch / "exp1" / "events.out.tfevents.1671637532.gakko.30470.0")
    (arch / "exp2").mkdir()
    shutil.copyfile(samples / "pytorch_cnn" / "train_log.csv", arch / "exp2" / "train_log.csv")
    (arch / "exp3").mkdir()
    shutil.copyfile(samples / "caffe_numpy_cnn.log", arch / "exp3" / "training.log")
    return arch


def test_an_archive_with_event_files_at_its_top_still_yields_every_run(archive):
    refs = gradlog.discover(archive)
    assert [(str(r.path.relative_to(archive)), r.format) for r in refs] == [
        (".", "tensorboard"),
        ("exp1", "tensorboard"),
        ("exp2/train_log.csv", "csv_wide"),
        ("exp3/training.log", "caffe"),
    ]
    runs = gradlog.load_all(archive)
    assert [r.name for r in runs] == ["arch", "exp1", "train_log.csv", "training.log"]
    # the top folder's run has only the Keras file's tags, none of exp1's
    top = runs[0]
    assert not any(t.startswith("exp1") for t in top.frame["tag"].unique())
    assert top.meta["files"] == ["events.out.tfevents.1508192728.brain"]
    yolo = runs[1]
    assert yolo.frame.groupby("tag", observed=True).size()["train/box_loss"] == 150
    with pytest.raises(MultipleRunsError, match="2 runs"):
        gradlog.load(archive)


def test_phase_add_scalars_and_hparams_folders_stay_in_their_run(tmp_path):
    run = tmp_path / "run"
    _write_events(run / "events.out.tfevents.1.host", [("loss", 0, 2.0), ("loss", 1, 1.0)])
    _write_events(run / "validation" / "events.out.tfevents.1.host", [("epoch_loss", 0, 3.0)])
    _write_events(run / "Acc_train" / "events.out.tfevents.2.host", [("Acc", 0, 0.5)])
    _write_events(run / "Acc_val" / "events.out.tfevents.2.host", [("Acc", 0, 0.25)])
    _write_events(run / "1700001100.5" / "events.out.tfevents.3.host", [("hparam/acc", 1, 0.9)], hparams=True)
    _write_events(run / "my_hp" / "events.out.tfevents.3.host", [("hparam/acc", 1, 0.9)], hparams=True)
    _write_events(run / "seed2" / "events.out.tfevents.4.host", [("loss", 0, 9.0)])
    refs = gradlog.discover(run)
    assert [(r.path.name, r.format) for r in refs] == [("run", "tensorboard"), ("seed2", "tensorboard")]
    assert sorted(p.name for p in tb.run_members(run)) == [
        "1700001100.5",
        "Acc_train",
        "Acc_val",
        "events.out.tfevents.1.host",
        "my_hp",
        "validation",
    ]
    with pytest.raises(MultipleRunsError, match="2 runs"):
        gradlog.load(run)
    whole = gradlog.load(refs[0])  # the discovered run: the folder's own run only
    assert [f.split("/")[0] for f in whole.meta["files"]] == [
        "events.out.tfevents.1.host",
        "1700001100.5",
        "Acc_train",
        "Acc_val",
        "my_hp",
        "validation",
    ]
    counts = whole.frame.groupby("tag", observed=True).size().to_dict()
    assert counts == {
        "train/loss": 2,
        "val/loss": 1,
        "train/acc": 1,
        "val/acc": 1,
        "1700001100.5/hparam/acc": 1,
        "my_hp/hparam/acc": 1,
    }
    assert float(whole.series("val/acc").loc[0]) == 0.25  # Acc_val/Acc read as Acc/val
    seed2 = gradlog.load(refs[1])
    assert float(seed2.series("train/loss").loc[0]) == 9.0


def test_mixed_lightning_versions_are_each_found(samples, tmp_path):
    logs = tmp_path / "lightning_logs"
    shutil.copytree(samples / TF2_RUN, logs / "version_0")
    (logs / "version_1").mkdir()
    shutil.copyfile(
        samples / "pytorch_cnn/lightning_logs/version_0/metrics.csv", logs / "version_1" / "metrics.csv"
    )
    refs = gradlog.discover(logs)
    assert [(r.path.name, r.format) for r in refs] == [
        ("version_0", "tensorboard"),
        ("version_1", "lightning"),
    ]
    assert [len(r.frame) for r in gradlog.load_all(logs)][0] == 117


def test_an_empty_event_file_is_skipped_and_counted(samples, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(samples / TF2_RUN, run)
    (run / "events.out.tfevents.1800000000.host.0.v2").write_bytes(b"")
    loaded = gradlog.load(run)
    assert len(loaded.frame) == 117
    assert loaded.meta["skipped"]["empty_files"] == 1
    assert any(
        "events.out.tfevents.1800000000.host.0.v2" in w and "empty" in w for w in loaded.meta["warnings"]
    )
    assert loaded.meta["files"] == ["events.out.tfevents.1700000300.gradlog-sample.0.v2"]
    # the CLI analyses the folder instead of failing on the empty file
    out = subprocess.run(
        [sys.executable, "-m", "gradlog", "analyze", str(run)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "empty file" not in out.stderr


def test_a_run_of_only_empty_event_files_is_an_error(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.out.tfevents.1.host").write_bytes(b"")
    (run / "events.out.tfevents.2.host").write_bytes(b"")
    with pytest.raises(EmptyLogError, match="every event file is empty"):
        gradlog.load(run, format="tensorboard")


def test_a_lone_event_file_in_a_phase_folder_takes_the_phase(corpus, tmp_path):
    run = gradlog.load(corpus / KATIB_TEST)
    assert run.frame.groupby("tag", observed=True).size().to_dict() == {"test/loss": 10, "test/accuracy": 10}
    assert run.source_tags() == {"accuracy": "test/accuracy", "loss": "test/loss"}
    assert float(run.series("test/loss").loc[0]) == pytest.approx(0.07551847398281097, rel=1e-7)
    # tags that already have a group are left as they are (an Ultralytics ``train/`` run folder)
    _write_events(
        tmp_path / "train" / "events.out.tfevents.1.host",
        [("metrics/mAP50", 0, 0.5), ("lr/pg0", 0, 0.01), ("loss", 0, 1.0)],
    )
    lone = gradlog.load(tmp_path / "train" / "events.out.tfevents.1.host")
    assert sorted(lone.frame["tag"].unique()) == ["lr/pg0", "metrics/mAP50", "train/loss"]


def test_hf_output_dir_is_one_run_not_one_per_checkpoint(samples, tmp_path):
    import shutil

    import gradlog

    state = samples / "pytorch_cnn" / "trainer_state.json"
    out = tmp_path / "hf_out"
    for n in (500, 1000, 1500):
        (out / f"checkpoint-{n}").mkdir(parents=True)
        shutil.copy(state, out / f"checkpoint-{n}" / "trainer_state.json")
    refs = gradlog.discover(tmp_path)
    assert [(r.path.relative_to(tmp_path).as_posix(), r.format) for r in refs] == [
        ("hf_out/checkpoint-1500/trainer_state.json", "hf_trainer")
    ]
    shutil.copy(state, out / "trainer_state.json")  # the final state, written at the end
    refs = gradlog.discover(tmp_path)
    assert [r.path.relative_to(tmp_path).as_posix() for r in refs] == ["hf_out/trainer_state.json"]
    # a checkpoint's state still loads on its own when asked for
    run = gradlog.load(out / "checkpoint-500" / "trainer_state.json")
    assert run.meta["format"] == "hf_trainer"


def test_tables_that_are_not_training_logs_are_left_out_of_an_archive(samples, tmp_path):
    # an experiment folder as people keep them: the log, the dataset, the predictions,
    # a manifest; only the log is a run (each of the others still loads when asked for)
    exp = tmp_path / "exp1"
    exp.mkdir()
    shutil.copy(samples / "pytorch_cnn" / "train_log.csv", exp / "train_log.csv")
    (exp / "dataset.csv").write_text("pixel0,pixel1,pixel2,label\n0.1,0.5,0.9,3\n0.2,0.4,0.8,7\n")
    (exp / "predictions.csv").write_text("id,prob_cat,prob_dog\n1,0.9,0.1\n2,0.3,0.7\n")
    (exp / "MANIFEST.tsv").write_text("file\tkind\tbytes\nrun1.log\tcaffe\t1234\nrun2.log\tcaffe\t99\n")
    # tables with only a step column, or only a metric, are logs
    (exp / "eval.csv").write_text("epoch,top1\n0,0.51\n1,0.62\n")  # read as Keras CSVLogger
    (exp / "lr_sweep.csv").write_text("lr,loss\n0.001,2.3\n0.01,1.9\n")
    refs = gradlog.discover(tmp_path)
    assert [(r.path.name, r.format) for r in refs] == [
        ("eval.csv", "keras"),
        ("lr_sweep.csv", "csv_wide"),
        ("train_log.csv", "csv_wide"),
    ]
    run = gradlog.load(exp / "dataset.csv")
    assert run.series("train/pixel1").tolist() == [0.5, 0.4]
    assert [r.path.name for r in gradlog.discover(exp / "predictions.csv")] == ["predictions.csv"]


def test_the_corpus_manifest_is_not_a_run(corpus):
    refs = gradlog.discover(corpus)
    assert "MANIFEST.tsv" not in {r.path.name for r in refs}
    assert len(refs) == 26


def test_exclude_applies_to_the_runs_a_log_root_lists(tmp_path):
    root = tmp_path / "logs"
    for name in ("exp1", "exp2", "old/exp3"):
        _write_events(root / name / "events.out.tfevents.1.host", [("loss", 0, 1.0), ("loss", 1, 0.5)])
    assert [r.path.relative_to(root).as_posix() for r in gradlog.discover(root)] == [
        "exp1",
        "exp2",
        "old/exp3",
    ]
    kept = gradlog.discover(root, exclude=["old"])
    assert [r.path.relative_to(root).as_posix() for r in kept] == ["exp1", "exp2"]
    kept = gradlog.discover(root, include=["exp2", "*/exp3"])
    assert [r.path.relative_to(root).as_posix() for r in kept] == ["exp2", "old/exp3"]
