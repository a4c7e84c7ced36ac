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
A block that runs the net more than once before its Iteration line (the same blobs'
lines again: ``iter_size`` > 1, or old Caffe's iterations without [Update] lines between
them) is split into those iterations when that is certain (``iter_size`` known and the
count of passes matches the gap exactly); otherwise only its last pass is used and the
earlier ones are counted (``ambiguous_debug_values``) with a warning.

Wall time: glog prints month, day and time of day (local time, read as UTC: durations
are right, the absolute offset is not). The year comes from the glog file header
(``Log file created at: 2015/07/03 ...``), a ``Lyyyymmdd`` prefix, or a glog file name
(``....log.INFO.20150703-144016.1234``); otherwise 1970 is assumed and
``meta["wall_time_year_assumed"]`` is True (a Feb 29 line makes that year a leap year).
The year rolls over when the date goes back by more than six months. Debug values take
the time of their iteration's loss line (interpolated between two loss lines for the
in-between iterations of older Caffe, NaN where no loss line bounds them).

The reader streams the input in large chunks, scans each chunk with one regular
expression (one match per line, in C) and converts the values in bulk with numpy; a
chunk of plain lines (no debug_info) is classified with numpy over its bytes
(:mod:`._caffe_plain`) and its common lines read without a Python loop over lines. A
line longer than :data:`MAX_LINE_BYTES` is skipped and counted (``overlong_lines``), so
memory stays bounded on an input without newlines.
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
from gradlog.parsers import _caffe_plain as P

from gradlog.errors import DamagedInputError, EmptyLogError, ParseError
from gradlog.frame import ParseResult
from gradlog.source import Source

__all__ = ["NAME", "DESCRIPTION", "STATISTICS", "sniff", "read"]

NAME = "caffe"
DESCRIPTION = "Caffe solver log (glog output of `caffe train`, incl. debug_info)"

#: Bytes read per chunk (the last partial line is carried to the next chunk).
CHUNK_BYTES = 2 << 20
#: The longest line kept, in bytes (without its newline): a longer one is skipped and
#: counted (``meta["skipped"]["overlong_lines"]``), so that an input without newlines
#: cannot make the reader's buffer grow without bound.
MAX_LINE_BYTES = 1 << 20
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

#: The bulk reading of plain lines (:meth:`_Reader._feed_plain`): the smallest chunk it
#: is tried on, the shortest stretch of common lines it reads in bulk, how many stretches
#: of rare lines a chunk may have (plus one per 1024 lines) before it is read line by
#: line, the most outputs one Iteration/Testing line may have.
_PLAIN_MIN_BYTES = 4096
_PLAIN_MIN_RUN = 32
_PLAIN_MAX_RARE = 16
_PLAIN_MAX_OUTPUTS = 256
#: How often a stretch of common lines is tried in bulk again after a line that needed
#: the general machinery (a new output name, the first rate of a run, ...).
_PLAIN_TRIES = 8

#: Skipped-line counts that are damage (``strict=True`` raises on them).
_DAMAGE = ("truncated_input", "non_utf8_lines", "malformed_lines", "unknown_debug_lines",
           "unplaced_values", "overlong_lines")

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
    """Stream ``source`` into ``reader`` in chunks of whole lines; return its result.

    A line longer than :data:`MAX_LINE_BYTES` is not kept: its bytes are dropped up to
    its newline (the buffer never grows past about twice that size) and the reader
    counts it. Raises what :meth:`_Reader.finish` raises.
    """
    size = CHUNK_BYTES
    cap = MAX_LINE_BYTES
    buf = bytearray(size)
    dropping = -1             # bytes of an over-long line dropped so far; -1: not in one
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
            if dropping >= 0:         # inside an over-long line: drop it up to its newline
                nl = buf.find(b"\n", 0, have)
                if nl < 0:
                    dropping += have
                    have = 0
                    if eof:
                        reader.overlong(dropping)
                    continue
                reader.overlong(dropping + nl)
                dropping = -1
                rest = have - nl - 1
                buf[:rest] = buf[nl + 1:have]
                have = rest
            end = have if eof else buf.rfind(b"\n", 0, have) + 1
            if end == 0 and not eof:
                if have > cap:        # the line is already too long: drop it
                    dropping = have
                    have = 0
                    continue
                size *= 2             # a line longer than the buffer: a bigger buffer
                bigger = bytearray(size)
                bigger[:have] = buf[:have]
                buf, view = bigger, memoryview(bigger)
                continue
            _feed_chunk(reader, buf, end, eof)
            rest = have - end
            buf[:rest] = buf[end:have]
            have = rest
        view.release()
    return reader.finish(strict=strict)


