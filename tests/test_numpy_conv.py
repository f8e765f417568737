"""NumPy/OpenBLAS convolution kernels (lucid/_backend/numpy_conv.py) against the float64
oracle tests/reference.py.

A seeded random sweep of 1D/2D/3D problems (kernels 1-4 incl. even, strides and dilations 1-3,
asymmetric and over-wide padding, dense / 2 groups / depthwise incl. depth multiplier, batch 1
and > 1, strides that leave input positions unread) checks forward, input gradient and weight
gradient in float32 (relative error <= 1e-4) and float64.  Further tests force every chunking
regime, the no-copy paths, layer-width depthwise, and bounded temporary memory.
"""

import tracemalloc

import numpy as np
import pytest

from lucid._backend import numpy_conv as nc
from tests.conv_cases import (
    assert_covers_corners,
    config_id as _cid,
    conv_args as _args,
    make_configs,
    make_data as _data,
    rel_err as _rel,
)

RTOL = 1e-4


CONFIGS = make_configs(
    180, 7_2024, hard_every=4, max_batch=3, extent={1: 12, 2: 8, 3: 5}, max_hard_pad=5
)


def _run(c, x, w, dy, dtype):
    """The three NumPy kernels on ``dtype`` copies of x, w, dy."""
    x, w, dy = (a.astype(dtype) for a in (x, w, dy))
    return (
        nc.conv_forward(x, w, *_args(c)),
        nc.conv_input_grad(dy, w, c["spatial"], *_args(c)),
        nc.conv_weight_grad(x, dy, c["kernel"], *_args(c)),
    )


def _check(c, seed, dtype=np.float32, tol=RTOL):
    x, w, dy, want = _data(c, seed)
    got = _run(c, x, w, dy, dtype)
    for name, g, r in zip(("forward", "input_grad", "weight_grad"), got, want):
        assert g.dtype == dtype, name
        assert _rel(g, r) <= tol, (name, _cid(c), _rel(g, r))


def test_sweep_covers_the_required_corners():
    """The sweep has >= 150 configs and hits every corner the contract cares about."""
    assert len(CONFIGS) >= 150
    assert_covers_corners(CONFIGS)
    # stride and dilation sharing a factor (taps of one phase with a stride > 1)
    assert any(
        s > 1 and d % s == 0 and k > 1
        for c in CONFIGS
        for s, d, k in zip(c["stride"], c["dilation"], c["kernel"])
    )


def test_float32_sweep_matches_reference():
    """Every config, all three kernels, float32, relative error <= 1e-4."""
    for idx, c in enumerate(CONFIGS):
        _check(c, idx)


def test_float64_sweep_is_exact_to_rounding():
    """float64 in, float64 out, agreeing with the oracle to rounding."""
    for idx in range(0, len(CONFIGS), 2):
        _check(CONFIGS[idx], idx, np.float64, 1e-12)


@pytest.mark.parametrize("cols_bytes,grid_bytes", [(1, 1), (3000, 20000), (60000, 10**9)])
def test_every_chunking_regime_gives_the_same_result(monkeypatch, cols_bytes, grid_bytes):
    """Tiny budgets force one-sample batch blocks and segments split into pieces; middling
    ones several segments or samples per chunk."""
    monkeypatch.setattr(nc, "_COLS_BYTES", cols_bytes)
    monkeypatch.setattr(nc, "_GRID_BYTES", grid_bytes)
    for idx in range(0, len(CONFIGS), 5):
        _check(CONFIGS[idx], idx)
    c = dict(
        n=3,
        groups=2,
        cig=3,
        og=2,
        spatial=(6, 9, 11),
        kernel=(3, 2, 3),
        stride=(2, 1, 2),
        dilation=(1, 2, 1),
        padding=((1, 2), (0, 1), (2, 1)),
    )
    _check(c, 99)


@pytest.mark.parametrize("form", ["scatter", "gather"])
def test_both_input_gradient_forms_over_the_sweep(monkeypatch, form):
    """The input gradient's col2im form (groups 1) and its gather form each match the reference
    on every config they can serve, whichever the size rule would pick."""
    calls = []
    if form == "scatter":
        real = nc._input_grad_scatter
        monkeypatch.setattr(
            nc, "_input_grad", lambda dy, w, p, g: calls.append(1) or real(dy, w, p)
        )
    else:
        real = nc._input_grad_gather
        monkeypatch.setattr(nc, "_input_grad", lambda *a: calls.append(1) or real(*a))
    for idx, c in enumerate(CONFIGS):
        if form == "gather" or c["groups"] == 1:
            _check(c, 500 + idx)
    assert len(calls) >= 50


