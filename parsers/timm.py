"""timm ``summary.csv`` (``train.py`` of pytorch-image-models).

One row per epoch: ``epoch,train_loss,eval_loss,eval_top1,eval_top5[,lr]``. The step
is the epoch; ``eval_*`` become ``val/*`` tags (``val/loss``, ``val/top1``).
``args.yaml`` beside it (timm writes it into the same output folder) goes to
``meta["hparams"]``.
"""

from __future__ import annotations

from gradlog.frame import ParseResult
from gradlog.frame.source import Source

from . import _tabular as tab

NAME = "timm"
DESCRIPTION = "timm summary.csv: epoch,train_loss,eval_loss,eval_top1,eval_top5[,lr]"


def sniff(source: Source) -> bool:
    """Return True for a CSV with ``epoch`` first, ``train_loss`` and ``eval_*`` columns."""
    hdr = tab.sniff_table(source)
    if hdr is None or not hdr.names or hdr.names[0].lower() != "epoch":
        return False
    low = hdr.lower()
    return "train_loss" in low and any(n.startswith("eval_") for n in low)


def read(source: Source, *, strict: bool = False) -> ParseResult:
    """Read a timm ``summary.csv``; the step is the epoch.

    Returns
    -------
    ParseResult

    Raises
    ------
    ParseError
        If the file cannot be read as a table (the message names the line).
    """
    frame, meta = tab.read_wide(source, step="epoch", strict=strict)
    hparams, warns, hp_file = tab.hparams_beside(
        source.path.parent if source.path is not None else None, ("args.yaml",)
    )
    meta["warnings"].extend(warns)
    if hp_file:
        meta["hparams_file"] = hp_file
    return ParseResult(frame, tab.finish_meta(meta, hparams=hparams))
