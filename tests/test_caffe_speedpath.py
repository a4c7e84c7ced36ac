"""The Caffe reader's fast paths give exactly what the line-by-line reading gives.

- parameter dumps (the solver's and the nets' protobuf text Caffe prints at start) read
  in bulk among plain lines: the same frame, meta (dump and other-line counts, the
  solver's parameters) and roles as line by line, whatever odd lines come among them;
- numbers of Caffe's plain decimal form converted in bulk (:func:`swar.decimals`): the
  very float ``float(text)`` gives, and every other text left to ``float``;
- the corpus's real logs, one after the other (the benchmark's ``corpus`` shape), read
  in the usual 2 MiB chunks: bulk and line by line agree.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gradlog.errors import GradlogError
from gradlog.frame.source import Source
from gradlog.parsers import caffe
from gradlog.parsers.caffe import bulk as caffe_bulk
from gradlog.parsers.caffe import plain as caffe_plain
from gradlog.parsers.caffe import stream as caffe_stream
from gradlog.parsers.caffe import swar


def _glog(t: float, msg: str, src: str = "solver.cpp:218") -> bytes:
    m, s = divmod(t, 60)
    return f"I0412 10:{int(m):02d}:{s:09.6f} 30876 {src}] {msg}".encode()


SOLVER_DUMP = [
    b"test_iter: 100",
    b"test_interval: 30",
    b"base_lr: 0.01",
    b"display: 1",
    b'lr_policy: "step"',
    b"net_param {",
    b'  name: "inline"',
    b"  layer {",
    b"    base_lr: 7",  # (inside the net: not the solver's)
    b"  }",
    b"}",
    b"momentum: 0.9",
    b"stepvalue: 100",
    b"stepvalue: 200",
    b"weight_decay: 0.0005",
]
NET_DUMP = [
    b'name: "GoogleNet"',
    b"state {",
    b"  phase: TRAIN",
    b"}",
    b"layer {",
    b'  name: "data"',
    b'  type: "Data"',
    b"  transform_param {",
    b"    mirror: true",
    b"    crop_size: 224",
    b"  }",
    b"  convolution_param{",
    b"    num_output: 64",
    b"  }",
    b"}",
] * 3


def dump_log() -> list[bytes]:
    """A plain log that starts as Caffe starts: the solver's parameters (with a net inline),
    two nets' parameters among glog lines, then training."""
    out: list[bytes] = []
    t = [0.0]

    def add(msg: str, src: str = "solver.cpp:218") -> None:
        t[0] += 0.37
        out.append(_glog(t[0], msg, src))

    add("Initializing solver from parameters: ", "solver.cpp:48")
    out.extend(SOLVER_DUMP)
    add("Creating training net from net file: train_val.prototxt", "solver.cpp:91")
    for _ in range(2):
        add("Initializing net from parameters: ", "net.cpp:49")
        out.extend(NET_DUMP)
        for k in range(40):
            add(f"Setting up conv{k}", "net.cpp:184")
            add(f"Top shape: 32 64 {k} {k} ({k})", "net.cpp:191")
    add("Solving GoogleNet", "solver.cpp:288")
    add("Learning Rate Policy: step", "solver.cpp:289")
    for it in range(60):
        if it % 30 == 0:
            add(f"Iteration {it}, Testing net (#0)", "solver.cpp:338")
            add(f"    Test net output #0: accuracy = 0.{it + 1}", "solver.cpp:406")
        add(f"Iteration {it} (3.{it} iter/s, 6.2s/20 iters), loss = {it}.5")
        add(f"    Train net output #0: loss = {it}.25 (* 1 = {it}.25 loss)", "solver.cpp:237")
        add(f"Iteration {it}, lr = {0.01 if it < 40 else 0.001}", "sgd_solver.cpp:106")
    return out


