"""Deferred index checks (embedding ids and loss targets on the device) and the fuzz layer for
every index path: random shapes and random index values, in and out of range and negative. Each
call either matches numpy or raises IndexError; never another exception, never a crash."""

import numpy as np
import pytest

import lucid
import lucid.nn.functional as F
from lucid import _backend as B

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

FUZZ = settings(max_examples=75, deadline=None, derandomize=True)


@pytest.fixture(autouse=True)
def no_leftover_checks():
    lucid.check_indices()  # a test never inherits another's pending failure
    yield
    try:
        lucid.check_indices()
    finally:
        lucid.set_index_checks("deferred")


# --- deferred checks --------------------------------------------------------------------------
def test_device_indices_are_checked_at_the_next_host_read_of_any_tensor():
    emb = lucid.nn.Embedding(5, 2)
    out = emb(lucid.tensor([[1, 7], [0, 2]]))  # no host read here: the step stays asynchronous
    assert B.has_pending()
    unrelated = lucid.tensor([1.0])
    with pytest.raises(
        IndexError, match="embedding: index 7 is out of range for an axis of size 5"
    ):
        unrelated.item()
    assert not B.has_pending()  # consumed: the next read succeeds
    values = out.numpy()
    assert np.isnan(values[0, 1]).all() and not np.isnan(values[[0, 1, 1], [0, 0, 1]]).any()


@pytest.mark.parametrize(
    "read",
    [
        lambda t: t.tolist(),
        lambda t: float(t.sum()),
        lambda t: bool(t.sum() > 0),
        repr,
        str,
        lambda t: lucid.check_indices(),
    ],
)
def test_every_host_read_runs_the_pending_checks(read):
    loss = F.cross_entropy(lucid.zeros(2, 3), lucid.tensor([1, -5]))
    with pytest.raises(IndexError, match="cross_entropy target: index -5"):
        read(loss)


def test_eager_mode_checks_at_once():
    lucid.set_index_checks("eager")
    with pytest.raises(IndexError, match="embedding: index 5"):
        lucid.nn.Embedding(5, 2)(lucid.tensor([5]))
    with pytest.raises(ValueError, match="deferred"):
        lucid.set_index_checks("never")


def test_a_bad_embedding_id_gets_no_gradient_and_good_ones_do():
    emb = lucid.nn.Embedding(3, 2)
    out = emb(lucid.tensor([0, 3, 0]))
    out.backward(lucid.ones(3, 2))
    with pytest.raises(IndexError):
        lucid.check_indices()
    np.testing.assert_array_equal(emb.weight.grad.numpy(), [[2, 2], [0, 0], [0, 0]])


def test_pending_checks_stay_bounded_without_host_reads():
    emb = lucid.nn.Embedding(3, 2)
    for _ in range(600):
        emb(lucid.tensor([0, 1]))
    assert len(B.runtime._state().checks) < B.runtime.MAX_DEFERRED_UPDATES


# --- fuzz: every index path either matches numpy or raises IndexError --------------------------
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
values = st.integers(-7, 7) | st.sampled_from([-(2**31), 2**31 - 1, 10**8])


def _expect(np_fn):
    """numpy's answer, or the IndexError numpy gives (the contract is: the same or IndexError)."""
    try:
        return np_fn(), None
    except IndexError as exc:
        return None, exc


@FUZZ
@given(shape=shapes, data=st.data())
def test_fuzz_getitem_and_setitem(shape, data):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    n = data.draw(st.integers(1, len(shape)))
    index = tuple(data.draw(st.lists(values, min_size=1, max_size=3) | values) for _ in range(n))
    kind = data.draw(st.sampled_from(["tuple", "tensor"]))
    expected, error = _expect(lambda: a[index])
    x = lucid.tensor(a)
    lucid_index = (
        index
        if kind == "tuple"
        else tuple(lucid.tensor(i) if isinstance(i, list) else i for i in index)
    )
    if error is not None:
        with pytest.raises(IndexError):
            x[lucid_index]
        with pytest.raises(IndexError):
            x[lucid_index] = 0.0
        return
    np.testing.assert_array_equal(x[lucid_index].numpy(), expected)
    x[lucid_index] = -1.0
    a[index] = -1.0
    np.testing.assert_array_equal(x.numpy(), a)


