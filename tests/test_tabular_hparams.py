"""Settings beside a log: YAML read by PyYAML (the cases the old hand reader got wrong),
the optimizer facts of every format, the Trainer's arguments read without running
the pickle, and the size cap on whole documents."""

from __future__ import annotations

import dataclasses
import enum
import io
import json
import pickle
import sys
import types
import zipfile

import pytest

import gradlog
from gradlog.errors import DamagedInputError, ParseError
from parsers import _hparams, _jsondoc

LOOP = "step,loss,lr\n0,2.0,0.1\n1,1.5,0.1\n2,1.25,0.1\n"


def _write(path, text: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


# -- YAML ----------------------------------------------------------------------------------

LONG = "a description of the model that goes on well past eighty characters of text, ending here"


def test_yaml_cases_the_hand_reader_got_wrong():
    text = (
        f"note: {LONG}\n"
        "quoted: 'it''s fine'\n"
        "multi: 'line one\n  line two'\n"
        "empty: {}\n"
        "block: |\n  first\n  second\n"
        "folded: >-\n  one\n  two\n"
        "nested: {a: [1, 2, {b: 3}], c: {d: [x, y]}}\n"
        "base: &base {lr: 0.1, momentum: 0.9}\n"
        "derived:\n  <<: *base\n  lr: 0.01\n"
        "milestones:\n- 8\n- 30\n"
    )
    data, warns = _hparams.read_yaml(text)
    assert warns == []
    assert data["note"] == LONG and len(data["note"]) > 80
    assert data["quoted"] == "it's fine"
    assert data["multi"] == "line one line two"
    assert data["empty"] == {}
    assert data["block"] == "first\nsecond\n" and data["folded"] == "one two"
    assert data["nested"] == {"a": [1, 2, {"b": 3}], "c": {"d": ["x", "y"]}}
    assert data["derived"] == {"lr": 0.01, "momentum": 0.9}
    assert data["milestones"] == [8, 30]


def test_yaml_whole_document_empty_mapping_and_errors():
    assert _hparams.read_yaml("{}") == ({}, [])
    assert _hparams.read_yaml("") == ({}, [])
    data, warns = _hparams.read_yaml("- 1\n- 2\n")
    assert data == {} and warns == ["the document is not a mapping; nothing read"]
    data, warns = _hparams.read_yaml("a: [1, 2\nb: 3\n")
    assert data == {} and len(warns) == 1 and "not valid YAML" in warns[0]


def test_yaml_python_tags_lightning_writes_are_kept_as_data_not_run():
    text = (
        "optimizer: !!python/name:torch.optim.SGD ''\n"
        "betas: !!python/tuple [0.9, 0.999]\n"
        "sched: !!python/object:argparse.Namespace {gamma: 0.1}\n"
        "obj: !!python/object/apply:os.system ['echo pwned']\n"
        "custom: !mytag 3\n"
    )
    data, warns = _hparams.read_yaml(text)
    assert warns == []
    assert data == {
        "optimizer": "torch.optim.SGD",
        "betas": [0.9, 0.999],
        "sched": {"gamma": 0.1},
        "obj": ["echo pwned"],
        "custom": 3,
    }


def test_yaml_long_lines_read_in_linear_time():
    import time

    t0 = time.perf_counter()
    data, _ = _hparams.read_yaml("k: " + "x" * 1_000_000 + "\nj: " + " " * 1_000_000 + "1\n")
    assert len(data["k"]) == 1_000_000 and data["j"] == 1
    assert _hparams.parse_scalar("1" * 1_000_000 + "x").endswith("x")
    assert time.perf_counter() - t0 < 30


def test_yaml_deep_nesting_is_refused_at_once_not_quadratic_or_a_segfault():
    """60 KB of '[' took libyaml 2 s (quadratic in the nesting); 30,000 levels killed the
    interpreter (C stack overflow in the composer). Smoke test: 1 MB of each finishes."""
    import time

    t0 = time.perf_counter()
    for text in (
        "lr: 0.1\nx: " + "[" * 1_000_000,
        "x: " + "{a: " * 300_000,
        "x:\n  " + "- " * 500_000 + "1\n",
    ):
        data, warns = _hparams.read_yaml(text)
        assert data == {}
        assert len(warns) == 1 and "nested deeper than 100 levels; nothing read" in warns[0]
    assert time.perf_counter() - t0 < 10  # linear: ~0.02 s
    # at the limit: the document's own mapping and 99 lists
    data, warns = _hparams.read_yaml("x: " + "[" * 99 + "1" + "]" * 99 + "\nlr: 0.1\n")
    assert warns == [] and data["lr"] == 0.1


def test_yaml_alias_bomb_and_cycles_are_refused_shared_values_kept():
    bomb = "lr: 0.1\na0: &a0 {x: 1, y: 2}\n" + "".join(
        f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(9)) + "}\n" for i in range(1, 8)
    )  # 400 bytes, ten million keys once flattened: 376 s before
    data, warns = _hparams.read_yaml(bomb)
    assert data == {} and "an alias bomb?); nothing read" in warns[0]
    for cyclic in ("lr: 0.1\na: &a {b: *a}\n", "a: &x [1, *x]\n"):  # flatten() recursed forever
        data, warns = _hparams.read_yaml(cyclic)
        assert data == {} and "refers to a value that holds it (a cycle); nothing read" in warns[0]
    data, warns = _hparams.read_yaml("milestones: &id001 [6, 20]\nsteps: *id001\nlr: 0.1\n")
    assert warns == [] and data == {"milestones": [6, 20], "steps": [6, 20], "lr": 0.1}


