"""Property-based fuzzing of the layers' functional forms (hypothesis): random shapes (batch 0..3,
channels 1..4, spatial 0..6) with kernel/stride/padding/dilation/groups drawn together, invalid
combinations included. Every draw must end one of two ways:

- Lucid and PyTorch both compute: same shape, same values and the same input gradient (float64);
- both refuse: Lucid with a ValueError/TypeError/IndexError (any other exception fails the test).

Without torch each draw still checks that Lucid either refuses with one of those types or returns
a tensor whose input gradient has the input's shape.

The draws are derandomized (the same examples every run) so the suite stays deterministic;
``LUCID_FUZZ_RANDOM=1`` explores fresh examples and ``LUCID_FUZZ_EXAMPLES=n`` sets the budget.
"""

import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lucid
import lucid.nn.functional as LF

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the checks below still run on Lucid alone
    torch = TF = None

FUZZ = settings(
    max_examples=int(os.environ.get("LUCID_FUZZ_EXAMPLES", "40")),
    deadline=None,
    derandomize=not os.environ.get("LUCID_FUZZ_RANDOM"),
    database=None,
)
LUCID_REFUSALS = (ValueError, TypeError, IndexError)
TORCH_REFUSALS = (RuntimeError, ValueError, TypeError, IndexError)
RTOL, ATOL = 1e-8, 1e-10
# PyTorch's avg_pool3d (and lp_pool3d) refuses an input smaller than the kernel whatever the
# padding, where 1-D/2-D pooling computes; Lucid computes in 3-D as well (docs/nn.md)
AVG_POOL3D_QUIRK = "smaller than kernel size"

batch = st.integers(0, 3)
spatial_size = st.integers(0, 6)


def _agree(lucid_fn, torch_fn, x, *arrays, stricter=None, laxer=None):
    """Run ``lucid_fn(x, *arrays)`` and ``torch_fn`` on the same float64 data; see the module
    docstring for what must hold. ``arrays`` are extra inputs (weights) without gradient checks.
    ``stricter``: a phrase of a Lucid error allowed where torch computes anyway; ``laxer``: a
    phrase of a torch error allowed where Lucid computes (deliberate differences, docs/nn.md)."""
    lx = lucid.tensor(x, dtype="float64", requires_grad=True)
    try:
        lout = lucid_fn(lx, *[lucid.tensor(a, dtype="float64") for a in arrays])
        lerr = None
    except LUCID_REFUSALS as e:
        lout, lerr = None, e
    if lerr is None:
        seed = np.random.default_rng(3).standard_normal(lout.shape)
        (lout * lucid.tensor(seed, dtype="float64")).sum().backward()
        assert lx.grad is not None and lx.grad.shape == lx.shape
    if torch is None:
        return
    tx = torch.tensor(x, requires_grad=True)
    try:
        tout = torch_fn(tx, *[torch.tensor(a) for a in arrays])
        terr = None
    except TORCH_REFUSALS as e:
        terr = e
    if lerr is not None and terr is None and stricter and stricter in str(lerr):
        return
    if lerr is None and terr is not None and laxer and laxer in str(terr):
        return
    assert (lerr is None) == (terr is None), f"Lucid: {lerr!r}; torch: {terr!r}"
    if lerr is not None:
        return
    assert lout.shape == tuple(tout.shape), f"shape {lout.shape} != torch's {tuple(tout.shape)}"
    np.testing.assert_allclose(lout.numpy(), tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    if np.isneginf(lout.numpy()).any():
        # a max-pool window lying wholly in the padding (dilation can do that): both give -inf,
        # PyTorch then sends the gradient to an arbitrary element, Lucid to none
        return
    (tout * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=RTOL, atol=ATOL)


def _data(draw, shape):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return rng.standard_normal(shape)


def _dims(draw, n, values):
    """An int or an n-tuple of ints drawn from ``values``."""
    if draw(st.booleans()):
        return draw(values)
    return tuple(draw(values) for _ in range(n))


def _conv_draws(draw):
    """(n, groups, c_in, c_out, kernel, stride, dilation) of a grouped N-d convolution."""
    n = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(n))
    return (
        n,
        groups,
        c_in,
        c_out,
        kernel,
        _dims(draw, n, st.integers(1, 3)),
        _dims(draw, n, st.integers(1, 2)),
    )


