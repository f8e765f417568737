"""Samplers, DataLoader(generator=) and random_split(generator=) with PyTorch's semantics: the
orders they yield, which generator each draws from (the default one is left alone by an
explicit generator; without one, each epoch draws from the default generator, as PyTorch's),
and argument errors of the same types as PyTorch's."""

import numpy as np
import pytest

import lucid
from lucid.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)
from lucid.data.sampler import draw_seed


def _state():
    return lucid.get_rng_state().numpy().tobytes()


def ten():
    return TensorDataset(lucid.arange(10))


def test_random_sampler_orders():
    g = lucid.Generator().manual_seed(0)
    order = list(RandomSampler(range(10), generator=g))
    assert sorted(order) == list(range(10)) and order != list(range(10))
    long = list(RandomSampler(range(4), num_samples=10, generator=g))
    assert len(long) == 10 and sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3]
    assert len(set(long[8:])) == 2
    drawn = list(RandomSampler(range(5), replacement=True, num_samples=300, generator=g))
    assert len(drawn) == 300 and set(drawn) == set(range(5))
    assert len(RandomSampler(range(5), num_samples=7)) == 7 and len(RandomSampler(range(5))) == 5


def test_random_sampler_without_generator_seeds_a_fresh_one_from_the_default():
    # PyTorch's RandomSampler: each epoch draws a seed from the default generator and shuffles
    # with a new Generator of that seed
    lucid.manual_seed(3)
    order = list(RandomSampler(range(20)))
    after = _state()
    lucid.manual_seed(3)
    seed = draw_seed(lucid.default_generator)
    assert _state() == after  # it drew exactly that from the default generator
    expected = lucid.randperm(20, generator=lucid.Generator().manual_seed(seed)).tolist()
    assert order == expected
    assert list(RandomSampler(range(20))) != order  # the next epoch differs
    g = lucid.Generator().manual_seed(1)
    before = _state()
    list(RandomSampler(range(20), generator=g))
    assert _state() == before


def test_subset_and_weighted_samplers():
    g = lucid.Generator().manual_seed(2)
    idx = [3, 7, 11, 19]
    got = list(SubsetRandomSampler(idx, generator=g))
    assert sorted(got) == idx and len(SubsetRandomSampler(idx)) == 4
    g.manual_seed(2)
    assert list(SubsetRandomSampler(idx, generator=g)) == got
    lucid.manual_seed(4)
    a = list(SubsetRandomSampler(idx))  # the default generator's randperm, as PyTorch's
    lucid.manual_seed(4)
    assert a == [idx[i] for i in lucid.randperm(4).tolist()]
    w = WeightedRandomSampler([0.1, 0.0, 0.9], 20_000, generator=g)
    counts = np.bincount(list(w), minlength=3) / 20_000
    np.testing.assert_allclose(counts, [0.1, 0.0, 0.9], atol=0.015)
    assert len(w) == 20_000
    distinct = list(WeightedRandomSampler([1.0, 2.0, 3.0, 4.0], 4, replacement=False, generator=g))
    assert sorted(distinct) == [0, 1, 2, 3]
    before = _state()
    list(WeightedRandomSampler(lucid.tensor([1.0, 2.0]), 5, generator=g))
    assert _state() == before


def test_sampler_argument_errors_as_pytorch():
    torch = pytest.importorskip("torch")
    tu = torch.utils.data
    for mod in (lucid.data, tu):
        with pytest.raises(TypeError):
            mod.RandomSampler(range(3), replacement=1)
        for bad in (0, -2):
            with pytest.raises(ValueError):
                mod.RandomSampler(range(3), num_samples=bad)
        with pytest.raises(ValueError):
            mod.RandomSampler(range(0))
        with pytest.raises(ValueError):
            mod.WeightedRandomSampler([[1.0, 2.0]], 2)
        for bad in (0, True, 1.5):
            with pytest.raises(ValueError):
                mod.WeightedRandomSampler([1.0, 2.0], bad)
        with pytest.raises(ValueError):
            mod.WeightedRandomSampler([1.0, 2.0], 2, replacement="yes")
        for bad in (0, 1.5, True):
            with pytest.raises(ValueError):
                mod.BatchSampler(range(3), bad, False)
        with pytest.raises(ValueError):
            mod.BatchSampler(range(3), 2, drop_last=1)


