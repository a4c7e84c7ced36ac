"""Run one fuzz input through gradlog, in a worker process, and say how it went.

Every input is written into a scratch folder and loaded (``gradlog.load``, then again
with ``strict=True``). A run that loads is analysed (``gradlog.analyze``) and rendered
by every renderer (``to_json``, ``to_text``, ``to_markdown``, ``to_html``); the JSON must
be strict (no NaN) and the HTML must carry no ``<script``. Analysis and rendering are
cheap except for the HTML report's figures (one to ten seconds of matplotlib), so with
``deep="new"`` every run that loads is analysed and rendered as JSON, text and Markdown,
and as HTML when its *shape* (see :func:`_signature`) was not seen before, within a share
of the time (``html_share``); ``deep="all"`` renders the HTML of every input. Analysis is
five times the cost of loading: with ``analyze_fraction`` below 1 a run of a shape seen
before is analysed only with that probability (a run of a new shape always is), so that
the readers get more inputs in the same time.

Outcomes: ``ok`` (loaded), ``rejected`` (a GradlogError: the promised behaviour for bad
input), ``crash`` (any other exception, or a broken invariant), ``memory`` (MemoryError
under the worker's address-space limit).
"""

from __future__ import annotations

import hashlib
import json
import random
import resource
import shutil
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from seeds import Case

_SEEN: set[bytes] = set()
#: Shapes of the runs analysed so far (see ``analyze_fraction``).
_ANALYZED: set[bytes] = set()
#: Seconds spent in this worker: in all, and on HTML reports (see ``html_share``).
_SPENT = {"all": 0.0, "html": 0.0}


def limit_memory(budget_mb: int) -> None:
    """Cap this process's address space at its current size plus ``budget_mb``."""
    with open("/proc/self/status") as fh:
        vm = next((int(line.split()[1]) for line in fh if line.startswith("VmSize:")), 0)
    limit = vm * 1024 + budget_mb * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def materialize(case: Case, where: Path) -> Path:
    """Write ``case`` under ``where`` (emptied first); return the path to load."""
    if where.exists():
        shutil.rmtree(where)
    for rel, data in case.files.items():
        p = where / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return where / case.root


def _where(tb: Any) -> str:
    """Return ``file:line in function`` of the innermost frame inside gradlog."""
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if "/gradlog/" in f.filename or "/parsers/" in f.filename]
    f = (ours or frames or [None])[-1]
    if f is None:
        return "?"
    name = f.filename.split("/main/", 1)[-1]
    return f"{name}:{f.lineno} in {f.name}"


#: Kinds in ``meta["skipped"]`` that are not data (the README's list: Caffe's parameter
#: dumps, other programs' lines, test-net debug lines, the first rate of a run, clipping
#: on undisplayed iterations, stack traces ...; blank lines; explicit nulls; W&B media
#: and strings; empty event files): ``strict=True`` may accept a file that has them.
NOT_DATA = frozenset(
    {
        "parameter_dump_lines",
        "non_glog_lines",
        "test_net_debug_lines",
        "first_rate_of_run",
        "unplaced_clipping_events",
        "stack_trace_lines",
        "trace_lines",
        "snapshot_lines",
        "update_lines",
        "cr_joined_lines",
        "blank_lines",
        "null_values",
        "non_scalar_values",
        "empty_files",
    }
)


def strict_leaks(meta: dict[str, Any]) -> list[str]:
    """Return the kinds of skipped data in ``meta`` that ``strict=True`` should have
    refused (every kind but :data:`NOT_DATA`, and a truncated last record)."""
    kinds = [k for k, n in (meta.get("skipped") or {}).items() if n and k not in NOT_DATA]
    if meta.get("truncated"):
        kinds.append("truncated")
    return sorted(set(kinds))


def _strict_json(text: str) -> None:
    def bad(token: str) -> None:
        raise ValueError(f"non-strict JSON constant {token}")

    json.loads(text, parse_constant=bad)


def _signature(run: Any) -> bytes:
    """Return the coarse *shape* of a loaded run: for each role's series, its size class
    and whether it holds NaN, inf, negative, constant or extreme (> 1e30) values or
    negative steps; how many other tags; the meta keys and skip counters. Analysis
    crashes come from such shapes (a lone point, an all-NaN series, 1e308), not from the
    exact values, so only a run of a new shape gets the (slow) HTML report
    (``deep="new"``)."""
    import numpy as np

    def shape(v: Any, st: Any) -> tuple[Any, ...]:
        fin = v[np.isfinite(v)]
        size = next(i for i, lim in enumerate((1, 3, 15, 255, 1 << 62)) if len(v) <= lim)
        return (
            size,
            bool(np.isnan(v).any()),
            bool(np.isinf(v).any()),
            bool((fin < 0).any()),
            bool(len(fin) and fin.min() == fin.max()),
            bool(len(fin) and np.abs(fin).max() > 1e30),
            bool((st < 0).any()),
        )

    roles = dict(run.roles.items()) if hasattr(run.roles, "items") else {}
    parts: list[Any] = []
    role_tags = set()
    for role in sorted(roles):
        tags = roles[role] if isinstance(roles[role], (list, tuple)) else [roles[role]]
        for tag in list(tags)[:3]:
            role_tags.add(tag)
            g = run.frame[run.frame["tag"] == tag]
            parts.append((role, shape(g["value"].to_numpy(), g["step"].to_numpy())))
    others = run.frame["tag"].nunique() - len(role_tags)
    parts.append(min(others, 5))
    parts.append(sorted(run.meta))
    parts.append(sorted(run.meta.get("skipped") or {}))
    return hashlib.sha1(repr(parts).encode()).digest()


