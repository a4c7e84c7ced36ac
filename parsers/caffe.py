"""Caffe solver logs (the glog output of ``caffe train``), including ``debug_info``.

Tags (the contract; also in ``meta["statistics"]``):

=================================== ==============================================================
``train/<output>``                  each ``Train net output #k: <output> = v`` (raw, per display)
``train/loss_smoothed``             ``Iteration N ..., loss = X`` (averaged over ``average_loss``)
``train/lr``                        ``Iteration N, lr = X``
``train/iter_per_s``                the rate of ``Iteration N (X iter/s, ...)``
``test<k>/<output>``                test net *k*'s outputs; ``test<k>/score<i>`` for the old
                                    ``Test score #i``; ``test<k>/total_loss`` for ``Test loss:``
``grad_norm/total``                 debug_info ``[Backward] All net params``: L2 norm of the diff
``grad_l1/total``, ``param_norm/total``, ``param_l1/total``   the other three numbers of that line
``grad_norm/total_preclip``         the L2 norm in ``Gradient clipping: ...`` lines
``grad_absmean/<layer>/<param>``    ``[Backward] Layer L, param blob P diff: m`` (mean |diff|)
``bwd_absmean/<layer>/<blob>``      ``[Backward] Layer L, bottom blob B diff: m``
``fwd_absmean/<layer>/<blob>``      ``[Forward] Layer L, top blob B data: m``
``param_absmean/<layer>/<param>``   ``[Forward] Layer L, param blob P data: m``
``input_absmean/<blob>``            ``[Forward] Input B data: m``
``update_absmean/<layer>/<param>``  ``[Update] Layer L, param P ... diff: m`` (the applied step)
``update_param_absmean/<l>/<p>``    ``[Update] Layer L, param P data: m``
=================================== ==============================================================

How steps are found (Caffe's ``Solver::Step`` order): for iteration N, the ``[Forward]``,
``[Backward]`` and ``All net params`` lines come before ``Iteration N (...), loss``; the
``Train net output`` lines, ``Iteration N, lr``, clipping and ``[Update]`` lines after it;
``Iteration N, Testing net`` and its outputs before the training step of N. A run of
debug lines starts a *block*; the ``Iteration N ..., loss`` line inside the block gives
its iteration. Current Caffe prints debug lines on display iterations only (every block
has its line); older Caffe on every iteration: the blocks between two display lines
are then the iterations between them, and they are placed only when their number
matches the gap exactly and each has the same shape (count of [Forward], [Backward] and
All-net-params lines) as the blocks with a loss line. Anything whose iteration is not
certain is dropped and counted (``meta["skipped"]``), never put on a guessed step.

Wall time: glog prints month, day and time of day (local time, read as UTC: durations
are right, the absolute offset is not). The year comes from the glog file header
(``Log file created at: 2015/07/03 ...``), a ``Lyyyymmdd`` prefix, or a glog file name
(``....log.INFO.20150703-144016.1234``); otherwise 1970 is assumed and
``meta["wall_time_year_assumed"]`` is True (a Feb 29 line makes that year a leap year).
The year rolls over when the date goes back by more than six months. Debug values take
the time of their iteration's loss line (interpolated between two loss lines for the
in-between iterations of older Caffe, NaN where no loss line bounds them).

The reader streams the input in large chunks, scans each chunk with one regular
expression (one match per line, in C) and converts the values in bulk with numpy.
"""

from __future__ import annotations

import gc
import math
import zlib
from collections import Counter
from itertools import compress
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from gradlog.parsers import _caffe_lines as L

from gradlog.errors import DamagedInputError, EmptyLogError, ParseError
from gradlog.frame import ParseResult
from gradlog.source import Source

__all__ = ["NAME", "DESCRIPTION", "STATISTICS", "sniff", "read"]

NAME = "caffe"
DESCRIPTION = "Caffe solver log (glog output of `caffe train`, incl. debug_info)"

#: Bytes read per chunk (the last partial line is carried to the next chunk).
CHUNK_BYTES = 2 << 20
#: The year assumed when the log has none (not a leap year; a Feb 29 line makes it one).
ASSUMED_YEAR = 1970

#: What each tag (prefix) measures; copied into ``meta["statistics"]``.
STATISTICS: dict[str, str] = {
    "train/<output>": "raw value of a train net output blob ('Train net output #k: <output> = v') "
                      "at each display iteration; '/<j>' is appended for element j >= 1 of a "
                      "multi-element output",
    "train/loss_smoothed": "the 'Iteration N ..., loss = X' value: the training loss averaged by "
                           "Caffe over the last average_loss iterations (raw when average_loss = 1)",
    "train/lr": "learning rate used for iteration N ('Iteration N, lr = X')",
    "train/iter_per_s": "iterations per second since the previous display, from "
                        "'Iteration N (X iter/s, ...)'; the first rate of each run is not kept "
                        "(Caffe prints a meaningless one there)",
    "test<k>/<output>": "output of test net k, averaged by Caffe over test_iter batches, at the "
                        "iteration of its 'Iteration N, Testing net (#k)' line (tested before "
                        "iteration N's training step)",
    "test<k>/score<i>": "old (before Aug 2014) unnamed 'Test score #i' output of the test net",
    "test<k>/total_loss": "'Test loss: X' (test_compute_loss): the test net's total weighted loss",
    "grad_norm/total": "debug_info '[Backward] All net params (data, diff)': L2 norm of the gradient "
                       "of all learnable parameters (before clipping, weight decay and momentum)",
    "grad_l1/total": "same line: L1 norm (sum of |diff|) of the gradient of all learnable parameters",
    "param_norm/total": "same line: L2 norm of all learnable parameters",
    "param_l1/total": "same line: L1 norm (sum of |data|) of all learnable parameters",
    "grad_norm/total_preclip": "global gradient L2 norm from 'Gradient clipping: scaling down "
                               "gradients (L2 norm X > C)': only iterations that were clipped, "
                               "only where the iteration is certain",
    "grad_absmean/<layer>/<param>": "debug_info '[Backward] Layer L, param blob P diff: m': MEAN "
                                    "ABSOLUTE gradient (asum(diff)/count) of a parameter blob, not "
                                    "an L2 norm; blob 0 is usually the weights, 1 the bias",
    "bwd_absmean/<layer>/<blob>": "'[Backward] Layer L, bottom blob B diff: m': mean |gradient| "
                                  "flowing into the layer's input blob",
    "fwd_absmean/<layer>/<blob>": "'[Forward] Layer L, top blob B data: m': mean |activation| of "
                                  "the layer's output blob",
    "param_absmean/<layer>/<param>": "'[Forward] Layer L, param blob P data: m': mean |weight|",
    "input_absmean/<blob>": "'[Forward] Input B data: m': mean |data| of a net input blob",
    "update_absmean/<layer>/<param>": "'[Update] Layer L, param P ... diff: m' (Caffe before "
                                      "Aug 2015): mean |step| the solver applied (lr, momentum and "
                                      "weight decay included)",
    "update_param_absmean/<layer>/<param>": "'[Update] Layer L, param P data: m': mean |weight| "
                                            "just before that step",
}

#: Skipped-line counts that are damage (``strict=True`` raises on them).
_DAMAGE = ("truncated_input", "non_utf8_lines", "malformed_lines", "unknown_debug_lines",
           "unplaced_values")

_G0, _G1 = itemgetter(0), itemgetter(1)


def _lut(*kinds: int) -> np.ndarray:
    out = np.zeros(32, dtype=bool)
    out[list(kinds)] = True
    return out


_OPENS = _lut(L.K_F, L.K_B, L.K_A)                        # (K_TF: a test-net line opens nothing)
_PASS = _lut(L.K_F, L.K_B, L.K_A)                         # what a pass is made of
_TRAIN_DEBUG = _lut(L.K_F, L.K_B, L.K_A, L.K_U, L.K_U1)   # train-net debug lines
_DROP = -1
#: Event of a damaged Iteration line: the output lines after it belong to no known step.
EV_BROKEN = "broken_iteration_line"


