"""Reductions over ``dim`` (None, an int or a tuple; ``keepdim``), forward beside backward.

Signatures are PyTorch's; numpy's ``axis=``/``keepdims=`` are accepted as aliases, as PyTorch does.
Floating sums and means accumulate blockwise (``B.accurate_sum``) and half precision in float32.
"""

from __future__ import annotations

import math
from collections import namedtuple

from lucid import _backend as B
from lucid._typing import Dims, DTypeLike, TensorOrScalar
from lucid.ops import elementwise as E, shape as S
from lucid.ops._util import dim_aliases, normalize_axes, op, record, single_dim
from lucid.tensor import Tensor

#: what ``max(dim)``/``min(dim)`` return: PyTorch's ``(values, indices)`` named tuple
values_indices = namedtuple("values_indices", ["values", "indices"])

_F32 = B.DTYPES["float32"]


def _all_if_empty(dim):
    """PyTorch's sum/mean/amax/amin read an empty ``dim`` (``()`` or ``[]``) as every dim."""
    return None if isinstance(dim, (tuple, list)) and not dim else dim


def _spread(g, x_shape, axes, keepdim):
    """Broadcast a reduced gradient back over the reduced axes."""
    if not keepdim and axes:
        g = B.expand_dims(g, list(axes))
    return B.broadcast_to(g, x_shape)


def _spread_tensor(g, x_shape, axes, keepdim):
    """``_spread`` for a recorded gradient (a Tensor): reshaped to broadcast against the input
    (the broadcast itself is left to the op that uses it)."""
    if not keepdim and axes:
        g = S.reshape(g, tuple(1 if a in axes else n for a, n in enumerate(x_shape)))
    return g


def _count(shape, axes):
    return math.prod(shape[a] for a in axes)


def _as_dtype(x, dtype):
    """``x`` converted first when a reduction is given ``dtype=`` (as PyTorch does)."""
    if dtype is None:
        return x
    from lucid.ops.shape import astype

    return astype(x, dtype)


def _half(dt) -> bool:
    return dt in (B.DTYPES["float16"], B.DTYPES["bfloat16"])


def _scaled(g, scale, dtype):
    """``g * scale`` in ``dtype``, computed in float32 for half types (1/n underflows there)."""
    if _half(dtype):
        return (g.astype(_F32) * scale).astype(dtype)
    return g * scale


@dim_aliases
@op
def sum(
    input: Tensor, dim: Dims = None, keepdim: bool = False, *, dtype: DTypeLike = None
) -> Tensor:
    """Sum over ``dim`` (all dims when None); integer and bool sums are int64, as PyTorch's."""
    x = _as_dtype(input, dtype)
    axes = normalize_axes(_all_if_empty(dim), x.ndim)
    xd = x.data
    if B.is_floating(xd.dtype):
        y = B.accurate_sum(xd, axes, keepdim)
    else:
        y = B.sum(B.cast(xd, "int64"), axis=list(axes), keepdims=keepdim)
    shape = xd.shape
    return record(
        y,
        (x,),
        lambda g: (_spread(g, shape, axes, keepdim),),
        "Sum",
        adjoint=lambda _i, v: B.accurate_sum(v, axes, keepdim),
    )


@dim_aliases
@op
def mean(
    input: Tensor, dim: Dims = None, keepdim: bool = False, *, dtype: DTypeLike = None
) -> Tensor:
    """Mean over ``dim`` (NaN for an empty reduction); floating inputs only, as PyTorch."""
    x = _as_dtype(input, dtype)
    if not B.is_floating(x.data.dtype):
        raise TypeError(
            f"mean() needs a floating-point tensor, got dtype {x.dtype}: convert "
            "with .float() or pass dtype=lucid.float32"
        )
    axes = normalize_axes(_all_if_empty(dim), x.ndim)
    n = _count(x.shape, axes)
    xd = x.data
    y = (
        B.accurate_mean(xd, axes, keepdim)
        if n
        else B.sum(xd, axis=list(axes), keepdims=keepdim) * float("nan")
    )
    shape = xd.shape
    return record(
        y,
        (x,),
        lambda g: (_spread(_scaled(g, 1.0 / n if n else 1.0, g.dtype), shape, axes, keepdim),),
        "Mean",
        adjoint=lambda _i, v: _scaled(
            B.accurate_sum(v, axes, keepdim), 1.0 / n if n else 1.0, v.dtype
        ),
    )


