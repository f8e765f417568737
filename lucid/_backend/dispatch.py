"""Which kernels run for a convolution or a matmul: the one routing decision.

A convolution goes to the first kernel set whose rule applies (``conv_route``):

1. "numpy" (``numpy_conv``: NumPy/OpenBLAS GEMMs): a CPU tensor, float32/float64, with the CPU
   kernel set "numpy" (the Linux default).
2. "patch" (``conv.PATCH``: one matmul per kernel): windows that do not overlap and need no
   padding (1x1x1 at any stride, patchify with stride == kernel), where MLX's conv is slow and
   pays two layout transposes per call (docs/benchmarks.md, conv_shapes).
3. "taps" (``conv.TAPS``): grouped 3D (MLX has no grouped 3D conv), float64 (MLX's conv rejects
   it), or a CPU tensor on Linux (MLX's Linux CPU conv runs on a reference BLAS; the taps
   measured faster in every case, docs/benchmarks.md; not while ``lucid.export`` writes an
   MLX function, which should run MLX's conv wherever it is loaded).
4. "conv_general" (``conv.CONV_GENERAL``): MLX's own convolution, on Metal, CUDA and macOS's
   Accelerate CPU.

The CPU kernel set is "numpy" on Linux, where MLX's CPU wheel links a reference BLAS (a 2048^2
float32 matmul at ~4 GFLOP/s against ~170 for numpy's OpenBLAS on the machine in
docs/benchmarks.md), and "mlx" on macOS; ``LUCID_CPU_KERNELS=mlx|numpy`` or
:func:`set_cpu_kernels` forces one ("native", the old name of "numpy", is accepted with a
warning). Half precision always runs on MLX's kernels. Matmuls follow the same CPU kernel set
(``matmul``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import mlx.core as mx

from lucid._backend import blas_threads, conv as mlx_conv, runtime
from lucid._backend.core import from_numpy, mx_dtype_of, to_numpy

CPU_KERNEL_SETS = ("mlx", "numpy")
_DEPRECATED = {"native": "numpy"}
_warned_deprecated = False
_choice = None


def _checked_name(name: str, where: str) -> str:
    """A CPU kernel set's name, the deprecated alias mapped (with one warning per process)."""
    global _warned_deprecated
    if name in _DEPRECATED:
        if not _warned_deprecated:
            _warned_deprecated = True
            warnings.warn(
                f"{where} {name!r} is deprecated: the NumPy/OpenBLAS kernel set is "
                f"now called {_DEPRECATED[name]!r}",
                FutureWarning,
                stacklevel=3,
            )
        return _DEPRECATED[name]
    if name not in CPU_KERNEL_SETS:
        raise ValueError(f"{where} must be 'mlx' or 'numpy', got {name!r}")
    return name


def _default_cpu_kernels() -> str:
    env = os.environ.get("LUCID_CPU_KERNELS", "").strip().lower()
    if env:
        return _checked_name(env, "LUCID_CPU_KERNELS")
    return "mlx" if sys.platform == "darwin" else "numpy"


def cpu_kernels() -> str:
    """``"numpy"`` or ``"mlx"``: the kernel set used for CPU tensors."""
    global _choice
    if _choice is None:
        _choice = _default_cpu_kernels()
    return _choice


def set_cpu_kernels(name: str) -> None:
    """Choose the CPU kernel set (``"numpy"`` or ``"mlx"``) from now on."""
    global _choice
    _choice = _checked_name(name, "CPU kernels")


def _numpy_set(device: str, dtype_name: str) -> bool:
    """True when the NumPy kernels serve this device and dtype. Never while ``lucid.compile``
    traces a function: a host kernel needs its input evaluated, so conv and matmul run on MLX's
    kernels inside a compiled function under either kernel set."""
    return (
        device == "cpu"
        and dtype_name in ("float32", "float64")
        and cpu_kernels() == "numpy"
        and not runtime.is_tracing()
    )


_LINUX_CPU = sys.platform != "darwin"
_mlx_conv_everywhere = [False]  # set while lucid.export writes an MLX function


