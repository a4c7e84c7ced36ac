"""SWAR ("SIMD within a register") over a chunk's bytes with numpy: the chunk as an
unaligned little-endian uint64 view (the 8 bytes at any offset as one integer, gathered
for many offsets at once), so that a literal of up to 8 bytes is one comparison, and a
byte is searched for, digits checked and read, eight at a time; glog timestamps read
that way; and equal short texts found without making Python bytes of them. Used by the
bulk scanner of plain lines (:mod:`.plain`) and its reading (:mod:`.bulk`)."""

from __future__ import annotations

import numpy as np

#: Blanks searched after a glog timestamp and after the ``]`` (more make the line rare).
BLANKS = 16
#: Zero bytes after the chunk, so that every window stays inside.
PAD = 256


def literal(text: bytes) -> list[tuple[int, int, int]]:
    """(offset, mask, code) of the 8-byte words of a literal (little-endian)."""
    out = []
    for o in range(0, len(text), 8):
        part = text[o : o + 8]
        mask = (1 << (8 * len(part))) - 1
        out.append((o, mask, int.from_bytes(part, "little")))
    return out


# the short glog timestamp "Lmmdd hh:mm:ss.uuuuuu " as three words: digits, fixed bytes
_TS_DIGITS = ((1, 2, 3, 4, 6, 7), (1, 2, 4, 5, 7), (0, 1, 2, 3, 4))
_TS_FIXED = ({5: 0x20}, {0: 0x3A, 3: 0x3A, 6: 0x2E}, {5: 0x20})


def byte_mask(positions, value: int) -> int:
    """The integer with byte ``value`` at each of the byte ``positions``."""
    return sum(value << (8 * p) for p in positions)


_TS_CHECKS = []
for _dig, _fix in zip(_TS_DIGITS, _TS_FIXED, strict=False):
    _TS_CHECKS.append(
        (
            np.uint64(byte_mask(_dig, 0xF0) | byte_mask(_fix, 0xFF)),  # hi nibbles + fixed
            np.uint64(byte_mask(_dig, 0x30) | sum(v << (8 * p) for p, v in _fix.items())),
            np.uint64(byte_mask(_dig, 0x0F)),  # lo nibbles
            np.uint64(byte_mask(_dig, 0x06)),  # + 6: carry if > 9
            np.uint64(byte_mask(_dig, 0x10)),
        )
    )


ONES = np.uint64(0x0101010101010101)
HIGHS = np.uint64(0x8080808080808080)
ONE = np.uint64(1)


def rep(byte: int) -> np.uint64:
    """The word with ``byte`` in all eight bytes."""
    return np.uint64(byte * 0x0101010101010101)


LOWS = np.uint64(0x7F7F7F7F7F7F7F7F)


def lowest_byte(flags: np.ndarray) -> np.ndarray:
    """Index (0-7) of the lowest flagged byte of nonzero words whose flags are bit 7 of
    their bytes (as :func:`zero_bytes` and :func:`nonzero_bytes` set them): the bytes
    below the lowest set bit, counted with one multiplication."""
    low = flags & (~flags + ONE)
    return ((((low - ONE) & ONES) * ONES) >> np.uint64(56)).astype(np.int64) - 1


def nonzero_bytes(x: np.ndarray) -> np.ndarray:
    """A word with bit 7 of byte k set exactly where byte k of ``x`` is not zero."""
    return (((x & LOWS) + LOWS) | x) & HIGHS


def zero_bytes(x: np.ndarray) -> np.ndarray:
    """A word with bit 7 of byte k set where byte k of ``x`` is zero: exact for the
    lowest such byte, which is all :func:`lowest_byte` reads."""
    return (x - ONES) & ~x & HIGHS


