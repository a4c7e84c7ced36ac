"""Renderers: the JSON schema and strict JSON, the terminal text, Markdown and HTML
(escaping of everything that comes from a log, safe figure file names), notebook views."""

from __future__ import annotations

import base64
import json
import math
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import jsonschema  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gradlog  # noqa: E402
from gradlog.findings import FINDING_IDS, Finding, Trend  # noqa: E402
from gradlog.frame import build_frame  # noqa: E402
from gradlog.render._common import evidence_line, fmt_num, safe_filename  # noqa: E402
from gradlog.render.html import render_html  # noqa: E402
from gradlog.render.jsonout import reports_dict, reports_json, schema  # noqa: E402
from gradlog.render.markdown import md_escape, render_markdown  # noqa: E402
from gradlog.render.text import render_text  # noqa: E402

HOSTILE = "<script>alert(1)</script>"
FINDING_FIELDS = [
    "id",
    "severity",
    "summary",
    "tags",
    "step_range",
    "confidence",
    "evidence",
    "explanation",
    "recommendation",
    "references",
]


def _run(name: str = "run.log", extra_tag: str | None = None, nan_at: int | None = None) -> gradlog.Run:
    """Loss 2.0 -> ~1.0 over steps 0..990 (every 10), LR 0.1 -> 0.01 at 500, test loss."""
    rng = np.random.default_rng(7)
    steps = np.arange(0, 1000, 10)
    loss = 1.0 + np.exp(-steps / 200) + rng.normal(0, 0.01, steps.size)
    if nan_at is not None:
        loss[steps == nan_at] = np.nan
    lr = np.where(steps < 500, 0.1, 0.01)
    tags = ["train/loss"] * 100 + ["train/lr"] * 100 + ["test0/loss"] * 10
    st = np.concatenate([steps, steps, steps[::10]])
    vals = np.concatenate([loss, lr, loss[::10] + 0.2])
    if extra_tag:
        tags += [extra_tag] * 3
        st = np.concatenate([st, [0, 10, 20]])
        vals = np.concatenate([vals, [1.0, 2.0, 3.0]])
    frame, _ = build_frame(tags, st, vals)
    meta = {
        "name": name,
        "source": f"/logs/{name}",
        "format": "caffe",
        "step_unit": "iteration",
        "skipped": {"non_glog_lines": 2},
        "hparams": {"base_lr": 0.1, "note": HOSTILE},
        "warnings": [f"line 9: cannot parse {HOSTILE}"],
    }
    return gradlog.Run(frame, meta)


def _findings() -> list[Finding]:
    phases = [
        {"start": 0, "end": 490, "lr": 0.1, "amplitude": 0.05, "lag1_autocorr": -0.45},
        {"start": 500, "end": 990, "lr": 0.01, "amplitude": 0.01, "lag1_autocorr": 0.1},
    ]
    return [
        Finding(
            "loss_plateau",
            "info",
            "The loss stopped improving after step 700.",
            tags=("train/loss",),
            step_range=(700, 990),
            confidence=0.7,
            evidence={"plateau_start_step": 700, "improvement": 0.0021},
            recommendation="Decay the LR around step 700.",
        ),
        Finding(
            "divergence",
            "critical",
            "The loss blew up at step 900.",
            tags=("train/loss",),
            step_range=(900, 990),
            confidence=0.95,
            evidence={"ratio_to_min": float("inf")},
            explanation="The step grew larger than the curvature allows.",
            recommendation="Lower the LR about 3x.",
            references=("https://example.org/a?b=1&c=2", "javascript:alert(1)"),
        ),
        Finding(
            "step_size_oscillation",
            "warning",
            "The loss bounces with the LR.",
            tags=("train/loss", HOSTILE),
            step_range=(0, 490),
            confidence=0.8,
            evidence={"phases": phases, "amplitude_lr_slope": 0.7, "p": np.float64(0.004)},
            recommendation="Try an LR about 3x lower (0.03).",
        ),
    ]


