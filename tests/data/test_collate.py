"""default_collate promotes dtypes like PyTorch's (numpy's rules), checked against torch when it
is installed; the one deliberate difference (int-first mixed Python numbers) is pinned here."""

import numpy as np
import pytest

import lucid
from lucid.data import default_collate

BATCHES = {
    "floats": [1.5, 2.5],
    "float_first_mixed": [2.5, 1],
    "ints": [1, 2],
    "bools": [True, False],
    "bool_and_int": [True, 2],
    "np_f32_f64": [np.float32(1), np.float64(2)],
    "np_int32": [np.int32(1), np.int32(-2)],
    "np_f32": [np.float32(0.25), np.float32(3)],
    "np_uint8": [np.uint8(7), np.uint8(255)],
    "arrays_f32_f64": [np.ones(2, np.float32), np.full(2, 0.1)],
    "arrays_0d": [np.array(1.0), np.array(2)],
    "arrays_int16": [np.arange(3, dtype=np.int16)] * 2,
    "arrays_bool": [np.array([True]), np.array([False])],
}


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_collate_dtypes_match_pytorch(name):
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    batch = BATCHES[name]
    ours, theirs = default_collate(batch), torch_collate(batch)
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_mixed_python_numbers_are_floats_whatever_the_order():
    for batch in ([1, 2.5], [2.5, 1], [True, 0.5]):
        got = default_collate(batch)
        assert got.dtype == lucid.float64 and got.tolist() == [float(x) for x in batch]
    # (PyTorch gives float32 for [1, 2.5]: its dtype follows the first sample; docs/data.md)
