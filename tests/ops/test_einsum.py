"""einsum: values and every operand's gradient against numpy float64, finite differences and
torch, including ellipses, implicit outputs, letters summed in one operand and diagonals."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, rand
from tests.torch_compare import compare_with_torch

CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 4)]),
    ("ncdhw,oc->nodhw", [(2, 3, 2, 2, 2), (4, 3)]),
    ("iij->j", [(3, 3, 2)]),
    ("ij->ji", [(2, 3)]),
    ("abc,c->ab", [(2, 3, 4), (4,)]),
]


@pytest.mark.parametrize("eq,shapes", CASES, ids=[c[0] for c in CASES])
def test_matches_numpy_and_gradcheck(eq, shapes):
    arrays = [rand(*s) for s in shapes]
    check_op(lambda *ts: lucid.einsum(eq, *ts), lambda *a: np.einsum(eq, *a), *arrays)


@pytest.mark.parametrize("eq,shapes", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(eq, shapes):
    torch = pytest.importorskip("torch")
    arrays = [rand(*s) for s in shapes]
    compare_with_torch(
        lambda *ts: lucid.einsum(eq, *ts), lambda *ts: torch.einsum(eq, *ts), *arrays
    )


def test_list_form_and_errors():
    a, b = lucid.ones(2, 3), lucid.ones(3, 4)
    assert lucid.einsum("ij,jk->ik", [a, b]).shape == (2, 4)
    with pytest.raises(ValueError, match="2 operand"):
        lucid.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match="size 3 in one operand and 2"):
        lucid.einsum("ij,jk->ik", a, lucid.ones(2, 4))
    with pytest.raises(ValueError, match="name 2 dimensions .* shape \\(3,\\)"):
        lucid.einsum("ij->i", lucid.ones(3))
