"""Figures: the expected artists (a line per layer, decay markers, findings drawn), log
axes, the statistic named on the axis, and no pyplot state or backend forced on import."""

from __future__ import annotations

import functools
import struct
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import gradlog  # noqa: E402
from gradlog import plots  # noqa: E402
from gradlog.findings import Finding, Trend  # noqa: E402
from gradlog.frame import build_frame  # noqa: E402
from gradlog.series import ema_debiased  # noqa: E402

LAYERS = ("conv1", "conv2", "conv10", "fc6")


def _run(prefix: str = "grad_absmean", blob: str = "/0", seed: int = 3) -> gradlog.Run:
    """A step-schedule run: LR 0.01 -> 0.001 at 2000 -> 0.0001 at 4000, a spike at 3000."""
    rng = np.random.default_rng(seed)
    steps = np.arange(0, 6001, 20)
    lr = np.where(steps < 2000, 0.01, np.where(steps < 4000, 0.001, 1e-4))
    loss = 0.5 + 1.5 * np.exp(-steps / 600) + rng.normal(0, 0.02, steps.size)
    loss[steps == 3000] += 1.0
    tags, st, vals = [], [], []
    for tag, s, v in [
        ("train/loss", steps, loss),
        ("train/lr", steps, lr),
        ("val/loss", steps[::25], loss[::25] + 0.1),
    ]:
        tags += [tag] * len(s)
        st += list(s)
        vals += list(v)
    for i, layer in enumerate(LAYERS):
        g = 10.0 ** (-2 - i) * np.exp(steps / 6000) * np.exp(rng.normal(0, 0.1, steps.size))
        tags += [f"{prefix}/{layer}{blob}"] * len(steps)
        st += list(steps)
        vals += list(g)
    frame, _ = build_frame(tags, st, vals)
    return gradlog.Run(frame, {"name": "synthetic", "format": "caffe", "step_unit": "iteration"})


def _report(run: gradlog.Run) -> gradlog.Report:
    grads = run.roles["grad"]
    trends = [
        Trend(
            tag=t,
            role="grad",
            scope="run",
            step_start=0,
            step_end=6000,
            n=301,
            log_space=True,
            slope=0.07,
            slope_low=0.05,
            slope_high=0.09,
            intercept=float(np.log10(run.series(t).iloc[0])),
            p_value=1e-4,
            test="MK",
            fold_change=2.63,
            start_level=float(run.series(t).iloc[0]),
            end_level=float(run.series(t).iloc[0]) * 10**0.42,
            direction="rising",
        )
        for t in grads
    ]
    trends.append(
        Trend(
            tag="train/loss",
            role="loss",
            scope="lr_phase 1",
            step_start=2000,
            step_end=3980,
            n=100,
            log_space=False,
            slope=-0.01,
            slope_low=-0.02,
            slope_high=0.0,
            intercept=0.53,
            p_value=0.2,
            test="MK",
            fold_change=0.96,
            start_level=0.53,
            end_level=0.51,
            direction="flat",
        )
    )
    phases = [
        {"start": 0, "end": 1980, "lr": 0.01, "amplitude": 0.3, "lag1_autocorr": -0.5},
        {"start": 2000, "end": 3980, "lr": 0.001, "amplitude": 0.05, "lag1_autocorr": 0.0},
    ]
    findings = [
        Finding(
            "grad_norm_growth",
            "warning",
            "Gradients rose.",
            tags=tuple(grads),
            step_range=(1000, 6000),
            confidence=0.8,
            evidence={"fold_change": 2.7},
        ),
        Finding(
            "loss_plateau",
            "info",
            "Plateau.",
            tags=("train/loss",),
            step_range=(4500, 6000),
            confidence=0.7,
            evidence={"plateau_start_step": 4500},
        ),
        Finding(
            "loss_spikes",
            "info",
            "A spike.",
            tags=("train/loss",),
            step_range=(3000, 3000),
            confidence=0.6,
            evidence={"spike_steps": [3000]},
        ),
        Finding(
            "step_size_oscillation",
            "warning",
            "Oscillation.",
            tags=("train/loss",),
            step_range=(0, 1980),
            confidence=0.7,
            evidence={"phases": phases},
        ),
    ]
    return gradlog.Report(run=run, findings=findings, trends=trends)


def _ax() -> matplotlib.axes.Axes:
    return Figure(figsize=(8, 4)).add_subplot()


