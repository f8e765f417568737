"""MLX convolution kernels (lucid/_backend/conv.py) against the float64 oracle tests/reference.py,
and the routing decision that picks a kernel set (lucid/_backend/dispatch.py).

A seeded random sweep of small 1D/2D/3D problems checks forward, input gradient and weight
gradient in float32 (relative error <= 1e-4), through the routed functions (with the MLX CPU
kernel set) and through each MLX kernel set (taps, mx.conv_general) where it applies.
Sizes are tiny because MLX on the CPU is slow.
"""

import mlx.core as mx
import numpy as np
import pytest

import lucid._backend as B
from lucid._backend import conv as C, dispatch as D
from tests import reference as ref
from tests.conv_cases import (
    assert_covers_corners,
    config_id as _cid,
    make_configs,
    make_data as _data,
    make_patch_configs,
    rel_err,
)

RTOL = 1e-4


def _rel(got, want):
    """rel_err of an MLX result (half precision read back as float32)."""
    half = got.dtype in (mx.float16, mx.bfloat16)
    return rel_err(np.asarray(got.astype(mx.float32) if half else got), want)


CONFIGS = make_configs(
    150, 20240611, hard_every=5, max_batch=2, extent={1: 7, 2: 7, 3: 4}, max_dense_channels=3
)
PATCH_CONFIGS = make_patch_configs(36, 20261130)


@pytest.fixture(autouse=True)
def mlx_cpu_kernels():
    """The routed functions use the MLX kernel sets on the CPU here, whatever the environment."""
    before = B.cpu_kernels()
    B.set_cpu_kernels("mlx")
    yield
    B.set_cpu_kernels(before)


PUBLIC = "routed"  # the routed functions, as ops call them, for CPU tensors of the run's dtype
TAPS = C.TAPS
CONV_GENERAL = C.CONV_GENERAL
PATCH = C.PATCH


def _run(fns, c, x, w, dy, dtype):
    """Apply a kernel set's (forward, input_grad, weight_grad) to mx arrays of ``dtype``."""
    if fns is PUBLIC:
        fns = B.conv_kernels("cpu", B.dtype_name(dtype))
    f, fi, fw = fns.conv_forward, fns.conv_input_grad, fns.conv_weight_grad
    xm, wm, dym = (mx.array(a, dtype=dtype) for a in (x, w, dy))
    args = (c["stride"], c["padding"], c["dilation"], c["groups"])
    out = (f(xm, wm, *args), fi(dym, wm, c["spatial"], *args), fw(xm, dym, c["kernel"], *args))
    mx.eval(*out)
    return out


def test_sweep_covers_the_required_corners():
    """The sweep has >= 120 configs and hits every corner the contract cares about."""
    assert len(CONFIGS) >= 120
    assert_covers_corners(CONFIGS)


@pytest.mark.parametrize("idx", range(len(CONFIGS)), ids=[_cid(c) for c in CONFIGS])
def test_public_float32_matches_reference(idx):
    """Routed public functions (the device's choice) match the oracle to 1e-4."""
    c = CONFIGS[idx]
    x, w, dy, want = _data(c, idx)
    got = _run(PUBLIC, c, x, w, dy, mx.float32)
    for name, g, r in zip(("forward", "input_grad", "weight_grad"), got, want):
        assert g.dtype == mx.float32
        assert _rel(g, r) <= RTOL, name


@pytest.mark.parametrize("impl", ["taps", "conv_general"])
def test_each_implementation_matches_reference(impl):
    """Both MLX kernel sets on every config they support (conv_general: no grouped 3D)."""
    fns = TAPS if impl == "taps" else CONV_GENERAL
    checked = 0
    for idx, c in enumerate(CONFIGS):
        if impl == "conv_general" and c["groups"] > 1 and len(c["kernel"]) == 3:
            continue
        x, w, dy, want = _data(c, idx)
        got = _run(fns, c, x, w, dy, mx.float32)
        errs = [_rel(g, r) for g, r in zip(got, want)]
        assert max(errs) <= RTOL, (_cid(c), errs)
        checked += 1
    assert checked >= 100


def test_float64_is_exact_to_rounding():
    """float64 works on the CPU (through the tap path: MLX's conv kernels reject float64)."""
    for idx in range(0, len(CONFIGS), 4):
        c = CONFIGS[idx]
        x, w, dy, want = _data(c, idx)
        got = _run(PUBLIC, c, x, w, dy, mx.float64)
        for g, r in zip(got, want):
            assert g.dtype == mx.float64
            assert _rel(g, r) <= 1e-12, _cid(c)


