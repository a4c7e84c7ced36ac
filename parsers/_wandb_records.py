"""The Weights & Biases run file ``run-<id>.wandb`` (private): a documented reader.

The W&B SDK writes every record of a run (the run itself, its config, each
``wandb.log`` call, summaries, the exit code ...) into one append-only file. The
wandb package reads it only through its Go core, so gradlog reads the format itself;
the parts are standard:

* **Header** (7 bytes): ``:W&B``, the magic ``0xBEE1`` (little-endian), version ``0``.
* **Blocks** of 32 KiB in the LevelDB log format: each chunk has a 7-byte header,
  ``uint32 crc | uint16 length | uint8 type`` (little-endian), then ``length`` bytes.
  ``type`` is FULL (1) for a record in one chunk, or FIRST (2), MIDDLE (3), LAST (4)
  for one split across blocks; a block tail shorter than 7 bytes is zero padding.
  ``crc`` is the CRC-32 (IEEE, zlib's) of the type byte and the data, not masked.
* **Records** are protobuf ``wandb_internal.Record`` messages. The few messages and
  fields gradlog reads are declared below (field numbers from the SDK's
  ``wandb_internal.proto``) and decoded by the protobuf library; unknown fields are
  ignored, so newer SDKs read the same.

A chunk whose CRC does not match, or whose length runs past its block, is skipped and
counted; a record cut off at the end of the file (a run still writing) is counted in
``truncated``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["MAGIC", "Record", "RecordScan", "iter_records"]

MAGIC = b":W&B\xe1\xbe\x00"
BLOCK = 32 * 1024
_CHUNK = struct.Struct("<IHB")
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4

#: (message, [(field, number, type, repeated, message type)]) — a subset of
#: wandb_internal.proto, enough for history, config, summary, the run and its exit.
_T_DOUBLE, _T_INT64, _T_STRING, _T_MESSAGE, _T_INT32, _T_BOOL, _T_SINT64 = 1, 3, 9, 11, 5, 8, 18
_SCHEMA: list[tuple[str, list[tuple[str, int, int, bool, str | None]]]] = [
    ("Timestamp", [("seconds", 1, _T_INT64, False, None), ("nanos", 2, _T_INT32, False, None)]),
    ("HistoryStep", [("num", 1, _T_INT64, False, None)]),
    (
        "HistoryItem",
        [
            ("key", 1, _T_STRING, False, None),
            ("nested_key", 2, _T_STRING, True, None),
            ("boolean", 4, _T_BOOL, False, None),
            ("integer", 5, _T_SINT64, False, None),
            ("number", 6, _T_DOUBLE, False, None),
            ("text", 7, _T_STRING, False, None),
            ("value_json", 16, _T_STRING, False, None),
        ],
    ),
    (
        "HistoryRecord",
        [("item", 1, _T_MESSAGE, True, "HistoryItem"), ("step", 2, _T_MESSAGE, False, "HistoryStep")],
    ),
    (
        "ConfigItem",
        [
            ("key", 1, _T_STRING, False, None),
            ("nested_key", 2, _T_STRING, True, None),
            ("value_json", 16, _T_STRING, False, None),
        ],
    ),
    (
        "ConfigRecord",
        [("update", 1, _T_MESSAGE, True, "ConfigItem"), ("remove", 2, _T_MESSAGE, True, "ConfigItem")],
    ),
    (
        "RunRecord",
        [
            ("run_id", 1, _T_STRING, False, None),
            ("entity", 2, _T_STRING, False, None),
            ("project", 3, _T_STRING, False, None),
            ("config", 4, _T_MESSAGE, False, "ConfigRecord"),
            ("run_group", 6, _T_STRING, False, None),
            ("job_type", 7, _T_STRING, False, None),
            ("display_name", 8, _T_STRING, False, None),
            ("start_time", 17, _T_MESSAGE, False, "Timestamp"),
        ],
    ),
    ("RunExitRecord", [("exit_code", 1, _T_INT32, False, None), ("runtime", 2, _T_INT32, False, None)]),
    (
        "Record",
        [
            ("num", 1, _T_INT64, False, None),
            ("history", 2, _T_MESSAGE, False, "HistoryRecord"),
            ("config", 5, _T_MESSAGE, False, "ConfigRecord"),
            ("run", 17, _T_MESSAGE, False, "RunRecord"),
            ("exit", 18, _T_MESSAGE, False, "RunExitRecord"),
        ],
    ),
]
_PACKAGE = "gradlog_wandb_subset"


def _build() -> dict[str, Any]:
    fdp = descriptor_pb2.FileDescriptorProto(name=f"{_PACKAGE}.proto", package=_PACKAGE, syntax="proto3")
    for name, fields in _SCHEMA:
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, repeated, mtype in fields:
            f = msg.field.add(
                name=fname,
                number=number,
                type=ftype,  # type: ignore[arg-type]
                label=3 if repeated else 1,
            )  # type: ignore[arg-type]
            if mtype is not None:
                f.type_name = f".{_PACKAGE}.{mtype}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name, _ in _SCHEMA
    }


_CLASSES = _build()
Record = _CLASSES["Record"]


@dataclass
class RecordScan:
    """Counts of what :func:`iter_records` skipped."""

    bad_chunks: int = 0  # CRC mismatch, impossible length or type
    orphan_chunks: int = 0  # a MIDDLE/LAST without its FIRST
    truncated: int = 0  # a record cut off at the end of the file
    undecodable: int = 0  # a record the protobuf library could not parse
    first_bad_offset: int | None = None
    notes: list[str] = field(default_factory=list)

    def bad(self, offset: int) -> None:
        self.bad_chunks += 1
        if self.first_bad_offset is None:
            self.first_bad_offset = offset


def _chunks(data: bytes, scan: RecordScan) -> Iterator[tuple[int, int, bytes]]:
    """(offset, type, payload) of every chunk whose CRC checks out."""
    pos = len(MAGIC)
    n = len(data)
    while pos < n:
        left = BLOCK - pos % BLOCK
        if left < _CHUNK.size:
            pos += left  # zero padding at a block's end
            continue
        if n - pos < _CHUNK.size:
            scan.truncated += 1
            return
        crc, length, typ = _CHUNK.unpack_from(data, pos)
        if crc == 0 and length == 0 and typ == 0:
            pos += left  # zeroed rest of a block (a preallocated or padded file)
            continue
        end = pos + _CHUNK.size + length
        if end > n:
            scan.truncated += 1
            return
        if typ not in (_FULL, _FIRST, _MIDDLE, _LAST) or length > left - _CHUNK.size:
            scan.bad(pos)
            pos += left  # the rest of the block cannot be trusted
            continue
        payload = data[pos + _CHUNK.size : end]
        if zlib.crc32(bytes([typ]) + payload) != crc:
            scan.bad(pos)
            pos = end
            continue
        yield pos, typ, payload
        pos = end


def iter_records(data: bytes, scan: RecordScan) -> Iterator[Any]:
    """Yield the decoded ``Record`` messages of a ``.wandb`` file's bytes (after its
    header: the caller checks :data:`MAGIC`), counting what it skips in ``scan``."""
    parts: list[bytes] | None = None
    for _pos, typ, payload in _chunks(data, scan):
        if typ == _FULL:
            if parts is not None:
                scan.orphan_chunks += 1
            parts = None
            body = payload
        elif typ == _FIRST:
            if parts is not None:
                scan.orphan_chunks += 1
            parts = [payload]
            continue
        elif parts is None:
            scan.orphan_chunks += 1
            continue
        elif typ == _MIDDLE:
            parts.append(payload)
            continue
        else:
            body = b"".join(parts + [payload])
            parts = None
        msg = Record()
        try:
            msg.ParseFromString(body)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
            scan.undecodable += 1
            continue
        yield msg
    if parts is not None:
        scan.truncated += 1
