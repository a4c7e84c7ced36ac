"""Source: pipes and stdin lose nothing, FIFOs and devices read as streams, capped
decompression (gzip, bzip2, xz), vanished files and control characters in names."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import threading
import time

import pytest

import gradlog
from gradlog.errors import EmptyLogError, GradlogError, ParseError
from gradlog.frame import source as src_mod
from gradlog.frame.source import Source

CAFFE = "caffe_numpy_cnn_debug.log"  # 545 KB: far more than the 64 KiB head


def _pipe_path(data: bytes) -> tuple[str, threading.Thread]:
    """Return (a /dev/fd path reading a pipe, the thread writing ``data`` into it)."""
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as fh:
            for i in range(0, len(data), 4096):  # in small writes, as a running job would
                fh.write(data[i : i + 4096])

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    return f"/proc/self/fd/{r}", t


def test_a_caffe_log_through_a_pipe_loses_nothing(samples):
    data = (samples / CAFFE).read_bytes()
    whole = gradlog.load(samples / CAFFE)
    path, t = _pipe_path(data)
    piped = gradlog.load(path)
    t.join(5)
    # was 6,470 of 6,719 rows on a corpus log: the first 64 KiB vanished after detection
    assert len(piped.frame) == len(whole.frame)
    assert piped.frame["value"].tolist() == whole.frame["value"].tolist()
    assert piped.meta["format"] == "caffe"
    assert piped.meta.get("solver") == whole.meta.get("solver")


def test_a_csv_through_a_pipe_loses_nothing():
    rows = "".join(f"{i},{1.0 / (i + 1):.6f}\n" for i in range(20_000))
    data = ("step,loss\n" + rows).encode()
    assert len(data) > 3 * src_mod.HEAD_BYTES
    path, t = _pipe_path(data)
    run = gradlog.load(path)
    t.join(5)
    loss = run.series("train/loss")
    assert len(loss) == 20_000 and loss.index[0] == 0 and loss[19_999] == pytest.approx(5e-5)


def test_a_gzip_stream_through_a_pipe(samples):
    data = gzip.compress((samples / CAFFE).read_bytes())
    path, t = _pipe_path(data)
    run = gradlog.load(path)
    t.join(5)
    assert len(run.frame) == len(gradlog.load(samples / CAFFE).frame)


def test_a_named_pipe_with_a_writer_is_read_as_a_stream(tmp_path, samples):
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    data = (samples / CAFFE).read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(data)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    run = gradlog.load(fifo)
    t.join(5)
    assert len(run.frame) == len(gradlog.load(samples / CAFFE).frame)


def test_a_named_pipe_with_no_writer_does_not_block(tmp_path, monkeypatch):
    monkeypatch.setattr(src_mod, "FIFO_WAIT_SECONDS", 0.2)
    fifo = tmp_path / "nobody.fifo"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(
        EmptyLogError,
        match="nobody.fifo: a named pipe that nothing was "
        r"written to \(waited 0.2 s for a writer\)",
    ):
        gradlog.load(fifo)
    assert time.monotonic() - t0 < 2


def test_a_stream_a_format_reads_twice_gives_a_clear_error(samples):
    path, t = _pipe_path((samples / CAFFE).read_bytes())
    s = Source.from_path(path)
    assert s.path is None and s.is_stream and s.head.startswith(b"Log file created")
    s.open().close()
    with pytest.raises(GradlogError, match="stream was already read .* save it to a file"):
        s.open()
    t.join(5)


def test_an_endless_device_stops_at_the_stream_cap(monkeypatch):
    monkeypatch.setattr(src_mod, "MAX_STREAM_BYTES", 200_000)
    t0 = time.monotonic()
    with pytest.raises(
        ParseError, match="/dev/zero: the decompressed or streamed content is longer than 200000 bytes"
    ):
        gradlog.load("/dev/zero", format="hf_trainer")
    assert time.monotonic() - t0 < 2


def test_an_empty_device():
    with pytest.raises(EmptyLogError, match="/dev/null: empty file"):
        gradlog.load("/dev/null")


@pytest.mark.parametrize(
    "suffix, compress", [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)]
)
def test_compressed_logs_are_read(tmp_path, samples, suffix, compress):
    p = tmp_path / f"run.log{suffix}"
    p.write_bytes(compress((samples / CAFFE).read_bytes()))
    s = Source.from_path(p)
    assert s.compressed and s.suffix_name == "run.log" and s.head.startswith(b"Log file created")
    run = gradlog.load(p)
    assert len(run.frame) == len(gradlog.load(samples / CAFFE).frame)
    st = Source.from_stream(io.BytesIO(p.read_bytes()), name="mem")
    assert st.compression == s.compression and st.read_bytes() == (samples / CAFFE).read_bytes()


def test_a_decompression_bomb_stops_at_the_cap(tmp_path, monkeypatch):
    # 2 MB .csv.gz of repeated rows went past 8 GB; here 1 MiB of expanded data is allowed
    rows = b"1,0.5\n" * (3 << 20)  # 18 MiB expanded, ~18 KB compressed
    p = tmp_path / "bomb.csv.gz"
    p.write_bytes(gzip.compress(b"step,loss\n" + rows))
    monkeypatch.setenv("GRADLOG_MAX_STREAM_BYTES", str(1 << 20))
    with pytest.raises(
        ParseError,
        match=r"bomb\.csv\.gz: the decompressed or streamed content "
        r"is longer than 1048576 bytes.*GRADLOG_MAX_STREAM_BYTES",
    ):
        gradlog.load(p)
    monkeypatch.setenv("GRADLOG_MAX_STREAM_BYTES", "lots")
    with pytest.raises(GradlogError, match="GRADLOG_MAX_STREAM_BYTES='lots': not a positive"):
        gradlog.load(p)


def test_the_cap_is_per_source_too(tmp_path):
    p = tmp_path / "x.log.gz"
    p.write_bytes(gzip.compress(b"x" * 100_000))
    assert len(Source.from_path(p).read_bytes()) == 100_000
    with pytest.raises(ParseError, match="longer than 50000 bytes"):
        Source.from_path(p, max_bytes=50_000).read_bytes()
    with pytest.raises(ParseError, match="longer than 99999 bytes, the most this format reads"):
        Source.from_path(p).read_bytes(max_bytes=99_999)


def test_a_cut_gzip_keeps_its_head(tmp_path, samples):
    raw = (samples / CAFFE).read_bytes()
    data = gzip.compress(raw)
    p = tmp_path / "cut.log.gz"
    p.write_bytes(data[:2000])  # cut inside the first 64 KiB of content
    s = Source.from_path(p)
    assert s.head_error is not None and 1000 < len(s.head) < src_mod.HEAD_BYTES
    assert raw.startswith(s.head)
    p.write_bytes(data[: len(data) // 2])  # cut further on: the head is whole
    s = Source.from_path(p)
    assert s.head == raw[: src_mod.HEAD_BYTES] and s.head_error is None


def test_a_file_removed_after_it_was_found(tmp_path):
    p = tmp_path / "gone.log"
    p.write_bytes(b"I1204 solver.cpp:228] Iteration 0, loss = 1\n")
    s = Source.from_path(p)
    p.unlink()
    with pytest.raises(GradlogError, match=r"gone\.log: no longer exists"):
        s.open()
    with pytest.raises(GradlogError, match=r"gone\.log: no longer exists"):
        s.read_bytes()


def test_a_symlink_loop_is_a_gradlog_error(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(GradlogError, match="a: too many levels of symbolic links"):
        Source.from_path(tmp_path / "a")


def test_control_characters_in_names_are_escaped(tmp_path):
    bad = tmp_path / "x\ny\x1b[2J\u2028.log"
    with pytest.raises(GradlogError) as info:
        Source.from_path(bad)
    assert str(info.value).endswith("x\\ny\\x1b[2J\\u2028.log: no such file or directory")
    bad.write_bytes(b"\x00\x01 not a log")
    with pytest.raises(GradlogError) as info:
        gradlog.load(bad)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)
    assert src_mod.display_name("plain name é.log") == "plain name é.log"


def test_memoised_computes_once_per_source_and_not_on_error(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("step,loss\n0,1.5\n1,1.25\n")
    calls: list[int] = []

    def header(s: Source) -> bytes:
        calls.append(1)
        return s.head.split(b"\n", 1)[0]

    s = Source.from_path(p)
    assert s.memoised("header", header) == b"step,loss"
    assert s.memoised("header", header) == b"step,loss"
    assert len(calls) == 1
    # another Source of the same file asks again (the memo lives with the Source)
    assert Source.from_path(p).memoised("header", header) == b"step,loss"
    assert len(calls) == 2

    def broken(_s: Source) -> int:
        calls.append(1)
        raise ValueError("boom")

    for _ in range(2):
        with pytest.raises(ValueError):
            s.memoised("broken", broken)
    assert len(calls) == 4  # a failure is not kept
