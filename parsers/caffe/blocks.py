"""debug_info blocks: where each run of debug lines starts, which iteration it belongs to
(its ``Iteration N, loss`` line; the blocks between two such lines in old Caffe that
prints every iteration; the passes of ``iter_size`` > 1), and the debug values waiting
for that decision."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter
from typing import Any

import numpy as np

from gradlog.parsers.caffe import lines as L
from gradlog.parsers.caffe.assemble import compact
from gradlog.parsers.caffe.launches import Launches, Run
from gradlog.parsers.caffe.tags import Tags
from gradlog.parsers.caffe.tally import Tally

#: A segment's step when its values are dropped.
DROP = -1
_G1 = itemgetter(1)


def _lut(*kinds: int) -> np.ndarray:
    out = np.zeros(32, dtype=bool)
    out[list(kinds)] = True
    return out


_OPENS = _lut(L.K_F, L.K_B, L.K_A)  # (K_TF: a test-net line opens nothing)
_PASS = _lut(L.K_F, L.K_B, L.K_A)  # what a pass is made of
_TRAIN_DEBUG = _lut(L.K_F, L.K_B, L.K_A, L.K_U, L.K_U1)  # train-net debug lines


class Block:
    """A run of debug lines of one iteration (a segment that starts with [Forward])."""

    __slots__ = ("seg", "run", "anchored")

    def __init__(self, seg: int, run: Run) -> None:
        self.seg, self.run, self.anchored = seg, run, False


@dataclass
class Layout:
    """Where a chunk's records sit (:meth:`Blocks.layout`), one entry per record.

    Attributes
    ----------
    rec : the chunk's record indices (lines with a record kind); ``kc`` their kinds,
        ``prev`` the kind before each, ``kc_pass`` the kinds with test-net [Forward]
        lines as ``K_TF``.
    isf, train_f : [Forward] lines; those of the train net.
    bstart : the records that start a block; ``segc`` each record's segment.
    pidx : each record's pass of the net in its block (None: all 0).
    tdeb, tdc : train-net debug records, and how many came before each (inclusive).
    """

    rec: np.ndarray
    kc: np.ndarray
    prev: np.ndarray
    kc_pass: np.ndarray
    isf: np.ndarray
    train_f: np.ndarray
    bstart: np.ndarray
    segc: np.ndarray
    pidx: np.ndarray | None
    tdeb: np.ndarray
    tdc: np.ndarray


class Sink:
    """Rows read so far: ``rows`` (tuples, one at a time) and ``out`` (compact chunks)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, float, float]] = []
        self.out: list[tuple[np.ndarray, np.ndarray, np.ndarray, Any]] = []


