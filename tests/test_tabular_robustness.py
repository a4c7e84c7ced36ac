"""Damaged and half-written tabular logs: a ragged or binary row is skipped and counted
(an error under strict), a last line still being written is dropped and counted in
``meta["truncated"]``, caps give clear errors, and every regex of the tabular readers
runs in linear time (a generous smoke test each: a 1 MB line finishes)."""

from __future__ import annotations

import time

import pytest

import gradlog
from gradlog.errors import DamagedInputError, ParseError
from parsers import _csv, _hparams, csv_long, hf_trainer, lightning


def _write(path, text: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


# -- one ragged row in each CSV family ----------------------------------------------------


def test_lightning_ragged_row_skipped_with_its_line(tmp_path):
    d = tmp_path / "version_0"
    _write(d / "metrics.csv", "step,epoch,train_loss_step\n0,0,2.0\n1,0,1.5,9\n2,0,1.25\n3,0,1.0\n")
    run = gradlog.load(d)
    assert run.series("train/loss").to_dict() == {0: 2.0, 2: 1.25, 3: 1.0}
    assert run.meta["skipped"] == {"ragged_rows": 1}
    assert run.meta["warnings"][0] == ("1 ragged row(s) skipped (line 3: 4 fields where the header has 3)")
    with pytest.raises(DamagedInputError, match="line 3: 4 fields"):
        gradlog.load(d, strict=True)


def test_keras_ragged_row_skipped(tmp_path):
    p = _write(tmp_path / "training.log", "epoch,loss,val_loss\n0,2.0,2.1\n1,1.5\n2,1.25,1.3\n3,1.0,1.2\n")
    run = gradlog.load(p)
    assert run.meta["format"] == "keras" and run.meta["skipped"] == {"ragged_rows": 1}
    assert run.series("train/loss").to_dict() == {0: 2.0, 2: 1.25, 3: 1.0}


def test_ultralytics_ragged_row_skipped(tmp_path):
    p = _write(
        tmp_path / "results.csv",
        "epoch,train/box_loss,metrics/mAP50-95(B),lr/pg0\n"
        "1,1.5,0.1,0.01\n2,1.4,0.15\n3,1.25,0.2,0.01\n4,1.2,0.25,0.01\n",
    )
    run = gradlog.load(p)
    assert run.meta["format"] == "ultralytics" and run.meta["skipped"] == {"ragged_rows": 1}
    assert run.series("train/box_loss").to_dict() == {1: 1.5, 3: 1.25, 4: 1.2}


def test_quoted_file_ragged_row_skipped(tmp_path):
    p = _write(tmp_path / "q.csv", 'step,loss,"note"\n0,2.0,"a, b"\n1,1.5\n2,1.25,"c"\n3,1.0,"d"\n')
    run = gradlog.load(p)
    assert run.series("train/loss").to_dict() == {0: 2.0, 2: 1.25, 3: 1.0}
    assert run.meta["skipped"] == {"ragged_rows": 1}


def test_long_csv_ragged_binary_truncated_and_long_tag(tmp_path):
    body = b"step,tag,value\n0,train/loss,1\n1,train/loss,2,3\n2,train/loss,3\n"
    body += b"3,train/lo\x00ss,4\n4," + b"t" * 2000 + b",9\n5,train/loss,5\n6,train/lo"
    p = _write(tmp_path / "long.csv", body)
    run = gradlog.load(p, format=csv_long.NAME)
    assert run.series("train/loss").to_dict() == {0: 1.0, 2: 3.0, 5: 5.0}
    assert run.meta["skipped"] == {
        "binary_rows": 1,
        "ragged_rows": 1,
        "long_tags": 1,
        "truncated_last_line": 1,
    }
    assert run.meta["truncated"] == 1
    with pytest.raises(DamagedInputError, match="line 5: binary data"):
        gradlog.load(p, format=csv_long.NAME, strict=True)


# -- a log still being written -------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "kept"),
    [
        ("2,0.8,1e-", {0: 0.1, 1: 0.1}),  # a number cut in the middle
        ("2,0.8", {0: 0.1, 1: 0.1}),  # fields missing
        ("2,0.8,1", {0: 0.1, 1: 0.1, 2: 1.0}),  # complete, just no newline yet
        ("2,0.8,1e-0", {0: 0.1, 1: 0.1}),  # 1e-05 cut: reads as 1, no logger writes it
        ("2,0.8,0.", {0: 0.1, 1: 0.1}),  # 0.05 cut at its decimal point
        ("2,0.8,1e-05", {0: 0.1, 1: 0.1, 2: 1e-05}),
        ("2,0.8,1e+00", {0: 0.1, 1: 0.1, 2: 1.0}),  # two exponent digits: whole
        ("2,0.8,nan", {0: 0.1, 1: 0.1, 2: float("nan")}),
    ],
)
def test_last_line_without_newline(tmp_path, last, kept):
    p = _write(tmp_path / "live.csv", "step,loss,lr\n0,1.0,0.1\n1,0.9,0.1\n" + last)
    run = gradlog.load(p)
    got = run.series("train/lr").to_dict()
    assert list(got) == list(kept)
    assert all(got[k] == v or (v != v and got[k] != got[k]) for k, v in kept.items())
    truncated = len(kept) == 2
    assert run.meta["truncated"] == int(truncated)
    if truncated:
        assert run.meta["skipped"] == {"truncated_last_line": 1}
        with pytest.raises(DamagedInputError, match=r"line 4: truncated last line"):
            gradlog.load(p, strict=True)
    else:
        assert len(gradlog.load(p, strict=True).series("train/lr")) == 3


