"""Run one fuzz input through gradlog, in a worker process, and say how it went.

Every input is written into a scratch folder and loaded (``gradlog.load``, then again
with ``strict=True``). A run that loads is analysed (``gradlog.analyze``) and rendered
by every renderer (``to_json``, ``to_text``, ``to_markdown``, ``to_html``); the JSON must
be strict (no NaN) and the HTML must carry no ``<script``. Analysis and rendering are
cheap except for the HTML report's figures (one to ten seconds of matplotlib), so with
``deep="new"`` every run that loads is analysed and rendered as JSON, text and Markdown,
and as HTML when its *shape* (see :func:`_signature`) was not seen before, within a share
of the time (``html_share``); ``deep="all"`` renders the HTML of every input.

Outcomes: ``ok`` (loaded), ``rejected`` (a GradlogError: the promised behaviour for bad
input), ``crash`` (any other exception, or a broken invariant), ``memory`` (MemoryError
under the worker's address-space limit).
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from seeds import Case

_SEEN: set[bytes] = set()
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


def run_case(case: Case, scratch: Path, deep: str = "new", html_share: float = 0.3) -> dict[str, Any]:
    """Run ``case``; return ``{"status", "stage", "error", "where", "traceback", "load_s",
    "deep_s", "deep", "warnings"}``.

    With ``deep="new"`` the HTML report (figures: seconds each, up to ten on runs with
    extreme values) is rendered for a run of a new shape while the HTML has taken less
    than ``html_share`` of this worker's time, so that most inputs still get through.
    """
    t_start = time.perf_counter()
    try:
        return _run_case(case, scratch, deep, html_share)
    finally:
        _SPENT["all"] += time.perf_counter() - t_start


def _run_case(case: Case, scratch: Path, deep: str, html_share: float) -> dict[str, Any]:
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
            if deep == "none":
                return out
            sig = _signature(run)
            html_too = deep == "all" or (sig not in _SEEN and _SPENT["html"] <= html_share * _SPENT["all"])
            if html_too:
                _SEEN.add(sig)
            out["deep"] = html_too
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


def serve(conn: Any, scratch: str, deep: str, memory_mb: int) -> None:
    """Worker loop: receive cases on ``conn``, send back :func:`run_case` results."""
    import matplotlib

    matplotlib.use("Agg")
    from seeds import all_seeds

    where = Path(scratch)
    # warm up (lazy imports of scipy, pyplot ...) before the memory cap
    run_case(all_seeds()["caffe"][0], where, deep="all")
    _SEEN.clear()
    _SPENT.update(all=0.0, html=0.0)
    limit_memory(memory_mb)
    conn.send("ready")
    while True:
        case = conn.recv()
        if case is None:
            return
        conn.send(run_case(case, where, deep))
