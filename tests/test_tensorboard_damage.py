"""Damaged event files: bad CRCs skipped and counted, truncated tails, strict mode, bad inputs."""

from __future__ import annotations

import gzip
import io
import random
import struct

import pytest
from click.testing import CliRunner

import gradlog
from gradlog.cli import main as cli_main
from gradlog.errors import DamagedInputError, EmptyLogError, ParseError, UnknownFormatError
from gradlog.parsers import _tfrecord as tfr
from gradlog.parsers import tensorboard as tb

Event = tb._Event  # tensorboardX's Event definition (read without importing torch)

MLP_FIRST = "tensorboard/mlp_digits_resumed/events.out.tfevents.1700000000.gradlog-sample.1"
ROWS = 180 * 3 + 9 * 2 + 18 * 4 * 4  # 3 scalars per step, 9 val passes x 2, 72 histograms x 4
RECORDS = 631  # file_version + 630 summaries


def _spans(data: bytes) -> list[tuple[int, int]]:
    """Return (record start, payload length) of every record, walking the framing."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        out.append((pos, n))
        pos += 16 + n
    assert pos == len(data)
    return out


def _points(data: bytes, start: int, n: int) -> int:
    """Return how many frame rows one record contributes (scalars 1, histograms 4)."""
    ev = Event.FromString(data[start + 12 : start + 12 + n])
    return sum(1 if v.WhichOneof("value") == "simple_value" else 4 for v in ev.summary.value)


@pytest.fixture
def original(samples):
    return (samples / MLP_FIRST).read_bytes()


def _write(tmp_path, data: bytes, name: str = "events.out.tfevents.1.damaged") -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_the_undamaged_file(original, tmp_path):
    spans = _spans(original)
    assert len(spans) == RECORDS
    run = gradlog.load(_write(tmp_path, original))
    assert len(run.frame) == ROWS
    assert run.meta["records"] == RECORDS
    assert run.meta["skipped"] == {} and run.meta["damage"] == [] and run.meta["truncated"] == []


@pytest.mark.parametrize(
    "where, reason",
    [
        ("payload", "data_crc"),  # a bit flip in the event: its data CRC fails
        ("data_crc", "data_crc"),  # the stored data CRC itself is damaged
        ("length", "header"),  # the length no longer matches its CRC: resync on the next record
        ("length_crc", "header"),
    ],
)
def test_one_flipped_byte_in_a_middle_record(original, tmp_path, where, reason):
    spans = _spans(original)
    k = 315
    start, n = spans[k]
    offset = {
        "payload": start + 12 + n // 2,
        "data_crc": start + 12 + n + 1,
        "length": start + 1,
        "length_crc": start + 9,
    }[where]
    data = bytearray(original)
    data[offset] ^= 0x10
    p = _write(tmp_path, bytes(data))
    run = gradlog.load(p)
    lost = _points(original, start, n)
    assert lost == 1  # record 315 is a scalar event
    assert len(run.frame) == ROWS - 1
    assert run.meta["records"] == RECORDS - 1
    assert run.meta["skipped"] == {"bad_records": 1}
    assert run.meta["damage"] == [{"file": str(p), "offset": start, "bytes": 16 + n, "reason": reason}]
    assert run.meta["truncated"] == []
    assert any(f"byte {start}" in w and str(p) in w for w in run.meta["warnings"])
    # everything after the damage is there
    assert run.series("train/loss").index[-1] == 179
    with pytest.raises(DamagedInputError, match=f"byte {start}"):
        gradlog.load(p, strict=True)


def test_a_damaged_histogram_record_and_a_damaged_scalar_record(original, tmp_path):
    spans = _spans(original)
    hist = next(i for i in range(100, 200) if _points(original, *spans[i]) == 4)
    data = bytearray(original)
    for i in (hist, 500):
        start, n = spans[i]
        data[start + 12 + n - 3] ^= 0xFF
    run = gradlog.load(_write(tmp_path, bytes(data)))
    assert run.meta["skipped"] == {"bad_records": 2}
    assert [d["offset"] for d in run.meta["damage"]] == [spans[hist][0], spans[500][0]]
    assert len(run.frame) == ROWS - 4 - _points(original, *spans[500])


def test_garbage_between_records_is_skipped_as_one_stretch(original, tmp_path):
    spans = _spans(original)
    cut = spans[200][0]
    junk = random.Random(4).randbytes(1000)
    p = _write(tmp_path, original[:cut] + junk + original[cut:])
    run = gradlog.load(p)
    assert len(run.frame) == ROWS  # no record lost
    assert run.meta["damage"] == [{"file": str(p), "offset": cut, "bytes": 1000, "reason": "header"}]
    assert run.meta["skipped"] == {"bad_records": 1}


@pytest.mark.parametrize("keep", [20, 5])  # inside the last record's data; inside its header
def test_truncated_tail_keeps_every_complete_record(original, tmp_path, keep):
    spans = _spans(original)
    start, n = spans[-1]
    p = _write(tmp_path, original[: start + keep])
    run = gradlog.load(p)
    assert run.meta["truncated"] == [{"file": str(p), "offset": start, "bytes": keep}]
    assert run.meta["skipped"] == {} and run.meta["damage"] == []
    assert run.meta["records"] == RECORDS - 1
    assert len(run.frame) == ROWS - _points(original, start, n)
    assert any("ends inside a record" in w for w in run.meta["warnings"])
    with pytest.raises(DamagedInputError, match="ends inside a record"):
        gradlog.load(p, strict=True)


def test_truncated_gzip(original, tmp_path):
    packed = gzip.compress(original)
    p = _write(tmp_path, packed[: len(packed) // 2], "events.out.tfevents.1.host.gz")
    run = gradlog.load(p, format="tensorboard")
    assert 0 < len(run.frame) < ROWS
    assert len(run.meta["truncated"]) == 1 and run.meta["truncated"][0]["bytes"] is None
    assert any("compressed data is cut short" in w for w in run.meta["warnings"])
    with pytest.raises(DamagedInputError, match="compressed data is cut short"):
        gradlog.load(p, format="tensorboard", strict=True)


def test_zero_length_file(tmp_path):
    p = _write(tmp_path, b"", "events.out.tfevents.0.empty")
    with pytest.raises(EmptyLogError, match="empty file"):
        gradlog.load(p)
    with pytest.raises(EmptyLogError, match=f"{p}: empty file"):
        gradlog.load(p, format="tensorboard")


def test_random_bytes(tmp_path):
    p = _write(tmp_path, random.Random(7).randbytes(50_000), "random.bin")
    with pytest.raises(UnknownFormatError, match=str(p)):
        gradlog.load(p)
    for strict in (False, True):
        with pytest.raises(ParseError, match=f"{p}: not a TensorBoard event file .no valid record in 50000"):
            gradlog.load(p, format="tensorboard", strict=strict)


def test_valid_framing_that_holds_no_events(tmp_path):
    data = b"".join(tfr.frame_record(b"\xff\xfe not an event %d" % i) for i in range(3))
    p = _write(tmp_path, data, "records.tfrecord")
    assert not tb.sniff(gradlog.frame.source.Source.from_path(p))
    with pytest.raises(ParseError, match="first record at byte 0 is not an Event"):
        gradlog.load(p, format="tensorboard")


def test_a_file_with_no_scalars(tmp_path):
    ev = Event(wall_time=1.0, file_version="brain.Event:2")
    p = _write(tmp_path, tfr.frame_record(ev.SerializeToString()))
    with pytest.raises(EmptyLogError, match="no scalar or histogram in 1 events"):
        gradlog.load(p)


def test_cli_strict(original, tmp_path):
    spans = _spans(original)
    data = bytearray(original)
    data[spans[100][0] + 14] ^= 1
    p = _write(tmp_path, bytes(data))
    runner = CliRunner()
    bad = runner.invoke(
        cli_main,
        ["convert", str(p), "-o", str(tmp_path / "a.csv"), "--input-format", "tensorboard", "--strict"],
    )
    assert bad.exit_code == 2
    assert f"Error: {p}: byte {spans[100][0]}: a record whose data CRC does not match" in bad.output
    ok = runner.invoke(
        cli_main, ["convert", str(p), "-o", str(tmp_path / "b.csv"), "--input-format", "tensorboard"]
    )
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "b.csv").read_text().count("\n") == ROWS  # header + ROWS - 1 points


# -- the framing layer on its own -----------------------------------------------------------
def _scan(data: bytes, block: int):
    sc = tfr.RecordScanner(io.BytesIO(data), block_bytes=block)
    starts = [int(s) for b in sc.blocks() for s in b.starts + 0]
    return sc, len(starts)


def _damaged(original: bytes) -> bytes:
    spans = _spans(original)
    data = bytearray(original)
    data[spans[50][0] + 3] ^= 0x40  # length
    data[spans[60][0] + 20] ^= 0x01  # a later record's data
    cut = spans[400][0]
    junk = bytes(5000)  # zeros look like headers to the candidate search; none checks out
    return bytes(data[:cut]) + junk + bytes(data[cut : spans[-1][0] + 30])


@pytest.mark.parametrize("block", [4096, 4099, 1 << 14, 1 << 20])
def test_scanner_result_does_not_depend_on_block_size(original, block):
    sc, n = _scan(_damaged(original), block)
    spans = _spans(original)
    assert n == RECORDS - 3  # 50 and 60 damaged, the last one cut short
    assert [(d.offset, d.reason) for d in sc.damage] == [
        (spans[50][0], "header"),
        (spans[60][0], "data_crc"),
        (spans[400][0], "header"),
    ]
    assert sc.damage[2].nbytes == 5000
    assert sc.truncated is not None and sc.truncated.nbytes == 30


def test_adjacent_damaged_records_are_one_stretch(original):
    """After a bad header, reading resumes at the next record whose header AND data check."""
    spans = _spans(original)
    data = bytearray(original)
    data[spans[50][0] + 3] ^= 0x40
    data[spans[51][0] + 20] ^= 0x01
    sc, n = _scan(bytes(data), 1 << 20)
    assert n == RECORDS - 2
    assert [(d.offset, d.nbytes, d.reason) for d in sc.damage] == [
        (spans[50][0], spans[52][0] - spans[50][0], "header")
    ]


def test_masked_crc_matches_the_spec():
    # mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 mod 2**32, c = crc32c(data)
    import google_crc32c

    for data in (b"", b"a", bytes(range(256)) * 3):
        c = google_crc32c.value(data)
        assert tfr.masked_crc32c(data) == ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
