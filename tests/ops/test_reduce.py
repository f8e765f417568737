"""Reductions: values against numpy float64 and gradients against finite differences, over
dim None / int / negative / tuple, keepdim, 0-d and empty tensors; bad dims; PyTorch's argument
forms (max(dim) -> (values, indices), var/std unbiased by default); accuracy of large float32 and
float16 sums and means."""

import numpy as np
import pytest

import lucid
from lucid import _backend as B
from tests.helpers import check_op, grads_of, rand

AXES = [None, 0, -1, (0, 2), (-1, -3), 1]
SHAPE = (2, 3, 2)


def distinct(*shape):
    """Values with no ties and gaps well above gradcheck's step (for max/min/prod)."""
    n = int(np.prod(shape))
    return (np.random.default_rng(n).permutation(n) - n / 2 + 0.5).reshape(shape) * 0.37


def np_unbiased(fn):
    return lambda x, axis, keepdims: fn(x, axis=axis, keepdims=keepdims, ddof=1)


REDUCTIONS = {  # name: (numpy function, data)
    "sum": (np.sum, rand),
    "mean": (np.mean, rand),
    "amax": (np.max, distinct),
    "amin": (np.min, distinct),
    "var": (np_unbiased(np.var), rand),
    "std": (np_unbiased(np.std), rand),
    "prod": (np.prod, lambda *s: rand(*s, low=0.5, high=1.5)),
    "logsumexp": (
        lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
        rand,
    ),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("dim", AXES)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reduction(name, dim, keepdim):
    np_fn, data = REDUCTIONS[name]
    check_op(
        lambda x: getattr(lucid, name)(x, dim=dim, keepdim=keepdim),
        lambda x: np_fn(x, axis=dim, keepdims=keepdim),
        data(*SHAPE),
    )


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "std", "argmax", "all"])
def test_numpy_axis_keepdims_are_aliases(name):
    x = lucid.tensor(distinct(2, 3))
    if name == "all":
        x = x > 0
    a = getattr(x, name)(axis=1, keepdims=True)
    b = getattr(x, name)(dim=1, keepdim=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(TypeError, match="both dim= and its alias axis="):
        getattr(x, name)(dim=1, axis=1)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_method_and_0d(name):
    np_fn, data = REDUCTIONS[name]
    check_op(
        lambda x: getattr(x, name)(), lambda x: np_fn(x, axis=None, keepdims=False), data(3, 2)
    )
    if name in ("var", "std"):  # one element: n - 1 = 0, NaN as in PyTorch
        assert np.isnan(getattr(lucid.tensor(0.7), name)().item())
        return
    zero_d = np.array(0.7)
    check_op(lambda x: getattr(x, name)(), lambda x: np_fn(x, axis=None, keepdims=False), zero_d)


@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_std_correction(correction):
    a = rand(4, 3)
    check_op(
        lambda x: x.var(0, correction=correction), lambda x: np.var(x, axis=0, ddof=correction), a
    )
    check_op(
        lambda x: x.std(dim=1, correction=correction),
        lambda x: np.std(x, axis=1, ddof=correction),
        a,
    )


def test_var_std_unbiased_forms():
    a = rand(4, 3)
    x = lucid.tensor(a)
    np.testing.assert_allclose(x.var().item(), np.var(a, ddof=1), rtol=1e-5)  # the default
    np.testing.assert_allclose(x.std(False).item(), np.std(a), rtol=1e-5)  # std(x, unbiased)
    np.testing.assert_allclose(x.var(unbiased=False).item(), np.var(a), rtol=1e-5)
    np.testing.assert_allclose(x.var(1, True).numpy(), np.var(a, axis=1, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(
        x.std(0, keepdim=True, unbiased=False).numpy(), np.std(a, axis=0, keepdims=True), rtol=1e-5
    )
    with pytest.raises(TypeError, match="unbiased= or correction="):
        x.var(unbiased=True, correction=0)


def test_std_of_a_constant_has_a_zero_gradient():
    for dt in ("float32", "float64"):
        x = lucid.ones(5, dtype=dt, requires_grad=True)
        x.std().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros(5))
    x = lucid.tensor([[1.0, 1.0], [1.0, 3.0]], requires_grad=True)
    x.std(dim=1).sum().backward()  # row 0 is constant: 0; row 1 is (x - mean) / (std * (n - 1))
    np.testing.assert_allclose(
        x.grad.numpy(), [[0.0, 0.0], [-1 / np.sqrt(2), 1 / np.sqrt(2)]], rtol=1e-6
    )


@pytest.mark.parametrize("which", ["max", "min"])
@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, True), (-1, False)])
def test_max_min_with_dim_return_values_and_indices(which, dim, keepdim):
    a = distinct(3, 4)
    out = getattr(lucid.tensor(a), which)(dim, keepdim=keepdim)
    values, indices = out  # unpacks like PyTorch's named tuple
    assert out.values is values and out.indices is indices
    np_arg = np.argmax if which == "max" else np.argmin
    expected_idx = np_arg(a, axis=dim)
    expected_val = np.max(a, axis=dim) if which == "max" else np.min(a, axis=dim)
    if keepdim:
        expected_idx, expected_val = (
            np.expand_dims(expected_idx, dim),
            np.expand_dims(expected_val, dim),
        )
    np.testing.assert_array_equal(indices.numpy(), expected_idx)
    assert indices.dtype == lucid.int64
    np.testing.assert_allclose(values.numpy(), expected_val, rtol=1e-6)
    # the gradient goes to the selected element (checked against finite differences)
    check_op(lambda x: getattr(x, which)(dim, keepdim).values, lambda x: expected_val, a)
    _, pred = getattr(lucid.tensor(a), which)(1)  # the classic `_, pred = logits.max(1)`
    np.testing.assert_array_equal(pred.numpy(), np_arg(a, axis=1))


