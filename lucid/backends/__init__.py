"""``lucid.backends``: PyTorch's ``torch.backends`` queries that mean something on MLX (``mps``),
and the cuDNN switches scripts set (``cudnn``: kept, without effect)."""

from lucid.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