@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_and_sequential_samplers_equal_pytorchs(drop_last):
    torch = pytest.importorskip("torch")
    tu = torch.utils.data
    ours = BatchSampler(SequentialSampler(range(10)), 3, drop_last)
    theirs = tu.BatchSampler(tu.SequentialSampler(range(10)), 3, drop_last)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_loader_builds_pytorchs_samplers():
    torch = pytest.importorskip("torch")
    tu = torch.utils.data
    for shuffle in (False, True):
        ours = DataLoader(ten(), batch_size=3, shuffle=shuffle)
        theirs = tu.DataLoader(tu.TensorDataset(torch.arange(10)), batch_size=3, shuffle=shuffle)
        assert type(ours.sampler).__name__ == type(theirs.sampler).__name__
        assert type(ours.batch_sampler).__name__ == type(theirs.batch_sampler).__name__
        assert len(ours) == len(theirs) == 4
    assert DataLoader(ten(), batch_size=None).batch_sampler is None
    g = lucid.Generator()
    assert DataLoader(ten(), shuffle=True, generator=g).sampler.generator is g


def test_every_iteration_draws_from_the_default_generator_as_pytorchs():
    # PyTorch draws each iteration's base seed from the default generator, even unshuffled;
    # a loader with its own generator leaves the default one alone
    torch = pytest.importorskip("torch")
    tu = torch.utils.data

    def moved(mod, run):
        before = mod.get_rng_state().clone()
        run()
        return not bool((mod.get_rng_state() == before).all())

    for mod, data, ds in (
        (lucid, lucid.data, ten()),
        (torch, tu, tu.TensorDataset(torch.arange(10))),
    ):
        assert moved(mod, lambda d=data, s=ds: iter(d.DataLoader(s)))
        g = mod.Generator().manual_seed(0)
        own = data.DataLoader(ds, shuffle=True, generator=g)
        assert not moved(mod, lambda o=own: list(o))


def test_loader_shuffle_follows_its_generator_or_the_default_one():
    def epoch(loader):
        return [int(b[0].item()) for b in loader]

    ds = TensorDataset(lucid.arange(12))
    g = lucid.Generator().manual_seed(5)
    a = epoch(DataLoader(ds, shuffle=True, generator=g))
    g.manual_seed(5)
    assert epoch(DataLoader(ds, shuffle=True, generator=g)) == a
    assert epoch(DataLoader(ds, shuffle=True, seed=5)) == a  # seed=s is a Generator of s
    assert sorted(a) == list(range(12)) and a != list(range(12))
    lucid.manual_seed(9)
    b = epoch(DataLoader(ds, shuffle=True))
    lucid.manual_seed(9)
    assert epoch(DataLoader(ds, shuffle=True)) == b
    with pytest.raises(ValueError, match="not both"):
        DataLoader(ds, generator=g, seed=1)
    with pytest.raises(TypeError, match="lucid.Generator"):
        DataLoader(ds, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="threads"):
        DataLoader(ds, multiprocessing_context="spawn")


def test_random_split_takes_a_generator():
    ds = ten()
    g = lucid.Generator().manual_seed(1)
    before = _state()
    a, b = random_split(ds, [7, 3], g)  # positional, as PyTorch's
    assert _state() == before
    g.manual_seed(1)
    assert random_split(ds, [7, 3], generator=g)[0].indices == a.indices
    assert sorted(a.indices + b.indices) == list(range(10))
    assert random_split(ds, [7, 3], seed=1)[0].indices == a.indices
    g.manual_seed(1)
    assert a.indices + b.indices == lucid.randperm(10, generator=g).tolist()  # PyTorch's recipe
    lucid.manual_seed(2)
    c = random_split(ds, [5, 5])[0].indices
    lucid.manual_seed(2)
    assert random_split(ds, [5, 5])[0].indices == c
    with pytest.raises(TypeError, match="seed="):
        random_split(ds, [5, 5], 3)