def _refuse_empty_reduction(x, axes, name):
    """PyTorch's rule for max/min/argmax/argmin of an empty tensor: refused over a dim of size
    0 (an IndexError, as PyTorch's) or over all dims; otherwise the result is simply empty (e.g.
    a batch of 0 rows)."""
    if x.numel():
        return
    if axes is None:
        raise ValueError(
            f"{name}() of an empty tensor (shape {x.shape}) has no value: give a dim of "
            f"non-zero size to reduce over"
        )
    for a in axes:
        if x.shape[a] == 0:
            raise IndexError(
                f"{name}(): reduction dim {a} of the input (shape {x.shape}) has size 0"
            )


def _empty_reduced(x, axes, keepdim):
    """The (empty) shape of a reduction of empty ``x`` over non-empty ``axes``."""
    return tuple(1 if a in axes else n for a, n in enumerate(x.shape) if keepdim or a not in axes)


def _extreme(x, dim, keepdim, fn, name):
    dims = _all_if_empty(dim)
    axes = normalize_axes(dims, x.ndim)
    _refuse_empty_reduction(x, None if dims is None else axes, name.lower())
    if x.numel() == 0:
        shape, out_shape = x.shape, _empty_reduced(x, axes, keepdim)
        return record(
            B.zeros(out_shape, dtype=x.data.dtype),
            (x,),
            lambda g: (B.zeros(shape, dtype=g.dtype),),
            name,
            adjoint=lambda _i, v: B.zeros(out_shape, dtype=v.dtype),
        )
    xd = x.data
    y = fn(xd, axis=list(axes), keepdims=keepdim)

    def backward(g):
        # ties share the gradient evenly (the subgradient PyTorch's amax/amin use)
        hit = (xd == _spread(y, xd.shape, axes, keepdim)).astype(g.dtype)
        count = B.sum(hit, axis=list(axes), keepdims=True)
        return (_spread(g, xd.shape, axes, keepdim) * hit / count,)

    def adjoint(_i, v):  # the backward's transpose: each output takes its ties' mean of v
        hit = (xd == _spread(y, xd.shape, axes, keepdim)).astype(v.dtype)
        count = B.sum(hit, axis=list(axes), keepdims=True)
        return B.accurate_sum(v * hit / count, axes, keepdim)

    return record(y, (x,), backward, name, adjoint=adjoint)


@op
def _extreme_with_index(x, dim, keepdim, arg_fn, name):
    """(values, indices) along one dim; the gradient goes to the selected index only."""
    ax = single_dim(dim, x.ndim, "dim")
    _refuse_empty_reduction(x, (ax,), name.lower())
    if x.numel() == 0:
        shape, out_shape = x.shape, _empty_reduced(x, (ax,), keepdim)
        vals = record(
            B.zeros(out_shape, dtype=x.data.dtype),
            (x,),
            lambda g: (B.zeros(shape, dtype=g.dtype),),
            name,
            adjoint=lambda _i, v: B.zeros(out_shape, dtype=v.dtype),
        )
        indices = Tensor._wrap(B.zeros(out_shape, dtype=B.DTYPES["int64"]), x._device)
        return values_indices(vals, indices)
    xd = x.data if x.ndim else B.reshape(x.data, (1,))
    ax = ax if x.ndim else 0
    idx = B.expand_dims(arg_fn(xd, axis=ax), ax)
    values = B.take_along_axis(xd, idx, axis=ax)
    shape = xd.shape

    def backward(g):
        g = g if keepdim or not x.ndim else B.expand_dims(g, ax)
        g = B.reshape(g, idx.shape)
        return (
            B.reshape(
                B.put_along_axis(B.zeros(shape, dtype=g.dtype), idx, g, axis=ax), x.data.shape
            ),
        )

    out_shape = (
        x.shape if not x.ndim else (idx.shape if keepdim else idx.shape[:ax] + idx.shape[ax + 1 :])
    )

    def adjoint(_i, v):  # the backward's transpose: v read at the selected indices
        return B.reshape(B.take_along_axis(B.reshape(v, shape), idx, axis=ax), out_shape)

    vals = record(B.reshape(values, out_shape), (x,), backward, name, adjoint=adjoint)
    indices = Tensor._wrap(B.reshape(idx, out_shape).astype(B.DTYPES["int64"]), x._device)
    return values_indices(vals, indices)


