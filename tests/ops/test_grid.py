"""meshgrid: shapes and values for both indexings (numpy's meshgrid), gradients, the warning."""

import numpy as np
import pytest

import lucid
from tests.helpers import rand
from tests.torch_compare import compare_with_torch


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_numpy_and_torch(indexing):
    a, b, c = rand(2), rand(3), rand(4)
    outs = lucid.meshgrid(lucid.tensor(a), lucid.tensor(b), lucid.tensor(c), indexing=indexing)
    for out, ref in zip(outs, np.meshgrid(a, b, c, indexing=indexing)):
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)
    torch = pytest.importorskip("torch")
    compare_with_torch(
        lambda *ts: lucid.meshgrid(*ts, indexing=indexing),
        lambda *ts: torch.meshgrid(*ts, indexing=indexing),
        a,
        b,
        c,
    )


def test_default_indexing_warns_and_is_ij():
    with pytest.warns(UserWarning, match="indexing argument"):
        x, y = lucid.meshgrid(lucid.ones(2), lucid.ones(3))
    assert x.shape == (2, 3)
    with pytest.raises(ValueError, match="'ij' or 'xy'"):
        lucid.meshgrid(lucid.ones(2), indexing="ji")
