"""gradlog.batch with two worker processes: the same summary rows, sparklines and cache
entries as in one process; the workers are sent paths and analyse every run but the
warm-up ones."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from gradlog import batch_workers
from gradlog.batch import run_batch
from gradlog.cache import Cache
from gradlog.discovery import survey

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="counts calls across fork()")

#: rows of the CSV logs (header + this many steps each)
LENGTHS = [40, 60, 80, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1500, 2000, 3000]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".xdg-cache"))


@pytest.fixture
def archive(samples, tmp_path):
    """16 CSV logs of different lengths, 4 Caffe logs, a header-only CSV, a README."""
    d = tmp_path / "archive"
    d.mkdir()
    src = (samples / "pytorch_cnn" / "train_log.csv").read_text().splitlines(keepends=True)
    for n in LENGTHS:
        (d / f"csv_{n:04d}.csv").write_text("".join(src[: n + 1]))
    for k in range(4):
        shutil.copy(samples / "caffe_numpy_cnn.log", d / f"caffe_{k}.log")
    (d / "header_only.csv").write_text(src[0])
    (d / "README.md").write_text("# notes\n")
    return d


def _entries(cache_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(cache_dir).as_posix(): p.read_bytes()
        for p in sorted(cache_dir.rglob("*.json"))
        if "/runs/" in p.as_posix()
    }


def test_two_workers_give_the_rows_and_cache_of_one_process(archive, tmp_path, monkeypatch):
    parent = os.getpid()
    log = tmp_path / "analysed.txt"
    real = batch_workers.analyze_ref

    def logged(ref, report_path=None):
        with open(log, "a") as fh:  # appends from the parent and from forked workers
            fh.write(f"{os.getpid()} {ref.path.name}\n")
        return real(ref, report_path)

    monkeypatch.setattr(batch_workers, "analyze_ref", logged)
    found = survey(archive)

    def analysed_by() -> list[tuple[int, str]]:
        out = [(int(pid), name) for pid, name in (line.split() for line in log.read_text().splitlines())]
        log.unlink()
        return out

    pooled = run_batch(found, jobs=2, cache=Cache(tmp_path / "c2"))
    by_pool = analysed_by()
    alone = run_batch(found, jobs=1, cache=Cache(tmp_path / "c1"))
    assert {pid for pid, _ in analysed_by()} == {parent}

    # each run analysed once: the smallest of each format here, the others in workers
    assert sorted(name for _, name in by_pool) == sorted(r.path.name for r in found.runs)
    assert sorted(name for pid, name in by_pool if pid == parent) == ["caffe_0.log", "header_only.csv"]

    pd.testing.assert_frame_equal(pooled, alone)
    assert pooled.attrs == alone.attrs
    assert _entries(tmp_path / "c2") == _entries(tmp_path / "c1")
    assert len(_entries(tmp_path / "c1")) == len(LENGTHS) + 4  # the ok rows only

    ok = pooled[pooled["status"] == "ok"]
    assert list(ok["steps"][ok["path"].str.endswith(".csv")]) == LENGTHS
    assert list(ok["last_step"][ok["path"].str.endswith(".csv")]) == [n - 1 for n in LENGTHS]
    assert list(pooled["status"]).count("skipped") == 1  # README.md
    assert pooled.loc[pooled["path"].str.endswith("header_only.csv"), "status"].item() == "error"
    assert len(pooled.attrs["loss_sparkline"][str(archive / "csv_3000.csv")]) == 60


def test_the_default_worker_count_leaves_busy_cpus_alone(monkeypatch):
    from gradlog import batch_workers as bw

    monkeypatch.setattr(bw.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(bw.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert bw.idle_cpus() == 2 and bw.default_jobs(1000) == 2
    monkeypatch.setattr(bw.os, "getloadavg", lambda: (1.7, 1.0, 1.0))
    assert bw.idle_cpus() == 1 and bw.default_jobs(1000) == 1  # the other CPU is busy
    monkeypatch.setattr(bw.os, "getloadavg", lambda: (6.0, 6.0, 6.0))
    assert bw.idle_cpus() == 1 and bw.default_jobs(1000) == 1
    assert bw.default_jobs(1000, cpus=2) == 2  # an explicit count is taken as given
    assert bw.default_jobs(26, cpus=2) == 1  # small archives run in this process