@pytest.mark.parametrize("columns", [0, 10**12])
def test_both_weight_gradient_orientations_over_the_sweep(monkeypatch, columns):
    """The weight gradient accumulated transposed (then transposed once) and in the weight's
    own layout both match the reference."""
    monkeypatch.setattr(nc, "_WGRAD_TRANSPOSED_COLUMNS", columns)
    for idx in range(0, len(CONFIGS), 2):
        _check(CONFIGS[idx], 700 + idx)


def test_layer_sized_problems():
    """Realistic layer shapes (several segments per chunk, multi-chunk samples)."""
    cases = [
        dict(
            n=2,
            groups=1,
            cig=8,
            og=16,
            spatial=(6, 20, 20),
            kernel=(3, 3, 3),
            stride=(1, 1, 1),
            dilation=(1, 1, 1),
            padding=((1, 1),) * 3,
        ),
        dict(
            n=2,
            groups=1,
            cig=8,
            og=8,
            spatial=(8, 16, 16),
            kernel=(3, 3, 3),
            stride=(2, 2, 2),
            dilation=(1, 1, 1),
            padding=((1, 1),) * 3,
        ),
        dict(
            n=2,
            groups=1,
            cig=4,
            og=8,
            spatial=(40, 40),
            kernel=(4, 4),
            stride=(1, 1),
            dilation=(1, 1),
            padding=((1, 2),) * 2,
        ),  # "same", even kernel
        dict(
            n=3,
            groups=1,
            cig=6,
            og=5,
            spatial=(300,),
            kernel=(5,),
            stride=(1,),
            dilation=(2,),
            padding=((4, 4),),
        ),
    ]
    for i, c in enumerate(cases):
        _check(c, 200 + i)


def test_depthwise_3d_at_layer_width():
    """Depthwise Conv3d(64, 64, 3, groups=64, padding=1) and a x2 depth multiplier."""
    for og in (1, 2):
        c = dict(
            n=2,
            groups=64,
            cig=1,
            og=og,
            spatial=(4, 6, 5),
            kernel=(3, 3, 3),
            stride=(1, 1, 1),
            dilation=(1, 1, 1),
            padding=((1, 1),) * 3,
        )
        _check(c, 300 + og)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_no_copy_paths(nd):
    """No padding and stride 1 (the input is the grid) and 1x1 kernels (no output halo)."""
    for k in (1, 2):
        c = dict(
            n=2,
            groups=1,
            cig=3,
            og=4,
            spatial=(5, 6, 4)[:nd],
            kernel=(k,) * nd,
            stride=(1,) * nd,
            dilation=(1,) * nd,
            padding=((0, 0),) * nd,
        )
        _check(c, 400 + k)


def test_unusual_input_layouts():
    """Non-contiguous and read-only inputs are accepted and not modified."""
    c = dict(
        n=2,
        groups=2,
        cig=2,
        og=3,
        spatial=(5, 6, 7),
        kernel=(3, 3, 3),
        stride=(1, 1, 1),
        dilation=(1, 1, 1),
        padding=((0, 0),) * 3,
    )
    x, w, dy, want = _data(c, 500)
    xs = np.asfortranarray(x.astype(np.float32))
    ws = w.astype(np.float32)[:, :, ::-1][:, :, ::-1]  # negative strides, same values
    dys = np.asfortranarray(dy.astype(np.float32))
    for a in (xs, ws, dys):
        a.flags.writeable = False
    got = (
        nc.conv_forward(xs, ws, *_args(c)),
        nc.conv_input_grad(dys, ws, c["spatial"], *_args(c)),
        nc.conv_weight_grad(xs, dys, c["kernel"], *_args(c)),
    )
    for g, r in zip(got, want):
        assert g.flags.c_contiguous and g.dtype == np.float32
        assert _rel(g, r) <= RTOL


def _same_up_to_rounding(a, b, rtol=1e-5):
    """Equal within float32 rounding of differently ordered sums: max |a - b| <= rtol * max |b|
    (rounding differences are ~1e-7 of the output's scale)."""
    return a.shape == b.shape and float(np.abs(a - b).max()) <= rtol * float(np.abs(b).max())


