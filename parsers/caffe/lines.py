"""Line shapes of Caffe's glog solver logs: the patterns, and what each line means.

Everything here is about *one line* (or one field of it); how lines combine into
iterations, runs and rows is :mod:`gradlog.parsers.caffe.reader`'s business.

Every Caffe line starts with the glog prefix ``Lmmdd hh:mm:ss.uuuuuu thread file:line]``
(``L`` is I, W, E or F; glog >= 0.7 may print ``Lyyyymmdd``). The file and line number
differ between Caffe versions and forks, so nothing here keys on them.

Two scanners do the bulk of the work, one match per line, in C: :data:`LINE_FAST` over
a whole chunk (debug_info lines give their key and value; every other line is passed
on whole), then :data:`EVENT_RE` over those other lines (loss, lr and train-output lines
give their fields; any other message goes to its parser in :data:`HANDLERS`).
"""

from __future__ import annotations

import math
import re

import numpy as np

from .debugkeys import (  # noqa: F401 - re-exported
    ALL_PARAMS_RE,
    ALL_PARAMS_SOURCES,
    ALL_PARAMS_TAGS,
    MAX_KEY,
    DebugKey,
    parse_debug_key,
)
from .kinds import (  # noqa: F401 - re-exported: the scanners and the reader use L.K_*
    K_A,
    K_B,
    K_BADKEY,
    K_C,
    K_F,
    K_L,
    K_LR,
    K_NONE,
    K_RUN,
    K_SKIP,
    K_T,
    K_TF,
    K_TI,
    K_TO,
    K_TRO,
    K_U,
    K_U1,
)

# -- the chunk scanners ----------------------------------------------------------------------
# One match per line, two groups: the debug key (``[Forward] Layer conv1, top blob conv1
# data: ``) of a debug_info line, else empty; and the rest of the line (the value of a
# debug line, else the whole line). The fast form scans with single-character exclusions
# (``[^\]]*+``, ``[^:]*+``), tight loops in the regex engine that can run past the end of
# a damaged line (a glog prefix without its ``]``): the reader then finds fewer matches
# than lines (or a key holding a newline) and rescans that chunk with the safe form,
# which never crosses a newline.
#: Every repetition that could run past a line end is bounded (the glog prefix to its
#: ``]``: :data:`MAX_PREFIX` bytes; a debug key: :data:`MAX_KEY` bytes), so that a damaged
#: chunk (many lines without ``]`` or ``:``) costs linear time; a line whose prefix or
#: key is longer is not a debug line (its message parser then counts it).
MAX_PREFIX = 512
LINE_FAST = re.compile(
    rb"(?:[IWEF]\d[^\]]{0,%d}+\] ++(\[[FBU][^:]{0,%d}+: )|)([^\n]*+)\n" % (MAX_PREFIX, MAX_KEY)
)
LINE_SAFE = re.compile(
    rb"(?:[IWEF]\d[^\]\n]{0,%d}+\] ++(\[[FBU][^:\n]{0,%d}+: )|)([^\n]*+)\n" % (MAX_PREFIX, MAX_KEY)
)
#: The first (2014) debug_info format, ``[debug_info] [Forward] Layer ...: 1523.2 (0.0312)``:
#: rare, so the chunk scanner leaves it to the message parser.
DEBUG_2014_RE = re.compile(rb"^\[debug_info\] (\[[FBU][^:\n]*: )(.*)$")
#: The other lines, joined by newlines, one match each: a glog line (level + timestamp)
#: that is a loss/lr line (step, rate, "loss"/"lr", value), a train net output (index,
#: name, value, loss weight) or another message; or a line without a glog prefix.
EVENT_RE = re.compile(
    rb"(?:([IWEF]\d{4}(?:\d{4})? \d\d:\d\d:\d\d\.\d{6}) +\S+ [^\]\n]*\] *"
    rb"(?:Iteration (\d+)(?: \(([^ \n]+) iters?/s, [^)\n]*\))?, (loss|lr) = ([^ ,\n]+)(?:,[^\n]*)?"
    rb"|Train net output #(\d+): ([^=\n]*?) = ([^ \n]+)(?: \(\* ([^ \n]+) = [^ \n]+ loss\))?[ \t]*"
    rb"|([^\n]*))"
    rb"|([^\n]*))\n"
)

#: The largest iteration number the frame can hold (int64); a larger one is a damaged line.
MAX_STEP = 2**63 - 1

