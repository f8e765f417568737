"""Power-average pooling layers LPPool1d/2d/3d."""

from __future__ import annotations

from lucid._typing import IntOrSeq
from lucid.nn.functional.lp_pool import lp_pool
from lucid.nn.modules.module import Module
from lucid.tensor import Tensor

__all__ = ["LPPool1d", "LPPool2d", "LPPool3d"]


class _LPPoolNd(Module):
    n = 0

    def __init__(
        self,
        norm_type,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        ceil_mode: bool = False,
    ):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input: Tensor):
        return lp_pool(
            input,
            self.n,
            self.norm_type,
            self.kernel_size,
            self.stride,
            self.ceil_mode,
            f"lp_pool{self.n}d",
        )

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd):
    """(sum of x^p over each window) ** (1/p) over (N, C, L) or (C, L) input."""

    n = 1


class LPPool2d(_LPPoolNd):
    """(sum of x^p over each window) ** (1/p) over (N, C, H, W) or (C, H, W) input."""

    n = 2


class LPPool3d(_LPPoolNd):
    """(sum of x^p over each window) ** (1/p) over (N, C, D, H, W) or (C, D, H, W) input."""

    n = 3