def sniff(source: Source) -> bool:
    """Return True when the first 64 KiB hold a glog line written by Caffe.

    A glog prefix alone is not enough (other programs use glog), nor is a source file
    name Caffe also uses (``common.cpp``, ``solver.cpp``): the line must carry a message
    only Caffe prints, or a Caffe-like message from one of Caffe's source files.
    """
    if source.is_dir or not source.head:
        return False
    for m in L.SNIFF_LINE_RE.finditer(source.head):
        if L.SNIFF_MSG_RE.match(m[2]) or (m[1] in L.SNIFF_FILES and L.SNIFF_WEAK_RE.match(m[2])):
            return True
    return False


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read a Caffe solver log into the common frame.

    Parameters
    ----------
    source : the log (a path, a ``.gz`` file or a binary stream, via :class:`Source`).
    strict : raise on damage (undecodable, malformed or unplaceable lines, a cut gzip
        stream) instead of skipping and counting it.

    Returns
    -------
    ParseResult with the frame, the meta (``step_unit``, ``skipped``, ``warnings``,
    ``restarts``, ``replaced_points``, ``clipping_events``, ``runs_in_file``,
    ``statistics``, ``wall_time_year_assumed``, ``caffe``) and role hints.

    Raises
    ------
    ParseError
        If the input has no glog line at all (not a Caffe log).
    EmptyLogError
        If it has glog lines but no training values.
    DamagedInputError
        With ``strict=True``, on the first kind of damage found.
    """
    reader = _Reader(source)
    # The scanner allocates a tuple per line; nothing it builds is cyclic, so the cyclic
    # garbage collector only costs time here (it is restored afterwards).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return _read(source, reader, strict)
    finally:
        if gc_was_on:
            gc.enable()


def _read(source: Source, reader: _Reader, strict: bool) -> ParseResult:
    size = CHUNK_BYTES
    buf = bytearray(size)
    with source.open() as fh:
        # readinto1 makes at most one underlying read, so a damaged gzip stream still
        # yields everything before the damage; the buffer is reused for every chunk
        readinto = getattr(fh, "readinto1", None) or fh.readinto
        view = memoryview(buf)
        have = 0                  # bytes at the front of buf: the carried partial line
        eof = False
        while not eof:
            while have < size:
                try:
                    got = readinto(view[have:size])
                except (OSError, EOFError, ValueError, zlib.error) as exc:
                    reader.truncated(str(exc))
                    got = 0
                if not got:
                    eof = True
                    break
                have += got
            end = have if eof else buf.rfind(b"\n", 0, have) + 1
            if end == 0 and not eof:   # a line longer than the buffer: a bigger buffer
                size *= 2
                bigger = bytearray(size)
                bigger[:have] = buf[:have]
                buf, view = bigger, memoryview(bigger)
                continue
            if eof and end and buf[end - 1] != 10:
                reader.feed(bytes(buf[:end]) + b"\n")
            elif end:
                reader.feed(buf, end)
            rest = have - end
            buf[:rest] = buf[end:have]
            have = rest
        view.release()
    return reader.finish(strict=strict)


# -- the reader --------------------------------------------------------------------------------
class _Run:
    """One launch of the solver inside the file (and its block-placement state)."""

    __slots__ = ("index", "line", "kind", "net", "resumed_from", "solver", "lr_policy", "ended",
                 "first_step", "last_step", "last_loss_step", "rates", "first_rate_step", "has_data",
                 "first_anchor", "last_anchor", "first_seg", "last_seg", "leading", "unanchored",
                 "mode")

    def __init__(self, index: int, line: int, kind: str) -> None:
        self.index, self.line, self.kind = index, line, kind
        self.net: str | None = None
        self.resumed_from: str | None = None
        self.solver: dict[str, Any] = {}
        self.lr_policy: str | None = None
        self.ended: str | None = None
        self.first_step: int | None = None
        self.last_step: int | None = None
        self.last_loss_step: int | None = None
        self.rates = 0
        self.first_rate_step: int | None = None
        self.has_data = False
        self.first_anchor: tuple[int, float] | None = None
        self.last_anchor: tuple[int, float] | None = None
        self.first_seg = -1
        self.last_seg = -1
        self.leading: list[int] = []
        self.unanchored: list[int] = []
        self.mode: str | None = None      # "every_iteration" | "display_only"

    def saw(self, step: int) -> None:
        self.has_data = True
        if self.first_step is None:
            self.first_step = step
        self.last_step = step if self.last_step is None else max(self.last_step, step)


class _Block:
    """A run of debug lines of one iteration (a segment that starts with [Forward])."""

    __slots__ = ("seg", "run", "anchored")

    def __init__(self, seg: int, run: _Run) -> None:
        self.seg, self.run, self.anchored = seg, run, False


class _Reader:
    """Streaming state machine: :meth:`feed` whole-line chunks, then :meth:`finish`."""

    def __init__(self, source: Source) -> None:
        self.name = source.name
        # tags
        self.tag_ids: dict[str, int] = {}
        self.tag_names: list[str] = []
        self.tag_sources: list[str] = []
        self.loss_weight: dict[str, float] = {}
        self.out_tags: dict[tuple, int] = {}
        # debug keys: bytes -> id (0 is "no key"); a miss parses the new key
        self.keytab = _KeyTable(self._key)
        self.keytab[b""] = 0
        self.spanned = False
        self.key_kind = [L.K_NONE]
        self.key_tag1 = [-1]
        self.key_tag2 = [-1]
        self._key_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # counts and notes
        self.skipped: Counter[str] = Counter()
        self.first_damage: dict[str, int] = {}
        self.warnings: list[str] = []
        self.info: Counter[str] = Counter()
        self.fatal: list[dict[str, Any]] = []
        self.multistep: list[dict[str, int]] = []
        self.clipping_events = 0
        self.glog_lines = 0
        self.formats: set[str] = set()
        # position
        self.line_base = 0
        self._lone_before: np.ndarray | None = None
        # time
        self.year: int | None = None
        self.year_source = "assumed"
        self.year_assumed_used = False
        self.prev_md: int | None = None
        self.leap_assumed: set[int] = set()
        self.name_year: tuple[int, int] | None = None
        if source.path is not None:
            m = L.GLOG_NAME_RE.search(source.path.name)
            if m:
                self.name_year = (int(m[1]), int(m[2]) * 100 + int(m[3]))
        self.header: dict[str, str] = {}
        self.truncation: str | None = None
        # junk-line state (the solver/net parameter dumps follow their glog line)
        self.dump: str | None = None
        self.dump_depth = 0
        self.dump_target: dict[str, Any] = {}
        # record-sequence carry between chunks
        self.last_kind = L.K_NONE
        self.last_pass_kind = L.K_NONE
        self.last_nonf_kind = L.K_NONE
        self.cur_seg = 0
        self.tdc = 0
        # runs, blocks, segments
        self.runs: list[_Run] = []
        self.run: _Run | None = None
        self.block: _Block | None = None
        self.seg_step: dict[int, int] = {0: _DROP}
        self.seg_wall: dict[int, float] = {}
        self.seg_shape: dict[int, list[int]] = {}
        self.chain: list[Any] | None = None
        self.last_iter_step: int | None = None
        self.pending_clips: list[tuple[int, float, float, int, _Run]] = []
        # rows
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.out: list[tuple[np.ndarray, np.ndarray, np.ndarray, Any]] = []
        self.rows: list[tuple[int, int, float, float]] = []
        self.t_preclip = self._tag("grad_norm/total_preclip", "Gradient clipping: L2 norm")
        self.t_smoothed = self._tag("train/loss_smoothed", "Iteration N, loss")
        self.t_lr = self._tag("train/lr", "Iteration N, lr")
        self.t_rate = self._tag("train/iter_per_s", "iter/s")
        self.t_all = [self._tag(t, s) for t, s in zip(L.ALL_PARAMS_TAGS, L.ALL_PARAMS_SOURCES)]

    # -- small helpers ------------------------------------------------------------------------
    def _tag(self, name: str, source: str) -> int:
        i = self.tag_ids.get(name)
        if i is None:
            i = self.tag_ids[name] = len(self.tag_names)
            self.tag_names.append(name)
            self.tag_sources.append(source)
        return i

    def _count(self, what: str, line: int | None = None, n: int = 1) -> None:
        self.skipped[what] += n
        if line is not None and what not in self.first_damage:
            self.first_damage[what] = line

    def _line(self, k: int) -> int:
        """The 1-based physical line number of record ``k`` of the current chunk."""
        adj = int(self._lone_before[k]) if self._lone_before is not None else 0
        return self.line_base + k - adj + 1

    def _key(self, key: bytes) -> int:
        i = dict.get(self.keytab, key)
        if i is None:
            if b"\n" in key:
                self.spanned = True
            dk = L.parse_debug_key(key)
            i = self.keytab[key] = len(self.key_kind)
            self.key_kind.append(dk.kind)
            if dk.kind == L.K_BADKEY or dk.kind == L.K_A:
                self.key_tag1.append(-1)
                self.key_tag2.append(-1)
            else:
                self.key_tag1.append(self._tag(dk.tag, dk.source))
                self.key_tag2.append(self._tag(dk.tag2, dk.source + " (diff)") if dk.tag2 else -1)
            self._key_arrays = None
        return i

    def _keys(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._key_arrays is None:
            self._key_arrays = (np.array(self.key_kind, dtype=np.int8),
                                np.array(self.key_tag1, dtype=np.int32),
                                np.array(self.key_tag2, dtype=np.int32))
        return self._key_arrays

    def _ensure_run(self, k: int) -> _Run:
        """The current run (one is opened at record ``k`` when there is none)."""
        if self.run is None:
            self._new_run(self._line(k), "start")
        assert self.run is not None
        return self.run

    def _new_run(self, line: int, kind: str) -> _Run:
        self.run = _Run(len(self.runs), line, kind if self.runs else "start")
        self.runs.append(self.run)
        return self.run

    def _row(self, tag: int, step: int, value: float, wall: float) -> None:
        self.rows.append((tag, step, value, wall))

    def truncated(self, why: str) -> None:
        """Note that the (gzip) input ended early (reported with the last line read)."""
        self.truncation = why

    # -- one chunk ----------------------------------------------------------------------------
    def feed(self, chunk: bytes | bytearray, end: int | None = None) -> None:
        """Read the whole lines ``chunk[:end]`` (the last one ends with a newline)."""
        if end is None:
            end = len(chunk)
        self._lone_before = None
        n_lone = 0
        if chunk.find(b"\r", 0, end) >= 0:
            chunk, n_lone = self._normalise_cr(bytes(chunk[:end]))
            end = len(chunk)
        arr = np.frombuffer(chunk, dtype=np.uint8, count=end)
        recs = L.LINE_FAST.findall(chunk, 0, end)
        n = len(recs)
        if n != np.count_nonzero(arr == 10):
            # a glog prefix ran over a line end (a damaged line): rescan safely
            recs = L.LINE_SAFE.findall(chunk, 0, end)
            n = len(recs)
        kid = np.fromiter(map(self.keytab.__getitem__, map(_G0, recs)), dtype=np.int32, count=n)
        if self.spanned:               # a key ran over a line end: rescan safely
            self.spanned = False
            recs = L.LINE_SAFE.findall(chunk, 0, end)
            n = len(recs)
            kid = np.fromiter(map(self.keytab.__getitem__, map(_G0, recs)), dtype=np.int32,
                              count=n)
        kind = self._keys()[0][kid]
        if arr.max(initial=0) >= 128:
            for k in _bad_utf8_lines(bytes(chunk[:end])):
                kind[k] = L.K_SKIP
                self._count("non_utf8_lines", self._line(k))
        bad = kind == L.K_BADKEY
        if bad.any():
            self._count("unknown_debug_lines", self._line(int(np.flatnonzero(bad)[0])),
                        int(bad.sum()))
            kind[bad] = L.K_NONE
        self.glog_lines += n - int(np.count_nonzero(kid == 0))

        events = self._pass_lines(kid, kind, recs)
        walls = self._event_walls(events)
        del arr
        _, key_tag1, key_tag2 = self._keys()
        self._sequence(kind, kid, recs, events, walls, key_tag1, key_tag2)
        del recs
        self._flush_rows()
        self._resolve_pending()
        self.line_base += n - n_lone

    def _normalise_cr(self, chunk: bytes) -> tuple[bytes, int]:
        chunk = chunk.replace(b"\r\n", b"\n")
        if b"\r" not in chunk:
            self.formats.add("crlf")
            return chunk, 0
        arr = np.frombuffer(chunk, dtype=np.uint8)
        term = np.flatnonzero((arr == 10) | (arr == 13))
        is_cr = (arr[term] == 13).astype(np.int64)
        self._lone_before = np.cumsum(is_cr) - is_cr
        n_lone = int(is_cr.sum())
        self.info["cr_joined_lines"] += n_lone
        return chunk.replace(b"\r", b"\n"), n_lone

    # -- pass 1: the non-debug lines, in order -------------------------------------------------
    def _pass_lines(self, kid: np.ndarray, kind: np.ndarray,
                    recs: list[tuple[bytes, bytes]]) -> list[tuple[int, bytes, tuple]]:
        """Parse every line that is not a debug line (glog or not), in order.

        Returns the events (record index, timestamp, parsed message); sets the record
        kinds of the events that are records.
        """
        events: list[tuple[int, bytes, tuple]] = []
        idx = np.flatnonzero(kid == 0).tolist()
        if not idx:
            return events
        found = L.EVENT_RE.findall(b"\n".join([recs[k][1] for k in idx]) + b"\n")
        if len(found) != len(idx):         # a line the scanner split differently: impossible
            raise ParseError(f"{self.name}: internal error: {len(found)} events for {len(idx)} lines")
        skipk = set(np.flatnonzero(kind == L.K_SKIP).tolist()) if (kind == L.K_SKIP).any() else ()
        set_k: list[int] = []
        set_v: list[int] = []
        prev = -1
        handlers = L.HANDLERS
        num = L.parse_num
        append = events.append
        for k, g in zip(idx, found):
            if k != prev + 1:          # a debug line came in between: a dump cannot go on
                self.dump = None
            prev = k
            if skipk and k in skipk:
                continue
            ts = g[0]
            if not ts:
                self._junk(k, g[10], events)
                continue
            self.glog_lines += 1
            if g[1]:                   # Iteration N ..., loss = X  /  Iteration N, lr = X
                self.dump = None
                if len(g[1]) > 18 and int(g[1]) > L.MAX_STEP:
                    self._count("malformed_lines", self._line(k))
                    append((k, ts, (EV_BROKEN,)))
                    continue
                if g[3] == b"loss":
                    ev: tuple = (L.K_L, int(g[1]), num(g[4]), num(g[2]) if g[2] else None, g[4])
                else:
                    ev = (L.K_LR, int(g[1]), num(g[4]))
                set_k.append(k)
                set_v.append(ev[0])
                append((k, ts, ev))
                continue
            if g[5]:                   # Train net output #k: name = v
                self.dump = None
                w = g[8]
                ev = (L.K_TRO, int(g[5]), g[6], num(g[7]), num(w) if w else None)
                set_k.append(k)
                set_v.append(L.K_TRO)
                append((k, ts, ev))
                continue
            msg = g[9]
            if msg:                    # (Intel Caffe prints a dump after an empty message)
                self.dump = None
            if ts[0] == 70:           # a fatal line ends the run
                set_k.append(k)
                set_v.append(L.K_RUN)
                append((k, ts, ("fatal", msg.decode("utf-8", "replace").strip()[:200])))
                continue
            h = handlers.get(msg[:6])
            if h is None:
                continue
            ev = h(msg)
            if ev is None:
                continue
            k0 = ev[0]
            if k0 == L.K_T and ev[1] > L.MAX_STEP:
                k0 = "malformed"
            if k0 == "malformed":
                self._count("malformed_lines", self._line(k))
                if ev[1] == "Iteration line":   # the outputs after it have no known step
                    append((k, ts, (EV_BROKEN,)))
                continue
            if k0 == "debug_2014":     # a debug line after all: becomes one
                kd = self.keytab[ev[1]]
                kid[k] = kd
                kind[k] = self.key_kind[kd] if self.key_kind[kd] != L.K_BADKEY else L.K_NONE
                recs[k] = (ev[1], ev[2])
                self.formats.add("debug_info_2014")
                continue
            if k0 == L.EV_INFO:
                what = ev[1]
                if what == "solver_params":
                    self.dump, self.dump_depth = "solver", 0
                    self.dump_target = {}
                    ev = (L.EV_INFO, what, self.dump_target)
                elif what == "net_params":
                    self.dump, self.dump_depth = "net", 0
                    continue
                elif what == "multistep":
                    self.multistep.append({"step": ev[2], "stage": ev[3]})
                    continue
                elif what in ("snapshot", "finetune"):
                    self.info[f"{what}_lines"] += 1
                    continue
            else:
                set_k.append(k)
                set_v.append(L.K_RUN if isinstance(k0, str) else k0)
            append((k, ts, ev))
        if set_k:
            kind[np.array(set_k)] = np.array(set_v, dtype=kind.dtype)
        return events

    def _junk(self, k: int, line: bytes, events: list) -> None:
        if not line.strip():
            return
        if self.dump == "solver":
            self.skipped["parameter_dump_lines"] += 1
            d = self.dump_depth
            if d == 0:
                m = L.PARAM_LINE_RE.match(line)
                if m:
                    key = m[1].decode()
                    if key in L.SOLVER_KEYS:
                        val = L.solver_value(m[2])
                        if key in ("stepvalue", "test_iter"):
                            self.dump_target.setdefault(key, []).append(val)
                        else:
                            self.dump_target[key] = val
            self.dump_depth = max(0, d + line.count(b"{") - line.count(b"}"))
            return
        if self.dump == "net" or L.PROTO_LINE_RE.match(line):
            self.skipped["parameter_dump_lines"] += 1
            return
        if L.STACK_LINE_RE.match(line):
            self.skipped["stack_trace_lines"] += 1
            return
        m = L.HEADER_RE.match(line)
        if m:
            self.header["created"] = m[0][21:].decode()
            events.append((k, b"", ("header", int(m[1]), int(m[2]) * 100 + int(m[3]))))
            return
        if line.startswith((b"Running on machine: ", b"Log line format: ", b"Running duration (")):
            key, _, value = line.partition(b": ")
            name = key.split(b" (")[0].decode("ascii", "replace").lower().replace(" ", "_")
            self.header[name] = value.decode("utf-8", "replace").strip()
            return
        self._count("non_glog_lines", self._line(k))

    def _info_event(self, ev: tuple, line: int) -> None:
        what = ev[1]
        if what == "solver_params":
            run = self.run
            if run is None or run.has_data or run.solver or run.ended is not None:
                self._end_run()
                run = self._new_run(line, "relaunch")
            run.solver = ev[2]
        elif what == "lr_policy" and self.run is not None:
            self.run.lr_policy = ev[2]

    # -- wall times ------------------------------------------------------------------------------
    def _event_walls(self, events: list[tuple[int, bytes, tuple]]) -> np.ndarray:
        """Unix seconds of each event (NaN for the header markers), in event order."""
        n = len(events)
        walls = np.full(n, np.nan)
        if n == 0:
            return walls
        pos = [i for i, e in enumerate(events) if e[1]]
        heads = [i for i, e in enumerate(events) if not e[1]]
        if not pos:
            for i in heads:
                self._set_header(events[i][2])
            return walls
        ts = [events[i][1] for i in pos]
        year, month, day, secs = L.ts_fields(ts)
        pos_arr = np.asarray(pos)
        # split the timestamped events at the header lines (they set the year)
        bounds = np.searchsorted(pos_arr, heads) if heads else np.array([], dtype=np.int64)
        start = 0
        out = np.full(len(pos), np.nan)
        for h, b in zip(heads, [int(x) for x in bounds]):
            if b > start:
                out[start:b] = self._walls_seg(year[start:b], month[start:b], day[start:b],
                                               secs[start:b])
                start = b
            self._set_header(events[h][2])
        if start < len(pos):
            out[start:] = self._walls_seg(year[start:], month[start:], day[start:], secs[start:])
        walls[pos_arr] = out
        return walls

    def _set_header(self, ev: tuple) -> None:
        _, year, md = ev
        self.year, self.prev_md = year, md
        self.year_source = "glog_header"

    def _walls_seg(self, year: np.ndarray, month: np.ndarray, day: np.ndarray,
                   secs: np.ndarray) -> np.ndarray:
        n = len(month)
        out = np.full(n, np.nan)
        ok = month > 0
        if not ok.any():
            return out
        y = year[ok]
        m = month[ok]
        d = day[ok]
        md = m * 100 + d
        if (y >= 0).all():
            yrs = y
            self.year, self.prev_md = int(y[-1]), int(md[-1])
            self.year_source = "glog_prefix"
            self.formats.add("glog_year_prefix")
            assumed = np.zeros(len(m), dtype=bool)
        else:
            if self.year is None:
                if self.name_year is not None:
                    self.year, self.prev_md = self.name_year
                    self.year_source = "file_name"
                else:
                    self.year = ASSUMED_YEAR
                    self.year_source = "assumed"
            prev = np.empty_like(md)
            prev[0] = md[0] if self.prev_md is None else self.prev_md
            prev[1:] = md[:-1]
            roll = (prev - md) > 600
            yrs = self.year + np.cumsum(roll)
            yrs = np.where(y >= 0, y, yrs)
            self.year, self.prev_md = int(yrs[-1]), int(md[-1])
            assumed = np.full(len(m), self.year_source == "assumed")
            if assumed.any():
                self.year_assumed_used = True
                feb29 = assumed & (m == 2) & (d == 29)
                self.leap_assumed.update(int(v) for v in np.unique(yrs[feb29]))
        days = L.days_from_civil(yrs, m, d)
        if self.leap_assumed:
            extra = assumed & (m >= 3) & np.isin(yrs, list(self.leap_assumed))
            days = days + extra
        out[ok] = days * 86400.0 + secs[ok]
        return out

    # -- pass 2: the record sequence --------------------------------------------------------------
    def _sequence(self, kind: np.ndarray, kid: np.ndarray, recs: list[tuple[bytes, bytes]],
                  events: list[tuple[int, bytes, tuple]], walls: np.ndarray,
                  key_tag1: np.ndarray, key_tag2: np.ndarray) -> None:
        """Place the chunk's records on their iterations.

        Vectorised over all records: which [Forward] lines belong to a test net, where
        a debug block starts, which segment (block, or the stretch after a run event)
        each record is in, and how many train-net debug records came before it. Then,
        in record order, a Python pass over the few control points (block starts and
        event lines) that moves the run/block/chain state; and the debug values, in
        bulk, go to the pending rows of their segment.
        """
        if self.skipped.get("non_utf8_lines"):
            kind[kind == L.K_SKIP] = L.K_NONE
        rec = np.flatnonzero(kind)
        nrec = len(rec)
        if nrec == 0:
            for k, _ts, ev in events:
                if ev[0] == L.EV_INFO:
                    self._info_event(ev, self._line(k))
                elif ev[0] == EV_BROKEN:
                    self.chain = None
            return
        kc = kind[rec]
        prev = np.empty_like(kc)
        prev[0] = self.last_kind
        prev[1:] = kc[:-1]
        isf = kc == L.K_F
        last = np.where(~isf, np.arange(nrec), -1)
        np.maximum.accumulate(last, out=last)
        lnf = np.where(last >= 0, kc[np.maximum(last, 0)], self.last_nonf_kind)
        test_f = isf & (lnf == L.K_T)
        train_f = isf & ~test_f
        # A block starts at a train-net [Forward], [Backward] or "All net params" line
        # that does not continue a forward/backward pass (iter_size > 1 repeats the pass
        # inside one block); [Update] lines only continue one. A test-net [Forward] line
        # continues nothing.
        kc_pass = np.where(test_f, L.K_TF, kc)
        prev_pass = np.empty_like(kc_pass)
        prev_pass[0] = self.last_pass_kind
        prev_pass[1:] = kc_pass[:-1]
        bstart = _OPENS[kc_pass] & ~_PASS[prev_pass]
        segstart = bstart | (kc == L.K_RUN)
        segc = np.cumsum(segstart) + self.cur_seg
        tdeb = _TRAIN_DEBUG[kc_pass]
        tdc = np.cumsum(tdeb) + self.tdc
        n_test_f = int(test_f.sum())
        if n_test_f:
            self.skipped["test_net_debug_lines"] += n_test_f
            self.formats.add("debug_info")

        # the shape of each block: how many [Forward], [Backward], All-net-params lines
        # (the same for every iteration of a net; a stretch of blocks is counted only
        # when they all have the shape of the blocks around them)
        base = self.cur_seg
        nseg = int(segc[-1]) - base + 1
        counts = [np.bincount(segc[m] - base, minlength=nseg)
                  for m in (train_f, kc == L.K_B, kc == L.K_A)]
        busy = np.flatnonzero(counts[0] + counts[1] + counts[2])
        if len(busy):
            shape = self.seg_shape
            for sg, a, b_, c in zip((busy + base).tolist(), counts[0][busy].tolist(),
                                    counts[1][busy].tolist(), counts[2][busy].tolist()):
                sh = shape.get(sg)
                if sh is None:
                    shape[sg] = [a, b_, c]
                else:
                    sh[0] += a
                    sh[1] += b_
                    sh[2] += c

        # the control points: block starts and events, in record order
        ev_rec = np.array([e[0] for e in events], dtype=np.int64)
        ev_pos = np.minimum(np.searchsorted(rec, ev_rec), nrec - 1)
        nxt = np.minimum(ev_pos + 1, nrec - 1)
        ev_nk = np.where(ev_pos + 1 < nrec, kc[nxt], -1).tolist()
        ev_tdc = tdc[ev_pos].tolist()
        ev_prev = prev[ev_pos].tolist()
        wl = walls.tolist()
        starts = rec[bstart].tolist()
        j = 0
        nstart = len(starts)
        next_start = starts[0] if starts else 1 << 62
        rows = self.rows
        t_lr, t_smoothed, t_rate = self.t_lr, self.t_smoothed, self.t_rate
        K_L, K_LR, K_TRO = L.K_L, L.K_LR, L.K_TRO
        out_tags, names, lw = self.out_tags, self.tag_names, self.loss_weight
        for i, (k, _ts, ev) in enumerate(events):
            while next_start < k:
                self._new_seg(True, next_start)
                j += 1
                next_start = starts[j] if j < nstart else 1 << 62
            k0 = ev[0]
            r = self.run
            # the most common events, inline, in their plain case (the same result as
            # the general path below, which handles everything else)
            if k0 == K_LR and r is not None and ev[2] is not None:
                step = ev[1]
                self.chain = None
                if r.first_step is None:
                    r.first_step = step
                    r.has_data = True
                if r.last_step is None or step > r.last_step:
                    r.last_step = step
                self.last_iter_step = step
                rows.append((t_lr, step, ev[2], wl[i]))
                continue
            if (k0 == K_L and r is not None and ev[2] is not None and r.first_step is not None
                    and ev[1] >= (r.last_loss_step or 0) and not self.pending_clips
                    and (ev[3] is None or r.rates)):
                step = ev[1]
                wall = wl[i]
                r.last_loss_step = step
                if step > r.last_step:
                    r.last_step = step
                b = self.block
                if b is not None and not b.anchored and b.run is r:
                    self._anchor(b, step, wall)
                self.last_iter_step = step
                self.chain = ["train", step, ev_tdc[i], wall, {}]
                rows.append((t_smoothed, step, ev[2], wall))
                if ev[3] is not None:
                    r.rates += 1
                    if step == r.first_rate_step:
                        self.skipped["first_rate_of_run"] += 1
                    else:
                        rows.append((t_rate, step, ev[3], wall))
                continue
            if k0 == K_TRO:
                ch = self.chain
                if ch is not None and ch[0] == "train" and ch[2] == ev_tdc[i] and ev[3] is not None:
                    _, index, name, value, weight = ev
                    seen = ch[4]
                    first = seen.get(name)
                    tid = out_tags.get((-1, name, index - first if first is not None
                                        and index > first else 0))
                    if tid is not None:
                        if first is None:
                            seen[name] = index
                        if weight:
                            tag = names[tid]
                            if lw.get(tag, 0.0) < abs(weight):
                                lw[tag] = abs(weight)
                        rows.append((tid, ch[1], value, wl[i]))
                        continue
            if k0 == "header":
                continue
            if k0 == EV_BROKEN:
                self.chain = None
                continue
            if k0 == L.EV_INFO:
                self._info_event(ev, self._line(k))
                continue
            self._event(ev, k, wl[i], ev_tdc[i], ev_prev[i], ev_nk[i])
        while j < nstart:
            self._new_seg(True, starts[j])
            j += 1

        # debug rows (train net), with the segment they belong to
        dbg = tdeb & (kc != L.K_A)
        pieces_seg: list[np.ndarray] = []
        pieces_tag: list[np.ndarray] = []
        pieces_val: list[np.ndarray] = []
        if dbg.any():
            self.formats.add("debug_info")
            d_rec = rec[dbg]
            d_seg = segc[dbg]
            d_kid = kid[d_rec]
            is_u = kc[dbg] == L.K_U
            one = ~is_u
            if one.any():
                r1 = d_rec[one]
                vals, ok = L.bulk_floats(_values(recs, r1, len(kind)))
                self._bad_values(ok, r1)
                pieces_seg.append(d_seg[one][ok])
                pieces_tag.append(key_tag1[d_kid[one]][ok])
                pieces_val.append(vals[ok])
            if is_u.any():
                self.formats.add("update_lines")
                ru = d_rec[is_u]
                data, diff, ok = _update_values(_values(recs, ru, len(kind)))
                self._bad_values(ok, ru)
                su = d_seg[is_u][ok]
                ku = d_kid[is_u][ok]
                pieces_seg += [su, su]
                pieces_tag += [key_tag1[ku], key_tag2[ku]]
                pieces_val += [data[ok], diff[ok]]
        is_a = kc == L.K_A
        if is_a.any():
            self.formats.add("debug_info")
            a_rec = rec[is_a]
            a_seg = segc[is_a]
            texts = _values(recs, a_rec, len(kind))
            found = L.ALL_PARAMS_RE.findall(b"\n".join(texts) + b"\n")
            nums, ok = L.bulk_floats([x for g in found for x in g] if len(found) == len(texts)
                                     else [b""] * (4 * len(texts)))
            ok = ok.reshape(-1, 4).all(axis=1)
            if not ok.all():
                self._count("malformed_lines", self._line(int(a_rec[~ok][0])), int((~ok).sum()))
            nums = nums.reshape(-1, 4)[ok]
            na = len(nums)
            if na:
                pieces_seg.append(np.repeat(a_seg[ok], 4))
                pieces_tag.append(np.tile(np.array(self.t_all, dtype=np.int32), na))
                pieces_val.append(nums.ravel())
        for s, t, v in zip(pieces_seg, pieces_tag, pieces_val):
            if len(s):
                self.pending.append((s.astype(np.int64, copy=False), t.astype(np.int32, copy=False),
                                     v))

        # carry to the next chunk
        self.last_kind = int(kc[-1])
        self.last_pass_kind = int(kc_pass[-1])
        nonf = np.flatnonzero(~isf)
        if len(nonf):
            self.last_nonf_kind = int(kc[nonf[-1]])
        self.cur_seg = int(segc[-1])
        self.tdc = int(tdc[-1])

    def _bad_values(self, ok: np.ndarray, recs: np.ndarray) -> None:
        if not ok.all():
            badk = recs[~ok]
            self._count("malformed_lines", self._line(int(badk[0])), len(badk))

    # -- segments and blocks ------------------------------------------------------------------------
    def _new_seg(self, is_block: bool, k: int) -> None:
        self._close_seg()
        self.cur_seg += 1
        if is_block:
            self.block = _Block(self.cur_seg, self._ensure_run(k))
        else:
            self.block = None
            self.seg_step[self.cur_seg] = _DROP

    def _close_seg(self) -> None:
        b = self.block
        if b is not None and not b.anchored:
            r = b.run
            (r.leading if r.last_anchor is None else r.unanchored).append(b.seg)
        self.block = None

    def _shape(self, seg: int) -> tuple[int, ...]:
        return tuple(self.seg_shape.get(seg, (0, 0, 0)))

    def _same_shape(self, segs: list[int], ref: tuple[int, ...]) -> bool:
        return all(self._shape(s) == ref for s in segs)

    def _anchor(self, b: _Block, step: int, wall: float) -> None:
        r = b.run
        b.anchored = True
        self.seg_step[b.seg] = step
        self.seg_wall[b.seg] = wall
        if r.last_anchor is not None:
            a, wa = r.last_anchor
            k = len(r.unanchored)
            gap = step - a - 1
            if (k and k == gap and r.mode != "display_only"
                    and self._shape(b.seg) == self._shape(r.last_seg)
                    and self._same_shape(r.unanchored, self._shape(b.seg))):
                r.mode = "every_iteration"
                for j, s in enumerate(r.unanchored):
                    st = a + 1 + j
                    self.seg_step[s] = st
                    self.seg_wall[s] = wa + (wall - wa) * (st - a) / (step - a)
            elif k == 0:
                if gap > 0 and r.mode is None:
                    r.mode = "display_only"
            else:
                self._drop_segs(r.unanchored)
                why = ("in a log that prints debug_info only on display iterations"
                       if r.mode == "display_only" else f"where {max(gap, 0)} iterations are")
                self.warnings.append(
                    f"{self.name}: {k} debug_info block(s) without their Iteration line between "
                    f"iterations {a} and {step} ({why}): their iterations are unknown, not used")
            r.unanchored = []
            if r.leading and r.mode is not None:
                self._place_leading(r)
        else:
            r.first_anchor = (step, wall)
            r.first_seg = b.seg
        r.last_anchor = (step, wall)
        r.last_seg = b.seg

    def _place_leading(self, r: _Run) -> None:
        if (r.mode == "every_iteration" and r.first_anchor is not None
                and self._same_shape(r.leading, self._shape(r.first_seg))):
            first = r.first_anchor[0]
            n = len(r.leading)
            for j, s in enumerate(r.leading):
                self.seg_step[s] = first - n + j
                self.seg_wall[s] = math.nan
        else:
            self._drop_segs(r.leading)
        r.leading = []

    def _drop_segs(self, segs: list[int]) -> None:
        for s in segs:
            self.seg_step[s] = _DROP

    def _end_run(self, keep_block: bool = False) -> None:
        """Place (or drop) the debug blocks of the current run that wait for a decision."""
        r = self.run
        if r is None:
            return
        if not keep_block:
            self._close_seg()
        if r.unanchored:
            if (r.mode == "every_iteration" and r.last_anchor is not None
                    and self._same_shape(r.unanchored, self._shape(r.last_seg))):
                a = r.last_anchor[0]
                for j, s in enumerate(r.unanchored):
                    self.seg_step[s] = a + 1 + j
                    self.seg_wall[s] = math.nan
            else:
                self._drop_segs(r.unanchored)
            r.unanchored = []
        if r.leading:
            self._place_leading(r)
        self.skipped["unplaced_clipping_events"] += len(self.pending_clips)
        self.pending_clips = []

    # -- events --------------------------------------------------------------------------------------
    def _event(self, ev: tuple, k: int, wall: float, tdc: int, prev: int, nk: int) -> None:
        """Handle one event record (``k``: its record index in the chunk)."""
        kind = ev[0]
        if kind == L.K_L:
            self._loss_line(ev, k, wall, tdc)
        elif kind == L.K_TRO or kind == L.K_TO:
            self._output(ev, k, wall, tdc)
        elif kind == L.K_LR:
            step, value = ev[1], ev[2]
            self.chain = None
            r = self.run or self._ensure_run(k)
            r.saw(step)
            self.last_iter_step = step
            if value is None:
                self._count("malformed_lines", self._line(k))
            else:
                self._row(self.t_lr, step, value, wall)
        elif kind == L.K_T:
            step, net = ev[1], ev[2]
            self.chain = ["test", step, net, tdc, {}]
            (self.run or self._ensure_run(k)).saw(step)
        elif kind == L.K_TI:
            self.chain = None
            self.info["test_interrupted"] += 1
        elif kind == L.K_C:
            self._clip(ev, k, wall, prev, nk)
        else:
            self._run_event(ev, kind, k)

    def _loss_line(self, ev: tuple, k: int, wall: float, tdc: int) -> None:
        _, step, value, rate, _raw = ev
        r = self.run or self._ensure_run(k)
        if r.last_loss_step is not None and step < r.last_loss_step:
            line = self._line(k)
            self.warnings.append(
                f"{self.name}: line {line}: the iteration counter goes back from "
                f"{r.last_loss_step} to {step}: read as a restart")
            b = self.block
            self._end_run(keep_block=True)
            r = self._new_run(line, "counter_reset")
            if b is not None:
                b.run = r
        r.last_loss_step = step
        r.saw(step)
        if self.pending_clips:
            for tag, v, w, cand, cr in self.pending_clips:
                if cr is r and step == cand + 1:
                    self._row(tag, cand, v, w)
                else:
                    self.skipped["unplaced_clipping_events"] += 1
            self.pending_clips = []
        b = self.block
        if b is not None and not b.anchored and b.run is r:
            self._anchor(b, step, wall)
        self.last_iter_step = step
        self.chain = ["train", step, tdc, wall, {}]
        if value is None:
            self._count("malformed_lines", self._line(k))
        else:
            self._row(self.t_smoothed, step, value, wall)
        if rate is not None:
            r.rates += 1
            if r.rates == 1:
                self.formats.add("iter_per_s")
                r.first_rate_step = step
            if step == r.first_rate_step:     # (also when that line is logged twice)
                self.skipped["first_rate_of_run"] += 1
            else:
                self._row(self.t_rate, step, rate, wall)

    def _output(self, ev: tuple, k: int, wall: float, tdc: int) -> None:
        kind, index, name, value, weight = ev
        test = kind == L.K_TO
        ch = self.chain
        if ch is None or ch[0] != ("test" if test else "train") or ch[3 if test else 2] != tdc:
            self._count("unplaced_values", self._line(k))
            return
        step = ch[1]
        # Element j of a multi-element output blob is printed as the same name with the
        # next index; the same index again is the same line logged twice.
        j = 0
        if name is not None:
            first = ch[4].setdefault(name, index)
            j = index - first if index > first else 0
        key = (ch[2] if test else -1, index if name is None else name, j)
        tid = self.out_tags.get(key)
        if tid is None:
            tid = self.out_tags[key] = self._output_tag(test, ch[2], index, name, j)
        if not test and weight:
            tag = self.tag_names[tid]
            self.loss_weight[tag] = max(self.loss_weight.get(tag, 0.0), abs(weight))
        r = self.run or self._ensure_run(k)
        r.saw(step)
        if value is None:
            self._count("malformed_lines", self._line(k))
        else:
            self._row(tid, step, value, wall)

    def _output_tag(self, test: bool, net: int, index: int, raw: bytes | None, j: int) -> int:
        name = raw.decode("utf-8", "replace").strip() if raw is not None else None
        if test:
            if name is None:
                name = "total_loss" if index < 0 else f"score{index}"
                src = "Test loss" if index < 0 else f"Test score #{index}"
                if index >= 0:
                    self.formats.add("test_score")
            else:
                src = name
            prefix = f"test{net}/"
        else:
            src = name or ""
            prefix = "train/"
        return self._tag(prefix + (name or "") + (f"/{j}" if j else ""), src)

    def _clip(self, ev: tuple, k: int, wall: float, prev: int, nk: int) -> None:
        _, norm, _threshold = ev
        self.clipping_events += 1
        self.chain = None
        if norm is None:
            self._count("malformed_lines", self._line(k))
            return
        b = self.block
        after_pass = prev in (L.K_A, L.K_B)
        after_display = prev in (L.K_LR, L.K_L, L.K_TRO)
        if b is not None and (after_pass or (after_display and nk in (L.K_U, L.K_U1))):
            self.pending.append((np.array([b.seg], dtype=np.int64),
                                 np.array([self.t_preclip], dtype=np.int32),
                                 np.array([norm], dtype=np.float64)))
        elif after_display and self.last_iter_step is not None and self.run is not None:
            self.pending_clips.append((self.t_preclip, norm, wall, self.last_iter_step, self.run))
        else:
            self.skipped["unplaced_clipping_events"] += 1

    def _run_event(self, ev: tuple, kind: str, k: int) -> None:
        self.chain = None
        self._new_seg(False, k)
        r = self.run
        line = self._line(k)
        if kind in (L.EV_SOLVING, L.EV_RESUMING, L.EV_RESTORING):
            if r is None or r.has_data or r.ended is not None or (
                    kind == L.EV_SOLVING and r.net is not None):
                self._end_run()
                r = self._new_run(line, "relaunch")
            if kind == L.EV_SOLVING:
                r.net = ev[1]
            else:
                r.resumed_from = ev[1]
        elif kind in (L.EV_DONE, L.EV_STOPPED):
            self._end_run()
            if r is not None and r.ended is None:
                r.ended = kind
        elif kind == "fatal":
            self._end_run()
            self.fatal.append({"line": line, "message": ev[1]})
            if r is not None and r.ended is None and r.net is not None:
                r.ended = "fatal"

    # -- rows ------------------------------------------------------------------------------------------
    def _flush_rows(self) -> None:
        rows = self.rows
        if rows:
            t, s, v, w = zip(*rows)
            self.out.append(_compact(np.array(t, dtype=np.int32), np.array(s, dtype=np.int64),
                                     np.array(v, dtype=np.float64), np.array(w, dtype=np.float64)))
            rows.clear()

    def _resolve_pending(self, final: bool = False) -> None:
        if not self.pending:
            return
        if len(self.pending) == 1:
            seg, tag, val = self.pending[0]
        else:
            seg = np.concatenate([p[0] for p in self.pending])
            tag = np.concatenate([p[1] for p in self.pending])
            val = np.concatenate([p[2] for p in self.pending])
        lo, hi = int(seg.min()), int(seg.max())
        get_s, get_w = self.seg_step.get, self.seg_wall.get
        live = self.block.seg if (self.block is not None and not final) else None
        steps = np.empty(hi - lo + 1, dtype=np.int64)
        walls = np.empty(hi - lo + 1, dtype=np.float64)
        for s in range(lo, hi + 1):
            st = get_s(s)
            if st is None:
                st = -2 if (not final) else _DROP   # -2: not decided yet
            steps[s - lo] = st
            walls[s - lo] = get_w(s, math.nan)
        st_row = steps[seg - lo]
        keep = st_row >= 0
        undecided = st_row == -2
        dropped = ~keep & ~undecided
        nd = int(dropped.sum())
        if nd:
            self.skipped["unplaced_values"] += nd
        if keep.any():
            self.out.append(_compact(tag[keep], st_row[keep], val[keep], walls[seg[keep] - lo]))
        if undecided.any():
            self.pending = [(seg[undecided], tag[undecided], val[undecided])]
        else:
            self.pending = []
        # forget decided segments nobody can refer to any more
        floor = int(seg[undecided].min()) if undecided.any() else (live or self.cur_seg)
        if len(self.seg_step) > 4096:
            keep = {r.first_seg for r in self.runs} | {r.last_seg for r in self.runs}
            for s in [s for s in self.seg_step if s < floor and s not in keep]:
                del self.seg_step[s]
                self.seg_wall.pop(s, None)
                self.seg_shape.pop(s, None)

    # -- the end ---------------------------------------------------------------------------------------
    def finish(self, *, strict: bool) -> ParseResult:
        """Close the last run, build the frame and the meta.

        Raises
        ------
        ParseError, EmptyLogError, DamagedInputError
            See :func:`read`.
        """
        self._end_run()
        self._flush_rows()
        self._resolve_pending(final=True)
        if self.truncation is not None:
            self._count("truncated_input", self.line_base)
            self.warnings.append(f"{self.name}: the input ends early, after line {self.line_base} "
                                 f"({self.truncation})")
        if strict:
            for what in _DAMAGE:
                if self.skipped.get(what):
                    line = self.first_damage.get(what)
                    where = f"line {line}: " if line else ""
                    raise DamagedInputError(
                        f"{self.name}: {where}{self.skipped[what]} {what.replace('_', ' ')} "
                        f"(strict mode)")
        if self.line_base == 0:
            raise EmptyLogError(f"{self.name}: empty file")
        if self.glog_lines == 0:
            raise ParseError(f"{self.name}: no glog-format line (Lmmdd hh:mm:ss.uuuuuu ... file:line]) "
                             f"found: not a Caffe log")
        frame, replaced = _assemble(self.out, self.tag_names, self.tag_sources)
        self.out = []
        if len(frame) == 0:
            raise EmptyLogError(f"{self.name}: a glog file without Caffe training values "
                                f"(no Iteration, Train/Test net output or debug_info lines)")
        tags = set(frame["tag"].cat.categories)
        return ParseResult(frame, self._meta(replaced), self._roles(tags))

    def _roles(self, tags: set[str]) -> dict[str, Any]:
        roles: dict[str, Any] = {}
        outputs = [t for t in self.tag_names if t in tags and t.startswith("train/")
                   and t not in ("train/loss_smoothed", "train/lr", "train/iter_per_s")]
        losses = [t for t in outputs if t in self.loss_weight or "loss" in t.rsplit("/", 1)[-1]]
        if "train/loss" in tags:
            roles["loss"] = "train/loss"
        elif losses:
            # the loss output with the largest loss weight (the main head, not an auxiliary one)
            roles["loss"] = max(losses, key=lambda t: self.loss_weight.get(t, 0.0))
        elif "train/loss_smoothed" in tags:
            roles["loss"] = "train/loss_smoothed"
        if "train/lr" in tags:
            roles["lr"] = "train/lr"
        if "grad_norm/total" in tags:
            roles["grad_total"] = "grad_norm/total"
        loss = roles.get("loss")
        if loss and loss.startswith("train/") and loss != "train/loss_smoothed":
            name = loss[len("train/"):]
            if f"test0/{name}" in tags:
                roles["val_loss"] = f"test0/{name}"
            head = name.split("/", 1)[0] + "/" if "/" in name else ""
            metrics = sorted(t for t in tags if t.startswith("test0/" + head)
                             and any(w in t.rsplit("/", 1)[-1].lower() for w in ("acc", "top-1", "top1")))
            if metrics:
                roles["val_metric"] = metrics[0]
        return roles

    def _meta(self, replaced: int) -> dict[str, Any]:
        restarts = []
        prev_last: int | None = None
        for r in self.runs:
            if r.index > 0:
                kind = "resume" if r.resumed_from is not None else (
                    "counter_reset" if r.kind == "counter_reset" else "relaunch")
                restarts.append({"kind": kind, "line": r.line, "step": r.first_step,
                                 "previous_step": prev_last, "resumed_from": r.resumed_from})
            if r.last_step is not None:
                prev_last = r.last_step
        runs = [{"line": r.line, "net": r.net, "first_step": r.first_step,
                 "last_step": r.last_step, "resumed_from": r.resumed_from,
                 "ended": r.ended or "log ends", "lr_policy": r.lr_policy,
                 "debug_info": r.mode, "solver": r.solver} for r in self.runs]
        caffe: dict[str, Any] = {
            "runs": runs,
            "line_formats": sorted(self.formats),
            "year": {"source": self.year_source, "assumed_year": ASSUMED_YEAR
                     if self.year_assumed_used else None},
            "glog_header": self.header,
            "fatal_errors": self.fatal,
            "multistep_events": self.multistep,
            "loss_weights": dict(self.loss_weight),
            **{k: v for k, v in self.info.items()},
        }
        solver_types = {str(r.solver.get("type", r.solver.get("solver_type")))
                        for r in self.runs if r.solver.get("type") or r.solver.get("solver_type")}
        if solver_types:
            caffe["solver_types"] = sorted(solver_types)
        return {
            "step_unit": "iteration",
            "skipped": {k: v for k, v in sorted(self.skipped.items()) if v},
            "warnings": list(self.warnings),
            "restarts": restarts,
            "replaced_points": replaced,
            "clipping_events": self.clipping_events,
            "runs_in_file": max(1, len(self.runs)),
            "statistics": dict(STATISTICS),
            "wall_time_year_assumed": self.year_assumed_used,
            "caffe": caffe,
        }


# -- helpers -----------------------------------------------------------------------------------------
class _KeyTable(dict):
    """bytes -> key id; a lookup of a new key registers it (C-speed for known keys)."""

    def __init__(self, register: Any) -> None:
        super().__init__()
        self._register = register

    def __missing__(self, key: bytes) -> int:
        return self._register(key)


def _values(recs: list[tuple[bytes, bytes]], idx: np.ndarray, n: int) -> list[bytes]:
    """The second group of the records at ``idx`` (sorted indices into ``recs``)."""
    if len(idx) * 8 < n:
        return [recs[i][1] for i in idx.tolist()]
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return list(map(_G1, compress(recs, mask.tolist())))


def _update_values(texts: list[bytes] | tuple[bytes, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``[Update]`` values ``x; diff: y`` into (data, diff, ok)."""
    n = len(texts)
    parts = b"; diff: ".join(texts).split(b"; diff: ")
    if len(parts) == 2 * n:
        vals, ok = L.bulk_floats(parts)
        ok2 = ok[0::2] & ok[1::2]
        return vals[0::2], vals[1::2], ok2
    data = np.full(n, np.nan)
    diff = np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    for i, t in enumerate(texts):
        a, sep, b = t.partition(b"; diff: ")
        x, y = L.parse_num(a), L.parse_num(b) if sep else None
        if x is not None and y is not None:
            data[i], diff[i], ok[i] = x, y, True
    return data, diff, ok


