"""Compare runs side by side and read a sweep: which run had the right learning rate.

:func:`compare` takes several runs (paths, :class:`~gradlog.run.Run` objects or
already computed :class:`~gradlog.report.Report` objects), analyses each once, finds the
hyperparameter the runs differ in, compares their smoothed training losses at equal
steps, and returns a :class:`Comparison`: a table, one sentence that reads the sweep,
the usable learning-rate range, and each run's *sweep-aware* ``lr_advice``.

How the sweep is read (the rule is also said in every report, ``Comparison.rule``):

* Each run's training loss is smoothed by a trailing running median (window: 5% of its
  points, at least 5). Its *improvement* is the sweep's initial loss (the median of the
  runs' first logged values: the loss before any update, which the LR cannot change)
  minus the run's smoothed level at the ranking step. Runs whose loss blew up
  (``divergence``, non-finite loss at the end) rank last (improvement ``-inf``).
* The ranking step is the shortest common step of the runs that did not blow up, or
  their end when they have the same length (runs of different lengths are compared
  like with like; the table also gives each run's own end).
* The *usable range* is the set of values whose improvement is at least 0.9 of the
  best (:data:`USABLE_FRACTION`).
* When the varied value is the learning rate, each run's single-run verdict is checked
  against its siblings (details in :func:`~gradlog.compare.verdict.sweep_verdict`): a run below the usable range
  that did not bounce or blow up is ``raise``, to the smallest usable LR whose run did not
  bounce (its siblings went further on the same budget; never towards an LR the same
  sweep marks as too large); a run above it is ``lower``, to the top of the range (it
  bounced, blew up or ended clearly worse); a run inside the range keeps its single-run
  verdict, except a ``raise`` when the sweep tried other LRs of the range or higher ones
  (within the range the improvement differs by less than 10%). A verdict the siblings
  changed (its action, or its suggested LR) has ``scope="sweep"``, keeps the single-run
  action in ``run_action`` and names the sibling numbers in ``because`` (a ``"sweep"``
  entry first). Runs that differ in something other than the LR keep their verdicts.

The package, in the order a comparison is built:

- :mod:`~gradlog.compare.settings`: each run's settings (hparams, logged LR, folder names);
- :mod:`~gradlog.compare.curves`: each run's smoothed loss, its level at a step, its tail;
- :mod:`~gradlog.compare.sweep`: :func:`compare` itself, ranking and the usable range;
- :mod:`~gradlog.compare.verdict`: the sweep-aware verdicts and the sentence;
- :mod:`~gradlog.compare.records`: :class:`ComparedRun` and :class:`Comparison`.
"""

from __future__ import annotations

from gradlog.compare.curves import SMOOTH_FRACTION, TAIL_FRACTION
from gradlog.compare.records import (
    COMPARISON_SCHEMA_VERSION,
    USABLE_FRACTION,
    ComparedRun,
    Comparison,
)
from gradlog.compare.settings import folder_hparams, hparams_of
from gradlog.compare.sweep import compare

__all__ = [
    "COMPARISON_SCHEMA_VERSION",
    "USABLE_FRACTION",
    "SMOOTH_FRACTION",
    "TAIL_FRACTION",
    "ComparedRun",
    "Comparison",
    "compare",
    "folder_hparams",
    "hparams_of",
]
