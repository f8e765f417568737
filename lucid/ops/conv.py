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
    return B.accurate_sum(g, (0,) + tuple(range(2, g.ndim)))


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

    def rule(g, _out, x, w, b):
        dx = dw = None
        if x.requires_grad:
            dx = conv_input_grad(g, w, in_spatial, stride, padding, dilation, groups)
        if w.requires_grad:
            dw = conv_weight_grad(x, g, kernel_size, stride, padding, dilation, groups)
        return dx, dw, _bias_grad_tensor(g) if b is not None else None

    return record(y, (x, weight, bias), backward, "Conv", rule=rule)


def _bias_grad_tensor(g):
    return g.sum(dim=(0,) + tuple(range(2, g.ndim)))


# The two gradients of a convolution as recorded ops, for higher-order gradients. With
# <a, b> the sum of a * b: <conv(x, w), dy> = <x, input_grad(dy, w)> = <w, weight_grad(x, dy)>,
# so each of the three is bilinear and its partial gradients are the other two.
@op
def conv_input_grad(dy, weight, in_spatial, stride, padding, dilation, groups) -> Tensor:
    """The gradient of ``conv`` in its input for output gradient ``dy`` (a transposed
    convolution), recorded so that it can be differentiated."""
    kernels = _kernels_for(dy)
    dyd, wd = dy.data, weight.data
    kernel_size = tuple(wd.shape[2:])
    y = kernels.conv_input_grad(dyd, wd, in_spatial, stride, padding, dilation, groups)

    def backward(h):
        ddy = dw = None
        if dy.requires_grad:
            ddy = kernels.conv_forward(h, wd, stride, padding, dilation, groups)
        if weight.requires_grad:
            dw = kernels.conv_weight_grad(h, dyd, kernel_size, stride, padding, dilation, groups)
        return ddy, dw

    def rule(h, _out, dy, w):
        ddy = conv(h, w, None, stride, padding, dilation, groups) if dy.requires_grad else None
        dw = None
        if w.requires_grad:
            dw = conv_weight_grad(h, dy, kernel_size, stride, padding, dilation, groups)
        return ddy, dw

    return record(y, (dy, weight), backward, "ConvInputGrad", saves_output=False, rule=rule)


@op
def conv_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups) -> Tensor:
    """The gradient of ``conv`` in its weight for input ``x`` and output gradient ``dy``,
    recorded so that it can be differentiated."""
    kernels = _kernels_for(x)
    xd, dyd = x.data, dy.data
    in_spatial = tuple(xd.shape[2:])
    y = kernels.conv_weight_grad(xd, dyd, kernel_size, stride, padding, dilation, groups)

    def backward(h):
        dx = ddy = None
        if x.requires_grad:
            dx = kernels.conv_input_grad(dyd, h, in_spatial, stride, padding, dilation, groups)
        if dy.requires_grad:
            ddy = kernels.conv_forward(xd, h, stride, padding, dilation, groups)
        return dx, ddy

    def rule(h, _out, x, dy):
        dx = None
        if x.requires_grad:
            dx = conv_input_grad(dy, h, in_spatial, stride, padding, dilation, groups)
        ddy = conv(x, h, None, stride, padding, dilation, groups) if dy.requires_grad else None
        return dx, ddy

    return record(y, (x, dy), backward, "ConvWeightGrad", saves_output=False, rule=rule)


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

    def rule(g, _out, x, w, b):
        dx = dw = None
        if x.requires_grad:
            dx = conv(g, w, None, stride, padding, dilation, groups)
            if full != in_spatial:
                dx = dx[(slice(None), slice(None)) + tuple(slice(0, n) for n in in_spatial)]
        if w.requires_grad:
            xp = x
            if full != in_spatial:
                xp = _pad_end(x, [f - n for f, n in zip(full, in_spatial)])
            dw = conv_weight_grad(g, xp, kernel_size, stride, padding, dilation, groups)
        return dx, dw, _bias_grad_tensor(g) if b is not None else None

    return record(y, (x, weight, bias), backward, "ConvTranspose", rule=rule)


def _pad_end(x, extra):
    """``x`` with ``extra[i]`` zeros after spatial dim i (recorded)."""
    from lucid.ops.padding import pad

    pads: list[int] = []
    for e in reversed(extra):  # PyTorch's order: last dim first
        pads += [0, e]
    return pad(x, tuple(pads))
