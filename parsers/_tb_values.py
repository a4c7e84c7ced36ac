"""Values of TensorBoard summaries: scalar and histogram tensors, HistogramProto, hparams.

Tensors are checked against their dtype and declared shape: bytes that are not a whole
number of elements, a negative dimension, or a shape asking for more elements than the
tensor has bytes raise :class:`_BadTensor` (the reader skips and counts the value), so a
few hostile bytes never allocate gigabytes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from google.protobuf import json_format

_HISTOGRAM_STATS = ("l2", "mean", "std", "absmax")

# TensorFlow DataType numbers (types.proto) and how their one element is stored.
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_UINT8, _DT_INT16, _DT_INT8 = 1, 2, 3, 4, 5, 6
_DT_INT64, _DT_BOOL, _DT_BFLOAT16, _DT_UINT16, _DT_HALF = 9, 10, 14, 17, 19
_DT_UINT32, _DT_UINT64 = 22, 23
_CONTENT_DTYPES: dict[int, str] = {
    _DT_FLOAT: "<f4",
    _DT_DOUBLE: "<f8",
    _DT_HALF: "<f2",
    _DT_INT32: "<i4",
    _DT_INT64: "<i8",
    _DT_INT16: "<i2",
    _DT_INT8: "i1",
    _DT_UINT8: "u1",
    _DT_UINT16: "<u2",
    _DT_UINT32: "<u4",
    _DT_UINT64: "<u8",
    _DT_BOOL: "?",
}
_INT_VAL_DTYPES = frozenset({_DT_INT32, _DT_INT16, _DT_INT8, _DT_UINT8, _DT_UINT16})


#: The most elements a tensor may declare per byte of its serialized form: TensorProto
#: can repeat one stored value to fill its shape, so a few bytes could ask for gigabytes.
#: A real histogram tensor stores each of its ``k x 3`` values.
_MAX_ELEMENTS_PER_BYTE = 1


class _BadTensor(ValueError):
    """A tensor whose stored bytes do not match its dtype and shape (damage)."""


def _declared_size(t: Any) -> int:
    """Return the number of elements ``t``'s shape declares (1 for a scalar).

    Raises
    ------
    _BadTensor
        If a dimension is negative or the shape asks for more elements than the tensor
        has bytes (see :data:`_MAX_ELEMENTS_PER_BYTE`).
    """
    dims = [int(d.size) for d in t.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise _BadTensor(f"a negative dimension in shape {dims}")
    size = math.prod(dims)
    limit = max(t.ByteSize(), 64) * _MAX_ELEMENTS_PER_BYTE
    if size > limit or any(d > limit for d in dims):  # (0, 2**62, 2**62) holds 0 elements
        raise _BadTensor(f"shape {dims} declares {size} elements in a {t.ByteSize()}-byte tensor")
    return size


def _content(t: Any, code: str) -> np.ndarray:
    """Return ``t.tensor_content`` as an array of ``code``.

    Raises
    ------
    _BadTensor
        If the byte length is not a whole number of elements.
    """
    raw = t.tensor_content
    width = np.dtype(code).itemsize
    if len(raw) % width:
        raise _BadTensor(f"{len(raw)} bytes of tensor data are not a whole number of {width}-byte elements")
    return np.frombuffer(raw, dtype=code)


def _tensor_scalar(t: Any) -> float | None:
    """Return the value of a one-element numeric tensor, or None when it is not one.

    Raises
    ------
    _BadTensor
        If the tensor's bytes do not fit its dtype.
    """
    if any(d.size != 1 for d in t.tensor_shape.dim):
        return None
    dt = t.dtype
    if t.tensor_content:
        code = _CONTENT_DTYPES.get(dt)
        if dt == _DT_BFLOAT16 and len(t.tensor_content) == 2:
            bits = int.from_bytes(t.tensor_content, "little") << 16
            return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])
        if code is None:
            return None
        arr = _content(t, code)
        if arr.size != 1:
            raise _BadTensor(f"a one-element tensor holds {arr.size} elements")
        return float(arr[0])
    if dt == _DT_FLOAT and len(t.float_val) == 1:
        return float(t.float_val[0])
    if dt == _DT_DOUBLE and len(t.double_val) == 1:
        return float(t.double_val[0])
    if dt == _DT_HALF and len(t.half_val) == 1:
        return float(np.array([t.half_val[0] & 0xFFFF], dtype=np.uint16).view(np.float16)[0])
    if dt == _DT_BFLOAT16 and len(t.half_val) == 1:
        bits = (t.half_val[0] & 0xFFFF) << 16
        return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])
    if dt in _INT_VAL_DTYPES and len(t.int_val) == 1:
        return float(t.int_val[0])
    if dt == _DT_INT64 and len(t.int64_val) == 1:
        return float(t.int64_val[0])
    if dt == _DT_BOOL and len(t.bool_val) == 1:
        return float(t.bool_val[0])
    return None


def _tensor_array(t: Any) -> np.ndarray | None:
    """Return a numeric tensor as a float64 array in its shape, or None.

    Never allocates more elements than the tensor has bytes (a lone stored value is
    repeated to fill the shape only within that bound).

    Raises
    ------
    _BadTensor
        If the stored bytes do not fit the dtype, or the shape is absurd.
    """
    size = _declared_size(t)
    shape = tuple(int(d.size) for d in t.tensor_shape.dim)
    dt = t.dtype
    if t.tensor_content:
        code = _CONTENT_DTYPES.get(dt)
        if code is None:
            return None
        arr = _content(t, code).astype(np.float64)
    elif dt == _DT_DOUBLE:
        arr = np.array(t.double_val, dtype=np.float64)
    elif dt == _DT_FLOAT:
        arr = np.array(t.float_val, dtype=np.float64)
    elif dt == _DT_HALF:
        bits = (np.array(t.half_val, dtype=np.int64) & 0xFFFF).astype(np.uint16)
        arr = bits.view(np.float16).astype(np.float64)
    else:
        return None
    if arr.size == 1 and size > 1:
        arr = np.full(size, arr[0])  # TensorProto repeats a lone value to fill the shape
    if arr.size != size:
        return None
    return arr.reshape(shape)


def _histo_stats(h: Any) -> tuple[float, float, float, float] | None:
    """Return (l2, mean, std, absmax) of a HistogramProto, exact from its moments."""
    num = h.num
    if not num > 0:
        return None
    mean = h.sum / num
    var = max(h.sum_squares / num - mean * mean, 0.0)
    return (math.sqrt(max(h.sum_squares, 0.0)), mean, math.sqrt(var), max(abs(h.min), abs(h.max)))


def _tensor_histo_stats(t: Any) -> tuple[float, float, float, float] | None:
    """Return (l2, mean, std, absmax) estimated from a TF2 histogram tensor [k, 3]."""
    arr = _tensor_array(t)
    if arr is None or arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        return None
    left, right, count = arr[:, 0], arr[:, 1], arr[:, 2]
    with np.errstate(all="ignore"):  # inf/NaN buckets give inf/NaN statistics, quietly
        total = count.sum()
        if not total > 0:
            return None
        mid = (left + right) / 2.0
        mean = float((count * mid).sum() / total)
        sq = float((count * mid * mid).sum())
        var = max(sq / total - mean * mean, 0.0)
        used = count > 0
        absmax = float(max(np.abs(left[used]).max(), np.abs(right[used]).max()))
    return math.sqrt(max(sq, 0.0)), mean, math.sqrt(var), absmax


_STAT_TEXT = {
    "l2": "L2 norm: sqrt(sum of squares) of the values summarised by histogram {tag!r}",
    "mean": "mean of the values summarised by histogram {tag!r}",
    "std": "standard deviation (population) of the values summarised by histogram {tag!r}",
    "absmax": "largest absolute value, max(|min|, |max|), of histogram {tag!r}",
}


def _stat_description(stat: str, tag: str, exact: bool) -> str:
    how = "exact (HistogramProto moments)" if exact else "estimated from TF2 histogram bucket midpoints"
    if stat == "absmax" and not exact:
        how = "from the outermost non-empty bucket edges"
    return f"{_STAT_TEXT[stat].format(tag=tag)}; {how}"


def _pyvalue(v: Any) -> Any:
    """Return a ``google.protobuf.Value`` as a plain Python value."""
    kind = v.WhichOneof("kind")
    if kind in ("struct_value", "list_value"):
        return json_format.MessageToDict(v)
    if kind == "number_value":
        return float(v.number_value)
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return bool(v.bool_value)
    return None