def _xspan(artist) -> tuple[float, float]:
    """The x extent of an axvspan (a Rectangle in matplotlib >= 3.9, a Polygon before)."""
    if hasattr(artist, "get_width"):
        return (artist.get_x(), artist.get_x() + artist.get_width())
    xs = np.asarray(artist.get_xy())[:, 0]
    return (xs.min(), xs.max())


def _gids(fig: Figure) -> dict[str, list]:
    out: dict[str, list] = {}
    for ax in fig.axes:
        for art in [*ax.lines, *ax.patches, *ax.collections, *ax.texts]:
            if art.get_gid():
                out.setdefault(art.get_gid(), []).append(art)
    return out


def test_grad_norms_one_line_per_layer_on_a_log_axis() -> None:
    run = _run()
    rep = _report(run)
    ax = _ax()
    assert plots.plot_grad_norms(rep, ax=ax, relative=False) is ax
    gids = _gids(ax.figure)
    layer_lines = [g for g in gids if g.startswith("grad:")]
    assert sorted(layer_lines) == sorted(f"grad:grad_absmean/{x}/0" for x in LAYERS)
    assert ax.get_yscale() == "log"
    # natural layer order in the legend, without the shared prefix and blob index
    assert [t.get_text() for t in ax.get_legend().get_texts()][:4] == [
        "conv1 ↑",
        "conv2 ↑",
        "conv10 ↑",
        "fc6 ↑",
    ]  # all four named by the growth finding
    # the smoothed line is TensorBoard's debiased EMA (weight 0.6) of the values
    line = gids["grad:grad_absmean/conv1/0"][0]
    raw = run.series("grad_absmean/conv1/0").to_numpy()
    np.testing.assert_allclose(line.get_ydata(), ema_debiased(raw, 0.6))
    # a fitted trend per layer, through the trend's own line
    trend_line = gids["trend:grad_absmean/fc6/0:run"][0]
    assert trend_line.get_ydata()[0] == pytest.approx(run.series("grad_absmean/fc6/0").iloc[0])
    assert trend_line.get_ydata()[-1] == pytest.approx(trend_line.get_ydata()[0] * 10 ** (0.07 * 6))
    # the LR decays, and the gradient finding shaded over its step range
    assert sorted(g for g in gids if g.startswith("decay:")) == ["decay:2000", "decay:4000"]
    span = gids["finding:grad_norm_growth"][0]
    assert _xspan(span) == (1000, 6000)
    assert "mean |gradient|" in ax.get_ylabel() and "Caffe" in ax.get_ylabel()
    # by default (a growth finding gives the window, 1000-6000): each layer relative to
    # its level at the window's start (the median of its first tenth, without evidence)
    ax = plots.plot_grad_norms(rep, ax=_ax())
    gids = _gids(ax.figure)
    raw = run.series("grad_absmean/conv1/0")
    ref = float(np.median(raw.loc[1000:1500].to_numpy()))
    np.testing.assert_allclose(
        gids["grad:grad_absmean/conv1/0"][0].get_ydata(), ema_debiased(raw.to_numpy() / ref, 0.6)
    )
    assert not [g for g in gids if g.startswith("trend:")]  # straight lines only when absolute
    assert "transient" in gids and ax.get_ylabel().endswith("/ level at iteration 1,000")


def test_grad_norm_axis_names_the_l2_norm() -> None:
    run = _run(prefix="grad_norm", blob="")
    ax = plots.plot_grad_norms(run, ax=_ax())
    assert ax.get_ylabel() == "gradient L2 norm"
    assert len([g for g in _gids(ax.figure) if g.startswith("grad:")]) == len(LAYERS)


def test_grad_norms_many_layers_colour_eight_and_grey_the_rest() -> None:
    steps = np.arange(0, 100)
    tags = [f"grad_norm/layer{i}" for i in range(12)]
    frame, _ = build_frame(np.repeat(tags, len(steps)), np.tile(steps, 12), np.tile(steps + 1.0, 12))
    run = gradlog.Run(frame, {"name": "deep"})
    ax = plots.plot_grad_norms(run, ax=_ax())
    coloured = [a for a in ax.lines if (a.get_gid() or "").startswith("grad:")]
    rest = [a for a in ax.lines if (a.get_gid() or "").startswith("grad_rest:")]
    assert (len(coloured), len(rest)) == (8, 4)
    assert len({matplotlib.colors.to_hex(a.get_color()) for a in coloured}) == 8
    assert {matplotlib.colors.to_hex(a.get_color()) for a in rest} == {"#bbbbbb"}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend.count("other layers (4)") == 1 and len(legend) == 9
    # the layers a finding names always get a colour
    f = Finding(
        "grad_norm_growth",
        "info",
        "layer5 rose.",
        tags=("grad_norm/layer5",),
        step_range=(10, 99),
        evidence={"fold_change": 1.3, "start_level": 11.0, "window": [10, 99]},
    )
    ax = plots.plot_grad_norms(gradlog.Report(run=run, findings=[f]), ax=_ax())
    gids = _gids(ax.figure)
    assert "grad:grad_norm/layer5" in gids
    assert "layer5 ↑ ×1.3" in [t.get_text() for t in ax.get_legend().get_texts()]
    # relative to the evidence's start level: 11 at step 10 reads as 1 (the values are
    # 1..100, drawn as they are: 100 points is more than the 40 that get smoothed)
    y = gids["grad:grad_norm/layer5"][0].get_ydata()
    assert y[10] == pytest.approx(ema_debiased(np.arange(1.0, 101.0) / 11.0, 0.6)[10])


