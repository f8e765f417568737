"""``lucid.mps``: PyTorch's ``torch.mps`` queries, for MLX's Metal GPU (Apple Silicon).

Where MLX runs on Metal, ``is_available()`` is True, ``device_count()`` is 1 and the device
``"mps"`` is Lucid's ``"gpu"``. The memory figures are :mod:`lucid.memory`'s: a Mac's memory is
unified, so they count every array MLX holds, CPU stream included. Elsewhere every function but
``is_available`` and ``device_count`` raises RuntimeError, as PyTorch's does without MPS.
"""

from __future__ import annotations

from lucid import _backend as B, memory
from lucid._backend import runtime

__all__ = [
    "current_allocated_memory",
    "device_count",
    "driver_allocated_memory",
    "empty_cache",
    "is_available",
    "synchronize",
]


def is_available() -> bool:
    """True when MLX runs on a Metal GPU here."""
    return B.gpu_kind() == "metal"


def device_count() -> int:
    """The number of MPS devices: 1 where MLX has a Metal GPU, else 0."""
    return 1 if is_available() else 0


def _require(what: str) -> None:
    if not is_available():
        raise RuntimeError(
            f"lucid.mps.{what}: MPS is not available (MLX's GPU here is {B.gpu_kind() or 'none'})"
        )


def synchronize() -> None:
    """Wait for the work queued on the GPU to finish."""
    _require("synchronize")
    runtime.synchronize("gpu")


def empty_cache() -> None:
    """Return MLX's cached memory to the system (``lucid.memory.clear_cache``)."""
    _require("empty_cache")
    memory.clear_cache()


def current_allocated_memory() -> int:
    """Bytes held by live arrays (``lucid.memory.active``)."""
    _require("current_allocated_memory")
    return memory.active()


def driver_allocated_memory() -> int:
    """Bytes MLX has from the system: live arrays plus its cache."""
    _require("driver_allocated_memory")
    return memory.active() + memory.cache()
