"""diag: building and extracting diagonals, values and gradients against numpy and torch."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, rand
from tests.torch_compare import compare_with_torch


@pytest.mark.parametrize("shape", [(4,), (3, 3), (3, 5), (5, 2)])
@pytest.mark.parametrize("k", [0, 1, -2, 4])
def test_diag(shape, k):
    x = rand(*shape)
    check_op(lambda t: lucid.diag(t, k), lambda a: np.diag(a, k), x)
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda t: t.diag(k), lambda t: torch.diag(t, k), x)


def test_diag_rank_error():
    with pytest.raises(ValueError, match="1-D or 2-D"):
        lucid.diag(lucid.ones(2, 2, 2))
