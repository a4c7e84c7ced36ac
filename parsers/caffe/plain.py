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
  its first six bytes in ``HANDLERS``), or just counts it (a snapshot line).

The lookups run on an unaligned little-endian uint64 view of the (zero-padded) chunk:
the 8 bytes at any offset as one integer, gathered for many offsets at once, so that a
literal of up to 8 bytes is one comparison, and a byte is searched for, digits checked
and read, eight at a time (SWAR: the bit tricks of "SIMD within a register").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradlog.parsers.caffe import lines as L

#: Line classes (per line of the chunk).
C_RARE = 0  # the general machinery reads it
C_NOOP = 1  # a glog message the reader ignores
C_SNAP = 2  # "Snapshotting to ..." / "Snapshotting solver state to ..." (counted)
C_EVENT = 3  # one of the event shapes

#: Widths of the windows the scanner searches (a longer field makes its line rare).
_BLANKS = 16  # blanks after the timestamp, and after the ']'
_THREAD = 24  # the thread token
_NUMBER = 32  # a number (value, rate, weight)
_NAME = 64  # an output name
_PAD = 256  # zero bytes after the chunk, so that every window stays inside


def _words(text: bytes) -> list[tuple[int, int, int]]:
    """(offset, mask, code) of the 8-byte words of a literal (little-endian)."""
    out = []
    for o in range(0, len(text), 8):
        part = text[o : o + 8]
        mask = (1 << (8 * len(part))) - 1
        out.append((o, mask, int.from_bytes(part, "little")))
    return out


_ITER = _words(b"Iteration ")
_TRAIN = _words(b"Train net output #")
_TEST = _words(b"Test net output #")
_TEST_LOSS = _words(b"Test loss: ")
_SNAP1 = _words(b"Snapshotting to ")
_SNAP2 = _words(b"Snapshotting solver state to ")
_LOSS = _words(b", loss = ")
_LR = _words(b", lr = ")
_TESTING = _words(b", Testing net (#")
_RATE_OPEN = _words(b" (")
_RATE1 = _words(b" iter/s, ")
_RATE2 = _words(b" iters/s, ")
_COLON = _words(b": ")
_W_OPEN = _words(b" (* ")
_W_EQ = _words(b" = ")
_W_CLOSE = _words(b" loss)")
_SIX = (1 << 48) - 1
_HANDLER_CODES = np.array(sorted(int.from_bytes(k, "little") for k in L.HANDLERS), dtype=np.uint64)

# the short glog timestamp "Lmmdd hh:mm:ss.uuuuuu " as three words: digits, fixed bytes
_TS_DIGITS = ((1, 2, 3, 4, 6, 7), (1, 2, 4, 5, 7), (0, 1, 2, 3, 4))
_TS_FIXED = ({5: 0x20}, {0: 0x3A, 3: 0x3A, 6: 0x2E}, {5: 0x20})


def _byte_mask(positions, value: int) -> int:
    """The integer with byte ``value`` at each of the byte ``positions``."""
    return sum(value << (8 * p) for p in positions)


_TS_CHECKS = []
for _dig, _fix in zip(_TS_DIGITS, _TS_FIXED, strict=False):
    _TS_CHECKS.append(
        (
            np.uint64(_byte_mask(_dig, 0xF0) | _byte_mask(_fix, 0xFF)),  # hi nibbles + fixed
            np.uint64(_byte_mask(_dig, 0x30) | sum(v << (8 * p) for p, v in _fix.items())),
            np.uint64(_byte_mask(_dig, 0x0F)),  # lo nibbles
            np.uint64(_byte_mask(_dig, 0x06)),  # + 6: carry if > 9
            np.uint64(_byte_mask(_dig, 0x10)),
        )
    )


