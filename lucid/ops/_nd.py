"""N-d argument handling shared by convolution, transposed convolution and pooling: per-dim
tuples, padding forms, output sizes, and the checks that give clear errors before MLX is called."""

from __future__ import annotations

import numbers

# the one copy of the formula lives below both kernel sets, which use it too
from lucid._backend.conv_shape import conv_output_size  # noqa: F401


def ntuple(value, n: int, name: str, minimum: int = 1) -> tuple:
    """``value`` (an int or a sequence of ``n`` ints) as an ``n``-tuple, each >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, tuple, list)):
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if isinstance(value, numbers.Integral):
        out = (int(value),) * n
    else:
        if len(value) != n:
            raise ValueError(
                f"{name} must have {n} values (one per spatial dimension), got "
                f"{len(value)}: {tuple(value)!r}"
            )
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
            raise TypeError(f"{name} must contain ints, got {tuple(value)!r}")
        out = tuple(int(v) for v in value)
    if any(v < minimum for v in out):
        raise ValueError(f"{name} must be >= {minimum} in every dimension, got {out}")
    return out


def conv_padding(padding, kernel_size, dilation, stride, n: int) -> tuple:
    """Normalise a convolution padding (``"same"``, ``"valid"``, an int or a tuple) to one
    ``(lo, hi)`` pair per spatial dim. ``"same"`` keeps the size for any kernel, even ones
    included, by putting the odd extra element on the high side; it requires stride 1."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * n
        if mode == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"padding='same' needs stride 1 in every dimension, got stride={stride}"
                )
            pairs = []
            for k, d in zip(kernel_size, dilation):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise ValueError(f"padding must be 'same', 'valid', an int or a tuple, got {padding!r}")
    return tuple((p, p) for p in ntuple(padding, n, "padding", minimum=0))


def check_kernel_fits(in_size, kernel_size, padding, dilation, what="kernel") -> None:
    """Raise when the (dilated) kernel is larger than the padded input in some dimension."""
    for axis, (i, k, (lo, hi), d) in enumerate(zip(in_size, kernel_size, padding, dilation)):
        span = d * (k - 1) + 1
        if i + lo + hi < span:
            raise ValueError(
                f"{what} size {tuple(kernel_size)} (dilated extent {span} in spatial "
                f"dim {axis}) is larger than the padded input size {i + lo + hi} "
                f"(input spatial size {tuple(in_size)})"
            )


def transpose_output_size(in_size, kernel_size, stride, padding, output_padding, dilation) -> tuple:
    """Spatial output size of a transposed convolution (symmetric int ``padding``)."""
    return tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, k, s, p, op, d in zip(
            in_size, kernel_size, stride, padding, output_padding, dilation
        )
    )


def pool_output_size(in_size, kernel_size, stride, padding, dilation, ceil_mode) -> tuple:
    """Spatial output size of pooling; with ``ceil_mode`` a last partial window counts when it
    starts inside the input or its left padding."""
    out = []
    for i, k, s, p, d in zip(in_size, kernel_size, stride, padding, dilation):
        span = i + 2 * p - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= i + p:
            o -= 1
        out.append(o)
    return tuple(out)


def check_input(x_shape, n: int, channels: int, what: str, empty_batch_any_size=False) -> bool:
    """Check an input's rank and channel count (any count when ``channels`` is None); returns
    True when the input is unbatched (``(C, *S)``) rather than batched (``(N, C, *S)``).
    Spatial sizes must be positive, except in a batch of 0 with ``empty_batch_any_size``
    (PyTorch's convolutions accept any spatial size there)."""
    if len(x_shape) not in (n + 1, n + 2):
        raise ValueError(
            f"{what} expects a {n + 2}-D input (N, C, {_dims(n)}) or an unbatched "
            f"{n + 1}-D input (C, {_dims(n)}), got shape {tuple(x_shape)}"
        )
    unbatched = len(x_shape) == n + 1
    c = x_shape[0] if unbatched else x_shape[1]
    if channels is not None and c != channels:
        raise ValueError(
            f"{what}: expected input with {channels} channels, got {c} "
            f"(input shape {tuple(x_shape)})"
        )
    empty_batch = empty_batch_any_size and not unbatched and x_shape[0] == 0
    if not empty_batch and any(s <= 0 for s in x_shape[-n:]):
        raise ValueError(f"{what}: input spatial size must be positive, got shape {tuple(x_shape)}")
    return unbatched


def _dims(n):
    return ", ".join(("D", "H", "W")[3 - n :]) if n <= 3 else f"{n} spatial dims"
