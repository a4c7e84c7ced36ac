"""Hyperparameters beside a log (private): ``hparams.yaml`` (Lightning), ``args.yaml``
(Ultralytics, timm), ``opt.yaml``/``hyp.yaml`` (YOLOv5), MLflow ``params/`` and
``meta.yaml``, and the settings the Hugging Face Trainer writes.

* YAML is read with PyYAML's safe loader (:func:`read_yaml`). The Python-object tags
  Lightning writes (``!!python/name:torch.optim.SGD ''``, ``!!python/tuple``,
  ``!!python/object:...``) are not executed: the value is kept as plain data (the
  dotted name for ``python/name``, the list or mapping for the others).
  A document is checked first, in one linear pass over its parse events
  (:func:`_yaml_guard`): lists and mappings nested deeper than :data:`MAX_YAML_DEPTH`
  (libyaml's scanner takes time that grows with the square of the ``[``/``{`` nesting:
  60 KB of ``[`` took 2 s, and its composer overflows the C stack, killing the
  interpreter, past ~25,000 levels), aliases that expand the document to more than
  :data:`MAX_YAML_EXPANSION` times its size ("billion laughs": 400 bytes became ten
  million keys) and an alias inside its own anchor (a cycle) are not read: a one-line
  warning says why.
* :func:`normalise_hparams` adds the usual keys (``lr``, ``batch_size``, ``momentum``,
  ``weight_decay``, ``max_steps``, ``max_epochs``) and the optimizer as a lower-case
  name (``sgd``, ``adam``, ``adamw``, ``rmsprop`` ...); :func:`optimizer_facts` makes
  sure ``optimizer``, ``momentum`` and ``weight_decay`` are present (None when
  unknown).

This module imports only leaf modules of gradlog.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ._jsondoc import DocumentTooLargeError, read_document_bytes

__all__ = [
    "MAX_YAML_DEPTH",
    "MAX_YAML_EXPANSION",
    "OPTIMIZER_KEYS",
    "flatten",
    "hparams_beside",
    "normalise_hparams",
    "optimizer_facts",
    "optimizer_name",
    "parse_scalar",
    "read_simple_yaml",
    "read_yaml",
]

_INT_RE = re.compile(r"[-+]?\d{1,400}")
_FLOAT_RE = re.compile(r"[-+]?(?:\d{1,400}\.?\d{0,400}|\.\d{1,400})(?:[eE][-+]?\d{1,6})?")


def parse_scalar(text: str) -> Any:
    """Return a YAML/text scalar as int, float, bool, None or str (quotes removed)."""
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    low = t.lower()
    if low in ("", "~", "null", "none"):
        return None
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if len(t) <= 800:  # the patterns are bounded; longer text is not a number we read
        if _INT_RE.fullmatch(t):
            return int(t)
        if _FLOAT_RE.fullmatch(t):
            return float(t)
    if low in (".inf", "+.inf", "inf", "infinity"):
        return math.inf
    if low in ("-.inf", "-inf", "-infinity"):
        return -math.inf
    if low in (".nan", "nan"):
        return math.nan
    return t


# -- YAML ----------------------------------------------------------------------------------

#: libyaml's safe loader where PyYAML was built with it (it is, in the wheels), else the
#: pure-Python one: same results, the C one ~10x faster on long files.
_SafeBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeBase):  # type: ignore[misc]
    """The safe loader, plus plain-data readings of the tags loggers write."""


def _python_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    """``!!python/name:torch.optim.SGD ''`` -> ``"torch.optim.SGD"``; ``!!python/tuple
    [1, 2]`` -> ``[1, 2]``; ``!!python/object:x {a: 1}`` -> ``{"a": 1}``."""
    if suffix.startswith(("name:", "module:")):
        return suffix.split(":", 1)[1]
    return _plain(loader, node)


def _plain(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """Construct a node of an unknown tag as the plain scalar, list or mapping it holds."""
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k, v in node.value:
            key = loader.construct_object(k, deep=True)
            try:
                hash(key)
            except TypeError:
                key = str(key)
            out[key] = loader.construct_object(v, deep=True)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [loader.construct_object(v, deep=True) for v in node.value]
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    plain = getattr(node, "style", None) in (None, "")  # libyaml says "" for plain
    return parse_scalar(value) if plain else value


def _unknown(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return _plain(loader, node)


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _python_tag)
_Loader.add_constructor(None, _unknown)  # type: ignore[arg-type]  # any other tag


#: Lists and mappings nested deeper than this in a settings file are not read (real
#: settings nest under ten levels; libyaml is quadratic in the nesting of ``[`` and ``{``
#: and crashes the interpreter past ~25,000 levels).
MAX_YAML_DEPTH = 100
#: Aliases may make a document at most this many times as many values as it spells out
#: (and at least :data:`_MIN_YAML_EXPANDED` values are always allowed): more is an alias
#: bomb, which would take minutes and gigabytes to flatten.
MAX_YAML_EXPANSION = 10
_MIN_YAML_EXPANDED = 1_000_000
#: Characters every level of nesting needs one of (``[``, ``{``, a ``-`` item, a ``?``
#: key, a ``:`` value indicator): a document with fewer of them, and no ``*`` alias,
#: needs no guard pass.
_NESTING_CHARS = "[{-?:"


class _YamlRefused(Exception):
    """A YAML document :func:`_yaml_guard` will not hand to the loader (the reason)."""


def _where(ev: yaml.Event) -> str:
    """Return ``"line N: "`` for a parse event (empty when it carries no position)."""
    mark = ev.start_mark
    return f"line {mark.line + 1}: " if mark is not None else ""


def _yaml_guard(text: str) -> None:
    """Check a YAML document's nesting and aliases in one pass over its parse events.

    Returns None when it may be loaded; parse errors are left to the loader (which
    reports them with their line).

    Raises
    ------
    _YamlRefused
        Nested deeper than :data:`MAX_YAML_DEPTH`, an alias inside its own anchor, or
        aliases expanding it past :data:`MAX_YAML_EXPANSION` times its own values.
    """
    if "*" not in text and sum(text.count(c) for c in _NESTING_CHARS) <= MAX_YAML_DEPTH:
        return
    depth = 0
    spelled = expanded = 0  # values written out / values once every alias is expanded
    open_: list[tuple[str | None, int]] = []  # (anchor, `expanded` at its start) per open collection
    sizes: dict[str, int] = {}  # anchor -> values it stands for
    try:
        for ev in yaml.parse(text, Loader=_SafeBase):
            if isinstance(ev, yaml.ScalarEvent):
                spelled += 1
                expanded += 1
                if ev.anchor is not None:
                    sizes[ev.anchor] = 1
            elif isinstance(ev, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise _YamlRefused(
                        f"{_where(ev)}lists and mappings nested deeper than {MAX_YAML_DEPTH} levels"
                    )
                spelled += 1
                expanded += 1
                open_.append((ev.anchor, expanded))
            elif isinstance(ev, yaml.CollectionEndEvent):
                depth -= 1
                anchor, start = open_.pop()
                if anchor is not None:
                    sizes[anchor] = expanded - start + 1
            elif isinstance(ev, yaml.AliasEvent):
                if any(a == ev.anchor for a, _ in open_):
                    raise _YamlRefused(
                        f"{_where(ev)}the alias *{ev.anchor} refers to a value that holds it (a cycle)"
                    )
                spelled += 1
                expanded += sizes.get(ev.anchor or "", 1)
                if expanded > _MIN_YAML_EXPANDED and expanded > MAX_YAML_EXPANSION * spelled:
                    raise _YamlRefused(
                        f"{_where(ev)}aliases expand the document to over"
                        f" {expanded:,} values, {expanded // spelled}x what it spells out (an alias bomb?)"
                    )
    except yaml.YAMLError:
        return  # the loader reports it


def read_yaml(text: str) -> tuple[dict[str, Any], list[str]]:
    """Read a YAML document of settings with PyYAML's safe loader.

    Time is linear in the size of the text: see :func:`_yaml_guard` for the documents
    refused before loading.

    Returns
    -------
    (mapping, warnings)
        The mapping is empty (with a one-line warning) when the text is not YAML, not a
        mapping, or refused by the guard; an empty document is an empty mapping.
    """
    try:
        _yaml_guard(text)
        data = yaml.load(text, Loader=_Loader)
    except _YamlRefused as exc:
        return {}, [f"{exc}; nothing read"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return {}, [f"{where}not valid YAML ({problem}); nothing read"]
    except (RecursionError, ValueError, TypeError) as exc:
        return {}, [f"not valid YAML ({type(exc).__name__}); nothing read"]
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return {}, ["the document is not a mapping; nothing read"]
    return {str(k): v for k, v in data.items()}, []


#: The former name of :func:`read_yaml` (kept for callers of the private API).
read_simple_yaml = read_yaml


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return nested mappings as one level with dotted keys (lists kept)."""
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


