"""``lp_pool1d/2d/3d``: power-average pooling, (sum over the window of x^p) ** (1/p), computed as
PyTorch does from average pooling (so ``ceil_mode`` windows behave the same)."""

from __future__ import annotations

import math

from lucid._typing import IntOrSeq
from lucid.ops import _nd, pool as _pool
from lucid.ops.elementwise import relu, sign
from lucid.tensor import Tensor

__all__ = ["lp_pool1d", "lp_pool2d", "lp_pool3d"]


def lp_pool(
    input: Tensor,
    n: int,
    norm_type,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    ceil_mode: bool = False,
    name: str = "lp_pool",
):
    """(sum of x^p over each window) ** (1/p) over the last ``n`` dims:
    avg_pool(x^p) * prod(kernel), with sign(.) * relu(|.|) before the root, as PyTorch."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name} expects a Tensor, got {type(input).__name__}")
    p = float(norm_type)
    if p == 0:
        raise ValueError(f"{name}: norm_type must not be 0")
    kernel = _nd.ntuple(kernel_size, n, "kernel_size")
    avg = _pool.avg_pool(input**p, n, kernel, stride, 0, ceil_mode, name=name)
    return (sign(avg) * relu(avg.abs()) * math.prod(kernel)) ** (1.0 / p)


def _lp_pool(n):
    def pool(
        input: Tensor,
        norm_type,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        ceil_mode: bool = False,
    ):
        return lp_pool(input, n, norm_type, kernel_size, stride, ceil_mode, f"lp_pool{n}d")

    pool.__name__ = pool.__qualname__ = f"lp_pool{n}d"
    pool.__doc__ = (
        f"{n}-d power-average pooling: (sum of x^norm_type over each window) ** "
        f"(1 / norm_type); ``stride`` defaults to ``kernel_size``."
    )
    return pool


lp_pool1d, lp_pool2d, lp_pool3d = (_lp_pool(n) for n in (1, 2, 3))
