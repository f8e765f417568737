"""``lucid.backends``: PyTorch's ``torch.backends`` queries that mean something on MLX (``mps``)."""

from lucid.backends import mps

__all__ = ["mps"]
