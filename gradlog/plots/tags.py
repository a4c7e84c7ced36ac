"""Any tags of a run against steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gradlog.plots._common import (
    PALETTE,
    PURPLE,
    _auto_log,
    _legend,
    _new_ax,
    _step_label,
    _thin,
    _txt,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from gradlog.run import Run


def plot_tags(
    run: Run, tags: Sequence[str] | None = None, *, ax: Axes | None = None, logy: bool | None = None
) -> Axes:
    """Plot some tags of a run against steps.

    Parameters
    ----------
    run : the Run.
    tags : tags to draw (default: the loss, validation loss and learning rate the run
        has). Learning-rate tags go on a second, logarithmic y axis when drawn with others.
    ax : Axes to draw into (a new figure when None).
    logy : logarithmic y axis; None decides from the data (positive, spanning > 30x).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    KeyError
        If a tag is not in the run (the message lists the tags).
    """
    if tags is None:
        tags = [t for t in (run.roles.get("loss"), run.roles.get("val_loss"), run.roles.get("lr")) if t]
        if not tags:
            tags = run.tags[:6]
    tags = list(tags)
    series = {t: run.series(t) for t in tags}
    ax = _new_ax(ax)
    lr_tag = run.roles.get("lr")
    lr_like = [t for t in tags if t == lr_tag or t.rsplit("/", 1)[-1].lower() in ("lr", "learning_rate")]
    main = [t for t in tags if t not in lr_like] or lr_like
    twin_tags = [t for t in lr_like if t not in main]
    colors = iter(PALETTE * (1 + len(tags) // len(PALETTE)))
    for t in main:
        s = series[t]
        ax.plot(
            *_thin(s.index, s.to_numpy()),
            color=next(colors),
            lw=1.2,
            label=_txt(t),
            gid=f"tag:{t}",
            marker="o" if len(s) <= 40 else None,
            ms=3,
        )
    vals = np.concatenate([series[t].to_numpy() for t in main]) if main else np.array([])
    if logy if logy is not None else (_auto_log(vals) or main == lr_like):
        ax.set_yscale("log")
    twin = None
    if twin_tags:
        twin = ax.twinx()
        for t in twin_tags:
            s = series[t]
            twin.plot(
                *_thin(s.index, s.to_numpy()),
                color=PURPLE,
                lw=1.0,
                drawstyle="steps-post",
                label=_txt(t),
                gid=f"tag:{t}",
            )
        if _auto_log(np.concatenate([series[t].to_numpy() for t in twin_tags]), ratio=1.0):
            twin.set_yscale("log")
        twin.set_ylabel("learning rate", color=PURPLE)
        twin.tick_params(axis="y", colors=PURPLE)
    ax.set_xlabel(_step_label(run))
    ax.set_ylabel(_txt(main[0]) if len(main) == 1 else "value")
    ax.set_title(_txt(run.name), fontsize=10)
    ax.grid(True, alpha=0.3, lw=0.5)
    _legend(ax, [twin] if twin is not None else [], loc="best")
    return ax
