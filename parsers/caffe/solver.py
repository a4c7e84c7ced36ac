"""Solver facts for the meta: the solver parameter dump, ``meta["hparams"]`` (optimizer
and its settings), the total loss of a multi-loss net, gradient clipping, the roles,
and what each tag measures."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gradlog.parsers.caffe import lines as L
from gradlog.parsers.caffe.launches import Launches
from gradlog.parsers.caffe.tags import Tags
from gradlog.parsers.caffe.tally import Tally

#: What each tag (prefix) measures; copied into ``meta["statistics"]``.
STATISTICS: dict[str, str] = {
    "train/<output>": "raw value of a train net output blob ('Train net output #k: <output> = v') "
    "at each display iteration; '/<j>' is appended for element j >= 1 of a "
    "multi-element output",
    "train/loss_smoothed": "the 'Iteration N ..., loss = X' value: the training loss averaged by "
    "Caffe over the last average_loss iterations (raw when average_loss = 1)",
    "train/lr": "learning rate used for iteration N ('Iteration N, lr = X')",
    "train/iter_per_s": "iterations per second since the previous display, from "
    "'Iteration N (X iter/s, ...)'; the first rate of each run is not kept "
    "(Caffe prints a meaningless one there)",
    "test<k>/<output>": "output of test net k, averaged by Caffe over test_iter batches, at the "
    "iteration of its 'Iteration N, Testing net (#k)' line (tested before "
    "iteration N's training step)",
    "test<k>/score<i>": "old (before Aug 2014) unnamed 'Test score #i' output of the test net",
    "test<k>/total_loss": "'Test loss: X' (test_compute_loss): the test net's total weighted loss",
    "grad_norm/total": "debug_info '[Backward] All net params (data, diff)': L2 norm of the gradient "
    "of all learnable parameters (before clipping, weight decay and momentum)",
    "grad_l1/total": "same line: L1 norm (sum of |diff|) of the gradient of all learnable parameters",
    "param_norm/total": "same line: L2 norm of all learnable parameters",
    "param_l1/total": "same line: L1 norm (sum of |data|) of all learnable parameters",
    "grad_norm/total_preclip": "global gradient L2 norm from 'Gradient clipping: scaling down "
    "gradients (L2 norm X > C)': only iterations that were clipped, "
    "only where the iteration is certain",
    "grad_absmean/<layer>/<param>": "debug_info '[Backward] Layer L, param blob P diff: m': MEAN "
    "ABSOLUTE gradient (asum(diff)/count) of a parameter blob, not "
    "an L2 norm; blob 0 is usually the weights, 1 the bias",
    "bwd_absmean/<layer>/<blob>": "'[Backward] Layer L, bottom blob B diff: m': mean |gradient| "
    "flowing into the layer's input blob",
    "fwd_absmean/<layer>/<blob>": "'[Forward] Layer L, top blob B data: m': mean |activation| of "
    "the layer's output blob",
    "param_absmean/<layer>/<param>": "'[Forward] Layer L, param blob P data: m': mean |weight|",
    "input_absmean/<blob>": "'[Forward] Input B data: m': mean |data| of a net input blob",
    "update_absmean/<layer>/<param>": "'[Update] Layer L, param P ... diff: m' (Caffe before "
    "Aug 2015): mean |step| the solver applied (lr, momentum and "
    "weight decay included)",
    "update_param_absmean/<layer>/<param>": "'[Update] Layer L, param P data: m': mean |weight| "
    "just before that step",
}

TOTAL_LOSS_DOC = (
    "'Iteration N ..., loss = X' of a net with several loss outputs of the same "
    "weight: the total weighted loss Caffe minimises (average_loss 1: not "
    "smoothed); its components are the train/<output> tags "
    "(meta['caffe']['multi_loss'])"
)


class Dump:
    """The solver or net parameter dump that follows its glog line (``kind``: ``solver``,
    ``net`` or None; ``depth``: the brace depth inside it; ``target``: the solver
    parameters read so far, top level only)."""

    def __init__(self) -> None:
        self.kind: str | None = None
        self.depth = 0
        self.target: dict[str, Any] = {}

    def start(self, kind: str) -> dict[str, Any]:
        """A dump of ``kind`` starts; return the dict its parameters go to."""
        self.kind, self.depth = kind, 0
        self.target = {}
        return self.target

    def top_line(self, line: bytes) -> None:
        """Read a line of a solver's dump at brace depth 0: a solver parameter, if it is one."""
        kv = L.param_line(line)
        if kv and kv[0] in L.SOLVER_KEYS:
            key, val = kv[0], L.solver_value(kv[1])
            if key in ("stepvalue", "test_iter"):
                self.target.setdefault(key, []).append(val)
            else:
                self.target[key] = val

    def take(self, line: bytes, tally: Tally) -> bool:
        """Read ``line`` (no glog prefix) when it is a dump's (counted as not data); return
        whether it was."""
        if self.kind == "solver":
            tally.skipped["parameter_dump_lines"] += 1
            d = self.depth
            if d == 0:
                self.top_line(line)
            self.depth = max(0, d + line.count(b"{") - line.count(b"}"))
            return True
        if self.kind == "net" or L.PROTO_LINE_RE.match(line):
            tally.skipped["parameter_dump_lines"] += 1
            return True
        return False


