"""Autograd engine semantics: seeding, accumulation, leaves vs non-leaves, DAGs, grad modes
(also across threads), detach, hooks, retain_graph, the freed-graph error, memory, and
``gradcheck`` itself (it must fail on a wrong backward)."""

import gc
import threading
import tracemalloc
import weakref

import mlx.core as mx
import numpy as np
import pytest

import lucid
from lucid import _backend as B
from lucid.autograd import GradcheckError, gradcheck
from lucid.autograd.graph import record
from lucid.ops.activation import log_softmax, softmax


def leaf(values, dtype="float64"):
    return lucid.tensor(values, dtype=dtype, requires_grad=True)


# --- seeding and accumulation --------------------------------------------------------------------
def test_scalar_backward():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0] and x.grad.dtype == lucid.float64


def test_non_scalar_backward_seeds_with_ones():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    (x * x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy())


@pytest.mark.parametrize("seed", [lucid.tensor([1.0, -2.0]), [1.0, -2.0], np.array([1.0, -2.0])])
def test_explicit_seed(seed):
    x = leaf([3.0, 5.0])
    (x * x).backward(seed)
    assert x.grad.tolist() == [6.0, -20.0]


def test_seed_of_the_wrong_shape_names_both_shapes():
    x = leaf([3.0, 5.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 2).backward(lucid.ones(3))


def test_grads_accumulate_across_calls_until_zeroed():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_grads_do_not_alias_each_other_or_the_seed():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    seed = lucid.tensor([1.0, 1.0], dtype="float64")
    (x + y).backward(seed)
    with lucid.no_grad():
        x.grad[0] = 100.0
    assert y.grad.tolist() == [1.0, 1.0] and seed.tolist() == [1.0, 1.0]


def test_backward_without_requires_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        lucid.tensor([1.0, 2.0]).sum().backward()
    with lucid.no_grad():
        y = (leaf([1.0]) * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


# --- leaves, non-leaves, graph shapes -------------------------------------------------------------
def test_non_leaves_keep_no_grad_unless_retained():
    x = leaf([1.0, 2.0])
    y = x * 2
    z = y * y
    y2 = x + 1
    y2.retain_grad()
    (z.sum() + (y2 * 3).sum()).backward()
    assert x.is_leaf and not y.is_leaf and y.grad_fn is not None and x.grad_fn is None
    assert y.grad is None and z.grad is None
    assert y2.grad.tolist() == [3.0, 3.0]
    assert x.grad.tolist() == [8 * 1 + 3, 8 * 2 + 3]


@pytest.mark.parametrize(
    "fn,expected",
    [
        (lambda x: x + x * 2, 3.0),  # an input reached by two paths
        (lambda x: x * 2 + x, 3.0),
        (lambda x: x * x, 2 * 1.5),  # the same tensor twice in one op
        (lambda x: (lambda y: y * y + y)(x * 3), 2 * 9 * 1.5 + 3),
        (lambda x: (lambda a: (lambda b: a + b + a)(a * 3))(x * 2), 2 * (1 + 3 + 1)),
        (
            lambda x: (lambda a: (a.exp() * a).sum() + a)(x * 0.5),
            0.5 * (np.exp(0.75) * (1 + 0.75) + 1),
        ),
    ],
)
def test_gradients_through_dags(fn, expected):
    x = leaf(1.5)
    fn(x).backward()
    np.testing.assert_allclose(x.grad.item(), expected, rtol=1e-6)


def test_long_chain_is_not_limited_by_recursion():
    x = leaf(1.0)
    y = x
    for _ in range(3000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad.item() == 1.0


def test_unused_leaf_and_constant_inputs_get_no_grad():
    x, unused, const = leaf([1.0]), leaf([2.0]), lucid.tensor([5.0])
    (x * const).sum().backward()
    assert unused.grad is None and const.grad is None and x.grad.tolist() == [5.0]


def test_ops_on_untracked_tensors_record_nothing():
    y = lucid.tensor([1.0]) * 2
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf


def test_gradient_dtype_follows_the_leaf():
    x = leaf([1.0, 2.0], dtype="float16")
    (x.astype("float32") * 3).sum().backward()
    assert x.grad.dtype == lucid.float16 and x.grad.tolist() == [3.0, 3.0]


# --- grad modes ----------------------------------------------------------------------------------
def test_no_grad_and_enable_grad_as_context_managers():
    x = leaf([1.0])
    with lucid.no_grad():
        assert not lucid.is_grad_enabled()
        y = x * 2
        with lucid.enable_grad():
            assert lucid.is_grad_enabled()
            z = x * 2
        assert not lucid.is_grad_enabled()
    assert lucid.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_grad_modes_as_decorators_and_restored_after_errors():
    @lucid.no_grad()
    def frozen(t):
        assert not lucid.is_grad_enabled()
        return t * 2

    @lucid.enable_grad()
    def tracked(t):
        return t * 2

    x = leaf([1.0])
    assert not frozen(x).requires_grad and frozen.__name__ == "frozen"
    with lucid.no_grad():
        assert tracked(x).requires_grad
        assert not lucid.is_grad_enabled()

    @lucid.no_grad()
    def fails():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        fails()
    assert lucid.is_grad_enabled()
    with pytest.raises(KeyError), lucid.no_grad():
        raise KeyError("boom")
    assert lucid.is_grad_enabled()
    lucid.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        lucid.set_grad_enabled(True)


def test_grad_mode_is_thread_local():
    x = leaf([1.0])
    inside, ready, done = {}, threading.Event(), threading.Event()

    def worker():
        with lucid.no_grad():
            ready.set()
            done.wait(5)  # the main thread records while this thread is inside no_grad
            inside["worker"] = (x * 2).requires_grad
        inside["worker_after"] = lucid.is_grad_enabled()

    t = threading.Thread(target=worker)
    t.start()
    assert ready.wait(5)
    inside["main"] = (x * 2).requires_grad and lucid.is_grad_enabled()
    done.set()
    t.join(5)
    assert inside == {"worker": False, "main": True, "worker_after": True}


# --- detach, requires_grad_, hooks ------------------------------------------------------------
def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    d = (x * 3).detach()
    assert d.tolist() == [3.0, 6.0] and not d.requires_grad and d.is_leaf
    (x * d).sum().backward()
    assert x.grad.tolist() == [3.0, 6.0]


def test_requires_grad_():
    x = lucid.tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    x.requires_grad_(False)
    assert not (x * 2).requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        (leaf([1.0]) * 2).requires_grad_(False)
    with pytest.raises(TypeError, match="floating-point.*int64"):
        lucid.tensor([1]).requires_grad_()


def test_hooks_see_and_replace_gradients():
    x = leaf([1.0, 2.0])
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 3
    y.register_hook(lambda g: g * 10)  # a returned tensor replaces the gradient flowing on
    y.sum().backward()
    assert seen == [[30.0, 30.0]] and x.grad.tolist() == [30.0, 30.0]
    handle.remove()
    x.zero_grad()
    (x * 1).sum().backward()
    assert seen == [[30.0, 30.0]] and x.grad.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        lucid.tensor([1.0]).register_hook(print)


# --- retain_graph and freed graphs ---------------------------------------------------------------
def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]


def test_second_backward_through_a_freed_graph_raises_clearly():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 2).sum().backward()  # a new op on top of the freed part


# --- memory --------------------------------------------------------------------------------------
OPS = [
    lambda h: h + 1,
    lambda h: 2 - h,
    lambda h: h * h,
    lambda h: h / 3,
    lambda h: h**2,
    lambda h: h // 2,
    lambda h: -h,
    lambda h: abs(h),
    lambda h: h.exp(),
    lambda h: h.log(),
    lambda h: h.sqrt(),
    lambda h: h.tanh(),
    lambda h: h.sigmoid(),
    lambda h: h.relu(),
    lambda h: h.clip(0, 1),
    lambda h: lucid.maximum(h, 1.0),
    lambda h: lucid.where(h > 1, h, 0.0),
    lambda h: h.sum(0),
    lambda h: h.mean(),
    lambda h: h.max(1).values,
    lambda h: h.amax(1),
    lambda h: h.var(),
    lambda h: h.std(),
    lambda h: h.prod(),
    lambda h: h.logsumexp(),
    lambda h: h.clone(),
    lambda h: h.t(),
    lambda h: h.reshape(-1),
    lambda h: h.T,
    lambda h: h.unsqueeze(0),
    lambda h: h.broadcast_to(3, 2, 2),
    lambda h: lucid.concatenate([h, h]),
    lambda h: lucid.stack([h, h]),
    lambda h: h.split(1)[0],
    lambda h: lucid.pad(h, (1, 1)),
    lambda h: h.repeat(2, 1),
    lambda h: h.repeat_interleave(2),
    lambda h: h.tile(2),
    lambda h: h[0],
    lambda h: h[[1, 1]],
    lambda h: h[h > 1],
    lambda h: h[None, 0],
    lambda h: h @ h,
    lambda h: h.astype("float32"),
    lambda h: h.to("cpu") * 1,
    lambda h: softmax(h),
    lambda h: log_softmax(h, dim=0),
]


@pytest.mark.parametrize("op", OPS)
def test_no_op_makes_a_reference_cycle(op):
    x = leaf(np.arange(1.0, 5.0).reshape(2, 2))
    gc.collect()
    gc.disable()  # dropping an output must free its tape by reference counting alone
    try:
        h = x * 1
        mid = weakref.ref(h)
        y = op(h)
        del h
        assert y.requires_grad
        del y
        assert mid() is None
    finally:
        gc.enable()


def test_graph_is_freed_after_backward_even_if_the_output_lives():
    x = leaf(np.ones(4))
    h = x * 2
    ref = weakref.ref(h)
    out = (h.exp() * h).sum()
    del h
    assert ref() is not None  # the tape holds the intermediate...
    out.backward()
    assert ref() is None  # ...until backward frees it
    assert out.grad_fn is not None and out.tolist() == pytest.approx(8 * np.exp(2))


def test_many_forward_passes_without_backward_do_not_grow_memory():
    x = lucid.randn(8, requires_grad=True)

    def forward():
        return ((x * 2 + 1).exp() * x).sum()

    for _ in range(200):
        forward()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    mlx_before = mx.get_active_memory()
    for i in range(10000):
        out = forward()
        if i % 1000 == 0:
            B.evaluate(out.data)
    del out
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(d.size_diff for d in after.compare_to(before, "filename"))
    assert grown < 256 * 1024, f"Python memory grew by {grown} bytes over 10,000 forward passes"
    assert mx.get_active_memory() - mlx_before < 1024 * 1024


# --- gradcheck itself -------------------------------------------------------------------------
def _square_with(factor):
    """x * x whose backward is ``factor * x`` (2 is right)."""

    def fn(x):
        xd = x.data
        return record(xd * xd, (x,), lambda g: (g * factor * xd,), "Square")

    return fn


def test_gradcheck_passes_a_correct_backward():
    assert gradcheck(_square_with(2.0), [leaf(np.linspace(-1, 1, 5))])
    # several inputs, a non-tensor argument, and a non-scalar output
    assert gradcheck(
        lambda a, b, axis: (a * b.exp()).sum(axis=axis),
        [leaf(np.ones((2, 3))), leaf(np.linspace(0, 1, 3)), 1],
    )


@pytest.mark.parametrize("factor", [2.02, 1.0, -2.0, 0.0])
def test_gradcheck_raises_on_a_wrong_backward(factor):
    with pytest.raises(GradcheckError, match=r"input 0 at index \(\d+,\): analytic .* vs numeric"):
        gradcheck(_square_with(factor), [leaf(np.linspace(0.5, 1.5, 4))])


def test_gradcheck_names_the_wrong_input_and_its_worst_element():
    def fn(a, b):
        ad, bd = a.data, b.data
        wrong = B.array([1.0, 1.0, 5.0], dtype=bd.dtype)
        return record(ad * bd, (a, b), lambda g: (g * bd, g * ad * wrong), "Mul")

    with pytest.raises(GradcheckError, match=r"input 1 at index \(2,\)"):
        gradcheck(fn, [leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])])


