"""The common frame contract: build_frame, validate_frame, Run views."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import gradlog
from gradlog.errors import FrameError, RoleError
from gradlog.frame import COLUMNS, build_frame, empty_frame, validate_frame


def _frame():
    frame, replaced = build_frame(
        ["train/loss", "train/lr", "train/loss", "train/loss", "val/loss", "train/loss"],
        [10, 0, 0, 20, 20, 10],
        [0.5, 0.1, 1.0, 0.25, 0.7, 0.45],
        wall_time=[1.0, 0.0, 0.0, 2.0, 2.0, 3.0],
        source_tag=["loss", "lr", "loss", "loss", "val_loss", "loss"],
    )
    return frame, replaced


def test_build_frame_sorts_and_later_record_wins():
    frame, replaced = _frame()
    assert replaced == 1
    assert tuple(frame.columns) == COLUMNS
    assert list(frame["tag"].astype(str)) == ["train/loss"] * 3 + ["train/lr", "val/loss"]
    assert list(frame["step"]) == [0, 10, 20, 0, 20]
    # step 10 was logged twice: the later record (0.45, wall 3.0) wins
    row = frame[(frame["tag"] == "train/loss") & (frame["step"] == 10)]
    assert row["value"].item() == 0.45 and row["wall_time"].item() == 3.0
    assert list(frame["source_tag"].astype(str)) == ["loss", "loss", "loss", "lr", "val_loss"]


def test_build_frame_dtypes_and_nonfinite_kept():
    frame, _ = build_frame(["a", "a", "a"], [0, 1, 2], [float("nan"), float("inf"), -math.inf])
    assert str(frame["step"].dtype) == "int64"
    assert str(frame["value"].dtype) == "float64"
    assert isinstance(frame["tag"].dtype, pd.CategoricalDtype)
    v = frame["value"].to_numpy()
    assert np.isnan(v[0]) and v[1] == np.inf and v[2] == -np.inf
    assert frame["wall_time"].isna().all()


def test_build_frame_source_tag_mapping():
    frame, _ = build_frame(
        ["train/loss", "val/loss"],
        [0, 0],
        [1.0, 2.0],
        source_tag={"train/loss": "loss", "val/loss": "val_loss"},
    )
    assert list(frame["source_tag"].astype(str)) == ["loss", "val_loss"]


def test_build_frame_source_tags_follow_sort_and_dedup():
    # a mapping: two tags share an original name, a tag missing from it is its own;
    # the rows arrive unsorted with a re-logged point
    frame, replaced = build_frame(
        ["val/loss", "train/loss", "train/acc", "train/loss"],
        [5, 1, 1, 1],
        [1.0, 2.0, 3.0, 4.0],
        source_tag={"train/loss": "loss", "val/loss": "loss"},
    )
    assert replaced == 1
    assert list(frame["tag"].astype(str)) == ["train/acc", "train/loss", "val/loss"]
    assert list(frame["source_tag"].astype(str)) == ["train/acc", "loss", "loss"]
    assert list(frame["source_tag"].cat.categories) == ["loss", "train/acc"]
    assert frame["value"].tolist() == [3.0, 4.0, 1.0]
    # one source tag per row: the later record's own name survives the de-duplication
    frame, _ = build_frame(["a", "a", "b"], [1, 1, 0], [1.0, 2.0, 3.0], source_tag=["x", "y", "z"])
    assert list(frame["source_tag"].astype(str)) == ["y", "z"]
    with pytest.raises(FrameError, match="source_tag has 2 rows, expected 3"):
        build_frame(["a", "a", "b"], [1, 2, 0], [1.0, 2.0, 3.0], source_tag=["x", "y"])
    empty, _ = build_frame([], [], [], source_tag={"a": "b"})
    assert len(empty) == 0 and list(empty["source_tag"].cat.categories) == []


def test_build_frame_rejects_non_integer_steps():
    with pytest.raises(FrameError, match="integers"):
        build_frame(["a"], [1.5], [1.0])
    with pytest.raises(FrameError, match="length"):
        build_frame(["a", "a"], [1], [1.0, 2.0])


def test_validate_frame_rejects_parser_bugs():
    frame, _ = _frame()
    with pytest.raises(FrameError, match="columns"):
        validate_frame(frame[["tag", "step", "value"]])
    bad = frame.copy()
    bad["step"] = bad["step"].astype("float64")
    with pytest.raises(FrameError, match="dtype"):
        validate_frame(bad)
    unsorted = frame.iloc[[1, 0, 2, 3, 4]].reset_index(drop=True)
    with pytest.raises(FrameError, match="sorted"):
        validate_frame(unsorted)
    dup = pd.concat([frame.iloc[:1], frame.iloc[:1], frame.iloc[1:]], ignore_index=True)
    dup["tag"] = dup["tag"].astype(frame["tag"].dtype)
    dup["source_tag"] = dup["source_tag"].astype(frame["source_tag"].dtype)
    with pytest.raises(FrameError, match=r"duplicate \(tag, step\) row: \(train/loss, 0\)"):
        validate_frame(dup)


def test_empty_frame_is_valid():
    f = empty_frame()
    validate_frame(f)
    assert len(f) == 0


def test_run_views():
    frame, _ = _frame()
    run = gradlog.Run(frame, {"format": "x"}, name="r")
    s = run.series("train/loss")
    assert list(s.index) == [0, 10, 20] and s.loc[20] == 0.25 and s.name == "train/loss"
    wide = run.wide()
    assert list(wide.columns) == ["train/loss", "train/lr", "val/loss"]
    assert list(wide.index) == [0, 10, 20]
    assert np.isnan(wide.loc[10, "val/loss"]) and wide.loc[20, "val/loss"] == 0.7
    assert run.steps == {"first": 0, "last": 20, "count": 3}
    assert run.roles["loss"] == "train/loss"
    assert run.roles["lr"] == "train/lr"
    assert run.roles["val_loss"] == "val/loss"
    summ = run.summary().set_index("tag")
    assert summ.loc["train/loss", "count"] == 3
    assert summ.loc["train/loss", "min"] == 0.25
    assert summ.loc["train/loss", "role"] == "loss"
    with pytest.raises(KeyError, match="no tag 'nope'"):
        run.series("nope")


def test_run_role_override_by_source_tag():
    frame, _ = _frame()
    run = gradlog.Run(frame, {}, {"val_loss": "loss"})
    assert run.roles["val_loss"] == "train/loss"
    with pytest.raises(RoleError, match="no tag 'missing'"):
        gradlog.Run(frame, {}, {"loss": "missing"})
    with pytest.raises(RoleError, match="unknown role"):
        gradlog.Run(frame, {}, {"bogus": "loss"})
