"""Convolution and transposed convolution (N-d, grouped), forward beside backward.

The gradients are the textbook ones, each computed by a backend routine (never by MLX's
autograd):
- dL/dx = transposed convolution of dL/dy with W   (``conv_input_grad``)
- dL/dW = cross-correlation of x with dL/dy         (``conv_weight_grad``)
- dL/db = dL/dy summed over batch and space
A transposed convolution's forward is the convolution's input gradient and its input gradient
is the convolution's forward, so each formula exists once.
"""

from __future__ import annotations

from collections.abc import Sequence

from lucid import _backend as B
from lucid.ops import _nd
from lucid.ops._util import op, record
from lucid.tensor import Tensor


class _EmptyBatchKernels:
    """The three kernels for a batch of 0 samples: zeros of the right shape (MLX's convolution
    refuses empty arrays; the result needs no arithmetic anyway)."""

    @staticmethod
    def conv_forward(x, w, stride, padding, dilation, groups):
        out = _nd.conv_output_size(x.shape[2:], w.shape[2:], stride, padding, dilation)
        return B.zeros((x.shape[0], w.shape[0]) + tuple(out), dtype=x.dtype)

    @staticmethod
    def conv_input_grad(dy, w, in_spatial, stride, padding, dilation, groups):
        return B.zeros((dy.shape[0], w.shape[1] * groups) + tuple(in_spatial), dtype=dy.dtype)

    @staticmethod
    def conv_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups):
        return B.zeros((dy.shape[1], x.shape[1] // groups) + tuple(kernel_size), dtype=x.dtype)


def _kernels_for(x):
    if x.shape[0] == 0:
        return _EmptyBatchKernels
    return B.conv_kernels(x._device, B.mx_dtype_of(x.data))


def _bias_grad(g):
    return B.sum(g, axis=[0] + list(range(2, g.ndim)))


def _add_bias(y, b):
    return y + B.reshape(b.data, (1, -1) + (1,) * (y.ndim - 2))


@op
def conv(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    groups: int,
) -> Tensor:
    """Cross-correlation of a batched (N, C_in, *S) ``x`` with ``weight`` (C_out, C_in/groups, *K).

    Arguments are already normalised: per-dim tuples, ``padding`` as (lo, hi) pairs.
    """
    kernels = _kernels_for(x)
    xd, wd = x.data, weight.data
    in_spatial, kernel_size = tuple(xd.shape[2:]), tuple(wd.shape[2:])
    y = kernels.conv_forward(xd, wd, stride, padding, dilation, groups)
    if bias is not None:
        y = _add_bias(y, bias)

    def backward(g):
        dx = dw = None
        if x.requires_grad:
            dx = kernels.conv_input_grad(g, wd, in_spatial, stride, padding, dilation, groups)
        if weight.requires_grad:
            dw = kernels.conv_weight_grad(xd, g, kernel_size, stride, padding, dilation, groups)
        db = _bias_grad(g) if bias is not None else None
        return dx, dw, db

    return record(y, (x, weight, bias), backward, "Conv")


@op
def conv_transpose(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Sequence[int],
    padding: Sequence[tuple[int, int]],
    out_spatial: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> Tensor:
    """Transposed convolution of a batched (N, C_in, *S) ``x`` with ``weight``
    (C_in, C_out/groups, *K) to spatial size ``out_spatial``; ``padding`` as (lo, hi) pairs."""
    kernels = _kernels_for(x)
    xd, wd = x.data, weight.data
    in_spatial, kernel_size = tuple(xd.shape[2:]), tuple(wd.shape[2:])
    # x plays the role of a convolution's dy. With output_padding >= stride the convolution of
    # an out_spatial input has more positions than x: x is zero there, so pad it once and every
    # kernel call below gets the sizes the backend contract promises.
    full = _nd.conv_output_size(out_spatial, kernel_size, stride, padding, dilation)
    if x.shape[0] == 0:  # an empty batch: no padding needed (kernels give zeros of any size)
        full = in_spatial
    if full != in_spatial:
        xd = B.pad(xd, [(0, 0), (0, 0)] + [(0, f - n) for f, n in zip(full, in_spatial)])
    y = kernels.conv_input_grad(xd, wd, out_spatial, stride, padding, dilation, groups)
    if bias is not None:
        y = _add_bias(y, bias)

    def backward(g):
        dx = dw = None
        if x.requires_grad and x.shape[0] == 0:
            dx = B.zeros(xd.shape, dtype=xd.dtype)
        elif x.requires_grad:
            dx = kernels.conv_forward(g, wd, stride, padding, dilation, groups)
            if full != in_spatial:  # the positions added above get no gradient
                dx = dx[(slice(None), slice(None)) + tuple(slice(0, n) for n in in_spatial)]
        if weight.requires_grad:
            dw = kernels.conv_weight_grad(g, xd, kernel_size, stride, padding, dilation, groups)
        db = _bias_grad(g) if bias is not None else None
        return dx, dw, db

    return record(y, (x, weight, bias), backward, "ConvTranspose")
