"""Numbers in words: how findings print steps, learning rates, ratios and percentages."""

from __future__ import annotations

import math

__all__ = ["fmt_step", "fmt_num", "nice_round", "nice_floor", "fmt_lr", "pct", "times"]


def fmt_step(step: float) -> str:
    """Return a step with thousands separators (``2000`` -> ``"2,000"``)."""
    return f"{int(round(step)):,}"


def fmt_num(x: float, digits: int = 3) -> str:
    """Return ``x`` with ``digits`` significant digits (``"nan"`` for NaN)."""
    if x is None or not math.isfinite(x):
        return "nan"
    return f"{x:.{digits}g}"


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
    """Return a learning rate compactly (``0.003``, ``1e-05``)."""
    if x is None or not math.isfinite(x):
        return "nan"
    return f"{x:.3g}"


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
