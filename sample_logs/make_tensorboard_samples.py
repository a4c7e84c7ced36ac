"""Write the TensorBoard samples in sample_logs/tensorboard/ from small real training runs.

Three runs, one log root (``sample_logs/tensorboard/``):

``mlp_digits_resumed/``
    A numpy MLP (64-32-10, ReLU, softmax) trained with SGD + momentum on scikit-learn's
    ``load_digits``, logged with tensorboardX's ``SummaryWriter`` the way PyTorch code
    does it: ``Loss/train``, ``learning_rate`` and ``grad_norm`` every step,
    ``Loss/val`` and ``Accuracy/val`` every 25 steps, and a gradient histogram of each
    parameter every 10 steps (``grad/fc1.weight`` ...). The job "crashes" after step
    179; a second writer (a second event file) resumes from the step-150 checkpoint
    with a reshuffled data order, writes a ``SessionLog.START`` at step 150 and runs to
    step 299, so steps 150..179 are logged twice with different values. The lr decays
    x0.1 at step 200. ``add_hparams`` writes its usual ``hparams/`` subdirectory.
``tf2_tensor_scalars/``
    Logistic regression (full-batch gradient descent, 20 epochs) logged the way TF2's
    ``tf.summary`` stores values: scalar *tensors* with plugin ``scalars`` (the plugin
    metadata only on each tag's first event), one tag per encoding (``tensor_content``
    DT_FLOAT, ``float_val``, ``double_val``, ``half_val`` DT_HALF, ``int64_val``),
    a TF2 histogram tensor (plugin ``histograms``, DT_DOUBLE [k, 3]), the hparams
    plugin, and an image and a text summary (which readers skip). Written with the
    protobuf messages directly, framed by tensorboardX's event writer.
``keras_tf2_digits/``
    The layout of Keras's TF2 ``TensorBoard`` callback: ``train/`` and ``validation/``
    event files with ``epoch_loss``, ``epoch_accuracy``, ``epoch_learning_rate`` and
    ``evaluation_loss_vs_iterations`` as DT_FLOAT scalar tensors, 15 epochs of a numpy
    softmax regression with a validation split.

Run from the repository root: ``python sample_logs/make_tensorboard_samples.py``.
Needs numpy, scikit-learn and tensorboardX (no torch, no TensorFlow). The values are
deterministic (fixed seeds and wall times); file names are fixed after writing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from tensorboardX import SummaryWriter
from tensorboardX.proto.event_pb2 import Event, SessionLog
from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionStartInfo
from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboardX.proto.tensor_pb2 import TensorProto
from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

OUT = Path(__file__).resolve().parent / "tensorboard"
T0 = 1_700_000_000.0  # wall time of the first event (fixed so the files are reproducible)
DT_FLOAT, DT_DOUBLE, DT_INT64, DT_STRING, DT_HALF = 1, 2, 9, 7, 19


# -- data and models -------------------------------------------------------------------
def digits_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, y_train, x_val, y_val): 8x8 digits scaled to [0, 1], 80/20."""
    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.8 * len(y))
    return x[idx[:cut]], y[idx[:cut]], x[idx[cut:]], y[idx[cut:]]


def softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Return (mean cross-entropy, d loss / d logits, probabilities)."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    loss = float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())
    g = p.copy()
    g[np.arange(len(y)), y] -= 1.0
    return loss, g / len(y), p


