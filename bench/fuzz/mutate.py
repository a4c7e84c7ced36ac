"""Mutators: byte-level for every family, plus structure-aware ones.

* bytes: bit flips, interesting bytes, inserted/deleted/duplicated ranges, cuts, splices
  with another seed, long runs (spaces, digits, separators: the inputs that make a
  regex quadratic);
* text lines: ragged rows, NUL rows, swapped/duplicated lines, weird number tokens
  (``nan``, ``1e999``, a cut ``1e-0``), long column names, many fields, CRLF;
* JSON: values swapped for other types, keys dropped, deep nesting, a document cut short;
* TFRecord: records dropped/duplicated/reordered, payloads mutated and *re-framed with
  valid CRCs* (so the event decoder is what gets fuzzed), and events rewritten through
  protobuf: odd steps and wall times, odd tags, tensors of random dtype, shape and bytes,
  histograms with odd moments, hparams with garbage, session logs;
* any family: the file gzip/bzip2-compressed, sometimes cut.
"""

from __future__ import annotations

import bz2
import gzip
import json
import math
import random
import struct
from collections.abc import Callable

from seeds import Case

INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x0A, 0x0D, 0x00, 0x2C, 0x22, 0x09, 0x20, 0x2D, 0x2E]
WEIRD_TOKENS = [
    b"nan",
    b"NaN",
    b"inf",
    b"-inf",
    b"1e999",
    b"-1e999",
    b"1e-05"[:3],
    b"",
    b"-",
    b"0x1F",
    b"\xef\xbc\x91\xef\xbc\x92",
    b"1,5",
    b"9" * 400,
    b"-0",
    b"+.5e-3",
    b"None",
    b"null",
    b"true",
    b'"',
    b"1e",
    b"4.9e-324",
    b"18446744073709551617",
]
RUN_CHARS = [
    b" ",
    b"9",
    b",",
    b"\t",
    b"a",
    b".",
    b"-",
    b"e",
    b"0.",
    b"[",
    b"{",
    b'"',
    b"\\",
    b"=",
    b":",
    b"\x00",
]


def _pos(rng: random.Random, data: bytes) -> int:
    return rng.randrange(len(data) + 1)


