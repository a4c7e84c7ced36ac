"""Step-size-driven oscillation versus minibatch noise.

Every SGD minibatch loss is noisy; that alone is not a finding. A step that is too
large for the local curvature leaves signatures noise lacks, and each is measured and
reported as evidence:

1. **alternation** - residuals about a robust trend that alternate (strongly negative
   lag-1 autocorrelation, most power near period 2). Noise gives ~0 (or positive:
   momentum and the iterate's own noise ball make it smoother, not alternating).
2. **amplitude vs LR** - the fluctuation shrinks with the LR across decays (slope of
   log amplitude on log LR ~1). Sampling noise at a given iterate does not depend on
   the LR (slope ~0). Valid even when the log is subsampled.
3. **validation oscillation** - a validation loss on fixed data that alternates or
   whose jitter scales with the LR: minibatch sampling cannot explain that.
4. **gradient norm swinging with the loss** - the gradient norm alternates in step
   with the loss residuals (a bounce across a valley: high on the walls).
5. **first-order arithmetic** - a step ``eta * g`` promises a decrease of about
   ``eta * ||g||^2``; when that promise is comparable to the loss itself while the
   loss does not fall, the second-order term ``eta^2/2 g'Hg`` eats the gain
   (Goodfellow et al., Deep Learning, §8.2.1): the step overshoots.

``step_size_oscillation`` is reported on signal 5 (itself three conditions: the
promise is large, the loss does not fall, and the gradient norm follows the iterate's
state rather than minibatch sampling), or on ``config.osc_min_signals`` of signals 1-4.
On real runs (``bench/diagnosis``) the bounce of an iterate at the edge of stability
shows in 5, rarely in 1-4: the loss of a bouncing mode is ``lambda*x^2/2``, which does
not alternate when ``x`` does. ``noisy_loss`` (info) is reported when the fluctuation is
large and no signal is present.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import (
    SeriesData,
    batch_size,
    cached,
    is_adaptive_optimizer,
    loss_data,
    lr_at,
    momentum,
    phase_windows,
    require_loss,
    require_role,
    series_data,
    total_grad_tag,
)
from gradlog.analyzers.divergence import divergence_info
from gradlog.analyzers.lr_plateau import decay_tests
from gradlog.analyzers.stats import (
    highfreq_fraction,
    lag1_autocorr,
    log_ratio,
    pow10,
    residual_lag1_null,
    robust_sd,
    smooth_residuals,
    winsorize,
)
from gradlog.analyzers.trends import trend_of
from gradlog.analyzers.wording import fmt_lr, fmt_step, nice_floor, nice_round, pct, times
from gradlog.findings import Finding
from gradlog.run import Run

__all__ = ["oscillation_signals", "detect_step_size_oscillation", "detect_noisy_loss"]

# An alternation must be this many null SDs below what white noise gives after the same
# detrending (a one-sided 0.1% test), on top of the effect size in the config.
_NULL_Z = 3.1

_REFS = (
    "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.2.1 (ill-conditioning: the "
    "½ε²gᵀHg term) and §8.3.2 (momentum)",
    "Cohen et al., Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability, ICLR 2021",
    "Goh, Why Momentum Really Works, Distill 2017 (heavy-ball stability ηλ < 2(1+β))",
)


def _blocks(
    d: SeriesData, start: float, end: float, cfg: AnalysisConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return contiguous blocks of finite points in ``[start, end]``, at most
    ``cfg.max_raw_points`` points in total, evenly spread over the window."""
    i0 = int(np.searchsorted(d.fsteps, start, side="left"))
    i1 = int(np.searchsorted(d.fsteps, end, side="right"))
    n = i1 - i0
    if n <= 0:
        return []
    y = d.y
    if n <= cfg.max_raw_points:
        return [(d.fsteps[i0:i1], y[i0:i1])]
    nb = max(1, cfg.max_raw_points // cfg.raw_block)
    starts = np.linspace(i0, i1 - cfg.raw_block, nb).astype(np.int64)
    return [(d.fsteps[s : s + cfg.raw_block], y[s : s + cfg.raw_block]) for s in starts]


def _residual_stats(blocks: list[tuple[np.ndarray, np.ndarray]], cfg: AnalysisConfig) -> dict[str, Any]:
    """Lag-1 (and its white-noise null), high-frequency power and amplitude of the
    residuals of some blocks."""
    res_all: list[np.ndarray] = []
    steps_all: list[np.ndarray] = []
    lag_num = lag_w = hf_num = null_num = null_var = 0.0
    peak: list[float] = []
    for st, y in blocks:
        if len(y) < 8:
            continue
        _trend, r = smooth_residuals(y, cfg.osc_trend_window)
        rw = winsorize(r)
        rho = lag1_autocorr(rw)
        hf, pf = highfreq_fraction(rw)
        if math.isfinite(rho):
            m0, s0 = residual_lag1_null(cfg.osc_trend_window, len(y))
            lag_num += rho * len(y)
            null_num += m0 * len(y)
            null_var += (s0 * len(y)) ** 2
            lag_w += len(y)
        if math.isfinite(hf):
            hf_num += hf * len(y)
            peak.append(pf)
        res_all.append(r)
        steps_all.append(st)
    n = int(sum(len(r) for r in res_all))
    if n == 0 or not lag_w:
        return {
            "n": 0,
            "amplitude_log": math.nan,
            "lag1": math.nan,
            "lag1_threshold": math.nan,
            "highfreq": math.nan,
            "peak_freq": math.nan,
            "res": np.zeros(0),
            "steps": np.zeros(0, dtype=np.int64),
        }
    res = np.concatenate(res_all)
    null_mean = null_num / lag_w
    null_sd = math.sqrt(null_var) / lag_w
    return {
        "n": n,
        "amplitude_log": robust_sd(res),
        "lag1": lag_num / lag_w,
        "lag1_threshold": min(cfg.osc_lag1_max, null_mean - _NULL_Z * null_sd),
        "lag1_null": (null_mean, null_sd),
        "highfreq": hf_num / lag_w,
        "peak_freq": float(np.median(peak)) if peak else math.nan,
        "res": res,
        "steps": np.concatenate(steps_all),
    }


def _pooled_null(st: dict[str, Any]) -> tuple[float, float]:
    return st.get("lag1_null", (math.nan, math.nan))


def _rel_amp(d: SeriesData, amp: float) -> float:
    """Relative amplitude (fraction of the level) from a residual SD in analysis space."""
    if not math.isfinite(amp):
        return math.nan
    return pow10(amp) - 1.0 if d.positive else amp


def _total_grad(run: Run) -> SeriesData | None:
    """The gradient norm to compare with the loss (see :func:`total_grad_tag`)."""
    tag = run.roles.get("grad_total")
    if tag and tag in run:
        return series_data(run, tag)
    t = total_grad_tag(run)
    return series_data(run, t) if t else None


def _first_order_ratio(lr: float, gnorm: float, level: float) -> float | None:
    """Return ``lr * gnorm**2 / level`` (the first-order promise as a fraction of the loss),
    or None unless all three are positive and finite and so is the ratio (a dead network's
    zero gradient promises nothing; norms near 1e160 overflow the square)."""
    if not all(math.isfinite(v) and v > 0 for v in (lr, gnorm, level)):
        return None
    # in logs: the square of a norm of 1e160 overflows a float, the ratio may not
    log_r = math.log(lr) + 2.0 * math.log(gnorm) - math.log(level)
    if not -700.0 < log_r < 700.0:
        return None
    return math.exp(log_r)


def oscillation_signals(run: Run, config: AnalysisConfig = DEFAULT_CONFIG) -> dict[str, Any] | None:
    """Measure the five oscillation signatures of the training loss.

    Returns
    -------
    dict (see the keys of the ``step_size_oscillation`` evidence), or None when the run
    has no loss with at least ``config.min_loss_points`` finite points. ``oscillating``
    says whether the combination meets the rule of the module docstring.
    """

    def make() -> dict[str, Any] | None:
        d = loss_data(run)
        if d is None or d.n < config.min_loss_points:
            return None
        div = divergence_info(run, config)
        stop = float(div["begin_step"]) if div is not None else math.inf
        windows: list[tuple[Any, float, float | None]] = list(phase_windows(run))
        if not windows:
            windows = [(None, -math.inf, None)]
        k = d.interval
        beta = momentum(run)
        adaptive = is_adaptive_optimizer(run)
        g = _total_grad(run)
        phase_rows: list[dict[str, Any]] = []
        for ph, start, end in windows:
            lo = max(start, float(d.fsteps[0]))
            hi = min(end if end is not None else math.inf, float(d.fsteps[-1]), stop)
            if hi <= lo:
                continue
            lo = lo + config.osc_phase_skip * (hi - lo)
            blocks = _blocks(d, lo, hi, config)
            st = _residual_stats(blocks, config)
            if st["n"] < config.osc_min_points:
                continue
            lr = ph.lr if ph is not None else lr_at(run, 0.5 * (lo + hi))
            row: dict[str, Any] = {
                "start": int(ph.start) if ph is not None else int(d.fsteps[0]),
                "end": int(min(hi, end if end is not None else hi)),
                "lr": lr if math.isfinite(lr) else None,
                "amplitude": _rel_amp(d, st["amplitude_log"]),
                "lag1_autocorr": st["lag1"],
                "_lag1_threshold": st["lag1_threshold"],
                "highfreq_fraction": st["highfreq"],
                "peak_period": (
                    k / st["peak_freq"] if st["peak_freq"] and math.isfinite(st["peak_freq"]) else None
                ),
                "n": st["n"],
                "_amp_log": st["amplitude_log"],
                "_lo": lo,
                "_hi": hi,
                "_res": st["res"],
                "_steps": st["steps"],
            }
            if g is not None:
                gi0 = int(np.searchsorted(g.fsteps, lo, side="left"))
                gi1 = int(np.searchsorted(g.fsteps, hi, side="right"))
                if gi1 - gi0 >= 5:
                    gmed = float(np.median(g.fvalues[gi0:gi1]))
                    row["grad_level"] = gmed
                    gst = _residual_stats(_blocks(g, lo, hi, config), config)
                    if gst["n"] >= config.osc_min_points:
                        m0, s0 = _pooled_null(gst)
                        row["grad_lag1_autocorr"] = gst["lag1"]
                        row["_grad_lag1_margin"] = gst["lag1"] - m0
                        row["_grad_lag1_threshold"] = gst["lag1_threshold"]
                        row["_grad_res"], row["_grad_steps"] = gst["res"], gst["steps"]
                    # first-order arithmetic: eta * ||g||^2 / loss (an L2 norm, plain SGD)
                    li0 = int(np.searchsorted(d.fsteps, lo, side="left"))
                    li1 = int(np.searchsorted(d.fsteps, hi, side="right"))
                    lvl = float(np.median(d.fvalues[li0:li1]))
                    ratio = _first_order_ratio(lr, gmed, lvl)
                    if not adaptive and g.tag.startswith("grad_norm/") and ratio is not None:
                        row["first_order_ratio"] = ratio
                        tr = trend_of(run, d.tag, start=lo, end=hi, scope="osc", config=config)
                        if tr is not None and d.positive and math.isfinite(tr.slope):
                            # realised decrease per iteration as a fraction of the promised one
                            per_step = -math.log(10.0) * tr.slope / 1000.0
                            row["first_order_efficiency"] = per_step / ratio
            phase_rows.append(row)
        if not phase_rows:
            return None

        # 1. alternation (any phase)
        alt_phases = [
            r
            for r in phase_rows
            if math.isfinite(r["lag1_autocorr"])
            and r["lag1_autocorr"] <= r["_lag1_threshold"]
            and math.isfinite(r["highfreq_fraction"])
            and r["highfreq_fraction"] >= config.osc_highfreq_min
        ]
        alternation = bool(alt_phases)

        # 2. amplitude vs LR across decays
        decays: list[dict[str, Any]] = []
        for a, b in zip(phase_rows, phase_rows[1:], strict=False):
            if not (a["lr"] and b["lr"]) or a["lr"] <= b["lr"] * 1.2:
                continue
            if not (a["_amp_log"] > 0 and b["_amp_log"] > 0):
                continue
            ratio = a["_amp_log"] / b["_amp_log"]
            slope = log_ratio(a["_amp_log"], b["_amp_log"]) / log_ratio(a["lr"], b["lr"])
            if not (math.isfinite(ratio) and math.isfinite(slope)):
                continue
            decays.append(
                {
                    "step": b["start"],
                    "lr_before": a["lr"],
                    "lr_after": b["lr"],
                    "amplitude_before": a["amplitude"],
                    "amplitude_after": b["amplitude"],
                    "amplitude_ratio": ratio,
                    "slope": slope,
                }
            )
        amp_lr_slope = math.nan
        if len(phase_rows) >= 2:
            lrs = np.array([r["lr"] or math.nan for r in phase_rows], dtype=float)
            amps = np.array([r["_amp_log"] for r in phase_rows], dtype=float)
            ok = np.isfinite(lrs) & (lrs > 0) & np.isfinite(amps) & (amps > 0)
            if ok.sum() >= 2 and np.ptp(np.log(lrs[ok])) > math.log(1.2):
                amp_lr_slope = float(np.polyfit(np.log(lrs[ok]), np.log(amps[ok]), 1)[0])
        lr_scaling = any(
            x["amplitude_ratio"] >= config.osc_amp_drop_min and x["slope"] >= config.osc_amp_lr_slope_min
            for x in decays
        )

        # 3. validation loss on fixed data
        val: dict[str, Any] = {"available": False}
        vtag = run.roles.get("val_loss")
        if vtag and vtag in run:
            v = series_data(run, vtag)
            vs, vy = v.fsteps, v.y
            keep = vs < stop
            vs, vy = vs[keep], vy[keep]
            if len(vy) >= config.val_min_points:
                vw = 9 if len(vy) >= 40 else (7 if len(vy) >= 20 else 5)
                _t, vr = smooth_residuals(vy, vw)
                jit = _rel_amp(v, robust_sd(vr))
                vlag = lag1_autocorr(vr)
                m0, s0 = residual_lag1_null(vw, len(vy))
                vthr = min(config.osc_val_lag1_max, m0 - _NULL_Z * s0)
                per_phase = []
                for r in phase_rows:
                    m = (vs >= r["_lo"]) & (vs <= r["_hi"])
                    if m.sum() >= 4:
                        per_phase.append(
                            {
                                "start": r["start"],
                                "lr": r["lr"],
                                "jitter": _rel_amp(v, robust_sd(vr[m])),
                                "n": int(m.sum()),
                            }
                        )
                vdrops = []
                for a_, b_ in zip(per_phase, per_phase[1:], strict=False):
                    if a_["lr"] and b_["lr"] and a_["lr"] > 1.2 * b_["lr"] and b_["jitter"] > 0:
                        ratio = a_["jitter"] / b_["jitter"]
                        vslope = log_ratio(a_["jitter"], b_["jitter"]) / log_ratio(a_["lr"], b_["lr"])
                        if math.isfinite(ratio) and math.isfinite(vslope):
                            vdrops.append(
                                {
                                    "step": b_["start"],
                                    "jitter_ratio": ratio,
                                    "slope": vslope,
                                    "jitter_before": a_["jitter"],
                                }
                            )
                peak = max([p_["jitter"] for p_ in per_phase], default=jit)
                val = {
                    "available": True,
                    "tag": vtag,
                    "n": int(len(vy)),
                    "jitter": peak,
                    "lag1_autocorr": vlag,
                    "lag1_threshold": vthr,
                    "per_phase": per_phase,
                    "decays": vdrops,
                }
        val_osc = bool(
            val.get("available")
            and val["jitter"] >= config.osc_val_jitter_min
            and math.isfinite(val["lag1_autocorr"])
            and val["lag1_autocorr"] <= val["lag1_threshold"]
        )

        # 4. gradient norm swinging with the loss (alternating in step with it)
        grad: dict[str, Any] = {"available": False}
        corr_num = corr_w = glag_num = gthr_num = 0.0
        for r in phase_rows:
            if "_grad_res" not in r:
                continue
            common, il, ig = np.intersect1d(
                r["_steps"], r["_grad_steps"], assume_unique=True, return_indices=True
            )
            if len(common) >= config.osc_min_points:
                ra = winsorize(r["_res"][il])
                rb = winsorize(r["_grad_res"][ig])
                if np.std(ra) > 0 and np.std(rb) > 0:
                    c = float(np.corrcoef(ra, rb)[0, 1])
                    r["grad_loss_corr"] = c
                    corr_num += c * len(common)
                    glag_num += r["grad_lag1_autocorr"] * len(common)
                    gthr_num += r["_grad_lag1_threshold"] * len(common)
                    corr_w += len(common)
        if corr_w and g is not None:
            grad = {
                "available": True,
                "tag": g.tag,
                "loss_corr": corr_num / corr_w,
                "lag1_autocorr": glag_num / corr_w,
                "lag1_threshold": gthr_num / corr_w,
            }
        grad_swing = bool(
            grad.get("available")
            and grad["loss_corr"] >= config.osc_grad_corr_min
            and grad["lag1_autocorr"] <= grad["lag1_threshold"]
        )

        grad_decays: list[dict[str, Any]] = []
        for a, b in zip(phase_rows, phase_rows[1:], strict=False):
            if (
                a["lr"]
                and b["lr"]
                and a["lr"] > 1.2 * b["lr"]
                and a.get("grad_level")
                and b.get("grad_level")
            ):
                ratio = a["grad_level"] / b["grad_level"]
                gslope = log_ratio(a["grad_level"], b["grad_level"]) / log_ratio(a["lr"], b["lr"])
                if math.isfinite(ratio) and math.isfinite(gslope):
                    grad_decays.append({"step": b["start"], "grad_ratio": ratio, "slope": gslope})
        grad_drop = any(x["grad_ratio"] >= config.osc_grad_drop_min for x in grad_decays)

        # 5. first-order arithmetic: a step that promises to remove a large part of the loss,
        # in a phase where the loss does not fall, with a gradient norm that moves with the
        # iterate's state (slowly) rather than with minibatch sampling (step to step)
        fo_rows = [r for r in phase_rows if "first_order_ratio" in r]
        fo_hits = [
            r
            for r in fo_rows
            if r["first_order_ratio"] >= config.osc_first_order_min
            and r.get("first_order_efficiency", math.inf) < config.osc_first_order_efficiency
            and r.get("_grad_lag1_margin", -math.inf) >= config.osc_grad_state_margin
        ]
        first_order = bool(fo_hits)
        for r in fo_rows:  # per phase, for the report and its first-order figure
            r["first_order_overshoot"] = any(r is h for h in fo_hits)
            r["window_start"] = float(r["_lo"])

        signals = {
            "alternation": alternation,
            "amplitude_scales_with_lr": lr_scaling,
            "validation_oscillation": val_osc,
            "grad_norm_swings_with_loss": grad_swing,
            "first_order_overshoot": first_order,
        }
        present = [k_ for k_, v_ in signals.items() if v_]
        pattern = [alternation, lr_scaling, val_osc, grad_swing]
        oscillating = first_order or sum(pattern) >= config.osc_min_signals
        unavailable: dict[str, str] = {}
        if k > 1:
            unavailable["alternation"] = (
                f"the loss is logged every {k} iterations, which aliases a "
                "period-2 bounce (invisible when the interval is even): its "
                "absence says nothing"
            )
        if len(phase_rows) < 2:
            unavailable["amplitude_scales_with_lr"] = "no LR decay to compare amplitudes across"
        if not val.get("available"):
            unavailable["validation_oscillation"] = "no validation-loss series with enough points"
        if not grad.get("available"):
            unavailable["grad_norm_swings_with_loss"] = "no gradient-norm series at the loss steps"
        if not fo_rows:
            unavailable["first_order_overshoot"] = (
                "needs an LR and a gradient 2-norm series, and plain SGD (not an adaptive optimizer)"
            )
        # which phases oscillate
        osc_starts = {r["start"] for r in alt_phases} | {r["start"] for r in fo_hits}
        starts = [r["start"] for r in phase_rows]
        for dec in decays:
            if (
                dec["amplitude_ratio"] >= config.osc_amp_drop_min
                and dec["slope"] >= config.osc_amp_lr_slope_min
            ):
                osc_starts.add(max(s_ for s_ in starts if s_ < dec["step"]))
        if oscillating and not osc_starts:
            osc_starts.add(starts[0])
        # overall fluctuation of the loss
        all_amp = float(np.median([r["_amp_log"] for r in phase_rows]))
        return {
            "oscillating": oscillating,
            "signals": signals,
            "signals_present": present,
            "signals_unavailable": unavailable,
            "phases": phase_rows,
            "alternating_phases": [r["start"] for r in alt_phases],
            "oscillating_phases": sorted(osc_starts) if oscillating else [],
            "decays": decays,
            "amplitude_lr_slope": amp_lr_slope,
            "validation": val,
            "grad": grad,
            "grad_decays": grad_decays,
            "grad_drop": grad_drop,
            "amplitude": _rel_amp(d, all_amp),
            "log_interval": k,
            "momentum": beta,
            "adaptive_optimizer": adaptive,
        }

    return cached(run, ("oscillation", config), make)


SIGNAL_WORDS = {
    "alternation": "residuals alternating step to step",
    "amplitude_scales_with_lr": "a fluctuation that shrinks with the LR",
    "validation_oscillation": "a validation loss that alternates",
    "grad_norm_swings_with_loss": "a gradient norm alternating with the loss",
    "first_order_overshoot": "a step promising (η‖g‖²) a large part of the loss without the loss falling",
}


def _public_phases(sig: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in sig["phases"]]


def _evidence(sig: dict[str, Any]) -> dict[str, Any]:
    fo = [r["first_order_ratio"] for r in sig["phases"] if "first_order_ratio" in r]
    lag = [r["lag1_autocorr"] for r in sig["phases"] if math.isfinite(r["lag1_autocorr"])]
    hf = [r["highfreq_fraction"] for r in sig["phases"] if math.isfinite(r["highfreq_fraction"])]
    beta = sig["momentum"]
    return {
        "signals": sig["signals"],
        "signals_present": sig["signals_present"],
        "signals_unavailable": sig["signals_unavailable"],
        "phases": _public_phases(sig),
        "lag1_autocorr": min(lag) if lag else None,
        "highfreq_fraction": max(hf) if hf else None,
        "amplitude": sig["amplitude"],
        "amplitude_unit": "relative (robust SD of the residual / level)",
        "amplitude_lr_slope": sig["amplitude_lr_slope"],
        "decays": sig["decays"],
        "validation": {k: v for k, v in sig["validation"].items()},
        "grad_loss_corr": sig["grad"].get("loss_corr"),
        "grad_lag1_autocorr": sig["grad"].get("lag1_autocorr"),
        "first_order_ratio": max(fo) if fo else None,
        "stability_limit": 2.0 * (1.0 + beta) if beta is not None else 2.0,
        "momentum": beta,
        "log_interval": sig["log_interval"],
    }


def detect_step_size_oscillation(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect a loss that oscillates because the learning rate is too large.

    Returns
    -------
    list with at most one ``step_size_oscillation`` Finding (warning); its evidence holds
    ``phases`` (start, end, lr, amplitude, lag1_autocorr per LR phase) and every signal.

    Raises
    ------
    NotAssessable
        When the run has no training loss or no learning-rate series.
    """
    d = require_loss(run, "step_size_oscillation", min_points=config.min_loss_points)
    require_role(run, "lr", "step_size_oscillation")
    sig = oscillation_signals(run, config)
    if sig is None or not sig["oscillating"]:
        return []
    rows = sig["phases"]
    osc_rows = [r for r in rows if r["start"] in sig["oscillating_phases"]]
    calm = [r for r in rows if r not in osc_rows and r["lr"]]
    lr_hi = max(r["lr"] for r in osc_rows if r["lr"]) if any(r["lr"] for r in osc_rows) else math.nan
    if calm and math.isfinite(lr_hi):
        target = (
            max(r["lr"] for r in calm if r["lr"] < lr_hi) if any(r["lr"] < lr_hi for r in calm) else lr_hi / 3
        )
        target = nice_round(target)
    else:
        # about 3x lower: a mode at the limit comes down to a third of it
        target = nice_floor(lr_hi / 3) if math.isfinite(lr_hi) else math.nan
    ev = _evidence(sig)
    ev["suggested_lr"] = target if math.isfinite(target) else None
    present = sig["signals_present"]
    fo = [r for r in osc_rows if r.get("first_order_ratio") is not None]
    fo_row = max(fo, key=lambda r: r["first_order_ratio"]) if fo else None
    words = {
        "alternation": (
            f"the loss alternates step to step (lag-1 autocorrelation of its residuals "
            f"{ev['lag1_autocorr']:.2f})"
            if ev["lag1_autocorr"] is not None
            else "the loss alternates step to step"
        ),
        "amplitude_scales_with_lr": (
            "its fluctuation shrinks with the LR (amplitude ∝ "
            f"LR^{max(x['slope'] for x in sig['decays']):.2f} across a decay)"
            if sig["decays"]
            else "its fluctuation shrinks with the LR"
        ),
        "validation_oscillation": "the validation loss on fixed data alternates too",
        "grad_norm_swings_with_loss": "the gradient norm alternates with the loss",
        "first_order_overshoot": (
            f"each step promises to remove {pct(fo_row['first_order_ratio'])} of the loss "
            f"(η‖g‖² at LR {fmt_lr(fo_row['lr'])}) yet the loss does not fall"
            if fo_row is not None
            else "η‖g‖² promises a large part of the loss yet it does not fall"
        ),
    }
    summary = (
        "The step size is too large for the local curvature: " + "; ".join(words[p] for p in present) + "."
    )
    beta = sig["momentum"]
    expl = (
        "A step of size η along the gradient g changes the loss by about −η‖g‖² + ½η²gᵀHg "
        "(Goodfellow et al., §8.2.1). When η times the curvature λ of the sharpest direction "
        "approaches the stability limit (ηλ < 2 for gradient descent, ηλ < 2(1+β) with heavy-ball "
        "momentum β), the second-order term cancels the gain and the iterate bounces across the "
        "valley instead of descending it. "
    )
    if "first_order_overshoot" in present and fo_row is not None:
        expl += (
            f"Here the first-order term alone would remove {pct(fo_row['first_order_ratio'])} of the loss per "
            f"step, but the loss realises {pct(max(fo_row.get('first_order_efficiency', 0.0), 0.0))} of that "
            "promise: the curvature term eats it. That is not minibatch noise inflating ‖g‖: the gradient "
            f"norm changes slowly (lag-1 autocorrelation {fo_row.get('grad_lag1_autocorr', float('nan')):.2f}), "
            "following the iterate's state, whereas sampling noise is new at every step. "
        )
    else:
        expl += (
            "Minibatch noise alone does not alternate, does not shrink with the LR at a fixed "
            "iterate, and does not move a loss measured on fixed data. "
        )
    expl += (
        "On a bouncing mode the loss λx²/2 need not alternate even when x does, so the curve can "
        "look merely noisy or stuck."
    )
    if beta is not None and not sig["adaptive_optimizer"]:
        expl += (
            f" The log's momentum β = {beta:g} sets the limit at ηλ < {2 * (1 + beta):.3g}, "
            f"and the effective step is η/(1−β) = {times(1 / (1 - beta))} η."
        )
    if sig["log_interval"] > 1:
        expl += (
            f" The loss is logged every {sig['log_interval']} iterations, which aliases a period-2 "
            "bounce; the amplitude-vs-LR and first-order evidence do not depend on it."
        )
    start = osc_rows[0]["start"]
    end = osc_rows[-1]["end"]
    rec = (
        f"Lower the learning rate about {times(lr_hi / target)} ({fmt_lr(lr_hi)} → {fmt_lr(target)})"
        if math.isfinite(target) and math.isfinite(lr_hi) and target > 0
        else "Lower the learning rate about 3x"
    )
    rec += f", or decay it earlier: the oscillation lasts from step {fmt_step(start)} to {fmt_step(end)}"
    if calm:
        rec += f" and is gone once the LR is {fmt_lr(max(r['lr'] for r in calm))}"
    rec += ". A warm-up or gradient clipping helps if the bounce is at the start only."
    return [
        Finding(
            id="step_size_oscillation",
            severity="warning",
            summary=summary,
            tags=(d.tag,),
            step_range=(start, end),
            confidence=min(0.95, 0.45 + 0.15 * len(present)),
            evidence=ev,
            explanation=expl,
            recommendation=rec,
            references=_REFS,
        )
    ]


def detect_noisy_loss(run: Run, *, config: AnalysisConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Detect a loss that fluctuates a lot from minibatch sampling (not from the step size).

    Returns
    -------
    list with at most one ``noisy_loss`` Finding (info), reported when the relative
    fluctuation about the trend is at least ``config.noise_min_amplitude`` and none of
    the oscillation signatures is present (not even one, short of
    ``config.osc_min_signals``).

    Raises
    ------
    NotAssessable
        When the run has no training loss.
    """
    d = require_loss(run, "noisy_loss", min_points=config.min_loss_points)
    sig = oscillation_signals(run, config)
    if sig is None or sig["oscillating"] or not d.positive:
        return []
    if sig["signals_present"]:
        # one signature of a too-large step is present (too few for step_size_oscillation):
        # calling the scatter plain minibatch noise would contradict the evidence
        return []
    amp = sig["amplitude"]
    if not (math.isfinite(amp) and amp >= config.noise_min_amplitude):
        return []
    # ... and visible next to the progress the loss made (a scatter of +-100% around a
    # loss of 0.001 that fell from 2.3 is not worth a word)
    tr = trend_of(run, d.tag, config=config)
    level = float(np.median(d.fvalues))
    if tr is not None and amp * level < config.noise_min_progress * abs(tr.start_level - tr.end_level):
        return []
    ev = _evidence(sig)
    tests = decay_tests(run, config)
    ev["decay_tests"] = tests
    b = batch_size(run)
    has_lr = bool(run.roles.get("lr"))
    summary = (
        f"The loss fluctuates by about ±{pct(amp)} around its trend; the fluctuation shows none "
        "of the signatures of a too-large step, so it is minibatch noise."
    )
    checked = [SIGNAL_WORDS[k] for k in sig["signals"] if k not in sig["signals_unavailable"]]
    expl = (
        "Each logged loss is measured on one minibatch, so it scatters around the full-data loss "
        "with a standard deviation that falls as 1/√batch. That scatter is not a problem, and it is "
        "not what a too-large step leaves behind. Checked and absent: " + "; ".join(checked) + "."
    )
    if not has_lr:
        expl += " The log has no LR series, so amplitude-vs-LR could not be checked."
    if tests:
        expl += (
            " Nor does the LR set the loss's level: "
            + "; ".join(
                f"at the decay at step {fmt_step(t['step'])} the loss fell "
                f"{pct(t['observed_drop'])} ({pct(t['predicted_drop'])} predicted by its trend)"
                for t in tests
            )
            + (
                " — not the sharp drop of an LR-limited plateau."
                if not any(t["limited"] for t in tests)
                else " (see lr_limited_plateau)."
            )
        )
    if b:
        rec = (
            f"Nothing is wrong. For a smoother curve (and less gradient noise) use a larger batch "
            f"({b} → {4 * b} halves the fluctuation), or plot a running average (EMA weight 0.9). "
            "Lowering the LR would slow training without removing this scatter."
        )
    else:
        rec = (
            "Nothing is wrong. For a smoother curve use a larger batch (4x the batch halves the "
            "fluctuation) or plot a running average (EMA weight 0.9); lowering the LR would slow "
            "training without removing this scatter."
        )
    return [
        Finding(
            id="noisy_loss",
            severity="info",
            summary=summary,
            tags=(d.tag,),
            step_range=(int(d.fsteps[0]), int(d.fsteps[-1])),
            confidence=0.7 if has_lr else 0.5,
            evidence=ev,
            explanation=expl,
            recommendation=rec,
            references=(
                "Goodfellow, Bengio & Courville, Deep Learning (2016), §8.1.3 (minibatch "
                "gradient noise falls as 1/√m)",
            ),
        )
    ]
