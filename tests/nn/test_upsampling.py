"""interpolate / Upsample: nearest and (bi/tri)linear against a direct float64 numpy
implementation (a loop over output positions, all 2^n corners at once, not separable), known
PyTorch values, gradients by finite differences, and clear errors."""

import itertools
import zlib

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
            src = tuple(
                min(
                    int(np.floor(oi * in_n / out_n))
                    if s == in_n / out_n
                    else int(np.floor(oi * s)),
                    in_n - 1,
                )
                for oi, in_n, out_n, s in zip(o, in_size, out, scales)
            )
            y[(Ellipsis,) + o] = x[(Ellipsis,) + src]
            continue
        pos = [
            _source(oi, in_n, out_n, s, align_corners)
            for oi, in_n, out_n, s in zip(o, in_size, out, scales)
        ]
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
    ((2, 2, 5), 9, None),
    ((1, 2, 4), None, 2),
    ((1, 1, 7), 3, None),
    ((1, 2, 3), None, 1.7),
    ((1, 2, 3, 4), (5, 7), None),
    ((2, 1, 4, 3), None, (2, 3)),
    ((1, 2, 5, 4), (2, 3), None),
    ((1, 2, 2, 3, 2), (4, 5, 3), None),
    ((1, 1, 3, 2, 4), None, 2),
    ((1, 2, 4, 3, 3), (2, 3, 5), None),
    ((1, 2, 1, 3), None, 2),
    ((1, 1, 3, 2), (9, 4), None),
    ((1, 1, 6, 4), (3, 2), None),
]


@pytest.mark.parametrize("shape, size, scale_factor", CASES)
@pytest.mark.parametrize(
    "mode, align_corners", [("nearest", None), ("linear", False), ("linear", True)]
)
def test_interpolate_matches_direct_numpy(shape, size, scale_factor, mode, align_corners):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape)
    n = len(shape) - 2
    mode = LINEAR[n] if mode == "linear" else mode
    want = numpy_interpolate(
        x, size, scale_factor, "nearest" if mode == "nearest" else "linear", bool(align_corners)
    )
    t = lucid.tensor(x, dtype="float64", requires_grad=True)
    y = F.interpolate(
        t, size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners
    )
    assert y.shape == want.shape
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-12)
    f32 = F.interpolate(
        lucid.tensor(x.astype(np.float32)),
        size=size,
        scale_factor=scale_factor,
        mode=mode,
        align_corners=align_corners,
    )
    assert f32.dtype == lucid.float32
    np.testing.assert_allclose(f32.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, size, scale_factor", [CASES[i] for i in (0, 1, 3, 4, 7, 10, 11)])
@pytest.mark.parametrize(
    "mode, align_corners", [("nearest", None), ("linear", False), ("linear", True)]
)
def test_interpolate_gradcheck(shape, size, scale_factor, mode, align_corners):
    n = len(shape) - 2
    mode = LINEAR[n] if mode == "linear" else mode
    x = lucid.tensor(
        np.random.default_rng(1).standard_normal(shape), dtype="float64", requires_grad=True
    )
    assert gradcheck(
        lambda v: F.interpolate(
            v, size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners
        ),
        x,
    )


def test_known_pytorch_values():
    x = lucid.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    y = F.interpolate(x, scale_factor=2, mode="bilinear")
    np.testing.assert_allclose(
        y.numpy()[0, 0],
        [
            [1.0, 1.25, 1.75, 2.0],
            [1.5, 1.75, 2.25, 2.5],
            [2.5, 2.75, 3.25, 3.5],
            [3.0, 3.25, 3.75, 4.0],
        ],
    )
    y = F.interpolate(x, size=3, mode="bilinear", align_corners=True)
    np.testing.assert_allclose(y.numpy()[0, 0], [[1.0, 1.5, 2.0], [2.0, 2.5, 3.0], [3.0, 3.5, 4.0]])
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
    np.testing.assert_array_equal(
        up(x).numpy(),
        F.interpolate(x, scale_factor=2, mode="trilinear", align_corners=True).numpy(),
    )
    near = nn.Upsample(size=(4, 6, 4))
    assert repr(near) == "Upsample(size=(4, 6, 4), mode='nearest')"
    np.testing.assert_array_equal(near(x).numpy(), x.numpy().repeat(2, 2).repeat(2, 3).repeat(2, 4))


def test_interpolate_errors():
    x = lucid.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="'trilinear' expects a 5-D input"):
        F.interpolate(x, scale_factor=2, mode="trilinear")
    with pytest.raises(ValueError, match="mode must be one of"):
        F.interpolate(x, scale_factor=2, mode="cubic")
    with pytest.raises(ValueError, match="'bicubic' expects a 4-D input"):
        F.interpolate(lucid.randn(1, 1, 2, 2, 2), scale_factor=2, mode="bicubic")
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


