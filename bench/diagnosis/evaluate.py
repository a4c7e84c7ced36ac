"""Score gradlog's diagnosis against the labelled runs of ``bench/diagnosis``.

For every run in ``labels.csv`` (written by ``generate.py``; labels come from
instrumentation that is not in the log), load the logged CSV with ``gradlog.load``,
run ``gradlog.analyze`` and compare the finding ids it emits with the labels.

Printed per finding id and per split (``tune``, ``holdout``, ``all``): precision,
recall, the counts behind them (TP/FP/FN), and how many runs were left out of that
id's score because the label is in the documented gray zone (``gray`` column). Then
the number of ``step_size_oscillation`` findings on the hard negatives (small LR,
tiny batch: a very noisy minibatch loss around a stable iterate), which must be 0.

Tune thresholds on the ``tune`` split only; the ``holdout`` split is for checking.

Usage, from the repository root::

    .venv/bin/python bench/diagnosis/evaluate.py [--split tune|holdout|all] [--errors]
        [--labels bench/diagnosis/labels.csv] [--hparams]

``--errors`` lists every misclassified run with the evidence of the finding;
``--hparams`` gives gradlog the momentum and batch size as a log's hyperparameters
would (off by default: the wide CSVs themselves carry none); ``--dump FILE`` writes the
measured signals of every run beside its labels (a CSV, for studying thresholds on the
tune split).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

import gradlog

HERE = Path(__file__).resolve().parent
FINDINGS = ("step_size_oscillation", "lr_limited_plateau", "divergence", "overfitting", "grad_norm_growth")
TARGETS = {"precision": 0.9, "recall": 0.8}


def _read_labels(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _features(run: gradlog.Run) -> dict[str, Any]:
    """The raw signals behind the findings (for --dump)."""
    from gradlog.analyzers.lr_plateau import decay_tests
    from gradlog.analyzers.oscillation import oscillation_signals

    out: dict[str, Any] = {}
    sig = oscillation_signals(run)
    if sig is not None:
        ph = sig["phases"]
        out.update({f"sig_{k}": int(v) for k, v in sig["signals"].items()})
        out["log_interval"] = sig["log_interval"]
        out["min_lag1"] = min((r["lag1_autocorr"] for r in ph), default=None)
        out["min_lag1_margin"] = min((r["lag1_autocorr"] - r["_lag1_threshold"] for r in ph), default=None)
        out["max_highfreq"] = max((r["highfreq_fraction"] for r in ph), default=None)
        out["amplitude"] = sig["amplitude"]
        out["amp_lr_slope"] = sig["amplitude_lr_slope"]
        out["max_amp_ratio"] = max((d["amplitude_ratio"] for d in sig["decays"]), default=None)
        out["max_first_order"] = max((r.get("first_order_ratio", float("nan")) for r in ph), default=None)
        out["first_order_phase0"] = ph[0].get("first_order_ratio") if ph else None
        out["max_grad_drop"] = max((d["grad_ratio"] for d in sig["grad_decays"]), default=None)
        v = sig["validation"]
        if v.get("available"):
            out["val_jitter"] = v["jitter"]
            out["val_lag1_margin"] = v["lag1_autocorr"] - v["lag1_threshold"]
            out["val_max_jitter_ratio"] = max((d["jitter_ratio"] for d in v["decays"]), default=None)
        gr = sig["grad"]
        if gr.get("available"):
            out["grad_corr"] = gr["loss_corr"]
            out["grad_lag1_margin"] = gr["lag1_autocorr"] - gr["lag1_threshold"]
    dt = decay_tests(run)
    if dt:
        best = max(dt, key=lambda t: t["drop_beyond_trend"])
        out["decay_best_beyond"] = best["drop_beyond_trend"]
        out["decay_best_z"] = best["z"]
        out["decay_best_observed"] = best["observed_drop"]
        out["decay_best_predicted"] = best["predicted_drop"]
    return out


def _analyze(
    row: dict[str, str], base: Path, hparams: bool, features: bool
) -> tuple[set[str], dict[str, Any], float, dict[str, Any]]:
    t0 = time.perf_counter()
    run = gradlog.load(base / row["run"])
    if hparams:
        run.meta.setdefault("hparams", {})
        run.meta["hparams"].update(
            {"momentum": float(row["momentum"]), "batch_size": int(float(row["batch_size"]))}
        )
    report = gradlog.analyze(run)
    found = {f.id for f in report.findings}
    details = {f.id: f for f in report.findings}
    dt = time.perf_counter() - t0
    feats = _features(run) if features else {}
    return found, details, dt, feats


def _score(rows: list[dict[str, Any]], fid: str) -> dict[str, Any]:
    tp = fp = fn = tn = gray = 0
    for r in rows:
        if fid in r["gray"]:
            gray += 1
            continue
        truth = r[fid] == "1"
        pred = fid in r["_found"]
        tp += truth and pred
        fp += (not truth) and pred
        fn += truth and not pred
        tn += (not truth) and not pred
    prec = tp / (tp + fp) if tp + fp else float("nan")
    rec = tp / (tp + fn) if tp + fn else float("nan")
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "gray": gray, "precision": prec, "recall": rec}


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _fmt(x: float) -> str:
    return "  n/a" if x != x else f"{x:5.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, default=HERE / "labels.csv")
    ap.add_argument(
        "--split",
        choices=("tune", "holdout", "all"),
        default="all",
        help="which runs to analyse (default all; scores are printed per split)",
    )
    ap.add_argument("--errors", action="store_true", help="list every misclassified run")
    ap.add_argument(
        "--hparams",
        action="store_true",
        help="pass momentum and batch size to gradlog as logged hyperparameters",
    )
    ap.add_argument("--dump", type=Path, default=None, help="write per-run signals to this CSV")
    args = ap.parse_args(argv)
    if not args.labels.exists():
        print(f"error: {args.labels} not found; run bench/diagnosis/generate.py first", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = [
        r for r in _read_labels(args.labels) if args.split == "all" or r["split"] == args.split
    ]
    base = args.labels.parent
    t_all = time.perf_counter()
    slowest = 0.0
    for r in rows:
        r["gray"] = [g for g in r.get("gray", "").split(";") if g]
        try:
            r["_found"], r["_details"], dt, r["_features"] = _analyze(
                r, base, args.hparams, args.dump is not None
            )
            slowest = max(slowest, dt)
        except gradlog.GradlogError as e:
            print(f"error: {r['run']}: {e}", file=sys.stderr)
            r["_found"], r["_details"], r["_features"] = set(), {}, {}
    elapsed = time.perf_counter() - t_all

    splits = ["tune", "holdout", "all"] if args.split == "all" else [args.split]
    print(f"{len(rows)} runs analysed in {elapsed:.1f} s (slowest {slowest:.2f} s)\n")
    header = (
        f"{'finding':24s} {'split':8s} {'prec':>5s} {'rec':>5s}  {'TP':>3s} {'FP':>3s} {'FN':>3s} "
        f"{'TN':>3s} {'gray':>4s}  count"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for fid in FINDINGS:
        for sp in splits:
            sub = rows if sp == "all" else [r for r in rows if r["split"] == sp]
            s = _score(sub, fid)
            count = sum(fid in r["_found"] for r in sub)
            flag = ""
            if not (s["precision"] != s["precision"] or s["precision"] >= TARGETS["precision"]):
                flag += " <prec"
                ok = False
            if not (s["recall"] != s["recall"] or s["recall"] >= TARGETS["recall"]):
                flag += " <rec"
                ok = False
            print(
                f"{fid:24s} {sp:8s} {_fmt(s['precision'])} {_fmt(s['recall'])}  {s['tp']:3d} {s['fp']:3d} "
                f"{s['fn']:3d} {s['tn']:3d} {s['gray']:4d}  {count:5d}{flag}"
            )
    others: dict[str, int] = {}
    for r in rows:
        for fid in r["_found"]:
            if fid not in FINDINGS:
                others[fid] = others.get(fid, 0) + 1
    if others:
        print("\nother findings (no labels): " + ", ".join(f"{k} {v}" for k, v in sorted(others.items())))
    hard = [r for r in rows if r.get("hard_negative") == "1"]
    n_osc = sum("step_size_oscillation" in r["_found"] for r in hard)
    print(f"\nstep_size_oscillation on hard negatives: {n_osc} of {len(hard)} (target 0)")
    ok = ok and n_osc == 0

    if args.errors:
        print("\nmisclassified:")
        for r in rows:
            for fid in FINDINGS:
                if fid in r["gray"]:
                    continue
                truth, pred = r[fid] == "1", fid in r["_found"]
                if truth != pred:
                    kind = "FN" if truth else "FP"
                    print(f"  {kind} {fid:22s} [{r['split']}] {r['run']}")
                    f = r["_details"].get(fid)
                    if f is not None:
                        print(f"      {f.summary}")
    if args.dump is not None:
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r["_features"] if k not in keys]
        base_cols = ["run", "group", "split", "hard_negative", "gray", *FINDINGS]
        with args.dump.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow([*base_cols, "found", *keys])
            for r in rows:
                w.writerow(
                    [
                        *(";".join(r[c]) if c == "gray" else r.get(c, "") for c in base_cols),
                        ";".join(sorted(r["_found"])),
                        *(_cell(r["_features"].get(k)) for k in keys),
                    ]
                )
        print(f"signals written to {args.dump}")
    print("\ntargets met" if ok else "\ntargets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