class Blocks:
    """The segments of the log (a debug block, or the stretch after a run event) and the
    decision of each one's iteration.

    Attributes
    ----------
    block : the block being read (None outside one); ``cur_seg`` its segment number.
    seg_step, seg_wall : a decided segment's iteration (``DROP``: its values are not
        used) and wall time; ``seg_shape``: its count of [Forward], [Backward] and
        All-net-params lines; ``seg_pass``: how the passes of a block with several go.
    pending : debug rows waiting for their segment's iteration (segment, tag, value,
        pass or None).
    tdc, pass_idx, last_kind, last_pass_kind, last_nonf_kind : what carries from one
        chunk to the next.
    """

    def __init__(
        self,
        tally: Tally,
        tags: Tags,
        launches: Launches,
        sink: Sink,
        line: Callable[[int], int],
        ensure_run: Callable[[int], Run],
    ) -> None:
        self.tally, self.tags, self.launches, self.sink = tally, tags, launches, sink
        self.line, self.ensure_run = line, ensure_run
        self.block: Block | None = None
        self.cur_seg = 0
        self.seg_step: dict[int, int] = {0: DROP}
        self.seg_wall: dict[int, float] = {}
        self.seg_shape: dict[int, list[int]] = {}
        self.seg_pass: dict[int, tuple] = {}
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self.tdc = 0
        self.pass_idx = 0
        self.last_kind = L.K_NONE
        self.last_pass_kind = L.K_NONE
        self.last_nonf_kind = L.K_NONE

    # -- where the records sit ----------------------------------------------------------------
    def layout(self, kind: np.ndarray) -> Layout | None:
        """Vectorised over the chunk's records: which [Forward] lines belong to a test
        net, where a debug block starts, which segment each record is in, its pass, and
        how many train-net debug records came before it; the shapes of the segments are
        counted. Returns None when the chunk has no record."""
        rec = np.flatnonzero(kind)
        nrec = len(rec)
        if nrec == 0:
            return None
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
            self.tally.skipped["test_net_debug_lines"] += n_test_f
            self.tally.formats.add("debug_info")

        # the shape of each block: how many [Forward], [Backward], All-net-params lines
        # (the same for every iteration of a net; a stretch of blocks is counted only
        # when they all have the shape of the blocks around them)
        base = self.cur_seg
        nseg = int(segc[-1]) - base + 1
        counts = [np.bincount(segc[m] - base, minlength=nseg) for m in (train_f, kc == L.K_B, kc == L.K_A)]
        busy = np.flatnonzero(counts[0] + counts[1] + counts[2])
        if len(busy):
            shape = self.seg_shape
            for sg, a, b_, c in zip(
                (busy + base).tolist(),
                counts[0][busy].tolist(),
                counts[1][busy].tolist(),
                counts[2][busy].tolist(),
                strict=False,
            ):
                sh = shape.get(sg)
                if sh is None:
                    shape[sg] = [a, b_, c]
                else:
                    sh[0] += a
                    sh[1] += b_
                    sh[2] += c
        return Layout(rec, kc, prev, kc_pass, isf, train_f, bstart, segc, pidx, tdeb, tdc)

    def debug_rows(
        self,
        lay: Layout,
        nkind: int,
        kid: np.ndarray,
        recs: list[tuple[bytes, bytes]],
        key_tag1: np.ndarray,
        key_tag2: np.ndarray,
    ) -> None:
        """The train net's debug values of the chunk, in bulk, to the pending rows of their
        segment (bad values counted); then what carries to the next chunk."""
        rec, kc, segc, pidx, tdeb = lay.rec, lay.kc, lay.segc, lay.pidx, lay.tdeb
        # debug rows (train net), with the segment they belong to
        dbg = tdeb & (kc != L.K_A)
        pieces_seg: list[np.ndarray] = []
        pieces_tag: list[np.ndarray] = []
        pieces_val: list[np.ndarray] = []
        pieces_pass: list[np.ndarray | None] = []
        if dbg.any():
            self.tally.formats.add("debug_info")
            d_rec = rec[dbg]
            d_seg = segc[dbg]
            d_kid = kid[d_rec]
            is_u = kc[dbg] == L.K_U
            one = ~is_u
            if one.any():
                r1 = d_rec[one]
                vals, ok = L.bulk_floats(_values(recs, r1, nkind))
                self._bad_values(ok, r1)
                pieces_seg.append(d_seg[one][ok])
                pieces_tag.append(key_tag1[d_kid[one]][ok])
                pieces_val.append(vals[ok])
                pieces_pass.append(pidx[dbg][one][ok] if pidx is not None else None)
            if is_u.any():
                self.tally.formats.add("update_lines")
                ru = d_rec[is_u]
                data, diff, ok = _update_values(_values(recs, ru, nkind))
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
            self.tally.formats.add("debug_info")
            a_rec = rec[is_a]
            a_seg = segc[is_a]
            texts = _values(recs, a_rec, nkind)
            found = L.ALL_PARAMS_RE.findall(b"\n".join(texts) + b"\n")
            nums, ok = L.bulk_floats(
                [x for g in found for x in g] if len(found) == len(texts) else [b""] * (4 * len(texts))
            )
            ok = ok.reshape(-1, 4).all(axis=1)
            if not ok.all():
                self.tally.count("malformed_lines", self.line(int(a_rec[~ok][0])), int((~ok).sum()))
            nums = nums.reshape(-1, 4)[ok]
            na = len(nums)
            if na:
                pieces_seg.append(np.repeat(a_seg[ok], 4))
                pieces_tag.append(np.tile(np.array(self.tags.t_all, dtype=np.int32), na))
                pieces_val.append(nums.ravel())
                pieces_pass.append(np.repeat(pidx[is_a][ok], 4) if pidx is not None else None)
        for sg, t, v, ps in zip(pieces_seg, pieces_tag, pieces_val, pieces_pass, strict=False):
            if len(sg):
                self.pending.append((sg.astype(np.int64, copy=False), t.astype(np.int32, copy=False), v, ps))

    def carry(self, lay: Layout) -> None:
        """Keep what the next chunk's layout needs from this chunk's last records."""
        kc, isf, segc, tdc, pidx = lay.kc, lay.isf, lay.segc, lay.tdc, lay.pidx
        self.last_kind = int(kc[-1])
        self.last_pass_kind = int(lay.kc_pass[-1])
        nonf = np.flatnonzero(~isf)
        if len(nonf):
            self.last_nonf_kind = int(kc[nonf[-1]])
        self.cur_seg = int(segc[-1])
        self.tdc = int(tdc[-1])
        self.pass_idx = int(pidx[-1]) if pidx is not None else 0

    def _bad_values(self, ok: np.ndarray, recs: np.ndarray) -> None:
        if not ok.all():
            badk = recs[~ok]
            self.tally.count("malformed_lines", self.line(int(badk[0])), len(badk))

    # -- segments and blocks ------------------------------------------------------------------
    def new_seg(self, is_block: bool, k: int) -> None:
        """Close the current segment and open the next: a debug block starting at record
        ``k`` (of the current run, opened if there is none), or the stretch after a run
        event (its values are not used)."""
        self.close_seg()
        self.cur_seg += 1
        if is_block:
            self.block = Block(self.cur_seg, self.ensure_run(k))
        else:
            self.block = None
            self.seg_step[self.cur_seg] = DROP

    def close_seg(self) -> None:
        """Close the current block: one without its Iteration line waits for its run's
        decision (leading blocks before the first anchor, unanchored ones after)."""
        b = self.block
        if b is not None and not b.anchored:
            r = b.run
            (r.leading if r.last_anchor is None else r.unanchored).append(b.seg)
        self.block = None

    def _shape(self, seg: int) -> tuple[int, ...]:
        return tuple(self.seg_shape.get(seg, (0, 0, 0)))

    def _same_shape(self, segs: list[int], ref: tuple[int, ...]) -> bool:
        return all(self._shape(s) == ref for s in segs)

    def anchor(self, b: Block, step: int, wall: float, passes: int = 1, rec: int = 0) -> None:
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
            if (
                k
                and k == gap
                and r.mode != "display_only"
                and self._shape(b.seg) == self._shape(r.last_seg)
                and self._same_shape(r.unanchored, self._shape(b.seg))
            ):
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
                why = (
                    "in a log that prints debug_info only on display iterations"
                    if r.mode == "display_only"
                    else f"where {max(gap, 0)} iterations are"
                )
                self.tally.warnings.append(
                    f"{self.tally.name}: {k} debug_info block(s) without their Iteration line between "
                    f"iterations {a} and {step} ({why}): their iterations are unknown, not used"
                )
            r.unanchored = []
            if r.leading and r.mode is not None:
                self._place_leading(r)
        else:
            r.first_anchor = (step, wall)
            r.first_seg = b.seg
        r.last_anchor = (step, wall)
        r.last_seg = b.seg

    def _place_passes(self, b: Block, step: int, wall: float, passes: int, rec: int) -> str | None:
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
        per = (
            it
            if isinstance(it, int) and not isinstance(it, bool) and it >= 1
            else (1 if r.one_pass else None)
        )
        if per is not None and passes == per:
            return None  # iter_size passes of one iteration: the last wins
        if per is not None and r.last_anchor is not None and not r.unanchored and r.mode != "display_only":
            a, wa = r.last_anchor
            if step - a >= 2 and passes == (step - a) * per:
                self.seg_pass[b.seg] = ("split", per, a, wa, step, wall)
                r.mode = "every_iteration"
                self.tally.info["debug_blocks_split"] += 1
                return "split"
        self.seg_pass[b.seg] = ("last", passes)
        if not r.ambiguous:
            r.ambiguous_from = (self.line(rec), step)
            self.tally.first_damage.setdefault("ambiguous_debug_values", r.ambiguous_from[0])
        r.ambiguous += 1
        return "last"

    def _place_leading(self, r: Run) -> None:
        if (
            r.mode == "every_iteration"
            and r.first_anchor is not None
            and self._same_shape(r.leading, self._shape(r.first_seg))
        ):
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
            self.seg_step[s] = DROP

    def end_run(self, r: Run, keep_block: bool = False) -> None:
        """Place (or drop) the debug blocks of run ``r`` that wait for a decision (the
        block being read too, unless ``keep_block``)."""
        if not keep_block:
            self.close_seg()
        if r.unanchored:
            if (
                r.mode == "every_iteration"
                and r.last_anchor is not None
                and self._same_shape(r.unanchored, self._shape(r.last_seg))
            ):
                a = r.last_anchor[0]
                for j, s in enumerate(r.unanchored):
                    self.seg_step[s] = a + 1 + j
                    self.seg_wall[s] = math.nan
            else:
                self._drop_segs(r.unanchored)
            r.unanchored = []
        if r.leading:
            self._place_leading(r)
        if r.ambiguous and r.ambiguous_from is not None:
            line, step = r.ambiguous_from
            self.tally.warnings.append(
                f"{self.tally.name}: line {line} (iteration {step}) and {r.ambiguous - 1} later: "
                f"{r.ambiguous} debug_info block(s) print the same blobs more than once before "
                f"their Iteration line (iter_size > 1, or iterations without [Update] lines "
                f"between them) and the iterations of the earlier passes are unknown: only the "
                f"last pass is used"
            )
            r.ambiguous, r.ambiguous_from = 0, None

    # -- rows -----------------------------------------------------------------------------------
    def resolve_pending(self, final: bool = False) -> None:
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
                pas = np.concatenate(
                    [p[3] if p[3] is not None else np.zeros(len(p[0]), dtype=np.int64) for p in self.pending]
                )
        lo, hi = int(seg.min()), int(seg.max())
        get_s, get_w = self.seg_step.get, self.seg_wall.get
        live = self.block.seg if (self.block is not None and not final) else None
        steps = np.empty(hi - lo + 1, dtype=np.int64)
        walls = np.empty(hi - lo + 1, dtype=np.float64)
        for s in range(lo, hi + 1):
            st = get_s(s)
            if st is None:
                st = -2 if (not final) else DROP  # -2: not decided yet
            steps[s - lo] = st
            walls[s - lo] = get_w(s, math.nan)
        st_row = steps[seg - lo]
        w_row = walls[seg - lo]
        if self.seg_pass:
            self._place_pass_rows(seg, pas, st_row, w_row)
        keep = st_row >= 0
        undecided = st_row == -2
        dropped = st_row == DROP
        nd = int(dropped.sum())
        if nd:
            self.tally.skipped["unplaced_values"] += nd
        if keep.any():
            self.sink.out.append(compact(tag[keep], st_row[keep], val[keep], w_row[keep]))
        if undecided.any():
            self.pending = [
                (seg[undecided], tag[undecided], val[undecided], pas[undecided] if pas is not None else None)
            ]
        else:
            self.pending = []
        # forget decided segments nobody can refer to any more
        floor = int(seg[undecided].min()) if undecided.any() else (live or self.cur_seg)
        if len(self.seg_step) > 4096:
            keep = {r.first_seg for r in self.launches.all} | {r.last_seg for r in self.launches.all}
            for s in [s for s in self.seg_step if s < floor and s not in keep]:
                del self.seg_step[s]
                self.seg_wall.pop(s, None)
                self.seg_shape.pop(s, None)
                self.seg_pass.pop(s, None)

    def _place_pass_rows(
        self, seg: np.ndarray, pas: np.ndarray | None, st_row: np.ndarray, w_row: np.ndarray
    ) -> None:
        """Steps and times of the rows of blocks with several passes (``seg_pass``), in
        place: a split block's pass p goes to iteration ``a + 1 + p // per`` (its time
        interpolated between the two Iteration lines); of an ambiguous block only the
        last pass is kept (the others: step -3, counted as ambiguous values)."""
        lo, hi = int(seg.min()), int(seg.max())
        segs = (
            [x for x in range(lo, hi + 1) if x in self.seg_pass]
            if hi - lo < len(self.seg_pass)
            else [x for x in self.seg_pass if lo <= x <= hi]
        )
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
                    self.tally.skipped["ambiguous_debug_values"] += n


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