def test_grad_norms_cut_the_early_transient_from_the_y_range() -> None:
    # a 1,000x spike in the first steps, then a 1.3x rise over the analysed window
    steps = np.arange(0, 1000)
    g = np.where(steps < 50, 1000.0, 1.0) * (1.0 + 0.3 * steps / 999)
    frame, _ = build_frame(
        ["grad_norm/conv1"] * 1000 + ["train/loss"] * 1000,
        np.concatenate([steps, steps]),
        np.concatenate([g, np.linspace(2, 1, 1000)]),
    )
    run = gradlog.Run(frame, {"name": "spike"})
    f = Finding(
        "grad_norm_growth",
        "info",
        "conv1 rose.",
        tags=("grad_norm/conv1",),
        step_range=(100, 999),
        evidence={"fold_change": 1.27, "window": [100, 999], "start_level": float(g[100])},
    )
    ax = plots.plot_grad_norms(gradlog.Report(run=run, findings=[f]), ax=_ax())
    lo, hi = ax.get_ylim()
    assert 0.8 < lo < 1.0 and 1.25 < hi < 1.6  # 1.3 readable; the 1,000x start cut off
    assert _xspan(_gids(ax.figure)["transient"][0]) == (0, 100)


def test_overview_draws_loss_trend_lr_decays_and_findings() -> None:
    run = _run()
    rep = _report(run)
    ax = plots.plot_overview(rep, ax=_ax())
    gids = _gids(ax.figure)
    raw = run.series("train/loss").to_numpy()
    smooth = gids["loss_smooth"][0].get_ydata()
    assert smooth[0] == pytest.approx(raw[0])
    assert smooth[1] == pytest.approx((0.6 * 0.4 * raw[0] + 0.4 * raw[1]) / (1 - 0.6**2))
    np.testing.assert_array_equal(gids["loss_raw"][0].get_ydata(), raw)
    assert "val_loss" in gids
    # the LR on a log twin axis, with a marker at each decay
    lr_ax = gids["lr"][0].axes
    assert lr_ax is not ax and lr_ax.get_yscale() == "log"
    np.testing.assert_array_equal(gids["decay_markers"][0].get_xdata(), [2000, 4000])
    np.testing.assert_allclose(gids["decay_markers"][0].get_ydata(), [0.001, 1e-4])
    # per-phase trend (the analyzers fitted one) drawn over its phase
    tl = gids["trend:train/loss:lr_phase 1"][0]
    assert (tl.get_xdata()[0], tl.get_xdata()[-1]) == (2000, 3980)
    # a straight line that misses its curve is not drawn: the same trend 0.1 higher
    from dataclasses import replace

    off = replace(rep.trends[-1], intercept=0.63, start_level=0.63, end_level=0.61)
    ax2 = plots.plot_overview(
        gradlog.Report(run=run, findings=rep.findings, trends=[*rep.trends[:-1], off]), ax=_ax()
    )
    assert "trend:train/loss:lr_phase 1" not in _gids(ax2.figure)
    # the findings: plateau start, the spike marker at the loss value, shaded ranges
    assert list(gids["plateau_start"][0].get_xdata()) == [4500, 4500]
    spike = gids["spikes"][0]
    assert list(spike.get_xdata()) == [3000]
    assert spike.get_ydata()[0] == pytest.approx(run.series("train/loss").loc[3000])
    for fid in ("loss_plateau", "loss_spikes", "step_size_oscillation"):
        assert f"finding:{fid}" in gids
    assert "finding:grad_norm_growth" not in gids  # drawn on the gradient figure instead
    assert {t.get_text().strip() for t in ax.texts} >= {"loss_plateau", "loss_spikes"}


