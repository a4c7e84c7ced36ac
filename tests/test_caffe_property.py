"""Property tests of the Caffe reader (hypothesis).

Arbitrary bytes, and real logs with random lines cut, duplicated or garbled, give a
frame or a GradlogError, never another exception; and damage never moves a value to
another iteration: every row of a damaged log is a row of the clean log (cuts and
duplicates), or at least sits on an iteration the clean log has (garbled lines, which
may change a value or a name but carry no digits of their own).
"""

from __future__ import annotations

import io
import os
import tempfile

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gradlog.errors import GradlogError
from gradlog.frame import validate_frame
from gradlog.frame.source import Source
from gradlog.parsers import caffe
from gradlog.parsers.caffe import bulk as caffe_bulk
from gradlog.parsers.caffe import stream as caffe_stream

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def parse(data: bytes, *, as_file: bool = False):
    """Read bytes as a Caffe log (from a stream, or from a file): (frame, meta) or
    (None, None) on a GradlogError."""
    try:
        if as_file:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "fuzz.log")
                with open(path, "wb") as fh:
                    fh.write(data)
                res = caffe.read(Source.from_path(path))
        else:
            res = caffe.read(Source.from_stream(io.BytesIO(data), name="fuzz"))
    except GradlogError:
        return None, None
    validate_frame(res.frame)
    return res.frame, res.meta


def rows(frame) -> set[tuple[str, int, float]]:
    if frame is None:
        return set()
    return {
        (str(t), int(s), float(v))
        for t, s, v in zip(frame["tag"], frame["step"], frame["value"], strict=False)
        if v == v
    }


def old_caffe_lines() -> list[bytes]:
    """Older Caffe: debug_info on every iteration with [Update] lines, display 3, tests."""
    out = []
    t = [0.0]

    def add(msg: str, src: str = "solver.cpp:218", level: str = "I") -> None:
        t[0] += 0.001
        out.append(f"{level}0412 10:00:{t[0]:09.6f}  4321 {src}] {msg}".encode())

    add("Solving Old", "solver.cpp:288")
    for it in range(8):
        if it % 3 == 0:
            add(f"Iteration {it}, Testing net (#0)", "solver.cpp:338")
            add(f"    Test net output #0: accuracy = 0.{it + 1}", "solver.cpp:406")
        add(f"    [Forward] Layer conv1, top blob conv1 data: {it}.125", "net.cpp:608")
        add(f"    [Forward] Layer conv1, param blob 0 data: {it}.25", "net.cpp:620")
        add(f"    [Backward] Layer loss, bottom blob conv1 diff: {it}.375", "net.cpp:636")
        add(f"    [Backward] Layer conv1, param blob 0 diff: {it}.5", "net.cpp:647")
        add(
            f"    [Backward] All net params (data, diff): L1 norm = ({it}.5, {it}.625); "
            f"L2 norm = ({it}.75, {it}.875)",
            "net.cpp:736",
            "E",
        )
        if it % 3 == 0:
            add(f"Iteration {it}, loss = {it}.0625")
            add(f"    Train net output #0: loss = {it}.03125 (* 1 = {it}.03125 loss)", "solver.cpp:237")
            add(f"Iteration {it}, lr = 0.01", "solver.cpp:467")
        if it % 2:
            add(
                f"Gradient clipping: scaling down gradients (L2 norm {it}.875 > 1) by scale factor 0.5",
                "sgd_solver.cpp:92",
            )
        add(f"    [Update] Layer conv1, param 0 data: {it}.1875; diff: {it}.3125", "net.cpp:758")
    return out