BASE = dump_log()
#: Lines a dump has, or could have among it, of every shape the scanner must judge.
ODD = [
    b"xError: 1",  # (CRASH_LINE_RE: an error line, not a dump's)
    b"Error: out of memory",
    b"terminate called after throwing an instance of 'std::bad_alloc'",
    b"  name:",  # (no value: not a proto line)
    b"  name:x",
    b"  name :x",
    b"  name: x ",
    b"layer{",
    b"layer {",
    b"layer  {",
    b"}",
    b"}  ",
    b"  } x",
    b"{",
    b"I2: 5",
    b"E0: 1",
    b"F1 {",
    b"i2: 5",
    b"foo-bar: 1",
    b"foo.bar: 1",
    b"_x: 1",
    b"9x: 1",
    b"a" * 31 + b": 1",
    b"a" * 32 + b": 1",
    b"a" * 40 + b": 1",
    b" " * 16 + b"deep: 1",
    b" " * 17 + b"deeper: 1",
    b"\tname: 1",
    b"  name: caf\xc3\xa9",
    b"  name: \x01",
    b"",
    b"   ",
    b"    @     0x7f2f5a1c1daa  caffe::Solver::Step()",
    b"*** Check failure stack trace: ***",
    b"Log file created at: 2016/04/12 10:00:00",
    b"Running on machine: host",
    b"a print from a Python layer",
    b"OFM 0: GLen:128 LLen:128",
    b"Rank:0: Finalize:ComputeOp: DataColor256(0) - 0 in, 2 out",
    b"WT 1: GLen:64 LLen:64 { NeedComms:False",
    b"Error 5: x",
    b"Traceback 5",
    b"I 5 x",
    b"Abcdefgh 5",
    b"Abcdefghi 5",
    b"OFM 0:\tx",
    b"OFM 0: caf\xc3\xa9",
    b'  type: "Data" { }',
    b"  stepvalue: 300",
    b"base_lr: 0.5",
    b"net_param {",
    b"  }}",
    _glog(1.0, "Initializing net from parameters: ", "net.cpp:49"),
    _glog(1.0, "Initializing solver from parameters: ", "solver.cpp:48"),
    _glog(1.0, "", "net.cpp:49"),
    _glog(1.0, "Creating layer conv1", "net.cpp:100"),
    _glog(1.0, "    [Forward] Layer data, top blob data data: 1", "net.cpp:608"),
]

OPS = st.tuples(
    st.sampled_from(["cut", "dup", "insert"]),
    st.integers(0, 10**6),
    st.sampled_from(range(len(ODD))),
    st.integers(1, 5),
)


def damage(ops: list) -> bytes:
    lines = list(BASE)
    for op, i, odd, times in ops:
        i %= len(lines)
        if op == "cut":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        else:
            lines[i:i] = [ODD[odd]] * times
    return b"\n".join(lines) + b"\n"


def read(data: bytes, *, bulk: bool, chunk: int):
    """(frame, meta, roles) of ``data`` read in bulk or line by line, or the error."""
    saved = caffe_stream.CHUNK_BYTES, caffe_bulk.PLAIN_MIN_BYTES, caffe_bulk.PLAIN_MIN_RUN
    caffe_stream.CHUNK_BYTES = chunk
    caffe_bulk.PLAIN_MIN_BYTES, caffe_bulk.PLAIN_MIN_RUN = (64, 2) if bulk else (1 << 62, 2)
    try:
        res = caffe.read(Source.from_stream(io.BytesIO(data), name="dumps"))
        return res.frame, res.meta, res.roles
    except GradlogError as exc:
        return str(exc)
    finally:
        caffe_stream.CHUNK_BYTES, caffe_bulk.PLAIN_MIN_BYTES, caffe_bulk.PLAIN_MIN_RUN = saved


def same(data: bytes, chunk: int) -> None:
    fast = read(data, bulk=True, chunk=chunk)
    slow = read(data, bulk=False, chunk=chunk)
    if isinstance(slow, str) or isinstance(fast, str):
        assert fast == slow
        return
    assert fast[0].equals(slow[0])
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]


