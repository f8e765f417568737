"""``multinomial``: the distribution of its draws (against the weights, with and without
replacement), shapes, dtypes and errors against PyTorch's."""

import numpy as np
import pytest

import lucid

P = np.array([0.1, 0.2, 0.0, 0.7])


def _z(counts, n, p):
    """The largest |z-score| of multinomial counts against probabilities ``p``."""
    sd = np.sqrt(n * p * (1 - p))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(sd > 0, (counts - n * p) / sd, 0.0)
    return np.abs(z).max()


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_with_replacement_draws_follow_the_weights(dtype):
    lucid.manual_seed(0)
    weights = lucid.tensor(P * 3.0, dtype=dtype)  # need not sum to 1
    n = 40_000
    draws = lucid.multinomial(weights, n, replacement=True)
    assert draws.shape == (n,) and draws.dtype == lucid.int64
    counts = np.bincount(draws.numpy(), minlength=4)
    assert counts[2] == 0  # a zero weight is never drawn
    assert _z(counts, n, P) < 4.5


def test_rows_are_independent_distributions():
    lucid.manual_seed(1)
    w = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 2.0], [1.0, 1.0, 2.0]])
    draws = lucid.tensor(w).multinomial(30_000, True).numpy()
    assert draws.shape == (3, 30_000)
    assert (draws[0] == 0).all()
    for row, weights in zip(draws[1:], w[1:]):
        counts = np.bincount(row, minlength=3)
        assert _z(counts, 30_000, weights / weights.sum()) < 4.5


def test_without_replacement_draws_are_distinct_and_sequential():
    lucid.manual_seed(2)
    n = 6000
    w = lucid.tensor(np.tile(P, (n, 1)))  # n independent rows: one draw of 2 each
    draws = lucid.multinomial(w, 2).numpy()
    assert draws.shape == (n, 2) and (draws[:, 0] != draws[:, 1]).all()
    assert not (draws == 2).any()
    first = np.bincount(draws[:, 0], minlength=4)
    assert _z(first, n, P) < 4.5
    # the second draw is proportional to the weights left: sum_i p_i p_j / (1 - p_i)
    second_p = np.array(
        [sum(P[i] * P[j] / (1 - P[i]) for i in range(4) if i != j) for j in range(4)]
    )
    assert _z(np.bincount(draws[:, 1], minlength=4), n, second_p) < 4.5
    # all categories: a permutation, the zero-weight one last (as in PyTorch)
    perm = lucid.multinomial(lucid.tensor(P), 4).tolist()
    assert sorted(perm) == [0, 1, 2, 3] and perm[-1] == 2


def test_seeded_draws_repeat():
    lucid.manual_seed(5)
    a = lucid.multinomial(lucid.tensor(P), 50, True).tolist()
    lucid.manual_seed(5)
    assert lucid.multinomial(lucid.tensor(P), 50, True).tolist() == a


def test_shapes_and_errors_match_torch():
    torch = pytest.importorskip("torch")
    good = [
        (np.array([0.2, 0.0, 0.8]), 3, False),
        (np.array([0.2, 0.0, 0.8]), 5, True),
        (np.ones((2, 4)), 3, False),
        (np.ones((0, 3)), 2, True),
    ]
    for w, k, repl in good:
        ours = lucid.multinomial(lucid.tensor(w), k, repl)
        theirs = torch.multinomial(torch.tensor(w), k, repl)
        assert ours.shape == tuple(theirs.shape) and ours.dtype.name == "int64"
    bad = [
        (np.array([0.2, 0.8]), 0, True, ValueError),
        (np.array([0.2, 0.8]), 3, False, ValueError),
        (np.array([-0.1, 1.0]), 1, True, ValueError),
        (np.array([np.nan, 1.0]), 1, True, ValueError),
        (np.array([np.inf, 1.0]), 1, True, ValueError),
        (np.array([0.0, 0.0]), 1, True, ValueError),
        (np.array([[1.0, 1.0], [0.0, 0.0]]), 1, False, ValueError),
        (np.array([1, 2]), 1, True, TypeError),
        (np.ones((2, 2, 2)), 1, True, ValueError),
        (np.array(1.0), 1, True, ValueError),
        (np.array([0.5, 0.5]), 1.0, True, TypeError),
    ]
    for w, k, repl, error in bad:
        with pytest.raises((RuntimeError, TypeError)):
            torch.multinomial(torch.tensor(w), k, repl)
        with pytest.raises(error):
            lucid.multinomial(lucid.tensor(w), k, repl)
    with pytest.raises(TypeError, match="expects a Tensor"):
        lucid.multinomial([0.5, 0.5], 1)