def test_keras_and_long_csv_last_value_cut_short_is_dropped(tmp_path):
    keras = _write(
        tmp_path / "training.log", "epoch,loss,lr,val_loss\n0,1.0,0.1,1.1\n1,0.9,0.1,1.0\n2,0.8,0.1,0."
    )
    run = gradlog.load(keras)
    assert run.series("val/loss").to_dict() == {0: 1.1, 1: 1.0}  # not 0.0 at epoch 2
    assert run.meta["truncated"] == 1
    assert "'0.' in column 4 is a number cut short" in run.meta["warnings"][0]
    long = _write(
        tmp_path / "metrics_long.csv",
        "step,tag,value\n0,train/loss,1.0\n0,train/lr,1e-05\n1,train/loss,0.9\n1,train/lr,1e-0",
    )
    run = gradlog.load(long)
    assert run.series("train/lr").to_dict() == {0: 1e-05}  # not 1.0 at step 1
    assert run.meta["truncated"] == 1 and run.meta["skipped"] == {"truncated_last_line": 1}
    with pytest.raises(DamagedInputError, match="line 5: truncated last line"):
        gradlog.load(long, strict=True)


def test_values_under_an_empty_column_name_fail_strict(tmp_path):
    p = _write(tmp_path / "train_log.csv", "step,loss,lr,\n0,1.0,0.1,7\n1,0.9,0.1,8\n2,0.8,0.1,9\n")
    run = gradlog.load(p)
    assert run.meta["skipped"] == {"unnamed_column_values": 3}
    assert run.series("train/loss").to_dict() == {0: 1.0, 1: 0.9, 2: 0.8}
    with pytest.raises(DamagedInputError, match=r"train_log.csv: column\(s\) 4 have no name: their 3 value"):
        gradlog.load(p, strict=True)
    empty = _write(tmp_path / "b/train_log.csv", "step,loss,lr,\n0,1.0,0.1,\n1,0.9,0.1,\n")
    assert gradlog.load(empty, strict=True).series("train/loss").to_dict() == {0: 1.0, 1: 0.9}


def test_lightning_metrics_being_written(tmp_path):
    d = tmp_path / "version_1"
    _write(d / "metrics.csv", "step,epoch,train_loss_step,lr\n0,0,2.0,0.1\n1,0,1.5,0.1\n2,0,1.2")
    run = gradlog.load(d)
    assert run.meta["truncated"] == 1 and run.series("train/loss").to_dict() == {0: 2.0, 1: 1.5}


# -- caps ----------------------------------------------------------------------------------


