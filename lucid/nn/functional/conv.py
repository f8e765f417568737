"""``conv1d/2d/3d`` and ``conv_transpose1d/2d/3d``: argument checks once, for N dims, then the
``conv`` ops. Every check runs before MLX is called, with a message naming the problem."""

from __future__ import annotations

from lucid._typing import IntOrSeq
from lucid.ops import _nd
from lucid.ops.conv import conv as _conv_op, conv_transpose as _conv_transpose_op
from lucid.tensor import Tensor

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_nd",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_nd",
]


def _check_arguments(x, weight, bias, n, groups, what, transposed):
    """Check types, ranks, dtypes, groups and the bias shape; return the layer's (C_in, C_out).
    A convolution's weight is (C_out, C_in/groups, *K), a transposed one's
    (C_in, C_out/groups, *K)."""
    for name, t in (("input", x), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: {name} must be a lucid.Tensor, got {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{what}: bias must be a lucid.Tensor or None, got {type(bias).__name__}")
    if weight.ndim != n + 2:
        raise ValueError(f"{what}: weight must be {n + 2}-D, got shape {weight.shape}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{what}: groups must be a positive int, got {groups!r}")
    if not x.is_floating_point():
        raise TypeError(f"{what}: input must be floating point, got dtype {x.dtype}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != x.dtype and not _autocasting():
            raise TypeError(f"{what}: input has dtype {x.dtype} but {name} has dtype {t.dtype}")
    full, per_group = weight.shape[:2]
    if any(k <= 0 for k in weight.shape):
        raise ValueError(f"{what}: weight sizes must be positive, got shape {weight.shape}")
    if full % groups:
        name = "in_channels" if transposed else "out_channels"
        raise ValueError(f"{what}: groups={groups} must divide {name}={full}")
    c_in, c_out = (full, per_group * groups) if transposed else (per_group * groups, full)
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"{what}: bias must have shape ({c_out},), got {bias.shape}")
    return c_in, c_out


def _batched(x, n, channels, what):
    unbatched = _nd.check_input(x.shape, n, channels, what, empty_batch_any_size=True)
    return (x.unsqueeze(0) if unbatched else x), unbatched


def conv_nd(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
    n: int | None = None,
) -> Tensor:
    """N-d convolution (cross-correlation) of (N, C_in, *S) or unbatched (C_in, *S) input with
    weight (C_out, C_in/groups, *K); ``padding`` is ``"same"``, ``"valid"``, an int or a tuple."""
    n = weight.ndim - 2 if n is None else n
    what = f"conv{n}d"
    c_in, _ = _check_arguments(x, weight, bias, n, groups, what, transposed=False)
    kernel_size = weight.shape[2:]
    stride = _nd.ntuple(stride, n, "stride")
    dilation = _nd.ntuple(dilation, n, "dilation")
    pads = _nd.conv_padding(padding, kernel_size, dilation, stride, n)
    xb, unbatched = _batched(x, n, c_in, what)
    _nd.check_kernel_fits(xb.shape[2:], kernel_size, pads, dilation, f"{what}: kernel")
    y = _conv_op(xb, weight, bias, stride, pads, dilation, groups)
    return y.squeeze(0) if unbatched else y


def conv_transpose_nd(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
    n: int | None = None,
) -> Tensor:
    """N-d transposed convolution of (N, C_in, *S) or unbatched input with weight
    (C_in, C_out/groups, *K); output size (S-1)*stride - 2*padding + dilation*(K-1)
    + output_padding + 1."""
    n = weight.ndim - 2 if n is None else n
    what = f"conv_transpose{n}d"
    c_in, _ = _check_arguments(x, weight, bias, n, groups, what, transposed=True)
    kernel_size = weight.shape[2:]
    if isinstance(padding, str):
        raise ValueError(f"{what}: padding must be an int or a tuple, got {padding!r}")
    stride = _nd.ntuple(stride, n, "stride")
    dilation = _nd.ntuple(dilation, n, "dilation")
    pad = _nd.ntuple(padding, n, "padding", minimum=0)
    out_pad = _nd.ntuple(output_padding, n, "output_padding", minimum=0)
    for o, s, d in zip(out_pad, stride, dilation):
        if o >= max(s, d):
            raise ValueError(
                f"{what}: output_padding {out_pad} must be smaller than stride "
                f"{stride} or dilation {dilation} in every dimension"
            )
    xb, unbatched = _batched(x, n, c_in, what)
    out = _nd.transpose_output_size(xb.shape[2:], kernel_size, stride, pad, out_pad, dilation)
    if any(o < (0 if xb.shape[0] == 0 else 1) for o in out):  # PyTorch: 0 is fine when N = 0
        raise ValueError(
            f"{what}: the output size {out} would not be positive (input spatial "
            f"{xb.shape[2:]}, kernel {kernel_size}, padding {pad})"
        )
    y = _conv_transpose_op(
        xb, weight, bias, stride, tuple((p, p) for p in pad), out, dilation, groups
    )
    return y.squeeze(0) if unbatched else y


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution of (N, C_in, W) input; see ``conv_nd``."""
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, n=1)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution of (N, C_in, H, W) input; see ``conv_nd``."""
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, n=2)


def conv3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
) -> Tensor:
    """3-D convolution of (N, C_in, D, H, W) input; see ``conv_nd``."""
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, n=3)


def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
) -> Tensor:
    """1-D transposed convolution; see ``conv_transpose_nd``."""
    return conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, n=1
    )


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
) -> Tensor:
    """2-D transposed convolution; see ``conv_transpose_nd``."""
    return conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, n=2
    )


def conv_transpose3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
) -> Tensor:
    """3-D transposed convolution; see ``conv_transpose_nd``."""
    return conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, n=3
    )


def _autocasting() -> bool:
    """True inside a ``lucid.amp.autocast`` region, whose policy casts conv's operands to one
    dtype (so a float32 weight meets a half input there by design)."""
    from lucid.ops import _util

    return _util._autocast_hook is not None
