"""softmax / log_softmax: values against numpy float64 (also for huge logits), gradients
against finite differences and against the composite formula's autograd."""

import numpy as np
import pytest

import lucid
from lucid.ops.activation import log_softmax, softmax
from tests.helpers import check_op, grads_of, rand


def np_log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_softmax(x, axis):
    return np.exp(np_log_softmax(x, axis))


@pytest.mark.parametrize("fn,np_fn", [(softmax, np_softmax), (log_softmax, np_log_softmax)])
@pytest.mark.parametrize(
    "shape,axis",
    [((5,), -1), ((2, 3), 0), ((2, 3), -1), ((2, 3, 4), 1), ((2, 3, 4), -3), ((1, 4), 0)],
)
def test_values_and_grads(fn, np_fn, shape, axis):
    check_op(lambda x: fn(x, axis=axis), lambda x: np_fn(x, axis), rand(*shape, low=-3, high=3))


@pytest.mark.parametrize("fn,np_fn", [(softmax, np_softmax), (log_softmax, np_log_softmax)])
def test_huge_logits_stay_finite(fn, np_fn):
    a = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1000.5]])
    out = fn(lucid.tensor(a), axis=-1)
    assert np.isfinite(out.numpy()).all()
    np.testing.assert_allclose(out.numpy(), np_fn(a, -1), rtol=1e-5, atol=1e-6)


def test_softmax_rows_sum_to_one_and_gradient_of_sum_is_zero():
    a = rand(3, 4)
    np.testing.assert_allclose(
        softmax(lucid.tensor(a)).sum(axis=-1).numpy(), np.ones(3), rtol=1e-12
    )
    (g,) = grads_of(lambda x: softmax(x, axis=-1), a)
    np.testing.assert_allclose(g, np.zeros_like(a), atol=1e-14)


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_matches_composite_autograd(fn):
    a, seed = rand(2, 5), rand(2, 5)
    composite = (
        (lambda x: x - x.logsumexp(axis=1, keepdims=True))
        if fn is log_softmax
        else (lambda x: (x - x.logsumexp(axis=1, keepdims=True)).exp())
    )
    s = lucid.tensor(seed, dtype="float64")
    np.testing.assert_allclose(
        grads_of(lambda x: fn(x, axis=1), a, seed=s)[0],
        grads_of(composite, a, seed=s)[0],
        rtol=1e-12,
        atol=1e-14,
    )


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_bad_axis(fn):
    with pytest.raises(ValueError, match="dim 2 .*2 dimensions"):
        fn(lucid.ones(2, 3), dim=2)


@pytest.mark.parametrize("fn", [softmax, log_softmax])
@pytest.mark.parametrize("shape,axis", [((0, 3), -1), ((0, 3), 0), ((3, 0), 1)])
def test_empty_inputs(fn, shape, axis):
    x = lucid.zeros(*shape, requires_grad=True)
    out = fn(x, axis=axis)
    assert out.shape == shape
    out.sum().backward()
    assert x.grad.shape == shape


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_0d_input_has_no_axis(fn):
    with pytest.raises(ValueError, match="dim -1 is out of range for a tensor with 0 dim"):
        fn(lucid.tensor(1.0))


# --- the further activations: numpy float64 formulas, gradcheck off the kinks, PyTorch at them
import lucid.nn as nn  # noqa: E402
import lucid.nn.functional as F  # noqa: E402
from tests.helpers import away_from  # noqa: E402
from tests.torch_compare import compare_with_torch  # noqa: E402

_A, _S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_softplus(x):
    return np.logaddexp(0, x)


