"""Convolution layers: one N-d base class under Conv1d/2d/3d and ConvTranspose1d/2d/3d."""

from __future__ import annotations

import math

from lucid import creation
from lucid.nn import init
from lucid.nn.functional.conv import conv_nd, conv_transpose_nd
from lucid.nn.modules.module import Module, Parameter
from lucid.ops import _nd
from lucid.ops.padding import pad as _pad
from lucid.tensor import Tensor

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class _ConvNd(Module):
    """Shared by every convolution layer: argument checks, parameters, initialisation, repr."""

    n: int = 0
    transposed: bool = False

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        output_padding=0,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        super().__init__()
        n, name = self.n, type(self).__name__
        if padding_mode not in PADDING_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {list(PADDING_MODES)}, but got "
                f"padding_mode={padding_mode!r}"
            )
        if self.transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {name}')
        self.padding_mode = padding_mode
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.out_channels = _positive_int(out_channels, "out_channels")
        self.groups = _positive_int(groups, "groups")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: groups={groups} must divide both in_channels={in_channels} "
                f"and out_channels={out_channels}"
            )
        self.kernel_size = _nd.ntuple(kernel_size, n, "kernel_size")
        self.stride = _nd.ntuple(stride, n, "stride")
        self.dilation = _nd.ntuple(dilation, n, "dilation")
        if self.transposed:
            if isinstance(padding, str):
                raise ValueError(f"{name}: padding must be an int or a tuple, got {padding!r}")
            self.padding = _nd.ntuple(padding, n, "padding", minimum=0)
            self.output_padding = _nd.ntuple(output_padding, n, "output_padding", minimum=0)
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            _nd.conv_padding(padding, self.kernel_size, self.dilation, self.stride, n)  # validate
            self.padding = (
                padding.lower()
                if isinstance(padding, str)
                else _nd.ntuple(padding, n, "padding", minimum=0)
            )
            shape = (out_channels, in_channels // groups) + self.kernel_size
        # U(-b, b) with b = 1/sqrt(fan_in), fan_in = weight.shape[1] * prod(kernel_size)
        bound = 1.0 / math.sqrt(shape[1] * math.prod(self.kernel_size))
        kw = {"dtype": dtype or "float32", "device": device}
        self.weight = Parameter(init.uniform_(creation.zeros(shape, **kw), -bound, bound))
        self.bias = (
            Parameter(init.uniform_(creation.zeros((out_channels,), **kw), -bound, bound))
            if bias
            else None
        )

    def forward(self, x: Tensor):
        """Apply the convolution to (N, C_in, *S) or unbatched (C_in, *S) input."""
        if self.transposed:
            return conv_transpose_nd(
                x,
                self.weight,
                self.bias,
                self.stride,
                self.padding,
                self.output_padding,
                self.groups,
                self.dilation,
                n=self.n,
            )
        if self.padding_mode != "zeros":
            # PyTorch: the layer's padding is done by F.pad in this mode, the conv pads nothing
            pairs = _nd.conv_padding(
                self.padding, self.kernel_size, self.dilation, self.stride, self.n
            )
            amounts = tuple(v for lo_hi in reversed(pairs) for v in lo_hi)
            return conv_nd(
                _pad(x, amounts, mode=self.padding_mode),
                self.weight,
                self.bias,
                self.stride,
                0,
                self.dilation,
                self.groups,
                n=self.n,
            )
        return conv_nd(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            n=self.n,
        )

    def extra_repr(self) -> str:
        """The configuration, PyTorch-style: non-default options only (stride always)."""
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * self.n:
            s += f", padding={self.padding!r}"
        if self.transposed and self.output_padding != (0,) * self.n:
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1,) * self.n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _ConvForwardNd(_ConvNd):
    """PyTorch's Conv*d signature (no output_padding)."""

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            0,
            padding_mode,
            device,
            dtype,
        )


class Conv1d(_ConvForwardNd):
    """1-D convolution over (N, C_in, W) input."""

    n = 1


class Conv2d(_ConvForwardNd):
    """2-D convolution over (N, C_in, H, W) input."""

    n = 2


class Conv3d(_ConvForwardNd):
    """3-D convolution over (N, C_in, D, H, W) input (video, volumes): the reference page's layer.

    ``Conv3d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
    bias=True, padding_mode="zeros", device=None, dtype=None)``; ``padding`` is ``"same"``,
    ``"valid"``, an int or a 3-tuple; ``padding_mode`` is ``"zeros"``, ``"reflect"``,
    ``"replicate"`` or ``"circular"``.
    """

    n = 3


class _ConvTransposeNd(_ConvNd):
    transposed = True

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups=1,
        bias=True,
        dilation=1,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            output_padding,
            padding_mode,
            device,
            dtype,
        )


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution (the gradient of Conv1d with respect to its input)."""

    n = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution."""

    n = 2


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution (upsampling volumes in decoders)."""

    n = 3
