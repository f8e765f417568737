"""lucid.Generator and the default generator: PyTorch's API (manual_seed returns the generator,
get_state/set_state round trips, fork_rng restores, seeds wrap as PyTorch's), independence of
generators, ``generator=`` on every function that takes one (it draws from that generator and
leaves the default alone), and the distributions of the new random fills."""

import math

import numpy as np
import pytest

import lucid
import lucid.nn as nn
from lucid._backend import runtime


def _state():
    return lucid.get_rng_state().numpy().tobytes()


# --- the API, against PyTorch's behaviour ------------------------------------------------------
def test_generator_api_behaves_as_pytorchs():
    torch = pytest.importorskip("torch")
    for mod in (lucid, torch):
        g = mod.Generator()
        assert g.manual_seed(3) is g
        assert g.initial_seed() == 3
        assert g.set_state(g.get_state()) is g
        assert g.get_state().dtype == mod.uint8
        assert mod.manual_seed(4) is mod.default_generator
        assert mod.initial_seed() == 4
        s = mod.seed()
        assert isinstance(s, int) and mod.initial_seed() == s
    assert lucid.Generator().initial_seed() == torch.Generator().initial_seed()
    assert str(lucid.Generator().device) == str(torch.Generator().device) == "cpu"
    for seed in (-1, -(2**63), 2**64 - 1, 0):  # negative seeds wrap to uint64 alike
        assert (
            lucid.Generator().manual_seed(seed).initial_seed()
            == torch.Generator().manual_seed(seed).initial_seed()
        )
    for bad in (2**64, -(2**63) - 1):
        with pytest.raises(ValueError):
            torch.Generator().manual_seed(bad)
        with pytest.raises(ValueError, match="seed must be in"):
            lucid.Generator().manual_seed(bad)
    with pytest.raises(TypeError):
        lucid.Generator().manual_seed(1.5)


def test_set_state_refuses_what_get_state_did_not_make():
    torch = pytest.importorskip("torch")
    g = lucid.Generator()
    for mod, gen in ((lucid, g), (torch, torch.Generator())):  # same error types as PyTorch
        with pytest.raises(TypeError):
            gen.set_state([1, 2])
        with pytest.raises(TypeError):
            gen.set_state(mod.zeros(16, dtype=mod.float32))
    with pytest.raises(TypeError, match="uint8 Tensor"):
        g.set_state(np.zeros(16, np.uint8))
    with pytest.raises(TypeError, match="got dtype lucid.float32"):
        g.set_state(lucid.zeros(16))
    with pytest.raises(ValueError, match="16 bytes"):  # PyTorch: RuntimeError
        g.set_state(lucid.zeros(15, dtype=lucid.uint8))
    with pytest.raises(ValueError, match="16 bytes"):
        g.set_state(lucid.zeros(2, 8, dtype=lucid.uint8))


def test_state_layout_is_the_key_words_then_the_seed():
    g = lucid.Generator().manual_seed(0x0123456789ABCDEF)
    raw = g.get_state().numpy().tobytes()
    assert len(raw) == 16
    # MLX's key of a seed is its two 32-bit halves: the state spells the seed twice
    assert np.frombuffer(raw[:8], "<u4").tolist() == [0x01234567, 0x89ABCDEF]
    assert int.from_bytes(raw[8:], "little") == 0x0123456789ABCDEF
    lucid.randn(3, generator=g)
    after = g.get_state().numpy().tobytes()
    assert after[:8] != raw[:8] and after[8:] == raw[8:]  # a draw advances the key only


def test_get_state_set_state_round_trip_replays_the_stream():
    g = lucid.Generator().manual_seed(11)
    lucid.rand(4, generator=g)
    state = g.get_state()
    a = [lucid.randn(5, generator=g).numpy(), lucid.randperm(9, generator=g).numpy()]
    other = lucid.Generator().manual_seed(99).set_state(state)  # another object, same state
    b = [lucid.randn(5, generator=other).numpy(), lucid.randperm(9, generator=other).numpy()]
    g.set_state(state)
    c = [lucid.randn(5, generator=g).numpy(), lucid.randperm(9, generator=g).numpy()]
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert other.initial_seed() == 11
    # the default generator too, through the module-level functions
    lucid.manual_seed(5)
    lucid.rand(2)
    saved = lucid.get_rng_state()
    first = lucid.randn(6).numpy()
    lucid.rand(7)
    lucid.set_rng_state(saved)
    np.testing.assert_array_equal(lucid.randn(6).numpy(), first)


