"""Elementwise ops: values against numpy float64, gradients against finite differences
(``gradcheck``), broadcasting, 0-d and empty tensors, dtypes, bad input."""

import math

import numpy as np
import pytest

import lucid
from tests.helpers import away_from, check_op, grads_of, rand

# (lhs shape, rhs shape): equal, broadcast both ways, scalar-like, 0-d, leading axes, empty
BROADCAST = [
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((3, 1), (1, 4)),
    ((2, 1, 3), (4, 1)),
    ((), (2, 2)),
    ((2, 3), ()),
    ((), ()),
    ((0, 3), (3,)),
    ((1,), (2, 0)),
]

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a**b, np.power),
    "maximum": (lucid.maximum, np.maximum),
    "minimum": (lucid.minimum, np.minimum),
}


def _operands(name, sa, sb):
    a, b = rand(*sa), rand(*sb)
    if name == "div":
        b = away_from(b, gap=0.5)
    if name == "pow":
        a, b = rand(*sa, low=0.5, high=2.0), rand(*sb, low=-1.5, high=1.5)
    return a, b


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("sa,sb", BROADCAST)
def test_binary_values_and_grads(name, sa, sb):
    fn, np_fn = BINARY[name]
    check_op(fn, np_fn, *_operands(name, sa, sb))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_python_scalar_on_either_side(name):
    fn, np_fn = BINARY[name]
    a = rand(2, 3, low=0.5, high=2.0)
    check_op(lambda x: fn(x, 1.5), lambda x: np_fn(x, 1.5), a)
    check_op(lambda x: fn(1.5, x), lambda x: np_fn(1.5, x), a)


def test_numpy_operand_on_the_left_gives_a_tensor():
    x = lucid.tensor([1.0, 2.0])
    out = np.float32(3.0) * x
    assert isinstance(out, lucid.Tensor) and out.tolist() == [3.0, 6.0]
    out = np.array([1.0, 1.0]) + x
    assert isinstance(out, lucid.Tensor) and out.tolist() == [2.0, 3.0]


def test_broadcast_gradient_matches_numpy_derivation():
    a, b = rand(2, 1, 3), rand(4, 1)
    ga, gb = grads_of(lambda x, y: x * y, a, b)
    full = np.ones((2, 4, 3))
    np.testing.assert_allclose(ga, (full * b).sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(gb, (full * a).sum(axis=(0, 2))[:, None], rtol=1e-12)


def test_pow_gradients_at_a_zero_base_are_finite():
    ga, gb = grads_of(lambda x, y: x**y, np.array([0.0, 0.0, 2.0]), np.array([2.0, 0.0, 3.0]))
    np.testing.assert_allclose(ga, [0.0, 0.0, 12.0])
    np.testing.assert_allclose(gb, [0.0, 0.0, 8 * np.log(2.0)], rtol=1e-6)


def test_floordiv_values_and_zero_grad():
    a = np.array([[3.5, -3.5, 7.25], [0.3, 9.9, -0.1]])
    b = np.array([2.0, -1.5, 0.7])
    check_op(lambda x, y: x // y, np.floor_divide, a, b, grad=False)
    ga, gb = grads_of(lambda x, y: x // y, a, b)
    assert not ga.any() and not gb.any()
    assert (lucid.tensor([7, -7]) // 2).tolist() == [3, -4]


def test_neg_and_abs():
    a = away_from(rand(3, 4))
    check_op(lambda x: -x, np.negative, a)
    check_op(abs, np.abs, a)
    check_op(lucid.abs, np.abs, a)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


UNARY = {  # name: (lucid fn, numpy fn, data)
    "exp": (lucid.exp, np.exp, lambda s: rand(*s)),
    "log": (lucid.log, np.log, lambda s: rand(*s, low=0.2, high=3.0)),
    "log1p": (lucid.log1p, np.log1p, lambda s: rand(*s, low=-0.5, high=3.0)),
    "sqrt": (lucid.sqrt, np.sqrt, lambda s: rand(*s, low=0.2, high=3.0)),
    "sin": (lucid.sin, np.sin, lambda s: rand(*s)),
    "cos": (lucid.cos, np.cos, lambda s: rand(*s)),
    "tanh": (lucid.tanh, np.tanh, lambda s: rand(*s)),
    "sigmoid": (lucid.sigmoid, _sigmoid, lambda s: rand(*s, low=-4, high=4)),
    "relu": (lucid.relu, lambda x: np.maximum(x, 0), lambda s: away_from(rand(*s))),
    "square": (lucid.square, np.square, lambda s: rand(*s)),
    "erf": (lucid.erf, np.vectorize(math.erf), lambda s: rand(*s)),
    "abs": (lucid.abs, np.abs, lambda s: away_from(rand(*s))),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(2, 3), (), (0, 2)])
def test_unary_values_and_grads(name, shape):
    fn, np_fn, data = UNARY[name]
    check_op(fn, lambda x: np_fn(x) if x.size else x.copy(), data(shape))


@pytest.mark.parametrize(
    "name",
    [
        "exp",
        "log",
        "sqrt",
        "sin",
        "cos",
        "tanh",
        "sigmoid",
        "relu",
        "abs",
        "clip",
        "maximum",
        "minimum",
    ],
)
def test_unary_methods_exist(name):
    x = lucid.tensor([0.5, 1.5])
    fn = getattr(x, name)
    out = fn(1.0) if name in ("maximum", "minimum") else fn(0.0, 1.0) if name == "clip" else fn()
    assert isinstance(out, lucid.Tensor) and out.shape == (2,)


def test_kinks_use_the_documented_subgradients():
    g_relu, g_abs = (
        grads_of(lambda x: lucid.relu(x), np.array([-1.0, 0.0, 2.0]))[0],
        grads_of(lambda x: lucid.abs(x), np.array([-1.0, 0.0, 2.0]))[0],
    )
    np.testing.assert_array_equal(g_relu, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(g_abs, [-1.0, 0.0, 1.0])
    # ties in maximum/minimum split the gradient evenly
    ga, gb = grads_of(lucid.maximum, np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0]))
    np.testing.assert_array_equal(ga, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gb, [0.5, 0.0, 1.0])


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.7), (None, 0.3), (-0.2, None)])
def test_clip(lo, hi):
    a = away_from(rand(3, 4), points=[v for v in (lo, hi) if v is not None], gap=0.05)
    check_op(lambda x: lucid.clip(x, lo, hi), lambda x: np.clip(x, lo, hi), a)
    assert lucid.tensor([-2.0, 2.0]).clamp(-1, 1).tolist() == [-1.0, 1.0]


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="min or max"):
        lucid.clip(lucid.ones(2), None, None)