def test_overview_marks_nonfinite_loss_and_switches_to_log_for_a_blow_up() -> None:
    steps = np.arange(50)
    loss = np.linspace(2.0, 1.0, 50)
    loss[30:40] = np.linspace(10, 1e4, 10)
    loss[40:] = np.nan
    frame, _ = build_frame(["train/loss"] * 50, steps, loss)
    run = gradlog.Run(frame, {"name": "blowup"})
    rep = gradlog.Report(
        run=run,
        findings=[Finding("divergence", "critical", "Diverged.", step_range=(30, 49), confidence=0.9)],
    )
    ax = plots.plot_overview(rep, ax=_ax())
    gids = _gids(ax.figure)
    assert ax.get_yscale() == "log"
    assert list(gids["nonfinite"][0].get_xdata()) == list(range(40, 50))
    assert list(gids["divergence_start"][0].get_xdata()) == [30, 30]


def test_oscillation_plot_shows_the_finding_phases() -> None:
    rep = _report(_run())
    fig = Figure()
    ax = plots.plot_oscillation(rep, ax=fig.add_subplot())
    gids = _gids(fig)
    assert "residual" in gids
    bands = sorted(g for g in gids if g.startswith("amplitude:"))
    assert bands == ["amplitude:0", "amplitude:1"]
    ys = gids["amplitude:0"][0].get_paths()[0].vertices[:, 1]
    assert (ys.min(), ys.max()) == pytest.approx((-0.3, 0.3))
    assert "step_size_oscillation" in ax.get_title(loc="left")
    text = " ".join(t.get_text() for t in ax.texts)
    assert "LR 0.01" in text and "amp 0.3" in text and "ρ₁ -0.50" in text
    ax2 = plots.plot_amplitude_vs_lr(rep, ax=fig.add_subplot())
    pts = [
        (a.get_xdata()[0], a.get_ydata()[0]) for a in ax2.lines if (a.get_gid() or "").startswith("phase:")
    ]
    assert pts == [(0.01, 0.3), (0.001, 0.05)]


def test_oscillation_without_a_finding_draws_the_residual_and_measures_nothing() -> None:
    # plots draw, analyzers measure: without a finding no amplitude is computed here
    steps = np.arange(0, 400)
    lr = np.where(steps < 200, 0.1, 0.01)
    bounce = np.where(steps % 2 == 0, 1.0, -1.0) * np.where(steps < 200, 0.2, 0.02)
    frame, _ = build_frame(
        ["train/loss"] * 400 + ["train/lr"] * 400,
        np.concatenate([steps, steps]),
        np.concatenate([1.0 + bounce, lr]),
    )
    rep = gradlog.Report(run=gradlog.Run(frame, {"name": "bounce"}))
    ax = plots.plot_oscillation(rep, ax=_ax())
    assert "no amplitude measured" in ax.get_title(loc="left")
    gids = _gids(ax.figure)
    assert not [g for g in gids if g.startswith(("amplitude:", "phase_box:"))]
    # the residual is detrended as the analyzers detrend it (in log space): the trend of
    # a 1.2/0.8 bounce is their geometric mean sqrt(0.96), so loss / trend - 1 is
    # 1.2 / sqrt(0.96) - 1 = +0.225 and 0.8 / sqrt(0.96) - 1 = -0.184
    line = gids["residual"][0]
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    first = y[(x > 20) & (x < 180)]
    assert (first.max(), first.min()) == pytest.approx((1.2 / 0.96**0.5 - 1, 0.8 / 0.96**0.5 - 1))
    later = y[(x > 220) & (x < 380)]
    assert later.max() == pytest.approx(1.02 / (1.02 * 0.98) ** 0.5 - 1)
    ax2 = plots.plot_amplitude_vs_lr(rep, ax=_ax())
    assert not ax2.axison and "no amplitudes in the evidence" in ax2.texts[0].get_text()


