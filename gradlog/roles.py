"""Tag names: normalising them to ``<group>/<name>`` and inferring which tag plays which role.

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
This module is a leaf: parsers import it to normalise their column names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gradlog.errors import RoleError

__all__ = ["ROLE_NAMES", "normalise_tag", "normalise_tags", "infer_roles", "apply_overrides"]

ROLE_NAMES: tuple[str, ...] = ("loss", "lr", "val_loss", "val_metric", "grad_total", "grad")

_TRAIN_PREFIXES = ("train", "training", "trn", "tr")
_VAL_PREFIXES = ("val", "valid", "validation", "eval", "evaluation", "dev")
_TEST_PREFIXES = ("test",)
_GROUP_WORDS = {
    **{p: "train" for p in _TRAIN_PREFIXES},
    **{p: "val" for p in _VAL_PREFIXES},
    **{p: "test" for p in _TEST_PREFIXES},
}
_LR_NAMES = {"lr", "learning_rate", "learningrate", "learning-rate", "lr0"}
_GRAD_NORM_RE = re.compile(r"^(?:grad(?:ient)?[_-]?norm|gradnorm|grad_l2|grad_2norm)(?:[_/.-](.+))?$", re.I)
_SPLIT_RE = re.compile(r"[/.]")
_ONE_GROUP_RE = re.compile(r"^([A-Za-z]+)[_\-](.+)$")


def normalise_tag(name: str) -> str:
    """Return the ``<group>/<name>`` form of a logged column or tag name.

    ``loss`` -> ``train/loss``; ``train_loss`` -> ``train/loss``; ``val_loss`` ->
    ``val/loss``; ``eval_loss`` -> ``val/loss``; ``Loss/train`` -> ``train/loss``;
    ``learning_rate`` / ``lr`` -> ``train/lr``; ``grad_norm`` -> ``grad_norm/total``;
    ``grad_norm_conv1`` -> ``grad_norm/conv1``; Lightning's ``train_loss_step`` ->
    ``train/loss`` and ``train_loss_epoch`` -> ``train/loss_epoch``. Names that already
    have a group (``metrics/mAP50(B)``, ``lr/pg0``) keep it. The result never has
    leading/trailing spaces or empty path parts.
    """
    raw = name.strip().strip("/")
    if not raw:
        return "train/unnamed"
    m = _GRAD_NORM_RE.match(raw)
    if m:
        rest = (m.group(1) or "total").strip("/_.- ") or "total"
        return f"grad_norm/{rest}"
    parts = [p for p in raw.split("/") if p]
    if len(parts) >= 2:
        first, last = parts[0].lower(), parts[-1].lower()
        if first in _GROUP_WORDS:
            group = _GROUP_WORDS[first]
            rest = "/".join(parts[1:])
            return f"{group}/{_strip_step_suffix(rest)}"
        if len(parts) == 2 and last in _GROUP_WORDS and first not in ("lr", "x"):
            return f"{_GROUP_WORDS[last]}/{_strip_step_suffix(parts[0].lower())}"
        return "/".join(parts)
    low = raw.lower()
    if low in _LR_NAMES:
        return "train/lr"
    if low.startswith("lr-") or low.startswith("lr_"):
        return f"train/{raw}"  # Lightning LearningRateMonitor: lr-SGD, lr-Adam/pg1
    m1 = _ONE_GROUP_RE.match(raw)
    if m1 and m1.group(1).lower() in _GROUP_WORDS:
        group = _GROUP_WORDS[m1.group(1).lower()]
        rest = _strip_step_suffix(m1.group(2))
        if rest.lower() in _LR_NAMES:
            rest = "lr"
        return f"{group}/{rest}"
    return f"train/{_strip_step_suffix(raw)}"


def _strip_step_suffix(name: str) -> str:
    # Lightning logs `<metric>_step` per step and `<metric>_epoch` per epoch:
    # the per-step series is the metric itself, the per-epoch one keeps its suffix.
    if name.endswith("_step") and len(name) > 5:
        return name[:-5]
    return name


def normalise_tags(names: Iterable[str]) -> dict[str, str]:
    """Return ``{source_name: tag}`` with every tag unique.

    When two names normalise to the same tag (``loss`` and ``train_loss``), the ones
    after the first keep a ``<group>/<source name>`` form so that nothing is merged.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        tag = normalise_tag(name)
        if tag in used:
            alt = "train/" + name.strip().replace(" ", "_").strip("/")
            tag = alt if "/" not in name.strip("/") else name.strip().strip("/")
            i = 2
            base = tag
            while tag in used:
                tag = f"{base}_{i}"
                i += 1
        used.add(tag)
        out[name] = tag
    return out


