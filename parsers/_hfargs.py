"""The Hugging Face Trainer's settings beside ``trainer_state.json`` (private).

The Trainer saves its ``TrainingArguments`` as ``training_args.bin`` (``torch.save``:
a zip archive holding ``<name>/data.pkl``, or a bare pickle in old versions); some
scripts also write ``training_args.json``. The pickle is never executed: a restricted
unpickler maps every class it names to an inert record of its arguments and state, so
only plain data (numbers, strings, lists, dicts) comes out, and any other opcode that
would call code raises.

What is read: ``optim`` (the optimizer: ``adamw_torch`` ...; HF's default, AdamW, when
the arguments predate the ``optim`` field), ``learning_rate``, ``weight_decay``,
``per_device_train_batch_size``, ``gradient_accumulation_steps``, ``adam_beta1``,
``adam_beta2``, ``max_grad_norm``, ``lr_scheduler_type``, ``warmup_steps``,
``warmup_ratio``, ``num_train_epochs``, ``max_steps``, ``seed``.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

from ._hparams import read_settings_file
from ._jsondoc import DocumentTooLargeError, read_document_bytes

__all__ = ["ARGS_FILES", "read_training_args"]

#: Files that hold the arguments, first found wins.
ARGS_FILES = ("training_args.json", "training_args.bin")

KEYS = (
    "optim",
    "learning_rate",
    "weight_decay",
    "per_device_train_batch_size",
    "train_batch_size",
    "gradient_accumulation_steps",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
    "lr_scheduler_type",
    "warmup_steps",
    "warmup_ratio",
    "num_train_epochs",
    "max_steps",
    "seed",
    "optim_args",
)


class _Inert:
    """Stands for any class a pickle names: records arguments and state, runs nothing."""

    args: tuple[Any, ...] = ()
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state = kwargs or None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _SafeUnpickler(pickle.Unpickler):
    """Every class named in the pickle becomes a fresh subclass of :class:`_Inert`."""

    def find_class(self, module: str, name: str) -> Any:
        return type(str(name)[:100] or "_", (_Inert,), {"qualname": f"{module}.{name}"[:300]})

    def persistent_load(self, pid: Any) -> Any:
        return None  # tensor storages: not part of the arguments


def _plain(obj: Any, depth: int = 0) -> Any:
    """Inert records -> their state (a dict) or their single argument (an enum value)."""
    if depth > 20:
        return None
    if isinstance(obj, _Inert):
        if isinstance(obj.state, dict):
            return {str(k): _plain(v, depth + 1) for k, v in obj.state.items()}
        if len(obj.args) == 1:
            return _plain(obj.args[0], depth + 1)
        return None
    if isinstance(obj, dict):
        return {str(k): _plain(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, depth + 1) for v in obj]
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    return None


def _unpickle(raw: bytes) -> Any:
    if raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            names = [n for n in zf.namelist() if n.endswith("data.pkl")]
            if not names:
                return None
            raw = zf.read(names[0])
    return _SafeUnpickler(io.BytesIO(raw)).load()


def read_training_args(directory: Path | None) -> tuple[dict[str, Any], list[str], str | None]:
    """Read the Trainer's arguments beside ``trainer_state.json``.

    Returns
    -------
    (settings, warnings, file name or None) : ``settings`` holds the keys of the module
        docstring that the file has; ``optim`` is ``adamw`` (HF's default) when the file
        is there but predates that field. Empty when no file is found.
    """
    if directory is None:
        return {}, [], None
    for name in ARGS_FILES:
        p = directory / name
        if not p.is_file():
            continue
        if name.endswith(".json"):
            data, warns = read_settings_file(p)
        else:
            data, warns = _read_bin(p)
        if not isinstance(data, dict):
            return {}, warns, None
        out = {k: data[k] for k in KEYS if k in data and _scalar(data[k])}
        if not isinstance(out.get("optim"), str):
            out["optim"] = "adamw"  # the Trainer's default before the `optim` field
        return out, warns, name
    return {}, [], None


def _read_bin(p: Path) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        raw = read_document_bytes(p)
    except (DocumentTooLargeError, OSError) as exc:
        return None, [f"{p.name}: cannot read ({exc})"]
    try:
        data = _plain(_unpickle(raw))
    except Exception as exc:  # noqa: BLE001 - any damage in a side file is only a warning
        why = f"({type(exc).__name__}); settings not read"
        return None, [f"{p.name}: not a readable TrainingArguments file {why}"]
    if not isinstance(data, dict):
        return None, [f"{p.name}: holds no TrainingArguments; settings not read"]
    return data, []


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (int, float, str, bool))
