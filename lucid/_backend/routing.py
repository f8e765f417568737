"""The kernel routing table: which kernel runs for each (op, device kind, dtype class, geometry
class), as data in one place.

Each entry ranks kernels fastest first; a call runs the first one that can serve it (the facts
of which kernel can run what live with the kernels: ``dispatch.conv_route`` for convolutions,
``lucid.ops.pool`` for pooling). ``benchmarks/route_table.py`` measures the candidates of every
class on the machine it runs on and, with ``--write``, rewrites the block between the markers
below (only the entries of that machine's device kind, and only where a candidate beat the
current choice by a clear, repeated margin). Entries it could not measure keep the rule they
had (``NOTES`` says which).

Keys:

- op: ``"conv"`` (forward, input gradient and weight gradient alike) or ``"max_pool"``.
- device kind (``dispatch._device_kind``): ``"gpu"`` (Metal or CUDA), ``"cpu/linux"`` (MLX's
  CPU wheel with a reference BLAS), ``"cpu/macos"`` (Accelerate).
- dtype class (``dtype_class``): ``"float32"``, ``"float64"``, ``"half"`` (float16/bfloat16).
- geometry class (``conv_geometry``, ``pool_geometry``): see those functions.

Conv kernels: ``"numpy"`` (NumPy/OpenBLAS, only for a CPU float32/float64 tensor with the CPU
kernel set "numpy" and outside ``lucid.compile`` tracing), ``"patch"`` (disjoint windows
only), ``"conv_general"`` (MLX's conv: not for float64 or grouped 3D), ``"taps"`` (any).
Max-pool kernels: ``"windows"`` (non-overlapping windows without padding: one reshape and one
max over the window axes), ``"taps"`` (per-axis maxima over strided slices; any).
"""

from __future__ import annotations

import math

OPS = ("conv", "max_pool")
DEVICE_KINDS = ("gpu", "cpu/linux", "cpu/macos")
DTYPE_CLASSES = ("float32", "float64", "half")
CONV_GEOMETRIES = (
    "pointwise",  # 1x1x1 kernel, stride 1, no padding
    "subsample",  # 1x1x1 kernel, a stride > 1, no padding (a subsample)
    "patchify",  # disjoint windows wider than 1 (stride >= kernel, no padding)
    "depthwise",  # groups == C_in > 1
    "grouped",  # 1 < groups < C_in
    "dense_small",  # groups 1, stride 1, at most SMALL_WORK multiply-adds per sample
    "dense_large",  # groups 1, stride 1, more work
    "strided",  # groups 1, a stride > 1, overlapping windows
)
POOL_GEOMETRIES = (
    "tiled",  # kernel == stride, no padding, dilation 1 (windows that tile the input)
    "overlapping",  # anything else
)
CONV_KERNELS = ("numpy", "patch", "conv_general", "taps")
POOL_KERNELS = ("windows", "taps")

# at most this many multiply-adds per sample (input positions x C_in/groups x C_out x kernel
# taps; e.g. 1->8 channels at 8^3 with a 3^3 kernel: 110k; 16->32 at 4^3: 885k): the regime
# where a call's cost is mostly dispatch and graph size rather than arithmetic. On the Linux CPU
# MLX's one conv call beat the taps' ~30 ops by 1.7-5.8x up to 221k, ~1.2x at 442k and lost
# beyond (docs/benchmarks.md, "Routing")
SMALL_WORK = 1 << 18


def dtype_class(dtype_name: str) -> str:
    """``"float64"``, ``"half"`` for float16/bfloat16, else ``"float32"``."""
    if dtype_name in ("float16", "bfloat16"):
        return "half"
    return "float64" if dtype_name == "float64" else "float32"


def disjoint(kernel_size, stride, padding, dilation) -> bool:
    """No padding and, per dim, a 1-wide kernel or an undilated one no wider than the stride."""
    return all(
        lo == 0 and hi == 0 and (k == 1 or (d == 1 and k <= s))
        for k, s, (lo, hi), d in zip(kernel_size, stride, padding, dilation)
    )