@contextlib.contextmanager
def mlx_conv_everywhere():
    """Within: MLX's own convolution also for a Linux CPU (no taps), so that an exported MLX
    function runs MLX's conv kernels on whatever machine loads it (a Mac's GPU)."""
    _mlx_conv_everywhere[0] = True
    try:
        yield
    finally:
        _mlx_conv_everywhere[0] = False


def conv_route(
    device: str, dtype_name: str, kernel_size, stride, padding, dilation, groups: int
) -> str:
    """The name of the kernel set (module docstring's rules) for one convolution."""
    if _numpy_set(device, dtype_name):
        return "numpy"
    if mlx_conv.disjoint_windows(kernel_size, stride, padding, dilation):
        return "patch"
    if (
        (groups > 1 and len(kernel_size) == 3)
        or dtype_name == "float64"
        or (_LINUX_CPU and device == "cpu" and not _mlx_conv_everywhere[0])
    ):
        return "taps"
    return "conv_general"


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


_SETS: dict[str, mlx_conv.KernelSet | _NumpyKernels] = {
    "taps": mlx_conv.TAPS,
    "conv_general": mlx_conv.CONV_GENERAL,
    "patch": mlx_conv.PATCH,
}


def kernel_set(route: str):
    """The kernel set (conv_forward / conv_input_grad / conv_weight_grad on MLX arrays) named by
    a route."""
    if route == "numpy" and "numpy" not in _SETS:
        from lucid._backend import numpy_conv

        _SETS["numpy"] = _NumpyKernels(numpy_conv)
    return _SETS[route]


class _Routed:
    """The contract's three functions for tensors of one device and dtype, each routed by
    ``conv_route``."""

    def __init__(self, device, dtype_name):
        self.device, self.dtype_name = device, dtype_name

    def _set(self, *geometry):
        return kernel_set(conv_route(self.device, self.dtype_name, *geometry))

    def conv_forward(self, x, w, stride, padding, dilation, groups):
        """Cross-correlation x (N, C_in, *S), w (C_out, C_in/groups, *K) -> (N, C_out, *S_out)."""
        return self._set(w.shape[2:], stride, padding, dilation, groups).conv_forward(
            x, w, stride, padding, dilation, groups
        )

    def conv_input_grad(self, dy, w, in_spatial, stride, padding, dilation, groups):
        """Adjoint of conv_forward in x: dy -> dx (N, C_in, *in_spatial)."""
        return self._set(w.shape[2:], stride, padding, dilation, groups).conv_input_grad(
            dy, w, tuple(in_spatial), stride, padding, dilation, groups
        )

    def conv_weight_grad(self, x, dy, kernel_size, stride, padding, dilation, groups):
        """Adjoint of conv_forward in w: x, dy -> dw (C_out, C_in/groups, *kernel_size)."""
        return self._set(kernel_size, stride, padding, dilation, groups).conv_weight_grad(
            x, dy, tuple(kernel_size), stride, padding, dilation, groups
        )


def conv_kernels(device: str, dtype_name: str):
    """The contract's three functions on MLX arrays for tensors of this device and dtype."""
    return _Routed(device, dtype_name)


# Below ~2^18 multiply-adds MLX's dispatch beats the numpy round trip; above it OpenBLAS wins
# by 6-25x where MLX links a reference BLAS (e.g. 256^3: 5.6 ms vs 0.34 ms; 1024^3: 355 ms vs
# 14 ms on the machine in docs/benchmarks.md).
_NUMPY_MATMUL_MIN_WORK = 1 << 18


def matmul(a, b, device: str):
    """a @ b (numpy's rules, operands at least 2-D) with the kernels chosen for ``device``."""
    if (
        a.dtype == b.dtype
        and _numpy_set(device, mx_dtype_of(a))
        and blas_threads.gemm_work(a.shape, a.size, b.shape, b.size) >= _NUMPY_MATMUL_MIN_WORK
    ):
        return from_numpy(blas_threads.matmul(_host(a), _host(b)))
    return mx.matmul(a, b)
