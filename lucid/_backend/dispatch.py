"""Which kernels run for a convolution, a max pooling or a matmul: the routing decision.

A convolution runs the first kernel of its entry in the routing table (``routing.TABLE``,
keyed by op, device kind, dtype class and geometry class) that can serve it (``conv_route``).
What each kernel can serve is a fact kept here (``_can_run``); which one is fastest is a
measurement kept in the table (``benchmarks/route_table.py`` regenerates it):

- "numpy" (``numpy_conv``: NumPy/OpenBLAS GEMMs): a CPU tensor, float32/float64, with the CPU
  kernel set "numpy" (the Linux default), outside ``lucid.compile`` tracing.
- "patch" (``conv.PATCH``: one matmul per kernel): windows that do not overlap and need no
  padding (1x1x1 at any stride, patchify with stride == kernel).
- "conv_general" (``conv.CONV_GENERAL``): MLX's own convolution; not float64 (MLX's conv
  rejects it) nor grouped 3D (MLX has no grouped 3D conv).
- "taps" (``conv.TAPS``): anything.
- While ``lucid.export`` writes an MLX function, MLX's own convolution (or "patch") serves
  every call it can, also on a Linux CPU, so the file runs MLX's conv kernels wherever it is
  loaded (``mlx_conv_everywhere``).

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

from lucid._backend import blas_threads, conv as mlx_conv, routing, runtime
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


# the platform of MLX's CPU kernels (tests and benchmarks patch it to take the other one's route)
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


def _device_kind(device: str) -> str:
    """``routing.device_kind``, with the platform read from ``_LINUX_CPU``."""
    if device != "cpu":
        return "gpu"
    return "cpu/linux" if _LINUX_CPU else "cpu/macos"


def _can_run(route, device, dtype_name, kernel_size, stride, padding, dilation, groups) -> bool:
    """Whether kernel ``route`` can serve this convolution (the module docstring's facts)."""
    if route == "numpy":
        return _numpy_set(device, dtype_name)
    if route == "patch":
        return mlx_conv.disjoint_windows(kernel_size, stride, padding, dilation)
    if route == "conv_general":
        return dtype_name != "float64" and not (groups > 1 and len(kernel_size) == 3)
    return route == "taps"


def conv_route(
    device: str,
    dtype_name: str,
    kernel_size,
    stride,
    padding,
    dilation,
    groups: int,
    in_spatial=None,
    cig=None,
    c_out=None,
) -> str:
    """The name of the kernel set for one convolution: the first in its ``routing.TABLE`` entry
    that can serve it. ``in_spatial`` (the input's spatial shape), ``cig`` (C_in / groups) and
    ``c_out`` refine the geometry class; left out, the call counts as large and a grouped
    convolution as not depthwise."""
    known = in_spatial is not None and cig is not None and c_out is not None
    geometry = routing.conv_geometry(
        in_spatial if known else (routing.SMALL_WORK + 1,),
        kernel_size,
        stride,
        padding,
        dilation,
        groups,
        cig if cig is not None else 2,
        c_out if known else 1,
    )
    key = ("conv", _device_kind(device), routing.dtype_class(dtype_name), geometry)
    geo = (kernel_size, stride, padding, dilation, groups)
    if _mlx_conv_everywhere[0]:  # an MLX export: MLX's kernels, whatever this machine prefers
        for route in ("numpy", "patch", "conv_general"):
            if _can_run(route, device, dtype_name, *geo):
                return route
        return "taps"
    for route in routing.TABLE[key]:
        if _can_run(route, device, dtype_name, *geo):
            return route
    return "taps"  # every entry ends with it; kept for a hand-edited table


def pool_route(op: str, device: str, dtype_name: str, tiled: bool) -> str:
    """The pooling kernel (``routing.POOL_KERNELS``) for one call: the first in its table entry
    that can serve it ("windows" needs windows that tile the input)."""
    key = (op, _device_kind(device), routing.dtype_class(dtype_name), routing.pool_geometry(tiled))
    for route in routing.TABLE[key]:
        if route == "taps" or (route == "windows" and tiled):
            return route
    return "taps"


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

    def _set(self, in_spatial, kernel_size, stride, padding, dilation, groups, cig, c_out):
        # the three kernels of one convolution see the same geometry, so they route alike
        route = conv_route(
            self.device,
            self.dtype_name,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            in_spatial=in_spatial,
            cig=cig,
            c_out=c_out,
        )
        return kernel_set(route)

    def conv_forward(self, x, w, stride, padding, dilation, groups):
        """Cross-correlation x (N, C_in, *S), w (C_out, C_in/groups, *K) -> (N, C_out, *S_out)."""
        cig, c_out = w.shape[1], w.shape[0]
        ks = self._set(x.shape[2:], w.shape[2:], stride, padding, dilation, groups, cig, c_out)
        return ks.conv_forward(x, w, stride, padding, dilation, groups)

    def conv_input_grad(self, dy, w, in_spatial, stride, padding, dilation, groups):
        """Adjoint of conv_forward in x: dy -> dx (N, C_in, *in_spatial)."""
        cig, c_out = w.shape[1], w.shape[0]
        ks = self._set(in_spatial, w.shape[2:], stride, padding, dilation, groups, cig, c_out)
        return ks.conv_input_grad(dy, w, tuple(in_spatial), stride, padding, dilation, groups)

    def conv_weight_grad(self, x, dy, kernel_size, stride, padding, dilation, groups):
        """Adjoint of conv_forward in w: x, dy -> dw (C_out, C_in/groups, *kernel_size)."""
        cig, c_out = x.shape[1] // groups, dy.shape[1]
        ks = self._set(x.shape[2:], kernel_size, stride, padding, dilation, groups, cig, c_out)
        return ks.conv_weight_grad(x, dy, tuple(kernel_size), stride, padding, dilation, groups)


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
