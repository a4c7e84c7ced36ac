"""Make the W&B fixture in tests/data/wandb/wandb/: a real run of the wandb SDK in offline
mode (no network, no account). Run with the wandb package installed (it is not a
gradlog dependency):

    WANDB_MODE=offline python tests/data/wandb/make_run.py OUT_DIR

then copy OUT_DIR/wandb/offline-run-*/run-*.wandb here (the logs/, tmp/ and
requirements.txt of the folder are not needed). Made with wandb 0.31.0.

The run: 120 steps of `loss` and `lr` (the LR drops 10x at step 80), `loss` = +inf at
step 60, a nested `val` dict (`val.loss`, `val.acc`) every 20 steps, a histogram and a
string every 40 steps (not scalars), and a config with the optimizer facts.
"""

import math
import os
import sys

import numpy as np
import wandb

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
run = wandb.init(
    project="gradlog-fixture",
    name="sgd-momentum",
    dir=sys.argv[1],
    config={"optimizer": "SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4, "batch_size": 64},
)
for step in range(120):
    d = {"loss": 2.0 * math.exp(-step / 40) + 0.01 * (step % 3), "lr": 0.05 if step < 80 else 0.005}
    if step % 20 == 19:
        d["val"] = {"loss": 2.1 * math.exp(-step / 50), "acc": step / 120}
    if step == 60:
        d["loss"] = float("inf")
    if step % 40 == 0:
        d["grads"] = wandb.Histogram(np.linspace(0, 1, 10))
        d["phase"] = "warm" if step == 0 else "main"
    run.log(d, step=step)
run.finish()