@FUZZ
@given(shape=shapes, data=st.data())
def test_fuzz_gather_scatter_index_select(shape, data):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    d = dim % len(shape)
    idx_shape = tuple(
        data.draw(st.integers(1, s)) if i != d else data.draw(st.integers(1, 4))
        for i, s in enumerate(shape)
    )
    idx = np.array(
        data.draw(
            st.lists(values, min_size=int(np.prod(idx_shape)), max_size=int(np.prod(idx_shape)))
        )
    ).reshape(idx_shape)
    in_range = bool(((idx >= 0) & (idx < shape[d])).all())
    x = lucid.tensor(a)
    calls = {
        "gather": (
            lambda: lucid.gather(x, dim, lucid.tensor(idx)),
            lambda: np.take_along_axis(
                a[tuple(slice(0, n) if i != d else slice(None) for i, n in enumerate(idx_shape))],
                idx,
                axis=d,
            ),
        ),
        "scatter_add": (lambda: lucid.scatter_add(x, dim, idx, lucid.ones(*idx_shape)), None),
        "index_select": (
            lambda: lucid.index_select(x, dim, idx.reshape(-1)),
            lambda: np.take(a, idx.reshape(-1), axis=d),
        ),
    }
    for name, (call, reference) in calls.items():
        if not in_range:
            with pytest.raises(IndexError, match="out of range for an axis of size"):
                call()
        elif reference is not None:
            np.testing.assert_array_equal(call().numpy(), reference(), err_msg=name)
        else:
            expected = a.copy()
            np.add.at(
                expected,
                tuple(
                    idx
                    if i == d
                    else np.arange(n).reshape([-1 if j == i else 1 for j in range(len(shape))])
                    for i, n in enumerate(idx_shape)
                ),
                1.0,
            )
            np.testing.assert_array_equal(call().numpy(), expected)


@FUZZ
@given(n=st.integers(1, 6), ids=st.lists(values, min_size=1, max_size=6), as_tensor=st.booleans())
def test_fuzz_embedding(n, ids, as_tensor):
    emb = lucid.nn.Embedding(n, 3)
    w = emb.weight.numpy()
    ids = np.array(ids)
    good = (ids >= 0) & (ids < n)
    if good.all():
        out = emb(lucid.tensor(ids) if as_tensor else ids)
        np.testing.assert_array_equal(out.numpy(), w[ids])
        return
    with pytest.raises(IndexError, match=f"out of range for an axis of size {n}"):
        out = emb(lucid.tensor(ids) if as_tensor else ids)
        lucid.check_indices()


@FUZZ
@given(c=st.integers(1, 5), targets=st.lists(values, min_size=1, max_size=5))
def test_fuzz_loss_targets(c, targets):
    t = np.array(targets)
    x = np.random.default_rng(0).standard_normal((len(t), c)).astype(np.float32)
    loss = F.cross_entropy(lucid.tensor(x), lucid.tensor(t), reduction="none")
    if ((t >= 0) & (t < c)).all():
        logp = x - np.log(np.exp(x).sum(1, keepdims=True))
        np.testing.assert_allclose(loss.numpy(), -logp[np.arange(len(t)), t], rtol=1e-5, atol=1e-5)
        return
    with pytest.raises(IndexError, match=f"out of range for an axis of size {c}"):
        loss.numpy()
    bad = (t < 0) | (t >= c)
    assert np.isnan(loss.numpy()[bad]).all()


def test_paused_checks_register_nothing_but_still_poison():
    with B.checks.paused():
        out = lucid.nn.Embedding(2, 2)(lucid.tensor([5]))
    assert not B.has_pending()
    assert np.isnan(out.numpy()).all()
