"""The seed corpus: small inputs of every format family, cut from ``sample_logs/``.

An input is a :class:`Case`: one file (``name`` -> bytes) or a small directory tree
(several relative paths), written into a scratch folder before each run. Seeds are kept
small (tens of KB) so that a mutated input loads in milliseconds; formats with no sample
of their own (Keras, Ultralytics, timm, long CSV, MLflow) are derived from the sample
PyTorch CSV.
"""

from __future__ import annotations

import csv
import io
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_logs"

#: Format families and the parsers each covers.
FAMILIES: dict[str, tuple[str, ...]] = {
    "tensorboard": ("tensorboard",),
    "caffe": ("caffe",),
    "csv": ("csv_wide", "csv_long", "keras", "ultralytics", "timm"),
    "json": ("hf_trainer",),
    "lightning": ("lightning",),
    "mlflow": ("mlflow",),
}


@dataclass
class Case:
    """One fuzz input: ``files`` maps a relative path to its bytes; ``root`` is what is
    given to ``gradlog.load`` (a file among ``files``, or ``"."`` for the whole tree)."""

    family: str
    files: dict[str, bytes]
    root: str
    origin: str = ""
    notes: list[str] = field(default_factory=list)

    def size(self) -> int:
        """Return the total bytes of the input."""
        return sum(len(b) for b in self.files.values())

    def copy(self) -> Case:
        """Return a copy (files dict copied; bytes are immutable)."""
        return Case(self.family, dict(self.files), self.root, self.origin, list(self.notes))


