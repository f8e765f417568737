"""RMSNorm (PyTorch 2.4+): root-mean-square normalisation over the trailing dims."""

from __future__ import annotations

from lucid._typing import DTypeLike, IntOrSeq
from lucid.creation import ones
from lucid.nn.functional.rms_norm import normalized_shape_tuple, rms_norm
from lucid.nn.modules.module import Module, Parameter
from lucid.tensor import Tensor

__all__ = ["RMSNorm"]


class RMSNorm(Module):
    """y = x / sqrt(mean(x^2 over ``normalized_shape``) + eps) * weight; ``eps=None`` uses the
    input dtype's machine epsilon; ``elementwise_affine`` adds the learnable ``weight`` (ones)."""

    def __init__(
        self,
        normalized_shape: IntOrSeq,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: str | None = None,
        dtype: DTypeLike = None,
    ):
        super().__init__()
        self.normalized_shape = normalized_shape_tuple(normalized_shape, "RMSNorm")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(
                ones(self.normalized_shape, dtype=dtype or "float32", device=device)
            )
        else:
            self.register_parameter("weight", None)

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
