"""The Caffe reader's core: each chunk's lines are scanned in bulk (one match per line, in
C), the non-debug lines parsed in order into events (pass 1), and the records placed on
their iterations (pass 2): the control points (block starts, events) in a short Python
loop, the debug values in bulk (:mod:`.blocks`). Plain chunks go to :mod:`.bulk` first."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import numpy as np

from gradlog.errors import EmptyLogError, ParseError
from gradlog.frame import ParseResult
from gradlog.frame.source import Source
from gradlog.parsers.caffe import bulk, solver
from gradlog.parsers.caffe import lines as L
from gradlog.parsers.caffe.assemble import assemble, compact
from gradlog.parsers.caffe.blocks import Blocks, Layout, Sink
from gradlog.parsers.caffe.clock import Clock
from gradlog.parsers.caffe.launches import Launches, Run
from gradlog.parsers.caffe.messages import EV_BROKEN, Messages
from gradlog.parsers.caffe.tags import Tags
from gradlog.parsers.caffe.tally import Tally

_G0 = itemgetter(0)


class Reader:
    """Streaming state machine: :meth:`feed` whole-line chunks, then :meth:`finish`.

    Its state is a few collaborators: ``tally`` (what was skipped, warnings, formats),
    ``tags`` (tag, key and output-name ids), ``clock`` (the year, wall times),
    ``dump`` (a parameter dump being read), ``messages`` (pass 1), ``launches`` (runs and crashes),
    ``blocks`` (debug_info blocks and their iterations), ``sink`` (the rows); and the
    position (``line_base``), the chain (the Iteration line the next outputs belong
    to), and the clipping lines seen.
    """

    def __init__(self, source: Source) -> None:
        self.name = source.name
        self.tally = Tally(source.name)
        self.tags = Tags(self.tally.formats)
        self.clock = Clock(source.path.name if source.path is not None else None, self.tally.formats)
        self.dump = solver.Dump()
        self.launches = Launches()
        self.sink = Sink()
        self.blocks = Blocks(self.tally, self.tags, self.launches, self.sink, self._line, self._ensure_run)
        self.line_base = 0
        self.truncated_last = 0
        self.lone_before: np.ndarray | None = None
        self.messages = Messages(self.tally, self.tags, self.dump, self.clock, self._line)
        # the Iteration line that the next output lines belong to (see _output)
        self.chain: list[Any] | None = None
        self.last_iter_step: int | None = None
        self.pending_clips: list[tuple[int, float, float, int, Run]] = []
        self.clipping_events = 0
        self.clip_threshold: float | None = None

    def _line(self, k: int) -> int:
        """The 1-based physical line number of record ``k`` of the current chunk."""
        adj = int(self.lone_before[k]) if self.lone_before is not None else 0
        return self.line_base + k - adj + 1

    def _ensure_run(self, k: int) -> Run:
        """The current run (one is opened at record ``k`` when there is none)."""
        if self.launches.current is None:
            self.launches.new(self._line(k), "start")
        assert self.launches.current is not None
        return self.launches.current

    def _row(self, tag: int, step: int, value: float, wall: float) -> None:
        self.sink.rows.append((tag, step, value, wall))

    def overlong(self, nbytes: int, limit: int) -> None:
        """Count the next line as skipped: it is ``nbytes`` long, over ``limit``."""
        self.tally.overlong(self.line_base + 1, nbytes, limit)
        self.line_base += 1

    def cut_last_line(self) -> None:
        """Count the next line as the unfinished last record of a log still being written
        (its last number cut short, e.g. ``lr = 1e-0`` of ``1e-05``): skipped, counted in
        ``meta["truncated"]``, an error under strict."""
        line = self.line_base + 1
        self.tally.count("truncated_last_line", line)
        self.tally.warnings.append(
            f"{self.name}: line {line}: truncated last line (a run still writing?) skipped"
        )
        self.truncated_last = 1
        self.line_base += 1

    def feed(self, chunk: bytes | bytearray, end: int | None = None) -> None:
        """Read the whole lines ``chunk[:end]`` (the last one ends with a newline).

        A chunk of plain solver-log lines (no debug_info) is read in bulk
        (:func:`.bulk.feed_plain`); any other chunk, and the rare lines of a plain one, line
        by line (:meth:`feed_lines`). Both give the same rows, counts and state.
        """
        if end is None:
            end = len(chunk)
        if not bulk.try_plain(self, chunk, end):
            self.feed_lines(chunk, end)

    def feed_lines(self, chunk: bytes | bytearray, end: int) -> None:
        """Read the whole lines ``chunk[:end]`` with the general machinery."""
        self.lone_before = None
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
        kid = np.fromiter(map(self.tags.keytab.__getitem__, map(_G0, recs)), dtype=np.int32, count=n)
        if self.tags.spanned:  # a key ran over a line end: rescan safely
            self.tags.spanned = False
            recs = L.LINE_SAFE.findall(chunk, 0, end)
            n = len(recs)
            kid = np.fromiter(map(self.tags.keytab.__getitem__, map(_G0, recs)), dtype=np.int32, count=n)
        kind = self.tags.keys()[0][kid]
        if arr.max(initial=0) >= 128:
            for k in _bad_utf8_lines(bytes(chunk[:end])):
                kind[k] = L.K_SKIP
                self.tally.count("non_utf8_lines", self._line(k))
        bad = kind == L.K_BADKEY
        if bad.any():
            self.tally.count("unknown_debug_lines", self._line(int(np.flatnonzero(bad)[0])), int(bad.sum()))
            kind[bad] = L.K_NONE
        self.tally.glog_lines += n - int(np.count_nonzero(kid == 0))

        events = self.messages.read(kid, kind, recs)
        walls = self.clock.event_walls(events)
        del arr
        _, key_tag1, key_tag2 = self.tags.keys()
        self._sequence(kind, kid, recs, events, walls, key_tag1, key_tag2)
        del recs
        self._flush_rows()
        self.blocks.resolve_pending()
        self.line_base += n - n_lone

    def _normalise_cr(self, chunk: bytes) -> tuple[bytes, int]:
        chunk = chunk.replace(b"\r\n", b"\n")
        if b"\r" not in chunk:
            self.tally.formats.add("crlf")
            return chunk, 0
        arr = np.frombuffer(chunk, dtype=np.uint8)
        term = np.flatnonzero((arr == 10) | (arr == 13))
        is_cr = (arr[term] == 13).astype(np.int64)
        self.lone_before = np.cumsum(is_cr) - is_cr
        n_lone = int(is_cr.sum())
        self.tally.info["cr_joined_lines"] += n_lone
        return chunk.replace(b"\r", b"\n"), n_lone

    def _info_event(self, ev: tuple, line: int) -> None:
        what = ev[1]
        if what == "solver_params":
            run = self.launches.current
            if run is None or run.has_data or run.solver or run.ended is not None:
                self._end_run()
                run = self.launches.new(line, "relaunch")
            run.solver = ev[2]
        elif what == "lr_policy" and self.launches.current is not None:
            self.launches.current.lr_policy = ev[2]

    def _sequence(
        self,
        kind: np.ndarray,
        kid: np.ndarray,
        recs: list[tuple[bytes, bytes]],
        events: list[tuple[int, bytes, tuple]],
        walls: np.ndarray,
        key_tag1: np.ndarray,
        key_tag2: np.ndarray,
    ) -> None:
        """Place the chunk's records on their iterations.

        Vectorised over all records: which [Forward] lines belong to a test net, where
        a debug block starts, which segment (block, or the stretch after a run event)
        each record is in, and how many train-net debug records came before it. Then,
        in record order, a Python pass over the few control points (block starts and
        event lines) that moves the run/block/chain state; and the debug values, in
        bulk, go to the pending rows of their segment.
        """
        if self.tally.skipped.get("non_utf8_lines"):
            kind[kind == L.K_SKIP] = L.K_NONE
        lay = self.blocks.layout(kind)
        if lay is None:
            for k, _ts, ev in events:
                if ev[0] == L.EV_INFO:
                    self._info_event(ev, self._line(k))
                elif ev[0] == EV_BROKEN:
                    self.chain = None
                elif ev[0] in ("crash", "trace"):
                    self._crash_event(ev, k)
            return
        self._control(events, walls, lay)
        self.blocks.debug_rows(lay, len(kind), kid, recs, key_tag1, key_tag2)
        self.blocks.carry(lay)

    def _control(self, events: list[tuple[int, bytes, tuple]], walls: np.ndarray, lay: Layout) -> None:
        """In record order, the control points (block starts and events) move the
        run/block/chain state; the common events in their plain case inline."""
        ev_nk, ev_tdc, ev_prev, ev_pass = _event_context(events, lay)
        wl = walls.tolist()
        starts = lay.rec[lay.bstart].tolist()
        j = 0
        nstart = len(starts)
        next_start = starts[0] if starts else 1 << 62
        rows = self.sink.rows
        t_lr, t_smoothed, t_rate = self.tags.t_lr, self.tags.t_smoothed, self.tags.t_rate
        K_L, K_LR, K_TRO = L.K_L, L.K_LR, L.K_TRO
        out_tags, names, lw = self.tags.out_tags, self.tags.tag_names, self.tags.loss_weight
        for i, (k, _ts, ev) in enumerate(events):
            while next_start < k:
                self.blocks.new_seg(True, next_start)
                j += 1
                next_start = starts[j] if j < nstart else 1 << 62
            k0 = ev[0]
            r = self.launches.current
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
            if (
                k0 == K_L
                and r is not None
                and ev[2] is not None
                and r.first_step is not None
                and ev[1] >= (r.last_loss_step or 0)
                and not self.pending_clips
                and (ev[3] is None or r.rates)
            ):
                step = ev[1]
                wall = wl[i]
                r.last_loss_step = step
                if step > r.last_step:
                    r.last_step = step
                b = self.blocks.block
                if b is not None and not b.anchored and b.run is r:
                    self.blocks.anchor(b, step, wall, ev_pass[i] + 1, k)
                self.last_iter_step = step
                self.chain = ["train", step, ev_tdc[i], wall, {}]
                rows.append((t_smoothed, step, ev[2], wall))
                if ev[3] is not None:
                    r.rates += 1
                    if step == r.first_rate_step:
                        self.tally.skipped["first_rate_of_run"] += 1
                    else:
                        rows.append((t_rate, step, ev[3], wall))
                continue
            if k0 == K_TRO:
                ch = self.chain
                if ch is not None and ch[0] == "train" and ch[2] == ev_tdc[i] and ev[3] is not None:
                    _, index, name, value, weight = ev
                    seen = ch[4]
                    first = seen.get(name)
                    tid = out_tags.get(
                        (-1, name, index - first if first is not None and index > first else 0)
                    )
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
            if k0 == "crash" or k0 == "trace":
                self._crash_event(ev, k)
                continue
            if k0 == EV_BROKEN:
                self.chain = None
                continue
            if k0 == L.EV_INFO:
                self._info_event(ev, self._line(k))
                continue
            self._event(ev, k, wl[i], ev_tdc[i], ev_prev[i], ev_nk[i], ev_pass[i])
        while j < nstart:
            self.blocks.new_seg(True, starts[j])
            j += 1

    def _event(self, ev: tuple, k: int, wall: float, tdc: int, prev: int, nk: int, pas: int = 0) -> None:
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
            r = self.launches.current or self._ensure_run(k)
            r.saw(step)
            self.last_iter_step = step
            if value is None:
                self.tally.count("malformed_lines", self._line(k))
            else:
                self._row(self.tags.t_lr, step, value, wall)
        elif kind == L.K_T:
            step, net = ev[1], ev[2]
            self.chain = ["test", step, net, tdc, {}]
            (self.launches.current or self._ensure_run(k)).saw(step)
        elif kind == L.K_TI:
            self.chain = None
            self.tally.info["test_interrupted"] += 1
        elif kind == L.K_C:
            self._clip(ev, k, wall, prev, nk, pas)
        else:
            self._run_event(ev, kind, k)

    def _loss_line(self, ev: tuple, k: int, wall: float, tdc: int, pas: int = 0) -> None:
        _, step, value, rate, _raw = ev
        r = self.launches.current or self._ensure_run(k)
        if r.last_loss_step is not None and step < r.last_loss_step:
            line = self._line(k)
            self.tally.warnings.append(
                f"{self.name}: line {line}: the iteration counter goes back from "
                f"{r.last_loss_step} to {step}: read as a restart"
            )
            b = self.blocks.block
            self._end_run(keep_block=True)
            r = self.launches.new(line, "counter_reset")
            if b is not None:
                b.run = r
        r.last_loss_step = step
        r.saw(step)
        if self.pending_clips:
            for tag, v, w, cand, cr in self.pending_clips:
                if cr is r and step == cand + 1:
                    self._row(tag, cand, v, w)
                else:
                    self.tally.skipped["unplaced_clipping_events"] += 1
            self.pending_clips = []
        b = self.blocks.block
        if b is not None and not b.anchored and b.run is r:
            self.blocks.anchor(b, step, wall, pas + 1, k)
        self.last_iter_step = step
        self.chain = ["train", step, tdc, wall, {}]
        if value is None:
            self.tally.count("malformed_lines", self._line(k))
        else:
            self._row(self.tags.t_smoothed, step, value, wall)
        if rate is not None:
            r.rates += 1
            if r.rates == 1:
                self.tally.formats.add("iter_per_s")
                r.first_rate_step = step
            if step == r.first_rate_step:  # (also when that line is logged twice)
                self.tally.skipped["first_rate_of_run"] += 1
            else:
                self._row(self.tags.t_rate, step, rate, wall)

    def _output(self, ev: tuple, k: int, wall: float, tdc: int) -> None:
        kind, index, name, value, weight = ev
        test = kind == L.K_TO
        ch = self.chain
        if ch is None or ch[0] != ("test" if test else "train") or ch[3 if test else 2] != tdc:
            self.tally.count("unplaced_values", self._line(k))
            return
        step = ch[1]
        # Element j of a multi-element output blob is printed as the same name with the
        # next index; the same index again is the same line logged twice.
        j = 0
        if name is not None:
            first = ch[4].setdefault(name, index)
            j = index - first if index > first else 0
        key = (ch[2] if test else -1, index if name is None else name, j)
        tid = self.tags.out_tags.get(key)
        if tid is None:
            tid = self.tags.out_tags[key] = self.tags.output_tag(test, ch[2], index, name, j)
        if not test and weight:
            tag = self.tags.tag_names[tid]
            self.tags.loss_weight[tag] = max(self.tags.loss_weight.get(tag, 0.0), abs(weight))
        r = self.launches.current or self._ensure_run(k)
        r.saw(step)
        if value is None:
            self.tally.count("malformed_lines", self._line(k))
        else:
            self._row(tid, step, value, wall)

    def _clip(self, ev: tuple, k: int, wall: float, prev: int, nk: int, pas: int = 0) -> None:
        _, norm, threshold = ev
        self.clipping_events += 1
        if threshold is not None:
            self.clip_threshold = threshold
        self.chain = None
        if norm is None:
            self.tally.count("malformed_lines", self._line(k))
            return
        b = self.blocks.block
        after_pass = prev in (L.K_A, L.K_B)
        after_display = prev in (L.K_LR, L.K_L, L.K_TRO)
        if b is not None and (after_pass or (after_display and nk in (L.K_U, L.K_U1))):
            self.blocks.pending.append(
                (
                    np.array([b.seg], dtype=np.int64),
                    np.array([self.tags.t_preclip], dtype=np.int32),
                    np.array([norm], dtype=np.float64),
                    np.array([pas], dtype=np.int64) if pas else None,
                )
            )
        elif after_display and self.last_iter_step is not None and self.launches.current is not None:
            self.pending_clips.append(
                (self.tags.t_preclip, norm, wall, self.last_iter_step, self.launches.current)
            )
        else:
            self.tally.skipped["unplaced_clipping_events"] += 1

    def _run_event(self, ev: tuple, kind: str, k: int) -> None:
        self.chain = None
        self.blocks.new_seg(False, k)
        r = self.launches.current
        line = self._line(k)
        if kind in (L.EV_SOLVING, L.EV_RESUMING, L.EV_RESTORING):
            if r is None or r.has_data or r.ended is not None or (kind == L.EV_SOLVING and r.net is not None):
                self._end_run()
                r = self.launches.new(line, "relaunch")
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
            self.launches.fatal.append({"line": line, "message": ev[1]})
            self.launches.crash(L.crash_kind(ev[1]), ev[1], line)
            if r is not None and r.ended is None and r.net is not None:
                r.ended = "fatal"

    def _crash_event(self, ev: tuple, k: int) -> None:
        """A line without a glog prefix that stops a job (``("crash", kind, text)``), or a
        line of a crash's stack trace (``("trace",)``)."""
        if ev[0] == "trace":
            self.tally.info["stack_trace_lines"] += 1
            self.launches.trace_line()
            return
        self.launches.crash(ev[1], ev[2], self._line(k))

    def _end_run(self, keep_block: bool = False) -> None:
        """Close the current run's business: place (or drop) its debug blocks that wait for
        a decision, and count the clipping lines still waiting for their iteration."""
        r = self.launches.current
        if r is None:
            return
        self.blocks.end_run(r, keep_block)
        self.tally.skipped["unplaced_clipping_events"] += len(self.pending_clips)
        self.pending_clips = []

    def _flush_rows(self) -> None:
        rows = self.sink.rows
        if rows:
            t, s, v, w = zip(*rows, strict=False)
            self.sink.out.append(
                compact(
                    np.array(t, dtype=np.int32),
                    np.array(s, dtype=np.int64),
                    np.array(v, dtype=np.float64),
                    np.array(w, dtype=np.float64),
                )
            )
            rows.clear()

    def finish(self, *, strict: bool) -> ParseResult:
        """Close the last run, build the frame and the meta.

        Returns
        -------
        ParseResult : the frame, the meta and the role hints.

        Raises
        ------
        ParseError, EmptyLogError, DamagedInputError
            See :func:`gradlog.parsers.caffe.read`.
        """
        self._end_run()
        self._flush_rows()
        self.blocks.resolve_pending(final=True)
        self.tally.end(self.line_base, strict=strict)
        if self.line_base == 0:
            raise EmptyLogError(f"{self.name}: empty file")
        if self.tally.glog_lines == 0:
            raise ParseError(
                f"{self.name}: no glog-format line (Lmmdd hh:mm:ss.uuuuuu ... "
                f"file:line]) found: not a Caffe log"
            )
        hparams = solver.hparams(self.launches)
        total = solver.total_loss(self.tags, hparams)
        frame, replaced = assemble(self.sink.out, self.tags.tag_names, self.tags.tag_sources)
        self.sink.out = []
        if len(frame) == 0:
            raise EmptyLogError(
                f"{self.name}: a glog file without Caffe training values "
                f"(no Iteration, Train/Test net output or debug_info lines)"
            )
        tags = set(frame["tag"].cat.categories)
        meta = self._meta(replaced)
        if self.truncated_last:
            meta["truncated"] = self.truncated_last
        meta["hparams"] = hparams
        meta.update(self.launches.ending(hparams))
        meta["clipping"] = solver.clipping(hparams, frame, self.clipping_events, self.clip_threshold)
        if total is not None and total["tag"] not in tags:
            total = None
        if total is not None:
            meta["caffe"]["multi_loss"] = total
            if total["tag"] == "train/loss":
                meta["statistics"]["train/loss"] = solver.TOTAL_LOSS_DOC
        return ParseResult(frame, meta, solver.roles(self.tags, tags, total["tag"] if total else None))

    def _meta(self, replaced: int) -> dict[str, Any]:
        """The meta, but for the solver facts (:meth:`finish` adds them)."""
        caffe: dict[str, Any] = {
            "runs": self.launches.runs_meta(),
            "line_formats": sorted(self.tally.formats),
            "year": self.clock.meta(),
            "glog_header": self.clock.header,
            "fatal_errors": self.launches.fatal,
            "stack_trace_lines": self.tally.info.get("stack_trace_lines", 0),
            "multistep_events": self.messages.multistep,
            "loss_weights": dict(self.tags.loss_weight),
            **{k: v for k, v in self.tally.info.items()},
        }
        solver_types = {
            str(r.solver.get("type", r.solver.get("solver_type")))
            for r in self.launches.all
            if r.solver.get("type") or r.solver.get("solver_type")
        }
        if solver_types:
            caffe["solver_types"] = sorted(solver_types)
        return {
            "step_unit": "iteration",
            "skipped": self.tally.skipped_meta(),
            "warnings": list(self.tally.warnings),
            "restarts": self.launches.restarts(),
            "replaced_points": replaced,
            "clipping_events": self.clipping_events,
            "runs_in_file": max(1, len(self.launches.all)),
            "statistics": dict(solver.STATISTICS),
            "wall_time_year_assumed": self.clock.year_assumed_used,
            "caffe": caffe,
        }


def _event_context(
    events: list[tuple[int, bytes, tuple]], lay: Layout
) -> tuple[list[int], list[int], list[int], list[int]]:
    """Per event (in record order, among the chunk's records ``lay``): the kind of the
    next record (-1: none), the count of train-net debug records so far, the kind of the
    record before, and the pass of the net the current block is in."""
    rec, kc = lay.rec, lay.kc
    nrec = len(rec)
    ev_rec = np.array([e[0] for e in events], dtype=np.int64)
    ev_pos = np.minimum(np.searchsorted(rec, ev_rec), nrec - 1)
    nxt = np.minimum(ev_pos + 1, nrec - 1)
    ev_nk = np.where(ev_pos + 1 < nrec, kc[nxt], -1).tolist()
    ev_pass = lay.pidx[ev_pos].tolist() if lay.pidx is not None else [0] * len(events)
    return ev_nk, lay.tdc[ev_pos].tolist(), lay.prev[ev_pos].tolist(), ev_pass


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
