"""No report contradicts itself: analyze every run we hold (the independent validation
set, the real corpus, the bundled samples) and assert that none of the forbidden pairs of
the LR-verdict issue occurs, and that the verdict rests on the findings it names."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest

import gradlog
from gradlog.analyzers.overfitting import metric_since
from gradlog.analyzers.verdict import still_falling
from gradlog.errors import GradlogError

REPO = Path(__file__).resolve().parents[1]
VALIDATION = REPO.parent / "shared" / "validation" / "runs"
CORPUS = REPO.parent / "shared" / "corpus"
SAMPLES = REPO / "sample_logs"

BLOWN = {"divergence", "step_size_oscillation"}


def _says_stop(rec: str) -> bool:
    r = rec.lower()
    return r.startswith("stop") or "stop earlier" in r or "before stopping" in r or "could have stopped" in r


def _says_decay_or_lower(rec: str) -> bool:
    r = rec.lower()
    return r.startswith(("decay the lr", "lower the lr", "decay the learning", "lower the learning"))


def contradictions(report) -> list[str]:
    """Return the forbidden pairs found in one report (empty when it is coherent)."""
    out: list[str] = []
    ids = {f.id for f in report.findings}
    a = report.lr_advice
    too_large = [f for f in report.findings if f.id in ("step_size_oscillation", "divergence")]
    for f in report.findings:
        if f.id == "noisy_loss":
            for o in too_large:
                if (
                    f.step_range is None
                    or o.step_range is None
                    or (f.step_range[0] <= o.step_range[1] and o.step_range[0] <= f.step_range[1])
                ):
                    out.append(f"noisy_loss ('nothing is wrong') beside {o.id} on the same steps")
    falling = still_falling(report.run)
    if falling is not None and not (ids & BLOWN):
        if a.action in ("lower", "decay_now"):
            out.append(f"LR {a.action} while the loss still falls steadily at the end")
        for f in report.findings:
            # lr_limited_plateau's "decay earlier" is about a past decay; "one more decay" is now
            now = f.id != "lr_limited_plateau" or "one more decay" in f.recommendation
            if now and (_says_stop(f.recommendation) or _says_decay_or_lower(f.recommendation)):
                out.append(f"{f.id} says stop/decay while the loss still falls steadily at the end")
    for f in report.findings:
        if _says_stop(f.recommendation) and f.step_range is not None:
            gain = metric_since(report.run, int(f.step_range[0]), math.inf)
            if gain is not None and gain["improved"]:
                out.append(f"{f.id} says stop while the validation metric still improves")
    if a.action == "raise" and ids & BLOWN:
        out.append("raise beside oscillation or divergence")
    if a.action == "raise":
        for f in report.findings:
            r = f.recommendation.lower()
            lower = "lower the lr" in r or "decay the lr" in r or "lower the learning" in r
            if lower and "only if" not in r:  # a conditional ("only if it starts rising") is no advice
                out.append(f"raise beside {f.id} advising to lower the LR")
    # the verdict rests on findings of the same report
    need = {
        "lower": BLOWN | {"nonfinite_values"},
        "raise": {"lr_too_small"},
        "decay_now": {"lr_limited_plateau"},
        "decay_earlier": {"lr_limited_plateau"},
    }
    if a.action in need and not (ids & need[a.action]):
        out.append(f"LR {a.action} without the findings it rests on")
    if not set(a.finding_ids) <= ids:
        out.append(f"LR verdict cites findings not in the report: {set(a.finding_ids) - ids}")
    return out


def _reports(paths: list[Path]):
    for p in paths:
        try:
            runs = gradlog.load_all(p) if p.is_dir() else [gradlog.load(p)]
        except GradlogError:
            continue
        for run in runs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield p, gradlog.analyze(run)


def _check(paths: list[Path]) -> None:
    bad = {f"{p} ({r.run.name})": c for p, r in _reports(paths) if (c := contradictions(r))}
    assert bad == {}


def test_validation_runs_are_coherent():
    if not VALIDATION.is_dir():
        pytest.skip("../shared/validation is not present")
    _check(sorted(VALIDATION.glob("v*/metrics.csv")))


@pytest.mark.corpus
def test_corpus_logs_are_coherent():
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    import csv

    with open(CORPUS / "MANIFEST.tsv", newline="", encoding="utf-8") as fh:
        files = [CORPUS / r["file"] for r in csv.DictReader(fh, delimiter="\t")]
    _check([f for f in files if f.exists()])


def test_samples_are_coherent():
    paths = [
        SAMPLES / "pytorch_cnn" / "train_log.csv",
        SAMPLES / "pytorch_cnn" / "trainer_state.json",
        SAMPLES / "pytorch_cnn_high_lr" / "train_log.csv",
        SAMPLES / "caffe_numpy_cnn.log",
        SAMPLES / "caffe_numpy_cnn_debug.log",
    ]
    _check([p for p in paths if p.exists()])


def test_the_checker_sees_a_contradiction():
    # the checker itself must be able to fail: a raise verdict beside a divergence
    import dataclasses

    import numpy as np

    from gradlog.analyzers.synthetic import make_run

    t = np.arange(200)
    loss = np.where(t < 100, 1.0, 50.0)
    rep = gradlog.analyze(make_run({"train/loss": (t, loss), "train/lr": (t, np.full(200, 0.1))}))
    assert "divergence" in {f.id for f in rep.findings}
    rep.lr_advice = dataclasses.replace(rep.lr_advice, action="raise")
    assert "raise beside oscillation or divergence" in contradictions(rep)
