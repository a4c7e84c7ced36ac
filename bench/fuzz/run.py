"""Fuzz every reader of gradlog by hand: ``python bench/fuzz/run.py --minutes N``.

Mutates a seed corpus cut from ``sample_logs/`` (see ``seeds.py``, ``mutate.py``) and
runs each input through ``gradlog.load`` (plain and ``strict=True``),
``gradlog.analyze`` and every renderer in a worker process with an address-space limit
(``--memory-mb``); a worker that does not answer within ``--hang-seconds`` is killed and
the input counted as a hang. Families share the time evenly, round-robin.

Reports, per format family: inputs, how many loaded, were rejected with a GradlogError,
got the HTML report too ("deep": runs of a new shape, see worker.py; every loaded run
is analysed and rendered as JSON, text and Markdown), crashed (an exception that
is not a GradlogError, or a broken invariant: non-strict JSON, ``<script`` in the HTML),
went over the memory budget, hung, or were slow (``--slow-seconds`` to load, 10x that
to analyse and render); and the warnings that would reach stderr. One reproducer per
distinct problem is saved under ``--out`` (default ``bench/fuzz/findings/``) as the
input tree plus ``REPORT.txt``; ``--replay DIR`` runs one again in this process.

``--engine atheris`` runs one family under atheris (coverage-guided libFuzzer, stops at
the first crash; libFuzzer writes the reproducer): ``--family tensorboard``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mutate  # noqa: E402
import worker  # noqa: E402
from seeds import FAMILIES, Case, all_seeds  # noqa: E402

KINDS = ("inputs", "loaded", "rejected", "analyzed", "deep", "crash", "memory", "hang", "slow", "strict")


class Worker:
    """A persistent worker process (restarted after a hang or a hard crash)."""

    def __init__(self, scratch: Path, deep: str, memory_mb: int, analyze_fraction: float = 1.0) -> None:
        self.args = (str(scratch), deep, memory_mb, analyze_fraction)
        self.ctx = mp.get_context("fork")
        self._start()

    def _start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=worker.serve, args=(child, *self.args), daemon=True)
        self.proc.start()
        if not self.conn.poll(300) or self.conn.recv() != "ready":  # imports and a warm-up run
            raise RuntimeError("the fuzz worker did not start")

    def run(self, case: Case, timeout: float) -> dict[str, Any] | None:
        """Return the worker's result; a ``crash`` result naming the signal if the worker
        died on ``case`` (a segfault in a C extension); None if it hung."""
        self.conn.send(case)
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                self.proc.join(5)
                code = self.proc.exitcode
                self.restart()
                return {
                    "status": "crash",
                    "stage": "?",
                    "error": f"the worker process died (exit code {code}: a negative code is the signal)",
                    "where": f"worker exit {code}",
                    "traceback": "",
                    "load_s": 0.0,
                    "deep_s": 0.0,
                    "warnings": [],
                }
        self.restart()
        return None

    def restart(self) -> None:
        self.proc.kill()
        self.proc.join()
        self._start()

    def close(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


def save(out_dir: Path, case: Case, kind: str, key: str, info: dict[str, Any]) -> Path:
    """Write the reproducer of one problem; return its folder."""
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    d = out_dir / case.family / f"{kind}-{digest}"
    inp = worker.materialize(case, d / "input")
    lines = [
        f"kind: {kind}",
        f"family: {case.family}",
        f"seed: {case.origin}",
        f"mutations: {', '.join(case.notes)}",
        f"load: {inp}",
        f"replay: python bench/fuzz/run.py --replay {d}",
        "",
    ]
    for k in ("stage", "error", "where", "load_s", "deep_s"):
        if info.get(k) not in (None, ""):
            lines.append(f"{k}: {info[k]}")
    if info.get("traceback"):
        lines += ["", info["traceback"]]
    (d / "REPORT.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (d / "case.json").write_text(
        json.dumps({"family": case.family, "root": case.root, "origin": case.origin, "notes": case.notes})
    )
    return d


def fuzz(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    seeds = all_seeds()
    families = [f for f in (args.family or list(FAMILIES))]
    out_dir = Path(args.out)
    stats: dict[str, Counter] = {f: Counter() for f in families}
    spent: dict[str, float] = {f: 0.0 for f in families}
    problems: dict[str, dict[str, Any]] = {}
    warn_counts: dict[str, Counter] = defaultdict(Counter)
    scratch = Path(tempfile.mkdtemp(prefix="gradlog-fuzz-"))
    workers = [
        Worker(scratch / f"w{i}", args.deep, args.memory_mb, args.analyze_fraction) for i in range(args.jobs)
    ]
    deadline = time.monotonic() + args.minutes * 60
    next_report = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if args.inputs:
                families = [f for f in families if stats[f]["inputs"] < args.inputs]
                if not families:
                    break
            fam = min(families, key=spent.__getitem__)
            pool = seeds[fam]
            base = rng.choice(pool)
            case = mutate.mutate(rng, base, pool) if rng.random() > 0.02 else base.copy()
            w = workers[stats[fam]["inputs"] % len(workers)]
            t0 = time.monotonic()
            res = w.run(case, args.hang_seconds)
            spent[fam] += time.monotonic() - t0
            st = stats[fam]
            st["inputs"] += 1
            if res is None:
                kind, key, res = (
                    "hang",
                    f"{fam}:hang:{len(problems)}",
                    {"error": f"no answer in {args.hang_seconds} s"},
                )
            else:
                for wmsg in res["warnings"]:
                    warn_counts[fam][wmsg] += 1
                status = res["status"]
                if status == "rejected":
                    st["rejected"] += 1
                elif status == "ok":
                    st["loaded"] += 1
                if res.get("deep"):
                    st["deep"] += 1
                if res.get("analyzed"):
                    st["analyzed"] += 1
                kind, key = "", ""
                if status in ("crash", "memory"):
                    kind, key = status, f"{fam}:{status}:{res['error'].split(':')[0]}:{res['where']}"
                elif res.get("strict_leak"):
                    kind = "strict"
                    res["error"] = f"strict=True accepted skipped {', '.join(res['strict_leak'])}"
                    key = f"{fam}:strict:{','.join(res['strict_leak'])}"
                elif res["load_s"] > args.slow_seconds or res["deep_s"] > 10 * args.slow_seconds:
                    kind = "slow"
                    where, secs = res.get("slowest") or ("load", res["load_s"])
                    res["stage"] = f"{where} took {secs} s"
                    key = f"{fam}:slow:{where}:{len(problems) // 5}"
            if kind:
                st[kind] += 1
                if key not in problems and sum(p["family"] == fam for p in problems.values()) < 40:
                    d = save(out_dir, case, kind, key, res)
                    problems[key] = {
                        "family": fam,
                        "kind": kind,
                        "count": 0,
                        "reproducer": str(d),
                        "error": res.get("error", ""),
                        "where": res.get("where", ""),
                        "stage": res.get("stage", ""),
                        "load_s": round(res.get("load_s", 0.0), 2),
                    }
                    print(
                        f"[{fam}] {kind}: {res.get('error', '')[:120]} ({res.get('where', '')}) -> {d}",
                        flush=True,
                    )
                if key in problems:
                    problems[key]["count"] += 1
            if time.monotonic() > next_report:
                next_report = time.monotonic() + 60
                print("  " + "; ".join(f"{f} {st['inputs']}" for f, st in stats.items()), flush=True)
    finally:
        for w in workers:
            w.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "minutes": round((time.monotonic() - deadline) / 60 + args.minutes, 1),
        "analyze_fraction": args.analyze_fraction,
        "seed": args.seed,
        "families": {f: dict(st) for f, st in stats.items()},
        "problems": list(problems.values()),
        "warnings": {f: dict(c.most_common(20)) for f, c in warn_counts.items()},
    }


def print_report(rep: dict[str, Any]) -> None:
    print(
        f"\nfuzzed {rep['minutes']} min (seed {rep['seed']}; runs of a shape seen before analysed"
        f" with probability {rep['analyze_fraction']})"
    )
    print(f"{'family':12}" + "".join(f"{k:>10}" for k in KINDS))
    for fam, st in rep["families"].items():
        print(f"{fam:12}" + "".join(f"{st.get(k, 0):>10}" for k in KINDS))
    if rep["problems"]:
        print("\nproblems (one reproducer each):")
        for p in rep["problems"]:
            print(
                f"  [{p['family']}] {p['kind']} x{p['count']}: {p['error'][:140]}\n"
                f"      at {p['where']} ({p['stage']}) -> {p['reproducer']}"
            )
    for fam, ws in rep["warnings"].items():
        if ws:
            print(f"\nwarnings that reach stderr [{fam}]:")
            for w, n in ws.items():
                print(f"  {n:6} {w}")


def replay(d: Path) -> int:
    meta = json.loads((d / "case.json").read_text())
    files = {str(p.relative_to(d / "input")): p.read_bytes() for p in (d / "input").rglob("*") if p.is_file()}
    case = Case(meta["family"], files, meta["root"], meta["origin"], meta["notes"])
    scratch = Path(tempfile.mkdtemp(prefix="gradlog-replay-"))
    try:
        res = worker.run_case(case, scratch / "input", deep="all")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({k: v for k, v in res.items() if k != "traceback"}, indent=2))
    if res["traceback"]:
        print(res["traceback"])
    return 1 if res["status"] in ("crash", "memory") else 0


def atheris_main(args: argparse.Namespace) -> int:  # pragma: no cover - manual use
    import atheris

    fam = (args.family or ["tensorboard"])[0]
    pool = all_seeds()[fam]
    corpus = Path(tempfile.mkdtemp(prefix=f"gradlog-atheris-{fam}-"))
    for i, c in enumerate(pool):
        (corpus / f"seed{i}").write_bytes(next(iter(c.files.values())))
    scratch = Path(tempfile.mkdtemp(prefix="gradlog-atheris-run-"))
    template = pool[0]
    with atheris.instrument_imports():
        import gradlog  # noqa: F401

    def one(data: bytes) -> None:
        case = template.copy()
        case.files[next(iter(case.files))] = data
        res = worker.run_case(case, scratch, deep=args.deep)
        if res["status"] in ("crash", "memory"):
            raise RuntimeError(f"{res['error']} at {res['where']}\n{res['traceback']}")

    Path(args.out).mkdir(parents=True, exist_ok=True)
    atheris.Setup(
        [
            sys.argv[0],
            str(corpus),
            f"-max_total_time={int(args.minutes * 60)}",
            f"-timeout={int(args.hang_seconds)}",
            f"-rss_limit_mb={args.memory_mb + 2048}",
            f"-artifact_prefix={args.out}/{fam}-",
        ],
        one,
    )
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="stop after this long (at most)")
    ap.add_argument(
        "--inputs",
        type=int,
        default=0,
        help="stop a family once it has had this many inputs (0: no limit, fuzz until --minutes)",
    )
    ap.add_argument(
        "--family",
        action="append",
        choices=list(FAMILIES),
        help="fuzz only this family (repeatable; default: all)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--slow-seconds", type=float, default=2.0)
    ap.add_argument("--hang-seconds", type=float, default=60.0)
    ap.add_argument("--memory-mb", type=int, default=2048)
    ap.add_argument(
        "--deep",
        choices=("new", "all", "none"),
        default="new",
        help="analyse and render: runs not seen before (default), all, none",
    )
    ap.add_argument(
        "--analyze-fraction",
        type=float,
        default=1.0,
        help="analyse and render a run of a shape seen before with this probability"
        " (a new shape always is; analysis costs ~5x a load)",
    )
    ap.add_argument("--out", default=str(HERE / "findings"))
    ap.add_argument("--json", help="also write the report as JSON here")
    ap.add_argument("--replay", type=Path, help="run one saved reproducer again")
    ap.add_argument("--engine", choices=("mutate", "atheris"), default="mutate")
    args = ap.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    if args.engine == "atheris":
        return atheris_main(args)
    os.environ.setdefault("MPLBACKEND", "Agg")
    rep = fuzz(args)
    print_report(rep)
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=2))
    bad = sum(st.get(k, 0) for st in rep["families"].values() for k in ("crash", "memory", "hang"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
