"""Numbers in words: the one place that says how gradlog prints steps, learning rates,
ratios, percentages, p-values and table values.

Findings (analyzers), reports (render), figures (plots) and comparisons all format their
numbers here. A leaf module in the bottom layer: it imports nothing from gradlog, so every layer may
use it without importing the analyzers.

- in sentences: :func:`fmt_num` (``digits`` significant digits), :func:`fmt_lr`,
  :func:`fmt_step`, :func:`fmt_steps`, :func:`pct`, :func:`times`, :func:`fmt_setting`
  (a hyperparameter's value), and the 1-2-3-5 ladder (:func:`nice_round`,
  :func:`nice_floor`) for suggested values;
- in tables: :func:`fmt_value` (whole numbers whole, with thousands separators; ``-``
  for a missing value) and :func:`fmt_p`;
- text from a log, on one line: :func:`single_line`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "fmt_step",
    "fmt_steps",
    "fmt_num",
    "fmt_value",
    "fmt_p",
    "fmt_setting",
    "nice_round",
    "nice_floor",
    "fmt_lr",
    "pct",
    "times",
    "single_line",
]

_WS_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _finite(x: Any) -> float | None:
    """``x`` as a finite float, or None (None, NaN, inf, not a number)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_step(step: Any) -> str:
    """Return a step as a whole number with thousands separators (``2000`` ->
    ``"2,000"``; ``-`` for None)."""
    if step is None:
        return "-"
    return f"{int(round(float(step))):,}"


def fmt_steps(step_range: Iterable[Any] | None) -> str:
    """Return ``"steps 1,000-5,000"`` for a range (``"step 20"`` for one step),
    ``"whole run"`` for None."""
    if step_range is None:
        return "whole run"
    a, b = list(step_range)
    if a == b:
        return f"step {fmt_step(a)}"
    return f"steps {fmt_step(a)}-{fmt_step(b)}"


def fmt_num(x: Any, digits: int = 3, *, missing: str = "nan") -> str:
    """Return ``x`` with ``digits`` significant digits (``0.00123``, ``1.5e+03``).

    ``missing`` is returned for None, NaN, inf and anything that is not a number."""
    f = _finite(x)
    if f is None:
        return missing
    return f"{f:.{digits}g}"


def fmt_value(x: Any, digits: int = 4) -> str:
    """Return a value for a table: at most ``digits`` significant digits, whole numbers
    whole (with thousands separators from 10,000), ``nan``/``inf``/``-inf`` named, ``-``
    for None, ``true``/``false`` for booleans, anything else as its text."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}" if abs(x) >= 10_000 else str(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f == int(f) and abs(f) < 1e15 and abs(f) >= 1:
        i = int(f)
        return f"{i:,}" if abs(i) >= 10_000 else str(i)
    return f"{f:.{digits}g}"


def fmt_p(p: Any) -> str:
    """Return a p-value as ``<0.001`` or with three decimals (``nan`` when missing)."""
    try:
        f = float(p)
    except (TypeError, ValueError):
        return "nan"
    if math.isnan(f):
        return "nan"
    return "<0.001" if f < 0.001 else f"{f:.3f}"


def fmt_setting(v: Any) -> str:
    """Return a hyperparameter's value: a float with three significant digits
    (``0.003``, ``1e-05``), anything else as its text (``adam``, ``32``)."""
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def nice_round(x: float) -> float:
    """Round a positive number to one significant digit, on the 1-2-3-5 ladder.

    ``0.0033`` -> ``0.003``; ``0.07`` -> ``0.05``; ``0.45`` -> ``0.5``. Non-positive or
    non-finite input is returned unchanged.
    """
    if x is None or not math.isfinite(x) or x <= 0 or not 1e-300 < x < 1e300:
        return x
    e = math.floor(math.log10(x))
    m = x / 10.0**e
    ladder = (1.0, 2.0, 3.0, 5.0, 10.0)
    best = min(ladder, key=lambda v: abs(math.log(m / v)))
    return float(f"{best * 10**e:.3g}")


def nice_floor(x: float) -> float:
    """Round a positive number down to the 1-2-3-5 ladder (``0.4`` -> ``0.3``; ``0.05`` stays)."""
    if x is None or not math.isfinite(x) or x <= 0 or not 1e-300 < x < 1e300:
        return x
    e = math.floor(math.log10(x))
    m = x / 10.0**e
    best = max(v for v in (1.0, 2.0, 3.0, 5.0) if v <= m * (1 + 1e-9))
    return float(f"{best * 10**e:.3g}")


def fmt_lr(x: float) -> str:
    """Return a learning rate compactly (``0.003``, ``1e-05``; ``nan`` when missing)."""
    return fmt_num(x, 3)


def pct(x: float, digits: int = 2) -> str:
    """Return a fraction as a percentage with ``digits`` significant digits (0.123 -> "12%")."""
    if x is None or not math.isfinite(x):
        return "nan%"
    v = 100.0 * x
    if abs(v) >= 10**digits or v == 0:
        return f"{v:.0f}%"
    r = float(f"{v:.{digits}g}")
    while abs(r) >= 100 > abs(v) and digits < 6:
        digits += 1  # 99.7% must not round to "100%" (a loss that fell 99.7% did not vanish)
        r = float(f"{v:.{digits}g}")
    return f"{r:g}%"


def times(x: float) -> str:
    """Return a factor as ``"3x"`` / ``"1.5x"``."""
    if x is None or not math.isfinite(x):
        return "nan x"
    return f"{float(f'{x:.2g}'):g}x"


def single_line(text: Any) -> str:
    """Return ``text`` as one line: control characters and runs of whitespace become
    one space."""
    return _WS_RE.sub(" ", _CONTROL_RE.sub(" ", str(text))).strip()