@pytest.mark.parametrize("dtype,tol", [(mx.float16, 5e-3), (mx.bfloat16, 3e-2)])
@pytest.mark.parametrize("impl", ["public", "conv_general"])
def test_half_precision_runs_and_is_close(dtype, tol, impl):
    """float16/bfloat16 keep their dtype and stay close to the oracle (inputs rounded first)."""
    fns = PUBLIC if impl == "public" else CONV_GENERAL
    for idx in range(0, 60, 3):
        c = CONFIGS[idx]
        if impl == "conv_general" and c["groups"] > 1 and len(c["kernel"]) == 3:
            continue
        x, w, dy, _ = _data(c, idx)
        # the oracle sees the same rounded inputs, so only accumulation error is measured
        x, w, dy = (np.array(mx.array(a, dtype=dtype).astype(mx.float32)) for a in (x, w, dy))
        args = (c["stride"], c["padding"], c["dilation"], c["groups"])
        want = (
            ref.conv_forward(x, w, *args),
            ref.conv_input_grad(dy, w, c["spatial"], *args),
            ref.conv_weight_grad(x, dy, c["kernel"], *args),
        )
        got = _run(fns, c, x, w, dy, dtype)
        for g, r in zip(got, want):
            assert g.dtype == dtype
            assert _rel(g, r) <= tol, _cid(c)


def test_batch_chunking_matches_unchunked(monkeypatch):
    """Splitting the batch to bound im2col memory does not change the results."""
    c = dict(
        n=5,
        groups=2,
        cig=2,
        og=3,
        spatial=(5, 4, 6),
        kernel=(3, 2, 3),
        stride=(2, 1, 2),
        dilation=(1, 2, 1),
        padding=((1, 1), (0, 2), (2, 1)),
    )
    x, w, dy, want = _data(c, 7)
    monkeypatch.setattr(C, "_COLS_LIMIT", 300)
    assert len(C._batch_chunks(5, 5 * 4 * 18 * 40)) > 1
    got = _run(TAPS, c, x, w, dy, mx.float32)
    for g, r in zip(got, want):
        assert _rel(g, r) <= RTOL


def test_depthwise_3d_at_layer_width():
    """Depthwise Conv3d(64, 64, 3, groups=64, padding=1), the case MLX rejects, at its real
    channel count (the sweep uses 2-4 groups)."""
    c = dict(
        n=1,
        groups=64,
        cig=1,
        og=1,
        spatial=(3, 4, 4),
        kernel=(3, 3, 3),
        stride=(1, 1, 1),
        dilation=(1, 1, 1),
        padding=((1, 1),) * 3,
    )
    x, w, dy, want = _data(c, 3)
    got = _run(PUBLIC, c, x, w, dy, mx.float32)
    for g, r in zip(got, want):
        assert _rel(g, r) <= RTOL


def _route(device, dtype, nd, groups, kernel=3, stride=1, pad=1, dilation=1):
    return D.conv_route(
        device, dtype, (kernel,) * nd, (stride,) * nd, ((pad, pad),) * nd, (dilation,) * nd, groups
    )


def test_routing_table(monkeypatch):
    """One decision (dispatch.conv_route) picks the kernel set for every call."""
    B.set_cpu_kernels("numpy")
    assert _route("cpu", "float32", 3, 1) == "numpy"
    assert _route("cpu", "float64", 2, 4, kernel=1, pad=0) == "numpy"
    assert _route("cpu", "float16", 3, 1) != "numpy"  # half precision: MLX's
    assert _route("gpu", "float32", 3, 1) != "numpy"
    B.set_cpu_kernels("mlx")
    assert _route("gpu", "float32", 3, 4) == "taps"  # MLX: no grouped 3D conv
    assert _route("cpu", "float64", 2, 1) == "taps"  # MLX's conv rejects float64
    assert _route("gpu", "float32", 3, 1) == "conv_general"
    assert _route("gpu", "bfloat16", 2, 2) == "conv_general"
    # disjoint windows without padding go to matmuls on every device
    for dev in ("cpu", "gpu"):
        assert _route(dev, "float32", 3, 1, kernel=1, pad=0) == "patch"  # 1x1x1
        assert _route(dev, "float32", 3, 4, kernel=1, stride=2, pad=0) == "patch"  # subsample
        assert _route(dev, "float16", 2, 1, kernel=4, stride=4, pad=0) == "patch"  # patchify
        assert _route(dev, "float32", 1, 1, kernel=1, pad=0, dilation=3) == "patch"
    assert _route("gpu", "float32", 3, 1, kernel=1, pad=1) == "conv_general"  # padded
    assert _route("gpu", "float32", 3, 1, kernel=3, stride=2, pad=0) == "conv_general"  # overlap
    assert _route("gpu", "float32", 2, 1, kernel=2, stride=4, pad=0, dilation=2) == "conv_general"
    monkeypatch.setattr(D, "_LINUX_CPU", True)
    assert _route("cpu", "float32", 3, 1) == "taps"
    monkeypatch.setattr(D, "_LINUX_CPU", False)  # macOS: Accelerate's conv
    assert _route("cpu", "float32", 3, 1) == "conv_general"
    for route in ("numpy", "taps", "conv_general", "patch"):
        assert callable(D.kernel_set(route).conv_forward)