def test_lightning_run_with_an_alias_cycle_in_hparams_loads_with_a_warning(tmp_path):
    _write(tmp_path / "version_0/metrics.csv", "epoch,step,train_loss\n0,0,2.0\n0,1,1.5\n")
    _write(tmp_path / "version_0/hparams.yaml", "lr: 0.1\na: &a {b: *a}\n")
    run = gradlog.load(tmp_path / "version_0")
    assert run.series("train/loss").to_dict() == {0: 2.0, 1: 1.5}
    assert run.meta["warnings"] == [
        "hparams.yaml: line 2: the alias *a refers to a value that holds it (a cycle); nothing read"
    ]


# -- optimizer facts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("torch.optim.SGD", "sgd"),
        ("Adam", "adam"),
        ("AdamW", "adamw"),
        ("adamw_torch_fused", "adamw"),
        ("adamw_hf", "adamw"),
        ("RMSProp", "rmsprop"),
        ("lookahead_adamw", "adamw"),
        ("nadam", "nadam"),
        ("auto", None),
        ("Adafactor", "adafactor"),
        ("momentum", "sgd"),
        (3, None),
    ],
)
def test_optimizer_name(value, name):
    assert _hparams.optimizer_name(value) == name


def test_lightning_hparams_optimizer_facts(tmp_path):
    d = tmp_path / "lightning_logs" / "version_0"
    _write(d / "metrics.csv", "step,epoch,train_loss_step\n0,0,2.0\n1,0,1.5\n")
    _write(
        d / "hparams.yaml",
        "optimizer: !!python/name:torch.optim.SGD ''\nlr: 0.05\n"
        "momentum: 0.9\nweight_decay: 0.0005\nbatch_size: 64\n",
    )
    hp = gradlog.load(d).meta["hparams"]
    assert (hp["optimizer"], hp["momentum"], hp["weight_decay"], hp["lr"], hp["batch_size"]) == (
        "sgd",
        0.9,
        0.0005,
        0.05,
        64,
    )


def test_lightning_cli_class_path_optimizer(tmp_path):
    d = tmp_path / "version_3"
    _write(d / "metrics.csv", "step,epoch,train_loss_step\n0,0,2.0\n1,0,1.5\n")
    _write(
        d / "hparams.yaml",
        "optimizer:\n  class_path: torch.optim.AdamW\n  init_args:\n    lr: 0.001\n    weight_decay: 0.01\n",
    )
    hp = gradlog.load(d).meta["hparams"]
    assert (hp["optimizer"], hp["lr"], hp["weight_decay"], hp["momentum"]) == ("adamw", 0.001, 0.01, None)