def test_row_of_half_a_million_fields_is_one_skipped_row(tmp_path):
    rows = "".join(f"{i},{1.0 / (i + 1)},0.1\n" for i in range(10))
    p = _write(
        tmp_path / "w.csv", "step,loss,lr\n" + rows + ",".join(["1"] * 524_000) + "\n" + "10,0.05,0.1\n"
    )
    t0 = time.perf_counter()
    run = gradlog.load(p)
    assert time.perf_counter() - t0 < 20
    assert run.meta["skipped"] == {"ragged_rows": 1} and run.series("train/loss")[10] == 0.05


def test_header_longer_than_the_sniffed_head_is_a_clear_error(tmp_path):
    names = ",".join(f"metric_{i}" for i in range(10_000))
    p = _write(tmp_path / "h.csv", "step," + names + "\n0," + ",".join(["1"] * 10_000) + "\n")
    with pytest.raises(ParseError, match="not a CSV table"):
        gradlog.load(p, format="csv_wide")


def test_column_count_cap_and_override(tmp_path, monkeypatch):
    p = _write(tmp_path / "c.csv", "step,a,b,c\n0,1,2,3\n1,2,3,4\n")
    monkeypatch.setenv("GRADLOG_MAX_CSV_COLUMNS", "3")
    with pytest.raises(ParseError) as ei:
        gradlog.load(p)
    assert str(ei.value) == (
        f"{p}: 4 columns, more than the limit of 3 (set GRADLOG_MAX_CSV_COLUMNS to read more)"
    )
    monkeypatch.setenv("GRADLOG_MAX_CSV_COLUMNS", "4")
    assert gradlog.load(p).series("train/c").to_dict() == {0: 3.0, 1: 4.0}


def test_tag_length_override(tmp_path, monkeypatch):
    p = _write(tmp_path / "t.csv", "step," + "m" * 50 + "\n0,1\n1,2\n")
    monkeypatch.setenv("GRADLOG_MAX_TAG_LENGTH", "20")
    with pytest.raises(ParseError):  # the only metric column is not read: nothing left
        gradlog.load(p)
    monkeypatch.setenv("GRADLOG_MAX_TAG_LENGTH", "60")
    assert len(gradlog.load(p).series("train/" + "m" * 50)) == 2


# -- one generous smoke test per regex: a 1 MB adversarial line finishes ---------------------

