"""The incremental cache: an unchanged run is not analysed again, a changed or added one
is, and an interrupted write leaves nothing half-written."""

from __future__ import annotations

import os
import shutil

import pytest
from click.testing import CliRunner

import gradlog
from gradlog import cli
from gradlog.batch import run_batch
from gradlog.cache import Cache, atomic_write_text, default_cache_dir


def _runner() -> CliRunner:
    try:  # click < 8.2 mixes stderr into stdout unless told not to
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never write to the user's real cache: $XDG_CACHE_HOME is a temporary folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".xdg-cache"))


@pytest.fixture
def archive(samples, tmp_path):
    a = tmp_path / "arch"
    a.mkdir()
    shutil.copy(samples / "caffe_numpy_cnn.log", a / "caffe.log")
    shutil.copy(samples / "pytorch_cnn" / "train_log.csv", a / "train_log.csv")
    shutil.copytree(samples / "tensorboard" / "mlp_digits_resumed", a / "tb")
    (a / "broken.log").write_bytes(b"\x00\x01 nothing\n" * 10)
    return a


@pytest.fixture
def counted(monkeypatch):
    """Count the runs actually analysed (in this process: jobs=1)."""
    seen: list[str] = []
    real = gradlog.analyze

    def analyze(run, *, roles=None):
        seen.append(run.name)
        return real(run, roles=roles)

    monkeypatch.setattr(gradlog, "analyze", analyze)
    return seen


def test_a_warm_rerun_analyses_nothing_and_gives_the_same_table(archive, tmp_path, counted) -> None:
    cache = Cache(tmp_path / "cache")
    cold = run_batch(archive, jobs=1, cache=cache)
    assert sorted(counted) == ["caffe.log", "tb", "train_log.csv"]
    assert cold.attrs["cache_hits"] == 0
    counted.clear()
    warm_cache = Cache(tmp_path / "cache")
    warm = run_batch(archive, jobs=1, cache=warm_cache)
    assert counted == [] and warm.attrs["cache_hits"] == 3
    assert warm_cache.hashed_bytes == 0  # size + mtime unchanged: no file was even hashed
    import pandas as pd

    pd.testing.assert_frame_equal(warm, cold)
    assert warm.attrs["loss_sparkline"] == cold.attrs["loss_sparkline"]


def test_only_what_changed_is_analysed_again(archive, samples, tmp_path, counted) -> None:
    cache_dir = tmp_path / "cache"
    run_batch(archive, jobs=1, cache=Cache(cache_dir))
    counted.clear()
    # a new run: only it is analysed
    (archive / "new").mkdir()
    shutil.copy(samples / "pytorch_cnn_high_lr" / "train_log.csv", archive / "new" / "high_lr.csv")
    table = run_batch(archive, jobs=1, cache=Cache(cache_dir))
    assert counted == ["high_lr.csv"] and table.attrs["cache_hits"] == 3
    counted.clear()
    # touched but unchanged: the hash confirms it, no analysis
    st = os.stat(archive / "caffe.log")
    os.utime(archive / "caffe.log", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    c = Cache(cache_dir)
    run_batch(archive, jobs=1, cache=c)
    assert counted == [] and c.hashed_bytes == st.st_size
    # changed content (a TensorBoard run gains a file): that run only
    shutil.copy(
        archive / "tb" / sorted(os.listdir(archive / "tb"))[0],
        archive / "tb" / "events.out.tfevents.1999999999.host.copy",
    )
    run_batch(archive, jobs=1, cache=Cache(cache_dir))
    assert counted == ["tb"]
    counted.clear()
    # another analysis configuration or gradlog version: everything again
    run_batch(archive, jobs=1, cache=Cache(cache_dir, config="another config"))
    assert sorted(counted) == ["caffe.log", "high_lr.csv", "tb", "train_log.csv"]


def test_the_cli_uses_the_cache_dir_and_no_cache(archive, tmp_path, counted) -> None:
    d = tmp_path / "mycache"
    args = ["batch", str(archive), "-j", "1", "--allow-errors"]
    r = _runner().invoke(cli.main, [*args, "--cache", str(d)])
    assert r.exit_code == 0, r.stderr
    assert r.stderr == "4 files and runs: 3 ok, 1 error, 0 skipped\n"
    assert (d / "v1" / "runs").is_dir()
    r2 = _runner().invoke(cli.main, [*args, "--cache", str(d)])
    assert r2.stderr == "4 files and runs: 3 ok, 1 error, 0 skipped; 3 from the cache\n"
    assert r2.stdout == r.stdout and len(counted) == 3
    r3 = _runner().invoke(cli.main, [*args, "--no-cache"])
    assert r3.stdout == r.stdout and len(counted) == 6
    # the default location is $XDG_CACHE_HOME/gradlog
    assert default_cache_dir() == tmp_path / ".xdg-cache" / "gradlog"
    _runner().invoke(cli.main, args)
    assert (tmp_path / ".xdg-cache" / "gradlog" / "v1" / "runs").is_dir()


def test_writes_are_atomic(tmp_path, monkeypatch) -> None:
    target = tmp_path / "summary.csv"
    atomic_write_text(target, "old\n")

    class Interrupted(BaseException):
        pass

    real_replace = os.replace

    def interrupted(src, dst):
        raise Interrupted()

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(Interrupted):
        atomic_write_text(target, "new\n" * 1000)
    monkeypatch.setattr(os, "replace", real_replace)
    assert target.read_text() == "old\n"  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.csv"]  # no temporary left
    # a damaged entry is a miss, not an error
    c = Cache(tmp_path / "c")
    c.put("ab" * 20, {"status": "ok"})
    assert c.get("ab" * 20) == {"status": "ok"}
    entry = next((tmp_path / "c").rglob("abab*.json"))
    entry.write_text('{"status": "o')
    assert c.get("ab" * 20) is None