@pytest.mark.parametrize(
    "sc,sa,sb", [((2, 3), (2, 3), (2, 3)), ((2, 3), (3,), (2, 1)), ((3,), (), (2, 3))]
)
def test_where(sc, sa, sb):
    cond = rand(*sc) > 0
    check_op(
        lambda a, b: lucid.where(lucid.tensor(cond), a, b),
        lambda a, b: np.where(cond, a, b),
        rand(*sa),
        rand(*sb),
    )


def test_where_with_a_scalar_branch():
    x = lucid.tensor([-1.0, 2.0], requires_grad=True)
    out = lucid.where(x > 0, x, 0.0)
    out.sum().backward()
    assert out.tolist() == [0.0, 2.0] and x.grad.tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "op,np_op",
    [
        ("__eq__", np.equal),
        ("__ne__", np.not_equal),
        ("__lt__", np.less),
        ("__le__", np.less_equal),
        ("__gt__", np.greater),
        ("__ge__", np.greater_equal),
    ],
)
def test_comparisons_are_bool_and_untracked(op, np_op):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    x = lucid.tensor(a, requires_grad=True)
    out = getattr(x, op)(lucid.tensor(b))
    assert out.dtype == lucid.bool_ and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), np_op(a, b))
    np.testing.assert_array_equal(getattr(x, op)(2.0).numpy(), np_op(a, 2.0))


def test_logical_not_isnan_isinf():
    x = lucid.tensor([1.0, float("nan"), float("inf")])
    assert x.isnan().tolist() == [False, True, False]
    assert x.isinf().tolist() == [False, False, True]
    assert (~(x > 0)).tolist() == [False, True, False]


def test_sign_has_no_gradient():
    x = lucid.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    s = lucid.sign(x)
    assert s.tolist() == [-1.0, 0.0, 1.0] and not s.requires_grad


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_float_dtypes_are_kept(dtype):
    x = lucid.ones(2, dtype=dtype, requires_grad=True)
    y = (x * 2.0 + 1.0).exp()
    assert y.dtype == dtype
    y.sum().backward()
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(3.0) * np.ones(2), rtol=1e-2)


def test_integer_arithmetic_keeps_integers():
    x = lucid.tensor([1, 2, 3])
    assert (x + x).dtype == lucid.int64 and (x * 2).dtype == lucid.int64
    assert (x / 2).dtype.is_floating_point
    assert (x / 2).tolist() == [0.5, 1.0, 1.5]


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_incompatible_shapes_name_both_shapes(name):
    fn = BINARY[name][0]
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        fn(lucid.ones(2, 3), lucid.ones(4))


def test_where_with_incompatible_shapes_raises():
    with pytest.raises(ValueError, match=r"where: shapes \(2,\) and \(3,\)"):
        lucid.where(lucid.ones(2) > 0, lucid.ones(3), 0.0)


def test_comparison_with_incompatible_shapes_raises():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        lucid.ones(2) < lucid.ones(3)


