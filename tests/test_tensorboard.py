"""TensorBoard reader on the bundled samples (tensorboardX writer, TF2 tensors, Keras layout)."""

from __future__ import annotations

import gzip
import io
import math
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

import gradlog
from gradlog.errors import MultipleRunsError
from gradlog.frame.source import Source
from gradlog.parsers import _tfrecord as tfr
from gradlog.parsers import tensorboard as tb

Event = tb._Event  # tensorboardX's Event definition (read without importing torch)

ROOT = "tensorboard"
MLP = "tensorboard/mlp_digits_resumed"
MLP_FIRST = f"{MLP}/events.out.tfevents.1700000000.gradlog-sample.1"
MLP_SECOND = f"{MLP}/events.out.tfevents.1700000900.gradlog-sample.2"
TF2 = "tensorboard/tf2_tensor_scalars"
TF2_FILE = f"{TF2}/events.out.tfevents.1700000300.gradlog-sample.0.v2"
KERAS = "tensorboard/keras_tf2_digits"


def _events(path):
    """Yield the Events of a file with a plain loop (an independent reading for checks)."""
    data = path.read_bytes()
    pos = 0
    while pos + 12 <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        yield Event.FromString(data[pos + 12 : pos + 12 + n])
        pos += 16 + n


def _counts(run):
    return run.frame.groupby("tag", observed=True).size().to_dict()


def _value(run, tag, step):
    return float(run.series(tag).loc[step])


# -- tensorboardX SummaryWriter: scalars, gradient histograms, a resumed job ------------------
def test_resumed_run_merges_both_files_and_the_later_record_wins(samples):
    run = gradlog.load(samples / MLP)
    assert run.meta["format"] == "tensorboard"
    assert run.meta["files"] == [
        "events.out.tfevents.1700000000.gradlog-sample.1",
        "events.out.tfevents.1700000900.gradlog-sample.2",
        "hparams/events.out.tfevents.1700001100.gradlog-sample.3",
    ]
    counts = _counts(run)
    assert counts["train/loss"] == 300 and counts["train/lr"] == 300
    assert counts["grad_norm/total"] == 300
    assert counts["val/loss"] == 14 and counts["val/accuracy"] == 14  # 0,25..175,179 + 150..299
    assert counts["grad/fc1.weight/l2"] == 30  # 0..170 and 150..290 every 10
    # steps 150..179 were logged by both jobs: 30 steps x 3 scalars, 2 val passes x 2,
    # 3 histogram steps x 4 histograms x 4 statistics
    assert run.meta["replaced_points"] == 30 * 3 + 2 * 2 + 3 * 4 * 4 == 142
    assert any("142 points" in w for w in run.meta["warnings"])
    # the resumed job's value wins at a re-logged step, and matches that file alone
    second = gradlog.load(samples / MLP_SECOND)
    assert _value(run, "train/loss", 150) == _value(second, "train/loss", 150)
    assert _value(run, "train/loss", 150) == pytest.approx(0.40048718452453613, rel=1e-7)
    assert _value(run, "train/loss", 0) == pytest.approx(2.62127423286438, rel=1e-7)
    assert _value(run, "train/loss", 299) == pytest.approx(0.21312615275382996, rel=1e-7)
    assert _value(run, "train/lr", 199) == pytest.approx(0.05)
    assert _value(run, "train/lr", 200) == pytest.approx(0.005)
    assert run.meta["restarts"] == [
        {"step": 150, "wall_time": 1700001000.0, "file": str(samples / MLP_SECOND)}
    ]
    assert run.meta["step_unit"] == "step"
    assert run.meta["skipped"] == {} and run.meta["truncated"] == [] and run.meta["damage"] == []


def test_source_tags_and_roles(samples):
    run = gradlog.load(samples / MLP)
    src = run.source_tags()
    assert src["Loss/train"] == "train/loss"
    assert src["Loss/val"] == "val/loss"
    assert src["Accuracy/val"] == "val/accuracy"
    assert src["learning_rate"] == "train/lr"
    assert src["grad_norm"] == "grad_norm/total"
    assert src["hparams/hparam/val_accuracy"] == "hparams/hparam/val_accuracy"
    assert run.roles["loss"] == "train/loss"
    assert run.roles["lr"] == "train/lr"
    assert run.roles["val_loss"] == "val/loss"
    assert run.roles["grad_total"] == "grad_norm/total"
    assert run.roles["grad"] == [
        "grad/fc1.bias/l2",
        "grad/fc1.weight/l2",
        "grad/fc2.bias/l2",
        "grad/fc2.weight/l2",
    ]


