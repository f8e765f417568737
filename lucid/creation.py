"""Tensor constructors: from data, constant fills, ranges, identity, and random draws."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from lucid import _backend as B
from lucid._typing import DTypeLike, IntOrSeq, TensorOrScalar
from lucid.dtypes import BY_NAME, as_dtype_name
from lucid.tensor import Tensor


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        shape = tuple(operator.index(s) for s in shape)  # not int(): it would truncate 2.5
    except TypeError:
        raise TypeError(f"sizes must be ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"sizes must be non-negative, got shape {shape}")
    B.check_ndim(shape)
    return shape


def _make(build, device, requires_grad):
    """A Tensor on ``device`` around the array ``build()`` makes, built on that device's stream
    (MLX's default stream may be another device's, e.g. a Mac's GPU, which has no float64)."""
    device = B.resolve_device(device)
    with B.device_scope(device):
        data = build()
    t = Tensor._wrap(data, device)
    if t._device == "gpu" and data.dtype == B.DTYPES["float64"]:
        raise TypeError("float64 is not supported on the GPU: use float32, or device='cpu'")
    if requires_grad:
        t.requires_grad_(True)
    return t


def _numpy_dtype(data):
    """A numpy array's (or scalar's) dtype name when Lucid has it, as PyTorch keeps it; None for
    Python data (floats then default to float32 and ints to int64)."""
    if isinstance(data, (np.ndarray, np.generic)) and data.dtype.name in BY_NAME:
        return data.dtype.name
    return None


def tensor(
    data: Any, dtype: DTypeLike = None, device: str | None = None, requires_grad: bool = False
) -> Tensor:
    """A new tensor (a copy) from a scalar, nested list, numpy/MLX array or Tensor. A numpy
    array keeps its dtype (float64 stays float64, as in PyTorch; float64 cannot go to the GPU);
    Python floats become float32 and Python ints int64."""
    if dtype is None:
        dtype = _numpy_dtype(data)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor with a numpy array's values and dtype. Unlike PyTorch's, it is a copy: MLX cannot
    share numpy's memory, so later writes to the array do not show in the tensor."""
    if isinstance(ndarray, Tensor) and B.is_tracing():  # a numpy argument of lucid.compile
        return Tensor(ndarray, dtype=ndarray.dtype)
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(ndarray).__name__}")
    if ndarray.dtype.name not in BY_NAME:
        raise TypeError(
            f"from_numpy: numpy dtype {ndarray.dtype} is not supported; expected one "
            f"of {sorted(BY_NAME)}"
        )
    return Tensor(ndarray, dtype=ndarray.dtype.name)


def as_tensor(data: Any, dtype: DTypeLike = None, device: str | None = None) -> Tensor:
    """``data`` itself when it is already a Tensor of that dtype and device, else a new tensor
    (as ``tensor``)."""
    if isinstance(data, Tensor):
        if (dtype is None or data.dtype == dtype) and (
            device is None or B.resolve_device(device) == data.device
        ):
            return data
        return data.to(device=device, dtype=dtype)
    return tensor(data, dtype=dtype, device=device)


def zeros(
    *shape: IntOrSeq,
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of zeros."""
    return _make(
        lambda: B.zeros(_shape(shape), dtype=B.DTYPES[as_dtype_name(dtype)]), device, requires_grad
    )


def ones(
    *shape: IntOrSeq,
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of ones."""
    return _make(
        lambda: B.ones(_shape(shape), dtype=B.DTYPES[as_dtype_name(dtype)]), device, requires_grad
    )


def full(
    shape: IntOrSeq,
    fill_value: TensorOrScalar,
    dtype: DTypeLike = None,
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor filled with ``fill_value``."""
    shape = _shape((shape,) if isinstance(shape, int) else (tuple(shape),))
    if dtype is None:
        dtype = (
            "bool"
            if isinstance(fill_value, bool)
            else ("int64" if isinstance(fill_value, int) else "float32")
        )
    name = as_dtype_name(dtype)
    # MLX keeps a float fill's dtype even when an integer dtype is asked for: cast explicitly.
    # (MLX's stubs list numbers and mx.arrays; a one-element Tensor converts via __array__.)
    return _make(
        lambda: B.cast(B.full(shape, fill_value, dtype=B.DTYPES[name]), name),  # type: ignore[arg-type]
        device,
        requires_grad,
    )


def empty(
    *shape: IntOrSeq,
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """An uninitialised tensor (MLX has no such thing: zeros)."""
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def arange(
    start: float = 0,
    end: float | None = None,
    step: float = 1,
    dtype: DTypeLike = None,
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Evenly spaced values in [start, end) (int64 for integer arguments, else float32);
    ``arange(end)`` starts at 0 (PyTorch's signature)."""
    if end is None:
        start, end = 0, start
    stop = end
    if step == 0:
        raise ValueError("arange: step must not be zero")
    if dtype is None:
        dtype = "int64" if all(isinstance(v, int) for v in (start, stop, step)) else "float32"
    n = max(0, math.ceil((stop - start) / step))
    exact_ints = all(isinstance(v, int) for v in (start, stop, step))
    # numpy's stubs cannot type arange with a conditional dtype
    values = start + step * np.arange(n, dtype=np.int64 if exact_ints else np.float64)  # type: ignore[operator]
    return _make(lambda: B.asarray(values, as_dtype_name(dtype)), device, requires_grad)


def linspace(
    start: TensorOrScalar,
    end: TensorOrScalar,
    steps: int,
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (PyTorch's signature:
    ``steps`` has no default)."""
    return _make(
        lambda: B.asarray(np.linspace(start, end, steps), as_dtype_name(dtype)),
        device,
        requires_grad,
    )


def eye(
    n: int,
    m: int | None = None,
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """The identity matrix (n x m)."""
    return _make(lambda: B.eye(n, m, dtype=B.DTYPES[as_dtype_name(dtype)]), device, requires_grad)


def _like(fn, t, dtype, device, requires_grad, *args):
    return fn(*args, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def zeros_like(
    t: Tensor, dtype: DTypeLike = None, device: str | None = None, requires_grad: bool = False
) -> Tensor:
    """Zeros with ``t``'s shape (and dtype/device unless given)."""
    return _like(zeros, t, dtype, device, requires_grad, t.shape)


def ones_like(
    t: Tensor, dtype: DTypeLike = None, device: str | None = None, requires_grad: bool = False
) -> Tensor:
    """Ones with ``t``'s shape (and dtype/device unless given)."""
    return _like(ones, t, dtype, device, requires_grad, t.shape)


def empty_like(
    t: Tensor, dtype: DTypeLike = None, device: str | None = None, requires_grad: bool = False
) -> Tensor:
    """An uninitialised (zero) tensor with ``t``'s shape."""
    return _like(zeros, t, dtype, device, requires_grad, t.shape)


def full_like(
    t: Tensor,
    fill_value: TensorOrScalar,
    dtype: DTypeLike = None,
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """``fill_value`` everywhere, with ``t``'s shape."""
    return full(
        t.shape,
        fill_value,
        dtype=dtype or t.dtype,
        device=device or t.device,
        requires_grad=requires_grad,
    )