def test_facts_are_none_when_unknown(tmp_path):
    hp = gradlog.load(_write(tmp_path / "x.csv", LOOP)).meta["hparams"]
    assert hp == {"optimizer": None, "momentum": None, "weight_decay": None}


def test_ultralytics_args_yaml(tmp_path):
    csv = "epoch,train/box_loss,metrics/mAP50-95(B),lr/pg0\n1,1.5,0.1,0.01\n2,1.25,0.2,0.01\n"
    p = _write(tmp_path / "results.csv", csv)
    _write(
        tmp_path / "args.yaml",
        "optimizer: AdamW\nlr0: 0.002\nmomentum: 0.937\nweight_decay: 0.0005\nbatch: 16\n",
    )
    hp = gradlog.load(p).meta["hparams"]
    assert (hp["optimizer"], hp["lr"], hp["momentum"], hp["weight_decay"], hp["batch_size"]) == (
        "adamw",
        0.002,
        0.937,
        0.0005,
        16,
    )
    _write(tmp_path / "args.yaml", "optimizer: auto\nlr0: 0.01\n")
    assert gradlog.load(p).meta["hparams"]["optimizer"] is None


def test_yolov5_old_adam_flag(tmp_path):
    csv = "epoch,train/box_loss,metrics/mAP_0.5:0.95,x/lr0\n0,1.5,0.1,0.01\n1,1.25,0.2,0.01\n"
    p = _write(tmp_path / "results.csv", csv)
    _write(tmp_path / "opt.yaml", "adam: false\nbatch_size: 32\n")
    _write(tmp_path / "hyp.yaml", "lr0: 0.01\nmomentum: 0.937\nweight_decay: 0.0005\n")
    hp = gradlog.load(p).meta["hparams"]
    assert (hp["optimizer"], hp["momentum"], hp["weight_decay"], hp["batch_size"]) == (
        "sgd",
        0.937,
        0.0005,
        32,
    )


def test_timm_args_yaml(tmp_path):
    p = _write(tmp_path / "summary.csv", "epoch,train_loss,eval_loss,eval_top1\n0,2.0,1.9,40\n1,1.5,1.6,50\n")
    _write(
        tmp_path / "args.yaml",
        "opt: lookahead_adamw\nlr: 0.001\nweight_decay: 0.05\nmomentum: 0.9\nbatch_size: 128\n",
    )
    hp = gradlog.load(p).meta["hparams"]
    assert (hp["optimizer"], hp["lr"], hp["weight_decay"], hp["batch_size"]) == ("adamw", 0.001, 0.05, 128)


def test_mlflow_params_optimizer(tmp_path):
    run = tmp_path / "mlruns" / "0" / "abc"
    _write(run / "meta.yaml", "run_id: abc\nrun_name: r\nexperiment_id: '0'\n")
    _write(run / "metrics" / "loss", "1700000000000 2.0 0\n1700000001000 1.5 1\n")
    _write(run / "params" / "optimizer_name", "RMSprop")
    _write(run / "params" / "lr", "0.01")
    _write(run / "params" / "momentum", "0.5")
    hp = gradlog.load(run).meta["hparams"]
    assert (hp["optimizer"], hp["lr"], hp["momentum"], hp["weight_decay"]) == ("rmsprop", 0.01, 0.5, None)


STATE = {
    "global_step": 20,
    "train_batch_size": 8,
    "max_steps": 20,
    "log_history": [
        {"loss": 2.0, "learning_rate": 5e-5, "epoch": 0.5, "step": 10},
        {"loss": 1.5, "learning_rate": 2.5e-5, "epoch": 1.0, "step": 20},
    ],
}


