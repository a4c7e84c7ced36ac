"""In a notebook: ``report.plot()`` shows as an image without ``%matplotlib inline``, and
the Report's HTML view leads with the LR verdict and folds the details.

Executed for real with nbconvert/nbclient and an IPython kernel when they are installed
(skipped otherwise); the parts that need no kernel run always.
"""

from __future__ import annotations

import base64
import importlib.util

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import gradlog  # noqa: E402

HAVE_KERNEL = all(importlib.util.find_spec(m) is not None for m in ("nbformat", "nbclient", "ipykernel"))


def test_report_plot_is_a_figure_ipython_renders_as_png(samples) -> None:
    rep = gradlog.analyze(samples / "pytorch_cnn" / "train_log.csv")
    fig = rep.plot()
    png = fig._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # 800 px wide at 100 dpi (the PNG header's width field)
    assert int.from_bytes(png[16:20], "big") == 800
    ipython = pytest.importorskip("IPython.core.formatters")
    formatter = ipython.DisplayFormatter()
    data, _meta = formatter.format(fig)
    assert "image/png" in data  # what Jupyter draws, with no matplotlib backend selected


def test_report_html_view_leads_with_the_verdict_and_folds_the_details(samples) -> None:
    rep = gradlog.analyze(samples / "pytorch_cnn" / "train_log.csv")
    frag = rep._repr_html_()
    verdict = frag.index('class="lr-advice"')
    assert verdict < frag.index("<img") < frag.index("data-finding-id")
    assert rep.lr_advice.line().split(" \u2014 ")[0] in frag  # "LR: keep"
    assert frag.count("data-finding-id") == len(rep.findings)
    assert "<details" in frag and "<details open" not in frag
    assert frag.count("<img") == 1


@pytest.mark.skipif(not HAVE_KERNEL, reason="nbformat/nbclient/ipykernel are not installed")
def test_notebook_executes_and_shows_the_figure_inline(samples, tmp_path) -> None:
    import nbformat
    from nbclient import NotebookClient

    path = samples / "pytorch_cnn" / "train_log.csv"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"import gradlog\nrep = gradlog.analyze({str(path)!r})"),
        nbformat.v4.new_code_cell("rep"),
        nbformat.v4.new_code_cell("rep.plot()"),
        nbformat.v4.new_code_cell("import matplotlib\nmatplotlib.get_backend()"),
    ]
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    out_html = nb.cells[1].outputs[0]["data"]
    assert "text/html" in out_html and 'class="lr-advice"' in out_html["text/html"]
    fig_out = nb.cells[2].outputs[0]["data"]
    assert "image/png" in fig_out, fig_out.get("text/plain")
    png = base64.b64decode(fig_out["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    nbformat.write(nb, tmp_path / "executed.ipynb")
