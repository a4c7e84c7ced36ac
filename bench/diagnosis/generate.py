"""Generate the labelled runs of the diagnosis benchmark (``bench/diagnosis/``).

Each run is a real, seeded training run of a small model (MLP, small CNN, linear or
tanh regression) on scikit-learn's digits or on synthetic regression data, on CPU.
What a training loop would log goes to ``runs/<run>.csv`` (the same wide CSV layout as
``sample_logs/pytorch_cnn/train_log.csv``).  The *labels* come from instrumentation
that is never written to the log: full-batch gradients at successive iterates, the top
Hessian eigenvalue (power iteration on Hessian-vector products), the full training-set
loss, a separate held-out set, and expected minibatch gradient norms on fixed probe
batches.  The rules that turn those measurements into 0/1 labels are in ``label_run``
and documented in ``README.md``; every threshold is in ``THRESHOLDS``.

Needs torch and scikit-learn (only here; gradlog never imports torch)::

    python -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install torch==2.13.0 scikit-learn
    nice /tmp/bench-venv/bin/python bench/diagnosis/generate.py            # all runs
    nice /tmp/bench-venv/bin/python bench/diagnosis/generate.py --only osc  # a subset

Outputs ``runs/*.csv`` and ``labels.csv`` beside this file (``--out`` to change).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import stats
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
FINDINGS = ("step_size_oscillation", "lr_limited_plateau", "divergence", "overfitting", "grad_norm_growth")

# Every threshold used by a labelling rule, with the reason (see README.md).
THRESHOLDS = {
    # step_size_oscillation: within one LR phase, the median cosine between the full-batch
    # gradients at iterates t and t+1 is at most this (the iterate jumps across a valley:
    # the gradient flips direction from one step to the next) ...
    "osc_cos": -0.3,
    # ... and the median of eta*lambda_max / (2(1+beta)) in that phase is at least this
    # (the step is within a factor 2 of the heavy-ball stability limit, so the flip is
    # driven by the step size and not an artefact of a flat, noisy region).
    "osc_ratio": 0.5,
    # a phase needs this many probes to be judged.
    "osc_min_probes": 5,
    # gray zone: cosine in (osc_cos, osc_cos_gray] or ratio in [osc_ratio_gray, osc_ratio).
    "osc_cos_gray": -0.1,
    "osc_ratio_gray": 0.35,
    # lr_limited_plateau: at a decay (LR cut by at least decay_factor), the full training
    # loss shortly after is at least `plateau_drop` below the extrapolation of its trend
    # over the last `plateau_pre_frac` of the phase before ...
    "decay_factor": 3.0,
    "plateau_pre_frac": 0.3,
    "plateau_after_frac": 0.3,
    "plateau_drop": 0.3,
    "plateau_drop_gray": 0.15,
    # ... and that trend was flat: the loss fell by at most this fraction over the window.
    "plateau_pre_flat": 0.2,
    "plateau_pre_flat_gray": 0.35,
    # divergence: a non-finite full training loss, or the end level lost at least half the
    # progress made (and is at least twice the minimum), or it ended 10x above the start.
    "div_lost_progress": 0.5,
    "div_min_ratio": 2.0,
    "div_blowup": 10.0,
    # gray: lost >= 10% of the progress and ended >= 2x the minimum, or ended above start.
    "div_gray_lost_progress": 0.1,
    # overfitting: held-out loss (a set never logged) ends >= 15% above its minimum, the
    # minimum is not in the last 20% of training, and the full training loss fell by
    # >= 20% after the validation minimum.
    "overfit_rise": 0.15,
    "overfit_rise_gray": 0.05,
    "overfit_min_before": 0.8,
    "overfit_train_fall": 0.2,
    # grad_norm_growth: the expected minibatch gradient norm (fixed probe batches) of the
    # total or of some layer ends >= 1.5x its early level (after a 10% burn-in), rises
    # monotonically (Kendall tau >= 0.3 over the probes) and the training loss did not
    # rise (end <= 1.1x early level).
    "growth_fold": 1.5,
    "growth_fold_gray": 1.25,
    "growth_tau": 0.3,
    "growth_loss_rise": 1.1,
}


# step schedules: (fractions of the run where the LR is multiplied by gamma, gamma)
SCHEDULES = {
    "const": ((), 1.0),
    "step50": ((0.5,), 0.1),
    "step2": ((0.5, 0.75), 0.1),
    "replica": (
        (8 / 45, 30 / 45),
        0.3,
    ),  # the first pytorch_cnn sample's schedule (the sample now runs longer)
    "replica_osc": ((14 / 24,), 0.1),  # the sample_logs/pytorch_cnn_high_lr one
}


@dataclass(frozen=True)
class Spec:
    """One run: data, model, optimiser, schedule, seed."""

    group: str  # scenario family (what the run was designed to show)
    data: str  # digits | digits_small | illcond | overparam
    model: str  # mlp | cnn | linear | tanh
    lr: float
    batch_size: int
    steps: int
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "const"  # a key of SCHEDULES
    label_noise: float = 0.0
    dropout: float = 0.0
    seed: int = 0
    hard_negative: bool = False  # designed as a hard negative (small LR, tiny batch)

    @property
    def run_id(self) -> str:
        return (
            f"{self.group}__{self.model}_{self.data}_lr{self.lr:g}_b{self.batch_size}"
            f"_m{self.momentum:g}_{self.schedule}_s{self.seed}"
        )

    def lr_at(self, step: int) -> float:
        cuts, gamma = SCHEDULES[self.schedule]
        return self.lr * gamma ** sum(step >= int(c * self.steps) for c in cuts)


# ---------------------------------------------------------------- data and models


@dataclass
class Data:
    x_tr: torch.Tensor
    y_tr: torch.Tensor
    x_val: torch.Tensor  # logged validation set
    y_val: torch.Tensor
    x_true: torch.Tensor  # held-out set used only for labels
    y_true: torch.Tensor
    classification: bool


def make_data(spec: Spec) -> Data:
    """Return the seeded train / logged-validation / label-only held-out split."""
    g = torch.Generator().manual_seed(1000 + spec.seed)
    if spec.data.startswith("digits"):
        d = load_digits()
        x = torch.tensor(d.data, dtype=torch.float32)
        y = torch.tensor(d.target)
        perm = torch.randperm(len(y), generator=g)
        n_tr = {"digits_small": 150, "digits16": 1280}.get(spec.data, 1000)
        tr, va, tu = perm[:n_tr], perm[n_tr : n_tr + 300], perm[n_tr + 300 :]
        mu, sd = x[tr].mean(0), x[tr].std(0).clamp(min=1.0)
        x = (x - mu) / sd
        if spec.model in ("cnn", "cnn5"):
            x = x.view(-1, 1, 8, 8)
        if spec.data == "digits16":
            x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
        y_tr = y[tr].clone()
        if spec.label_noise > 0:
            redraw = torch.rand(len(y_tr), generator=g) < spec.label_noise
            y_tr[redraw] = torch.randint(0, 10, (int(redraw.sum()),), generator=g)
        return Data(x[tr], y_tr, x[va], y[va], x[tu], y[tu], True)
    if spec.data == "illcond":  # linear regression, Hessian eigenvalues 1 .. 1/100
        dim, n_tr, noise = 20, 512, 0.1
        eig = torch.logspace(0, -2, dim)
    elif spec.data == "overparam":  # more features than samples: it will fit the noise
        dim, n_tr, noise = 100, 60, 0.5
        eig = torch.logspace(0, -1, dim)
    else:
        raise ValueError(f"unknown data {spec.data!r}")
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g))
    w_star = torch.randn(dim, 1, generator=g) / math.sqrt(dim)
    if spec.model == "tanh":
        w_star = w_star * 3.0

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, dim, generator=g) * eig.sqrt() @ q.T
        f = x @ w_star
        if spec.model == "tanh":
            f = torch.tanh(f)
        return x, f + noise * torch.randn(n, 1, generator=g)

    x_tr, y_tr = sample(n_tr)
    x_va, y_va = sample(256)
    x_tu, y_tu = sample(2048)
    s = y_tr.std()
    return Data(x_tr, y_tr / s, x_va, y_va / s, x_tu, y_tu / s, False)


class MLP(nn.Module):
    def __init__(self, d_in: int, widths: tuple[int, ...], d_out: int, act: str, dropout: float) -> None:
        super().__init__()
        dims = (d_in, *widths, d_out)
        for i in range(len(dims) - 1):
            self.add_module(f"fc{i + 1}", nn.Linear(dims[i], dims[i + 1]))
        self.n = len(dims) - 1
        self.act = torch.tanh if act == "tanh" else F.relu
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.n):
            x = self.act(getattr(self, f"fc{i}")(x))
            x = F.dropout(x, self.dropout, self.training)
        return getattr(self, f"fc{self.n}")(x)


class BNMLP(nn.Module):
    """Linear-BatchNorm-ReLU x2 + Linear: hidden weights are scale-invariant."""

    def __init__(self, d_in: int, width: int) -> None:
        super().__init__()
        self.fc1, self.bn1 = nn.Linear(d_in, width, bias=False), nn.BatchNorm1d(width)
        self.fc2, self.bn2 = nn.Linear(width, width, bias=False), nn.BatchNorm1d(width)
        self.fc3 = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.fc1(x)))
        return self.fc3(F.relu(self.bn2(self.fc2(x))))


class SmallCNN(nn.Module):
    """3 conv + 2 FC, leaky ReLU, dropout, for 1x8x8 digits."""

    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 2 * 2, 32)
        self.fc2 = nn.Linear(32, 10)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.01)  # noqa: E731
        x = act(self.conv1(x))
        x = F.max_pool2d(act(self.conv2(x)), 2)
        x = F.max_pool2d(act(self.conv3(x)), 2)
        x = F.dropout(x.flatten(1), self.dropout, self.training)
        return self.fc2(F.dropout(act(self.fc1(x)), self.dropout, self.training))


class CNN5(nn.Module):
    """The sample's replica: 5 conv + 2 FC, leaky ReLU, dropout, for 1x16x16 inputs."""

    def __init__(self, dropout: float) -> None:
        super().__init__()
        chans = (1, 8, 8, 16, 16, 32)
        for i in range(5):
            self.add_module(f"conv{i + 1}", nn.Conv2d(chans[i], chans[i + 1], 3, padding=1))
        self.fc1, self.fc2 = nn.Linear(32 * 2 * 2, 64), nn.Linear(64, 10)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.01)  # noqa: E731
        x = act(self.conv1(x))
        x = F.max_pool2d(act(self.conv2(x)), 2)
        x = act(self.conv3(x))
        x = F.max_pool2d(act(self.conv4(x)), 2)
        x = F.max_pool2d(act(self.conv5(x)), 2)
        x = F.dropout(x.flatten(1), self.dropout, self.training)
        return self.fc2(F.dropout(act(self.fc1(x)), self.dropout, self.training))


