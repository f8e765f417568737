"""Negative log-likelihood losses of a distribution's parameters: Poisson and Gaussian
(PyTorch's semantics; options PyTorch lists after its deprecated ``size_average``/``reduce`` are
keyword-only here)."""

from __future__ import annotations

import math

from lucid import _backend as B, ops
from lucid.nn.functional.loss import _check_reduction, _reduce, _tensor
from lucid.ops._util import op  # runs on the input's device stream
from lucid.tensor import Tensor

__all__ = ["poisson_nll_loss", "gaussian_nll_loss"]


@op
def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    *,
    eps: float = 1e-8,
    reduction: str = "mean",
):
    """Poisson NLL with rate ``exp(input)`` (``log_input``: ``exp(input) - target * input``) or
    ``input`` (``input - target * log(input + eps)``); ``full`` adds Stirling's approximation
    ``t log t - t + 0.5 log(2 pi t)`` of ``log(t!)`` where ``target > 1``."""
    _check_reduction(reduction)
    x = _tensor(input, "input")
    t = _tensor(target, "target", x)
    if not x.is_floating_point():
        raise TypeError(f"poisson_nll_loss: input must be floating point, got {x.dtype}")
    if log_input:
        loss = ops.exp(x) - t * x
    else:
        loss = x - t * ops.log(x + eps)
    if full:
        big = t > 1
        safe = ops.where(big, t, 2.0)  # keeps log() and its gradient finite where masked out
        stirling = safe * ops.log(safe) - safe + 0.5 * ops.log(2 * math.pi * safe)
        loss = loss + ops.where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def _gaussian_var(var, x):
    """``var`` shaped to broadcast against ``x`` as PyTorch accepts it: the input's shape, one dim
    short of it, or one dim of size 1 where the input's differs (a float is used everywhere)."""
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError("gaussian_nll_loss: var has negative entry/entries")
        return Tensor._wrap(B.full(x.shape, float(var), dtype=x.data.dtype), x._device)
    v = _tensor(var, "var", x)
    if v.numel() and B.any(v.data < 0).item():
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    if v.shape == x.shape:
        return v
    if v.shape == x.shape[:-1]:
        return ops.unsqueeze(v, -1)
    mismatch = [b for a, b in zip(x.shape, v.shape) if a != b]
    if v.ndim == x.ndim and mismatch == [1]:
        return v
    raise ValueError(
        f"gaussian_nll_loss: var of shape {v.shape} does not fit input of shape "
        f"{x.shape} (expected the input's shape, that shape without its last dim, "
        "or it with one dim of size 1)"
    )


@op
def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
):
    """Gaussian NLL ``0.5 * (log(v) + (input - target)^2 / v)`` (``+ 0.5 log(2 pi)`` with
    ``full``), ``v`` the variance clamped to >= ``eps``. As in PyTorch the clamp is invisible to
    the gradient: it flows to ``var`` as if the clamped value were ``var`` itself."""
    _check_reduction(reduction)
    x = _tensor(input, "input")
    if not x.is_floating_point():
        raise TypeError(f"gaussian_nll_loss: input must be floating point, got {x.dtype}")
    t = _tensor(target, "target", x)
    v = _gaussian_var(var, x)
    lift = Tensor._wrap(B.maximum(v.data, eps) - v.data, v._device)  # a constant: no gradient
    v = v + lift
    loss = 0.5 * (ops.log(v) + (x - t) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)