def test_gradcheck_works_in_float64_and_leaves_inputs_alone():
    x = lucid.tensor([0.3, 0.7], requires_grad=True)  # float32 in
    dtypes = []

    def fn(t):
        dtypes.append(t.dtype)
        return t.sin()

    assert gradcheck(fn, [x])
    assert set(dtypes) == {lucid.float64} and x.grad is None and x.dtype == lucid.float32


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda t: t * 2, [lucid.tensor([1.0])])


# --- in-place writes: version counter and saved-tensor checks ----------------------------------
def test_every_in_place_write_bumps_the_version():
    x = lucid.tensor([1.0, 2.0, 3.0])
    assert x._version == 0
    x[0] = 5.0
    assert x._version == 1
    x.data = x.data * 2
    assert x._version == 2 and x.tolist() == [10.0, 4.0, 6.0]
    p = lucid.nn.Parameter(lucid.tensor([1.0, 2.0]))
    p.grad = lucid.tensor([1.0, 1.0])
    before = p._version
    lucid.optim.SGD([p], lr=0.1).step()
    assert p._version == before + 1
    with lucid.no_grad():
        p[1] = 0.0
    assert p._version == before + 2


def test_backward_through_a_saved_input_modified_in_place_raises():
    x = lucid.tensor([1.0, 2.0, 3.0])
    w = leaf([1.0, 2.0, 3.0])
    y = (x * w).sum()
    x[0] = 100.0  # Mul's backward reads x to differentiate w: PyTorch raises here too
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*Mul.*\(3,\)"):
        y.backward()
    assert w.grad is None


