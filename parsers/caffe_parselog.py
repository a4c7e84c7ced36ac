"""The tables Caffe's own log tools write: ``tools/extra/parse_log.sh`` and ``parse_log.py``.

Both turn a Caffe log ``X.log`` into two tables beside it, ``X.log.train`` and
``X.log.test``:

* ``parse_log.sh``: a ``#``-header and columns aligned with spaces (``column -t``)::

      #Iters Seconds TrainingLoss LearningRate
      0      0.000000  2.30259    0.01
      100    5.512340  0.28541    0.01

  and ``#Iters Seconds TestAccuracy TestLoss`` for the test table.
* ``parse_log.py``: comma-separated, ``NumIters,Seconds,LearningRate,<output names>``
  (``loss``, ``accuracy``, ``loss_bbox`` ...; the iteration written as ``100.0``), or in
  old versions ``NumIters,Seconds,TrainingLoss,LearningRate`` and
  ``NumIters,Seconds,TestAccuracy,TestLoss``.

Reading either file reads both (the ``.test`` file beside a ``.train`` file is not a
run of its own: :func:`superseded`). Tags follow the Caffe reader's names: the
training loss is ``train/loss``, the learning rate ``train/lr``, other training outputs
``train/<name>``; test outputs are ``test0/<name>`` (``test0/accuracy``,
``test0/loss``); ``Seconds`` (elapsed since the solver started, not a clock time)
becomes ``train/elapsed_seconds``. The test table's own ``LearningRate`` and
``Seconds`` repeat the training ones and are not read. The step is the iteration.
Damaged rows are skipped and counted as in every CSV format.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gradlog.errors import EmptyLogError, ParseError
from gradlog.frame import ParseResult
from gradlog.frame.source import Source

from . import _tabular as tab

NAME = "caffe_parselog"
DESCRIPTION = "Caffe parse_log.sh/.py tables: X.log.train (+ X.log.test), #Iters Seconds ..."

_HEADER_RE = re.compile(rb"#?[ \t]*(?:Num)?Iters(?:[ \t]+|[ \t]*,[ \t]*)Seconds(?:[ \t,]|$)")
_SPACES_RE = re.compile(rb"[ \t]+")
_TRAIN_NAMES = {
    "trainingloss": "train/loss",
    "learningrate": "train/lr",
    "seconds": "train/elapsed_seconds",
    "loss": "train/loss",
}
_TEST_NAMES = {"testaccuracy": "test0/accuracy", "testloss": "test0/loss"}
_TEST_DROP = ("learningrate", "seconds")


def _first_line(head: bytes) -> bytes:
    for line in head.splitlines()[:20]:
        if line.strip():
            return line.strip()
    return b""


def sniff(source: Source) -> bool:
    """Return True for a table whose header is ``#Iters Seconds ...`` (parse_log.sh) or
    ``NumIters,Seconds,...`` (parse_log.py)."""
    if source.is_dir:
        return False
    head = source.head[3:] if source.head.startswith(b"\xef\xbb\xbf") else source.head
    line = _first_line(head[:4096])
    return len(line) < 4096 and _HEADER_RE.match(line) is not None


def _phase(source: Source, header: bytes) -> str:
    """``train`` or ``test``: from the file's suffix, else from the column names."""
    name = source.suffix_name.lower()
    if name.endswith(".test"):
        return "test"
    if name.endswith(".train"):
        return "train"
    low = header.lower()
    return "test" if b"testaccuracy" in low or b"testloss" in low else "train"


def superseded(path: Path) -> bool:
    """Return True for a ``.test`` table whose ``.train`` sibling exists: reading the
    ``.train`` file reads both, so discovery lists the pair once."""
    return path.name.endswith(".test") and path.with_name(path.name[:-5] + ".train").is_file()


def _sibling(source: Source, phase: str) -> Path | None:
    if source.path is None:
        return None
    name = source.path.name
    base = name.removesuffix(".gz")
    stem, ext = base.rsplit(".", 1) if "." in base else (base, "")
    if ext.lower() != phase:
        return None
    other = "test" if phase == "train" else "train"
    for cand in (f"{stem}.{other}", f"{stem}.{other}.gz"):
        p = source.path.with_name(cand)
        if p.is_file():
            return p
    return None


