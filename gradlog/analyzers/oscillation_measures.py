"""The oscillation measure: the five signatures of a too-large step, per LR phase.

:func:`oscillation_signals` is a *measure* (cached per run, no findings); the detectors
in :mod:`gradlog.analyzers.oscillation` (and the plateau, LR-too-small and verdict code)
read it. Each signature is computed by a function of its own, in the order of the
:mod:`~gradlog.analyzers.oscillation` module docstring:

- :func:`phase_rows`: the residual statistics of the loss (and of the gradient norm) in
  each LR phase, the rows every signal reads;
- :func:`alternation`, :func:`amplitude_vs_lr`, :func:`validation_signal`,
  :func:`grad_swing`, :func:`first_order`: signals 1-5;
- :func:`grad_decays`: the gradient norm's level across decays (reported only).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlog.analyzers.config import DEFAULT_CONFIG, AnalysisConfig
from gradlog.analyzers.context import (
    SeriesData,
    cached,
    is_adaptive_optimizer,
    loss_data,
    lr_at,
    momentum,
    phase_windows,
    series_data,
    total_grad_tag,
)
from gradlog.analyzers.divergence import divergence_info
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
from gradlog.run import Run

__all__ = [
    "oscillation_signals",
    "phase_rows",
    "alternation",
    "amplitude_vs_lr",
    "validation_signal",
    "grad_swing",
    "grad_decays",
    "first_order",
    "first_order_ratio",
]

# exp() of more than this overflows a float (the largest double is about e^709.8)
_LOG_FLOAT_MAX = 700.0


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
    """Return the lag-1 autocorrelation (and its white-noise null), high-frequency power
    and amplitude of the residuals of some blocks (``n`` = 0 when none could be read)."""
    res_all: list[np.ndarray] = []
    steps_all: list[np.ndarray] = []
    lag_num = lag_w = hf_num = null_num = null_var = 0.0
    peak: list[float] = []
    for st, y in blocks:
        if len(y) < cfg.osc_block_min_points:
            continue
        _trend, r = smooth_residuals(y, cfg.osc_trend_window)
        rw = winsorize(r, cfg.osc_winsor_k)
        rho = lag1_autocorr(rw)
        hf, pf = highfreq_fraction(rw, cfg.osc_highfreq_cutoff)
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
        "lag1_threshold": min(cfg.osc_lag1_max, null_mean - cfg.osc_null_z * null_sd),
        "lag1_null": (null_mean, null_sd),
        "highfreq": hf_num / lag_w,
        "peak_freq": float(np.median(peak)) if peak else math.nan,
        "res": res,
        "steps": np.concatenate(steps_all),
    }


def _pooled_null(st: dict[str, Any]) -> tuple[float, float]:
    return st.get("lag1_null", (math.nan, math.nan))


def _rel_amp(d: SeriesData, amp: float) -> float:
    """Return the relative amplitude (fraction of the level) of a residual SD in analysis
    space (NaN when ``amp`` is not finite)."""
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


def first_order_ratio(lr: float, gnorm: float, level: float) -> float | None:
    """Return ``lr * gnorm**2 / level`` (the first-order promise as a fraction of the loss),
    or None unless all three are positive and finite and so is the ratio (a dead network's
    zero gradient promises nothing; norms near 1e160 overflow the square)."""
    if not all(math.isfinite(v) and v > 0 for v in (lr, gnorm, level)):
        return None
    # in logs: the square of a norm of 1e160 overflows a float, the ratio may not
    log_r = math.log(lr) + 2.0 * math.log(gnorm) - math.log(level)
    if not -_LOG_FLOAT_MAX < log_r < _LOG_FLOAT_MAX:
        return None
    return math.exp(log_r)


def _is_decay(lr_before: float | None, lr_after: float | None, cfg: AnalysisConfig) -> bool:
    """True when both LRs are known and the first is over ``cfg.osc_decay_ratio`` times the second."""
    return bool(lr_before and lr_after and lr_before > lr_after * cfg.osc_decay_ratio)


# ---- the rows: residual statistics per LR phase ------------------------------------------


def _grad_phase_stats(
    run: Run,
    row: dict[str, Any],
    d: SeriesData,
    g: SeriesData,
    lr: float,
    adaptive: bool,
    config: AnalysisConfig,
) -> None:
    """Add the gradient norm's level, residual statistics and first-order ratio (with the
    loss's realised share of it) of the phase ``[row["_lo"], row["_hi"]]`` to ``row``."""
    lo, hi = row["_lo"], row["_hi"]
    gi0 = int(np.searchsorted(g.fsteps, lo, side="left"))
    gi1 = int(np.searchsorted(g.fsteps, hi, side="right"))
    if gi1 - gi0 < config.osc_grad_min_points:
        return
    gmed = float(np.median(g.fvalues[gi0:gi1]))
    row["grad_level"] = gmed
    gst = _residual_stats(_blocks(g, lo, hi, config), config)
    if gst["n"] >= config.osc_min_points:
        m0, _s0 = _pooled_null(gst)
        row["grad_lag1_autocorr"] = gst["lag1"]
        row["_grad_lag1_margin"] = gst["lag1"] - m0
        row["_grad_lag1_threshold"] = gst["lag1_threshold"]
        row["_grad_res"], row["_grad_steps"] = gst["res"], gst["steps"]
    # first-order arithmetic: eta * ||g||^2 / loss (an L2 norm, plain SGD)
    li0 = int(np.searchsorted(d.fsteps, lo, side="left"))
    li1 = int(np.searchsorted(d.fsteps, hi, side="right"))
    lvl = float(np.median(d.fvalues[li0:li1]))
    ratio = first_order_ratio(lr, gmed, lvl)
    if not adaptive and g.tag.startswith("grad_norm/") and ratio is not None:
        row["first_order_ratio"] = ratio
        tr = trend_of(run, d.tag, start=lo, end=hi, scope="osc", config=config)
        if tr is not None and d.positive and math.isfinite(tr.slope):
            # realised decrease per iteration as a fraction of the promised one (the slope
            # is in log10 units per 1,000 steps)
            per_step = -math.log(10.0) * tr.slope / 1000.0
            row["first_order_efficiency"] = per_step / ratio


