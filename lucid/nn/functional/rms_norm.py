"""``rms_norm`` (PyTorch 2.4+): x / sqrt(mean(x^2 over the normalized dims) + eps) * weight."""

from __future__ import annotations

import numbers

from lucid import _backend as B
from lucid._typing import IntOrSeq
from lucid.tensor import Tensor

__all__ = ["rms_norm"]

_MACHINE_EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}


def normalized_shape_tuple(normalized_shape, what):
    """``normalized_shape`` (an int or a sequence of ints) as a tuple of positive ints."""
    shape = (
        (normalized_shape,)
        if isinstance(normalized_shape, numbers.Integral)
        else tuple(normalized_shape)
    )
    if not shape or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise ValueError(
            f"{what}: normalized_shape must be positive ints, got {normalized_shape!r}"
        )
    return tuple(int(s) for s in shape)


def rms_norm(
    input: Tensor,
    normalized_shape: IntOrSeq,
    weight: Tensor | None = None,
    eps: float | None = None,
):
    """Divide by the root mean square over the trailing ``normalized_shape`` dims (plus ``eps``,
    default the dtype's machine epsilon, as PyTorch) and scale by ``weight`` when given."""
    if not isinstance(input, Tensor):
        raise TypeError(f"rms_norm expects a Tensor, got {type(input).__name__}")
    shape = normalized_shape_tuple(normalized_shape, "rms_norm")
    if input.shape[input.ndim - len(shape) :] != shape or input.ndim < len(shape):
        raise ValueError(
            f"rms_norm: input shape {input.shape} does not end in normalized_shape {shape}"
        )
    if weight is not None and weight.shape != shape:
        raise ValueError(f"rms_norm: weight must have shape {shape}, got {weight.shape}")
    if eps is None:
        eps = _MACHINE_EPS.get(B.dtype_name(input.data.dtype))
        if eps is None:
            raise TypeError(f"rms_norm needs a floating-point input, got dtype {input.dtype}")
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    y = input / ((input * input).mean(axes, True) + eps).sqrt()
    return y * weight if weight is not None else y
