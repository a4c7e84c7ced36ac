"""Regenerate the PyTorch sample logs in ``sample_logs/`` from real training runs.

How to regenerate (torch is needed only here, never by gradlog or its tests)::

    python -m venv /tmp/samples-venv && /tmp/samples-venv/bin/pip install torch==2.13.0 scikit-learn
    /tmp/samples-venv/bin/python sample_logs/make_torch_samples.py

It runs on CPU, single-threaded and seeded, in well under a minute, and writes

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

The ``pytorch_cnn`` run (4,000 steps, 100 epochs of 40): LR 0.05 halved at epochs 6, 20
and 50 (steps 240, 800, 2,000: 0.05 -> 0.025 -> 0.0125 -> 0.00625), weight decay 5e-3,
dropout 0.3, He initialisation of the leaky-ReLU layers, training images shifted at
random by up to 2 pixels, and 30% of the *training* labels redrawn uniformly at random
once (seeded; the validation labels stay clean).

Why label noise: digits is so clean that this network drives the training loss towards
zero whatever the learning rate, and the gradient norms then fall with it.  Real data
sets carry label noise and ambiguous examples that set a floor under the loss (here
about 1.2 nats: the entropy of a label that is right 73% of the time).  Why the weight
decay and the shifts: without them the network memorises the noisy labels one by one
and the loss keeps creeping down for the whole run (at weight decay 0, without shifts
and with torch's default init, a 45-epoch run went from 1.45 to 1.05 after its first
decay).  With them memorising is slow.  Medians of the minibatch loss over 400-step
windows: 2.04, 1.66, 1.46, 1.43, 1.39 (steps
0-1,999), then 1.33, 1.31, 1.31, 1.30, 1.29 (steps 2,000-3,999): it stops improving
around step 1,900 and moves by only 3% over the second half of the run.  The LR halving
at step 2,000, inside that flat stretch, does not lower it beyond its noise (200-step
medians 1.37 before, 1.32 and 1.34 after; gradlog's decay test: 0.3% against 0%
predicted, z = 0.1).  Over the same second half the gradient 2-norms of the deep layers
rise slowly: from the 2,000-2,399 to the 3,600-3,999 median conv3 +9%, conv4 +14%,
conv5 +15% (0.896 -> 1.032), fc1 +13%, all gradients together +9%; fc2 +3%, while
conv1 (-10%) and conv2 (-6%) drift down.  Validation accuracy ends near 97%.

Caveat, measured: this much weight decay on an un-normalised 7-layer network can also
pull it into the collapsed state (all outputs equal, loss ln 10 = 2.30, gradients
vanishing) if it lingers at the start.  Seed 0 (used here) and seed 2 leave that saddle
within the first 100 steps and show the picture above; seed 1 never leaves it.

Nothing in the logs is post-processed: every number is what the run produced.
"""

from __future__ import annotations

import csv
import json
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
    shift: int = 0          # random translation of training images, up to this many pixels
    he_init: bool = False   # He (Kaiming) init of the leaky-ReLU layers instead of torch's default


PLATEAU = Config(lr=0.05, momentum=0.9, weight_decay=5e-3, dropout=0.3, epochs=100,
                 milestones=(6, 20, 50), gamma=0.5, label_noise=0.3, eval_every=20,
                 shift=2, he_init=True)
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


def shifted(x: torch.Tensor, k: int, fill: float, gen: torch.Generator) -> torch.Tensor:
    """Return ``x`` (n, 1, h, w) with each image translated by a random offset in [-k, k]
    along each axis; uncovered pixels take the background value ``fill``."""
    n, _, h, w = x.shape
    pad = F.pad(x, (k, k, k, k), value=fill)
    off = torch.randint(0, 2 * k + 1, (n, 2), generator=gen)
    rows = (off[:, 0, None] + torch.arange(h))[:, :, None]
    cols = (off[:, 1, None] + torch.arange(w))[:, None, :]
    return pad[torch.arange(n)[:, None, None], 0, rows, cols][:, None]


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
    background = float(x_tr.min())  # every digit image has blank (0) pixels
    net = Net(cfg.dropout, cfg.leaky_slope)
    if cfg.he_init:  # the layers followed by a leaky ReLU; fc2 keeps torch's default
        for name in LAYERS[:-1]:
            layer = getattr(net, name)
            nn.init.kaiming_normal_(layer.weight, a=cfg.leaky_slope, nonlinearity="leaky_relu")
            nn.init.zeros_(layer.bias)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones), cfg.gamma)
    shuffle = torch.Generator().manual_seed(cfg.seed + 1)
    hist = History(cfg, steps_per_epoch=len(y_tr) // cfg.batch_size)
    augment = torch.Generator().manual_seed(cfg.seed + 2)
    step = 0
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(y_tr), generator=shuffle)
        for b in range(hist.steps_per_epoch):
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            net.train()
            xb = x_tr[idx]
            if cfg.shift:
                xb = shifted(xb, cfg.shift, background, augment)
            loss = F.cross_entropy(net(xb), y_tr[idx])
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
               "seed": cfg.seed, "weight_decay": cfg.weight_decay,
               "init": "he_normal" if cfg.he_init else "torch_default",
               "augment_shift": cfg.shift}
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