def phase_rows(
    run: Run, d: SeriesData, stop: float, g: SeriesData | None, config: AnalysisConfig
) -> list[dict[str, Any]]:
    """Return one row of residual statistics per LR phase of the loss ``d`` (up to
    ``stop``, the start of a divergence), skipping the first ``config.osc_phase_skip`` of
    each phase and phases with fewer than ``config.osc_min_points`` points. Keys starting
    with ``_`` are internal (thresholds, the residuals, the window)."""
    windows: list[tuple[Any, float, float | None]] = list(phase_windows(run))
    if not windows:
        windows = [(None, -math.inf, None)]
    k = d.interval
    adaptive = is_adaptive_optimizer(run)
    rows: list[dict[str, Any]] = []
    for ph, start, end in windows:
        lo = max(start, float(d.fsteps[0]))
        hi = min(end if end is not None else math.inf, float(d.fsteps[-1]), stop)
        if hi <= lo:
            continue
        lo = lo + config.osc_phase_skip * (hi - lo)
        st = _residual_stats(_blocks(d, lo, hi, config), config)
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
            _grad_phase_stats(run, row, d, g, lr, adaptive, config)
        rows.append(row)
    return rows


# ---- signals 1-5 -----------------------------------------------------------------------------


def alternation(rows: list[dict[str, Any]], config: AnalysisConfig) -> list[dict[str, Any]]:
    """Signal 1: return the phases whose residuals alternate (lag-1 at or below its
    threshold, high-frequency power at least ``config.osc_highfreq_min``)."""
    return [
        r
        for r in rows
        if math.isfinite(r["lag1_autocorr"])
        and r["lag1_autocorr"] <= r["_lag1_threshold"]
        and math.isfinite(r["highfreq_fraction"])
        and r["highfreq_fraction"] >= config.osc_highfreq_min
    ]


def _amp_scales(decay: dict[str, Any], config: AnalysisConfig) -> bool:
    return bool(
        decay["amplitude_ratio"] >= config.osc_amp_drop_min and decay["slope"] >= config.osc_amp_lr_slope_min
    )


