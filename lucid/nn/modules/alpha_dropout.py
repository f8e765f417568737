"""AlphaDropout: dropout that keeps SELU activations' zero mean and unit variance."""

from __future__ import annotations

from lucid.nn.functional.alpha_dropout import alpha_dropout
from lucid.nn.functional.dropout import _check_p
from lucid.nn.modules.module import Module
from lucid.tensor import Tensor

__all__ = ["AlphaDropout"]


class AlphaDropout(Module):
    """In training, set elements to SELU's saturation value with probability ``p`` and rescale
    (see ``F.alpha_dropout``); the identity in eval mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        _check_p(p)
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return alpha_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
