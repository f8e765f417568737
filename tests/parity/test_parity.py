"""Lucid against PyTorch, in float64: every op, layer, loss, optimizer and LR schedule that Lucid
shares a name with PyTorch gives PyTorch's values and gradients (``make parity``).

Skipped cleanly when torch is not installed. ``test_every_shared_name_is_compared`` keeps the
table complete: a public name Lucid has in common with PyTorch must have a case below (or a
stated exemption), so a semantic difference cannot come back unnoticed.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import lucid
import lucid.nn.functional as LF
from tests.parity import functional_cases, harness, module_cases, op_cases, tensor_cases
from tests.parity.harness import RNG, positive, rand

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _float64_by_default():
    """PyTorch's default dtype is float64 while a parity test runs (and restored after, so
    other test files see PyTorch's usual float32)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


OP_CASES = op_cases.build(torch) + functional_cases.build(torch) + tensor_cases.build(torch)
LOSS_NAMES = sorted(module_cases.LOSS_CASES)


def _ids(cases):
    seen, out = {}, []
    for c in cases:
        n = seen.get(c.name, 0)
        seen[c.name] = n + 1
        out.append(c.name if n == 0 else f"{c.name}#{n}")
    return out


OP_SAMPLES = [(c, smp) for c in OP_CASES for smp in c.samples]
OP_IDS = _ids(
    [
        harness.Case(f"{c.name}[{i}]", None, None, [])
        for c in OP_CASES
        for i in range(len(c.samples))
    ]
)


@pytest.mark.filterwarnings("ignore:.*upsample. is deprecated:UserWarning")
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")
@pytest.mark.parametrize("case,sample", OP_SAMPLES, ids=OP_IDS)
def test_op(case, sample):
    harness.run(torch, case, sample)


@pytest.mark.filterwarnings("ignore:.*upsample. is deprecated:UserWarning")
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")
@pytest.mark.parametrize("case,sample", OP_SAMPLES, ids=OP_IDS)
def test_op_second_order(case, sample):
    harness.run(torch, case, sample, order=2)


# --- layers ------------------------------------------------------------------------------------
def _copy_state(tm, lm):
    """Random parameters and buffers in the torch module, copied into the Lucid one."""
    with torch.no_grad():
        for name, t in list(tm.named_parameters()) + list(tm.named_buffers()):
            if t.dtype.is_floating_point:
                low = 0.5 if "var" in name else -1.0
                t.copy_(torch.tensor(RNG.uniform(low, low + 1.5, tuple(t.shape))))
    state = {
        k: lucid.tensor(v.detach().numpy(), dtype=str(v.detach().numpy().dtype))
        for k, v in tm.state_dict().items()
    }
    lm.load_state_dict(state)


def _module_pair(case, mode):
    """(torch module, Lucid module, torch inputs, Lucid inputs): the same parameters and
    buffers, the same random inputs (requiring grad), both in ``mode``."""
    tm = (
        case.torch_make(torch)
        if case.torch_make
        else getattr(torch.nn, case.cls)(*case.args, **case.kwargs)
    ).double()
    lm = getattr(lucid.nn, case.cls)(*case.args, **case.kwargs).double()
    _copy_state(tm, lm)
    tm.train(mode == "train")
    lm.train(mode == "train")
    xs = [rand(*shape) for shape in case.inputs]
    tx = [torch.tensor(x, requires_grad=True) for x in xs]
    lx = [lucid.tensor(x, dtype="float64", requires_grad=True) for x in xs]
    return tm, lm, tx, lx