def amplitude_vs_lr(
    rows: list[dict[str, Any]], config: AnalysisConfig
) -> tuple[list[dict[str, Any]], float, bool]:
    """Signal 2: return ``(decays, slope, scales)``: the residual amplitude before and
    after each LR decay, the slope of log amplitude on log LR over all phases (NaN with
    fewer than two usable phases or LRs within ``config.osc_decay_ratio``), and whether
    a decay shows the amplitude scaling with the LR."""
    decays: list[dict[str, Any]] = []
    for a, b in zip(rows, rows[1:], strict=False):
        if not (a["lr"] and b["lr"]) or a["lr"] <= b["lr"] * config.osc_decay_ratio:
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
    if len(rows) >= 2:
        lrs = np.array([r["lr"] or math.nan for r in rows], dtype=float)
        amps = np.array([r["_amp_log"] for r in rows], dtype=float)
        ok = np.isfinite(lrs) & (lrs > 0) & np.isfinite(amps) & (amps > 0)
        if ok.sum() >= 2 and np.ptp(np.log(lrs[ok])) > math.log(config.osc_decay_ratio):
            amp_lr_slope = float(np.polyfit(np.log(lrs[ok]), np.log(amps[ok]), 1)[0])
    return decays, amp_lr_slope, any(_amp_scales(x, config) for x in decays)


def _val_jitter_decays(per_phase: list[dict[str, Any]], config: AnalysisConfig) -> list[dict[str, Any]]:
    """The validation jitter before and after each LR decay (reported, not counted)."""
    vdrops = []
    for a_, b_ in zip(per_phase, per_phase[1:], strict=False):
        if _is_decay(a_["lr"], b_["lr"], config) and b_["jitter"] > 0:
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
    return vdrops


