"""Write the bundled Caffe-format sample logs from a real (tiny) training run.

A small CNN (conv-relu-pool x2, two inner-product layers, softmax loss) is trained
with SGD + momentum + weight decay on scikit-learn's 8x8 digits, in plain numpy. The
script prints what ``caffe train`` prints for such a net, line for line, in glog
format: the solver parameter dump, ``Iteration N (... iter/s, ...), loss = X``,
``Train net output``, ``Iteration N, lr = X``, ``Testing net (#0)`` with the test
net's outputs, and, for the debug log, ``debug_info: true`` output as current Caffe
prints it (only on display iterations; ``[Forward]``/``[Backward]`` per layer, then the
``All net params`` line; the test net prints ``[Forward]`` on every test batch).
Everything Caffe computes is computed here for real: mean |x| of every blob, the L1
and L2 norms of all parameters and gradients, the smoothed loss.

The clock is simulated (a fixed start date, seeded per-iteration durations), so the
logs are the same on every run of the script.

    python sample_logs/make_caffe_logs.py            # writes next to this script

Writes ``caffe_numpy_cnn.log`` (plain: step LR decay, test outputs, average_loss 20)
and ``caffe_numpy_cnn_debug.log`` (debug_info, multistep LR, glog file header).
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

HERE = Path(__file__).resolve().parent
PID = 4242


# -- the net ------------------------------------------------------------------------------------
@dataclass
class Param:
    data: np.ndarray
    diff: np.ndarray = field(init=False)
    history: np.ndarray = field(init=False)
    lr_mult: float = 1.0
    decay_mult: float = 1.0

    def __post_init__(self) -> None:
        self.diff = np.zeros_like(self.data)
        self.history = np.zeros_like(self.data)


def xavier(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    fan_in = int(np.prod(shape[1:]))
    scale = np.sqrt(3.0 / fan_in)
    return rng.uniform(-scale, scale, size=shape)


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 convolution, pad 1, stride 1 (NCHW). Returns (out, im2col matrix)."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = sliding_window_view(xp, (3, 3), axis=(2, 3))          # n, c, h, w, 3, 3
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * wd, c * 9)
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(n, h, wd, -1).transpose(0, 3, 1, 2), cols


def conv_backward(dout: np.ndarray, x_shape: tuple[int, ...], w: np.ndarray,
                  cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, c, h, wd = x_shape
    f = w.shape[0]
    d = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    dw = (d.T @ cols).reshape(w.shape)
    db = d.sum(axis=0)
    dcols = (d @ w.reshape(f, -1)).reshape(n, h, wd, c, 3, 3)
    dxp = np.zeros((n, c, h + 2, wd + 2))
    for i in range(3):
        for j in range(3):
            dxp[:, :, i:i + h, j:j + wd] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, 1:-1, 1:-1], dw, db


def pool_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, c, h, w = x.shape
    r = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    arg = r.argmax(axis=-1)
    return np.take_along_axis(r, arg[..., None], axis=-1)[..., 0], arg


def pool_backward(dout: np.ndarray, arg: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    n, c, h, w = x_shape
    d = np.zeros((n, c, h // 2, w // 2, 4))
    np.put_along_axis(d, arg[..., None], dout[..., None], axis=-1)
    return d.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x_shape)


class Net:
    """conv1(8) relu1 pool1 conv2(16) relu2 pool2 ip1(32) relu3 ip2(10) loss."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.p = {
            "conv1": [Param(xavier(rng, (8, 1, 3, 3))), Param(np.zeros(8), lr_mult=2, decay_mult=0)],
            "conv2": [Param(xavier(rng, (16, 8, 3, 3))), Param(np.zeros(16), lr_mult=2, decay_mult=0)],
            "ip1": [Param(xavier(rng, (32, 64))), Param(np.zeros(32), lr_mult=2, decay_mult=0)],
            "ip2": [Param(xavier(rng, (10, 32))), Param(np.zeros(10), lr_mult=2, decay_mult=0)],
        }

    def params(self) -> list[Param]:
        return [q for ps in self.p.values() for q in ps]

    def forward(self, x: np.ndarray, y: np.ndarray, log: Log | None = None,
                test: bool = False) -> dict[str, float]:
        """Forward pass (keeps what backward needs); prints [Forward] lines when ``log``."""
        c = {}

        def fwd(layer: str, tops: list[tuple[str, np.ndarray]]) -> None:
            if log is None:
                return
            for name, blob in tops:
                log.info("net.cpp:593", f"    [Forward] Layer {layer}, top blob {name} data: "
                         f"{_g(np.abs(blob).mean())}")
            for i, q in enumerate(self.p.get(layer, [])):
                log.info("net.cpp:605", f"    [Forward] Layer {layer}, param blob {i} data: "
                         f"{_g(np.abs(q.data).mean())}")

        fwd("data", [("data", x), ("label", y.astype(float))])
        if test:
            fwd("label_data_1_split", [("label_data_1_split_0", y.astype(float)),
                                       ("label_data_1_split_1", y.astype(float))])
        c["x"] = x
        z1, c["cols1"] = conv_forward(x, self.p["conv1"][0].data, self.p["conv1"][1].data)
        fwd("conv1", [("conv1", z1)])
        a1 = np.maximum(z1, 0)
        c["z1"] = z1
        fwd("relu1", [("conv1", a1)])
        p1, c["arg1"] = pool_forward(a1)
        c["a1_shape"] = a1.shape
        fwd("pool1", [("pool1", p1)])
        z2, c["cols2"] = conv_forward(p1, self.p["conv2"][0].data, self.p["conv2"][1].data)
        c["p1_shape"] = p1.shape
        fwd("conv2", [("conv2", z2)])
        a2 = np.maximum(z2, 0)
        c["z2"] = z2
        fwd("relu2", [("conv2", a2)])
        p2, c["arg2"] = pool_forward(a2)
        c["a2_shape"] = a2.shape
        fwd("pool2", [("pool2", p2)])
        f = p2.reshape(len(x), -1)
        c["f"] = f
        h1 = f @ self.p["ip1"][0].data.T + self.p["ip1"][1].data
        fwd("ip1", [("ip1", h1)])
        c["h1"] = h1
        r1 = np.maximum(h1, 0)
        fwd("relu3", [("ip1", r1)])
        c["r1"] = r1
        out = r1 @ self.p["ip2"][0].data.T + self.p["ip2"][1].data
        fwd("ip2", [("ip2", out)])
        if test:
            fwd("ip2_ip2_0_split", [("ip2_ip2_0_split_0", out), ("ip2_ip2_0_split_1", out)])
        e = np.exp(out - out.max(axis=1, keepdims=True))
        prob = e / e.sum(axis=1, keepdims=True)
        loss = float(-np.log(np.maximum(prob[np.arange(len(y)), y], np.finfo(np.float32).tiny)).mean())
        acc = float((out.argmax(axis=1) == y).mean())
        if test:
            fwd("accuracy", [("accuracy", np.array([acc]))])
        fwd("loss", [("loss", np.array([loss]))])
        c["prob"], c["y"] = prob, y
        self.cache = c
        return {"loss": loss, "accuracy": acc}

    def backward(self, log: Log | None = None) -> None:
        c = self.cache
        n = len(c["y"])

        def bwd(layer: str, bottoms: list[tuple[str, np.ndarray]]) -> None:
            if log is None:
                return
            for name, blob in bottoms:
                log.info("net.cpp:621", f"    [Backward] Layer {layer}, bottom blob {name} diff: "
                         f"{_g(np.abs(blob).mean())}")
            for i, q in enumerate(self.p.get(layer, [])):
                log.info("net.cpp:632", f"    [Backward] Layer {layer}, param blob {i} diff: "
                         f"{_g(np.abs(q.diff).mean())}")

        dout = c["prob"].copy()
        dout[np.arange(n), c["y"]] -= 1
        dout /= n
        bwd("loss", [("ip2", dout)])
        w2, b2 = self.p["ip2"]
        w2.diff += dout.T @ c["r1"]
        b2.diff += dout.sum(axis=0)
        dr1 = dout @ w2.data
        bwd("ip2", [("ip1", dr1)])
        dh1 = dr1 * (c["h1"] > 0)
        bwd("relu3", [("ip1", dh1)])
        w1, b1 = self.p["ip1"]
        w1.diff += dh1.T @ c["f"]
        b1.diff += dh1.sum(axis=0)
        df = dh1 @ w1.data
        bwd("ip1", [("pool2", df)])
        da2 = pool_backward(df.reshape(n, 16, 2, 2), c["arg2"], c["a2_shape"])
        bwd("pool2", [("conv2", da2)])
        dz2 = da2 * (c["z2"] > 0)
        bwd("relu2", [("conv2", dz2)])
        wc2, bc2 = self.p["conv2"]
        dp1, dw, db = conv_backward(dz2, c["p1_shape"], wc2.data, c["cols2"])
        wc2.diff += dw
        bc2.diff += db
        bwd("conv2", [("pool1", dp1)])
        da1 = pool_backward(dp1, c["arg1"], c["a1_shape"])
        bwd("pool1", [("conv1", da1)])
        dz1 = da1 * (c["z1"] > 0)
        bwd("relu1", [("conv1", dz1)])
        wc1, bc1 = self.p["conv1"]
        _, dw, db = conv_backward(dz1, c["x"].shape, wc1.data, c["cols1"])
        wc1.diff += dw
        bc1.diff += db
        bwd("conv1", [])
        if log is not None:
            ps = self.params()
            l1d = sum(float(np.abs(q.data).sum()) for q in ps)
            l1g = sum(float(np.abs(q.diff).sum()) for q in ps)
            l2d = np.sqrt(sum(float((q.data ** 2).sum()) for q in ps))
            l2g = np.sqrt(sum(float((q.diff ** 2).sum()) for q in ps))
            log.line("E", "net.cpp:684", f"    [Backward] All net params (data, diff): L1 norm = "
                     f"({_g(l1d)}, {_g(l1g)}); L2 norm = ({_g(l2d)}, {_g(l2g)})")


