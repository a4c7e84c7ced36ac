"""The keys of Caffe's debug_info lines (``[Forward] Layer conv1, top blob conv1 data:``,
``[Backward] All net params (data, diff):``, ``[Update] Layer ...``): what each means,
as a :class:`DebugKey` (kind, tag, source name)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .kinds import K_A, K_B, K_BADKEY, K_F, K_U, K_U1

#: The longest debug key a line may have (bytes); a longer one is not a debug line.
MAX_KEY = 1024


# -- debug_info keys --------------------------------------------------------------------------
@dataclass(frozen=True)
class DebugKey:
    """What a debug line's key means.

    Attributes
    ----------
    kind : K_F, K_B, K_A, K_U, K_U1 or K_BADKEY.
    tag : the tag of the (first) value.
    tag2 : the tag of the second value (``[Update]``: the update's mean |diff|).
    source : the key as logged (without the trailing ``: ``).
    """

    kind: int
    tag: str = ""
    tag2: str = ""
    source: str = ""


_FWD = "[Forward] "
_BWD = "[Backward] "
_ALL_KEY = "[Backward] All net params (data, diff): "
_OWNED = " (owned by layer "


def _split(body: str, sep: str) -> tuple[str, str] | None:
    """``body`` split at its last ``sep`` into two non-empty parts (None when it has no such
    split); linear time, unlike a regex with two greedy groups."""
    a, found, b = body.rpartition(sep)
    return (a, b) if found and a and b else None


def _between(text: str, head: str, tail: str) -> str | None:
    """The part of ``text`` between the prefix ``head`` and the suffix ``tail`` (non-empty),
    or None."""
    if len(text) > len(head) + len(tail) and text.startswith(head) and text.endswith(tail):
        return text[len(head) : len(text) - len(tail)]
    return None


def parse_debug_key(key: bytes) -> DebugKey:
    """Return what a ``debug_info`` key (``[Forward] Layer conv1, top blob conv1 data: ``)
    measures, as tags; kind ``K_BADKEY`` when Caffe prints no such line.

    Linear in the key's length (string methods, no backtracking regex): layer and blob
    names are split at the last separator that leaves both non-empty.
    """
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return DebugKey(K_BADKEY)
    if "\n" in text or len(text) > MAX_KEY + 16:
        return DebugKey(K_BADKEY)
    source = text[:-2]
    if text.startswith(_FWD):
        if (body := _between(text, "[Forward] Layer ", " data: ")) is not None:
            if (lb := _split(body, ", top blob ")) is not None:
                return DebugKey(K_F, f"fwd_absmean/{lb[0]}/{lb[1]}", source=source)
            if (lb := _split(body, ", param blob ")) is not None:
                return DebugKey(K_F, f"param_absmean/{lb[0]}/{lb[1]}", source=source)
        if (body := _between(text, "[Forward] Input ", " data: ")) is not None:
            return DebugKey(K_F, f"input_absmean/{body}", source=source)
        return DebugKey(K_BADKEY)
    if text.startswith(_BWD):
        if (body := _between(text, "[Backward] Layer ", " diff: ")) is not None:
            if (lb := _split(body, ", bottom blob ")) is not None:
                return DebugKey(K_B, f"bwd_absmean/{lb[0]}/{lb[1]}", source=source)
            if (lb := _split(body, ", param blob ")) is not None:
                return DebugKey(K_B, f"grad_absmean/{lb[0]}/{lb[1]}", source=source)
        if text == _ALL_KEY:
            return DebugKey(K_A, "grad_norm/total", source=source)
        return DebugKey(K_BADKEY)
    if (body := _between(text, "[Update] Layer ", ") diff: ")) is not None:
        # [Update] Layer L, param blob P (owned by layer O, param Q) diff:
        head, found, owner = body.rpartition(_OWNED)
        if (
            found
            and _split(owner, ", param ") is not None
            and (lb := _split(head, ", param blob ")) is not None
        ):
            return DebugKey(K_U1, f"update_absmean/{lb[0]}/{lb[1]}", source=source)
    if (body := _between(text, "[Update] Layer ", " data: ")) is not None:
        if (lb := _split(body, ", param ")) is not None:
            return DebugKey(
                K_U, f"update_param_absmean/{lb[0]}/{lb[1]}", f"update_absmean/{lb[0]}/{lb[1]}", source=source
            )
    return DebugKey(K_BADKEY)


#: ``L1 norm = (a, b); L2 norm = (c, d)`` of the "All net params" line.
ALL_PARAMS_RE = re.compile(
    rb"(?:L1 norm = \(([^,()\n]+), ([^,()\n]+)\); L2 norm = \(([^,()\n]+), ([^,()\n]+)\)[ \t]*"
    rb"|[^\n]*)\n"
)
#: The tags of the four numbers of the "All net params" line, in print order.
ALL_PARAMS_TAGS = ("param_l1/total", "grad_l1/total", "param_norm/total", "grad_norm/total")
ALL_PARAMS_SOURCES = (
    "All net params: L1 norm (data)",
    "All net params: L1 norm (diff)",
    "All net params: L2 norm (data)",
    "All net params: L2 norm (diff)",
)