def validation_signal(
    run: Run, rows: list[dict[str, Any]], stop: float, config: AnalysisConfig
) -> tuple[dict[str, Any], bool]:
    """Signal 3: return ``(validation, oscillates)``: the validation loss's residual
    jitter and lag-1 autocorrelation (overall and per LR phase; ``{"available": False}``
    without a validation loss of ``config.val_min_points`` points before ``stop``), and
    whether it alternates with a jitter of at least ``config.osc_val_jitter_min``."""
    val: dict[str, Any] = {"available": False}
    vtag = run.roles.get("val_loss")
    if vtag and vtag in run:
        v = series_data(run, vtag)
        vs, vy = v.fsteps, v.y
        keep = vs < stop
        vs, vy = vs[keep], vy[keep]
        if len(vy) >= config.val_min_points:
            vw = next(w for n_min, w in config.osc_val_windows if len(vy) >= n_min)
            _t, vr = smooth_residuals(vy, vw)
            jit = _rel_amp(v, robust_sd(vr))
            vlag = lag1_autocorr(vr)
            m0, s0 = residual_lag1_null(vw, len(vy))
            vthr = min(config.osc_val_lag1_max, m0 - config.osc_null_z * s0)
            per_phase = []
            for r in rows:
                m = (vs >= r["_lo"]) & (vs <= r["_hi"])
                if m.sum() >= config.osc_val_phase_min_points:
                    per_phase.append(
                        {
                            "start": r["start"],
                            "lr": r["lr"],
                            "jitter": _rel_amp(v, robust_sd(vr[m])),
                            "n": int(m.sum()),
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
                "decays": _val_jitter_decays(per_phase, config),
            }
    val_osc = bool(
        val.get("available")
        and val["jitter"] >= config.osc_val_jitter_min
        and math.isfinite(val["lag1_autocorr"])
        and val["lag1_autocorr"] <= val["lag1_threshold"]
    )
    return val, val_osc


def grad_swing(
    rows: list[dict[str, Any]], g: SeriesData | None, config: AnalysisConfig
) -> tuple[dict[str, Any], bool]:
    """Signal 4: return ``(grad, swings)``: the correlation of the gradient norm's
    residuals with the loss's at the same steps (pooled over the phases; sets
    ``grad_loss_corr`` on each row that has it) and its lag-1 autocorrelation, and
    whether it alternates in step with the loss (correlation at least
    ``config.osc_grad_corr_min``)."""
    grad: dict[str, Any] = {"available": False}
    corr_num = corr_w = glag_num = gthr_num = 0.0
    for r in rows:
        if "_grad_res" not in r:
            continue
        common, il, ig = np.intersect1d(
            r["_steps"], r["_grad_steps"], assume_unique=True, return_indices=True
        )
        if len(common) >= config.osc_min_points:
            ra = winsorize(r["_res"][il], config.osc_winsor_k)
            rb = winsorize(r["_grad_res"][ig], config.osc_winsor_k)
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
    swings = bool(
        grad.get("available")
        and grad["loss_corr"] >= config.osc_grad_corr_min
        and grad["lag1_autocorr"] <= grad["lag1_threshold"]
    )
    return grad, swings


def grad_decays(rows: list[dict[str, Any]], config: AnalysisConfig) -> tuple[list[dict[str, Any]], bool]:
    """Return ``(decays, dropped)``: the gradient norm's level before over after each LR
    decay, and whether one fell at least ``config.osc_grad_drop_min`` (reported only)."""
    out: list[dict[str, Any]] = []
    for a, b in zip(rows, rows[1:], strict=False):
        if _is_decay(a["lr"], b["lr"], config) and a.get("grad_level") and b.get("grad_level"):
            ratio = a["grad_level"] / b["grad_level"]
            gslope = log_ratio(a["grad_level"], b["grad_level"]) / log_ratio(a["lr"], b["lr"])
            if math.isfinite(ratio) and math.isfinite(gslope):
                out.append({"step": b["start"], "grad_ratio": ratio, "slope": gslope})
    return out, any(x["grad_ratio"] >= config.osc_grad_drop_min for x in out)


def first_order(
    rows: list[dict[str, Any]], config: AnalysisConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Signal 5: return ``(rows with a first-order ratio, the rows that overshoot)``.

    A phase overshoots when its step promises at least ``config.osc_first_order_min`` of
    the loss, the loss realises less than ``config.osc_first_order_efficiency`` of that,
    and the gradient norm moves with the iterate's state (slowly) rather than with
    minibatch sampling (its lag-1 at least ``config.osc_grad_state_margin`` above the
    null). Sets ``first_order_overshoot`` and ``window_start`` on each row with a ratio.
    """
    fo_rows = [r for r in rows if "first_order_ratio" in r]
    fo_hits = [
        r
        for r in fo_rows
        if r["first_order_ratio"] >= config.osc_first_order_min
        and r.get("first_order_efficiency", math.inf) < config.osc_first_order_efficiency
        and r.get("_grad_lag1_margin", -math.inf) >= config.osc_grad_state_margin
    ]
    for r in fo_rows:  # per phase, for the report and its first-order figure
        r["first_order_overshoot"] = any(r is h for h in fo_hits)
        r["window_start"] = float(r["_lo"])
    return fo_rows, fo_hits


# ---- the combination -------------------------------------------------------------------------


def _unavailable(
    interval: int,
    rows: list[dict[str, Any]],
    val: dict[str, Any],
    grad: dict[str, Any],
    fo_rows: list[dict[str, Any]],
) -> dict[str, str]:
    """Why each signal that could not be measured could not."""
    unavailable: dict[str, str] = {}
    if interval > 1:
        unavailable["alternation"] = (
            f"the loss is logged every {interval} iterations, which aliases a "
            "period-2 bounce (invisible when the interval is even): its "
            "absence says nothing"
        )
    if len(rows) < 2:
        unavailable["amplitude_scales_with_lr"] = "no LR decay to compare amplitudes across"
    if not val.get("available"):
        unavailable["validation_oscillation"] = "no validation-loss series with enough points"
    if not grad.get("available"):
        unavailable["grad_norm_swings_with_loss"] = "no gradient-norm series at the loss steps"
    elif interval > 1 and interval % 2 == 0:
        unavailable["grad_norm_swings_with_loss"] = (
            f"the loss is logged every {interval} iterations: a period-2 bounce cannot alternate "
            "from one logged point to the next"
        )
    if not fo_rows:
        unavailable["first_order_overshoot"] = (
            "needs an LR and a gradient 2-norm series, and plain SGD (not an adaptive optimizer)"
        )
    return unavailable


def _oscillating_starts(
    rows: list[dict[str, Any]],
    alt_phases: list[dict[str, Any]],
    fo_hits: list[dict[str, Any]],
    decays: list[dict[str, Any]],
    oscillating: bool,
    config: AnalysisConfig,
) -> list[int]:
    """The start steps of the phases that oscillate (empty when the run does not)."""
    osc_starts = {r["start"] for r in alt_phases} | {r["start"] for r in fo_hits}
    starts = [r["start"] for r in rows]
    for dec in decays:
        if _amp_scales(dec, config):
            osc_starts.add(max(s_ for s_ in starts if s_ < dec["step"]))
    if oscillating and not osc_starts:
        osc_starts.add(starts[0])
    return sorted(osc_starts) if oscillating else []


def _measure(run: Run, config: AnalysisConfig) -> dict[str, Any] | None:
    d = loss_data(run)
    if d is None or d.n < config.min_loss_points:
        return None
    div = divergence_info(run, config)
    stop = float(div["begin_step"]) if div is not None else math.inf
    g = _total_grad(run)
    rows = phase_rows(run, d, stop, g, config)
    if not rows:
        return None
    alt_phases = alternation(rows, config)
    decays, amp_lr_slope, lr_scaling = amplitude_vs_lr(rows, config)
    val, val_osc = validation_signal(run, rows, stop, config)
    grad, swing = grad_swing(rows, g, config)
    if d.interval % 2 == 0:
        # Logged every even number of steps, a period-2 bounce of the iterate is sampled at
        # one phase (or averaged out in a running mean): it cannot alternate from point to
        # point. Alternation seen there comes from elsewhere (the order of the data: an
        # epoch of 12.5 steps sampled every 10), so neither alternation signal counts.
        alt_phases, swing = [], False
    g_decays, g_drop = grad_decays(rows, config)
    fo_rows, fo_hits = first_order(rows, config)
    signals = {
        "alternation": bool(alt_phases),
        "amplitude_scales_with_lr": lr_scaling,
        "validation_oscillation": val_osc,
        "grad_norm_swings_with_loss": swing,
        "first_order_overshoot": bool(fo_hits),
    }
    pattern = [bool(alt_phases), lr_scaling, val_osc, swing]
    oscillating = bool(fo_hits) or sum(pattern) >= config.osc_min_signals
    # overall fluctuation of the loss
    all_amp = float(np.median([r["_amp_log"] for r in rows]))
    return {
        "oscillating": oscillating,
        "signals": signals,
        "signals_present": [k_ for k_, v_ in signals.items() if v_],
        "signals_unavailable": _unavailable(d.interval, rows, val, grad, fo_rows),
        "phases": rows,
        "alternating_phases": [r["start"] for r in alt_phases],
        "oscillating_phases": _oscillating_starts(rows, alt_phases, fo_hits, decays, oscillating, config),
        "decays": decays,
        "amplitude_lr_slope": amp_lr_slope,
        "validation": val,
        "grad": grad,
        "grad_decays": g_decays,
        "grad_drop": g_drop,
        "amplitude": _rel_amp(d, all_amp),
        "log_interval": d.interval,
        "momentum": momentum(run),
        "adaptive_optimizer": is_adaptive_optimizer(run),
    }


def oscillation_signals(run: Run, config: AnalysisConfig = DEFAULT_CONFIG) -> dict[str, Any] | None:
    """Measure the five oscillation signatures of the training loss (cached per run).

    Returns
    -------
    dict (see the keys of the ``step_size_oscillation`` evidence), or None when the run
    has no loss with at least ``config.min_loss_points`` finite points. ``oscillating``
    says whether the combination meets the rule of the
    :mod:`~gradlog.analyzers.oscillation` module docstring.
    """
    return cached(run, ("oscillation", config), lambda: _measure(run, config))
