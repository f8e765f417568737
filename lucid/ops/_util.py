"""Helpers shared by the op families: operand unpacking, the device decorator, axis handling."""

from __future__ import annotations

import functools
import numbers

import numpy as np

from lucid import _backend as B
from lucid._args import dim_aliases  # noqa: F401  (re-exported for the op modules)
from lucid.autograd.graph import record  # noqa: F401  (re-exported for the op modules)
from lucid.tensor import Tensor


def raw(v):
    """The backend value of an operand: a Tensor's array, a Python number as is (MLX keeps the
    tensor's dtype for Python scalars), anything else converted to an array."""
    if isinstance(v, Tensor):
        return v._data
    if isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, numbers.Number):
        return float(v)
    return B.asarray(v)


def as_tensor(v, like: Tensor | None = None) -> Tensor:
    """``v`` as a Tensor (constants get ``like``'s device)."""
    if isinstance(v, Tensor):
        return v
    data = B.asarray(v)
    if like is not None and B.is_floating(like.data.dtype) and B.is_floating(data.dtype):
        data = data.astype(like.data.dtype)
    return Tensor._wrap(data, like._device if like is not None else "cpu")


def _device_of(args) -> str:
    for a in args:
        if isinstance(a, Tensor):
            return a._device
        if isinstance(a, (list, tuple)) and a and isinstance(a[0], Tensor):
            return a[0]._device
    return "cpu"


_autocast_hook = None  # set by lucid.amp.autocast while a region is active


def set_autocast_hook(hook) -> None:
    """Install (or, with None, remove) ``hook(fn, args, kwargs) -> (args, kwargs)``, which
    casts an op's arguments by the mixed-precision policy (``lucid.amp``)."""
    global _autocast_hook
    _autocast_hook = hook


_profile_hook = None  # set by lucid.profiler while a profile is active
PASS = object()  # the profile hook's answer meaning "run the op as usual"


def set_profile_hook(hook) -> None:
    """Install (or, with None, remove) ``hook(fn, run, args, kwargs)``, which times an op
    (``lucid.profiler``): it returns the op's result, or ``PASS`` to let ``run`` go on."""
    global _profile_hook
    _profile_hook = hook


_trace_hook = None  # set by lucid.export while it traces a model


def set_trace_hook(hook) -> None:
    """Install (or, with None, remove) ``hook(op, args, kwargs)``, which is called instead of
    every op (``op`` the public function; ``op.__wrapped__`` its body) while ``lucid.export``
    traces a model, and runs the op itself."""
    global _trace_hook
    _trace_hook = hook


def op(fn):
    """Run an op's forward on the MLX stream of its first tensor argument (its arguments cast
    by ``lucid.amp``'s policy inside an ``autocast`` region)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if _trace_hook is not None:
            return _trace_hook(run, args, kwargs)
        if _profile_hook is not None:  # the hook calls run again, which it then PASSes
            out = _profile_hook(fn, run, args, kwargs)
            if out is not PASS:
                return out
        if _autocast_hook is not None:
            args, kwargs = _autocast_hook(fn, args, kwargs)
        device = _device_of(args)
        if device == B.default_device_name():
            return fn(*args, **kwargs)
        with B.device_scope(device):
            return fn(*args, **kwargs)

    return run


def normalize_axes(axis, ndim: int, what: str = "axis") -> tuple:
    """``axis`` (None, an int or a sequence) as a sorted tuple of non-negative axes, checked."""
    if axis is None:
        return tuple(range(ndim))
    try:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    except TypeError:
        raise TypeError(f"{what} must be an int or a tuple of ints, got {axis!r}") from None
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"{what} must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:  # as numpy: a 0-d tensor has no axis 0 to reduce over
            raise ValueError(f"{what} {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated {what} in {axis!r}")
    return tuple(sorted(out))


def single_dim(dim, ndim: int, what: str = "dim") -> int:
    """One dim (an int), checked against ``ndim`` and made non-negative; a tuple is a TypeError
    (ops such as ``max(dim)``, ``transpose`` or ``cat`` take exactly one)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{what} must be one int here, got {dim!r}")
    return normalize_axes(dim, ndim, what)[0]