class MLP:
    """64-32-10 ReLU network with SGD + momentum."""

    def __init__(self, seed: int) -> None:
        r = np.random.default_rng(seed)
        self.params = {
            "fc1.weight": r.normal(0, np.sqrt(2 / 64), (64, 32)),
            "fc1.bias": np.zeros(32),
            "fc2.weight": r.normal(0, np.sqrt(1 / 32), (32, 10)),
            "fc2.bias": np.zeros(10),
        }
        self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()}

    def copy_state(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return ({k: v.copy() for k, v in self.params.items()},
                {k: v.copy() for k, v in self.velocity.items()})

    def load_state(self, state: tuple[dict[str, np.ndarray], dict[str, np.ndarray]]) -> None:
        self.params = {k: v.copy() for k, v in state[0].items()}
        self.velocity = {k: v.copy() for k, v in state[1].items()}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        h = np.maximum(x @ p["fc1.weight"] + p["fc1.bias"], 0.0)
        return h, h @ p["fc2.weight"] + p["fc2.bias"]

    def grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        h, logits = self.forward(x)
        loss, g, _ = softmax_xent(logits, y)
        gh = (g @ self.params["fc2.weight"].T) * (h > 0)
        return loss, {"fc1.weight": x.T @ gh, "fc1.bias": gh.sum(0),
                      "fc2.weight": h.T @ g, "fc2.bias": g.sum(0)}

    def step(self, grads: dict[str, np.ndarray], lr: float, momentum: float = 0.9) -> None:
        for k, gk in grads.items():
            self.velocity[k] = momentum * self.velocity[k] + gk
            self.params[k] -= lr * self.velocity[k]

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        _, logits = self.forward(x)
        loss, _, p = softmax_xent(logits, y)
        return loss, float((p.argmax(1) == y).mean())


# -- writing helpers -------------------------------------------------------------------
def _settle(directory: Path, name: str) -> None:
    """Give the one event file the writer just made in ``directory`` a fixed name."""
    made = sorted(p for p in directory.glob("events.out.tfevents.*") if "gradlog-sample" not in p.name)
    assert len(made) == 1, made
    made[0].rename(directory / name)


def _scalar_tensor(tag: str, tensor: TensorProto, first: bool) -> Summary.Value:
    v = Summary.Value(tag=tag, tensor=tensor)
    if first:  # TF2 writes the plugin metadata with a tag's first value only
        v.metadata.CopyFrom(SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars")))
    return v


def _f32_content(x: float) -> TensorProto:
    return TensorProto(dtype=DT_FLOAT, tensor_shape=TensorShapeProto(),
                       tensor_content=np.float32(x).tobytes())


# -- run 1: tensorboardX SummaryWriter, scalars + gradient histograms, resumed ------------
def mlp_digits_resumed(root: Path) -> None:
    run_dir = root / "mlp_digits_resumed"
    xtr, ytr, xva, yva = digits_split(0)
    model = MLP(seed=1)
    batch = 32
    lr0 = 0.05

    def lr_at(step: int) -> float:
        return lr0 * (0.1 if step >= 200 else 1.0)

    def train(writer: SummaryWriter, steps: range, order_seed: int,
              checkpoint_at: int | None = None) -> dict[str, object] | None:
        rng = np.random.default_rng(order_seed)
        saved = None
        for step in steps:
            if checkpoint_at is not None and step == checkpoint_at:
                saved = {"state": model.copy_state()}
            idx = rng.integers(0, len(ytr), batch)
            loss, grads = model.grads(xtr[idx], ytr[idx])
            gnorm = float(np.sqrt(sum((g * g).sum() for g in grads.values())))
            wall = T0 + step * 0.5
            writer.add_scalar("Loss/train", loss, step, walltime=wall)
            writer.add_scalar("learning_rate", lr_at(step), step, walltime=wall)
            writer.add_scalar("grad_norm", gnorm, step, walltime=wall)
            if step % 10 == 0:
                for name, g in grads.items():
                    writer.add_histogram(f"grad/{name}", g, step, bins=20, walltime=wall)
            model.step(grads, lr_at(step))
            if step % 25 == 0 or step == steps[-1]:
                vloss, vacc = model.evaluate(xva, yva)
                writer.add_scalar("Loss/val", vloss, step, walltime=wall + 0.1)
                writer.add_scalar("Accuracy/val", vacc, step, walltime=wall + 0.1)
        return saved

    # First job: steps 0..179, checkpoint saved at step 150, then it dies.
    w1 = SummaryWriter(str(run_dir), flush_secs=1)
    saved = train(w1, range(0, 180), order_seed=10, checkpoint_at=150)
    w1.close()
    _settle(run_dir, "events.out.tfevents.1700000000.gradlog-sample.1")
    # Second job: restores the step-150 checkpoint, new data order, runs to step 299.
    assert saved is not None
    model.load_state(saved["state"])  # type: ignore[arg-type]
    w2 = SummaryWriter(str(run_dir), flush_secs=1)
    w2.file_writer.add_event(Event(session_log=SessionLog(status=SessionLog.START)),
                             step=150, walltime=T0 + 1000.0)
    train(w2, range(150, 300), order_seed=20)
    vloss, vacc = model.evaluate(xva, yva)
    w2.add_hparams({"lr": lr0, "momentum": 0.9, "batch_size": batch, "optimizer": "sgd"},
                   {"hparam/val_accuracy": vacc}, name="hparams", global_step=299)
    w2.close()
    _settle(run_dir, "events.out.tfevents.1700000900.gradlog-sample.2")
    _settle(run_dir / "hparams", "events.out.tfevents.1700001100.gradlog-sample.3")


# -- run 2: TF2 tensor encodings, written with the protobuf messages directly ------------
def tf2_tensor_scalars(root: Path) -> None:
    run_dir = root / "tf2_tensor_scalars"
    xtr, ytr, xva, yva = digits_split(1)
    w = np.zeros((64, 10))
    b = np.zeros(10)
    lr = 0.5
    writer = SummaryWriter(str(run_dir), flush_secs=1)
    fw = writer.file_writer
    ssi = HParamsPluginData(version=0, session_start_info=SessionStartInfo())
    ssi.session_start_info.hparams["learning_rate"].number_value = lr
    ssi.session_start_info.hparams["optimizer"].string_value = "gd"
    ssi.session_start_info.hparams["full_batch"].bool_value = True
    hp = Summary(value=[Summary.Value(
        tag="_hparams_/session_start_info",
        metadata=SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
            plugin_name="hparams", content=ssi.SerializeToString())))])
    fw.add_summary(hp, global_step=0, walltime=T0 + 300.0)
    for epoch in range(20):
        logits = xtr @ w + b
        loss, g, p = softmax_xent(logits, ytr)
        gw, gb = xtr.T @ g, g.sum(0)
        w -= lr * gw
        b -= lr * gb
        acc = float((p.argmax(1) == ytr).mean())
        gnorm = float(np.sqrt((gw * gw).sum() + (gb * gb).sum()))
        first = epoch == 0
        values = [
            _scalar_tensor("loss", _f32_content(loss), first),
            _scalar_tensor("accuracy", TensorProto(dtype=DT_FLOAT, tensor_shape=TensorShapeProto(),
                                                   float_val=[acc]), first),
            _scalar_tensor("learning_rate", TensorProto(dtype=DT_DOUBLE, tensor_shape=TensorShapeProto(),
                                                        double_val=[lr]), first),
            _scalar_tensor("grad_norm", TensorProto(
                dtype=DT_HALF, tensor_shape=TensorShapeProto(),
                half_val=[int(np.float16(gnorm).view(np.uint16))]), first),
            _scalar_tensor("examples_seen", TensorProto(dtype=DT_INT64, tensor_shape=TensorShapeProto(),
                                                        int64_val=[(epoch + 1) * len(ytr)]), first),
        ]
        wall = T0 + 300.0 + epoch
        fw.add_summary(Summary(value=values), global_step=epoch, walltime=wall)
        if epoch % 5 == 0:
            counts, edges = np.histogram(gw, bins=8)
            buckets = np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)
            t = TensorProto(dtype=DT_DOUBLE, tensor_content=buckets.astype("<f8").tobytes(),
                            tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=8),
                                                               TensorShapeProto.Dim(size=3)]))
            hv = Summary.Value(tag="grad/weights", tensor=t, metadata=SummaryMetadata(
                plugin_data=SummaryMetadata.PluginData(plugin_name="histograms")))
            fw.add_summary(Summary(value=[hv]), global_step=epoch, walltime=wall)
    vloss, _, vp = softmax_xent(xva @ w + b, yva)
    text = Summary.Value(tag="notes", tensor=TensorProto(
        dtype=DT_STRING, tensor_shape=TensorShapeProto(), string_val=[b"full-batch GD, lr 0.5"]),
        metadata=SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text")))
    image = Summary.Value(tag="weights_image", tensor=TensorProto(
        dtype=DT_STRING, tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=3)]),
        string_val=[b"8", b"8", b"\x89PNG not decoded by readers"]),
        metadata=SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="images")))
    fw.add_summary(Summary(value=[text, image]), global_step=19, walltime=T0 + 330.0)
    fw.add_summary(Summary(value=[_scalar_tensor("val_loss", _f32_content(vloss), True)]),
                   global_step=19, walltime=T0 + 330.0)
    writer.close()
    _settle(run_dir, "events.out.tfevents.1700000300.gradlog-sample.0.v2")


