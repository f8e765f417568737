"""Dropout: zero elements (or whole channels) at random in training, scaling the rest by
1 / (1 - p) so the expected value is unchanged; the identity otherwise."""

from __future__ import annotations

from lucid import _backend as B
from lucid.ops._util import op  # runs on the input's device stream
from lucid.tensor import Tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "feature_dropout"]


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be a number in [0, 1], got {p!r}")


def _apply_mask(x, mask_shape, p):
    """``x * mask / (1 - p)`` with a Bernoulli(1 - p) mask of ``mask_shape`` (broadcast)."""
    if p == 1.0:
        return x * 0.0
    keep = B.random_bernoulli(1.0 - p, mask_shape)  # Lucid's seeded generator
    # the scale made in x's dtype (a float32 1/(1-p) would be off by ~3e-8 in float64)
    dt = x.data.dtype
    scale = Tensor._wrap(B.where(keep, B.full((), 1.0 / (1.0 - p), dt), B.zeros((), dt)), x._device)
    return x * scale


@op
def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the survivors by 1/(1-p) while
    ``training``; return ``x`` unchanged otherwise."""
    _check_p(p)
    if not isinstance(x, Tensor):
        raise TypeError(f"dropout expects a Tensor, got {type(x).__name__}")
    if not training or p == 0.0:
        return x
    return _apply_mask(x, x.shape, p)


@op
def feature_dropout(
    x: Tensor, p: float, training: bool, spatial_dims: int, name: str = "dropout"
) -> Tensor:
    """Zero whole channels: ``x`` is ``(N, C, *S)`` or unbatched ``(C, *S)`` with
    ``spatial_dims`` spatial dimensions; one keep/drop draw per (sample, channel)."""
    _check_p(p)
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a Tensor, got {type(x).__name__}")
    if x.ndim not in (spatial_dims + 1, spatial_dims + 2):
        raise ValueError(
            f"{name} expects a {spatial_dims + 2}-D (N, C, ...) or "
            f"{spatial_dims + 1}-D unbatched (C, ...) input, got shape {x.shape}"
        )
    if not training or p == 0.0:
        return x
    lead = x.ndim - spatial_dims
    return _apply_mask(x, x.shape[:lead] + (1,) * spatial_dims, p)


def dropout1d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout for (N, C, L) or (C, L) inputs."""
    return feature_dropout(x, p, training, 1, "dropout1d")


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout for (N, C, H, W) or (C, H, W) inputs."""
    return feature_dropout(x, p, training, 2, "dropout2d")


def dropout3d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout for (N, C, D, H, W) or (C, D, H, W) inputs."""
    return feature_dropout(x, p, training, 3, "dropout3d")
