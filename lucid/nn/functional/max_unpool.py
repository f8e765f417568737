"""``max_unpool1d/2d/3d``: PyTorch's names over the N-d ``lucid.ops.unpool.max_unpool``."""

from __future__ import annotations

from lucid._typing import IntOrSeq
from lucid.ops.unpool import max_unpool
from lucid.tensor import Tensor

__all__ = ["max_unpool1d", "max_unpool2d", "max_unpool3d"]


def _max_unpool(n):
    def unpool(
        input: Tensor,
        indices: Tensor,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        padding: IntOrSeq | str = 0,
        output_size: IntOrSeq | None = None,
    ):
        return max_unpool(
            input, indices, n, kernel_size, stride, padding, output_size, name=f"max_unpool{n}d"
        )

    unpool.__name__ = unpool.__qualname__ = f"max_unpool{n}d"
    unpool.__doc__ = (
        f"Inverse of max_pool{n}d(..., return_indices=True): ``input`` written at "
        f"``indices`` in zeros of size (S - 1) * stride - 2 * padding + kernel "
        f"(or ``output_size``)."
    )
    return unpool


max_unpool1d, max_unpool2d, max_unpool3d = (_max_unpool(n) for n in (1, 2, 3))
