"""``lucid.cuda``: PyTorch's ``torch.cuda`` queries, for MLX's CUDA backend.

Lucid runs on at most one GPU, MLX's; where that GPU is CUDA (MLX's CUDA build on Linux),
``is_available()`` is True and ``device_count()`` is 1, and the device ``"cuda"`` (or
``"cuda:0"``) is Lucid's ``"gpu"``. The memory figures are :mod:`lucid.memory`'s: MLX's memory
is unified, so they count every array MLX holds, on the CPU stream too. Where MLX has no CUDA
GPU they are 0 and ``empty_cache`` does nothing, as in a PyTorch without CUDA;
``current_device`` and ``synchronize`` raise RuntimeError there.
"""

from __future__ import annotations

from lucid import _backend as B, memory
from lucid._backend import runtime

__all__ = [
    "current_device",
    "device_count",
    "empty_cache",
    "is_available",
    "max_memory_allocated",
    "memory_allocated",
    "memory_reserved",
    "reset_peak_memory_stats",
    "synchronize",
]

_Device = int | str | None


def is_available() -> bool:
    """True when MLX runs on a CUDA GPU here."""
    return B.gpu_kind() == "cuda"


def device_count() -> int:
    """The number of CUDA devices Lucid can use: 1 where MLX has a CUDA GPU, else 0."""
    return 1 if is_available() else 0


def _check(device: _Device, what: str) -> None:
    """Refuse a ``device`` argument that is not a CUDA device Lucid has (None: the current)."""
    if device is None:
        return
    if isinstance(device, bool) or not isinstance(device, (int, str)):
        raise TypeError(
            f"{what}: device must be None, an int or a device string, got {type(device).__name__}"
        )
    kind, index = ("cuda", device) if isinstance(device, int) else B.parse_device(device)
    if kind != "cuda":
        raise ValueError(f"{what}: expected a CUDA device, got {device!r}")
    if index is not None and (index < 0 or index >= max(device_count(), 1)):
        raise ValueError(f"{what}: invalid CUDA device index {index} (Lucid uses one GPU)")


def _require(what: str) -> None:
    if not is_available():
        have = B.gpu_kind()
        raise RuntimeError(
            f"lucid.cuda.{what}: CUDA is not available (MLX's GPU here is {have or 'none'})"
        )


def current_device() -> int:
    """The index of the current CUDA device: 0 (RuntimeError where there is none)."""
    _require("current_device")
    return 0


def synchronize(device: _Device = None) -> None:
    """Wait for the work queued on the GPU to finish (RuntimeError where CUDA is absent)."""
    _check(device, "synchronize")
    _require("synchronize")
    runtime.synchronize("gpu")


def empty_cache() -> None:
    """Return MLX's cached memory to the system (``lucid.memory.clear_cache``)."""
    if is_available():
        memory.clear_cache()


def memory_allocated(device: _Device = None) -> int:
    """Bytes held by live arrays (``lucid.memory.active``); 0 where CUDA is absent."""
    _check(device, "memory_allocated")
    return memory.active() if is_available() else 0


def max_memory_allocated(device: _Device = None) -> int:
    """The peak of :func:`memory_allocated` (``lucid.memory.peak``); 0 where CUDA is absent."""
    _check(device, "max_memory_allocated")
    return memory.peak() if is_available() else 0


def memory_reserved(device: _Device = None) -> int:
    """Bytes held by live arrays plus MLX's cache; 0 where CUDA is absent."""
    _check(device, "memory_reserved")
    return memory.active() + memory.cache() if is_available() else 0


def reset_peak_memory_stats(device: _Device = None) -> None:
    """Start measuring :func:`max_memory_allocated` afresh (``lucid.memory.reset_peak``)."""
    _check(device, "reset_peak_memory_stats")
    if is_available():
        memory.reset_peak()
