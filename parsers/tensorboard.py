"""TensorBoard event files: every scalar point, fast, and never lose data to one bad record.

Reads a single ``events.out.tfevents.*`` file (``.gz`` too), a run directory (all its
event files merged in order, e.g. after a restart; Keras's ``train/`` + ``validation/``
subdirectories are one run, tags prefixed by the subdirectory), or a log root holding
many runs (:func:`split_runs` lists them, so ``gradlog.load_all`` reads one run each).

What becomes a point in the frame:

* scalars in every encoding writers use: ``simple_value`` (PyTorch, tensorboardX, TF1,
  Keras 2.x) and TF2 scalar tensors (plugin ``scalars``, the plugin name possibly only on
  a tag's first event; ``float_val``, ``double_val``, ``half_val``, ``int_val``,
  ``int64_val``, ``bool_val`` or ``tensor_content`` of a one-element tensor);
* histograms (``HistogramProto`` from ``add_histogram``, and TF2 histogram tensors),
  reduced to ``<tag>/l2`` (sqrt of the sum of squares), ``<tag>/mean``, ``<tag>/std``
  and ``<tag>/absmax`` (``meta["statistics"]`` says what each is, and whether it is
  exact or estimated from buckets);
* hyperparameters (the hparams plugin) go to ``meta["hparams"]``, ``SessionLog.START``
  markers to ``meta["restarts"]``; images, audio, text, graphs and run metadata are
  counted in ``meta["ignored"]`` and never decoded.

Every point is kept (no sampling); when a step is logged twice (a resumed run), the
later record wins and ``meta["replaced_points"]`` counts what it replaced.

Damage: both CRCs of every record are checked (:mod:`gradlog.parsers._tfrecord`); a bad
record is skipped and counted (``meta["skipped"]["bad_records"]``, ``meta["damage"]``)
and reading resumes at the next record that checks out; a cut-off last record is
reported in ``meta["truncated"]``. With ``strict=True`` any damage raises
:class:`~gradlog.errors.DamagedInputError`.

Speed: records are framed and CRC-checked a block at a time with numpy, and blocks of
plain scalar events are decoded by one protobuf parse per block (see
:func:`_decode_flat`); other blocks are parsed with the generated ``Event`` class.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import math
import os
import re
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, struct_pb2
from google.protobuf.message import DecodeError

from gradlog.errors import DamagedInputError, EmptyLogError, GradlogError, MultipleRunsError, ParseError
from gradlog.frame import ParseResult, build_frame
from gradlog.roles import normalise_tag
from gradlog.source import Source

from . import _tfrecord as tfr

__all__ = ["NAME", "DESCRIPTION", "sniff", "read", "split_runs", "event_files", "run_members"]

NAME = "tensorboard"
DESCRIPTION = (
    "TensorBoard event files (events.out.tfevents.*), run directories and log roots: "
    "scalars (simple_value and TF2 tensors), histograms reduced to l2/mean/std/absmax, hparams"
)

#: Subdirectories that split one run by phase (Keras's TF2 callback writes train/ and
#: validation/); their tags are prefixed by the subdirectory.
SPLIT_DIRS = frozenset({"train", "training", "validation", "val", "valid", "eval", "evaluation",
                        "test"})
_EVENT_NAME_RE = re.compile(r"tfevents")
_STAMP_RE = re.compile(r"tfevents\.(\d+)")
#: ``add_hparams``'s default folder name: ``str(time.time())``.
_TIMESTAMP_DIR_RE = re.compile(r"^\d{9,}(\.\d+)?$")
#: Files next to run directories that suggest the directory is an archive of other logs.
_LOG_SUFFIXES = (".log", ".csv", ".tsv", ".txt", ".json", ".jsonl", ".gz")
_ROOT_DEPTH = 3
_MAX_WARNINGS = 20
_KERAS_PREFIX_RE = re.compile(r"^(epoch|batch)_(.+)$")
_HISTOGRAM_STATS = ("l2", "mean", "std", "absmax")



# --------------------------------------------------------------------------------------
# Protobuf classes
# --------------------------------------------------------------------------------------
#: tensorboardX's generated modules holding the definitions we use, in dependency order.
_TBX_PROTOS = ("resource_handle", "tensor_shape", "types", "tensor", "summary", "event", "api",
               "plugin_hparams")


def _tbx_serialized_files() -> list[bytes] | None:
    """Return the serialized FileDescriptorProtos of tensorboardX's event definitions.

    Importing ``tensorboardX.proto`` runs ``tensorboardX/__init__``, which imports the
    writer and, when it is installed, torch (seconds, hundreds of MB) just to get message
    definitions. So the descriptors are read from the generated ``*_pb2.py`` files (the
    bytes given to ``AddSerializedFile``) without executing them. Returns None when the
    files are not where or what they should be.
    """
    spec = importlib.util.find_spec("tensorboardX")  # locates; does not import
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))) / "proto"
    out: list[bytes] = []
    for name in _TBX_PROTOS:
        try:
            tree = ast.parse((base / f"{name}_pb2.py").read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            return None
        blobs = [node.args[0].value for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                 and node.func.attr == "AddSerializedFile" and node.args
                 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, bytes)]
        if len(blobs) != 1:
            return None
        out.append(blobs[0])
    return out


def _load_messages() -> dict[str, Any]:
    """Return the message classes (Event, HParamsPluginData ...) of tensorboardX's protos.

    Built in a private descriptor pool from tensorboardX's own serialized definitions
    (see :func:`_tbx_serialized_files`); if those cannot be read, tensorboardX's modules
    are imported the ordinary way.
    """
    files = _tbx_serialized_files()
    if files is None:  # pragma: no cover - depends on the installed tensorboardX layout
        from tensorboardX.proto import event_pb2, plugin_hparams_pb2, summary_pb2  # noqa: PLC0415

        return {"Event": event_pb2.Event, "SessionLog": event_pb2.SessionLog,
                "Summary": summary_pb2.Summary,
                "HParamsPluginData": plugin_hparams_pb2.HParamsPluginData}
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(struct_pb2.DESCRIPTOR.serialized_pb))
    for blob in files:
        pool.AddSerializedFile(blob)
    get = message_factory.GetMessageClass
    return {
        "Event": get(pool.FindMessageTypeByName("tensorboardX.Event")),
        "SessionLog": get(pool.FindMessageTypeByName("tensorboardX.SessionLog")),
        "Summary": get(pool.FindMessageTypeByName("tensorboardX.Summary")),
        "HParamsPluginData": get(pool.FindMessageTypeByName("tensorboardX.hparam.HParamsPluginData")),
    }


_MESSAGES = _load_messages()
_Event = _MESSAGES["Event"]
_HParams = _MESSAGES["HParamsPluginData"]
_START = _MESSAGES["SessionLog"].DESCRIPTOR.enum_types_by_name["SessionStatus"].values_by_name["START"].number


def _num(desc: Any, name: str) -> int:
    return int(desc.fields_by_name[name].number)


_E = _Event.DESCRIPTOR
_S = _MESSAGES["Summary"].DESCRIPTOR
_V = _S.nested_types_by_name["Value"]
_PAD_FIELD = 15  # unused by Event: the padding in the separators below


def _make_flat_classes() -> Any:
    """Return ``FlatEvents``: a view of Event whose nested values collect into lists.

    Parsing the concatenation of many Event messages as one message *merges* them: a
    repeated field appends, an embedded singular message merges field by field. The
    view declares ``summary`` and ``summary.value`` singular and their leaves repeated,
    so one parse of a block of events yields flat lists of every event's wall time and
    step and every value's tag and simple_value, in stream order, in C. The field
    numbers come from tensorboardX's generated descriptors.
    """
    F = descriptor_pb2.FieldDescriptorProto
    rep, opt = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    fdp = descriptor_pb2.FileDescriptorProto(
        name="gradlog_tensorboard_flat.proto", package="gradlog_tb_flat", syntax="proto3"
    )

    def add(msg: str, fields: list[tuple[str, int, int, int, str | None]]) -> None:
        m = fdp.message_type.add(name=msg)
        for fname, number, label, ftype, tname in fields:
            f = m.field.add(name=fname, number=number, label=label, type=ftype)
            if tname:
                f.type_name = tname
            if label == rep and ftype not in (F.TYPE_BYTES, F.TYPE_MESSAGE):
                f.options.packed = False

    b = F.TYPE_BYTES
    add("FlatValue", [
        ("tag", _num(_V, "tag"), rep, b, None),
        ("simple_value", _num(_V, "simple_value"), rep, F.TYPE_FIXED32, None),
        ("obsolete_old_style_histogram", _num(_V, "obsolete_old_style_histogram"), rep, b, None),
        ("image", _num(_V, "image"), rep, b, None),
        ("histo", _num(_V, "histo"), rep, b, None),
        ("audio", _num(_V, "audio"), rep, b, None),
        ("tensor", _num(_V, "tensor"), rep, b, None),
        ("metadata", _num(_V, "metadata"), rep, b, None),
        ("node_name", _num(_V, "node_name"), rep, b, None),
    ])
    add("FlatSummary", [("value", _num(_S, "value"), opt, F.TYPE_MESSAGE, ".gradlog_tb_flat.FlatValue")])
    add("FlatEvents", [
        ("wall_time", _num(_E, "wall_time"), rep, F.TYPE_DOUBLE, None),
        ("step", _num(_E, "step"), rep, F.TYPE_INT64, None),
        ("summary", _num(_E, "summary"), opt, F.TYPE_MESSAGE, ".gradlog_tb_flat.FlatSummary"),
        ("file_version", _num(_E, "file_version"), rep, b, None),
        ("graph_def", _num(_E, "graph_def"), rep, b, None),
        ("log_message", _num(_E, "log_message"), rep, b, None),
        ("session_log", _num(_E, "session_log"), rep, b, None),
        ("tagged_run_metadata", _num(_E, "tagged_run_metadata"), rep, b, None),
        ("meta_graph_def", _num(_E, "meta_graph_def"), rep, b, None),
        ("pad", _PAD_FIELD, rep, b, None),
    ])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("gradlog_tb_flat.FlatEvents"))


def _make_batch_class() -> Any:
    """Return ``EventBatch``: ``repeated tensorboardX.Event event = 1`` (one parse per block)."""
    pool = _E.file.pool
    full = "gradlog_tb_batch.EventBatch"
    try:
        desc = pool.FindMessageTypeByName(full)
    except KeyError:
        F = descriptor_pb2.FieldDescriptorProto
        fdp = descriptor_pb2.FileDescriptorProto(
            name="gradlog_tensorboard_batch.proto", package="gradlog_tb_batch", syntax="proto3",
            dependency=[_E.file.name],
        )
        m = fdp.message_type.add(name="EventBatch")
        m.field.add(name="event", number=1, label=F.LABEL_REPEATED, type=F.TYPE_MESSAGE,
                    type_name="." + _E.full_name)
        pool.Add(fdp)
        desc = pool.FindMessageTypeByName(full)
    return message_factory.GetMessageClass(desc)


def _key(number: int, wire: int) -> bytes:
    return _varint((number << 3) | wire)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


_FlatEvents = _make_flat_classes()
_EventBatch = _make_batch_class()

#: The raw bits of the float32 the separator puts in ``simple_value`` (a NaN payload
#: writers do not produce; if a log holds it, the block takes the general path).
_SENTINEL_BITS = 0x7FA6D1B5
#: Put before every event of a block: a ``step`` of 0 and a value with an empty tag and
#: the sentinel simple_value. Writers never encode a zero step or an empty tag (proto3
#: leaves defaults out), so these entries mark where each event starts in the flat
#: lists. Exactly 16 bytes: the gap a record's header and the previous record's CRC
#: leave between two payloads, so a block is turned into a parseable buffer in place.
_SEP_CORE = (
    _key(_num(_E, "step"), 0) + b"\x00"
    + _length_delimited(_num(_E, "summary"), _length_delimited(
        _num(_S, "value"),
        _length_delimited(_num(_V, "tag"), b"") + _key(_num(_V, "simple_value"), 5)
        + struct.pack("<I", _SENTINEL_BITS)))
)
_SEP = _SEP_CORE + _length_delimited(_PAD_FIELD, b"\x00" * (16 - len(_SEP_CORE) - 2))
_TRAILER = _length_delimited(_PAD_FIELD, b"\x00\x00")
assert len(_SEP) == 16 and len(_TRAILER) == 4
_SEP_ARR = np.frombuffer(_SEP, dtype=np.uint8)
_TRAILER_ARR = np.frombuffer(_TRAILER, dtype=np.uint8)


# --------------------------------------------------------------------------------------
# Finding event files and runs
# --------------------------------------------------------------------------------------
def _is_event_name(name: str) -> bool:
    return bool(_EVENT_NAME_RE.search(name)) and not name.startswith(".")


def _listdir(d: Path) -> tuple[list[Path], list[Path]]:
    """Return (non-hidden files, non-hidden subdirectories) of ``d``, sorted."""
    files: list[Path] = []
    dirs: list[Path] = []
    try:
        entries = list(os.scandir(d))
    except OSError:
        return [], []
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            if e.is_dir():
                dirs.append(Path(e.path))
            elif e.is_file():
                files.append(Path(e.path))
        except OSError:
            continue
    return sorted(files), sorted(dirs)


def _has_events(d: Path) -> bool:
    files, _ = _listdir(d)
    return any(_is_event_name(f.name) for f in files)


def _head_summaries(path: Path) -> tuple[set[str], bool]:
    """Return (the summary tags in the first 64 KiB of an event file, whether one of
    them is an hparams summary); empty when the head holds no decodable summary."""
    try:
        head = Source.from_path(path).head
    except GradlogError:
        return set(), False
    tags: set[str] = set()
    hparams = False
    if len(head) < tfr.HEADER_BYTES + tfr.FOOTER_BYTES:
        return tags, hparams
    scanner = tfr.RecordScanner(io.BytesIO(head), block_bytes=len(head))
    for blk in scanner.blocks():
        for payload in blk.payloads():
            try:
                ev = _Event.FromString(payload)
            except DecodeError:
                continue
            if ev.WhichOneof("what") != "summary":
                continue
            for v in ev.summary.value:
                if v.HasField("metadata") and v.metadata.plugin_data.plugin_name == "hparams":
                    hparams = True
                else:
                    tags.add(v.tag)
    return tags, hparams


def _is_part(sub: Path) -> bool:
    """Return True when ``sub`` (a subdirectory holding event files) belongs to the run
    of its parent directory rather than being a run of its own.

    Parts are phase folders (``train/``, ``validation/`` ...), ``add_hparams`` folders
    (``hparams/`` or a ``time.time()`` name, or whose events hold an hparams summary)
    and PyTorch ``add_scalars`` folders (``Loss_train/`` holding tag ``Loss``: every tag
    ``t`` in the folder's first events has the folder name start with ``t`` + ``_``).
    """
    name = sub.name
    if name.lower() in SPLIT_DIRS or name.lower() == "hparams" or _TIMESTAMP_DIR_RE.match(name):
        return True
    events = _sorted_events(sub)
    if not events:
        return False
    tags, hparams = _head_summaries(events[0])
    if hparams:
        return True
    return bool(tags) and all(name.startswith(t.replace("/", "_") + "_") and len(name) > len(t) + 1
                              for t in tags)


def _parts(d: Path, dirs: list[Path] | None = None) -> list[Path]:
    """Return the subdirectories of run directory ``d`` that belong to its run."""
    if dirs is None:
        _files, dirs = _listdir(d)
    return [s for s in dirs if _has_events(s) and _is_part(s)]


def _is_run_dir(files: list[Path], dirs: list[Path]) -> bool:
    """A run directory holds event files itself, or phase folders that hold them."""
    return (any(_is_event_name(f.name) for f in files)
            or any(s.name.lower() in SPLIT_DIRS and _has_events(s) for s in dirs))


def _runs_under(d: Path, depth: int) -> tuple[list[Path], bool]:
    """Return (the run directories under ``d``, whether ``d`` holds nothing else).

    A directory is a run when it holds event files itself, or when its phase
    subdirectories (``train/``, ``validation/`` ...) do; its subdirectories that are not
    parts of its run (see :func:`_is_part`) are searched for runs of their own, as are
    the subdirectories of other directories, ``depth`` levels deep. ``d`` is "pure" when
    it is a run itself, or holds no log-like files beside the runs (so it is safe to
    read it as a TensorBoard log root).
    """
    files, dirs = _listdir(d)
    runs: list[Path] = []
    if _is_run_dir(files, dirs):
        runs.append(d)
        parts = set(_parts(d, dirs))
        dirs = [s for s in dirs if s not in parts]
        if depth <= 0:
            return runs, True
        for s in dirs:
            runs.extend(_runs_under(s, depth - 1)[0])
        return runs, True
    pure = not any(f.name.lower().endswith(_LOG_SUFFIXES) for f in files)
    if depth <= 0:
        return [], pure and not dirs
    for s in dirs:
        sub, sub_pure = _runs_under(s, depth - 1)
        runs.extend(sub)
        pure = pure and sub_pure
    return runs, pure


@dataclass(frozen=True)
class _EventFile:
    path: Path
    prefix: str  # "" for the run directory itself, else the subdirectory (tags get "<prefix>/")


def event_files(run_dir: str | os.PathLike[str]) -> list[tuple[Path, str]]:
    """Return the event files of one run directory with the tag prefix each gets.

    Files directly in ``run_dir`` get no prefix; files in a part subdirectory (Keras's
    ``train/`` and ``validation/``, PyTorch's ``add_scalars`` and ``add_hparams``
    folders, see :func:`_is_part`) get the subdirectory's name; other subdirectories
    are runs of their own and are left out. Within a prefix, files are in the order they were written
    (the timestamp in the name, then the name).
    """
    root = Path(run_dir)
    out = [_EventFile(p, "") for p in _sorted_events(root)]
    for s in _parts(root):
        out.extend(_EventFile(p, s.name) for p in _sorted_events(s))
    return [(f.path, f.prefix) for f in out]


def run_members(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Return what belongs to the run directory ``run_dir``: every file directly in it
    and its part subdirectories (phase, ``add_scalars`` and ``add_hparams`` folders).

    Discovery does not look for other runs among these; its other subdirectories may
    hold runs of their own.
    """
    root = Path(run_dir)
    files, dirs = _listdir(root)
    return files + _parts(root, dirs)


def _sorted_events(d: Path) -> list[Path]:
    files, _ = _listdir(d)
    ev = [f for f in files if _is_event_name(f.name)]

    def order(p: Path) -> tuple[int, str]:
        m = _STAMP_RE.search(p.name)
        return (int(m.group(1)) if m else 0, p.name)

    return sorted(ev, key=order)


def split_runs(source: Source) -> list[Path]:
    """Return the run directories a directory holds (itself, when it is one run).

    A run is a directory with event files, or with phase subdirectories (``train/``,
    ``validation/``) holding them; a log root's runs are found up to three levels down.

    Returns
    -------
    list of Path, sorted; empty when there is no event file.
    """
    if not source.is_dir or source.path is None:
        return [source.path] if source.path is not None else []
    runs, _pure = _runs_under(source.path, _ROOT_DEPTH)
    return sorted(runs)


# --------------------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------------------
def _looks_like_event(payload: bytes) -> bool:
    try:
        ev = _Event.FromString(payload)
    except DecodeError:
        return False
    if ev.file_version.startswith("brain.Event"):
        return True
    return ev.wall_time > 0 and ev.WhichOneof("what") is not None


def _first_payload_anywhere(head: bytes) -> bytes | None:
    """Return the payload of the first whole valid record in ``head``, or None."""
    scanner = tfr.RecordScanner(io.BytesIO(head), block_bytes=len(head))
    for blk in scanner.blocks():
        return blk.payloads()[0]
    return None


def sniff(source: Source) -> bool:
    """Return True for an event file (by content) or a directory of TensorBoard runs.

    A file is an event file when its first record's length and length CRC check out and
    its data parses as an ``Event`` (a file version, or a wall time and a payload). A
    directory is read when it holds event files (directly or in ``train/`` /
    ``validation/``), or only run directories (a log root).
    """
    if source.is_dir:
        if source.path is None:
            return False
        runs, pure = _runs_under(source.path, _ROOT_DEPTH)
        return bool(runs) and pure
    head = source.head
    if len(head) < tfr.HEADER_BYTES + tfr.FOOTER_BYTES:
        return False
    payload = tfr.first_record(head)
    if payload is None and _is_event_name(source.suffix_name):
        # Named like an event file but its first record is damaged: a record further on
        # that checks out and holds an Event will do (the reader reports the damage).
        payload = _first_payload_anywhere(head)
    if payload is None:
        length, hcrc = struct.unpack_from("<QI", head, 0)
        if tfr.masked_crc32c(head[:8]) != hcrc or length + 16 <= len(head):
            return False
        # A first record longer than the head (rare): the length checks out, and the
        # data starts like an Event (field 1 wall_time as a double).
        return head[12:13] == b"\x09"
    return _looks_like_event(payload)


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------
# TensorFlow DataType numbers (types.proto) and how their one element is stored.
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_UINT8, _DT_INT16, _DT_INT8 = 1, 2, 3, 4, 5, 6
_DT_INT64, _DT_BOOL, _DT_BFLOAT16, _DT_UINT16, _DT_HALF = 9, 10, 14, 17, 19
_DT_UINT32, _DT_UINT64 = 22, 23
_CONTENT_DTYPES: dict[int, str] = {
    _DT_FLOAT: "<f4", _DT_DOUBLE: "<f8", _DT_HALF: "<f2", _DT_INT32: "<i4", _DT_INT64: "<i8",
    _DT_INT16: "<i2", _DT_INT8: "i1", _DT_UINT8: "u1", _DT_UINT16: "<u2", _DT_UINT32: "<u4",
    _DT_UINT64: "<u8", _DT_BOOL: "?",
}
_INT_VAL_DTYPES = frozenset({_DT_INT32, _DT_INT16, _DT_INT8, _DT_UINT8, _DT_UINT16})


def _tensor_scalar(t: Any) -> float | None:
    """Return the value of a one-element numeric tensor, or None when it is not one."""
    if any(d.size != 1 for d in t.tensor_shape.dim):
        return None
    dt = t.dtype
    if t.tensor_content:
        code = _CONTENT_DTYPES.get(dt)
        if dt == _DT_BFLOAT16 and len(t.tensor_content) == 2:
            bits = int.from_bytes(t.tensor_content, "little") << 16
            return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])
        if code is None:
            return None
        arr = np.frombuffer(t.tensor_content, dtype=code)
        return float(arr[0]) if arr.size == 1 else None
    if dt == _DT_FLOAT and len(t.float_val) == 1:
        return float(t.float_val[0])
    if dt == _DT_DOUBLE and len(t.double_val) == 1:
        return float(t.double_val[0])
    if dt == _DT_HALF and len(t.half_val) == 1:
        return float(np.array([t.half_val[0]], dtype=np.uint16).view(np.float16)[0])
    if dt == _DT_BFLOAT16 and len(t.half_val) == 1:
        return float(np.array([t.half_val[0] << 16], dtype=np.uint32).view(np.float32)[0])
    if dt in _INT_VAL_DTYPES and len(t.int_val) == 1:
        return float(t.int_val[0])
    if dt == _DT_INT64 and len(t.int64_val) == 1:
        return float(t.int64_val[0])
    if dt == _DT_BOOL and len(t.bool_val) == 1:
        return float(t.bool_val[0])
    return None


