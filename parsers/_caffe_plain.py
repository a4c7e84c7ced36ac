"""Bulk scanner for the common lines of a plain Caffe solver log.

A plain solver log (no ``debug_info``) is made almost only of a few line shapes:
``Iteration N (R iter/s, ...), loss = X``, ``Train net output #k: name = v (* w = x loss)``,
``Iteration N, lr = X``, ``Iteration N, Testing net (#k)``, ``Test net output #k: ...``,
and glog messages the reader ignores. :func:`scan` finds, with numpy over the whole
chunk (no Python loop over lines), the lines that have *exactly* one of these shapes
and the byte spans of their fields. Every other line (and every line whose shape is in
the least doubt: a control or non-ASCII byte, trailing blanks, a value with a comma,
a very long field) is marked *rare*; the reader sends rare lines to its general
line-by-line machinery, which is the reference. So a common line here is one the
general machinery reads to the same event, by construction:

- the glog prefix follows ``EVENT_RE`` in :mod:`._caffe_lines`: ``[IWEF]`` + 4 or 8
  digits, a blank, ``hh:mm:ss.uuuuuu``, blanks, a thread token, a blank, the first
  ``]`` after it, blanks; the message is the rest;
- the message does not start with ``[`` (debug lines, and keys the chunk scanner would
  take as debug keys) and is not empty; the level is not ``F`` (a fatal line);
- a message of another shape is common only when the general machinery ignores it
  (its first six bytes have no parser in ``HANDLERS``) or counts it (a snapshot line).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradlog.parsers import _caffe_lines as L

#: Line classes (per line of the chunk).
C_RARE = 0       # the general machinery reads it
C_NOOP = 1       # a glog message the reader ignores
C_SNAP = 2       # "Snapshotting to ..." / "Snapshotting solver state to ..." (counted)
C_EVENT = 3      # one of the event shapes below

#: Longest field spans the scanner looks at (a longer one makes its line rare).
_NUM_W = 40      # a number (value, rate, weight)
_NAME_W = 96     # an output name
_SKIP = 24       # blanks skipped after the timestamp and after the ']'
_FILE_W = 64     # the ' file:line' part before the ']'
_PAD = 256       # zero bytes after the chunk, so every window gather stays inside


def _code(text: bytes) -> np.ndarray:
    return np.frombuffer(text, dtype=np.uint8)


_ITER = _code(b"Iteration ")
_TRAIN = _code(b"Train net output #")
_TEST = _code(b"Test net output #")
_SNAP1 = _code(b"Snapshotting to ")
_SNAP2 = _code(b"Snapshotting solver state to ")
_LOSS = _code(b", loss = ")
_LR = _code(b", lr = ")
_TESTING = _code(b", Testing net (#")
_RATE1 = _code(b" iter/s, ")
_RATE2 = _code(b" iters/s, ")
_WOPEN = _code(b" (* ")
_WEQ = _code(b" = ")
_WCLOSE = _code(b" loss)")
_HANDLER_CODES = np.array(sorted(int.from_bytes(k, "little") for k in L.HANDLERS), dtype=np.int64)
_POW6 = (256 ** np.arange(6, dtype=np.int64))
_TS_DIGITS = np.array([6, 7, 9, 10, 12, 13, 15, 16, 17, 18, 19, 20])


@dataclass
class Scan:
    """What :func:`scan` found in a chunk.

    Attributes
    ----------
    cls : per line, C_RARE / C_NOOP / C_SNAP / C_EVENT.
    starts, ends : per line, the offset of its first byte and of its newline.
    ev : line indices of the event lines (C_EVENT), in order.
    kind : per event, K_L, K_LR, K_T, K_TRO or K_TO (from :mod:`._caffe_lines`).
    step : per event, the iteration (K_L, K_LR, K_T), else -1.
    net : per event, the test net (K_T), else -1; the output index (K_TRO, K_TO).
    ts : per event, the glog timestamp as a (n, 25) uint8 array (zero padded), as
        :func:`._caffe_lines.ts_fields_u8` reads it.
    val : per event, the (start, end) span of its value (K_T: empty).
    rate : per event, the span of the rate of a K_L line (empty when none).
    weight : per event, the span of the loss weight of an output (empty when none).
    name : per event, the span of an output's name (empty otherwise).
    """

    cls: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    ev: np.ndarray
    kind: np.ndarray
    step: np.ndarray
    net: np.ndarray
    ts: np.ndarray
    val: tuple[np.ndarray, np.ndarray]
    rate: tuple[np.ndarray, np.ndarray]
    weight: tuple[np.ndarray, np.ndarray]
    name: tuple[np.ndarray, np.ndarray]


def _window(buf: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` bytes of ``buf`` from each position (a (len(pos), width) array)."""
    return buf[pos[:, None] + np.arange(width)]


