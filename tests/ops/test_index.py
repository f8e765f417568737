"""Indexing and slicing (basic, integer-array, boolean) against numpy, with gradients
(scatter-add for repeated indices), and bad indices."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, grads_of, rand

A = rand(2, 3, 4)
MASK = A[:, :, 0] > 0
INDICES = [
    1,
    -1,
    (0, 2),
    (slice(None), 1),
    (Ellipsis, 1),
    (None, 0),
    (0, Ellipsis, None),
    (slice(None, None, -1),),
    (slice(None), slice(None, None, 2), slice(1, 3)),
    (1, slice(5, 10)),
    (slice(None), None, 1, None),
    (Ellipsis,),
    ([0, 0, 1],),
    (slice(None), [2, 0, 2]),
    (np.array([1, 0]), np.array([2, 0])),
    (slice(None), np.array([[0, 1], [2, 2]])),
    (0, [1, 1], slice(None)),
    ([-1],),
    # mixed int/array indices apart from each other (numpy moves their axis to the front)
    ([0, 1], slice(None), [1, 2]),
    (0, slice(None), [3, -1]),
    (0, slice(None), [1, 1]),
    (None, [0, 1, 0], None, 2),
    ([[0, 1], [1, 0]], slice(None), 0),
    # boolean masks
    (MASK,),
    (A > 0.5,),
    (slice(None), A[0, :, 0] > 0),
    ([True, False],),
    (MASK, 1),
]


@pytest.mark.parametrize("index", INDICES, ids=[str(i)[:40] for i in range(len(INDICES))])
def test_getitem_values_and_grads(index):
    check_op(lambda x: x[index], lambda x: x[index], A)


@pytest.mark.parametrize("index", [lucid.tensor([1, 0, 1]), lucid.tensor(A[0] > 0)])
def test_tensor_indices(index):
    expected_index = index.numpy()
    check_op(lambda x: x[0][index], lambda x: x[0][expected_index], A)


@pytest.mark.parametrize("index", [None, Ellipsis, (None, Ellipsis, None)])
def test_0d_tensor_indexing(index):
    check_op(lambda x: x[index], lambda x: x[index], np.array(1.25))


def test_repeated_indices_accumulate_gradients():
    (g,) = grads_of(
        lambda x: x[[0, 0, 2, 0]],
        np.array([1.0, 2.0, 3.0]),
        seed=lucid.tensor([1.0, 2.0, 3.0, 4.0], dtype="float64"),
    )
    np.testing.assert_array_equal(g, [7.0, 0.0, 3.0])
    (g,) = grads_of(lambda x: x[:, [-1, 2, -1]], np.zeros((2, 3)))
    np.testing.assert_array_equal(g, [[0.0, 0.0, 3.0], [0.0, 0.0, 3.0]])


def test_empty_results():
    check_op(lambda x: x[[]], lambda x: x[np.zeros(0, dtype=int)], A)
    check_op(lambda x: x[A < -10], lambda x: x[A < -10], A)


def test_iteration_and_len_index_the_first_axis():
    x = lucid.tensor(A, requires_grad=True)
    rows = list(x)
    assert len(x) == 2 and len(rows) == 2
    np.testing.assert_allclose(rows[1].numpy(), A[1].astype(np.float32))
    sum(r.sum() for r in rows).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(A.shape))


def test_setitem_outside_autograd():
    x = lucid.zeros(2, 3)
    x[0, 1] = 5.0
    x[1] = lucid.tensor([1.0, 2.0, 3.0])
    x[x > 2.5] = -1.0
    assert x.tolist() == [[0.0, -1.0, 0.0], [1.0, 2.0, -1.0]]
    w = lucid.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        w[0] = 2.0
    with lucid.no_grad():
        w[0] = 2.0
    assert w.tolist() == [2.0, 1.0]


@pytest.mark.parametrize(
    "index,error,pattern",
    [
        (2, IndexError, "index 2 is out of range for an axis of size 2"),
        ((0, -4), IndexError, "index -4 .*size 3"),
        ((0, 0, 0, 0), IndexError, r"too many indices .*\(2, 3, 4\)"),
        ([5], IndexError, "index 5 .*size 2"),
        ((slice(None), [0, 3]), IndexError, "index 3 .*size 3"),
        (1.0, TypeError, "float 1.0"),
        (lucid.tensor([0.0, 1.0]), TypeError, "integers or booleans"),
        (np.ones((3, 3), bool), IndexError, r"\(3, 3\) does not match .*\(2, 3\)"),
    ],
)
def test_bad_indices(index, error, pattern):
    with pytest.raises(error, match=pattern):
        lucid.tensor(A)[index]


def test_setitem_bounds_are_checked_and_leave_the_tensor_unchanged():
    x = lucid.zeros(2, 3)
    for index in (5, (0, 3), [0, 2], lucid.tensor([1, -3]), (slice(None), np.array([3]))):
        with pytest.raises(IndexError, match="out of range for an axis of size"):
            x[index] = 1.0
    assert x.tolist() == [[0.0] * 3] * 2 and x._version == 0


# --- gather / scatter / scatter_add / index_select / masked_fill ------------------------------
def np_gather(x, dim, idx):
    out = np.empty(idx.shape, dtype=x.dtype)
    for pos in np.ndindex(idx.shape):
        src = list(pos)
        src[dim] = idx[pos]
        out[pos] = x[tuple(src)]
    return out


def np_scatter(x, dim, idx, src, add=False):
    out = np.array(x, dtype=np.float64)
    for pos in np.ndindex(idx.shape):
        dst = list(pos)
        dst[dim] = idx[pos]
        value = src[pos] if isinstance(src, np.ndarray) else src
        out[tuple(dst)] = out[tuple(dst)] + value if add else value
    return out


X = np.random.default_rng(3).uniform(-2, 2, (3, 4, 5))  # own generator: rand() at import
# time would shift the shared one for every later test


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_gather_values_and_gradients(dim):
    idx = np.random.default_rng(dim + 5).integers(0, X.shape[dim], (2, 3, 4))
    check_op(lambda x: lucid.gather(x, dim, lucid.tensor(idx)), lambda x: np_gather(x, dim, idx), X)
    check_op(lambda x: x.gather(dim, idx), lambda x: np_gather(x, dim, idx), X)


def test_gather_repeated_indices_accumulate_gradients():
    (g,) = grads_of(lambda x: lucid.gather(x, 0, lucid.tensor([[1, 1, 0]])), np.zeros((2, 3)))
    np.testing.assert_array_equal(g, [[0, 0, 1], [1, 1, 0]])


def test_gather_of_a_0d_tensor():
    x = lucid.tensor(5.0, requires_grad=True)
    out = lucid.gather(x, 0, lucid.tensor(0))
    assert out.shape == () and out.item() == 5.0


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_scatter_and_scatter_add_values_and_gradients(dim):
    rng = np.random.default_rng(dim)
    shape = [2, 3, 2]
    shape[dim] = 2
    # a permutation per line, so no position is written twice (scatter's winner is unspecified)
    idx = np.argsort(rng.random((2, 3, 2)), axis=dim)[tuple(slice(0, n) for n in shape)]
    src = rand(3, 4, 3)  # larger than the index: its leading block is used
    check_op(
        lambda x, s: lucid.scatter(x, dim, lucid.tensor(idx), s),
        lambda x, s: np_scatter(x, dim, idx, s[: shape[0], : shape[1], : shape[2]]),
        X[:2, :3, :2],
        src,
    )
    check_op(
        lambda x, s: x.scatter_add(dim, idx, s),
        lambda x, s: np_scatter(x, dim, idx, s[: shape[0], : shape[1], : shape[2]], add=True),
        X[:2, :3, :2],
        src,
    )
    check_op(
        lambda x: lucid.scatter(x, dim, idx, value=1.5),
        lambda x: np_scatter(x, dim, idx, 1.5),
        X[:2, :3, :2],
    )


def test_scatter_add_accumulates_repeated_indices():
    out = lucid.scatter_add(
        lucid.zeros(3), 0, lucid.tensor([0, 0, 2, 0]), lucid.tensor([1.0, 2.0, 3.0, 4.0])
    )
    assert out.tolist() == [7.0, 0.0, 3.0]


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select_values_and_gradients(dim):
    idx = [2, 0, 2]
    check_op(
        lambda x: lucid.index_select(x, dim, lucid.tensor(idx)),
        lambda x: np.take(x, idx, axis=dim),
        X,
    )
    check_op(lambda x: x.index_select(dim, lucid.tensor(1)), lambda x: np.take(x, [1], axis=dim), X)


def test_masked_fill_values_and_gradients():
    mask = X[0] > 0  # broadcast over the first axis
    check_op(
        lambda x: lucid.masked_fill(x, lucid.tensor(mask), -3.0),
        lambda x: np.where(mask, -3.0, x),
        X,
    )
    check_op(
        lambda x, v: x.masked_fill(lucid.tensor(mask), v),
        lambda x, v: np.where(mask, v, x),
        X,
        np.array(0.5),
    )
    ints = lucid.tensor([1, 2, 3]).masked_fill(lucid.tensor([True, False, True]), 0)
    assert ints.tolist() == [0, 2, 0] and ints.dtype == lucid.int64


def test_in_place_variants_write_and_bump_the_version():
    x = lucid.zeros(2, 3)
    assert x.scatter_(1, lucid.tensor([[2], [0]]), 5.0) is x
    assert x.tolist() == [[0, 0, 5], [5, 0, 0]] and x._version == 1
    x.masked_fill_(x > 1, -1.0)
    x.scatter_add_(0, lucid.tensor([[1, 1, 1]]), lucid.ones(1, 3))
    assert x.tolist() == [[0, 0, -1], [0, 1, 1]] and x._version == 3
    w = lucid.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="masked_fill_: a leaf tensor that requires grad"):
        w.masked_fill_(lucid.tensor([True, False]), 1.0)


@pytest.mark.parametrize(
    "call,error,pattern",
    [
        (
            lambda x: lucid.gather(x, 0, lucid.tensor([[3, 0]])),
            IndexError,
            "gather: index 3 is out of range for an axis of size 3",
        ),
        (lambda x: lucid.gather(x, 1, [[-1]]), IndexError, "gather: index -1 .* size 4"),
        (lambda x: lucid.gather(x, 0, [1]), ValueError, "as many dimensions as the input"),
        (lambda x: lucid.gather(x, 0, [[0] * 5]), ValueError, r"exceeds the input shape"),
        (lambda x: lucid.gather(x, 2, [[0]]), IndexError, "dim 2 is out of range"),
        (lambda x: lucid.gather(x, 0, [[0.5]]), TypeError, "integers"),
        (lambda x: lucid.scatter(x, 1, [[4]], 1.0), IndexError, "scatter: index 4 .* size 4"),
        (lambda x: lucid.scatter(x, 0, [[0, 1]], lucid.ones(1, 1)), ValueError, "src of shape"),
        (lambda x: lucid.scatter(x, 0, [[0]]), TypeError, "src .* or value"),
        (lambda x: lucid.scatter(x, 0, [[0]], 1.0, reduce="add"), NotImplementedError, "reduce"),
        (lambda x: lucid.scatter_add(x, 0, [[9]], lucid.ones(1, 1)), IndexError, "index 9 .* 3"),
        (lambda x: lucid.index_select(x, 0, lucid.tensor([0, 3])), IndexError, "index 3 .* 3"),
        (lambda x: lucid.index_select(x, 1, [-1]), IndexError, "index -1 .* size 4"),
        (lambda x: lucid.index_select(x, 0, [[0]]), ValueError, "1-D"),
        (lambda x: lucid.masked_fill(x, lucid.tensor([1, 0, 1, 0]), 0.0), TypeError, "bool"),
        (
            lambda x: lucid.masked_fill(x, lucid.ones(2, 4, dtype="bool"), 0.0),
            ValueError,
            r"\(2, 4\) cannot be broadcast .*\(3, 4\)",
        ),
    ],
)
def test_bad_index_op_arguments(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(lucid.tensor(rand(3, 4)))


# --- absurd ranks -----------------------------------------------------------------------------
def test_absurd_ranks_raise_instead_of_aborting():
    with pytest.raises(ValueError, match="at most 64 dimensions, got 1000"):
        lucid.zeros(*[1] * 1000)
    with pytest.raises(ValueError, match="at most 64 dimensions, got 1000"):
        lucid.ones(2).reshape(*[1] * 999, 2)
    assert lucid.zeros(*[1] * 64).numpy().ndim == 64


# --- nonzero -------------------------------------------------------------------------------------
NONZERO_INPUTS = [
    np.array([[1.0, 0.0], [0.0, 2.0]]),
    np.array([np.nan, 0.0, -0.0, 1e-300]),
    np.array([[True, False, True]]),
    np.arange(24).reshape(2, 3, 4) % 3,
    np.zeros((2, 3)),
    np.zeros((0, 3)),
    np.array(3.0),
    np.array(0.0),
]


@pytest.mark.parametrize("a", NONZERO_INPUTS, ids=range(len(NONZERO_INPUTS)))
def test_nonzero_against_numpy_and_torch(a):
    x = lucid.tensor(a)
    out = lucid.nonzero(x)
    assert out.dtype == lucid.int64 and out.shape == (np.count_nonzero(a), a.ndim)
    if a.ndim:
        np.testing.assert_array_equal(out.numpy(), np.argwhere(a))
    tup = x.nonzero(as_tuple=True)
    assert isinstance(tup, tuple) and len(tup) == max(a.ndim, 1)
    if a.ndim:
        for ours, theirs in zip(tup, np.nonzero(a)):
            np.testing.assert_array_equal(ours.numpy(), theirs)
    assert x.nonzero().tolist() == out.tolist()
    torch = pytest.importorskip("torch")
    t = torch.tensor(a)
    np.testing.assert_array_equal(out.numpy(), torch.nonzero(t).numpy())
    assert out.shape == tuple(torch.nonzero(t).shape)
    for ours, theirs in zip(tup, torch.nonzero(t, as_tuple=True), strict=True):
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_nonzero_arguments():
    with pytest.raises(TypeError, match="must be a Tensor"):
        lucid.nonzero([1, 0])
    with pytest.raises(TypeError):
        lucid.nonzero(lucid.ones(2), True)  # as_tuple is keyword-only, as in PyTorch
