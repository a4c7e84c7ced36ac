"""End to end: the HTML report opened in headless Chromium (Debian's ``chromium``).

The page must render its findings, show a hostile tag as text (no element created from
it), draw the embedded figures, and print. Skipped when no Chromium is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gradlog  # noqa: E402
from gradlog.findings import Finding  # noqa: E402
from gradlog.frame import build_frame  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless chromium is not installed"),
]
HOSTILE = "<script>alert(1)</script>"
HOSTILE_IMG = '<img src=x onerror="alert(2)">'


def _report() -> gradlog.Report:
    steps = np.arange(0, 2000, 10)
    loss = 0.4 + 2.0 * np.exp(-steps / 300) + 0.02 * np.sin(steps)
    lr = np.where(steps < 1000, 0.1, 0.01)
    tags = ["train/loss"] * 200 + ["train/lr"] * 200 + [HOSTILE] * 3 + [f"grad_norm/{HOSTILE_IMG}"] * 200
    st = np.concatenate([steps, steps, [0, 10, 20], steps])
    vals = np.concatenate([loss, lr, [1.0, 2.0, 3.0], 0.5 + steps / 2000])
    frame, _ = build_frame(tags, st, vals)
    run = gradlog.Run(frame, {"name": f"{HOSTILE}.log", "format": "caffe", "source": "/x/run.log"})
    findings = [
        Finding(
            "divergence",
            "critical",
            "The loss blew up after step 1,800.",
            tags=("train/loss",),
            step_range=(1800, 1990),
            confidence=0.9,
            evidence={"ratio_to_min": 12.5},
            recommendation="Lower the LR about 3x.",
        ),
        Finding(
            "grad_norm_growth",
            "warning",
            f"The norm of {HOSTILE_IMG} doubled.",
            tags=(f"grad_norm/{HOSTILE_IMG}",),
            step_range=(0, 1990),
            confidence=0.8,
            evidence={"fold_change": 2.0, "layer": HOSTILE},
        ),
        Finding(
            "loss_plateau",
            "info",
            "The loss stopped improving after step 1,200.",
            tags=("train/loss",),
            step_range=(1200, 1990),
            confidence=0.6,
            evidence={"plateau_start_step": 1200},
        ),
    ]
    return gradlog.Report(run=run, findings=findings)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
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


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("html")
    p = d / "report.html"
    p.write_text(_report().to_html(), encoding="utf-8")
    return p


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._stack: list[str] = []
        self.findings: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "article":
            self.findings.append({**a, "text": ""})
            self._stack.append("article")

    def handle_endtag(self, tag):
        if tag == "article" and self._stack:
            self._stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self._stack:
            self.findings[-1]["text"] += data


def test_browser_renders_the_findings_and_escapes_log_text(page, tmp_path) -> None:
    res = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    dom = _Dom()
    dom.feed(res.stdout.decode("utf-8"))
    assert [(f["data-finding-id"], f["data-severity"]) for f in dom.findings] == [
        ("divergence", "critical"),
        ("grad_norm_growth", "warning"),
        ("loss_plateau", "info"),
    ]
    assert "The loss blew up after step 1,800." in dom.findings[0]["text"]
    assert "Lower the LR about 3x." in dom.findings[0]["text"]
    # the hostile names are text in the rendered page, never elements or handlers
    text = "".join(dom.text)
    assert HOSTILE in text and HOSTILE_IMG in text
    assert not [t for t, _a in dom.elements if t == "script"]
    assert not [a for _t, a in dom.elements if any(k.startswith("on") for k in a)]
    imgs = [a for t, a in dom.elements if t == "img"]
    assert len(imgs) == 2 and all(a["src"].startswith("data:image/png;base64,") for a in imgs)


def test_browser_draws_the_embedded_figures(page, tmp_path) -> None:
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    res = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri())
    assert res.returncode == 0 and shot.exists(), res.stderr.decode(errors="replace")[-2000:]
    img = imread(shot)[..., :3]
    rgb = (img * 255).round().astype(int)

    def count(hex_color: str, tol: int = 12) -> int:
        c = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(rgb - c).max(axis=-1) <= tol).sum())

    assert count("#0072B2") > 300  # the smoothed loss line of the overview figure
    assert count("#D55E00") > 100  # the critical badge (the style sheet applied)


def test_browser_prints_the_report(page, tmp_path) -> None:
    pdf = tmp_path / "report.pdf"
    res = _chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert res.returncode == 0 and pdf.exists(), res.stderr.decode(errors="replace")[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert 1 <= data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") + data.count(b"/Type /Page>") <= 10


def _content_box(png: Path) -> tuple[int, int]:
    """(last non-white row, last non-white column) of a screenshot."""
    from matplotlib.image import imread

    img = imread(png)[..., :3]
    ink = (img < 250 / 255).any(axis=-1)
    return int(np.where(ink.any(axis=1))[0].max()), int(np.where(ink.any(axis=0))[0].max())


@pytest.fixture(scope="module")
def sample_pages(tmp_path_factory) -> dict[str, Path]:
    sample = Path(__file__).resolve().parents[1] / "sample_logs" / "pytorch_cnn" / "train_log.csv"
    d = tmp_path_factory.mktemp("sample")
    html = gradlog.analyze(sample).to_html()
    pages = {"folded": d / "folded.html", "open": d / "open.html"}
    pages["folded"].write_text(html, encoding="utf-8")
    pages["open"].write_text(html.replace("<details", "<details open"), encoding="utf-8")
    return pages


@pytest.mark.parametrize("width", [1280, 800])
def test_browser_sample_report_fits_three_screens_and_never_overflows(sample_pages, tmp_path, width) -> None:
    shot = tmp_path / "folded.png"
    res = _chromium(
        tmp_path, f"--screenshot={shot}", f"--window-size={width},6000", sample_pages["folded"].as_uri()
    )
    assert res.returncode == 0 and shot.exists(), res.stderr.decode(errors="replace")[-2000:]
    bottom, right = _content_box(shot)
    if width == 1280:
        assert bottom <= 3 * 900  # unfolded to the first level: at most three 1280x900 screens
    assert right < width - 4  # nothing wider than the window (a table would be cut at the edge)
    # every <details> open: the evidence tables still stay inside their cards
    shot = tmp_path / "open.png"
    res = _chromium(
        tmp_path, f"--screenshot={shot}", f"--window-size={width},14000", sample_pages["open"].as_uri()
    )
    assert res.returncode == 0 and shot.exists()
    assert _content_box(shot)[1] < width - 4
