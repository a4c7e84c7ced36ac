"""The CSV/JSON formats on crafted inputs: wide CSV, long CSV, Lightning, Keras,
Ultralytics, timm, HF trainer_state.json, MLflow; plus the bundled PyTorch samples."""

from __future__ import annotations

import gzip
import io
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import gradlog
from gradlog.cli import main as cli_main
from gradlog.errors import (
    DamagedInputError,
    EmptyLogError,
    MultipleRunsError,
    ParseError,
    RoleError,
    UnknownFormatError,
)


def _write(path, text: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def _pts(run: gradlog.Run, tag: str) -> dict[int, float]:
    return run.series(tag).to_dict()


# -- generic wide CSV ---------------------------------------------------------------------

LOOP_CSV = (
    "step,epoch,loss,lr,grad_norm/conv1,grad_norm/fc,val_loss\n"
    "0,0,2.5,0.1,0.5,0.25,\n"
    "1,0,2.25,0.1,0.625,0.375,\n"
    "2,0,2.0,0.1,0.75,0.5,1.875\n"
    "3,1,1.75,0.01,0.875,0.5,\n"
    "4,1,1.5,0.01,1.0,0.625,1.625\n"
)


def test_wide_loop_csv_sparse_eval_column(tmp_path):
    run = gradlog.load(_write(tmp_path / "train_log.csv", LOOP_CSV))
    assert run.meta["format"] == "csv_wide"
    assert run.meta["step_column"] == "step" and run.meta["step_unit"] == "step"
    assert _pts(run, "train/loss") == {0: 2.5, 1: 2.25, 2: 2.0, 3: 1.75, 4: 1.5}
    assert _pts(run, "val/loss") == {2: 1.875, 4: 1.625}  # only the eval rows
    assert _pts(run, "grad_norm/conv1")[4] == 1.0
    assert _pts(run, "train/epoch") == {0: 0, 1: 0, 2: 0, 3: 1, 4: 1}
    assert run.roles == {
        "loss": "train/loss",
        "lr": "train/lr",
        "val_loss": "val/loss",
        "val_metric": None,
        "grad_total": None,
        "grad": ["grad_norm/conv1", "grad_norm/fc"],
    }
    src = dict(zip(run.frame["tag"].astype(str), run.frame["source_tag"].astype(str), strict=False))
    assert src["val/loss"] == "val_loss" and src["train/lr"] == "lr"
    assert run.meta["skipped"] == {} and run.meta["warnings"] == []
    assert run.frame["wall_time"].isna().all()


@pytest.mark.parametrize(
    ("header", "unit"),
    [
        ("global_step", "step"),
        ("iteration", "iteration"),
        ("iter", "iteration"),
        ("it", "iteration"),
        ("batch", "batch"),
        ("epoch", "epoch"),
        ("Step", "step"),
    ],
)
def test_wide_step_column_by_name(tmp_path, header, unit):
    run = gradlog.load(_write(tmp_path / "log.csv", f"{header},loss\n10,1.5\n20,1.25\n30,1.0\n"))
    assert run.meta["step_column"] == header and run.meta["step_unit"] == unit
    assert _pts(run, "train/loss") == {10: 1.5, 20: 1.25, 30: 1.0}


def test_wide_without_step_column_uses_row_index(tmp_path):
    run = gradlog.load(_write(tmp_path / "log.csv", "loss,accuracy\n1.5,0.5\n1.25,0.625\n1.0,0.75\n"))
    assert run.meta["step_column"] is None and run.meta["step_unit"] == "row"
    assert _pts(run, "train/loss") == {0: 1.5, 1: 1.25, 2: 1.0}


def test_wide_constant_batch_column_is_not_the_step(tmp_path):
    # `batch` holding the batch size is not a step axis: the row index is used instead
    run = gradlog.load(_write(tmp_path / "log.csv", "batch,loss\n32,1.5\n32,1.25\n32,1.0\n32,0.9\n"))
    assert run.meta["step_column"] is None
    assert _pts(run, "train/batch") == {0: 32, 1: 32, 2: 32, 3: 32}


def test_wide_nan_and_inf_spellings_are_values_empty_is_absent(tmp_path):
    text = "step,a,b,c\n0,nan,1.5,\n1,NaN,inf,-inf\n2,Infinity,-Infinity,\n3,,1e400,-nan\n"
    run = gradlog.load(_write(tmp_path / "x.csv", text))
    a, b, c = run.series("train/a"), run.series("train/b"), run.series("train/c")
    assert list(a.index) == [0, 1, 2] and a.isna().tolist() == [True, True, False]
    assert a.loc[2] == math.inf
    assert b.tolist() == [1.5, math.inf, -math.inf, math.inf]
    assert list(c.index) == [1, 3] and c.loc[1] == -math.inf and math.isnan(c.loc[3])
    assert run.summary().set_index("tag").loc["train/a", "nonfinite"] == 3


def test_wide_semicolon_bom_crlf(tmp_path):
    p = _write(tmp_path / "x.csv", b"\xef\xbb\xbfstep;loss;val_loss\r\n0;1.5;\r\n1;1.25;2.5\r\n2;1.0;\r\n")
    run = gradlog.load(p)
    assert run.meta["separator"] == ";" and run.meta["step_column"] == "step"
    assert _pts(run, "train/loss") == {0: 1.5, 1: 1.25, 2: 1.0}
    assert _pts(run, "val/loss") == {1: 2.5}


def test_wide_tab_separated_and_decimal_comma(tmp_path):
    run = gradlog.load(_write(tmp_path / "t.tsv", "step\tloss\n0\t0.5\n1\t0.25\n"))
    assert run.meta["separator"] == "\t" and _pts(run, "train/loss") == {0: 0.5, 1: 0.25}
    run = gradlog.load(_write(tmp_path / "d.csv", "step;loss\n0;1,5\n1;1,25\n"))
    assert run.meta["decimal"] == "," and _pts(run, "train/loss") == {0: 1.5, 1: 1.25}


def test_wide_quotes_and_text_columns(tmp_path):
    text = '"step","loss","note"\n0,1.5,"warm, up"\n1,1.25,"x ""quoted"""\n2,1.0,"multi\nline"\n'
    run = gradlog.load(_write(tmp_path / "q.csv", text))
    assert _pts(run, "train/loss") == {0: 1.5, 1: 1.25, 2: 1.0}
    assert run.meta["text_columns"] == ["note"] and run.tags == ["train/loss"]


def test_wide_truncated_last_line_is_skipped_and_counted(tmp_path):
    p = _write(tmp_path / "live.csv", "step,loss,lr\n0,1.0,0.1\n1,0.9,0.1\n2,0.8")
    run = gradlog.load(p)
    assert _pts(run, "train/loss") == {0: 1.0, 1: 0.9}
    assert run.meta["skipped"] == {"truncated_last_line": 1}
    assert any("line 4" in w and "truncated" in w for w in run.meta["warnings"])
    with pytest.raises(DamagedInputError, match=r"live\.csv: line 4: truncated"):
        gradlog.load(p, strict=True)


def test_wide_last_line_without_newline_but_complete_is_kept(tmp_path):
    run = gradlog.load(_write(tmp_path / "x.csv", "step,loss\n0,1.0\n1,0.9"))
    assert _pts(run, "train/loss") == {0: 1.0, 1: 0.9} and run.meta["skipped"] == {}


@pytest.mark.parametrize(("row", "fields"), [("1,0.9", 2), ("1,0.9,0.1,7", 4)])
def test_wide_ragged_row_is_skipped_counted_and_strict_names_it(tmp_path, row, fields):
    p = _write(tmp_path / "r.csv", f"step,loss,lr\n0,1.0,0.1\n{row}\n2,0.8,0.1\n")
    run = gradlog.load(p)
    assert _pts(run, "train/loss") == {0: 1.0, 2: 0.8}
    assert run.meta["skipped"] == {"ragged_rows": 1}
    assert any(f"line 3: {fields} fields where the header has 3" in w for w in run.meta["warnings"])
    with pytest.raises(DamagedInputError) as ei:
        gradlog.load(p, strict=True)
    assert str(ei.value) == f"{p}: line 3: {fields} fields where the header has 3 (a ragged table)"


def test_wide_mostly_ragged_file_is_not_a_table(tmp_path):
    p = _write(tmp_path / "r.csv", "step,loss,lr\n0,1.0,0.1\n1,0.9\n2,0.8,0.1,7,8\n")
    with pytest.raises(ParseError) as ei:
        gradlog.load(p)
    assert str(ei.value) == f"{p}: line 3: 2 fields where the header has 3 (a ragged table)"


def test_wide_ragged_row_far_into_the_file(tmp_path):
    rows = "".join(f"{i},{i * 0.5},0.1\n" for i in range(20000))
    p = _write(tmp_path / "r.csv", "step,loss,lr\n" + rows + "20000,1.0\n" + "20001,1.0,0.1\n")
    run = gradlog.load(p)
    assert run.meta["skipped"] == {"ragged_rows": 1} and len(run.series("train/loss")) == 20001
    assert run.series("train/loss").index[-1] == 20001
    with pytest.raises(DamagedInputError, match=r"line 20002: 2 fields where the header has 3"):
        gradlog.load(p, strict=True)


def test_wide_long_and_short_rows_that_cancel_out_are_both_skipped(tmp_path):
    rows = "".join(f"{i},{i * 0.5},0.1\n" for i in range(50))
    p = _write(tmp_path / "r.csv", "step,loss,lr\n" + rows + "50,1.0,0.1,9\n51,1.0\n52,2.0,0.1\n")
    run = gradlog.load(p)
    assert run.meta["skipped"] == {"ragged_rows": 2}
    assert run.series("train/loss").index[-1] == 52 and 51 not in run.series("train/loss").index
    assert any("line 52: 4 fields" in w and "line 53: 2 fields" in w for w in run.meta["warnings"])


def test_wide_binary_row_is_skipped_and_counted_with_the_line(tmp_path):
    rows = "".join(f"{i},{i * 0.5}\n" for i in range(20000))
    p = _write(tmp_path / "b.csv", ("step,loss\n" + rows).encode() + b"20000,\x00\x01\xff\n" + b"20001,3.5\n")
    run = gradlog.load(p)
    assert run.meta["skipped"] == {"binary_rows": 1} and run.series("train/loss")[20001] == 3.5
    assert any("line 20002: binary data" in w for w in run.meta["warnings"])
    with pytest.raises(DamagedInputError, match=r"b\.csv: line 20002: binary data"):
        gradlog.load(p, strict=True)
    q = _write(tmp_path / "c.csv", b"step,loss\n0,1\x00\n")
    with pytest.raises(UnknownFormatError):
        gradlog.load(q)
    with pytest.raises(ParseError, match=r"c\.csv: line 2: binary data"):
        gradlog.load(q, format="csv_wide")


def test_wide_nul_row_near_the_start_is_still_a_training_log(tmp_path):
    rows = "".join(f"{i},{2.0 - i * 0.01},0.1\n" for i in range(1, 40))
    p = _write(tmp_path / "n.csv", b"step,loss,lr\n0,2.0,0.1\n\x00\x00\x00\x00\n" + rows.encode())
    run = gradlog.load(p)
    assert run.meta["format"] == "csv_wide" and run.meta["skipped"] == {"binary_rows": 1}
    assert run.series("train/loss")[39] == pytest.approx(1.61) and len(run.series("train/lr")) == 40


def test_wide_column_name_over_256_characters(tmp_path):
    long = "grad_norm/" + "x" * 300
    p = _write(tmp_path / "w.csv", f"step,loss,{long}\n0,1.0,0.5\n1,0.9,0.25\n")
    run = gradlog.load(p)
    assert _pts(run, "train/loss") == {0: 1.0, 1: 0.9}
    assert run.series(f"grad_norm/{'x' * 300}").to_dict() == {0: 0.5, 1: 0.25}
    huge = "m" * 2000
    q = _write(tmp_path / "h.csv", f"step,loss,{huge}\n0,1.0,0.5\n1,0.9,0.25\n")
    run = gradlog.load(q)
    assert run.tags == ["train/loss"] and run.meta["skipped"] == {"long_name_columns": 1}
    with pytest.raises(DamagedInputError, match="longer than 1024 characters"):
        gradlog.load(q, strict=True)


def test_wide_blank_lines_are_counted(tmp_path):
    run = gradlog.load(_write(tmp_path / "x.csv", "step,loss\n0,1.0\n\n1,0.9\n\n\n"))
    assert _pts(run, "train/loss") == {0: 1.0, 1: 0.9}
    assert run.meta["skipped"] == {"blank_lines": 1}  # trailing blank lines are not counted


def test_wide_thousands_of_columns(tmp_path):
    n = 3000
    header = "step," + ",".join(f"grad_norm/layer{i}" for i in range(n))
    rows = "".join(f"{s}," + ",".join(f"{i}.{s}" for i in range(n)) + "\n" for s in range(4))
    run = gradlog.load(_write(tmp_path / "wide.csv", header + "\n" + rows))
    assert len(run.tags) == n and len(run.roles["grad"]) == n
    assert _pts(run, "grad_norm/layer2999") == {0: 2999.0, 1: 2999.1, 2: 2999.2, 3: 2999.3}


def test_wide_mixed_step_and_epoch_rows(tmp_path):
    text = (
        "step,epoch,loss,val_loss,val_acc\n"
        "0,0,2.0,,\n1,0,1.75,,\n,0,1.875,1.625,0.5\n"
        "2,1,1.5,,\n3,1,1.25,,\n,1,1.375,1.25,0.625\n"
    )
    run = gradlog.load(_write(tmp_path / "mixed.csv", text))
    assert run.meta["epoch_rows"] == 2
    assert _pts(run, "train/loss") == {0: 2.0, 1: 1.75, 2: 1.5, 3: 1.25}
    # the per-epoch rows sit at the last step of their epoch; a column logged on both
    # kinds of rows keeps both series
    assert _pts(run, "train/loss_epoch") == {1: 1.875, 3: 1.375}
    assert _pts(run, "val/loss") == {1: 1.625, 3: 1.25}
    assert _pts(run, "val/acc") == {1: 0.5, 3: 0.625}
    assert run.roles["loss"] == "train/loss" and run.roles["val_metric"] == "val/acc"


def test_wide_rows_without_step_are_skipped_and_counted(tmp_path):
    p = _write(tmp_path / "x.csv", "step,loss\n0,1.0\n,0.95\n1,0.9\n")
    run = gradlog.load(p)
    assert _pts(run, "train/loss") == {0: 1.0, 1: 0.9}
    assert run.meta["skipped"] == {"rows_without_step": 1}
    with pytest.raises(DamagedInputError, match="line 3"):
        gradlog.load(p, strict=True)


def test_wide_restart_later_record_wins(tmp_path):
    text = "step,loss\n0,1.0\n1,0.9\n2,0.8\n1,0.85\n2,0.75\n3,0.7\n"
    run = gradlog.load(_write(tmp_path / "x.csv", text))
    assert _pts(run, "train/loss") == {0: 1.0, 1: 0.85, 2: 0.75, 3: 0.7}
    assert run.meta["restarts"] == [{"line": 5, "step": 1, "previous_step": 2}]
    assert run.meta["replaced_points"] == 2


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("1700000000.5", 1700000000.5),
        ("1700000000500", 1700000000.5),
        ("2023-11-14T22:13:20.5Z", 1700000000.5),
    ],
)
def test_wide_wall_time_column(tmp_path, cell, expected):
    run = gradlog.load(_write(tmp_path / "x.csv", f"timestamp,step,loss\n{cell},0,1.0\n{cell},1,0.9\n"))
    assert run.meta["wall_time_column"] == "timestamp" and run.tags == ["train/loss"]
    assert run.wall_times("train/loss").loc[0] == pytest.approx(expected)