# -- the usual keys ------------------------------------------------------------------------

_HPARAM_KEYS: dict[str, tuple[str, ...]] = {
    "lr": (
        "lr",
        "learning_rate",
        "base_lr",
        "lr0",
        "learningrate",
        "init_lr",
        "initial_lr",
        "opt_learning_rate",
        "opt_lr",
    ),
    "batch_size": (
        "batch_size",
        "train_batch_size",
        "per_device_train_batch_size",
        "batch",
        "batchsize",
        "bs",
        "total_batch_size",
    ),
    "momentum": ("momentum", "sgd_momentum", "opt_momentum"),
    "weight_decay": ("weight_decay", "wd", "opt_weight_decay"),
    "max_steps": (
        "max_steps",
        "max_iter",
        "max_iters",
        "max_iterations",
        "num_steps",
        "total_steps",
        "num_training_steps",
    ),
    "max_epochs": ("max_epochs", "epochs", "num_epochs", "num_train_epochs", "n_epochs"),
}

#: Keys that name the optimizer, in order of preference (matched on the last dotted
#: part, so ``optimizer.class_path`` of a LightningCLI config is found too).
OPTIMIZER_KEYS: tuple[str, ...] = (
    "optimizer",
    "optim",
    "optimizer_name",
    "optimizer_type",
    "opt",
    "opt_name",
    "optimizer.class_path",
    "optimizer.name",
    "optimizer.type",
    "solver_type",
)

