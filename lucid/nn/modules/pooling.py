"""Pooling layers; one N-d base class per family, with 1/2/3-d subclasses that only fix ``n``."""

from __future__ import annotations

from lucid._typing import IntOrSeq
from lucid.nn.modules.module import Module
from lucid.ops import pool as _pool
from lucid.ops._nd import ntuple
from lucid.tensor import Tensor

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
]


def _check_args(name, n, kernel_size, stride, padding, dilation):
    """Reject bad settings when the layer is built rather than at its first call."""
    kernel = ntuple(kernel_size, n, "kernel_size")
    ntuple(stride, n, "stride")
    ntuple(dilation, n, "dilation")
    pad = ntuple(padding, n, "padding", minimum=0)
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise ValueError(
            f"{name}: padding {pad} must be at most half of kernel_size {kernel} in every dimension"
        )


class _MaxPoolNd(Module):
    """Max pooling over ``n`` spatial dims (see ``lucid.nn.functional.max_pool3d``)."""

    n = 0

    def __init__(
        self,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        padding: IntOrSeq | str = 0,
        dilation: IntOrSeq = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        _check_args(type(self).__name__, self.n, kernel_size, self.stride, padding, dilation)

    def forward(self, input: Tensor):
        """Pool ``input`` of shape (N, C, *S) or (C, *S)."""
        return _pool.max_pool(
            input,
            self.n,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
            name=type(self).__name__,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class _AvgPoolNd(Module):
    """Average pooling over ``n`` spatial dims (see ``lucid.nn.functional.avg_pool3d``)."""

    n = 0

    def __init__(
        self,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        padding: IntOrSeq | str = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override=None,
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        _check_args(type(self).__name__, self.n, kernel_size, self.stride, padding, 1)

    def forward(self, input: Tensor):
        """Pool ``input`` of shape (N, C, *S) or (C, *S)."""
        return _pool.avg_pool(
            input,
            self.n,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
            name=type(self).__name__,
        )

    def extra_repr(self) -> str:
        text = (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}"
        )
        if self.divisor_override is not None:
            text += f", divisor_override={self.divisor_override}"
        return text


class _AdaptiveAvgPoolNd(Module):
    """Adaptive average pooling to a fixed ``output_size`` over ``n`` spatial dims."""

    n = 0

    def __init__(self, output_size: IntOrSeq):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor):
        """Pool ``input`` of shape (N, C, *S) or (C, *S) to ``output_size``."""
        return _pool.adaptive_avg_pool(input, self.n, self.output_size, name=type(self).__name__)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveMaxPoolNd(Module):
    """Adaptive max pooling to a fixed ``output_size`` over ``n`` spatial dims."""

    n = 0

    def __init__(self, output_size: IntOrSeq, return_indices: bool = False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor):
        """Pool ``input`` of shape (N, C, *S) or (C, *S) to ``output_size``."""
        return _pool.adaptive_max_pool(
            input, self.n, self.output_size, self.return_indices, name=type(self).__name__
        )

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxPool1d(_MaxPoolNd):
    """1-d max pooling over (N, C, L) or (C, L)."""

    n = 1


class MaxPool2d(_MaxPoolNd):
    """2-d max pooling over (N, C, H, W) or (C, H, W)."""

    n = 2


class MaxPool3d(_MaxPoolNd):
    """3-d max pooling over (N, C, D, H, W) or (C, D, H, W)."""

    n = 3


MaxPool1D, MaxPool2D, MaxPool3D = MaxPool1d, MaxPool2d, MaxPool3d  # the reference page's spelling


class AvgPool1d(_AvgPoolNd):
    """1-d average pooling over (N, C, L) or (C, L)."""

    n = 1


class AvgPool2d(_AvgPoolNd):
    """2-d average pooling over (N, C, H, W) or (C, H, W)."""

    n = 2


class AvgPool3d(_AvgPoolNd):
    """3-d average pooling over (N, C, D, H, W) or (C, D, H, W)."""

    n = 3


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """1-d adaptive average pooling to ``output_size``."""

    n = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """2-d adaptive average pooling to ``output_size``."""

    n = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """3-d adaptive average pooling to ``output_size``."""

    n = 3


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """1-d adaptive max pooling to ``output_size``."""

    n = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """2-d adaptive max pooling to ``output_size``."""

    n = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """3-d adaptive max pooling to ``output_size``."""

    n = 3