def _starts_with(win: np.ndarray, lit: np.ndarray, at: int = 0) -> np.ndarray:
    return (win[:, at:at + len(lit)] == lit).all(axis=1)


def _at(buf: np.ndarray, pos: np.ndarray, lit: np.ndarray) -> np.ndarray:
    """True where ``buf`` holds ``lit`` at each position."""
    return (_window(buf, pos, len(lit)) == lit).all(axis=1)


def _first(buf: np.ndarray, pos: np.ndarray, width: int, stop: np.ndarray) -> np.ndarray:
    """Offset of the first byte in ``stop`` (a bool table) at or after each position,
    within ``width`` bytes; -1 where there is none."""
    hit = stop[_window(buf, pos, width)]
    found = hit.any(axis=1)
    return np.where(found, pos + hit.argmax(axis=1), -1)


def _lut(chars: bytes) -> np.ndarray:
    t = np.zeros(256, dtype=bool)
    t[list(chars)] = True
    return t


_NOT_BLANK = ~_lut(b" ")
_DIGIT = _lut(b"0123456789")
_BLANK_NL = _lut(b" \n")
_EQ_NL = _lut(b"=\n")
_CLOSE_NL = _lut(b")\n")
_BAD_IN_VALUE = _lut(b" ,\n")


def _digits(buf: np.ndarray, pos: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, value) of the decimal digits at each position; count is 0 where there
    are none and ``most + 1`` where there are more than ``most`` (value then unusable)."""
    win = _window(buf, pos, most + 1)
    isd = _DIGIT[win]
    count = np.where(isd.all(axis=1), most + 1, (~isd).argmax(axis=1))
    value = np.zeros(len(pos), dtype=np.int64)
    d = win.astype(np.int64) - 48
    for j in range(most):
        more = j < count
        if not more.any():
            break
        value = np.where(more, value * 10 + d[:, j], value)
    return count, value


def scan(chunk: bytes | bytearray, end: int) -> Scan:
    """Classify the whole lines of ``chunk[:end]`` (it ends with a newline).

    Returns
    -------
    Scan : the class of every line and the fields of the event lines.
    """
    raw = np.frombuffer(chunk, dtype=np.uint8, count=end)
    buf = np.zeros(end + _PAD, dtype=np.uint8)
    buf[:end] = raw
    ends = np.flatnonzero(raw == 10)
    n = len(ends)
    starts = np.empty(n, dtype=np.int64)
    if n:
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    ok = np.ones(n, dtype=bool)
    # control and non-ASCII bytes (a tab, a CR, a NUL, UTF-8): the general machinery
    special = np.flatnonzero(raw.view(np.int8) < 32)
    special = special[raw[special] != 10]
    if len(special):
        ok[np.searchsorted(ends, special)] = False

    # the glog prefix: [IWEF]dddd[dddd] hh:mm:ss.uuuuuu, blanks, thread, blank, ..., ']'
    head = _window(buf, starts, 10)
    lvl = head[:, 0]
    ok &= (lvl == 73) | (lvl == 87) | (lvl == 69)          # I W E (F: a fatal line)
    d4 = _DIGIT[head[:, 1:5]].all(axis=1)
    short = d4 & (head[:, 5] == 32)
    long_ = d4 & _DIGIT[head[:, 5:9]].all(axis=1) & (head[:, 9] == 32)
    ok &= short | long_
    off = np.where(long_, 4, 0)
    tsw = buf[(starts + off)[:, None] + np.arange(22)]
    ok &= _DIGIT[tsw[:, _TS_DIGITS]].all(axis=1)
    ok &= (tsw[:, 8] == 58) & (tsw[:, 11] == 58) & (tsw[:, 14] == 46) & (tsw[:, 21] == 32)
    idx = np.flatnonzero(ok)
    s, e, off = starts[idx], ends[idx], off[idx]
    a = _first(buf, s + off + 22, _SKIP, _NOT_BLANK)       # the thread token
    good = (a >= 0) & (a < e)
    rb = np.flatnonzero(raw == 93)                          # ']'
    k = np.searchsorted(rb, np.where(good, a, 0))
    r = np.where(k < len(rb), rb[np.minimum(k, max(len(rb) - 1, 0))] if len(rb) else -1, -1)
    good &= (r >= 0) & (r < e)
    # a blank between the thread token and the ']' ('\S+ ' then '[^\]\n]*\]')
    back = buf[np.maximum(r, 1)[:, None] - np.arange(1, _FILE_W + 1)]
    inside = (r[:, None] - np.arange(1, _FILE_W + 1)) > a[:, None]
    good &= ((back == 32) & inside).any(axis=1)
    m = _first(buf, r + 1, _SKIP, _NOT_BLANK)              # the message
    good &= (m >= 0) & (m < e)
    idx, s, e, m = idx[good], s[good], e[good], m[good]
    msg = _window(buf, m, 32)
    good = msg[:, 0] != 91                                  # '[': debug lines
    idx, s, e, m, msg = idx[good], s[good], e[good], m[good], msg[good]

    cls = np.zeros(n, dtype=np.int8)
    # messages the general machinery ignores: no parser for their first six bytes
    six = (msg[:, :6].astype(np.int64) * _POW6).sum(axis=1)
    noop = ((e - m) < 6) | ~np.isin(six, _HANDLER_CODES)
    cls[idx[noop]] = C_NOOP
    snap = _starts_with(msg, _SNAP1) | _starts_with(msg, _SNAP2)
    cls[idx[snap]] = C_SNAP

    kinds: list[np.ndarray] = []
    parts: list[tuple] = []

    # -- Iteration lines -----------------------------------------------------------------
    it = _starts_with(msg, _ITER)
    if it.any():
        li, ie, im = idx[it], e[it], m[it]
        nd, step = _digits(buf, im + 10, 18)
        p = im + 10 + nd
        fine = (nd >= 1) & (nd <= 18)
        is_loss = fine & _at(buf, p, _LOSS)
        is_lr = fine & _at(buf, p, _LR)
        is_test = fine & _at(buf, p, _TESTING)
        is_rate = fine & _at(buf, p, _code(b" ("))
        # the rate form: ' (R iter/s, ...), loss = X'
        q = _first(buf, p + 2, _NUM_W, _BLANK_NL)
        rate_ok = is_rate & (q > p + 2) & (q < ie)
        qq = np.where(rate_ok, q, p)
        r1 = _at(buf, qq, _RATE1)
        r2 = _at(buf, qq, _RATE2)
        rate_ok &= r1 | r2
        c = _first(buf, qq + np.where(r1, 9, 10), _FILE_W, _CLOSE_NL)
        rate_ok &= (c >= 0) & (c < ie)
        cc = np.where(rate_ok, c, p)
        rate_ok &= _at(buf, cc + 1, _LOSS)
        vs = np.select([is_loss, is_lr, rate_ok], [p + 9, p + 7, cc + 10], -1)
        val_ok = (is_loss | is_lr | rate_ok) & (vs < ie) & (ie - vs <= _NUM_W)
        vw = _window(buf, np.where(val_ok, vs, 0), _NUM_W)
        inval = (np.arange(_NUM_W) < (ie - vs)[:, None]) & _BAD_IN_VALUE[vw]
        val_ok &= ~inval.any(axis=1)
        # Testing net (#k): the net's digits, then ')' ending the line
        nn, net = _digits(buf, p + 16, 9)
        test_ok = is_test & (nn >= 1) & (nn <= 9) & (p + 16 + nn + 1 == ie)
        test_ok &= buf[np.where(test_ok, ie - 1, 0)] == 41
        take = val_ok | test_ok
        kind = np.select([is_loss | rate_ok, is_lr], [L.K_L, L.K_LR], L.K_T)
        cls[li[take]] = C_EVENT
        sel = np.flatnonzero(take)
        kinds.append(kind[sel])
        parts.append((li[sel], step[sel], np.where(test_ok, net, -1)[sel],
                      np.where(val_ok, vs, ie)[sel], ie[sel],
                      np.where(rate_ok, p + 2, 0)[sel], np.where(rate_ok, q, 0)[sel],
                      np.zeros(len(sel), dtype=np.int64), np.zeros(len(sel), dtype=np.int64),
                      np.zeros(len(sel), dtype=np.int64), np.zeros(len(sel), dtype=np.int64)))

    # -- Train / Test net output lines ---------------------------------------------------
    tr = _starts_with(msg, _TRAIN)
    te = _starts_with(msg, _TEST)
    out = tr | te
    if out.any():
        li, oe, om, is_tr = idx[out], e[out], m[out], tr[out]
        p = om + np.where(is_tr, len(_TRAIN), len(_TEST))
        nd, index = _digits(buf, p, 9)
        fine = (nd >= 1) & (nd <= 9)
        n0 = p + nd + 2
        fine &= (buf[p + nd] == 58) & (buf[p + nd + 1] == 32)          # ': '
        eq = _first(buf, n0, _NAME_W, _EQ_NL)
        fine &= (eq > n0 + 1) & (eq < oe)
        eqq = np.where(fine, eq, n0)
        fine &= (buf[eqq - 1] == 32) & (buf[eqq + 1] == 32)
        vs = eqq + 2
        ve = _first(buf, vs, _NUM_W, _BLANK_NL)
        fine &= (ve > vs) & (ve <= oe)
        vee = np.where(fine, ve, vs)
        plain_end = vee == oe
        # ' (* W = X loss)' ending the line
        w0 = vee + 4
        w1 = _first(buf, w0, _NUM_W, _BLANK_NL)
        tail = ~plain_end & _at(buf, vee, _WOPEN) & (w1 > w0)
        w1s = np.where(tail, w1, w0)
        tail &= _at(buf, w1s, _WEQ)
        x1 = _first(buf, w1s + 3, _NUM_W, _BLANK_NL)
        tail &= (x1 > w1s + 3) & (x1 + 6 == oe)
        tail &= _at(buf, np.where(tail, x1, 0), _WCLOSE)
        take = fine & (plain_end | tail)
        cls[li[take]] = C_EVENT
        sel = np.flatnonzero(take)
        kinds.append(np.where(is_tr, L.K_TRO, L.K_TO)[sel])
        parts.append((li[sel], np.full(len(sel), -1, dtype=np.int64), index[sel], vs[sel],
                      vee[sel], np.zeros(len(sel), dtype=np.int64),
                      np.zeros(len(sel), dtype=np.int64), np.where(tail, w0, 0)[sel],
                      np.where(tail, w1s, 0)[sel], n0[sel], (eqq - 1)[sel]))

    if kinds:
        kind = np.concatenate(kinds)
        cols = [np.concatenate(c) for c in zip(*parts)]
        order = np.argsort(cols[0], kind="stable")
        kind = kind[order]
        cols = [c[order] for c in cols]
    else:
        kind = np.zeros(0, dtype=np.int64)
        cols = [np.zeros(0, dtype=np.int64) for _ in range(11)]
    ev = cols[0]
    ts = buf[starts[ev][:, None] + np.arange(25)]
    short_ts = buf[starts[ev] + 5] == 32
    ts[short_ts, 21:] = 0
    return Scan(cls=cls, starts=starts, ends=ends, ev=ev, kind=kind, step=cols[1], net=cols[2],
                ts=ts, val=(cols[3], cols[4]), rate=(cols[5], cols[6]),
                weight=(cols[7], cols[8]), name=(cols[9], cols[10]))
