"""Decoding the events of one file into a run's columns (the fast path and the general one).

Blocks of plain scalar events (``simple_value`` only) are decoded by one protobuf parse
per block (:meth:`_FileReader._decode_flat`); other blocks event by event
(:meth:`_FileReader._decode_general`: tensors, histograms, hparams, session logs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from gradlog.errors import DamagedInputError, ParseError
from gradlog.frame.source import display_name

from . import _tfrecord as tfr
from ._tb_proto import (
    _SENTINEL_BITS,
    _SEP,
    _SEP_ARR,
    _START,
    _TRAILER,
    _TRAILER_ARR,
    _Event,
    _EventBatch,
    _FlatEvents,
    _HParams,
    _looks_like_event,
    _varint,
)
from ._tb_values import (
    _HISTOGRAM_STATS,
    _BadTensor,
    _histo_stats,
    _pyvalue,
    _tensor_histo_stats,
    _tensor_scalar,
)

_MAX_WARNINGS = 20


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
        return (
            self._take(self.codes, np.int32),
            self._take(self.steps, np.int64),
            self._take(self.values, vtype),
            self._take(self.walls, np.float64),
        )


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
            first = blk.buf[
                int(blk.starts[0]) + tfr.HEADER_BYTES : int(blk.starts[0])
                + tfr.HEADER_BYTES
                + int(blk.lengths[0])
            ]
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
        if (
            len(v.histo)
            or len(v.tensor)
            or len(v.metadata)
            or len(v.image)
            or len(v.audio)
            or len(v.obsolete_old_style_histogram)
        ):
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
        self._count_ignored(
            len(fl.graph_def) + len(fl.meta_graph_def), len(fl.tagged_run_metadata), len(fl.log_message)
        )
        if len(codes) == n:
            return True  # no values in this block
        ev = np.repeat(np.arange(n), kt)
        self.st.cols.add(
            codes[~tsep],
            steps_e[ev],
            bits[~ssep].view(np.float32),
            np.array(fl.wall_time, dtype=np.float64)[ev],
        )
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
            return _EventBatch.FromString(b"".join([b"\n" + _varint(len(p)) + p for p in payloads])).event
        except DecodeError:
            pass
        events = []
        for s, p in zip(blk.starts.tolist(), payloads, strict=True):
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
                    st.restarts.append(
                        {"step": int(ev.step), "wall_time": float(ev.wall_time), "file": self.label}
                    )
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
            try:
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
            except _BadTensor as exc:
                self._bad_tensor(tag, exc)
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

    def _bad_tensor(self, tag: str, exc: _BadTensor) -> None:
        """Skip and count a damaged tensor value (raise under strict)."""
        msg = f"{self.label}: tag {display_name(tag)!r}: a damaged tensor was skipped ({exc})"
        if self.st.strict:
            raise DamagedInputError(msg) from None
        self.st.skipped["bad_tensors"] += 1
        self.st.warn(msg)

    def _stats(
        self, tag: str, stats: tuple[float, ...] | None, *, exact: bool
    ) -> Iterator[tuple[str, float]]:
        if stats is None:
            self.st.ignored["empty_histograms"] += 1
            return
        for stat, x in zip(_HISTOGRAM_STATS, stats, strict=True):
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