def _max_min(input, dim, keepdim, other, which):
    from lucid.ops import elementwise as E

    if isinstance(dim, Tensor) or other is not None:  # max(input, other): elementwise
        other = dim if other is None else other
        return E.maximum(input, other) if which == "max" else E.minimum(input, other)
    if dim is None:
        if keepdim:
            raise TypeError(
                f"{which}() without dim takes no keepdim (PyTorch's signature); "
                f"use amax/amin for several dims"
            )
        return _extreme(input, None, False, B.max if which == "max" else B.min, which.title())
    return _extreme_with_index(
        input, dim, keepdim, B.argmax if which == "max" else B.argmin, which.title()
    )


@dim_aliases
@op
def max(
    input: Tensor, dim: Dims = None, keepdim: bool = False, *, other: TensorOrScalar | None = None
) -> Tensor | tuple[Tensor, Tensor]:
    """PyTorch's three forms: ``max(x)`` the largest value (ties share the gradient);
    ``max(x, dim, keepdim=False)`` a ``(values, indices)`` named tuple; ``max(x, other)`` the
    elementwise maximum."""
    return _max_min(input, dim, keepdim, other, "max")


@dim_aliases
@op
def min(
    input: Tensor, dim: Dims = None, keepdim: bool = False, *, other: TensorOrScalar | None = None
) -> Tensor | tuple[Tensor, Tensor]:
    """PyTorch's three forms: ``min(x)``, ``min(x, dim, keepdim=False)`` -> ``(values, indices)``,
    and ``min(x, other)`` elementwise."""
    return _max_min(input, dim, keepdim, other, "min")


