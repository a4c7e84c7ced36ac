"""TensorBoard event files: every scalar point, fast, and never lose data to one bad record.

Reads a single ``events.out.tfevents.*`` file (``.gz`` too), a run directory (all its
event files merged in order, e.g. after a restart; Keras's ``train/`` + ``validation/``
subdirectories are one run, tags prefixed by the subdirectory), or a log root holding
many runs (:func:`split_runs` lists them, so ``gradlog.load_all`` reads one run each).

What becomes a point in the frame:

* scalars in every encoding writers use: ``simple_value`` (PyTorch, tensorboardX, TF1,
  Keras 2.x) and TF2 scalar tensors (plugin ``scalars``, the plugin name possibly only on
  a tag's first event; ``float_val``, ``double_val``, ``half_val``, ``int_val``,
  ``int64_val``, ``bool_val`` or ``tensor_content`` of a one-element tensor);
* histograms (``HistogramProto`` from ``add_histogram``, and TF2 histogram tensors),
  reduced to ``<tag>/l2`` (sqrt of the sum of squares), ``<tag>/mean``, ``<tag>/std``
  and ``<tag>/absmax`` (``meta["statistics"]`` says what each is, and whether it is
  exact or estimated from buckets);
* hyperparameters (the hparams plugin) go to ``meta["hparams"]``, ``SessionLog.START``
  markers to ``meta["restarts"]``; images, audio, text, graphs and run metadata are
  counted in ``meta["ignored"]`` and never decoded.

Every point is kept (no sampling); when a step is logged twice, the later record wins
and ``meta["replaced_points"]`` counts what it replaced. Of those,
``meta["repeated_points"]`` were written one after another at the same step (per-batch
values logged at the epoch step, as Ultralytics YOLOv8 does: the last one, the epoch's
value, is kept); the rest were logged again after the step went back (a resumed run).

Damage: both CRCs of every record are checked (:mod:`gradlog.parsers._tfrecord`); a bad
record is skipped and counted (``meta["skipped"]["bad_records"]``, ``meta["damage"]``)
and reading resumes at the next record that checks out; a cut-off last record is
reported in ``meta["truncated"]``. With ``strict=True`` any damage raises
:class:`~gradlog.errors.DamagedInputError`.

Speed: records are framed and CRC-checked a block at a time with numpy, and blocks of
plain scalar events are decoded by one protobuf parse per block (see
:meth:`_FileReader._decode_flat`); other blocks are parsed with the generated ``Event``
class.

Layout (this module is the entry point: ``sniff``, ``read`` and the run listing):

* :mod:`._tfrecord` frames records and checks their CRCs;
* :mod:`._tb_proto` holds the protobuf message classes and the one-parse-per-block views;
* :mod:`._tb_runs` finds event files, run directories, their parts and log roots;
* :mod:`._tb_decode` decodes one file's events into the run's columns;
* :mod:`._tb_values` turns tensors, histograms and hparams into numbers;
* :mod:`._tb_frame` names the tags and builds the frame and its meta.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import BinaryIO

from gradlog.errors import (
    DamagedInputError,
    EmptyLogError,
    GradlogError,
    MultipleRunsError,
    ParseError,
)
from gradlog.frame import ParseResult
from gradlog.frame.source import Source, display_name

from . import _tfrecord as tfr
from ._tb_decode import _FileReader, _RunState
from ._tb_frame import _normalise, _result  # noqa: F401 - _normalise re-exported (tests)
from ._tb_proto import _MESSAGES, _Event, _looks_like_event  # noqa: F401 - message classes
from ._tb_runs import (
    SPLIT_DIRS,
    _is_event_name,
    _is_run_dir,
    _listdir,
    event_files,
    run_members,
    runs_of,
    split_runs,
)

__all__ = ["DESCRIPTION", "NAME", "event_files", "read", "run_members", "sniff", "split_runs"]

NAME = "tensorboard"
DESCRIPTION = (
    "TensorBoard event files (events.out.tfevents.*), run directories and log roots: "
    "scalars (simple_value and TF2 tensors), histograms reduced to l2/mean/std/absmax, hparams"
)


def _first_payload_anywhere(head: bytes) -> bytes | None:
    """Return the payload of the first whole valid record in ``head``, or None."""
    scanner = tfr.RecordScanner(io.BytesIO(head), block_bytes=len(head))
    for blk in scanner.blocks():
        return blk.payloads()[0]
    return None


def sniff(source: Source) -> bool:
    """Return True for an event file (by content) or a directory of TensorBoard runs.

    A file is an event file when its first record's length and length CRC check out and
    its data parses as an ``Event`` (a file version, or a wall time and a payload). A
    directory is read when it holds event files (directly or in ``train/`` /
    ``validation/``), or only run directories (a log root).
    """
    if source.is_dir:
        if source.path is None:
            return False
        runs, pure = runs_of(source)
        return bool(runs) and pure
    head = source.head
    if len(head) < tfr.HEADER_BYTES + tfr.FOOTER_BYTES:
        return False
    payload = tfr.first_record(head)
    if payload is None and _is_event_name(source.suffix_name):
        # Named like an event file but its first record is damaged: a record further on
        # that checks out and holds an Event will do (the reader reports the damage).
        payload = _first_payload_anywhere(head)
    if payload is None:
        length, hcrc = struct.unpack_from("<QI", head, 0)
        if tfr.masked_crc32c(head[:8]) != hcrc or length + 16 <= len(head):
            return False
        # A first record longer than the head (rare): the length checks out, and the
        # data starts like an Event (field 1 wall_time as a double).
        return head[12:13] == b"\x09"
    return _looks_like_event(payload)


def _read_file(
    state: _RunState, stream: BinaryIO, label: str, prefix: str, *, grouped_tags_unprefixed: bool = False
) -> None:
    """Read one event file's records into ``state`` (damage counted, or raised if strict).

    ``prefix`` goes before every tag, or, with ``grouped_tags_unprefixed``, only before
    tags without a group (``loss`` but not ``metrics/mAP``).
    """
    reader = _FileReader(state, label, prefix, soft=grouped_tags_unprefixed)
    scanner = tfr.RecordScanner(stream)
    for blk in scanner.blocks():
        if scanner.damage and state.strict:
            raise DamagedInputError(f"{label}: {scanner.damage[0].describe()}")
        reader.block(blk)
    if scanner.records == 0 and not scanner.stream_error:
        if scanner.bytes_read == 0:
            raise EmptyLogError(f"{label}: empty file")
        raise ParseError(
            f"{label}: not a TensorBoard event file (no valid record in {scanner.bytes_read} bytes)"
        )
    state.records += scanner.records
    state.bytes_read += scanner.bytes_read
    for d in scanner.damage:
        if state.strict:
            raise DamagedInputError(f"{label}: {d.describe()}")
        state.skipped["bad_records"] += 1
        state.damage.append({"file": label, "offset": d.offset, "bytes": d.nbytes, "reason": d.reason})
        state.warn(f"{label}: {d.describe()}")
    if scanner.stream_error is not None:
        # A cut-off gzip stream; the partial record it leaves is part of the same damage.
        msg = (
            f"{label}: the compressed data is cut short or damaged after {scanner.bytes_read} "
            f"bytes ({scanner.stream_error})"
        )
        if state.strict:
            raise DamagedInputError(msg)
        state.truncated.append({"file": label, "offset": scanner.bytes_read, "bytes": None})
        state.warn(f"{msg}; the {scanner.records} complete records before it were read")
    elif scanner.truncated is not None:
        t = scanner.truncated
        if state.strict:
            raise DamagedInputError(f"{label}: {t.describe()}")
        state.truncated.append({"file": label, "offset": t.offset, "bytes": t.nbytes})
        state.warn(f"{label}: {t.describe()}; the {scanner.records} complete records before it were read")


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read an event file or one run directory into the common frame.

    Parameters
    ----------
    source : an event file (or stream), or a run directory.
    strict : raise on any damage (a bad CRC, an undecodable record, a truncated tail)
        instead of skipping it and counting it in the meta.

    Returns
    -------
    ParseResult with ``meta`` keys ``step_unit`` ("step"), ``files``, ``records``,
    ``skipped`` (``bad_records``, ``undecodable_events``), ``damage`` (each skipped
    stretch: file, byte offset, bytes, reason), ``truncated`` (file, offset, bytes of a
    cut-off tail), ``warnings``, ``restarts`` (``SessionLog.START`` markers),
    ``replaced_points``, ``repeated_points`` (those of the replaced points that were
    followed by another value at the same step: per-batch values at an epoch step),
    ``statistics`` (what each histogram-derived tag is),
    ``hparams``, ``ignored`` (images, graphs ... counted, not decoded) and
    ``file_version``.

    Raises
    ------
    EmptyLogError
        If a file is empty, or the input holds no scalar or histogram at all.
    ParseError
        If the input is not a TensorBoard event file (no valid record, or the first
        record is not an Event) or a directory has no event file.
    DamagedInputError
        With ``strict=True``, on the first damage found.
    MultipleRunsError
        If the directory is not a run itself and holds several runs (use
        ``gradlog.load_all``). A run directory is read as its own run, even when some of
        its subdirectories hold other runs (``gradlog.load`` reports those).
    """
    state = _RunState(name=source.name, strict=strict)
    if source.is_dir:
        assert source.path is not None
        files_here, dirs_here = _listdir(source.path)
        if _is_run_dir(files_here, dirs_here):
            # A run directory: its own run (runs in its other subdirectories are not read).
            run_dir = source.path
        else:
            runs = split_runs(source)
            if len(runs) > 1:
                raise MultipleRunsError(
                    f"{source.name}: holds {len(runs)} TensorBoard runs; use gradlog.load_all()"
                )
            if not runs:
                raise ParseError(f"{source.name}: no TensorBoard event file in this directory")
            run_dir = runs[0]
        files = event_files(run_dir)
        empty: list[str] = []
        for path, prefix in files:
            rel = str(path.relative_to(run_dir))
            if _stat_size(path) == 0:
                # A zero-length file (a writer that died before its first flush): nothing
                # to read, and no reason to lose the run's other files.
                empty.append(rel)
                continue
            state.files.append(rel)
            with Source.from_path(path).open() as fh:
                _read_file(state, fh, display_name(path), prefix)
        if empty:
            if len(empty) == len(files):
                raise EmptyLogError(
                    f"{source.name}: every event file is empty "
                    f"({', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''})"
                )
            state.skipped["empty_files"] += len(empty)
            state.warn(
                f"{source.name}: {len(empty)} empty event file(s) skipped: "
                f"{', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''}"
            )
    else:
        state.files.append(source.path.name if source.path is not None else source.name)
        # A lone event file in a phase folder (``test/events...``) is that phase's
        # series: its bare tags take the folder as their group.
        phase = ""
        if source.path is not None and source.path.parent.name.lower() in SPLIT_DIRS:
            phase = source.path.parent.name
        with source.open() as fh:
            _read_file(state, fh, source.name, phase, grouped_tags_unprefixed=True)
    return _result(state)


def _stat_size(path: Path) -> int:
    """Return the size of ``path`` in bytes.

    Raises
    ------
    GradlogError
        If the file was removed (or became unreadable) since it was listed.
    """
    try:
        return path.stat().st_size
    except OSError as exc:
        Source.from_path(path)  # raises a GradlogError naming the file
        raise GradlogError(f"{display_name(path)}: cannot read ({exc.strerror or exc})") from exc
