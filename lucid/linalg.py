"""``lucid.linalg``: PyTorch's ``torch.linalg`` norms (``vector_norm``, ``matrix_norm``,
``norm``), differentiable. ``lucid.norm``/``Tensor.norm`` are ``torch.norm``."""

from lucid.ops.linalg import linalg_norm as norm, matrix_norm, vector_norm

__all__ = ["matrix_norm", "norm", "vector_norm"]
