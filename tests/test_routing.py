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


def _route(device, dtype, size, k, s=1, p=0, groups=1, cig=8, nd=3, linux=True, monkeypatch=None):
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
    g = R.conv_geometry
    pads0, pads1 = ((0, 0),) * 3, ((1, 1),) * 3
    assert g((8,) * 3, (1,) * 3, (1,) * 3, pads0, (1,) * 3, 1, 8) == "pointwise"
    assert g((8,) * 3, (1,) * 3, (2,) * 3, pads0, (1,) * 3, 1, 8) == "subsample"
    assert g((8,) * 3, (2,) * 3, (2,) * 3, pads0, (1,) * 3, 1, 8) == "patchify"
    assert g((8,) * 3, (1,) * 3, (1,) * 3, pads1, (1,) * 3, 1, 8) == "dense_small"  # padded
    assert g((8,) * 3, (3,) * 3, (1,) * 3, pads1, (1,) * 3, 16, 1) == "depthwise"
    assert g((8,) * 3, (3,) * 3, (1,) * 3, pads1, (1,) * 3, 4, 4) == "grouped"
    assert g((8,) * 3, (3,) * 3, (1,) * 3, pads1, (1,) * 3, 1, 8) == "dense_small"
    assert g((12, 12, 15), (3,) * 3, (1,) * 3, pads1, (1,) * 3, 1, 8) == "dense_large"
    assert g((12, 12, 14), (3,) * 3, (1,) * 3, pads1, (1,) * 3, 1, 8) == "dense_small"  # 2016
    assert g((8,) * 3, (3,) * 3, (2,) * 3, pads1, (1,) * 3, 1, 8) == "strided"
    assert R.dtype_class("bfloat16") == "half" and R.dtype_class("float64") == "float64"
    assert R.pool_geometry(True) == "tiled" and R.pool_geometry(False) == "overlapping"


# (device, dtype, size, kernel, stride, padding, groups, cig, linux) -> route, under each CPU
# kernel set: the decisions the table encodes (issue 21 kept every one it did not measure)
CASES = [
    # numpy kernel set, expected route; mlx kernel set, expected route
    (("cpu", "float32", 8, 3, 1, 1, 1, 8, True), "numpy", "taps"),
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
    key = ("conv", "cpu/linux", "float32", "dense_large")
    rng = np.random.default_rng(0)
    x = lucid.tensor(rng.standard_normal((1, 2, 13, 13, 13)).astype(np.float32), requires_grad=True)
    w = lucid.tensor(rng.standard_normal((3, 2, 3, 3, 3)).astype(np.float32), requires_grad=True)
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