def sample_lines() -> list[bytes]:
    """The start of the bundled debug_info sample (current Caffe): about 12 display blocks."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "sample_logs" / "caffe_numpy_cnn_debug.log"
    lines = path.read_bytes().split(b"\n")
    end = next(i for i, ln in enumerate(lines) if b"] Iteration 110 (" in ln) + 3
    return lines[:end]


BASES = {"old": old_caffe_lines(), "current": sample_lines()}
CLEAN = {k: parse(b"\n".join(v) + b"\n") for k, v in BASES.items()}

JUNK = st.binary(min_size=1, max_size=6).map(
    lambda b: bytes(c for c in b if c not in b"0123456789\n") or b"#"
)


OPS = st.tuples(st.sampled_from(["cut", "dup", "garble"]), st.integers(0, 10**6), st.integers(0, 200), JUNK)


def apply(base: str, ops: list[tuple[str, int, int, bytes]]) -> tuple[bytes, bool]:
    """The base log with ``ops`` applied: (bytes, whether a line was garbled)."""
    lines = list(BASES[base])
    garbled = False
    for op, i, pos, junk in ops:
        i %= len(lines)
        if op == "cut":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        else:
            garbled = True
            line = lines[i]
            how = pos % 3
            p = pos % (len(line) + 1)
            if how == 0:
                lines[i] = line[:p] + junk + line[p:]
            elif how == 1:
                lines[i] = line[:p]
            else:
                lines[i] = junk
    return b"\n".join(lines) + b"\n", garbled


def test_the_clean_bases_read():
    old, meta = CLEAN["old"]
    assert meta["caffe"]["runs"][0]["debug_info"] == "every_iteration"
    assert sorted(set(old["step"])) == list(range(8))
    cur, meta = CLEAN["current"]
    assert meta["caffe"]["runs"][0]["debug_info"] == "display_only"
    assert int(cur["step"].max()) == 110


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_give_a_frame_or_a_gradlog_error(data):
    # (read from a file: gzip-looking bytes are then checked by Source.from_path)
    parse(data, as_file=True)


@SETTINGS
@given(st.binary(max_size=3000).map(lambda b: b"I0412 10:00:00.000000 1 solver.cpp:1] " + b))
def test_arbitrary_bytes_after_a_glog_prefix_from_a_stream(data):
    parse(data)


GLOGISH = st.lists(
    st.one_of(
        st.sampled_from(old_caffe_lines() + sample_lines()[:300]),
        st.binary(max_size=80),
        st.builds(
            lambda a, b: b"I0412 10:00:00.000001  4321 net.cpp:1] " + a + b" " + b,
            st.sampled_from(
                [
                    b"[Forward] Layer a, top blob b data:",
                    b"Iteration",
                    b"Iteration 5,",
                    b"Iteration 5, loss =",
                    b"    Train net output #0: x =",
                    b"[Backward] All net params (data, diff): L1 norm =",
                    b"[Update] Layer a, param 0 data:",
                    b"Testing net",
                    b"Solving",
                ]
            ),
            st.binary(max_size=12),
        ),
    ),
    max_size=60,
)


@SETTINGS
@given(GLOGISH)
def test_shuffled_real_and_broken_lines_never_crash(lines):
    parse(b"\n".join(lines) + b"\n", as_file=True)


@SETTINGS
@given(
    st.sampled_from(sorted(BASES)), st.lists(OPS.filter(lambda o: o[0] != "garble"), min_size=1, max_size=4)
)
def test_cut_or_duplicated_lines_never_move_a_value(base, ops):
    data, _ = apply(base, ops)
    frame, _meta = parse(data)
    assert frame is not None
    assert rows(frame) <= rows(CLEAN[base][0])


@SETTINGS
@given(st.sampled_from(sorted(BASES)), st.lists(OPS, min_size=1, max_size=4))
def test_garbled_lines_never_invent_an_iteration(base, ops):
    data, garbled = apply(base, ops)
    frame, _meta = parse(data)
    if frame is None:
        return
    clean = CLEAN[base][0]
    steps = set(int(s) for s in clean["step"])
    by_tag = {}
    for t, s in zip(clean["tag"], clean["step"], strict=False):
        by_tag.setdefault(str(t), set()).add(int(s))
    for t, s in zip(frame["tag"], frame["step"], strict=False):
        assert int(s) in by_tag.get(str(t), steps), (t, s)
    if not garbled:
        assert rows(frame) <= rows(clean)


#: The most iterations one cut line may cost: its own block and the one after it
#: (current Caffe); in old Caffe, which prints every iteration, the blocks of the two
#: display intervals around it (display 3), whose iterations are no longer certain.
MAX_LOST_STEPS = {"current": 2, "old": 6}


@pytest.mark.parametrize("base", sorted(BASES))
def test_every_single_line_cut_keeps_the_rest(base):
    """Exhaustive: cutting any one line moves no value, and loses only the values of the
    few iterations around it (the rest is still read)."""
    clean = rows(CLEAN[base][0])
    lines = BASES[base]
    for i in range(len(lines)):
        frame, _ = parse(b"\n".join(lines[:i] + lines[i + 1 :]) + b"\n")
        got = rows(frame)
        assert got <= clean, i
        lost_steps = {s for _t, s, _v in clean - got}
        assert len(lost_steps) <= MAX_LOST_STEPS[base], (i, sorted(lost_steps))


# -- the bulk reading of plain lines gives what the line-by-line reading gives -----------------------
def plain_lines(year: bool = False, rate: bool = True, test_loss: bool = False) -> list[bytes]:
    """A plain (no debug_info) log: losses (with rates: Caffe 1.0), three train outputs,
    lr, two test nets (``test_loss``: each test pass ends with ``Test loss: X``, as
    with ``test_compute_loss``)."""
    out = []
    t = [0.0]

    def add(msg: str, src: str = "solver.cpp:218") -> None:
        t[0] += 0.37
        h, rest = divmod(t[0], 3600)
        m, s = divmod(rest, 60)
        day = "20160412" if year else "0412"
        out.append(f"I{day} {10 + int(h):02d}:{int(m):02d}:{s:09.6f} 30876 {src}] {msg}".encode())

    add("Solving GoogleNet", "solver.cpp:288")
    for it in range(0, 90):
        if it % 30 == 0:
            for net in (0, 1):
                add(f"Iteration {it}, Testing net (#{net})", "solver.cpp:338")
                for k, name in enumerate(("top-1", "top-1", "loss")):
                    add(f"    Test net output #{k}: {name} = 0.{it}{k}{net}", "solver.cpp:406")
                if test_loss:
                    add(f"Test loss: 1.{it}{net}", "solver.cpp:398")
        if rate:
            add(f"Iteration {it} (3.{it} iter/s, 6.2s/20 iters), loss = {it}.5")
        else:
            add(f"Iteration {it}, loss = {it}.5")
        for k, (name, w) in enumerate((("loss1/loss1", "0.3"), ("loss2/loss1", "0.3"), ("loss3/loss3", "1"))):
            add(f"    Train net output #{k}: {name} = {it}.{k}25 (* {w} = 1.5 loss)", "solver.cpp:237")
        add(f"Iteration {it}, lr = {0.01 if it < 50 else 0.001}", "sgd_solver.cpp:106")
    return out


PLAIN = {
    "rate": plain_lines(),
    "year": plain_lines(year=True),
    "old": plain_lines(rate=False),
    "testloss": plain_lines(test_loss=True),
}
#: Lines a plain log has now and then, and values a damaged one has.
ODD_LINES = [
    b"I0412 10:00:00.500000 30876 solver.cpp:456] Snapshotting to binary proto file a.caffemodel",
    b"I0412 10:00:00.500000 30876 blocking_queue.cpp:50] Data layer prefetch queue empty",
    b"I0412 10:00:00.500000 30876 solver.cpp:398] Test loss: 0.5",
    b"I0412 10:00:00.500000 30876 solver.cpp:288] Solving GoogleNet",
    b"I0412 10:00:00.500000 30876 solver.cpp:400] Restoring previous solver status from a",
    b"I0412 10:00:00.500000 30876 sgd_solver.cpp:92] Gradient clipping: scaling down "
    b"gradients (L2 norm 40 > 35) by scale factor 0.8",
    b"F0412 10:00:00.500000 30876 syncedmem.cpp:56] Check failed: error == cudaSuccess",
    b"I20160412 10:00:00.500000 30876 solver.cpp:218] Iteration 7, loss = 0.5",
    b"I0412 10:00:00.500000 30876 net.cpp:608]     [Forward] Layer data, top blob data data: 1",
    b"a print from a Python layer",
    b"",
    b"I0412 10:00:00.500000 30876 x.cpp:1] ",
    b"I0412 10:00:00.500000 30876 solver.cpp:218] Iteration 1, loss = 0.5\rprogress 50%",
    b"I0412 10:00:00.500000 30876 solver.cpp:218] Iteration 3, loss = 0.25",
    b"I0412 10:00:00.500000 30876 solver.cpp:48] Initializing solver from parameters: ",
    b"base_lr: 0.01",
    b"I0412 10:00:05.200000 30876 solver.cpp:218] Iteration 0 (3.0 iter/s, 6.2s/20 iters), loss = 0.5",
    # 17-: shapes the bulk scanner must leave to the line-by-line reading
    b"I0412 10:00:00.500000 30876 solver.cpp:237]     Train net output #2: loss3/loss3 = 1 (* 2 = 2 loss)",
    b"I0412 10:00:00.500000 30876 solver.cpp:237]     Train net output #0: loss1/loss1 = 1 "
    b"(* 0.3 = 0.3 loss) x",
    b"I0412 10:00:00.500000 30876 net.cpp:636]     [Backward] Layer fc, bottom blob x diff: 1",
    b"I0412 10:00:00.500000 30876 x.cpp:1] [weird] message",
    b"I0412 10:00:00.500000 30]876 solver.cpp:218] Iteration 5, loss = 1",
    b"I0412 10:00:00.500000 30876solver.cpp:218] Iteration 5, lr = 1",
    b"I0412 10:00:00.500000 30876 solver.cpp:218 Iteration 5, lr = 1",
    b"I0412 10:00:00.500000 30876 solver.cpp:338] Iteration 30, Testing net (#1]",
    b"I0412 10:00:00.500000 30876 sgd_solver.cpp:106] Iteration 5, lr =  0.1",
    b"I0412 10:00:00.500000 30876 sgd_solver.cpp:106] Iteration 5, lr = 0.1 ",
    b"I0412 10:00:00.500000 30876 x.cpp:1] [Fwd] x: 1",
    b"I0412 10:00:00.500000 30876 solver.cpp:237]     Train net output #0: loss1/loss1 =10.5",
    b"I0412 10:00:00.500000 30876 solver.cpp:218] Iteration 39 (3.2 iter/s, 6.2s/20 iters), lr = 0.1",
]
ODD_VALUES = [
    b"nan",
    b"-nan",
    b"inf",
    b"1.#INF",
    b"-1.#IND",
    b"1e5",
    b"1,5",
    b" 1",
    b"1 ",
    b"",
    b"abc",
    b"1_0",
    b"+1",
    b"-0",
    b"0.00001234567890123456789",
    b"1e-400",
    b"3.",
]

PLAIN_OPS = st.tuples(
    st.sampled_from(["cut", "dup", "garble", "insert", "value"]),
    st.integers(0, 10**6),
    st.integers(0, 200),
    JUNK,
    st.sampled_from(ODD_LINES),
    st.sampled_from(ODD_VALUES),
)


def damage(lines: list[bytes], ops: list) -> bytes:
    """``lines`` with ``ops`` applied (cut, duplicated, garbled or inserted lines, odd values)."""
    lines = list(lines)
    for op, i, pos, junk, odd, value in ops:
        i %= len(lines)
        line = lines[i]
        if op == "cut":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "insert":
            lines.insert(i, odd)
        elif op == "value":
            at = line.rfind(b" = ")
            if at >= 0:
                end = line.find(b" ", at + 3)
                lines[i] = line[: at + 3] + value + (line[end:] if end >= 0 else b"")
        else:
            p = pos % (len(line) + 1)
            lines[i] = line[:p] + junk + line[p:]
    return b"\n".join(lines) + b"\n"


def read_plain(data: bytes, *, bulk: bool, chunk: int):
    """(frame, meta, roles) of ``data``, or the GradlogError's message."""
    saved = caffe_stream.CHUNK_BYTES, caffe_bulk.PLAIN_MIN_BYTES, caffe_bulk.PLAIN_MIN_RUN
    caffe_stream.CHUNK_BYTES = chunk
    caffe_bulk.PLAIN_MIN_BYTES, caffe_bulk.PLAIN_MIN_RUN = (64, 2) if bulk else (1 << 62, 2)
    try:
        res = caffe.read(Source.from_stream(io.BytesIO(data), name="plain"))
        return res.frame, res.meta, res.roles
    except GradlogError as exc:
        return str(exc)
    finally:
        caffe_stream.CHUNK_BYTES, caffe_bulk.PLAIN_MIN_BYTES, caffe_bulk.PLAIN_MIN_RUN = saved