def conv_geometry(
    in_spatial, kernel_size, stride, padding, dilation, groups: int, cig: int, c_out: int
) -> str:
    """The geometry class (``CONV_GEOMETRIES``) of a convolution from its input's spatial shape,
    its geometry, ``cig`` (C_in / groups) and ``c_out``."""
    if disjoint(kernel_size, stride, padding, dilation):
        if all(k == 1 for k in kernel_size):
            return "pointwise" if all(s == 1 for s in stride) else "subsample"
        return "patchify"
    if groups > 1:
        return "depthwise" if cig == 1 else "grouped"
    if any(s > 1 for s in stride):
        return "strided"
    work = math.prod(in_spatial) * cig * c_out * math.prod(kernel_size)
    return "dense_small" if work <= SMALL_WORK else "dense_large"


def pool_geometry(tiled: bool) -> str:
    """The geometry class (``POOL_GEOMETRIES``) of a pooling whose windows tile the input or not."""
    return "tiled" if tiled else "overlapping"


# ----------------------------------------------------------------------------- the table
# BEGIN GENERATED TABLE (benchmarks/route_table.py --write rewrites this block)
# fmt: off
TABLE: dict[tuple[str, str, str, str], tuple[str, ...]] = {
    ("conv", "gpu", "float32", "pointwise"): ("patch", "conv_general", "taps"),
    ("conv", "gpu", "float32", "subsample"): ("patch", "conv_general", "taps"),
    ("conv", "gpu", "float32", "patchify"): ("patch", "conv_general", "taps"),
    ("conv", "gpu", "float32", "depthwise"): ("conv_general", "taps"),
    ("conv", "gpu", "float32", "grouped"): ("conv_general", "taps"),
    ("conv", "gpu", "float32", "dense_small"): ("conv_general", "taps"),
    ("conv", "gpu", "float32", "dense_large"): ("conv_general", "taps"),
    ("conv", "gpu", "float32", "strided"): ("conv_general", "taps"),
    ("conv", "gpu", "float64", "pointwise"): ("patch", "conv_general", "taps"),
    ("conv", "gpu", "float64", "subsample"): ("patch", "conv_general", "taps"),
    ("conv", "gpu", "float64", "patchify"): ("patch", "conv_general", "taps"),
    ("conv", "gpu", "float64", "depthwise"): ("conv_general", "taps"),
    ("conv", "gpu", "float64", "grouped"): ("conv_general", "taps"),
    ("conv", "gpu", "float64", "dense_small"): ("conv_general", "taps"),
    ("conv", "gpu", "float64", "dense_large"): ("conv_general", "taps"),
    ("conv", "gpu", "float64", "strided"): ("conv_general", "taps"),
    ("conv", "gpu", "half", "pointwise"): ("patch", "conv_general", "taps"),
    ("conv", "gpu", "half", "subsample"): ("patch", "conv_general", "taps"),
    ("conv", "gpu", "half", "patchify"): ("patch", "conv_general", "taps"),
    ("conv", "gpu", "half", "depthwise"): ("conv_general", "taps"),
    ("conv", "gpu", "half", "grouped"): ("conv_general", "taps"),
    ("conv", "gpu", "half", "dense_small"): ("conv_general", "taps"),
    ("conv", "gpu", "half", "dense_large"): ("conv_general", "taps"),
    ("conv", "gpu", "half", "strided"): ("conv_general", "taps"),
    ("conv", "cpu/linux", "float32", "pointwise"): ("numpy", "patch", "taps"),
    ("conv", "cpu/linux", "float32", "subsample"): ("numpy", "patch", "taps"),
    ("conv", "cpu/linux", "float32", "patchify"): ("numpy", "patch", "taps"),
    ("conv", "cpu/linux", "float32", "depthwise"): ("numpy", "taps"),
    ("conv", "cpu/linux", "float32", "grouped"): ("numpy", "taps"),
    ("conv", "cpu/linux", "float32", "dense_small"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/linux", "float32", "dense_large"): ("numpy", "taps"),
    ("conv", "cpu/linux", "float32", "strided"): ("numpy", "taps"),
    ("conv", "cpu/linux", "float64", "pointwise"): ("numpy", "patch", "taps"),
    ("conv", "cpu/linux", "float64", "subsample"): ("numpy", "patch", "taps"),
    ("conv", "cpu/linux", "float64", "patchify"): ("numpy", "patch", "taps"),
    ("conv", "cpu/linux", "float64", "depthwise"): ("numpy", "taps"),
    ("conv", "cpu/linux", "float64", "grouped"): ("numpy", "taps"),
    ("conv", "cpu/linux", "float64", "dense_small"): ("numpy", "taps"),
    ("conv", "cpu/linux", "float64", "dense_large"): ("numpy", "taps"),
    ("conv", "cpu/linux", "float64", "strided"): ("numpy", "taps"),
    ("conv", "cpu/linux", "half", "pointwise"): ("patch", "taps"),
    ("conv", "cpu/linux", "half", "subsample"): ("patch", "taps"),
    ("conv", "cpu/linux", "half", "patchify"): ("patch", "taps"),
    ("conv", "cpu/linux", "half", "depthwise"): ("taps",),
    ("conv", "cpu/linux", "half", "grouped"): ("taps",),
    ("conv", "cpu/linux", "half", "dense_small"): ("taps",),
    ("conv", "cpu/linux", "half", "dense_large"): ("taps",),
    ("conv", "cpu/linux", "half", "strided"): ("taps",),
    ("conv", "cpu/macos", "float32", "pointwise"): ("numpy", "patch", "conv_general", "taps"),
    ("conv", "cpu/macos", "float32", "subsample"): ("numpy", "patch", "conv_general", "taps"),
    ("conv", "cpu/macos", "float32", "patchify"): ("numpy", "patch", "conv_general", "taps"),
    ("conv", "cpu/macos", "float32", "depthwise"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/macos", "float32", "grouped"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/macos", "float32", "dense_small"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/macos", "float32", "dense_large"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/macos", "float32", "strided"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/macos", "float64", "pointwise"): ("numpy", "patch", "conv_general", "taps"),
    ("conv", "cpu/macos", "float64", "subsample"): ("numpy", "patch", "conv_general", "taps"),
    ("conv", "cpu/macos", "float64", "patchify"): ("numpy", "patch", "conv_general", "taps"),
    ("conv", "cpu/macos", "float64", "depthwise"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/macos", "float64", "grouped"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/macos", "float64", "dense_small"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/macos", "float64", "dense_large"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/macos", "float64", "strided"): ("numpy", "conv_general", "taps"),
    ("conv", "cpu/macos", "half", "pointwise"): ("patch", "conv_general", "taps"),
    ("conv", "cpu/macos", "half", "subsample"): ("patch", "conv_general", "taps"),
    ("conv", "cpu/macos", "half", "patchify"): ("patch", "conv_general", "taps"),
    ("conv", "cpu/macos", "half", "depthwise"): ("conv_general", "taps"),
    ("conv", "cpu/macos", "half", "grouped"): ("conv_general", "taps"),
    ("conv", "cpu/macos", "half", "dense_small"): ("conv_general", "taps"),
    ("conv", "cpu/macos", "half", "dense_large"): ("conv_general", "taps"),
    ("conv", "cpu/macos", "half", "strided"): ("conv_general", "taps"),
    ("max_pool", "gpu", "float32", "tiled"): ("taps",),
    ("max_pool", "gpu", "float32", "overlapping"): ("taps",),
    ("max_pool", "gpu", "float64", "tiled"): ("taps",),
    ("max_pool", "gpu", "float64", "overlapping"): ("taps",),
    ("max_pool", "gpu", "half", "tiled"): ("taps",),
    ("max_pool", "gpu", "half", "overlapping"): ("taps",),
    ("max_pool", "cpu/linux", "float32", "tiled"): ("taps",),
    ("max_pool", "cpu/linux", "float32", "overlapping"): ("taps",),
    ("max_pool", "cpu/linux", "float64", "tiled"): ("taps",),
    ("max_pool", "cpu/linux", "float64", "overlapping"): ("taps",),
    ("max_pool", "cpu/linux", "half", "tiled"): ("taps",),
    ("max_pool", "cpu/linux", "half", "overlapping"): ("taps",),
    ("max_pool", "cpu/macos", "float32", "tiled"): ("taps",),
    ("max_pool", "cpu/macos", "float32", "overlapping"): ("taps",),
    ("max_pool", "cpu/macos", "float64", "tiled"): ("taps",),
    ("max_pool", "cpu/macos", "float64", "overlapping"): ("taps",),
    ("max_pool", "cpu/macos", "half", "tiled"): ("taps",),
    ("max_pool", "cpu/macos", "half", "overlapping"): ("taps",),
}
# where a decision comes from when it was measured (machine, date, load, medians);
# an entry without a note keeps the rule written before any measurement
NOTES: dict[tuple[str, str, str, str], str] = {
    ("conv", "cpu/linux", "float32", "pointwise"): (
        "2026-12-06 x86_64 cpu/linux, load 7: MLX kernels: keep patch (best other: "
        "conv_general 0.22x, taps 0.84x); NumPy set: keep numpy (patch 0.11x) (ms per "
        "case: numpy 0.48, patch 0.46, conv_general 1.92, taps 0.53; numpy 2.68, patch "
        "22.84, conv_general 31.08, taps 21.32)"
    ),
    ("conv", "cpu/linux", "float32", "subsample"): (
        "2026-12-06 x86_64 cpu/linux, load 7: MLX kernels: keep patch (best other: "
        "conv_general 0.34x, taps 0.20x); NumPy set: keep numpy (patch 0.20x) (ms per "
        "case: numpy 0.45, patch 0.23, conv_general 0.40, taps 0.38; numpy 1.28, patch "
        "6.41, conv_general 16.75, taps 8.29)"
    ),
    ("conv", "cpu/linux", "float32", "patchify"): (
        "2026-12-06 x86_64 cpu/linux, load 7: MLX kernels: keep patch (best other: "
        "conv_general 0.32x, taps 0.06x); NumPy set: keep numpy (patch 0.17x) (ms per "
        "case: numpy 1.04, patch 0.38, conv_general 0.61, taps 2.61; numpy 2.06, patch "
        "10.45, conv_general 28.45, taps 12.01)"
    ),
    ("conv", "cpu/linux", "float32", "depthwise"): (
        "2026-12-06 x86_64 cpu/linux, load 7: MLX kernels: keep taps; NumPy set: keep "
        "numpy (taps 0.18x) (ms per case: numpy 1.40, taps 7.92)"
    ),
    ("conv", "cpu/linux", "float32", "grouped"): (
        "2026-12-06 x86_64 cpu/linux, load 7: MLX kernels: keep taps; NumPy set: keep "
        "numpy (taps 0.14x) (ms per case: numpy 1.46, taps 9.22)"
    ),
    ("conv", "cpu/linux", "float32", "dense_small"): (
        "2026-12-06 x86_64 cpu/linux, load 3: MLX kernels: conv_general beats taps by >= "
        "1.70x; NumPy set: keep numpy (conv_general 0.58x) (ms per case: numpy 0.76, "
        "conv_general 0.73, taps 2.77; numpy 0.67, conv_general 0.91, taps 1.92; numpy "
        "0.67, conv_general 0.62, taps 1.57; numpy 1.04, conv_general 1.69, taps 3.05)"
    ),
    ("conv", "cpu/linux", "float32", "dense_large"): (
        "2026-12-06 x86_64 cpu/linux, load 3: MLX kernels: keep taps (best other: "
        "conv_general 0.69x); NumPy set: keep numpy (taps 0.15x) (ms per case: numpy "
        "1.51, conv_general 3.19, taps 4.52; numpy 1.45, conv_general 5.00, taps 5.95; "
        "numpy 2.25, conv_general 13.49, taps 10.77; numpy 7.80, conv_general 56.03, taps"
        " 44.43)"
    ),
    ("conv", "cpu/linux", "float32", "strided"): (
        "2026-12-06 x86_64 cpu/linux, load 7: MLX kernels: keep taps (best other: "
        "conv_general 0.49x); NumPy set: keep numpy (taps 0.10x) (ms per case: numpy "
        "2.67, conv_general 43.13, taps 23.70)"
    ),
    ("max_pool", "cpu/linux", "float32", "tiled"): (
        "2026-12-06 x86_64 cpu/linux, load 7: MLX kernels: keep taps (best other: windows"
        " 0.84x) (ms per case: windows 0.49, taps 0.65; windows 0.47, taps 0.67; windows "
        "9.32, taps 11.03)"
    ),
}
# fmt: on
# END GENERATED TABLE