def test_histograms_reduce_to_l2_mean_std_absmax(samples):
    run = gradlog.load(samples / MLP_FIRST)
    histos = {}
    for ev in _events(samples / MLP_FIRST):
        for v in ev.summary.value:
            if v.WhichOneof("value") == "histo":
                histos[(v.tag, ev.step)] = v.histo
    assert len(histos) == 18 * 4
    h = histos[("grad/fc1.weight", 100)]
    assert h.num == 64 * 32
    mean = h.sum / h.num
    assert _value(run, "grad/fc1.weight/l2", 100) == pytest.approx(math.sqrt(h.sum_squares), rel=1e-12)
    assert _value(run, "grad/fc1.weight/mean", 100) == pytest.approx(mean, rel=1e-12)
    assert _value(run, "grad/fc1.weight/std", 100) == pytest.approx(
        math.sqrt(h.sum_squares / h.num - mean * mean), rel=1e-9
    )
    assert _value(run, "grad/fc1.weight/absmax", 100) == max(abs(h.min), abs(h.max))
    assert _value(run, "grad/fc1.weight/l2", 0) == pytest.approx(0.897152422305031, rel=1e-9)
    stats = run.meta["statistics"]
    assert set(stats) == {
        f"grad/{p}/{s}"
        for p in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
        for s in ("l2", "mean", "std", "absmax")
    }
    assert "sqrt(sum of squares)" in stats["grad/fc1.weight/l2"]
    assert "exact" in stats["grad/fc1.weight/l2"]


def test_hparams_from_the_add_hparams_subdirectory(samples):
    run = gradlog.load(samples / MLP)
    assert run.meta["hparams"] == {"batch_size": 32.0, "lr": 0.05, "momentum": 0.9, "optimizer": "sgd"}
    assert _value(run, "hparams/hparam/val_accuracy", 299) == pytest.approx(0.9777777791023254)


# -- TF2 tensor encodings ----------------------------------------------------------------------
def test_tf2_scalar_tensors_in_every_encoding(samples):
    run = gradlog.load(samples / TF2_FILE)
    counts = _counts(run)
    assert counts == {
        "train/loss": 20,
        "train/accuracy": 20,
        "train/lr": 20,
        "grad_norm/total": 20,
        "train/examples_seen": 20,
        "val/loss": 1,
        "grad/weights/l2": 4,
        "grad/weights/mean": 4,
        "grad/weights/std": 4,
        "grad/weights/absmax": 4,
    }
    assert _value(run, "train/loss", 0) == pytest.approx(math.log(10), rel=1e-7)  # tensor_content f32
    assert _value(run, "train/loss", 19) == pytest.approx(1.137007713317871, rel=1e-7)
    assert _value(run, "train/accuracy", 19) == pytest.approx(0.90466249, rel=1e-7)  # float_val
    assert _value(run, "train/lr", 7) == 0.5  # double_val
    assert _value(run, "grad_norm/total", 0) == float(np.uint16(14121).view(np.float16))  # half_val
    assert _value(run, "train/examples_seen", 19) == 28740.0  # int64_val
    assert _value(run, "val/loss", 19) == pytest.approx(1.1401655673980713, rel=1e-7)
    assert run.meta["hparams"] == {"full_batch": True, "learning_rate": 0.5, "optimizer": "gd"}
    assert run.meta["ignored"] == {"images": 1, "text": 1}
    assert "estimated from TF2 histogram bucket midpoints" in run.meta["statistics"]["grad/weights/l2"]


def test_tf2_histogram_tensor_estimates_from_buckets(samples):
    run = gradlog.load(samples / TF2_FILE)
    for ev in _events(samples / TF2_FILE):
        for v in ev.summary.value:
            if v.tag == "grad/weights" and ev.step == 5:
                b = np.frombuffer(v.tensor.tensor_content, dtype="<f8").reshape(8, 3)
    mid = (b[:, 0] + b[:, 1]) / 2
    assert _value(run, "grad/weights/l2", 5) == pytest.approx(math.sqrt((b[:, 2] * mid**2).sum()))
    assert _value(run, "grad/weights/mean", 5) == pytest.approx((b[:, 2] * mid).sum() / b[:, 2].sum())
    assert _value(run, "grad/weights/absmax", 5) == pytest.approx(max(abs(b[0, 0]), abs(b[-1, 1])))
    assert b[:, 2].sum() == 640  # every weight of the 64x10 gradient