def _op(op: str, i: int, odd: int = 0, value: bytes = b"") -> tuple:
    return (op, i, 0, b"#", ODD_LINES[odd], value)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(PLAIN)), st.lists(PLAIN_OPS, max_size=12), st.sampled_from([700, 4096, 1 << 16])
)
# the first rate of the run logged again after a rare line (it is not kept either)
@example("rate", [_op("insert", 14, 9), _op("insert", 15, 16)], 4096)
# the counter going back (a restart) in the middle of common lines
@example("rate", [_op("insert", 200, 13)], 4096)
# a solver parameter dump cut short: the common lines after it end it
@example("old", [_op("insert", 400, 15), _op("insert", 99, 14)], 4096)
# a relaunch between a loss line and its outputs: the new run starts with the old outputs
@example("old", [_op("insert", 100, 14)], 4096)
# lines of odd shapes among common ones (each must read as line by line reads it)
@example("rate", [_op("insert", 200 + 7 * k, 17 + k) for k in range(10)], 4096)
@example("rate", [_op("insert", 212, 21)], 4096)  # (212: after an lr line)
@example("rate", [_op("insert", 212, 22)], 4096)
@example("rate", [_op("insert", 212, 25)], 4096)
@example("rate", [_op("insert", 208, 28)], 4096)  # (208: after a loss line)
@example("rate", [_op("insert", 212, 29)], 4096)
@example("rate", [_op("insert", 212, 26)], 4096)
@example("rate", [_op("insert", 212, 27)], 4096)
@example("rate", [_op("value", 207, 0, b" 1"), _op("value", 211, 0, b"1 ")], 4096)
def test_plain_lines_read_in_bulk_as_line_by_line(base, ops, chunk):
    data = damage(PLAIN[base], ops)
    fast = read_plain(data, bulk=True, chunk=chunk)
    slow = read_plain(data, bulk=False, chunk=chunk)
    if isinstance(slow, str) or isinstance(fast, str):
        assert fast == slow
        return
    assert fast[0].equals(slow[0])
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]