# --- float64 means float64 (MLX's CPU kernels are float32-accurate for some of these) ----------
_erf = np.vectorize(math.erf)
_X64 = np.random.default_rng(11).uniform(-3, 3, (4, 5))
_POS64 = np.random.default_rng(12).uniform(0.5, 4, (4, 5))


def _np_log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


FLOAT64_CASES = {  # name: (lucid fn, float64 reference, input)
    "exp": (lucid.exp, np.exp, _X64),
    "log": (lucid.log, np.log, _POS64),
    "log1p": (lucid.log1p, np.log1p, _POS64),
    "sin": (lucid.sin, np.sin, _X64),
    "cos": (lucid.cos, np.cos, _X64),
    "tanh": (lucid.tanh, np.tanh, _X64),
    "sigmoid": (lucid.sigmoid, lambda x: 1 / (1 + np.exp(-x)), _X64),
    "erf": (lucid.erf, _erf, _X64),
    "pow": (lambda x: x**2.7, lambda x: x**2.7, _POS64),
    "logsumexp": (
        lambda x: lucid.logsumexp(x, axis=1),
        lambda x: np.log(np.exp(x).sum(axis=1)),
        _X64,
    ),
    "softmax": (
        lambda x: lucid.nn.functional.softmax(x, dim=1),
        lambda x: np.exp(_np_log_softmax(x, 1)),
        _X64,
    ),
    "log_softmax": (
        lambda x: lucid.nn.functional.log_softmax(x, dim=0),
        lambda x: _np_log_softmax(x, 0),
        _X64,
    ),
    "gelu": (lucid.nn.functional.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), _X64),
}


@pytest.mark.parametrize("name", sorted(FLOAT64_CASES))
def test_float64_values_are_float64_accurate(name):
    fn, ref, x = FLOAT64_CASES[name]
    out = fn(lucid.tensor(x, dtype="float64"))
    assert out.dtype == lucid.float64
    # float32 accuracy (MLX's exp/sin/cos/erf/sigmoid kernels in float64) is ~1e-7 relative
    np.testing.assert_allclose(out.numpy(), ref(x), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", sorted(FLOAT64_CASES))
def test_float64_gradients_pass_a_tight_gradcheck(name):
    fn, _, x = FLOAT64_CASES[name]
    # with float32-accurate values the differences would be noise at this step and tolerance
    assert lucid.autograd.gradcheck(
        fn, [lucid.tensor(x, dtype="float64", requires_grad=True)], eps=3e-6, atol=1e-10, rtol=1e-10
    )


def test_float64_exact_route_keeps_special_values():
    x = lucid.tensor([-np.inf, -800.0, 0.0, 800.0, np.inf, np.nan], dtype="float64")
    np.testing.assert_array_equal(lucid.sigmoid(x).numpy()[:5], [0.0, 0.0, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(lucid.exp(x).numpy()[[0, 2, 4]], [0.0, 1.0, np.inf])
    assert np.isnan(lucid.erf(x).numpy()[5]) and lucid.erf(x).numpy()[4] == 1.0
    inf_rows = lucid.tensor([[-np.inf, -np.inf], [np.inf, 1.0]], dtype="float64")
    np.testing.assert_array_equal(lucid.logsumexp(inf_rows, axis=1).numpy(), [-np.inf, np.inf])


def test_rounding_ops_against_numpy_with_a_recorded_zero_gradient():
    values = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 1.26, -3.7, 0.0, 7.0])
    refs = {"round": np.round, "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc}
    for name, ref in refs.items():
        for dtype in ("float32", "float64"):
            x = lucid.tensor(values.astype(dtype), requires_grad=True)
            y = getattr(lucid, name)(x)
            np.testing.assert_array_equal(y.numpy(), ref(values.astype(dtype)))
            assert y.requires_grad and y.dtype == x.dtype  # recorded, as PyTorch's
            (y * 3).sum().backward()
            np.testing.assert_array_equal(x.grad.numpy(), 0.0)
            np.testing.assert_array_equal(getattr(x, name)().numpy(), y.numpy())
    np.testing.assert_allclose(
        lucid.round(lucid.tensor([1.25, 2.675, -0.35], dtype=lucid.float64), decimals=2).numpy(),
        np.round([1.25, 2.675, -0.35], 2),
        rtol=0,
        atol=1e-15,
    )
    ints = lucid.tensor([1, -2, 3])
    assert lucid.floor(ints).dtype == lucid.int64 and lucid.round(ints).tolist() == [1, -2, 3]
    np.testing.assert_array_equal(
        lucid.isfinite(lucid.tensor([1.0, np.inf, -np.inf, np.nan])).numpy(), [1, 0, 0, 0]
    )
    with pytest.raises(TypeError, match="decimals must be an int"):
        lucid.round(lucid.ones(2), decimals=0.5)