def _records(data: bytes) -> list[bytes]:
    """Return the TFRecord payloads of an event file (framing trusted: samples are sound)."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        out.append(data[pos + 12 : pos + 12 + n])
        pos += 16 + n
    return out


def _head_lines(data: bytes, max_bytes: int) -> bytes:
    cut = data[:max_bytes]
    return cut[: cut.rfind(b"\n") + 1] if b"\n" in cut else cut


def tensorboard_seeds() -> list[Case]:
    """Event files: the first records of every sample file plus its records that are not
    plain scalars (histograms, tensors, hparams), re-framed."""
    from gradlog.parsers import _tfrecord as tfr

    out = []
    for p in sorted((SAMPLES / "tensorboard").rglob("events.out.tfevents.*")):
        recs = _records(p.read_bytes())
        keep = (
            recs[:40]
            + [r for r in recs[40:] if b"histo" in r or b"tensor" in r or b"hparams" in r or b"scalars" in r][
                :12
            ]
        )
        data = b"".join(tfr.frame_record(r) for r in keep)
        out.append(Case("tensorboard", {p.name: data}, p.name, str(p.relative_to(REPO))))
    return out


def caffe_seeds() -> list[Case]:
    out = []
    for name in ("caffe_numpy_cnn.log", "caffe_numpy_cnn_debug.log"):
        data = (SAMPLES / name).read_bytes()
        out.append(Case("caffe", {name: _head_lines(data, 24_000)}, name, f"sample_logs/{name}"))
        if len(data) > 60_000:  # the middle too: test passes, LR changes, debug blocks
            mid = data[len(data) // 2 :]
            mid = mid[mid.find(b"\n") + 1 :]
            out.append(
                Case(
                    "caffe",
                    {name: data[:2000] + _head_lines(mid, 20_000)},
                    name,
                    f"sample_logs/{name} (middle)",
                )
            )
    return out


def _table(path: Path, max_rows: int) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1 : 1 + max_rows]


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def csv_seeds() -> list[Case]:
    """Wide CSVs (the samples), and Keras / Ultralytics / timm / long CSVs derived from them."""
    out = []
    for rel in (
        "pytorch_cnn/train_log.csv",
        "pytorch_cnn_high_lr/train_log.csv",
        "pytorch_cnn/lightning_logs/version_0/metrics.csv",
    ):
        data = (SAMPLES / rel).read_bytes()
        out.append(
            Case("csv", {"train_log.csv": _head_lines(data, 16_000)}, "train_log.csv", f"sample_logs/{rel}")
        )
    header, rows = _table(SAMPLES / "pytorch_cnn/train_log.csv", 400)
    col = {h: i for i, h in enumerate(header)}

    def pick(name: str, default: str = "") -> list[str]:
        return [r[col[name]] if name in col and col[name] < len(r) else default for r in rows]

    loss, lr, step = (
        pick(header[col.get("loss", 1)] if "loss" in col else header[1]),
        pick("lr", "0.1"),
        pick(header[0]),
    )
    epochs = [str(i) for i in range(len(rows))]
    keras = _csv(
        ["epoch", "accuracy", "loss", "lr", "val_accuracy", "val_loss"],
        [[e, "0.5", a, b, "0.4", a] for e, a, b in zip(epochs, loss, lr, strict=False)][:60],
    )
    out.append(Case("csv", {"training.log": keras}, "training.log", "derived: Keras CSVLogger"))
    ultra = _csv(
        [
            "                  epoch",
            "      train/box_loss",
            "      train/cls_loss",
            "   metrics/mAP50(B)",
            "         val/box_loss",
            "               lr/pg0",
        ],
        [
            [f"{int(e) + 1:>23}", f"{float(a):>20.5g}", "1.2", "0.3", a, b]
            for e, a, b in zip(epochs, loss, lr, strict=False)
        ][:60],
    )
    out.append(Case("csv", {"results.csv": ultra}, "results.csv", "derived: Ultralytics"))
    timm = _csv(
        ["epoch", "train_loss", "eval_loss", "eval_top1", "eval_top5", "lr"],
        [[e, a, a, "51.2", "80.1", b] for e, a, b in zip(epochs, loss, lr, strict=False)][:60],
    )
    out.append(Case("csv", {"summary.csv": timm}, "summary.csv", "derived: timm summary.csv"))
    long = _csv(
        ["step", "tag", "value"],
        [[s, "train/loss", a] for s, a in zip(step, loss, strict=False)][:200]
        + [[s, "train/lr", b] for s, b in zip(step, lr, strict=False)][:200],
    )
    out.append(Case("csv", {"metrics_long.csv": long}, "metrics_long.csv", "derived: long CSV"))
    return out


def json_seeds() -> list[Case]:
    doc = json.loads((SAMPLES / "pytorch_cnn/trainer_state.json").read_bytes())
    doc["log_history"] = doc.get("log_history", [])[:80]
    data = json.dumps(doc, indent=2).encode()
    return [
        Case(
            "json",
            {"trainer_state.json": data},
            "trainer_state.json",
            "sample_logs/pytorch_cnn/trainer_state.json",
        )
    ]


def lightning_seeds() -> list[Case]:
    base = SAMPLES / "pytorch_cnn/lightning_logs/version_0"
    files = {
        "version_0/metrics.csv": _head_lines((base / "metrics.csv").read_bytes(), 12_000),
        "version_0/hparams.yaml": (base / "hparams.yaml").read_bytes(),
    }
    return [Case("lightning", files, "version_0", str(base.relative_to(REPO)))]


def mlflow_seeds() -> list[Case]:
    header, rows = _table(SAMPLES / "pytorch_cnn/train_log.csv", 120)
    files: dict[str, bytes] = {}
    run = "mlruns/0/0123456789abcdef"
    for j, name in enumerate(header[1:4], start=1):
        lines = "".join(
            f"{1700000000000 + 1000 * i} {r[j]} {r[0]}\n" for i, r in enumerate(rows) if j < len(r)
        )
        files[f"{run}/metrics/{name.replace('/', '_')}"] = lines.encode()
    files[f"{run}/params/lr"] = b"0.1"
    files[f"{run}/params/batch_size"] = b"64"
    files[f"{run}/meta.yaml"] = (
        b"run_id: 0123456789abcdef\nrun_name: fuzz\nexperiment_id: '0'\nstatus: 3\nlifecycle_stage: active\n"
    )
    files["mlruns/0/meta.yaml"] = b"experiment_id: '0'\nname: Default\n"
    return [Case("mlflow", files, run, "derived: MLflow file store")]


def all_seeds() -> dict[str, list[Case]]:
    """Return the seeds of every family."""
    return {
        "tensorboard": tensorboard_seeds(),
        "caffe": caffe_seeds(),
        "csv": csv_seeds(),
        "json": json_seeds(),
        "lightning": lightning_seeds(),
        "mlflow": mlflow_seeds(),
    }