def test_the_plain_base_is_read_in_bulk():
    lines = {"bulk": 0}
    bulk = caffe_bulk.read_common

    def counting(rd, sc, data, a, b):
        stop = bulk(rd, sc, data, a, b)
        lines["bulk"] += (b - a) if stop < 0 else 0
        return stop

    caffe_bulk.read_common = counting
    try:
        frame, meta, _roles = read_plain(b"\n".join(PLAIN["rate"]) + b"\n", bulk=True, chunk=4096)
    finally:
        caffe_bulk.read_common = bulk
    assert lines["bulk"] > 0.8 * len(PLAIN["rate"])
    # 6 rows an iteration (loss, rate, 3 outputs, lr) but the run's first rate, and 3 tests
    # of 2 nets with 3 outputs each
    assert len(frame) == 90 * 6 - 1 + 3 * 2 * 3
    assert meta["skipped"] == {"first_rate_of_run": 1}


def test_test_loss_lines_are_read_in_bulk():
    """``Test loss: X`` lines (a test net's total loss) among common lines keep the
    stretch in bulk and give test<k>/total_loss at the Testing line's iteration."""
    lines = {"bulk": 0}
    bulk = caffe_bulk.read_common

    def counting(rd, sc, data, a, b):
        stop = bulk(rd, sc, data, a, b)
        lines["bulk"] += (b - a) if stop < 0 else 0
        return stop

    data = b"\n".join(PLAIN["testloss"]) + b"\n"
    caffe_bulk.read_common = counting
    try:
        fast = read_plain(data, bulk=True, chunk=4096)
    finally:
        caffe_bulk.read_common = bulk
    slow = read_plain(data, bulk=False, chunk=4096)
    assert lines["bulk"] > 0.8 * len(PLAIN["testloss"])
    assert fast[0].equals(slow[0]) and fast[1] == slow[1] and fast[2] == slow[2]
    frame = fast[0]
    for net in (0, 1):
        got = frame[frame["tag"] == f"test{net}/total_loss"]
        assert got["step"].tolist() == [0, 30, 60]
        assert got["value"].tolist() == [float(f"1.{it}{net}") for it in (0, 30, 60)]