def test_patch_sweep_covers_its_cases():
    """1D/2D/3D x dense/grouped/depthwise, 1x1 at stride 1 and above, patchify, kernels narrower
    than the stride, and sizes the stride does not divide (positions no window reads)."""
    cs = PATCH_CONFIGS
    kinds = {
        (
            len(c["kernel"]),
            "dense" if c["groups"] == 1 else "depthwise" if c["cig"] == 1 else "grouped",
        )
        for c in cs
    }
    assert kinds == {(nd, kd) for nd in (1, 2, 3) for kd in ("dense", "grouped", "depthwise")}
    assert any(set(c["kernel"]) == {1} and set(c["stride"]) == {1} for c in cs)
    assert any(
        set(c["kernel"]) == {1} and min(c["stride"]) > 1 and max(c["dilation"]) > 1 for c in cs
    )
    assert any(c["kernel"] == c["stride"] and min(c["kernel"]) > 1 for c in cs)
    assert any(1 < k < s for c in cs for k, s in zip(c["kernel"], c["stride"]))
    assert any((n - k) % s for c in cs for n, k, s in zip(c["spatial"], c["kernel"], c["stride"]))


@pytest.mark.parametrize("idx", range(len(PATCH_CONFIGS)), ids=[_cid(c) for c in PATCH_CONFIGS])
def test_patch_route_matches_reference(idx):
    """1x1x1 (strided too) and patchify convolutions: routed to the patch set, whose forward and
    both gradients match the oracle in float32 and float64."""
    c = PATCH_CONFIGS[idx]
    args = (c["kernel"], c["stride"], c["padding"], c["dilation"], c["groups"])
    assert D.conv_route("cpu", "float32", *args) == "patch"
    x, w, dy, want = _data(c, 1000 + idx)
    for fns in (PUBLIC, PATCH):
        got = _run(fns, c, x, w, dy, mx.float32)
        for name, g, r in zip(("forward", "input_grad", "weight_grad"), got, want):
            assert g.dtype == mx.float32 and _rel(g, r) <= RTOL, name
    for g, r in zip(_run(PUBLIC, c, x, w, dy, mx.float64), want):
        assert g.dtype == mx.float64 and _rel(g, r) <= 1e-12


def test_patch_route_half_precision():
    """float16 in, float16 out, accumulated in float32."""
    for idx in range(0, len(PATCH_CONFIGS), 4):
        c = PATCH_CONFIGS[idx]
        x, w, dy, _ = _data(c, 1000 + idx)
        x, w, dy = (np.array(mx.array(a, dtype=mx.float16).astype(mx.float32)) for a in (x, w, dy))
        args = (c["stride"], c["padding"], c["dilation"], c["groups"])
        want = (
            ref.conv_forward(x, w, *args),
            ref.conv_input_grad(dy, w, c["spatial"], *args),
            ref.conv_weight_grad(x, dy, c["kernel"], *args),
        )
        for g, r in zip(_run(PATCH, c, x, w, dy, mx.float16), want):
            assert g.dtype == mx.float16 and _rel(g, r) <= 5e-3, _cid(c)


def test_cpu_kernel_names(monkeypatch):
    """ "numpy" and "mlx" are the names; "native" (the old name of "numpy") warns once."""
    monkeypatch.setattr(D, "_warned_deprecated", False)
    with pytest.warns(FutureWarning, match="'numpy'"):
        B.set_cpu_kernels("native")
    assert B.cpu_kernels() == "numpy"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        B.set_cpu_kernels("native")  # once per process
        monkeypatch.setenv("LUCID_CPU_KERNELS", " NumPy ")
        assert D._default_cpu_kernels() == "numpy"
    with pytest.raises(ValueError, match="'mlx' or 'numpy'"):
        B.set_cpu_kernels("fast")
    monkeypatch.setenv("LUCID_CPU_KERNELS", "fast")
    with pytest.raises(ValueError, match="LUCID_CPU_KERNELS"):
        D._default_cpu_kernels()