# -- numbers ----------------------------------------------------------------------------------
_WIN_SPECIAL = {
    b"1.#INF": math.inf,
    b"-1.#INF": -math.inf,
    b"1.#QNAN": math.nan,
    b"-1.#QNAN": math.nan,
    b"1.#IND": math.nan,
    b"-1.#IND": math.nan,
    b"-nan(ind)": math.nan,
    b"nan(ind)": math.nan,
}


def parse_num(text: bytes) -> float | None:
    """Return the float a Caffe value prints as, or None when ``text`` is not a number.

    NaN and infinities are kept (``nan``, ``-nan``, ``inf``, and MSVC's ``1.#INF``,
    ``-1.#IND``, ``1.#QNAN``, ``-nan(ind)``).
    """
    try:
        return float(text)
    except ValueError:
        return _WIN_SPECIAL.get(text.strip())


def parse_debug_value(text: bytes) -> float | None:
    """Return the mean |x| a debug line prints: ``0.0312``, or the 2014 form
    ``1523.2 (0.0312)`` (an L1 norm followed by the mean in parentheses)."""
    t = text.strip()
    if t.endswith(b")") and b" (" in t:
        return parse_num(t[t.rindex(b" (") + 2 : -1])
    return parse_num(t)


def bulk_floats(values: list[bytes] | tuple[bytes, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Convert many number texts at once.

    Returns
    -------
    (floats, ok) : float64 array (NaN where not a number) and a bool mask of the texts
        that were numbers. Uses numpy's C conversion and falls back to :func:`parse_debug_value`
        only when some text does not convert.
    """
    n = len(values)
    if n == 0:
        return np.empty(0, dtype=np.float64), np.ones(0, dtype=bool)
    try:
        return np.fromiter(map(float, values), dtype=np.float64, count=n), np.ones(n, dtype=bool)
    except ValueError:
        pass
    out = np.empty(n, dtype=np.float64)
    ok = np.ones(n, dtype=bool)
    for i, v in enumerate(values):
        f = parse_debug_value(v)
        if f is None:
            ok[i] = False
            out[i] = math.nan
        else:
            out[i] = f
    return out, ok


# -- other messages -----------------------------------------------------------------------------
_ITER_LOSS_RATE = re.compile(rb"^Iteration (\d+) \(([^ ]+) iters?/s, [^)]*\), loss = ([^ ,]+)(?:,.*)?$")
_ITER_LOSS = re.compile(rb"^Iteration (\d+), loss = ([^ ,]+)(?:,.*)?$")
_ITER_LR = re.compile(rb"^Iteration (\d+), lr = ([^ ,]+)(?:,.*)?$")
_ITER_TEST = re.compile(rb"^Iteration (\d+), Testing net(?: \(#(\d+)\))?\s*$")
_OUTPUT = re.compile(rb"^(Train|Test) net output #(\d+): ([^=]+?) = (\S+)(?: \(\* (\S+) = \S+ loss\))?\s*$")
_TEST_SCORE = re.compile(rb"^Test score #(\d+): (\S+)\s*$")
_TEST_LOSS = re.compile(rb"^Test loss: (\S+)\s*$")
_CLIP = re.compile(
    rb"^Gradient clipping: scaling down gradients \(L2 norm (\S+) > (\S+)\) "
    rb"by scale factor (\S+)"
)
_MULTISTEP = re.compile(rb"^MultiStep Status: Iteration (\d+), step = (\d+)")
_LR_POLICY = re.compile(rb"^Learning Rate Policy: ?(\S*)")
_SNAPSHOT = re.compile(rb"^Snapshotting (?:solver state )?to ")

# What a message parser returns first (besides the K_* record kinds):
EV_SOLVING = "solving"
EV_RESUMING = "resuming"  # caffe.cpp "Resuming from <file>" (before Solving)
EV_RESTORING = "restoring"  # solver.cpp "Restoring previous solver status from <file>"
EV_DONE = "done"
EV_STOPPED = "stopped"
EV_INFO = "info"  # informational only (no record)


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace").strip()


def _iteration(msg: bytes) -> tuple | None:
    if m := _ITER_LOSS_RATE.match(msg):
        return (K_L, int(m[1]), parse_num(m[3]), parse_num(m[2]), m[3])
    if m := _ITER_LOSS.match(msg):
        return (K_L, int(m[1]), parse_num(m[2]), None, m[2])
    if m := _ITER_LR.match(msg):
        return (K_LR, int(m[1]), parse_num(m[2]))
    if m := _ITER_TEST.match(msg):
        return (K_T, int(m[1]), int(m[2]) if m[2] is not None else 0)
    return ("malformed", "Iteration line")


def _output(msg: bytes) -> tuple | None:
    m = _OUTPUT.match(msg)
    if not m:
        return ("malformed", "net output line")
    weight = parse_num(m[5]) if m[5] is not None else None
    kind = K_TRO if m[1] == b"Train" else K_TO
    return (kind, int(m[2]), m[3], parse_num(m[4]), weight)


def _test(msg: bytes) -> tuple | None:
    if msg.startswith(b"Test net output"):
        return _output(msg)
    if m := _TEST_SCORE.match(msg):
        return (K_TO, int(m[1]), None, parse_num(m[2]), None)
    if m := _TEST_LOSS.match(msg):
        return (K_TO, -1, None, parse_num(m[1]), None)
    if msg.startswith(b"Test interrupted"):
        return (K_TI,)
    return None


def _clip(msg: bytes) -> tuple | None:
    if m := _CLIP.match(msg):
        return (K_C, parse_num(m[1]), parse_num(m[2]))
    return ("malformed", "gradient clipping line")


def _solving(msg: bytes) -> tuple | None:
    return (EV_SOLVING, _text(msg[8:]))


def _restoring(msg: bytes) -> tuple | None:
    if msg.startswith(b"Restoring previous solver status"):
        rest = msg[len(b"Restoring previous solver status") :]
        return (EV_RESTORING, _text(rest[6:]) if rest.startswith(b" from ") else "")
    return None


def _resuming(msg: bytes) -> tuple | None:
    if msg.startswith(b"Resuming from "):
        return (EV_RESUMING, _text(msg[14:]))
    return None


def _optimization(msg: bytes) -> tuple | None:
    if msg.startswith(b"Optimization Done"):
        return (EV_DONE,)
    if msg.startswith(b"Optimization stopped early"):
        return (EV_STOPPED,)
    return None


def _info(msg: bytes) -> tuple | None:
    if m := _MULTISTEP.match(msg):
        return (EV_INFO, "multistep", int(m[1]), int(m[2]))
    if m := _LR_POLICY.match(msg):
        return (EV_INFO, "lr_policy", _text(m[1]))
    if _SNAPSHOT.match(msg):
        return (EV_INFO, "snapshot")
    if msg.startswith(b"Initializing solver from parameters"):
        return (EV_INFO, "solver_params")
    if msg.startswith(b"Initializing net from parameters"):
        return (EV_INFO, "net_params")
    if msg.startswith(b"Finetuning from "):
        return (EV_INFO, "finetune", _text(msg[16:]))
    return None


def _debug_2014(msg: bytes) -> tuple | None:
    m = DEBUG_2014_RE.match(msg)
    return ("debug_2014", m[1], m[2]) if m else ("malformed", "debug_info line")


def _debug_message(msg: bytes) -> tuple | None:
    # A [Forward]/[Backward]/[Update] message the chunk scanner could not split
    # (a ':' inside a name, a damaged line): counted, never silently dropped.
    return ("malformed", "debug_info line")


#: The first six bytes of a message -> its parser, which returns a tuple whose first
#: item is a record kind (``K_L``, ``K_LR``, ``K_T``, ``K_TRO``, ``K_TO``, ``K_TI``,
#: ``K_C``), an event name (``EV_*``), or ``"malformed"``; or None for a line the reader
#: does not need.
HANDLERS = {
    b"Iterat": _iteration,
    b"Train ": _output,
    b"Test n": _test,
    b"Test s": _test,
    b"Test l": _test,
    b"Test i": _test,
    b"Gradie": _clip,
    b"Solvin": _solving,
    b"Restor": _restoring,
    b"Resumi": _resuming,
    b"Optimi": _optimization,
    b"MultiS": _info,
    b"Learni": _info,
    b"Snapsh": _info,
    b"Initia": _info,
    b"Finetu": _info,
    b"[debug": _debug_2014,
    b"[Forwa": _debug_message,
    b"[Backw": _debug_message,
    b"[Updat": _debug_message,
}


# -- glog file headers and the solver parameter dump -----------------------------------------
HEADER_RE = re.compile(rb"^Log file created at: (\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)")
#: glog's own file names: ``<prog>.<host>.<user>.log.<LEVEL>.<yyyymmdd>-<hhmmss>.<pid>``
GLOG_NAME_RE = re.compile(r"\.log\.(?:INFO|WARNING|ERROR|FATAL)\.(\d{4})(\d\d)(\d\d)-\d{6}\.\d+")
#: ``key: value`` of a parameter dump (the value is stripped by :func:`param_line`; a
#: lazy group before a trailing ``\s*`` would take time quadratic in a run of blanks).
PARAM_LINE_RE = re.compile(rb"[ \t\f\v]*+([A-Za-z_][A-Za-z0-9_]*+)[ \t\f\v]*+:([^\n]*+)")


def param_line(line: bytes) -> tuple[str, bytes] | None:
    """Return ``(key, raw value)`` of a top-level ``key: value`` line of a parameter
    dump (the value stripped of blanks), or None for any other line."""
    m = PARAM_LINE_RE.fullmatch(line.rstrip(b"\r\n"))
    return (m[1].decode("ascii"), m[2].strip()) if m else None


#: A line of a protobuf text dump (Caffe prints its solver and net parameters that way).
PROTO_LINE_RE = re.compile(rb"^\s*(?:[A-Za-z_][\w.]*\s*:\s*\S.*|[A-Za-z_][\w.]*\s*\{|\})\s*$")
#: A line of a crash's trace: glog's (``*** Check failure stack trace: ***``,
#: ``    @     0x7f2f5a1c1daa  caffe::...``) or Python's (``Traceback (most recent call
#: last):``, ``  File "train.py", line 3, in <module>``).
STACK_LINE_RE = re.compile(rb"(?:\*\*\* |[ \t]++@[ \t]++0x|Traceback \(most recent call last\)|  File \")")
#: A line without a glog prefix that stops a job: glog's failure signal handler
#: (``*** Aborted at 1461 (unix time) ...``), an uncaught C++ exception, the last line of
#: a Python exception (``RuntimeError: CUDA out of memory``, ``Error: ...``).
CRASH_LINE_RE = re.compile(
    rb"\*\*\* Aborted at |terminate called after throwing |"
    rb"(?:[A-Za-z_][\w.]{0,120})?Error: "
)
#: A control byte (other than a tab) in a line: random bytes, not text anybody printed.
GARBLED_RE = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")


def crash_kind(text: bytes | str) -> str:
    """Return the kind of a line that stops a job: ``"cuda_oom"`` (CUDA out of memory),
    ``"check_failed"`` (a glog ``Check failed``) or ``"error"``."""
    t = text if isinstance(text, str) else text.decode("utf-8", "replace")
    low = t.lower()
    if "out of memory" in low or "cudaerrormemoryallocation" in low:
        return "cuda_oom"
    if "check failed" in low:
        return "check_failed"
    return "error"


#: Solver parameters kept in the meta (top level of SolverParameter).
SOLVER_KEYS = frozenset(
    {
        "type",
        "solver_type",
        "base_lr",
        "lr_policy",
        "gamma",
        "stepsize",
        "stepvalue",
        "power",
        "momentum",
        "momentum2",
        "delta",
        "rms_decay",
        "weight_decay",
        "regularization_type",
        "display",
        "average_loss",
        "max_iter",
        "iter_size",
        "test_iter",
        "test_interval",
        "test_initialization",
        "test_compute_loss",
        "clip_gradients",
        "debug_info",
        "snapshot",
        "random_seed",
        "solver_mode",
        "max_momentum",
        "momentum_batch",
    }
)


#: The solver parameters ``meta["hparams"]`` always has (None when not printed), besides
#: ``optimizer``.
HPARAM_KEYS = (
    "base_lr",
    "lr_policy",
    "gamma",
    "stepsize",
    "stepvalue",
    "power",
    "momentum",
    "momentum2",
    "weight_decay",
    "max_iter",
    "iter_size",
    "average_loss",
    "clip_gradients",
    "display",
    "rms_decay",
    "delta",
)
#: Caffe's solver types (``type: "Adam"`` from 2015 on; the enum ``solver_type: ADAM``
#: before) -> ``meta["hparams"]["optimizer"]``.
OPTIMIZERS = {
    "sgd": "sgd",
    "nesterov": "nesterov",
    "adagrad": "adagrad",
    "rmsprop": "rmsprop",
    "adadelta": "adadelta",
    "adam": "adam",
}


def optimizer_name(value: object) -> str:
    """Return the lower-case optimizer of a solver ``type``/``solver_type`` value
    (``"sgd"`` when there is none: Caffe's default); an unknown type is returned
    lower-cased as it is."""
    if value is None or value == "":
        return "sgd"
    text = str(value).strip().strip('"').lower()
    return OPTIMIZERS.get(text, text)


def solver_value(raw: bytes) -> object:
    """Return a solver parameter's value: a number, a bool, or the unquoted string."""
    text = raw.decode("utf-8", "replace").strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


# -- timestamps -------------------------------------------------------------------------------
def ts_fields(ts: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read glog timestamps (``I0703 14:45:14.588873`` or ``I20150703 14:45:14.588873``).

    Returns
    -------
    (year, month, day, seconds) : year is -1 where the prefix has none; seconds is the
        time of day with microseconds; month is 0 where the timestamp is unreadable.
    """
    n = len(ts)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, np.zeros(0, dtype=np.float64)
    return ts_fields_u8(np.array(ts, dtype="S25").view(np.uint8).reshape(n, 25))


def ts_fields_u8(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`ts_fields` of timestamps given as a (n, 25) uint8 array, zero padded.

    Returns
    -------
    (year, month, day, seconds) : as :func:`ts_fields`.
    """
    n = len(raw)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, np.zeros(0, dtype=np.float64)
    u = raw.astype(np.int64) - 48
    long_ = u[:, 5] != (32 - 48)  # 8-digit date: no space at column 5
    off = np.where(long_, 4, 0)
    rows = np.arange(n)

    def two(col: int) -> np.ndarray:
        return u[rows, col + off] * 10 + u[rows, col + 1 + off]

    year = np.where(long_, u[:, 1] * 1000 + u[:, 2] * 100 + u[:, 3] * 10 + u[:, 4], -1)
    month = two(1)
    day = two(3)
    secs = two(6) * 3600 + two(9) * 60 + two(12)
    micro = (two(15) * 100 + two(17)) * 100 + two(19)
    bad = (month < 1) | (month > 12) | (day < 1) | (day > 31)
    month = np.where(bad, 0, month)
    return year, month, day, secs + micro * 1e-6


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (vectorised; H. Hinnant's
    algorithm). Feb 29 of a common year lands on Mar 1."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = np.where(m > 2, m - 3, m + 9)
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


# -- sniffing ---------------------------------------------------------------------------------
SNIFF_LINE_RE = re.compile(
    rb"(?:^|[\r\n])[IWEF]\d{4}(?:\d{4})? \d\d:\d\d:\d\d\.\d{6} +\S+ ([A-Za-z0-9_.\-]+):\d+\] ?(.{0,40})"
)
SNIFF_FILES = frozenset(
    {
        b"solver.cpp",
        b"sgd_solver.cpp",
        b"caffe.cpp",
        b"net.cpp",
        b"layer_factory.hpp",
        b"layer_factory.cpp",
        b"upgrade_proto.cpp",
        b"data_layer.cpp",
        b"base_data_layer.cpp",
        b"blocking_queue.cpp",
        b"parallel.cpp",
        b"syncedmem.cpp",
        b"db_lmdb.cpp",
        b"image_data_layer.cpp",
        b"insert_splits.cpp",
        b"cpu_info.cpp",
        b"data_transformer.cpp",
        b"solver_factory.hpp",
        b"common.cpp",
    }
)
#: Messages only Caffe prints: enough on their own (forks rename the source files).
SNIFF_MSG_RE = re.compile(
    rb"^(?:Initializing solver from parameters|Solving \S+\s*$|Iteration \d+, (?:loss|lr) = "
    rb"|Iteration \d+ \([^ ]+ iters?/s|Iteration \d+, Testing net|\s*Train net output #"
    rb"|\s*Test net output #|Test score #\d+: |\s*\[(?:Forward|Backward)\] Layer "
    rb"|\[debug_info\] \[|Top shape: |Memory required for data: |Network initialization done"
    rb"|Solver scaffolding done)"
)
#: Messages Caffe prints that other programs could print too: claimed only from one of
#: Caffe's source files (:data:`SNIFF_FILES`); a Caffe file name alone is not enough
#: (``common.cpp``, ``net.cpp``, ``solver.cpp`` are common names in other glog programs).
SNIFF_WEAK_RE = re.compile(
    rb"^(?:Creating layer \S+\s*$|Setting up \S+\s*$|Initializing net from parameters"
    rb"|Learning Rate Policy|This network produces output|\S+ -> \S+\s*$|\S+ <- \S+\s*$"
    rb"|Using GPUs? |GPU \d+: |Use CPU\.|Opened (?:lmdb|leveldb) |output data size: "
    rb"|Restoring previous solver status|Resuming from |Finetuning from |Snapshotting to )"
)