# -- Keras TF2 callback layout ----------------------------------------------------------------
def test_keras_train_validation_subdirs_are_one_run(samples):
    run = gradlog.load(samples / KERAS)
    assert run.meta["files"] == [
        "train/events.out.tfevents.1700000600.gradlog-sample.1.v2",
        "validation/events.out.tfevents.1700000600.gradlog-sample.2.v2",
    ]
    assert _counts(run) == {
        "train/loss": 15,
        "train/accuracy": 15,
        "train/lr": 15,
        "val/loss": 15,
        "val/accuracy": 15,
        "val/loss_vs_iterations": 15,
    }
    src = run.source_tags()
    assert src["train/epoch_loss"] == "train/loss"
    assert src["validation/epoch_loss"] == "val/loss"
    assert src["train/epoch_learning_rate"] == "train/lr"
    assert src["validation/evaluation_loss_vs_iterations"] == "val/loss_vs_iterations"
    assert _value(run, "train/lr", 0) == pytest.approx(0.2)
    assert _value(run, "train/lr", 14) == pytest.approx(0.05)
    assert _value(run, "val/loss", 0) == pytest.approx(1.6067333221435547, rel=1e-7)
    assert _value(run, "val/accuracy", 14) == pytest.approx(0.9333333373069763, rel=1e-7)
    assert list(run.series("val/loss_vs_iterations").index[:2]) == [23, 46]  # 23 batches per epoch
    assert run.roles["val_loss"] == "val/loss" and run.roles["lr"] == "train/lr"


def test_pytorch_add_scalars_folders():
    tags = tb._normalise(
        ["Loss_train/Loss", "Loss_val/Loss", "extra/acc"], ["Loss_train", "Loss_val", "extra"]
    )
    assert tags == ["train/loss", "val/loss", "extra/acc"]


def test_keras_epoch_and_batch_series_do_not_collide():
    tags = tb._normalise(
        ["train/batch_loss", "train/epoch_loss", "validation/epoch_loss"], ["train", "train", "validation"]
    )
    assert tags == ["train/loss", "train/loss_epoch", "val/loss"]


# -- log roots, discovery, detection -------------------------------------------------------------
def test_log_root_holds_three_runs(samples):
    root = samples / ROOT
    refs = gradlog.discover(root)
    assert [(r.path.name, r.format) for r in refs] == [
        ("keras_tf2_digits", "tensorboard"),
        ("mlp_digits_resumed", "tensorboard"),
        ("tf2_tensor_scalars", "tensorboard"),
    ]
    runs = gradlog.load_all(root)
    assert [len(r.frame) for r in runs] == [90, 1409, 117]
    with pytest.raises(MultipleRunsError, match="3 runs"):
        gradlog.load(root)


def test_split_runs_and_sniff_on_directories(samples, tmp_path):
    root = samples / ROOT
    assert tb.split_runs(Source.from_path(root)) == [
        root / "keras_tf2_digits",
        root / "mlp_digits_resumed",
        root / "tf2_tensor_scalars",
    ]
    assert tb.sniff(Source.from_path(root / "keras_tf2_digits"))  # only train/ + validation/
    assert tb.sniff(Source.from_path(root))
    # A folder that also holds other logs is not claimed as a whole (discovery walks it).
    mixed = tmp_path / "archive"
    shutil.copytree(root / "tf2_tensor_scalars", mixed / "tb_run")
    (mixed / "train.log").write_text("I0101 00:00:00 solver.cpp:228] Iteration 0, loss = 2.3\n")
    assert not tb.sniff(Source.from_path(mixed))
    assert tb.sniff(Source.from_path(mixed / "tb_run"))
    found = {r.path.name: r.format for r in gradlog.discover(mixed)}
    assert found["tb_run"] == "tensorboard"


