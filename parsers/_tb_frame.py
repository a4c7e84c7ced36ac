"""From a run's columns to the common frame: tag names, repeated points, the meta.

Source tags become ``<group>/<name>`` (:func:`_normalise`: phase folders, Keras's
``epoch_``/``batch_`` prefixes, PyTorch's ``add_scalars`` folders); rows are grouped by
tag and handed to :func:`gradlog.frame.build_frame`; points logged more than once at a
step are told apart (per-batch values at an epoch step, or a resumed run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gradlog.errors import EmptyLogError
from gradlog.frame import ParseResult, build_frame
from gradlog.frame.tags import normalise_tag

from ._tb_decode import _RunState
from ._tb_runs import SPLIT_DIRS
from ._tb_values import _stat_description

_KERAS_PREFIX_RE = re.compile(r"^(epoch|batch)_(.+)$")


def _add_scalars_name(src: str, prefix: str) -> str:
    """Return ``main/key`` for PyTorch's ``add_scalars`` layout, else ``src``.

    ``add_scalars("Loss", {"train": ..., "val": ...})`` writes tag ``Loss`` into the
    subdirectories ``Loss_train/`` and ``Loss_val/``: the source tag ``Loss_train/Loss``
    then means ``Loss/train``.
    """
    if not prefix:
        return src
    inner = src[len(prefix) + 1 :]
    flat = inner.replace("/", "_") + "_"
    if prefix.startswith(flat) and len(prefix) > len(flat):
        return f"{inner}/{prefix[len(flat) :]}"
    return src


def _normalise(source_tags: list[str], prefix_of: list[str]) -> list[str]:
    """Return the normalised tag for each source tag (unique, ``<group>/<name>``).

    Tags from a phase subdirectory (Keras's ``train/epoch_loss``,
    ``validation/epoch_loss``) take the phase as their group (``train/loss``,
    ``val/loss``); Keras's ``epoch_``/``batch_`` prefixes are dropped (when a run has
    both, the per-batch series keeps the plain name and the other ``_epoch``).
    PyTorch ``add_scalars`` folders (``Loss_train/Loss``) read as ``Loss/train``. Other
    tags go through :func:`gradlog.roles.normalise_tag`.
    """
    wanted: list[str] = []
    inner_names: dict[str, set[str]] = {}
    parsed: list[tuple[str, str, str] | None] = []
    for src, prefix in zip(source_tags, prefix_of, strict=True):
        if prefix and prefix.lower() in SPLIT_DIRS:
            # (a lone file's tags are not prefixed in the source: ``loss`` in ``test/``)
            inner = src[len(prefix) + 1 :] if src.startswith(prefix + "/") else src
            m = _KERAS_PREFIX_RE.match(inner)
            kind, base = (m.group(1), m.group(2)) if m else ("", inner)
            inner_names.setdefault(prefix, set()).add(f"{kind}:{base}")
            parsed.append((prefix, kind, base))
        else:
            parsed.append(None)
    for src, prefix, p in zip(source_tags, prefix_of, parsed, strict=True):
        if p is None:
            wanted.append(normalise_tag(_add_scalars_name(src, prefix)))
            continue
        prefix, kind, base = p
        if kind == "epoch" and f"batch:{base}" in inner_names[prefix]:
            base = f"{base}_epoch"
        group = normalise_tag(f"{prefix}/x").split("/", 1)[0]
        inner_group, _, rest = normalise_tag(base).partition("/")
        if inner_group not in ("train", group):  # e.g. grad_norm/total, metrics/mAP
            rest = f"{inner_group}/{rest}"
        wanted.append(f"{group}/{rest}")
    out: list[str] = []
    used: set[str] = set()
    # Names nobody else wants first, so a clash renames the later source tag only.
    for src, tag in zip(source_tags, wanted, strict=True):
        if tag in used:
            alt = src.strip().strip("/") or "unnamed"
            tag = alt if alt not in used and alt not in wanted else f"{tag}_2"
            i = 2
            while tag in used:
                i += 1
                tag = f"{tag.rsplit('_', 1)[0]}_{i}"
        used.add(tag)
        out.append(tag)
    return out


def _group_by_tag(columns: list[np.ndarray], lut_tag: np.ndarray) -> None:
    """Reorder ``columns`` (codes first) stably by tag, in place, one column at a time.

    Logs interleave their tags; grouping them here with a radix sort on the small tag
    codes (file order kept within a tag) lets :func:`build_frame` find the rows already
    sorted (the usual case: steps rise within each tag) instead of sorting all columns
    together, which needs several times the memory of the frame.
    """
    small = lut_tag.astype(np.int16) if len(lut_tag) < (1 << 15) else lut_tag
    key = small[columns[0]]
    if len(key) < 2 or bool(np.all(key[1:] >= key[:-1])):
        return
    order = np.argsort(key, kind="stable")
    del key
    for i in range(len(columns)):
        columns[i] = columns[i][order]


@dataclass(frozen=True)
class _Repeats:
    """Points logged one after another at the same step of the same tag."""

    points: int = 0  # how many were replaced by the next one
    steps: int = 0  # (tag, step) pairs holding such a run
    tags: tuple[str, ...] = ()


def _repeats_at_one_step(keys: np.ndarray, steps: np.ndarray, names: list[str]) -> _Repeats:
    """Return the points followed, within their tag and in file order, by another point
    at the same step (``keys``/``steps`` grouped by tag, file order kept within a tag).

    Such points are per-batch values written at the epoch step (Ultralytics YOLOv8 writes
    ~55 a step) or a value logged twice in a row, not a resumed run, whose re-logged
    steps come after the step went back.
    """
    if len(keys) < 2:
        return _Repeats()
    same = (keys[1:] == keys[:-1]) & (steps[1:] == steps[:-1])
    points = int(np.count_nonzero(same))
    if not points:
        return _Repeats()
    starts = int(np.count_nonzero(same[1:] & ~same[:-1])) + int(same[0])
    tags = tuple(names[int(k)] for k in np.unique(keys[1:][same]))
    return _Repeats(points, starts, tags)


def _replaced_warnings(name: str, replaced: int, repeats: _Repeats) -> list[str]:
    """Return the warnings that say what the ``replaced`` points were."""
    out: list[str] = []
    shown = ", ".join(repeats.tags[:5]) + (", ..." if len(repeats.tags) > 5 else "")
    per_step = (repeats.points + repeats.steps) / repeats.steps if repeats.steps else 0.0
    if repeats.points and per_step >= 3 and repeats.steps >= 2:
        out.append(
            f"{name}: {shown} hold about {per_step:.0f} values per step, written one after "
            f"another at the same step ({repeats.points} points in all): per-batch values "
            f"logged at the epoch step (as Ultralytics does); the last value at each step "
            f"was kept"
        )
    elif repeats.points:
        out.append(
            f"{name}: {repeats.points} points were logged twice in a row at the same "
            f"step ({shown}); the later record was kept"
        )
    resumed = replaced - repeats.points
    if resumed > 0:
        out.append(
            f"{name}: {resumed} points were logged again at a step already logged "
            f"(a resumed run?); the later record was kept"
        )
    return out


def _result(state: _RunState) -> ParseResult:
    cols = state.cols
    if cols.n == 0:
        found = ", ".join(f"{v} {k}" for k, v in sorted(state.ignored.items())) or "nothing else"
        raise EmptyLogError(f"{state.name}: no scalar or histogram in {state.events} events ({found})")
    columns = list(cols.take())  # codes, steps, values, walls
    all_names = sorted(state.tags, key=state.tags.__getitem__)  # by code
    used = np.flatnonzero(np.bincount(columns[0], minlength=len(all_names)))
    names = [all_names[i] for i in used]  # tags that have points
    norm = _normalise(names, [state.prefix_of[int(i)] for i in used])
    cats = sorted(set(norm))
    src_cats = sorted(names)
    pos = {t: i for i, t in enumerate(cats)}
    spos = {t: i for i, t in enumerate(src_cats)}
    lut_tag = np.zeros(len(all_names), dtype=np.int32)
    lut_tag[used] = [pos[t] for t in norm]
    lut_src = np.zeros(len(all_names), dtype=np.int32)
    lut_src[used] = [spos[t] for t in names]
    _group_by_tag(columns, lut_tag)
    repeats = _repeats_at_one_step(lut_tag[columns[0]], columns[1], cats)
    codes = columns.pop(0)
    columns[1] = columns[1].astype(np.float64, copy=False)
    tag_col = pd.Categorical.from_codes(lut_tag[codes], categories=pd.Index(cats, dtype=object))
    src_col = pd.Categorical.from_codes(lut_src[codes], categories=pd.Index(src_cats, dtype=object))
    del codes
    steps, values, walls = columns
    del columns
    frame, replaced = build_frame(tag_col, steps, values, walls, src_col)
    del tag_col, src_col, steps, values, walls

    statistics: dict[str, str] = {}
    tag_of = dict(zip(names, norm, strict=True))
    for src, (hist, stat, exact) in sorted(state.stats.items()):
        if src in tag_of:
            statistics[tag_of[src]] = _stat_description(stat, hist, exact)
    warnings = list(state.warnings)
    warnings.extend(_replaced_warnings(state.name, int(replaced), repeats))
    # Keras's TensorBoard callback logs per-epoch series as `epoch_<metric>` at the epoch
    # index; when every series is such, the step axis is the epoch
    per_epoch = all(n.rsplit("/", 1)[-1].startswith("epoch_") for n in names)
    meta: dict[str, Any] = {
        "step_unit": "epoch" if per_epoch else "step",
        "files": state.files,
        "records": state.records,
        "skipped": dict(state.skipped),
        "damage": state.damage,
        "truncated": state.truncated,
        "warnings": warnings,
        "restarts": state.restarts,
        "replaced_points": int(replaced),
        "repeated_points": repeats.points,
        "statistics": statistics,
        "hparams": state.hparams,
        "ignored": dict(sorted(state.ignored.items())),
        "file_version": ", ".join(sorted(state.file_versions)) or None,
    }
    return ParseResult(frame, meta)