def _tensor_array(t: Any) -> np.ndarray | None:
    """Return a numeric tensor as a float64 array in its shape, or None."""
    shape = tuple(int(d.size) for d in t.tensor_shape.dim)
    dt = t.dtype
    if t.tensor_content:
        code = _CONTENT_DTYPES.get(dt)
        if code is None:
            return None
        arr = np.frombuffer(t.tensor_content, dtype=code).astype(np.float64)
    elif dt == _DT_DOUBLE:
        arr = np.array(t.double_val, dtype=np.float64)
    elif dt == _DT_FLOAT:
        arr = np.array(t.float_val, dtype=np.float64)
    elif dt == _DT_HALF:
        arr = np.array(t.half_val, dtype=np.uint16).view(np.float16).astype(np.float64)
    else:
        return None
    size = int(np.prod(shape)) if shape else 1
    if arr.size == 1 and size > 1:
        arr = np.full(size, arr[0])  # TensorProto repeats a lone value to fill the shape
    if arr.size != size:
        return None
    return arr.reshape(shape)


def _histo_stats(h: Any) -> tuple[float, float, float, float] | None:
    """Return (l2, mean, std, absmax) of a HistogramProto, exact from its moments."""
    num = h.num
    if not num > 0:
        return None
    mean = h.sum / num
    var = max(h.sum_squares / num - mean * mean, 0.0)
    return (math.sqrt(max(h.sum_squares, 0.0)), mean, math.sqrt(var),
            max(abs(h.min), abs(h.max)))