class Bytes:
    """The zero-padded chunk and its uint64 view."""

    def __init__(self, chunk: bytes | bytearray, end: int) -> None:
        self.raw = np.frombuffer(chunk, dtype=np.uint8, count=end)
        buf = np.zeros(end + PAD, dtype=np.uint8)
        buf[:end] = self.raw
        self.buf = buf
        self.u64 = np.ndarray((end + PAD - 8,), dtype="<u8", buffer=buf, strides=(1,))

    def at(
        self, pos: np.ndarray, lit: list[tuple[int, int, int]], first: np.ndarray | None = None
    ) -> np.ndarray:
        """True where the literal (:func:`literal`) is at each position (``first``: the
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
        out = self._scan(pos, width, rep(a), zero_bytes)
        # the newline, where it comes first (or where the byte is not in the window)
        return np.where((out >= 0) & (out < end), out, np.where(end < pos + width, end, -1))

    def first_not_blank(self, pos: np.ndarray) -> np.ndarray:
        """Each position moved past the blanks there; -1 past ``BLANKS`` of them."""
        return self._scan(pos, BLANKS, rep(32), nonzero_bytes)

    def _scan(self, pos: np.ndarray, width: int, pattern: np.uint64, flag) -> np.ndarray:
        """Offset of the first byte at or after each position that ``flag`` marks in the
        words XOR ``pattern`` (``zero_bytes``: equal to the pattern's byte;
        ``nonzero_bytes``: different from it), reading ``width`` bytes (a multiple of 8)
        eight at a time; -1 where no byte in the window is marked."""
        # the first word of every position at once (most are found there), then the
        # few others word by word
        z = flag(self.u64[pos] ^ pattern)
        hit = z != 0
        out = np.where(hit, pos + lowest_byte(z), -1)
        todo = np.flatnonzero(~hit)
        p = pos[todo]
        for o in range(8, width, 8):
            if not len(todo):
                break
            z = flag(self.u64[p + o] ^ pattern)
            hit = z != 0
            got = np.flatnonzero(hit)
            out[todo[got]] = p[got] + o + lowest_byte(z[got])
            miss = ~hit
            todo, p = todo[miss], p[miss]
        return out

    def digits(self, pos: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`digits` at each position of the chunk."""
        return digits(self.u64, pos, most)


def digits(u64: np.ndarray, pos: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, value) of the decimal digits at each position of the uint64 view ``u64``
    (``most`` <= 18); count is ``most + 1`` where there are more than ``most`` (the value
    is then not read). Eight digits are checked, and read, at a time."""
    n = len(pos)
    count = np.full(n, -1, dtype=np.int64)
    words = []
    for o in range(0, most + 1, 8):
        x = u64[pos + o]
        words.append(x)
        t = nonzero_bytes(not_digits(x))
        got = (count < 0) & (t != 0)
        count[got] = o + lowest_byte(t[got])
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
        part = eight_digits(x << (np.uint64(8) * (np.uint64(8) - here)))
        value = np.where(use, value * ten**here + part, value)
    return count, value.astype(np.int64)


#: 10**k as floats, exactly (k <= 22: the powers of ten a double holds exactly).
_POW10 = np.array([float(10**k) for k in range(23)])
_DOT = rep(0x2E)
_E = rep(0x65)


_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def _low_bytes(k: np.ndarray) -> np.ndarray:
    """The word with 0xFF in its ``k`` lowest bytes (0 <= k <= 8)."""
    return _LOW_BYTES[k]


def _mantissas(
    u64: np.ndarray, at: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read ``D*(.D*)?`` of ``n`` <= 8 bytes at each position: (M, digits, digits after
    the dot, dot, ok), M the integer all its digits write (< 10**8: exact); ok where the
    text is of that form with at least one digit."""
    low = _low_bytes(n)
    w = u64[at] & low
    dots = zero_bytes(w ^ _DOT) & (low & HIGHS)
    has = dots != 0
    dpos = np.where(has, lowest_byte(dots), n)
    below = _low_bytes(dpos)
    w = np.where(has, (w & below) | ((w >> np.uint64(8)) & ~below), w)  # the dot taken out
    nd = n - has
    ok = (nd >= 1) & ((nonzero_bytes(not_digits(w)) & _low_bytes(nd)) == 0)
    m = eight_digits(w << (np.uint64(8) * (np.uint64(8) - nd.astype(np.uint64))))
    return m.astype(np.int64), nd, np.where(has, nd - dpos, 0), has, ok


