"""``local_response_norm``: each channel divided by (k + alpha/size * sum of squares over
``size`` neighbouring channels) ** beta, the neighbourhood zero-padded as in PyTorch."""

from __future__ import annotations

from lucid.ops.padding import pad
from lucid.tensor import Tensor

__all__ = ["local_response_norm"]


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x_c / (k + alpha / size * sum_{c' = c - size//2}^{c + (size-1)//2} x_{c'}^2) ** beta over
    the channel dim 1 of a (N, C, ...) input (at least 3-D)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"local_response_norm expects a Tensor, got {type(input).__name__}")
    if input.ndim < 3:
        raise ValueError(
            f"local_response_norm expects a 3-D or higher (N, C, ...) input, got "
            f"shape {input.shape}"
        )
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    channels = input.shape[1]
    squares = pad(input * input, (0, 0) * (input.ndim - 2) + (size // 2, (size - 1) // 2))
    window = squares[:, 0:channels]
    for shift in range(1, size):
        window = window + squares[:, shift : shift + channels]
    return input / (window * (alpha / size) + k) ** beta