def _tensor_histo_stats(t: Any) -> tuple[float, float, float, float] | None:
    """Return (l2, mean, std, absmax) estimated from a TF2 histogram tensor [k, 3]."""
    arr = _tensor_array(t)
    if arr is None or arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        return None
    left, right, count = arr[:, 0], arr[:, 1], arr[:, 2]
    total = count.sum()
    if not total > 0:
        return None
    mid = (left + right) / 2.0
    mean = float((count * mid).sum() / total)
    sq = float((count * mid * mid).sum())
    var = max(sq / total - mean * mean, 0.0)
    used = count > 0
    absmax = float(max(np.abs(left[used]).max(), np.abs(right[used]).max()))
    return math.sqrt(sq), mean, math.sqrt(var), absmax


_STAT_TEXT = {
    "l2": "L2 norm: sqrt(sum of squares) of the values summarised by histogram {tag!r}",
    "mean": "mean of the values summarised by histogram {tag!r}",
    "std": "standard deviation (population) of the values summarised by histogram {tag!r}",
    "absmax": "largest absolute value, max(|min|, |max|), of histogram {tag!r}",
}


def _stat_description(stat: str, tag: str, exact: bool) -> str:
    how = ("exact (HistogramProto moments)" if exact
           else "estimated from TF2 histogram bucket midpoints")
    if stat == "absmax" and not exact:
        how = "from the outermost non-empty bucket edges"
    return f"{_STAT_TEXT[stat].format(tag=tag)}; {how}"


