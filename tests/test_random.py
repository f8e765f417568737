"""randperm: a permutation, seeded by lucid.random.seed, PyTorch's keywords."""

import numpy as np
import pytest

import lucid


def test_randperm_is_a_seeded_permutation():
    lucid.random.seed(5)
    a = lucid.randperm(50)
    lucid.random.seed(5)
    b = lucid.randperm(50)
    assert a.dtype == lucid.int64 and a.shape == (50,)
    assert sorted(a.tolist()) == list(range(50))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert lucid.randperm(4, dtype=lucid.float32).dtype == lucid.float32
    assert lucid.randperm(0).shape == (0,)
    with pytest.raises(ValueError, match="non-negative int"):
        lucid.randperm(-1)
