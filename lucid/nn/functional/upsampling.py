"""Resizing of ``(N, C, *S)`` inputs: nearest, (bi/tri)linear and area interpolation, N-d.

Interpolation is separable: each spatial axis is resampled in turn with a gather of integer source
indices (and, for the linear modes, a weighted sum of two gathers). Those are ordinary
differentiable ops, so the gradient needs no code of its own. Index arithmetic follows PyTorch.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from lucid import _backend as B
from lucid.ops import elementwise as E
from lucid.ops import pool as _pool
from lucid.ops import shape as S
from lucid.ops._util import op  # runs on the input's device stream
from lucid.tensor import Tensor

__all__ = ["interpolate", "upsample"]

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}
_MODES = ("nearest", "nearest-exact", "area") + tuple(_LINEAR)


def _per_dim(value, n, name):
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"interpolate: {name} must have {n} values (one per spatial dim), "
                             f"got {tuple(value)!r}")
        return tuple(value)
    return (value,) * n


def _sizes(in_size, size, scale_factor, recompute_scale_factor):
    """(output sizes, per-dim source/destination scales) from ``size`` or ``scale_factor``."""
    n = len(in_size)
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        out = _per_dim(size, n, "size")
        if not all(isinstance(o, numbers.Integral) and not isinstance(o, bool) and o > 0
                   for o in out):
            raise ValueError(f"interpolate: size must contain positive ints, got {size!r}")
        out = tuple(int(o) for o in out)
        return out, tuple(i / o for i, o in zip(in_size, out))
    factors = _per_dim(scale_factor, n, "scale_factor")
    if not all(isinstance(f, numbers.Real) and not isinstance(f, bool) and f > 0
               for f in factors):
        raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
    out = tuple(int(math.floor(i * float(f))) for i, f in zip(in_size, factors))
    if any(o < 1 for o in out):
        raise ValueError(f"interpolate: scale_factor {scale_factor!r} gives an empty output "
                         f"{out} for input size {tuple(in_size)}")
    if recompute_scale_factor:
        return out, tuple(i / o for i, o in zip(in_size, out))
    return out, tuple(1.0 / float(f) for f in factors)


def _nearest_index(in_n, out_n, scale, exact):
    o = np.arange(out_n)
    if exact:  # 'nearest-exact': sample at pixel centres
        src = np.floor((o + 0.5) * scale).astype(np.int64)
    elif scale == in_n / out_n:  # integer arithmetic: floor(o * in / out) exactly
        src = (o * in_n) // out_n
    else:
        src = np.floor(o * scale).astype(np.int64)
    return np.minimum(src, in_n - 1)


def _linear_taps(in_n, out_n, scale, align_corners):
    """(i0, i1, lambda): y[o] = (1 - lambda) * x[i0] + lambda * x[i1]."""
    o = np.arange(out_n, dtype=np.float64)
    if align_corners:
        src = o * ((in_n - 1) / (out_n - 1) if out_n > 1 else 0.0)
    else:
        src = np.maximum(scale * (o + 0.5) - 0.5, 0.0)  # PyTorch clamps the left edge to 0
    i0 = np.minimum(np.floor(src).astype(np.int64), in_n - 1)
    i1 = np.minimum(i0 + 1, in_n - 1)
    return i0, i1, src - i0


def _gather(x, axis, index):
    """``x`` indexed along ``axis``: the identity, a repeat (integer upsampling) or a strided
    slice (integer downsampling) when the index is one of those, else a gather."""
    n = x.shape[axis]
    if len(index) == n and np.array_equal(index, np.arange(n)):
        return x
    if len(index) % n == 0 and np.array_equal(index, np.repeat(np.arange(n), len(index) // n)):
        return S.repeat(x, len(index) // n, axis=axis)
    step = int(index[1] - index[0]) if len(index) > 1 else 1
    if step > 0 and np.array_equal(index, index[0] + step * np.arange(len(index))):
        return x[(slice(None),) * axis + (slice(int(index[0]), int(index[-1]) + 1, step),)]
    return x[(slice(None),) * axis + (index,)]


def _linear_by_integer_factor(x, axis, r):
    """Linear upsampling by an integer factor ``r`` (align_corners=False) with dense ops only:
    output ``r*i + j`` is ``(1 - |d|) * x[i] + |d| * x[i -+ 1]`` with ``d = (j + 0.5) / r - 0.5``
    (the neighbour clamped at the edges), and the ``r`` phases are interleaved."""
    n = x.shape[axis]

    def part(start, stop):
        return x[(slice(None),) * axis + (slice(start, stop),)]

    prev = S.concatenate([part(0, 1), part(0, n - 1)], axis=axis) if n > 1 else x
    nxt = S.concatenate([part(1, n), part(n - 1, n)], axis=axis) if n > 1 else x
    phases = []
    for j in range(r):
        d = (j + 0.5) / r - 0.5
        if d == 0:
            phases.append(x)
            continue
        phases.append(E.add(E.mul(x, 1.0 - abs(d)), E.mul(prev if d < 0 else nxt, abs(d))))
    y = S.stack(phases, axis=axis + 1)
    return S.reshape(y, x.shape[:axis] + (n * r,) + x.shape[axis + 1:])


@op
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """Resize the spatial dims of an ``(N, C, *S)`` input to ``size`` or by ``scale_factor``.

    ``mode``: ``'nearest'`` (source ``floor(o * in / out)``, or ``floor(o / scale_factor)``),
    ``'nearest-exact'``, ``'linear'`` (3-D input), ``'bilinear'`` (4-D), ``'trilinear'`` (5-D), or
    ``'area'`` (adaptive average pooling). ``align_corners`` (linear modes only, default False)
    maps the corner samples of input and output onto each other.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate expects a Tensor input, got {type(input).__name__}")
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {_MODES}, got {mode!r}")
    if mode in _LINEAR:
        n = _LINEAR[mode]
        if input.ndim != n + 2:
            raise ValueError(f"interpolate: mode {mode!r} expects a {n + 2}-D input (N, C, "
                             f"{n} spatial dims), got shape {input.shape}")
    elif align_corners:
        raise ValueError(f"interpolate: align_corners only applies to the linear modes, not "
                         f"{mode!r}")
    if input.ndim < 3:
        raise ValueError(f"interpolate expects an input (N, C, *S) with 1 to 3 spatial dims, got "
                         f"shape {input.shape}")
    if not input.is_floating_point():
        raise TypeError(f"interpolate expects a floating-point input, got dtype {input.dtype}")
    n = input.ndim - 2
    if 0 in input.shape[2:]:  # as PyTorch; an empty batch (N = 0) is fine
        raise ValueError(f"interpolate: input spatial sizes must be positive, got shape "
                         f"{input.shape}")
    out, scales = _sizes(input.shape[2:], size, scale_factor, recompute_scale_factor)
    if mode == "area":
        return _pool.adaptive_avg_pool(input, n, out, name="interpolate")
    y = input
    for i, (in_n, out_n, scale) in enumerate(zip(input.shape[2:], out, scales)):
        axis = 2 + i
        r = out_n // in_n
        if mode in _LINEAR and not align_corners and r > 1 and out_n == r * in_n \
                and scale == 1.0 / r:
            y = _linear_by_integer_factor(y, axis, r)
        elif mode in _LINEAR:
            i0, i1, lam = _linear_taps(in_n, out_n, scale, bool(align_corners))
            lo = _gather(y, axis, i0)
            if not lam.any():
                y = lo
                continue
            hi = _gather(y, axis, i1)
            w = Tensor._wrap(_const(lam, lo, n - i - 1), lo._device)
            y = E.add(lo, E.mul(E.sub(hi, lo), w))
        else:
            y = _gather(y, axis, _nearest_index(in_n, out_n, scale, mode == "nearest-exact"))
    return y


def _const(values, like, trailing):
    """``values`` as an array of ``like``'s dtype shaped to broadcast along an axis followed by
    ``trailing`` more axes."""
    shape = (-1,) + (1,) * trailing
    return B.asarray(np.asarray(values).reshape(shape), B.dtype_name(like.data.dtype))


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """``interpolate`` under its older name."""
    return interpolate(input, size, scale_factor, mode, align_corners)