def _pyvalue(v: Any) -> Any:
    """Return a ``google.protobuf.Value`` as a plain Python value."""
    kind = v.WhichOneof("kind")
    if kind in ("struct_value", "list_value"):
        return json_format.MessageToDict(v)
    if kind == "number_value":
        return float(v.number_value)
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return bool(v.bool_value)
    return None


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
class _Columns:
    """Column chunks in stream order, appended a block at a time."""

    def __init__(self) -> None:
        self.codes: list[np.ndarray] = []
        self.steps: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.walls: list[np.ndarray] = []
        self.n = 0

    def add(self, codes: Any, steps: Any, values: Any, walls: Any) -> None:
        c = np.asarray(codes, dtype=np.int32)
        if not len(c):
            return
        self.codes.append(c)
        self.steps.append(np.asarray(steps, dtype=np.int64))
        v = np.asarray(values)
        self.values.append(v if v.dtype in (np.float32, np.float64) else v.astype(np.float64))
        self.walls.append(np.asarray(walls, dtype=np.float64))
        self.n += len(c)

    @staticmethod
    def _take(chunks: list[np.ndarray], dtype: Any) -> np.ndarray:
        if not chunks:
            return np.empty(0, dtype=dtype)
        out = np.concatenate(chunks, dtype=dtype) if len(chunks) > 1 else chunks[0].astype(dtype)
        chunks.clear()
        return out

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return (codes, steps, values, walls) concatenated, releasing the chunks."""
        # simple_value is a float32: keep values that narrow until the frame is built
        vtype = np.float32 if all(v.dtype == np.float32 for v in self.values) else np.float64
        return (self._take(self.codes, np.int32), self._take(self.steps, np.int64),
                self._take(self.values, vtype), self._take(self.walls, np.float64))


@dataclass
class _RunState:
    """What reading one run collects besides the columns."""

    name: str
    strict: bool
    cols: _Columns = field(default_factory=_Columns)
    tags: dict[str, int] = field(default_factory=dict)  # source tag -> code
    prefix_of: dict[int, str] = field(default_factory=dict)  # code -> subdirectory prefix
    stats: dict[str, tuple[str, str, bool]] = field(default_factory=dict)  # source tag -> (hist, stat, exact)
    plugins: dict[str, str] = field(default_factory=dict)  # source tag -> plugin name
    ignored: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    damage: list[dict[str, Any]] = field(default_factory=list)
    truncated: list[dict[str, Any]] = field(default_factory=list)
    restarts: list[dict[str, Any]] = field(default_factory=list)
    hparams: dict[str, Any] = field(default_factory=dict)
    file_versions: set[str] = field(default_factory=set)
    records: int = 0
    events: int = 0
    bytes_read: int = 0
    files: list[str] = field(default_factory=list)

    def code(self, source_tag: str, prefix: str) -> int:
        c = self.tags.get(source_tag)
        if c is None:
            c = self.tags[source_tag] = len(self.tags)
            self.prefix_of[c] = prefix
        return c

    def warn(self, msg: str) -> None:
        if len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(msg)
        elif len(self.warnings) == _MAX_WARNINGS:
            self.warnings.append("... further warnings left out (see meta['damage'])")


class _ByteCodes(dict):  # type: ignore[type-arg]
    """``{raw tag bytes: code}``; a miss asks ``code_of`` (so lookups stay in C)."""

    def __init__(self, code_of: Any) -> None:
        super().__init__({b"": -1})  # b"" marks the separator before each event
        self._code_of = code_of

    def __missing__(self, tag: bytes) -> int:
        c = self[tag] = self._code_of(tag.decode("utf-8", "replace"))
        return int(c)


class _FileReader:
    """Decode the events of one file into a :class:`_RunState`."""

    def __init__(self, state: _RunState, label: str, prefix: str, *, soft: bool = False) -> None:
        self.st = state
        self.label = label
        self.prefix = prefix
        self.pfx = f"{prefix}/" if prefix else ""
        self.soft = soft  # tags that have a group ("metrics/mAP") get no prefix
        # raw tag bytes (fast path) -> code; b"" is the separator
        self.byte_codes = _ByteCodes(self._code_str)
        self.str_codes: dict[str, int] = {}
        self.first_checked = False

    # -- codes ---------------------------------------------------------------------

    def _code_str(self, tag: str) -> int:
        c = self.str_codes.get(tag)
        if c is None:
            if self.soft:  # a lone file: the source tag is the file's own tag
                c = self.str_codes[tag] = self.st.code(tag, "" if "/" in tag else self.prefix)
            else:
                c = self.str_codes[tag] = self.st.code(self.pfx + tag, self.prefix)
        return c

    def _src(self, tag: str) -> str:
        """Return the source tag ``tag`` is kept under (with its folder prefix, if any)."""
        return tag if self.soft else self.pfx + tag

    # -- blocks --------------------------------------------------------------------
    def block(self, blk: tfr.RecordBlock) -> None:
        if not self.first_checked:
            self.first_checked = True
            first = blk.buf[int(blk.starts[0]) + tfr.HEADER_BYTES:
                            int(blk.starts[0]) + tfr.HEADER_BYTES + int(blk.lengths[0])]
            if not _looks_like_event(first):
                raise ParseError(
                    f"{self.label}: not a TensorBoard event file (the first record at byte "
                    f"{int(blk.starts[0])} is not an Event)"
                )
        self.st.events += len(blk)
        if not self._decode_flat(blk):
            self._decode_general(blk)

    def _flat_buffer(self, blk: tfr.RecordBlock) -> memoryview | bytes:
        """Return the block's events, each after a separator, ready for one parse."""
        if not blk.contiguous:
            return _SEP + _SEP.join(blk.payloads()) + _TRAILER
        s0, end = int(blk.starts[0]), blk.end
        w = np.empty(end - s0 + 4, dtype=np.uint8)
        w[4:] = np.frombuffer(blk.buf, dtype=np.uint8, count=end - s0, offset=s0)
        rel = blk.starts - s0  # the 16 bytes before each payload, in w
        for k in range(16):
            w[rel + k] = _SEP_ARR[k]
        w[-4:] = _TRAILER_ARR
        return w.data

    def _decode_flat(self, blk: tfr.RecordBlock) -> bool:
        """Decode a block of plain scalar events with one parse; False if it is not one.

        Falls back (returns False) when any event carries something other than
        ``simple_value`` scalars (histograms, tensors, metadata, images, session logs),
        or when the separators do not line up (an event without a wall time, a
        zero step or an empty tag written explicitly, a value without a tag ...).
        """
        n = len(blk)
        try:
            fl = _FlatEvents.FromString(self._flat_buffer(blk))
        except DecodeError:
            return False
        if len(fl.session_log) or len(fl.wall_time) != n:
            return False
        v = fl.summary.value
        if (len(v.histo) or len(v.tensor) or len(v.metadata) or len(v.image) or len(v.audio)
                or len(v.obsolete_old_style_histogram)):
            return False
        raw_steps = np.array(fl.step, dtype=np.int64)
        zpos = np.flatnonzero(raw_steps == 0)
        if len(zpos) != n:
            return False
        seg = np.diff(np.append(zpos, len(raw_steps)))
        if seg.max(initial=1) > 2:
            return False
        steps_e = np.zeros(n, dtype=np.int64)
        has = seg == 2
        steps_e[has] = raw_steps[zpos[has] + 1]
        tags = v.tag
        codes = np.fromiter(map(self.byte_codes.__getitem__, tags), dtype=np.int32, count=len(tags))
        bits = np.array(v.simple_value, dtype=np.uint32)
        tsep = codes == -1
        ssep = bits == _SENTINEL_BITS
        if int(tsep.sum()) != n or int(ssep.sum()) != n:
            return False
        kt = np.diff(np.append(np.flatnonzero(tsep), len(codes))) - 1
        ks = np.diff(np.append(np.flatnonzero(ssep), len(bits))) - 1
        if not np.array_equal(kt, ks):
            return False
        if len(fl.file_version):
            self.st.file_versions.update(x.decode("utf-8", "replace") for x in fl.file_version)
        self._count_ignored(len(fl.graph_def) + len(fl.meta_graph_def), len(fl.tagged_run_metadata),
                            len(fl.log_message))
        if len(codes) == n:
            return True  # no values in this block
        ev = np.repeat(np.arange(n), kt)
        self.st.cols.add(codes[~tsep], steps_e[ev], bits[~ssep].view(np.float32),
                         np.array(fl.wall_time, dtype=np.float64)[ev])
        return True

    def _count_ignored(self, graphs: int, run_metadata: int, log_messages: int) -> None:
        if graphs:
            self.st.ignored["graphs"] += graphs
        if run_metadata:
            self.st.ignored["run_metadata"] += run_metadata
        if log_messages:
            self.st.ignored["log_messages"] += log_messages

    def _events(self, blk: tfr.RecordBlock) -> Iterable[Any]:
        payloads = blk.payloads()
        try:
            return _EventBatch.FromString(
                b"".join([b"\n" + _varint(len(p)) + p for p in payloads])).event
        except DecodeError:
            pass
        events = []
        for s, p in zip(blk.starts.tolist(), payloads):
            try:
                events.append(_Event.FromString(p))
            except DecodeError:
                self.st.skipped["undecodable_events"] += 1
                msg = f"{self.label}: byte {s}: a record's CRC checks out but it is not an Event"
                if self.st.strict:
                    raise DamagedInputError(msg) from None
                self.st.warn(msg)
        return events

    def _decode_general(self, blk: tfr.RecordBlock) -> None:
        """Decode a block event by event (histograms, tensors, hparams, session logs)."""
        st = self.st
        codes: list[int] = []
        steps: list[int] = []
        vals: list[float] = []
        walls: list[float] = []
        code = self._code_str
        for ev in self._events(blk):
            what = ev.WhichOneof("what")
            if what == "summary":
                step, wall = ev.step, ev.wall_time
                for v in ev.summary.value:
                    kind = v.WhichOneof("value")
                    if kind == "simple_value":
                        codes.append(code(v.tag))
                        steps.append(step)
                        vals.append(v.simple_value)
                        walls.append(wall)
                        continue
                    for tag, x in self._other_value(v, kind):
                        codes.append(code(tag))
                        steps.append(step)
                        vals.append(x)
                        walls.append(wall)
            elif what == "session_log":
                if ev.session_log.status == _START:
                    st.restarts.append({"step": int(ev.step), "wall_time": float(ev.wall_time),
                                        "file": self.label})
            elif what == "file_version":
                st.file_versions.add(ev.file_version)
            elif what in ("graph_def", "meta_graph_def"):
                st.ignored["graphs"] += 1
            elif what == "tagged_run_metadata":
                st.ignored["run_metadata"] += 1
            elif what == "log_message":
                st.ignored["log_messages"] += 1
        st.cols.add(codes, steps, vals, walls)

    def _other_value(self, v: Any, kind: str | None) -> Iterator[tuple[str, float]]:
        """Yield (tag, value) points of a non-simple_value summary value."""
        st = self.st
        tag = v.tag
        key = self._src(tag)
        if v.HasField("metadata"):
            plugin = v.metadata.plugin_data.plugin_name
            st.plugins.setdefault(key, plugin)
        else:
            plugin = st.plugins.get(key, "")
        if kind == "tensor":
            if plugin in ("scalars", ""):
                x = _tensor_scalar(v.tensor)
                if x is not None:
                    yield tag, x
                    return
                st.ignored["non_scalar_tensors"] += 1
            elif plugin == "histograms":
                yield from self._stats(tag, _tensor_histo_stats(v.tensor), exact=False)
            else:
                st.ignored[plugin] += 1
        elif kind == "histo":
            yield from self._stats(tag, _histo_stats(v.histo), exact=True)
        elif kind is None:
            if plugin == "hparams":
                self._hparams(v.metadata.plugin_data.content)
            elif plugin:
                st.ignored[plugin] += 1
        elif kind == "image":
            st.ignored["images"] += 1
        elif kind == "audio":
            st.ignored["audio"] += 1
        else:
            st.ignored[str(kind)] += 1

    def _stats(self, tag: str, stats: tuple[float, ...] | None, *, exact: bool
               ) -> Iterator[tuple[str, float]]:
        if stats is None:
            self.st.ignored["empty_histograms"] += 1
            return
        for stat, x in zip(_HISTOGRAM_STATS, stats):
            name = f"{tag}/{stat}"
            self.st.stats.setdefault(self._src(name), (self._src(tag), stat, exact))
            yield name, x

    def _hparams(self, content: bytes) -> None:
        try:
            data = _HParams.FromString(content)
        except DecodeError:
            self.st.ignored["undecodable_hparams"] += 1
            return
        if data.HasField("session_start_info"):
            for k in sorted(data.session_start_info.hparams):
                self.st.hparams[k] = _pyvalue(data.session_start_info.hparams[k])