def _trends() -> list[Trend]:
    return [
        Trend(
            tag="train/loss",
            role="loss",
            scope="run",
            step_start=0,
            step_end=990,
            n=100,
            log_space=True,
            slope=-0.21,
            slope_low=-0.25,
            slope_high=-0.18,
            intercept=0.3,
            p_value=0.0002,
            test="Mann-Kendall",
            fold_change=0.52,
            start_level=2.0,
            end_level=1.04,
            direction="falling",
        ),
        Trend(
            tag="train/loss",
            role="loss",
            scope="lr_phase 1",
            step_start=500,
            step_end=990,
            n=50,
            log_space=True,
            slope=-0.001,
            slope_low=float("nan"),
            slope_high=0.004,
            intercept=0.02,
            p_value=0.41,
            test="Mann-Kendall",
            fold_change=1.0,
            start_level=1.05,
            end_level=1.04,
            direction="flat",
        ),
    ]


def _report(**kw) -> gradlog.Report:
    return gradlog.Report(
        run=_run(**kw),
        findings=_findings(),
        trends=_trends(),
        not_assessable=[{"id": "grad_norm_growth", "reason": "no gradient statistics"}],
    )


# -- JSON ------------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-strict JSON token {name}")


def test_json_validates_against_the_schema_and_is_strict() -> None:
    text = reports_json([_report(nan_at=300), _report(name="b.log")])
    doc = json.loads(text, parse_constant=_reject_constant)
    jsonschema.validate(doc, schema())
    assert doc["schema_version"] == gradlog.report.SCHEMA_VERSION
    assert doc["gradlog_version"] == gradlog.__version__
    assert [r["run"] for r in doc["runs"]] == ["run.log", "b.log"]
    run = doc["runs"][0]
    assert run["steps"] == {"first": 0, "last": 990, "count": 100}
    assert run["format"] == "caffe" and run["source"] == "/logs/run.log"
    assert run["roles"]["loss"] == "train/loss" and run["roles"]["grad"] == []
    assert run["meta"]["skipped"] == {"non_glog_lines": 2}
    loss = next(t for t in run["tags"] if t["tag"] == "train/loss")
    assert (loss["count"], loss["nonfinite"], loss["role"]) == (100, 1, "loss")
    # most severe first, every DESIGN.md field, inf evidence as null
    assert [f["id"] for f in run["findings"]] == ["divergence", "step_size_oscillation", "loss_plateau"]
    for f in run["findings"]:
        assert list(f) == FINDING_FIELDS
    div = run["findings"][0]
    assert div["step_range"] == [900, 990] and div["evidence"] == {"ratio_to_min": None}
    osc = run["findings"][1]
    assert osc["evidence"]["phases"][0] == {
        "start": 0,
        "end": 490,
        "lr": 0.1,
        "amplitude": 0.05,
        "lag1_autocorr": -0.45,
    }
    assert osc["evidence"]["p"] == 0.004
    assert run["trends"][1]["slope_low"] is None
    assert run["not_assessable"] == [{"id": "grad_norm_growth", "reason": "no gradient statistics"}]
    assert "NaN" not in text and "Infinity" not in text


def test_schema_lists_exactly_the_finding_ids_and_rejects_drift() -> None:
    sch = schema()
    assert set(sch["$defs"]["finding"]["properties"]["id"]["enum"]) == set(FINDING_IDS)
    doc = reports_dict([_report()])
    doc["runs"][0]["findings"][0]["confidence"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, sch)
    doc = reports_dict([_report()])
    del doc["runs"][0]["steps"]["count"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, sch)


def test_json_meta_with_odd_values_stays_plain_json(tmp_path) -> None:
    run = _run()
    run.meta["path_obj"] = tmp_path
    run.meta["np"] = {"a": np.float32(1.5), "b": np.array([1, 2]), "c": np.nan}
    run.meta["tuple"] = (1, float("-inf"))
    doc = json.loads(gradlog.Report(run=run).to_json(), parse_constant=_reject_constant)
    meta = doc["runs"][0]["meta"]
    assert meta["path_obj"] == str(tmp_path)
    assert meta["np"] == {"a": 1.5, "b": [1, 2], "c": None}
    assert meta["tuple"] == [1, None]


