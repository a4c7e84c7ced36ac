"""The smoothed training loss of each run of a comparison: its level at any step,
whether it blew up, whether it was still falling at the end, and its best validation
value."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gradlog.report import Report
from gradlog.run import Run

__all__ = [
    "SMOOTH_FRACTION",
    "TAIL_FRACTION",
    "Curve",
    "loss_curve",
    "still_falling",
    "best_val",
]

#: Trailing running-median window, as a share of a run's loss points (at least 5 points).
SMOOTH_FRACTION = 0.05
#: The last share of the run over which "still falling" is judged.
TAIL_FRACTION = 0.2

_LOWER_IS_BETTER_RE = re.compile(r"loss|err|wer|cer|perplex|ppl|mae|mse|rmse|nll", re.IGNORECASE)


@dataclass(frozen=True)
class Curve:
    """The smoothed-loss facts of one run: ``level`` is the trailing running median of the
    finite loss points at ``steps``; ``initial`` the first finite value."""

    tag: str | None
    steps: np.ndarray
    level: np.ndarray  # trailing running median, finite points only
    initial: float
    end_step: int | None
    blew_up: bool
    window: int

    def level_at(self, step: int | None) -> float:
        """Return the smoothed level at the last logged point at or before ``step``."""
        if step is None or self.level.size == 0:
            return float("nan")
        i = int(np.searchsorted(self.steps, step, side="right")) - 1
        return float(self.level[i]) if i >= 0 else float("nan")


def loss_curve(report: Report) -> Curve:
    """Return the smoothed training loss of ``report``'s run (empty without a loss)."""
    run = report.run
    tag = run.roles.get("loss")
    ids = {f.id for f in report.findings}
    if not tag or tag not in run:
        return Curve(None, np.zeros(0, dtype=np.int64), np.zeros(0), float("nan"), None, False, 0)
    s = run.series(str(tag))
    y = s.to_numpy(dtype=float)
    x = s.index.to_numpy()
    fin = np.isfinite(y)
    blew_up = "divergence" in ids or (y.size > 0 and not fin[-1])
    for f in report.findings:
        if f.id == "nonfinite_values" and str(tag) in f.tags:
            blew_up = True
    yf, xf = y[fin], x[fin]
    if yf.size == 0:
        return Curve(str(tag), xf, yf, float("nan"), None, True, 0)
    w = int(max(5, min(1001, round(SMOOTH_FRACTION * yf.size))))
    roll = pd.Series(yf).rolling(w, min_periods=1)
    level = roll.median().to_numpy()
    initial = float(yf[0])
    return Curve(str(tag), xf, level, initial, int(xf[-1]), bool(blew_up), w)


def still_falling(report: Report, c: Curve, y: np.ndarray | None = None) -> bool | None:
    """Return whether the loss still fell over the last :data:`TAIL_FRACTION` of the run,
    None when unknown.

    True when the report has an ``lr_too_small`` finding, False when it has a
    ``loss_plateau`` finding on the loss that reaches the end (the report and the
    comparison never disagree); otherwise True when the raw loss of
    the second half of that tail is lower than that of the first half (one-sided
    Mann-Whitney U test, p < 0.05) and its median at least 0.1% lower.
    """
    if c.tag is None or c.end_step is None or c.blew_up:
        return None
    if any(f.id == "lr_too_small" for f in report.findings):
        return True
    for f in report.findings:
        if (
            f.id == "loss_plateau"
            and c.tag in f.tags
            and f.step_range is not None
            and f.step_range[1] >= c.end_step - TAIL_FRACTION * (c.end_step - int(c.steps[0])) / 2
        ):
            return False
    s = report.run.series(c.tag)
    v = s.to_numpy(dtype=float)
    x = s.index.to_numpy()
    first = int(x[0])
    keep = np.isfinite(v) & (x >= c.end_step - TAIL_FRACTION * (c.end_step - first))
    tail = v[keep]
    if tail.size < 10:
        return None
    h = tail.size // 2
    a, b = tail[:h], tail[h:]
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(a, b, alternative="greater").pvalue)
    ma, mb = float(np.median(a)), float(np.median(b))
    return bool(p < 0.05 and mb < ma - 1e-3 * abs(ma))


def best_val(run: Run) -> tuple[str | None, float | None, int | None]:
    """Return the validation metric's tag, best value and its step (None when absent)."""
    tag = run.roles.get("val_metric")
    if not tag or tag not in run:
        return None, None, None
    s = run.series(str(tag))
    s = s[np.isfinite(s.to_numpy(dtype=float))]
    if s.empty:
        return str(tag), None, None
    lower = bool(_LOWER_IS_BETTER_RE.search(str(tag).split("/")[-1]))
    i = int(np.argmin(s.to_numpy()) if lower else np.argmax(s.to_numpy()))
    return str(tag), float(s.iloc[i]), int(s.index[i])
