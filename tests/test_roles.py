"""Tag normalisation and role inference across formats (gradlog.roles)."""

from __future__ import annotations

import pytest

from gradlog.errors import RoleError
from gradlog.roles import (
    ROLE_NAMES,
    apply_overrides,
    infer_roles,
    missing_roles_message,
    normalise_tag,
    normalise_tags,
)


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        # training loss, every spelling
        ("loss", "train/loss"),
        ("train_loss", "train/loss"),
        ("train/loss", "train/loss"),
        ("loss_step", "train/loss"),
        ("train_loss_step", "train/loss"),
        ("Loss/train", "train/loss"),
        ("training_loss", "train/loss"),
        ("  loss ", "train/loss"),
        ("train_loss_epoch", "train/loss_epoch"),
        ("loss_epoch", "train/loss_epoch"),
        # learning rate
        ("lr", "train/lr"),
        ("learning_rate", "train/lr"),
        ("train/lr", "train/lr"),
        ("lr/pg0", "lr/pg0"),
        ("lr-SGD", "train/lr-SGD"),
        ("lr-Adam/pg1", "lr-Adam/pg1"),
        ("x/lr0", "x/lr0"),
        # gradient norms
        ("grad_norm", "grad_norm/total"),
        ("grad_norm/total", "grad_norm/total"),
        ("grad_norm/conv1.weight", "grad_norm/conv1.weight"),
        ("grad_norm_conv1", "grad_norm/conv1"),
        ("gradient_norm", "grad_norm/total"),
        ("total_grad_norm", "grad_norm/total"),
        ("conv1_grad_norm", "grad_norm/conv1"),
        ("train/grad_norm", "grad_norm/total"),
        ("grad_2.0_norm/fc.weight", "grad_norm/fc.weight"),
        ("grad_2.0_norm_total", "grad_norm/total"),
        ("grad_2.0_norm/fc.weight_step", "grad_norm/fc.weight"),
        # held-out
        ("val_loss", "val/loss"),
        ("eval_loss", "val/loss"),
        ("valid_loss", "val/loss"),
        ("validation/loss", "val/loss"),
        ("val/acc", "val/acc"),
        ("eval_wer", "val/wer"),
        ("test_acc", "test/acc"),
        ("avg_test_acc", "test/avg_acc"),
        ("best_val_loss", "val/best_loss"),
        ("Accuracy/val", "val/accuracy"),
        ("val_loss_step", "val/loss"),
        # Caffe, TensorBoard, Ultralytics keep their groups
        ("test0/loss", "test0/loss"),
        ("grad_absmean/conv1/0", "grad_absmean/conv1/0"),
        ("gradients/conv1.weight/l2", "gradients/conv1.weight/l2"),
        ("train/box_loss", "train/box_loss"),
        ("metrics/mAP50(B)", "metrics/mAP50(B)"),
        ("metrics/mAP_0.5:0.95", "metrics/mAP_0.5:0.95"),
        # the rest goes to train/
        ("epoch", "train/epoch"),
        ("mean_io_u_5", "train/mean_io_u_5"),
        ("my loss", "train/my_loss"),
        ("", "train/unnamed"),
        ("//", "train/unnamed"),
    ],
)
def test_normalise_tag(name, tag):
    assert normalise_tag(name) == tag


def test_normalise_tags_keeps_every_column_apart():
    out = normalise_tags(["loss", "train_loss", "train/loss", "val_loss", "val/loss", "loss"])
    assert out == {
        "loss": "train/loss_2",
        "train_loss": "train/train_loss",
        "train/loss": "train/loss",
        "val_loss": "val/val_loss",
        "val/loss": "val/loss",
    }
    assert len(set(out.values())) == len(out)
    out = normalise_tags(["loss", "train_loss"])  # no exact spelling: the first wins
    assert out == {"loss": "train/loss", "train_loss": "train/train_loss"}


def _roles(*tags):
    return infer_roles(tags)


def test_roles_pytorch_loop():
    r = _roles(
        "train/loss",
        "train/lr",
        "train/epoch",
        "grad_norm/conv1",
        "grad_norm/fc",
        "grad_norm/total",
        "val/loss",
        "val/acc",
    )
    assert r == {
        "loss": "train/loss",
        "lr": "train/lr",
        "val_loss": "val/loss",
        "val_metric": "val/acc",
        "grad_total": "grad_norm/total",
        "grad": ["grad_norm/conv1", "grad_norm/fc"],
    }


def test_roles_lightning():
    r = _roles(
        "train/loss",
        "train/loss_epoch",
        "train/lr-SGD",
        "val/loss",
        "val/acc",
        "train/epoch",
        "grad_norm/layer1.weight",
        "grad_norm/layer1.weight_epoch",
    )
    assert (r["loss"], r["lr"], r["val_loss"], r["val_metric"]) == (
        "train/loss",
        "train/lr-SGD",
        "val/loss",
        "val/acc",
    )
    assert r["grad"] == ["grad_norm/layer1.weight"]
    # only the per-epoch loss was logged: it is the loss
    assert _roles("train/loss_epoch", "val/loss")["loss"] == "train/loss_epoch"