def _feed_chunk(reader: _Reader, buf: bytearray, end: int, eof: bool) -> None:
    """Feed the lines of ``buf[:end]`` (whole lines; at the end of the input the last
    one may lack its newline), leaving out those longer than :data:`MAX_LINE_BYTES`."""
    cap = MAX_LINE_BYTES
    spans: list[tuple[int, int]] = []       # [start, newline) of each over-long line
    half = max(cap // 2, 1)
    # an over-long line holds a whole aligned window of cap/2 bytes without a newline
    if end > cap and any(buf.find(b"\n", p, p + half) < 0 for p in range(0, end - half + 1, half)):
        arr = np.frombuffer(buf, dtype=np.uint8, count=end)
        nl = np.flatnonzero(arr == 10)
        starts = np.concatenate([[0], nl + 1])
        stops = np.append(nl, end)
        for a, b in zip(starts.tolist(), stops.tolist()):
            if b - a > cap:
                spans.append((a, b))
    if not spans:
        if eof and end and buf[end - 1] != 10:
            reader.feed(bytes(buf[:end]) + b"\n")
        elif end:
            reader.feed(buf, end)
        return
    pos = 0
    for a, b in spans:
        if a > pos:
            reader.feed(bytes(buf[pos:a]))
        reader.overlong(b - a)
        pos = b + 1
    if pos < end:
        tail = bytes(buf[pos:end])
        reader.feed(tail if tail.endswith(b"\n") else tail + b"\n")


# -- the reader --------------------------------------------------------------------------------
class _Run:
    """One launch of the solver inside the file (and its block-placement state)."""

    __slots__ = ("index", "line", "kind", "net", "resumed_from", "solver", "lr_policy", "ended",
                 "first_step", "last_step", "last_loss_step", "rates", "first_rate_step", "has_data",
                 "first_anchor", "last_anchor", "first_seg", "last_seg", "leading", "unanchored",
                 "mode", "one_pass", "ambiguous", "ambiguous_from")

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
        self.one_pass = False             # a block with one pass of the net was anchored
        self.ambiguous = 0                # blocks whose earlier passes were not placed
        self.ambiguous_from: tuple[int, int] | None = None    # (line, iteration) of the first

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
        # output names (bytes, as logged) -> small ints, for the bulk reading
        self.name_ids = _KeyTable(self._name_id)
        self.name_list: list[bytes] = []
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
        self.pass_idx = 0          # pass of the net (0-based) the current block is in
        # runs, blocks, segments
        self.runs: list[_Run] = []
        self.run: _Run | None = None
        self.block: _Block | None = None
        self.seg_step: dict[int, int] = {0: _DROP}
        self.seg_wall: dict[int, float] = {}
        self.seg_shape: dict[int, list[int]] = {}
        # blocks with more than one pass: how their passes are placed (see _place_passes)
        self.seg_pass: dict[int, tuple] = {}
        self.chain: list[Any] | None = None
        self.last_iter_step: int | None = None
        self.pending_clips: list[tuple[int, float, float, int, _Run]] = []
        # rows
        # debug rows waiting for their segment's iteration: (segment, tag, value, pass or None)
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
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

    def _name_id(self, name: bytes) -> int:
        """Register a new output name; return its id."""
        i = self.name_ids[name] = len(self.name_list)
        self.name_list.append(name)
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

    def overlong(self, nbytes: int) -> None:
        """Count the next line as skipped: it is ``nbytes`` long, over :data:`MAX_LINE_BYTES`."""
        line = self.line_base + 1
        self._count("overlong_lines", line)
        limit = f"{MAX_LINE_BYTES >> 20} MiB" if MAX_LINE_BYTES >= 1 << 20 else f"{MAX_LINE_BYTES} bytes"
        self.warnings.append(f"{self.name}: line {line}: longer than {limit} ({nbytes} bytes): "
                             f"skipped")
        self.line_base += 1

    # -- one chunk ----------------------------------------------------------------------------
    def feed(self, chunk: bytes | bytearray, end: int | None = None) -> None:
        """Read the whole lines ``chunk[:end]`` (the last one ends with a newline).

        A chunk of plain solver-log lines (no debug_info) is read in bulk
        (:meth:`_feed_plain`); any other chunk, and the rare lines of a plain one, line
        by line (:meth:`_feed_lines`). Both give the same rows, counts and state.
        """
        if end is None:
            end = len(chunk)
        if (end >= _PLAIN_MIN_BYTES and chunk.find(b"[Forward] ", 0, min(end, 1 << 16)) < 0
                and chunk.find(b"\r", 0, end) < 0):
            if self._feed_plain(chunk, end):
                return
        self._feed_lines(chunk, end)

    def _feed_lines(self, chunk: bytes | bytearray, end: int) -> None:
        """Read the whole lines ``chunk[:end]`` with the general machinery."""
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

    # -- plain lines in bulk ------------------------------------------------------------------
    def _feed_plain(self, chunk: bytes | bytearray, end: int) -> bool:
        """Read a chunk of a plain solver log: the stretches of common lines (see
        :mod:`._caffe_plain`) in bulk, the rare lines between them line by line.

        Returns False (having read nothing) when the chunk mixes glog timestamps with and
        without a year (wall times are computed per chunk), or has too many rare
        stretches for this to pay; the caller then reads it line by line.
        """
        sc = P.scan(chunk, end)
        if sc.mixed_years:
            return False
        n = len(sc.cls)
        common = sc.cls != P.C_RARE
        # stretches: [a, b) line ranges of one kind; short common runs count as rare
        edge = np.flatnonzero(common[1:] != common[:-1]) + 1
        bounds = np.concatenate([[0], edge, [n]]).tolist()
        spans: list[list[Any]] = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            bulk = bool(common[a]) and b - a >= _PLAIN_MIN_RUN
            if spans and spans[-1][2] == bulk:
                spans[-1][1] = b
            else:
                spans.append([a, b, bulk])
        if sum(1 for sp in spans if not sp[2]) > _PLAIN_MAX_RARE + n // 1024:
            return False
        if not any(sp[2] for sp in spans):
            return False
        data = bytes(memoryview(chunk)[:end])
        starts = sc.starts
        for a, b, bulk in spans:
            tries = 0
            while a < b:
                stop = b - 1
                if bulk and tries < _PLAIN_TRIES:
                    stop = self._bulk(sc, data, a, b)
                    if stop < 0:
                        break
                    tries += 1
                lo = int(starts[a])
                hi = int(sc.ends[stop]) + 1
                self._feed_lines(data[lo:hi], hi - lo)
                a = stop + 1
        self._resolve_pending()
        return True

    def _bulk(self, sc: P.Scan, data: bytes, a: int, b: int) -> int:
        """Read the common lines ``a`` to ``b`` (line indices of ``sc``) in bulk.

        Returns
        -------
        -1 when done; else, having changed nothing, the line (inclusive) up to which
        the general machinery must read before the bulk reading can go on: the first
        line that needs it (the first rate of a run, a counter going back, an output
        without its header line or with a new name, a value that is not a number, the
        Iteration line of a debug block waiting for it), or the first event line when
        the state needs it (no run yet, a clipping line waiting for its iteration).
        """
        e0, e1 = np.searchsorted(sc.ev, [a, b]).tolist()
        nev = e1 - e0
        if nev == 0:
            self._bulk_commit(sc, a, b, None)
            return -1
        ev = sc.ev[e0:e1]

        def line_of(i: int) -> int:       # the line of event i
            return int(ev[i])

        r = self.run
        if r is None or self.pending_clips:
            return line_of(0)
        kind = sc.kind[e0:e1]
        is_l = kind == L.K_L
        blk = self.block
        if blk is not None and not blk.anchored and blk.run is r and is_l.any():
            return line_of(int(np.argmax(is_l)))
        step = sc.step[e0:e1]
        is_lr = kind == L.K_LR
        is_t = kind == L.K_T
        is_tro = kind == L.K_TRO
        is_out = is_tro | (kind == L.K_TO)
        aff = is_l | is_lr | is_t
        # each output's header line: the last Iteration line before it (-1: the chain
        # this stretch starts with)
        cid = np.where(aff, np.arange(nev), -1)
        np.maximum.accumulate(cid, out=cid)
        o_at = np.flatnonzero(is_out)
        oc = cid[o_at]
        o_tr = is_tro[o_at]
        ch = self.chain
        tdc = self.tdc
        in_train = ch is not None and ch[0] == "train" and ch[2] == tdc
        in_test = ch is not None and ch[0] == "test" and ch[3] == tdc
        inc = oc < 0
        if r.first_step is None and not aff[0]:
            return line_of(0)
        if inc.any() and not ((in_train and o_tr[inc].all()) or (in_test and not o_tr[inc].any())):
            return line_of(int(o_at[0]))
        ock = kind[np.maximum(oc, 0)]
        placed = np.where(o_tr, ock == L.K_L, ock == L.K_T) | inc
        if not placed.all():
            return line_of(int(o_at[np.argmin(placed)]))
        # loss lines: the counter does not go back; no first rate of a run here
        l_at = np.flatnonzero(is_l)
        l_steps = step[l_at]
        if len(l_steps):
            back = np.diff(l_steps, prepend=r.last_loss_step or 0) < 0
            if back.any():
                return line_of(int(l_at[np.argmax(back)]))
        r_lo, r_hi = sc.rate[0][e0:e1], sc.rate[1][e0:e1]
        has_rate = is_l & (r_hi > r_lo)
        n_rate = int(has_rate.sum())
        if n_rate and not r.rates:
            return line_of(int(np.argmax(has_rate)))
        # the numbers: values, rates, loss weights (as the general machinery reads them)
        lr_at = np.flatnonzero(is_lr)
        v_at = np.flatnonzero(~is_t & ~is_lr)
        rate_at = np.flatnonzero(has_rate)
        vals, ok = _floats(data, sc.val[0][e0:e1][v_at], sc.val[1][e0:e1][v_at])
        if not ok.all():
            return line_of(int(v_at[np.argmin(ok)]))
        lrs, ok = _floats(data, sc.val[0][e0:e1][lr_at], sc.val[1][e0:e1][lr_at], sc.words)
        if not ok.all():
            return line_of(int(lr_at[np.argmin(ok)]))
        rates, ok = _floats(data, r_lo[rate_at], r_hi[rate_at])
        if not ok.all():
            return line_of(int(rate_at[np.argmin(ok)]))
        # outputs: the name, the element (index - the name's first index in its header
        # line's outputs), the tag
        n_lo, n_hi = sc.name[0][e0:e1][o_at], sc.name[1][e0:e1][o_at]
        index = sc.net[e0:e1][o_at]
        o_net = np.where(o_tr, -1, np.where(oc < 0, ch[2] if in_test else -1,
                                            sc.net[e0:e1][np.maximum(oc, 0)]))
        groups = P.same_texts(sc.words, n_lo, n_hi, (o_net + 1) * 256 + index) if (
            len(o_at) and int(index.max()) < 256) else None
        if groups is None:
            name_u = [data[x:y] for x, y in zip(n_lo.tolist(), n_hi.tolist())]
            name_inv = np.arange(len(name_u))
        else:
            name_u = [data[x:y] for x, y in zip(n_lo[groups[0]].tolist(), n_hi[groups[0]].tolist())]
            name_inv = groups[1]
        nid = np.fromiter(map(self.name_ids.__getitem__, name_u), dtype=np.int64,
                          count=len(name_u))[name_inv]
        first = index.copy()
        no = len(o_at)
        if no:
            # the first index of each name among its header line's outputs: compared with
            # the outputs 1, 2, ... before it (short groups, then the few long ones)
            grp_start = np.flatnonzero(np.concatenate([[True], oc[1:] != oc[:-1]]))
            glen = np.diff(np.append(grp_start, no))
            if int(glen.max()) > _PLAIN_MAX_OUTPUTS:
                return line_of(int(o_at[0]))
            per = np.repeat(glen, glen)
            for sel in (per <= 3, per > 3):
                at_ = np.flatnonzero(sel)
                if len(at_) < 2:
                    continue
                oc_s, nid_s, idx_s = oc[at_], nid[at_], index[at_]
                for d in range(1, int(per[at_].max())):
                    same = (oc_s[d:] == oc_s[:-d]) & (nid_s[d:] == nid_s[:-d])
                    if same.any():
                        hit = np.flatnonzero(same) + d
                        first[at_[hit]] = idx_s[hit - d]
            if inc.any() and ch[4]:
                seen = ch[4]
                for i in np.flatnonzero(inc).tolist():
                    f = seen.get(name_u[name_inv[i]])
                    if f is not None:
                        first[i] = f
        j = np.where(index > first, index - first, 0)
        tids = np.empty(no, dtype=np.int64)
        if no:
            if int(nid.max()) >= 1 << 24 or int(j.max()) >= 1 << 16 or int(o_net.max()) >= 1 << 22:
                return line_of(int(o_at[0]))
            code = ((o_net + 1) << 40) | (nid << 16) | j
            uniq, inv = np.unique(code, return_inverse=True)
            get = self.out_tags.get
            name_of = self.name_list
            ut = np.empty(len(uniq), dtype=np.int64)
            inv = inv.ravel()
            for u, c in enumerate(uniq.tolist()):
                t = get(((c >> 40) - 1, name_of[(c >> 16) & 0xFFFFFF], c & 0xFFFF))
                if t is None:                # a new output: the general machinery names it
                    return line_of(int(o_at[np.argmax(inv == u)]))
                ut[u] = t
            tids = ut[inv]
        # -- everything is known: commit ---------------------------------------------------------
        walls = self._walls_seg(*(x[e0:e1] for x in sc.time))
        o_step = np.where(inc, ch[1] if ch is not None else -1, step[np.maximum(oc, 0)])
        # rows, in log order (a loss line's rate row after its own)
        rate_kept = has_rate.copy()
        if r.first_rate_step is not None:
            dup = rate_kept & (step == r.first_rate_step)
            if dup.any():
                self.skipped["first_rate_of_run"] += int(dup.sum())
                rate_kept &= ~dup
        has_row = ~is_t
        cnt = has_row.astype(np.int64) + rate_kept
        pos = np.cumsum(cnt) - cnt
        nrow = int(cnt.sum())
        r_tag = np.empty(nrow, dtype=np.int32)
        r_step = np.empty(nrow, dtype=np.int64)
        r_val = np.empty(nrow, dtype=np.float64)
        r_wall = np.empty(nrow, dtype=np.float64)
        tag_ev = np.where(is_l, self.t_smoothed, self.t_lr)
        tag_ev[o_at] = tids
        step_ev = step.copy()
        step_ev[o_at] = o_step
        for at, vv in ((v_at, vals), (lr_at, lrs)):
            dst = pos[at]
            r_tag[dst] = tag_ev[at]
            r_step[dst] = step_ev[at]
            r_val[dst] = vv
            r_wall[dst] = walls[at]
        k_at = np.flatnonzero(rate_kept)
        dst = pos[k_at] + 1
        r_tag[dst] = self.t_rate
        r_step[dst] = step[k_at]
        r_val[dst] = rates[rate_kept[rate_at]]
        r_wall[dst] = walls[k_at]
        if nrow:
            self.out.append(_compact(r_tag, r_step, r_val, r_wall))
        # loss weights of the train outputs
        tro = np.flatnonzero(o_tr)
        if len(tro):
            w_lo, w_hi = sc.weight[0][e0:e1][o_at][tro], sc.weight[1][e0:e1][o_at][tro]
            wt = w_hi > w_lo
            if wt.any():
                wtid = tids[tro][wt]
                small = wtid.astype(np.int16) if int(wtid.max()) < 32767 else wtid
                o = np.argsort(small, kind="stable")      # each tag's weights together
                ws, wok = _floats(data, w_lo[wt][o], w_hi[wt][o], sc.words)
                wa = np.abs(ws)
                use = wok & (wa > 0) & ~np.isnan(wa)
                wtid = wtid[o][use]
                wa = wa[use]
                if len(wtid):
                    cut = np.flatnonzero(np.diff(wtid)) + 1
                    heads = np.concatenate([[0], cut])
                    tops = np.maximum.reduceat(wa, heads)
                    lw = self.loss_weight
                    names_ = self.tag_names
                    for t, top in zip(wtid[heads].tolist(), tops.tolist()):
                        tag = names_[t]
                        if lw.get(tag, 0.0) < top:
                            lw[tag] = top
        # the run
        aff_steps = step[aff]
        if r.first_step is None:
            r.first_step = int(step[0])
        r.has_data = True
        top = int(aff_steps.max()) if len(aff_steps) else None
        if inc.any() and not o_tr[inc].all():
            top = max(top, ch[1]) if top is not None else ch[1]
        if top is not None and (r.last_step is None or top > r.last_step):
            r.last_step = top
        if len(l_steps):
            r.last_loss_step = int(l_steps[-1])
        r.rates += n_rate
        it_at = np.flatnonzero(is_l | is_lr)
        if len(it_at):
            self.last_iter_step = int(step[it_at[-1]])
        # the chain the stretch ends with
        a_at = np.flatnonzero(aff)
        if len(a_at):
            last = int(a_at[-1])
            k = int(kind[last])
            seen: dict[bytes, int] = {}
            if k == L.K_L:
                self.chain = ["train", int(step[last]), tdc, float(walls[last]), seen]
            elif k == L.K_T:
                self.chain = ["test", int(step[last]), int(sc.net[e0 + last]), tdc, seen]
            else:
                self.chain = None
            mine = np.flatnonzero(oc == last).tolist()
        else:
            seen = ch[4] if ch is not None else {}
            mine = np.flatnonzero(inc).tolist()
        for i in mine:
            seen.setdefault(name_u[name_inv[i]], int(index[i]))
        self._bulk_commit(sc, a, b, int(kind[-1]))
        return -1

    def _bulk_commit(self, sc: P.Scan, a: int, b: int, last_kind: int | None) -> None:
        """The line-level state after the common lines ``a`` to ``b`` (all glog lines
        with a message; ``last_kind``: the record kind of the last event, if any)."""
        self._lone_before = None
        self.glog_lines += b - a
        self.dump = None
        snaps = int(np.count_nonzero(sc.cls[a:b] == P.C_SNAP))
        if snaps:
            self.info["snapshot_lines"] += snaps
        if last_kind is not None:
            self.last_kind = self.last_pass_kind = self.last_nonf_kind = last_kind
        self.line_base += b - a

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
        if len(m) > 1 and (m == m[0]).all() and (d == d[0]).all() and (yrs == yrs[0]).all():
            days = np.broadcast_to(L.days_from_civil(yrs[:1], m[:1], d[:1]), m.shape)  # one day
        else:
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
        # Inside a block, a [Forward] line after [Backward] or All-net-params lines, or
        # any pass line after an All-net-params line, runs the net again: the same blobs'
        # lines a second time. That is iter_size > 1, or, in old Caffe that prints every
        # iteration, the next iteration when no [Update] line separates them
        # (_place_passes decides). pidx: each record's pass in its block (0-based).
        pstart = _PASS[kc_pass] & ((prev_pass == L.K_A) | ((kc_pass == L.K_F) & (prev_pass == L.K_B)))
        pidx: np.ndarray | None = None
        if self.pass_idx or pstart.any():
            cum = np.cumsum(bstart | pstart)
            last_b = np.where(bstart, np.arange(nrec), -1)
            np.maximum.accumulate(last_b, out=last_b)
            pidx = np.where(last_b >= 0, cum - cum[np.maximum(last_b, 0)], cum + self.pass_idx)
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
        ev_pass = pidx[ev_pos].tolist() if pidx is not None else [0] * len(events)
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
                    self._anchor(b, step, wall, ev_pass[i] + 1, k)
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
            self._event(ev, k, wl[i], ev_tdc[i], ev_prev[i], ev_nk[i], ev_pass[i])
        while j < nstart:
            self._new_seg(True, starts[j])
            j += 1

        # debug rows (train net), with the segment they belong to
        dbg = tdeb & (kc != L.K_A)
        pieces_seg: list[np.ndarray] = []
        pieces_tag: list[np.ndarray] = []
        pieces_val: list[np.ndarray] = []
        pieces_pass: list[np.ndarray | None] = []
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
                pieces_pass.append(pidx[dbg][one][ok] if pidx is not None else None)
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
                pu = pidx[dbg][is_u][ok] if pidx is not None else None
                pieces_pass += [pu, pu]
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
                pieces_pass.append(np.repeat(pidx[is_a][ok], 4) if pidx is not None else None)
        for sg, t, v, ps in zip(pieces_seg, pieces_tag, pieces_val, pieces_pass):
            if len(sg):
                self.pending.append((sg.astype(np.int64, copy=False), t.astype(np.int32, copy=False),
                                     v, ps))

        # carry to the next chunk
        self.last_kind = int(kc[-1])
        self.last_pass_kind = int(kc_pass[-1])
        nonf = np.flatnonzero(~isf)
        if len(nonf):
            self.last_nonf_kind = int(kc[nonf[-1]])
        self.cur_seg = int(segc[-1])
        self.tdc = int(tdc[-1])
        self.pass_idx = int(pidx[-1]) if pidx is not None else 0

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

    def _anchor(self, b: _Block, step: int, wall: float, passes: int = 1, rec: int = 0) -> None:
        """Put block ``b`` on iteration ``step`` (its Iteration line, record ``rec`` of the
        chunk, came after ``passes`` passes of the net), and the blocks waiting before it."""
        r = b.run
        b.anchored = True
        self.seg_step[b.seg] = step
        self.seg_wall[b.seg] = wall
        how = self._place_passes(b, step, wall, passes, rec) if passes > 1 else None
        if passes == 1:
            r.one_pass = True
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
                if gap > 0 and r.mode is None and how is None:
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

    def _place_passes(self, b: _Block, step: int, wall: float, passes: int, rec: int) -> str | None:
        """Decide where the passes of a block with more than one go (``seg_pass``).

        The last pass is iteration ``step`` (the Iteration line follows it). The earlier
        ones are the same iteration when the run has ``iter_size`` = ``passes`` (from the
        solver parameters); they are the iterations since the previous Iteration line,
        ``iter_size`` passes each (the log printed every iteration, without [Update]
        lines between them), when that count matches exactly and iter_size is known
        (from the parameters, or 1 once a block of one pass was seen); otherwise which
        iteration each belongs to is unknown and only the last pass is kept (the others
        are counted in ``meta["skipped"]["ambiguous_debug_values"]``).

        Returns
        -------
        None (iter_size passes of one iteration), ``"split"`` or ``"last"``.
        """
        r = b.run
        it = r.solver.get("iter_size")
        per = it if isinstance(it, int) and not isinstance(it, bool) and it >= 1 else (
            1 if r.one_pass else None)
        if per is not None and passes == per:
            return None                    # iter_size passes of one iteration: the last wins
        if (per is not None and r.last_anchor is not None and not r.unanchored
                and r.mode != "display_only"):
            a, wa = r.last_anchor
            if step - a >= 2 and passes == (step - a) * per:
                self.seg_pass[b.seg] = ("split", per, a, wa, step, wall)
                r.mode = "every_iteration"
                self.info["debug_blocks_split"] += 1
                return "split"
        self.seg_pass[b.seg] = ("last", passes)
        if not r.ambiguous:
            r.ambiguous_from = (self._line(rec), step)
        r.ambiguous += 1
        return "last"

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
        if r.ambiguous and r.ambiguous_from is not None:
            line, step = r.ambiguous_from
            self.warnings.append(
                f"{self.name}: line {line} (iteration {step}) and {r.ambiguous - 1} later: "
                f"{r.ambiguous} debug_info block(s) print the same blobs more than once before "
                f"their Iteration line (iter_size > 1, or iterations without [Update] lines "
                f"between them) and the iterations of the earlier passes are unknown: only the "
                f"last pass is used")
            r.ambiguous, r.ambiguous_from = 0, None

    # -- events --------------------------------------------------------------------------------------
    def _event(self, ev: tuple, k: int, wall: float, tdc: int, prev: int, nk: int,
               pas: int = 0) -> None:
        """Handle one event record (``k``: its record index in the chunk; ``pas``: the
        pass of the net the current block is in)."""
        kind = ev[0]
        if kind == L.K_L:
            self._loss_line(ev, k, wall, tdc, pas)
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
            self._clip(ev, k, wall, prev, nk, pas)
        else:
            self._run_event(ev, kind, k)

    def _loss_line(self, ev: tuple, k: int, wall: float, tdc: int, pas: int = 0) -> None:
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
            self._anchor(b, step, wall, pas + 1, k)
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

    def _clip(self, ev: tuple, k: int, wall: float, prev: int, nk: int, pas: int = 0) -> None:
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
                                 np.array([norm], dtype=np.float64),
                                 np.array([pas], dtype=np.int64) if pas else None))
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
        """Move the pending debug rows whose segment's iteration is decided to the rows
        (or count them: unplaced, or an ambiguous pass); with ``final``, decide the rest
        as unplaced."""
        if not self.pending:
            return
        if len(self.pending) == 1:
            seg, tag, val, pas = self.pending[0]
        else:
            seg = np.concatenate([p[0] for p in self.pending])
            tag = np.concatenate([p[1] for p in self.pending])
            val = np.concatenate([p[2] for p in self.pending])
            pas = None
            if any(p[3] is not None for p in self.pending):
                pas = np.concatenate([p[3] if p[3] is not None else np.zeros(len(p[0]), dtype=np.int64)
                                      for p in self.pending])
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
        w_row = walls[seg - lo]
        if self.seg_pass:
            self._place_pass_rows(seg, pas, st_row, w_row)
        keep = st_row >= 0
        undecided = st_row == -2
        dropped = st_row == _DROP
        nd = int(dropped.sum())
        if nd:
            self.skipped["unplaced_values"] += nd
        if keep.any():
            self.out.append(_compact(tag[keep], st_row[keep], val[keep], w_row[keep]))
        if undecided.any():
            self.pending = [(seg[undecided], tag[undecided], val[undecided],
                             pas[undecided] if pas is not None else None)]
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
                self.seg_pass.pop(s, None)

    def _place_pass_rows(self, seg: np.ndarray, pas: np.ndarray | None, st_row: np.ndarray,
                         w_row: np.ndarray) -> None:
        """Steps and times of the rows of blocks with several passes (``seg_pass``), in
        place: a split block's pass p goes to iteration ``a + 1 + p // per`` (its time
        interpolated between the two Iteration lines); of an ambiguous block only the
        last pass is kept (the others: step -3, counted as ambiguous values)."""
        lo, hi = int(seg.min()), int(seg.max())
        segs = [x for x in range(lo, hi + 1) if x in self.seg_pass] if hi - lo < len(
            self.seg_pass) else [x for x in self.seg_pass if lo <= x <= hi]
        if not segs:
            return
        rows = np.flatnonzero(np.isin(seg, segs))
        for sg in segs:
            how = self.seg_pass[sg]
            at = rows[seg[rows] == sg]
            if not len(at) or st_row[at[0]] < 0:
                continue
            p = pas[at] if pas is not None else np.zeros(len(at), dtype=np.int64)
            if how[0] == "split":
                _, per, a, wa, step, wall = how
                st = np.minimum(a + 1 + p // per, step)
                st_row[at] = st
                w_row[at] = np.where(st == step, wall, wa + (wall - wa) * (st - a) / (step - a))
            else:
                early = p < how[1] - 1
                n = int(early.sum())
                if n:
                    st_row[at[early]] = -3
                    self.skipped["ambiguous_debug_values"] += n

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


def _floats(data: bytes, lo: np.ndarray, hi: np.ndarray,
            words: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The numbers ``data[lo:hi]``, read as :func:`._caffe_lines.parse_num` reads them.

    With ``words`` (the chunk's uint64 view), a text equal to the one before it is not
    read again (for runs of the same text: learning rates, loss weights).

    Returns
    -------
    (floats, ok) : float64 array (NaN where not a number) and the mask of numbers.
    """
    if words is not None and len(lo) > 1:
        dup = P.same_as_previous(words, lo, hi)
        if dup.any():
            head = np.flatnonzero(~dup)
            v, ok = _floats(data, lo[head], hi[head])
            run = np.cumsum(~dup) - 1
            return v[run], ok[run]
    texts = [data[x:y] for x, y in zip(lo.tolist(), hi.tolist())]
    n = len(texts)
    try:
        return np.fromiter(map(float, texts), dtype=np.float64, count=n), np.ones(n, dtype=bool)
    except ValueError:
        pass
    out = np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    for i, t in enumerate(texts):
        f = L.parse_num(t)
        if f is not None:
            out[i], ok[i] = f, True
    return out, ok


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