def test_max_forms_without_dim_and_elementwise():
    a, b = distinct(2, 3), distinct(2, 3)[::-1].copy()
    x, y = lucid.tensor(a), lucid.tensor(b)
    assert x.max().shape == () and x.max().item() == pytest.approx(a.max())
    np.testing.assert_allclose(lucid.max(x, y).numpy(), np.maximum(a, b), rtol=1e-6)
    np.testing.assert_allclose(x.min(y).numpy(), np.minimum(a, b), rtol=1e-6)
    with pytest.raises(TypeError, match="without dim takes no keepdim"):
        x.max(keepdim=True)


def test_ties_share_the_gradient():
    (g,) = grads_of(lambda x: x.max(), np.array([1.0, 3.0, 3.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5, 0.0])
    (g,) = grads_of(lambda x: x.amin(dim=1), np.array([[1.0, 1.0], [0.0, 2.0]]))
    np.testing.assert_array_equal(g, [[0.5, 0.5], [1.0, 0.0]])


def test_prod_gradient_with_zeros_is_exact():
    a = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 4.0, 2.0]])
    (g,) = grads_of(lambda x: x.prod(dim=1), a)
    np.testing.assert_array_equal(g, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 2.0, 4.0]])
    check_op(lambda x: x.prod(dim=0), lambda x: np.prod(x, axis=0), a)


def test_empty_reductions_follow_numpy():
    x = lucid.zeros(0, 3, requires_grad=True)
    s = x.sum(dim=0)
    assert s.shape == (3,) and s.tolist() == [0.0, 0.0, 0.0]
    assert x.sum().item() == 0.0
    assert x.prod(dim=0).tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(x.mean().item())
    assert x.sum(dim=1).shape == (0,)
    s.sum().backward()
    assert x.grad.shape == (0, 3)
    with pytest.raises(ValueError, match=r"empty.*\(0, 3\)"):
        x.max()
    with pytest.raises(IndexError, match=r"dim 0 .*\(0, 3\).* size 0"):
        x.max(0)
    with pytest.raises(ValueError, match=r"\(0, 3\)"):
        x.argmax()


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin", "argmax", "argmin"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_extremes_of_an_empty_batch_are_empty_as_in_pytorch(name, keepdim):
    """Over a non-empty dim of an empty tensor (a batch of 0 rows) the result is empty, with
    its shape and (for max/min(dim)) int64 indices; over a dim of size 0 it is refused."""
    differentiable = name in ("max", "min", "amax", "amin")
    x = lucid.zeros(0, 3, 2, requires_grad=differentiable)
    out = getattr(x, name)(dim=1, keepdim=keepdim)
    values = out[0] if name in ("max", "min") else out
    assert values.shape == ((0, 1, 2) if keepdim else (0, 2))
    if name in ("max", "min"):
        assert out[1].shape == values.shape and out[1].dtype == lucid.int64
    if name.startswith("arg"):
        assert values.dtype == lucid.int64
    if differentiable:
        values.sum().backward()
        assert x.grad.shape == (0, 3, 2)
    with pytest.raises(IndexError, match=rf"{name}\(\): reduction dim 0 .* size 0"):
        getattr(x, name)(dim=0, keepdim=keepdim)
    torch = pytest.importorskip("torch")
    t = torch.zeros(0, 3, 2)
    expected = getattr(t, name)(dim=1, keepdim=keepdim)
    expected = expected[0] if name in ("max", "min") else expected
    assert tuple(expected.shape) == values.shape
    with pytest.raises(IndexError, match="non-zero size"):
        getattr(t, name)(dim=0, keepdim=keepdim)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize(
    "dim,keepdim", [(None, False), (None, True), (0, False), (-1, True), (1, False)]
)
def test_argmax_argmin(name, dim, keepdim):
    a = distinct(3, 4)
    x = lucid.tensor(a, requires_grad=True)
    out = getattr(x, name)(dim=dim, keepdim=keepdim)
    expected = getattr(np, name)(a, axis=dim, keepdims=keepdim)
    assert out.dtype == lucid.int64 and not out.requires_grad
    assert out.shape == np.shape(expected)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_all_any():
    a = np.array([[True, False], [True, True]])
    x = lucid.tensor(a)
    for dim in (None, 0, -1, (0, 1)):
        np.testing.assert_array_equal(x.all(dim=dim).numpy(), a.all(axis=dim))
        np.testing.assert_array_equal(x.any(dim).numpy(), a.any(axis=dim))