def run_case(
    case: Case,
    scratch: Path,
    deep: str = "new",
    html_share: float = 0.3,
    analyze_fraction: float = 1.0,
) -> dict[str, Any]:
    """Run ``case``; return ``{"status", "stage", "error", "where", "traceback", "load_s",
    "deep_s", "deep", "warnings"}``.

    With ``deep="new"`` the HTML report (figures: seconds each, up to ten on runs with
    extreme values) is rendered for a run of a new shape while the HTML has taken less
    than ``html_share`` of this worker's time, so that most inputs still get through.
    """
    t_start = time.perf_counter()
    try:
        return _run_case(case, scratch, deep, html_share, analyze_fraction)
    finally:
        _SPENT["all"] += time.perf_counter() - t_start


def _run_case(
    case: Case, scratch: Path, deep: str, html_share: float, analyze_fraction: float
) -> dict[str, Any]:
    import gradlog
    from gradlog.errors import GradlogError

    out: dict[str, Any] = {
        "status": "ok",
        "stage": "",
        "error": "",
        "where": "",
        "traceback": "",
        "load_s": 0.0,
        "deep_s": 0.0,
        "deep": False,
        "analyzed": False,
        "strict_leak": [],
        "warnings": [],
        "slowest": ("", 0.0),
    }
    clock = [time.perf_counter(), ""]

    def step(name: str) -> str:
        """Close the stage that ran until now (keeping the slowest), open ``name``."""
        now = time.perf_counter()
        if clock[1] and now - clock[0] > out["slowest"][1]:
            out["slowest"] = (clock[1], round(now - clock[0], 3))
        clock[0], clock[1] = now, name
        return name

    path = materialize(case, scratch)
    stage = step("load")
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            try:
                run = gradlog.load(path)
            except GradlogError as exc:
                out.update(status="rejected", error=str(exc)[:300])
                return out
            finally:
                out["load_s"] = time.perf_counter() - t0
                step("")
            stage = step("load(strict=True)")
            try:
                gradlog.load(path, strict=True)
            except GradlogError:
                pass
            else:  # strict accepted it: then nothing that is data may have been skipped
                out["strict_leak"] = strict_leaks(run.meta)
            if deep == "none":
                return out
            sig = _signature(run)
            if deep != "all" and sig in _ANALYZED and random.random() >= analyze_fraction:
                return out
            _ANALYZED.add(sig)
            html_too = deep == "all" or (sig not in _SEEN and _SPENT["html"] <= html_share * _SPENT["all"])
            if html_too:
                _SEEN.add(sig)
            out["deep"] = html_too
            out["analyzed"] = True
            t1 = time.perf_counter()
            stage = step("analyze")
            report = gradlog.analyze(run)
            stage = step("to_json")
            _strict_json(report.to_json())
            stage = step("to_text")
            report.to_text()
            stage = step("to_markdown")
            report.to_markdown()
            if html_too:
                stage = step("to_html")
                t2 = time.perf_counter()
                html = report.to_html()
                _SPENT["html"] += time.perf_counter() - t2
                if "<script" in html.lower():
                    raise AssertionError("the HTML report carries a <script")
            step("")
            out["deep_s"] = time.perf_counter() - t1
        except MemoryError as exc:
            out.update(
                status="memory",
                stage=stage,
                error=f"MemoryError: {exc}"[:300],
                where=_where(exc.__traceback__),
            )
        except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
            out.update(
                status="crash",
                stage=stage,
                error=f"{type(exc).__name__}: {exc}"[:300],
                where=_where(exc.__traceback__),
                traceback="".join(traceback.format_exception(exc))[-6000:],
            )
        finally:
            out["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:80]}" for w in caught})
    return out


def serve(conn: Any, scratch: str, deep: str, memory_mb: int, analyze_fraction: float = 1.0) -> None:
    """Worker loop: receive cases on ``conn``, send back :func:`run_case` results."""
    import matplotlib

    matplotlib.use("Agg")
    from seeds import all_seeds

    where = Path(scratch)
    # warm up (lazy imports of scipy, pyplot ...) before the memory cap
    run_case(all_seeds()["caffe"][0], where, deep="all")
    _SEEN.clear()
    _ANALYZED.clear()
    _SPENT.update(all=0.0, html=0.0)
    limit_memory(memory_mb)
    conn.send("ready")
    while True:
        case = conn.recv()
        if case is None:
            return
        conn.send(run_case(case, where, deep, analyze_fraction=analyze_fraction))