@pytest.mark.parametrize("case", module_cases.MODULE_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_module(case, mode):
    tm, lm, tx, lx = _module_pair(case, mode)
    tout, lout = tm(*tx), lm(*lx)
    np.testing.assert_allclose(
        lout.numpy(), tout.detach().numpy(), rtol=case.rtol, atol=case.atol, err_msg="output"
    )
    w = RNG.uniform(0.5, 1.5, tuple(tout.shape))
    (tout * torch.tensor(w)).sum().backward()
    (lout * lucid.tensor(w, dtype="float64")).sum().backward()
    for i, (t, lt) in enumerate(zip(tx, lx)):
        np.testing.assert_allclose(
            lt.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=f"gradient of input {i}"
        )
    lparams = dict(lm.named_parameters())
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(
            lparams[name].grad.numpy(),
            p.grad.numpy(),
            rtol=1e-8,
            atol=1e-10,
            err_msg=f"gradient of {name}",
        )
    lstate = lm.state_dict()
    for name, b in tm.named_buffers():  # running statistics after a training step
        np.testing.assert_allclose(
            np.asarray(lstate[name].numpy(), dtype=np.float64),
            b.numpy().astype(np.float64),
            rtol=1e-9,
            atol=1e-12,
            err_msg=f"buffer {name}",
        )


@pytest.mark.filterwarnings("ignore:.*upsample. is deprecated:UserWarning")
@pytest.mark.parametrize("case", module_cases.MODULE_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_module_second_order(case, mode):
    """A module's first-order gradients (``create_graph=True``) with respect to its inputs and
    parameters, then the gradients of a random weighting of them, against PyTorch's."""
    tm, lm, tx, lx = _module_pair(case, mode)
    tout, lout = tm(*tx), lm(*lx)
    w = RNG.uniform(0.5, 1.5, tuple(tout.shape))
    lparams = dict(lm.named_parameters())
    names = [name for name, _ in tm.named_parameters()]
    leaves = list(zip(lx, tx)) + [(lparams[n], p) for n, p in tm.named_parameters()]
    assert len(leaves) == len(lx) + len(names)
    tolerance = harness.Case(case.name, None, None, [], rtol=1e-8, atol=1e-10)
    harness._second_order(
        torch,
        tolerance,
        (lout * lucid.tensor(w, dtype="float64")).sum(),
        (tout * torch.tensor(w)).sum(),
        leaves,
    )


# --- losses ------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss(name, reduction):
    kwargs, make_input, make_target = module_cases.LOSS_CASES[name]
    if name == "KLDivLoss" and reduction == "mean":
        pytest.skip("PyTorch warns that 'mean' is not KL divergence; batchmean is compared")
    kwargs = dict(
        kwargs,
        reduction=reduction
        if kwargs.get("reduction") != "batchmean" or reduction != "mean"
        else "batchmean",
    )
    inputs = make_input() if make_target is None else (make_input(), make_target())
    t_kw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    l_kw = {
        k: lucid.tensor(v, dtype="float64") if isinstance(v, np.ndarray) else v
        for k, v in kwargs.items()
    }
    tloss, lloss = getattr(torch.nn, name)(**t_kw), getattr(lucid.nn, name)(**l_kw)
    # which inputs get a gradient: the prediction(s), never class indices or +-1 labels
    grad_of = {
        "GaussianNLLLoss": [True, False, True],
        "MarginRankingLoss": [True, True, False],
        "CosineEmbeddingLoss": [True, True, False],
        "TripletMarginLoss": [True, True, True],
    }.get(name, [True, False])
    if name == "KLDivLoss":
        grad_of = [True, True]  # PyTorch differentiates the target too
    tx = [torch.tensor(a, requires_grad=g) for a, g in zip(inputs, grad_of)]
    lx = [lucid.tensor(a, dtype=str(a.dtype), requires_grad=g) for a, g in zip(inputs, grad_of)]
    tout, lout = tloss(*tx), lloss(*lx)
    np.testing.assert_allclose(lout.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = RNG.uniform(0.5, 1.5, tuple(tout.shape))
    (tout * torch.tensor(w)).sum().backward()
    (lout * lucid.tensor(w, dtype="float64")).sum().backward()
    for i, (t, lt) in enumerate(zip(tx, lx)):
        if grad_of[i]:
            np.testing.assert_allclose(
                lt.grad.numpy(),
                t.grad.numpy(),
                rtol=1e-8,
                atol=1e-10,
                err_msg=f"gradient of input {i}",
            )


def test_cross_entropy_with_every_target_ignored():
    x = rand(3, 4)
    tgt = np.array([-100, -100, -100])
    tx = torch.tensor(x, requires_grad=True)
    lx = lucid.tensor(x, dtype="float64", requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tx, torch.tensor(tgt))
    ll = LF.cross_entropy(lx, lucid.tensor(tgt))
    np.testing.assert_equal(ll.numpy(), tl.detach().numpy())  # NaN in both
    tl.backward()
    ll.backward()
    np.testing.assert_array_equal(lx.grad.numpy(), tx.grad.numpy())  # zeros, not NaN


# --- optimizers --------------------------------------------------------------------------------
def _problem(framework, tensor):
    x, y = np.linspace(-1, 1, 12).reshape(4, 3), np.linspace(0, 1, 8).reshape(4, 2)
    w0, b0 = np.full((3, 2), 0.3) + np.arange(6).reshape(3, 2) * 0.1, np.array([0.1, -0.2])
    w, b = tensor(w0), tensor(b0)

    def loss_fn():
        return (((tensor(x, grad=False) @ w + b) - tensor(y, grad=False)) ** 2).sum()

    return [w, b], loss_fn


@pytest.mark.parametrize(
    "name,kwargs",
    module_cases.OPTIMIZER_CASES,
    ids=[f"{n}{i}" for i, (n, _) in enumerate(module_cases.OPTIMIZER_CASES)],
)
def test_optimizer(name, kwargs):
    tparams, tloss = _problem(torch, lambda a, grad=True: torch.tensor(a, requires_grad=grad))
    lparams, lloss = _problem(
        lucid, lambda a, grad=True: lucid.tensor(a, dtype="float64", requires_grad=grad)
    )
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    lopt = getattr(lucid.optim, name)(lparams, **kwargs)
    for step in range(6):
        for opt, loss in ((topt, tloss), (lopt, lloss)):

            def closure(opt=opt, loss=loss):
                opt.zero_grad()
                value = loss()
                value.backward()
                return value

            opt.step(closure)
        for tp, lp in zip(tparams, lparams):
            np.testing.assert_allclose(
                lp.numpy(),
                tp.detach().numpy(),
                rtol=1e-9,
                atol=1e-12,
                err_msg=f"{name} after step {step + 1}",
            )
    state = lopt.state_dict()
    clone = getattr(lucid.optim, name)(lparams, **kwargs)
    clone.load_state_dict(state)
    assert clone.state_dict().keys() == state.keys()


# --- LR schedules ------------------------------------------------------------------------------
def _lrs(framework, make, steps=25, metrics=None):
    p = (
        torch.zeros(1, requires_grad=True)
        if framework is torch
        else lucid.zeros(1, requires_grad=True)
    )
    opt = framework.optim.SGD([p], lr=0.1)
    sched = make(framework.optim.lr_scheduler, opt)
    out = []
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        out.append(opt.param_groups[0]["lr"])
    return out


SCHEDULE_MAKERS = {
    f"{n}{i}": (lambda mod, opt, n=n, kw=kw: getattr(mod, n)(opt, **kw))
    for i, (n, kw) in enumerate(module_cases.SCHEDULER_CASES)
}
SCHEDULE_MAKERS["SequentialLR"] = lambda mod, opt: mod.SequentialLR(
    opt, [mod.LinearLR(opt, 0.1, total_iters=3), mod.ExponentialLR(opt, 0.9)], milestones=[3]
)
SCHEDULE_MAKERS["ChainedScheduler"] = lambda mod, opt: mod.ChainedScheduler(
    [mod.ConstantLR(opt, 0.5, total_iters=4), mod.ExponentialLR(opt, 0.9)]
)


@pytest.mark.parametrize("key", sorted(SCHEDULE_MAKERS))
def test_lr_schedule(key):
    make = SCHEDULE_MAKERS[key]
    np.testing.assert_allclose(_lrs(lucid, make), _lrs(torch, make), rtol=1e-12, atol=1e-15)


def test_reduce_lr_on_plateau():
    metrics = [1.0, 0.9, 0.9, 0.95, 0.91, 0.92, 0.8, 0.8, 0.81, 0.82, 0.83, 0.84] * 2

    def make(mod, opt):
        return mod.ReduceLROnPlateau(opt, factor=0.5, patience=1, threshold=0.01, cooldown=1)

    assert _lrs(lucid, make, 24, metrics) == pytest.approx(_lrs(torch, make, 24, metrics))


# --- completeness ------------------------------------------------------------------------------
# Names Lucid shares with PyTorch that are not compared here, and why.
EXEMPT = {
    "lucid.no_grad": "grad mode, not an op: tests/test_autograd.py",
    "lucid.enable_grad": "grad mode, not an op: tests/test_autograd.py",
    "lucid.set_grad_enabled": "grad mode, not an op: tests/test_autograd.py",
    "lucid.is_grad_enabled": "grad mode, not an op: tests/test_autograd.py",
    "lucid.inference_mode": "grad mode, not an op: tests/test_autograd.py",
    "lucid.save": "file format (safetensors, not pickle): tests/test_serialization.py",
    "lucid.load": "file format (safetensors, not pickle): tests/test_serialization.py",
    "lucid.manual_seed": "Lucid's generator is MLX's, not PyTorch's: streams differ by design",
    "lucid.randn": "random: same distribution, different stream (tests/test_random)",
    "lucid.rand": "random: same distribution, different stream",
    "lucid.randint": "random: same distribution, different stream",
    "lucid.randn_like": "random: same distribution, different stream",
    "lucid.rand_like": "random: same distribution, different stream",
    "lucid.randperm": "random: a permutation is checked in its own test",
    "lucid.randint_like": "random: same distribution, different stream",
    "lucid.normal": "random: distribution checked in tests/test_generator.py",
    "lucid.bernoulli": "random: distribution checked in tests/test_generator.py",
    "lucid.multinomial": "random: distribution and errors against PyTorch's in "
    "tests/test_generator.py",
    "lucid.Generator": "generator API compared with PyTorch's in tests/test_generator.py",
    "lucid.seed": "generator state: tests/test_generator.py",
    "lucid.initial_seed": "generator state: tests/test_generator.py",
    "lucid.get_rng_state": "generator state (Lucid's layout): tests/test_generator.py",
    "lucid.set_rng_state": "generator state (Lucid's layout): tests/test_generator.py",
    "lucid.empty": "uninitialised by definition",
    "lucid.empty_like": "uninitialised by definition",
    "F.dropout": "random mask: tests/nn check the scaling and the mask's rate",
    "F.dropout1d": "random mask",
    "F.dropout2d": "random mask",
    "F.dropout3d": "random mask",
    "F.alpha_dropout": "random mask",
    "nn.Dropout": "random mask",
    "nn.Dropout1d": "random mask",
    "nn.Dropout2d": "random mask",
    "nn.Dropout3d": "random mask",
    "nn.AlphaDropout": "random mask",
    "nn.Module": "the base class",
    "nn.Sequential": "a container: tests/nn/test_module.py",
    "nn.ModuleList": "a container",
    "nn.ModuleDict": "a container",
    "nn.Parameter": "a tensor subclass: tests/nn/test_module.py",
    "nn.Embedding": "compared in test_embedding below",
    "optim.Optimizer": "the base class",
    "lr_scheduler.LRScheduler": "the base class",
    "lr_scheduler.Optimizer": "the optimizer base class, re-exported as PyTorch's module does",
    "lucid.Tensor": "the class: its methods are compared one by one "
    "(test_every_shared_tensor_method_is_compared)",
    "lucid.dtype": "the dtype class: creation and conversion cases compare dtypes by name",
    "lucid.device": "the device class: repr, type, index and equality compared with torch's in "
    "tests/test_devices.py",
    "lucid.autocast": "a precision policy, not an op: tests/test_amp.py and tests/test_devices.py "
    "(device types, disabling where the GPU is absent, against torch.autocast)",
}
# Tensor methods not compared, and why.
TENSOR_EXEMPT = {
    "backward": "autograd machinery: every differentiable case calls it and compares .grad",
    "grad": "autograd machinery: every differentiable case compares it",
    "cuda": "no CUDA here: tests/test_devices.py checks the error and the routing",
    "grad_fn": "node objects differ by design (Lucid's tape); tests/test_autograd.py",
    "retain_grad": "autograd machinery: tests/test_autograd.py",
    "data": "deliberate difference: t.data is the MLX array (docs/coming-from-pytorch.md)",
    "device": "deliberate difference: a lucid.device of type 'cpu'/'gpu' "
    "(docs/coming-from-pytorch.md); tests/test_devices.py",
    "normal_": "random: same distribution, MLX's stream",
    "uniform_": "random: MLX's stream",
    "bernoulli": "random: tests/test_generator.py",
    "bernoulli_": "random: tests/test_generator.py",
    "cauchy_": "random: distribution checked in tests/test_generator.py",
    "exponential_": "random: distribution checked in tests/test_generator.py",
    "geometric_": "random: distribution checked in tests/test_generator.py",
    "log_normal_": "random: distribution checked in tests/test_generator.py",
    "multinomial": "random: tests/test_generator.py",
    "random_": "random: bounds and errors against PyTorch's in tests/test_generator.py",
}
# names deliberately compared under another case's name
ALIASES = {"lucid.concat": "lucid.cat", "lucid.absolute": "lucid.abs"}


def _public(obj):
    return {n for n in dir(obj) if not n.startswith("_")}


def _shared_names():
    names = set()
    for n in _public(lucid) & _public(torch):
        if (
            callable(getattr(lucid, n))
            and not inspect.ismodule(getattr(lucid, n))
            and not isinstance(getattr(lucid, n), lucid.dtype)
        ):
            names.add(f"lucid.{n}")
    names |= {
        f"F.{n}" for n in _public(LF) & _public(torch.nn.functional) if callable(getattr(LF, n))
    }
    names |= {
        f"nn.{n}"
        for n in _public(lucid.nn) & _public(torch.nn)
        if inspect.isclass(getattr(lucid.nn, n))
    }
    names |= {
        f"optim.{n}"
        for n in _public(lucid.optim) & _public(torch.optim)
        if inspect.isclass(getattr(lucid.optim, n))
    }
    sched, tsched = lucid.optim.lr_scheduler, torch.optim.lr_scheduler
    names |= {
        f"lr_scheduler.{n}"
        for n in _public(sched) & _public(tsched)
        if inspect.isclass(getattr(sched, n))
    }
    return names


def _compared_names():
    names = {c.name.split("[")[0] for c in OP_CASES}
    names |= {f"nn.{c.cls}" for c in module_cases.MODULE_CASES}
    names |= {f"nn.{n}" for n in LOSS_NAMES}
    names |= {f"F.{n}" for n in ("cross_entropy",)}
    names |= {f"optim.{n}" for n, _ in module_cases.OPTIMIZER_CASES}
    names |= {f"lr_scheduler.{n}" for n, _ in module_cases.SCHEDULER_CASES}
    names |= {
        "lr_scheduler.SequentialLR",
        "lr_scheduler.ChainedScheduler",
        "lr_scheduler.ReduceLROnPlateau",
    }
    return names


def test_every_shared_name_is_compared():
    compared = _compared_names() | set(EXEMPT) | set(ALIASES)
    missing = sorted(_shared_names() - compared)
    assert not missing, f"public names shared with PyTorch without a parity case: {missing}"


def test_every_shared_tensor_method_is_compared():
    """A Tensor method PyTorch also has is compared as ``Tensor.x``, or as ``lucid.x`` when the
    op table says the method is that function (tests/test_surface.py checks they agree)."""
    from lucid._methods import OPS

    compared = _compared_names()
    shared = _public(lucid.Tensor) & _public(torch.Tensor)
    missing = sorted(
        n
        for n in shared
        if f"Tensor.{n}" not in compared
        and n not in TENSOR_EXEMPT
        and not (
            n in OPS and "T" in OPS[n][1] and (f"lucid.{n}" in compared or f"F.{n}" in compared)
        )
    )
    assert not missing, f"Tensor methods shared with PyTorch without a parity case: {missing}"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding_idx": 2},
        {"max_norm": 1.0},
        {"max_norm": 0.8, "norm_type": 1.0, "padding_idx": 0},
        {"scale_grad_by_freq": True},
        {"scale_grad_by_freq": True, "padding_idx": 2},
    ],
)
def test_embedding(kwargs):
    weight = rand(6, 3)
    ids = np.array([[0, 5, 2], [2, 2, 1]])
    tm = torch.nn.Embedding.from_pretrained(torch.tensor(weight), freeze=False, **kwargs)
    lm = lucid.nn.Embedding.from_pretrained(
        lucid.tensor(weight, dtype="float64"), freeze=False, **kwargs
    )
    tout, lout = tm(torch.tensor(ids)), lm(lucid.tensor(ids))
    np.testing.assert_allclose(lout.numpy(), tout.detach().numpy(), rtol=1e-12)
    # max_norm renormalised the looked-up rows of the table itself
    np.testing.assert_allclose(lm.weight.numpy(), tm.weight.detach().numpy(), rtol=1e-12)
    w = positive(*tout.shape)
    (tout * torch.tensor(w)).sum().backward()
    (lout * lucid.tensor(w, dtype="float64")).sum().backward()
    np.testing.assert_allclose(lm.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-12)
    assert (
        lucid.nn.Embedding.from_pretrained(lucid.tensor(weight)).weight.requires_grad
        is tm.from_pretrained(torch.tensor(weight)).weight.requires_grad
    )