@FUZZ
@given(st.data())
def test_conv_fuzz(data):
    draw = data.draw
    n, groups, c_in, c_out, kernel, stride, dilation = _conv_draws(draw)
    padding = draw(
        st.one_of(
            st.sampled_from(["same", "valid"]),
            st.integers(0, 2),
            st.tuples(*[st.integers(0, 2)] * n),
        )
    )
    x = _data(draw, (draw(batch), c_in) + tuple(draw(spatial_size) for _ in range(n)))
    w = _data(draw, (c_out, c_in // groups) + kernel)
    b = _data(draw, (c_out,))
    name = f"conv{n}d"

    _agree(
        lambda x, w, b: getattr(LF, name)(x, w, b, stride, padding, dilation, groups),
        lambda x, w, b: getattr(TF, name)(x, w, b, stride, padding, dilation, groups),
        x,
        w,
        b,
    )


@FUZZ
@given(st.data())
def test_conv_transpose_fuzz(data):
    draw = data.draw
    n, groups, c_in, c_out, kernel, stride, dilation = _conv_draws(draw)
    padding = _dims(draw, n, st.integers(0, 2))
    output_padding = _dims(draw, n, st.integers(0, 2))
    x = _data(draw, (draw(batch), c_in) + tuple(draw(spatial_size) for _ in range(n)))
    w = _data(draw, (c_in, c_out // groups) + kernel)
    name = f"conv_transpose{n}d"
    # PyTorch skips the output_padding check on an empty batch; Lucid checks it always
    stricter = "output_padding" if x.shape[0] == 0 else None

    _agree(
        lambda x, w: getattr(LF, name)(
            x, w, None, stride, padding, output_padding, groups, dilation
        ),
        lambda x, w: getattr(TF, name)(
            x, w, None, stride, padding, output_padding, groups, dilation
        ),
        x,
        w,
        stricter=stricter,
    )


def _pool_input(draw, n):
    return _data(
        draw, (draw(batch), draw(st.integers(1, 4))) + tuple(draw(spatial_size) for _ in range(n))
    )


@FUZZ
@given(st.data())
def test_max_pool_fuzz(data):
    draw = data.draw
    n = draw(st.integers(1, 3))
    kernel = _dims(draw, n, st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    padding = _dims(draw, n, st.integers(0, 2))
    dilation = _dims(draw, n, st.integers(1, 2))
    ceil_mode = draw(st.booleans())
    x = _pool_input(draw, n)
    name = f"max_pool{n}d"

    _agree(
        lambda x: getattr(LF, name)(x, kernel, stride, padding, dilation, ceil_mode),
        lambda x: getattr(TF, name)(x, kernel, stride, padding, dilation, ceil_mode),
        x,
    )


@FUZZ
@given(st.data())
def test_avg_pool_fuzz(data):
    draw = data.draw
    n = draw(st.integers(1, 3))
    kernel = _dims(draw, n, st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    padding = _dims(draw, n, st.integers(0, 2))
    ceil_mode, count_include_pad = draw(st.booleans()), draw(st.booleans())
    x = _pool_input(draw, n)
    name = f"avg_pool{n}d"

    _agree(
        lambda x: getattr(LF, name)(x, kernel, stride, padding, ceil_mode, count_include_pad),
        lambda x: getattr(TF, name)(x, kernel, stride, padding, ceil_mode, count_include_pad),
        x,
        laxer=AVG_POOL3D_QUIRK,
    )


@FUZZ
@given(st.data())
def test_adaptive_and_lp_pool_fuzz(data):
    draw = data.draw
    n = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["adaptive_avg", "adaptive_max", "lp"]))
    x = _pool_input(draw, n)
    if kind == "lp":
        if n == 1 and draw(st.booleans()):
            x = np.abs(x) + 0.1  # keep |x|^p away from 0, where its p-th root has no gradient
        kernel = draw(st.integers(1, 3)) if n == 1 else _dims(draw, n, st.integers(1, 3))
        args = (
            draw(st.sampled_from([1.0, 2.0, 3.0])),
            kernel,  # torch's lp_pool1d: int only
            draw(st.one_of(st.none(), st.integers(1, 3))),
            draw(st.booleans()),
        )
    else:
        args = (_dims(draw, n, st.integers(1, 4)),)
    name = f"{kind}_pool{n}d"

    _agree(
        lambda x: getattr(LF, name)(x, *args),
        lambda x: getattr(TF, name)(x, *args),
        x,
        laxer=AVG_POOL3D_QUIRK,
    )


@FUZZ
@given(st.data())
def test_interpolate_fuzz(data):
    draw = data.draw
    mode = draw(
        st.sampled_from(["nearest", "nearest-exact", "area", "linear", "bilinear", "trilinear"])
    )
    n = {"linear": 1, "bilinear": 2, "trilinear": 3}.get(mode) or draw(st.integers(1, 3))
    x = _pool_input(draw, n)
    if draw(st.booleans()):
        kwargs = {"size": _dims(draw, n, st.integers(1, 7))}
    else:
        kwargs = {"scale_factor": draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]))}
    if mode in ("linear", "bilinear", "trilinear"):
        kwargs["align_corners"] = draw(st.booleans())

    # 'area' with a scale_factor that rounds a size to 0: PyTorch returns an empty tensor,
    # Lucid refuses as for every other mode (docs/nn.md)
    _agree(
        lambda x: LF.interpolate(x, mode=mode, **kwargs),
        lambda x: TF.interpolate(x, mode=mode, **kwargs),
        x,
        stricter="gives an empty output" if mode == "area" else None,
    )


@FUZZ
@given(st.data())
def test_norm_fuzz(data):
    draw = data.draw
    kind = draw(st.sampled_from(["batch", "instance", "group", "layer"]))
    n = draw(st.integers(0 if kind in ("batch", "layer") else 1, 3))
    channels = draw(st.integers(1, 4))
    x = _data(draw, (draw(batch), channels) + tuple(draw(spatial_size) for _ in range(n)))
    w, b = _data(draw, (channels,)), _data(draw, (channels,))
    if kind == "batch":
        training = draw(st.booleans())
        stats = np.zeros(channels), np.ones(channels)

        def call(F, T):
            return lambda x, w, b: F.batch_norm(x, T(stats[0]), T(stats[1]), w, b, training)
    elif kind == "instance":
        affine = x.shape[0] > 0  # PyTorch fails internally on affine with N=0 (docs/nn.md)

        def call(F, T):
            return lambda x, w, b: F.instance_norm(
                x, None, None, w if affine else None, b if affine else None
            )
    elif kind == "group":
        groups = draw(st.integers(1, 4))

        def call(F, T):
            return lambda x, w, b: F.group_norm(x, groups, w, b)
    else:
        shape = x.shape[-draw(st.integers(1, x.ndim)) :]
        w, b = _data(draw, shape), _data(draw, shape)

        def call(F, T):
            return lambda x, w, b: F.layer_norm(x, shape, w, b)

    def lucid_tensor(a):
        return lucid.tensor(a, dtype="float64")

    torch_tensor = torch.tensor if torch is not None else None
    _agree(call(LF, lucid_tensor), call(TF, torch_tensor) if torch else None, x, w, b)


@pytest.mark.parametrize(
    "bad", [{"stride": 0}, {"dilation": 0}, {"padding": -1}, {"groups": 0}, {"stride": 1.5}]
)
def test_conv_bad_arguments_refused_like_torch(bad):
    """Hand-picked invalid arguments the draws above never produce."""
    args = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1} | bad
    x, w = np.ones((1, 2, 5, 5)), np.ones((2, 2, 3, 3))
    _agree(
        lambda x, w: LF.conv2d(x, w, None, **args), lambda x, w: TF.conv2d(x, w, None, **args), x, w
    )