MB = 1_000_000
ADVERSARIAL = [
    "1" * MB + "x",
    " " * MB + "x",
    "1," * (MB // 2) + "x",
    "1." + "1" * MB + "e",
    "a" * MB + ":",
    "-" * MB,
    "\r" * MB + "x",
]


def _linear(fn) -> None:
    t0 = time.perf_counter()
    for text in ADVERSARIAL:
        fn(text)
    assert time.perf_counter() - t0 < 20  # linear work is ~0.1 s; quadratic never ends


#: each regex and the way the readers call it (anchored ones with match/fullmatch)
CSV_USES = {
    "_NUM_RE": "fullmatch",
    "_COMMA_NUM_RE": "fullmatch",
    "_LETTER_RE": "search",
    "_IDENT_RE": "fullmatch",
    "_DOT_NUM_RE": "match",
    "_LINE_SPLIT_RE": "split",
}


@pytest.mark.parametrize(("name", "use"), sorted(CSV_USES.items()))
def test_csv_regexes_are_linear(name, use):
    pattern = getattr(_csv, name)
    _linear(lambda t: getattr(pattern, use)(t))


def test_csv_helpers_are_linear():
    _linear(
        lambda t: (_csv._is_number(t), _csv._is_comma_number(t), _csv.c_error(t, 3), _csv.is_cut_number(t))
    )


@pytest.mark.parametrize("name", ["_INT_RE", "_FLOAT_RE"])
def test_hparams_regexes_are_linear(name):
    pattern = getattr(_hparams, name)
    _linear(lambda t: pattern.fullmatch(t))
    _linear(_hparams.parse_scalar)


def test_other_tabular_regexes_are_linear():
    _linear(
        lambda t: (
            lightning._VERSION_RE.split(t),
            lightning._VERSION_DIR_RE.fullmatch(t),
            hf_trainer._CHECKPOINT_RE.match(t),
            list(csv_long._SKIP_RE.finditer(t)),
        )
    )


def test_sniff_on_a_long_run_of_digits(tmp_path):
    p = _write(tmp_path / "d.csv", "step,loss\n0," + "1" * MB + "x\n1,2\n")
    t0 = time.perf_counter()
    run = gradlog.load(p)
    assert time.perf_counter() - t0 < 20
    assert run.series("train/loss").to_dict() == {1: 2.0}
    assert run.meta["skipped"] == {"non_numeric_cells": 1}


def test_lines_named_after_a_skipped_row_are_the_file_lines(tmp_path):
    p = _write(
        tmp_path / "l.csv", "step,loss,lr\n0,1,0.1\n1,2\n2,3,0.1\n3,x,0.1\n4,5,0.1\n5,6,0.1\n6,7,0.1\n"
    )
    run = gradlog.load(p)
    assert run.meta["warnings"] == [
        "1 ragged row(s) skipped (line 3: 2 fields where the header has 3)",
        "1 cell(s) that are not numbers skipped (first: column 'loss', line 5)",
    ]


def test_file_that_grows_during_the_read_is_one_snapshot(tmp_path, monkeypatch):
    import gradlog.parsers._csvscan as scan_mod

    p = _write(tmp_path / "grow.csv", "step,loss\n0,1.0\n1,0.9\n")
    scan = scan_mod.scan_bytes

    def scan_then_grow(*args, **kwargs):
        out = scan(*args, **kwargs)
        with open(p, "a", encoding="utf-8") as fh:
            fh.write("2,0.8\n3,1e-")  # the run writes on while gradlog reads
        return out

    monkeypatch.setattr(scan_mod, "scan_bytes", scan_then_grow)
    run = gradlog.load(p)
    assert run.series("train/loss").to_dict() == {0: 1.0, 1: 0.9}
    assert run.meta["warnings"] == [
        "the file grew while it was read (a run still writing): the 11 byte(s) appended were not read"
    ]


@pytest.mark.parametrize("tail", ["1700000002000 1e-0", "1700000002000 0.1 ", "17000"])
def test_mlflow_metric_file_being_written(tmp_path, tail):
    """A cut last line of an MLflow metric file is a truncated record (meta["truncated"]),
    not a bad line; a complete one without its newline is kept."""
    run_dir = tmp_path / "mlruns/0/0123456789abcdef"
    _write(run_dir / "meta.yaml", "run_id: 0123456789abcdef\nexperiment_id: '0'\n")
    _write(run_dir / "metrics/loss", "1700000000000 1.0 0\n1700000001000 0.9 1\n1700000002000 0.8 2\n")
    _write(run_dir / "metrics/lr", "1700000000000 0.1 0\n1700000001000 0.1 1\n" + tail)
    run = gradlog.load(run_dir)
    assert run.series("train/lr").to_dict() == {0: 0.1, 1: 0.1}
    assert run.meta["truncated"] == 1 and run.meta["skipped"] == {"truncated_last_line": 1}
    assert run.meta["warnings"] == ["lr: line 3: truncated last line (a run still writing?) skipped"]
    with pytest.raises(DamagedInputError, match="metrics/lr: line 3: truncated last line"):
        gradlog.load(run_dir, strict=True)
    _write(run_dir / "metrics/lr", "1700000000000 0.1 0\n1700000001000 0.1 1\n1700000002000 1e-05 2")
    run = gradlog.load(run_dir, strict=True)
    assert run.series("train/lr").to_dict() == {0: 0.1, 1: 0.1, 2: 1e-05} and run.meta["truncated"] == 0


def test_mlflow_metric_file_of_nul_lines_only_is_counted(tmp_path):
    run_dir = tmp_path / "mlruns/0/0123456789abcdef"
    _write(run_dir / "meta.yaml", "run_id: 0123456789abcdef\nexperiment_id: '0'\n")
    _write(run_dir / "metrics/loss", "1700000000000 1.0 0\n1700000001000 0.9 1\n")
    _write(run_dir / "metrics/lr", b"\x00\x00\x00\n\x00\n")
    run = gradlog.load(run_dir)
    assert run.meta["skipped"] == {"bad_lines": 2}
    with pytest.raises(DamagedInputError, match="metrics/lr: 2 line"):
        gradlog.load(run_dir, strict=True)
