"""Simple layers: Linear/Identity, activations (vs float64 numpy formulas, gradcheck), dropout
(statistics, scaling, eval identity, channel masks, seeding), Embedding, Flatten/Unflatten."""

import math

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.autograd import gradcheck
from tests.helpers import away_from, check_op, rand

_erf = np.vectorize(math.erf)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --- Linear ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape", [(4, 3), (2, 2, 3), (3,)])
def test_linear_matches_numpy_and_gradcheck(x_shape):
    x, w, b = rand(*x_shape), rand(5, 3), rand(5)
    check_op(F.linear, lambda x, w, b: x @ w.T + b, x, w, b)
    check_op(lambda x, w: F.linear(x, w), lambda x, w: x @ w.T, x, w)


def test_linear_layer():
    lucid.random.seed(0)
    lin = nn.Linear(3, 2)
    assert lin.weight.shape == (2, 3) and lin.bias.shape == (2,)
    x = rand(4, 3)
    out = lin(lucid.tensor(x, dtype="float32"))
    np.testing.assert_allclose(
        out.numpy(),
        x @ lin.weight.numpy().T.astype(np.float64) + lin.bias.numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    out.sum().backward()
    # a float32 sum of 4 values in [-2, 2) is good to ~1e-6 absolute, whatever it cancels to
    np.testing.assert_allclose(
        lin.weight.grad.numpy(), np.tile(x.sum(0), (2, 1)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(lin.bias.grad.numpy(), [4.0, 4.0])
    assert repr(lin) == "Linear(in_features=3, out_features=2, bias=True)"
    nob = nn.Linear(3, 2, bias=False)
    assert nob.bias is None and list(nob.state_dict()) == ["weight"]
    assert nn.Linear(3, 2, dtype="float64").weight.dtype == lucid.float64


def test_linear_default_init_bounds():
    lucid.random.seed(1)
    lin = nn.Linear(64, 256)
    bound = 1 / 8
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound  # uniform, not something else
    assert abs(w.mean()) < 0.02 * bound


def test_linear_errors():
    with pytest.raises(ValueError, match="in_features=3"):
        nn.Linear(3, 2)(lucid.zeros(4, 5))
    with pytest.raises(ValueError, match="bias must have shape"):
        F.linear(lucid.zeros(4, 3), lucid.zeros(2, 3), lucid.zeros(3))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 2)
    with pytest.raises(TypeError, match="Tensor"):
        F.linear(np.zeros((2, 3)), lucid.zeros(2, 3))


def test_identity():
    x = lucid.randn(2, 3)
    assert nn.Identity(5, foo=1)(x) is x


# --- activations ---------------------------------------------------------------------------------
def _gelu_exact(x):
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


ACTIVATIONS = {  # name: (functional, module, numpy float64 formula)
    "relu": (F.relu, nn.ReLU(), lambda x: np.maximum(x, 0)),
    "leaky_relu": (
        lambda x: F.leaky_relu(x, 0.2),
        nn.LeakyReLU(0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
    ),
    "elu": (
        lambda x: F.elu(x, 1.5),
        nn.ELU(1.5),
        lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1)),
    ),
    "gelu": (F.gelu, nn.GELU(), _gelu_exact),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), nn.GELU("tanh"), _gelu_tanh),
    "silu": (F.silu, nn.SiLU(), lambda x: x * _sigmoid(x)),
    "sigmoid": (F.sigmoid, nn.Sigmoid(), _sigmoid),
    "tanh": (F.tanh, nn.Tanh(), np.tanh),
    "softplus": (F.softplus, nn.Softplus(), lambda x: np.log1p(np.exp(x))),
    "softplus_beta": (
        lambda x: F.softplus(x, beta=2.0, threshold=3.0),
        nn.Softplus(2.0, 3.0),
        lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2),
    ),
    "softmax": (
        lambda x: F.softmax(x, dim=1),
        nn.Softmax(dim=1),
        lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True),
    ),
    "log_softmax": (
        lambda x: F.log_softmax(x, dim=0),
        nn.LogSoftmax(dim=0),
        lambda x: x - np.log(np.exp(x).sum(0, keepdims=True)),
    ),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_values_and_gradients(name):
    fn, module, ref = ACTIVATIONS[name]
    x = away_from(rand(3, 4, low=-4, high=4), points=(0.0, 1.5), gap=0.05)  # off the kinks
    check_op(fn, ref, x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        module(lucid.tensor(x, dtype="float32")).numpy(), ref(x), rtol=1e-5, atol=1e-6
    )


