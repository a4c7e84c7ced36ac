"""Launches of the solver inside one log file: relaunches, resumes, counter resets, and
how each ended (done, stopped early, a crash)."""

from __future__ import annotations

from typing import Any

from gradlog.parsers.caffe import lines as L


class Run:
    """One launch of the solver inside the file (and its block-placement state)."""

    __slots__ = (
        "index",
        "line",
        "kind",
        "net",
        "resumed_from",
        "solver",
        "lr_policy",
        "ended",
        "first_step",
        "last_step",
        "last_loss_step",
        "rates",
        "first_rate_step",
        "has_data",
        "first_anchor",
        "last_anchor",
        "first_seg",
        "last_seg",
        "leading",
        "unanchored",
        "mode",
        "one_pass",
        "ambiguous",
        "ambiguous_from",
    )

    def __init__(self, index: int, line: int, kind: str) -> None:
        self.index, self.line, self.kind = index, line, kind
        self.net: str | None = None
        self.resumed_from: str | None = None
        self.solver: dict[str, Any] = {}
        self.lr_policy: str | None = None
        self.ended: str | None = None
        self.first_step: int | None = None
        self.last_step: int | None = None
        self.last_loss_step: int | None = None
        self.rates = 0
        self.first_rate_step: int | None = None
        self.has_data = False
        self.first_anchor: tuple[int, float] | None = None
        self.last_anchor: tuple[int, float] | None = None
        self.first_seg = -1
        self.last_seg = -1
        self.leading: list[int] = []
        self.unanchored: list[int] = []
        self.mode: str | None = None  # "every_iteration" | "display_only"
        self.one_pass = False  # a block with one pass of the net was anchored
        self.ambiguous = 0  # blocks whose earlier passes were not placed
        self.ambiguous_from: tuple[int, int] | None = None  # (line, iteration) of the first

    def saw(self, step: int) -> None:
        """Note that the run logged iteration ``step``."""
        self.has_data = True
        if self.first_step is None:
            self.first_step = step
        self.last_step = step if self.last_step is None else max(self.last_step, step)


class Launches:
    """The runs of one file, the current one, and the errors that stopped a job.

    Attributes
    ----------
    all : every run, in log order; ``current``: the last one (None before the first).
    fatal : the fatal glog lines (``{"line", "message"}``).
    crashes : every error that stops a job (``{"kind", "line", "text", "step",
        "trace_lines"}``), and ``crash_at``: per crash, (run index, its last step then).
    """

    def __init__(self) -> None:
        self.all: list[Run] = []
        self.current: Run | None = None
        self.fatal: list[dict[str, Any]] = []
        self.crashes: list[dict[str, Any]] = []
        self.crash_at: list[tuple[int, int | None]] = []

    def new(self, line: int, kind: str) -> Run:
        """Open a run at ``line`` (``kind``: relaunch, counter_reset; the first is a start)."""
        self.current = Run(len(self.all), line, kind if self.all else "start")
        self.all.append(self.current)
        return self.current

    def crash(self, kind: str, text: str, line: int) -> None:
        """Note an error that stops the job at ``line`` (the step: the last iteration the
        current run logged before it)."""
        r = self.current
        step = r.last_step if r is not None else None
        self.crashes.append({"kind": kind, "line": line, "text": text[:200], "step": step, "trace_lines": 0})
        self.crash_at.append((r.index if r is not None else -1, step))

    def trace_line(self) -> None:
        """A line of a stack trace: the last crash's."""
        if self.crashes:
            self.crashes[-1]["trace_lines"] += 1

    def ending(self, hparams: dict[str, Any]) -> dict[str, Any]:
        """``crash`` (the error that stopped the job, when no iteration was logged after
        it), ``crashes`` (every one), ``last_iteration``, ``stopped_early``."""
        crash = None
        if self.crashes:
            run_index, step = self.crash_at[-1]
            runs = [r for r in self.all if r.has_data]
            last = runs[-1] if runs else None
            if (
                last is None
                or (last.index == run_index and last.last_step == step)
                or (last.index < run_index)
            ):
                crash = {k: self.crashes[-1][k] for k in ("kind", "line", "text", "step")}
        for c, (idx, _step) in zip(self.crashes, self.crash_at, strict=False):
            c["relaunched"] = any(r.index > idx and r.has_data for r in self.all)
        runs = [r for r in self.all if r.has_data and r.last_step is not None]
        last_iteration = runs[-1].last_step if runs else None
        max_iter = hparams.get("max_iter")
        stopped: bool | None = None
        if (
            isinstance(max_iter, int)
            and not isinstance(max_iter, bool)
            and 0 < max_iter < 2**63  # Caffe's max_iter is an int32/int64: larger is damage
            and last_iteration is not None
        ):
            ended = runs[-1].ended
            display = hparams.get("display")
            shown = display if isinstance(display, int) and display > 0 else 0
            slack = max(2 * shown, 0.02 * max_iter)
            if ended == "done":
                stopped = False
            elif ended == L.EV_STOPPED or crash is not None:
                stopped = last_iteration < max_iter
            else:
                stopped = last_iteration < max_iter - slack
        return {
            "crash": crash,
            "crashes": list(self.crashes),
            "last_iteration": last_iteration,
            "stopped_early": stopped,
        }

    def restarts(self) -> list[dict[str, Any]]:
        """``meta["restarts"]``: every run after the first (kind, line, step, previous step)."""
        out = []
        prev_last: int | None = None
        for r in self.all:
            if r.index > 0:
                kind = (
                    "resume"
                    if r.resumed_from is not None
                    else ("counter_reset" if r.kind == "counter_reset" else "relaunch")
                )
                out.append(
                    {
                        "kind": kind,
                        "line": r.line,
                        "step": r.first_step,
                        "previous_step": prev_last,
                        "resumed_from": r.resumed_from,
                    }
                )
            if r.last_step is not None:
                prev_last = r.last_step
        return out

    def runs_meta(self) -> list[dict[str, Any]]:
        """``meta["caffe"]["runs"]``: each run's net, steps, ending and solver parameters."""
        return [
            {
                "line": r.line,
                "net": r.net,
                "first_step": r.first_step,
                "last_step": r.last_step,
                "resumed_from": r.resumed_from,
                "ended": r.ended or "log ends",
                "lr_policy": r.lr_policy,
                "debug_info": r.mode,
                "solver": r.solver,
            }
            for r in self.all
        ]