# -- text ------------------------------------------------------------------------------


def test_text_exact_for_a_tiny_run() -> None:
    frame, _ = build_frame(
        ["train/loss"] * 3 + ["train/lr"] * 3, [0, 10, 20] * 2, [2.0, 1.5, float("nan"), 0.1, 0.1, 0.01]
    )
    run = gradlog.Run(frame, {"name": "tiny.log", "format": "csv_long", "step_unit": "step"})
    f = Finding(
        "nonfinite_values",
        "critical",
        "The loss became NaN at step 20.",
        tags=("train/loss",),
        step_range=(20, 20),
        confidence=1.0,
        evidence={"first_step": 20, "count": 1},
        recommendation="Lower the LR.",
    )
    t = Trend(
        tag="train/loss",
        role="loss",
        scope="run",
        step_start=0,
        step_end=10,
        n=2,
        log_space=False,
        slope=-50.0,
        slope_low=-60.0,
        slope_high=-40.0,
        intercept=2.0,
        p_value=0.5,
        test="MK",
        fold_change=0.75,
        start_level=2.0,
        end_level=1.5,
        direction="flat",
    )
    rep = gradlog.Report(run=run, findings=[f], trends=[t])
    head = (
        "== tiny.log ====================================================================\n"
        "LR: unknown — No learning-rate verdict was computed.\n"
        "format: csv_long   steps: 0-20 (3 distinct)   tags: 2\n"
    )
    trend = (
        "Trends (change: end / start level; slope per 10 steps)\n"
        "  series                 role       steps          change   slope      p trend\n"
        "  train/loss             loss       0-10            ×0.75    -0.5  0.500 flat\n"
    )
    assert render_text([rep]) == (
        head + "\n"
        "Findings: 1 finding (1 critical)\n"
        "  CRITICAL nonfinite_values  step 20  confidence 1.00\n"
        "    The loss became NaN at step 20.\n"
        "    evidence: first_step=20; count=1\n"
        "    -> Lower the LR.\n"
        "\n" + trend
    )
    assert render_text([rep], verbose=True) == (
        head + "roles: loss=train/loss; lr=train/lr\n"
        "\n"
        "Findings: 1 finding (1 critical)\n"
        "  CRITICAL nonfinite_values  step 20  confidence 1.00\n"
        "    The loss became NaN at step 20.\n"
        "    tags: train/loss\n"
        "    evidence: first_step=20; count=1\n"
        "    -> Lower the LR.\n"
        "\n" + trend + "\n"
        "Tags\n"
        "  tag                          count      first       last        min role\n"
        "  train/loss                       3          2        nan        1.5 loss\n"
        "  train/lr                         3        0.1       0.01       0.01 lr\n"
    )


def test_text_orders_by_severity_fits_80_columns_and_colours_only_on_request() -> None:
    rep = _report(extra_tag="train/" + "a_very_long_layer_name" * 5)
    text = render_text([rep, gradlog.Report(run=_run(name="second.log"))])
    lines = text.splitlines()
    assert max(len(x) for x in lines) <= 80
    heads = [
        x.split()[0] for x in lines if x.startswith("  ") and x.split()[0] in ("CRITICAL", "WARNING", "INFO")
    ]
    assert heads == ["CRITICAL", "WARNING", "INFO"]
    assert [x for x in lines if x.startswith("== ")][1].startswith("== second.log ")
    assert "Findings: no findings" in text
    assert "\x1b[" not in text
    assert "  skipped 2 non glog lines" in lines
    assert "Not assessable" in lines and "  grad_norm_growth: no gradient statistics" in lines
    colored = render_text([rep], color=True)
    assert "\x1b[1;31mCRITICAL\x1b[0m" in colored and "\x1b[1;33mWARNING \x1b[0m" in colored
    wide = render_text([rep], width=120)
    assert max(len(x) for x in wide.splitlines()) <= 120


