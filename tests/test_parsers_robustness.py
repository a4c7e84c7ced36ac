"""Readers on hostile input: out-of-range steps, nulls, odd step columns, damaged gzip."""

from __future__ import annotations

import gzip
import io
import json

import pytest

import gradlog
from gradlog.errors import DamagedInputError, EmptyLogError


def _mlflow_run(tmp_path, metric_text: bytes, name: str = "loss"):
    run = tmp_path / "mlruns" / "0" / "abc123"
    (run / "metrics").mkdir(parents=True)
    (run / "params").mkdir()
    (run / "meta.yaml").write_text("run_id: abc123\nexperiment_id: '0'\nstatus: 3\n")
    (run / "metrics" / name).write_bytes(metric_text)
    return run


# -- MLflow -----------------------------------------------------------------------------------
def test_mlflow_step_beyond_int64_is_a_bad_line_not_a_wrapped_step(tmp_path):
    run_dir = _mlflow_run(tmp_path, b"1 0.5 0\n2 0.4 100000000000000000000\n3 0.3 2\n")
    run = gradlog.load(run_dir, format="mlflow")
    assert run.series("train/loss").to_dict() == {0: 0.5, 2: 0.3}
    assert run.frame["step"].min() == 0  # no -9223372036854775808
    assert run.meta["skipped"] == {"bad_lines": 1}


def test_mlflow_metric_file_with_bom_and_with_nul(tmp_path):
    run_dir = _mlflow_run(tmp_path, b"\xef\xbb\xbf1 0.5 0\n2 0.4 1\n")
    run = gradlog.load(run_dir, format="mlflow")
    assert run.series("train/loss").to_dict() == {0: 0.5, 1: 0.4}
    assert "bad_lines" not in run.meta["skipped"]  # the BOM did not spoil line 1
    # a NUL line is damage: skipped and counted with its line number (issue 15), the rest kept
    bad = _mlflow_run(tmp_path / "b", b"1 0.5 0\n2 0.4\x00 1\n3 0.3 2\n")
    run = gradlog.load(bad, format="mlflow")
    assert run.series("train/loss").to_dict() == {0: 0.5, 2: 0.3}
    assert run.meta["skipped"] == {"bad_lines": 1}
    assert "(first: line 2)" in run.meta["warnings"][0]
    with pytest.raises(DamagedInputError, match=r"loss: 1 line\(s\) .* skipped \(first: line 2\)"):
        gradlog.load(bad, format="mlflow", strict=True)


# -- HF trainer_state.json --------------------------------------------------------------------
def _hf(obj) -> io.BytesIO:
    return io.BytesIO(json.dumps(obj).encode())


def test_hf_step_beyond_int64_is_skipped_and_counted():
    state = {
        "log_history": [{"step": 1e30, "loss": 1.0}, {"step": 2**70, "loss": 2.0}, {"step": 5, "loss": 0.5}]
    }
    run = gradlog.load(_hf(state), format="hf_trainer")
    assert run.series("train/loss").to_dict() == {5: 0.5}
    assert run.meta["skipped"] == {"steps_out_of_range": 2}
    assert any("64-bit" in w and "entry 0" in w for w in run.meta["warnings"])
    with pytest.raises(DamagedInputError, match="outside the 64-bit integer range"):
        gradlog.load(_hf(state), format="hf_trainer", strict=True)
    with pytest.raises(EmptyLogError):
        gradlog.load(_hf({"log_history": [{"step": 1e30, "loss": 1}]}), format="hf_trainer")


def test_hf_null_values_are_counted():
    state = {
        "log_history": [
            {"step": 1, "loss": None, "learning_rate": 0.1},
            {"step": 2, "loss": 0.5, "learning_rate": None},
        ]
    }
    run = gradlog.load(_hf(state), format="hf_trainer")
    assert run.series("train/loss").to_dict() == {2: 0.5}
    assert run.series("train/lr").to_dict() == {1: 0.1}
    assert run.meta["skipped"] == {"null_values": 2}
    assert any("2 null value(s)" in w for w in run.meta["warnings"])


# -- wide CSV ---------------------------------------------------------------------------------
def test_a_step_column_of_fractions_is_not_the_step_and_says_why(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("step,loss\n0.5,1.0\n1.5,0.9\n2.5,0.8\n")
    run = gradlog.load(p)
    assert run.meta["step_column"] is None
    assert run.series("train/loss").to_dict() == {0: 1.0, 1: 0.9, 2: 0.8}
    assert run.series("train/step").to_dict() == {0: 0.5, 1: 1.5, 2: 2.5}
    (w,) = [w for w in run.meta["warnings"] if "'step'" in w]
    assert "not whole numbers" in w and "0.5 at line 2" in w and "row number is the step" in w
    # another step-named column takes over, and the warning says which
    q = tmp_path / "log2.csv"
    q.write_text("step,iteration,loss\n0.5,10,1.0\n1.5,20,0.9\n")
    run = gradlog.load(q)
    assert run.meta["step_column"] == "iteration"
    assert any("'step' not used" in w and "the step is column 'iteration'" in w for w in run.meta["warnings"])


def test_values_of_an_unnamed_column_are_counted(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("step,,loss\n0,5,1.0\n1,6,0.9\n2,,0.8\n")
    run = gradlog.load(p)
    assert run.series("train/loss").to_dict() == {0: 1.0, 1: 0.9, 2: 0.8}
    assert run.meta["ignored_columns"] == ["column 2 (no name)"]
    assert run.meta["skipped"]["unnamed_column_values"] == 2
    assert any("column(s) 2 have no name" in w for w in run.meta["warnings"])


# -- damaged gzip ------------------------------------------------------------------------------
def test_damaged_gzip_is_not_called_empty(tmp_path):
    data = bytearray(gzip.compress(b"step,loss\n" + b"".join(b"%d,%d.5\n" % (i, i) for i in range(200))))
    data[12:40] = b"\xff" * 28  # the deflate stream right after the header
    bad = tmp_path / "log.csv.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(DamagedInputError, match=r"log\.csv\.gz: damaged gzip data"):
        gradlog.load(bad)
    with pytest.raises(DamagedInputError, match="damaged gzip data"):
        gradlog.load(io.BytesIO(bytes(data)))
    empty = tmp_path / "empty.csv.gz"
    empty.write_bytes(gzip.compress(b""))
    with pytest.raises(EmptyLogError, match=r"empty\.csv\.gz: empty file"):
        gradlog.load(empty)
    zero = tmp_path / "zero.csv"
    zero.write_bytes(b"")
    with pytest.raises(EmptyLogError, match="empty file"):
        gradlog.load(zero)
