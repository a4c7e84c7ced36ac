"""Figures of a run and its findings (matplotlib): one module per figure.

Every ``plot_*`` function takes ``ax=`` (it draws into a new figure only when ``ax`` is
None) and returns the Axes; nothing here calls ``plt.show()``. :func:`report_figure`
and :func:`report_figures` build bare Figures without pyplot (they render with Agg
wherever they are saved, and Jupyter shows them inline through ``_repr_png_`` without
``%matplotlib inline``), and importing gradlog never selects a backend.

Figures draw; analyzers measure: every number a figure writes or marks comes from a
finding's evidence, the report's trends and LR verdict, or the Run itself (smoothing
and thinning are for the eye only).

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies); the findings are drawn on the figures (shaded step ranges labelled with
the finding id, markers at the steps the evidence names), so a figure says at a glance
what the text says.

The main artists carry a ``gid`` (``artist.get_gid()``) so they can be found again:
``loss_raw``, ``loss_smooth``, ``val_loss``, ``lr``, ``decay:<step>``,
``trend:<tag>:<scope>``, ``finding:<id>``, ``plateau_start``, ``spikes``, ``val_min``,
``divergence_start``, ``nonfinite``, ``lr_verdict``, ``lr_verdict_to``, ``grad:<tag>``,
``grad_raw:<tag>``, ``grad_rest``, ``transient``, ``residual``, ``amplitude:<phase>``,
``tag:<tag>``; on the first-order figure ``loss_raw``, ``loss_smooth``, ``promise_raw``,
``promise_smooth``, and per LR phase ``loss_level:<k>``, ``promise_level:<k>``,
``realised:<k>``, ``realised_below:<k>``, ``first_order:<k>`` (the box of numbers).

Modules: :mod:`~gradlog.plots.tags` (any tags), :mod:`~gradlog.plots.overview` (loss,
LR, findings, verdict), :mod:`~gradlog.plots.gradients` (per layer),
:mod:`~gradlog.plots.oscillation` (detrended loss, amplitude vs LR),
:mod:`~gradlog.plots.first_order` (the promise eta*|g|^2), :mod:`~gradlog.plots.composite`
(the report's figures); :mod:`~gradlog.plots._common` holds what they share.
"""

from __future__ import annotations

from gradlog.plots._common import (
    BLACK,
    BLUE,
    EMA_WEIGHT,
    GREEN,
    GREY,
    MAX_DECAY_LINES,
    MAX_PLOT_POINTS,
    ORANGE,
    PALETTE,
    PURPLE,
    SEVERITY_COLORS,
    SKY,
    SMOOTH_MIN_POINTS,
    VERMILLION,
    WIDTH_IN,
)
from gradlog.plots.composite import report_figure, report_figures
from gradlog.plots.first_order import plot_first_order
from gradlog.plots.gradients import plot_grad_norms
from gradlog.plots.oscillation import plot_amplitude_vs_lr, plot_oscillation
from gradlog.plots.overview import plot_overview
from gradlog.plots.tags import plot_tags

__all__ = [
    "PALETTE",
    "SEVERITY_COLORS",
    "EMA_WEIGHT",
    "WIDTH_IN",
    "MAX_PLOT_POINTS",
    "SMOOTH_MIN_POINTS",
    "MAX_DECAY_LINES",
    "BLACK",
    "BLUE",
    "GREEN",
    "GREY",
    "ORANGE",
    "PURPLE",
    "SKY",
    "VERMILLION",
    "plot_tags",
    "plot_overview",
    "plot_grad_norms",
    "plot_oscillation",
    "plot_amplitude_vs_lr",
    "plot_first_order",
    "report_figure",
    "report_figures",
]
