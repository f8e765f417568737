"""Datasets and DataLoader: batching, drop_last, shuffle reproducibility and per-epoch change,
samplers, collation of tuples/dicts/numbers/arrays, the TensorDataset fast path, random_split."""

import numpy as np
import pytest

import lucid
from lucid.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split

X = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
Y = np.arange(10, dtype=np.int64) * 7


class DictDataset(Dataset):
    """Items as dicts of mixed types, built one by one (the slow, general path)."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return {
            "x": X[i],
            "y": int(Y[i]),
            "w": float(i) / 2,
            "name": f"s{i}",
            "pair": (lucid.tensor(X[i]), bool(i % 2)),
        }


def batches(loader):
    return [tuple(t.numpy() for t in b) for b in loader]


@pytest.mark.parametrize("drop_last,sizes", [(False, [4, 4, 2]), (True, [4, 4])])
def test_tensor_dataset_batches_in_order(drop_last, sizes):
    ds = TensorDataset(lucid.tensor(X), lucid.tensor(Y))
    assert len(ds) == 10
    x3, y3 = ds[3]
    np.testing.assert_array_equal(x3.numpy(), X[3])
    assert y3.item() == 21
    loader = DataLoader(ds, batch_size=4, drop_last=drop_last)
    got = batches(loader)
    assert len(loader) == len(sizes) == len(got)
    assert [len(b[0]) for b in got] == sizes
    n = sum(sizes)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), X[:n])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), Y[:n])
    assert got[0][0].dtype == np.float32 and got[0][1].dtype == np.int64


def test_fast_path_equals_item_by_item_collate():
    ds = TensorDataset(lucid.tensor(X), lucid.tensor(Y))
    fast = batches(DataLoader(ds, batch_size=3, shuffle=True, seed=5))
    slow = batches(DataLoader(ds, batch_size=3, shuffle=True, seed=5, collate_fn=default_collate))
    for a, b in zip(fast, slow):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    # a Subset of a TensorDataset uses the gather too, through the index map
    sub = Subset(ds, [9, 2, 5, 0])
    ((bx, by),) = batches(DataLoader(sub, batch_size=4))
    np.testing.assert_array_equal(by, Y[[9, 2, 5, 0]])


def test_shuffle_is_reproducible_and_changes_per_epoch():
    ds = TensorDataset(lucid.tensor(Y))
    loader = DataLoader(ds, batch_size=10, shuffle=True, seed=0)
    e1 = batches(loader)[0][0]
    e2 = batches(loader)[0][0]
    assert sorted(e1) == sorted(Y) and not np.array_equal(e1, e2)
    again = DataLoader(ds, batch_size=10, shuffle=True, seed=0)
    np.testing.assert_array_equal(batches(again)[0][0], e1)
    np.testing.assert_array_equal(batches(again)[0][0], e2)
    other = DataLoader(ds, batch_size=10, shuffle=True, seed=1)
    assert not np.array_equal(batches(other)[0][0], e1)
    # without a seed, lucid.random.seed makes it reproducible
    lucid.random.seed(42)
    a = batches(DataLoader(ds, batch_size=10, shuffle=True))[0][0]
    lucid.random.seed(42)
    b = batches(DataLoader(ds, batch_size=10, shuffle=True))[0][0]
    np.testing.assert_array_equal(a, b)


def test_sampler_sets_the_order():
    ds = TensorDataset(lucid.tensor(Y))
    loader = DataLoader(ds, batch_size=2, sampler=[4, 1, 8])
    assert len(loader) == 2
    got = batches(loader)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), Y[[4, 1, 8]])
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0], shuffle=True)


def test_collate_of_dicts_tuples_numbers_strings():
    loader = DataLoader(DictDataset(), batch_size=4)
    b = next(iter(loader))
    assert set(b) == {"x", "y", "w", "name", "pair"}
    np.testing.assert_array_equal(b["x"].numpy(), X[:4])
    assert b["y"].dtype == lucid.int64 and b["y"].tolist() == [0, 7, 14, 21]
    assert b["w"].dtype == lucid.float64 and b["w"].tolist() == [0.0, 0.5, 1.0, 1.5]
    assert b["name"] == ["s0", "s1", "s2", "s3"]
    assert isinstance(b["pair"], tuple) and b["pair"][0].shape == (4, 3)
    assert b["pair"][1].dtype == lucid.bool_ and b["pair"][1].tolist() == [False, True] * 2
    assert len(loader) == 3 and [len(x["y"]) for x in loader] == [4, 4, 2]
    assert not b["x"].requires_grad


def test_custom_collate_and_errors():
    loader = DataLoader(
        TensorDataset(lucid.tensor(Y)), batch_size=3, collate_fn=lambda items: len(items)
    )
    assert list(loader) == [3, 3, 3, 1]
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(lucid.tensor(Y)), batch_size=0)
    with pytest.raises(ValueError, match=r"same first dimension.*\(10,\), \(3,\)"):
        TensorDataset(lucid.tensor(Y), lucid.zeros(3))


def test_random_split_lengths_and_fractions():
    ds = TensorDataset(lucid.tensor(Y))
    a, b = random_split(ds, [7, 3], seed=0)
    assert (len(a), len(b)) == (7, 3)
    idx = sorted(a.indices + b.indices)
    assert idx == list(range(10))
    a2, _ = random_split(ds, [7, 3], seed=0)
    assert a2.indices == a.indices
    assert random_split(ds, [7, 3], seed=1)[0].indices != a.indices
    parts = random_split(ds, [0.5, 0.3, 0.2], seed=0)
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(TensorDataset(lucid.zeros(11)), [0.3, 0.3, 0.4], seed=0)
    assert [len(p) for p in parts] == [4, 3, 4]  # floors 3, 3, 4; the 1 left over goes first
    got = np.concatenate([b[0].numpy() for b in DataLoader(a, batch_size=10)])
    np.testing.assert_array_equal(got, Y[a.indices])
    with pytest.raises(ValueError, match="sum to"):
        random_split(ds, [5, 4])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ds, [0.5, 0.4])