def test_oscillation_phase_boxes_never_overlap() -> None:
    # six short LR phases side by side: their boxes would overlap at one height
    phases = [
        {"start": 100 * k, "end": 100 * k + 99, "lr": 0.1 / 2**k, "amplitude": 0.05, "lag1_autocorr": -0.2}
        for k in range(6)
    ]
    run = _run()
    f = Finding(
        "noisy_loss",
        "info",
        "Noisy.",
        tags=("train/loss",),
        step_range=(0, 599),
        evidence={"phases": phases, "amplitude_lr_slope": 0.1},
    )
    fig = Figure(figsize=(8, 3))
    ax = plots.plot_oscillation(gradlog.Report(run=run, findings=[f]), ax=fig.add_subplot())
    fig.draw_without_rendering()
    boxes = [
        t.get_window_extent()
        for t in ax.texts
        if (t.get_gid() or "").startswith("phase_box:") and t.get_visible()
    ]
    assert len(boxes) >= 3
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_plot_tags_default_and_unknown_tag() -> None:
    run = _run()
    ax = plots.plot_tags(run, ax=_ax())
    gids = _gids(ax.figure)
    assert {"tag:train/loss", "tag:val/loss", "tag:train/lr"} <= set(gids)
    assert gids["tag:train/lr"][0].axes is not ax  # the LR on its own axis
    with pytest.raises(KeyError, match="no tag 'nope'"):
        plots.plot_tags(run, ["nope"], ax=_ax())
    ax = plots.plot_tags(run, ["grad_absmean/conv1/0", "grad_absmean/fc6/0"], ax=_ax())
    assert ax.get_yscale() == "log"  # the values span 1000x
    ax = plots.plot_tags(run, ["train/loss"], ax=_ax(), logy=True)
    assert ax.get_yscale() == "log"


def test_report_figure_is_a_bare_figure_with_every_panel() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = _report(_run()).plot()
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == before  # no pyplot figure left open behind the user's back
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert any("loss and learning rate" in t for t in titles)
    assert any("gradients per layer" in t for t in titles)
    assert any("detrended loss" in t for t in titles)
    assert any("amplitude vs LR" in t for t in titles)


def test_report_figures_are_800_px_wide_pngs(tmp_path) -> None:
    from gradlog.render.figures import figure_files

    files = figure_files(_report(_run()), tmp_path, stem="../../x\x00y")
    assert [k for k, _p in files] == ["overview", "grad_norms", "oscillation"]
    for _kind, p in files:
        assert p.parent == tmp_path and p.name.startswith("x-y_")
        head = p.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        width, _height = struct.unpack(">II", head[16:24])
        assert width == 800


