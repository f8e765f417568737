"""lucid.compile never guesses: the issue-17 table, row by row. Batches are keyed on structure
(not repr), frozen parameters and changed Python numbers retrace, state reached through
containers is captured, an interrupted trace leaves the state intact, compiled modules and
keyword arguments work, random draws equal the eager step's, and writes the trace could lose
raise."""

import collections
import dataclasses

import numpy as np
import pytest

import lucid
import lucid.nn.functional as F
from lucid import nn


def _net(dropout=0.0):
    lucid.random.seed(0)
    return nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm3d(4),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def _volumes(n, seed=0):
    """Volumes whose reprs print alike: zero borders, values only inside (numpy's '...')."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        v = np.zeros((2, 1, 12, 12, 12), np.float32)
        v[:, :, 4:8, 4:8, 4:8] = rng.standard_normal((2, 1, 4, 4, 4))
        out.append(v)
    return out


def _train(batches, compiled, make_step):
    model = _net()
    opt = lucid.optim.Adam(model.parameters(), lr=1e-2)
    step = make_step(model, opt)
    fn = lucid.compile(step) if compiled else step
    losses = [float(fn(b).item()) for b in batches]
    return losses, model, fn


def _tuple_step(model, opt):
    def step(batch):
        x, y = batch
        opt.zero_grad()
        loss = F.cross_entropy(model(lucid.from_numpy(x)), lucid.tensor(y))
        loss.backward()
        opt.step()
        return loss

    return step


def _dict_step(model, opt):
    def step(batch):
        opt.zero_grad()
        loss = F.cross_entropy(model(batch["image"]), batch["label"])
        loss.backward()
        opt.step()
        return loss

    return step


def test_numpy_tuple_batches_whose_reprs_agree_use_the_real_data_every_call():
    vols = _volumes(6)
    assert len({repr(v) for v in vols}) == 1  # the old repr key saw one batch
    batches = [(v, np.array([0, 2])) for v in vols]
    eager, em, _ = _train(batches, False, _tuple_step)
    losses, m, fn = _train(batches, True, _tuple_step)
    assert len(set(np.round(eager, 6))) == 6
    np.testing.assert_allclose(losses, eager, rtol=1e-5, atol=1e-6)
    assert fn.traces == 1
    np.testing.assert_allclose(m[0].weight.numpy(), em[0].weight.numpy(), rtol=1e-5, atol=1e-6)


def test_dict_batches_trace_once():
    batches = [
        {"image": lucid.tensor(v), "label": lucid.tensor([i % 3, 1])}
        for i, v in enumerate(_volumes(6))
    ]
    eager, _, _ = _train(batches, False, _dict_step)
    losses, _, fn = _train(batches, True, _dict_step)
    np.testing.assert_allclose(losses, eager, rtol=1e-5, atol=1e-6)
    assert fn.traces == 1


def test_namedtuple_and_dataclass_batches_and_keywords():
    Batch = collections.namedtuple("Batch", "x y")

    @dataclasses.dataclass
    class Item:
        x: lucid.Tensor
        scale: float

    lin = nn.Linear(3, 2)
    fn = lucid.compile(lambda b, item, *, bias: (lin(b.x) * item.scale + bias).sum() + b.y.sum())
    x, y = lucid.randn(4, 3), lucid.randn(2)
    for scale in (1.0, 2.0, 2.0, 1.0):
        got = fn(Batch(x, y), Item(x, scale), bias=0.5).item()
        want = ((lin(x) * scale + 0.5).sum() + y.sum()).item()
        assert got == pytest.approx(want, rel=1e-5)
    assert fn.traces == 2  # the first call runs eagerly; 2.0 and then 1.0 are traced


def test_freezing_a_parameter_between_compiled_calls_leaves_it_unchanged():
    def run(compiled):
        lucid.random.seed(1)
        m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
        opt = lucid.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

        def step(x):
            opt.zero_grad()
            loss = m(x).pow(2).mean()
            loss.backward()
            opt.step()
            return loss

        fn = lucid.compile(step) if compiled else step
        x = lucid.randn(8, 4)
        for _ in range(3):
            fn(x)
        m[0].weight.requires_grad_(False)
        frozen = m[0].weight.numpy().copy()
        for _ in range(3):
            fn(x)
        np.testing.assert_array_equal(m[0].weight.numpy(), frozen)
        m[0].weight.requires_grad_(True)
        for _ in range(2):
            fn(x)
        return [p.numpy() for p in m.parameters()]

    for a, b in zip(run(True), run(False)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_python_number_the_step_closes_over_retraces_when_it_changes():
    lin = nn.Linear(3, 1, bias=False)
    with lucid.no_grad():
        lin.weight.data = lucid.ones(1, 3).data
    t = lucid.ones(1, 3)
    k = 0

    def f(t):
        return lin(t) * k

    fn = lucid.compile(f)
    got = []
    for k in range(5):  # noqa: B007  (the closure reads k)
        got.append(fn(t).item())
    assert got == [0, 3, 6, 9, 12]


class _Config:
    def __init__(self):
        self.scale = 1.0
        self.unused = []


_CFG = _Config()
_GLOBAL_SHIFT = 0.0


def _global_step(lin, x):
    return (lin(x) * _CFG.scale + _GLOBAL_SHIFT).sum()


def test_globals_and_attributes_are_guarded():
    global _GLOBAL_SHIFT
    lin = nn.Linear(3, 1)
    x = lucid.randn(2, 3)
    fn = lucid.compile(_global_step)
    results = []
    for scale, shift in [(1.0, 0.0), (1.0, 0.0), (2.0, 0.0), (2.0, 1.0), (2.0, 1.0)]:
        _CFG.scale, _GLOBAL_SHIFT = scale, shift
        _CFG.unused.append(1)  # not named by the code: no retrace
        results.append((fn(lin, x).item(), _global_step(lin, x).item()))
    for got, want in results:
        assert got == pytest.approx(want, rel=1e-5)
    assert fn.traces == 3
    _GLOBAL_SHIFT = 0.0


def test_train_eval_switch_and_hyperparameters_retrace():
    model = _net(dropout=0.5)
    opt = lucid.optim.SGD(model.parameters(), lr=0.1)
    x, y = lucid.randn(2, 1, 4, 4, 4), lucid.tensor([0, 1])

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = lucid.compile(step)
    fn(x, y)
    fn(x, y)
    model.eval()
    fn(x, y)
    opt.param_groups[0]["momentum"] = 0.5  # a constant of the trace: traces again
    fn(x, y)
    fn(x, y)
    assert fn.traces == 3


def test_an_interrupted_trace_leaves_model_and_optimizer_intact(tmp_path):
    model = _net()
    opt = lucid.optim.Adam(model.parameters(), lr=1e-2)
    x, y = lucid.randn(2, 1, 4, 4, 4), lucid.tensor([0, 1])

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if lucid._backend.is_tracing():
            raise KeyboardInterrupt  # Ctrl-C while the step is traced
        return loss

    fn = lucid.compile(step)
    fn(x, y)  # eager: creates Adam's state
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(KeyboardInterrupt):
        fn(x, y)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    for s in opt.state.values():
        for v in s.values():
            np.asarray(v.numpy() if hasattr(v, "numpy") else v)
    lucid.save(model.state_dict(), tmp_path / "m.safetensors")
    lucid.save(opt.state_dict(), tmp_path / "o.safetensors")


def test_a_module_reached_through_a_dict_is_captured(tmp_path):
    nets = {"m": _net()}
    opts = [lucid.optim.SGD(nets["m"].parameters(), lr=0.1)]
    x, y = lucid.randn(2, 1, 4, 4, 4), lucid.tensor([0, 1])

    def step(x, y):
        opts[0].zero_grad()
        loss = F.cross_entropy(nets["m"](x), y)
        loss.backward()
        opts[0].step()
        return loss

    fn = lucid.compile(step)
    for _ in range(4):
        fn(x, y)
    assert nets["m"][1].num_batches_tracked.item() == 4
    assert np.isfinite(nets["m"][1].running_mean.numpy()).all()
    lucid.save(nets["m"].state_dict(), tmp_path / "m.safetensors")


def test_compiled_module_with_backward_outside_equals_eager():
    def run(compiled):
        model = _net(dropout=0.3)
        opt = lucid.optim.SGD(model.parameters(), lr=0.1)
        fwd = lucid.compile(model) if compiled else model
        lucid.random.seed(7)
        losses = []
        for i in range(4):
            x = lucid.tensor(_volumes(1, seed=i)[0][:, :, :6, :6, :6], requires_grad=True)
            opt.zero_grad()
            loss = fwd(x).pow(2).sum()
            loss.backward()
            opt.step()
            losses.append((loss.item(), x.grad.numpy()))
        return losses, [p.numpy() for p in model.parameters()], fwd

    (eager, ep, _), (got, cp, fwd) = run(False), run(True)
    for (a, ga), (b, gb) in zip(got, eager):
        assert a == pytest.approx(b, rel=1e-5)
        np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-6)
    for a, b in zip(cp, ep):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert fwd.traces == 1
    assert isinstance(fwd.module, nn.Sequential) and fwd.training  # it answers as the Module


def test_keyword_arguments_work():
    model = nn.Linear(3, 2)
    opt = lucid.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y=None):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = lucid.compile(step)
    x, y = lucid.randn(4, 3), lucid.randn(4, 2)
    losses = [fn(x, y=y).item() for _ in range(4)]
    assert fn.traces == 1 and losses[-1] < losses[0]


def test_dropout_masks_of_a_compiled_step_equal_the_eager_steps():
    def run(compiled):
        model = _net(dropout=0.5)
        opt = lucid.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = lucid.compile(step) if compiled else step
        lucid.random.seed(3)
        x, y = lucid.randn(2, 1, 4, 4, 4), lucid.tensor([0, 1])
        losses = [fn(x, y).item() for _ in range(5)]
        return losses, lucid.randn(4).numpy()  # the generator advanced alike

    (a, ra), (b, rb) = run(True), run(False)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ra, rb)


def test_a_step_drawing_no_random_numbers_leaves_the_generator_alone():
    lin = nn.Linear(3, 1)
    fn = lucid.compile(lambda x: lin(x).sum())
    x = lucid.randn(2, 3)
    lucid.random.seed(5)
    for _ in range(10):
        fn(x)
    after = lucid.randn(3).numpy()
    lucid.random.seed(5)
    np.testing.assert_array_equal(after, lucid.randn(3).numpy())


class _LibraryBox(collections.UserDict):
    """A library type (collections') holding a tensor: guarded by identity only, not walked."""


_LibraryBox.__module__ = "collections"


def test_a_write_to_a_tensor_the_trace_did_not_capture_raises():
    # a library object is guarded by identity only: the walk does not look inside it, so the
    # tensor in it is not captured
    box = _LibraryBox()
    box.buf = lucid.zeros(3)
    lin = nn.Linear(3, 3)

    def step(x):
        box.buf.add_(lin(x).sum(0))
        return box.buf.sum()

    fn = lucid.compile(step)
    x = lucid.randn(2, 3)
    fn(x)
    before = box.buf.numpy().copy()
    with pytest.raises(RuntimeError, match=r"did not capture \(shape \(3,\).*held as 'buf'"):
        fn(x)
    np.testing.assert_array_equal(box.buf.numpy(), before)  # and it was put back


def test_a_captured_tensor_written_by_the_step_is_written_back():
    counts = lucid.zeros(3)

    def step(x):
        counts.add_(x)
        return counts.sum()

    fn = lucid.compile(step)
    x = lucid.ones(3)
    results = [fn(x).item() for _ in range(4)]
    assert results == [3, 6, 9, 12]
    np.testing.assert_array_equal(counts.numpy(), [4, 4, 4])


def test_changing_python_state_inside_a_trace_raises():
    class Counter:
        def __init__(self):
            self.n = 0

    c = Counter()
    lin = nn.Linear(3, 1)

    def step(x):
        c.n += 1
        return lin(x).sum()

    fn = lucid.compile(step)
    fn(lucid.randn(2, 3))
    with pytest.raises(RuntimeError, match="changed Python state"):
        fn(lucid.randn(2, 3))


def test_a_large_reachable_numpy_array_is_refused_and_a_small_one_guarded():
    table = np.ones(4, np.float32)
    lin = nn.Linear(4, 1)

    def step(x):
        return (lin(x) * lucid.from_numpy(table).sum()).sum()

    fn = lucid.compile(step)
    x = lucid.randn(2, 4)
    fn(x)
    a = fn(x).item()
    table[:] = 2  # changed in place: the checksum guard retraces
    b = fn(x).item()
    assert b == pytest.approx(2 * a, rel=1e-5)
    big = np.zeros(1 << 19)

    def step2(x):
        return lin(x).sum() + float(big.shape[0])

    fn2 = lucid.compile(step2)
    fn2(x)
    with pytest.raises(TypeError, match="too large to guard"):
        fn2(x)


def test_a_bad_class_index_raises_inside_a_compiled_step_as_eagerly():
    model = _net()
    opt = lucid.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = lucid.compile(step)
    x = lucid.randn(2, 1, 4, 4, 4)
    fn(x, lucid.tensor([0, 1]))
    fn(x, lucid.tensor([0, 2]))  # traced
    with pytest.raises(IndexError, match=r"index 7 is out of range for an axis of size 3"):
        fn(x, lucid.tensor([0, 7]))  # the cached graph
    assert fn.traces == 1


def test_an_lr_scheduler_stepped_inside_the_step_raises():
    model = nn.Linear(4, 2)
    opt = lucid.optim.SGD(model.parameters(), lr=0.1)
    sched = lucid.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def step(x):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
        sched.step()  # its Python counter would advance only when traced

    fn = lucid.compile(step)
    fn(lucid.randn(3, 4))
    with pytest.raises(RuntimeError, match=r"changed Python state.*last_epoch"):
        fn(lucid.randn(3, 4))