# -- run 3: Keras TF2 callback layout --------------------------------------------------
def keras_tf2_digits(root: Path) -> None:
    run_dir = root / "keras_tf2_digits"
    xtr, ytr, xva, yva = digits_split(2)
    w = np.zeros((64, 10))
    b = np.zeros(10)
    rng = np.random.default_rng(3)
    train_w = SummaryWriter(str(run_dir / "train"), flush_secs=1)
    val_w = SummaryWriter(str(run_dir / "validation"), flush_secs=1)
    iterations = 0
    for epoch in range(15):
        lr = 0.2 * (0.5 ** (epoch // 5))
        order = rng.permutation(len(ytr))
        losses, hits = [], 0
        for start in range(0, len(ytr), 64):
            idx = order[start:start + 64]
            loss, g, p = softmax_xent(xtr[idx] @ w + b, ytr[idx])
            w -= lr * (xtr[idx].T @ g)
            b -= lr * g.sum(0)
            losses.append(loss * len(idx))
            hits += int((p.argmax(1) == ytr[idx]).sum())
            iterations += 1
        first = epoch == 0
        wall = T0 + 600.0 + 2 * epoch
        train_w.file_writer.add_summary(Summary(value=[
            _scalar_tensor("epoch_loss", _f32_content(sum(losses) / len(ytr)), first),
            _scalar_tensor("epoch_accuracy", _f32_content(hits / len(ytr)), first),
            _scalar_tensor("epoch_learning_rate", _f32_content(lr), first),
        ]), global_step=epoch, walltime=wall)
        vloss, _, vp = softmax_xent(xva @ w + b, yva)
        vacc = float((vp.argmax(1) == yva).mean())
        val_w.file_writer.add_summary(Summary(value=[
            _scalar_tensor("epoch_loss", _f32_content(vloss), first),
            _scalar_tensor("epoch_accuracy", _f32_content(vacc), first),
        ]), global_step=epoch, walltime=wall + 1)
        val_w.file_writer.add_summary(Summary(value=[
            _scalar_tensor("evaluation_loss_vs_iterations", _f32_content(vloss), first),
        ]), global_step=iterations, walltime=wall + 1)
    train_w.close()
    val_w.close()
    _settle(run_dir / "train", "events.out.tfevents.1700000600.gradlog-sample.1.v2")
    _settle(run_dir / "validation", "events.out.tfevents.1700000600.gradlog-sample.2.v2")


def main() -> None:
    """Rewrite sample_logs/tensorboard/ from scratch."""
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    mlp_digits_resumed(OUT)
    tf2_tensor_scalars(OUT)
    keras_tf2_digits(OUT)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