# name, lucid fn, numpy reference, kinks (finite differences stay away from them)
POINTWISE = [
    ("hardtanh", lambda x: F.hardtanh(x, -0.5, 1.5), lambda x: np.clip(x, -0.5, 1.5), (-0.5, 1.5)),
    ("relu6", lambda x: F.relu6(x * 4), lambda x: np.clip(x * 4, 0, 6), (0.0, 1.5)),
    ("selu", F.selu, lambda x: _S * np.where(x > 0, x, _A * np.expm1(x)), (0.0,)),
    (
        "celu",
        lambda x: F.celu(x, 0.7),
        lambda x: np.where(x > 0, x, 0.7 * np.expm1(x / 0.7)),
        (0.0,),
    ),
    ("mish", F.mish, lambda x: x * np.tanh(_np_softplus(x)), ()),
    (
        "hardswish",
        lambda x: F.hardswish(x * 2),
        lambda x: 2 * x * np.clip(2 * x + 3, 0, 6) / 6,
        (-1.5, 1.5),
    ),
    (
        "hardsigmoid",
        lambda x: F.hardsigmoid(x * 2),
        lambda x: np.clip(2 * x + 3, 0, 6) / 6,
        (-1.5, 1.5),
    ),
    ("logsigmoid", F.logsigmoid, lambda x: -_np_softplus(-x), ()),
    ("softsign", F.softsign, lambda x: x / (1 + np.abs(x)), (0.0,)),
    ("tanhshrink", F.tanhshrink, lambda x: x - np.tanh(x), ()),
    (
        "hardshrink",
        lambda x: F.hardshrink(x, 0.6),
        lambda x: np.where(np.abs(x) > 0.6, x, 0),
        (-0.6, 0.6),
    ),
    (
        "softshrink",
        lambda x: F.softshrink(x, 0.6),
        lambda x: np.where(x > 0.6, x - 0.6, np.where(x < -0.6, x + 0.6, 0)),
        (-0.6, 0.6),
    ),
    (
        "threshold",
        lambda x: F.threshold(x, 0.3, -2.0),
        lambda x: np.where(x > 0.3, x, -2.0),
        (0.3,),
    ),
    ("softmin", lambda x: F.softmin(x, dim=1), lambda x: np.exp(np_log_softmax(-x, 1)), ()),
    ("glu", lambda x: F.glu(x, 1), lambda x: x[:, :2] * _np_sigmoid(x[:, 2:]), ()),
]


@pytest.mark.parametrize("name,fn,np_fn,kinks", POINTWISE, ids=[p[0] for p in POINTWISE])
def test_further_activations_match_numpy_and_gradcheck(name, fn, np_fn, kinks):
    x = away_from(rand(3, 4, 5, low=-3, high=3), kinks, gap=0.05)
    check_op(fn, np_fn, x)


# exact kink points are in the data: PyTorch's choice of one-sided gradient must be matched
TORCH_CASES = [
    ("hardtanh", (-1.0, 1.0), {}),
    ("relu6", (0.0, 6.0), {}),
    ("selu", (0.0,), {}),
    ("celu", (0.0,), {"alpha": 0.5}),
    ("mish", (0.0,), {}),
    ("hardswish", (-3.0, 3.0), {}),
    ("hardsigmoid", (-3.0, 3.0), {}),
    ("logsigmoid", (0.0, 40.0, -40.0), {}),
    ("softsign", (0.0,), {}),
    ("tanhshrink", (0.0,), {}),
    ("hardshrink", (-0.5, 0.5), {}),
    ("softshrink", (-0.5, 0.5), {"lambd": 0.5}),
    ("threshold", (0.5,), {"threshold": 0.5, "value": 3.0}),
    ("softmin", (), {"dim": 1}),
    ("glu", (), {"dim": 1}),
    ("softmax", (), {"dim": 0}),
    ("log_softmax", (), {"dim": 2}),
]


