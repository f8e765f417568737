"""interpolate / Upsample: nearest and (bi/tri)linear against a direct float64 numpy
implementation (a loop over output positions, all 2^n corners at once, not separable), known
PyTorch values, gradients by finite differences, and clear errors."""

import itertools

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.autograd import gradcheck

LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _out_and_scale(in_size, size, scale_factor):
    if size is not None:
        out = (size,) * len(in_size) if isinstance(size, int) else tuple(size)
        return out, [i / o for i, o in zip(in_size, out)]
    f = (scale_factor,) * len(in_size) if not isinstance(scale_factor, tuple) else scale_factor
    return tuple(int(np.floor(i * s)) for i, s in zip(in_size, f)), [1 / s for s in f]


def _source(o, in_n, out_n, scale, align_corners):
    if align_corners:
        return o * (in_n - 1) / (out_n - 1) if out_n > 1 else 0.0
    return max(scale * (o + 0.5) - 0.5, 0.0)


def numpy_interpolate(x, size, scale_factor, mode, align_corners=False):
    """Reference: every output element computed on its own from PyTorch's index rules."""
    in_size = x.shape[2:]
    out, scales = _out_and_scale(in_size, size, scale_factor)
    y = np.zeros(x.shape[:2] + out)
    for o in np.ndindex(*out):
        if mode == "nearest":
            src = tuple(min(int(np.floor(oi * in_n / out_n)) if s == in_n / out_n
                            else int(np.floor(oi * s)), in_n - 1)
                        for oi, in_n, out_n, s in zip(o, in_size, out, scales))
            y[(Ellipsis,) + o] = x[(Ellipsis,) + src]
            continue
        pos = [_source(oi, in_n, out_n, s, align_corners)
               for oi, in_n, out_n, s in zip(o, in_size, out, scales)]
        acc = 0.0
        for corner in itertools.product((0, 1), repeat=len(o)):
            weight, idx = 1.0, []
            for c, p, in_n in zip(corner, pos, in_size):
                lo = min(int(np.floor(p)), in_n - 1)
                frac = p - lo
                idx.append(min(lo + c, in_n - 1))
                weight *= frac if c else 1.0 - frac
            acc = acc + weight * x[(Ellipsis,) + tuple(idx)]
        y[(Ellipsis,) + o] = acc
    return y


CASES = [  # (input shape, size, scale_factor)
    ((2, 2, 5), 9, None), ((1, 2, 4), None, 2), ((1, 1, 7), 3, None), ((1, 2, 3), None, 1.7),
    ((1, 2, 3, 4), (5, 7), None), ((2, 1, 4, 3), None, (2, 3)), ((1, 2, 5, 4), (2, 3), None),
    ((1, 2, 2, 3, 2), (4, 5, 3), None), ((1, 1, 3, 2, 4), None, 2),
    ((1, 2, 4, 3, 3), (2, 3, 5), None),
    ((1, 2, 1, 3), None, 2), ((1, 1, 3, 2), (9, 4), None), ((1, 1, 6, 4), (3, 2), None),
]


@pytest.mark.parametrize("shape, size, scale_factor", CASES)
@pytest.mark.parametrize("mode, align_corners", [("nearest", None), ("linear", False),
                                                  ("linear", True)])
def test_interpolate_matches_direct_numpy(shape, size, scale_factor, mode, align_corners):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape)
    n = len(shape) - 2
    mode = LINEAR[n] if mode == "linear" else mode
    want = numpy_interpolate(x, size, scale_factor, "nearest" if mode == "nearest" else "linear",
                             bool(align_corners))
    t = lucid.tensor(x, dtype="float64", requires_grad=True)
    y = F.interpolate(t, size=size, scale_factor=scale_factor, mode=mode,
                      align_corners=align_corners)
    assert y.shape == want.shape
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-12)
    f32 = F.interpolate(lucid.tensor(x.astype(np.float32)), size=size, scale_factor=scale_factor,
                        mode=mode, align_corners=align_corners)
    assert f32.dtype == lucid.float32
    np.testing.assert_allclose(f32.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, size, scale_factor", [CASES[i] for i in (0, 1, 3, 4, 7, 10, 11)])
@pytest.mark.parametrize("mode, align_corners", [("nearest", None), ("linear", False),
                                                  ("linear", True)])
def test_interpolate_gradcheck(shape, size, scale_factor, mode, align_corners):
    n = len(shape) - 2
    mode = LINEAR[n] if mode == "linear" else mode
    x = lucid.tensor(np.random.default_rng(1).standard_normal(shape), dtype="float64",
                     requires_grad=True)
    assert gradcheck(lambda v: F.interpolate(v, size=size, scale_factor=scale_factor, mode=mode,
                                             align_corners=align_corners), x)


def test_known_pytorch_values():
    x = lucid.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    y = F.interpolate(x, scale_factor=2, mode="bilinear")
    np.testing.assert_allclose(y.numpy()[0, 0], [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5],
                                                 [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]])
    y = F.interpolate(x, size=3, mode="bilinear", align_corners=True)
    np.testing.assert_allclose(y.numpy()[0, 0], [[1.0, 1.5, 2.0], [2.0, 2.5, 3.0],
                                                 [3.0, 3.5, 4.0]])
    z = F.interpolate(lucid.tensor([[[0.0, 1.0, 2.0]]]), size=5)
    assert z.tolist() == [[[0.0, 0.0, 1.0, 1.0, 2.0]]]  # floor(o * 3 / 5)
    z = F.interpolate(lucid.tensor([[[0.0, 1.0, 2.0, 3.0, 4.0]]]), size=3, mode="nearest-exact")
    assert z.tolist() == [[[0.0, 2.0, 4.0]]]
    area = F.interpolate(lucid.tensor([[[1.0, 3.0, 5.0, 7.0]]]), size=2, mode="area")
    assert area.tolist() == [[[2.0, 6.0]]]


def test_upsample_module_trilinear_and_nearest():
    x = lucid.randn(1, 2, 2, 3, 2)
    up = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=True)
    assert repr(up) == "Upsample(scale_factor=2.0, mode='trilinear', align_corners=True)"
    np.testing.assert_array_equal(up(x).numpy(), F.interpolate(x, scale_factor=2, mode="trilinear",
                                                               align_corners=True).numpy())
    near = nn.Upsample(size=(4, 6, 4))
    assert repr(near) == "Upsample(size=(4, 6, 4), mode='nearest')"
    np.testing.assert_array_equal(near(x).numpy(),
                                  x.numpy().repeat(2, 2).repeat(2, 3).repeat(2, 4))


def test_interpolate_errors():
    x = lucid.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="'trilinear' expects a 5-D input"):
        F.interpolate(x, scale_factor=2, mode="trilinear")
    with pytest.raises(ValueError, match="mode must be one of"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="align_corners only applies"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="size must have 2 values"):
        F.interpolate(x, size=(2, 2, 2))
    with pytest.raises(ValueError, match="empty output"):
        F.interpolate(x, scale_factor=0.1)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample()


def test_half_precision_keeps_dtype():
    x = lucid.randn(1, 2, 3, 2, 2).astype("float16")
    x.requires_grad_(True)
    y = F.interpolate(x, scale_factor=2, mode="trilinear")
    assert y.dtype == lucid.float16
    want = numpy_interpolate(x.numpy().astype(np.float64), None, 2, "linear")
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-2, atol=1e-2)
    y.sum().backward()
    assert x.grad.dtype == lucid.float16
    np.testing.assert_allclose(x.grad.numpy(), 8.0)  # each input spreads weight 2 per axis
