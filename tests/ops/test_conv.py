"""Convolutions and transposed convolutions (1D/2D/3D, grouped): forward and all three gradients
against the float64 direct-sum reference over a seeded random sweep, under both CPU kernel sets."""

import numpy as np
import pytest

import lucid
import lucid._backend as B
import lucid.nn.functional as F
from tests import reference as ref

CONFIGS = 320
TOL = 1e-4


@pytest.fixture(params=["mlx", "numpy"])
def kernels(request):
    """Run the test under each CPU kernel set, restoring the previous choice."""
    before = B.cpu_kernels()
    B.set_cpu_kernels(request.param)
    yield request.param
    B.set_cpu_kernels(before)


def rel_err(actual, expected):
    """max |actual - expected| relative to max |expected| (1 where expected is tiny)."""
    return np.abs(np.asarray(actual, np.float64) - expected).max() / max(
        1.0, np.abs(expected).max()
    )


def random_conv_config(rng):
    """One random convolution problem: every option the layer has, kernels fitting the input."""
    n = int(rng.integers(1, 4))
    groups = int(rng.choice([1, 2, 3]))
    depthwise = rng.random() < 0.25
    c_in = groups * int(rng.integers(1, 3))
    if depthwise:
        groups = c_in
    c_out = groups * int(rng.integers(1, 3))
    k = tuple(int(v) for v in rng.integers(1, 5, n))
    d = tuple(int(v) for v in rng.integers(1, 4, n)) if rng.random() < 0.5 else (1,) * n
    form = rng.choice(["int", "tuple", "same", "valid"])
    s = tuple(int(v) for v in rng.integers(1, 4, n)) if form != "same" else (1,) * n
    if form == "int":
        padding = int(rng.integers(0, 3))
    elif form == "tuple":
        padding = tuple(int(v) for v in rng.integers(0, 3, n))
    else:
        padding = str(form)
    pairs = lucid.ops._nd.conv_padding(padding, k, d, s, n)
    size = tuple(
        max(1, dd * (kk - 1) + 1 - lo - hi + int(rng.integers(0, 5)))
        for kk, dd, (lo, hi) in zip(k, d, pairs)
    )
    batch = int(rng.integers(1, 4))
    unbatched = rng.random() < 0.15
    return dict(
        n=n,
        c_in=c_in,
        c_out=c_out,
        groups=groups,
        k=k,
        s=s,
        d=d,
        padding=padding,
        pairs=pairs,
        size=size,
        batch=batch,
        bias=bool(rng.random() < 0.5),
        unbatched=unbatched,
    )


def test_sweep_covers_the_required_space():
    rng = np.random.default_rng(0)
    cfgs = [random_conv_config(rng) for _ in range(CONFIGS)]
    assert {c["n"] for c in cfgs} == {1, 2, 3}
    assert {kk for c in cfgs for kk in c["k"]} == {1, 2, 3, 4}
    assert {ss for c in cfgs for ss in c["s"]} == {1, 2, 3}
    assert {dd for c in cfgs for dd in c["d"]} == {1, 2, 3}
    assert {type(c["padding"]).__name__ for c in cfgs} == {"int", "tuple", "str"}
    assert {c["padding"] for c in cfgs if isinstance(c["padding"], str)} == {"same", "valid"}
    assert any(c["groups"] == c["c_in"] > 1 for c in cfgs)  # depthwise
    assert any(1 < c["groups"] < c["c_in"] for c in cfgs)  # grouped, not depthwise
    assert any(c["unbatched"] for c in cfgs) and any(c["batch"] > 1 for c in cfgs)
    undivided = sum(
        any(
            (sz + lo + hi - dd * (kk - 1) - 1) % ss
            for sz, kk, ss, dd, (lo, hi) in zip(c["size"], c["k"], c["s"], c["d"], c["pairs"])
        )
        for c in cfgs
    )
    assert undivided > 50
    # the MLX kernel set's matmul route (1x1 / patchify windows): values and gradients via F
    assert (
        sum(
            B.conv_route("gpu", "float32", c["k"], c["s"], c["pairs"], c["d"], c["groups"])
            == "patch"
            for c in cfgs
        )
        >= 20
    )