def test_roles_hf_trainer():
    r = _roles(
        "train/loss",
        "train/lr",
        "grad_norm/total",
        "train/epoch",
        "val/loss",
        "val/runtime",
        "val/samples_per_second",
        "val/steps_per_second",
        "val/wer",
    )
    assert r["val_metric"] == "val/wer" and r["grad_total"] == "grad_norm/total" and r["grad"] == []


def test_roles_caffe():
    r = _roles(
        "train/loss",
        "train/loss_smoothed",
        "train/lr",
        "test0/loss",
        "test0/accuracy",
        "grad_absmean/conv1/0",
        "grad_absmean/conv1/1",
        "grad_absmean/fc8/0",
    )
    assert (r["loss"], r["val_loss"], r["val_metric"]) == ("train/loss", "test0/loss", "test0/accuracy")
    assert r["grad"] == ["grad_absmean/conv1/0", "grad_absmean/fc8/0"]
    # only the smoothed loss: better than nothing
    assert _roles("train/loss_smoothed", "train/lr")["loss"] == "train/loss_smoothed"


def test_roles_tensorboard_histogram_norms():
    r = _roles("train/loss", "gradients/conv1/l2", "gradients/fc/l2", "weights/conv1/l2")
    assert r["grad"] == ["gradients/conv1/l2", "gradients/fc/l2"]


def test_roles_ultralytics_and_keras():
    r = _roles(
        "train/box_loss",
        "train/cls_loss",
        "train/dfl_loss",
        "val/box_loss",
        "metrics/precision(B)",
        "metrics/mAP50(B)",
        "lr/pg0",
        "lr/pg1",
        "lr/pg2",
    )
    # group 1 (the weights), as ultralytics.py's results.csv hints: group 0 is the biases'
    # warm-up LR, which starts at warmup_bias_lr and falls
    assert (r["loss"], r["val_loss"], r["lr"]) == ("train/box_loss", "val/box_loss", "lr/pg1")
    assert r["val_metric"] == "metrics/mAP50(B)"
    r = _roles(
        "train/accuracy",
        "train/dice_coef",
        "train/loss",
        "train/lr",
        "val/accuracy",
        "val/dice_coef",
        "val/loss",
        "val/mean_io_u_5",
        "val/precision",
    )
    assert (r["loss"], r["lr"], r["val_metric"]) == ("train/loss", "train/lr", "val/accuracy")


def test_roles_none_found():
    r = _roles("train/xent", "train/epoch")
    assert r == {
        "loss": None,
        "lr": None,
        "val_loss": None,
        "val_metric": None,
        "grad_total": None,
        "grad": [],
    }
    assert set(r) == set(ROLE_NAMES)
    msg = missing_roles_message(
        r, ["train/xent", "train/epoch"], {"xent": "train/xent", "epoch": "train/epoch"}, source="log.csv"
    )
    assert msg == (
        "log.csv: no training loss found among the columns (epoch, xent); say which "
        "one it is with --role loss=COLUMN (or roles={'loss': ...})"
    )
    assert missing_roles_message({"loss": "train/loss"}, ["train/loss"]) is None


def test_apply_overrides():
    tags = ["train/xent", "train/lr", "grad_norm/a", "grad_norm/b"]
    roles = infer_roles(tags)
    out = apply_overrides(
        roles, {"loss": "xent", "grad": "grad_norm/b"}, tags, aliases={"xent": "train/xent"}
    )
    assert out["loss"] == "train/xent" and out["grad"] == ["grad_norm/b"]
    assert apply_overrides(roles, {"lr": None}, tags)["lr"] is None
    # a source name that normalises to a tag also works without aliases
    assert apply_overrides(roles, {"loss": "train_xent"}, tags)["loss"] == "train/xent"
    with pytest.raises(RoleError, match=r"unknown role 'los'; roles are loss, lr"):
        apply_overrides(roles, {"los": "xent"}, tags)
    with pytest.raises(RoleError, match=r"run: no tag 'nope'; tags are: grad_norm/a, grad_norm/b"):
        apply_overrides(roles, {"val_loss": "nope"}, tags)


def test_roles_of_a_yolov5_event_file_match_its_results_csv_hints():
    """YOLOv5's TensorBoard tags: the same LR group and metric as the results.csv reader."""
    from gradlog.parsers import ultralytics

    tags = [
        "metrics/mAP_0.5",
        "metrics/mAP_0.5:0.95",
        "metrics/precision",
        "metrics/recall",
        "train/box_loss",
        "train/cls_loss",
        "train/obj_loss",
        "val/box_loss",
        "val/cls_loss",
        "val/obj_loss",
        "x/lr0",
        "x/lr1",
        "x/lr2",
    ]
    r = _roles(*tags)
    assert (r["lr"], r["val_metric"]) == ("x/lr1", "metrics/mAP_0.5:0.95")
    hints = ultralytics._roles(tags)
    assert {k: r[k] for k in hints} == hints
    # one group only: that group; Lightning's LearningRateMonitor numbers groups from 1
    assert _roles("train/loss", "x/lr0")["lr"] == "x/lr0"
    assert _roles("train/loss", "lr-SGD/pg1", "lr-SGD/pg2")["lr"] == "lr-SGD/pg1"
    # precision/recall only when nothing else is there
    assert _roles("train/loss", "val/recall", "val/precision")["val_metric"] == "val/recall"
    assert _roles("train/loss", "val/recall", "val/f1")["val_metric"] == "val/f1"
