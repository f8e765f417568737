"""``Embedding``: a learnable lookup table of vectors indexed by integers."""

from __future__ import annotations

from lucid import creation
from lucid._typing import DTypeLike
from lucid.autograd import no_grad
from lucid.nn import init
from lucid.nn.functional.linear import embedding
from lucid.nn.modules.module import Module, Parameter
from lucid.tensor import Tensor

__all__ = ["Embedding"]


class Embedding(Module):
    """Maps integer indices of any shape to rows of ``weight`` (``(num_embeddings,
    embedding_dim)``, initialised N(0, 1)). The ``padding_idx`` row starts at zero and gets no
    gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 device: str | None = None, dtype: DTypeLike = None):
        super().__init__()
        for name, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Embedding: {name} must be a positive int, got {v!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(creation.zeros(num_embeddings, embedding_dim,
                                               dtype=dtype or "float32", device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw N(0, 1) rows and zero the padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, indices: Tensor) -> Tensor:
        return embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