def _bad_utf8_lines(chunk: bytes) -> list[int]:
    """Indices of the lines of ``chunk`` that are not valid UTF-8."""
    arr = np.frombuffer(chunk, dtype=np.uint8)
    hi = np.flatnonzero(arr >= 0x80)
    if not len(hi):
        return []
    nl = np.flatnonzero(arr == 10)
    bad = []
    for k in np.unique(np.searchsorted(nl, hi)).tolist():
        start = int(nl[k - 1]) + 1 if k else 0
        end = int(nl[k]) if k < len(nl) else len(chunk)
        try:
            chunk[start:end].decode("utf-8")
        except UnicodeDecodeError:
            bad.append(k)
    return bad


def _compact(tag: np.ndarray, step: np.ndarray, value: np.ndarray,
             wall: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """Rows in their smallest exact form: small integer dtypes, and the wall times run-length
    encoded when rows share them (all values of one debug block share their iteration's
    time), so that memory stays proportional to the rows and small."""
    tag = tag.astype(np.int16) if len(tag) and int(tag.max()) < 32767 else tag.astype(np.int32)
    if len(step) and int(step.min()) >= -2**31 and int(step.max()) < 2**31:
        step = step.astype(np.int32)
    if len(wall) > 8:
        cut = np.flatnonzero(wall[1:] != wall[:-1]) + 1
        if len(cut) * 4 < len(wall):
            starts = np.concatenate([[0], cut])
            lengths = np.diff(np.append(starts, len(wall))).astype(np.int32)
            return tag, step, value, (wall[starts], lengths)
    return tag, step, value, wall


def _assemble(pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray, Any]],
              names: list[str], sources: list[str]) -> tuple[pd.DataFrame, int]:
    """Build the common frame from rows in log order (the later record wins).

    The rows are scattered chunk by chunk into their place in the (tag, step) order:
    each tag's rows keep log order, which is step order unless a run was resumed (then
    that tag is sorted by step, the later record first among equals, and the earlier
    duplicates are dropped). Each chunk is freed as soon as it is placed.
    """
    ntag = len(names)
    counts = np.zeros(ntag, dtype=np.int64)
    for p in pieces:
        counts += np.bincount(p[0], minlength=ntag)
    used = np.flatnonzero(counts)
    order_names = sorted(names[i] for i in used)
    alpha = {nm: i for i, nm in enumerate(order_names)}
    rank = np.full(ntag, -1, dtype=np.int64)
    for i in used.tolist():
        rank[i] = alpha[names[i]]
    n = int(counts.sum())
    per_alpha = np.zeros(len(order_names), dtype=np.int64)
    per_alpha[rank[used]] = counts[used]
    start_alpha = np.concatenate([[0], np.cumsum(per_alpha)[:-1]]) if len(per_alpha) else per_alpha
    start = np.zeros(ntag, dtype=np.int64)
    start[used] = start_alpha[rank[used]]
    steps = np.empty(n, dtype=np.int64)
    values = np.empty(n, dtype=np.float64)
    walls = np.empty(n, dtype=np.float64)
    filled = np.zeros(ntag, dtype=np.int64)
    for i in range(len(pieces)):
        t, st, v, w = pieces[i]
        pieces[i] = None  # type: ignore[call-overload]
        if not len(t):
            continue
        if isinstance(w, tuple):
            w = np.repeat(w[0], w[1])
        o = np.argsort(t, kind="stable")
        ts = t[o].astype(np.int64)
        first = np.flatnonzero(np.concatenate([[True], ts[1:] != ts[:-1]]))
        sizes = np.diff(np.append(first, len(ts)))
        grp = ts[first]
        dest = start[ts] + filled[ts] + (np.arange(len(ts)) - np.repeat(first, sizes))
        filled[grp] += sizes
        steps[dest] = st[o]
        values[dest] = v[o]
        walls[dest] = w[o]
        del t, st, v, w, o, ts, dest
    pieces.clear()
    ctype = np.int8 if len(order_names) < 128 else (np.int16 if len(order_names) < 32767 else np.int32)
    c = np.repeat(np.arange(len(order_names), dtype=ctype), per_alpha)
    replaced = 0
    if n > 1 and not _steps_increase(c, steps):
        o2 = np.lexsort((steps, c))      # stable: equal (tag, step) keep log order
        c, steps, values, walls = c[o2], steps[o2], values[o2], walls[o2]
        del o2
        dup = (c[1:] == c[:-1]) & (steps[1:] == steps[:-1])
        if dup.any():
            keep = np.ones(n, dtype=bool)
            keep[:-1] = ~dup
            replaced = int(n - keep.sum())
            c, steps, values, walls = c[keep], steps[keep], values[keep], walls[keep]
    src_by_name = {names[i]: sources[i] for i in used.tolist()}
    src_names = sorted(set(src_by_name.values()))
    spos = {x: i for i, x in enumerate(src_names)}
    stype = np.int8 if len(src_names) < 128 else (np.int16 if len(src_names) < 32767 else np.int32)
    smap = np.array([spos[src_by_name[nm]] for nm in order_names], dtype=stype)
    tag_col = pd.Categorical.from_codes(c, categories=pd.Index(order_names, dtype=object))
    src_col = pd.Categorical.from_codes(smap[c] if len(c) else np.zeros(0, dtype=stype),
                                        categories=pd.Index(src_names, dtype=object))
    del c
    frame = pd.DataFrame({"tag": tag_col, "step": steps, "value": values, "wall_time": walls,
                          "source_tag": src_col}, copy=False)
    return frame, replaced   # (ParseResult validates it)


def _steps_increase(c: np.ndarray, steps: np.ndarray, block: int = 1 << 20) -> bool:
    """True when the steps strictly increase within every tag (checked in slices, so
    the temporaries stay small)."""
    n = len(steps)
    for a in range(0, n - 1, block):
        b = min(n, a + block + 1)
        same = c[a + 1:b] == c[a:b - 1]
        if np.any(same & (steps[a + 1:b] <= steps[a:b - 1])):
            return False
    return True
