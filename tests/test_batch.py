"""gradlog.batch: one summary row per run, a bad file recorded and never fatal, the same
rows from a process pool and from Dask."""

from __future__ import annotations

import csv
import io
import shutil
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

import gradlog
from gradlog import cli
from gradlog.batch import BATCH_COLUMNS, analyze_ref, run_batch

RAGGED = "step,loss,lr\n0,1.0,0.1\n1,0.9\n2,0.8,0.1,7,8\n"

#: (file, format, status, first_step, last_step, steps, tags, finding_ids) of the archive
EXPECTED = [
    ("caffe.log", "caffe", "ok", 0, 3000, 157, 6, "loss_plateau"),
    ("good.csv", "csv_wide", "ok", 0, 3999, 4000, 13, "grad_norm_growth loss_plateau noisy_loss"),
    ("ragged.csv", "csv_wide", "error", pd.NA, pd.NA, pd.NA, pd.NA, ""),
]


def _runner() -> CliRunner:
    try:  # click < 8.2 mixes stderr into stdout unless told not to
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


@pytest.fixture
def archive(samples, tmp_path):
    """A good CSV, a Caffe log and a CSV that sniffs as one but is ragged."""
    d = tmp_path / "archive"
    d.mkdir()
    shutil.copy(samples / "pytorch_cnn" / "train_log.csv", d / "good.csv")
    shutil.copy(samples / "caffe_numpy_cnn.log", d / "caffe.log")
    (d / "ragged.csv").write_text(RAGGED)
    return d


@pytest.fixture
def in_process(archive) -> pd.DataFrame:
    seen: list[str] = []
    table = run_batch(archive, jobs=1, progress=lambda row: seen.append(row["path"]))
    assert sorted(seen) == list(table["path"])  # called once per run, with its row
    return table


def _pinned(table: pd.DataFrame) -> list[tuple]:
    return [(p.rsplit("/", 1)[-1], *rest) for p, *rest in zip(
        table["path"], table["format"], table["status"], table["first_step"],
        table["last_step"], table["steps"], table["tags"], table["finding_ids"])]


def test_rows_of_an_archive_with_a_bad_file(archive, in_process) -> None:
    table = in_process
    assert tuple(table.columns) == BATCH_COLUMNS
    assert _pinned(table) == EXPECTED
    good = table.iloc[1]
    assert (good["run"], good["findings"], good["max_severity"]) == ("good.csv", 7, "info")
    bad = table.iloc[2]
    assert bad["error"] == (f"ParseError: {archive / 'ragged.csv'}: line 3: 2 fields where the "
                            "header has 3 (a ragged table)")
    assert (bad["run"], bad["max_severity"]) == ("", "")
    assert str(table["steps"].dtype) == "Int64" and pd.isna(bad["findings"])


def test_analyze_ref_never_raises(archive, monkeypatch) -> None:
    gone = analyze_ref(gradlog.RunRef(archive / "gone.csv", "csv_wide"))
    assert (gone["status"], gone["steps"], gone["finding_ids"]) == ("error", None, "")
    assert "gone.csv" in gone["error"]

    def boom(run, *, roles=None):
        raise RuntimeError("analyzer bug\nsecond line")

    monkeypatch.setattr(gradlog, "analyze", boom)
    row = analyze_ref(gradlog.RunRef(archive / "caffe.log", "caffe"))
    assert (row["status"], row["error"], row["run"]) == ("error", "RuntimeError: analyzer bug", "")
    assert list(row) == list(BATCH_COLUMNS)


def test_process_pool_gives_the_same_rows(archive, in_process) -> None:
    refs = gradlog.discover(archive)
    pd.testing.assert_frame_equal(run_batch(refs, jobs=2), in_process)


def test_dask_gives_the_same_rows(archive, in_process) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            seen: list[str] = []
            table = run_batch(archive, scheduler=client, progress=lambda r: seen.append(r["status"]))
            pd.testing.assert_frame_equal(table, in_process)
            assert sorted(seen) == ["error", "ok", "ok"]
            assert client.status == "running"  # a Client handed in is left open
        # the CLI on the same cluster, by address: the same CSV as in one process
        r = _runner().invoke(cli.main, ["batch", str(archive), "--dask", cluster.scheduler_address])
        assert r.exit_code == 0, r.stderr
        assert r.stderr == "3 runs, 2 analysed, 1 could not be read\n"
    r1 = _runner().invoke(cli.main, ["batch", str(archive), "-j", "1"])
    assert r.stdout == r1.stdout
    assert list(csv.reader(io.StringIO(r.stdout)))[3][2:5] == ["error", (
        f"ParseError: {archive / 'ragged.csv'}: line 3: 2 fields where the header has 3 "
        "(a ragged table)"), ""]


def test_dask_missing_is_one_line_and_exit_2(archive, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    r = _runner().invoke(cli.main, ["batch", str(archive), "--dask", "local"])
    assert (r.exit_code, r.stderr) == (
        2, "Error: --dask needs dask.distributed: pip install 'gradlog[dask]'\n")
    with pytest.raises(ImportError, match=r"pip install 'gradlog\[dask\]'"):
        run_batch(archive, scheduler="local")


def test_empty_archive_and_bad_jobs(tmp_path) -> None:
    table = run_batch(tmp_path)
    assert (len(table), tuple(table.columns)) == (0, BATCH_COLUMNS)
    with pytest.raises(ValueError, match="jobs must be at least 1, not 0"):
        run_batch(tmp_path, jobs=0)
    with pytest.raises(gradlog.GradlogError, match="no such file or directory"):
        run_batch(tmp_path / "nowhere")


def test_unreachable_dask_scheduler_is_one_line_and_exit_2(archive) -> None:
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    r = _runner().invoke(cli.main, ["batch", str(archive), "--dask", address, "--dask-timeout", "1"])
    assert r.exit_code == 2
    assert r.stderr.startswith(f"Error: {address}: cannot reach the Dask scheduler within 1 s (")
    assert r.stderr.count("\n") == 1
    with pytest.raises(gradlog.GradlogError, match="within 0.5 s"):
        run_batch(archive, scheduler=address, connect_timeout=0.5)
    with pytest.raises(ValueError, match="connect_timeout"):
        run_batch(archive, scheduler=address, connect_timeout=0)
