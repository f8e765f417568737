"""Pooling functions for 1, 2 and 3 spatial dims, thin names over the N-d ops in
``lucid.ops.pool``. Inputs are ``(N, C, *S)`` or unbatched ``(C, *S)``."""

from __future__ import annotations

from lucid._typing import IntOrSeq
from lucid.ops import pool as _pool
from lucid.tensor import Tensor

__all__ = [
    f"{kind}{n}d"
    for kind in ("max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool")
    for n in (1, 2, 3)
]


def _max_pool(n):
    def max_pool(
        input: Tensor,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        padding: IntOrSeq | str = 0,
        dilation: IntOrSeq = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ):
        return _pool.max_pool(
            input,
            n,
            kernel_size,
            stride,
            padding,
            dilation,
            ceil_mode,
            return_indices,
            name=f"max_pool{n}d",
        )

    return _named(
        max_pool,
        f"max_pool{n}d",
        f"""{n}-d max pooling (-inf padding).

    ``stride`` defaults to ``kernel_size``; ``padding`` is at most half the kernel. With
    ``return_indices=True`` returns ``(output, indices)``, indices being flat positions in the
    input's {n} spatial dims. The gradient goes to the first maximum of each window (row-major).""",
    )


def _avg_pool(n):
    def avg_pool(
        input: Tensor,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        padding: IntOrSeq | str = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override=None,
    ):
        return _pool.avg_pool(
            input,
            n,
            kernel_size,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
            divisor_override,
            name=f"avg_pool{n}d",
        )

    return _named(
        avg_pool,
        f"avg_pool{n}d",
        f"""{n}-d average pooling (zero padding).

    The divisor is the window size clipped to input + padding, or to the input alone when
    ``count_include_pad`` is False; ``divisor_override`` replaces it.""",
    )


def _adaptive_avg_pool(n):
    def adaptive_avg_pool(input: Tensor, output_size: IntOrSeq):
        return _pool.adaptive_avg_pool(input, n, output_size, name=f"adaptive_avg_pool{n}d")

    return _named(
        adaptive_avg_pool,
        f"adaptive_avg_pool{n}d",
        f"""{n}-d adaptive average pooling.

    Output position ``i`` averages input ``[floor(i*S/O), ceil((i+1)*S/O))`` per dim;
    ``output_size`` is an int or {n} values (None keeps that dim's size).""",
    )


def _adaptive_max_pool(n):
    def adaptive_max_pool(input: Tensor, output_size: IntOrSeq, return_indices: bool = False):
        return _pool.adaptive_max_pool(
            input, n, output_size, return_indices, name=f"adaptive_max_pool{n}d"
        )

    return _named(
        adaptive_max_pool,
        f"adaptive_max_pool{n}d",
        f"""{n}-d adaptive max pooling.

    Output position ``i`` is the max of input ``[floor(i*S/O), ceil((i+1)*S/O))`` per dim; with
    ``return_indices=True`` also returns the flat spatial index of each maximum.""",
    )


def _named(fn, name, doc):
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


max_pool1d, max_pool2d, max_pool3d = (_max_pool(n) for n in (1, 2, 3))
avg_pool1d, avg_pool2d, avg_pool3d = (_avg_pool(n) for n in (1, 2, 3))
adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d = (
    _adaptive_avg_pool(n) for n in (1, 2, 3)
)
adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d = (
    _adaptive_max_pool(n) for n in (1, 2, 3)
)
