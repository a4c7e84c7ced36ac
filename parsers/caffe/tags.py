"""The Caffe reader's names: tags (small ints, with the name as logged), debug_info keys
and output names (bytes as logged -> small ints), and the loss weight of each output."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlog.parsers.caffe import lines as L


class KeyTable(dict):
    """bytes -> key id; a lookup of a new key registers it (C-speed for known keys)."""

    def __init__(self, register: Any) -> None:
        super().__init__()
        self._register = register

    def __missing__(self, key: bytes) -> int:
        return self._register(key)


class Tags:
    """Tag ids and what maps to them.

    Attributes
    ----------
    tag_ids, tag_names, tag_sources : tag name -> id; per id, the name and the name as
        logged (the frame's ``source_tag``).
    out_tags : ``(net or -1, output name or index, element)`` -> tag id of a net output.
    name_ids, name_list : output names (bytes) -> small ints, for the bulk reading.
    keytab, key_kind, key_tag1, key_tag2 : debug_info keys (bytes) -> key id (0: no key);
        per key id, its record kind and the tags of its one or two values.
    spanned : a key ran over a line end (the chunk is rescanned safely).
    loss_weight : per train output tag, the largest |loss weight| printed for it.
    t_preclip, t_smoothed, t_lr, t_rate, t_all : the ids of the fixed tags.
    """

    def __init__(self, formats: set[str]) -> None:
        self.formats = formats
        self.tag_ids: dict[str, int] = {}
        self.tag_names: list[str] = []
        self.tag_sources: list[str] = []
        self.loss_weight: dict[str, float] = {}
        self.out_tags: dict[tuple, int] = {}
        self.name_ids = KeyTable(self.name_id)
        self.name_list: list[bytes] = []
        self.keytab = KeyTable(self.key)
        self.keytab[b""] = 0
        self.spanned = False
        self.key_kind = [L.K_NONE]
        self.key_tag1 = [-1]
        self.key_tag2 = [-1]
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.t_preclip = self.tag("grad_norm/total_preclip", "Gradient clipping: L2 norm")
        self.t_smoothed = self.tag("train/loss_smoothed", "Iteration N, loss")
        self.t_lr = self.tag("train/lr", "Iteration N, lr")
        self.t_rate = self.tag("train/iter_per_s", "iter/s")
        self.t_all = [self.tag(t, s) for t, s in zip(L.ALL_PARAMS_TAGS, L.ALL_PARAMS_SOURCES, strict=False)]

    def tag(self, name: str, source: str) -> int:
        """Return the id of tag ``name`` (registered with ``source`` when new)."""
        i = self.tag_ids.get(name)
        if i is None:
            i = self.tag_ids[name] = len(self.tag_names)
            self.tag_names.append(name)
            self.tag_sources.append(source)
        return i

    def rename(self, tid: int, name: str) -> None:
        """Give tag ``tid`` the name ``name`` (its rows move with it)."""
        del self.tag_ids[self.tag_names[tid]]
        self.tag_names[tid] = name
        self.tag_ids[name] = tid

    def key(self, key: bytes) -> int:
        """Return the id of debug key ``key`` (parsed and registered when new)."""
        i = dict.get(self.keytab, key)
        if i is None:
            if b"\n" in key:
                self.spanned = True
            dk = L.parse_debug_key(key)
            i = self.keytab[key] = len(self.key_kind)
            self.key_kind.append(dk.kind)
            if dk.kind == L.K_BADKEY or dk.kind == L.K_A:
                self.key_tag1.append(-1)
                self.key_tag2.append(-1)
            else:
                self.key_tag1.append(self.tag(dk.tag, dk.source))
                self.key_tag2.append(self.tag(dk.tag2, dk.source + " (diff)") if dk.tag2 else -1)
            self._arrays = None
        return i

    def name_id(self, name: bytes) -> int:
        """Register a new output name; return its id."""
        i = self.name_ids[name] = len(self.name_list)
        self.name_list.append(name)
        return i

    def keys(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (kind, tag1, tag2) of every key id, as arrays."""
        if self._arrays is None:
            self._arrays = (
                np.array(self.key_kind, dtype=np.int8),
                np.array(self.key_tag1, dtype=np.int32),
                np.array(self.key_tag2, dtype=np.int32),
            )
        return self._arrays

    def output_tag(self, test: bool, net: int, index: int, raw: bytes | None, j: int) -> int:
        """Return the tag id of a net output (``raw``: its name as logged, None for the
        unnamed ``Test score #i``/``Test loss``; ``j``: the element of a multi-element blob)."""
        name = raw.decode("utf-8", "replace").strip() if raw is not None else None
        if test:
            if name is None:
                name = "total_loss" if index < 0 else f"score{index}"
                src = "Test loss" if index < 0 else f"Test score #{index}"
                if index >= 0:
                    self.formats.add("test_score")
            else:
                src = name
            prefix = f"test{net}/"
        else:
            src = name or ""
            prefix = "train/"
        return self.tag(prefix + (name or "") + (f"/{j}" if j else ""), src)

    def weigh(self, tid: int, weight: float) -> None:
        """Note a loss weight printed for train output ``tid`` (the largest |w| is kept)."""
        tag = self.tag_names[tid]
        if self.loss_weight.get(tag, 0.0) < abs(weight):
            self.loss_weight[tag] = abs(weight)
