"""``max_unpool``: the partial inverse of max pooling. Each value is written at its index (a flat
position in its (sample, channel) plane, as ``max_pool(..., return_indices=True)`` returns);
every other position is zero. The gradient reads the output gradient back at those indices."""

from __future__ import annotations

import numpy as np

from lucid import _backend as B
from lucid.ops import _nd
from lucid.ops._util import op, record
from lucid.tensor import Tensor


def unpool_output_size(in_size, kernel, stride, padding, output_size, n, what):
    """The spatial output size: (in - 1) * stride - 2 * padding + kernel per dim, or
    ``output_size`` (``n`` sizes, optionally after (N, C)), which must lie within one stride of
    that default."""
    default = tuple((i - 1) * s - 2 * p + k for i, k, s, p in zip(in_size, kernel, stride, padding))
    if output_size is None:
        out = default
    else:
        out = tuple(int(o) for o in output_size)
        if len(out) == n + 2 or len(out) == n + 1:
            out = out[-n:]
        if len(out) != n:
            raise ValueError(
                f"{what}: output_size must have {n} spatial sizes (optionally after "
                f"N, C), got {tuple(output_size)}"
            )
        for o, d, s in zip(out, default, stride):
            if not d - s < o < d + s:
                raise ValueError(
                    f"{what}: output_size {out} must lie strictly between "
                    f"{tuple(d - s for d, s in zip(default, stride))} and "
                    f"{tuple(d + s for d, s in zip(default, stride))}"
                )
    if any(o <= 0 for o in out):
        raise ValueError(f"{what}: output size {out} must be positive")
    return out


@op
def max_unpool(
    input, indices, n, kernel_size, stride=None, padding=0, output_size=None, name="max_unpool"
):
    """Scatter ``input`` (N, C, *S) or (C, *S) into zeros of the unpooled size at ``indices``
    (same shape as ``input``, flat positions within each plane)."""
    if not isinstance(input, Tensor) or not isinstance(indices, Tensor):
        raise TypeError(f"{name} expects Tensors for input and indices")
    if indices.shape != input.shape:
        raise ValueError(
            f"{name}: indices shape {indices.shape} must equal the input shape {input.shape}"
        )
    if indices.is_floating_point():
        raise TypeError(f"{name}: indices must be an integer tensor, got dtype {indices.dtype}")
    _nd.check_input(input.shape, n, None, name)
    kernel = _nd.ntuple(kernel_size, n, "kernel_size")
    stride = kernel if stride is None else _nd.ntuple(stride, n, "stride")
    padding = _nd.ntuple(padding, n, "padding", minimum=0)
    out = unpool_output_size(input.shape[-n:], kernel, stride, padding, output_size, n, name)
    lead = input.shape[:-n]
    plane = int(np.prod(out))
    flat_idx = B.reshape(indices.data, lead + (-1,)).astype(B.DTYPES["int32"])
    if indices.numel():
        lo, hi = int(B.min(flat_idx).item()), int(B.max(flat_idx).item())
        if lo < 0 or hi >= plane:
            bad = lo if lo < 0 else hi
            raise IndexError(
                f"{name}: index {bad} is out of range for an output plane of size "
                f"{plane} (output spatial size {out})"
            )
    values = B.reshape(input.data, lead + (-1,))
    zeros = B.zeros(lead + (plane,), dtype=input.data.dtype)
    y = B.reshape(B.put_along_axis(zeros, flat_idx, values, axis=-1), lead + out)
    in_shape = input.data.shape

    def backward(g):
        gathered = B.take_along_axis(B.reshape(g, lead + (plane,)), flat_idx, axis=-1)
        return (B.reshape(gathered, in_shape), None)

    def adjoint(_i, v):
        # the transpose of that gather: a scatter-add, through flat positions in the whole output
        # (equal to the forward's write when no index repeats)
        rows = int(np.prod(lead))
        starts = B.reshape(B.arange(rows, dtype=B.DTYPES["int32"]) * plane, lead + (1,))
        where = B.reshape(flat_idx + starts, (-1,))
        flat = B.scatter_add((rows * plane,), where, B.reshape(v, (-1,)), v.dtype)
        return B.reshape(flat, lead + out)

    return record(y, (input, indices), backward, "MaxUnpool", adjoint=adjoint)
