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

HEADER_ONLY = "step,loss,lr\n"

#: (file, format, status, first_step, last_step, steps, tags, finding_ids, assessed) of the archive
EXPECTED = [
    ("caffe.log", "caffe", "ok", 0, 3000, 157, 6, "loss_plateau", True),
    ("good.csv", "csv_wide", "ok", 0, 3999, 4000, 13, "grad_norm_growth loss_plateau noisy_loss", True),
    ("header_only.csv", "csv_wide", "error", pd.NA, pd.NA, pd.NA, pd.NA, "", pd.NA),
]
EMPTY_MSG = "EmptyLogError: {}: the table has a header but no data rows"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never write to the user's real cache: $XDG_CACHE_HOME is a temporary folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".xdg-cache"))


def _runner() -> CliRunner:
    try:  # click < 8.2 mixes stderr into stdout unless told not to
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


@pytest.fixture
def archive(samples, tmp_path):
    """A good CSV, a Caffe log and a CSV that sniffs as one but has no data rows."""
    d = tmp_path / "archive"
    d.mkdir()
    shutil.copy(samples / "pytorch_cnn" / "train_log.csv", d / "good.csv")
    shutil.copy(samples / "caffe_numpy_cnn.log", d / "caffe.log")
    (d / "header_only.csv").write_text(HEADER_ONLY)
    return d


@pytest.fixture
def in_process(archive) -> pd.DataFrame:
    seen: list[str] = []
    table = run_batch(archive, jobs=1, progress=lambda row: seen.append(row["path"]))
    assert sorted(seen) == list(table["path"])  # called once per run, with its row
    return table


def _pinned(table: pd.DataFrame) -> list[tuple]:
    return [
        (p.rsplit("/", 1)[-1], *rest)
        for p, *rest in zip(
            table["path"],
            table["format"],
            table["status"],
            table["first_step"],
            table["last_step"],
            table["steps"],
            table["tags"],
            table["finding_ids"],
            table["assessed"],
            strict=False,
        )
    ]


def test_rows_of_an_archive_with_a_bad_file(archive, in_process) -> None:
    table = in_process
    assert tuple(table.columns) == BATCH_COLUMNS
    assert _pinned(table) == EXPECTED
    good = table.iloc[1]
    rep = gradlog.analyze(archive / "good.csv")  # the row says what the run's report says
    assert (good["run"], good["findings"], good["max_severity"], good["lr_action"]) == (
        "good.csv",
        len(rep.findings),
        rep.max_severity,
        rep.lr_advice.action,
    )
    assert (good["not_assessable"], good["reason"]) == ("", "")
    caffe = table.iloc[0]  # no gradient series in a plain Caffe log: said, not hidden
    assert caffe["not_assessable"] == "grad_norm_growth exploding_gradients vanishing_gradients"
    bad = table.iloc[2]
    assert bad["reason"] == EMPTY_MSG.format(archive / "header_only.csv")
    assert (bad["run"], bad["max_severity"], bad["lr_action"]) == ("", "", "")
    assert str(table["steps"].dtype) == "Int64" and pd.isna(bad["findings"])
    assert str(table["assessed"].dtype) == "boolean"
    assert sorted(table.attrs["loss_sparkline"]) == [str(archive / "caffe.log"), str(archive / "good.csv")]
    spark = table.attrs["loss_sparkline"][str(archive / "good.csv")]
    assert len(spark) == 60 and spark[0] > spark[-1]  # the smoothed loss went down


def test_analyze_ref_never_raises(archive, monkeypatch) -> None:
    gone = analyze_ref(gradlog.RunRef(archive / "gone.csv", "csv_wide"))
    assert (gone["status"], gone["steps"], gone["finding_ids"]) == ("error", None, "")
    assert "gone.csv" in gone["reason"]

    def boom(run, *, roles=None):
        raise RuntimeError("analyzer bug\nsecond line")

    monkeypatch.setattr(gradlog, "analyze", boom)
    row = analyze_ref(gradlog.RunRef(archive / "caffe.log", "caffe"))
    assert (row["status"], row["reason"], row["run"]) == ("error", "RuntimeError: analyzer bug", "")
    assert list(row) == [*BATCH_COLUMNS, "loss_sparkline"]


def test_process_pool_gives_the_same_rows(archive, in_process) -> None:
    refs = gradlog.discover(archive)
    pd.testing.assert_frame_equal(run_batch(refs, jobs=2), in_process)


def test_dask_gives_the_same_rows(archive, in_process) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        with distributed.Client(cluster) as client:
            seen: list[str] = []
            table = run_batch(archive, scheduler=client, progress=lambda r: seen.append(r["status"]))
            pd.testing.assert_frame_equal(table, in_process)
            assert sorted(seen) == ["error", "ok", "ok"]
            assert client.status == "running"  # a Client handed in is left open
        # the CLI on the same cluster, by address: the same CSV as in one process
        r = _runner().invoke(
            cli.main, ["batch", str(archive), "--dask", cluster.scheduler_address, "--no-cache"]
        )
        assert r.exit_code == 3, r.stderr
        assert r.stderr == "3 files and runs: 2 ok, 1 error, 0 skipped\n"
    r1 = _runner().invoke(cli.main, ["batch", str(archive), "-j", "1", "--no-cache"])
    assert r.stdout == r1.stdout
    row = list(csv.reader(io.StringIO(r.stdout)))[3]
    assert (row[1], row[BATCH_COLUMNS.index("reason")]) == (
        "error",
        EMPTY_MSG.format(archive / "header_only.csv"),
    )


def test_dask_missing_is_one_line_and_exit_2(archive, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    r = _runner().invoke(cli.main, ["batch", str(archive), "--dask", "local"])
    assert (r.exit_code, r.stderr) == (
        2,
        "Error: --dask needs dask.distributed: pip install 'gradlog[dask]'\n",
    )
    with pytest.raises(ImportError, match=r"pip install 'gradlog\[dask\]'"):
        run_batch(archive, scheduler="local")


def test_empty_archive_and_bad_jobs(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    table = run_batch(empty)
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