def test_importing_gradlog_and_rendering_never_touches_pyplot() -> None:
    code = (
        "import sys, gradlog, gradlog.plots, gradlog.render.html\n"
        "import numpy as np\n"
        "from gradlog.frame import build_frame\n"
        "f, _ = build_frame(['train/loss'] * 20, np.arange(20), np.linspace(2, 1, 20))\n"
        "rep = gradlog.Report(run=gradlog.Run(f, {'name': 'r'}))\n"
        "html = gradlog.render.html.render_html([rep])\n"
        "assert 'data:image/png;base64,' in html\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"MPLBACKEND": "", "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "False"


def test_log_text_never_reaches_mathtext(tmp_path) -> None:
    odd = "train/a$b$^{\\frac"
    frame, _ = build_frame([odd] * 3 + ["train/loss"] * 3, [0, 1, 2] * 2, [1.0, 2.0, 3.0] * 2)
    run = gradlog.Run(frame, {"name": "run$\\sqrt{\x00.log"})
    fig = Figure()
    ax = plots.plot_tags(run, [odd, "train/loss"], ax=fig.add_subplot())
    fig.savefig(tmp_path / "odd.png")  # raises ValueError if any label were parsed as mathtext
    assert ax.get_legend().get_texts()[0].get_text() == "train/a\\$b\\$^{\\frac"
    assert ax.get_title() == "run\\$\\sqrt{ .log"


def test_overview_of_a_real_overfitting_run(corpus) -> None:
    """Keras's TensorBoard log of 109 epochs: train loss to ~1e-3 while val loss climbs."""
    run = gradlog.load(corpus / "tensorboard" / "tf1_keras_irfanet_109ep_overfit")
    ax = plots.plot_overview(gradlog.Report(run=run), ax=_ax())
    gids = _gids(ax.figure)
    assert len(gids["val_loss"][0].get_xdata()) == 109
    assert len(gids["loss_smooth"][0].get_xdata()) == 109
    assert ax.get_yscale() == "log"  # 0.5 down to 1e-3: a linear axis would hide the tail
    assert ax.get_xlabel() == run.meta.get("step_unit", "step")
    assert "lr" not in gids  # the log has no learning rate
    assert ax.get_title(loc="left").startswith("tf1_keras_irfanet_109ep_overfit: loss — LR: ")


def test_lr_twin_axis_of_a_real_step_schedule(corpus) -> None:
    """Keras ReduceLROnPlateau: 0.001 -> 1e-06 in 5 drops over 24 epochs."""
    run = gradlog.load(corpus / "keras" / "brats2020_unet_csvlogger_lr.log")
    ax = plots.plot_overview(gradlog.Report(run=run), ax=_ax())
    gids = _gids(ax.figure)
    decays = sorted(int(g.split(":")[1]) for g in gids if g.startswith("decay:"))
    assert decays == list(gids["decay_markers"][0].get_xdata())
    assert len(decays) == 5
    assert gids["lr"][0].axes.get_yscale() == "log"
    # 24 epochs: drawn as they are (markers), not smoothed
    assert "loss_smooth" not in gids and gids["loss_raw"][0].get_marker() == "o"


def test_long_series_are_thinned_but_keep_spikes_and_gaps() -> None:
    n = 100_001
    steps = np.arange(n)
    loss = 1.0 + 0.01 * np.sin(steps / 50.0)
    loss[61_234] = 9.0  # one spike
    loss[80_000:80_100] = np.nan  # a gap wider than a bucket
    frame, _ = build_frame(["train/loss"] * n, steps, loss)
    ax = plots.plot_overview(gradlog.Report(run=gradlog.Run(frame, {"name": "long"})), ax=_ax())
    raw = _gids(ax.figure)["loss_raw"][0]
    x, y = np.asarray(raw.get_xdata()), np.asarray(raw.get_ydata())
    assert len(x) <= plots.MAX_PLOT_POINTS
    assert np.all(np.diff(x) > 0) and x[0] == 0
    assert y[x == 61_234][0] == 9.0
    assert np.isnan(y[(x >= 80_000) & (x < 80_100)]).any()


def test_grad_norms_flag_the_layers_a_finding_names_and_read_the_statistic_from_meta() -> None:
    steps = np.arange(0, 100)
    tags = ["grad/fc1.weight/l2", "grad/fc2.weight/l2", "grad_norm/total"]
    frame, _ = build_frame(np.repeat(tags, 100), np.tile(steps, 3), np.tile(1.0 + steps, 3))
    stats = {t: f"L2 norm: sqrt(sum of squares) of histogram '{t[:-3]}'" for t in tags[:2]}
    run = gradlog.Run(
        frame, {"name": "tb", "statistics": stats}, {"grad": tags[:2], "grad_total": "grad_norm/total"}
    )
    rep = gradlog.Report(
        run=run,
        findings=[
            Finding("grad_norm_growth", "info", "fc2 rose.", tags=("grad/fc2.weight/l2",), step_range=(0, 99))
        ],
    )
    ax = plots.plot_grad_norms(rep, ax=_ax())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fc1.weight", "fc2.weight ↑", "total"]
    assert ax.get_ylabel().splitlines()[0] == "gradient L2 norm"


# -- the first-order check -----------------------------------------------------------

BENCH = Path(__file__).resolve().parents[1] / "bench" / "diagnosis" / "runs"
TANH = "tanh_osc__tanh_illcond_lr0.33_b128_m0_const_s1.csv"
LIN_DECAY = "lin_osc_decay__linear_illcond_lr1.2_b128_m0.5_step50_s1.csv"
SKIP = 0.15  # the analyzers measure a phase without its first 15% (osc_phase_skip)


@functools.cache
def _bench_report(name: str) -> gradlog.Report:
    return gradlog.analyze(gradlog.load(BENCH / name))


def _level(coll) -> tuple[float, float, float]:
    """(x0, x1, y) of a one-segment hlines collection."""
    (seg,) = coll.get_segments()
    return float(seg[0][0]), float(seg[1][0]), float(seg[0][1])


def _box(ax, k: int):
    (text,) = [t for t in ax.texts if t.get_gid() == f"first_order:{k}"]
    return text


def _window_median(s, lo: float, hi: float) -> float:
    return float(np.median(s[(s.index >= lo) & (s.index <= hi)].to_numpy()))


def test_first_order_figure_shows_the_promise_and_the_evidence_of_an_overshooting_run() -> None:
    """bench/diagnosis tanh net at LR 0.33: each step promises 28% of the loss, the loss
    realises 0.54% of that promise (the finding's words)."""
    rep = _bench_report(TANH)
    (f,) = rep.by_id("step_size_oscillation")
    assert f.evidence["signals_present"] == ["first_order_overshoot"]
    (phase,) = f.evidence["phases"]
    assert [k for k, _fig in plots.report_figures(rep)] == [
        "overview",
        "grad_norms",
        "oscillation",
        "first_order",
    ]
    ax = plots.plot_first_order(rep, ax=_ax())
    gids = _gids(ax.figure)
    assert ax.get_yscale() == "log"
    assert "evidence of step_size_oscillation" in ax.get_title(loc="left")
    g, loss = rep.run.series("grad_norm/total"), rep.run.series("train/loss")
    lo = SKIP * 599
    # the promise per logged step: LR x squared total gradient norm (CSV row 0: 1.20999)
    raw = gids["promise_raw"][0]
    x, y = np.asarray(raw.get_xdata()), np.asarray(raw.get_ydata())
    assert y[x == 0][0] == pytest.approx(0.33 * 1.20999**2)
    in_phase = (x >= lo) & (x <= 599)
    assert np.median(y[in_phase]) == pytest.approx(0.33 * _window_median(g, lo, 599) ** 2, rel=0.02)
    # the phase's median promise and loss, over the part the analyzers measure; their
    # quotient is the evidence's ratio, the realised decrease is efficiency x promise
    x0, x1, promise = _level(gids["promise_level:0"][0])
    assert (x0, x1) == pytest.approx((lo, 599))
    assert promise == pytest.approx(0.33 * _window_median(g, lo, 599) ** 2, rel=1e-12)
    level = _level(gids["loss_level:0"][0])[2]
    assert level == pytest.approx(_window_median(loss, lo, 599), rel=1e-12)
    assert promise / level == pytest.approx(phase["first_order_ratio"], rel=1e-9)
    assert _level(gids["realised:0"][0])[2] == pytest.approx(
        phase["first_order_efficiency"] * promise, rel=1e-9
    )
    # the numbers, in the finding's words, in a vermilion box (this phase overshoots)
    box = _box(ax, 0)
    assert f"{100 * phase['first_order_ratio']:.2g}%" == "28%"
    assert box.get_text() == "LR 0.33\npromise 28% of the loss per step\nrealised 0.54% of it"
    assert matplotlib.colors.to_hex(box.get_bbox_patch().get_edgecolor()) == plots.VERMILLION.lower()
    assert not [g_ for g_ in gids if g_.startswith("decay:")]  # a constant LR
    # the one-figure report has the panel too
    titles = [a.get_title(loc="left") for a in plots.report_figure(rep).axes]
    assert any(t.startswith("first-order check") for t in titles)


def test_first_order_figure_across_an_lr_decay() -> None:
    """LR 1.2 -> 0.12 at step 300: before, a step promises 110% of the loss; after, 1.9%."""
    rep = _bench_report(LIN_DECAY)
    (f,) = rep.by_id("step_size_oscillation")
    ph = f.evidence["phases"]
    ax = plots.plot_first_order(rep, ax=_ax())
    gids = _gids(ax.figure)
    assert "decay:300" in gids
    g = rep.run.series("grad_norm/total")
    raw = gids["promise_raw"][0]
    x, y = np.asarray(raw.get_xdata()), np.asarray(raw.get_ydata())
    # the LR in effect at each step: 1.2 up to 299, 0.12 from 300
    assert y[x == 299][0] == pytest.approx(1.2 * g.loc[299] ** 2)
    assert y[x == 300][0] == pytest.approx(0.12 * g.loc[300] ** 2)
    for k, (a, b, lr) in enumerate([(0, 299, 1.2), (300, 599, 0.12)]):
        lo = a + SKIP * (b - a)
        x0, _x1, promise = _level(gids[f"promise_level:{k}"][0])
        assert x0 == pytest.approx(lo)
        assert promise == pytest.approx(lr * _window_median(g, lo, b) ** 2, rel=1e-12)
        level = _level(gids[f"loss_level:{k}"][0])[2]
        assert promise / level == pytest.approx(ph[k]["first_order_ratio"], rel=1e-9)
    assert _box(ax, 0).get_text() == "LR 1.2\npromise 110% of the loss per step\nrealised 0.039% of it"
    # after the decay the loss rose slightly (efficiency < 0): no realised line, said in words
    assert ph[1]["first_order_efficiency"] < 0 and "realised:1" not in gids
    after = _box(ax, 1)
    assert after.get_text() == "LR 0.12\npromise 1.9% of the loss per step\nrealised none: the loss rose"
    assert matplotlib.colors.to_hex(after.get_bbox_patch().get_edgecolor()) == plots.GREY.lower()
    assert after.get_fontweight() == "normal" and _box(ax, 0).get_fontweight() == "bold"


def test_no_first_order_figure_without_the_first_order_signal(samples, tmp_path) -> None:
    """The CNN sample's noisy_loss evidence carries a first-order ratio per phase, but no
    finding rests on it: the report has no first-order figure."""
    from gradlog.render.figures import figure_files

    rep = gradlog.analyze(gradlog.load(samples / "pytorch_cnn" / "train_log.csv"))
    (f,) = rep.by_id("noisy_loss")
    assert all("first_order_ratio" in p for p in f.evidence["phases"])
    assert not rep.by_id("step_size_oscillation")
    kinds = [k for k, _fig in plots.report_figures(rep)]
    assert kinds == ["overview", "grad_norms", "oscillation"]
    titles = [a.get_title(loc="left") for a in plots.report_figure(rep).axes]
    assert not any(t.startswith("first-order check") for t in titles)
    # the tanh run's first-order figure is written as a PNG with a caption
    files = dict(figure_files(_bench_report(TANH), tmp_path, stem="tanh"))
    assert files["first_order"].name == "tanh_first_order.png"
    assert files["first_order"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from gradlog.render.figures import FIGURE_CAPTIONS, FIGURES_AFTER_FINDINGS

    assert "η‖g‖²" in FIGURE_CAPTIONS["first_order"]
    assert FIGURES_AFTER_FINDINGS[-1] == "first_order"


def _fo_run(
    lr: float | None = 0.5, grad: str | None = "grad_norm/total", n: int = 1000, optimizer: str | None = None
) -> gradlog.Run:
    """Constant LR 0.5, gradient norm 0.4 (a promise of 0.08 per step), loss 0.2 exp(-2e-4 t)."""
    steps = np.arange(n)
    series = {"train/loss": 0.2 * np.exp(-2e-4 * steps)}
    if lr is not None:
        series["train/lr"] = np.full(n, lr)
    if grad is not None:
        series[grad] = np.full(n, 0.4)
    frame, _ = build_frame(
        np.repeat(list(series), n), np.tile(steps, len(series)), np.concatenate(list(series.values()))
    )
    return gradlog.Run(frame, {"name": "fo", "hparams": {"optimizer": optimizer} if optimizer else {}})


def test_first_order_without_a_finding_draws_the_curves_and_claims_nothing() -> None:
    # no oscillation finding: the loss and the promise are drawn, but no median, ratio or
    # box (the analyzers found nothing; plots do not re-run them)
    run = _fo_run()
    ax = plots.plot_first_order(gradlog.Report(run=run), ax=_ax())
    assert "(no oscillation finding)" in ax.get_title(loc="left")
    gids = _gids(ax.figure)
    assert "promise_smooth" in gids and "loss_smooth" in gids
    assert not [g for g in gids if g.startswith(("promise_level", "loss_level", "realised", "first_order:"))]


def test_first_order_box_says_not_assessed_when_the_evidence_has_no_ratio() -> None:
    # e.g. an adaptive optimizer (Adam's step is not eta * g): the analyzers leave the
    # ratio out of the phase, and the figure does not invent one; the promise's median
    # comes from the evidence's grad_level (LR 0.5 x 0.4^2)
    run = _fo_run(optimizer="AdamW")
    f = Finding(
        "noisy_loss",
        "info",
        "Noisy.",
        tags=("train/loss",),
        step_range=(0, 999),
        evidence={"phases": [{"start": 0, "end": 999, "lr": 0.5, "window_start": 150.0, "grad_level": 0.4}]},
    )
    ax = plots.plot_first_order(gradlog.Report(run=run, findings=[f]), ax=_ax())
    assert "(evidence of noisy_loss)" in ax.get_title(loc="left")
    assert _box(ax, 0).get_text() == "LR 0.5\nfirst order not assessed"
    gids = _gids(ax.figure)
    assert _level(gids["promise_level:0"][0]) == pytest.approx((150, 999, 0.08))
    assert "loss_level:0" not in gids and "realised:0" not in gids


@pytest.mark.parametrize(
    "kw, missing",
    [
        ({"grad": None}, "no gradient L2 norm"),
        ({"grad": "grad_absmean/total"}, "no gradient L2 norm"),  # not a 2-norm: no promise
        ({"lr": None}, "no learning rate"),
    ],
)
def test_first_order_not_available(kw, missing) -> None:
    ax = plots.plot_first_order(gradlog.Report(run=_fo_run(**kw)), ax=_ax())
    (text,) = ax.texts
    assert text.get_text().startswith("first-order check not available") and missing in text.get_text()
    assert not ax.axison and not ax.lines