def _as_csv(source: Source) -> Source:
    """The table as comma-separated text (a space-aligned table converted line by line,
    the ``#`` of its header removed), as a stream Source named like the file."""
    data = tab.read_document(source)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if line.strip():
            lines[i] = line.replace(b"#", b"", 1)
            break
    if b"," not in _first_line(data[:4096]):
        lines = [_SPACES_RE.sub(b",", ln.strip(b" \t")) for ln in lines]
    return Source.from_stream(io.BytesIO(b"\n".join(lines)), name=source.name)


def _read_one(source: Source, phase: str, strict: bool) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One table as a frame; the columns renamed to the Caffe reader's tags."""
    csv_source = _as_csv(source)
    table = tab.read_table(csv_source, strict=strict)
    step = next((c.name for c in table.columns if c.name.lower() in ("numiters", "iters")), None)
    if step is None:
        raise ParseError(f"{source.name}: no NumIters/Iters column holds numbers")
    names = _TRAIN_NAMES if phase == "train" else _TEST_NAMES
    dropped = []
    kept = []
    for c in table.columns:
        low = c.name.lower()
        if c.name == step:
            kept.append(c)
            continue
        if phase == "test" and low in _TEST_DROP:
            dropped.append(c.name)
            continue
        c.name = names.get(low, f"{'train' if phase == 'train' else 'test0'}/{c.name}")
        kept.append(c)
    table.columns = kept
    frame, meta = tab.wide_to_frame(table, source, step=step, strict=strict, epoch_column=None)
    if dropped:
        meta["ignored_columns"] = [f"{d} (the test table repeats the training value)" for d in dropped]
    return frame, meta


def _merge(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    parts = []
    seen: set[str] = set()
    for frame in frames:
        for tag, grp in frame.groupby("tag", observed=True, sort=False):
            tag = str(tag)
            if tag in seen:
                continue  # the training table's value wins
            seen.add(tag)
            parts.append(
                tab.Points(
                    tag,
                    str(grp["source_tag"].iloc[0]),
                    grp["step"].to_numpy(np.int64),
                    grp["value"].to_numpy(np.float64),
                )
            )
    return tab.assemble_frame(parts)


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read a parse_log table and its sibling (``.train`` with ``.test``).

    Returns
    -------
    ParseResult
        ``meta``: ``step_unit`` ``iteration``, ``files`` (the tables read),
        ``skipped``, ``warnings``, ``truncated``; role hints for the loss, the LR and
        the test metrics.

    Raises
    ------
    ParseError
        If the table cannot be read (the message names the file and line).
    EmptyLogError
        If neither table holds a number.
    DamagedInputError
        In strict mode, for a damaged row or a truncated last line.
    """
    phase = _phase(source, _first_line(source.head[:4096]))
    sources = [(source, phase)]
    other = _sibling(source, phase)
    if other is not None:
        sources.append((Source.from_path(other), "test" if phase == "train" else "train"))
    sources.sort(key=lambda s: s[1] != "train")  # the training table first
    frames: list[pd.DataFrame] = []
    files: list[str] = []
    meta: dict[str, Any] = {"skipped": {}, "warnings": [], "files": files}
    for src, ph in sources:
        try:
            frame, m = _read_one(src, ph, strict)
        except EmptyLogError:
            if src is source:
                raise
            continue
        frames.append(frame)
        files.append(src.path.name if src.path is not None else src.name)
        _fold(meta, m, ph)
    frame, replaced = _merge(frames)
    meta["step_unit"], meta["step_column"] = "iteration", "NumIters"
    meta["replaced_points"] = replaced
    tags = set(frame["tag"].cat.categories)
    roles = {
        r: t
        for r, t in (
            ("loss", "train/loss"),
            ("lr", "train/lr"),
            ("val_loss", "test0/loss"),
            ("val_metric", "test0/accuracy"),
        )
        if t in tags
    }
    return ParseResult(frame, tab.finish_meta(meta), roles=roles)


def _fold(meta: dict[str, Any], m: dict[str, Any], phase: str) -> None:
    """Add one table's meta (counts, warnings prefixed with the table) to the run's."""
    for k, v in m.get("skipped", {}).items():
        meta["skipped"][k] = meta["skipped"].get(k, 0) + v
    meta["warnings"].extend(f"{phase} table: {w}" for w in m.get("warnings", []))
    if m.get("truncated"):
        meta["truncated"] = meta.get("truncated", 0) + m["truncated"]
    meta.setdefault("restarts", []).extend(m.get("restarts", []))
    for key in ("ignored_columns",):
        if key in m:
            meta.setdefault(key, []).extend(m[key])
