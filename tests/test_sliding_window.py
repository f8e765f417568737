"""lucid.inference.sliding_window_inference: against MONAI's (windows, blending weights, padding,
zoomed and structured outputs), and on its own (exact identity, window placement, compile
traces, autocast, no_grad, memory, argument errors)."""

import itertools
import logging

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as LF
from lucid.inference import sliding_window_inference

RTOL, ATOL = 1e-5, 1e-6  # float32 sums of a few windows in another order


def lucid_predictor(w):
    """A nonlinear predictor whose output depends on the whole window (its mean), so misplaced
    windows or wrong weights change the blended result."""
    return lucid.tanh(2 * (w - w.mean())) + 0.5 * w


def lucid_structured(w):
    """Three outputs: 2 channels at the window's size, one at half size, keyed as in MONAI's
    sorted order (MONAI 1.6 needs the window-sized output before the zoomed one)."""
    c = lucid_predictor(w)
    pool = getattr(LF, f"avg_pool{w.ndim - 2}d")(c, 2)
    return {"a": lucid.cat([c, c * c], 1), "b": pool}


def lucid_upsampled(w):
    return LF.interpolate(lucid_predictor(w), scale_factor=2, mode="nearest")


def run_both(x, roi, sw, lucid_fn, **kw):
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("torch.nn.functional")
    inferers = pytest.importorskip("monai.inferers")

    def torch_predictor(w):
        return torch.tanh(2 * (w - w.mean())) + 0.5 * w

    def torch_structured(w):
        c = torch_predictor(w)
        pool = getattr(tf, f"avg_pool{w.ndim - 2}d")(c, 2)
        return {"a": torch.cat([c, c * c], 1), "b": pool}

    def torch_upsampled(w):
        return tf.interpolate(torch_predictor(w), scale_factor=2, mode="nearest")

    torch_fn = {
        lucid_predictor: torch_predictor,
        lucid_structured: torch_structured,
        lucid_upsampled: torch_upsampled,
    }[lucid_fn]
    ours = sliding_window_inference(lucid.tensor(x), roi, sw, lucid_fn, **kw)
    theirs = inferers.sliding_window_inference(torch.tensor(x), roi, sw, torch_fn, **kw)
    return ours, theirs


def assert_same(ours, theirs):
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs)
        pairs = [(ours[k], theirs[k]) for k in theirs]
    elif isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        pairs = list(zip(ours, theirs))
    else:
        pairs = [(ours, theirs)]
    for a, b in pairs:
        assert isinstance(a, lucid.Tensor) and tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=RTOL, atol=ATOL)


CASES = [  # (input shape, roi, overlap, sw_batch_size)
    ((2, 1, 20, 17, 13), (8, 8, 8), 0.25, 3),
    ((1, 2, 19, 16, 11), (7, 9, 5), 0.5, 4),  # anisotropic, odd sizes
    ((1, 1, 16, 12, 9), (16, -1, None), 0.3, 1),  # whole dims
    ((1, 1, 14, 10, 9), 6, 0.0, 5),  # no overlap: windows abut, the last one moved back
    ((1, 1, 12, 12, 12), 5, 0.9, 16),  # stride int(5 * 0.1) = 0 -> 1
    ((2, 3, 21, 18), (8, 6), (0.5, 0.25), 3),  # 2D, overlap per dim
    ((1, 2, 30), (8,), 0.25, 2),  # 1D
]


@pytest.mark.parametrize("mode", ["constant", "gaussian"])
@pytest.mark.parametrize("shape,roi,overlap,sw", CASES)
def test_matches_monai(shape, roi, overlap, sw, mode):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ours, theirs = run_both(x, roi, sw, lucid_predictor, overlap=overlap, mode=mode)
    assert_same(ours, theirs)


def test_the_comparison_can_fail():
    # constant and gaussian blending differ far beyond the tolerance, so a wrong weight map
    # (or a wrong window grid) cannot pass the comparisons above
    x = np.random.default_rng(0).standard_normal((1, 1, 20, 17, 13)).astype(np.float32)
    a = sliding_window_inference(lucid.tensor(x), 8, 4, lucid_predictor, mode="constant")
    b = sliding_window_inference(lucid.tensor(x), 8, 4, lucid_predictor, mode="gaussian")
    assert np.abs(a.numpy() - b.numpy()).max() > 100 * ATOL


