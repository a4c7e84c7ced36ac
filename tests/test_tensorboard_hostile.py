"""Hostile TensorBoard inputs: damaged tensors are skipped and counted, absurd shapes
allocate nothing, vanished files and odd names give one-line GradlogErrors."""

from __future__ import annotations

import resource
import struct

import pytest

import gradlog
from gradlog.errors import DamagedInputError, GradlogError
from gradlog.parsers import _tfrecord as tfr
from gradlog.parsers import tensorboard as tb

Event = tb._Event
DT_FLOAT, DT_DOUBLE = 1, 2


def _event(step: int, tag: str, value: float) -> bytes:
    ev = Event(wall_time=1.7e9 + step, step=step)
    v = ev.summary.value.add(tag=tag, simple_value=value)
    del v
    return ev.SerializeToString()


def _tensor_event(
    step: int,
    tag: str,
    *,
    content: bytes = b"",
    dims: tuple[int, ...] = (),
    dtype: int = DT_FLOAT,
    double_val: tuple[float, ...] = (),
    plugin: str = "scalars",
) -> bytes:
    ev = Event(wall_time=1.7e9 + step, step=step)
    v = ev.summary.value.add(tag=tag)
    v.metadata.plugin_data.plugin_name = plugin
    v.tensor.dtype = dtype
    for d in dims:
        v.tensor.tensor_shape.dim.add(size=d)
    if content:
        v.tensor.tensor_content = content
    v.tensor.double_val.extend(double_val)
    return ev.SerializeToString()


def _file(tmp_path, payloads: list[bytes], name: str = "events.out.tfevents.1.host"):
    head = Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()
    p = tmp_path / name
    p.write_bytes(b"".join(tfr.frame_record(x) for x in [head, *payloads]))
    return p


def _good(n: int = 5) -> list[bytes]:
    return [_event(s, "loss", 1.0 / (s + 1)) for s in range(n)]


def test_a_tensor_whose_bytes_are_not_whole_elements_is_skipped_and_counted(tmp_path):
    # 5 bytes of float32 data: was "ValueError: buffer size must be a multiple of element size"
    bad = _tensor_event(5, "acc", content=b"\x00\x00\x80?\x00")
    p = _file(tmp_path, [*_good(), bad, _tensor_event(6, "acc", content=struct.pack("<f", 0.5))])
    run = gradlog.load(p)
    assert run.series("train/loss").tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert run.series("train/acc").to_dict() == {6: 0.5}
    assert run.meta["skipped"] == {"bad_tensors": 1}
    assert "5 bytes of tensor data are not a whole number of 4-byte elements" in run.meta["warnings"][0]
    with pytest.raises(DamagedInputError, match="tag 'acc': a damaged tensor"):
        gradlog.load(p, strict=True)


def test_a_histogram_tensor_with_ragged_bytes_is_skipped(tmp_path):
    bad = _tensor_event(3, "w", content=b"\x00" * 23, dims=(1, 3), dtype=DT_DOUBLE, plugin="histograms")
    run = gradlog.load(_file(tmp_path, [*_good(), bad]))
    assert run.meta["skipped"] == {"bad_tensors": 1}
    assert len(run.series("train/loss")) == 5


def test_a_huge_declared_shape_allocates_nothing(tmp_path):
    # one stored value "repeated" to fill 10**9 x 3 buckets: a 330-byte file took 4.9 GB,
    # and a shape of 2**62 elements raised MemoryError
    huge = _tensor_event(3, "w", dims=(10**9, 3), dtype=DT_DOUBLE, double_val=(1.0,), plugin="histograms")
    absurd = _tensor_event(
        4, "w", dims=(2**31, 2**31), dtype=DT_DOUBLE, double_val=(1.0,), plugin="histograms"
    )
    negative = _tensor_event(5, "w", dims=(-1, 3), dtype=DT_DOUBLE, double_val=(1.0,), plugin="histograms")
    empty_but_absurd = _tensor_event(
        6, "w", dims=(0, 2**62, 2**62), dtype=DT_DOUBLE, plugin="histograms"
    )  # 0 elements: reshape raised
    p = _file(tmp_path, [*_good(), huge, absurd, negative, empty_but_absurd])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run = gradlog.load(p)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 200_000  # not the 4.9 GB (24 GB here) of np.full
    assert run.meta["skipped"] == {"bad_tensors": 4}
    assert "declares 3000000000 elements" in run.meta["warnings"][0]
    assert len(run.series("train/loss")) == 5


