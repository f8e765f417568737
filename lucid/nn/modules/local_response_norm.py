"""LocalResponseNorm: normalisation across neighbouring channels (AlexNet's LRN)."""

from __future__ import annotations

from lucid.nn.functional.local_response_norm import local_response_norm
from lucid.nn.modules.module import Module
from lucid.tensor import Tensor

__all__ = ["LocalResponseNorm"]


class LocalResponseNorm(Module):
    """x_c / (k + alpha / size * sum of x^2 over ``size`` channels around c) ** beta."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