def _g(x: float) -> str:
    """A float as C++'s ``std::ostream << float`` prints it (6 significant digits)."""
    x = float(np.float32(x))
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.6g}"


# -- the log ------------------------------------------------------------------------------------
class Log:
    """glog lines with a simulated clock."""

    def __init__(self, start: dt.datetime, rng: np.random.Generator) -> None:
        self.t = start
        self.rng = rng
        self.lines: list[str] = []

    def tick(self, seconds: float) -> None:
        self.t += dt.timedelta(microseconds=int(seconds * 1e6))

    def line(self, level: str, where: str, msg: str) -> None:
        self.tick(float(self.rng.uniform(5e-6, 4e-5)))
        t = self.t
        self.lines.append(f"{level}{t:%m%d %H:%M:%S}.{t.microsecond:06d} {PID:5d} {where}] {msg}")

    def info(self, where: str, msg: str) -> None:
        self.line("I", where, msg)

    def raw(self, text: str) -> None:
        self.lines.append(text)


@dataclass
class Solver:
    base_lr: float
    lr_policy: str
    max_iter: int
    display: int
    test_interval: int
    test_iter: int = 3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    gamma: float = 0.1
    stepsize: int = 0
    stepvalue: tuple[int, ...] = ()
    average_loss: int = 1
    debug_info: bool = False
    batch: int = 32
    test_batch: int = 99
    seconds_per_iter: float = 0.011

    def dump(self) -> list[str]:
        out = [f"test_iter: {self.test_iter}", f"test_interval: {self.test_interval}",
               f"base_lr: {_g(self.base_lr)}", f"display: {self.display}",
               f"max_iter: {self.max_iter}", f'lr_policy: "{self.lr_policy}"',
               f"gamma: {_g(self.gamma)}", f"momentum: {_g(self.momentum)}",
               f"weight_decay: {_g(self.weight_decay)}"]
        if self.stepsize:
            out.append(f"stepsize: {self.stepsize}")
        out += [f"stepvalue: {v}" for v in self.stepvalue]
        out += ['snapshot_prefix: "examples/digits/digits"', "solver_mode: CPU",
                'net: "examples/digits/digits_train_test.prototxt"',
                "train_state {", "  level: 0", '  stage: ""', "}"]
        if self.average_loss > 1:
            out.append(f"average_loss: {self.average_loss}")
        if self.debug_info:
            out.append("debug_info: true")
        out.append('type: "SGD"')
        return out