# -- Markdown --------------------------------------------------------------------------


def test_markdown_escapes_log_text_and_keeps_tables_intact(tmp_path) -> None:
    rep = _report(extra_tag="train/a|b " + HOSTILE)
    md = render_markdown([rep])
    assert "<script" not in md
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in md
    assert "![" not in md  # no figures without a directory
    row = next(x for x in md.splitlines() if "a\\|b" in x)
    assert row.count("|") - row.count("\\|") == 8  # 7 cells, pipes in the tag escaped
    assert "#### CRITICAL: `divergence` (steps 900-990, confidence 0.95)" in md
    assert "| 0 | 490 | 0.1 | 0.05 | -0.45 |" in md  # the per-phase evidence table
    assert md_escape("a_b*c[d](e)") == "a\\_b\\*c\\[d\\]\\(e\\)"


def test_markdown_writes_figures_with_safe_names(tmp_path) -> None:
    reps = [_report(name="../../etc/passwd\x00\n.log"), _report(name="../../etc/passwd\x00\n.log")]
    figdir = tmp_path / "out" / "figures"
    md = render_markdown(reps, figures_dir=figdir)
    files = sorted(p.name for p in figdir.iterdir())
    assert files == [
        "etc-passwd-.log-2_oscillation.png",
        "etc-passwd-.log-2_overview.png",
        "etc-passwd-.log_oscillation.png",
        "etc-passwd-.log_overview.png",
    ]
    assert not any(p for p in (tmp_path / "out").rglob("*") if p.parent not in (figdir, tmp_path / "out"))
    assert "](figures/etc-passwd-.log_overview.png)" in md
    assert "](figures/etc-passwd-.log-2_oscillation.png)" in md


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "etc-passwd"),
        ("/abs/path/run.log", "abs-path-run.log"),
        ("a\x00b\x1bc\nd", "a-b-c-d"),
        ("..", "run"),
        ("", "run"),
        ("CON", "run-CON"),
        ("grad_norm/conv1/0", "grad_norm-conv1-0"),
        ("Lösung", "Losung"),
        ("x" * 200, "x" * 80),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_number_and_evidence_formatting() -> None:
    assert [fmt_num(x) for x in (None, 3, 12345, 2.0, 0.000123456, float("nan"), float("-inf"), True)] == [
        "-",
        "3",
        "12,345",
        "2",
        "0.0001235",
        "nan",
        "-inf",
        "true",
    ]
    ev = {"steps": list(range(10)), "phases": [{"a": 1}], "name": "x\ny", "ratio": 2.5}
    assert evidence_line(ev) == (
        "steps=[0, 1, 2, 3, 4, 5, ... (10 in all)]; phases=[1 records]; name=x y; ratio=2.5"
    )


