"""Which convolution and matmul kernels run for a tensor on a given device.

MLX's kernels serve the GPU and, on macOS, the CPU (Accelerate). MLX's Linux CPU wheel links a
reference BLAS (~4 GFLOP/s for a 2048^2 matmul against ~170 for numpy's OpenBLAS on the same
machine), so on Linux the CPU default is Lucid's NumPy/OpenBLAS kernels (``native_conv``).
``LUCID_CPU_KERNELS=mlx|native`` (or :func:`set_cpu_kernels`) forces one choice. Half precision always
runs on MLX's kernels.
"""

from __future__ import annotations

import os
import sys

import mlx.core as mx
import numpy as np

from lucid._backend import conv as mlx_conv
from lucid._backend import runtime
from lucid._backend.core import from_numpy, to_numpy

_choice = None


def _default_cpu_kernels() -> str:
    env = os.environ.get("LUCID_CPU_KERNELS", "").strip().lower()
    if env:
        if env not in ("mlx", "native"):
            raise ValueError(f"LUCID_CPU_KERNELS must be 'mlx' or 'native', got {env!r}")
        return env
    return "mlx" if sys.platform == "darwin" else "native"


def cpu_kernels() -> str:
    """``"native"`` or ``"mlx"``: the kernels used for CPU tensors."""
    global _choice
    if _choice is None:
        _choice = _default_cpu_kernels()
    return _choice


def set_cpu_kernels(name: str) -> None:
    """Choose the CPU kernels (``"native"`` or ``"mlx"``) from now on."""
    global _choice
    if name not in ("mlx", "native"):
        raise ValueError(f"CPU kernels must be 'mlx' or 'native', got {name!r}")
    _choice = name


class _NumpyKernels:
    """Adapts the NumPy kernels to MLX arrays: an evaluated MLX array is read by numpy without a
    copy, and the result becomes an MLX array again (one copy)."""

    def __init__(self, module):
        self._m = module

    def conv_forward(self, x, w, *args):
        return from_numpy(self._m.conv_forward(_host(x), _host(w), *args))

    def conv_input_grad(self, dy, w, *args):
        return from_numpy(self._m.conv_input_grad(_host(dy), _host(w), *args))

    def conv_weight_grad(self, x, dy, *args):
        return from_numpy(self._m.conv_weight_grad(_host(x), _host(dy), *args))


def _host(a):
    """A host kernel's input: evaluated (counted as a ``"kernel"`` read) and seen by numpy."""
    return to_numpy(a, "kernel")


def _native_cpu() -> bool:
    """True when CPU tensors use the NumPy kernels now. Never while ``lucid.compile`` traces a
    function: a host kernel would need its input evaluated, so conv and matmul run on MLX's
    kernels inside a compiled function under either kernel set."""
    return cpu_kernels() == "native" and not runtime.is_tracing()


_native = None


def conv_kernels(device: str, dtype_name: str):
    """The kernel set (an object with conv_forward / conv_input_grad / conv_weight_grad on MLX
    arrays) for tensors of this device and dtype."""
    global _native
    if device == "cpu" and dtype_name in ("float32", "float64") and _native_cpu():
        if _native is None:
            from lucid._backend import native_conv

            _native = _NumpyKernels(native_conv)
        return _native
    return mlx_conv


# Below ~2^18 multiply-adds MLX's dispatch beats the numpy round trip; above it OpenBLAS wins
# by 6-25x on this CPU (e.g. 256^3: 5.6 ms vs 0.34 ms; 1024^3: 355 ms vs 14 ms).
_NATIVE_MATMUL_MIN_WORK = 1 << 18


def matmul(a, b, device: str):
    """a @ b (numpy's rules, operands at least 2-D) with the kernels chosen for ``device``."""
    if (device == "cpu" and a.dtype == b.dtype and a.dtype in (mx.float32, mx.float64)
            and _native_cpu()):
        batch = max(a.size // (a.shape[-2] * a.shape[-1] or 1), b.size // (b.shape[-2] * b.shape[-1] or 1))
        if batch * a.shape[-2] * a.shape[-1] * b.shape[-1] >= _NATIVE_MATMUL_MIN_WORK:
            return from_numpy(np.matmul(_host(a), _host(b)))
    return mx.matmul(a, b)