@dim_aliases
@op
def amax(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """Largest value over ``dim`` (an int or a tuple; all dims when None); ties share the
    gradient evenly."""
    return _extreme(input, dim, keepdim, B.max, "Amax")


@dim_aliases
@op
def amin(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """Smallest value over ``dim`` (an int or a tuple; all dims when None); ties share the
    gradient evenly."""
    return _extreme(input, dim, keepdim, B.min, "Amin")


def _correction(dim, unbiased, correction):
    """PyTorch's var/std argument forms: ``var(x, unbiased)``, ``var(x, dim, unbiased)`` and
    ``correction=`` (default 1: Bessel's correction)."""
    if isinstance(dim, bool):  # var(x, False): the unbiased-only overload
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError("var/std: give either unbiased= or correction=, not both")
    if correction is None:
        correction = 1 if unbiased is None else int(bool(unbiased))
    return dim, correction


def _centered(x, dim, correction):
    """(axes, x - mean in the accumulation dtype, the divisor n - correction)."""
    if not x.is_floating_point():
        raise TypeError(f"var/std need a floating-point tensor, got dtype {x.dtype}")
    axes = normalize_axes(dim, x.ndim)
    n = _count(x.shape, axes)
    xd = x.data.astype(_F32) if _half(x.data.dtype) else x.data
    mean_ = B.accurate_sum(xd, axes, True) / (n if n else float("nan"))
    denom = n - correction
    return axes, xd - mean_, denom if denom > 0 else float("nan")


def _var_data(centered, axes, keepdim, denom):
    return B.accurate_sum(centered * centered, axes, keepdim) / denom


@dim_aliases
@op
def var(
    input: Tensor,
    dim: Dims = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Variance over ``dim`` divided by ``n - correction`` (PyTorch's default ``correction=1``,
    the unbiased estimate; ``unbiased=False`` means ``correction=0``)."""
    dim, correction = _correction(dim, unbiased, correction)
    axes, centered, denom = _centered(input, dim, correction)
    dt = input.data.dtype
    y = _var_data(centered, axes, keepdim, denom).astype(dt)
    shape = input.data.shape

    def backward(g):
        g32 = g.astype(centered.dtype)
        return ((_spread(g32, shape, axes, keepdim) * centered * (2.0 / denom)).astype(dt),)

    return record(y, (input,), backward, "Var", rule=_var_rule(axes, keepdim, denom))


def _centered_tensor(x, axes):
    """x - mean(x) over ``axes``, recorded."""
    if not axes:
        return E.sub(x, x)
    return E.sub(x, mean(x, axes, keepdim=True))


def _var_rule(axes, keepdim, denom):
    def rule(g, _out, x):
        gk = _spread_tensor(g, x.shape, axes, keepdim)
        return (E.mul(gk, _centered_tensor(x, axes)) * (2.0 / denom),)

    return rule


@dim_aliases
@op
def std(
    input: Tensor,
    dim: Dims = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Standard deviation (sqrt of ``var``, same arguments). Where it is 0 (a constant input) the
    gradient is 0, as PyTorch's, not NaN."""
    dim, correction = _correction(dim, unbiased, correction)
    axes, centered, denom = _centered(input, dim, correction)
    dt = input.data.dtype
    y32 = B.sqrt(_var_data(centered, axes, keepdim, denom))
    shape = input.data.shape

    def backward(g):
        y_full = _spread(y32, shape, axes, keepdim)
        safe = B.where(y_full == 0, 1.0, y_full)
        g32 = _spread(g.astype(centered.dtype), shape, axes, keepdim)
        return (B.where(y_full == 0, 0.0, g32 * centered / (safe * denom)).astype(dt),)

    return record(y32.astype(dt), (input,), backward, "Std", rule=_std_rule(axes, keepdim, denom))


def _std_rule(axes, keepdim, denom):
    def rule(g, out, x):
        gk = _spread_tensor(g, x.shape, axes, keepdim)
        yk = _spread_tensor(out, x.shape, axes, keepdim)
        zero = E.eq(yk, 0)
        scaled = E.div(E.mul(gk, _centered_tensor(x, axes)), E.where(zero, 1.0, yk) * denom)
        return (E.where(zero, 0.0, scaled),)

    return rule


@dim_aliases
@op
def prod(
    input: Tensor, dim: Dims = None, keepdim: bool = False, *, dtype: DTypeLike = None
) -> Tensor:
    """Product over ``dim``; integer products are int64. The gradient is exact with zeros in
    the input (no division)."""
    x = _as_dtype(input, dtype)
    axes = normalize_axes(dim, x.ndim)
    xd = x.data if B.is_floating(x.data.dtype) else B.cast(x.data, "int64")
    y = B.prod(xd, axis=list(axes), keepdims=keepdim)

    def backward(g):
        # move the reduced axes last, flatten them, and take exclusive products from both sides
        rest = [a for a in range(xd.ndim) if a not in axes]
        perm = rest + list(axes)
        moved = B.transpose(xd, perm)
        lead = moved.shape[: len(rest)]
        flat = B.reshape(moved, lead + (-1,) if lead else (-1,))
        before = B.cumprod(flat, axis=-1, inclusive=False)
        after = B.cumprod(flat, axis=-1, reverse=True, inclusive=False)
        others = B.reshape(before * after, moved.shape)
        inverse = [perm.index(i) for i in range(xd.ndim)]
        return (_spread(g, xd.shape, axes, keepdim) * B.transpose(others, inverse),)

    return record(y, (x,), backward, "Prod", rule=_prod_rule(axes, keepdim))


def _prod_rule(axes, keepdim):
    def rule(g, _out, x):
        return (E.mul(_spread_tensor(g, x.shape, axes, keepdim), _prod_of_others(x, axes)),)

    return rule


def _prod_of_others(x, axes):
    """For each element of ``x``, the product of the other elements of its reduction over
    ``axes`` (recorded; exclusive running products from both sides, so exact with zeros)."""
    from lucid.ops.reorder import flip
    from lucid.ops.scan import cumprod

    if x.numel() == 0:
        return E.sub(x, x)
    rest = [a for a in range(x.ndim) if a not in axes]
    perm = rest + list(axes)
    moved = S.permute(x, perm)
    lead = tuple(moved.shape[: len(rest)])
    flat = S.reshape(moved, lead + (-1,))
    one = Tensor._wrap(B.ones(lead + (1,), dtype=x.data.dtype), x._device)
    before = cumprod(S.cat([one, flat[..., :-1]], -1), -1)
    after = flip(cumprod(flip(S.cat([flat[..., 1:], one], -1), (-1,)), -1), (-1,))
    others = S.reshape(E.mul(before, after), tuple(moved.shape))
    return S.permute(others, [perm.index(i) for i in range(x.ndim)])


@dim_aliases
@op
def logsumexp(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim``, computed stably."""
    axes = normalize_axes(dim, input.ndim)
    xd = input.data
    if input.numel() == 0:  # MLX's logsumexp rejects empty input; numpy gives log(0) = -inf
        y = B.log(B.sum(B.exp(xd), axis=list(axes), keepdims=keepdim))
    else:
        y = B.logsumexp(xd, axis=list(axes), keepdims=keepdim)
    return record(
        y,
        (input,),
        lambda g: (
            _spread(g, xd.shape, axes, keepdim) * B.exp(xd - _spread(y, xd.shape, axes, keepdim)),
        ),
        "LogSumExp",
        rule=_logsumexp_rule(axes, keepdim),
    )


def _logsumexp_rule(axes, keepdim):
    def rule(g, out, x):
        gk = _spread_tensor(g, x.shape, axes, keepdim)
        return (E.mul(gk, E.exp(E.sub(x, _spread_tensor(out, x.shape, axes, keepdim)))),)

    return rule


def _arg(x, dim, keepdim, fn, name):
    axes = None if dim is None else (single_dim(dim, x.ndim, "dim"),)
    _refuse_empty_reduction(x, axes, name)
    if x.numel() == 0 and axes is not None:
        return Tensor._wrap(
            B.zeros(_empty_reduced(x, axes, keepdim), dtype=B.DTYPES["int64"]), x._device
        )
    if dim is None:
        out = fn(B.reshape(x.data, (-1,)), axis=0)
        if keepdim:
            out = B.reshape(out, (1,) * x.ndim)
    else:
        ax = single_dim(dim, x.ndim, "dim")
        out = fn(x.data, axis=ax, keepdims=keepdim)
    return Tensor._wrap(out.astype(B.DTYPES["int64"]), x._device)


@dim_aliases
def argmax(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """Index of the maximum along ``dim`` (of the flattened tensor when None); no gradient."""
    return _arg(input, dim, keepdim, B.argmax, "argmax")


@dim_aliases
def argmin(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """Index of the minimum along ``dim`` (of the flattened tensor when None); no gradient."""
    return _arg(input, dim, keepdim, B.argmin, "argmin")


@dim_aliases
def all(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """True where every element along ``dim`` is true."""
    return Tensor._wrap(
        B.all(input.data, axis=list(normalize_axes(dim, input.ndim)), keepdims=keepdim),
        input._device,
    )


@dim_aliases
def any(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """True where some element along ``dim`` is true."""
    return Tensor._wrap(
        B.any(input.data, axis=list(normalize_axes(dim, input.ndim)), keepdims=keepdim),
        input._device,
    )