# --- PyTorch's exact index arithmetic, and bicubic (issue 11 item 4) ---------------------------
def test_nearest_reads_pytorchs_source_at_exact_boundaries():
    x = lucid.arange(31).astype("float32").reshape(1, 1, 31)
    y = F.interpolate(x, scale_factor=1.3, mode="nearest")
    assert y.shape == (1, 1, 40) and y.numpy()[0, 0, 39] == 30  # 39 * float32(1 / 1.3) = 30.0
    z = F.interpolate(x, scale_factor=1.3, mode="nearest", recompute_scale_factor=True)
    assert z.numpy()[0, 0, 39] == 30  # in / out = 31 / 40


def test_linear_copies_a_dim_whose_size_does_not_change():
    x = lucid.tensor(np.arange(20.0).reshape(1, 1, 4, 5))
    y = F.interpolate(x, scale_factor=(2, 1.1), mode="bilinear")
    assert y.shape == (1, 1, 8, 5)
    np.testing.assert_array_equal(y.numpy()[0, 0, 0], np.arange(5.0))
    np.testing.assert_allclose(y.numpy()[0, 0, 1], np.arange(5.0) + 1.25)


def _torch_forward_gradient(torch, shape, mode, kw, seed):
    """The input gradient of PyTorch's forward (interpolation is linear: its Jacobian is the
    forward of the unit inputs, one per batch entry). PyTorch's own backward kernels disagree
    with their forward when a dim keeps its size under a factor != 1 (1-D/3-D nearest take a
    copy shortcut only backward; bicubic likewise), so Lucid follows the forward (docs/nn.md)."""
    k = int(np.prod(shape[2:]))
    basis = torch.eye(k, dtype=torch.float64).reshape((k, 1) + tuple(shape[2:]))
    jac = torch.nn.functional.interpolate(basis, mode=mode, **kw).reshape(k, -1).numpy()
    per_channel = seed.reshape(shape[0] * shape[1], -1) @ jac.T
    return per_channel.reshape(shape)


def _random_case(rng, mode):
    """(input shape, interpolate keywords) with sizes and factors that hit boundary cases."""
    nd = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode, rng.integers(1, 4))
    top = {1: 13, 2: 10, 3: 6}[int(nd)]  # small volumes: the reference Jacobian is dense
    in_size = tuple(int(v) for v in rng.integers(1, top, nd))
    if rng.random() < 0.3:
        return in_size, {"size": tuple(int(v) for v in rng.integers(1, 2 * top, nd))}
    factors = tuple(
        float(np.round(rng.uniform(0.3, 3.2), int(rng.integers(1, 3)))) for _ in range(nd)
    )
    if any(int(np.floor(i * f)) < 1 for i, f in zip(in_size, factors)):
        factors = tuple(max(f, 1.0) for f in factors)
    kw = {
        "scale_factor": factors,
        "recompute_scale_factor": [None, True, False][int(rng.integers(0, 3))],
    }
    return in_size, kw


