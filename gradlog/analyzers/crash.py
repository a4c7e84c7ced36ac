"""A job that stopped on an error its log shows (CUDA out of memory, a failed check)."""

from __future__ import annotations

from typing import Any

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.findings import Finding
from gradlog.run import Run
from gradlog.wording import fmt_step

__all__ = ["detect_run_crashed"]

_KIND_WORDS = {
    "cuda_oom": "ran out of GPU memory (CUDA out of memory)",
    "check_failed": "stopped on a failed check",
    "error": "stopped on an error",
}

_ADVICE = {
    "cuda_oom": (
        "Lower the memory per step: a smaller batch (with gradient accumulation, Caffe's "
        "iter_size, to keep the effective batch), a smaller input size, or mixed precision; "
        "then resume from the last snapshot."
    ),
    "check_failed": (
        "Read the failed check: it names the file and condition (a missing file, a shape "
        "mismatch, a NaN guard); fix it and resume from the last snapshot."
    ),
    "error": "Fix the error the log names and resume from the last snapshot.",
}


def detect_run_crashed(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Report a crash the log shows (the parser records it in ``run.meta["crash"]``:
    ``kind``, ``line``, ``text``, ``step``).

    A crash followed by a complete later run in the same file (a relaunch, counted in
    ``meta["restarts"]`` after the crash's line) is info; a crash that ends the log is a
    warning.

    Returns
    -------
    list with at most one ``run_crashed`` Finding; evidence ``kind``, ``line``, ``text``,
    ``step`` and ``relaunched``.
    """
    crash = run.meta.get("crash")
    if not isinstance(crash, dict) or not crash:
        return []
    kind = str(crash.get("kind") or "error")
    line = crash.get("line")
    step = crash.get("step")
    text = str(crash.get("text") or "").strip()
    restarts: list[Any] = list(run.meta.get("restarts") or [])
    relaunched = any(
        isinstance(r, dict) and isinstance(r.get("line"), int) and isinstance(line, int) and r["line"] > line
        for r in restarts
    )
    where = f" at line {line}" if line is not None else ""
    after = f" after step {fmt_step(step)}" if isinstance(step, (int, float)) else ""
    summary = f"The job {_KIND_WORDS.get(kind, 'stopped on an error')}{after}{where}"
    summary += ": a later launch in the same log ran on." if relaunched else "."
    expl = "The log shows the error that ended the job" + (f": “{text}”." if text else ".")
    if kind == "cuda_oom":
        expl += (
            " Memory use per step grows with the batch, the input size and the activations kept "
            "for the backward pass; it is not a sign of a bad learning rate."
        )
    return [
        Finding(
            id="run_crashed",
            severity="info" if relaunched else "warning",
            summary=summary,
            tags=(),
            step_range=(int(step), int(step)) if isinstance(step, (int, float)) else None,
            confidence=config.crash_confidence,
            evidence={"kind": kind, "line": line, "text": text, "step": step, "relaunched": relaunched},
            explanation=expl,
            recommendation=_ADVICE.get(kind, _ADVICE["error"]),
            references=(),
        )
    ]
