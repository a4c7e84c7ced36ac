"""Ultralytics ``results.csv`` (YOLOv5 and YOLOv8+).

One row per epoch, column names and values right-aligned with spaces
(``   train/box_loss``), grouped names: ``train/*_loss``, ``metrics/precision(B)``,
``metrics/mAP50-95(B)``, ``val/*_loss``, and the learning rate of each parameter group
(``lr/pg0..2``; YOLOv5: ``x/lr0..2``). YOLOv8 counts epochs from 1, YOLOv5 from 0; the
step is the epoch as logged.

Roles the format fixes: the loss is ``train/box_loss`` (the box-regression loss; the
others are ``train/cls_loss``, ``train/dfl_loss`` or ``train/obj_loss``), the learning
rate is parameter group 1 (the weights with decay: group 0 holds the biases, whose
warm-up starts from ``warmup_bias_lr``), the held-out metric is mAP50-95.

``args.yaml`` (YOLOv8) or ``opt.yaml`` + ``hyp.yaml`` (YOLOv5) beside the file go to
``meta["hparams"]`` (``lr0`` -> ``lr``, ``batch`` -> ``batch_size``, ``momentum``,
``weight_decay``, ``epochs`` -> ``max_epochs``, and ``optimizer`` in lower case: ``sgd``,
``adamw`` ...; None for ``auto``, which Ultralytics resolves at run time; YOLOv5's old
``adam: true/false`` gives ``adam``/``sgd``).
"""

from __future__ import annotations

from typing import Any

from gradlog.frame import ParseResult
from gradlog.frame.source import Source

from . import _tabular as tab

NAME = "ultralytics"
DESCRIPTION = "Ultralytics/YOLO results.csv: epoch, train/box_loss, metrics/mAP50(B), lr/pg0 ..."

HPARAM_FILES = ("args.yaml", "opt.yaml", "hyp.yaml")


def sniff(source: Source) -> bool:
    """Return True for a CSV with ``epoch`` first, ``train/*loss`` columns and
    ``metrics/...`` or per-group learning-rate columns."""
    hdr = tab.sniff_table(source)
    if hdr is None or not hdr.names or hdr.names[0].lower() != "epoch":
        return False
    low = hdr.lower()
    return any(n.startswith("train/") and n.endswith("loss") for n in low) and any(
        n.startswith(("metrics/", "lr/pg", "x/lr")) for n in low
    )


def _roles(tags: list[str]) -> dict[str, Any]:
    roles: dict[str, Any] = {}
    tagset = set(tags)
    if "train/box_loss" in tagset:
        roles["loss"] = "train/box_loss"
    for lr in ("lr/pg1", "x/lr1", "lr/pg0", "x/lr0"):
        if lr in tagset:
            roles["lr"] = lr
            break
    if "val/box_loss" in tagset:
        roles["val_loss"] = "val/box_loss"
    maps = sorted(
        t
        for t in tags
        if t.lower().startswith("metrics/") and ("map50-95" in t.lower() or "map_0.5:0.95" in t.lower())
    )
    if maps:
        roles["val_metric"] = maps[0]
    return roles


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read an Ultralytics ``results.csv``; the step is the epoch.

    Returns
    -------
    ParseResult
        with role hints (loss, lr, val_loss, val_metric) and ``meta["hparams"]``.

    Raises
    ------
    ParseError
        If the file cannot be read as a table (the message names the line).
    """
    frame, meta = tab.read_wide(source, step="epoch", strict=strict)
    hparams: dict[str, Any] = {}
    files = []
    directory = source.path.parent if source.path is not None else None
    for name in HPARAM_FILES:
        hp, warns, found = tab.hparams_beside(directory, (name,))
        meta["warnings"].extend(warns)
        if found:
            files.append(found)
            for k, v in hp.items():
                hparams.setdefault(k, v)
    if files:
        meta["hparams_file"] = ", ".join(files)
    if "optimizer" not in hparams and isinstance(hparams.get("adam"), bool):
        hparams["optimizer"] = "Adam" if hparams["adam"] else "SGD"  # YOLOv5 before 6.0
    hparams = tab.normalise_hparams(hparams)
    tags = list(frame["tag"].cat.categories)
    return ParseResult(frame, tab.finish_meta(meta, hparams=hparams), roles=_roles(tags))