@pytest.mark.parametrize("name,points,kw", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_further_activations_match_torch_at_kinks(name, points, kw):
    torch = pytest.importorskip("torch")
    x = rand(2, 4, 8, low=-7, high=7)
    x.flat[: len(points)] = points
    # PyTorch's float64 hardsigmoid backward multiplies by a float32-rounded 1/6 (its gradient
    # is 1/6 * (1 + 2.98e-8); Lucid's is 1/6 to the last bit, see the test below)
    rtol = 1e-7 if name == "hardsigmoid" else 1e-12
    compare_with_torch(
        lambda t: getattr(F, name)(t, **kw),
        lambda t: getattr(torch.nn.functional, name)(t, **kw),
        x,
        rtol=rtol,
        atol=1e-14,
    )


def test_hardsigmoid_gradient_is_one_sixth_exactly():
    x = np.linspace(-2.9, 2.9, 11)
    (g,) = grads_of(F.hardsigmoid, x)
    assert (g == 1 / 6).all()


@pytest.mark.parametrize(
    "shape,weight_shape", [((2, 3, 4, 5), (3,)), ((2, 3, 4), (1,)), ((5,), (1,)), ((2, 3), (3,))]
)
def test_prelu_matches_numpy_gradcheck_and_torch(shape, weight_shape):
    x, w = away_from(rand(*shape)), rand(*weight_shape)

    def np_prelu(x, w):
        wb = w.reshape([-1 if i == 1 and w.size > 1 else 1 for i in range(x.ndim)])
        return np.where(x > 0, x, wb * x)

    check_op(F.prelu, np_prelu, x, w)
    torch = pytest.importorskip("torch")
    x.flat[0] = 0.0  # the kink: PyTorch sends the gradient to the weight there
    compare_with_torch(F.prelu, torch.nn.functional.prelu, x, w)


def test_prelu_module_and_errors():
    m = nn.PReLU(3, init=0.1)
    assert m.weight.shape == (3,) and np.allclose(m.weight.numpy(), 0.1)
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match="2 values; expected 1 or the 3 channels"):
        F.prelu(lucid.ones(2, 3, 4), lucid.ones(2))
    with pytest.raises(ValueError, match="4 values; expected 1 or the 1 channels"):
        F.prelu(lucid.ones(4), lucid.ones(4))  # as PyTorch: a 1-D input has one channel
    with pytest.raises(ValueError, match="positive int"):
        nn.PReLU(0)


@pytest.mark.parametrize(
    "module,fn",
    [
        (nn.Hardtanh(-2.0, 2.0), lambda x: F.hardtanh(x, -2.0, 2.0)),
        (nn.ReLU6(), F.relu6),
        (nn.SELU(), F.selu),
        (nn.CELU(2.0), lambda x: F.celu(x, 2.0)),
        (nn.Mish(), F.mish),
        (nn.Hardswish(), F.hardswish),
        (nn.Hardsigmoid(), F.hardsigmoid),
        (nn.LogSigmoid(), F.logsigmoid),
        (nn.Softsign(), F.softsign),
        (nn.GLU(1), lambda x: F.glu(x, 1)),
        (nn.Softmin(1), lambda x: F.softmin(x, 1)),
        (nn.Hardshrink(0.3), lambda x: F.hardshrink(x, 0.3)),
        (nn.Softshrink(0.3), lambda x: F.softshrink(x, 0.3)),
        (nn.Tanhshrink(), F.tanhshrink),
        (nn.Threshold(0.1, 20), lambda x: F.threshold(x, 0.1, 20)),
    ],
)
def test_activation_modules_apply_their_function(module, fn):
    x = lucid.tensor(rand(2, 4, 3))
    np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())


def test_module_reprs_match_pytorch():
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    assert repr(nn.Softshrink()) == "Softshrink(0.5)"
    assert repr(nn.Threshold(0.1, 20)) == "Threshold(threshold=0.1, value=20)"
    assert repr(nn.PReLU()) == "PReLU(num_parameters=1)"
    assert repr(nn.GLU()) == "GLU(dim=-1)"


@pytest.mark.parametrize("ndim,dim", [(1, 0), (2, 1), (3, 0), (4, 1)])
def test_implicit_softmax_dim_is_pytorchs_with_a_warning(ndim, dim):
    x = lucid.tensor(rand(*(2,) * ndim))
    for name in ("softmax", "log_softmax", "softmin"):
        with pytest.warns(UserWarning, match="Implicit dimension"):
            out = getattr(F, name)(x)
        np.testing.assert_array_equal(out.numpy(), getattr(F, name)(x, dim=dim).numpy())


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: F.glu(lucid.ones(2, 3), 1), "even size"),
        (lambda: F.hardtanh(lucid.ones(2), 1.0, -1.0), "must not exceed"),
        (lambda: F.softshrink(lucid.ones(2), -1.0), "non-negative"),
        (lambda: F.celu(lucid.ones(2), 0.0), "alpha must not be 0"),
    ],
)
def test_activation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