@pytest.mark.parametrize("mode", ["constant", "gaussian"])
@pytest.mark.parametrize(
    "padding_mode,cval", [("constant", 0.0), ("constant", 1.5), ("reflect", 0.0),
                          ("replicate", 0.0), ("circular", 0.0)]
)  # fmt: skip
def test_roi_larger_than_input_pads_and_crops_as_monai(padding_mode, cval, mode):
    x = np.random.default_rng(1).standard_normal((2, 1, 6, 14, 5)).astype(np.float32)
    kw = dict(overlap=0.25, mode=mode, padding_mode=padding_mode, cval=cval)
    ours, theirs = run_both(x, (8, 8, 7), 3, lucid_predictor, **kw)
    assert tuple(ours.shape) == x.shape
    assert_same(ours, theirs)


@pytest.mark.parametrize("mode", ["constant", "gaussian"])
@pytest.mark.parametrize(
    "shape,roi", [((1, 1, 12, 14, 10), (8, 8, 4)), ((1, 1, 6, 14, 10), (8, 8, 4)),
                  ((2, 2, 20, 18), (8, 6)), ((1, 2, 30), (8,))]
)  # fmt: skip
def test_dict_and_zoomed_outputs_match_monai(shape, roi, mode):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    ours, theirs = run_both(x, roi, 2, lucid_structured, overlap=0.25, mode=mode)
    assert ours["a"].shape[1] == 2 * shape[1] and ours["b"].shape[1] == shape[1]
    assert_same(ours, theirs)
    ours, theirs = run_both(x, roi, 3, lucid_upsampled, overlap=0.25, mode=mode)
    assert tuple(ours.shape[2:]) == tuple(2 * s for s in shape[2:])
    assert_same(ours, theirs)


def test_tuple_outputs_match_monai():
    torch = pytest.importorskip("torch")
    inferers = pytest.importorskip("monai.inferers")
    x = np.random.default_rng(3).standard_normal((1, 1, 13, 11, 9)).astype(np.float32)

    def ours_fn(w):
        c = lucid_predictor(w)
        return (c, lucid.cat([c, -c, c * c], 1))

    def theirs_fn(w):
        c = torch.tanh(2 * (w - w.mean())) + 0.5 * w
        return (c, torch.cat([c, -c, c * c], 1))

    ours = sliding_window_inference(lucid.tensor(x), 6, 2, ours_fn, mode="gaussian")
    theirs = inferers.sliding_window_inference(torch.tensor(x), 6, 2, theirs_fn, mode="gaussian")
    assert_same(ours, theirs)
    # a 1-tuple gives its tensor, as MONAI
    one = sliding_window_inference(lucid.tensor(x), 6, 2, lambda w: (lucid_predictor(w),))
    assert isinstance(one, lucid.Tensor) and tuple(one.shape) == x.shape


# --- without MONAI ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["constant", "gaussian"])
def test_identity_predictor_returns_the_input(mode):
    x = lucid.randn(2, 3, 17, 12, 9)
    # windows that abut: every voxel is one window's value times its weight over that weight
    # (exactly the input with weights 1; gaussian weights round x * w / w)
    y = sliding_window_inference(x, (17, 6, 3), 3, lambda w: w, overlap=0.0, mode=mode)
    if mode == "constant":
        assert np.array_equal(y.numpy(), x.numpy())
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=2e-7, atol=0)
    # overlapping windows: a weighted mean of equal values (to rounding)
    y = sliding_window_inference(x, (8, 5, 4), 4, lambda w: w, overlap=0.6, mode=mode)
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-6, atol=1e-6)
    y = sliding_window_inference(x, (20, 14, 4), 2, lambda w: w, mode=mode)  # padded
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-6, atol=1e-6)


def test_windows_cover_the_volume_on_the_scan_grid():
    # the input's voxels hold their own coordinates, so each window tells where it starts
    d, h = 23, 10
    grid = np.stack(np.meshgrid(np.arange(d), np.arange(h), indexing="ij")).astype(np.float32)
    x = lucid.tensor(np.concatenate([grid[None], grid[None] + 100]))  # (2, 2, 23, 10)
    seen, sizes = [], []

    def predictor(w):
        sizes.append(w.shape[0])
        seen.extend(tuple(int(v) for v in w[i, :, 0, 0].numpy()) for i in range(w.shape[0]))
        return w

    sliding_window_inference(x, np.array([8, 10]), 3, predictor, overlap=np.float32(0.25))
    # stride int(8 * 0.75) = 6 along D: 0, 6, 12, then 18 -> 15 (ends at the edge); H is whole
    starts = [(s, 0) for s in (0, 6, 12, 15)]
    assert seen == starts + [(s + 100, t + 100) for s, t in starts]  # image 0, then image 1
    assert sizes == [3, 3, 2]  # windows of both images share batches


