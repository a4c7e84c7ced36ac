"""Caffe's own log tables: parse_log.sh (space-aligned, ``#Iters Seconds ...``) and
parse_log.py (``NumIters,Seconds,LearningRate,<outputs>``), each a .train and a .test
file read as one run."""

from __future__ import annotations

import pytest

import gradlog
from gradlog.errors import DamagedInputError

SH_TRAIN = (
    "#Iters Seconds TrainingLoss LearningRate\n"
    "0      0.000000   2.30259    0.01\n"
    "100    5.512340   0.28541    0.01\n"
    "200    11.020000  0.18340    0.001\n"
)
SH_TEST = (
    "#Iters Seconds TestAccuracy TestLoss\n"
    "0      0.000000   0.1012     2.3026\n"
    "200    11.500000  0.9512     0.1611\n"
)
PY_TRAIN = (
    "NumIters,Seconds,LearningRate,loss\n"
    "0.0,0.0,0.01,2.30259\n100.0,5.51234,0.01,0.28541\n200.0,11.02,0.001,0.1834\n"
)
PY_TEST = (
    "NumIters,Seconds,LearningRate,accuracy,loss\n"
    "0.0,0.0,0.01,0.1012,2.3026\n200.0,11.5,0.001,0.9512,0.1611\n"
)


def _pair(tmp_path, train: str, test: str | None):
    (tmp_path / "caffe.log.train").write_text(train)
    if test is not None:
        (tmp_path / "caffe.log.test").write_text(test)
    return tmp_path / "caffe.log.train", tmp_path / "caffe.log.test"


@pytest.mark.parametrize(
    ("train", "test"), [(SH_TRAIN, SH_TEST), (PY_TRAIN, PY_TEST)], ids=["parse_log.sh", "parse_log.py"]
)
def test_train_and_test_tables_are_one_run(tmp_path, train, test):
    tr, te = _pair(tmp_path, train, test)
    for path in (tr, te):
        run = gradlog.load(path)
        assert run.meta["format"] == "caffe_parselog" and run.meta["step_unit"] == "iteration"
        assert run.tags == ["test0/accuracy", "test0/loss", "train/elapsed_seconds", "train/loss", "train/lr"]
        assert run.series("train/loss").to_dict() == {0: 2.30259, 100: 0.28541, 200: 0.1834}
        assert run.series("train/lr").to_dict() == {0: 0.01, 100: 0.01, 200: 0.001}
        assert run.series("test0/accuracy").to_dict() == {0: 0.1012, 200: 0.9512}
        assert run.series("test0/loss")[200] == 0.1611
        assert run.series("train/elapsed_seconds")[200] == 11.02
        assert run.roles["loss"] == "train/loss" and run.roles["val_metric"] == "test0/accuracy"
        assert run.meta["files"] == ["caffe.log.train", "caffe.log.test"]
    refs = gradlog.discover(tmp_path)
    assert [(r.path.name, r.format) for r in refs] == [("caffe.log.train", "caffe_parselog")]


def test_train_table_alone(tmp_path):
    tr, _ = _pair(tmp_path, SH_TRAIN, None)
    run = gradlog.load(tr)
    assert run.tags == ["train/elapsed_seconds", "train/loss", "train/lr"]


def test_multi_output_net(tmp_path):
    (tmp_path / "frcnn.log.train").write_text(
        "NumIters,Seconds,LearningRate,loss_bbox,loss_cls,rpn_cls_loss\n"
        "20.0,3.1,0.001,0.5,1.2,0.69\n40.0,6.2,0.001,0.4,1.0,0.6\n"
    )
    run = gradlog.load(tmp_path / "frcnn.log.train")
    assert run.tags == [
        "train/elapsed_seconds",
        "train/loss_bbox",
        "train/loss_cls",
        "train/lr",
        "train/rpn_cls_loss",
    ]


def test_damaged_row_and_a_table_being_written(tmp_path):
    tr, _ = _pair(tmp_path, SH_TRAIN + "300    16.5\n400    22.0  0.15  0.001\n500   27.", None)
    run = gradlog.load(tr)
    assert run.series("train/loss").to_dict() == {0: 2.30259, 100: 0.28541, 200: 0.1834, 400: 0.15}
    assert run.meta["skipped"]["ragged_rows"] == 1 and run.meta["truncated"] == 1
    assert any("line 5: 2 fields" in w for w in run.meta["warnings"])
    with pytest.raises(DamagedInputError, match="line 7: truncated last line"):
        gradlog.load(tr, strict=True)
    tr.write_text(SH_TRAIN + "300    16.5\n")
    with pytest.raises(DamagedInputError, match="line 5: 2 fields where the header has 4"):
        gradlog.load(tr, strict=True)