# -- HTML ------------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_and_escapes_everything_from_the_log() -> None:
    rep = _report(name=HOSTILE + ".log", extra_tag=HOSTILE)
    page = render_html([rep])
    assert "<script" not in page.lower()
    p = _Collector()
    p.feed(page)
    names = [t for t, _a in p.tags]
    assert not {"script", "iframe", "object", "embed", "link", "base"} & set(names)
    text = "".join(p.text)
    assert HOSTILE in text  # shown as text: in the title, heading, tag table, hparams, warning
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    csp = [
        a["content"] for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp == ["default-src 'none'; img-src data:; style-src 'unsafe-inline'"]
    imgs = [a["src"] for t, a in p.tags if t == "img"]
    assert len(imgs) == 2  # overview and oscillation (no gradient statistics in this run)
    for src in imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    external = [
        v
        for t, a in p.tags
        for k, v in a.items()
        if k in ("src", "href") and v and not v.startswith(("data:image/png;base64,", "#")) and t != "a"
    ]
    assert external == []
    links = [a["href"] for t, a in p.tags if t == "a"]
    assert links == ["https://example.org/a?b=1&c=2"]  # a javascript: reference stays text
    assert "<li>javascript:alert(1)</li>" in page
    arts = [a for t, a in p.tags if t == "article"]
    assert [(a["data-finding-id"], a["data-severity"]) for a in arts] == [
        ("divergence", "critical"),
        ("step_size_oscillation", "warning"),
        ("loss_plateau", "info"),
    ]


def test_html_several_runs_get_one_section_each_with_unique_anchors() -> None:
    page = render_html([_report(name="a b.log"), _report(name="a b.log")], figures=False)
    p = _Collector()
    p.feed(page)
    sections = [a["id"] for t, a in p.tags if t == "section"]
    assert sections == ["run-a-b.log", "run-a-b.log-2"]
    assert [a["href"] for t, a in p.tags if t == "a" and a["href"].startswith("#")] == [
        "#run-a-b.log",
        "#run-a-b.log-2",
    ]
    assert "<img" not in page


# -- notebook ----------------------------------------------------------------------------


def test_notebook_views() -> None:
    rep = _report(extra_tag=HOSTILE)
    run_html = rep.run._repr_html_().replace("<wbr>", "")
    assert "<script" not in run_html and "&lt;script&gt;" in run_html
    p = _Collector()
    p.feed(run_html)
    rows = [a for t, a in p.tags if t == "tr"]
    assert len(rows) >= 4 + 4  # facts table + header and a row per tag
    assert "test0/loss" in run_html and ">10<" in run_html  # its count
    frag = rep._repr_html_()
    assert frag.count("<img") == 1 and 'data-finding-id="divergence"' in frag
    assert "<html" not in frag and "<script" not in frag
    df = rep.to_frame()
    assert list(df["id"]) == ["divergence", "step_size_oscillation", "loss_plateau"]
    assert (df.loc[0, "step_start"], df.loc[0, "step_end"]) == (900, 990)
    assert json.loads(df.loc[0, "evidence"]) == {"ratio_to_min": None}
    assert math.isclose(rep.to_dict()["findings"][0]["confidence"], 0.95)


def test_text_report_fits_80_columns_with_huge_step_numbers():
    # steps in the tens of millions (Caffe at batch 1) must not widen the trend table
    from gradlog.analyzers.synthetic import make_run

    steps = np.arange(0, 80_000_000, 100_000)
    rng = np.random.default_rng(0)
    run = make_run(
        {
            "train/loss": (steps, 2.0 * np.exp(-steps / 3e7) * np.exp(rng.normal(0, 0.05, steps.size))),
            "train/lr": (steps, np.where(steps < 40_000_000, 0.01, 0.001)),
        }
    )
    rep = gradlog.analyze(run)
    text = rep.to_text()
    assert "slope per 10M iterations" in text  # a unit the slope reads in
    assert "40M-" not in text  # the per-phase rows only in the verbose report
    assert max(len(line) for line in text.splitlines()) <= 80
    verbose = rep.to_text(verbose=True)
    assert "40M-" in verbose  # the second LR phase, abbreviated
    assert max(len(line) for line in verbose.splitlines()) <= 80


def test_markdown_and_html_show_the_first_order_figure(tmp_path, bench_runs) -> None:
    # a run flagged by the first-order overshoot alone gets the figure that shows it
    name = "tanh_osc__tanh_illcond_lr0.33_b128_m0_const_s1.csv"
    rep = gradlog.analyze(gradlog.load(bench_runs / name))
    md = render_markdown([rep], figures_dir=tmp_path / "figures")
    assert f"](figures/{name}_first_order.png)" in md
    assert (tmp_path / "figures" / f"{name}_first_order.png").is_file()
    assert "decrease one step promises to first order" in md
    assert md.index("_oscillation.png)") < md.index("_first_order.png)")
    html = render_html([rep])
    assert html.count('<figure class="figure-first_order">') == 1
