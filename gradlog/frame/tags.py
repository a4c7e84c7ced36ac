"""Tag names: the ``<group>/<name>`` form every parser gives its logged names.

The same rules serve every format, so a loss logged as ``loss`` (Keras, HF Trainer),
``train_loss`` (timm), ``train_loss_step`` (Lightning), ``Loss/train`` (TensorBoard) or
``train/loss`` (Caffe) becomes the tag ``train/loss`` everywhere; the name as logged
stays in the frame's ``source_tag`` column. Which tag plays which part (the loss, the
learning rate ...) is decided later, on the Run, by :mod:`gradlog.roles`.

Part of the frame contract: parsers import it; it imports nothing of gradlog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["normalise_tag", "normalise_tags", "GROUP_WORDS"]

_TRAIN_WORDS = ("train", "training", "trn", "tr")
_VAL_WORDS = ("val", "valid", "validation", "eval", "evaluation", "dev")
_TEST_WORDS = ("test", "testing")
GROUP_WORDS: dict[str, str] = {
    **{p: "train" for p in _TRAIN_WORDS},
    **{p: "val" for p in _VAL_WORDS},
    **{p: "test" for p in _TEST_WORDS},
}
# Words that name a held-out split even inside a name (``avg_test_acc``, ``best_val_loss``).
_EMBEDDEDGROUP_WORDS: dict[str, str] = {
    "val": "val",
    "valid": "val",
    "validation": "val",
    "eval": "val",
    "test": "test",
}
_LR_NAMES = frozenset({"lr", "learning_rate", "learningrate", "learning-rate", "lr0"})

# grad_norm, gradient_norm, grad-norm, gradnorm, grad_l2, grad_2norm [sep <layer>]
_GRAD_NORM_RE = re.compile(r"^(?:grad(?:ient)?[_-]?norm|grad_l2|grad_2norm)(?:[_/.\-](.+))?$", re.I)
# Lightning's grad_norm utility: grad_2.0_norm/<param>, grad_2.0_norm_total
# (older versions: grad_2.0_norm_<param>)
_LIGHTNING_GRAD_RE = re.compile(r"^grad_2(?:\.0)?_norm[_/](.+)$", re.I)
# <layer>_grad_norm, <layer>.grad_norm, <layer>/grad_norm; total_grad_norm, global_grad_norm
_SUFFIX_GRAD_RE = re.compile(r"^(.+?)[_./](?:grad(?:ient)?[_-]?norm)$", re.I)
_TOTAL_WORDS = frozenset({"total", "global", "all", "overall", "model"})
_ONE_GROUP_RE = re.compile(r"^([A-Za-z]+)[_\-](.+)$")
_SPACES_RE = re.compile(r"\s+")
#: A parameter group's learning rate: ``lr/pg1``, ``lr-SGD/pg1``, YOLOv5's ``x/lr1``.


def normalise_tag(name: str) -> str:
    """Return the ``<group>/<name>`` form of a logged column or tag name.

    ``loss`` -> ``train/loss``; ``train_loss`` -> ``train/loss``; ``val_loss`` ->
    ``val/loss``; ``eval_loss`` -> ``val/loss``; ``Loss/train`` -> ``train/loss``;
    ``avg_test_acc`` -> ``test/avg_acc``; ``learning_rate`` / ``lr`` -> ``train/lr``;
    ``grad_norm`` -> ``grad_norm/total``; ``grad_norm_conv1`` and ``conv1_grad_norm`` ->
    ``grad_norm/conv1``; Lightning's ``grad_2.0_norm/fc.weight`` -> ``grad_norm/fc.weight``
    and ``grad_2.0_norm_total`` -> ``grad_norm/total``; Lightning's ``train_loss_step`` ->
    ``train/loss`` and ``train_loss_epoch`` -> ``train/loss_epoch``. Names that already
    have a group (``metrics/mAP50(B)``, ``lr/pg0``, ``test0/loss``, ``grad_absmean/conv1/0``)
    keep it. Runs of white space become ``_``. The result is never empty, never has
    leading/trailing spaces and never has empty path parts.

    Returns
    -------
    str
    """
    raw = _SPACES_RE.sub("_", name.strip()).strip("/")
    raw = "/".join(p for p in raw.split("/") if p)
    if not raw:
        return "train/unnamed"
    grad = _grad_norm_tag(raw)
    if grad is not None:
        return grad
    parts = raw.split("/")
    if len(parts) >= 2:
        first, last = parts[0].lower(), parts[-1].lower()
        if first in GROUP_WORDS:
            rest = "/".join(parts[1:])
            rest = _strip_step_suffix(rest)
            if rest.lower() in _LR_NAMES:
                rest = "lr"
            return f"{GROUP_WORDS[first]}/{rest}"
        if len(parts) == 2 and last in GROUP_WORDS and first not in ("lr", "x"):
            # TensorBoard habit: Loss/train, Accuracy/val
            return f"{GROUP_WORDS[last]}/{_strip_step_suffix(parts[0].lower())}"
        return raw
    low = raw.lower()
    if low in _LR_NAMES:
        return "train/lr"
    if low.startswith(("lr-", "lr_")):
        return f"train/{raw}"  # Lightning LearningRateMonitor: lr-SGD, lr-Adam
    m1 = _ONE_GROUP_RE.match(raw)
    if m1 and m1.group(1).lower() in GROUP_WORDS:
        group = GROUP_WORDS[m1.group(1).lower()]
        rest = _strip_step_suffix(m1.group(2))
        if rest.lower() in _LR_NAMES:
            rest = "lr"
        return f"{group}/{rest}"
    tokens = raw.split("_")
    for i, tok in enumerate(tokens[1:-1], start=1):
        embedded = _EMBEDDEDGROUP_WORDS.get(tok.lower())
        if embedded is not None:
            group = embedded
            rest = "_".join(tokens[:i] + tokens[i + 1 :])
            return f"{group}/{_strip_step_suffix(rest)}"
    return f"train/{_strip_step_suffix(raw)}"


def _grad_norm_tag(raw: str) -> str | None:
    m = _GRAD_NORM_RE.match(raw) or _LIGHTNING_GRAD_RE.match(raw)
    if m:
        rest = (m.group(1) or "total").strip("/_.- ") or "total"
        rest = _strip_step_suffix(rest)
        return f"grad_norm/{'total' if rest.lower() in _TOTAL_WORDS else rest}"
    m = _SUFFIX_GRAD_RE.match(raw)
    if m:
        layer = m.group(1).strip("/_.- ")
        if not layer or layer.lower() in GROUP_WORDS:
            return "grad_norm/total"
        return f"grad_norm/{'total' if layer.lower() in _TOTAL_WORDS else layer}"
    return None


def _strip_step_suffix(name: str) -> str:
    # Lightning logs `<metric>_step` per step and `<metric>_epoch` per epoch:
    # the per-step series is the metric itself, the per-epoch one keeps its suffix.
    if name.endswith("_step") and len(name) > 5:
        return name[:-5]
    return name


def normalise_tags(names: Iterable[str]) -> dict[str, str]:
    """Return ``{source_name: tag}`` with every tag unique.

    When two names normalise to the same tag, the name that is already in that form
    (or, failing that, the first one) gets it; the others keep a ``<group>/<source
    name>`` form (``loss`` and ``train_loss`` -> ``train/loss`` and ``train/train_loss``),
    with ``_2``, ``_3`` ... appended if that is taken too, so that nothing is merged.
    Duplicate source names map to one entry.

    Returns
    -------
    dict from each distinct source name to its tag.
    """
    unique = list(dict.fromkeys(names))
    wanted = {n: normalise_tag(n) for n in unique}
    # The exact spelling wins a contested tag (``train/loss`` over ``loss``).
    owner: dict[str, str] = {}
    for n in unique:
        t = wanted[n]
        if t not in owner or (n.strip() == t and owner[t].strip() != t):
            owner[t] = n
    out: dict[str, str] = {}
    used = set(owner)
    for n in unique:
        t = wanted[n]
        if owner[t] == n:
            out[n] = t
            continue
        clean = "/".join(p for p in _SPACES_RE.sub("_", n.strip()).split("/") if p) or "unnamed"
        base = clean if "/" in clean else f"{t.split('/', 1)[0]}/{clean}"
        alt, i = base, 2
        while alt in used:
            alt = f"{base}_{i}"
            i += 1
        used.add(alt)
        out[n] = alt
    return out
