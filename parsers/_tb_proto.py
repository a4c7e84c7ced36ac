"""TensorBoard's protobuf messages, read without importing torch, and the fast-path views.

``Event``, ``Summary``, ``SessionLog`` and ``HParamsPluginData`` come from tensorboardX's
generated definitions (loaded into a private descriptor pool, see
:func:`_tbx_serialized_files`). ``_FlatEvents`` and ``_EventBatch`` are views that let
one protobuf parse decode a whole block of events (see :mod:`._tb_decode`); ``_SEP`` and
``_TRAILER`` are the 16 bytes put between the events of such a block.
"""

from __future__ import annotations

import ast
import importlib.util
import struct
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, struct_pb2
from google.protobuf.message import DecodeError

#: tensorboardX's generated modules holding the definitions we use, in dependency order.
_TBX_PROTOS = (
    "resource_handle",
    "tensor_shape",
    "types",
    "tensor",
    "summary",
    "event",
    "api",
    "plugin_hparams",
)


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
        blobs = [
            node.args[0].value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, bytes)
        ]
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
        from tensorboardX.proto import event_pb2, plugin_hparams_pb2, summary_pb2

        return {
            "Event": event_pb2.Event,
            "SessionLog": event_pb2.SessionLog,
            "Summary": summary_pb2.Summary,
            "HParamsPluginData": plugin_hparams_pb2.HParamsPluginData,
        }
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
    add(
        "FlatValue",
        [
            ("tag", _num(_V, "tag"), rep, b, None),
            ("simple_value", _num(_V, "simple_value"), rep, F.TYPE_FIXED32, None),
            ("obsolete_old_style_histogram", _num(_V, "obsolete_old_style_histogram"), rep, b, None),
            ("image", _num(_V, "image"), rep, b, None),
            ("histo", _num(_V, "histo"), rep, b, None),
            ("audio", _num(_V, "audio"), rep, b, None),
            ("tensor", _num(_V, "tensor"), rep, b, None),
            ("metadata", _num(_V, "metadata"), rep, b, None),
            ("node_name", _num(_V, "node_name"), rep, b, None),
        ],
    )
    add("FlatSummary", [("value", _num(_S, "value"), opt, F.TYPE_MESSAGE, ".gradlog_tb_flat.FlatValue")])
    add(
        "FlatEvents",
        [
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
        ],
    )
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
            name="gradlog_tensorboard_batch.proto",
            package="gradlog_tb_batch",
            syntax="proto3",
            dependency=[_E.file.name],
        )
        m = fdp.message_type.add(name="EventBatch")
        m.field.add(
            name="event", number=1, label=F.LABEL_REPEATED, type=F.TYPE_MESSAGE, type_name="." + _E.full_name
        )
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
    _key(_num(_E, "step"), 0)
    + b"\x00"
    + _length_delimited(
        _num(_E, "summary"),
        _length_delimited(
            _num(_S, "value"),
            _length_delimited(_num(_V, "tag"), b"")
            + _key(_num(_V, "simple_value"), 5)
            + struct.pack("<I", _SENTINEL_BITS),
        ),
    )
)
_SEP = _SEP_CORE + _length_delimited(_PAD_FIELD, b"\x00" * (16 - len(_SEP_CORE) - 2))
_TRAILER = _length_delimited(_PAD_FIELD, b"\x00\x00")
assert len(_SEP) == 16 and len(_TRAILER) == 4
_SEP_ARR = np.frombuffer(_SEP, dtype=np.uint8)
_TRAILER_ARR = np.frombuffer(_TRAILER, dtype=np.uint8)


def _looks_like_event(payload: bytes) -> bool:
    try:
        ev = _Event.FromString(payload)
    except DecodeError:
        return False
    if ev.file_version.startswith("brain.Event"):
        return True
    return ev.wall_time > 0 and ev.WhichOneof("what") is not None