def test_a_parameter_updated_between_forward_and_backward_is_refused():
    p = lucid.nn.Parameter(lucid.tensor([1.0, 2.0]))
    loss = (p * p).sum()
    with lucid.no_grad():
        p.data = p.data + 1
    with pytest.raises(RuntimeError, match="version 1; expected version 0"):
        loss.backward()


def test_a_modified_output_that_backward_reads_is_refused():
    x = leaf([0.5, 1.0])
    y = x.exp()  # exp's gradient is its output
    with lucid.no_grad():
        y[0] = 0.0
    with pytest.raises(RuntimeError, match="output of Exp"):
        y.sum().backward()


def test_ops_that_do_not_read_a_modified_value_still_differentiate():
    x, w = lucid.tensor([1.0, 2.0]), leaf([3.0, 4.0])
    y = x + w  # add's backward reads neither input
    x[0] = 7.0
    with lucid.no_grad():
        y[1] = 0.0  # nor its output
    y.sum().backward()
    assert w.grad.tolist() == [1.0, 1.0]


def test_a_modification_before_the_forward_is_not_an_error():
    x, w = lucid.tensor([1.0, 2.0]), leaf([3.0, 4.0])
    x[0] = 5.0
    (x * w).sum().backward()
    assert w.grad.tolist() == [5.0, 2.0]