def decimals(u64: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numbers written ``[lo, hi)`` in the chunk whose uint64 view is ``u64``, for
    the texts of the plain decimal form ``-?D*(.D*)?(e[-+]?D{1,3})?`` with a digit and
    at most 15 in all, whose part before the exponent (sign aside) has at most 16 bytes
    (8 when there is an exponent), and whose power of ten in all is within 1e22 (Caffe's
    usual forms: ``0.693147``, ``-12.5``, ``0.0399435``, ``7.43e-05``): the digits read
    as an integer M (exact), the value ``M * 10**p`` or ``M / 10**-p`` in one
    floating-point operation on exact operands, which IEEE rounds correctly: the very
    float ``float(text)`` gives.

    Returns
    -------
    (values, done) : float64 array, and the mask of the texts read (the others: 0.0,
        for the caller to read with ``float``).
    """
    neg = (u64[lo] & np.uint64(0xFF)) == np.uint64(0x2D)  # '-'
    at = lo + neg
    n = hi - at
    m, _nd, frac, _has, done = _mantissas(u64, at, np.clip(n, 0, 8))
    done &= n <= 8
    p10 = -frac
    # 9 to 16 bytes: the second 8 read the same way, the two put together
    two = np.flatnonzero((n > 8) & (n <= 16))
    if len(two):
        a2 = at[two]
        ma, na, fa, ha, oka = _mantissas(u64, a2, np.full(len(two), 8))
        mb, nb, fb, hb, okb = _mantissas(u64, a2 + 8, n[two] - 8)
        ok = oka & okb & ~(ha & hb) & (na + nb <= 15)
        got = two[ok]
        m[got] = (ma * _POW10[nb].astype(np.int64) + mb)[ok]
        p10[got] = -np.where(ha, fa + nb, fb)[ok]
        done[got] = True
    # an exponent: the part before the 'e' read again, then e[-+]?D{1,3} to the end
    ex = np.flatnonzero(~done & (n >= 3) & (n <= 14))
    if len(ex):
        ae, ne = at[ex], n[ex]
        hits = zero_bytes(u64[ae] ^ _E) & (_low_bytes(np.minimum(ne, 8)) & HIGHS)
        hw = zero_bytes(u64[ae + 8] ^ _E) & HIGHS
        epos = np.where(hits != 0, lowest_byte(hits), np.where(hw != 0, 8 + lowest_byte(hw), 99))
        ok = epos <= 8
        epos = np.where(ok, epos, 0)
        me, _nd, fe, _has, okm = _mantissas(u64, ae, epos)
        sign = (u64[ae + epos + 1] & np.uint64(0xFF)).astype(np.int64)
        eneg = sign == 0x2D
        es = eneg | (sign == 0x2B)
        nx, xv = digits(u64, ae + epos + 1 + es, 3)
        ok &= okm & (nx >= 1) & (nx <= 3) & (epos + 1 + es + nx == ne)
        pe = np.where(eneg, -xv, xv) - fe
        ok &= np.abs(pe) <= 22
        got = ex[ok]
        m[got], p10[got], done[got] = me[ok], pe[ok], True
    scale = _POW10[np.where(done, np.abs(p10), 0)]
    mf = m.astype(np.float64)
    val = np.where(p10 >= 0, mf * scale, mf / scale)
    return np.where(done, np.where(neg, -val, val), 0.0), done


def not_digits(x: np.ndarray) -> np.ndarray:
    """A word with a nonzero byte k where byte k of ``x`` is not an ASCII digit."""
    hi = (x & np.uint64(0xF0F0F0F0F0F0F0F0)) ^ np.uint64(0x3030303030303030)
    lo = ((x & np.uint64(0x0F0F0F0F0F0F0F0F)) + np.uint64(0x0606060606060606)) & np.uint64(0x1010101010101010)
    return hi | lo


def eight_digits(x: np.ndarray) -> np.ndarray:
    """The number the eight digits of each word write (the first in the lowest byte;
    leading zero bytes read as zeros)."""
    x = x & np.uint64(0x0F0F0F0F0F0F0F0F)
    x = (x * np.uint64(2561)) >> np.uint64(8)
    x = ((x & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(6553601)) >> np.uint64(16)
    return ((x & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(42949672960001)) >> np.uint64(32)


def timestamps(u: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
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
        ok = (not_digits(w0[cand] >> np.uint64(8)) & np.uint64(0xFFFFFF)) == np.uint64(0)
        ok &= (not_digits(lw[0]) & np.uint64(0xFF)) == np.uint64(0)
        for w, (hi, code, lo, six, carry) in zip(lw, _TS_CHECKS, strict=False):
            ok &= (w & hi) == code
            ok &= ((w & lo) + six) & carry == np.uint64(0)
        long_[cand] = ok
        for w, x in zip(words, lw, strict=False):
            w[cand[ok]] = x[ok]
    return short, long_, words


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


def times(
    words: list[np.ndarray], first: np.ndarray, long_: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`.lines.ts_fields` of checked timestamps (:func:`timestamps`), from
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
