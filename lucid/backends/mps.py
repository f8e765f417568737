"""``lucid.backends.mps``: whether MLX's Metal GPU (PyTorch's MPS) is built and usable here."""

from __future__ import annotations

from lucid import _backend as B

__all__ = ["is_available", "is_built"]


def is_available() -> bool:
    """True when MLX runs on a Metal GPU here (the device ``"mps"`` is then ``"gpu"``)."""
    return B.gpu_kind() == "metal"


def is_built() -> bool:
    """True when this MLX supports Metal (a macOS build), whether or not a GPU is usable now."""
    return B.metal_built()
