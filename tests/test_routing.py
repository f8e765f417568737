"""The kernel routing table (lucid/_backend/routing.py): complete, consulted by dispatch, and
reproducing the decisions it encodes for representative geometries."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

import lucid
import lucid._backend as B
import lucid.nn.functional as F
from lucid._backend import dispatch as D, routing as R

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture(autouse=True)
def _restore_kernels():
    before = B.cpu_kernels()
    yield
    B.set_cpu_kernels(before)


def _route(device, dtype, size, k, s=1, p=0, groups=1, cig=8, linux=True, monkeypatch=None):
    nd = 3
    monkeypatch.setattr(D, "_LINUX_CPU", linux)
    return D.conv_route(
        device,
        dtype,
        (k,) * nd,
        (s,) * nd,
        ((p, p),) * nd,
        (1,) * nd,
        groups,
        in_spatial=(size,) * nd,
        cig=cig,
        c_out=cig * groups,
    )


def test_table_is_complete_and_well_formed():
    keys = {
        (op, kind, dt, geo)
        for op, geos in (("conv", R.CONV_GEOMETRIES), ("max_pool", R.POOL_GEOMETRIES))
        for kind in R.DEVICE_KINDS
        for dt in R.DTYPE_CLASSES
        for geo in geos
    }
    assert set(R.TABLE) == keys
    for (op, *_), rank in R.TABLE.items():
        names = R.CONV_KERNELS if op == "conv" else R.POOL_KERNELS
        assert rank and set(rank) <= set(names) and len(set(rank)) == len(rank)
        assert rank[-1] == "taps"  # the kernel that serves anything closes every entry
    assert set(R.NOTES) <= keys


def test_geometry_classes():
    def g(size, k, s, pads, groups, cig, c_out=8):
        return R.conv_geometry(size, (k,) * 3, (s,) * 3, (pads,) * 3, (1,) * 3, groups, cig, c_out)

    assert g((8,) * 3, 1, 1, (0, 0), 1, 8) == "pointwise"
    assert g((8,) * 3, 1, 2, (0, 0), 1, 8) == "subsample"
    assert g((8,) * 3, 2, 2, (0, 0), 1, 8) == "patchify"
    assert g((8,) * 3, 3, 1, (1, 1), 16, 1) == "depthwise"
    assert g((8,) * 3, 3, 1, (1, 1), 4, 4) == "grouped"
    assert g((8,) * 3, 3, 2, (1, 1), 1, 8) == "strided"
    assert g((8,) * 3, 1, 1, (1, 1), 1, 8) == "dense_small"  # padded 1x1x1: not disjoint
    # dense by multiply-adds per sample: positions x C_in x C_out x taps <= 2^18
    assert g((8,) * 3, 3, 1, (1, 1), 1, 1, c_out=8) == "dense_small"  # 110k
    assert g((6, 6, 6), 3, 1, (1, 1), 1, 4, c_out=11) == "dense_small"  # 256,608
    assert g((6, 6, 7), 3, 1, (1, 1), 1, 4, c_out=11) == "dense_large"  # 299,376
    assert g((8,) * 3, 3, 1, (1, 1), 1, 2, c_out=16) == "dense_large"  # 442k
    assert R.dtype_class("bfloat16") == "half" and R.dtype_class("float64") == "float64"
    assert R.pool_geometry(True) == "tiled" and R.pool_geometry(False) == "overlapping"


# (device, dtype, size, kernel, stride, padding, groups, cig, linux) -> route, under each CPU
# kernel set: the decisions the table encodes (issue 21 kept every one it did not measure and
# changed one, marked)
CASES = [
    # numpy kernel set, expected route; mlx kernel set, expected route
    (("cpu", "float32", 8, 3, 1, 1, 1, 8, True), "numpy", "taps"),  # 885k multiply-adds
    # measured (issue 21): small dense convolutions on MLX's Linux CPU go to MLX's conv
    (("cpu", "float32", 4, 3, 1, 1, 1, 8, True), "numpy", "conv_general"),  # 110k
    (("cpu", "float64", 4, 3, 1, 1, 1, 8, True), "numpy", "taps"),  # MLX's conv: no float64
    (("cpu", "float16", 4, 3, 1, 1, 1, 8, True), "taps", "taps"),  # half: not measured
    (("cpu", "float32", 16, 3, 1, 1, 1, 8, True), "numpy", "taps"),
    (("cpu", "float32", 16, 3, 2, 1, 1, 8, True), "numpy", "taps"),
    (("cpu", "float32", 8, 1, 1, 0, 1, 8, True), "numpy", "patch"),
    (("cpu", "float32", 8, 1, 2, 0, 1, 8, True), "numpy", "patch"),
    (("cpu", "float32", 8, 2, 2, 0, 1, 8, True), "numpy", "patch"),
    (("cpu", "float32", 8, 3, 1, 1, 16, 1, True), "numpy", "taps"),
    (("cpu", "float32", 8, 3, 1, 1, 4, 4, True), "numpy", "taps"),
    (("cpu", "float64", 8, 3, 1, 1, 1, 8, True), "numpy", "taps"),
    (("cpu", "float16", 8, 3, 1, 1, 1, 8, True), "taps", "taps"),
    (("cpu", "float16", 8, 1, 1, 0, 1, 8, True), "patch", "patch"),
    (("cpu", "float32", 16, 3, 1, 1, 1, 8, False), "numpy", "conv_general"),  # macOS
    (("cpu", "float32", 16, 3, 1, 1, 4, 4, False), "numpy", "taps"),  # no grouped 3D conv
    (("gpu", "float32", 16, 3, 1, 1, 1, 8, True), "conv_general", "conv_general"),
    (("gpu", "float32", 8, 3, 1, 1, 1, 8, True), "conv_general", "conv_general"),
    (("gpu", "bfloat16", 16, 3, 2, 1, 1, 8, True), "conv_general", "conv_general"),
    (("gpu", "float64", 16, 3, 1, 1, 1, 8, True), "taps", "taps"),
    (("gpu", "float32", 16, 3, 1, 1, 16, 1, True), "taps", "taps"),
    (("gpu", "float32", 16, 1, 1, 0, 1, 8, True), "patch", "patch"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c[0])))
def test_representative_geometries(case, monkeypatch):
    (dev, dt, size, k, s, p, g, cig, linux), want_numpy, want_mlx = case
    for kset, want in (("numpy", want_numpy), ("mlx", want_mlx)):
        B.set_cpu_kernels(kset)
        got = _route(dev, dt, size, k, s, p, g, cig, linux=linux, monkeypatch=monkeypatch)
        assert got == want, kset


def test_the_table_decides(monkeypatch):
    """Editing an entry changes the route, and a kernel that cannot serve the call is skipped."""
    B.set_cpu_kernels("mlx")
    key = ("conv", "cpu/linux", "float32", "dense_large")
    monkeypatch.setitem(R.TABLE, key, ("conv_general", "taps"))
    assert _route("cpu", "float32", 16, 3, p=1, monkeypatch=monkeypatch) == "conv_general"
    monkeypatch.setitem(R.TABLE, key, ("patch", "taps"))  # overlapping windows: not patch
    assert _route("cpu", "float32", 16, 3, p=1, monkeypatch=monkeypatch) == "taps"
    monkeypatch.setitem(R.TABLE, ("max_pool", "cpu/linux", "float32", "tiled"), ("taps",))
    monkeypatch.setattr(D, "_LINUX_CPU", True)
    assert D.pool_route("max_pool", "cpu", "float32", True) == "taps"
    monkeypatch.setitem(R.TABLE, ("max_pool", "cpu/linux", "float32", "tiled"), ("windows", "taps"))
    assert D.pool_route("max_pool", "cpu", "float32", True) == "windows"
    assert D.pool_route("max_pool", "cpu", "float32", False) == "taps"


def test_a_call_runs_the_routed_kernel(monkeypatch):
    """F.conv3d's three kernels go where the table says (a spy on the kernel sets)."""
    B.set_cpu_kernels("mlx")
    monkeypatch.setattr(D, "_LINUX_CPU", True)
    seen = []
    real = D.kernel_set

    def spy(route):
        seen.append(route)
        return real(route)

    monkeypatch.setattr(D, "kernel_set", spy)
    key = ("conv", "cpu/linux", "float32", "dense_large")  # 13^3 x 2 x 16 x 27: 1.9M
    rng = np.random.default_rng(0)
    x = lucid.tensor(rng.standard_normal((1, 2, 13, 13, 13)).astype(np.float32), requires_grad=True)
    w = lucid.tensor(rng.standard_normal((16, 2, 3, 3, 3)).astype(np.float32), requires_grad=True)
    grads = []
    for rank in (("taps",), ("conv_general", "taps")):
        monkeypatch.setitem(R.TABLE, key, rank)
        seen.clear()
        x.grad = w.grad = None
        F.conv3d(x, w, padding=1).sum().backward()
        assert seen == [rank[0]] * 3
        grads.append((x.grad.numpy(), w.grad.numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_env_override_still_chooses_the_kernel_set(monkeypatch):
    """LUCID_CPU_KERNELS picks the CPU kernel set the table's rankings are read under."""
    monkeypatch.setattr(D, "_choice", None)
    monkeypatch.setenv("LUCID_CPU_KERNELS", "numpy")
    assert _route("cpu", "float32", 16, 3, p=1, monkeypatch=monkeypatch) == "numpy"
    monkeypatch.setattr(D, "_choice", None)
    monkeypatch.setenv("LUCID_CPU_KERNELS", "mlx")
    assert _route("cpu", "float32", 16, 3, p=1, monkeypatch=monkeypatch) == "taps"
    monkeypatch.setattr(D, "_choice", None)
    monkeypatch.setenv("LUCID_CPU_KERNELS", "fast")
    with pytest.raises(ValueError, match="'mlx' or 'numpy'"):
        B.cpu_kernels()
    monkeypatch.setattr(D, "_choice", None)


def test_the_benchmark_regenerates_the_same_file(tmp_path):
    """route_table.py's writer reproduces routing.py's block exactly (so --write only changes
    the decisions it measured)."""
    spec = importlib.util.spec_from_file_location(
        "route_table", os.path.join(ROOT, "benchmarks", "route_table.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    src = os.path.join(ROOT, "lucid", "_backend", "routing.py")
    copy = tmp_path / "routing.py"
    with open(src) as f:
        text = f.read()
    copy.write_text(text)
    mod.write_table(R.TABLE, R.NOTES, path=str(copy))
    assert copy.read_text() == text
    changed = dict(R.TABLE)
    key = ("conv", "gpu", "float32", "strided")
    changed[key] = ("taps",)
    mod.write_table(changed, {key: "a note"}, path=str(copy))
    ns = {}
    exec(compile(copy.read_text(), "routing.py", "exec"), ns)
    assert ns["TABLE"][key] == ("taps",) and ns["NOTES"] == {key: "a note"}
    assert {k: v for k, v in ns["TABLE"].items() if k != key} == {
        k: v for k, v in R.TABLE.items() if k != key
    }


def _np_max_pool(x, k):
    """Reference: max over non-overlapping k-windows of the last len(k) axes (floor mode) and
    the gradient of sum(y * g) (to the first maximum in row-major window order, a NaN first)."""
    n = len(k)
    out = tuple(s // kk for s, kk in zip(x.shape[-n:], k))
    lead = x.shape[:-n]
    y = np.empty(lead + out, x.dtype)
    first = np.zeros(x.shape, bool)
    for li in np.ndindex(*lead):
        for o in np.ndindex(*out):
            sl = li + tuple(slice(oi * kk, oi * kk + kk) for oi, kk in zip(o, k))
            win = x[sl].reshape(-1)
            nan = np.isnan(win)
            i = int(np.argmax(nan)) if nan.any() else int(np.argmax(win))
            y[li + o] = win[i]
            mask = np.zeros(win.size, bool)
            mask[i] = True
            first[sl] = mask.reshape(x[sl].shape)
    return y, first


@pytest.mark.parametrize(
    "shape,k",
    [
        ((2, 3, 4, 6, 4), (2, 2, 2)),
        ((2, 2, 5, 7, 6), (2, 3, 2)),
        ((3, 6, 9), (3, 3)),
        ((2, 7), (2,)),
    ],
)
def test_max_pool_windows_kernel(shape, k, monkeypatch):
    """The "windows" max-pool kernel (tiled windows): values, the first-maximum gradient with
    ties and NaN, returned indices, and the same results as the taps kernel."""
    from lucid.ops import pool as P

    rng = np.random.default_rng(len(shape))
    x = rng.integers(0, 3, shape).astype(np.float32)  # many ties
    x.flat[3] = np.nan
    n = len(k)
    want_y, first = _np_max_pool(x, k)
    g = rng.standard_normal(want_y.shape).astype(np.float32)
    want_dx = np.zeros(shape, np.float32)
    for idx in zip(*np.nonzero(first)):
        o = idx[:-n] + tuple(i // kk for i, kk in zip(idx[-n:], k))
        if all(oi < s for oi, s in zip(o[-n:], want_y.shape[-n:])):
            want_dx[idx] = g[o]
    results = []
    ran = []
    real = P._max_pool_windows
    monkeypatch.setattr(P, "_max_pool_windows", lambda *a: ran.append(1) or real(*a))
    for route in ("windows", "taps"):
        keys = [("max_pool", kind, "float32", "tiled") for kind in R.DEVICE_KINDS]
        for key in keys:
            monkeypatch.setitem(R.TABLE, key, (route, "taps") if route == "windows" else ("taps",))
        assert D.pool_route("max_pool", "cpu", "float32", True) == route
        xt = lucid.tensor(x, requires_grad=True)
        y, ind = P.max_pool(xt, n, k, return_indices=True)
        y.backward(lucid.tensor(g))
        np.testing.assert_array_equal(y.numpy(), want_y)
        np.testing.assert_array_equal(xt.grad.numpy(), want_dx)
        # second order: the backward's adjoint (the max's linear part) per kernel
        x2 = lucid.tensor(np.nan_to_num(x), requires_grad=True)
        (gx,) = lucid.autograd.grad((P.max_pool(x2, n, k) ** 2).sum(), [x2], create_graph=True)
        (gg,) = lucid.autograd.grad((gx * gx).sum(), [x2])
        results.append((y.numpy(), xt.grad.numpy(), ind.numpy(), gg.numpy()))
    assert len(ran) == 2  # the windows kernel served the first pass (forward, then grad^2)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