def _read_file(state: _RunState, stream: BinaryIO, label: str, prefix: str, *,
               grouped_tags_unprefixed: bool = False) -> None:
    """Read one event file's records into ``state`` (damage counted, or raised if strict).

    ``prefix`` goes before every tag, or, with ``grouped_tags_unprefixed``, only before
    tags without a group (``loss`` but not ``metrics/mAP``).
    """
    reader = _FileReader(state, label, prefix, soft=grouped_tags_unprefixed)
    scanner = tfr.RecordScanner(stream)
    for blk in scanner.blocks():
        if scanner.damage and state.strict:
            raise DamagedInputError(f"{label}: {scanner.damage[0].describe()}")
        reader.block(blk)
    if scanner.records == 0 and not scanner.stream_error:
        if scanner.bytes_read == 0:
            raise EmptyLogError(f"{label}: empty file")
        raise ParseError(
            f"{label}: not a TensorBoard event file (no valid record in {scanner.bytes_read} bytes)"
        )
    state.records += scanner.records
    state.bytes_read += scanner.bytes_read
    for d in scanner.damage:
        if state.strict:
            raise DamagedInputError(f"{label}: {d.describe()}")
        state.skipped["bad_records"] += 1
        state.damage.append({"file": label, "offset": d.offset, "bytes": d.nbytes, "reason": d.reason})
        state.warn(f"{label}: {d.describe()}")
    if scanner.stream_error is not None:
        # A cut-off gzip stream; the partial record it leaves is part of the same damage.
        msg = (f"{label}: the compressed data is cut short or damaged after {scanner.bytes_read} "
               f"bytes ({scanner.stream_error})")
        if state.strict:
            raise DamagedInputError(msg)
        state.truncated.append({"file": label, "offset": scanner.bytes_read, "bytes": None})
        state.warn(f"{msg}; the {scanner.records} complete records before it were read")
    elif scanner.truncated is not None:
        t = scanner.truncated
        if state.strict:
            raise DamagedInputError(f"{label}: {t.describe()}")
        state.truncated.append({"file": label, "offset": t.offset, "bytes": t.nbytes})
        state.warn(f"{label}: {t.describe()}; the {scanner.records} complete records before it were read")