def train(solver: Solver, start: dt.datetime, *, header: bool, seed: int) -> list[str]:
    """Train the net; return the log lines."""
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    digits = load_digits()
    x = (digits.images / 16.0).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    perm = rng.permutation(len(y))
    x, y = x[perm], y[perm]
    xtr, ytr, xte, yte = x[:1500], y[:1500], x[1500:], y[1500:]
    log = Log(start, np.random.default_rng(seed + 1))
    if header:
        log.raw(f"Log file created at: {start:%Y/%m/%d %H:%M:%S}")
        log.raw("Running on machine: sample-host")
        log.raw("Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg")
    log.info("caffe.cpp:211", "Use CPU.")
    log.info("solver.cpp:44", "Initializing solver from parameters: ")
    for s in solver.dump():
        log.raw(s)
    net_file = "examples/digits/digits_train_test.prototxt"
    log.info("solver.cpp:87", f"Creating training net from net file: {net_file}")
    for layer in ("data", "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "ip1", "relu3", "ip2",
                  "loss"):
        log.info("net.cpp:100", f"Creating Layer {layer}")
    log.info("net.cpp:242", "This network produces output loss")
    log.info("net.cpp:255", "Network initialization done.")
    log.info("solver.cpp:172", f"Creating test net (#0) specified by net file: {net_file}")
    log.info("net.cpp:242", "This network produces output accuracy")
    log.info("net.cpp:242", "This network produces output loss")
    log.info("solver.cpp:56", "Solver scaffolding done.")
    log.info("caffe.cpp:248", "Starting Optimization")
    log.info("solver.cpp:272", "Solving DigitsNet")
    log.info("solver.cpp:273", f"Learning Rate Policy: {solver.lr_policy}")

    net = Net(np.random.default_rng(seed + 2))
    losses: list[float] = []
    smoothed = 0.0
    current_step = 0
    last_display_t = log.t
    cursor = 0

    def lr_at(it: int) -> float:
        nonlocal current_step
        if solver.lr_policy == "step":
            return solver.base_lr * solver.gamma ** (it // solver.stepsize)
        if solver.lr_policy == "multistep":
            if current_step < len(solver.stepvalue) and it >= solver.stepvalue[current_step]:
                current_step += 1
                log.info("sgd_solver.cpp:61", f"MultiStep Status: Iteration {it}, step = {current_step}")
            return solver.base_lr * solver.gamma ** current_step
        return solver.base_lr

    def test(it: int) -> None:
        log.info("solver.cpp:330", f"Iteration {it}, Testing net (#0)")
        acc = loss = 0.0
        for b in range(solver.test_iter):
            sl = slice(b * solver.test_batch, (b + 1) * solver.test_batch)
            out = net.forward(xte[sl], yte[sl], log if solver.debug_info else None, test=True)
            acc += out["accuracy"]
            loss += out["loss"]
            log.tick(0.004)
        acc /= solver.test_iter
        loss /= solver.test_iter
        log.info("solver.cpp:397", f"    Test net output #0: accuracy = {_g(acc)}")
        log.info("solver.cpp:397", f"    Test net output #1: loss = {_g(loss)} (* 1 = {_g(loss)} loss)")

    for it in range(solver.max_iter):
        for q in net.params():
            q.diff[...] = 0
        if solver.test_interval and it % solver.test_interval == 0:
            test(it)
        display = it % solver.display == 0
        idx = (np.arange(solver.batch) + cursor) % len(ytr)
        cursor = (cursor + solver.batch) % len(ytr)
        dlog = log if (display and solver.debug_info) else None
        out = net.forward(xtr[idx], ytr[idx], dlog)
        net.backward(dlog)
        log.tick(solver.seconds_per_iter * float(np.exp(log.rng.normal(0, 0.05))))
        loss = out["loss"]
        if len(losses) < solver.average_loss:
            losses.append(loss)
            smoothed = (smoothed * (len(losses) - 1) + loss) / len(losses)
        else:
            j = it % solver.average_loss
            smoothed += (loss - losses[j]) / solver.average_loss
            losses[j] = loss
        rate = lr_at(it)
        if display:
            lapse = (log.t - last_display_t).total_seconds()
            per_s = (solver.display if it else 0) / (lapse or 1)
            log.info("solver.cpp:218", f"Iteration {it} ({_g(per_s)} iter/s, {_g(lapse)}s/"
                     f"{solver.display} iters), loss = {_g(smoothed)}")
            last_display_t = log.t
            log.info("solver.cpp:237", f"    Train net output #0: loss = {_g(loss)} (* 1 = {_g(loss)} loss)")
            log.info("sgd_solver.cpp:105", f"Iteration {it}, lr = {_g(rate)}")
        for q in net.params():
            local_rate = rate * q.lr_mult
            q.diff += solver.weight_decay * q.decay_mult * q.data
            q.history = solver.momentum * q.history + local_rate * q.diff
            q.data -= q.history
    it = solver.max_iter
    snap = f"examples/digits/digits_iter_{it}"
    log.info("solver.cpp:447", f"Snapshotting to binary proto file {snap}.caffemodel")
    log.info("sgd_solver.cpp:273", f"Snapshotting solver state to binary proto file {snap}.solverstate")
    out = net.forward(xtr[:solver.batch], ytr[:solver.batch])
    log.info("solver.cpp:310", f"Iteration {it}, loss = {_g(out['loss'])}")
    if solver.test_interval and it % solver.test_interval == 0:
        test(it)
    log.info("solver.cpp:315", "Optimization Done.")
    log.info("caffe.cpp:259", "Optimization Done.")
    return log.lines


PLAIN = Solver(base_lr=0.05, lr_policy="step", stepsize=1500, max_iter=3000, display=20,
               test_interval=250, average_loss=20)
DEBUG = Solver(base_lr=0.08, lr_policy="multistep", stepvalue=(700, 1000), max_iter=1200, display=10,
               test_interval=200, debug_info=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", type=Path, default=HERE)
    args = ap.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    for name, solver, start, header, seed in (
        ("caffe_numpy_cnn.log", PLAIN, dt.datetime(2016, 3, 14, 9, 26, 53), False, 1),
        ("caffe_numpy_cnn_debug.log", DEBUG, dt.datetime(2016, 3, 15, 23, 58, 31), True, 2),
    ):
        lines = train(solver, start, header=header, seed=seed)
        path = args.outdir / name
        path.write_text("\n".join(lines) + "\n")
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(lines)} lines)")


if __name__ == "__main__":
    main()
