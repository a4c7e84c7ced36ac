"""Every TensorBoard event file of the real corpus: tags, points per tag, values.

Values are checked against what the run's other logs say (the Keras CSVLogger and the
YOLOv5 results.csv of the same runs) and against the corpus MANIFEST notes.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

import gradlog

pytestmark = pytest.mark.corpus

TB = "tensorboard"
LIGHTNING = f"{TB}/lightning1x_fractaldb/events.out.tfevents.1609169139.e8fc262d1b07.21087.0"
TFT = f"{TB}/lightning_tft_hparams_only/events.out.tfevents.1773742213.Felipe_Bedoya.44860.0"
KERAS109 = f"{TB}/tf1_keras_irfanet_109ep_overfit/events.out.tfevents.1508366199.brain"
KERAS3 = f"{TB}/tf1_keras_irfanet_3ep/events.out.tfevents.1508192728.brain"
KATIB = f"{TB}/tf2_mnist_katib"
KATIB_TRAIN = f"{KATIB}/train/events.out.tfevents.1637681485.2d662933d616.19.0.v2"
YOLO = f"{TB}/yolov5_helmet_exp2_torch/events.out.tfevents.1671637532.gakko.30470.0"


def _counts(run):
    return run.frame.groupby("tag", observed=True).size().to_dict()


def _series(run, tag):
    return run.series(tag)


def _clean(run):
    assert run.meta["skipped"] == {}
    assert run.meta["truncated"] == []
    assert run.meta["damage"] == []


def test_every_corpus_event_file_is_detected_and_read(corpus):
    files = sorted((corpus / TB).rglob("events.out.tfevents.*"))
    assert len(files) == 7
    for f in files:
        assert gradlog.detect_format(f) == "tensorboard"
        run = gradlog.load(f)
        _clean(run)
        assert len(run.frame) > 0


def test_lightning_1x_duplicates_and_per_epoch_step_tags(corpus):
    run = gradlog.load(corpus / LIGHTNING)
    _clean(run)
    assert _counts(run) == {
        "train/loss": 78,
        "train/loss_epoch": 2,
        "val/loss_epoch": 2,
        "train/epoch": 2,
        "train/hp_metric": 1,
        "valid_loss_step/epoch_0": 157,
        "valid_loss_step/epoch_1": 157,
    }
    # 'epoch' twice at each of its 2 steps and hp_metric twice at step 0: 3 replaced
    assert run.meta["replaced_points"] == 3
    src = run.source_tags()
    assert src["train_loss_step"] == "train/loss"
    assert src["valid_loss_epoch"] == "val/loss_epoch"
    loss = _series(run, "train/loss")
    assert loss.index[0] == 49 and loss.index[-1] == 3899
    assert loss.iloc[0] == pytest.approx(1.501631259918213, rel=1e-7)
    assert loss.iloc[-1] == pytest.approx(0.9547617435455322, rel=1e-7)
    assert _series(run, "train/epoch").to_dict() == {1718: 0.0, 3437: 1.0}
    assert _series(run, "train/hp_metric").to_dict() == {0: -1.0}
    v0 = _series(run, "valid_loss_step/epoch_0")
    assert list(v0.index[:3]) == [0, 1, 2] and v0.index[-1] == 156
    assert v0.iloc[0] == pytest.approx(0.4890245199203491, rel=1e-7)
    assert _series(run, "val/loss_epoch").to_dict() == pytest.approx(
        {1718: 1.0123329162597656, 3437: 0.9832834005355835}, rel=1e-7
    )
    assert run.meta["hparams"]["learning_rate"] == 0.001
    assert run.meta["hparams"]["backbone"].startswith("Backbone(")
    assert run.roles["loss"] == "train/loss"


def test_lightning_hparams_only_run(corpus):
    run = gradlog.load(corpus / TFT)
    _clean(run)
    assert _counts(run) == {"train/hp_metric": 1}
    assert float(run.frame["value"].iloc[0]) == -1.0
    hp = run.meta["hparams"]
    assert len(hp) == 90
    assert hp["attention_head_size"] == 4.0
    assert (
        hp["dataset_parameters/categorical_encoders/day_of_week"]
        == "NaNLabelEncoder(add_nan=False, warn=True)"
    )
    assert run.roles["loss"] is None


@pytest.mark.parametrize("path, epochs", [(KERAS3, 3), (KERAS109, 109)])
def test_tf1_keras_callback(corpus, path, epochs):
    run = gradlog.load(corpus / path)
    _clean(run)
    assert _counts(run) == {"train/acc": epochs, "train/loss": epochs, "val/acc": epochs, "val/loss": epochs}
    assert run.meta["ignored"] == {"graphs": 2}  # graph_def + meta_graph_def, not decoded
    assert run.source_tags() == {
        "acc": "train/acc",
        "loss": "train/loss",
        "val_acc": "val/acc",
        "val_loss": "val/loss",
    }
    assert run.roles["val_loss"] == "val/loss" and run.roles["val_metric"] == "val/acc"


def test_tf1_keras_values_match_its_csvlogger(corpus):
    run = gradlog.load(corpus / KERAS3)
    with open(corpus / "keras/irfanet10_csvlogger_crlf.log", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3
    for row in rows:
        epoch = int(row["epoch"])
        for col, tag in (
            ("acc", "train/acc"),
            ("loss", "train/loss"),
            ("val_acc", "val/acc"),
            ("val_loss", "val/loss"),
        ):
            assert _series(run, tag).loc[epoch] == float(np.float32(row[col])), (col, epoch)


def test_tf1_keras_overfitting_run_values(corpus):
    run = gradlog.load(corpus / KERAS109)
    vl = _series(run, "val/loss")
    assert vl.idxmin() == 0
    assert vl.loc[0] == pytest.approx(0.6042014956474304, rel=1e-7)
    assert vl.loc[108] == pytest.approx(1.597944736480713, rel=1e-7)
    assert _series(run, "train/loss").loc[108] == pytest.approx(0.001256369287148118, rel=1e-7)
    assert _series(run, "train/acc").loc[108] == pytest.approx(0.99974125623703, rel=1e-7)
    assert _series(run, "val/acc").loc[108] == pytest.approx(0.7777307629585266, rel=1e-7)


def test_tf2_katib_train_and_test_dirs_are_one_run(corpus):
    run = gradlog.load(corpus / KATIB)
    _clean(run)
    assert run.meta["files"] == [
        "test/events.out.tfevents.1637681485.2d662933d616.19.1.v2",
        "train/events.out.tfevents.1637681485.2d662933d616.19.0.v2",
    ]
    assert _counts(run) == {"train/loss": 10, "train/accuracy": 10, "test/loss": 10, "test/accuracy": 10}
    for tag in _counts(run):
        assert list(_series(run, tag).index) == list(range(10))
    assert _series(run, "train/loss").loc[0] == pytest.approx(0.20479995012283325, rel=1e-7)
    assert _series(run, "train/loss").loc[9] == pytest.approx(0.03606664761900902, rel=1e-7)
    assert _series(run, "test/loss").loc[0] == pytest.approx(0.07551847398281097, rel=1e-7)
    assert _series(run, "test/accuracy").loc[9] == pytest.approx(0.9833499789237976, rel=1e-7)
    assert _series(run, "train/accuracy").loc[0] == pytest.approx(0.9404000043869019, rel=1e-7)
    assert run.source_tags()["test/loss"] == "test/loss"
    assert run.roles["val_loss"] == "test/loss"


def test_tf2_katib_single_file_has_unprefixed_tags(corpus):
    run = gradlog.load(corpus / KATIB_TRAIN)
    assert _counts(run) == {"train/loss": 10, "train/accuracy": 10}
    assert run.source_tags() == {"accuracy": "train/accuracy", "loss": "train/loss"}


def test_yolov5_torch_writer_matches_results_csv(corpus):
    run = gradlog.load(corpus / YOLO)
    _clean(run)
    counts = _counts(run)
    assert len(counts) == 13 and set(counts.values()) == {150}
    assert run.meta["ignored"] == {"graphs": 1, "images": 6, "run_metadata": 1}
    assert (_series(run, "train/cls_loss") == 0).all() and (_series(run, "val/cls_loss") == 0).all()
    assert _series(run, "x/lr0").loc[0] == pytest.approx(0.09369999915361404, rel=1e-7)
    with open(corpus / "csv_other/yolov5_helmet_exp2_results.csv", newline="") as fh:
        rows = [{k.strip(): v.strip() for k, v in r.items()} for r in csv.DictReader(fh)]
    assert len(rows) == 150
    for row in rows:
        epoch = int(row["epoch"])
        for tag in ("train/box_loss", "metrics/mAP_0.5", "val/obj_loss", "x/lr0", "x/lr2"):
            # results.csv rounds to 5 significant digits
            assert _series(run, tag).loc[epoch] == pytest.approx(float(row[tag]), rel=6e-5, abs=1e-9)
    assert run.roles["lr"] == "x/lr1"  # the weights' LR, as results.csv's role hints (not group 0's warm-up)
    assert run.roles["val_metric"] == "metrics/mAP_0.5:0.95"