def hparams(launches: Launches) -> dict[str, Any]:
    """The solver of the last run that printed its parameters, as ``meta["hparams"]``
    (None for what it did not print; the optimizer in lower case, ``sgd`` when the
    parameters name no solver type)."""
    solver: dict[str, Any] = {}
    policy = None
    for r in launches.all:
        if r.solver:
            solver = r.solver
        if r.lr_policy:
            policy = r.lr_policy
    out: dict[str, Any] = {key: solver.get(key) for key in L.HPARAM_KEYS}
    out["optimizer"] = L.optimizer_name(solver.get("type", solver.get("solver_type"))) if solver else None
    if out["lr_policy"] is None and policy:
        out["lr_policy"] = policy
    return out


def total_loss(tags: Tags, hparams: dict[str, Any]) -> dict[str, Any] | None:
    """For a net whose loss is several outputs of the same (largest) loss weight (Faster
    R-CNN's ``rpn_cls_loss``, ``rpn_loss_bbox``, ``loss_cls``, ``loss_bbox``), the total
    that ``Iteration N, loss = X`` prints is the loss: it is tagged ``train/loss`` (its
    rows renamed here) when Caffe does not smooth it (``average_loss`` 1 or unknown);
    smoothed, it keeps its ``train/loss_smoothed`` tag and still plays the loss.

    Returns
    -------
    ``{"tag", "components", "average_loss"}``, or None for any other net (one loss
    output, or a main head with auxiliary ones of smaller weight: that head is the loss).
    """
    weights = {t: w for t, w in tags.loss_weight.items() if w > 0}
    if len(weights) < 2 or "train/loss" in tags.tag_ids:
        return None
    top = max(weights.values())
    if sum(1 for w in weights.values() if w == top) < 2:
        return None
    avg = hparams.get("average_loss")
    smoothed = isinstance(avg, (int, float)) and not isinstance(avg, bool) and avg > 1
    tag = "train/loss_smoothed"
    if not smoothed:
        tag = "train/loss"
        tags.rename(tags.t_smoothed, tag)
    return {"tag": tag, "components": sorted(weights), "average_loss": avg}


def clipping(
    hparams: dict[str, Any], frame: pd.DataFrame, events: int, threshold_seen: float | None
) -> dict[str, Any] | None:
    """``{"threshold", "count", "placed", "tag"}`` when the log clips gradients (its
    clipping lines, or ``clip_gradients`` > 0 in the solver), else None."""
    clip = hparams.get("clip_gradients")
    on = isinstance(clip, (int, float)) and not isinstance(clip, bool) and clip > 0
    if not events and not on:
        return None
    threshold = threshold_seen
    if threshold is None and on and clip is not None:
        threshold = float(clip)
    tag = "grad_norm/total_preclip"
    placed = int((frame["tag"] == tag).sum()) if events else 0
    return {"threshold": threshold, "count": events, "placed": placed, "tag": tag if placed else None}


def roles(names: Tags, tags: set[str], total: str | None = None) -> dict[str, Any]:
    """The role hints (``total``: the tag of a multi-loss net's total loss)."""
    found: dict[str, Any] = {}
    outputs = [
        t
        for t in names.tag_names
        if t in tags
        and t.startswith("train/")
        and t not in ("train/loss_smoothed", "train/lr", "train/iter_per_s")
    ]
    losses = [t for t in outputs if t in names.loss_weight or "loss" in t.rsplit("/", 1)[-1]]
    if total is not None:
        found["loss"] = total
    elif "train/loss" in tags:
        found["loss"] = "train/loss"
    elif losses:
        # the loss output with the largest loss weight (the main head, not an auxiliary one)
        found["loss"] = max(losses, key=lambda t: names.loss_weight.get(t, 0.0))
    elif "train/loss_smoothed" in tags:
        found["loss"] = "train/loss_smoothed"
    if "train/lr" in tags:
        found["lr"] = "train/lr"
    if "grad_norm/total" in tags:
        found["grad_total"] = "grad_norm/total"
    loss = found.get("loss")
    if loss and loss.startswith("train/") and loss != "train/loss_smoothed":
        name = loss[len("train/") :]
        if f"test0/{name}" in tags:
            found["val_loss"] = f"test0/{name}"
        head = name.split("/", 1)[0] + "/" if "/" in name else ""
        metrics = sorted(
            t
            for t in tags
            if t.startswith("test0/" + head)
            and any(w in t.rsplit("/", 1)[-1].lower() for w in ("acc", "top-1", "top1"))
        )
        if metrics:
            found["val_metric"] = metrics[0]
    return found
