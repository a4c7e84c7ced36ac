"""Property tests: ``gradlog convert`` output reads back as the same frame; CSV readers
never raise anything but a GradlogError, whatever the bytes."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradlog
from gradlog.errors import GradlogError
from gradlog.export import write_frame
from gradlog.frame import build_frame

# Tags as logs have them: printable text (commas, quotes, spaces, slashes, unicode),
# never empty; control characters are not part of tag names.
_TAG_CHARS = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85")
tags_st = st.text(_TAG_CHARS, min_size=1, max_size=12)
floats_st = st.floats(allow_nan=True, allow_infinity=True, width=64)
walls_st = st.one_of(st.just(float("nan")), st.floats(0, 2e9, allow_nan=False))


@st.composite
def runs_st(draw):
    n_tags = draw(st.integers(1, 5))
    tags = draw(st.lists(tags_st, min_size=n_tags, max_size=n_tags, unique=True))
    sources = {t: draw(tags_st) for t in tags}
    rows_t, rows_s, rows_v, rows_w, rows_src = [], [], [], [], []
    for t in tags:
        steps = draw(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=8, unique=True))
        for s in steps:
            rows_t.append(t)
            rows_s.append(s)
            rows_v.append(draw(floats_st))
            rows_w.append(draw(walls_st))
            rows_src.append(sources[t])
    frame, _ = build_frame(rows_t, np.array(rows_s, dtype=np.int64), rows_v, rows_w, rows_src)
    return gradlog.Run(frame, {}, name="prop")


def _same_floats(a: np.ndarray, b: np.ndarray) -> bool:
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    return bool(
        np.array_equal(nan_a, nan_b) and np.array_equal(a[~nan_a].view(np.int64), b[~nan_b].view(np.int64))
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=runs_st())
def test_convert_then_load_is_identical(run):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "frame.csv"
        write_frame(run, p)
        back = gradlog.load(p)
    assert back.meta["format"] == "csv_long"
    a, b = run.frame, back.frame
    assert list(a["tag"].astype(str)) == list(b["tag"].astype(str))
    assert list(a["tag"].cat.categories) == list(b["tag"].cat.categories)
    assert np.array_equal(a["step"].to_numpy(), b["step"].to_numpy())
    assert _same_floats(a["value"].to_numpy(), b["value"].to_numpy())
    assert _same_floats(a["wall_time"].to_numpy(), b["wall_time"].to_numpy())
    assert list(a["source_tag"].astype(str)) == list(b["source_tag"].astype(str))
    assert back.roles == run.roles


def test_convert_then_load_through_the_cli(tmp_path):
    from click.testing import CliRunner

    from gradlog.cli import main

    src = tmp_path / "loop.csv"
    src.write_text("step,loss,lr,val_loss\n0,2.5,0.1,\n1,nan,0.1,\n2,inf,0.01,1.75\n")
    out = tmp_path / "frame.csv"
    res = CliRunner().invoke(main, ["convert", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    a, b = gradlog.load(src), gradlog.load(out)
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert a.roles == b.roles


# -- random bytes ------------------------------------------------------------------------

_CELL = st.one_of(
    st.sampled_from(
        [
            "",
            "nan",
            "NaN",
            "-inf",
            "Infinity",
            "1e400",
            "None",
            "x",
            '"',
            '""',
            "0",
            "-1",
            "1.5",
            "3,5",
            " 2 ",
            "\t",
            "1e",
            "--",
            "\\",
            "\x00",
            "é",
        ]
    ),
    st.floats(allow_nan=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.text(string.printable, max_size=6),
)
_NAMES = st.sampled_from(
    [
        "step",
        "epoch",
        "loss",
        "lr",
        "val_loss",
        "tag",
        "value",
        "wall_time",
        "source_tag",
        "grad_norm/x",
        "time",
        "",
        "train_loss_step",
        "it",
        "timestamp",
        "batch",
        "a",
        "b",
    ]
)


@st.composite
def csvish_st(draw):
    sep = draw(st.sampled_from([",", ";", "\t"]))
    nl = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    ncol = draw(st.integers(1, 5))
    header = sep.join(draw(st.lists(_NAMES, min_size=ncol, max_size=ncol)))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        k = draw(st.integers(max(0, ncol - 2), ncol + 1))
        rows.append(sep.join(draw(st.lists(_CELL, min_size=k, max_size=k))))
    text = nl.join([header, *rows]) + draw(st.sampled_from(["", nl, nl + nl]))
    data = text.encode("utf-8", errors="replace")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 4)) == 0:
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]
    return data


_CSV_FORMATS = (
    None,
    "csv_wide",
    "csv_long",
    "lightning",
    "keras",
    "ultralytics",
    "timm",
    "hf_trainer",
    "mlflow",
    "caffe_parselog",
    "wandb",
)


def _load_or_gradlog_error(data: bytes, fmt: str | None, name: str = "x.csv") -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(data)
        try:
            run = gradlog.load(p, format=fmt)
        except GradlogError:
            return
        # what loads is a valid run: every tag has a point and the roles name real tags
        assert len(run.frame) > 0
        for _role, val in run.roles.items():
            for t in val if isinstance(val, list) else [val]:
                assert t is None or t in run.tags


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csvish_st(), fmt=st.sampled_from(_CSV_FORMATS))
def test_csv_like_bytes_raise_only_gradlog_errors(data, fmt):
    _load_or_gradlog_error(data, fmt)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=400),
    fmt=st.sampled_from(_CSV_FORMATS),
    name=st.sampled_from(
        [
            "x.csv",
            "metrics.csv",
            "trainer_state.json",
            "results.csv",
            "caffe.log.train",
            "wandb-history.jsonl",
            "run-x.wandb",
        ]
    ),
)
def test_random_bytes_raise_only_gradlog_errors(data, fmt, name):
    _load_or_gradlog_error(data, fmt, name)


_WANDB = Path(__file__).parent / "data" / "wandb" / "wandb"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(0, 50_000),
    flips=st.lists(st.integers(0, 50_000), max_size=4),
    junk=st.binary(max_size=64),
)
def test_damaged_wandb_record_files_raise_only_gradlog_errors(cut, flips, junk):
    data = bytearray(next(_WANDB.glob("*/run-*.wandb")).read_bytes())
    for f in flips:
        if f < len(data):
            data[f] ^= 0x5A
    _load_or_gradlog_error(bytes(data[:cut]) + junk, "wandb", "run-x.wandb")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csvish_st(), spaces=st.booleans())
def test_parselog_like_bytes_raise_only_gradlog_errors(data, spaces):
    head = (
        b"#Iters Seconds TrainingLoss LearningRate\n" if spaces else b"NumIters,Seconds,LearningRate,loss\n"
    )
    _load_or_gradlog_error(head + data, "caffe_parselog", "caffe.log.train")