# ---------------------------------------------------------------------------- bytes
def flip(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def interesting(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    b = bytearray(data)
    b[rng.randrange(len(b))] = rng.choice(INTERESTING)
    return bytes(b)


def insert_random(rng: random.Random, data: bytes) -> bytes:
    i = _pos(rng, data)
    return data[:i] + rng.randbytes(rng.choice((1, 4, 16, 200))) + data[i:]


def delete_range(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    n = rng.choice((1, 8, 64, 1024, len(data)))
    return data[:i] + data[i + n :]


def duplicate_range(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    n = rng.choice((16, 256, 4096))
    chunk = data[i : i + n]
    j = _pos(rng, data)
    return data[:j] + chunk * rng.choice((1, 2, 10)) + data[j:]


def cut(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def long_run(rng: random.Random, data: bytes) -> bytes:
    """A long run of one character (quadratic regexes), or a huge line."""
    i = _pos(rng, data)
    n = rng.choice((1000, 20_000, 100_000, 400_000))
    return data[:i] + rng.choice(RUN_CHARS) * (n // 2) + data[i:]


BYTE_MUTATORS: list[Callable[[random.Random, bytes], bytes]] = [
    flip,
    flip,
    interesting,
    insert_random,
    delete_range,
    duplicate_range,
    cut,
    long_run,
]


# ---------------------------------------------------------------------------- lines
def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def line_ops(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    if not lines:
        return data
    i = rng.randrange(len(lines))
    op = rng.randrange(11)
    if op == 0:  # ragged row: a field more or less
        lines[i] = lines[i] + b",1" if rng.random() < 0.5 else lines[i].rsplit(b",", 1)[0]
    elif op == 1:
        lines.insert(i, b"\x00" * rng.choice((1, 10, 100)))
    elif op == 2:
        del lines[i]
    elif op == 3:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif op == 4:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 5:  # a weird token where a number was
        toks = lines[i].replace(b",", b" ").split()
        nums = [t for t in toks if t[:1].isdigit() or t[:1] == b"-"]
        if nums:
            lines[i] = lines[i].replace(rng.choice(nums), rng.choice(WEIRD_TOKENS), 1)
    elif op == 6:  # a long column name / tag
        lines[i] = lines[i] + b"," + b"x" * rng.choice((300, 5000, 100_000))
    elif op == 7:  # many fields
        lines[i] = lines[i] + b",1" * rng.choice((100, 10_000, 100_000))
    elif op == 8:
        return b"\r\n".join(lines)
    elif op == 9:  # the last line cut mid-way (a log being written)
        last = lines[-1] or (lines[-2] if len(lines) > 1 else b"")
        return b"\n".join(lines[:-2] + [last[: rng.randrange(len(last) + 1)]])
    else:  # random bytes as a line
        lines.insert(i, rng.randbytes(rng.choice((10, 100, 1000))))
    return b"\n".join(lines)


# ---------------------------------------------------------------------------- JSON
def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([math.nan, math.inf, -math.inf, 1e308, -0.0, 2**70, -1])
    if kind == 2:
        return rng.choice(["", "nan", "0.1", "x" * 5000, "\u2028", "1e999"])
    if kind == 3:
        return [] if depth > 3 else [_random_value(rng, depth + 1) for _ in range(3)]
    if kind == 4:
        return {} if depth > 3 else {"loss": _random_value(rng, depth + 1), "step": 1}
    if kind == 5:
        return rng.choice([True, False])
    if kind == 6:
        v: object = 1.0
        for _ in range(rng.choice((10, 200, 900))):
            v = [v]
        return v
    if kind == 7:
        return rng.randrange(-(2**63), 2**63)
    return rng.random()


def json_ops(rng: random.Random, data: bytes) -> bytes:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return flip(rng, data)
    nodes: list[tuple[object, object]] = []

    def walk(x: object, depth: int) -> None:
        if depth > 6 or len(nodes) > 2000:
            return
        if isinstance(x, dict):
            for k in list(x):
                nodes.append((x, k))
                walk(x[k], depth + 1)
        elif isinstance(x, list):
            for k in range(len(x)):
                nodes.append((x, k))
                walk(x[k], depth + 1)

    walk(doc, 0)
    if nodes:
        for _ in range(rng.choice((1, 1, 3, 20))):
            parent, key = rng.choice(nodes)
            try:
                if rng.random() < 0.2 and isinstance(parent, dict):
                    parent.pop(key, None)
                else:
                    parent[key] = _random_value(rng)  # type: ignore[index]
            except (IndexError, KeyError, TypeError):
                pass
    else:
        doc = _random_value(rng)
    try:
        out = json.dumps(doc, indent=rng.choice((None, 2))).encode()
    except (ValueError, RecursionError):
        return data
    return out[: rng.randrange(len(out) + 1)] if rng.random() < 0.1 else out


# ---------------------------------------------------------------------------- TFRecord
def _records(data: bytes) -> list[bytes] | None:
    out, pos = [], 0
    while pos + 12 <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        if pos + 16 + n > len(data):
            return None
        out.append(data[pos + 12 : pos + 12 + n])
        pos += 16 + n
    return out if pos == len(data) else None


def _frame(records: list[bytes]) -> bytes:
    from gradlog.parsers import _tfrecord as tfr

    return b"".join(tfr.frame_record(r) for r in records)


def _event_ops(rng: random.Random, payload: bytes) -> bytes:
    """Rewrite one event through protobuf."""
    from gradlog.parsers import tensorboard as tb

    Event = tb._Event
    try:
        ev = Event.FromString(payload)
    except Exception:  # noqa: BLE001 - not an event: mutate its bytes
        return flip(rng, payload)
    op = rng.randrange(10)
    if op == 0:
        ev.step = rng.choice([-1, 0, 2**62, -(2**63), rng.randrange(10**6)])
    elif op == 1:
        ev.wall_time = rng.choice([math.nan, math.inf, -1.0, 0.0, 1e300])
    elif op in (2, 3, 4, 5) or not ev.summary.value:
        v = ev.summary.value.add() if not ev.summary.value else rng.choice(ev.summary.value)
        _value_ops(rng, v)
    elif op == 6:
        ev.session_log.status = rng.choice((0, 1, 2, 3, 7))
    elif op == 7:
        ev.file_version = rng.choice(["brain.Event:2", "", "x" * 1000])
    elif op == 8:
        for _ in range(rng.choice((10, 300))):
            ev.summary.value.add(tag=f"t{rng.randrange(50)}", simple_value=rng.random())
    else:
        ev.summary.value.add(tag="hp").metadata.plugin_data.plugin_name = "hparams"
        ev.summary.value[-1].metadata.plugin_data.content = rng.randbytes(rng.randrange(64))
    return ev.SerializeToString()


def _value_ops(rng: random.Random, v: object) -> None:
    op = rng.randrange(8)
    if op == 0:
        v.tag = rng.choice(
            [
                "",
                "/",
                "a" * 100_000,
                "x\ny",
                "\x00",
                "é/ü",
                "train/loss",  # type: ignore[attr-defined]
                "epoch_loss",
                "batch_loss",
                "Loss_train/Loss",
                "../..",
                "a//b",
            ]
        )
    elif op == 1:
        v.simple_value = rng.choice([math.nan, math.inf, -math.inf, 3.4e38, -0.0, 1e-45])  # type: ignore[attr-defined]
    elif op in (2, 3, 4):
        t = v.tensor  # type: ignore[attr-defined]
        t.Clear()
        t.dtype = rng.choice([1, 2, 3, 4, 5, 6, 9, 10, 14, 17, 19, 22, 23, 0, 7, 99])
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            t.tensor_shape.dim.add(size=rng.choice([1, 3, 0, -1, 2**31, 7, 2**62]))
        k = rng.randrange(4)
        if k == 0:
            t.tensor_content = rng.randbytes(rng.choice((1, 2, 3, 4, 5, 8, 24, 23, 96)))
        elif k == 1:
            t.float_val.extend([rng.random() for _ in range(rng.choice((1, 2, 3)))])
        elif k == 2:
            t.double_val.extend(
                [rng.choice([math.nan, -1.0, 5.0, 1e308]) for _ in range(rng.choice((1, 3, 6)))]
            )
        else:
            t.half_val.extend([rng.randrange(-(2**31), 2**31) for _ in range(2)])
            t.int_val.extend([rng.randrange(-(2**31), 2**31)])
        v.metadata.plugin_data.plugin_name = rng.choice(
            [
                "scalars",
                "histograms",
                "",
                "text",  # type: ignore[attr-defined]
                "hparams",
                "images",
            ]
        )
    elif op == 5:
        h = v.histo  # type: ignore[attr-defined]
        h.num = rng.choice([0, -1, 1, 1e308, math.nan])
        h.sum = rng.choice([0.0, math.nan, -1e308, 1e308])
        h.sum_squares = rng.choice([-1.0, math.inf, 0.0, 1e308])
        h.min, h.max = rng.choice([(0.0, 1.0), (math.nan, math.inf), (-1e308, 1e308)])
        h.bucket_limit.extend([1.0, 2.0])
        h.bucket.extend([rng.random() for _ in range(rng.choice((0, 2, 5)))])
    elif op == 6:
        v.image.encoded_image_string = b"\x89PNG" + rng.randbytes(10)  # type: ignore[attr-defined]
    else:
        v.metadata.plugin_data.plugin_name = rng.choice(["scalars", "histograms", "hparams"])  # type: ignore[attr-defined]
        v.metadata.plugin_data.content = rng.randbytes(rng.randrange(40))  # type: ignore[attr-defined]


def record_ops(rng: random.Random, data: bytes) -> bytes:
    recs = _records(data)
    if not recs:
        return flip(rng, data)
    op = rng.randrange(7)
    i = rng.randrange(len(recs))
    if op == 0:
        del recs[i]
    elif op == 1:
        recs.insert(rng.randrange(len(recs) + 1), recs[i])
    elif op == 2:
        rng.shuffle(recs)
    elif op == 3:  # payload bytes changed, CRCs made valid again
        recs[i] = rng.choice(BYTE_MUTATORS[:6])(rng, recs[i])
    elif op == 4:
        recs.insert(i, rng.randbytes(rng.choice((0, 1, 20, 300))))
    else:
        for _ in range(rng.choice((1, 1, 3, 10))):
            j = rng.randrange(len(recs))
            recs[j] = _event_ops(rng, recs[j])
    return _frame(recs)


# ---------------------------------------------------------------------------- compression
def compress(rng: random.Random, case: Case, name: str) -> None:
    data = case.files.pop(name)
    kind = rng.choice(("gz", "gz", "bz2"))
    packed = gzip.compress(data) if kind == "gz" else bz2.compress(data)
    if rng.random() < 0.3:
        packed = packed[: rng.randrange(len(packed) + 1)]
    new = f"{name}.{kind}"
    case.files[new] = packed
    if case.root == name:
        case.root = new
    case.notes.append(f"compressed {kind}")


# ---------------------------------------------------------------------------- a case
def mutate(rng: random.Random, case: Case, pool: list[Case]) -> Case:
    """Return a mutated copy of ``case`` (1-4 stacked mutations of one of its files)."""
    out = case.copy()
    name = rng.choice(sorted(out.files))
    data = out.files[name]
    family = case.family
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        r = rng.random()
        if family == "tensorboard" and r < 0.6:
            data, what = record_ops(rng, data), "record"
        elif family == "json" and r < 0.5:
            data, what = json_ops(rng, data), "json"
        elif family != "tensorboard" and r < 0.55:
            data, what = line_ops(rng, data), "lines"
        elif r < 0.6 and len(pool) > 1:  # splice with another seed of the family
            other = rng.choice(pool)
            odata = other.files.get(name) or next(iter(other.files.values()))
            data, what = data[: _pos(rng, data)] + odata[_pos(rng, odata) :], "splice"
        else:
            m = rng.choice(BYTE_MUTATORS)
            data, what = m(rng, data), m.__name__
        out.notes.append(f"{what}:{name}")
    out.files[name] = data
    if rng.random() < 0.04:
        compress(rng, out, name)
    return out
