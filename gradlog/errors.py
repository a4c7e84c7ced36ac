"""The one exception hierarchy of gradlog.

Every error gradlog raises on purpose derives from :class:`GradlogError`, and its
message names the file (and the line or record, where there is one) and what is
wrong with it, in one line. The CLI turns any ``GradlogError`` into ``Error: <message>``
and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "GradlogError",
    "UnknownFormatError",
    "ParseError",
    "DamagedInputError",
    "EmptyLogError",
    "FrameError",
    "RoleError",
    "MultipleRunsError",
    "NotAssessable",
]


class GradlogError(Exception):
    """Base class of every error gradlog raises deliberately."""


class UnknownFormatError(GradlogError):
    """No parser recognised the input (the message lists the formats tried)."""


class ParseError(GradlogError):
    """The input claims (or was told) to be a format but cannot be read as one."""


class DamagedInputError(ParseError):
    """Damage (a bad CRC, a truncated record) found while reading in strict mode."""


class EmptyLogError(ParseError):
    """The input holds no data points at all (an empty file, a log with no scalars)."""


class FrameError(GradlogError):
    """A frame violates the common-frame contract (a parser bug, reported loudly)."""


class RoleError(GradlogError):
    """A role override names a tag the run does not have, or an unknown role."""


class MultipleRunsError(GradlogError):
    """A path holds several runs where one was expected (use ``gradlog.load_all``)."""


class NotAssessable(GradlogError):
    """A detector cannot assess its finding on this run (a series it needs is missing).

    Not an error of the input: :func:`gradlog.analyze` records it in
    ``Report.not_assessable`` (said, not guessed).

    Attributes
    ----------
    finding_id : the finding that could not be assessed.
    reason : one line saying what is missing.
    """

    def __init__(self, finding_id: str, reason: str) -> None:
        super().__init__(f"{finding_id}: not assessable: {reason}")
        self.finding_id = finding_id
        self.reason = reason