def test_the_dumps_are_read_in_bulk_and_counted():
    data = b"\n".join(BASE) + b"\n"
    lines = {"bulk": 0, "solver": 0}
    real, real_solver = caffe_bulk.read_common, caffe_bulk.read_solver_dump

    def counting(rd, sc, data_, a, b):
        stop = real(rd, sc, data_, a, b)
        lines["bulk"] += (b - a) if stop < 0 else 0
        return stop

    def counting_solver(rd, sc, data_, a, b):
        head = real_solver(rd, sc, data_, a, b)
        lines["solver"] += head - a
        return head

    caffe_bulk.read_common, caffe_bulk.read_solver_dump = counting, counting_solver
    try:
        fast = read(data, bulk=True, chunk=1 << 16)
    finally:
        caffe_bulk.read_common, caffe_bulk.read_solver_dump = real, real_solver
    slow = read(data, bulk=False, chunk=1 << 16)
    assert fast[0].equals(slow[0]) and fast[1] == slow[1] and fast[2] == slow[2]
    meta = fast[1]
    assert meta["skipped"]["parameter_dump_lines"] == len(SOLVER_DUMP) + 2 * len(NET_DUMP)
    solver = meta["caffe"]["runs"][0]["solver"]
    assert solver["base_lr"] == 0.01  # (not the 7 of the net inside it)
    assert solver["stepvalue"] == [100, 200] and solver["momentum"] == 0.9
    # the net dumps and the glog lines around them: in bulk
    assert lines["bulk"] >= 2 * len(NET_DUMP) + 150
    assert lines["solver"] == len(SOLVER_DUMP)


def test_every_dump_line_shape_is_classified_as_the_line_by_line_reading_reads_it():
    """Each odd line, a few times, inside a solver dump, inside a net dump, and after a
    glog line (no dump): the same result in bulk and line by line."""
    solver_at = 3
    net_at = len(SOLVER_DUMP) + 5
    after_glog = len(SOLVER_DUMP) + len(NET_DUMP) + 10
    for k in range(len(ODD)):
        for at in (solver_at, net_at, after_glog):
            same(damage([("insert", at, k, 3)]), 4096)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, max_size=10), st.sampled_from([700, 4096, 1 << 16]))
@example([("cut", 1, 0, 1)], 4096)  # the solver's dump without its first parameter
@example([("insert", 10, ODD.index(b"net_param {"), 1), ("insert", 60, ODD.index(b"net_param {"), 1)], 4096)
@example([("insert", 40, ODD.index(_glog(1.0, "", "net.cpp:49")), 1)], 4096)  # (an empty glog message)
def test_damaged_dumps_read_in_bulk_as_line_by_line(ops, chunk):
    same(damage(ops), chunk)


# -- numbers -------------------------------------------------------------------------------------------
def decimals(texts: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    data = b" ".join(texts) + b" "
    lens = np.array([len(t) for t in texts], dtype=np.int64)
    lo = np.concatenate([[0], np.cumsum(lens + 1)[:-1]]).astype(np.int64)
    buf = np.zeros(len(data) + swar.PAD, dtype=np.uint8)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    u64 = np.ndarray((len(buf) - 8,), dtype="<u8", buffer=buf, strides=(1,))
    return swar.decimals(u64, lo, lo + lens)


def _agree(texts: list[bytes]) -> np.ndarray:
    vals, done = decimals(texts)
    for t, v, d in zip(texts, vals.tolist(), done.tolist(), strict=True):
        if d:
            ref = float(t)  # (raises for a text it should not have read)
            assert v == ref and math.copysign(1, v) == math.copysign(1, ref), t
    return done


def test_caffe_numbers_are_read_in_bulk_exactly():
    texts = [
        b"0.693147",
        b"-12.5",
        b"0.0399435",
        b"7.43e-05",
        b"1e-05",
        b"9.41277e-06",
        b"1e+05",
        b"3.",
        b".5",
        b"-0",
        b"-0.0",
        b"00012",
        b"123456789012345",
        b"1234567.89012345",
        b"12345678e-14",
    ]
    assert _agree(texts).all()
    # every other text is left to float (nan, inf, MSVC's forms, long, odd, out of range)
    others = [
        b"nan",
        b"-nan",
        b"inf",
        b"1.#INF",
        b"1E5",
        b"+1",
        b"1_0",
        b"1e",
        b"1e-",
        b"1.2.3",
        b"-",
        b".",
        b"e5",
        b"1234567890123456",
        b"0.0000000000000000000001",
        b"1e23",
        b"1.5e-22",
        b"4.9e-324",
        b"12345678.",
    ]
    assert not _agree(others).any()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.e-+E", min_size=1, max_size=18), min_size=1, max_size=50))
def test_any_text_of_number_bytes_reads_as_float_reads_it(texts):
    _agree([t.encode() for t in texts])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50),
    st.sampled_from(["g", ".6g", ".9g", ".17g", ".3e", ".8f"]),
)
def test_printed_floats_read_back_exactly(xs, fmt):
    _agree([format(x, fmt).encode() for x in xs])


