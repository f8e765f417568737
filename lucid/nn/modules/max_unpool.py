"""MaxUnpool1d/2d/3d: the partial inverse of MaxPool*d(return_indices=True)."""

from __future__ import annotations

from lucid._typing import IntOrSeq
from lucid.nn.modules.module import Module
from lucid.ops import _nd
from lucid.ops.unpool import max_unpool
from lucid.tensor import Tensor

__all__ = ["MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]


class _MaxUnpoolNd(Module):
    n = 0

    def __init__(
        self, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: IntOrSeq | str = 0
    ):
        super().__init__()
        n = self.n
        self.kernel_size = _nd.ntuple(kernel_size, n, "kernel_size")
        self.stride = self.kernel_size if stride is None else _nd.ntuple(stride, n, "stride")
        self.padding = _nd.ntuple(padding, n, "padding", minimum=0)

    def forward(self, input: Tensor, indices: Tensor, output_size: IntOrSeq | None = None):
        """``input`` written at ``indices`` (from max pooling) in zeros of the unpooled size."""
        return max_unpool(
            input,
            indices,
            self.n,
            self.kernel_size,
            self.stride,
            self.padding,
            output_size,
            name=type(self).__name__,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Inverse of MaxPool1d for (N, C, L) or (C, L) input."""

    n = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Inverse of MaxPool2d for (N, C, H, W) or (C, H, W) input."""

    n = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Inverse of MaxPool3d for (N, C, D, H, W) or (C, D, H, W) input."""

    n = 3
