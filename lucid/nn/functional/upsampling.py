"""Resizing of ``(N, C, *S)`` inputs: nearest, (bi/tri)linear, bicubic and area interpolation.

Interpolation is separable: each spatial axis is resampled in turn with a gather of integer
source indices (and, for the linear modes, a weighted sum of two gathers; bicubic, of four).
Those are ordinary differentiable ops, so the gradient needs no code of its own. Index arithmetic
follows PyTorch's forward.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from lucid import _backend as B
from lucid.ops import elementwise as E, pool as _pool, shape as S
from lucid.ops._util import op  # runs on the input's device stream
from lucid.tensor import Tensor

__all__ = ["interpolate", "upsample"]

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}
_SPATIAL = dict(_LINEAR, bicubic=2)  # modes tied to a number of spatial dims
_MODES = ("nearest", "nearest-exact", "area", "bicubic") + tuple(_LINEAR)


def _per_dim(value, n, name):
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(
                f"interpolate: {name} must have {n} values (one per spatial dim), "
                f"got {tuple(value)!r}"
            )
        return tuple(value)
    return (value,) * n


def _sizes(in_size, size, scale_factor, recompute_scale_factor):
    """(output sizes, per-dim scale factors the index formulas use: the user's, or None when
    ``size`` is given or ``recompute_scale_factor`` asks for ``in / out``)."""
    n = len(in_size)
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        out = _per_dim(size, n, "size")
        if not all(
            isinstance(o, numbers.Integral) and not isinstance(o, bool) and o > 0 for o in out
        ):
            raise ValueError(f"interpolate: size must contain positive ints, got {size!r}")
        return tuple(int(o) for o in out), (None,) * n
    factors = _per_dim(scale_factor, n, "scale_factor")
    if not all(isinstance(f, numbers.Real) and not isinstance(f, bool) and f > 0 for f in factors):
        raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
    out = tuple(int(math.floor(float(i * float(f)))) for i, f in zip(in_size, factors))
    if any(o < 1 for o in out):
        raise ValueError(
            f"interpolate: scale_factor {scale_factor!r} gives an empty output "
            f"{out} for input size {tuple(in_size)}"
        )
    if recompute_scale_factor:
        return out, (None,) * n
    return out, tuple(float(f) for f in factors)


# The index arithmetic below is PyTorch's, including its precision: nearest modes always work
# in float32; the linear and cubic modes in the input's float type (float32 or float64). Exact
# boundary cases (e.g. 39 / 1.3) land on the same source element only with the same roundings.
def _nearest_index(in_n, out_n, factor, exact, shortcuts):
    """Source index per output index. PyTorch's 2-D 'nearest' kernel (only that one) copies a
    dim whose size does not change and halves indices for an exact doubling, whatever the
    factor; the other kernels always apply the formula."""
    if shortcuts and not exact and out_n in (in_n, 2 * in_n):
        return np.arange(out_n) // (out_n // in_n)
    scale = np.float32(1.0 / factor) if factor else np.float32(in_n) / np.float32(out_n)
    o = np.arange(out_n)
    if exact:  # 'nearest-exact': sample at pixel centres; (o + 0.5) * scale in double, floorf
        src = np.floor(((o + 0.5) * np.float64(scale)).astype(np.float32))
    else:
        src = np.floor(o.astype(np.float32) * scale)
    return np.minimum(src.astype(np.int64), in_n - 1)


def _source_positions(in_n, out_n, factor, align_corners, real, cubic=False):
    """Fractional source position of every output index, in the float type ``real``."""
    o = np.arange(out_n).astype(real)
    if align_corners:
        scale = real(in_n - 1) / real(out_n - 1) if out_n > 1 else real(0)
        return scale * o
    scale = real(1.0 / factor) if factor else real(in_n) / real(out_n)
    src = scale * (o + real(0.5)) - real(0.5)
    return src if cubic else np.maximum(src, real(0))  # linear clamps the left edge to 0


def _linear_taps(in_n, out_n, factor, align_corners, real):
    """(i0, i1, lambda): y[o] = (1 - lambda) * x[i0] + lambda * x[i1]."""
    src = _source_positions(in_n, out_n, factor, align_corners, real)
    i0 = np.minimum(src.astype(np.int64), in_n - 1)
    i1 = np.where(i0 < in_n - 1, i0 + 1, i0)
    return i0, i1, np.clip(src - i0.astype(real), 0, 1)


def _cubic_taps(in_n, out_n, factor, align_corners, real, a=-0.75):
    """Four (source index, weight) pairs per output index: Keys' cubic convolution with
    ``a = -0.75``, indices beyond the border clamped to it (PyTorch's bicubic)."""
    src = _source_positions(in_n, out_n, factor, align_corners, real, cubic=True)
    i = np.floor(src).astype(np.int64)
    t = src - i.astype(real)
    a = real(a)

    def near(z):  # |z| <= 1
        return ((a + 2) * z - (a + 3)) * z * z + 1

    def far(z):  # 1 < |z| < 2
        return ((a * z - 5 * a) * z + 8 * a) * z - 4 * a

    weights = (far(t + 1), near(t), near(1 - t), far(2 - t))
    return [(np.clip(i + k, 0, in_n - 1), w) for k, w in zip((-1, 0, 1, 2), weights)]


def _gather(x, axis, index):
    """``x`` indexed along ``axis``: the identity, a repeat (integer upsampling) or a strided
    slice (integer downsampling) when the index is one of those, else a gather."""
    n = x.shape[axis]
    if len(index) == n and np.array_equal(index, np.arange(n)):
        return x
    if len(index) % n == 0 and np.array_equal(index, np.repeat(np.arange(n), len(index) // n)):
        return S.repeat_interleave(x, len(index) // n, dim=axis)
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
    return S.reshape(y, x.shape[:axis] + (n * r,) + x.shape[axis + 1 :])


@op
def interpolate(
    input: Tensor,
    size=None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor=None,
):
    """Resize the spatial dims of an ``(N, C, *S)`` input to ``size`` or by ``scale_factor``.

    ``mode``: ``'nearest'`` (source ``floor(o * in / out)``, or ``floor(o / scale_factor)``),
    ``'nearest-exact'``, ``'linear'`` (3-D input), ``'bilinear'`` (4-D), ``'bicubic'`` (4-D,
    Keys' cubic with a = -0.75, borders replicated; may overshoot the input's range, as in
    PyTorch), ``'trilinear'`` (5-D), or ``'area'`` (adaptive average pooling).
    ``align_corners`` (linear and bicubic modes, default False) maps the corner samples of input
    and output onto each other. With ``scale_factor``, the index formulas use the factor itself
    unless ``recompute_scale_factor`` is True (then ``in / out``), exactly as PyTorch does.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate expects a Tensor input, got {type(input).__name__}")
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {_MODES}, got {mode!r}")
    if mode in _SPATIAL:
        n = _SPATIAL[mode]
        if input.ndim != n + 2:
            raise ValueError(
                f"interpolate: mode {mode!r} expects a {n + 2}-D input (N, C, "
                f"{n} spatial dims), got shape {input.shape}"
            )
    elif align_corners:
        raise ValueError(
            f"interpolate: align_corners only applies to the linear and bicubic modes, not {mode!r}"
        )
    if input.ndim < 3:
        raise ValueError(
            f"interpolate expects an input (N, C, *S) with 1 to 3 spatial dims, got "
            f"shape {input.shape}"
        )
    if not input.is_floating_point():
        raise TypeError(f"interpolate expects a floating-point input, got dtype {input.dtype}")
    n = input.ndim - 2
    # as PyTorch: an empty batch (N = 0) is fine; 'area' is adaptive average pooling, whose own
    # rules apply (a zero-size volume pooled to size 1 is NaN, other sizes are refused)
    if 0 in input.shape[2:] and mode != "area":
        raise ValueError(
            f"interpolate: input spatial sizes must be positive, got shape {input.shape}"
        )
    out, factors = _sizes(input.shape[2:], size, scale_factor, recompute_scale_factor)
    if mode == "area":
        return _pool.adaptive_avg_pool(input, n, out, name="interpolate")
    real = np.float64 if B.dtype_name(input.data.dtype) == "float64" else np.float32
    corners = bool(align_corners)
    y = input
    for i, (in_n, out_n, factor) in enumerate(zip(input.shape[2:], out, factors)):
        axis, trailing = 2 + i, n - i - 1
        r = out_n // in_n if in_n else 0
        if mode in _LINEAR and out_n == in_n:
            continue  # PyTorch copies a dim whose size does not change, whatever the factor
        if (
            mode in _LINEAR
            and not corners
            and r > 1
            and out_n == r * in_n
            and factor in (None, float(r))
        ):
            y = _linear_by_integer_factor(y, axis, r)
        elif mode in _LINEAR:
            i0, i1, lam = _linear_taps(in_n, out_n, factor, corners, real)
            lo = _gather(y, axis, i0)
            if not lam.any():
                y = lo
                continue
            hi = _gather(y, axis, i1)
            w = Tensor._wrap(_const(lam, lo, trailing), lo._device)
            y = E.add(lo, E.mul(E.sub(hi, lo), w))
        elif mode == "bicubic":
            taps = _cubic_taps(in_n, out_n, factor, corners, real)
            parts = [
                E.mul(_gather(y, axis, idx), Tensor._wrap(_const(w, y, trailing), y._device))
                for idx, w in taps
            ]
            y = E.add(E.add(parts[0], parts[1]), E.add(parts[2], parts[3]))
        else:
            y = _gather(
                y,
                axis,
                _nearest_index(in_n, out_n, factor, mode == "nearest-exact", shortcuts=n == 2),
            )
    return y


def _const(values, like, trailing):
    """``values`` as an array of ``like``'s dtype shaped to broadcast along an axis followed by
    ``trailing`` more axes."""
    shape = (-1,) + (1,) * trailing
    return B.asarray(np.asarray(values).reshape(shape), B.dtype_name(like.data.dtype))


def upsample(
    input: Tensor,
    size=None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
):
    """``interpolate`` under its older name."""
    return interpolate(input, size, scale_factor, mode, align_corners)
