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
from gradlog.parsers import caffe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradlog.errors import GradlogError
from gradlog.frame import validate_frame
from gradlog.source import Source

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


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
    return {(str(t), int(s), float(v)) for t, s, v in
            zip(frame["tag"], frame["step"], frame["value"]) if v == v}


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
        add(f"    [Backward] All net params (data, diff): L1 norm = ({it}.5, {it}.625); "
            f"L2 norm = ({it}.75, {it}.875)", "net.cpp:736", "E")
        if it % 3 == 0:
            add(f"Iteration {it}, loss = {it}.0625")
            add(f"    Train net output #0: loss = {it}.03125 (* 1 = {it}.03125 loss)", "solver.cpp:237")
            add(f"Iteration {it}, lr = 0.01", "solver.cpp:467")
        if it % 2:
            add(f"Gradient clipping: scaling down gradients (L2 norm {it}.875 > 1) by scale factor 0.5",
                "sgd_solver.cpp:92")
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
    lambda b: bytes(c for c in b if c not in b"0123456789\n") or b"#")


OPS = st.tuples(st.sampled_from(["cut", "dup", "garble"]), st.integers(0, 10**6),
                st.integers(0, 200), JUNK)


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
        st.builds(lambda a, b: b"I0412 10:00:00.000001  4321 net.cpp:1] " + a + b" " + b,
                  st.sampled_from([b"[Forward] Layer a, top blob b data:", b"Iteration", b"Iteration 5,",
                                   b"Iteration 5, loss =", b"    Train net output #0: x =",
                                   b"[Backward] All net params (data, diff): L1 norm =",
                                   b"[Update] Layer a, param 0 data:", b"Testing net", b"Solving"]),
                  st.binary(max_size=12))),
    max_size=60)


@SETTINGS
@given(GLOGISH)
def test_shuffled_real_and_broken_lines_never_crash(lines):
    parse(b"\n".join(lines) + b"\n", as_file=True)


@SETTINGS
@given(st.sampled_from(sorted(BASES)),
       st.lists(OPS.filter(lambda o: o[0] != "garble"), min_size=1, max_size=4))
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
    for t, s in zip(clean["tag"], clean["step"]):
        by_tag.setdefault(str(t), set()).add(int(s))
    for t, s in zip(frame["tag"], frame["step"]):
        assert int(s) in by_tag.get(str(t), steps), (t, s)
    if not garbled:
        assert rows(frame) <= rows(clean)


@pytest.mark.parametrize("base", sorted(BASES))
def test_every_single_line_cut_keeps_the_rest(base):
    """Exhaustive: cutting any one line loses at most that line's iteration block."""
    clean = rows(CLEAN[base][0])
    lines = BASES[base]
    for i in range(len(lines)):
        frame, _ = parse(b"\n".join(lines[:i] + lines[i + 1:]) + b"\n")
        got = rows(frame)
        assert got <= clean, i
