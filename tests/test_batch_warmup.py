"""gradlog.batch with worker processes: the smallest run of each format is analysed in
the parent before the workers fork (so what a format loads on first use is inherited,
not paid once per worker); every other run goes to the workers; the rows are those of
an in-process batch."""

from __future__ import annotations

import shutil
import sys

import pandas as pd
import pytest

import gradlog
from gradlog import batch, batch_workers

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="counts calls across fork()")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".xdg-cache"))


@pytest.fixture
def archive(samples, tmp_path):
    """Three CSV logs of different sizes and two copies of a Caffe log."""
    d = tmp_path / "archive"
    d.mkdir()
    src = (samples / "pytorch_cnn" / "train_log.csv").read_text().splitlines(keepends=True)
    (d / "a_long.csv").write_text("".join(src))
    (d / "b_short.csv").write_text("".join(src[:60]))
    (d / "c_mid.csv").write_text("".join(src[:600]))
    shutil.copy(samples / "caffe_numpy_cnn.log", d / "d.log")
    shutil.copy(samples / "caffe_numpy_cnn.log", d / "e.log")
    return d


def test_the_parent_analyses_one_smallest_run_per_format(archive, monkeypatch):
    in_parent: list[str] = []
    real = batch_workers.analyze_ref

    def counted(ref, report_path=None):
        in_parent.append(ref.path.name)  # a forked worker appends to its own copy
        return real(ref, report_path)

    monkeypatch.setattr(batch_workers, "analyze_ref", counted)
    refs = gradlog.discover(archive)
    pooled = batch.run_batch(refs, jobs=2)
    assert sorted(in_parent) == ["b_short.csv", "d.log"]
    in_parent.clear()
    alone = batch.run_batch(refs, jobs=1)
    assert len(in_parent) == 5
    pd.testing.assert_frame_equal(pooled, alone)
    assert list(pooled["status"]) == ["ok"] * 5
    assert (
        pooled.loc[pooled["path"].str.endswith("b_short.csv"), "last_step"].item()
        < pooled.loc[pooled["path"].str.endswith("a_long.csv"), "last_step"].item()
    )
