"""Every real log of kinds lightning, hf_trainer, keras and csv_other in ../shared/corpus:
the format detected, the points per tag, and values read off the files by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradlog

pytestmark = pytest.mark.corpus


def _counts(run: gradlog.Run) -> dict[str, int]:
    return {t: len(run.series(t)) for t in run.tags}


def test_every_tabular_corpus_file_is_covered(corpus):
    """A new file of these kinds must get its own test below."""
    covered = {
        "lightning/genrisk_gan_v0_nan_metrics.csv",
        "lightning/genrisk_gan_v12_oscillating_metrics.csv",
        "lightning/mnist_sparse_step_epoch_test_metrics.csv",
        "hf_trainer/whisper_large_v2_ja_5k_trainer_state.json",
        "hf_trainer/qwen05_verifier_grad_norm_trainer_state.json",
        "keras/brats2020_unet_csvlogger_lr.log",
        "keras/irfanet10_csvlogger_crlf.log",
        "csv_other/yolov5_helmet_exp2_results.csv",
        "csv_other/yolov8n_plates_train25_results.csv",
    }
    present = {
        p.relative_to(corpus).as_posix()
        for kind in ("lightning", "hf_trainer", "keras", "csv_other")
        for p in (corpus / kind).iterdir()
        if p.is_file()
    }
    assert present == covered


def test_lightning_gan_diverged_to_nan(corpus):
    run = gradlog.load(corpus / "lightning/genrisk_gan_v0_nan_metrics.csv")
    assert run.meta["format"] == "lightning"
    assert run.meta["step_column"] == "step" and run.meta["step_unit"] == "step"
    assert _counts(run) == {"train/disc_loss": 320, "train/epoch": 320, "train/gen_loss": 320}
    disc = run.series("train/disc_loss")
    assert disc.loc[0] == 1.6226933508321501e24
    assert int(disc.isna().sum()) == 319  # the logged NaNs are kept, not dropped
    assert run.series("train/gen_loss").isna().all()
    assert run.series("train/epoch").loc[319] == 79
    assert run.frame["source_tag"].astype(str).eq("train_disc_loss").sum() == 320


def test_lightning_gan_oscillating(corpus):
    run = gradlog.load(corpus / "lightning/genrisk_gan_v12_oscillating_metrics.csv")
    assert run.meta["format"] == "lightning"
    assert _counts(run) == {"train/disc_loss": 200, "train/epoch": 200, "train/gen_loss": 200}
    disc, gen = run.series("train/disc_loss"), run.series("train/gen_loss")
    assert disc.loc[0] == -0.18867206573486328 and gen.loc[0] == -0.1696763038635254
    assert disc.loc[199] == -1.774728298187256e-05 and gen.loc[199] == -0.010362164117395878
    assert gen.min() == pytest.approx(-1.43, abs=0.01) and gen.max() == pytest.approx(1.40, abs=0.01)


def test_lightning_sparse_step_epoch_and_test_rows(corpus):
    run = gradlog.load(corpus / "lightning/mnist_sparse_step_epoch_test_metrics.csv")
    assert run.meta["format"] == "lightning"
    assert _counts(run) == {
        "train/loss": 75,
        "train/acc": 75,  # train_loss_step, acc_step
        "train/loss_epoch": 5,
        "train/acc_epoch": 5,  # epoch-end rows
        "test/acc": 1,
        "test/loss": 1,
        "test/avg_acc": 1,
        "test/avg_loss": 1,
        "train/epoch": 76,  # 75 step rows + the test row
    }
    loss = run.series("train/loss")
    assert loss.index[0] == 49 and loss.index[-1] == 3749
    assert loss.loc[49] == 1.0826207399368286 and loss.loc[1099] == 0.13385801017284393
    assert run.series("train/loss_epoch").loc[3749] == 0.10694222897291183
    assert run.series("test/loss").loc[3750] == 0.12099038809537888
    assert run.series("train/epoch").loc[3750] == 5
    assert run.roles["loss"] == "train/loss" and run.roles["val_loss"] == "test/loss"
    assert run.roles["val_metric"] == "test/acc"
    src = dict(zip(run.frame["tag"].astype(str), run.frame["source_tag"].astype(str), strict=False))
    assert src["train/loss"] == "train_loss_step" and src["test/avg_acc"] == "avg_test_acc"


def test_hf_whisper_old_format_overfitting(corpus):
    run = gradlog.load(corpus / "hf_trainer/whisper_large_v2_ja_5k_trainer_state.json")
    assert run.meta["format"] == "hf_trainer"
    assert _counts(run) == {
        "train/loss": 200,
        "train/lr": 200,
        "train/epoch": 200,
        "val/loss": 5,
        "val/wer": 5,
        "val/runtime": 5,
        "val/samples_per_second": 5,
        "val/steps_per_second": 5,
    }
    loss = run.series("train/loss")
    assert list(loss.index[:3]) == [25, 50, 75] and loss.index[-1] == 5000
    assert loss.loc[25] == 0.3048 and loss.loc[525] == 0.0652
    assert run.series("train/lr").loc[525] == 9.953333333333333e-06
    val = run.series("val/loss")
    assert list(val.index) == [1000, 2000, 3000, 4000, 5000]
    assert val.loc[1000] == 0.320997953414917 and val.loc[5000] == 0.4200145900249481
    assert run.series("val/wer").loc[5000] == 0.7449365679946583
    assert run.meta["train_summary"]["train_loss"] == 0.01890342615880072
    assert run.meta["hparams"]["max_steps"] == 5000 and "batch_size" not in run.meta["hparams"]
    assert run.roles == {
        "loss": "train/loss",
        "lr": "train/lr",
        "val_loss": "val/loss",
        "val_metric": "val/wer",
        "grad_total": None,
        "grad": [],
    }


def test_hf_qwen_new_format_grad_norm(corpus):
    run = gradlog.load(corpus / "hf_trainer/qwen05_verifier_grad_norm_trainer_state.json")
    assert run.meta["format"] == "hf_trainer"
    counts = _counts(run)
    assert counts["grad_norm/total"] == 24 and counts["train/loss"] == 24
    assert counts["train/lr"] == 24 and counts["train/epoch"] == 24 and counts["val/loss"] == 6
    g = run.series("grad_norm/total")
    assert g.idxmax() == 5 and g.max() == 33.36528015136719
    assert g.idxmin() == 95 and g.min() == 1.6572093963623047
    assert list(run.series("val/loss").index) == [20, 40, 60, 80, 100, 120]
    assert run.series("val/loss").loc[120] == 0.049445949494838715
    assert run.meta["hparams"]["batch_size"] == 8 and run.meta["hparams"]["max_steps"] == 120
    assert run.roles["grad_total"] == "grad_norm/total"


def test_keras_brats_crlf_lr_steps(corpus):
    run = gradlog.load(corpus / "keras/brats2020_unet_csvlogger_lr.log")
    assert run.meta["format"] == "keras"
    assert run.meta["step_unit"] == "epoch"
    counts = _counts(run)
    assert len(counts) == 11 and set(counts.values()) == {24}
    lr = run.series("train/lr")
    assert lr.loc[3] == 0.001 and lr.loc[4] == 0.00020000001  # float32 artefact as logged
    assert lr.nunique() == 6 and lr.loc[23] == 1e-06
    assert run.series("train/loss").loc[0] == 0.05603187158703804
    assert run.series("val/loss").loc[23] == 0.034485723823308945
    assert "val/mean_io_u_5" in counts
    assert run.roles["lr"] == "train/lr" and run.roles["val_metric"] == "val/accuracy"


def test_keras_irfanet_three_epochs(corpus):
    run = gradlog.load(corpus / "keras/irfanet10_csvlogger_crlf.log")
    assert run.meta["format"] == "keras"
    assert _counts(run) == {"train/acc": 3, "train/loss": 3, "val/acc": 3, "val/loss": 3}
    assert run.series("train/loss").tolist() == [0.390387876078, 0.364386106274, 0.344507466851]
    assert run.series("val/acc").loc[2] == 0.876201363309
    assert run.roles["val_metric"] == "val/acc" and run.roles["lr"] is None


def test_yolov5_results(corpus):
    run = gradlog.load(corpus / "csv_other/yolov5_helmet_exp2_results.csv")
    assert run.meta["format"] == "ultralytics"
    counts = _counts(run)
    assert len(counts) == 13 and set(counts.values()) == {150}
    assert run.steps == {"first": 0, "last": 149, "count": 150}
    assert run.series("x/lr0").loc[0] == 0.0937 and run.series("x/lr1").loc[0] == 0.0007
    assert (run.series("train/cls_loss") == 0).all()
    assert run.series("metrics/mAP_0.5").loc[149] == 0.81077
    assert run.roles["loss"] == "train/box_loss" and run.roles["lr"] == "x/lr1"
    assert run.roles["val_metric"] == "metrics/mAP_0.5:0.95"


def test_yolov8_results_interrupted(corpus):
    run = gradlog.load(corpus / "csv_other/yolov8n_plates_train25_results.csv")
    assert run.meta["format"] == "ultralytics"
    counts = _counts(run)
    assert len(counts) == 13 and set(counts.values()) == {134}
    assert run.steps == {"first": 1, "last": 134, "count": 134}  # epochs counted from 1
    box = run.series("train/box_loss")
    assert box.loc[1] == 2.3502 and box.loc[50] == 0.91049
    assert run.series("lr/pg0").loc[134] == 0.003466
    m = run.series("metrics/mAP50(B)")
    assert m.idxmax() == 134 and m.max() == 0.79345
    assert run.roles["lr"] == "lr/pg1" and run.roles["val_metric"] == "metrics/mAP50-95(B)"
    assert math.isnan(run.frame["wall_time"].iloc[0])
    assert np.isfinite(run.frame["value"]).all()