def test_windows_are_counted_in_3d():
    count = []
    x = lucid.zeros(1, 1, 96, 96, 96)
    sliding_window_inference(x, 32, 4, lambda w: (count.append(w.shape[0]), w)[1])
    assert sum(count) == 4**3 and set(count) == {4}  # starts 0, 24, 48, 64 per dim


def test_gaussian_weights_favour_window_centres():
    # two windows disagree on their overlap: gaussian blending trusts each near its centre
    x = lucid.zeros(1, 1, 12)

    def predictor(w):
        return lucid.ones(w.shape) * lucid.tensor([0.0, 1.0]).reshape(2, 1, 1)[: w.shape[0]]

    y = sliding_window_inference(x, 8, 2, predictor, overlap=0.5, mode="gaussian").numpy()[0, 0]
    assert y[4] < 0.5 < y[7] and np.all(np.diff(y[4:8]) > 0)
    c = sliding_window_inference(x, 8, 2, predictor, overlap=0.5).numpy()[0, 0]
    np.testing.assert_array_equal(c[4:8], 0.5)


def test_compiled_predictor_traces_once_per_window_batch_shape():
    net = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 2, 3, padding=1))
    net.eval()
    compiled = lucid.compile(net)
    calls = []

    def predictor(w):
        calls.append(w.shape[0])
        return compiled(w)

    x = lucid.randn(1, 1, 28, 28, 28)  # roi 12, stride 9: starts 0, 9, 16 -> 27 windows
    y = sliding_window_inference(x, 12, 4, predictor, mode="gaussian")
    assert calls == [4] * 6 + [3] and compiled.traces == 2
    y2 = sliding_window_inference(x, 12, 4, predictor, mode="gaussian")
    assert compiled.traces == 2 and not compiled.eager  # both shapes reused
    eager = sliding_window_inference(x, 12, 4, net, mode="gaussian")
    np.testing.assert_allclose(y.numpy(), eager.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y.numpy(), y2.numpy())


def test_runs_under_autocast_and_without_grad():
    net = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 2, 3, padding=1))
    net.eval()
    x = lucid.randn(1, 1, 20, 20, 20, requires_grad=True)
    ref = sliding_window_inference(x, 8, 4, net, mode="gaussian")
    assert not ref.requires_grad and ref.dtype == lucid.float32
    dtypes = []

    def predictor(w):
        out = net(w)
        dtypes.append(out.dtype)
        return out

    with lucid.autocast("cpu", dtype=lucid.bfloat16):
        half = sliding_window_inference(x, 8, 4, predictor, mode="gaussian")
    assert set(dtypes) == {lucid.bfloat16} and half.dtype == lucid.float32
    scale = np.abs(ref.numpy()).max()
    np.testing.assert_allclose(half.numpy(), ref.numpy(), atol=0.03 * scale)
    assert not np.array_equal(half.numpy(), ref.numpy())
    grad_modes = []
    sliding_window_inference(x, 8, 4, lambda w: (grad_modes.append(lucid.is_grad_enabled()), w)[1])
    assert grad_modes and not any(grad_modes) and lucid.is_grad_enabled()


def test_integer_and_half_inputs():
    x = lucid.arange(2 * 10 * 7).reshape(1, 2, 10, 7)
    y = sliding_window_inference(x, 4, 3, lambda w: w, overlap=0.5)
    assert y.dtype == lucid.float32
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-6)
    h = sliding_window_inference(x.half(), 4, 3, lambda w: w, mode="gaussian")
    assert h.dtype == lucid.float16
    np.testing.assert_allclose(h.numpy(), x.numpy(), rtol=2e-3)


def test_predictor_arguments_are_passed_on():
    x = lucid.randn(1, 1, 9, 9)
    y = sliding_window_inference(x, 4, 2, lambda w, a, scale=1: w * a * scale, 0.25, "constant",
                                 0.125, "constant", 0.0, False, 2.0, scale=3)  # fmt: skip
    np.testing.assert_allclose(y.numpy(), 6 * x.numpy(), rtol=1e-6)


