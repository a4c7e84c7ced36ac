"""Roles: which of a run's tags plays which part (the loss, the learning rate, the validation loss ...).

Roles (the keys of ``run.roles``):

=============== ======= ===========================================================
role            type    meaning
=============== ======= ===========================================================
``loss``        tag     the training loss as logged per step (raw, not smoothed)
``lr``          tag     the learning rate
``val_loss``    tag     a loss measured on held-out (fixed) data
``val_metric``  tag     a held-out quality metric (accuracy, top-1, mAP, WER ...)
``grad_total``  tag     the global gradient norm (all parameters)
``grad``        list    per-layer gradient statistics (L2 norms, or Caffe's mean |diff|)
=============== ======= ===========================================================

A role is ``None`` (or ``[]`` for ``grad``) when the run has no such series.

The same rules serve every format, so a loss logged as ``loss`` (Keras, HF Trainer),
``train_loss`` (timm), ``train_loss_step`` (Lightning), ``Loss/train`` (TensorBoard) or
``train/loss`` (Caffe) becomes the tag ``train/loss`` everywhere; the name as logged
stays in the frame's ``source_tag`` column.

Tag normalisation lives in the frame contract (:mod:`gradlog.frame.tags`); this module
reads the tags a Run holds. Parsers never import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gradlog.errors import RoleError
from gradlog.frame.tags import normalise_tag, normalise_tags

__all__ = [
    "ROLE_NAMES",
    "normalise_tag",
    "normalise_tags",
    "infer_roles",
    "apply_overrides",
    "missing_roles_message",
]

ROLE_NAMES: tuple[str, ...] = ("loss", "lr", "val_loss", "val_metric", "grad_total", "grad")

_TEST_NET_RE = re.compile(r"^test\d+$")
_TOKEN_RE = re.compile(r"[^a-z0-9]+")
_LR_TAG_RE = re.compile(r"^(?:lr|learning_rate)(?:[-_/].*)?$")
_LR_GROUP_RE = re.compile(r"^(?:lr|pg)(\d+)$")


def _name(tag: str) -> str:
    return tag.rsplit("/", 1)[-1].lower()


def _group(tag: str) -> str:
    return tag.split("/", 1)[0].lower() if "/" in tag else ""


def _is_heldout(tag: str) -> bool:
    g = _group(tag)
    return g in ("val", "test", "eval", "validation") or bool(_TEST_NET_RE.match(g))


def _is_stat_group(tag: str) -> bool:
    return _group(tag).startswith(("grad", "param", "weight", "fwd", "update", "lr", "x", "act"))


_METRIC_WORDS = (
    "acc",
    "accuracy",
    "top1",
    "top-1",
    "top5",
    "map",
    "map50",
    "f1",
    "wer",
    "cer",
    "bleu",
    "auc",
    "precision",
    "recall",
    "iou",
    "miou",
    "dice",
    "mae",
    "rmse",
    "perplexity",
    "ppl",
    "r2",
)
_NOT_METRIC_WORDS = ("runtime", "per_second", "samples", "steps", "flos", "epoch", "time", "memory", "mem")


def _metric_rank(tag: str) -> int | None:
    """0 when a token of the name is a metric word, 1 when a metric word is a substring."""
    name = _name(tag)
    if any(w in name for w in _NOT_METRIC_WORDS):
        return None
    tokens = set(_TOKEN_RE.split(name))
    if tokens & set(_METRIC_WORDS):
        return 0
    squashed = name.replace("_", "").replace("-", "")
    if any(squashed.startswith(w) or w in squashed for w in _METRIC_WORDS if len(w) >= 3):
        return 1
    return None


def _lr_group_rank(tag: str) -> int:
    """Rank a learning-rate tag by its parameter group (``lr/pg1``, ``x/lr1``): group 1
    first, then no group, then the others by number.

    Ultralytics/YOLO log one LR per group, and group 0 holds the biases, whose warm-up
    starts from ``warmup_bias_lr`` (0.1) and falls, while the weights' LR (group 1, the
    group the ``results.csv`` role hints name) rises: group 0 is not "the" LR.
    Lightning's LearningRateMonitor numbers groups from 1 (``lr-SGD/pg1``).
    """
    m = _LR_GROUP_RE.match(_name(tag))
    if m is None:
        return 1
    n = int(m.group(1))
    return 0 if n == 1 else 2 + n


def _metric_preference(tag: str) -> int:
    """0 for a summary metric (mAP over IoU 0.5:0.95), 1 for other mAP, accuracy ...,
    2 for precision or recall (one side of a trade-off, never the headline metric)."""
    name = _name(tag)
    if "map" in name and ("50-95" in name or "0.5:0.95" in name or "50_95" in name):
        return 0
    if "precision" in name or "recall" in name:
        return 2
    return 1


def infer_roles(tags: Iterable[str]) -> dict[str, Any]:
    """Infer the roles from normalised tag names.

    ``loss``: ``train/loss`` (then ``train/train_loss``, ``train/total_loss`` ...), else the
    shortest training tag whose name holds ``loss`` (never a held-out, smoothed, per-epoch
    or statistics tag while another exists). ``lr``: ``train/lr``, else ``lr/...``,
    ``train/lr-SGD``, ``x/lr1`` ... (parameter group 1 before the others: see
    :func:`_lr_group_rank`) ``val_loss``: a held-out (``val/``, ``test/``,
    ``test0/`` ...) loss, ``val/loss`` first. ``val_metric``: a held-out accuracy, top-1,
    mAP, WER ... (or Ultralytics' ``metrics/...``; mAP50-95 first, precision and recall
    last). ``grad_total``: ``grad_norm/total``.
    ``grad``: the per-layer ``grad_norm/<layer>`` tags, else Caffe's
    ``grad_absmean/<layer>/0``, else TensorBoard histogram norms ``.../l2`` of gradients.

    Returns
    -------
    dict with every key of :data:`ROLE_NAMES`; a tag name or None (``grad``: a list).
    """
    tags = list(tags)
    tagset = set(tags)
    roles: dict[str, Any] = {r: None for r in ROLE_NAMES}
    roles["loss"] = _loss_role(tags, tagset)
    roles["lr"] = _lr_role(tags)
    roles["val_loss"], roles["val_metric"] = _heldout_roles(tags)
    roles["grad_total"], roles["grad"] = _grad_roles(tags, tagset)
    return roles


def _loss_role(tags: list[str], tagset: set[str]) -> str | None:
    """The raw per-step training loss (see :func:`infer_roles`)."""
    for cand in (
        "train/loss",
        "train/train_loss",
        "train/total_loss",
        "train/loss_total",
        "train/objective",
        "train/loss_epoch",
    ):
        if cand in tagset and (cand != "train/loss_epoch" or not _has_step_loss(tags)):
            return cand
    cands = [t for t in tags if not _is_heldout(t) and "loss" in _name(t) and not _is_stat_group(t)]
    preferred = [t for t in cands if not t.endswith(("_smoothed", "_epoch", "_avg", "_ema"))]
    totals = [t for t in cands if t in ("train/loss_smoothed", "train/total") or "total" in _name(t)]
    pool = preferred or cands
    if len(preferred) >= 2 and totals:
        # several loss components (GoogLeNet's heads, Faster R-CNN's rpn/cls/bbox terms)
        # beside the total the framework prints (Caffe's 'Iteration N, loss = X'): a
        # component is not the loss
        return min(totals, key=lambda t: (_group(t) != "train", len(t), t))
    if pool:
        return min(pool, key=lambda t: (_group(t) not in ("train", ""), len(t), t))
    return None


def _lr_role(tags: list[str]) -> str | None:
    """The learning rate (``train/lr`` first; parameter group 1 before the others)."""
    lr_cands = [
        t
        for t in tags
        if not _is_heldout(t)
        and (
            _name(t) in ("lr", "learning_rate", "lr0", "pg0")
            or _LR_TAG_RE.match(_name(t))
            or (_group(t) == "x" and _LR_GROUP_RE.match(_name(t)))
            or t.lower().startswith(("lr/", "lr-", "lr_", "train/lr"))
        )
    ]
    if not lr_cands:
        return None
    return min(
        lr_cands,
        key=lambda t: (t != "train/lr", not t.startswith("train/"), _lr_group_rank(t), len(t), t),
    )


def _heldout_roles(tags: list[str]) -> tuple[str | None, str | None]:
    """The held-out loss and metric (``val/loss`` first; a metric by its rank)."""
    heldout = [t for t in tags if _is_heldout(t)]
    val_loss = val_metric = None
    vl = [t for t in heldout if "loss" in _name(t)]
    if vl:
        val_loss = min(
            vl, key=lambda t: (_name(t) != "loss", _group(t) != "val", t.endswith("_epoch"), len(t), t)
        )
    vm = [(r, t) for t in heldout if (r := _metric_rank(t)) is not None]
    if vm:
        val_metric = min(
            vm, key=lambda rt: (rt[0], _metric_preference(rt[1]), _group(rt[1]) != "val", len(rt[1]), rt[1])
        )[1]
    else:
        metrics = [t for t in tags if _group(t) == "metrics" and _metric_rank(t) is not None]
        if metrics:
            val_metric = min(metrics, key=lambda t: (_metric_preference(t), len(t), t))
    return val_loss, val_metric


def _grad_roles(tags: list[str], tagset: set[str]) -> tuple[str | None, list[str]]:
    """The global gradient norm and the per-layer gradient statistics."""
    total = "grad_norm/total" if "grad_norm/total" in tagset else None
    per_layer = sorted(
        t
        for t in tags
        if t.startswith("grad_norm/")
        and t not in ("grad_norm/total", "grad_norm/total_preclip")
        and not t.endswith("_epoch")
    )
    if not per_layer:
        # Caffe debug_info: mean |diff| of the weight blob (param 0) of each layer
        per_layer = sorted(t for t in tags if t.startswith("grad_absmean/") and t.endswith("/0"))
    if not per_layer:
        # TensorBoard gradient histograms reduced to their L2 norm
        per_layer = sorted(t for t in tags if t.endswith("/l2") and "grad" in t.lower())
    return total, per_layer


def _has_step_loss(tags: list[str]) -> bool:
    return any(
        not _is_heldout(t) and "loss" in _name(t) and not t.endswith("_epoch") and not _is_stat_group(t)
        for t in tags
    )


def missing_roles_message(
    roles: Mapping[str, Any],
    tags: Iterable[str],
    source_tags: Mapping[str, str] | None = None,
    *,
    source: str = "run",
) -> str | None:
    """Return a one-line warning when no training loss was found, else None.

    The line lists the columns (the names as logged when ``source_tags`` maps a
    source tag to its tag) and says how to name the loss.
    """
    if roles.get("loss"):
        return None
    tag_list = list(tags)
    if source_tags:
        names = sorted(source_tags)
    else:
        names = sorted(tag_list)
    shown = ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")
    return (
        f"{source}: no training loss found among the columns ({shown or 'none'}); "
        f"say which one it is with --role loss=COLUMN (or roles={{'loss': ...}})"
    )


def apply_overrides(
    roles: Mapping[str, Any],
    overrides: Mapping[str, Any] | None,
    tags: Iterable[str],
    *,
    aliases: Mapping[str, str] | None = None,
    source: str = "run",
) -> dict[str, Any]:
    """Return ``roles`` with the user's overrides applied.

    An override value may be a normalised tag or a source tag (``my_loss``, looked up
    in ``aliases``, a mapping from source tag to tag); ``grad`` takes a list or a
    comma-separated string.

    Raises
    ------
    RoleError
        If a role name is unknown or a tag is not in the run (the message lists the tags).
    """
    out = dict(roles)
    if not overrides:
        return out
    tagset = list(tags)
    alias = dict(aliases or {})
    for role, value in overrides.items():
        if role not in ROLE_NAMES:
            raise RoleError(f"unknown role {role!r}; roles are {', '.join(ROLE_NAMES)}")
        if role == "grad":
            items = value.split(",") if isinstance(value, str) else list(value or [])
            out[role] = [_resolve(str(v).strip(), tagset, alias, source) for v in items if str(v).strip()]
        else:
            out[role] = None if value in (None, "") else _resolve(str(value), tagset, alias, source)
    return out


def _resolve(name: str, tags: list[str], aliases: Mapping[str, str], source: str) -> str:
    if name in tags:
        return name
    if name in aliases:
        return aliases[name]
    stripped = name.strip()
    if stripped in aliases:
        return aliases[stripped]
    norm = normalise_tag(name)
    if norm in tags:
        return norm
    raise RoleError(f"{source}: no tag {name!r}; tags are: {', '.join(sorted(tags)) or '(none)'}")
