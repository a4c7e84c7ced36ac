"""Bulk scanner for the common lines of a plain Caffe solver log.

A plain solver log (no ``debug_info``) is made almost only of a few line shapes:
``Iteration N (R iter/s, ...), loss = X``, ``Train net output #k: name = v (* w = x loss)``,
``Iteration N, lr = X``, ``Iteration N, Testing net (#k)``, ``Test net output #k: ...``,
``Test loss: X`` (``test_compute_loss``), and glog messages the reader ignores. :func:`scan` finds, with numpy over the whole
chunk (no Python loop over lines), the lines that have *exactly* one of these shapes
and the byte spans of their fields. Every other line, and every line whose shape is in
the least doubt (a control or non-ASCII byte, trailing blanks, a very long field), is
*rare*: the reader sends it to its general line-by-line machinery, which stays the
reference. A common line is one that machinery reads to the same event, by construction:

- the glog prefix is ``EVENT_RE``'s in :mod:`.lines` (``[IWE]mmdd hh:mm:ss.uuuuuu``
  or ``[IWE]yyyymmdd ...``, blanks, a thread token, a blank, anything up to the first
  ``]``, blanks); the message is the rest of the line, not empty, and does not start
  with ``[`` (debug lines, and what the chunk scanner would take for a debug key);
- an Iteration or output line has exactly the shape ``EVENT_RE`` (or, for test outputs,
  ``_OUTPUT``) reads, with nothing after it; a value is not checked here beyond having no
  blank at either end: the reader converts it with ``float`` and leaves the line to the
  general machinery when it does not convert;
- any other message is common only when the general machinery ignores it (no parser for
  its first six bytes in ``HANDLERS``), or just counts it (a snapshot line), or only
  starts a net's parameter dump (``Initializing net from parameters``: ``C_NETP``);
- a line without a glog prefix is common when it has exactly a simple shape of the
  protobuf text Caffe prints its solver and net parameters in (``C_DUMP``: counted as a
  dump's line, its parameters read when it is the solver's), or of another program's
  print the general machinery only counts (``C_OTHER``: ``OFM 0: GLen:3 ...``).

The lookups run on an unaligned little-endian uint64 view of the (zero-padded) chunk
(:mod:`.swar`): the 8 bytes at any offset as one integer, gathered for many offsets at
once, so that a literal of up to 8 bytes is one comparison, and a byte is searched for,
digits checked and read, eight at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradlog.parsers.caffe import lines as L
from gradlog.parsers.caffe.swar import Bytes, literal, times, timestamps

#: Line classes (per line of the chunk).
C_RARE = 0  # the general machinery reads it
C_NOOP = 1  # a glog message the reader ignores
C_SNAP = 2  # "Snapshotting to ..." / "Snapshotting solver state to ..." (counted)
C_EVENT = 3  # one of the event shapes
C_DUMP = 4  # a line of a parameter dump (no glog prefix): counted
C_OTHER = 5  # a line of another program (no glog prefix): counted
C_NETP = 6  # "Initializing net from parameters...": a net's dump starts

#: Widths of the windows the scanner searches (a longer field makes its line rare).
_THREAD = 24  # the thread token
_NUMBER = 32  # a number (value, rate, weight)
_NAME = 64  # an output name
_KEY = 32  # a parameter's name in a dump

_ITER = literal(b"Iteration ")
_TRAIN = literal(b"Train net output #")
_TEST = literal(b"Test net output #")
_TEST_LOSS = literal(b"Test loss: ")
_SNAP1 = literal(b"Snapshotting to ")
_SNAP2 = literal(b"Snapshotting solver state to ")
_NETP = literal(b"Initializing net from parameters")
_LOSS = literal(b", loss = ")
_LR = literal(b", lr = ")
_TESTING = literal(b", Testing net (#")
_RATE_OPEN = literal(b" (")
_RATE1 = literal(b" iter/s, ")
_RATE2 = literal(b" iters/s, ")
_COLON = literal(b": ")
_W_OPEN = literal(b" (* ")
_W_EQ = literal(b" = ")
_W_CLOSE = literal(b" loss)")
_SIX = (1 << 48) - 1
_HANDLER_CODES = np.array(sorted(int.from_bytes(k, "little") for k in L.HANDLERS), dtype=np.uint64)


@dataclass
class Scan:
    """What :func:`scan` found in a chunk.

    Attributes
    ----------
    cls : per line, C_RARE / C_NOOP / C_SNAP / C_EVENT / C_DUMP / C_OTHER / C_NETP.
    starts, ends : per line, the offset of its first byte and of its newline.
    ev : line indices of the event lines (C_EVENT), in order.
    kind : per event, K_L, K_LR, K_T, K_TRO or K_TO (from :mod:`.lines`).
    step : per event, the iteration (K_L, K_LR, K_T), else -1.
    net : per event, the test net (K_T), the output index (K_TRO, K_TO), else -1.
    time : per event, (year, month, day, seconds) of its glog timestamp, as
        :func:`.lines.ts_fields` reads it.
    val : per event, the (start, end) offsets of its value (K_T: an empty span).
    rate : per event, the span of the rate of a K_L line (empty when it has none).
    weight : per event, the span of an output's loss weight (empty when none).
    name : per event, the span of an output's name (empty otherwise).
    words : the chunk as an unaligned uint64 view (the 8 bytes at each offset).
    mixed_years : True when the chunk has glog timestamps with and without a year (the
        reader then reads it line by line, as wall times are computed per chunk).
    numbers : per event, (float, converts) of its value, rate and weight (NaN, False
        where it has none); filled by the reader (:func:`.bulk.numbers`) when needed.
    """

    cls: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    ev: np.ndarray
    kind: np.ndarray
    step: np.ndarray
    net: np.ndarray
    time: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    rate: tuple[np.ndarray, np.ndarray]
    weight: tuple[np.ndarray, np.ndarray]
    name: tuple[np.ndarray, np.ndarray]
    words: np.ndarray
    mixed_years: bool
    numbers: list[tuple[np.ndarray, np.ndarray]] | None = None


def scan(chunk: bytes | bytearray, end: int) -> Scan:
    """Classify the whole lines of ``chunk[:end]`` (the last one ends with a newline).

    Returns
    -------
    Scan : the class of every line and the fields of the event lines.
    """
    B = Bytes(chunk, end)
    raw = B.raw
    # newlines, and the control and non-ASCII bytes (a tab, a CR, a NUL, UTF-8) that
    # leave their line to the general machinery
    # (one pass for both, and the ']' too)
    hits = np.flatnonzero((raw.view(np.int8) < 32) | (raw == 93))
    hb = raw[hits]
    nl = hb == 10
    ends = hits[nl]
    rb = hits[hb == 93]  # ']'
    special = hits[~nl & (hb != 93)]
    n = len(ends)
    starts = np.empty(n, dtype=np.int64)
    if n:
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    short, long_, head = timestamps(B.u64, starts)
    mixed = bool(short.any() and long_.any())
    ok = (short | long_) & ((head[0] & np.uint64(0xFF)) != np.uint64(0x46))  # F: fatal
    if len(special):
        ok[np.searchsorted(ends, special)] = False
    cls = np.zeros(n, dtype=np.int8)
    bare = ~(short | long_) & (ends > starts)  # lines without a glog prefix (not empty)
    if len(special):
        bare[np.searchsorted(ends, special)] = False
    cls[_dump_lines(B, starts, ends, bare)] = C_DUMP
    cls[_other_lines(B, starts, bare & (cls == C_RARE))] = C_OTHER
    idx = np.flatnonzero(ok)
    s, e = starts[idx], ends[idx]
    # ' +\S+ [^\]\n]*\] *': the thread token, a blank after it, the first ']' after that
    a = B.first_not_blank(s + np.where(long_[idx], 26, 22))
    good = (a > 0) & (a < e)
    a = np.where(good, a, s)
    fb = B.first(a, _THREAD, 32, e)
    k = np.searchsorted(rb, a)
    r = rb[np.minimum(k, len(rb) - 1)] if len(rb) else np.full(len(a), -1)
    good &= (k < len(rb)) & (fb > a) & (r > fb) & (r < e)
    m = B.first_not_blank(np.where(good, r + 1, s))
    good &= (m > 0) & (m < e)
    w0 = B.u64[np.where(good, m, 0)]
    good &= (w0 & np.uint64(0xFF)) != np.uint64(0x5B)  # '[': debug lines
    idx, s, e, m, w0 = idx[good], s[good], e[good], m[good], w0[good]

    six = w0 & np.uint64(_SIX)
    hk = np.searchsorted(_HANDLER_CODES, six)
    noop = ((e - m) < 6) | (_HANDLER_CODES[np.minimum(hk, len(_HANDLER_CODES) - 1)] != six)
    cls[idx[noop]] = C_NOOP
    snap = B.at(m, _SNAP1, w0) | B.at(m, _SNAP2, w0)
    cls[idx[snap]] = C_SNAP
    cls[idx[B.at(m, _NETP, w0)]] = C_NETP

    parts: list[tuple[np.ndarray, ...]] = []
    for part in (
        _iteration_lines(B, idx, e, m, w0),
        _output_lines(B, idx, e, m, w0),
        _test_loss_lines(B, idx, e, m, w0),
    ):
        if part is not None:
            cls[part[0]] = C_EVENT
            parts.append(part)

    # the event columns in line order (each part is; the parts interleave)
    is_ev = cls == C_EVENT
    ev = np.flatnonzero(is_ev)
    slot = np.cumsum(is_ev) - 1  # line -> its place among the events
    cols = [ev] + [np.empty(len(ev), dtype=np.int64) for _ in range(11)]
    for part in parts:
        at = slot[part[0]]
        for col, values in zip(cols[1:], part[1:], strict=False):
            col[at] = values
    return Scan(
        cls=cls,
        starts=starts,
        ends=ends,
        ev=ev,
        kind=cols[1],
        step=cols[2],
        net=cols[3],
        time=times([w[ev] for w in head], B.u64[starts[ev]], long_[ev]),
        val=(cols[4], cols[5]),
        rate=(cols[6], cols[7]),
        weight=(cols[8], cols[9]),
        name=(cols[10], cols[11]),
        words=B.u64,
        mixed_years=mixed,
    )


_WORD = np.zeros(256, dtype=bool)  # [A-Za-z0-9_.]: a byte of a parameter's name
_WORD[list(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.")] = True
_NAME0 = _WORD.copy()  # [A-Za-z_]: its first byte
_NAME0[list(b"0123456789.")] = False
_ERROR = literal(b"Error")[0]


def _dump_lines(B: Bytes, starts: np.ndarray, ends: np.ndarray, bare: np.ndarray) -> np.ndarray:
    """The lines (indices) that have exactly a common shape of a protobuf text dump (the
    solver and net parameters Caffe prints): blanks, then ``name: value`` (the value
    ending in a non-blank), ``name {``, ``name{`` or ``}``, nothing after it, ``name``
    at most :data:`_KEY` bytes; among the ``bare`` lines (no glog prefix, not empty, no
    control or non-ASCII byte), none starting with a level letter and a digit.

    Each is a line the general machinery counts as a parameter dump's in any dump state
    but a solver's (which reads its parameters): it matches ``PROTO_LINE_RE`` and not
    ``CRASH_LINE_RE`` (a name ending in ``Error`` is left rare), and is not empty."""
    buf = B.buf
    c0 = buf[starts]
    cand = bare & ((c0 == 32) | (c0 == 125) | _NAME0[c0])
    level = (c0 == 73) | (c0 == 87) | (c0 == 69) | (c0 == 70)  # IWEF
    cand &= ~(level & ((buf[starts + 1] - np.uint8(48)) < 10))
    at = np.flatnonzero(cand)
    s, e = starts[at], ends[at]
    p = B.first_not_blank(s)
    ok = (p >= 0) & (p < e)
    p = np.where(ok, p, s)
    c = buf[p]
    keep = ok & (c == 125) & (p + 1 == e)  # '}'
    named = np.flatnonzero(ok & _NAME0[c])
    if len(named):
        pn, en = p[named], e[named]
        q = _name_end(B.u64, pn + 1)  # the first byte after the name
        fits = q >= 0
        q = np.where(fits, q, pn + 1)
        cq = buf[q]
        colon = (cq == 58) & (en - 1 > q) & (buf[en - 1] != 32)
        colon &= ~(
            (q - pn >= 5) & ((B.u64[np.maximum(q - 5, 0)] & np.uint64(_ERROR[1])) == np.uint64(_ERROR[2]))
        )
        brace = ((cq == 123) & (q + 1 == en)) | ((cq == 32) & (buf[q + 1] == 123) & (q + 2 == en))
        keep[named] = fits & (colon | brace)
    return at[keep]


def _name_end(u64: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Offset of the first byte not in ``[A-Za-z0-9_.]`` at or after each position,
    within :data:`_KEY` bytes (-1 where there is none): eight bytes at a time, the
    positions whose name goes on read further."""
    out = np.full(len(pos), -1, dtype=np.int64)
    todo = np.arange(len(pos))
    p = pos
    for o in range(0, _KEY, 8):
        word = _WORD[u64[p + o].view(np.uint8).reshape(-1, 8)]
        more = word.all(axis=1)
        end = np.flatnonzero(~more)
        out[todo[end]] = p[end] + o + np.argmin(word[end], axis=1)
        todo, p = todo[more], p[more]
        if not len(todo):
            break
    return out


_LETTER = np.zeros(256, dtype=bool)
_LETTER[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")] = True


def _other_lines(B: Bytes, starts: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Among the ``cand`` lines (no glog prefix, not empty, no control or non-ASCII byte,
    not a dump's), those that start with a capitalised word of at most 8 letters, a blank
    and a digit (``OFM 0: GLen:3 ...``, as Intel Caffe's MKL layers print): a line no
    parser of the general machinery takes (not a dump's, a crash's, a trace's or the glog
    header's), which it counts as another program's (as a dump's inside one)."""
    at = np.flatnonzero(cand & ((B.buf[starts] - np.uint8(65)) < 26))  # [A-Z]
    if not len(at):
        return at
    s = starts[at]
    win = np.stack([B.u64[s], B.u64[s + 8]], axis=1).view(np.uint8)
    q = 1 + np.argmin(_LETTER[win[:, 1:]], axis=1)  # the first byte after the word
    rows = np.arange(len(at))
    nxt = win[rows, np.minimum(q + 1, 15)]
    ok = (q <= 8) & (win[rows, q] == 32) & ((nxt - np.uint8(48)) < 10)
    return at[ok]


def _iteration_lines(
    B: Bytes, idx: np.ndarray, e: np.ndarray, m: np.ndarray, w0: np.ndarray
) -> tuple[np.ndarray, ...] | None:
    """The ``Iteration N ...`` lines among the glog lines ``idx`` (ends ``e``, messages at
    ``m``, their first words ``w0``) that have exactly a common shape: the event columns
    of those lines (their line indices first), or None when there is none."""
    it = np.flatnonzero(B.at(m, _ITER, w0))
    if not len(it):
        return None
    li, ie, im = idx[it], e[it], m[it]
    nd, step = B.digits(im + 10, 18)
    p = im + 10 + nd
    fine = (nd >= 1) & (nd <= 18)
    wp = B.u64[p]  # what follows the number
    is_loss = fine & B.at(p, _LOSS, wp)
    is_lr = fine & B.at(p, _LR, wp)
    is_test = fine & B.at(p, _TESTING, wp)
    # ' (R iter/s, ...), loss = X'
    rate = fine & B.at(p, _RATE_OPEN, wp)
    q = p.copy()
    c = p.copy()
    ra = np.flatnonzero(rate)
    if len(ra):
        pr, er = p[ra], ie[ra]
        qr = B.first(pr + 2, _NUMBER, 32, er)
        ok = (qr > pr + 2) & (qr < er)
        qr = np.where(ok, qr, pr)
        r1 = B.at(qr, _RATE1)
        ok &= r1 | B.at(qr, _RATE2)
        cr = B.first(qr + np.where(r1, 9, 10), _NUMBER, 41, er)  # ')'
        ok &= (cr > 0) & (cr < er)
        cr = np.where(ok, cr, pr)
        ok &= B.at(cr + 1, _LOSS)
        rate[ra] = ok
        q[ra] = qr
        c[ra] = cr
    vs = np.where(is_loss, p + 9, np.where(is_lr, p + 7, c + 10))
    val = (is_loss | is_lr | rate) & (vs < ie)
    vs = np.where(val, vs, ie)
    val &= (B.buf[vs] != 32) & (B.buf[ie - 1] != 32)
    # ', Testing net (#k)' ending the line
    net = np.full(len(it), -1, dtype=np.int64)
    test = is_test
    ta = np.flatnonzero(is_test)
    if len(ta):
        nn, nt = B.digits(p[ta] + 16, 9)
        ok = (nn >= 1) & (nn <= 9) & (p[ta] + 17 + nn == ie[ta])
        ok &= B.buf[np.where(ok, ie[ta] - 1, 0)] == 41
        test[ta] = ok
        net[ta] = nt
    take = np.flatnonzero(val | test)
    kind = np.where(is_loss | rate, L.K_L, np.where(is_lr, L.K_LR, L.K_T))
    none = np.zeros(len(take), dtype=np.int64)
    return (
        li[take],
        kind[take],
        step[take],
        np.where(test, net, -1)[take],
        vs[take],
        ie[take],
        np.where(rate, p + 2, 0)[take],
        np.where(rate, q, 0)[take],
        none,
        none,
        none,
        none,
    )


def _output_lines(
    B: Bytes, idx: np.ndarray, e: np.ndarray, m: np.ndarray, w0: np.ndarray
) -> tuple[np.ndarray, ...] | None:
    """The ``Train net output`` / ``Test net output`` lines among the glog lines ``idx``
    that have exactly a common shape: their event columns, or None when there is none."""
    tr = B.at(m, _TRAIN, w0)
    out = np.flatnonzero(tr | B.at(m, _TEST, w0))
    if not len(out):
        return None
    li, oe, om, is_tr = idx[out], e[out], m[out], tr[out]
    p = om + np.where(is_tr, 18, 17)
    nd, index = B.digits(p, 9)
    fine = (nd >= 1) & (nd <= 9) & B.at(p + nd, _COLON)
    n0 = p + nd + 2
    eq = B.first(n0, _NAME, 61, oe)  # '='
    fine &= (eq > n0 + 1) & (eq < oe)
    eq = np.where(fine, eq, n0 + 1)
    fine &= B.at(eq - 1, _W_EQ)  # ' = '
    vs = eq + 2
    ve = B.first(vs, _NUMBER, 32, oe)
    fine &= (ve > vs) & (ve <= oe)
    ve = np.where(fine, ve, vs)
    bare = ve == oe
    # ' (* W = X loss)' ending the line
    w0_ = ve + 4
    w1 = B.first(w0_, _NUMBER, 32, oe)
    tail = ~bare & B.at(ve, _W_OPEN) & (w1 > w0_)
    w1 = np.where(tail, w1, w0_)
    tail &= B.at(w1, _W_EQ)
    x1 = B.first(w1 + 3, _NUMBER, 32, oe)
    tail &= (x1 > w1 + 3) & (x1 + 6 == oe)
    tail &= B.at(np.where(tail, x1, 0), _W_CLOSE)
    take = np.flatnonzero(fine & (bare | tail))
    none = np.zeros(len(take), dtype=np.int64)
    return (
        li[take],
        np.where(is_tr, L.K_TRO, L.K_TO)[take],
        none - 1,
        index[take],
        vs[take],
        ve[take],
        none,
        none,
        np.where(tail, w0_, 0)[take],
        np.where(tail, w1, 0)[take],
        n0[take],
        (eq - 1)[take],
    )


def _test_loss_lines(
    B: Bytes, idx: np.ndarray, e: np.ndarray, m: np.ndarray, w0: np.ndarray
) -> tuple[np.ndarray, ...] | None:
    """The ``Test loss: X`` lines (a test net's total loss, ``test_compute_loss``) among
    the glog lines ``idx`` whose value has no blank in it or after it: their event
    columns, an output with no name and index -1 (as :func:`.lines._test` reads it:
    ``(K_TO, -1, None, X, None)``), or None when there is none."""
    tl = np.flatnonzero(B.at(m, _TEST_LOSS, w0))
    if not len(tl):
        return None
    li, le, lm = idx[tl], e[tl], m[tl]
    vs = lm + 11
    # the first blank or newline after the value's start is the line's end
    take = np.flatnonzero((vs < le) & (B.first(vs, _NUMBER, 32, le) == le))
    none = np.zeros(len(take), dtype=np.int64)
    return (
        li[take],
        none + L.K_TO,
        none - 1,
        none - 1,
        vs[take],
        le[take],
        none,
        none,
        none,
        none,
        vs[take],
        vs[take],
    )
