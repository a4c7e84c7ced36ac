"""Regenerate the PyTorch sample logs in ``sample_logs/`` from real training runs.

How to regenerate (torch is needed only here, never by gradlog or its tests)::

    python -m venv /tmp/samples-venv && /tmp/samples-venv/bin/pip install torch==2.13.0 scikit-learn
    /tmp/samples-venv/bin/python sample_logs/make_torch_samples.py

It runs on CPU, single-threaded and seeded, in well under two minutes, and writes

``pytorch_cnn/train_log.csv``
    the wide CSV a hand-written PyTorch loop writes: one row per optimizer step with
    ``step, epoch, loss, lr``, the L2 norm of every layer's weight gradient
    (``grad_norm/conv1`` ... ``grad_norm/fc2``) and of all gradients together
    (``grad_norm/total``); ``val_loss, val_acc`` every 20 steps (empty cells otherwise).
``pytorch_cnn/lightning_logs/version_0/{metrics.csv,hparams.yaml}``
    the same run as Lightning's ``CSVLogger`` lays it out (sparse rows, sorted columns,
    ``train_loss_step`` every 10 steps, ``train_loss_epoch``/``val_loss``/``val_acc`` at
    each epoch end, ``lr-SGD`` as ``LearningRateMonitor`` logs an epoch-interval scheduler).
``pytorch_cnn/trainer_state.json``
    the same run as a Hugging Face ``Trainer`` state file (``log_history`` every 10 steps
    with loss/grad_norm/learning_rate, eval entries every 20 steps, the final summary).
``pytorch_cnn_high_lr/train_log.csv``
    the same network trained with too large a learning rate (0.06, momentum 0.9, clean
    labels) and decayed 10x at epoch 14 (wide CSV as above, validation every 10 steps).
    The minibatch loss and the validation loss on fixed data swing widely until the
    decay, and much less after it.  What the swings are, measured on the same
    configuration in ``bench/diagnosis`` (family ``replica_oscillating``): successive
    full-batch gradients stay aligned (cosine about +0.9) and eta*lambda_max stays far
    below the heavy-ball limit 2(1+beta), so this is a noise floor set by the learning
    rate (the full training loss drops about 68% right after the decay), not a
    period-2 bounce across a valley.

The model is a scaled-down replica of the network in the motivating question: 5 conv +
2 fully connected layers, leaky ReLU, dropout, batch 32, SGD with momentum 0.9 and a
step-decaying learning rate, on scikit-learn's 8x8 digits upsampled to 16x16.

Why label noise in the plateau run: digits is so clean that this network drives the
training loss towards zero whatever the learning rate, and the gradient norms then fall
with it.  Real data sets carry label noise and ambiguous examples that set a floor under
the loss; here 30% of the *training* labels are redrawn uniformly at random (seeded; the
validation labels stay clean).  With that floor the logged loss stops improving early
while every layer's gradient norm rises slowly as the network starts to fit the noise.
Nothing in the logs is post-processed: every number is what the run produced.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2")
N_TRAIN = 1280  # 40 steps of 32 per epoch


@dataclass(frozen=True)
class Config:
    """Hyperparameters of one training run."""

    lr: float
    momentum: float
    weight_decay: float
    dropout: float
    epochs: int
    milestones: tuple[int, ...]
    gamma: float
    label_noise: float
    eval_every: int
    batch_size: int = 32
    leaky_slope: float = 0.01
    seed: int = 0


PLATEAU = Config(lr=0.05, momentum=0.9, weight_decay=0.0, dropout=0.3, epochs=45,
                 milestones=(8, 30), gamma=0.3, label_noise=0.3, eval_every=20)
OSCILLATING = Config(lr=0.06, momentum=0.9, weight_decay=5e-4, dropout=0.3, epochs=24,
                     milestones=(14,), gamma=0.1, label_noise=0.0, eval_every=10)


class Net(nn.Module):
    """5 conv + 2 FC layers with leaky ReLU and dropout, for 1x16x16 inputs."""

    def __init__(self, dropout: float, slope: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 16, 3, padding=1)
        self.conv4 = nn.Conv2d(16, 16, 3, padding=1)
        self.conv5 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, 10)
        self.dropout = dropout
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, self.slope)  # noqa: E731
        x = act(self.conv1(x))
        x = F.max_pool2d(act(self.conv2(x)), 2)        # 8x8
        x = act(self.conv3(x))
        x = F.max_pool2d(act(self.conv4(x)), 2)        # 4x4
        x = F.max_pool2d(act(self.conv5(x)), 2)        # 2x2
        x = F.dropout(x.flatten(1), self.dropout, self.training)
        x = F.dropout(act(self.fc1(x)), self.dropout, self.training)
        return self.fc2(x)


def digits(label_noise: float) -> tuple[torch.Tensor, ...]:
    """Return ``(x_train, y_train, x_val, y_val)``; only training labels get noise."""
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    y = torch.tensor(d.target)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    tr, va = perm[:N_TRAIN], perm[N_TRAIN:]
    mean, std = x[tr].mean(), x[tr].std()
    x = (x - mean) / std
    y_tr = y[tr].clone()
    if label_noise > 0:
        g = torch.Generator().manual_seed(123)
        redraw = torch.rand(len(y_tr), generator=g) < label_noise
        y_tr[redraw] = torch.randint(0, 10, (int(redraw.sum()),), generator=g)
    return x[tr], y_tr, x[va], y[va]


@dataclass
class History:
    """What one run produced: per-step rows and per-evaluation rows."""

    config: Config
    steps: list[dict] = field(default_factory=list)
    evals: dict[int, dict] = field(default_factory=dict)
    steps_per_epoch: int = 0
    train_seconds: float = 0.0


def train(cfg: Config) -> History:
    """Train ``Net`` under ``cfg`` and return everything the loggers need."""
    torch.manual_seed(cfg.seed)
    x_tr, y_tr, x_va, y_va = digits(cfg.label_noise)
    net = Net(cfg.dropout, cfg.leaky_slope)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones), cfg.gamma)
    shuffle = torch.Generator().manual_seed(cfg.seed + 1)
    hist = History(cfg, steps_per_epoch=len(y_tr) // cfg.batch_size)
    step = 0
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(y_tr), generator=shuffle)
        for b in range(hist.steps_per_epoch):
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            net.train()
            loss = F.cross_entropy(net(x_tr[idx]), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            norms = {n: getattr(net, n).weight.grad.norm().item() for n in LAYERS}
            total = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in net.parameters()])).item()
            lr = opt.param_groups[0]["lr"]
            opt.step()
            hist.steps.append({"step": step, "epoch": epoch, "loss": loss.item(), "lr": lr,
                               **{f"grad_norm/{n}": v for n, v in norms.items()},
                               "grad_norm/total": total})
            if (step + 1) % cfg.eval_every == 0:
                te = time.perf_counter()
                net.eval()
                with torch.no_grad():
                    out = net(x_va)
                    hist.evals[step] = {
                        "val_loss": F.cross_entropy(out, y_va).item(),
                        "val_acc": (out.argmax(1) == y_va).float().mean().item(),
                        "seconds": time.perf_counter() - te, "n": len(y_va)}
            step += 1
        sched.step()
    hist.train_seconds = time.perf_counter() - t0
    return hist


def write_wide_csv(hist: History, path: Path) -> None:
    """Write the per-step wide CSV (empty cells where validation was not run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = ["step", "epoch", "loss", "lr", *[f"grad_norm/{n}" for n in LAYERS],
            "grad_norm/total", "val_loss", "val_acc"]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for row in hist.steps:
            ev = hist.evals.get(row["step"], {})
            w.writerow({**row, "val_loss": ev.get("val_loss", ""),
                        "val_acc": ev.get("val_acc", "")})


def write_lightning(hist: History, version_dir: Path, log_every_n_steps: int = 10) -> None:
    """Write ``metrics.csv`` and ``hparams.yaml`` as Lightning's CSVLogger lays them out.

    Row order and step numbers follow the Trainer: ``lr-SGD`` at each epoch start (step =
    batches stepped so far, no epoch column), ``train_loss_step`` when ``(step + 1)`` is a
    multiple of ``log_every_n_steps``, then at the last batch of each epoch the validation
    row and the ``train_loss_epoch`` row, both at that batch's step.  Columns are sorted.
    """
    cfg, spe = hist.config, hist.steps_per_epoch
    rows: list[dict] = []
    for epoch in range(cfg.epochs):
        first = epoch * spe
        rows.append({"lr-SGD": hist.steps[first]["lr"], "step": first})
        seg = hist.steps[first:first + spe]
        for r in seg:
            if (r["step"] + 1) % log_every_n_steps == 0:
                rows.append({"train_loss_step": r["loss"], "epoch": epoch, "step": r["step"]})
        last = first + spe - 1
        ev = hist.evals[last]
        rows.append({"val_loss": ev["val_loss"], "val_acc": ev["val_acc"],
                     "epoch": epoch, "step": last})
        rows.append({"train_loss_epoch": sum(r["loss"] for r in seg) / len(seg),
                     "epoch": epoch, "step": last})
    version_dir.mkdir(parents=True, exist_ok=True)
    keys = sorted(set().union(*rows))
    with (version_dir / "metrics.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    hparams = {"batch_size": cfg.batch_size, "dropout": cfg.dropout, "epochs": cfg.epochs,
               "gamma": cfg.gamma, "label_noise": cfg.label_noise, "lr": cfg.lr,
               "milestones": list(cfg.milestones), "momentum": cfg.momentum,
               "seed": cfg.seed, "weight_decay": cfg.weight_decay}
    lines = []
    for k in sorted(hparams):  # yaml.dump(default_flow_style=False) layout, keys sorted
        v = hparams[k]
        if isinstance(v, list):
            lines.append(f"{k}:")
            lines.extend(f"- {item}" for item in v)
        else:
            lines.append(f"{k}: {v}")
    (version_dir / "hparams.yaml").write_text("\n".join(lines) + "\n")


def write_hf_state(hist: History, path: Path, logging_steps: int = 10,
                   eval_steps: int = 20) -> None:
    """Write a Hugging Face ``trainer_state.json`` for the run.

    HF counts optimizer steps from 1; at global step ``k`` the logged ``loss`` is the mean
    minibatch loss since the previous log, ``grad_norm`` the total norm of the last step,
    and ``learning_rate`` the scheduler's value after step ``k`` (the next step's LR).
    """
    cfg, spe = hist.config, hist.steps_per_epoch
    n = len(hist.steps)
    log: list[dict] = []
    for k in range(1, n + 1):
        if k % logging_steps == 0:
            window = hist.steps[k - logging_steps:k]
            nxt = hist.steps[k]["lr"] if k < n else hist.steps[-1]["lr"] * (
                cfg.gamma if cfg.epochs in cfg.milestones else 1.0)
            log.append({"epoch": k / spe, "grad_norm": hist.steps[k - 1]["grad_norm/total"],
                        "learning_rate": nxt,
                        "loss": sum(r["loss"] for r in window) / len(window), "step": k})
        if k % eval_steps == 0 and (k - 1) in hist.evals:
            ev = hist.evals[k - 1]
            secs = max(ev["seconds"], 1e-6)
            log.append({"epoch": k / spe, "eval_accuracy": ev["val_acc"],
                        "eval_loss": ev["val_loss"], "eval_runtime": round(secs, 4),
                        "eval_samples_per_second": round(ev["n"] / secs, 3),
                        "eval_steps_per_second": round(1 / secs, 3), "step": k})
    secs = hist.train_seconds
    log.append({"epoch": float(cfg.epochs), "step": n, "total_flos": 0.0,
                "train_loss": sum(r["loss"] for r in hist.steps) / n,
                "train_runtime": round(secs, 4),
                "train_samples_per_second": round(n * cfg.batch_size / secs, 3),
                "train_steps_per_second": round(n / secs, 3)})
    state = {
        "best_global_step": None, "best_metric": None, "best_model_checkpoint": None,
        "epoch": float(cfg.epochs), "eval_steps": eval_steps, "global_step": n,
        "is_hyper_param_search": False, "is_local_process_zero": True,
        "is_world_process_zero": True, "log_history": log, "logging_steps": logging_steps,
        "max_steps": n, "num_input_tokens_seen": 0, "num_train_epochs": cfg.epochs,
        "save_steps": 500,
        "stateful_callbacks": {"TrainerControl": {"args": {
            "should_epoch_stop": False, "should_evaluate": False, "should_log": False,
            "should_save": True, "should_training_stop": True}, "attributes": {}}},
        "total_flos": 0.0, "train_batch_size": cfg.batch_size, "trial_name": None,
        "trial_params": None}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def main() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    plateau = train(PLATEAU)
    out = HERE / "pytorch_cnn"
    write_wide_csv(plateau, out / "train_log.csv")
    write_lightning(plateau, out / "lightning_logs" / "version_0")
    write_hf_state(plateau, out / "trainer_state.json")
    osc = train(OSCILLATING)
    write_wide_csv(osc, HERE / "pytorch_cnn_high_lr" / "train_log.csv")
    for name, h in (("pytorch_cnn", plateau), ("pytorch_cnn_high_lr", osc)):
        print(f"{name}: {len(h.steps)} steps in {h.train_seconds:.1f} s, "
              f"final loss {h.steps[-1]['loss']:.3f}")


if __name__ == "__main__":
    main()