# --------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------
def _add_scalars_name(src: str, prefix: str) -> str:
    """Return ``main/key`` for PyTorch's ``add_scalars`` layout, else ``src``.

    ``add_scalars("Loss", {"train": ..., "val": ...})`` writes tag ``Loss`` into the
    subdirectories ``Loss_train/`` and ``Loss_val/``: the source tag ``Loss_train/Loss``
    then means ``Loss/train``.
    """
    if not prefix:
        return src
    inner = src[len(prefix) + 1:]
    flat = inner.replace("/", "_") + "_"
    if prefix.startswith(flat) and len(prefix) > len(flat):
        return f"{inner}/{prefix[len(flat):]}"
    return src


def _normalise(source_tags: list[str], prefix_of: list[str]) -> list[str]:
    """Return the normalised tag for each source tag (unique, ``<group>/<name>``).

    Tags from a phase subdirectory (Keras's ``train/epoch_loss``,
    ``validation/epoch_loss``) take the phase as their group (``train/loss``,
    ``val/loss``); Keras's ``epoch_``/``batch_`` prefixes are dropped (when a run has
    both, the per-batch series keeps the plain name and the other ``_epoch``).
    PyTorch ``add_scalars`` folders (``Loss_train/Loss``) read as ``Loss/train``. Other
    tags go through :func:`gradlog.roles.normalise_tag`.
    """
    wanted: list[str] = []
    inner_names: dict[str, set[str]] = {}
    parsed: list[tuple[str, str, str] | None] = []
    for src, prefix in zip(source_tags, prefix_of):
        if prefix and prefix.lower() in SPLIT_DIRS:
            # (a lone file's tags are not prefixed in the source: ``loss`` in ``test/``)
            inner = src[len(prefix) + 1:] if src.startswith(prefix + "/") else src
            m = _KERAS_PREFIX_RE.match(inner)
            kind, base = (m.group(1), m.group(2)) if m else ("", inner)
            inner_names.setdefault(prefix, set()).add(f"{kind}:{base}")
            parsed.append((prefix, kind, base))
        else:
            parsed.append(None)
    for src, prefix, p in zip(source_tags, prefix_of, parsed):
        if p is None:
            wanted.append(normalise_tag(_add_scalars_name(src, prefix)))
            continue
        prefix, kind, base = p
        if kind == "epoch" and f"batch:{base}" in inner_names[prefix]:
            base = f"{base}_epoch"
        group = normalise_tag(f"{prefix}/x").split("/", 1)[0]
        inner_group, _, rest = normalise_tag(base).partition("/")
        if inner_group not in ("train", group):  # e.g. grad_norm/total, metrics/mAP
            rest = f"{inner_group}/{rest}"
        wanted.append(f"{group}/{rest}")
    out: list[str] = []
    used: set[str] = set()
    # Names nobody else wants first, so a clash renames the later source tag only.
    for src, tag in zip(source_tags, wanted):
        if tag in used:
            alt = src.strip().strip("/") or "unnamed"
            tag = alt if alt not in used and alt not in wanted else f"{tag}_2"
            i = 2
            while tag in used:
                i += 1
                tag = f"{tag.rsplit('_', 1)[0]}_{i}"
        used.add(tag)
        out.append(tag)
    return out


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------
def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read an event file or one run directory into the common frame.

    Parameters
    ----------
    source : an event file (or stream), or a run directory.
    strict : raise on any damage (a bad CRC, an undecodable record, a truncated tail)
        instead of skipping it and counting it in the meta.

    Returns
    -------
    ParseResult with ``meta`` keys ``step_unit`` ("step"), ``files``, ``records``,
    ``skipped`` (``bad_records``, ``undecodable_events``), ``damage`` (each skipped
    stretch: file, byte offset, bytes, reason), ``truncated`` (file, offset, bytes of a
    cut-off tail), ``warnings``, ``restarts`` (``SessionLog.START`` markers),
    ``replaced_points``, ``statistics`` (what each histogram-derived tag is),
    ``hparams``, ``ignored`` (images, graphs ... counted, not decoded) and
    ``file_version``.

    Raises
    ------
    EmptyLogError
        If a file is empty, or the input holds no scalar or histogram at all.
    ParseError
        If the input is not a TensorBoard event file (no valid record, or the first
        record is not an Event) or a directory has no event file.
    DamagedInputError
        With ``strict=True``, on the first damage found.
    MultipleRunsError
        If the directory is not a run itself and holds several runs (use
        ``gradlog.load_all``). A run directory is read as its own run, even when some of
        its subdirectories hold other runs (``gradlog.load`` reports those).
    """
    state = _RunState(name=source.name, strict=strict)
    if source.is_dir:
        assert source.path is not None
        files_here, dirs_here = _listdir(source.path)
        if _is_run_dir(files_here, dirs_here):
            # A run directory: its own run (runs in its other subdirectories are not read).
            run_dir = source.path
        else:
            runs = split_runs(source)
            if len(runs) > 1:
                raise MultipleRunsError(
                    f"{source.name}: holds {len(runs)} TensorBoard runs; use gradlog.load_all()"
                )
            if not runs:
                raise ParseError(f"{source.name}: no TensorBoard event file in this directory")
            run_dir = runs[0]
        files = event_files(run_dir)
        empty: list[str] = []
        for path, prefix in files:
            rel = str(path.relative_to(run_dir))
            if _stat_size(path) == 0:
                # A zero-length file (a writer that died before its first flush): nothing
                # to read, and no reason to lose the run's other files.
                empty.append(rel)
                continue
            state.files.append(rel)
            with Source.from_path(path).open() as fh:
                _read_file(state, fh, str(path), prefix)
        if empty:
            if len(empty) == len(files):
                raise EmptyLogError(f"{source.name}: every event file is empty "
                                    f"({', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''})")
            state.skipped["empty_files"] += len(empty)
            state.warn(f"{source.name}: {len(empty)} empty event file(s) skipped: "
                       f"{', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''}")
    else:
        state.files.append(source.path.name if source.path is not None else source.name)
        # A lone event file in a phase folder (``test/events...``) is that phase's
        # series: its bare tags take the folder as their group.
        phase = ""
        if source.path is not None and source.path.parent.name.lower() in SPLIT_DIRS:
            phase = source.path.parent.name
        with source.open() as fh:
            _read_file(state, fh, source.name, phase, grouped_tags_unprefixed=True)
    return _result(state)


def _stat_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _group_by_tag(columns: list[np.ndarray], lut_tag: np.ndarray) -> None:
    """Reorder ``columns`` (codes first) stably by tag, in place, one column at a time.

    Logs interleave their tags; grouping them here with a radix sort on the small tag
    codes (file order kept within a tag) lets :func:`build_frame` find the rows already
    sorted (the usual case: steps rise within each tag) instead of sorting all columns
    together, which needs several times the memory of the frame.
    """
    small = lut_tag.astype(np.int16) if len(lut_tag) < (1 << 15) else lut_tag
    key = small[columns[0]]
    if len(key) < 2 or bool(np.all(key[1:] >= key[:-1])):
        return
    order = np.argsort(key, kind="stable")
    del key
    for i in range(len(columns)):
        columns[i] = columns[i][order]


def _result(state: _RunState) -> ParseResult:
    cols = state.cols
    if cols.n == 0:
        found = ", ".join(f"{v} {k}" for k, v in sorted(state.ignored.items())) or "nothing else"
        raise EmptyLogError(
            f"{state.name}: no scalar or histogram in {state.events} events ({found})"
        )
    columns = list(cols.take())  # codes, steps, values, walls
    all_names = sorted(state.tags, key=state.tags.__getitem__)  # by code
    used = np.flatnonzero(np.bincount(columns[0], minlength=len(all_names)))
    names = [all_names[i] for i in used]  # tags that have points
    norm = _normalise(names, [state.prefix_of[int(i)] for i in used])
    cats = sorted(set(norm))
    src_cats = sorted(names)
    pos = {t: i for i, t in enumerate(cats)}
    spos = {t: i for i, t in enumerate(src_cats)}
    lut_tag = np.zeros(len(all_names), dtype=np.int32)
    lut_tag[used] = [pos[t] for t in norm]
    lut_src = np.zeros(len(all_names), dtype=np.int32)
    lut_src[used] = [spos[t] for t in names]
    _group_by_tag(columns, lut_tag)
    codes = columns.pop(0)
    columns[1] = columns[1].astype(np.float64, copy=False)
    tag_col = pd.Categorical.from_codes(lut_tag[codes], categories=pd.Index(cats, dtype=object))
    src_col = pd.Categorical.from_codes(lut_src[codes], categories=pd.Index(src_cats, dtype=object))
    del codes
    steps, values, walls = columns
    del columns
    frame, replaced = build_frame(tag_col, steps, values, walls, src_col)
    del tag_col, src_col, steps, values, walls

    statistics: dict[str, str] = {}
    tag_of = dict(zip(names, norm))
    for src, (hist, stat, exact) in sorted(state.stats.items()):
        if src in tag_of:
            statistics[tag_of[src]] = _stat_description(stat, hist, exact)
    warnings = list(state.warnings)
    if replaced:
        warnings.append(f"{state.name}: {replaced} points were logged again at a step already "
                        f"logged (a resumed run?); the later record was kept")
    # Keras's TensorBoard callback logs per-epoch series as `epoch_<metric>` at the epoch
    # index; when every series is such, the step axis is the epoch
    per_epoch = all(n.rsplit("/", 1)[-1].startswith("epoch_") for n in names)
    meta: dict[str, Any] = {
        "step_unit": "epoch" if per_epoch else "step",
        "files": state.files,
        "records": state.records,
        "skipped": dict(state.skipped),
        "damage": state.damage,
        "truncated": state.truncated,
        "warnings": warnings,
        "restarts": state.restarts,
        "replaced_points": int(replaced),
        "statistics": statistics,
        "hparams": state.hparams,
        "ignored": dict(sorted(state.ignored.items())),
        "file_version": ", ".join(sorted(state.file_versions)) or None,
    }
    return ParseResult(frame, meta)