def test_peak_memory_is_output_weights_and_one_batch():
    x = lucid.randn(1, 1, 48, 48, 48)
    x.numpy()
    sliding_window_inference(x, 16, 2, lambda w: w)  # warm up: the kernels' own allocations
    lucid.memory.reset_peak()
    base = lucid.memory.active()
    y = sliding_window_inference(x, 16, 2, lambda w: w)
    y.numpy()
    peak = lucid.memory.peak() - base
    if lucid.memory.peak() == 0:
        pytest.skip("MLX reports no peak memory here")
    size = 48**3 * 4
    # output + weight map (one input size each) + a 2-window batch of 16^3 (its input, output
    # and weighted copy: 3 * 2 * 16^3 * 4 = 2/9 of the input); a copy of the output per window
    # would add another input size
    assert 2 * size <= peak < 2.5 * size, peak / size


def test_progress_falls_back_to_logging_without_tqdm(monkeypatch, caplog):
    import importlib

    real = importlib.import_module

    def no_tqdm(name, *a):
        if name == "tqdm":
            raise ImportError("no tqdm")
        return real(name, *a)

    monkeypatch.setattr(importlib, "import_module", no_tqdm)
    with caplog.at_level(logging.INFO, logger="lucid.inference.sliding_window"):
        sliding_window_inference(lucid.zeros(1, 1, 10), 4, 2, lambda w: w, progress=True)
    assert [r.getMessage() for r in caplog.records][-1].endswith("window batch 2/2 done")


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(inputs=np.zeros((1, 1, 8))), TypeError, "lucid Tensor"),
        (dict(inputs=lucid.zeros(1, 8)), ValueError, r"\(N, C, \*spatial\)"),
        (dict(inputs=lucid.zeros(0, 1, 8)), ValueError, "non-empty"),
        (dict(roi_size=(4, 4)), ValueError, "roi_size has 2 entries but inputs have 3"),
        (dict(roi_size=(4, 4.5, 4)), TypeError, "ints or None"),
        (dict(roi_size="4"), TypeError, "roi_size"),
        (dict(sw_batch_size=0), ValueError, "sw_batch_size must be an int >= 1"),
        (dict(sw_batch_size=2.0), ValueError, "sw_batch_size"),
        (dict(overlap=1.0), ValueError, r"overlap must be in \[0, 1\)"),
        (dict(overlap=-0.1), ValueError, "overlap"),
        (dict(overlap=(0.1, 0.2)), ValueError, "one value per spatial dim"),
        (dict(mode="linear"), ValueError, "mode must be one of"),
        (dict(mode="gaussian", sigma_scale=0), ValueError, "sigma_scale must be > 0"),
        (dict(padding_mode="edge"), ValueError, "padding_mode must be one of"),
        (dict(predictor=3), TypeError, "callable"),
        (dict(device="cpu"), TypeError, "not implemented"),
        (dict(predictor=lambda w: w.numpy()), TypeError, "must return a Tensor"),
        (dict(predictor=lambda w: w[0]), ValueError, r"must be \(2, C, 3 spatial dims\)"),
        (dict(predictor=lambda w: {"x": w, "y": 1}), TypeError, "'y' must be a Tensor"),
        (dict(predictor=lambda w: ()), ValueError, "no outputs"),
    ],
)
def test_bad_arguments_raise_clearly(kwargs, error, match):
    args = dict(inputs=lucid.zeros(1, 1, 10, 10, 10), roi_size=4, sw_batch_size=2)
    args.update(predictor=lambda w: w)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        sliding_window_inference(**args)


def test_zoomed_windows_that_do_not_tile_raise():
    # 13 -> 15 voxels: the zoom 15/13 puts the first window at [0, int(13 * (15 / 13))) = [0, 14)
    # (MONAI fails there on a shape mismatch)
    def predictor(w):
        return LF.interpolate(w, size=15, mode="nearest")

    with pytest.raises(ValueError, match=r"maps to \[0, 14\).*overlap \* roi \* zoom"):
        sliding_window_inference(lucid.zeros(1, 1, 20), 13, 1, predictor)


def test_outputs_that_change_between_batches_raise():
    shapes = itertools.cycle([1, 2])

    def predictor(w):
        return lucid.zeros(w.shape[0], next(shapes), *w.shape[2:])

    with pytest.raises(ValueError, match="outputs changed between window batches"):
        sliding_window_inference(lucid.zeros(1, 1, 10, 10), 4, 2, predictor)