def test_wide_elapsed_time_column_stays_a_metric(tmp_path):
    run = gradlog.load(_write(tmp_path / "x.csv", "epoch,time,loss\n1,12.5,1.0\n2,25.0,0.9\n"))
    assert _pts(run, "train/time") == {1: 12.5, 2: 25.0} and "wall_time_column" not in run.meta


def test_wide_pandas_index_column_and_duplicate_names(tmp_path):
    run = gradlog.load(_write(tmp_path / "x.csv", ",step,loss,loss\n0,0,1.0,2.0\n1,10,0.9,1.5\n"))
    assert run.meta["ignored_columns"] == ["column 1 (no name)"]
    assert _pts(run, "train/loss") == {0: 1.0, 10: 0.9}
    assert _pts(run, "train/loss_2") == {0: 2.0, 10: 1.5}
    assert any("duplicate column name 'loss'" in w for w in run.meta["warnings"])


def test_wide_non_numeric_cells_skipped_and_counted(tmp_path):
    p = _write(tmp_path / "x.csv", "step,loss\n0,1.0\n1,oops\n2,0.8\n3,0.7\n4,0.6\n")
    run = gradlog.load(p)
    assert _pts(run, "train/loss") == {0: 1.0, 2: 0.8, 3: 0.7, 4: 0.6}
    assert run.meta["skipped"] == {"non_numeric_cells": 1}
    assert "line 3" in run.meta["warnings"][0]
    with pytest.raises(DamagedInputError):
        gradlog.load(p, strict=True)


