"""Discovery reads a TensorBoard tree once: each directory listed and each event-file head
read once, however many times sniff, split_runs and run_members ask; a change is seen."""

from __future__ import annotations

import pytest

import gradlog
from gradlog.frame.source import Source
from gradlog.parsers import _tb_runs
from gradlog.parsers import _tfrecord as tfr
from gradlog.parsers import tensorboard as tb

Event = tb._Event


def _event_file(path, tag: str = "loss", n: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    recs = [Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()]
    for s in range(n):
        ev = Event(wall_time=1.7e9 + s, step=s)
        ev.summary.value.add(tag=tag, simple_value=1.0 / (s + 1))
        recs.append(ev.SerializeToString())
    path.write_bytes(b"".join(tfr.frame_record(r) for r in recs))


@pytest.fixture
def counted(monkeypatch):
    counts = {"listings": [], "heads": []}
    scan, heads = _tb_runs._scan_dir, _tb_runs._read_head_summaries

    def count_scan(d):
        counts["listings"].append(d)
        return scan(d)

    def count_heads(p):
        counts["heads"].append(p)
        return heads(p)

    monkeypatch.setattr(_tb_runs, "_scan_dir", count_scan)
    monkeypatch.setattr(_tb_runs, "_read_head_summaries", count_heads)
    _tb_runs.CACHE.clear()
    yield counts
    _tb_runs.CACHE.clear()


def _root(tmp_path):
    root = tmp_path / "logs"
    for i in range(6):
        _event_file(root / "exp" / f"run{i}" / f"events.out.tfevents.{i}.h")
    _event_file(root / "exp" / "run0" / "Loss_train" / "events.out.tfevents.9.h", tag="Loss")
    _event_file(root / "exp" / "run0" / "Loss_val" / "events.out.tfevents.9.h", tag="Loss")
    _event_file(root / "keras" / "train" / "events.out.tfevents.1.h.v2", tag="epoch_loss")
    _event_file(root / "keras" / "validation" / "events.out.tfevents.1.h.v2", tag="epoch_loss")
    return root


def test_each_directory_is_listed_and_each_head_read_once(tmp_path, counted):
    root = _root(tmp_path)
    refs = gradlog.discover(root)
    assert [(r.path.relative_to(root).as_posix(), r.format) for r in refs] == [
        *[(f"exp/run{i}", "tensorboard") for i in range(6)],
        ("keras", "tensorboard"),
    ]
    dirs = sorted(p for p in [root, *root.rglob("*")] if p.is_dir())
    assert len(dirs) == 13
    assert sorted(counted["listings"]) == dirs  # once each (was several times each)
    # the add_scalars folders are told from runs by their first tags: read once each
    assert sorted(p.parent.name for p in counted["heads"]) == ["Loss_train", "Loss_val"]
    run = gradlog.load(refs[0])
    # Loss_val/Loss reads as val/loss; Loss_train/Loss would be train/loss, which the
    # run's own "loss" already is: it keeps its source name
    assert run.source_tags() == {
        "loss": "train/loss",
        "Loss_val/Loss": "val/loss",
        "Loss_train/Loss": "Loss_train/Loss",
    }


def test_sniff_and_split_runs_of_one_source_walk_once(tmp_path, counted):
    root = _root(tmp_path)
    src = Source.from_path(root)
    assert tb.sniff(src)
    walked = len(counted["listings"])
    _tb_runs.CACHE.enabled = False
    try:
        assert len(tb.split_runs(src)) == 7
        assert len(counted["listings"]) == walked  # the Source's memo, not a second walk
    finally:
        _tb_runs.CACHE.enabled = True


def test_a_new_run_is_seen_by_the_next_discovery(tmp_path, counted):
    root = _root(tmp_path)
    assert len(gradlog.discover(root)) == 7
    _event_file(root / "exp" / "run9" / "events.out.tfevents.1.h")
    assert len(gradlog.discover(root)) == 8
    # an add_scalars folder whose first tags change is looked at again
    (root / "exp" / "run9" / "events.out.tfevents.1.h").unlink()
    _event_file(root / "exp" / "run1" / "other" / "events.out.tfevents.3.h", tag="x")
    assert sorted(r.path.name for r in gradlog.discover(root / "exp")) == [
        "other",
        *[f"run{i}" for i in range(6)],
    ]
