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

The package, by responsibility:

=================== =====================================================================
:mod:`.lines`       line shapes: the patterns, and what each line means
:mod:`.stream`      the input in chunks of whole lines; over-long lines skipped and counted
:mod:`.reader`      the reader: pass 1 (events, in order), pass 2 (records on iterations)
:mod:`.plain`       the bulk scanner of a plain log's common lines (numpy over the bytes)
:mod:`.swar`        8 bytes at a time with numpy: literals, bytes, digits, numbers, times
:mod:`.bulk`        those lines read in bulk, with the line-by-line results
:mod:`.blocks`      debug_info blocks and the iteration each belongs to
:mod:`.launches`    runs in the file: relaunches, resumes, crashes, how each ended
:mod:`.clock`       wall time: the year, and glog timestamps -> Unix seconds
:mod:`.solver`      solver facts: the parameter dump, hparams, multi-loss, clipping, roles
:mod:`.tags`        tag, debug-key and output-name ids
:mod:`.tally`       counting damage and what is not data; strict mode
:mod:`.assemble`    the common frame from the rows
=================== =====================================================================

The reader streams the input in large chunks, scans each chunk with one regular
expression (one match per line, in C) and converts the values in bulk with numpy; a
chunk of plain lines (no debug_info) is classified with numpy over its bytes and its
common lines read without a Python loop over lines. A line longer than
:data:`.stream.MAX_LINE_BYTES` is skipped and counted (``overlong_lines``), so memory
stays bounded on an input without newlines. Every pattern takes time linear in its line.
"""

from __future__ import annotations

import gc

from gradlog.frame import ParseResult
from gradlog.frame.source import Source
from gradlog.parsers.caffe import lines as L
from gradlog.parsers.caffe.clock import ASSUMED_YEAR  # noqa: F401  (documented: the year assumed)
from gradlog.parsers.caffe.reader import Reader
from gradlog.parsers.caffe.solver import STATISTICS
from gradlog.parsers.caffe.stream import read_stream

__all__ = ["NAME", "DESCRIPTION", "STATISTICS", "sniff", "read"]

NAME = "caffe"
DESCRIPTION = "Caffe solver log (glog output of `caffe train`, incl. debug_info)"


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
    ``statistics``, ``wall_time_year_assumed``, ``caffe``; the solver facts
    ``hparams``, ``crash``, ``crashes``, ``last_iteration``, ``stopped_early``,
    ``clipping``) and role hints.

    Raises
    ------
    ParseError
        If the input has no glog line at all (not a Caffe log).
    EmptyLogError
        If it has glog lines but no training values.
    DamagedInputError
        With ``strict=True``, on the first kind of damage found (every kind of skipped
        data but what is not data: see :data:`.tally.DAMAGE`).
    """
    reader = Reader(source)
    # The scanner allocates a tuple per line; nothing it builds is cyclic, so the cyclic
    # garbage collector only costs time here (it is restored afterwards).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return read_stream(source, reader, strict)
    finally:
        if gc_was_on:
            gc.enable()
