"""Counting what the Caffe reader skips: damage (``strict=True`` raises on it) and what is
not data, each kind counted in ``meta["skipped"]`` with the line of its first case."""

from __future__ import annotations

from collections import Counter

from gradlog.errors import DamagedInputError

#: Skipped-line counts that are damage (``strict=True`` raises on them). Everything else
#: in ``meta["skipped"]`` is not data: solver and net parameter dumps
#: (``parameter_dump_lines``), printable lines of other programs (``non_glog_lines``),
#: the test net's debug lines, the first rate of a run (Caffe prints a meaningless one),
#: and clipping lines on iterations the log does not display
#: (``unplaced_clipping_events``: counted in ``meta["clipping"]``).
DAMAGE = (
    "truncated_input",
    "truncated_last_line",
    "non_utf8_lines",
    "malformed_lines",
    "unknown_debug_lines",
    "unplaced_values",
    "overlong_lines",
    "garbled_lines",
    "ambiguous_debug_values",
)


class Tally:
    """Counts and notes of one read: ``skipped`` (per kind, with ``first_damage``: the
    line of its first case), ``warnings``, ``info`` (counts that are neither: snapshot
    lines, joined lines ...), the line ``formats`` seen and the number of glog lines."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.skipped: Counter[str] = Counter()
        self.first_damage: dict[str, int] = {}
        self.warnings: list[str] = []
        self.info: Counter[str] = Counter()
        self.formats: set[str] = set()
        self.glog_lines = 0
        self.truncation: str | None = None

    def count(self, what: str, line: int | None = None, n: int = 1) -> None:
        """Count ``n`` skipped lines (or values) of kind ``what``, the first at ``line``."""
        self.skipped[what] += n
        if line is not None and what not in self.first_damage:
            self.first_damage[what] = line

    def overlong(self, line: int, nbytes: int, limit: int) -> None:
        """Count line ``line`` (``nbytes`` long, over ``limit``) as skipped, with a warning."""
        self.count("overlong_lines", line)
        text = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"
        self.warnings.append(f"{self.name}: line {line}: longer than {text} ({nbytes} bytes): skipped")

    def end(self, last_line: int, *, strict: bool) -> None:
        """Note a cut input (after ``last_line``); with ``strict``, raise on damage.

        Raises
        ------
        DamagedInputError
            With ``strict``, naming the first kind of damage found and its first line.
        """
        if self.truncation is not None:
            self.count("truncated_input", last_line)
            self.warnings.append(
                f"{self.name}: the input ends early, after line {last_line} ({self.truncation})"
            )
        if not strict:
            return
        for what in DAMAGE:
            if self.skipped.get(what):
                line = self.first_damage.get(what)
                where = f"line {line}: " if line else ""
                raise DamagedInputError(
                    f"{self.name}: {where}{self.skipped[what]} {what.replace('_', ' ')} (strict mode)"
                )

    def skipped_meta(self) -> dict[str, int]:
        """``meta["skipped"]``: the nonzero counts, by kind."""
        return {k: v for k, v in sorted(self.skipped.items()) if v}
