"""Loading: detection by content, clear errors, .gz and streams, discovery of runs."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys

import pytest

import gradlog
from gradlog.errors import EmptyLogError, GradlogError, UnknownFormatError
from gradlog.frame.source import Source

LONG_CSV = "step,tag,value,wall_time,source_tag\n0,train/loss,2.5,nan,loss\n10,train/loss,1.5,nan,loss\n"


def test_unknown_format_names_the_file_and_formats(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_bytes(b"\x00\x01\x02 this is not a training log \xff\xfe" * 20)
    with pytest.raises(UnknownFormatError) as ei:
        gradlog.load(p)
    msg = str(ei.value)
    assert str(p) in msg
    for name in ("caffe", "tensorboard", "csv_wide"):
        assert name in msg


def test_empty_file_is_a_clear_error(tmp_path):
    p = tmp_path / "empty.log"
    p.write_bytes(b"")
    with pytest.raises(EmptyLogError, match="empty file"):
        gradlog.load(p)


def test_missing_path(tmp_path):
    with pytest.raises(GradlogError, match="no such file"):
        gradlog.load(tmp_path / "nope.log")


def test_unknown_format_name(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text(LONG_CSV)
    with pytest.raises(GradlogError, match="unknown format 'bogus'"):
        gradlog.load(p, format="bogus")


def test_source_gzip_head_and_stream(tmp_path):
    raw = b"hello world\n" * 10
    p = tmp_path / "x.log.gz"
    p.write_bytes(gzip.compress(raw))
    s = Source.from_path(p)
    assert s.compressed and s.head == raw and s.suffix_name == "x.log"
    assert s.read_bytes() == raw
    st = Source.from_stream(io.BytesIO(gzip.compress(raw)), name="mem")
    assert st.compressed and st.head == raw and st.read_bytes() == raw
    with pytest.raises(GradlogError, match="already read"):
        st.open()
    with pytest.raises(GradlogError, match="binary mode"):
        Source.from_stream(io.StringIO("text"))


def test_long_csv_from_gz_and_stream(tmp_path):
    p = tmp_path / "frame.csv.gz"
    p.write_bytes(gzip.compress(LONG_CSV.encode()))
    run = gradlog.load(p)
    assert run.meta["format"] == "csv_long"
    assert run.series("train/loss").loc[10] == 1.5
    with open(p, "rb") as fh:
        run2 = gradlog.load(fh)
    assert run2.series("train/loss").tolist() == [2.5, 1.5]


def test_discover_skips_unreadable_and_hidden(tmp_path):
    (tmp_path / "a.csv").write_text(LONG_CSV)
    (tmp_path / "junk.bin").write_bytes(b"\x00\xff" * 100)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "b.csv").write_text(LONG_CSV)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.csv").write_text(LONG_CSV)
    refs = gradlog.discover(tmp_path)
    assert [r.path.name for r in refs] == ["a.csv", "c.csv"]
    assert {r.format for r in refs} == {"csv_long"}
    runs = gradlog.load_all(tmp_path)
    assert [r.name for r in runs] == ["a.csv", "c.csv"]


def test_import_from_outside_the_repository(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", "import gradlog, gradlog.parsers; print(gradlog.parsers.REGISTRY[0])"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "tensorboard"


@pytest.mark.parametrize("data", [b"\x1f\x8b", b"\x1f\x8b\x08\x00garbage", gzip.compress(b"x" * 100)[:15]])
def test_damaged_gzip_stream_is_a_gradlog_error(data):
    with pytest.raises(GradlogError):
        gradlog.load(io.BytesIO(data))


def test_import_from_the_repository_root_without_the_editable_finder():
    """A notebook opened at the repository root imports the *source* folder ``gradlog/``
    (it shadows an installed copy), which has no ``parsers/``: ``gradlog.parsers`` must
    still resolve (to ``../parsers``). The editable install's finder is removed to stand
    for a non-editable ``pip install .``."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    code = (
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
        "(getattr(f, '__module__', '') or '').lower()]\n"
        "import gradlog, gradlog.parsers\n"
        "from gradlog.parsers import caffe\n"
        "print(gradlog.__file__)\n"
        "print(gradlog.parsers.__file__)\n"
        "print(gradlog.load('sample_logs/caffe_numpy_cnn.log').series('train/loss').iloc[0])\n"
    )
    for c in (code, code.split("\n", 2)[2]):  # without and with the editable finder
        out = subprocess.run([sys.executable, "-c", c], cwd=repo, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        src, parsers, first_loss = out.stdout.split()
        assert Path(src) == repo / "gradlog" / "__init__.py"
        assert Path(parsers) == repo / "parsers" / "__init__.py"
        assert float(first_loss) == pytest.approx(
            gradlog.load(repo / "sample_logs" / "caffe_numpy_cnn.log").series("train/loss").iloc[0]
        )


def test_load_a_folder_holding_one_run_whatever_its_format(corpus, samples, tmp_path):
    from gradlog.errors import MultipleRunsError

    # an Ultralytics run folder: results.csv, args.yaml, weights/, plots
    run_dir = tmp_path / "runs" / "detect" / "train25"
    (run_dir / "weights").mkdir(parents=True)
    import shutil

    shutil.copy(corpus / "csv_other" / "yolov8n_plates_train25_results.csv", run_dir / "results.csv")
    (run_dir / "args.yaml").write_text("task: detect\nepochs: 134\nlr0: 0.01\n")
    (run_dir / "results.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (run_dir / "weights" / "best.pt").write_bytes(b"PK\x03\x04")
    run = gradlog.load(run_dir)
    assert (run.meta["format"], run.steps["count"]) == ("ultralytics", 134)
    assert run.meta["hparams"]["lr0"] == 0.01  # the side file belongs to the run
    # a folder of several runs: MultipleRunsError naming them
    shutil.copytree(run_dir, run_dir.parent / "train26")
    (run_dir.parent / "extra.log").write_bytes((samples / "caffe_numpy_cnn.log").read_bytes())
    with pytest.raises(MultipleRunsError) as ei:
        gradlog.load(run_dir.parent)
    assert str(ei.value) == (
        f"{run_dir.parent}: holds 3 runs (extra.log, train25/results.csv, "
        "train26/results.csv); use gradlog.load_all() or `gradlog batch`"
    )
    with pytest.raises(UnknownFormatError):
        gradlog.load(tmp_path / "runs" / "detect" / "train25" / "weights")


def test_series_accepts_the_name_as_logged(tmp_path):
    import gradlog

    p = tmp_path / "log.csv"
    p.write_text("step,loss,learning_rate\n0,1.5,0.1\n1,1.25,0.1\n2,1.0,0.1\n")
    run = gradlog.load(p)
    assert run.series("loss").equals(run.series("train/loss"))
    assert run.series("learning_rate").loc[2] == 0.1
    import pytest

    with pytest.raises(KeyError, match="no tag 'nope'"):
        run.series("nope")