@dataclass
class Scan:
    """What :func:`scan` found in a chunk.

    Attributes
    ----------
    cls : per line, C_RARE / C_NOOP / C_SNAP / C_EVENT.
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


_ONES = np.uint64(0x0101010101010101)
_HIGHS = np.uint64(0x8080808080808080)
_ONE = np.uint64(1)


def _rep(byte: int) -> np.uint64:
    """The word with ``byte`` in all eight bytes."""
    return np.uint64(byte * 0x0101010101010101)


_LOWS = np.uint64(0x7F7F7F7F7F7F7F7F)


def _lowest_byte(flags: np.ndarray) -> np.ndarray:
    """Index (0-7) of the lowest flagged byte of nonzero words whose flags are bit 7 of
    their bytes (as :func:`_zero_bytes` and :func:`_nonzero_bytes` set them): the bytes
    below the lowest set bit, counted with one multiplication."""
    low = flags & (~flags + _ONE)
    return ((((low - _ONE) & _ONES) * _ONES) >> np.uint64(56)).astype(np.int64) - 1


def _nonzero_bytes(x: np.ndarray) -> np.ndarray:
    """A word with bit 7 of byte k set exactly where byte k of ``x`` is not zero."""
    return (((x & _LOWS) + _LOWS) | x) & _HIGHS


def _zero_bytes(x: np.ndarray) -> np.ndarray:
    """A word with bit 7 of byte k set where byte k of ``x`` is zero: exact for the
    lowest such byte, which is all :func:`_lowest_byte` reads."""
    return (x - _ONES) & ~x & _HIGHS


class _Bytes:
    """The zero-padded chunk and its uint64 view."""

    def __init__(self, chunk: bytes | bytearray, end: int) -> None:
        self.raw = np.frombuffer(chunk, dtype=np.uint8, count=end)
        buf = np.zeros(end + _PAD, dtype=np.uint8)
        buf[:end] = self.raw
        self.buf = buf
        self.u64 = np.ndarray((end + _PAD - 8,), dtype="<u8", buffer=buf, strides=(1,))

    def at(
        self, pos: np.ndarray, lit: list[tuple[int, int, int]], first: np.ndarray | None = None
    ) -> np.ndarray:
        """True where the literal (:func:`_words`) is at each position (``first``: the
        words at the positions, when already read)."""
        u = self.u64
        w = u[pos + lit[0][0]] if first is None else first
        ok = (w & np.uint64(lit[0][1])) == np.uint64(lit[0][2])
        if len(lit) > 1:
            cand = np.flatnonzero(ok)
            p = pos[cand]
            sub = np.ones(len(cand), dtype=bool)
            for o, mask, code in lit[1:]:
                sub &= (u[p + o] & np.uint64(mask)) == np.uint64(code)
            ok[cand] = sub
        return ok

    def first(self, pos: np.ndarray, width: int, a: int, end: np.ndarray) -> np.ndarray:
        """Offset of the first byte ``a`` or newline at or after each position (``end``:
        the offset of the line's newline), within ``width`` bytes (a multiple of 8); -1
        where there is none."""
        out = self._scan(pos, width, _rep(a), _zero_bytes)
        # the newline, where it comes first (or where the byte is not in the window)
        return np.where((out >= 0) & (out < end), out, np.where(end < pos + width, end, -1))

    def first_not_blank(self, pos: np.ndarray) -> np.ndarray:
        """Each position moved past the blanks there; -1 past ``_BLANKS`` of them."""
        return self._scan(pos, _BLANKS, _rep(32), _nonzero_bytes)

    def _scan(self, pos: np.ndarray, width: int, pattern: np.uint64, flag) -> np.ndarray:
        """Offset of the first byte at or after each position that ``flag`` marks in the
        words XOR ``pattern`` (``_zero_bytes``: equal to the pattern's byte;
        ``_nonzero_bytes``: different from it), reading ``width`` bytes (a multiple of 8)
        eight at a time; -1 where no byte in the window is marked."""
        out = np.full(len(pos), -1, dtype=np.int64)
        todo = np.arange(len(pos))
        p = pos
        for o in range(0, width, 8):
            z = flag(self.u64[p + o] ^ pattern)
            hit = z != 0
            got = np.flatnonzero(hit)
            out[todo[got]] = p[got] + o + _lowest_byte(z[got])
            miss = ~hit
            todo, p = todo[miss], p[miss]
            if not len(todo):
                break
        return out

    def digits(self, pos: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
        """(count, value) of the decimal digits at each position (``most`` <= 18);
        count is ``most + 1`` where there are more than ``most`` (the value is then not
        read). Eight digits are checked, and read, at a time."""
        n = len(pos)
        count = np.full(n, -1, dtype=np.int64)
        words = []
        for o in range(0, most + 1, 8):
            x = self.u64[pos + o]
            words.append(x)
            t = _nonzero_bytes(_not_digits(x))
            got = (count < 0) & (t != 0)
            count[got] = o + _lowest_byte(t[got])
            if not (count < 0).any():
                break
        count = np.where((count < 0) | (count > most), most + 1, count)
        value = np.zeros(n, dtype=np.uint64)
        ten = np.uint64(10)
        for k, x in enumerate(words):
            left = count - 8 * k  # digits from this word on
            use = (left > 0) & (count <= most)
            if not use.any():
                break
            here = np.clip(left, 1, 8).astype(np.uint64)
            part = _eight_digits(x << (np.uint64(8) * (np.uint64(8) - here)))
            value = np.where(use, value * ten**here + part, value)
        return count, value.astype(np.int64)


def _not_digits(x: np.ndarray) -> np.ndarray:
    """A word with a nonzero byte k where byte k of ``x`` is not an ASCII digit."""
    hi = (x & np.uint64(0xF0F0F0F0F0F0F0F0)) ^ np.uint64(0x3030303030303030)
    lo = ((x & np.uint64(0x0F0F0F0F0F0F0F0F)) + np.uint64(0x0606060606060606)) & np.uint64(0x1010101010101010)
    return hi | lo


def _eight_digits(x: np.ndarray) -> np.ndarray:
    """The number the eight digits of each word write (the first in the lowest byte;
    leading zero bytes read as zeros)."""
    x = x & np.uint64(0x0F0F0F0F0F0F0F0F)
    x = (x * np.uint64(2561)) >> np.uint64(8)
    x = ((x & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(6553601)) >> np.uint64(16)
    return ((x & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(42949672960001)) >> np.uint64(32)


def _timestamps(u: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Which lines start with a glog timestamp, ``Lmmdd hh:mm:ss.uuuuuu `` (short) or
    ``Lyyyymmdd hh:mm:ss.uuuuuu `` (long), ``L`` in IWEF; digits and separators are
    checked eight bytes at a time.

    Returns
    -------
    (short, long, words) : the two bool masks, and the three words that hold the
        ``mmdd hh:mm:ss.uuuuuu`` part of each line (for a long one, from its 5th byte).
    """
    w0 = u[s]
    lvl = w0 & np.uint64(0xFF)
    glog = (
        (lvl == np.uint64(0x49))
        | (lvl == np.uint64(0x57))
        | (lvl == np.uint64(0x45))
        | (lvl == np.uint64(0x46))
    )
    words = [w0, u[s + 8], u[s + 16]]
    short = glog.copy()
    for w, (hi, code, lo, six, carry) in zip(words, _TS_CHECKS, strict=False):
        short &= (((w & hi) ^ code) | (((w & lo) + six) & carry)) == np.uint64(0)
    # long: byte 5 a digit; the short layout from byte 4 on (its byte 0 a digit)
    byte5 = (w0 >> np.uint64(40)) & np.uint64(0xF0)
    cand = np.flatnonzero(glog & ~short & (byte5 == np.uint64(0x30)))
    long_ = np.zeros(len(s), dtype=bool)
    if len(cand):
        sc = s[cand]
        lw = [u[sc + 4], u[sc + 12], u[sc + 20]]
        ok = (_not_digits(w0[cand] >> np.uint64(8)) & np.uint64(0xFFFFFF)) == np.uint64(0)
        ok &= (_not_digits(lw[0]) & np.uint64(0xFF)) == np.uint64(0)
        for w, (hi, code, lo, six, carry) in zip(lw, _TS_CHECKS, strict=False):
            ok &= (w & hi) == code
            ok &= ((w & lo) + six) & carry == np.uint64(0)
        long_[cand] = ok
        for w, x in zip(words, lw, strict=False):
            w[cand[ok]] = x[ok]
    return short, long_, words


def scan(chunk: bytes | bytearray, end: int) -> Scan:
    """Classify the whole lines of ``chunk[:end]`` (the last one ends with a newline).

    Returns
    -------
    Scan : the class of every line and the fields of the event lines.
    """
    B = _Bytes(chunk, end)
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
    short, long_, head = _timestamps(B.u64, starts)
    mixed = bool(short.any() and long_.any())
    ok = (short | long_) & ((head[0] & np.uint64(0xFF)) != np.uint64(0x46))  # F: fatal
    if len(special):
        ok[np.searchsorted(ends, special)] = False
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

    cls = np.zeros(n, dtype=np.int8)
    six = w0 & np.uint64(_SIX)
    hk = np.searchsorted(_HANDLER_CODES, six)
    noop = ((e - m) < 6) | (_HANDLER_CODES[np.minimum(hk, len(_HANDLER_CODES) - 1)] != six)
    cls[idx[noop]] = C_NOOP
    snap = B.at(m, _SNAP1, w0) | B.at(m, _SNAP2, w0)
    cls[idx[snap]] = C_SNAP

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
        time=_times([w[ev] for w in head], B.u64[starts[ev]], long_[ev]),
        val=(cols[4], cols[5]),
        rate=(cols[6], cols[7]),
        weight=(cols[8], cols[9]),
        name=(cols[10], cols[11]),
        words=B.u64,
        mixed_years=mixed,
    )