def test_same_seed_same_stream_other_seed_other_stream():
    a = lucid.Generator().manual_seed(1)
    b = lucid.Generator().manual_seed(1)
    c = lucid.Generator().manual_seed(2)
    x, y, z = (lucid.rand(8, generator=g).numpy() for g in (a, b, c))
    np.testing.assert_array_equal(x, y)
    assert not np.array_equal(x, z)
    # two fresh generators start alike (PyTorch's default seed), unlike the default generator
    np.testing.assert_array_equal(
        lucid.rand(4, generator=lucid.Generator()).numpy(),
        lucid.rand(4, generator=lucid.Generator()).numpy(),
    )


def test_generators_are_independent_of_each_other_and_of_the_default():
    lucid.manual_seed(0)
    alone = lucid.Generator().manual_seed(7)
    expected = [lucid.randn(3, generator=alone).numpy() for _ in range(3)]
    plain = [lucid.rand(2).numpy() for _ in range(3)]
    lucid.manual_seed(0)
    g, h = lucid.Generator().manual_seed(7), lucid.Generator().manual_seed(7)
    got, mixed = [], []
    for _ in range(3):  # interleave: draws from h and from the default do not move g
        lucid.randn(5, generator=h)
        mixed.append(lucid.rand(2).numpy())
        got.append(lucid.randn(3, generator=g).numpy())
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(plain, mixed):  # and g, h did not move the default
        np.testing.assert_array_equal(a, b)


def test_default_generator_is_the_global_key():
    g = lucid.manual_seed(21)
    assert g is lucid.default_generator and lucid.random.default_generator is g
    a = lucid.randn(4).numpy()
    lucid.manual_seed(21)
    b = lucid.randn(4, generator=lucid.default_generator).numpy()  # the same stream
    np.testing.assert_array_equal(a, b)
    lucid.manual_seed(21)
    key = runtime.rng_key()
    np.testing.assert_array_equal(np.array(key), lucid.default_generator._key.numpy())
    lucid.default_generator.manual_seed(21)  # seeding through the object seeds the global key
    np.testing.assert_array_equal(lucid.randn(4).numpy(), a)
    assert lucid.random.seed(8) == 8 and lucid.initial_seed() == 8  # Lucid's older form
    with pytest.raises(TypeError, match="lucid.Generator"):
        lucid.rand(2, generator=np.random.default_rng(0))


def test_fork_rng_restores_the_default_generator_as_pytorchs():
    torch = pytest.importorskip("torch")
    for mod in (lucid, torch):
        mod.manual_seed(3)
        with mod.random.fork_rng():
            inside = mod.rand(3).tolist()
        after = mod.rand(3).tolist()
        assert inside == after  # restored: the same draw again
        with mod.random.fork_rng(enabled=False):
            mod.rand(3)
        assert mod.rand(3).tolist() != after
        state = mod.get_rng_state()
        with pytest.raises(KeyError), mod.random.fork_rng(devices=[]):
            mod.manual_seed(9)
            raise KeyError
        assert (mod.get_rng_state() == state).all()  # restored on an exception too


def test_explicit_generator_ignores_random_key_scopes():
    # compile tracing and checkpoint recompute draw the default generator's numbers from a
    # scope's key; a draw from an explicit generator always uses that generator
    g = lucid.Generator().manual_seed(4)
    expected = lucid.rand(5, generator=g).numpy()
    g.manual_seed(4)
    scope_key = runtime.rng_key()
    with runtime.random_key(scope_key):
        got = lucid.rand(5, generator=g).numpy()
        assert runtime.rng_key() is scope_key  # the scope's key was not split
        lucid.rand(1, generator=lucid.default_generator)  # the default one splits the scope's
        assert runtime.rng_key() is not scope_key
    np.testing.assert_array_equal(got, expected)