def test_conv_sweep_against_reference(kernels):
    rng = np.random.default_rng(0)
    worst = 0.0
    for i in range(CONFIGS):
        c = random_conv_config(rng)
        x = rng.standard_normal((c["batch"], c["c_in"]) + c["size"])
        w = rng.standard_normal((c["c_out"], c["c_in"] // c["groups"]) + c["k"])
        b = rng.standard_normal(c["c_out"]) if c["bias"] else None
        y_ref = ref.conv_forward(x, w, c["s"], c["pairs"], c["d"], c["groups"])
        if b is not None:
            y_ref = y_ref + b.reshape((1, -1) + (1,) * c["n"])
        dy = rng.standard_normal(y_ref.shape)
        xin = x[0] if c["unbatched"] else x
        xt = lucid.tensor(xin.astype(np.float32), requires_grad=True)
        wt = lucid.tensor(w.astype(np.float32), requires_grad=True)
        bt = lucid.tensor(b.astype(np.float32), requires_grad=True) if b is not None else None
        fn = (F.conv1d, F.conv2d, F.conv3d)[c["n"] - 1]
        y = fn(xt, wt, bt, stride=c["s"], padding=c["padding"], dilation=c["d"], groups=c["groups"])
        if c["unbatched"]:
            y_ref, dy = y_ref[0], dy[0]
        assert y.shape == y_ref.shape, (i, c)
        y.backward(lucid.tensor(dy.astype(np.float32)))
        dyb = dy[None] if c["unbatched"] else dy
        dx_ref = ref.conv_input_grad(dyb, w, c["size"], c["s"], c["pairs"], c["d"], c["groups"])
        dw_ref = ref.conv_weight_grad(
            x[:1] if c["unbatched"] else x, dyb, c["k"], c["s"], c["pairs"], c["d"], c["groups"]
        )
        errs = [
            rel_err(y.numpy(), y_ref),
            rel_err(xt.grad.numpy(), dx_ref[0] if c["unbatched"] else dx_ref),
            rel_err(wt.grad.numpy(), dw_ref),
        ]
        if b is not None:
            errs.append(rel_err(bt.grad.numpy(), dyb.sum(axis=(0,) + tuple(range(2, dyb.ndim)))))
        worst = max(worst, *errs)
        assert max(errs) <= TOL, (i, c, errs)
    assert worst > 0  # the comparison really ran in float32


def random_transpose_config(rng):
    """One random transposed-convolution problem."""
    n = int(rng.integers(1, 4))
    groups = int(rng.choice([1, 2]))
    c_in = groups * int(rng.integers(1, 3))
    c_out = groups * int(rng.integers(1, 3))
    k = tuple(int(v) for v in rng.integers(1, 5, n))
    s = tuple(int(v) for v in rng.integers(1, 4, n))
    d = tuple(int(v) for v in rng.integers(1, 4, n)) if rng.random() < 0.5 else (1,) * n
    p = tuple(int(rng.integers(0, (dd * (kk - 1)) // 2 + 1)) for kk, dd in zip(k, d))
    op = tuple(int(rng.integers(0, max(ss, dd))) for ss, dd in zip(s, d))
    size = tuple(int(v) for v in rng.integers(1, 5, n))
    return dict(
        n=n,
        c_in=c_in,
        c_out=c_out,
        groups=groups,
        k=k,
        s=s,
        d=d,
        p=p,
        op=op,
        size=size,
        batch=int(rng.integers(1, 3)),
        bias=bool(rng.random() < 0.5),
    )


def test_conv_transpose_sweep_against_reference(kernels):
    rng = np.random.default_rng(1)
    checked = padded_past_stride = 0
    while checked < 120:
        c = random_transpose_config(rng)
        out = ref.conv_transpose_out_size(c["size"], c["k"], c["s"], c["p"], c["op"], c["d"])
        if min(out) <= 0:
            continue
        checked += 1
        padded_past_stride += any(o >= st for o, st in zip(c["op"], c["s"]))
        x = rng.standard_normal((c["batch"], c["c_in"]) + c["size"])
        w = rng.standard_normal((c["c_in"], c["c_out"] // c["groups"]) + c["k"])
        b = rng.standard_normal(c["c_out"]) if c["bias"] else None
        y_ref = ref.conv_transpose_forward(x, w, c["s"], c["p"], c["op"], c["d"], c["groups"])
        if b is not None:
            y_ref = y_ref + b.reshape((1, -1) + (1,) * c["n"])
        dy = rng.standard_normal(y_ref.shape)
        xt = lucid.tensor(x.astype(np.float32), requires_grad=True)
        wt = lucid.tensor(w.astype(np.float32), requires_grad=True)
        bt = lucid.tensor(b.astype(np.float32), requires_grad=True) if b is not None else None
        fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[c["n"] - 1]
        y = fn(
            xt,
            wt,
            bt,
            stride=c["s"],
            padding=c["p"],
            output_padding=c["op"],
            groups=c["groups"],
            dilation=c["d"],
        )
        assert y.shape == y_ref.shape, c
        y.backward(lucid.tensor(dy.astype(np.float32)))
        # y = T(x, w) is bilinear: dx(dy) is the convolution of dy with w, and dw follows
        # from <T(x, w), dy> = sum_w-entries; check both by direct sums on a perturbation basis
        pairs = tuple((pp, pp) for pp in c["p"])
        dx_ref = ref.conv_forward(dy, w, c["s"], pairs, c["d"], c["groups"])
        dx_ref = dx_ref[(slice(None), slice(None)) + tuple(slice(0, n) for n in c["size"])]
        dw_ref = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            e = np.zeros_like(w)
            e[idx] = 1.0
            dw_ref[idx] = (
                ref.conv_transpose_forward(x, e, c["s"], c["p"], c["op"], c["d"], c["groups"]) * dy
            ).sum()
        errs = [
            rel_err(y.numpy(), y_ref),
            rel_err(xt.grad.numpy(), dx_ref),
            rel_err(wt.grad.numpy(), dw_ref),
        ]
        assert max(errs) <= TOL, (c, errs)
    assert padded_past_stride >= 5  # output_padding >= stride (allowed when dilation > stride)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_runs_close(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5, 6, 5))
    w = rng.standard_normal((6, 2, 3, 3, 3)) * 0.3
    y = F.conv3d(lucid.tensor(x, dtype=dtype), lucid.tensor(w, dtype=dtype), padding=1, groups=2)
    assert y.dtype == getattr(lucid, dtype)
    expected = ref.conv_forward(x, w, (1, 1, 1), ((1, 1),) * 3, (1, 1, 1), 2)
    assert rel_err(y.astype("float32").numpy(), expected) < 3e-2


def test_float64_gradcheck(kernels):
    rng = np.random.default_rng(4)
    x = lucid.tensor(rng.standard_normal((2, 4, 4, 3, 5)), dtype="float64", requires_grad=True)
    w = lucid.tensor(rng.standard_normal((4, 2, 2, 3, 2)), dtype="float64", requires_grad=True)
    b = lucid.tensor(rng.standard_normal(4), dtype="float64", requires_grad=True)
    assert lucid.autograd.gradcheck(
        lambda x, w, b: F.conv3d(
            x, w, b, stride=(2, 1, 2), padding=1, dilation=(1, 2, 1), groups=2
        ),
        [x, w, b],
    )