# -- the corpus, one log after the other ---------------------------------------------------------------
@pytest.mark.corpus
def test_the_concatenated_corpus_reads_in_bulk_as_line_by_line(corpus):
    logs = sorted((corpus / "caffe").glob("*.log"))
    data = b"".join(d if d.endswith(b"\n") else d + b"\n" for d in (p.read_bytes() for p in logs))
    got = {}
    for bulk in (True, False):
        saved = caffe_bulk.PLAIN_MIN_BYTES
        caffe_bulk.PLAIN_MIN_BYTES = caffe_bulk.PLAIN_MIN_BYTES if bulk else 1 << 62
        try:
            res = caffe.read(Source.from_stream(io.BytesIO(data), name="corpus"))
        finally:
            caffe_bulk.PLAIN_MIN_BYTES = saved
        got[bulk] = res
    assert got[True].frame.equals(got[False].frame)
    assert got[True].meta == got[False].meta and got[True].roles == got[False].roles
    assert got[True].meta["skipped"]["parameter_dump_lines"] > 0.2 * data.count(b"\n")


def test_plain_scanner_classes():
    """A dump line and another program's are classes of their own (counted), a glog line
    never is; a line whose meaning the scanner is not sure of is rare."""
    lines = [
        b"  name: 1",
        b"}",
        _glog(1.0, "Creating layer a"),
        b"layer {",
        b"xError: 1",
        b"OFM 0: x",
        b"I 5",
        _glog(1.0, "Initializing net from parameters: "),
        _glog(1.0, "Initializing net from parameter"),
    ]
    data = b"\n".join(lines) + b"\n"
    sc = caffe_plain.scan(data, len(data))
    P = caffe_plain
    assert sc.cls.tolist() == [
        *(P.C_DUMP, P.C_DUMP, P.C_NOOP, P.C_DUMP, P.C_RARE, P.C_OTHER, P.C_OTHER),
        *(P.C_NETP, P.C_RARE),
    ]


def test_a_net_dump_starts_in_bulk_with_its_other_programs_lines_counted_as_its():
    """``Initializing net from parameters`` lines are read in bulk (never line by line):
    ``OFM`` lines right after one count as its dump's, as line by line, and after a
    glog line that ends the dump as another program's."""
    ofm = ODD.index(b"OFM 0: GLen:128 LLen:128")
    first_net = len(SOLVER_DUMP) + 3  # the line after the first "Initializing net"
    data = damage([("insert", first_net, ofm, 3), ("insert", first_net + 3 + len(NET_DUMP) + 1, ofm, 2)])
    fed: list[bytes] = []
    real = caffe.Reader.feed_lines

    def feed_lines(rd, chunk, end):
        fed.append(bytes(chunk[:end]))
        real(rd, chunk, end)

    caffe.Reader.feed_lines = feed_lines
    try:
        fast = read(data, bulk=True, chunk=1 << 16)
    finally:
        caffe.Reader.feed_lines = real
    slow = read(data, bulk=False, chunk=1 << 16)
    assert fast[0].equals(slow[0]) and fast[1] == slow[1] and fast[2] == slow[2]
    assert not any(b"Initializing net" in f for f in fed)
    skipped = fast[1]["skipped"]
    assert skipped["parameter_dump_lines"] == len(SOLVER_DUMP) + 2 * len(NET_DUMP) + 3
    assert skipped["non_glog_lines"] == 2


