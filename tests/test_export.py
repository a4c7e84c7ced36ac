"""``gradlog convert``: the long frame written to CSV or Parquet reads back as the same run.

Parquet is an optional extra (``gradlog[parquet]``, pyarrow): without it, writing says in
one line which extra to install; with it, the written file reads back bit for bit."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import gradlog
from gradlog import cli
from gradlog.errors import GradlogError
from gradlog.export import write_frame
from gradlog.frame import build_frame

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None


def _run() -> gradlog.Run:
    tags = ["train/loss"] * 4 + ["train/lr"] * 4
    steps = [0, 10, 20, 30] * 2
    values = [2.0, 1.25, float("nan"), float("inf"), 0.1, 0.1, 0.01, 0.01]
    frame, _ = build_frame(tags, steps, values, wall_time=[1.5e9 + s for s in steps])
    return gradlog.Run(frame, {"name": "r.log", "format": "csv_long", "step_unit": "step"})


def _same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a["tag"].astype(str)) == list(b["tag"].astype(str))
    assert list(a["step"]) == list(b["step"])
    for x, y in zip(a["value"], b["value"], strict=True):
        assert (math.isnan(x) and math.isnan(y)) or x == y
    assert np.array_equal(a["wall_time"].to_numpy(), b["wall_time"].to_numpy(), equal_nan=True)


def test_csv_round_trip(tmp_path) -> None:
    run = _run()
    out = tmp_path / "out.csv"
    assert write_frame(run, out) == 8
    back = gradlog.load(out)
    _same_frame(run.frame, back.frame)
    assert back.series("train/loss").loc[10] == 1.25


@pytest.mark.skipif(HAS_PYARROW, reason="pyarrow is installed: the round trip test runs instead")
def test_parquet_without_the_extra_says_which_extra_to_install(tmp_path) -> None:
    out = tmp_path / "out.parquet"
    with pytest.raises(GradlogError, match=r"pip install 'gradlog\[parquet\]'"):
        write_frame(_run(), out)
    assert not out.exists()
    src = tmp_path / "r.csv"
    write_frame(_run(), src)
    r = CliRunner().invoke(cli.main, ["convert", str(src), "-o", str(out)])
    assert r.exit_code == 2
    assert r.stderr == "Error: writing Parquet needs pyarrow: pip install 'gradlog[parquet]'\n"


@pytest.mark.skipif(not HAS_PYARROW, reason="needs the parquet extra (pyarrow)")
def test_parquet_round_trip(tmp_path) -> None:
    run = _run()
    out = tmp_path / "out.parquet"
    assert write_frame(run, out) == 8
    back = gradlog.load(out)
    _same_frame(run.frame, back.frame)
    r = CliRunner().invoke(cli.main, ["analyze", str(out), "--format", "json"])
    assert r.exit_code in (0, 1), r.stderr