def test_integer_and_bool_sums_are_int64_and_mean_needs_a_float():
    assert lucid.tensor([[1, 2], [3, 4]]).sum(dim=0).tolist() == [4, 6]
    assert lucid.tensor([1, 2], dtype=lucid.int32).sum().dtype == lucid.int64
    s = lucid.tensor([True, True, False]).sum()
    assert s.dtype == lucid.int64 and s.item() == 2
    assert lucid.tensor([2, 3]).prod().dtype == lucid.int64
    with pytest.raises(TypeError, match="floating-point.*int64.*dtype="):
        lucid.tensor([1, 2]).mean()
    assert lucid.tensor([1, 2]).mean(dtype=lucid.float32).item() == 1.5
    assert lucid.tensor([1, 2]).sum(dtype=lucid.float32).dtype == lucid.float32


@pytest.mark.parametrize(
    "name", ["sum", "mean", "max", "amax", "var", "logsumexp", "argmax", "all"]
)
def test_bad_dim_names_the_dim_and_ndim(name):
    x = lucid.ones(2, 3)
    if name == "all":
        x = x > 0
    with pytest.raises(ValueError, match=r" 2 .*2 dimensions"):
        getattr(x, name)(dim=2)
    with pytest.raises(ValueError, match=" -3 "):
        getattr(x, name)(dim=-3)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "var", "logsumexp", "argmax"])
def test_0d_tensors_have_no_dim_0(name):
    with pytest.raises(ValueError, match="0 is out of range for a tensor with 0 dim"):
        getattr(lucid.tensor(1.5), name)(dim=0)


def test_logsumexp_of_empty_is_minus_infinity():
    x = lucid.zeros(3, 0, requires_grad=True)
    out = x.logsumexp(dim=1)
    np.testing.assert_array_equal(out.numpy(), np.full(3, -np.inf))
    assert lucid.zeros(0, 3).logsumexp(dim=1).shape == (0,)
    lucid.zeros(0, 3, requires_grad=True).logsumexp(dim=1).sum().backward()


def test_repeated_or_non_int_dim():
    x = lucid.ones(2, 3)
    with pytest.raises(ValueError, match="repeated axis"):
        x.sum(dim=(1, -1))
    with pytest.raises(TypeError, match="axis must be an int"):
        x.sum(dim=1.0)


# --- accuracy: blockwise accumulation (MLX's CPU sum is sequential) ---------------------------
def _noisy_ones(*shape):
    return (1.0 + np.random.default_rng(0).standard_normal(shape)).astype(np.float32)


def test_float32_mean_over_a_million_values_is_as_accurate_as_pairwise_summation():
    a = _noisy_ones(10**6)
    exact = a.astype(np.float64).mean()
    err = abs(lucid.tensor(a).mean().item() - exact)
    assert err < 5e-7, err  # measured ~1e-8; PyTorch ~5e-8
    naive = abs(B.to_numpy(B.mean(B.from_numpy(a))).item() - exact)
    assert naive > 5e-7, naive  # MLX's own mean misses this bound (~1e-5): the test can fail


@pytest.mark.parametrize("dim", [(0, 2, 3, 4), (1,), (2, 3, 4), (0, 4), None])
def test_float32_sums_over_dims_are_accurate(dim):
    a = _noisy_ones(2, 3, 40, 40, 40)
    exact = a.astype(np.float64).sum(axis=dim)
    scale = np.abs(a).astype(np.float64).sum(axis=dim)  # the sum's condition: error ~ eps * this
    err = np.abs(lucid.tensor(a).sum(dim=dim).numpy() - exact) / scale
    assert err.max() < 4e-7, err.max()  # measured <= 2.7e-7 (a few roundings of float32)
    if dim in ((0, 2, 3, 4), (2, 3, 4), None):  # >= 64,000 values: MLX's sequential sum misses
        naive = np.abs(B.to_numpy(B.sum(B.from_numpy(a), axis=dim)) - exact) / scale
        assert naive.max() > 4e-7, naive.max()  # measured 2e-6 .. 5e-6


