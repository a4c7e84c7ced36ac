"""Validate once: frames a builder checked are trusted by ParseResult and Run, frames a
user builds are still checked, and the wide-CSV layout gives the frame the slow path
(build_frame) gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gradlog
from gradlog.errors import FrameError
from gradlog.frame import (
    ParseResult,
    build_frame,
    layout_frame,
    long_column,
    take_vouched,
    validate_frame,
    vouch,
)


def _frame() -> pd.DataFrame:
    frame, _ = build_frame(["train/loss", "train/loss", "train/lr"], [0, 5, 0], [2.0, 1.0, 0.1])
    return frame


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import gradlog.frame.build as fr
    import gradlog.run as run_mod

    calls: list[int] = []
    real = fr.validate_frame

    def counted(frame: pd.DataFrame) -> None:
        calls.append(len(frame))
        real(frame)

    monkeypatch.setattr(fr, "validate_frame", counted)
    monkeypatch.setattr(run_mod, "validate_frame", counted)
    return calls


def test_a_parsed_frame_is_validated_once(monkeypatch, tmp_path):
    calls = _counting(monkeypatch)
    p = tmp_path / "log.csv"
    p.write_text("step,loss,lr\n" + "".join(f"{i},{1.0 / (i + 1):.6g},0.1\n" for i in range(50)))
    run = gradlog.load(p)
    assert len(calls) == 1  # by the layout builder; not again in ParseResult or Run
    assert run.series("train/loss").loc[9] == pytest.approx(0.1)


def test_a_user_frame_is_validated_and_a_damaged_one_rejected(monkeypatch):
    frame = _frame()
    assert take_vouched(frame)  # build_frame vouched; taking it uses the voucher up
    calls = _counting(monkeypatch)
    run = gradlog.Run(frame)
    assert len(calls) == 1
    # the frame a Run holds is checked again when handed to a new Run (it may have been
    # changed in place in between)
    bad = run.frame.copy()
    bad.loc[1, "step"] = 0  # train/loss now repeats step 0
    with pytest.raises(FrameError, match=r"duplicate \(tag, step\) row: \(train/loss, 0\)"):
        gradlog.Run(bad)
    gradlog.Run(run.frame)
    assert len(calls) == 3


def test_a_vouched_frame_whose_columns_changed_is_checked():
    frame = _frame()
    changed = frame.assign(step=frame["step"].astype("float64"))
    vouch(changed)
    with pytest.raises(FrameError, match="dtype"):
        ParseResult(changed)


def test_validate_frame_ignores_empty_leading_categories():
    # categories a, b, c; rows only for b and c: the last pair of rows must still be checked
    tag = pd.Categorical(["b", "b", "c", "c"], categories=["a", "b", "c"])
    ok = pd.DataFrame(
        {
            "tag": tag,
            "step": np.array([0, 1, 0, 1], dtype=np.int64),
            "value": np.zeros(4),
            "wall_time": np.full(4, np.nan),
            "source_tag": tag,
        }
    )
    validate_frame(ok)
    dup = ok.assign(step=np.array([0, 1, 3, 3], dtype=np.int64))
    with pytest.raises(FrameError, match=r"duplicate \(tag, step\) row: \(c, 3\)"):
        validate_frame(dup)
    back = ok.assign(step=np.array([0, 1, 3, 2], dtype=np.int64))
    with pytest.raises(FrameError, match="not sorted by step"):
        validate_frame(back)


def test_layout_frame_matches_build_frame_and_checks_its_input():
    tags = ["train/loss", "train/lr"]
    steps = np.array([0, 10, 20, 0, 20], dtype=np.int64)
    values = np.array([2.0, 1.5, 1.0, 0.1, 0.01])
    walls = long_column(5, np.float64, np.nan)
    got = layout_frame(tags, ["loss", "lr"], [3, 2], steps, values, walls)
    want, replaced = build_frame(
        ["train/loss"] * 3 + ["train/lr"] * 2, steps, values, source_tag=["loss"] * 3 + ["lr"] * 2
    )
    assert replaced == 0
    pd.testing.assert_frame_equal(got, want, check_categorical=False)
    assert list(got["tag"].cat.categories) == tags
    with pytest.raises(FrameError, match="not sorted"):
        layout_frame(["b", "a"], ["b", "a"], [3, 2], steps, values, walls)
    with pytest.raises(FrameError, match="step"):
        layout_frame(tags, ["loss", "lr"], [3, 2], steps[[1, 0, 2, 3, 4]], values, walls)


def test_long_column_is_writable_and_filled():
    for n in (10, 3_000_000):  # below and above the memory-map threshold
        col = long_column(n, np.float64, np.nan)
        assert col.shape == (n,) and col.flags.writeable and np.isnan(col).all()
        col[-1] = 1.0
        assert col[-1] == 1.0


def test_wide_layout_matches_the_sorting_path(tmp_path):
    """The in-place layout of a CSV whose steps only go up gives the frame build_frame
    gives for the same points."""
    rng = np.random.default_rng(3)
    n = 400
    rows = ["step,loss,lr,val_loss,grad_norm/conv1"]
    for i in range(n):
        val = f"{rng.random():.6g}" if i % 50 == 49 else ""
        rows.append(f"{i * 2},{rng.random():.6g},{0.1 if i < 200 else 0.01},{val},{rng.random():.6g}")
    p = tmp_path / "log.csv"
    p.write_text("\n".join(rows) + "\n")
    run = gradlog.load(p)
    f = run.frame
    want, _ = build_frame(
        f["tag"].astype(str).to_numpy()[::-1],
        f["step"].to_numpy()[::-1],
        f["value"].to_numpy()[::-1],
        source_tag=f["source_tag"].astype(str).to_numpy()[::-1],
    )
    pd.testing.assert_frame_equal(f, want, check_categorical=False)
    assert run.series("val/loss").index.tolist() == list(range(98, 800, 100))
    assert len(run.series("train/loss")) == n
