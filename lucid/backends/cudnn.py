"""``lucid.backends.cudnn``: PyTorch's cuDNN switches, so scripts that set them run.

Lucid does not select cuDNN algorithms (MLX's CUDA backend chooses its own), so ``benchmark``,
``deterministic``, ``enabled`` and ``allow_tf32`` are kept as set and change nothing; as on a
PyTorch without CUDA. ``is_available()`` says whether MLX's CUDA backend (which uses cuDNN) is
present.
"""

from __future__ import annotations

from lucid import _backend as B

__all__ = ["allow_tf32", "benchmark", "deterministic", "enabled", "is_available"]

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """True where MLX runs on an NVIDIA GPU through its CUDA backend."""
    return B.gpu_kind() == "cuda"
