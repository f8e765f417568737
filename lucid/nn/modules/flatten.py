"""``Flatten`` and ``Unflatten``: reshape layers between convolutional and dense parts."""

from __future__ import annotations

import math

from lucid import ops
from lucid.nn.modules.module import Module
from lucid.tensor import Tensor

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dimensions ``start_dim`` .. ``end_dim`` into one (by default all but the batch)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (one entry may be -1)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        sizes = tuple(int(s) for s in unflattened_size)
        if not sizes or sizes.count(-1) > 1 or any(s < -1 for s in sizes):
            raise ValueError(
                f"Unflatten: unflattened_size must be a non-empty sequence with "
                f"at most one -1 and no other negative sizes, got {sizes}"
            )
        self.dim = dim
        self.unflattened_size = sizes

    def forward(self, x: Tensor) -> Tensor:
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(
                f"Unflatten: dim {self.dim} is out of range for an input of shape {x.shape}"
            )
        d = self.dim % x.ndim
        sizes = self.unflattened_size
        known = math.prod(s for s in sizes if s != -1)
        n = x.shape[d]
        if (-1 in sizes and (known == 0 or n % known)) or (-1 not in sizes and known != n):
            raise ValueError(
                f"Unflatten: sizes {sizes} do not multiply to dimension {d} of "
                f"size {n} (input shape {x.shape})"
            )
        sizes = tuple(n // known if s == -1 else s for s in sizes)
        return ops.reshape(x, x.shape[:d] + sizes + x.shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
