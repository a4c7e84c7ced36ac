"""The long-table row checks (parsers/csv_long.py), shared by the CSV and Parquet paths:
which rows are skipped, how they are counted and what the warnings say.

The Parquet path is driven through a stand-in ``pyarrow.parquet`` (the extra is optional
and may be absent here): it hands the reader a DataFrame, as pyarrow's ``to_pandas`` does.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

from gradlog.errors import DamagedInputError, EmptyLogError
from gradlog.frame.source import Source
from parsers import csv_long

# rows: good, no step, a value that is not a number, no tag, a tag of 2,000 characters,
# good, a re-logged point (replaces step 0 of train/loss), and an unterminated last line
# whose last cell is a number cut short (1e-0 of 1e-05)
_CSV = (
    b"step,tag,value\n"
    b"0,train/loss,1.5\n"
    b",train/loss,2\n"
    b"1,train/loss,abc\n"
    b"2,,3\n"
    b"3," + b"t" * 2000 + b",4\n"
    b"4,train/acc,0.25\n"
    b"0,train/loss,1.25\n"
    b"5,train/loss,1e-0"
)


def _read_csv(tmp_path, body: bytes, **kw):
    p = tmp_path / "long.csv"
    p.write_bytes(body)
    return csv_long.read(Source.from_path(p), **kw)


def test_csv_rows_skipped_counted_and_named(tmp_path):
    res = _read_csv(tmp_path, _CSV)
    f = res.frame
    assert {(t, int(s)): v for t, s, v in zip(f["tag"], f["step"], f["value"], strict=True)} == {
        ("train/loss", 0): 1.25,
        ("train/acc", 4): 0.25,
    }
    m = res.meta
    assert m["skipped"] == {"long_tags": 1, "truncated_last_line": 1, "bad_rows": 3}
    assert m["rows"] == 8
    assert m["replaced_points"] == 1
    assert m["truncated"] == 1
    assert m["warnings"] == [
        "1 row(s) with a tag longer than 1024 characters skipped (first: line 6; set "
        "GRADLOG_MAX_TAG_LENGTH to read them)",
        "line 9: truncated last line (a run still writing?) skipped",
        "3 row(s) without an integer step, a tag or a number skipped (first: line 3)",
        "1 point(s) re-logged at an earlier step were replaced by the later record",
    ]
    assert list(m)[:7] == [
        "step_unit",
        "step_column",
        "skipped",
        "warnings",
        "separator",
        "truncated",
        "rows",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_CSV, "line 6; set GRADLOG_MAX_TAG_LENGTH"),
        (b"step,tag,value\n0,a,1\n1,a,2", None),  # complete last line without a newline: kept
        (b"step,tag,value\n0,a,1\n1,a,0.", "line 3: truncated last line"),
        (b"step,tag,value\n0,a,1\n1.5,a,2\n", "1 row\\(s\\) without an integer step.*first: line 3"),
    ],
)
def test_csv_strict_names_the_first_skipped_row(tmp_path, body, message):
    if message is None:
        res = _read_csv(tmp_path, body, strict=True)
        assert res.frame["value"].tolist() == [1.0, 2.0]
        assert res.meta["skipped"] == {}
        return
    with pytest.raises(DamagedInputError, match=message):
        _read_csv(tmp_path, body, strict=True)


def test_csv_no_row_holds_a_point(tmp_path):
    with pytest.raises(EmptyLogError, match="no row holds a point"):
        _read_csv(tmp_path, b"step,tag,value\nx,a,1\n1,,2\n")


# -- Parquet ---------------------------------------------------------------------------------


@pytest.fixture
def fake_parquet(monkeypatch, tmp_path):
    """Write a file with Parquet's magic bytes; return a function that reads it as the
    given DataFrame (through a stand-in pyarrow.parquet)."""
    p = tmp_path / "run.parquet"
    p.write_bytes(b"PAR1" + b"\0" * 60 + b"PAR1")

    def read(df: pd.DataFrame, **kw):
        table = types.SimpleNamespace(to_pandas=lambda: df.copy())
        pq = types.ModuleType("pyarrow.parquet")
        pq.read_table = lambda _buf: table  # type: ignore[attr-defined]
        pa = types.ModuleType("pyarrow")
        pa.parquet = pq  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "pyarrow", pa)
        monkeypatch.setitem(sys.modules, "pyarrow.parquet", pq)
        return csv_long.read(Source.from_path(p), **kw)

    return read


def _parquet_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Step": np.array([0, 1, 2, 3, 0], dtype=np.int64),
            "Tag": ["train/loss", "train/loss", None, "x" * 2000, "train/loss"],
            "Value": [1.5, np.nan, 3.0, 4.0, 1.25],
            "wall_time": [10.0, 11.0, 12.0, 13.0, 14.0],
        }
    )


def test_parquet_rows_skipped_and_counted(fake_parquet):
    res = fake_parquet(_parquet_df())
    f = res.frame
    # a NaN value is a value; a long tag is kept in Parquet (no cap there); the later
    # record of (train/loss, 0) wins, and the report says so (as for a CSV)
    assert list(zip(f["tag"], f["step"].tolist(), f["value"].tolist(), strict=True))[:2] == [
        ("train/loss", 0, 1.25),
        ("train/loss", 1, pytest.approx(np.nan, nan_ok=True)),
    ]
    assert f["wall_time"].tolist()[:2] == [14.0, 11.0]
    assert len(f) == 3
    m = res.meta
    assert m["skipped"] == {"bad_rows": 1}
    assert m["warnings"] == [
        "1 row(s) without an integer step, a tag or a number skipped",
        "1 point(s) re-logged at an earlier step were replaced by the later record",
    ]
    assert m["rows"] == 5
    assert m["replaced_points"] == 1
    assert "separator" not in m


def test_parquet_strict_and_empty(fake_parquet):
    with pytest.raises(DamagedInputError, match=r"^.*run\.parquet: 1 row\(s\) without an integer step"):
        fake_parquet(_parquet_df(), strict=True)
    with pytest.raises(EmptyLogError, match="no row holds a point"):
        fake_parquet(pd.DataFrame({"step": [0], "tag": [""], "value": [1.0]}))
    with pytest.raises(EmptyLogError, match="the Parquet table has no rows"):
        fake_parquet(pd.DataFrame({"step": [], "tag": [], "value": []}))