def test_other_programs_lines_in_bulk_are_counted_where_line_by_line_counts_them():
    """``OFM 0: ...`` lines (Intel Caffe's MKL layers) inside a net's dump count as the
    dump's, after a glog line as another program's, with the line of the first."""
    ofm = ODD.index(b"OFM 0: GLen:128 LLen:128")
    data = damage([("insert", len(SOLVER_DUMP) + 5, ofm, 5)])  # (inside the first net's dump)
    fast = read(data, bulk=True, chunk=1 << 16)
    assert fast[1] == read(data, bulk=False, chunk=1 << 16)[1]
    assert fast[1]["skipped"]["parameter_dump_lines"] == len(SOLVER_DUMP) + 2 * len(NET_DUMP) + 5
    data = damage([("insert", len(BASE) - 20, ofm, 5)])
    fast = read(data, bulk=True, chunk=1 << 16)
    assert fast[1] == read(data, bulk=False, chunk=1 << 16)[1]
    assert fast[1]["skipped"]["non_glog_lines"] == 5


def test_a_few_wall_times_one_by_one_are_the_bulk_ones():
    """:meth:`Clock.event_walls` of a few events (one by one in Python) gives the floats
    and the year state the numpy reading gives: year roll-overs, glog headers, bad
    dates, an assumed year made leap, a glog file name's year."""
    import random

    from gradlog.parsers.caffe import clock as caffe_clock

    rng = random.Random(7)

    def stamp() -> bytes:
        m, d = rng.choice([1, 2, 3, 7, 12, 0, 13]), rng.choice([1, 15, 28, 29, 31, 0, 32])
        year = str(rng.choice([2015, 2016])) if rng.random() < 0.05 else ""
        t = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}"
        return f"{rng.choice('IWE')}{year}{m:02d}{d:02d} {t}".encode()

    def events(n: int) -> list:
        out: list = []
        for k in range(n):
            r = rng.random()
            if r < 0.05:
                out.append((k, b"", ("header", rng.choice([2015, 2016]), rng.choice([101, 229, 1231]))))
            elif r < 0.08:
                out.append((k, b"", ("crash", "x", "y")))
            else:
                out.append((k, stamp(), ("x",)))
        return out

    def state(c: caffe_clock.Clock) -> tuple:
        return (c.year, c.prev_md, c.year_source, c.year_assumed_used, c.leap_assumed, c.formats)

    saved = caffe_clock.FEW_EVENTS
    few_used = 0
    try:
        for _ in range(3000):
            name = rng.choice([None, "caffe.host.u.log.INFO.20151230-101010.1"])
            one, bulk = caffe_clock.Clock(name, set()), caffe_clock.Clock(name, set())
            if rng.random() < 0.3:
                one.leap_assumed.add(1970)
                bulk.leap_assumed.add(1970)
            for _ in range(rng.randrange(1, 4)):
                evs = events(rng.randrange(1, 12))
                caffe_clock.FEW_EVENTS = 48
                few_used += all(not ts or (ts[5] == 32 and ts[1:5] != b"0229") for _k, ts, _e in evs)
                a = one.event_walls(evs)
                caffe_clock.FEW_EVENTS = -1
                b = bulk.event_walls(evs)
                assert np.array_equal(a, b, equal_nan=True)
                assert state(one) == state(bulk)
    finally:
        caffe_clock.FEW_EVENTS = saved
    assert few_used > 1000  # (the one-by-one reading was tried)
