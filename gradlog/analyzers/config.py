"""Every threshold the analyzers use, in one place, each with the reason for its value.

The defaults were set on the *tune* part of ``bench/diagnosis`` (runs whose truth is
known from instrumentation the log does not hold) and checked on its *holdout* part;
they are round numbers on purpose. Pass a modified copy to any detector:

>>> from dataclasses import replace
>>> from gradlog.analyzers.config import DEFAULT_CONFIG
>>> strict = replace(DEFAULT_CONFIG, trend_alpha=0.01)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AnalysisConfig", "DEFAULT_CONFIG"]


@dataclass(frozen=True)
class AnalysisConfig:
    """Tunables of the analyzers (frozen; use :func:`dataclasses.replace` to change)."""

    # ---- numerics / speed -------------------------------------------------------------
    # Long series are reduced to at most this many equal-count bins (bin medians) before
    # the O(n^2) statistics (Theil-Sen, Mann-Kendall). 400 bins keep the slope's
    # resolution far below any trend worth reporting and cost ~10 ms per fit.
    max_bins: int = 400
    # The oscillation statistics need *consecutive* raw points (thinning would destroy
    # the period-2 pattern); per LR phase at most this many are read, in evenly spread
    # contiguous blocks of `raw_block` points.
    max_raw_points: int = 20_000
    raw_block: int = 2_000
    # Mann-Kendall is valid only for independent points: the binned series is thinned
    # (adjacent bins merged) until the lag-1 autocorrelation of its detrended residuals
    # is no longer significant, but never below this many points (at 12 points a
    # perfectly monotone series still gives p ~ 1e-5).
    mk_min_points: int = 12
    # Robust start / end levels are medians of this fraction of the points (at least
    # `level_min_points`), so a single outlier never sets a fold change.
    level_fraction: float = 0.1
    level_min_points: int = 3

    # The point-to-point noise SD (robust SD of first differences / sqrt 2) needs at least
    # this many points; with fewer it is taken as 0 (or the test it feeds is skipped).
    noise_min_points: int = 5
    # The smallest running median (3 points: one outlier never sets a level); used where a
    # series is too short for a longer window.
    min_median_window: int = 3

    # Windows of more than `fine_bins_from` x `max_bins` points are fitted on cached medians
    # of `fine_bins_factor` x `max_bins` equal-count bins of the whole series instead of
    # their raw points (16 fine bins per fitted bin: the fit's resolution is unchanged).
    fine_bins_factor: int = 16
    fine_bins_from: int = 4

    # ---- trends -------------------------------------------------------------------------
    # A trend is called rising/falling when its Mann-Kendall p-value is below this and
    # the Theil-Sen 95% interval excludes zero; otherwise "flat".
    trend_alpha: float = 0.05
    # A trend's direction never contradicts its fold change: a change of at least this
    # factor either way (end level / start level) decides rising or falling even when the
    # trend test lacks power (a short blow-up), and opposite signs of slope and fold read flat.
    trend_decisive_fold: float = 2.0
    # A whole-run trend (and the trend of a plateau's tail) needs at least this many
    # finite points: fewer give no slope with an interval.
    trend_run_min_points: int = 4
    # Per-LR-phase trends need at least this many finite points in the phase.
    trend_min_points: int = 8
    # A thinned series whose first differences have a bias-corrected lag-1 autocorrelation
    # at least this is a smooth curve (an exponential decay gives about 0.8): its wiggles
    # about a line are the trend's own curvature, not persistent noise, so the
    # Mann-Kendall variance is not inflated for autocorrelation. Noise about any trend
    # gives differences at or below 0 (white: -0.5, random walk: about 0); 0.5 is 2.4 SDs
    # above a random walk on 22 points.
    trend_smooth_min_autocorr: float = 0.5

    # ---- loss plateau -------------------------------------------------------------------
    # The loss has "stopped improving" from the earliest step after which its smoothed
    # level stays within this relative band of its final level (5%: less than that is
    # what a converged run still drifts by).
    plateau_band: float = 0.05
    # ... and that tail must span at least this fraction of the run's steps (shorter
    # flat ends are normal convergence, not a plateau worth a finding).
    plateau_min_fraction: float = 0.25
    # The band is widened to 3 standard errors of the smoothed level on noisy series; past
    # this width (20%) the level is too noisy to say where it stopped moving: no finding.
    plateau_max_band: float = 0.20
    # The plateau's smoothed level: medians of about `plateau_points_per_bin` points per bin
    # (at least `plateau_min_bins` bins, fewer points per bin on short series), then a
    # running median over 1/`plateau_smooth_div` of the bins: a level whose noise is small
    # next to the band; the band is at least `plateau_band_se` standard errors of it.
    plateau_points_per_bin: int = 10
    plateau_min_bins: int = 20
    plateau_smooth_div: int = 10
    plateau_band_se: float = 3.0
    # A flat tail "sits above the best level" (the loss rose; it did not stall) only when
    # its level exceeds the lowest smoothed level by this many bands: that lowest level is
    # a minimum over many noisy running medians, biased low by about two of their
    # standard errors, while the band is at least three of them.
    plateau_rise_bands: float = 2.0
    # A decay up to this fraction of the run before the plateau's estimated start that
    # did not lower the loss is counted as tried during the plateau (the start is known
    # to about a logging window: 5% of the run).
    plateau_decay_margin: float = 0.05
    # Minimum finite loss points for any level-based loss detector.
    min_loss_points: int = 20

    # ---- oscillation vs noise -----------------------------------------------------------
    # Residuals are taken around a running median (this many points) of the 2-point
    # moving average, which cancels an exact period-2 pattern before the median sees it.
    osc_trend_window: int = 15
    # The first part of each LR phase is skipped: after an LR change the loss relaxes to
    # its new level and that transient is neither oscillation nor noise.
    osc_phase_skip: float = 0.15
    # Points per phase needed to estimate a lag-1 autocorrelation (its standard error
    # under noise is 1/sqrt(n): 0.1 at 100 points).
    osc_min_points: int = 60
    # Residual lag-1 autocorrelation at or below this is "alternating": white noise
    # around the running median gives about -0.05; a period-2 bounce gives -1.
    osc_lag1_max: float = -0.35
    # Fraction of residual power above 0.35 cycles/sample (periods shorter than ~2.9
    # samples) at or above this is a "spectral peak near period 2"; white noise puts
    # 30% of its power there.
    osc_highfreq_min: float = 0.55
    # ... the frequency (cycles per sample) above which power counts as "near period 2".
    osc_highfreq_cutoff: float = 0.35
    # Residuals are winsorized at this many robust SDs before their autocorrelation, power
    # spectrum and correlation are taken: one spike must not set them.
    osc_winsor_k: float = 5.0
    # Amplitude vs LR across a decay: slope of log(amplitude) on log(LR). Step-size
    # driven bounce scales ~linearly with the LR (slope ~1); minibatch sampling noise
    # does not depend on the LR at a fixed iterate (slope ~0).
    osc_amp_lr_slope_min: float = 0.6
    # ... and the amplitude must drop at least this factor across that decay.
    osc_amp_drop_min: float = 1.5
    # A validation loss (fixed data) that alternates: its residual lag-1 at or below
    # this (and below its white-noise null), with at least `val_min_points` points and
    # relative jitter above `osc_val_jitter_min`. Validation jitter that merely shrinks
    # with the LR is reported but not counted: an iterate wandering in its noise ball
    # does that too (the bench's small-batch runs show 10-40x drops at a decay).
    osc_val_lag1_max: float = -0.35
    osc_val_jitter_min: float = 0.01
    val_min_points: int = 8
    # Gradient norm swinging with the loss: correlation of the two residual series at
    # the same steps at or above this, together with an alternating gradient norm.
    osc_grad_corr_min: float = 0.5
    # Gradient norm that falls with the LR: its level before a decay over its level after
    # (reported only: a loss that drops at a decay takes its gradient norm with it).
    osc_grad_drop_min: float = 1.5
    # First-order arithmetic: a step eta*g promises a decrease of eta*||g||^2. In an LR
    # phase where that promise is at least this fraction of the loss ... For one
    # quadratic mode the ratio is 2*eta*lambda times the share of the loss that mode
    # holds; at the heavy-ball edge (eta*lambda = 2(1+beta)) a bouncing mode that holds
    # only 5% of the loss still gives 0.2. On the bench (tune split) the bouncing runs
    # measure 0.17-3.4 (the tanh regressions, whose bouncing mode holds little of the
    # loss, 0.17-0.41) and the non-bouncing runs whose gradient norm also follows the
    # iterate's state (full batch; the replica after its decays) 0.07 or less.
    osc_first_order_min: float = 0.15
    # ... while the loss realises less than this fraction of the promise (it does not
    # fall: the second-order term eta^2/2 g'Hg eats the gain, the step overshoots). A
    # mode at S = eta*lambda/(2(1+beta)) realises at most 1 - S of its promise, and the
    # minibatch norm overstates the promise by 1 + tr(Sigma)/(B ||g||^2), so a bouncing
    # run realises a few thousandths (bouncing runs of ../shared/validation: 5e-5..0.019),
    # while edge-of-stability runs whose loss keeps falling (linear warm-up then a
    # constant LR; a CNN at batch 128) realise 0.025-0.03 and must not be called
    # oscillating.
    osc_first_order_efficiency: float = 0.02
    # ... and the gradient norm follows the iterate's state, not minibatch sampling:
    # minibatch noise inflates ||g||^2 (E||g_B||^2 = ||g||^2 + tr(Sigma)/B) with values
    # independent from step to step, while a bouncing iterate's energy changes slowly,
    # so the norm's residual lag-1 autocorrelation must exceed its white-noise null by
    # this much (noise-dominated norms on the bench: -0.1..0.3; bouncing: 0.28..0.78).
    osc_grad_state_margin: float = 0.35
    # Otherwise at least this many of the pattern signals (alternation, amplitude vs LR,
    # alternating validation loss, gradient norm alternating with the loss).
    osc_min_signals: int = 2
    # An alternation must also lie this many null SDs below the lag-1 autocorrelation
    # white noise gives after the same detrending (a one-sided 0.1% test), on top of the
    # effect size `osc_lag1_max` (and `osc_val_lag1_max` for the validation loss).
    osc_null_z: float = 3.1
    # Two neighbouring LR phases count as a decay (for amplitude, validation jitter and
    # gradient level vs LR) when the earlier LR is over this factor of the later one: a
    # 20% change is the least whose effect on an amplitude stands out of its noise, and
    # the amplitude-vs-LR slope is fitted only over LRs that span more than it.
    osc_decay_ratio: float = 1.2
    # A contiguous block of raw points shorter than this gives no residual statistics (the
    # running median and lag-1 need a few points on either side).
    osc_block_min_points: int = 8
    # The gradient norm's level, residuals and first-order ratio in a phase need at least
    # this many logged gradient-norm points there.
    osc_grad_min_points: int = 5
    # Running-median window of the validation loss's residuals, by its point count
    # (`(min points, window)`, first match): validation losses are logged sparsely, so the
    # window shrinks with the series but stays odd and at least 5.
    osc_val_windows: tuple[tuple[int, int], ...] = ((40, 9), (20, 7), (0, 5))
    # A phase's validation jitter needs at least this many evaluations inside the phase.
    osc_val_phase_min_points: int = 4
    # noisy_loss: reported when the robust relative fluctuation of the loss around its
    # trend is at least this (15%: smaller scatter is unremarkable) and no oscillation
    # signature is present.
    noise_min_amplitude: float = 0.15
    # ... and the scatter (in loss units, at the loss's median level) at least this
    # fraction of the loss's total change over the run.
    noise_min_progress: float = 0.05

    # ---- LR-limited plateau -----------------------------------------------------------
    # At a decay the mean loss must drop beyond its extrapolated trend by this many
    # standard errors of the difference of the two window means (points and lag-1
    # autocorrelation counted). Four, not two: an AR(1) error understates the
    # uncertainty of heavy-tailed, long-memory minibatch losses, and every decay of every
    # run is a test of its own ...
    decay_z_min: float = 4.0
    # ... and by at least this relative amount (30%: a sharp step down, against the
    # 10-25% a decay gives a run that was still converging). Means, not medians: the mean
    # of minibatch losses estimates the mean full-data loss without bias, bounces of the
    # iterate included, so neither the shrinking minibatch noise after a decay nor a
    # median that drops the excursions of a bouncing iterate fakes or hides a drop.
    decay_min_drop: float = 0.30
    # The test on window means runs only with at least this many points in each window:
    # the normal approximation of a mean's standard error needs a few dozen points, and a
    # loss whose minibatch values span orders of magnitude (a classifier near zero loss)
    # has a mean ruled by its few largest values.
    decay_mean_min_points: int = 30
    # ... after a flat stretch: over the second half of the phase before the decay the
    # trend fell at most this much (the loss "sat on a plateau").
    decay_pre_max_fall: float = 0.25
    # The trend before a decay is fitted on the last `decay_window_fraction` of the phase
    # before it; the level after it is the mean of the second half of a window as long
    # (the first half is the relaxation to the new level).
    decay_window_fraction: float = 0.3
    # Where a validation loss is logged on both sides of a decay (at least
    # `decay_val_min_points` points each), its mean must fall by at least this fraction too: a
    # plateau the LR sets is a plateau of the objective, and lowering its floor lowers
    # the held-out loss as well. A training loss that drops while the validation loss does
    # not move is the net fitting its training minibatches (noisy labels, dropout), and
    # decaying earlier would buy the user nothing.
    decay_val_min_drop: float = 0.05
    decay_val_min_points: int = 2

    # Decays are tested only on a loss of at least this many points ...
    decay_min_loss_points: int = 8
    # ... with at least this many points before the decay (else the phase's last ones) for
    # the trend, and this many after it (else the first ones after the decay) for the level.
    decay_min_pre_points: int = 4
    decay_min_post_points: int = 3
    # The level before the decay: the last third of the pre-decay window (from this
    # fraction of it on), where the extrapolation starts.
    decay_tail_from: float = 2.0 / 3.0
    # The residuals after the decay are taken about their own trend with at least this many
    # binned points (else about their median).
    decay_post_fit_min_points: int = 4
    # The loss is "flat again" after the last decay when a plateau spans this fraction of
    # the last phase (one more decay is then advised).
    decay_flat_again_fraction: float = 0.5
    # The patience suggested for a plateau-triggered schedule, as a fraction of the run.
    decay_patience_fraction: float = 0.05
    # lr_limited_plateau is a warning when the steps the plateaus wasted are at least this
    # share of the run (info below: little compute lost).
    decay_saved_warning_share: float = 0.1

    # ---- divergence / spikes --------------------------------------------------------------
    # The loss diverged when its smoothed level ends at least this factor above its
    # running minimum and has lost at least `divergence_progress_lost` of the progress
    # it made (so a 0.001 -> 0.003 wobble of a converged loss is not a divergence).
    divergence_factor: float = 2.0
    divergence_progress_lost: float = 0.5
    # The LR to suggest after a divergence: this fraction of the LR when it began.
    divergence_lr_cut: float = 1.0 / 3.0
    # A blow-up that begins within this many logged points after a resume is linked to it.
    divergence_resume_points: int = 3
    # A signed loss (a WGAN critic, a log-likelihood) has no ratios: besides rising
    # `divergence_factor` times its own magnitude, the rise must be at least this many
    # point-to-point noise SDs (10: a rise a noisy stationary loss never makes by chance).
    divergence_signed_z: float = 10.0
    # A persistent excursion that runs to the last point counts as a divergence only when
    # every point in it stands at least this many noise SDs above the median level just
    # before it (5: beyond the reach of the loss's own scatter, so a noisy tail is not
    # read as a blow-up).
    divergence_excursion_z: float = 5.0
    # Divergence needs at least this many loss points (finite ones, besides a non-finite
    # end): fewer give no level to rise from.
    divergence_min_points: int = 4
    # The loss "turned non-finite for good" at the first NaN/inf after which at least this
    # share of the logged points is non-finite (a scaler's rare skipped step is not).
    nonfinite_rest_share: float = 0.5
    # Non-finite values only in gradient statistics, on at most this share of the points
    # (at least one), read as a dynamic loss scaler's skipped steps (info, not a warning).
    nonfinite_rare_share: float = 0.01
    # Running-median window of the binned loss for its levels, by bin count (`(min bins,
    # window)`, first match): 5 bins when there are 10, else the smallest median (3).
    divergence_smooth_windows: tuple[tuple[int, int], ...] = ((10, 5), (0, 3))
    # The loss at initialisation: the median of this many first points (one lucky batch
    # does not set it) ...
    divergence_first_points: int = 3
    # ... unless the first value lies below every later level by this many point-to-point
    # noise SDs (a signed loss; a positive one uses `divergence_factor`): the loss jumped
    # away from it at once.
    divergence_first_gap_z: float = 10.0
    # A loss whose start was within this factor of its minimum never made progress: any
    # rise of `divergence_factor` is then a divergence, whatever share of progress it lost.
    divergence_no_progress: float = 1.05
    # A signed loss's rise must also be at least this share of its smoothed range.
    divergence_signed_range_share: float = 0.5
    # A trailing excursion counts only with at least this many points (a level, not one
    # bad point) ...
    divergence_excursion_min_points: int = 3
    # ... measured against the median of the points before it: the last 1/`divergence_ref_share`
    # of the run, at least `divergence_ref_min_points` points.
    divergence_ref_min_points: int = 20
    divergence_ref_share: int = 10
    # Where the blow-up began: the last point whose running median (this many points) is
    # still "near" the minimum, within `divergence_near_min` of it (relative; absolute
    # times the minimum for a signed loss) or `divergence_near_noise` residual SDs of it,
    # whichever is wider.
    divergence_begin_window: int = 9
    divergence_near_min: float = 0.1
    divergence_near_noise: float = 2.0 / 3.0
    # The gradient norm "before" a divergence, in its evidence: the median of this many
    # last points before it began.
    divergence_grad_before_points: int = 20
    # A spike is a point at least `spike_z` robust SDs and `spike_ratio` times above the
    # local level; when there are more than `spike_max_rate` spikes per point the loss is
    # heavy-tailed noise, not spiking, and nothing is reported.
    spike_z: float = 6.0
    spike_ratio: float = 1.5
    spike_max_rate: float = 0.005
    # ... and the point after the peak is still at least `spike_persist_z` robust SDs and
    # `spike_persist_ratio` times above the level: a step that threw the iterate out takes
    # several steps to come back, while a single hard minibatch leaves the next one normal.
    spike_persist_z: float = 3.0
    spike_persist_ratio: float = 1.25

    # Outlying points at most this many points apart are one spike (its rise and decay).
    spike_merge_gap: int = 3
    # The clip norm to suggest: this percentile of the gradient norm before any divergence
    # (clipping the rarest 1% of steps), from at least `spike_clip_min_points` points.
    spike_clip_percentile: float = 99.0
    spike_clip_min_points: int = 20
    # Spikes are a warning (not info) from this many, or from one this many times the level.
    spike_severe_count: int = 3
    spike_severe_ratio: float = 3.0

    # ---- LR too small -------------------------------------------------------------------
    # Judged only on logs with at least this many finite loss points (10 per quarter).
    lr_small_min_points: int = 40
    # The loss levels compared: the medians of the third and of the last quarter of the
    # logged points. The last must lie `lr_small_z` standard errors below the third
    # (robust SDs, autocorrelation accounted for) ...
    lr_small_z: float = 3.0
    # ... and that late decrease must be at least this share of the whole run's decrease
    # (median of the first 5% minus that of the last quarter). For an exponential approach
    # to a floor with time constant tau over a run of length T, the share is about
    # (e^(-0.625T/tau) - e^(-0.875T/tau)) / (1 - e^(-T/tau)); 15% means tau > ~0.6 T: the
    # run ended within two time constants of its descent, far from its floor.
    lr_small_late_share: float = 0.15
    # The first-order promise of a step, eta*||g||^2 (plain SGD, L2 norm), as a share of
    # the loss over the last 20%: a step that could take more than this of the loss is
    # not small (the bouncing runs of the bench start at 0.15).
    lr_small_max_promise: float = 0.1
    # Suggested LR: scaled so that the promise reaches this share of the loss, by a
    # factor between `lr_small_min_factor` and `lr_small_max_factor` (3x without a
    # gradient norm to compute the promise from).
    lr_small_promise_target: float = 0.05
    lr_small_min_factor: float = 2.0
    lr_small_max_factor: float = 10.0
    lr_small_default_factor: float = 3.0
    # No lr_too_small when the gradient norm was clipped on at least this share of the
    # logged steps: the clip caps the step, so a larger LR may only look safe.
    lr_small_max_clipped: float = 0.1
    # A plain or heavy-ball SGD step realises at most ~1/(1-beta) of its first-order
    # promise eta*||g||^2 (10x at beta = 0.9, 20x at 0.95). A loss that falls faster than
    # this many times the promise is driven by a step that is not eta*g (Adam, RMSProp):
    # the SGD evidence does not apply and lr_too_small is not judged.
    lr_small_max_efficiency: float = 20.0
    # The run's starting level for the late share: the median of its first 1/this of the
    # points (5%), at least `level_min_points`.
    lr_small_early_div: int = 20
    # The first-order promise is measured from this fraction of the run on (the last 20%,
    # the LR and gradient norm the run ended with), on at least
    # `lr_small_promise_min_points` steps where both are logged.
    lr_small_promise_from: float = 0.8
    lr_small_promise_min_points: int = 10
    # An LR that ended below this share of its peak has decayed: the LR to raise is the
    # peak, and a step schedule (at most `lr_small_step_max_phases` constant phases) that
    # decayed this far explains a slow end by itself.
    lr_small_decayed: float = 0.5
    lr_small_step_max_phases: int = 6
    # The summary says the LR decayed when the late stretch held less than this share of
    # the LR-time a constant LR gives it.
    lr_small_time_ratio_note: float = 0.8
    # "Still falling steadily at the end" (no advice to stop, decay or lower without a
    # bounce): the last quarter `lr_small_z` standard errors below the third quarter and
    # at least this much lower (relative).
    still_falling_min_rel: float = 0.01
    # Clipping read from a flat ceiling of the total gradient norm (when the log does not
    # say so): at least `clip_ceiling_share` of its values within `clip_rel_tol` of its
    # maximum, on at least `clip_min_points` points; above `clip_max_share` the series is
    # constant (a dead network, a placeholder), not clipped.
    clip_ceiling_share: float = 0.1
    clip_rel_tol: float = 1e-3
    clip_min_points: int = 20
    clip_max_share: float = 0.95
    # The LR verdict needs at least this many finite loss points; fewer gives `unknown`.
    verdict_min_points: int = 20

    # ---- overfitting --------------------------------------------------------------------
    # Validation loss must rise from its (smoothed) minimum by this relative amount and
    # by `overfit_z` noise SDs, over at least `val_after_min_points` later points. 10%:
    # the middle of the bench's gray zone (a held-out rise of 5-15% is ambiguous); a
    # 5-9% rise of a well-trained classifier's validation loss, its accuracy still
    # improving, is calibration drift that a 5% floor reported as overfitting.
    overfit_min_rise: float = 0.10
    overfit_z: float = 3.0
    val_after_min_points: int = 3
    # ... while the training loss kept falling: at least this much (20%, the bench's
    # labelling rule) since the validation minimum (a validation rise with a flat
    # training loss is drift, not the model memorising its training set).
    overfit_train_min_fall: float = 0.20

    # The loss needs at least this many points to be compared with the validation loss.
    overfit_min_loss_points: int = 4
    # The validation minimum is taken on a 3-point running median only with at least this
    # many evaluations (on fewer, smoothing would erase the minimum itself).
    overfit_smooth_min_points: int = 7
    # The validation end level: the median of the last `overfit_end_fraction` of the
    # evaluations, at least `overfit_end_min_points` (and never before the minimum).
    overfit_end_fraction: float = 0.1
    overfit_end_min_points: int = 3
    # The training loss at the validation minimum: its median within this fraction of the
    # validation span either side; at the end: its median over the last
    # `overfit_train_end_window` of that span.
    overfit_train_window: float = 0.05
    overfit_train_end_window: float = 0.1
    # A validation metric "still improved" since a step when its level over the last
    # `metric_level_fraction` of the evaluations beats the level over the first by
    # `metric_improve_z` standard errors; it needs `metric_min_points` evaluations.
    metric_min_points: int = 4
    metric_level_fraction: float = 0.2
    metric_improve_z: float = 3.0

    # ---- gradients ----------------------------------------------------------------------
    # The first iterations move the weights out of their initialisation and gradient
    # norms change fast for reasons unrelated to later growth: skip this fraction.
    grad_skip_fraction: float = 0.1
    # Growth: Mann-Kendall p below this, Theil-Sen interval above zero, and the robust
    # end level at least this factor above the start level (a 20% rise; smaller drifts
    # are ordinary).
    grad_growth_alpha: float = 0.01
    grad_growth_min_fold: float = 1.2
    # The loss counts as "flat or falling" over the same window when its fold change is
    # at most this or its trend is not significantly rising.
    grad_loss_flat_fold: float = 1.05
    # Exploding: a gradient statistic growing by this factor (3 orders of magnitude).
    explode_fold: float = 1e3
    # Vanishing: per-layer levels spanning this factor with the earliest layers smallest
    # (Spearman rho of depth vs log level at least `vanish_rank_corr`), or a layer whose
    # statistic fell by this factor over training.
    vanish_span: float = 1e4
    vanish_rank_corr: float = 0.7
    # The gradient detectors compare with a loss of at least this many points.
    grad_min_loss_points: int = 4
    # Growth is a warning (not info) from this fold change, and "orders of magnitude" (a
    # defect check in its evidence) from `grad_defect_fold`.
    grad_growth_warning_fold: float = 10.0
    grad_defect_fold: float = 100.0
    # Exploding: judged on series of at least this many points; a series that reached inf
    # counts from `explode_fold_with_inf` (the inf itself is the blow-up).
    explode_min_points: int = 8
    explode_fold_with_inf: float = 10.0
    # Vanishing needs at least this many per-layer series; the smallest layer must lie in
    # the first 1/`vanish_early_div` of the depth; "over time" only while the loss stayed
    # high (its end over start fold change at least `vanish_loss_high_fold`).
    vanish_min_layers: int = 3
    vanish_early_div: int = 3
    vanish_loss_high_fold: float = 0.5

    # ---- suggested learning rates ---------------------------------------------------------
    # "Lower the LR" without a calmer phase to point to: about 3x, which brings a mode at
    # the stability limit (eta*lambda = 2(1+beta)) to a third of it, well inside.
    lr_lower_factor: float = 3.0
    # A decay (after an LR-limited plateau, or after a divergence without a suggested LR):
    # the conventional 10x step of step schedules (Goodfellow et al. §8.3.1; ResNet, VGG).
    lr_decay_factor: float = 10.0

    # ---- confidence policy --------------------------------------------------------------
    # A Finding's confidence is how sure the detector is that the pattern is there, from
    # the strength of its evidence. Confidences that grow with the evidence stop here: a
    # log shows a pattern, never its cause (only `nonfinite_values`, a count of NaN/inf
    # values, is certain: 1.0).
    confidence_max: float = 0.95
    # step_size_oscillation: base + per-signal share for each signal present (one signal:
    # 0.6, two: 0.75, three or more: 0.9 and up).
    osc_confidence_base: float = 0.45
    osc_confidence_per_signal: float = 0.15
    # divergence: NaN/inf in the loss is certain; a blow-up is a pattern in the levels.
    divergence_confidence_nonfinite: float = 0.95
    divergence_confidence: float = 0.85
    # overfitting: base + per noise SD of the rise, times the calibration factor when the
    # validation metric still improved (a rise of the loss only: over-confidence).
    overfit_confidence_base: float = 0.6
    overfit_confidence_per_z: float = 0.05
    overfit_confidence_calibration: float = 0.7
    # loss_spikes: two or more / a single one (one event may be a bad batch).
    spike_confidence: float = 0.8
    spike_confidence_single: float = 0.65
    # lr_too_small: a late drop of `lr_small_confident_z` times `lr_small_z` standard
    # errors or more / a weaker one (the test's threshold).
    lr_small_confidence: float = 0.75
    lr_small_confidence_weak: float = 0.6
    lr_small_confident_z: float = 2.0
    # loss_plateau: base + a share growing with the fraction of the run the plateau spans.
    plateau_confidence_base: float = 0.6
    plateau_confidence_per_fraction: float = 0.3
    # The LR verdict "keep": a judgement by absence (no sign of a wrong LR), hence at most
    # even odds; lower when the gradient norm was clipped (clipping can hide a too-large LR).
    keep_confidence: float = 0.5
    keep_confidence_clipped: float = 0.3
    # grad_norm_growth: a trend p below `grad_growth_confident_p` / a weaker one.
    grad_growth_confidence: float = 0.9
    grad_growth_confidence_weak: float = 0.75
    grad_growth_confident_p: float = 1e-4
    # exploding_gradients (a growth by orders of magnitude is unmistakable) and
    # vanishing_gradients (the depth order is read from layer names).
    explode_confidence: float = 0.9
    vanish_confidence: float = 0.7
    # lr_limited_plateau: base + per `decay_z_min` of the largest decay's z.
    decay_confidence_base: float = 0.6
    decay_confidence_per_z: float = 0.05
    # run_crashed: the log shows the error line itself.
    crash_confidence: float = 0.95
    # noisy_loss: with an LR series (amplitude-vs-LR checked) / without one.
    noise_confidence: float = 0.7
    noise_confidence_no_lr: float = 0.5


#: The defaults every detector uses unless given another config.
DEFAULT_CONFIG = AnalysisConfig()
