"""Shape ops: values against numpy, gradients against finite differences, bad shapes/axes."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, grads_of, rand


@pytest.mark.parametrize("fn,np_fn,shape", [
    (lambda x: x.reshape(3, 4), lambda x: x.reshape(3, 4), (2, 6)),
    (lambda x: x.reshape((4, -1)), lambda x: x.reshape(4, -1), (2, 6)),
    (lambda x: x.reshape(-1), lambda x: x.reshape(-1), (2, 3, 2)),
    (lambda x: x.view(2, 1, 3), lambda x: x.reshape(2, 1, 3), (6,)),
    (lambda x: x.reshape(()), lambda x: x.reshape(()), (1, 1)),
    (lambda x: x.reshape(0, 5), lambda x: x.reshape(0, 5), (5, 0)),
    (lambda x: x.flatten(), lambda x: x.reshape(-1), (2, 3, 2)),
    (lambda x: x.flatten(1), lambda x: x.reshape(2, -1), (2, 3, 2)),
    (lambda x: lucid.flatten(x, 0, -2), lambda x: x.reshape(6, 2), (2, 3, 2)),
    (lambda x: x.flatten(), lambda x: x.reshape(1), ()),
    (lambda x: x.squeeze(), np.squeeze, (1, 3, 1, 2)),
    (lambda x: x.squeeze(-2), lambda x: np.squeeze(x, -2), (1, 3, 1, 2)),
    (lambda x: x.squeeze((0, 2)), lambda x: np.squeeze(x, (0, 2)), (1, 3, 1, 2)),
    (lambda x: x.unsqueeze(0), lambda x: np.expand_dims(x, 0), (2, 3)),
    (lambda x: x.unsqueeze(-1), lambda x: np.expand_dims(x, -1), (2, 3)),
    (lambda x: x.unsqueeze(1), lambda x: np.expand_dims(x, 1), (2, 3)),
    (lambda x: x.unsqueeze(0), lambda x: np.expand_dims(x, 0), ()),
    (lambda x: x.transpose(), np.transpose, (2, 3, 4)),
    (lambda x: x.transpose(1, 0, 2), lambda x: np.transpose(x, (1, 0, 2)), (2, 3, 4)),
    (lambda x: x.permute(2, 0, 1), lambda x: np.transpose(x, (2, 0, 1)), (2, 3, 4)),
    (lambda x: x.permute((-1, 0, 1)), lambda x: np.transpose(x, (2, 0, 1)), (2, 3, 4)),
    (lambda x: x.swapaxes(0, -1), lambda x: np.swapaxes(x, 0, -1), (2, 3, 4)),
    (lambda x: x.T, lambda x: x.T, (2, 3)),
    (lambda x: x.T, lambda x: x.T, ()),
    (lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), (2, 3, 4)),
    (lambda x: x.broadcast_to(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), (3, 1)),
    (lambda x: x.broadcast_to((2, 3)), lambda x: np.broadcast_to(x, (2, 3)), ()),
    (lambda x: x.expand(2, -1, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), (3, 1)),
    (lambda x: x.repeat(2, axis=1), lambda x: np.repeat(x, 2, axis=1), (2, 3)),
    (lambda x: x.repeat(3), lambda x: np.repeat(x, 3), (2, 2)),
    (lambda x: x.repeat(2, axis=-1), lambda x: np.repeat(x, 2, axis=-1), (2, 3)),
    (lambda x: x.tile((2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), (2, 2)),
    (lambda x: x.tile(2), lambda x: np.tile(x, 2), (2, 3)),
])
def test_reshaping_ops(fn, np_fn, shape):
    check_op(fn, np_fn, rand(*shape))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(axis):
    a, b, c = rand(2, 3), rand(2, 3), rand(2, 3)
    check_op(lambda x, y, z: lucid.concatenate([x, y, z], axis=axis),
             lambda x, y, z: np.concatenate([x, y, z], axis=axis), a, b, c)


def test_concatenate_unequal_sizes_along_axis():
    check_op(lambda x, y: lucid.cat([x, y], axis=1), lambda x, y: np.concatenate([x, y], 1),
             rand(2, 1), rand(2, 4))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_stack(axis):
    check_op(lambda x, y: lucid.stack([x, y], axis=axis),
             lambda x, y: np.stack([x, y], axis=axis), rand(2, 3), rand(2, 3))


def test_stack_of_0d_tensors():
    check_op(lambda x, y: lucid.stack((x, y)), lambda x, y: np.stack((x, y)),
             np.array(1.5), np.array(-2.0))


@pytest.mark.parametrize("sections,axis", [(2, 0), (4, 1), ([1, 3], 1), ([2], -1), ([0, 4], 1)])
def test_split(sections, axis):
    a = rand(4, 4)
    pieces = lucid.split(lucid.tensor(a), sections, axis=axis)
    expected = np.split(a, sections, axis=axis)
    assert len(pieces) == len(expected)
    for p, e in zip(pieces, expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-6)
    # each piece's gradient lands in its own slice of the input
    weights = [np.random.default_rng(i).standard_normal(e.shape) for i, e in enumerate(expected)]
    def weighted(x):
        pieces = lucid.split(x, sections, axis)
        return lucid.stack([(p * lucid.tensor(w, dtype="float64")).sum()
                            for p, w in zip(pieces, weights)])

    (g,) = grads_of(weighted, a)
    np.testing.assert_allclose(g, np.concatenate(weights, axis=axis), rtol=1e-12)


def test_chunk():
    x = lucid.arange(7)
    assert [c.tolist() for c in x.chunk(3)] == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64", "int32", "bool"])
def test_astype(dtype):
    x = lucid.tensor([[0.0, 1.5], [-2.0, 3.0]], requires_grad=True)
    y = x.astype(dtype)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.numpy(), x.numpy().astype(np.dtype(
        "float32" if dtype == "bfloat16" else dtype)))
    if y.dtype.is_floating_point:
        (y * 3).sum().backward()
        assert x.grad.dtype == lucid.float32
        np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 3.0))
    else:
        assert not y.requires_grad


def test_shape_ops_keep_gradients_through_chains():
    a = rand(2, 3, 4)
    check_op(lambda x: x.permute(2, 0, 1).reshape(4, 6)[1:].sum(axis=0).unsqueeze(0).T,
             lambda x: np.transpose(x, (2, 0, 1)).reshape(4, 6)[1:].sum(axis=0)[None].T, a)


@pytest.mark.parametrize("call,pattern", [
    (lambda x: x.reshape(4, 4), r"\(2, 3\).*\(4, 4\)"),
    (lambda x: x.reshape(-1, 4), r"\(2, 3\).*\(-1, 4\)"),
    (lambda x: x.reshape(-1, -1), "at most one -1"),
    (lambda x: x.squeeze(0), "axis 0 has size 2"),
    (lambda x: x.unsqueeze(3), "axis 3"),
    (lambda x: x.permute(0, 0), r"\(0, 0\).*\(2, 3\)"),
    (lambda x: x.permute(0, 1, 2), r"\(0, 1, 2\)"),
    (lambda x: x.transpose(1), r"\(1,\)"),
    (lambda x: x.broadcast_to(3, 3), r"\(2, 3\) to \(3, 3\)"),
    (lambda x: x.broadcast_to(3), r"\(2, 3\) to \(3,\)"),
    (lambda x: x.expand(3), r"\(3,\).*\(2, 3\)"),
    (lambda x: x.expand(-1, 2, 3), r"new leading .*\(-1, 2, 3\)"),
    (lambda x: lucid.concatenate([x, lucid.ones(3, 2)], axis=0), r"\(2, 3\).*\(3, 2\)"),
    (lambda x: lucid.concatenate([x, lucid.ones(3)]), r"\(2, 3\).*\(3,\)"),
    (lambda x: lucid.concatenate([]), "at least one"),
    (lambda x: lucid.stack([x, lucid.ones(3, 2)]), r"\(2, 3\).*\(3, 2\)"),
    (lambda x: lucid.stack([x, x], axis=3), "axis 3"),
    (lambda x: x.split(2, axis=1), "size 3.*2 equal"),
    (lambda x: x.repeat(-1), "non-negative"),
    (lambda x: x.flatten(1, 0), "start_axis 1.*end_axis 0"),
    (lambda x: x.swapaxes(0, 2), "axis 2"),
])
def test_bad_shapes_raise_clear_errors(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(lucid.ones(2, 3))


@pytest.mark.parametrize("call,error,pattern", [
    (lambda x: x.reshape(2.5, 2), TypeError, r"sizes must be ints, got \(2.5, 2\)"),
    (lambda x: x.permute(1.0, 0), TypeError, "sizes must be ints"),
    (lambda x: x.chunk(0), ValueError, "chunks must be a positive int, got 0"),
    (lambda x: x.tile(-1), ValueError, r"reps must be non-negative ints, got \(-1,\)"),
    (lambda x: x.sum(axis=1.5), TypeError, "axis must be an int"),
])
def test_bad_argument_types(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(lucid.ones(2, 3))


def test_astype_to_unknown_dtype():
    with pytest.raises(TypeError, match="unknown dtype 'float8'"):
        lucid.ones(2).astype("float8")
