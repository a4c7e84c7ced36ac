"""Reports people read to the end: one card per kind and cause, the LR verdict first and
the same in every format, merged not-assessable reasons, runs with the same file name
told apart, and the bundled sample on one screen."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import gradlog  # noqa: E402
from gradlog.findings import Finding, LRAdvice  # noqa: E402
from gradlog.frame import build_frame  # noqa: E402
from gradlog.render._common import display_names, group_findings, group_not_assessable  # noqa: E402
from gradlog.render.html import render_html  # noqa: E402
from gradlog.render.markdown import md_escape, render_markdown  # noqa: E402
from gradlog.render.text import render_text  # noqa: E402

WHY = "A gradient norm that grows while the loss falls is common in SGD training."
TODO = "No action needed; watch the loss."


def _run(source: str) -> gradlog.Run:
    steps = np.arange(0, 1000, 10)
    frame, _ = build_frame(
        ["train/loss"] * 100 + ["train/lr"] * 100,
        np.concatenate([steps, steps]),
        np.concatenate([2.0 - steps / 1000, np.full(100, 0.1)]),
    )
    return gradlog.Run(frame, {"name": source.rsplit("/", 1)[-1], "source": source, "format": "csv_wide"})


def _growth(layer: str, fold: float, p: float) -> Finding:
    return Finding(
        "grad_norm_growth",
        "info",
        f"The gradient 2-norm of {layer} rose {fold}x.",
        tags=(f"grad_norm/{layer}",),
        step_range=(100, 990),
        confidence=0.9,
        evidence={"fold_change": fold, "p_value": p},
        explanation=WHY,
        recommendation=TODO,
    )


def _report(source: str = "/exp/a/train.log") -> gradlog.Report:
    findings = [
        _growth("conv3", 1.27, 1e-11),
        _growth("conv4", 1.44, 1e-8),
        _growth("fc1", 1.26, 0.003),
        Finding(
            "loss_plateau",
            "info",
            "The loss stopped improving after step 700.",
            tags=("train/loss",),
            step_range=(700, 990),
            confidence=0.7,
            evidence={"plateau_start_step": 700},
            explanation="Plateau.",
            recommendation="Decay the LR around step 700.",
        ),
    ]
    advice = LRAdvice(
        "decay_now",
        "Decay the learning rate now (to about 0.03).",
        step_range=(700, 990),
        lr=0.1,
        to_lr=0.03,
        confidence=0.7,
        because=({"finding": "loss_plateau", "evidence": {"plateau_start_step": 700}},),
    )
    na = [{"id": i, "reason": "no validation-loss series in the log"} for i in ("overfitting", "x")]
    na.append({"id": "vanishing_gradients", "reason": "fewer than 3 per-layer gradient series"})
    return gradlog.Report(run=_run(source), findings=findings, not_assessable=na, lr_advice=advice)


def test_findings_of_one_kind_and_cause_are_one_card_listing_the_layers() -> None:
    groups = group_findings(_report().findings)
    assert [(g.id, g.count) for g in groups] == [("grad_norm_growth", 3), ("loss_plateau", 1)]
    g = groups[0]
    assert g.labels == ["conv3", "conv4", "fc1"]
    assert g.member_rows() == [
        ("conv3", ["×1.27", "<0.001"]),
        ("conv4", ["×1.44", "<0.001"]),
        ("fc1", ["×1.26", "0.003"]),
    ]
    text = render_text([_report()])
    assert text.count("grad_norm_growth") == 1 and text.count(TODO) == 1
    assert "grad_norm_growth ×3  steps 100-990" in text
    assert "fold change: conv3 ×1.27 (p <0.001), conv4 ×1.44 (p <0.001), fc1 ×1.26 (p 0.003)" in " ".join(
        x.strip() for x in text.splitlines()
    )
    page = render_html([_report()], figures=False)
    assert page.count('data-finding-id="grad_norm_growth"') == 1 and 'data-count="3"' in page
    assert page.count(WHY) == 1 and page.count(TODO) == 1
    assert '<td class="num">×1.44</td>' in page
    md = render_markdown([_report()])
    assert md.count(md_escape(TODO)) == 1 and "| conv4 | ×1.44 | &lt;0.001 |" in md


def test_one_finding_whose_evidence_lists_its_layers_shows_them_as_a_table() -> None:
    layers = [
        {"tag": f"grad_norm/{n}", "layer": n, "fold_change": f, "p_value": 1e-9}
        for n, f in (("conv4", 1.44), ("total", 1.2))
    ]
    f = Finding(
        "grad_norm_growth",
        "info",
        "The gradient 2-norms of conv4 and total rose.",
        tags=("grad_norm/conv4", "grad_norm/total"),
        step_range=(400, 3999),
        evidence={"fold_change": 1.44, "layers": layers},
        recommendation=TODO,
    )
    (g,) = group_findings([f])
    assert g.member_rows() == [("conv4", ["×1.44", "<0.001"]), ("total", ["×1.2", "<0.001"])]
    page = render_html([gradlog.Report(run=_run("/r/t.log"), findings=[f])], figures=False)
    assert '<table class="members">' in page and '<td class="num">×1.2</td>' in page


def test_the_lr_verdict_comes_first_and_reads_the_same_in_every_format() -> None:
    rep = _report()
    line = rep.lr_advice.line()
    assert line == "LR: decay_now \u2014 Decay the learning rate now (to about 0.03)."
    text = render_text([rep]).splitlines()
    assert text[1] == line  # right after the run's header
    md = render_markdown([rep])
    assert f"**{md_escape(line)}**" in md and md.index(md_escape(line)) < md.index("### Findings")
    page = render_html([rep], figures=False)
    assert f'<p class="lr-advice">{line}</p>' in page
    assert page.index("lr-advice") < page.index("data-finding-id")


def test_identical_not_assessable_reasons_are_merged() -> None:
    rep = _report()
    assert group_not_assessable(rep.not_assessable) == [
        (["overfitting", "x"], "no validation-loss series in the log"),
        (["vanishing_gradients"], "fewer than 3 per-layer gradient series"),
    ]
    text = render_text([rep])
    assert text.count("no validation-loss series in the log") == 1
    assert "  overfitting, x: no validation-loss series in the log" in text.splitlines()
    assert render_html([rep], figures=False).count("no validation-loss series") == 1


def test_runs_with_the_same_file_name_are_told_apart_by_the_shortest_path() -> None:
    assert display_names(
        ["train.log", "train.log", "other.log"], ["/exp/a/train.log", "/exp/b/train.log", "/exp/a/other.log"]
    ) == ["a/train.log", "b/train.log", "other.log"]
    assert display_names(["t.log", "t.log"], ["/x/run/1/t.log", "/y/run/1/t.log"]) == [
        "x/run/1/t.log",
        "y/run/1/t.log",
    ]
    reps = [_report("/exp/a/train.log"), _report("/exp/b/train.log")]
    page = render_html(reps, figures=False)
    assert "<h2>a/<wbr>train.<wbr>log</h2>" not in page  # no <wbr> after a dot
    assert "<h2>a/<wbr>train.log</h2>" in page and "<h2>b/<wbr>train.log</h2>" in page
    md = render_markdown(reps)
    assert "## a/train.log" in md and "## b/train.log" in md


def test_the_bundled_sample_fits_one_screen(samples) -> None:
    rep = gradlog.analyze(samples / "pytorch_cnn" / "train_log.csv")
    lines = rep.to_text().splitlines()
    assert len(lines) <= 45 and max(len(x) for x in lines) <= 80
    assert lines[1].startswith("LR: ")
    assert sum(1 for x in lines if "grad_norm_growth" in x) == 1
    # one trend line per role-bearing series; the per-phase lines and tags only verbose
    roles = {t.tag for t in rep.trends}
    assert sum(1 for x in lines if x.split()[:1] and x.split()[0] in roles) == len(roles)
    verbose = rep.to_text(verbose=True).splitlines()
    assert any(x.strip().startswith("phase 1") for x in verbose) and "Tags" in verbose
    assert not any(x.strip().startswith("phase 1") for x in lines) and "Tags" not in lines


def test_a_group_without_common_numbers_keeps_each_members_own_summary() -> None:
    rec = "Keep the checkpoint with the best validation accuracy."
    fs = [
        Finding(
            "loss_plateau",
            "info",
            f"The {w} loss stopped improving around epoch 8.",
            tags=(t,),
            step_range=(8, 23),
            confidence=0.8,
            evidence={"plateau_start_step": 8},
            recommendation=rec,
        )
        for w, t in (("training", "train/loss"), ("validation", "val/loss"))
    ]
    rep = gradlog.Report(run=_run("/r/t.log"), findings=fs)
    text = render_text([rep])
    assert text.count(rec) == 1 and "loss_plateau ×2" in text
    assert "    - The training loss stopped improving around epoch 8." in text.splitlines()
    assert "    - The validation loss stopped improving around epoch 8." in text.splitlines()
    page = render_html([rep], figures=False)
    assert page.count(rec) == 1 and "<li>The validation loss stopped improving" in page