def _name(tag: str) -> str:
    return tag.rsplit("/", 1)[-1].lower()


def _group(tag: str) -> str:
    return tag.split("/", 1)[0].lower() if "/" in tag else ""


def _is_heldout(tag: str) -> bool:
    g = _group(tag)
    return g in ("val", "test", "eval", "validation") or bool(re.match(r"^test\d+$", g))


_METRIC_WORDS = ("acc", "accuracy", "top1", "top-1", "top5", "map", "map50", "f1", "wer", "bleu",
                 "auc", "precision", "recall", "iou", "dice", "mae", "rmse", "perplexity")


def infer_roles(tags: Iterable[str]) -> dict[str, Any]:
    """Infer the roles from normalised tag names.

    Returns
    -------
    dict with every key of :data:`ROLE_NAMES`; a tag name or None (``grad``: a list).
    """
    tags = list(tags)
    tagset = set(tags)
    roles: dict[str, Any] = {r: None for r in ROLE_NAMES}
    roles["grad"] = []

    # loss: the raw per-step training loss
    for cand in ("train/loss", "train/train_loss", "train/loss_step", "train/total_loss",
                 "train/objective"):
        if cand in tagset:
            roles["loss"] = cand
            break
    else:
        train_losses = sorted(
            (t for t in tags if not _is_heldout(t) and "loss" in _name(t)
             and not t.endswith("_smoothed") and not t.endswith("_epoch")
             and not _group(t).startswith(("grad", "param", "fwd", "update", "lr"))),
            key=lambda t: (len(t), t),
        )
        if not train_losses:
            train_losses = sorted((t for t in tags if not _is_heldout(t) and "loss" in _name(t)),
                                  key=lambda t: (len(t), t))
        if train_losses:
            roles["loss"] = train_losses[0]

    # lr
    lr_cands = [t for t in tags if _name(t) in ("lr", "learning_rate", "lr0", "pg0")
                or re.match(r"^(lr|learning_rate)([-_/].*)?$", _name(t))
                or re.match(r"^lr[-_/]", t.lower()) or t.lower().startswith("lr/")
                or t.lower().startswith("train/lr")]
    if lr_cands:
        roles["lr"] = sorted(lr_cands, key=lambda t: (t != "train/lr", len(t), t))[0]

    # held-out loss and metric
    heldout = [t for t in tags if _is_heldout(t)]
    vl = sorted((t for t in heldout if "loss" in _name(t)),
                key=lambda t: (_name(t) != "loss", not t.startswith("val/"), len(t), t))
    if vl:
        roles["val_loss"] = vl[0]
    vm = sorted((t for t in heldout if any(w in _name(t).replace("_", "") for w in _METRIC_WORDS)
                 or any(_name(t).startswith(w) for w in _METRIC_WORDS)),
                key=lambda t: (not t.startswith("val/"), len(t), t))
    if not vm:
        vm = sorted((t for t in tags if _group(t) == "metrics"), key=lambda t: (len(t), t))
    if vm:
        roles["val_metric"] = vm[0]

    # gradients
    if "grad_norm/total" in tagset:
        roles["grad_total"] = "grad_norm/total"
    per_layer = sorted(t for t in tags if t.startswith("grad_norm/")
                       and t not in ("grad_norm/total", "grad_norm/total_preclip"))
    if not per_layer:
        # Caffe debug_info: mean |diff| of the weight blob (param 0) of each layer
        per_layer = sorted(t for t in tags if t.startswith("grad_absmean/") and t.endswith("/0"))
    if not per_layer:
        # TensorBoard gradient histograms reduced to their L2 norm
        per_layer = sorted(t for t in tags if t.endswith("/l2") and "grad" in t.lower())
    roles["grad"] = per_layer
    return roles


def apply_overrides(roles: Mapping[str, Any], overrides: Mapping[str, Any] | None,
                    tags: Iterable[str], *, aliases: Mapping[str, str] | None = None,
                    source: str = "run") -> dict[str, Any]:
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
            items = value.split(",") if isinstance(value, str) else list(value)
            out[role] = [_resolve(v.strip(), tagset, alias, source) for v in items if v.strip()]
        else:
            out[role] = None if value in (None, "") else _resolve(str(value), tagset, alias, source)
    return out


def _resolve(name: str, tags: list[str], aliases: Mapping[str, str], source: str) -> str:
    if name in tags:
        return name
    if name in aliases:
        return aliases[name]
    norm = normalise_tag(name)
    if norm in tags:
        return norm
    raise RoleError(f"{source}: no tag {name!r}; tags are: {', '.join(sorted(tags)) or '(none)'}")