#: Lower-case optimizer names, most specific first: the first contained in the
#: (lower-cased, alphanumeric) name wins (``adamw_torch_fused`` -> ``adamw``).
_OPTIMIZERS: tuple[tuple[str, str], ...] = (
    ("adamw", "adamw"),
    ("nadam", "nadam"),
    ("radam", "radam"),
    ("adamax", "adamax"),
    ("adafactor", "adafactor"),
    ("adagrad", "adagrad"),
    ("adadelta", "adadelta"),
    ("adam", "adam"),
    ("rmsprop", "rmsprop"),
    ("lbfgs", "lbfgs"),
    ("lamb", "lamb"),
    ("lars", "lars"),
    ("lion", "lion"),
    ("sgd", "sgd"),
    ("nesterov", "sgd"),
    ("momentum", "sgd"),
    ("gradientdescent", "sgd"),
)


def optimizer_name(value: Any) -> str | None:
    """Return the lower-case name of an optimizer setting, or None.

    ``torch.optim.SGD`` -> ``sgd``; ``AdamW`` and HF's ``adamw_torch_fused`` ->
    ``adamw``; Ultralytics' ``auto`` (chosen at run time) -> None; another name ->
    that name in lower case, without its module path.
    """
    if not isinstance(value, str):
        return None
    name = value.strip().strip("'\"<>").split()[0] if value.strip().strip("'\"<>") else ""
    name = name.rsplit(".", 1)[-1].lower()
    if not name or name in ("auto", "none", "null", "default"):
        return None
    compact = re.sub(r"[^a-z0-9]", "", name[:200])
    for key, canonical in _OPTIMIZERS:
        if key in compact:
            return canonical
    return compact or None