def test_gelu_forms_differ_and_match_their_own_formula_in_float64():
    x = np.linspace(-6, 6, 101)
    exact = F.gelu(lucid.tensor(x, dtype="float64")).numpy()
    approx = F.gelu(lucid.tensor(x, dtype="float64"), approximate="tanh").numpy()
    np.testing.assert_allclose(exact, _gelu_exact(x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(approx, _gelu_tanh(x), rtol=1e-12, atol=1e-15)
    assert 1e-4 < np.abs(exact - approx).max() < 1e-2  # the two forms are not mixed up
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(lucid.zeros(2), approximate="erf")


def test_activations_are_stable_for_large_inputs():
    x = lucid.tensor([-1000.0, -80.0, 0.0, 80.0, 1000.0], requires_grad=True)
    for fn in (F.softplus, F.elu, F.silu, F.gelu, F.sigmoid, lambda t: F.log_softmax(t, 0)):
        out = fn(x)
        out.sum().backward()
        assert np.all(np.isfinite(out.numpy())) and np.all(np.isfinite(x.grad.numpy()))
        x.grad = None
    np.testing.assert_allclose(
        F.softplus(x).numpy(), [0.0, 0.0, math.log(2), 80.0, 1000.0], atol=1e-6
    )


def test_relu_leaky_gradient_at_zero():
    x = lucid.tensor([0.0], requires_grad=True)
    F.leaky_relu(x, 0.1).backward()
    assert x.grad.item() == pytest.approx(0.1)
    with pytest.raises(TypeError, match="Tensor"):
        F.relu(np.zeros(2))


# --- dropout -------------------------------------------------------------------------------------
def test_dropout_statistics_scaling_and_gradient():
    lucid.random.seed(0)
    p = 0.3
    x = lucid.tensor(rand(100, 200) + 3.0, dtype="float32", requires_grad=True)
    out = F.dropout(x, p)
    xv, ov = x.numpy(), out.numpy()
    kept = ov != 0
    assert abs(1 - kept.mean() - p) < 0.01  # 20000 draws: std of the fraction ~ 0.003
    np.testing.assert_allclose(ov[kept], xv[kept] / (1 - p), rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / (1 - p), rtol=1e-6)
    assert abs(ov.mean() / xv.mean() - 1) < 0.02  # unbiased in expectation


def test_dropout_eval_and_edge_probabilities():
    x = lucid.randn(4, 5)
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x
    assert F.dropout(x, 0.0) is x
    assert np.all(F.dropout(x, 1.0).numpy() == 0)
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            nn.Dropout(bad)
    assert repr(nn.Dropout3d(0.2)) == "Dropout3d(p=0.2, inplace=False)"


def test_dropout_is_deterministic_under_seed():
    x = lucid.ones(50, 50)
    lucid.random.seed(42)
    a = F.dropout(x, 0.5).numpy()
    lucid.random.seed(42)
    b = F.dropout(x, 0.5).numpy()
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("shape", [(4, 16, 2, 3, 2), (16, 2, 3, 2)])
def test_dropout3d_zeroes_whole_channels(shape):
    lucid.random.seed(5)
    p = 0.5
    x = lucid.tensor(rand(*shape) + 5.0, dtype="float32", requires_grad=True)
    layer = nn.Dropout3d(p)
    out = layer(x)
    ov, xv = out.numpy(), x.numpy()
    per_channel = ov.reshape(shape[:-3] + (-1,))
    dropped = np.all(per_channel == 0, axis=-1)
    kept = np.all(per_channel != 0, axis=-1)
    assert np.all(dropped | kept)  # every channel is all-or-nothing
    assert 0 < dropped.sum() < dropped.size
    mask = np.broadcast_to(kept.reshape(shape[:-3] + (1, 1, 1)), shape)
    np.testing.assert_allclose(ov, np.where(mask, xv / (1 - p), 0), rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), mask / (1 - p), rtol=1e-6)
    assert layer.eval()(x) is x


def test_channel_dropout_1d_2d_and_bad_shapes():
    lucid.random.seed(6)
    out = nn.Dropout2d(0.5)(lucid.ones(8, 8, 3, 3)).numpy().reshape(8, 8, 9)
    assert np.all((out == 0).all(-1) | (out == 2).all(-1))
    out = nn.Dropout1d(0.5)(lucid.ones(8, 5)).numpy()  # unbatched (C, L)
    assert np.all((out == 0).all(-1) | (out == 2).all(-1))
    with pytest.raises(ValueError, match=r"5-D \(N, C, \.\.\.\) or 4-D"):
        nn.Dropout3d()(lucid.ones(2, 3, 4))


@pytest.mark.parametrize(
    "fn,shape,spatial",
    [
        (F.dropout, (40, 50), None),
        (F.dropout1d, (6, 40, 5), 1),
        (F.dropout2d, (6, 40, 2, 3), 2),
        (F.dropout3d, (6, 40, 2, 1, 3), 3),
    ],
)
@pytest.mark.parametrize("p", [0.3, 0.7, 0.1])
def test_float64_dropout_scales_by_a_float64_factor(fn, shape, spatial, p):
    # the survivors are x * (1/(1-p)) rounded once in float64, bit for bit (PyTorch's float64
    # dropout multiplies by the double 1/(1-p)); a float32 factor is off by ~2e-8 relative
    lucid.random.seed(11)
    a = rand(*shape) + 3.0
    x = lucid.tensor(a, requires_grad=True)
    out = fn(x, p, training=True)
    assert out.dtype == lucid.float64
    kept = out.numpy() != 0
    if spatial:  # whole channels
        per_channel = kept.reshape(shape[: len(shape) - spatial] + (-1,))
        assert np.all(per_channel.all(-1) | ~per_channel.any(-1))
    assert 0 < kept.sum() < kept.size
    scale = 1.0 / (1.0 - p)
    np.testing.assert_array_equal(out.numpy(), np.where(kept, a * scale, 0.0))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(kept, scale, 0.0))