def test_temporary_memory_is_bounded(monkeypatch):
    """Peak extra memory stays at O(input + output) plus one im2col block, and batch blocking
    caps it further (a 30-sample batch with a 1-sample grid budget)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 4, 8, 16, 16), dtype=np.float32)
    w = rng.standard_normal((8, 4, 3, 3, 3), dtype=np.float32)
    args = ((1, 1, 1), ((1, 1),) * 3, (1, 1, 1), 1)
    nc.conv_forward(x, w, *args)  # warm the scratch buffer
    ybytes = 30 * 8 * 8 * 16 * 16 * 4
    tracemalloc.start()
    y = nc.conv_forward(x, w, *args)
    peak_full = tracemalloc.get_traced_memory()[1] - ybytes
    tracemalloc.stop()
    monkeypatch.setattr(nc, "_GRID_BYTES", 1)
    tracemalloc.start()
    y2 = nc.conv_forward(x, w, *args)
    peak_small = tracemalloc.get_traced_memory()[1] - ybytes
    tracemalloc.stop()
    # different batch blocks mean different GEMM shapes, so OpenBLAS may block and thread the
    # sums differently: equal up to float32 rounding, not bit for bit
    assert _same_up_to_rounding(y, y2)
    wrong = y2.copy()
    wrong.flat[12345] += 1e-3 * np.abs(y2).max()  # a real error of 0.1% of the scale...
    assert not _same_up_to_rounding(y, wrong)  # ...is caught
    assert peak_full < 2.5 * (x.nbytes + ybytes)
    assert peak_small < 0.2 * (x.nbytes + ybytes)


def test_depth_blocks_for_samples_bigger_than_the_grid_budget(monkeypatch):
    """A sample over the grid budget is cut along the first spatial dim (overlapping input
    halos, blocks that only see padding); results do not change."""
    monkeypatch.setattr(nc, "_GRID_BYTES", 300)
    cases = [
        dict(
            n=2,
            groups=1,
            cig=3,
            og=2,
            spatial=(9, 5, 6),
            kernel=(3, 2, 3),
            stride=(2, 1, 1),
            dilation=(2, 1, 1),
            padding=((3, 1), (1, 0), (1, 1)),
        ),
        dict(
            n=1,
            groups=2,
            cig=2,
            og=2,
            spatial=(4, 5),
            kernel=(1, 3),
            stride=(1, 2),
            dilation=(1, 1),
            padding=((5, 3), (1, 1)),
        ),  # rows of pure padding
    ]
    for i, c in enumerate(cases):
        plan = nc._Plan(c["spatial"], c["kernel"], c["stride"], c["padding"], c["dilation"])
        blocks = nc._depth_blocks(plan, c["groups"] * c["cig"], c["groups"] * c["og"], 4)
        assert blocks is not None and len(blocks) > 1
        assert (i == 1) == any(sub is None for _, _, sub in blocks)
        _check(c, 600 + i)


def test_threaded_chunks_give_the_same_bits_as_one_thread(monkeypatch):
    """The chunk pool changes who computes a chunk, not the result: forward, input and weight
    gradients are bit-identical to a run with no pool (weight-gradient chunks are summed in
    chunk order)."""
    from lucid._backend import blas_threads as bt

    blas = bt.openblas()
    if blas is None or blas.get() < 2:
        pytest.skip("no controllable OpenBLAS with 2+ threads: the chunk pool never runs here")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 8, 6, 20, 20), dtype=np.float32)
    w = rng.standard_normal((16, 8, 3, 3, 3), dtype=np.float32)
    args = ((1, 1, 1), ((1, 1),) * 3, (1, 1, 1), 1)
    monkeypatch.setattr(nc, "_COLS_BYTES", 60000)  # many chunks
    y = nc.conv_forward(x, w, *args)
    dy = rng.standard_normal(y.shape, dtype=np.float32)

    def three():
        return (
            nc.conv_forward(x, w, *args),
            nc.conv_input_grad(dy, w, x.shape[2:], *args),
            nc.conv_weight_grad(x, dy, (3, 3, 3), *args),
        )

    workers = set()
    real = bt._in_worker
    monkeypatch.setattr(bt, "_in_worker", lambda fn, item: workers.add(1) or real(fn, item))
    threaded = three()
    assert workers  # the pool did run chunks
    monkeypatch.setattr(bt, "CHUNK_POOL", False)
    serial = three()
    for a, b in zip(threaded, serial):
        assert np.array_equal(a, b)