def test_wide_header_only_is_empty(tmp_path):
    with pytest.raises(EmptyLogError, match="no data rows"):
        gradlog.load(_write(tmp_path / "x.csv", "step,loss,lr\n"), format="csv_wide")


def test_wide_gzip_and_stream(tmp_path):
    p = _write(tmp_path / "log.csv.gz", gzip.compress(LOOP_CSV.encode()))
    assert _pts(gradlog.load(p), "val/loss") == {2: 1.875, 4: 1.625}
    run = gradlog.load(io.BytesIO(LOOP_CSV.encode()))
    assert run.meta["format"] == "csv_wide" and _pts(run, "train/lr")[3] == 0.01


def test_wide_hparams_yaml_beside(tmp_path):
    _write(tmp_path / "hparams.yaml", "optimizer:\n  lr: 0.1\n  momentum: 0.9\nbatch_size: 32\n")
    run = gradlog.load(_write(tmp_path / "log.csv", LOOP_CSV))
    hp = run.meta["hparams"]
    assert hp["optimizer.lr"] == 0.1 and hp["lr"] == 0.1
    assert hp["momentum"] == 0.9 and hp["batch_size"] == 32


def test_role_override_in_load_and_cli(tmp_path):
    p = _write(tmp_path / "x.csv", "step,xent,lr\n0,2.0,0.1\n1,1.5,0.1\n2,1.25,0.1\n3,1.0,0.1\n")
    assert gradlog.load(p).roles["loss"] is None
    assert gradlog.load(p, roles={"loss": "xent"}).roles["loss"] == "train/xent"
    with pytest.raises(RoleError, match="no tag 'nope'; tags are: train/lr, train/xent"):
        gradlog.load(p, roles={"loss": "nope"})
    res = CliRunner().invoke(cli_main, ["analyze", "--format", "json", "--role", "loss=xent", str(p)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["runs"][0]["roles"]["loss"] == "train/xent"


# -- long CSV ----------------------------------------------------------------------------


def test_long_tbparse_style_is_normalised(tmp_path):
    text = (
        "step,tag,value,wall_time,dir_name\n"
        "0,epoch_loss,2.5,1700000000.0,train\n"
        "1,epoch_loss,2.0,1700000001.0,train\n"
        "0,epoch_loss,2.75,1700000000.5,validation\n"
    )
    run = gradlog.load(_write(tmp_path / "tb.csv", text))
    assert run.meta["format"] == "csv_long"
    assert _pts(run, "train/epoch_loss") == {0: 2.5, 1: 2.0}
    assert _pts(run, "val/epoch_loss") == {0: 2.75}
    assert run.wall_times("train/epoch_loss").loc[1] == 1700000001.0


def test_long_gradlog_file_keeps_tags_and_source_tags(tmp_path):
    text = (
        "step,tag,value,wall_time,source_tag\n"
        "0,train/loss,nan,nan,loss\n5,train/loss,inf,nan,loss\n"
        "0,weird tag,1.5,12.5,Weird Tag\n"
    )
    run = gradlog.load(_write(tmp_path / "f.csv", text))
    assert run.tags == ["train/loss", "weird tag"]
    loss = run.series("train/loss")
    assert math.isnan(loss.loc[0]) and loss.loc[5] == math.inf
    assert run.source_tags() == {"loss": "train/loss", "Weird Tag": "weird tag"}


def test_long_bad_rows_are_counted(tmp_path):
    p = _write(tmp_path / "f.csv", "step,tag,value\n0,a,1.0\nx,a,2.0\n2,,3.0\n3,a,\n4,a,4.0\n")
    run = gradlog.load(p)
    assert _pts(run, "train/a") == {0: 1.0, 4: 4.0}
    assert run.meta["skipped"] == {"bad_rows": 3}
    with pytest.raises(DamagedInputError, match="line 3"):
        gradlog.load(p, strict=True)


# -- Lightning ---------------------------------------------------------------------------

LIGHTNING_CSV = (
    "epoch,lr-SGD,step,train_loss_epoch,train_loss_step,val_acc,val_loss\n"
    ",0.1,0,,,,\n"
    "0,,9,,2.25,,\n"
    "0,,19,,2.0,,\n"
    "0,,19,,,0.5,1.75\n"
    "0,,19,2.125,,,\n"
    ",0.01,20,,,,\n"
    "1,,29,,1.5,,\n"
    "1,,39,,1.25,,\n"
    "1,,39,,,0.75,1.375\n"
    "1,,39,1.375,,,\n"
)
HPARAMS = (
    "batch_size: 32\nlr: 0.1\nmilestones:\n- 8\n- 30\nmomentum: 0.9\n"
    "optimizer: !!python/name:torch.optim.SGD ''\nmodel:\n  depth: 5\n"
)


def _lightning_logs(root, versions=(0,)):
    for v in versions:
        d = root / "lightning_logs" / f"version_{v}"
        _write(d / "metrics.csv", LIGHTNING_CSV)
        _write(d / "hparams.yaml", HPARAMS)
    return root / "lightning_logs"


def test_lightning_version_dir(tmp_path):
    logs = _lightning_logs(tmp_path)
    run = gradlog.load(logs / "version_0")
    assert run.meta["format"] == "lightning" and run.name == "lightning_logs/version_0"
    assert run.meta["version"] == 0
    assert _pts(run, "train/loss") == {9: 2.25, 19: 2.0, 29: 1.5, 39: 1.25}
    assert _pts(run, "train/loss_epoch") == {19: 2.125, 39: 1.375}
    assert _pts(run, "val/loss") == {19: 1.75, 39: 1.375}
    assert _pts(run, "train/lr-SGD") == {0: 0.1, 20: 0.01}
    assert _pts(run, "train/epoch") == {9: 0, 19: 0, 29: 1, 39: 1}
    assert run.meta["replaced_points"] == 0
    assert run.roles["loss"] == "train/loss" and run.roles["lr"] == "train/lr-SGD"
    hp = run.meta["hparams"]
    assert hp["lr"] == 0.1 and hp["batch_size"] == 32 and hp["momentum"] == 0.9
    assert hp["milestones"] == [8, 30] and hp["model.depth"] == 5


def test_lightning_logs_folder_is_one_run_per_version(tmp_path):
    logs = _lightning_logs(tmp_path, versions=(0, 2, 10))
    with pytest.raises(MultipleRunsError, match="holds 3 runs"):
        gradlog.load(logs)
    refs = gradlog.discover(tmp_path)
    assert [(r.path.name, r.format) for r in refs] == [
        ("version_0", "lightning"),
        ("version_10", "lightning"),
        ("version_2", "lightning"),
    ]
    runs = gradlog.load_all(logs)
    assert sorted(r.meta["version"] for r in runs) == [0, 2, 10]
    single = _lightning_logs(tmp_path / "one")
    assert gradlog.load(single).meta["version"] == 0  # one version: the folder is that run


def test_lightning_metrics_csv_file(tmp_path):
    logs = _lightning_logs(tmp_path)
    run = gradlog.load(logs / "version_0" / "metrics.csv")
    assert run.meta["format"] == "lightning" and run.meta["hparams"]["lr"] == 0.1
    # a CSV with step+epoch and Lightning's *_step columns is Lightning wherever it is
    p = _write(tmp_path / "other" / "log.csv", LIGHTNING_CSV)
    assert gradlog.detect_format(p) == "lightning"
    # a loop's CSV with step and epoch columns is a plain wide CSV
    assert gradlog.detect_format(_write(tmp_path / "loop.csv", LOOP_CSV)) == "csv_wide"


# -- Keras, Ultralytics, timm ------------------------------------------------------------


def test_keras_semicolon(tmp_path):
    p = _write(
        tmp_path / "training.log",
        "epoch;accuracy;loss;lr;val_accuracy;val_loss\n"
        "0;0.5;1.5;0.001;0.45;1.625\n1;0.625;1.25;0.001;0.5;1.5\n2;0.75;1.0;0.0001;0.5;1.75\n",
    )
    run = gradlog.load(p)
    assert run.meta["format"] == "keras" and run.meta["step_unit"] == "epoch"
    assert _pts(run, "val/loss") == {0: 1.625, 1: 1.5, 2: 1.75}
    assert run.roles["lr"] == "train/lr" and run.roles["val_metric"] == "val/accuracy"
    # columns not in Keras' sorted order: a generic wide CSV
    q = _write(tmp_path / "mine.csv", "epoch,loss,acc\n0,1.5,0.5\n1,1.25,0.625\n")
    assert gradlog.detect_format(q) == "csv_wide"


def test_ultralytics_v8_padded_with_args_yaml(tmp_path):
    cols = [
        "epoch",
        "train/box_loss",
        "train/cls_loss",
        "train/dfl_loss",
        "metrics/precision(B)",
        "metrics/mAP50(B)",
        "metrics/mAP50-95(B)",
        "val/box_loss",
        "lr/pg0",
        "lr/pg1",
        "lr/pg2",
    ]
    rows = [
        [1, 1.5, 2.5, 1.25, 0.5, 0.25, 0.125, 1.375, 0.07, 0.001, 0.001],
        [2, 1.25, 2.0, 1.125, 0.625, 0.375, 0.25, 1.25, 0.04, 0.002, 0.002],
    ]
    text = ",".join(f"{c:>22}" for c in cols) + "\n"
    text += "".join(",".join(f"{v:>22}" for v in r) + "\n" for r in rows)
    _write(tmp_path / "args.yaml", "task: detect\nepochs: 200\nbatch: 16\nlr0: 0.01\nmomentum: 0.937\n")
    run = gradlog.load(_write(tmp_path / "results.csv", text))
    assert run.meta["format"] == "ultralytics" and run.meta["step_unit"] == "epoch"
    assert _pts(run, "train/box_loss") == {1: 1.5, 2: 1.25}
    assert run.roles["loss"] == "train/box_loss" and run.roles["lr"] == "lr/pg1"
    assert run.roles["val_metric"] == "metrics/mAP50-95(B)"
    hp = run.meta["hparams"]
    assert hp["lr"] == 0.01 and hp["batch_size"] == 16 and hp["max_epochs"] == 200
    assert hp["momentum"] == 0.937


def test_timm_summary(tmp_path):
    _write(tmp_path / "args.yaml", "lr: 0.05\nbatch_size: 128\nmomentum: 0.9\nepochs: 3\n")
    p = _write(
        tmp_path / "summary.csv",
        "epoch,train_loss,eval_loss,eval_top1,eval_top5,lr\n"
        "0,6.5,6.25,1.5,5.0,0.05\n1,5.5,5.25,8.0,21.0,0.05\n2,4.75,4.5,15.5,36.0,0.005\n",
    )
    run = gradlog.load(p)
    assert run.meta["format"] == "timm"
    assert _pts(run, "val/top1") == {0: 1.5, 1: 8.0, 2: 15.5}
    assert run.roles == {
        "loss": "train/loss",
        "lr": "train/lr",
        "val_loss": "val/loss",
        "val_metric": "val/top1",
        "grad_total": None,
        "grad": [],
    }
    assert run.meta["hparams"]["batch_size"] == 128


# -- Hugging Face ------------------------------------------------------------------------


def _state(history, **extra):
    return json.dumps(
        {"global_step": 30, "log_history": history, "max_steps": 30, "train_batch_size": 16, **extra},
        indent=2,
    )


def test_hf_trainer_state(tmp_path):
    hist = [
        {"epoch": 0.5, "grad_norm": 3.5, "learning_rate": 1e-4, "loss": 2.5, "step": 10},
        {"epoch": 1.0, "grad_norm": float("nan"), "learning_rate": 5e-5, "loss": float("nan"), "step": 20},
        {"epoch": 1.0, "eval_loss": 2.25, "eval_accuracy": 0.5, "eval_runtime": 1.5, "step": 20},
        {"epoch": 1.5, "learning_rate": 0.0, "loss": 1.5, "step": 30},
        {"epoch": 1.5, "step": 30, "train_loss": 2.0, "train_runtime": 12.0, "total_flos": 1e12},
        {"epoch": 1.5, "loss": 9.0},
    ]
    run = gradlog.load(_write(tmp_path / "trainer_state.json", _state(hist)))
    assert run.meta["format"] == "hf_trainer" and run.meta["step_unit"] == "step"
    loss = run.series("train/loss")
    assert list(loss.index) == [10, 20, 30] and math.isnan(loss.loc[20]) and loss.loc[30] == 1.5
    assert _pts(run, "val/loss") == {20: 2.25} and _pts(run, "train/epoch") == {10: 0.5, 20: 1.0, 30: 1.5}
    assert list(run.series("grad_norm/total").index) == [10, 20]
    assert run.meta["train_summary"]["train_loss"] == 2.0 and "train/runtime" not in run
    assert run.meta["skipped"] == {"entries_without_step": 1}
    assert run.meta["hparams"]["batch_size"] == 16 and run.meta["hparams"]["max_steps"] == 30
    assert run.roles["val_metric"] == "val/accuracy" and run.roles["grad_total"] == "grad_norm/total"


def test_hf_invalid_json_names_the_line(tmp_path):
    p = _write(tmp_path / "trainer_state.json", '{\n  "log_history": [\n    {"loss": 1.0,,}\n  ]\n}\n')
    with pytest.raises(ParseError, match=r"trainer_state\.json: line 3, column \d+: not valid JSON"):
        gradlog.load(p)


# -- MLflow ------------------------------------------------------------------------------


def _mlflow_run(root, exp, run_id, name, metrics, params):
    d = root / exp / run_id
    _write(
        d / "meta.yaml",
        f"artifact_uri: file:///x/{run_id}/artifacts\nend_time: null\n"
        f"experiment_id: '{exp}'\nlifecycle_stage: active\nrun_id: {run_id}\n"
        f"run_name: {name}\nstart_time: 1700000000000\nstatus: 3\n",
    )
    for mname, lines in metrics.items():
        _write(d / "metrics" / mname, "".join(f"{t} {v} {s}\n" for t, v, s in lines))
    for pname, val in params.items():
        _write(d / "params" / pname, val)
    _write(d / "tags" / "mlflow.runName", name)
    return d


def test_mlflow_store(tmp_path):
    root = tmp_path / "mlruns"
    _write(root / "1" / "meta.yaml", "experiment_id: '1'\nname: demo\n")
    run_a = _mlflow_run(
        root,
        "1",
        "a1b2",
        "brave-fox",
        {
            "train_loss": [(1700000000000, 2.5, 0), (1700000001000, 2.0, 10), (1700000002000, "nan", 20)],
            "train/lr": [(1700000000000, 0.1, 0), (1700000002000, 0.01, 20)],
            "val_acc": [(1700000002500, 0.5, 20)],
            "epoch_time": [(1700000000000, 1.5, 0), (1700000001000, 1.25, 0)],
        },
        {"learning_rate": "0.1", "batch_size": "64", "optimizer": "SGD"},
    )
    _mlflow_run(root, "1", "c3d4", "calm-owl", {"loss": [(1700000000000, 1.0, 0)]}, {})
    run = gradlog.load(run_a)
    assert run.meta["format"] == "mlflow" and run.name == "brave-fox"
    loss = run.series("train/loss")
    assert list(loss.index) == [0, 10, 20] and loss.loc[10] == 2.0 and math.isnan(loss.loc[20])
    assert run.wall_times("train/loss").loc[10] == 1700000001.0
    assert _pts(run, "train/lr") == {0: 0.1, 20: 0.01} and _pts(run, "val/acc") == {20: 0.5}
    assert _pts(run, "train/epoch_time") == {0: 1.5, 1: 1.25}  # logged without steps
    assert run.meta["indexed_metrics"] == ["epoch_time"]
    hp = run.meta["hparams"]
    assert hp["lr"] == 0.1 and hp["batch_size"] == 64 and hp["optimizer"] == "sgd"
    assert run.meta["mlflow"]["run_id"] == "a1b2" and run.meta["mlflow"]["status"] == 3
    assert run.roles["loss"] == "train/loss" and run.roles["lr"] == "train/lr"
    with pytest.raises(MultipleRunsError, match="holds 2 runs"):
        gradlog.load(root)
    with pytest.raises(MultipleRunsError):
        gradlog.load(root / "1")
    assert [(r.path.name, r.format) for r in gradlog.discover(tmp_path)] == [
        ("a1b2", "mlflow"),
        ("c3d4", "mlflow"),
    ]
    assert [r.name for r in gradlog.load_all(root)] == ["brave-fox", "calm-owl"]


def test_mlflow_bad_lines_counted(tmp_path):
    d = _mlflow_run(
        tmp_path / "mlruns", "0", "r1", "r", {"loss": [(1700000000000, 1.0, 0), (1700000001000, 0.5, 1)]}, {}
    )
    with open(d / "metrics" / "loss", "a") as fh:
        fh.write("garbage line here\n1700000002000 0.25")
    run = gradlog.load(d)
    assert _pts(run, "train/loss") == {0: 1.0, 1: 0.5}
    # the final line has no newline and no step: a record cut by a writer still at work
    assert run.meta["skipped"] == {"bad_lines": 1, "truncated_last_line": 1}
    assert run.meta["truncated"] == 1
    with pytest.raises(DamagedInputError):
        gradlog.load(d, strict=True)


# -- the bundled samples (real PyTorch runs, see sample_logs/make_torch_samples.py) --------


def _sample(samples, rel):
    p = samples / rel
    if not p.exists():
        pytest.skip(f"sample_logs/{rel} is not present")
    return p


def test_sample_pytorch_loop_csv(samples):
    run = gradlog.load(_sample(samples, "pytorch_cnn/train_log.csv"))
    assert run.meta["format"] == "csv_wide" and run.meta["step_column"] == "step"
    counts = {t: len(run.series(t)) for t in run.tags}
    layers = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2"]
    assert counts == {
        **{f"grad_norm/{x}": 4000 for x in layers},
        "grad_norm/total": 4000,
        "train/epoch": 4000,
        "train/loss": 4000,
        "train/lr": 4000,
        "val/acc": 200,
        "val/loss": 200,
    }
    assert run.series("train/loss").loc[0] == 3.8078722953796387
    assert run.series("grad_norm/conv1").loc[0] == 1.736548662185669
    assert run.series("val/loss").loc[3999] == 0.490399032831192
    # LR 0.05 halved at steps 240, 800 and 2,000
    lr = run.series("train/lr")
    assert [lr.loc[s] for s in (239, 240, 799, 800, 1999, 2000, 3999)] == [
        0.05,
        0.025,
        0.025,
        0.0125,
        0.0125,
        0.00625,
        0.00625,
    ]
    assert run.roles["grad"] == [f"grad_norm/{x}" for x in layers]
    assert run.roles["grad_total"] == "grad_norm/total" and run.roles["val_metric"] == "val/acc"


def test_sample_lightning_folder(samples):
    logs = _sample(samples, "pytorch_cnn/lightning_logs")
    run = gradlog.load(logs)
    assert run.meta["format"] == "lightning" and run.meta["version"] == 0
    counts = {t: len(run.series(t)) for t in run.tags}
    assert counts == {
        "train/epoch": 400,
        "train/loss": 400,
        "train/loss_epoch": 100,
        "train/lr-SGD": 100,
        "val/acc": 100,
        "val/loss": 100,
    }
    assert run.series("train/loss").loc[9] == 2.2701961994171143
    assert run.series("val/loss").loc[3999] == 0.490399032831192
    assert run.series("train/lr-SGD").loc[0] == 0.05
    assert run.series("train/lr-SGD").loc[2000] == 0.00625  # epoch 50: the third halving
    hp = run.meta["hparams"]
    assert (hp["lr"], hp["batch_size"], hp["momentum"]) == (0.05, 32, 0.9)
    assert (hp["weight_decay"], hp["milestones"], hp["gamma"]) == (0.005, [6, 20, 50], 0.5)
    assert run.meta["warnings"] == []


def test_sample_trainer_state(samples):
    run = gradlog.load(_sample(samples, "pytorch_cnn/trainer_state.json"))
    assert run.meta["format"] == "hf_trainer"
    assert len(run.series("train/loss")) == 400 and len(run.series("val/loss")) == 200
    assert run.series("train/loss").loc[10] == 2.5313018798828124
    assert run.series("grad_norm/total").loc[10] == 0.3717604875564575
    assert run.series("val/accuracy").loc[4000] == 0.9767891764640808
    assert run.meta["hparams"]["batch_size"] == 32 and run.meta["hparams"]["max_steps"] == 4000


def test_discover_sample_folder(samples):
    base = _sample(samples, "pytorch_cnn")
    refs = {(r.path.relative_to(base).as_posix(), r.format) for r in gradlog.discover(base)}
    assert refs == {
        ("lightning_logs/version_0", "lightning"),
        ("train_log.csv", "csv_wide"),
        ("trainer_state.json", "hf_trainer"),
    }
    assert np.isfinite(gradlog.load(base / "train_log.csv").frame["value"]).all()
