"""Memory on the device Lucid runs on: what live tensors hold, the peak, MLX's cache, limits.

A thin face of MLX's memory functions (through ``lucid._backend``). Sizes are in bytes.

    >>> import lucid
    >>> x = lucid.zeros(1024, 1024)
    >>> _ = x.numpy()  # evaluated: its 4 MiB now count as active
    >>> lucid.memory.active() >= 4 * 1024 * 1024
    True

On a Mac the GPU and CPU share one memory, so these figures cover both devices.
"""

from __future__ import annotations

from lucid._backend import runtime

__all__ = [
    "active",
    "cache",
    "clear_cache",
    "peak",
    "reset_peak",
    "set_cache_limit",
    "set_memory_limit",
]


def active() -> int:
    """Bytes held by the arrays of live tensors (evaluated ones: a lazy result holds none yet)."""
    return runtime.active_memory()


def peak() -> int:
    """The largest :func:`active` since the process started or :func:`reset_peak`."""
    return runtime.peak_memory()


def cache() -> int:
    """Bytes MLX keeps cached for reuse after arrays are freed (not in :func:`active`)."""
    return runtime.cache_memory()


def reset_peak() -> None:
    """Start measuring :func:`peak` afresh (from zero: MLX counts allocations made after it)."""
    runtime.reset_peak_memory()


def set_memory_limit(limit: int) -> int:
    """Ask MLX to keep its memory use under ``limit`` bytes (it waits for running work, then
    may exceed it rather than fail); returns the previous limit."""
    if int(limit) < 0:
        raise ValueError(f"set_memory_limit: limit must be >= 0 bytes, got {limit}")
    return runtime.set_memory_limit(limit)


def set_cache_limit(limit: int) -> int:
    """Cap the memory MLX keeps cached for reuse (0 disables the cache); returns the previous
    limit."""
    if int(limit) < 0:
        raise ValueError(f"set_cache_limit: limit must be >= 0 bytes, got {limit}")
    return runtime.set_cache_limit(limit)


def clear_cache() -> None:
    """Return MLX's cached memory to the system."""
    runtime.clear_cache()
