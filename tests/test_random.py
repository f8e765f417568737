"""randperm: a permutation, seeded by lucid.random.seed, PyTorch's keywords."""

import numpy as np
import pytest

import lucid
from lucid._backend import runtime


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


def test_a_scope_on_the_current_key_repeats_the_draws_that_follow():
    # checkpoint relies on this: next_key splits a scope's key as MLX splits its global key
    lucid.random.seed(12)
    with runtime.random_key(runtime.rng_key()):
        scoped = [lucid.rand(6).numpy(), lucid.randn(3).numpy(), lucid.randint(0, 9, (5,)).numpy()]
        inner = runtime.rng_key()
        with runtime.random_key(inner):
            nested = lucid.rand(4).numpy()
        assert runtime.rng_key() is inner  # a scope leaves the enclosing key as it was
    untouched = lucid.rand(6).numpy()  # the scope did not advance the global generator
    lucid.random.seed(12)
    plain = [lucid.rand(6).numpy(), lucid.randn(3).numpy(), lucid.randint(0, 9, (5,)).numpy()]
    for a, b in zip(scoped, plain):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(nested, lucid.rand(4).numpy())
    np.testing.assert_array_equal(untouched, plain[0])


def test_next_key_inside_a_scope_splits_the_scopes_key():
    # a key drawn in a traced region must come from the traced key, not the global generator
    # (which would make it a constant of the trace)
    lucid.random.seed(13)
    key = runtime.rng_key()
    keys = []
    for _ in range(2):
        with runtime.random_key(key):
            keys.append(np.array(runtime.next_key()))
    np.testing.assert_array_equal(keys[0], keys[1])
    drawn = lucid.rand(5).numpy()
    lucid.random.seed(13)
    np.testing.assert_array_equal(drawn, lucid.rand(5).numpy())
    assert not np.array_equal(np.array(runtime.next_key()), keys[0])
