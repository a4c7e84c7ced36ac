"""The batch summary page (``gradlog batch DIR -o summary.html --reports DIR``): one
self-contained file, one row per file or run, a sparkline of each smoothed loss, the LR
verdict, the worst severity, the findings, "not assessed" apart from "nothing wrong
found", links to each run's report; sortable in a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradlog import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = "<img src=x onerror=alert(1)>"


def _runner() -> CliRunner:
    try:  # click < 8.2 mixes stderr into stdout unless told not to
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never write to the user's real cache: $XDG_CACHE_HOME is a temporary folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".xdg-cache"))


class _Table(HTMLParser):
    """The rows of the summary table: each cell's text, data-v, and the links."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[dict]] = []
        self.elements: list[tuple[str, dict]] = []
        self._in_body = False
        self._cell: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = {"v": a.get("data-v"), "text": "", "href": None, "svg": False}
            self.rows[-1].append(self._cell)
        elif self._cell is not None and tag == "a":
            self._cell["href"] = a.get("href")
        elif self._cell is not None and tag == "polyline":
            self._cell["svg"] = True

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


@pytest.fixture
def summary(samples, tmp_path):
    a = tmp_path / "arch"
    (a / "exp1").mkdir(parents=True)
    shutil.copy(samples / "pytorch_cnn_high_lr" / "train_log.csv", a / "exp1" / "train_log.csv")
    shutil.copy(samples / "caffe_numpy_cnn.log", a / "caffe.log")
    (a / "short.csv").write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,0.8,0.9\n2,0.7,0.85\n")
    (a / f"{HOSTILE}.log").write_bytes(b"\x00\x01 not a log\n" * 3)
    (a / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "site" / "summary.html"
    reports = tmp_path / "site" / "reports"
    r = _runner().invoke(
        cli.main, ["batch", str(a), "-o", str(out), "--reports", str(reports), "-j", "1", "--allow-errors"]
    )
    assert r.exit_code == 0, r.stderr
    return out


def _parse(text: str) -> _Table:
    t = _Table()
    t.feed(text)
    return t


def test_the_page_holds_every_row_and_links_the_reports(summary) -> None:
    text = summary.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # self-contained
    t = _parse(text)
    names = [row[0]["text"] for row in t.rows]
    assert names == [f"{HOSTILE}.log", "caffe.log", "exp1/train_log.csv", "plot.png", "short.csv"]
    by = {row[0]["text"]: row for row in t.rows}
    high = by["exp1/train_log.csv"]
    assert [c["text"] for c in high[1:2] + high[3:5]] == ["ok", "decay_earlier", "warning"]
    assert high[5]["text"] == "lr_limited_plateau noisy_loss" and high[2]["svg"]
    # every ok run links to its own report, which exists and is that run's
    for name in ("caffe.log", "exp1/train_log.csv", "short.csv"):
        href = by[name][0]["href"]
        report = summary.parent / href
        assert href.startswith("reports/") and report.is_file()
        assert f"{Path(name).name}" in report.read_text()
    # "not enough in the log to say" is not "nothing wrong found"
    assert by["short.csv"][5]["text"] == "not enough in the log to say"
    assert by["short.csv"][6]["text"] == "not assessed: too few points (3)"
    assert by["caffe.log"][6]["text"] == "yes"
    assert by[f"{HOSTILE}.log"][1]["text"] == "error" and by[f"{HOSTILE}.log"][0]["href"] is None
    assert by["plot.png"][2]["text"] == "an image, not a training log"
    # the hostile name is text, never an element
    assert [tag for tag, _ in t.elements].count("script") == 1  # the page's own sorting script
    assert "img" not in [tag for tag, _ in t.elements]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium is not installed")
def test_the_page_sorts_in_a_browser(summary, tmp_path) -> None:
    # click the "steps" header twice (descending), as a person would, then read the DOM
    clicked = summary.with_name("clicked.html")
    clicked.write_text(
        summary.read_text().replace(
            "</body>",
            "<script>var b=document.querySelectorAll('th button')[7];b.click();b.click();</script></body>",
        )
    )

    def chromium(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-extensions",
                "--hide-scrollbars",
                f"--user-data-dir={tmp_path / 'profile'}",
                *args,
            ],
            capture_output=True,
            timeout=180,
            check=False,
        )

    res = chromium("--dump-dom", clicked.as_uri())
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    t = _parse(res.stdout.decode("utf-8"))
    assert [row[0]["text"] for row in t.rows][:3] == ["exp1/train_log.csv", "caffe.log", "short.csv"]
    assert [int(row[-2]["v"]) for row in t.rows] == [960, 157, 3, -1, -1]
    shot = tmp_path / "shot.png"
    res = chromium(f"--screenshot={shot}", "--window-size=1200,700", summary.as_uri())
    assert res.returncode == 0 and shot.stat().st_size > 10_000