# --- generator= everywhere ---------------------------------------------------------------------
def _fill(method, *args, dtype="float32", shape=(64,)):
    return lambda g: getattr(lucid.zeros(*shape, dtype=dtype), method)(*args, generator=g)


def _init(name, *args, shape=(8, 6)):
    return lambda g: getattr(nn.init, name)(lucid.zeros(*shape), *args, generator=g)


DRAWS = {
    "rand": lambda g: lucid.rand(3, 4, generator=g),
    "randn": lambda g: lucid.randn(3, 4, generator=g),
    "randint": lambda g: lucid.randint(0, 100, (20,), generator=g),
    "randint wide": lambda g: lucid.randint(-(2**62), 2**62, (20,), generator=g),
    "randperm": lambda g: lucid.randperm(30, generator=g),
    "normal floats": lambda g: lucid.normal(1.0, 2.0, (10,), generator=g),
    "normal tensors": lambda g: lucid.normal(lucid.zeros(10), lucid.ones(10), generator=g),
    "bernoulli": lambda g: lucid.bernoulli(lucid.full((50,), 0.5), generator=g),
    "bernoulli p": lambda g: lucid.bernoulli(lucid.zeros(50), 0.3, generator=g),
    "multinomial": lambda g: lucid.multinomial(lucid.ones(2, 10), 4, generator=g),
    "multinomial replacement": lambda g: lucid.multinomial(lucid.ones(9), 20, True, generator=g),
    "Tensor.multinomial": lambda g: lucid.ones(9).multinomial(3, generator=g),
    "Tensor.bernoulli": lambda g: lucid.full((30,), 0.5).bernoulli(generator=g),
    "rand_like": lambda g: lucid.rand_like(lucid.zeros(5), generator=g),
    "randn_like": lambda g: lucid.randn_like(lucid.zeros(5), generator=g),
    "randint_like": lambda g: lucid.randint_like(lucid.zeros(5), 3, 9, generator=g),
    "uniform": lambda g: lucid.random.uniform(-1, 1, (6,), generator=g),
    "permutation": lambda g: lucid.random.permutation(12, generator=g),
    "normal_": _fill("normal_", 0.0, 2.0),
    "uniform_": _fill("uniform_", -3.0, 3.0),
    "bernoulli_": _fill("bernoulli_", 0.4),
    "bernoulli_ int": _fill("bernoulli_", 0.4, dtype="int32"),
    "random_": _fill("random_", 0, 1000),
    "random_ int64": _fill("random_", dtype="int64"),
    "exponential_": _fill("exponential_", 2.0),
    "geometric_": _fill("geometric_", 0.3),
    "log_normal_": _fill("log_normal_"),
    "cauchy_": _fill("cauchy_"),
    "init.uniform_": _init("uniform_", -1.0, 1.0),
    "init.normal_": _init("normal_", 0.0, 1.0),
    "init.xavier_uniform_": _init("xavier_uniform_"),
    "init.xavier_normal_": _init("xavier_normal_"),
    "init.kaiming_uniform_": _init("kaiming_uniform_"),
    "init.kaiming_normal_": _init("kaiming_normal_"),
    "init.trunc_normal_": _init("trunc_normal_"),
    "init.orthogonal_": _init("orthogonal_"),
    "init.sparse_": _init("sparse_", 0.5),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_generator_keyword_draws_from_that_generator_only(name):
    draw = DRAWS[name]
    lucid.manual_seed(0)
    before = _state()
    g = lucid.Generator().manual_seed(5)
    a = draw(g).numpy()
    assert _state() == before, "a draw with generator= moved the default generator"
    moved = g.get_state().numpy().tobytes()
    assert moved != lucid.Generator().manual_seed(5).get_state().numpy().tobytes()
    b = draw(g.manual_seed(5)).numpy()
    np.testing.assert_array_equal(a, b)  # reseeding the generator repeats the draw
    c = draw(g).numpy()  # the generator moved on
    assert not np.array_equal(a, c)
    # with generator=None the same call draws from the default generator (and moves it)
    draw(None)
    assert _state() != before
    lucid.manual_seed(0)
    d = draw(lucid.default_generator).numpy()
    lucid.manual_seed(0)
    np.testing.assert_array_equal(d, draw(None).numpy())


def test_pytorch_takes_generator_where_lucid_does():
    torch = pytest.importorskip("torch")
    import inspect

    for name in ("rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial"):
        assert "generator" in getattr(torch, name).__doc__.split("\n")[1]
        assert "generator" in inspect.signature(getattr(lucid, name)).parameters
    for name in ("rand_like", "randn_like", "randint_like"):
        assert "generator" in inspect.signature(getattr(lucid, name)).parameters
    for name in ("normal_", "uniform_", "bernoulli_", "random_", "exponential_", "geometric_"):
        assert "generator=" in getattr(torch.Tensor, name).__doc__
        assert "generator" in inspect.signature(getattr(lucid.Tensor, name)).parameters
    for name in (
        "uniform_",
        "normal_",
        "xavier_uniform_",
        "xavier_normal_",
        "kaiming_uniform_",
        "kaiming_normal_",
        "trunc_normal_",
        "orthogonal_",
        "sparse_",
    ):
        theirs = list(inspect.signature(getattr(torch.nn.init, name)).parameters)
        ours = list(inspect.signature(getattr(nn.init, name)).parameters)
        assert ours == theirs, name
    assert "generator" not in inspect.signature(torch.nn.functional.dropout).parameters
    assert "generator" not in inspect.signature(nn.functional.dropout).parameters


# --- distributions of the new draws ------------------------------------------------------------
N = 200_000


def test_fill_distributions():
    g = lucid.Generator().manual_seed(123)
    x = lucid.zeros(N).exponential_(2.0, generator=g).numpy()
    assert x.min() >= 0 and abs(x.mean() - 0.5) < 0.01 and abs(x.std() - 0.5) < 0.01
    x = lucid.zeros(N, dtype=lucid.int64).geometric_(0.25, generator=g).numpy()
    assert x.min() == 1 and abs(x.mean() - 4.0) < 0.05  # mean 1/p
    assert abs((x == 1).mean() - 0.25) < 0.01 and abs((x == 2).mean() - 0.1875) < 0.01
    x = lucid.zeros(N).log_normal_(1.0, 0.5, generator=g).numpy()
    assert abs(np.log(x).mean() - 1.0) < 0.01 and abs(np.log(x).std() - 0.5) < 0.01
    x = lucid.zeros(N).cauchy_(2.0, 3.0, generator=g).numpy()
    quartiles = np.percentile(x, [25, 50, 75])  # median +- sigma
    np.testing.assert_allclose(quartiles, [-1.0, 2.0, 5.0], atol=0.1)
    x = lucid.zeros(N, dtype=lucid.uint8).bernoulli_(0.3, generator=g).numpy()
    assert set(np.unique(x)) == {0, 1} and abs(x.mean() - 0.3) < 0.01
    p = lucid.tensor(np.linspace(0, 1, 5, dtype=np.float32))
    x = lucid.zeros(N // 5, 5).bernoulli_(p, generator=g).numpy()
    np.testing.assert_allclose(x.mean(axis=0), np.linspace(0, 1, 5), atol=0.01)
    x = lucid.zeros(N, dtype=lucid.int16).random_(-3, 4, generator=g).numpy()
    assert set(np.unique(x)) == set(range(-3, 4))
    x = lucid.zeros(N, dtype=lucid.int64).random_(generator=g).numpy()
    assert x.min() >= 0 and abs((x % 2).mean() - 0.5) < 0.01  # 63 random bits, low ones too
    assert x.max() > 2**62
    x = lucid.zeros(N, dtype=lucid.float32).random_(generator=g).numpy()
    assert x.min() >= 0 and x.max() <= 2**24 and x.max() > 2**23
    x = lucid.zeros(N, dtype=lucid.bool).random_(generator=g).numpy()
    assert abs(x.mean() - 0.5) < 0.01


def test_random_fill_bounds_and_errors_as_pytorch():
    torch = pytest.importorskip("torch")
    for mod in (lucid, torch):
        t = mod.zeros(1000, dtype=mod.int64)
        assert set(t.random_(7).tolist()) == set(range(7))
        assert set(t.random_(3, 6).tolist()) == {3, 4, 5}
        bad = [
            lambda m=mod: m.zeros(3).random_(5, 5),
            lambda m=mod: m.zeros(3).normal_(0.0, -1.0),
            lambda m=mod: m.zeros(3).exponential_(0.0),
            lambda m=mod: m.zeros(3).geometric_(1.5),
            lambda m=mod: m.zeros(3).bernoulli_(1.5),
            lambda m=mod: m.zeros(3).uniform_(2.0, 1.0),
            lambda m=mod: m.zeros(3, dtype=m.int8).random_(0, 1000),
            lambda m=mod: m.zeros(3, dtype=m.int64).normal_(),
        ]
        for call in bad:
            with pytest.raises((ValueError, RuntimeError, TypeError)):
                call()


def test_random_fill_of_a_tensor_that_requires_grad_gives_a_zero_gradient():
    torch = pytest.importorskip("torch")
    for mod in (lucid, torch):
        x = mod.ones(4, requires_grad=True)
        y = x * 2
        y.normal_()
        y.sum().backward()
        assert x.grad.tolist() == [0.0] * 4
    z = lucid.full((3,), float("nan"))
    assert np.isfinite(z.normal_().numpy()).all()  # the old values are not read


def test_multinomial_distribution_and_checks():
    g = lucid.Generator().manual_seed(9)
    w = lucid.tensor([1.0, 0.0, 3.0, 6.0])
    first = lucid.multinomial(w.expand(N // 10, 4), 1, generator=g).numpy()[:, 0]
    np.testing.assert_allclose(
        np.bincount(first, minlength=4) / len(first), [0.1, 0, 0.3, 0.6], atol=0.01
    )
    rows = lucid.multinomial(w.expand(2000, 4), 3, generator=g).numpy()
    assert all(len(set(r)) == 3 and 1 not in r for r in rows.tolist())  # distinct, never weight 0
    # second draw without replacement: P(second = j) = sum_i p_i p_j / (1 - p_i)
    p = np.array([0.1, 0.0, 0.3, 0.6])
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j) for j in range(4)])
    rows = lucid.multinomial(w.expand(N // 10, 4), 2, generator=g).numpy()
    np.testing.assert_allclose(np.bincount(rows[:, 1], minlength=4) / len(rows), second, atol=0.01)
    with_rep = lucid.multinomial(w, N // 10, True, generator=g).numpy()
    np.testing.assert_allclose(np.bincount(with_rep, minlength=4) / len(with_rep), p, atol=0.01)
    torch = pytest.importorskip("torch")
    # without replacement, the zero-weight categories come last, as PyTorch's
    for mod in (lucid, torch):
        out = mod.multinomial(mod.tensor([[1.0, 0.0, 2.0]] * 50), 3).tolist()
        assert all(sorted(r[:2]) == [0, 2] and r[2] == 1 for r in out)
    for mod in (lucid, torch):
        for call in (
            lambda m=mod: m.multinomial(m.tensor([1.0, 0.0, 2.0]), 4),
            lambda m=mod: m.multinomial(m.tensor([1.0, -1.0]), 1),
            lambda m=mod: m.multinomial(m.zeros(2, 2, 2), 1),
            lambda m=mod: m.multinomial(m.tensor([0.0, 0.0]), 1),
        ):
            with pytest.raises((ValueError, RuntimeError)):
                call()


def test_normal_with_tensor_arguments():
    g = lucid.Generator().manual_seed(2)
    mean = lucid.tensor(np.array([-5.0, 0.0, 5.0], np.float32)).reshape(3, 1)
    x = lucid.normal(mean, lucid.full((1, N // 10), 2.0), generator=g).numpy()
    assert x.shape == (3, N // 10)
    np.testing.assert_allclose(x.mean(axis=1), [-5, 0, 5], atol=0.05)
    np.testing.assert_allclose(x.std(axis=1), [2, 2, 2], atol=0.05)
    with pytest.raises(ValueError, match="std >= 0"):
        lucid.normal(lucid.zeros(3), lucid.tensor([1.0, -1.0, 1.0])).numpy()
    assert math.isclose(float(lucid.normal(3.0, 0.0, (2,)).sum().item()), 6.0)
