"""Weights & Biases run folders: a real offline run of the wandb SDK (tests/data/wandb,
made by tests/data/wandb/make_run.py), its damaged and half-written copies, and the
older ``wandb-history.jsonl`` layout."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

import gradlog
from gradlog.errors import DamagedInputError, MultipleRunsError, ParseError
from parsers import _wandb_records as rec

DATA = Path(__file__).parent / "data" / "wandb" / "wandb"
RUN = DATA / "offline-run-20261202_052706-feo65q41"
RECORDS = RUN / "run-feo65q41.wandb"


def test_real_offline_run_folder():
    run = gradlog.load(RUN)
    assert run.meta["format"] == "wandb" and run.name == "sgd-momentum"
    assert run.tags == ["train/loss", "train/lr", "val/acc", "val/loss"]
    loss = run.series("train/loss")
    assert len(loss) == 120 and loss[0] == 2.0 and math.isinf(loss[60])
    assert loss[119] == pytest.approx(2.0 * math.exp(-119 / 40) + 0.01 * (119 % 3))
    assert run.series("train/lr")[[79, 80]].tolist() == [0.05, 0.005]
    assert run.series("val/acc").to_dict()[39] == pytest.approx(39 / 120)
    assert run.meta["skipped"] == {"non_scalar_values": 6}  # 3 histograms, 3 strings
    assert run.meta["truncated"] == 0
    hp = run.meta["hparams"]
    assert (hp["optimizer"], hp["lr"], hp["momentum"], hp["weight_decay"], hp["batch_size"]) == (
        "sgd",
        0.05,
        0.9,
        0.0001,
        64,
    )
    wb = run.meta["wandb"]
    assert (wb["run_id"], wb["project"], wb["exit_code"]) == ("feo65q41", "gradlog-fixture", 0)
    walls = run.wall_times("train/loss")
    assert walls[0] == pytest.approx(1796189231.1836603) and walls.is_monotonic_increasing


def test_the_record_file_holds_a_record_split_across_blocks():
    data = RECORDS.read_bytes()
    assert data.startswith(rec.MAGIC) and len(data) > rec.BLOCK
    types = [t for _pos, t, _p in rec._chunks(data, rec.RecordScan())]
    assert types.count(2) == 1 and types.count(4) == 1  # FIRST and LAST of one record


def test_wandb_folder_the_file_and_discovery_agree(tmp_path):
    by_file = gradlog.load(RECORDS)
    by_root = gradlog.load(DATA)
    assert by_file.frame.equals(by_root.frame)
    root = tmp_path / "proj" / "wandb"
    shutil.copytree(RUN, root / RUN.name)
    shutil.copytree(RUN, root / "offline-run-20261202_060000-second1")
    (root / "latest-run").symlink_to(root / RUN.name)
    refs = gradlog.discover(tmp_path / "proj")
    assert sorted(r.path.name for r in refs) == [
        "offline-run-20261202_052706-feo65q41",
        "offline-run-20261202_060000-second1",
    ]
    assert {r.format for r in refs} == {"wandb"}
    with pytest.raises((MultipleRunsError, ParseError)):
        gradlog.load(root, format="wandb")


def test_damaged_chunk_is_skipped_and_counted(tmp_path):
    data = bytearray(RECORDS.read_bytes())

    def is_step_19(payload: bytes) -> bool:
        msg = rec.Record()
        msg.ParseFromString(payload)
        return msg.HasField("history") and msg.history.step.num == 19

    pos, payload = next(
        (pos, payload)
        for pos, _t, payload in rec._chunks(bytes(data), rec.RecordScan())
        if is_step_19(payload)
    )
    data[pos + 7 + payload.index(b"loss")] ^= 0x20  # its CRC no longer matches
    d = tmp_path / RUN.name
    d.mkdir()
    (d / RECORDS.name).write_bytes(bytes(data))
    run = gradlog.load(d)
    assert run.meta["skipped"]["damaged_records"] == 1
    assert len(run.series("train/loss")) == 119  # one logging call lost, the rest kept
    with pytest.raises(DamagedInputError, match="damaged record"):
        gradlog.load(d, strict=True)


def test_run_still_writing_drops_the_cut_record(tmp_path):
    data = RECORDS.read_bytes()
    d = tmp_path / RUN.name
    d.mkdir()
    (d / RECORDS.name).write_bytes(data[:20_000])
    run = gradlog.load(d)
    assert run.meta["truncated"] == 1 and 0 < len(run.series("train/loss")) < 120
    with pytest.raises(DamagedInputError, match="cut off"):
        gradlog.load(d, strict=True)


def _old_run(root: Path, lines: list[str], config: str | None = None) -> Path:
    d = root / "wandb" / "run-20200301_101500-abc123"
    (d / "files").mkdir(parents=True)
    (d / "files" / "wandb-history.jsonl").write_text("\n".join(lines), encoding="utf-8")
    if config is not None:
        (d / "files" / "config.yaml").write_text(config, encoding="utf-8")
    return d


OLD_CONFIG = (
    "wandb_version: 1\n_wandb:\n  desc: null\n  value:\n    cli_version: 0.9.7\n"
    "optimizer:\n  desc: null\n  value: adam\nlearning_rate:\n  desc: null\n"
    "  value: 0.001\nbatch_size:\n  desc: null\n  value: 128\n"
)


def _row(step: int, **kw) -> str:
    return json.dumps({"_step": step, "_runtime": step * 0.5, "_timestamp": 1.58e9 + step, **kw})


def test_old_history_jsonl_layout(tmp_path):
    lines = [
        _row(0, loss=2.0, acc=0.1),
        _row(1, loss=1.5),
        "{not json",
        _row(2, loss="NaN"),
        _row(3, loss=1.0, examples={"_type": "images", "count": 2}),
        json.dumps({"_step": 4, "loss": float("nan")}),
        _row(5, loss=0.9, val_loss=1.1),
        "",
    ]
    d = _old_run(tmp_path, lines, OLD_CONFIG)
    run = gradlog.load(d)
    assert run.meta["format"] == "wandb" and run.meta["wandb"]["file"] == "wandb-history.jsonl"
    loss = run.series("train/loss")
    assert loss[[0, 1, 3, 5]].tolist() == [2.0, 1.5, 1.0, 0.9] and math.isnan(loss[4])
    assert run.series("val/loss").to_dict() == {5: 1.1}
    assert run.meta["skipped"] == {"bad_lines": 1, "non_scalar_values": 2}
    assert any("first: line 3" in w for w in run.meta["warnings"])
    assert run.wall_times("train/loss")[1] == 1.58e9 + 1
    hp = run.meta["hparams"]
    assert (hp["optimizer"], hp["lr"], hp["batch_size"], hp["momentum"]) == ("adam", 0.001, 128, None)
    with pytest.raises(DamagedInputError, match="line 3"):
        gradlog.load(d, strict=True)


def test_old_history_being_written(tmp_path):
    d = _old_run(tmp_path, [_row(0, loss=2.0), _row(1, loss=1.5), '{"_step": 2, "loss": 1.'])
    run = gradlog.load(d / "files" / "wandb-history.jsonl")
    assert run.series("train/loss").to_dict() == {0: 2.0, 1: 1.5}
    assert run.meta["truncated"] == 1 and run.meta["skipped"] == {}
