"""Placeholder: this format's parser is being written (to be replaced)."""

from gradlog.errors import ParseError

NAME = "timm"
DESCRIPTION = "timm (not yet implemented)"


def sniff(source):  # noqa: D103
    return False


def read(source, *, strict=False):  # noqa: D103
    raise ParseError(f"{source.name}: the timm reader is not implemented yet")