def _fake_training_args(**fields) -> bytes:
    """A pickle shaped like ``torch.save(TrainingArguments(...))`` (zip, data.pkl), made
    from stand-in classes registered under transformers' module names."""
    mod = types.ModuleType("transformers.training_args")
    names = enum.Enum("OptimizerNames", {"X": fields.pop("optim", "adamw_torch")}, type=str)
    cls = dataclasses.make_dataclass("TrainingArguments", list(fields))
    for c in (names, cls):
        c.__module__ = mod.__name__
        setattr(mod, c.__name__, c)
    saved = {k: sys.modules.get(k) for k in ("transformers", "transformers.training_args")}
    sys.modules["transformers"] = types.ModuleType("transformers")
    sys.modules["transformers.training_args"] = mod
    try:
        obj = cls(**fields)
        obj.optim = names.X
        raw = pickle.dumps(obj, protocol=2)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("training_args/data.pkl", raw)
        zf.writestr("training_args/version", "3\n")
    return buf.getvalue()


def test_hf_trainer_optimizer_from_training_args_bin(tmp_path):
    p = _write(tmp_path / "out" / "trainer_state.json", json.dumps(STATE))
    hp = gradlog.load(p).meta["hparams"]
    assert hp["optimizer"] is None and hp["batch_size"] == 8  # no args file: not said
    _write(
        tmp_path / "out" / "training_args.bin",
        _fake_training_args(
            optim="adafactor", learning_rate=3e-4, weight_decay=0.1, per_device_train_batch_size=4
        ),
    )
    run = gradlog.load(p)
    hp = run.meta["hparams"]
    assert (hp["optimizer"], hp["lr"], hp["weight_decay"], hp["momentum"]) == ("adafactor", 3e-4, 0.1, None)
    assert run.meta["hparams_file"] == "training_args.bin"


def test_hf_trainer_default_optimizer_only_with_the_args_file(tmp_path):
    p = _write(tmp_path / "trainer_state.json", json.dumps(STATE))
    _write(tmp_path / "training_args.json", json.dumps({"learning_rate": 1e-4, "weight_decay": 0.0}))
    hp = gradlog.load(p).meta["hparams"]
    assert (hp["optimizer"], hp["lr"], hp["weight_decay"]) == ("adamw", 1e-4, 0.0)


def test_hf_training_args_pickle_is_never_executed(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('ran')",))

    p = _write(tmp_path / "trainer_state.json", json.dumps(STATE))
    _write(tmp_path / "training_args.bin", pickle.dumps({"optim": "sgd", "x": Boom()}))
    hp = gradlog.load(p).meta["hparams"]
    assert hp["optimizer"] == "sgd"


# -- a document cut short; the size cap ----------------------------------------------------


def test_hf_trainer_state_cut_short_keeps_complete_entries(tmp_path):
    text = json.dumps(STATE, indent=2)
    cut = text[: text.index('"step": 20') + 4]
    p = _write(tmp_path / "trainer_state.json", cut)
    run = gradlog.load(p, format="hf_trainer")
    assert run.series("train/loss").to_dict() == {10: 2.0}
    assert run.meta["truncated"] == 1 and any("cut short" in w for w in run.meta["warnings"])
    with pytest.raises(DamagedInputError, match="cut short"):
        gradlog.load(p, format="hf_trainer", strict=True)


def test_hf_invalid_json_in_the_middle_is_still_an_error(tmp_path):
    p = _write(tmp_path / "trainer_state.json", '{"log_history": [{"step": 1, "loss": 2.0}}, 3]}')
    with pytest.raises(ParseError, match=r"line 1, column \d+: not valid JSON"):
        gradlog.load(p, format="hf_trainer")


def test_whole_document_cap_is_a_clear_error_and_can_be_raised(tmp_path, monkeypatch):
    p = _write(tmp_path / "trainer_state.json", json.dumps(STATE))
    assert _jsondoc.max_document_bytes() == 1 << 30
    monkeypatch.setenv("GRADLOG_MAX_DOCUMENT_BYTES", "100")
    with pytest.raises(ParseError) as ei:
        gradlog.load(p, format="hf_trainer")
    assert str(ei.value) == (
        f"{p}: larger than 100 bytes, the limit for a whole-document "
        "format (set GRADLOG_MAX_DOCUMENT_BYTES to a larger number of "
        "bytes to read it)"
    )
    monkeypatch.setenv("GRADLOG_MAX_DOCUMENT_BYTES", str(10**6))
    assert gradlog.load(p, format="hf_trainer").series("train/loss").to_dict() == {10: 2.0, 20: 1.5}