def make_model(spec: Spec, data: Data) -> nn.Module:
    d_in = data.x_tr.shape[1]
    if spec.model == "mlp":
        widths = (256, 256) if spec.data == "digits_small" else (64, 32)
        return MLP(d_in, widths, 10, "relu", spec.dropout)
    if spec.model == "cnn":
        return SmallCNN(spec.dropout)
    if spec.model == "cnn5":
        return CNN5(spec.dropout)
    if spec.model == "bnmlp":
        return BNMLP(d_in, 64)
    if spec.model == "linear":
        return MLP(d_in, (), 1, "relu", 0.0)
    if spec.model == "tanh":
        return MLP(d_in, (64,), 1, "tanh", 0.0)
    raise ValueError(f"unknown model {spec.model!r}")


def loss_fn(data: Data, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y) if data.classification else F.mse_loss(out, y)


def layer_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


# ---------------------------------------------------------------- instrumentation


def flat_grad(model: nn.Module, loss: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    gs = torch.autograd.grad(loss, list(model.parameters()), create_graph=create_graph)
    return torch.cat([g.reshape(-1) for g in gs])


def full_batch(model: nn.Module, data: Data) -> tuple[float, torch.Tensor]:
    """Full training-set loss (eval mode) and its flattened gradient."""
    model.eval()
    loss = loss_fn(data, model(data.x_tr), data.y_tr)
    g = flat_grad(model, loss)
    return loss.item(), g


def top_eigenvalue(model: nn.Module, data: Data, idx: torch.Tensor, iters: int = 15) -> float:
    """Largest Hessian eigenvalue of the loss on a fixed probe set (power iteration, HVPs)."""
    model.eval()
    params = list(model.parameters())
    loss = loss_fn(data, model(data.x_tr[idx]), data.y_tr[idx])
    g = flat_grad(model, loss, create_graph=True)
    v = torch.randn(g.numel(), generator=torch.Generator().manual_seed(7))
    v /= v.norm()
    lam = 0.0
    for _ in range(iters):
        hv = torch.cat([h.reshape(-1) for h in torch.autograd.grad(g @ v, params, retain_graph=True)])
        lam = float(v @ hv)
        n = hv.norm()
        if not torch.isfinite(n) or n == 0:
            return float("nan") if not torch.isfinite(n) else 0.0
        v = hv / n
    return lam


def probe_minibatch_norms(
    model: nn.Module, data: Data, batches: list[torch.Tensor], names: list[str]
) -> dict[str, float]:
    """RMS over fixed probe batches of each layer's weight-gradient norm and the total.

    Train mode with a fixed dropout seed: the expectation of what the log records,
    without the sampling noise of one minibatch.
    """
    sq = {n: 0.0 for n in [*names, "total"]}
    model.train()
    with torch.random.fork_rng():
        torch.manual_seed(99)
        for idx in batches:
            model.zero_grad()
            loss_fn(data, model(data.x_tr[idx]), data.y_tr[idx]).backward()
            for n in names:
                sq[n] += model.get_submodule(n).weight.grad.norm().item() ** 2
            sq["total"] += sum(p.grad.pow(2).sum().item() for p in model.parameters())
    model.zero_grad()
    return {k: math.sqrt(v / len(batches)) for k, v in sq.items()}


@dataclass
class Trace:
    """What a run produced: the log rows and the (unlogged) instrumentation."""

    spec: Spec
    names: list[str]
    rows: list[dict] = field(default_factory=list)
    probes: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def train(spec: Spec) -> Trace:
    """Train one run, logging what a loop logs and measuring what labels need."""
    torch.manual_seed(spec.seed)
    data = make_data(spec)
    model = make_model(spec, data)
    names = layer_names(model)
    opt = torch.optim.SGD(
        model.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )
    n = len(data.y_tr)
    spe = max(1, n // spec.batch_size)
    shuffle = torch.Generator().manual_seed(spec.seed + 1)
    probe_g = torch.Generator().manual_seed(spec.seed + 2)
    probe_batches = [torch.randperm(n, generator=probe_g)[: spec.batch_size] for _ in range(8)]
    eig_idx = torch.randperm(n, generator=probe_g)[:512]  # fixed Hessian probe set
    probe_every = max(1, spec.steps // 60)
    eig_every = 4 * probe_every
    val_every = max(1, spec.steps // 50)
    log_every = 1 if spec.steps <= 1200 else 2
    trace = Trace(spec, names)
    t0 = time.perf_counter()
    perm, pos, nonfinite_at = torch.randperm(n, generator=shuffle), 0, None
    for step in range(spec.steps):
        lr = spec.lr_at(step)
        for pg in opt.param_groups:
            pg["lr"] = lr
        probe = step % probe_every == 0
        if probe:
            rec = {"step": step, "lr": lr}
            rec["train_loss"], g0 = full_batch(model, data)
            rec["grad_full"] = g0.norm().item()
            if step % eig_every == 0 and math.isfinite(rec["train_loss"]):
                lam = top_eigenvalue(model, data, eig_idx) + spec.weight_decay
                rec["lambda_max"] = lam
                rec["ratio"] = lr * lam / (2 * (1 + spec.momentum))
            with torch.no_grad():
                model.eval()
                rec["heldout_loss"] = loss_fn(data, model(data.x_true), data.y_true).item()
            if math.isfinite(rec["train_loss"]):
                rec["mb"] = probe_minibatch_norms(model, data, probe_batches, names)
        if pos + spec.batch_size > n:
            perm, pos = torch.randperm(n, generator=shuffle), 0
        idx = perm[pos : pos + spec.batch_size]
        pos += spec.batch_size
        model.train()
        loss = loss_fn(data, model(data.x_tr[idx]), data.y_tr[idx])
        opt.zero_grad()
        loss.backward()
        norms = {n_: model.get_submodule(n_).weight.grad.norm().item() for n_ in names}
        total = math.sqrt(sum(p.grad.pow(2).sum().item() for p in model.parameters()))
        opt.step()
        if probe:
            _, g1 = full_batch(model, data)
            denom = (g0.norm() * g1.norm()).item()
            rec["cos"] = float(g0 @ g1) / denom if denom > 0 and math.isfinite(denom) else float("nan")
            trace.probes.append(rec)
        val = {}
        if (step + 1) % val_every == 0:
            with torch.no_grad():
                model.eval()
                out = model(data.x_val)
                val["val_loss"] = loss_fn(data, out, data.y_val).item()
                if data.classification:
                    val["val_acc"] = (out.argmax(1) == data.y_val).float().mean().item()
        if step % log_every == 0 or val:
            trace.rows.append(
                {
                    "step": step,
                    "epoch": step // spe,
                    "loss": loss.item(),
                    "lr": lr,
                    **{f"grad_norm/{k}": v for k, v in norms.items()},
                    "grad_norm/total": total,
                    **val,
                }
            )
        if nonfinite_at is None and not math.isfinite(loss.item()):
            nonfinite_at = step
        if nonfinite_at is not None and step >= nonfinite_at + 10:
            # a real loop would go on logging nan; ten rows of it are enough
            with torch.no_grad():
                model.eval()
                final = loss_fn(data, model(data.x_tr), data.y_tr).item()
            trace.probes.append(
                {
                    "step": step + 1,
                    "lr": lr,
                    "train_loss": final,
                    "heldout_loss": float("nan"),
                    "cos": float("nan"),
                }
            )
            break
    trace.seconds = time.perf_counter() - t0
    return trace


# ---------------------------------------------------------------- labelling rules


def _median(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return float(np.median(xs)) if xs else float("nan")


def label_run(trace: Trace) -> tuple[dict[str, int], dict[str, float], list[str]]:
    """Apply the labelling rules; return (labels, measures, gray finding ids)."""
    T, spec, P = THRESHOLDS, trace.spec, trace.probes
    steps = np.array([p["step"] for p in P])
    L = np.array([p["train_loss"] for p in P])
    last = spec.steps
    labels = dict.fromkeys(FINDINGS, 0)
    gray: list[str] = []
    m: dict[str, float] = {}

    # divergence
    finite = np.isfinite(L)
    L0 = L[0]
    Lmin = np.min(L[finite]) if finite.any() else float("nan")
    Lend = float(np.median(L[-3:])) if finite[-3:].all() else float("inf")
    progress = L0 - Lmin
    lost = (Lend - Lmin) / progress if progress > 0 else 0.0
    m["div_lost_progress"] = lost if math.isfinite(lost) else 1e9
    diverged = (
        (not finite.all())
        or Lend >= T["div_blowup"] * L0
        or (Lmin <= 0.8 * L0 and lost >= T["div_lost_progress"] and Lend >= T["div_min_ratio"] * Lmin)
    )
    labels["divergence"] = int(diverged)
    if not diverged and (
        (lost >= T["div_gray_lost_progress"] and Lend >= T["div_min_ratio"] * Lmin) or Lend > 1.05 * L0
    ):
        gray.append("divergence")
    # restrict the other rules to the finite part of the run
    ok = np.cumprod(finite).astype(bool)
    Pf = [p for p, k in zip(P, ok, strict=False) if k]

    # step_size_oscillation, per LR phase
    phases: dict[float, list[dict]] = {}
    for p in Pf:
        phases.setdefault(p["lr"], []).append(p)
    best_cos, best_ratio = 1.0, 0.0
    for ps in phases.values():
        if len(ps) < T["osc_min_probes"]:
            continue
        c = _median([p["cos"] for p in ps])
        r = _median([p.get("ratio") for p in ps])
        if not math.isfinite(r):
            r = 0.0
        if c <= T["osc_cos"] and r >= T["osc_ratio"]:
            labels["step_size_oscillation"] = 1
        elif c <= T["osc_cos_gray"] and r >= T["osc_ratio_gray"]:
            gray.append("step_size_oscillation")
        if c < best_cos:
            best_cos, best_ratio = c, r
    m["osc_min_phase_cos"] = best_cos
    m["osc_ratio_at_min_cos"] = best_ratio
    m["max_ratio"] = max([p.get("ratio", 0.0) for p in Pf if math.isfinite(p.get("ratio", 0.0))], default=0.0)
    if labels["step_size_oscillation"]:
        gray = [g for g in gray if g != "step_size_oscillation"]

    # lr_limited_plateau, at each decay
    decays = [s for s in range(1, last) if spec.lr_at(s - 1) >= T["decay_factor"] * spec.lr_at(s)]
    bounds = [0, *decays, last]
    best_drop, pre_at_best = float("nan"), float("nan")
    for i, d in enumerate(decays):
        start, nxt = bounds[i], bounds[i + 2]
        w = int(T["plateau_pre_frac"] * (d - start))
        after_w = min(int(T["plateau_after_frac"] * (d - start)), nxt - d)
        if not np.isfinite(L[steps <= d + after_w]).all():
            continue  # diverged before the judgement was possible
        pre = [(s, v) for s, v in zip(steps, L, strict=False) if d - w <= s < d]
        post = [(s, v) for s, v in zip(steps, L, strict=False) if d + after_w / 2 <= s <= d + after_w]
        if len(pre) < 4 or not post:
            continue
        ps, pl = np.array(pre, dtype=float).T
        slope = stats.theilslopes(np.log(pl), ps)[0]
        level = np.log(np.median(pl[-3:]))
        t_post = np.mean([s for s, _ in post])
        # extrapolate a falling trend; a rising one is not extrapolated upwards
        pred = math.exp(level + min(slope, 0.0) * (t_post - ps[-1]))
        observed = float(np.median([v for _, v in post]))
        drop = 1.0 - observed / pred
        pre_fall = 1.0 - math.exp(slope * (ps[-1] - ps[0]))
        if not math.isfinite(best_drop) or drop > best_drop:
            best_drop, pre_at_best = drop, pre_fall
        if drop >= T["plateau_drop"] and pre_fall <= T["plateau_pre_flat"]:
            labels["lr_limited_plateau"] = 1
        elif drop >= T["plateau_drop_gray"] and pre_fall <= T["plateau_pre_flat_gray"]:
            gray.append("lr_limited_plateau")
    m["plateau_best_drop"] = best_drop
    m["plateau_pre_fall"] = pre_at_best
    if labels["lr_limited_plateau"]:
        gray = [g for g in gray if g != "lr_limited_plateau"]

    # overfitting (held-out set never written to the log)
    V = np.array([p["heldout_loss"] for p in Pf])
    Lf = L[: len(Pf)]
    if len(V) >= 6 and np.isfinite(V).all():
        # the minimum is taken on a 3-probe running median, like the end level (a median
        # of the last 3 probes): the lowest single probe of a noisy curve is biased low
        # and would turn scatter into a "rise"
        Vs = np.array([np.median(V[max(0, i - 1) : i + 2]) for i in range(len(V))])
        i_min = int(np.argmin(Vs))
        v_end = float(np.median(V[-3:]))
        rise = v_end / Vs[i_min] - 1.0
        train_fall = 1.0 - float(np.median(Lf[-3:])) / Lf[i_min]
        m["overfit_rise"], m["overfit_train_fall"] = rise, train_fall
        min_early = steps[i_min] <= T["overfit_min_before"] * last
        if not diverged and min_early and train_fall >= T["overfit_train_fall"]:
            if rise >= T["overfit_rise"]:
                labels["overfitting"] = 1
            elif rise >= T["overfit_rise_gray"]:
                gray.append("overfitting")

    # grad_norm_growth (expected minibatch norms on fixed probe batches)
    mb = [(p["step"], p["mb"], p["train_loss"]) for p in Pf if "mb" in p]
    lo, hi = 0.1 * last, 0.3 * last
    early = [x for x in mb if lo <= x[0] < hi]
    late = [x for x in mb if x[0] >= 0.8 * last]
    best_fold, best_key = 0.0, ""
    if len(early) >= 2 and len(late) >= 2 and not diverged:
        loss_ok = _median([x[2] for x in late]) <= T["growth_loss_rise"] * _median([x[2] for x in early])
        body = [x for x in mb if x[0] >= lo]
        for key in [*trace.names, "total"]:
            e0 = _median([x[1][key] for x in early])
            if not e0 > 0:
                continue
            fold = _median([x[1][key] for x in late]) / e0
            tau = stats.kendalltau(range(len(body)), [x[1][key] for x in body])[0]
            if fold > best_fold:
                best_fold, best_key = fold, key
            if fold >= T["growth_fold"] and tau >= T["growth_tau"] and loss_ok:
                labels["grad_norm_growth"] = 1
        if not labels["grad_norm_growth"] and best_fold >= T["growth_fold_gray"]:
            gray.append("grad_norm_growth")
    m["growth_best_fold"] = best_fold
    m["growth_best_layer"] = best_key  # type: ignore[assignment]
    return labels, m, gray


# ---------------------------------------------------------------- the scenario set


def scenarios() -> list[Spec]:
    """The run set: families of real runs, each meant to show (or not show) something.

    The family name says what a run was designed for; its labels come only from
    ``label_run`` (a run designed to oscillate that did not is labelled 0).
    """
    S: list[Spec] = []

    def add(base: Spec, seeds: tuple[int, ...], **kw: object) -> None:
        S.extend(replace(base, seed=sd, **kw) for sd in seeds)

    # Seeds: 0-4 for the cheap families, 0-3 for the CNNs; seeds 3 and 4 (and every
    # family marked "added") came after the detectors' thresholds were set.
    S5, S4, S2 = (0, 1, 2, 3, 4), (0, 1, 2, 3), (0, 1)
    # MLP (64-64-32-10, ReLU) on digits, SGD momentum 0.9, batch 32, 800 steps
    mlp = Spec("good", "digits", "mlp", lr=0.05, batch_size=32, steps=800)
    add(mlp, S5)
    add(mlp, S5, group="tiny_lr", lr=0.0005)
    add(mlp, S5, group="too_large", lr=0.15)
    add(mlp, S5, group="dies", lr=0.25)
    add(mlp, S5, group="good_decay", lr=0.02, schedule="step50")
    add(mlp, S5, group="plateau_decay", lr=0.1, label_noise=0.3, schedule="step50", steps=1600)
    add(mlp, S5, group="plateau_decay_b8", lr=0.05, batch_size=8, label_noise=0.2, schedule="step50")
    add(mlp, S5, group="nomomentum_good", lr=0.2, momentum=0.0)
    add(mlp, S2, group="fullbatch_stable", lr=0.5, momentum=0.0, batch_size=1000)
    add(
        mlp,
        S2,
        group="dropout_label_noise",
        lr=0.05,
        dropout=0.3,
        label_noise=0.3,
        schedule="step50",
        steps=1600,
    )
    add(
        mlp,
        S5,
        group="bn_weight_decay",
        model="bnmlp",
        lr=0.01,
        weight_decay=1e-2,
        label_noise=0.2,
        steps=1600,
    )
    # added: plain SGD with label noise and a decay; a slower tiny LR at batch 64
    add(
        mlp,
        S5,
        group="plateau_decay_nomom",
        lr=0.3,
        momentum=0.0,
        label_noise=0.3,
        schedule="step50",
        steps=1600,
    )
    add(mlp, S5, group="tiny_lr_b64", lr=0.001, batch_size=64)
    # hard negatives: small LR, tiny batch -> very noisy minibatch loss, stable iterate
    add(mlp, S5, group="hardneg_tinybatch", lr=0.005, batch_size=2, hard_negative=True)
    add(
        mlp, S5, group="hardneg_tinybatch_decay", lr=0.01, batch_size=4, schedule="step50", hard_negative=True
    )
    add(
        mlp, S5, group="hardneg_tinybatch_nomom", lr=0.02, batch_size=2, momentum=0.0, hard_negative=True
    )  # added
    # small CNN (3 conv + 2 FC, leaky ReLU, dropout 0.2) on 8x8 digits
    cnn = Spec("cnn_good", "digits", "cnn", lr=0.05, batch_size=32, steps=800, dropout=0.2)
    add(cnn, S4)
    add(cnn, S4, group="cnn_too_large", lr=0.3)
    add(
        cnn,
        S4,
        group="cnn_plateau_decay",
        lr=0.05,
        dropout=0.3,
        label_noise=0.3,
        schedule="step2",
        steps=1600,
    )
    add(cnn, S4, group="cnn_hardneg_tinybatch", lr=0.005, batch_size=2, hard_negative=True)
    # the sample_logs replicas (5 conv + 2 FC on 16x16 digits, same hyperparameters)
    rep = Spec(
        "replica_plateau",
        "digits16",
        "cnn5",
        lr=0.05,
        batch_size=32,
        steps=1800,
        dropout=0.3,
        label_noise=0.3,
        schedule="replica",
    )
    add(rep, S4)
    add(
        rep,
        S2,
        group="replica_oscillating",
        lr=0.06,
        weight_decay=5e-4,
        label_noise=0.0,
        schedule="replica_osc",
        steps=960,
    )
    # overfitting: 150 training digits (20% noisy labels), wide MLP, long training
    small = Spec("overfit", "digits_small", "mlp", lr=0.05, batch_size=16, steps=1500, label_noise=0.2)
    add(small, S5)
    add(small, S2, group="small_wd", weight_decay=5e-3, label_noise=0.0)
    add(small, S5, group="overfit_b32_m0", lr=0.1, batch_size=32, momentum=0.0)  # added
    # synthetic regression: ill-conditioned quadratic (condition number 100), 512 samples
    lin = Spec("lin_good", "illcond", "linear", lr=0.2, batch_size=128, steps=600)
    add(lin, S5)
    add(lin, S5, group="lin_osc", lr=1.2, momentum=0.5)
    add(lin, S5, group="lin_osc_b256", lr=1.3, momentum=0.5, batch_size=256)
    add(lin, S5, group="lin_osc_decay", lr=1.2, momentum=0.5, schedule="step50")
    add(lin, S5, group="lin_nomom_osc", lr=0.95, momentum=0.0, batch_size=64)
    add(lin, S5, group="lin_fullbatch_edge", lr=1.3, batch_size=512)
    add(lin, S5, group="lin_diverge", lr=2.6)
    add(lin, S5, group="lin_tiny_lr", lr=0.002)
    add(lin, S5, group="lin_hardneg_tinybatch", lr=0.01, batch_size=1, hard_negative=True)
    add(lin, S5, group="lin_plateau_decay", lr=0.15, batch_size=8, schedule="step50")
    add(lin, S5, group="lin_plateau_decay_nomom", lr=0.5, momentum=0.0, batch_size=8, schedule="step50")
    # added: a noisier bounce (batch 32), a momentum-0.9 bounce, a plateau at batch 32
    add(lin, S5, group="lin_osc_b32", lr=1.1, momentum=0.5, batch_size=32)
    add(lin, S5, group="lin_osc_m9", lr=0.5, momentum=0.9)
    add(lin, S5, group="lin_plateau_decay_b32", lr=0.3, batch_size=32, schedule="step50")
    # one-hidden-layer tanh regression on the same data
    tanh = replace(lin, group="tanh_good", model="tanh", lr=0.1)
    add(tanh, S5)
    add(tanh, S5, group="tanh_osc", lr=0.33, momentum=0.0)
    add(tanh, S2, group="tanh_fullbatch_stable", lr=0.3, momentum=0.0, batch_size=512)
    add(tanh, S5, group="tanh_diverge", lr=1.2)
    # added: a bounce with momentum 0.5 and one cut by a decay; a plateau; a hard negative
    add(tanh, S5, group="tanh_osc_m5", lr=0.5, momentum=0.5)
    add(tanh, S5, group="tanh_osc_decay", lr=0.33, momentum=0.0, schedule="step50")
    add(tanh, S5, group="tanh_plateau_decay", lr=0.1, batch_size=8, schedule="step50")
    add(tanh, S5, group="tanh_hardneg_tinybatch", lr=0.01, batch_size=1, hard_negative=True)
    # over-parameterised regression (100 features, 60 samples): fits the noise
    add(lin, S5, group="overparam", data="overparam", lr=0.01, batch_size=60, steps=1500)
    add(lin, S5, group="overparam_tanh", data="overparam", model="tanh", lr=0.02, batch_size=20, steps=1500)
    return S


def split_of(spec: Spec) -> str:
    """``holdout`` for odd seeds (1 and 3) of every family run with two or more seeds.

    Every family with repeats has runs whose thresholds were never looked at, so each
    finding has positives and negatives on both sides. Seeds 3 and 4 were added after the
    detectors' thresholds had been set on seeds 0 and 2, so seed 3 is data nobody saw.
    """
    return "holdout" if spec.seed % 2 == 1 else "tune"


# ---------------------------------------------------------------- writing


def fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def write_run(trace: Trace, path: Path) -> None:
    cols = [
        "step",
        "epoch",
        "loss",
        "lr",
        *[f"grad_norm/{n}" for n in trace.names],
        "grad_norm/total",
        "val_loss",
    ]
    if any("val_acc" in r for r in trace.rows):
        cols.append("val_acc")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in trace.rows:
            w.writerow([fmt(r.get(c)) for c in cols])


LABEL_COLS = [
    "run",
    "group",
    "split",
    *FINDINGS,
    "hard_negative",
    "gray",
    "data",
    "model",
    "lr",
    "momentum",
    "batch_size",
    "weight_decay",
    "schedule",
    "steps",
    "label_noise",
    "dropout",
    "seed",
    "logged_steps",
    "seconds",
    "osc_min_phase_cos",
    "osc_ratio_at_min_cos",
    "max_ratio",
    "plateau_best_drop",
    "plateau_pre_fall",
    "div_lost_progress",
    "overfit_rise",
    "overfit_train_fall",
    "growth_best_fold",
    "growth_best_layer",
]


def one(spec: Spec, runs_dir: Path) -> dict:
    trace = train(spec)
    labels, measures, gray = label_run(trace)
    path = runs_dir / f"{spec.run_id}.csv"
    write_run(trace, path)
    hard = int(spec.hard_negative and labels["step_size_oscillation"] == 0)
    row = {
        "run": f"runs/{path.name}",
        "split": split_of(spec),
        **labels,
        "hard_negative": hard,
        "gray": ";".join(gray),
        "logged_steps": len(trace.rows),
        "seconds": round(trace.seconds, 2),
        **{k: v for k, v in asdict(spec).items() if k != "hard_negative"},
        **measures,
    }
    return {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--only", default="", help="substring of run ids to (re)generate")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    specs = [s for s in scenarios() if args.only in s.run_id]
    if args.list:
        print("\n".join(f"{split_of(s):8s} {s.run_id}" for s in specs))
        return 0
    runs_dir = args.out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as ex:
            rows = list(ex.map(one, specs, [runs_dir] * len(specs)))
    else:
        rows = []
        for s in specs:
            rows.append(one(s, runs_dir))
            r = rows[-1]
            print(
                f"{r['seconds']:>6}s {r['run']:70s} "
                + " ".join(f"{k[:4]}={r[k]}" for k in FINDINGS)
                + f" gray={r['gray']}",
                flush=True,
            )
    labels_path = args.out / "labels.csv"
    if args.only and labels_path.exists():  # merge a partial regeneration
        with labels_path.open() as f:
            old = {r["run"]: r for r in csv.DictReader(f)}
        old.update({r["run"]: r for r in rows})
        keep = {f"runs/{s.run_id}.csv" for s in scenarios()}
        rows = [old[k] for k in sorted(old) if k in keep]
    with labels_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LABEL_COLS, extrasaction="ignore")
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: r["run"]))
    print(f"{len(specs)} runs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
