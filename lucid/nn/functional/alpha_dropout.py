"""``alpha_dropout``: dropout for SELU networks. Dropped elements take SELU's saturation value
-alpha' (alpha' = scale * alpha ~ 1.7581) and an affine map a*x + b restores zero mean and unit
variance for standard-normal input."""

from __future__ import annotations

import math

from lucid import _backend as B
from lucid.nn.functional.dropout import _check_p
from lucid.ops._util import op
from lucid.tensor import Tensor

__all__ = ["alpha_dropout"]

_SATURATION = 1.7580993408473766  # SELU's scale * alpha


@op
def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False):
    """In training, keep each element with probability 1 - p, set the rest to -1.7581, then
    apply a*x + b with a = ((1 - p)(1 + p * 1.7581^2))^-1/2 and b = a * 1.7581 * p. The identity
    when not ``training`` (PyTorch's default for the function) or p = 0; zeros for p = 1."""
    _check_p(p)
    if not isinstance(input, Tensor):
        raise TypeError(f"alpha_dropout expects a Tensor, got {type(input).__name__}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    a = 1.0 / math.sqrt((1.0 - p) * (1.0 + p * _SATURATION**2))
    keep = B.random_bernoulli(1.0 - p, input.shape)  # Lucid's seeded generator
    dt = input.data.dtype  # the constants made in the input's dtype (not rounded to float32)
    zero = B.zeros((), dt)
    scale = Tensor._wrap(B.where(keep, B.full((), a, dt), zero), input._device)
    kept, dropped = a * _SATURATION * p, a * _SATURATION * p - a * _SATURATION
    shift = Tensor._wrap(
        B.where(keep, B.full((), kept, dt), B.full((), dropped, dt)), input._device
    )
    return input * scale + shift