def test_mse_loss_on_a_volume_is_accurate():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 32, 32, 32)).astype(np.float32)
    y = rng.standard_normal((2, 2, 32, 32, 32)).astype(np.float32)
    exact = np.mean((x.astype(np.float64) - y) ** 2)
    got = lucid.nn.functional.mse_loss(lucid.tensor(x), lucid.tensor(y)).item()
    assert abs(got - exact) < 2e-7 * exact  # issue 11: MLX's naive mean was 2.2e-5 off


def test_float16_mean_over_more_than_65504_values():
    x = lucid.ones(70_000, dtype=lucid.float16, requires_grad=True)
    m = x.mean()
    assert m.dtype == lucid.float16 and m.item() == 1.0
    m.backward()
    # 1/70000 is subnormal in float16 (spacing 6e-8): the nearest float16 is 0.14% off
    np.testing.assert_allclose(x.grad.numpy(), np.full(70_000, 1 / 70_000), rtol=3e-3)
    assert x.grad.dtype == lucid.float16
    # a float16 sum that exceeds float16's range overflows, as PyTorch's
    assert np.isinf(x.sum().item())


def test_float16_mse_loss_on_a_64_cubed_volume():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((64, 64, 64)).astype(np.float16)
    x = lucid.tensor(a, requires_grad=True)
    loss = lucid.nn.functional.mse_loss(x, lucid.zeros_like(x))
    exact = np.mean(a.astype(np.float64) ** 2)
    assert loss.dtype == lucid.float16
    assert abs(loss.item() - exact) < 2e-3 * exact
    loss.backward()
    # 2a/n ~ 1e-5 is subnormal in float16: one subnormal step is 6e-8
    np.testing.assert_allclose(
        x.grad.numpy().astype(np.float64), 2 * a.astype(np.float64) / a.size, rtol=1e-3, atol=6e-8
    )


@pytest.mark.parametrize("name", ["var", "std", "mean", "sum"])
def test_half_reductions_accumulate_in_float32(name):
    a = (10 + np.random.default_rng(3).standard_normal(4096)).astype(np.float16)
    got = getattr(lucid.tensor(a), name)()
    assert got.dtype == lucid.float16
    ref = {
        "var": lambda v: np.var(v, ddof=1),
        "std": lambda v: np.std(v, ddof=1),
        "mean": np.mean,
        "sum": np.sum,
    }[name](a.astype(np.float64))
    assert abs(got.item() - ref) <= 2e-3 * abs(ref)


# --- PyTorch as an oracle --------------------------------------------------------------------
def test_reductions_match_torch():
    torch = pytest.importorskip("torch")
    a = distinct(3, 4, 5)
    x, t = lucid.tensor(a, dtype="float64"), torch.tensor(a)
    cases = [
        lambda m: m.sum(dim=(0, 2), keepdim=True),
        lambda m: m.mean(1),
        lambda m: m.var(),
        lambda m: m.std(0),
        lambda m: m.var(dim=1, unbiased=False),
        lambda m: m.std(2, correction=0, keepdim=True),
        lambda m: m.amax(dim=(0, 1)),
        lambda m: m.max(),
        lambda m: m.max(1).values,
        lambda m: m.max(1).indices,
        lambda m: m.min(dim=2, keepdim=True)[1],
        lambda m: m.argmax(),
        lambda m: m.argmin(1),
        lambda m: m.argmax(dim=2, keepdim=True),
        lambda m: m.prod(0),
        lambda m: m.sum(axis=1, keepdims=True),
    ]
    for i, case in enumerate(cases):
        np.testing.assert_allclose(
            case(x).numpy(), case(t).numpy(), rtol=1e-12, atol=1e-12, err_msg=f"case {i}"
        )
    np.testing.assert_allclose(x.logsumexp(1).numpy(), t.logsumexp(1).numpy(), rtol=1e-12)
    for form in (
        lambda m: m.max(1).values.sum(),
        lambda m: m.std(0).sum(),
        lambda m: m.var(correction=2),
    ):
        xg, tg = (
            lucid.tensor(a, dtype="float64", requires_grad=True),
            torch.tensor(a, requires_grad=True),
        )
        form(xg).backward()
        form(tg).backward()
        np.testing.assert_allclose(xg.grad.numpy(), tg.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.max(dim=(0, 1)),
        lambda x: x.argmax(dim=(0, 1)),
        lambda x: x.softmax(dim=(0,)),
        lambda x: x.transpose((0,), 1),
        lambda x: lucid.cat([x, x], dim=(0,)),
    ],
)
def test_ops_of_one_dim_reject_a_tuple(call):
    with pytest.raises(TypeError, match=r"dim0? must be one int here, got \(0"):
        call(lucid.ones(2, 3))