def test_a_small_repeated_value_histogram_still_reads(tmp_path):
    # TensorProto's "one value fills the shape" within the bytes bound stays readable
    ok = _tensor_event(3, "w", dims=(2, 3), dtype=DT_DOUBLE, double_val=(2.0,), plugin="histograms")
    run = gradlog.load(_file(tmp_path, [*_good(), ok]))
    assert run.series("w/absmax").to_dict() == {3: 2.0}
    assert run.series("w/mean").to_dict() == {3: 2.0}
    assert "bad_tensors" not in run.meta["skipped"]


def test_a_file_removed_after_detection_names_it(tmp_path):
    p = _file(tmp_path, _good())
    src = gradlog.frame.source.Source.from_path(p)
    assert tb.sniff(src)
    p.unlink()
    with pytest.raises(GradlogError, match=r"events\.out\.tfevents\.1\.host: no longer exists"):
        tb.read(src)


def test_an_event_file_removed_from_a_run_directory_after_listing(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    a = _file(run_dir, _good(), name="events.out.tfevents.1.a")
    b = _file(run_dir, _good(), name="events.out.tfevents.2.b")
    listed = tb.event_files(run_dir)
    monkeypatch.setattr(tb, "event_files", lambda d: listed)
    b.unlink()
    with pytest.raises(GradlogError, match=r"events\.out\.tfevents\.2\.b: no such file or directory"):
        gradlog.load(run_dir)
    assert a.exists()


def test_a_control_character_in_a_file_name_is_escaped(tmp_path):
    data = b"".join(tfr.frame_record(x) for x in [_event(1, "loss", 1.0)])
    p = tmp_path / "events.out.tfevents.1.a\nb\x1b[31m"
    p.write_bytes(data[:-3])  # cut: strict mode reports it
    with pytest.raises(GradlogError) as info:
        gradlog.load(p, strict=True)
    msg = str(info.value)
    assert "\n" not in msg and "\x1b" not in msg
    assert "events.out.tfevents.1.a\\nb\\x1b[31m" in msg


def test_ultralytics_per_batch_values_at_the_epoch_step(tmp_path):
    # Ultralytics 8.0 logs the running mean of the train losses after every batch at step
    # epoch + 1, and the metrics once an epoch: ~55 values at one step, not a resumed run
    payloads = []
    for epoch in range(1, 6):
        for batch in range(55):
            ev = Event(wall_time=1.7e9 + epoch * 100 + batch, step=epoch)
            ev.summary.value.add(tag="train/box_loss", simple_value=epoch + batch / 100)
            ev.summary.value.add(tag="train/cls_loss", simple_value=2 * epoch + batch / 100)
            payloads.append(ev.SerializeToString())
        ev = Event(wall_time=1.7e9 + epoch * 100 + 99, step=epoch)
        ev.summary.value.add(tag="metrics/mAP50(B)", simple_value=0.1 * epoch)
        ev.summary.value.add(tag="lr/pg0", simple_value=0.01)
        payloads.append(ev.SerializeToString())
    run = gradlog.load(_file(tmp_path, payloads))
    # the epoch values, as before: the last (running mean over the epoch) at each step
    assert run.series("train/box_loss").to_dict() == pytest.approx({e: e + 0.54 for e in range(1, 6)})
    assert run.series("metrics/mAP50(B)").to_dict() == pytest.approx({e: 0.1 * e for e in range(1, 6)})
    assert run.meta["replaced_points"] == run.meta["repeated_points"] == 2 * 5 * 54
    text = " ".join(run.meta["warnings"])
    assert "resumed" not in text
    assert (
        "train/box_loss, train/cls_loss hold about 55 values per step, written one after "
        "another at the same step (540 points in all): per-batch values logged at the "
        "epoch step"
    ) in text


def test_a_resumed_run_is_still_called_one(tmp_path):
    first = [_event(s, "loss", 1.0) for s in range(10)]
    again = [_event(s, "loss", 2.0) for s in range(6, 12)]  # restarted from step 6
    run = gradlog.load(_file(tmp_path, first + again))
    assert run.series("train/loss").to_dict() == {
        **{s: 1.0 for s in range(6)},
        **{s: 2.0 for s in range(6, 12)},
    }
    assert run.meta["replaced_points"] == 4 and run.meta["repeated_points"] == 0
    expected = (
        f"{run.meta['source']}: 4 points were logged again at a step already logged "
        "(a resumed run?); the later record was kept"
    )
    assert run.meta["warnings"] == [expected]


def test_symlink_loops_in_a_log_root(tmp_path):
    root = tmp_path / "logs"
    (root / "run1").mkdir(parents=True)
    _file(root / "run1", _good())
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")  # a -> b -> a
    (root / "run1" / "up").symlink_to(root)  # back up the tree
    (root / "run1" / "self").symlink_to(root / "run1")
    run = gradlog.load(root)
    assert run.series("train/loss").tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert [r.path.name for r in gradlog.discover(root)] == ["run1"]


def test_a_zero_filled_stretch_is_skipped_quickly(tmp_path):
    # a writer that died can leave a preallocated, zero-filled tail or hole: every offset
    # of it looked like a record header to check one by one (8 MiB took 74 s)
    import time

    good = b"".join(tfr.frame_record(x) for x in _good())
    p = tmp_path / "events.out.tfevents.1.zeros"
    p.write_bytes(good + bytes(4 << 20) + good)
    t0 = time.perf_counter()
    run = gradlog.load(p)
    assert time.perf_counter() - t0 < 5  # ~0.2 s here; was ~35 s
    assert run.meta["damage"][0]["bytes"] == 4 << 20
    assert run.meta["skipped"] == {"bad_records": 1}
    assert len(run.series("train/loss")) == 5


def test_a_cut_xz_event_file_keeps_the_records_before_the_cut(tmp_path):
    import lzma

    data = b"".join(tfr.frame_record(x) for x in [_event(s, "loss", float(s)) for s in range(400)])
    packed = lzma.compress(data)
    p = tmp_path / "events.out.tfevents.1.cut.xz"
    p.write_bytes(packed[: len(packed) * 2 // 3])
    run = gradlog.load(p)
    n = len(run.series("train/loss"))
    assert 0 < n < 400
    assert run.series("train/loss").index[-1] == n - 1
    assert "the compressed data is cut short or damaged" in run.meta["warnings"][0]
    with pytest.raises(DamagedInputError, match="the compressed data is cut short"):
        gradlog.load(p, strict=True)


def test_damaged_xz_data_is_a_stream_error_not_a_traceback(tmp_path):
    import lzma

    rng = __import__("random").Random(0)  # values that do not compress away
    data = b"".join(tfr.frame_record(_event(s, "loss", rng.random())) for s in range(6000))
    packed = bytearray(lzma.compress(data))
    packed[len(packed) * 3 // 4] ^= 0xFF  # lzma.LZMAError("Corrupt input data") past the head
    p = tmp_path / "events.out.tfevents.1.bad.xz"
    p.write_bytes(bytes(packed))
    run = gradlog.load(p)
    assert 2000 < len(run.series("train/loss")) < 6000
    assert "the compressed data is cut short or damaged" in run.meta["warnings"][0]
