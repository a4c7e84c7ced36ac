"""The frame contract: what parsers hand over and everything after them reads.

* :mod:`gradlog.frame.build` — the common long frame (``tag, step, value, wall_time,
  source_tag``): building it from columns, validating it once, :class:`ParseResult`.
* :mod:`gradlog.frame.tags` — the ``<group>/<name>`` form of logged names.
* :mod:`gradlog.frame.listing` — directory listings one discovery walk shares.
* :mod:`gradlog.frame.source` — :class:`Source`, what a parser reads from (a file, a
  directory or a stream, decompressed).

This package is the bottom layer beside :mod:`gradlog.errors`: parsers import it and
nothing else of gradlog.
"""

from gradlog.frame.build import (
    COLUMNS,
    DTYPES,
    ParseResult,
    build_frame,
    empty_frame,
    layout_frame,
    long_column,
    take_vouched,
    validate_frame,
    vouch,
)
from gradlog.frame.source import Source, display_name
from gradlog.frame.tags import normalise_tag, normalise_tags

__all__ = [
    "COLUMNS",
    "DTYPES",
    "ParseResult",
    "Source",
    "build_frame",
    "display_name",
    "empty_frame",
    "layout_frame",
    "long_column",
    "normalise_tag",
    "normalise_tags",
    "take_vouched",
    "validate_frame",
    "vouch",
]