def test_float64_alpha_dropout_constants_are_float64():
    lucid.random.seed(12)
    p, sat = 0.3, 1.7580993408473766
    a = rand(60, 50)
    x = lucid.tensor(a, requires_grad=True)
    out = F.alpha_dropout(x, p, training=True)
    ov = out.numpy()
    scale = 1.0 / np.sqrt((sat**2 * p + 1) * (1 - p))  # PyTorch's float64 constants
    keep_value, drop_value = a * scale + sat * scale * p, sat * scale * p - sat * scale
    kept = ov != drop_value
    assert 0.5 < kept.mean() < 0.9
    np.testing.assert_allclose(ov, np.where(kept, keep_value, drop_value), rtol=1e-15, atol=0)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(kept, scale, 0.0))


# --- Embedding -----------------------------------------------------------------------------------
def test_embedding_lookup_and_scatter_add_gradient():
    lucid.random.seed(7)
    emb = nn.Embedding(6, 3)
    idx = np.array([[0, 2, 2], [5, 2, 4]])
    out = emb(lucid.tensor(idx))
    w = emb.weight.numpy()
    np.testing.assert_array_equal(out.numpy(), w[idx])
    upstream = rand(2, 3, 3)
    out.backward(lucid.tensor(upstream, dtype="float32"))
    expected = np.zeros((6, 3))
    np.add.at(expected, idx % 6, upstream)
    # float32 sums of up to three terms: an absolute error of a few ulps of the terms (the
    # test failed when run alone, on data where the sum cancels to 0.0056)
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected, rtol=1e-6, atol=1e-6)
    assert abs(emb.weight.numpy().std() - 1) < 0.6  # N(0, 1) init (18 draws)
    weight = lucid.tensor(rand(6, 3), requires_grad=True)
    assert gradcheck(lambda w: F.embedding(lucid.tensor(idx), w), [weight])


