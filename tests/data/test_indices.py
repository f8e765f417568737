"""Every data index path checks its indices on the host: samplers, batch samplers, Subset,
TensorDataset.__getitem__ and the gather fast path raise IndexError naming the bad index and
the size (never garbage from an unchecked MLX gather, never a crash); negative indices follow
Python/PyTorch; empty datasets and batch size 0 behave like PyTorch."""

import numpy as np
import pytest

import lucid
from lucid.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split


def ten():
    return TensorDataset(lucid.arange(10))


@pytest.mark.parametrize("bad", [100, 10, -11, 100_000_000, 2**40, 2**70])
@pytest.mark.parametrize("collate", [None, default_collate])  # gather fast path, item path
def test_sampler_index_out_of_range_raises(bad, collate):
    loader = DataLoader(ten(), batch_size=2, sampler=[0, bad], collate_fn=collate)
    with pytest.raises(
        IndexError, match=f"index {bad} is out of range for a TensorDataset of size 10"
    ):
        list(loader)


def test_negative_indices_count_from_the_end():
    ds = ten()
    assert ds[-1][0].item() == 9 and ds[-10][0].item() == 0
    ((got,),) = list(DataLoader(ds, batch_size=3, sampler=[-1, 0, -10]))
    assert got.tolist() == [9, 0, 0]
    ((got,),) = list(DataLoader(ds, batch_size=3, sampler=[-1, 0, -10], collate_fn=default_collate))
    assert got.tolist() == [9, 0, 0]


def test_tensor_dataset_getitem_checks_every_index_kind():
    ds = ten()
    for bad in (10, -11, np.int64(12), [1, 10], np.array([3, -20])):
        with pytest.raises(IndexError, match="out of range for a TensorDataset of size 10"):
            ds[bad]
    assert ds[[1, -1]][0].tolist() == [1, 9]
    assert ds[2:4][0].tolist() == [2, 3]
    mask = np.arange(10) % 3 == 0
    assert ds[mask][0].tolist() == ds[lucid.tensor(mask)][0].tolist() == [0, 3, 6, 9]
    with pytest.raises(TypeError, match="integers"):
        ds[1.5]


def test_subset_checks_its_own_and_the_inner_indices():
    sub = Subset(ten(), [3, 100, -1])
    assert sub[0][0].item() == 3 and sub[-1][0].item() == 9 and sub[2][0].item() == 9
    with pytest.raises(IndexError, match="index 3 is out of range for a Subset of size 3"):
        sub[3]
    with pytest.raises(IndexError, match="index 100 is out of range for a TensorDataset"):
        sub[1]
    assert sub[[0, 2]][0].tolist() == [3, 9]  # a list index: one call to the dataset
    with pytest.raises(IndexError, match="index 100 is out of range for a TensorDataset"):
        list(DataLoader(sub, batch_size=3))
    nested = Subset(Subset(ten(), [5, 6, 7]), [2, 0, 5])
    with pytest.raises(IndexError, match="index 5 is out of range for a Subset of size 3"):
        list(DataLoader(nested, batch_size=3))
    ((got,),) = list(DataLoader(Subset(Subset(ten(), [5, 6, 7]), [2, -3]), batch_size=2))
    assert got.tolist() == [7, 5]
    with pytest.raises(TypeError):
        Subset(ten(), [1.5])


def test_batch_sampler():
    loader = DataLoader(ten(), batch_sampler=[[0, 1, 2], [9], [4, 4]])
    assert len(loader) == 3
    assert [b[0].tolist() for b in loader] == [[0, 1, 2], [9], [4, 4]]
    with pytest.raises(IndexError, match="index 11 is out of range"):
        list(DataLoader(ten(), batch_sampler=[[0, 11]]))
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ten(), batch_size=2, batch_sampler=[[0]])


def test_random_split_subsets_are_in_range():
    parts = random_split(ten(), [0.5, 0.5], seed=0)
    got = sorted(x for p in parts for b in DataLoader(p, batch_size=4) for x in b[0].tolist())
    assert got == list(range(10))


class Squares(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return i * i


def test_custom_datasets_get_the_sampler_items_unchanged():
    got = [b.tolist() for b in DataLoader(Squares(), batch_size=2, sampler=[3, -1, 2])]
    assert got == [[9, 1], [4]]  # the dataset decides what an index means


def test_empty_dataset_and_batch_size_zero_like_pytorch():
    empty = TensorDataset(lucid.zeros(0, 3))
    for loader in (
        DataLoader(empty, batch_size=2),
        DataLoader(empty, batch_size=2, drop_last=True),
    ):
        assert len(loader) == 0 and list(loader) == []
    assert [len(p) for p in random_split(empty, [0, 0])] == [0, 0]
    with pytest.raises(ValueError, match="non-empty"):
        DataLoader(empty, shuffle=True)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(ten(), batch_size=bad)
    assert list(DataLoader(ten(), batch_size=4, sampler=[])) == []


class Mixed(Dataset):
    def __len__(self):
        return 3

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float32), "y": i, "f": np.float64(0.5), "s": "a"}


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batch_size_none_yields_converted_samples_like_pytorch(num_workers):
    loader = DataLoader(Mixed(), batch_size=None, num_workers=num_workers)
    got = list(loader)
    assert len(loader) == len(got) == 3
    assert got[2]["x"].dtype == lucid.float32 and got[2]["x"].tolist() == [2.0, 2.0]
    assert got[2]["y"] == 2 and type(got[2]["y"]) is int and got[2]["s"] == "a"
    assert got[2]["f"].dtype == lucid.float64 and got[2]["f"].shape == ()
    plain = list(DataLoader(ten(), batch_size=None, sampler=[4, -1], num_workers=num_workers))
    assert [type(s) for s in plain] == [list, list]  # PyTorch's default_convert: tuple -> list
    assert [s[0].item() for s in plain] == [4, 9]
    with pytest.raises(IndexError, match="index 10 is out of range"):
        list(DataLoader(ten(), batch_size=None, sampler=[10], num_workers=num_workers))
    assert list(DataLoader(Mixed(), batch_size=None, collate_fn=lambda s: s["y"])) == [0, 1, 2]