def test_sniff_by_content_not_by_name(samples, tmp_path):
    renamed = tmp_path / "run.bin"
    shutil.copyfile(samples / TF2_FILE, renamed)
    assert tb.sniff(Source.from_path(renamed))
    assert gradlog.load(renamed, format="tensorboard").meta["records"] == 28
    csv = tmp_path / "events.out.tfevents.fake"
    csv.write_text("step,loss\n0,1.0\n")
    assert not tb.sniff(Source.from_path(csv))


def test_a_damaged_first_record_is_still_recognised_by_name_and_content(samples, tmp_path):
    data = bytearray((samples / TF2_FILE).read_bytes())
    data[3] ^= 0x01  # the first record's length
    p = tmp_path / "events.out.tfevents.1700000300.host.v2"
    p.write_bytes(bytes(data))
    assert tb.sniff(Source.from_path(p))
    run = gradlog.load(p)
    assert run.meta["skipped"] == {"bad_records": 1}
    assert len(run.frame) == 117
    anonymous = tmp_path / "run.bin"
    anonymous.write_bytes(bytes(data))
    assert not tb.sniff(Source.from_path(anonymous))  # without the name, the first record decides


def test_importing_the_reader_does_not_import_torch_or_the_tensorboardx_writer():
    code = (
        "import sys; import gradlog.parsers.tensorboard; "
        "print('torch' in sys.modules, 'tensorboardX' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_gzip_file_and_stream(samples, tmp_path):
    gz = tmp_path / "events.out.tfevents.1.host.gz"
    gz.write_bytes(gzip.compress((samples / MLP_FIRST).read_bytes()))
    a = gradlog.load(samples / MLP_FIRST)
    b = gradlog.load(gz, format="tensorboard")
    c = gradlog.load(io.BytesIO((samples / MLP_FIRST).read_bytes()), format="tensorboard")
    for other in (b, c):
        assert other.frame["value"].equals(a.frame["value"])
        assert other.frame["step"].equals(a.frame["step"])
        assert list(other.frame["tag"]) == list(a.frame["tag"])


def test_wall_times_come_from_the_events(samples):
    run = gradlog.load(samples / MLP_FIRST)
    s = run.frame[run.frame["tag"] == "train/loss"].set_index("step")["wall_time"]
    assert s.loc[0] == 1700000000.0 and s.loc[179] == 1700000000.0 + 179 * 0.5


def test_frame_from_fast_and_general_paths_agree(samples):
    """Blocks of plain scalar events take the one-parse path; the result is the same."""
    records = [
        tfr.frame_record(ev.SerializeToString())
        for ev in _events(samples / MLP_FIRST)
        if ev.WhichOneof("what") != "summary"
        or all(v.WhichOneof("value") == "simple_value" for v in ev.summary.value)
    ]
    data = b"".join(records)
    used = []

    class Spy(tb._FileReader):
        def _decode_flat(self, blk):  # noqa: D102
            ok = super()._decode_flat(blk)
            used.append(ok)
            return ok

    class NoFast(tb._FileReader):
        def _decode_flat(self, blk):  # noqa: D102
            return False

    orig = tb._FileReader
    try:
        tb._FileReader = Spy
        fast = tb.read(Source.from_stream(io.BytesIO(data)))
        tb._FileReader = NoFast
        slow = tb.read(Source.from_stream(io.BytesIO(data)))
    finally:
        tb._FileReader = orig
    assert used == [True]
    assert fast.frame.equals(slow.frame)
    assert len(fast.frame) == 180 * 3 + 9 * 2
    assert _value(fast_run := gradlog.Run(fast.frame), "train/loss", 179) == pytest.approx(
        0.25626182556152344, rel=1e-7
    )
    assert fast_run.series("val/accuracy").index.tolist() == [0, 25, 50, 75, 100, 125, 150, 175, 179]


def test_keras_per_epoch_series_say_the_step_is_the_epoch(samples):
    # the train/ half of a Keras TF2 run holds only epoch_* series, logged at the epoch index
    run = gradlog.load(samples / KERAS / "train")
    assert run.meta["step_unit"] == "epoch"
    assert run.steps == {"first": 0, "last": 14, "count": 15}
    # the whole run also has validation/evaluation_loss_vs_iterations (per iteration)
    assert gradlog.load(samples / KERAS).meta["step_unit"] == "step"