def _iteration_lines(
    B: _Bytes, idx: np.ndarray, e: np.ndarray, m: np.ndarray, w0: np.ndarray
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
    B: _Bytes, idx: np.ndarray, e: np.ndarray, m: np.ndarray, w0: np.ndarray
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
    B: _Bytes, idx: np.ndarray, e: np.ndarray, m: np.ndarray, w0: np.ndarray
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


def same_as_previous(words: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """True where the text ``[lo, hi)`` is the same as the one before it in the list
    (compared as two 8-byte words: texts longer than 16 bytes never compare equal).

    Returns
    -------
    bool array, one per span (the first is False).
    """
    n = len(lo)
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    ln = hi - lo
    short = ln <= 16
    sh0 = np.uint64(8) * np.minimum(ln, 8).astype(np.uint64)
    sh1 = np.uint64(8) * np.clip(ln - 8, 0, 8).astype(np.uint64)
    full = np.uint64(0xFFFFFFFFFFFFFFFF)
    # masks of the low 8*len bits (a shift by 64 is not defined: whole words separately)
    m0 = np.where(sh0 >= 64, full, (np.uint64(1) << np.minimum(sh0, 63)) - np.uint64(1))
    m1 = np.where(sh1 >= 64, full, (np.uint64(1) << np.minimum(sh1, 63)) - np.uint64(1))
    a = words[lo] & m0
    b = words[lo + 8] & m1
    out[1:] = short[1:] & short[:-1] & (ln[1:] == ln[:-1]) & (a[1:] == a[:-1]) & (b[1:] == b[:-1])
    return out


def _times(
    words: list[np.ndarray], first: np.ndarray, long_: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`.lines.ts_fields` of checked timestamps (:func:`_timestamps`), from
    the three words that hold ``mmdd hh:mm:ss.uuuuuu`` (byte 0 of the first is not read)
    and the first word of the line (the year of a long one).

    Returns
    -------
    (year, month, day, seconds) : as :func:`.lines.ts_fields` (year -1 where the
        timestamp has none).
    """
    low = np.uint64(0x0F0F0F0F0F0F0F0F)
    # byte k of a pair word: 10 x digit k + digit k + 1 of the timestamp word
    pairs = [((w & low) * np.uint64(2561)) >> np.uint64(8) for w in words]

    def byte(x: np.ndarray, k: int) -> np.ndarray:
        return ((x >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.int64)

    month = byte(pairs[0], 1)
    day = byte(pairs[0], 3)
    secs = byte(pairs[0], 6) * 3600 + byte(pairs[1], 1) * 60 + byte(pairs[1], 4)
    micro = (
        (byte(words[1], 7) & 15) * 100000
        + byte(pairs[2], 0) * 1000
        + byte(pairs[2], 2) * 10
        + (byte(words[2], 4) & 15)
    )
    bad = (month < 1) | (month > 12) | (day < 1) | (day > 31)
    month = np.where(bad, 0, month)
    year = np.full(len(month), -1, dtype=np.int64)
    if long_.any():
        yp = ((first[long_] & low) * np.uint64(2561)) >> np.uint64(8)
        year[long_] = byte(yp, 1) * 100 + byte(yp, 3)
    return year, month, day, secs + micro * 1e-6


def same_texts(
    words: np.ndarray, lo: np.ndarray, hi: np.ndarray, key: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Group equal texts ``[lo, hi)`` of at most 24 bytes, given a small non-negative
    int ``key`` (< 2**16) that equal texts usually share (an output's net and index):
    texts are grouped by key, and every text is checked, word by word, to be its
    group's first.

    Returns
    -------
    (first, inverse) : the index of the first text of each group, and each text's group;
        or None when a text is longer than 24 bytes or differs from its group's first
        (the caller then reads every text).
    """
    ln = (hi - lo).astype(np.int64)
    if len(ln) == 0 or int(ln.max()) > 24 or int(key.max()) >= 1 << 16 or int(key.min()) < 0:
        return None
    key16 = key.astype(np.uint16)
    order = np.argsort(key16, kind="stable")  # (a radix sort)
    ks = key16[order]
    heads = np.flatnonzero(np.concatenate([[True], ks[1:] != ks[:-1]]))
    first = order[heads]
    group = np.empty(len(ln), dtype=np.int64)
    group[order] = np.repeat(np.arange(len(heads)), np.diff(np.append(heads, len(ln))))
    rep = first[group]
    if not (ln == ln[rep]).all():
        return None
    for k in range(3):
        bits = np.clip(ln - 8 * k, 0, 8).astype(np.uint64) * np.uint64(8)
        mask = np.where(
            bits >= 64,
            np.uint64(0xFFFFFFFFFFFFFFFF),
            (np.uint64(1) << np.minimum(bits, np.uint64(63))) - np.uint64(1),
        )
        w = words[lo + 8 * k] & mask
        if not (w == w[rep]).all():
            return None
    return first, group
