"""Indexing and slicing (basic, integer-array, boolean) against numpy, with gradients
(scatter-add for repeated indices), and bad indices."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, grads_of, rand

A = rand(2, 3, 4)
MASK = A[:, :, 0] > 0
INDICES = [
    1, -1, (0, 2), (slice(None), 1), (Ellipsis, 1), (None, 0), (0, Ellipsis, None),
    (slice(None, None, -1),), (slice(None), slice(None, None, 2), slice(1, 3)),
    (1, slice(5, 10)), (slice(None), None, 1, None), (Ellipsis,),
    ([0, 0, 1],), (slice(None), [2, 0, 2]), (np.array([1, 0]), np.array([2, 0])),
    (slice(None), np.array([[0, 1], [2, 2]])), (0, [1, 1], slice(None)), ([-1],),
    # mixed int/array indices apart from each other (numpy moves their axis to the front)
    ([0, 1], slice(None), [1, 2]), (0, slice(None), [3, -1]), (0, slice(None), [1, 1]),
    (None, [0, 1, 0], None, 2), ([[0, 1], [1, 0]], slice(None), 0),
    # boolean masks
    (MASK,), (A > 0.5,), (slice(None), A[0, :, 0] > 0), ([True, False],), (MASK, 1),
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
    (g,) = grads_of(lambda x: x[[0, 0, 2, 0]], np.array([1.0, 2.0, 3.0]),
                    seed=lucid.tensor([1.0, 2.0, 3.0, 4.0], dtype="float64"))
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


@pytest.mark.parametrize("index,error,pattern", [
    (2, IndexError, "index 2 is out of range for an axis of size 2"),
    ((0, -4), IndexError, "index -4 .*size 3"),
    ((0, 0, 0, 0), IndexError, r"too many indices .*\(2, 3, 4\)"),
    ([5], IndexError, "index 5 .*size 2"),
    ((slice(None), [0, 3]), IndexError, "index 3 .*size 3"),
    (1.0, TypeError, "float 1.0"),
    (lucid.tensor([0.0, 1.0]), TypeError, "integers or booleans"),
    (np.ones((3, 3), bool), IndexError, r"\(3, 3\) does not match .*\(2, 3\)"),
])
def test_bad_indices(index, error, pattern):
    with pytest.raises(error, match=pattern):
        lucid.tensor(A)[index]