def test_setitem_never_changes_arrays_that_others_hold():
    # MLX updates an array object in place: a detached view or a saved array must keep its values
    x = lucid.tensor([1.0, 2.0])
    d = x.detach()
    held = x.data
    x[0] = 9.0
    assert d.tolist() == [1.0, 2.0] and held.tolist() == [1.0, 2.0] and x.tolist() == [9.0, 2.0]


# --- gradient assignment and hooks are validated -----------------------------------------------
def test_grad_assignment_with_a_wrong_shape_dtype_or_type_is_refused():
    p = lucid.nn.Parameter(lucid.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"shape \(2,\).*shape \(3,\)"):
        p.grad = lucid.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="dtype lucid.float64"):
        p.grad = lucid.tensor([1.0, 2.0, 3.0], dtype=lucid.float64)
    with pytest.raises(TypeError, match="Tensor or None"):
        p.grad = [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="floating point, got dtype lucid.int64"):
        p.grad = lucid.tensor([1, 2, 3])
    assert p.grad is None
    lucid.optim.SGD([p], lr=0.1).step()  # no gradient: the parameter keeps its shape and values
    assert p.shape == (3,) and p.tolist() == [1.0, 2.0, 3.0]


def test_a_hook_returning_a_wrong_shape_or_dtype_is_refused():
    x = leaf([1.0, 2.0])
    y = x * 2
    y.register_hook(lambda g: lucid.tensor([1.0]))
    with pytest.raises(ValueError, match=r"lambda.*shape \(1,\); expected \(2,\)"):
        y.sum().backward()
    z = x * 2
    z.register_hook(lambda g: g.astype(lucid.float16))
    with pytest.raises(TypeError, match="dtype float16; expected float64"):
        z.sum().backward()


def test_an_error_inside_a_hook_names_the_hook_and_keeps_the_cause():
    def broken_hook(g):
        raise KeyError("boom")

    x = leaf([1.0, 2.0])
    y = x * 2
    y.register_hook(broken_hook)
    with pytest.raises(RuntimeError, match=r"broken_hook.*shape \(2,\).*Mul.*KeyError") as info:
        y.sum().backward()
    assert isinstance(info.value.__cause__, KeyError)


def test_set_grad_enabled_is_a_call_a_context_manager_and_a_decorator():
    x = lucid.ones(2, requires_grad=True)
    lucid.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        lucid.set_grad_enabled(True)
    assert (x * 2).requires_grad
    for train in (True, False):
        with lucid.set_grad_enabled(train):
            assert (x * 2).requires_grad is train
        assert lucid.is_grad_enabled()
    with lucid.no_grad():
        with lucid.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not lucid.is_grad_enabled()

    @lucid.set_grad_enabled(False)
    def f(t):
        return t * 2

    lucid.set_grad_enabled(True)  # building the decorator set the mode, as PyTorch's does
    assert not f(x).requires_grad and lucid.is_grad_enabled()