@pytest.mark.parametrize(
    "mode", ["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"]
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_sizes_and_factors_match_torch(mode, dtype):
    """Many random sizes and factors (incl. recompute_scale_factor and align_corners): values
    and input gradients equal PyTorch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(f"{mode}-{dtype}".encode()))  # same cases every run
    tol = 1e-5 if dtype == "float32" else 1e-12
    cases = 0
    for _ in range(60):
        in_size, kw = _random_case(rng, mode)
        if mode not in ("nearest", "nearest-exact"):
            kw["align_corners"] = bool(rng.random() < 0.4)
        x = rng.normal(size=(2, 2) + in_size)
        tx = torch.tensor(x, dtype=getattr(torch, dtype))
        expected = torch.nn.functional.interpolate(tx, mode=mode, **kw)
        seed = rng.normal(size=tuple(expected.shape))
        lx = lucid.tensor(x, dtype=dtype, requires_grad=True)
        out = F.interpolate(lx, mode=mode, **kw)
        assert out.shape == tuple(expected.shape), (in_size, kw)
        np.testing.assert_allclose(
            out.numpy(), expected.detach().numpy(), rtol=tol, atol=tol, err_msg=f"{in_size} {kw}"
        )
        out.backward(lucid.tensor(seed, dtype=dtype))
        expected_grad = _torch_forward_gradient(torch, x.shape, mode, kw, seed)
        np.testing.assert_allclose(
            lx.grad.numpy(), expected_grad, rtol=tol, atol=tol * 10, err_msg=f"{in_size} {kw}"
        )
        cases += 1
    assert cases == 60


def numpy_bicubic(x, out, align_corners, a=-0.75):
    """Reference: each output pixel from its 4 x 4 neighbourhood, weights from Keys' kernel
    ``W(d)`` evaluated at the distances, borders clamped (not separable code)."""

    def kernel(d):
        d = abs(d)
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        if d < 2:
            return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
        return 0.0

    def src(o, in_n, out_n):
        if align_corners:
            return o * (in_n - 1) / (out_n - 1) if out_n > 1 else 0.0
        return in_n / out_n * (o + 0.5) - 0.5

    h, w = x.shape[2:]
    y = np.zeros(x.shape[:2] + tuple(out))
    for oy, ox in np.ndindex(*out):
        sy, sx = src(oy, h, out[0]), src(ox, w, out[1])
        fy, fx = int(np.floor(sy)), int(np.floor(sx))
        for iy in range(fy - 1, fy + 3):
            for ix in range(fx - 1, fx + 3):
                wgt = kernel(sy - iy) * kernel(sx - ix)
                y[:, :, oy, ox] += wgt * x[:, :, min(max(iy, 0), h - 1), min(max(ix, 0), w - 1)]
    return y


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(7, 3), (2, 9), (4, 5)])
def test_bicubic_against_numpy_and_gradcheck(size, align_corners):
    x = np.random.default_rng(5).normal(size=(1, 2, 4, 5))
    out = F.interpolate(
        lucid.tensor(x, dtype="float64"), size=size, mode="bicubic", align_corners=align_corners
    )
    np.testing.assert_allclose(
        out.numpy(), numpy_bicubic(x, size, align_corners), rtol=1e-12, atol=1e-12
    )
    xt = lucid.tensor(x, dtype="float64", requires_grad=True)
    assert gradcheck(
        lambda t: F.interpolate(t, size=size, mode="bicubic", align_corners=align_corners), [xt]
    )
    up = nn.Upsample(size=size, mode="bicubic", align_corners=align_corners)
    np.testing.assert_array_equal(up(lucid.tensor(x, dtype="float64")).numpy(), out.numpy())


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_index_maps_match_torch_on_many_cases(mode):
    """The source element of every output for 1,500 random sizes/factors (1-D to 3-D): an
    arange through both frameworks (the issue's 205 of 3,583 wrong reads)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    for _ in range(500):
        for nd in (1, 2, 3):
            in_size = tuple(int(v) for v in rng.integers(1, 40 if nd == 1 else 8, nd))
            if rng.random() < 0.3:
                kw = {"size": tuple(int(v) for v in rng.integers(1, 80 if nd == 1 else 16, nd))}
            else:
                f = tuple(
                    float(np.round(rng.uniform(0.5, 3.0), int(rng.integers(1, 3))))
                    for _ in range(nd)
                )
                if any(int(np.floor(i * v)) < 1 for i, v in zip(in_size, f)):
                    continue
                kw = {"scale_factor": f, "recompute_scale_factor": bool(rng.random() < 0.3) or None}
            x = np.arange(np.prod(in_size), dtype=np.float32).reshape((1, 1) + in_size)
            expected = torch.nn.functional.interpolate(torch.tensor(x), mode=mode, **kw)
            out = F.interpolate(lucid.tensor(x), mode=mode, **kw)
            np.testing.assert_array_equal(out.numpy(), expected.numpy(), err_msg=str((in_size, kw)))
