"""Reading the common lines of a plain Caffe log in bulk (numpy over the fields that
:mod:`.plain` found), with exactly the results of the line-by-line reading, which still
reads every line that is not common and every stretch whose state is in doubt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gradlog.parsers.caffe import lines as L
from gradlog.parsers.caffe import plain as P
from gradlog.parsers.caffe import swar
from gradlog.parsers.caffe.assemble import compact

if TYPE_CHECKING:
    from gradlog.parsers.caffe.reader import Reader

#: The bulk reading of plain lines (:func:`feed_plain`): the smallest chunk it is tried
#: on, the shortest stretch of common lines it reads in bulk, how many stretches of rare
#: lines a chunk may have (plus one per 1024 lines) before it is read line by line, the
#: most outputs one Iteration/Testing line may have.
PLAIN_MIN_BYTES = 4096
PLAIN_MIN_RUN = 32
PLAIN_MAX_RARE = 16
PLAIN_MAX_OUTPUTS = 256
#: How often a stretch of common lines is tried in bulk again after a line that needed
#: the general machinery (a new output name, the first rate of a run, ...).
PLAIN_TRIES = 8


def try_plain(rd: Reader, chunk: bytes | bytearray, end: int) -> bool:
    """Read ``chunk[:end]`` with :func:`feed_plain` when it looks like a plain log (no
    debug line in its first 64 KiB, no CR); return whether it was read."""
    if (
        end >= PLAIN_MIN_BYTES
        and chunk.find(b"[Forward] ", 0, min(end, 1 << 16)) < 0
        and chunk.find(b"\r", 0, end) < 0
    ):
        return feed_plain(rd, chunk, end)
    return False


def feed_plain(rd: Reader, chunk: bytes | bytearray, end: int) -> bool:
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
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        bulk = bool(common[a]) and b - a >= PLAIN_MIN_RUN
        if spans and spans[-1][2] == bulk:
            spans[-1][1] = b
        else:
            spans.append([a, b, bulk])
    if sum(1 for sp in spans if not sp[2]) > PLAIN_MAX_RARE + n // 1024:
        return False
    if not any(sp[2] for sp in spans):
        return False
    data = bytes(memoryview(chunk)[:end])
    starts = sc.starts
    for a, b, bulk in spans:
        tries = 0
        while a < b:
            if bulk and rd.dump.kind == "solver" and sc.cls[a] in _BARE:
                a = read_solver_dump(rd, sc, data, a, b)
                continue
            stop = b - 1
            if bulk and tries < PLAIN_TRIES:
                stop = read_common(rd, sc, data, a, b)
                if stop < 0:
                    break
                tries += 1
            lo = int(starts[a])
            hi = int(sc.ends[stop]) + 1
            rd.feed_lines(data[lo:hi], hi - lo)
            a = stop + 1
    rd.blocks.resolve_pending()
    return True


def read_solver_dump(rd: Reader, sc: P.Scan, data: bytes, a: int, b: int) -> int:
    """Read the dump lines from line ``a`` of a stretch (to ``b``) in a solver's dump, as
    :meth:`.solver.Dump.take` reads them one by one: the brace depth (a clamped running
    sum of each line's ``{`` less ``}``) and the parameters at depth 0. Returns the first
    line after them (a glog line, or ``b``)."""
    other = np.flatnonzero(~np.isin(sc.cls[a:b], _BARE))
    head = a + int(other[0]) if len(other) else b
    lo, hi = int(sc.starts[a]), int(sc.ends[head - 1])
    raw = np.frombuffer(data, dtype=np.uint8, count=hi - lo, offset=lo)
    ends = sc.ends[a:head] - lo
    n = head - a
    delta = np.bincount(np.searchsorted(ends, np.flatnonzero(raw == 123)), minlength=n)
    delta -= np.bincount(np.searchsorted(ends, np.flatnonzero(raw == 125)), minlength=n)
    run = np.concatenate([[rd.dump.depth], rd.dump.depth + np.cumsum(delta)])
    depth = run - np.minimum(np.minimum.accumulate(run), 0)  # (the depth never goes below 0)
    starts = sc.starts[a:head]
    for i in np.flatnonzero(depth[:-1] == 0).tolist():
        rd.dump.top_line(data[int(starts[i]) : int(sc.ends[a + i])])
    rd.dump.depth = int(depth[-1])
    commit_lines(rd, sc, a, head, None)
    return head


#: The line classes without a glog prefix (their meaning depends on the dump state).
_BARE = (P.C_DUMP, P.C_OTHER)


@dataclass
class _Plan:
    """The event lines of a stretch of common lines (``sc``'s events ``e0`` to ``e1``),
    and what :func:`read_common` found out about them before committing."""

    sc: P.Scan
    e0: int
    e1: int
    ev: np.ndarray
    kind: np.ndarray
    step: np.ndarray
    got: dict[str, Any] = field(default_factory=dict)

    def col(self, x: np.ndarray) -> np.ndarray:
        """The stretch's slice of a per-event column of the scan."""
        return x[self.e0 : self.e1]


def read_common(rd: Reader, sc: P.Scan, data: bytes, a: int, b: int) -> int:
    """Read the common lines ``a`` to ``b`` (line indices of ``sc``) in bulk.

    Returns
    -------
    -1 when done; else, having changed nothing, the line (inclusive) up to which
    the general machinery must read before the bulk reading can go on: the first
    line that needs it (the first rate of a run, a counter going back, an output
    without its header line or with a new name, a value that is not a number, the
    Iteration line of a debug block waiting for it), or the first event line when
    the state needs it (no run yet, a clipping line waiting for its iteration); or the
    last of the dump lines the stretch starts with when they are a solver's (the general
    machinery reads its parameters).
    """
    if rd.dump.kind == "solver" and sc.cls[a] in _BARE:
        # a solver's parameters: the general machinery reads them, up to the next glog line
        other = np.flatnonzero(~np.isin(sc.cls[a:b], _BARE))
        return a + int(other[0]) - 1 if len(other) else b - 1
    e0, e1 = np.searchsorted(sc.ev, [a, b]).tolist()
    if e1 == e0:
        commit_lines(rd, sc, a, b, None)
        return -1
    p = _Plan(sc, e0, e1, sc.ev[e0:e1], sc.kind[e0:e1], sc.step[e0:e1])
    for check in (_check_state, _check_numbers, _check_outputs):
        stop = check(rd, p, data)
        if stop >= 0:
            return int(p.ev[stop])
    _commit_rows(rd, p)
    _commit_weights(rd, p, data)
    _commit_run(rd, p)
    commit_lines(rd, sc, a, b, int(p.kind[-1]))
    return -1


def _check_state(rd: Reader, p: _Plan, data: bytes) -> int:
    """The event (index) where the reader's state needs the general machinery (no run,
    a clipping line waiting, a debug block waiting for its Iteration line, an output
    without its header line, a counter going back, the first rate of a run), or -1."""
    r = rd.launches.current
    if r is None or rd.pending_clips:
        return 0
    kind, step = p.kind, p.step
    is_l = kind == L.K_L
    blk = rd.blocks.block
    if blk is not None and not blk.anchored and blk.run is r and is_l.any():
        return int(np.argmax(is_l))
    is_lr = kind == L.K_LR
    is_t = kind == L.K_T
    is_tro = kind == L.K_TRO
    is_out = is_tro | (kind == L.K_TO)
    aff = is_l | is_lr | is_t
    # each output's header line: the last Iteration line before it (-1: the chain
    # this stretch starts with)
    cid = np.where(aff, np.arange(len(kind)), -1)
    np.maximum.accumulate(cid, out=cid)
    o_at = np.flatnonzero(is_out)
    oc = cid[o_at]
    o_tr = is_tro[o_at]
    ch = rd.chain
    tdc = rd.blocks.tdc
    in_train = ch is not None and ch[0] == "train" and ch[2] == tdc
    in_test = ch is not None and ch[0] == "test" and ch[3] == tdc
    inc = oc < 0
    if r.first_step is None and not aff[0]:
        return 0
    if inc.any() and not ((in_train and o_tr[inc].all()) or (in_test and not o_tr[inc].any())):
        return int(o_at[0])
    ock = kind[np.maximum(oc, 0)]
    placed = np.where(o_tr, ock == L.K_L, ock == L.K_T) | inc
    if not placed.all():
        return int(o_at[np.argmin(placed)])
    # loss lines: the counter does not go back; no first rate of a run here
    l_at = np.flatnonzero(is_l)
    l_steps = step[l_at]
    if len(l_steps):
        back = np.diff(l_steps, prepend=r.last_loss_step or 0) < 0
        if back.any():
            return int(l_at[np.argmax(back)])
    r_lo, r_hi = p.col(p.sc.rate[0]), p.col(p.sc.rate[1])
    has_rate = is_l & (r_hi > r_lo)
    n_rate = int(has_rate.sum())
    if n_rate and not r.rates:
        return int(np.argmax(has_rate))
    p.got.update(
        r=r,
        is_l=is_l,
        is_lr=is_lr,
        is_t=is_t,
        aff=aff,
        o_at=o_at,
        oc=oc,
        o_tr=o_tr,
        ch=ch,
        tdc=tdc,
        in_test=in_test,
        inc=inc,
        l_steps=l_steps,
        has_rate=has_rate,
        n_rate=n_rate,
        r_lo=r_lo,
        r_hi=r_hi,
    )
    return -1


def _check_numbers(rd: Reader, p: _Plan, data: bytes) -> int:
    """Read the values, learning rates and rates (as the general machinery reads them);
    the first event whose number does not convert, or -1."""
    g = p.got
    is_t, is_lr = g["is_t"], g["is_lr"]
    lr_at = np.flatnonzero(is_lr)
    v_at = np.flatnonzero(~is_t & ~is_lr)
    rate_at = np.flatnonzero(g["has_rate"])
    (val, val_ok), (rate, rate_ok), _ = numbers(p.sc, data)
    val, val_ok = p.col(val), p.col(val_ok)
    vals, ok = val[v_at], val_ok[v_at]
    if not ok.all():
        return int(v_at[np.argmin(ok)])
    lrs, ok = val[lr_at], val_ok[lr_at]
    if not ok.all():
        return int(lr_at[np.argmin(ok)])
    rates, ok = p.col(rate)[rate_at], p.col(rate_ok)[rate_at]
    if not ok.all():
        return int(rate_at[np.argmin(ok)])
    g.update(lr_at=lr_at, v_at=v_at, rate_at=rate_at, vals=vals, lrs=lrs, rates=rates)
    return -1


def _check_outputs(rd: Reader, p: _Plan, data: bytes) -> int:
    """Find each output's tag: its name, and its element (its index less the first index
    of the same name among its header line's outputs). The first output that needs the
    general machinery (a new output, too many outputs), or -1."""
    g = p.got
    sc, o_at, oc, o_tr, ch, inc = p.sc, g["o_at"], g["oc"], g["o_tr"], g["ch"], g["inc"]
    n_lo, n_hi = p.col(sc.name[0])[o_at], p.col(sc.name[1])[o_at]
    index = p.col(sc.net)[o_at]
    o_net = np.where(
        o_tr, -1, np.where(oc < 0, ch[2] if g["in_test"] else -1, p.col(sc.net)[np.maximum(oc, 0)])
    )
    groups = (
        swar.same_texts(sc.words, n_lo, n_hi, (o_net + 1) * 256 + index)
        if (len(o_at) and int(index.max()) < 256)
        else None
    )
    if groups is None:
        name_u = [data[x:y] for x, y in zip(n_lo.tolist(), n_hi.tolist(), strict=False)]
        name_inv = np.arange(len(name_u))
    else:
        name_u = [data[x:y] for x, y in zip(n_lo[groups[0]].tolist(), n_hi[groups[0]].tolist(), strict=False)]
        name_inv = groups[1]
    nid = np.fromiter(map(rd.tags.name_ids.__getitem__, name_u), dtype=np.int64, count=len(name_u))[name_inv]
    g.update(name_u=name_u, name_inv=name_inv, index=index)
    no = len(o_at)
    first = _first_index(oc, nid, index, inc, ch, name_u, name_inv)
    if first is None:
        return int(o_at[0])
    j = np.where(index > first, index - first, 0)
    tids = np.empty(no, dtype=np.int64)
    if no:
        if int(nid.max()) >= 1 << 24 or int(j.max()) >= 1 << 16 or int(o_net.max()) >= 1 << 22:
            return int(o_at[0])
        code = ((o_net + 1) << 40) | (nid << 16) | j
        uniq, inv = np.unique(code, return_inverse=True)
        get = rd.tags.out_tags.get
        name_of = rd.tags.name_list
        ut = np.empty(len(uniq), dtype=np.int64)
        inv = inv.ravel()
        for u, c in enumerate(uniq.tolist()):
            # an output without a name ("Test loss: X") is keyed by its index, -1
            t = get(((c >> 40) - 1, name_of[(c >> 16) & 0xFFFFFF] or -1, c & 0xFFFF))
            if t is None:  # a new output: the general machinery names it
                return int(o_at[np.argmax(inv == u)])
            ut[u] = t
        tids = ut[inv]
    g["tids"] = tids
    return -1


def _first_index(
    oc: np.ndarray,
    nid: np.ndarray,
    index: np.ndarray,
    inc: np.ndarray,
    ch: list[Any] | None,
    name_u: list[bytes],
    name_inv: np.ndarray,
) -> np.ndarray | None:
    """The first index of each output's name among its header line's outputs (compared
    with the outputs 1, 2, ... before it: short groups, then the few long ones; the
    chain's own outputs for those before the stretch's first header line). None when a
    header line has more than :data:`PLAIN_MAX_OUTPUTS` outputs."""
    first = index.copy()
    no = len(oc)
    if not no:
        return first
    grp_start = np.flatnonzero(np.concatenate([[True], oc[1:] != oc[:-1]]))
    glen = np.diff(np.append(grp_start, no))
    if int(glen.max()) > PLAIN_MAX_OUTPUTS:
        return None
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
    if inc.any() and ch is not None and ch[4]:
        seen = ch[4]
        for i in np.flatnonzero(inc).tolist():
            f = seen.get(name_u[name_inv[i]])
            if f is not None:
                first[i] = f
    return first


def _commit_rows(rd: Reader, p: _Plan) -> None:
    """The stretch's rows, in log order (a loss line's rate row after its own)."""
    g = p.got
    sc, step, r = p.sc, p.step, g["r"]
    is_l, is_t, has_rate, o_at, oc, inc, ch = (
        g["is_l"],
        g["is_t"],
        g["has_rate"],
        g["o_at"],
        g["oc"],
        g["inc"],
        g["ch"],
    )
    walls = rd.clock.walls(*(p.col(x) for x in sc.time))
    g["walls"] = walls
    o_step = np.where(inc, ch[1] if ch is not None else -1, step[np.maximum(oc, 0)])
    rate_kept = has_rate.copy()
    if r.first_rate_step is not None:
        dup = rate_kept & (step == r.first_rate_step)
        if dup.any():
            rd.tally.skipped["first_rate_of_run"] += int(dup.sum())
            rate_kept &= ~dup
    has_row = ~is_t
    cnt = has_row.astype(np.int64) + rate_kept
    pos = np.cumsum(cnt) - cnt
    nrow = int(cnt.sum())
    r_tag = np.empty(nrow, dtype=np.int32)
    r_step = np.empty(nrow, dtype=np.int64)
    r_val = np.empty(nrow, dtype=np.float64)
    r_wall = np.empty(nrow, dtype=np.float64)
    tag_ev = np.where(is_l, rd.tags.t_smoothed, rd.tags.t_lr)
    tag_ev[o_at] = g["tids"]
    step_ev = step.copy()
    step_ev[o_at] = o_step
    for at, vv in ((g["v_at"], g["vals"]), (g["lr_at"], g["lrs"])):
        dst = pos[at]
        r_tag[dst] = tag_ev[at]
        r_step[dst] = step_ev[at]
        r_val[dst] = vv
        r_wall[dst] = walls[at]
    k_at = np.flatnonzero(rate_kept)
    dst = pos[k_at] + 1
    r_tag[dst] = rd.tags.t_rate
    r_step[dst] = step[k_at]
    r_val[dst] = g["rates"][rate_kept[g["rate_at"]]]
    r_wall[dst] = walls[k_at]
    if nrow:
        rd.sink.out.append(compact(r_tag, r_step, r_val, r_wall))


def _commit_weights(rd: Reader, p: _Plan, data: bytes) -> None:
    """The loss weights of the stretch's train outputs (the largest |w| of each tag)."""
    g = p.got
    o_at, o_tr, tids = g["o_at"], g["o_tr"], g["tids"]
    tro = np.flatnonzero(o_tr)
    if not len(tro):
        return
    w_lo, w_hi = p.col(p.sc.weight[0])[o_at][tro], p.col(p.sc.weight[1])[o_at][tro]
    wt = w_hi > w_lo
    if not wt.any():
        return
    wtid = tids[tro][wt]
    small = wtid.astype(np.int16) if int(wtid.max()) < 32767 else wtid
    o = np.argsort(small, kind="stable")  # each tag's weights together
    weight, weight_ok = numbers(p.sc, data)[2]
    ws, wok = (p.col(x)[o_at][tro][wt][o] for x in (weight, weight_ok))
    wa = np.abs(ws)
    use = wok & (wa > 0) & ~np.isnan(wa)
    wtid = wtid[o][use]
    wa = wa[use]
    if len(wtid):
        cut = np.flatnonzero(np.diff(wtid)) + 1
        heads = np.concatenate([[0], cut])
        tops = np.maximum.reduceat(wa, heads)
        lw = rd.tags.loss_weight
        names_ = rd.tags.tag_names
        for t, top in zip(wtid[heads].tolist(), tops.tolist(), strict=False):
            tag = names_[t]
            if lw.get(tag, 0.0) < top:
                lw[tag] = top


def _commit_run(rd: Reader, p: _Plan) -> None:
    """The run's steps and rates, the last iteration, and the chain the stretch ends
    with (its header line and the outputs seen after it)."""
    g = p.got
    step, kind, r, aff, inc, o_tr, ch, oc = (
        p.step,
        p.kind,
        g["r"],
        g["aff"],
        g["inc"],
        g["o_tr"],
        g["ch"],
        g["oc"],
    )
    aff_steps = step[aff]
    if r.first_step is None:
        r.first_step = int(step[0])
    r.has_data = True
    top = int(aff_steps.max()) if len(aff_steps) else None
    if inc.any() and not o_tr[inc].all():
        top = max(top, ch[1]) if top is not None else ch[1]
    if top is not None and (r.last_step is None or top > r.last_step):
        r.last_step = top
    l_steps = g["l_steps"]
    if len(l_steps):
        r.last_loss_step = int(l_steps[-1])
    r.rates += g["n_rate"]
    it_at = np.flatnonzero(g["is_l"] | g["is_lr"])
    if len(it_at):
        rd.last_iter_step = int(step[it_at[-1]])
    a_at = np.flatnonzero(aff)
    if len(a_at):
        last = int(a_at[-1])
        k = int(kind[last])
        seen: dict[bytes, int] = {}
        if k == L.K_L:
            rd.chain = ["train", int(step[last]), g["tdc"], float(g["walls"][last]), seen]
        elif k == L.K_T:
            rd.chain = ["test", int(step[last]), int(p.sc.net[p.e0 + last]), g["tdc"], seen]
        else:
            rd.chain = None
        mine = np.flatnonzero(oc == last).tolist()
    else:
        seen = ch[4] if ch is not None else {}
        mine = np.flatnonzero(inc).tolist()
    name_u, name_inv, index = g["name_u"], g["name_inv"], g["index"]
    for i in mine:
        name = name_u[name_inv[i]]
        if name:  # (not "Test loss: X": the line-by-line reading notes no name for it)
            seen.setdefault(name, int(index[i]))


def commit_lines(rd: Reader, sc: P.Scan, a: int, b: int, last_kind: int | None) -> None:
    """The line-level state after the common lines ``a`` to ``b`` (glog lines with a
    message, and parameter dump lines read in a net's dump or after a glog line;
    ``last_kind``: the record kind of the last event, if any)."""
    rd.lone_before = None
    cls = sc.cls[a:b]
    dump = int(np.count_nonzero(cls == P.C_DUMP))
    other = np.flatnonzero(cls == P.C_OTHER)
    netp = np.flatnonzero(cls == P.C_NETP)
    if len(other) and (rd.dump.kind is not None or len(netp)):
        # another program's lines inside a dump (before the stretch's first glog line,
        # or after an "Initializing net" line up to the next glog line) are the dump's
        glog = np.flatnonzero(~np.isin(cls, _BARE))
        before = np.searchsorted(glog, other)  # how many glog lines come before each
        inside = np.full(len(other), rd.dump.kind is not None)
        after = np.flatnonzero(before > 0)
        inside[after] = cls[glog[before[after] - 1]] == P.C_NETP
        dump += int(np.count_nonzero(inside))
        other = other[~inside]
    if dump:
        rd.tally.skipped["parameter_dump_lines"] += dump
    if len(other):
        rd.tally.count("non_glog_lines", rd.line_base + int(other[0]) + 1, len(other))
    if dump + len(other) < b - a:  # a glog line ends a dump (and may start a net's)
        rd.tally.glog_lines += b - a - dump - len(other)
        rd.dump.kind = None
        if len(netp):
            rd.dump.start("net")
            last_glog = int(np.flatnonzero(~np.isin(cls, _BARE))[-1])
            if last_glog != int(netp[-1]):
                rd.dump.kind = None
    snaps = int(np.count_nonzero(cls == P.C_SNAP))
    if snaps:
        rd.tally.info["snapshot_lines"] += snaps
    if last_kind is not None:
        bl = rd.blocks
        bl.last_kind = bl.last_pass_kind = bl.last_nonf_kind = last_kind
    rd.line_base += b - a


def numbers(sc: P.Scan, data: bytes) -> list[tuple[np.ndarray, np.ndarray]]:
    """``sc.numbers``: per event of the chunk, (float, converts) of its value, its rate
    and its loss weight (NaN, False where it has none), read once for the whole chunk."""
    if sc.numbers is None:
        sc.numbers = []
        for lo, hi in (sc.val, sc.rate, sc.weight):
            at = np.flatnonzero(hi > lo)
            v = np.full(len(lo), np.nan)
            ok = np.zeros(len(lo), dtype=bool)
            v[at], ok[at] = _floats(data, lo[at], hi[at], sc.words)
            sc.numbers.append((v, ok))
    return sc.numbers


def _floats(data: bytes, lo: np.ndarray, hi: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numbers ``data[lo:hi]``, read as :func:`.lines.parse_num` reads them: those of
    Caffe's plain decimal form in bulk (:func:`.swar.decimals`, on ``words``, the chunk's
    uint64 view), the others (``nan``, ``1.#INF``, long or odd ones) one by one.

    Returns
    -------
    (floats, ok) : float64 array (NaN where not a number) and the mask of numbers.
    """
    vals, done = swar.decimals(words, lo, hi)
    ok = np.ones(len(lo), dtype=bool)
    rest = np.flatnonzero(~done).tolist()
    if rest:
        num = L.parse_num
        for i in rest:
            f = num(data[int(lo[i]) : int(hi[i])])
            if f is None:
                vals[i], ok[i] = np.nan, False
            else:
                vals[i] = f
    return vals, ok
