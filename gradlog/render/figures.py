"""Turning a report's figures into files or embeddable images (used by Markdown/HTML)."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from gradlog.render._common import safe_filename

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from gradlog.report import Report

__all__ = ["png_bytes", "png_data_uri", "figure_files", "FIGURE_CAPTIONS", "FIGURES_AFTER_FINDINGS"]

#: What each figure of :func:`gradlog.plots.report_figures` shows (alt text and captions).
FIGURE_CAPTIONS = {
    "overview": "Training loss (raw, light; smoothed with TensorBoard's EMA 0.6), fitted trend "
    "(only where a straight line follows the curve), validation loss and learning "
    "rate (right axis, decays dotted; the LR verdict's step range and suggested LR "
    "marked); shaded: the step ranges of the findings.",
    "grad_norms": "Gradient statistic per layer (log axis, smoothed), relative to its level at "
    "the start of the window the gradient finding analysed (1.3 reads as a 1.3x "
    "rise; the steps before it greyed and cut from the y-range), or absolute "
    "with the fitted trends (dashed) when no finding gives a window; the LR "
    "decays dotted. Up to 8 layers in colour, the rest grey.",
    "oscillation": "The loss relative to its smooth trend (detrended as the analyzers do), "
    "with the oscillation amplitude of each LR phase from the finding's "
    "evidence (bands), and the amplitude against the LR.",
    "first_order": "The loss (blue) and the decrease one step promises to first order, "
    "η‖g‖² (LR × squared gradient L2 norm, vermilion), on a log axis (raw, "
    "light; smoothed). Per LR phase: their medians (dashed), the realised "
    "decrease per step (dotted green) and the ratios: a step that promises a "
    "large part of the loss while the loss does not fall overshoots.",
}

#: The figures a report shows after the findings, in this order (the overview comes
#: before them); a kind :func:`gradlog.plots.report_figures` did not draw is skipped.
FIGURES_AFTER_FINDINGS: tuple[str, ...] = ("grad_norms", "oscillation", "first_order")


def png_bytes(fig: Figure, *, dpi: int = 100) -> bytes:
    """Return the figure rendered as PNG (Agg), without touching pyplot."""
    from gradlog.plots._common import quiet_numerics

    buf = io.BytesIO()
    with quiet_numerics():  # ticks of an axis spanning 1e-300..1e300 overflow harmlessly
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def png_data_uri(fig: Figure, *, dpi: int = 100) -> str:
    """Return ``data:image/png;base64,...`` for embedding the figure in HTML."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig, dpi=dpi)).decode("ascii")


def figure_files(
    report: Report, directory: str | os.PathLike[str], *, stem: str, dpi: int = 100
) -> list[tuple[str, Path]]:
    """Write the report's figures into ``directory`` as ``<stem>_<kind>.png``.

    ``stem`` is sanitised with :func:`safe_filename` (no path separators, no ``..``, no
    control characters), so the files always land inside ``directory``.

    Returns
    -------
    list of (kind, path) in the order of :func:`gradlog.plots.report_figures`.

    Raises
    ------
    OSError
        If the directory cannot be created or a file cannot be written.
    """
    from gradlog.plots import report_figures

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    base = safe_filename(stem)
    for kind, fig in report_figures(report):
        p = d / f"{base}_{kind}.png"
        p.write_bytes(png_bytes(fig, dpi=dpi))
        out.append((kind, p))
    return out
