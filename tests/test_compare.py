"""gradlog.compare: reading a sweep, the sweep-aware LR verdicts, edge cases, renderers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import gradlog
from gradlog.compare import Comparison, compare, folder_hparams, hparams_of
from gradlog.errors import GradlogError

REPO = Path(__file__).resolve().parents[1]
DIAG = REPO / "bench" / "diagnosis" / "runs"
VALIDATION = REPO.parent / "shared" / "validation" / "runs"

#: A real LR sweep in the repository: linear model, batch 128, momentum 0.9, constant LR.
LIN_SWEEP = [
    DIAG / f"{n}_b128_m0.9_const_s0.csv"
    for n in (
        "lin_tiny_lr__linear_illcond_lr0.002",
        "lin_good__linear_illcond_lr0.2",
        "lin_osc_m9__linear_illcond_lr0.5",
        "lin_diverge__linear_illcond_lr2.6",
    )
]


def write_sweep(
    root: Path,
    lrs=(0.001, 0.01, 0.1, 1.0),
    n: int = 1000,
    *,
    with_lr: bool = False,
    short: int | None = None,
    hparams: dict | None = None,
) -> list[Path]:
    """Write one ``lr<value>/metrics.csv`` per LR: the loss falls as exp(-0.05*lr*t) towards
    0.1 (multiplicative noise 5%); LRs >= 0.5 fall fast but bounce (period 2, amplitude
    0.6) for good. ``short``: the first run stops after that many steps."""
    rng = np.random.default_rng(0)
    paths = []
    for k, lr in enumerate(lrs):
        t = np.arange(n)
        rate = 0.005 if lr >= 0.5 else 0.05 * lr
        loss = (0.1 + 2.0 * np.exp(-rate * t)) * np.exp(rng.normal(0, 0.05, n))
        if lr >= 0.5:
            loss = loss + 0.6 * (1 + (-1) ** t) * (0.5 + 0.5 * np.exp(-t / 2000))
        m = short if (short is not None and k == 0) else n
        d = root / f"lr{lr:g}"
        d.mkdir(parents=True, exist_ok=True)
        lines = ["step,loss" + (",lr" if with_lr else "")]
        lines += [f"{i},{loss[i]:.6g}" + (f",{lr:g}" if with_lr else "") for i in range(m)]
        (d / "metrics.csv").write_text("\n".join(lines) + "\n")
        if hparams is not None:
            hp = {k2: (v[k] if isinstance(v, (list, tuple)) else v) for k2, v in hparams.items()}
            (d / "hparams.yaml").write_text("".join(f"{k2}: {v}\n" for k2, v in hp.items()))
        paths.append(d / "metrics.csv")
    return paths


def by_value(comp: Comparison) -> dict:
    return {r.value: r for r in comp.runs}


# -- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, expected",
    [
        ("runs/lr0.01/metrics.csv", {"lr": 0.01}),
        ("runs/lr=1e-3/train.csv", {"lr": 1e-3}),
        ("sweep/bs-32_lr3e-4/metrics.csv", {"lr": 3e-4, "batch_size": 32.0}),
        ("exp/learning_rate=0.5_wd_1e-4/log.csv", {"lr": 0.5, "weight_decay": 1e-4}),
        ("exp/cyclr0.5/log.csv", {}),  # "clr" is not "lr"
        ("good__mlp_digits_lr0.05_b32_m0.9_const_s0.csv", {"lr": 0.05}),
    ],
)
def test_folder_names_give_settings(path, expected):
    assert folder_hparams(path) == pytest.approx(expected)


def test_hparams_of_drops_places_and_names_and_keeps_seed(tmp_path):
    p = write_sweep(
        tmp_path,
        lrs=(0.1,),
        hparams={"lr": 0.1, "output_dir": "/x/y", "run_name": "a", "seed": 3, "batch_size": 64},
    )[0]
    hp = hparams_of(gradlog.load(p))
    assert hp["lr"] == 0.1 and hp["batch_size"] == 64 and hp["seed"] == 3
    assert "output_dir" not in hp and "run_name" not in hp


# -- the sweep ----------------------------------------------------------------------------


def test_synthetic_sweep_from_folder_names(tmp_path):
    comp = compare(write_sweep(tmp_path))
    assert comp.by == "lr"
    assert [r.value for r in comp.runs] == [0.001, 0.01, 0.1, 1.0]
    assert {r.value_source for r in comp.runs} == {"folder_name"}
    assert comp.usable_range == (0.1, 0.1)
    assert comp.best_run == "lr0.1/metrics.csv"
    assert comp.common_step == 999
    runs = by_value(comp)
    assert [runs[v].position for v in (0.001, 0.01, 0.1, 1.0)] == ["below", "below", "in", "above"]
    # the best run's smoothed end level is the asymptote 0.1 (+ the 2.0*exp(-5) left)
    assert runs[0.1].final_loss == pytest.approx(0.1 + 2 * math.exp(-5), rel=0.06)
    # below the range: raise, to the usable LR, with the sibling numbers
    low = runs[0.001].advice
    assert low.action == "raise" and low.scope == "sweep" and low.to_lr == pytest.approx(0.1)
    assert low.because[0]["finding"] == "sweep"
    sib = low.because[0]["evidence"]["siblings"]
    assert [s["lr"] for s in sib] == [0.1]
    assert sib[0]["loss_at_step"] == pytest.approx(runs[0.1].loss_at_common, rel=1e-3)
    assert low.run_action == runs[0.001].run_advice.action
    # above the range: lower, to the top of the range
    high = runs[1.0].advice
    assert high.action == "lower" and high.to_lr == pytest.approx(0.1)
    # the best run keeps its single-run verdict
    assert runs[0.1].advice is runs[0.1].run_advice
    assert comp.sentence.startswith("The usable LR range was 0.1 (best 0.1:")
    assert "below it the loss fell slowly (0.001: 1.98; 0.01: 1.33)" in comp.sentence


def test_real_sweep_in_repo_ranks_the_blown_up_run_last():
    comp = compare(LIN_SWEEP)
    runs = by_value(comp)
    assert comp.by == "lr" and sorted(runs) == [0.002, 0.2, 0.5, 2.6]
    assert comp.best_run.startswith("lin_good")
    assert comp.usable_range == (0.002, 0.5)
    div = runs[2.6]
    assert div.blew_up and div.rank is None and div.improvement == -math.inf
    assert div.advice.action == "lower" and div.advice.to_lr == pytest.approx(0.5)
    assert div.last_step == 36  # the last finite loss
    # ranked at the common end of the runs that did not blow up
    assert comp.common_step == 599
    assert runs[0.2].loss_at_common == pytest.approx(0.0412, abs=5e-4)
    assert comp.sentence.endswith("above it the runs diverged (2.6).")


def test_runs_of_different_lengths_are_ranked_at_the_shortest_common_step(tmp_path):
    comp = compare(write_sweep(tmp_path, short=400))
    assert comp.common_step == 399
    assert "shortest common step (399)" in comp.rule
    runs = by_value(comp)
    assert runs[0.001].last_step == 399 and runs[0.1].last_step == 999
    # the level at step 399 is not the end level for a run that went on
    assert runs[0.01].loss_at_common > runs[0.01].final_loss * 1.2
    assert comp.to_frame().loc[lambda f: f["lr"] == 0.01, "steps"].item() == 999


def test_one_run_has_nothing_to_compare(tmp_path):
    comp = compare(write_sweep(tmp_path, lrs=(0.1,)))
    assert len(comp.runs) == 1
    assert comp.sentence == "Only one run: nothing to compare."
    assert any("nothing to compare" in n for n in comp.notes)
    assert comp.runs[0].advice.scope == "run"
    assert comp.usable_range is None


def test_runs_without_any_setting_are_compared_on_their_curves(tmp_path):
    paths = []
    for name, rate in (("alpha", 0.01), ("beta", 0.002)):
        d = tmp_path / name
        d.mkdir()
        t = np.arange(300)
        (d / "metrics.csv").write_text(
            "step,loss\n" + "".join(f"{i},{1 + np.exp(-rate * i):.6g}\n" for i in t)
        )
        paths.append(d / "metrics.csv")
    comp = compare(paths)
    assert comp.by is None
    assert any("share no hyperparameter names" in n for n in comp.notes)
    assert comp.sentence.startswith("Compared on their curves only: alpha/metrics.csv improved most")
    assert all(r.advice.scope == "run" for r in comp.runs)
    assert [k for k, _ in comp.figures()] == ["curves"]


def test_warns_when_more_than_one_setting_differs(tmp_path):
    paths = write_sweep(
        tmp_path,
        lrs=(0.001, 0.1),
        with_lr=True,
        hparams={"lr": [0.001, 0.1], "batch_size": [32, 64], "momentum": 0.9},
    )
    comp = compare(paths)
    assert comp.by == "lr" and {r.value_source for r in comp.runs} == {"hparams"}
    assert comp.varied == {"batch_size": [32.0, 64.0], "lr": [0.001, 0.1]}
    assert comp.same["momentum"] == 0.9
    assert any(
        n.startswith("More than one setting differs between the runs (lr, batch_size)") for n in comp.notes
    )
    by_bs = compare(paths, by="batch_size")
    assert by_bs.by == "batch_size" and [r.value for r in by_bs.runs] == [32.0, 64.0]
    assert all(r.advice.scope == "run" for r in by_bs.runs)  # not an LR sweep: verdicts stay
    with pytest.raises(GradlogError, match=r"no value of 'dropout' for run lr0.001/metrics.csv"):
        compare(paths, by="dropout")


def test_reports_are_used_as_given_and_runs_are_analysed(tmp_path):
    paths = write_sweep(tmp_path, lrs=(0.01, 0.1))
    rep = gradlog.analyze(paths[0])
    comp = compare([rep, gradlog.load(paths[1])])
    assert comp.runs[0].report.run is rep.run
    assert comp.runs[0].run_advice is rep.lr_advice
    with pytest.raises(GradlogError, match="cannot compare a int"):
        compare([1, 2])
    with pytest.raises(GradlogError, match="no run to compare"):
        compare([])


# -- output -------------------------------------------------------------------------------


def test_json_document_follows_both_schemas(tmp_path):
    import jsonschema

    from gradlog.render.compare import comparison_schema
    from gradlog.render.jsonout import schema

    comp = compare(LIN_SWEEP)
    doc = json.loads(comp.to_json(), parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    jsonschema.Draft202012Validator.check_schema(comparison_schema())
    jsonschema.validate(doc, comparison_schema())
    jsonschema.validate({k: doc[k] for k in ("gradlog_version", "schema_version", "runs")}, schema())
    c = doc["comparison"]
    assert c["by"] == "lr" and c["values"] == [0.002, 0.2, 0.5, 2.6]
    assert c["usable_range"] == [0.002, 0.5] and c["best_run"].startswith("lin_good")
    blown = [r for r in c["runs"] if r["blew_up"]]
    assert len(blown) == 1 and blown[0]["improvement"] is None and blown[0]["rank"] is None
    adv = doc["runs"][3]["lr_advice"]
    assert adv["scope"] == "sweep" and adv["run_action"] == "lower" and adv["to_lr"] == 0.5
    assert adv["because"][0]["finding"] == "sweep"


def test_text_markdown_html_and_notebook_views(tmp_path):
    comp = compare(write_sweep(tmp_path))
    text = comp.to_text()
    assert "raise to 0.1 (was keep)" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    md = comp.to_markdown(figures_dir=tmp_path / "figs")
    assert "| 4 | lr0.001/metrics.csv | 0.001 | 999 | 1.98 |" in md
    assert "![curves](figs/compare_curves.png)" in md and (tmp_path / "figs" / "compare_sweep.png").is_file()
    page = comp.to_html()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "Content-Security-Policy" in page and page.count("<img ") == 2 + 4  # 2 sweep + 4 run figures
    frag = comp._repr_html_()
    assert '<table class="compare">' in frag and "<html" not in frag
    df = comp.to_frame()
    assert list(df["lr_advice"]) == ["raise", "raise", "keep", "lower"]
    assert list(df.columns[:3]) == ["run", "lr", "steps"]


def test_names_from_logs_are_escaped(tmp_path):
    d = tmp_path / "<b>x|y<i>_lr0.1"
    d.mkdir()
    write_sweep(tmp_path / "other", lrs=(0.01,))
    (d / "metrics.csv").write_text((tmp_path / "other" / "lr0.01" / "metrics.csv").read_text())
    comp = compare([d / "metrics.csv", tmp_path / "other" / "lr0.01" / "metrics.csv"])
    assert "<b>x" not in comp.to_html() and "&lt;b&gt;x" in comp.to_html()
    assert "\\|y" in comp.to_markdown()


# -- figures ------------------------------------------------------------------------------


def test_figures_take_ax_and_mark_what_happened():
    from matplotlib.figure import Figure

    from gradlog.plots_compare import plot_sweep, plot_sweep_curves

    comp = compare(LIN_SWEEP)
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_sweep_curves(comp, ax=ax) is ax
    gids = {a.get_gid() for a in ax.get_lines()}
    assert {f"curve:{r.name}" for r in comp.runs} <= gids
    assert any(g and g.startswith("blowup:lin_diverge") for g in gids)
    assert ax.get_yscale() == "log"
    cbar_ax = next(a for a in fig.axes if a is not ax)
    assert cbar_ax.get_ylabel() == "learning rate (LR) (log scale)"
    ax2 = plot_sweep(comp)
    assert ax2.get_xscale() == "log"
    g2 = {a.get_gid() for a in ax2.get_lines()} | {p.get_gid() for p in ax2.patches}
    assert {"final", "best", "blew_up", "usable_range"} <= g2
    final = next(a for a in ax2.get_lines() if a.get_gid() == "final")
    assert list(final.get_xdata()) == [0.002, 0.2, 0.5]  # the blown-up run is marked, not drawn
    assert comp.plot().axes


# -- validation sweeps (ground truth from instrumentation) --------------------------------

VAL_CASES = {
    # family A: logistic regression, LRs 0.003 .. 5; 0.3-1 did best, 2 and 5 bounced
    "A": (
        ("v25", "v02", "v55", "v50", "v28"),
        {"v25": ("raise", 0.3), "v50": ("lower", None), "v28": ("lower", None), "v02": ("keep", None)},
    ),
    # family P: the only usable LR (1) bounced: the 0.1 run is not sent there
    "P": (("v48", "v58", "v56"), {"v48": ("keep", None), "v58": ("lower", None)}),
    # family G: the motivating CNN; 0.001 and 0.003 are too small, 0.3 diverged
    "G": (
        ("v33", "v35", "v20", "v45", "v40", "v14"),
        {"v33": ("raise", 0.01), "v35": ("raise", 0.01), "v20": ("keep", None), "v14": ("lower", None)},
    ),
}


@pytest.mark.parametrize("family", sorted(VAL_CASES))
def test_validation_sweeps(family):
    if not VALIDATION.is_dir():
        pytest.skip("../shared/validation is not present")
    ids, want = VAL_CASES[family]
    # mixed formats: every other run from its TensorBoard copy
    paths = [VALIDATION / i / ("metrics.csv" if k % 2 else "tb") for k, i in enumerate(ids)]
    comp = compare(paths)
    got = {Path(r.source).parent.name: r for r in comp.runs}
    assert {r.report.run.meta["format"] for r in comp.runs} >= {"csv_wide"}
    assert len({r.report.run.meta["format"] for r in comp.runs}) == 2
    for rid, (action, to_lr) in want.items():
        adv = got[rid].advice
        assert adv.action == action, (rid, adv)
        if to_lr is not None:
            assert adv.to_lr == pytest.approx(to_lr)


def test_a_categorical_setting_is_compared_without_a_range(tmp_path):
    paths = write_sweep(tmp_path, lrs=(0.01, 0.1), hparams={"optimizer": ["sgd", "adam"]})
    comp = compare(paths, by="optimizer")
    assert [r.value for r in comp.runs] == ["sgd", "adam"]
    assert [r.hparams["optimizer"] for r in comp.runs] == ["sgd", "adam"]
    assert comp.usable_range is None
    assert "The optimizer values within 0.9 of the best improvement: adam." in comp.notes
    assert comp.sentence == "lr0.1/metrics.csv (optimizer=adam) did best (0.115 at step 999)."
    assert [k for k, _ in comp.figures()] == ["curves"]