def _find(flat: Mapping[str, Any], aliases: Sequence[str], accept: Any) -> Any:
    """The first accepted value of a key matching an alias (its last dotted parts),
    top-level keys first."""
    lowered = [(k, k.lower()) for k in flat]
    for alias in aliases:
        hits = [k for k, low in lowered if low == alias or low.endswith("." + alias)]
        hits.sort(key=lambda k: (k.count("."), k))
        for k in hits:
            v = accept(flat[k])
            if v is not None:
                return v
    return None


def normalise_hparams(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Return the hyperparameters with the usual keys added where obvious.

    ``lr`` (from ``learning_rate``, ``base_lr``, ``lr0``, ``optimizer.lr`` ...),
    ``batch_size``, ``momentum``, ``weight_decay``, ``max_steps``, ``max_epochs``; a key
    matches on its last dotted part, top-level keys first; only numbers are taken. The
    original keys are kept; an existing normalised key is never overwritten, except
    ``optimizer``, which always holds the lower-case name (:func:`optimizer_name`) or
    None.
    """
    out = dict(flat)
    for norm, aliases in _HPARAM_KEYS.items():
        if norm in flat and _is_num(flat[norm]):
            continue

        def accept(v: Any, norm: str = norm) -> int | float | None:
            n = _as_number(v)
            if n is not None and norm in ("max_steps", "max_epochs") and n < 0:
                return None
            return n

        found = _find(flat, aliases, accept)
        if found is not None:
            out[norm] = found
    opt = _find(flat, OPTIMIZER_KEYS, optimizer_name)
    if opt is not None or "optimizer" in out:
        out["optimizer"] = opt
    return out


def optimizer_facts(hparams: dict[str, Any]) -> dict[str, Any]:
    """Return ``hparams`` with ``optimizer``, ``momentum`` and ``weight_decay`` present
    (None when the files said nothing about them)."""
    for key in ("optimizer", "momentum", "weight_decay"):
        hparams.setdefault(key, None)
    return hparams


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _as_number(v: Any) -> int | float | None:
    if _is_num(v):
        return v  # type: ignore[no-any-return]
    if isinstance(v, str):
        p = parse_scalar(v)
        if _is_num(p):
            return p  # type: ignore[no-any-return]
    return None


# -- files beside a log --------------------------------------------------------------------


def read_settings_file(p: Path, max_bytes: int | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """Read a YAML or JSON settings file (by its suffix) into a mapping.

    Returns
    -------
    (mapping or None when it could not be read, warnings naming the file)
    """
    try:
        raw = read_document_bytes(p, max_bytes)
    except DocumentTooLargeError as exc:
        return None, [f"{exc}; settings not read"]
    except OSError as exc:
        return None, [f"{p}: cannot read ({exc.strerror or exc})"]
    text = raw.decode("utf-8-sig", errors="replace")
    if p.name.endswith(".json"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return None, [f"{p}: not valid JSON ({exc}); hyperparameters not read"]
        if not isinstance(data, dict):
            return None, [f"{p}: not a JSON object; hyperparameters not read"]
        return data, []
    data, warn = read_yaml(text)
    return data, [f"{p.name}: {w}" for w in warn]


def hparams_beside(path: Path | None, names: Sequence[str]) -> tuple[dict[str, Any], list[str], str | None]:
    """Read the first hyperparameter file of ``names`` found in ``path`` (a directory).

    ``.yaml``/``.yml`` files are read with :func:`read_yaml`, ``.json`` with the json
    module (each at most the document cap, see :mod:`parsers._jsondoc`). Nested keys are
    flattened (``optimizer.lr``) and the usual keys normalised
    (:func:`normalise_hparams`).

    Returns
    -------
    (hparams, warnings, file name or None)
    """
    if path is None:
        return {}, [], None
    for name in names:
        p = path / name
        if not p.is_file():
            continue
        data, warn = read_settings_file(p)
        if data is None:
            return {}, warn, None
        return normalise_hparams(flatten(data)), warn, name
    return {}, [], None