def test_embedding_padding_idx():
    emb = nn.Embedding(4, 2, padding_idx=1)
    assert np.all(emb.weight.numpy()[1] == 0)
    emb.weight.data = np.arange(8, dtype=np.float32).reshape(4, 2)
    out = emb(lucid.tensor([1, 3, 1, 0]))
    np.testing.assert_array_equal(out.numpy(), [[2, 3], [6, 7], [2, 3], [0, 1]])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy(), [[1, 1], [0, 0], [0, 0], [1, 1]])
    assert repr(emb) == "Embedding(4, 2, padding_idx=1)"
    assert nn.Embedding(4, 2, padding_idx=-1).padding_idx == 3


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_scale_grad_by_freq(dtype, padding_idx):
    # each occurrence's gradient divided by how often its id occurs in the whole batch
    idx = np.array([[0, 5, 2, 2], [2, 1, 5, 0]])
    upstream = rand(2, 4, 3)
    weight = lucid.tensor(rand(6, 3), dtype=dtype, requires_grad=True)
    out = F.embedding(lucid.tensor(idx), weight, padding_idx=padding_idx, scale_grad_by_freq=True)
    out.backward(lucid.tensor(upstream, dtype=dtype))
    counts = np.bincount(idx.ravel(), minlength=6)
    expected = np.zeros((6, 3))
    np.add.at(expected, idx, upstream / counts[idx][..., None])
    if padding_idx is not None:
        expected[padding_idx] = 0
    tol = {"float64": 1e-12, "float32": 1e-6, "float16": 2e-3}[dtype]
    np.testing.assert_allclose(weight.grad.numpy(), expected, rtol=tol, atol=tol)
    assert weight.grad.dtype == dtype
    # the same through the layer, host ids, and a gradient check in float64
    emb = nn.Embedding(6, 3, padding_idx=padding_idx, scale_grad_by_freq=True)
    emb(idx.tolist()).sum().backward()
    np.testing.assert_allclose(
        emb.weight.grad.numpy(),
        np.where(np.isin(np.arange(6), [padding_idx]), 0.0, (counts > 0).astype(float))[:, None]
        * np.ones((1, 3)),
        rtol=1e-6,
    )


def test_embedding_scale_grad_by_freq_ignores_bad_ids_in_counts():
    weight = lucid.tensor(rand(4, 2), requires_grad=True)
    out = F.embedding(lucid.tensor([0, 0, 7]), weight, scale_grad_by_freq=True)
    with pytest.raises(IndexError, match="index 7"):
        out.numpy()
    F.embedding(lucid.tensor([0, 0, 1]), weight, scale_grad_by_freq=True).sum().backward()
    np.testing.assert_allclose(weight.grad.numpy(), [[1, 1], [1, 1], [0, 0], [0, 0]])
    assert repr(nn.Embedding(4, 2, scale_grad_by_freq=True)) == (
        "Embedding(4, 2, scale_grad_by_freq=True)"
    )
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(4, 2, sparse=True)


def test_embedding_errors():
    emb = nn.Embedding(4, 2)
    for bad in (4, -1):  # negative ids are refused, as in PyTorch
        with pytest.raises(IndexError, match=f"index {bad} is out of range for an axis of size 4"):
            emb([0, bad])  # host data: at once
        out = emb(lucid.tensor([0, bad]))  # a tensor: at the next host read, NaN meanwhile
        with pytest.raises(IndexError, match=f"index {bad} is out of range for an axis of size 4"):
            out.numpy()
        assert np.isnan(out.numpy()[1]).all() and not np.isnan(out.numpy()[0]).any()
    with pytest.raises(TypeError, match="integers"):
        emb(lucid.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)


# --- Flatten / Unflatten -------------------------------------------------------------------------
def test_flatten_and_unflatten():
    x = rand(2, 3, 4, 5)
    check_op(lambda t: nn.Flatten()(t), lambda a: a.reshape(2, -1), x)
    check_op(lambda t: nn.Flatten(0, 1)(t), lambda a: a.reshape(6, 4, 5), x)
    check_op(lambda t: nn.Flatten(-2)(t), lambda a: a.reshape(2, 3, 20), x)
    check_op(lambda t: nn.Unflatten(1, (3, -1))(t), lambda a: a.reshape(2, 3, 4), rand(2, 12))
    assert nn.Unflatten(-1, (2, 2))(lucid.zeros(3, 4)).shape == (3, 2, 2)
    with pytest.raises(ValueError, match="do not multiply"):
        nn.Unflatten(1, (5, -1))(lucid.zeros(2, 12))
    with pytest.raises(ValueError, match="at most one -1"):
        nn.Unflatten(1, (-1, -1))
    with pytest.raises(ValueError, match="out of range"):
        nn.Unflatten(3, (2, 2))(lucid.zeros(3, 4))
