"""Optimizers against hand-written float64 numpy update sequences (several steps, every
option), parameter groups, state_dict round trips, and the contract of ``step()``: grads
untouched, nothing recorded on the tape, dtypes kept."""

import numpy as np
import pytest

import lucid
import lucid.nn as nn
from lucid import optim

RNG = np.random.default_rng(3)
P0 = RNG.normal(size=(2, 3))
# gradients that shrink a lot after the first step, so AMSGrad's max differs from Adam's v
GRADS = [RNG.normal(size=(2, 3)) * s for s in (3.0, 0.5, 0.2, 1.0, 0.1)]


def f64(a):
    return lucid.tensor(a, dtype="float64")


def par(a):
    return nn.Parameter(f64(a))


def run(make_opt, grads=GRADS, p0=P0, dtype="float64"):
    """Apply ``grads`` one step each to a parameter starting at ``p0``; returns its values."""
    p = nn.Parameter(lucid.tensor(p0, dtype=dtype))
    opt = make_opt([p])
    for g in grads:
        p.grad = lucid.tensor(g, dtype=dtype)
        opt.step()
    return p.numpy()


# --- numpy references (PyTorch's documented algorithms) ----------------------------------------
def np_sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    p, buf = P0.copy(), None
    for g in GRADS:
        g = -g if maximize else g.copy()
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def np_adam(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    p, m, v, vmax = P0.copy(), 0 * P0, 0 * P0, 0 * P0
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        vmax = np.maximum(vmax, v)
        v_hat = (vmax if amsgrad else v) / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def np_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    p, sq, ga, buf = P0.copy(), 0 * P0, 0 * P0, 0 * P0
    for g in GRADS:
        g = g + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        ga = alpha * ga + (1 - alpha) * g
        avg = np.sqrt(sq - ga * ga if centered else sq) + eps
        if momentum:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p


def np_adagrad(lr, lr_decay=0.0, weight_decay=0.0, init=0.0, eps=1e-10):
    p, s = P0.copy(), np.full_like(P0, init)
    for t, g in enumerate(GRADS, start=1):
        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
    return p


CASES = [
    (lambda ps: optim.SGD(ps, lr=0.1), np_sgd(0.1)),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), np_sgd(0.1, 0.9)),
    (
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.05),
        np_sgd(0.1, 0.8, 0.3, 0.05),
    ),
    (
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        np_sgd(0.05, 0.9, weight_decay=0.01, nesterov=True),
    ),
    (
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, maximize=True),
        np_sgd(0.1, 0.5, maximize=True),
    ),
    (lambda ps: optim.Adam(ps, lr=0.01), np_adam(0.01)),
    (
        lambda ps: optim.Adam(ps, lr=0.02, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1),
        np_adam(0.02, 0.8, 0.9, 1e-6, 0.1),
    ),
    (
        lambda ps: optim.Adam(ps, lr=0.01, betas=(0.9, 0.5), amsgrad=True),
        np_adam(0.01, 0.9, 0.5, amsgrad=True),
    ),
    (lambda ps: optim.AdamW(ps, lr=0.01), np_adam(0.01, weight_decay=1e-2, decoupled=True)),
    (
        lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.5, amsgrad=True, betas=(0.9, 0.5)),
        np_adam(0.05, 0.9, 0.5, weight_decay=0.5, amsgrad=True, decoupled=True),
    ),
    (lambda ps: optim.RMSprop(ps, lr=0.01), np_rmsprop(0.01)),
    (
        lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.9, centered=True),
        np_rmsprop(0.01, 0.9, centered=True),
    ),
    (
        lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.9, weight_decay=0.1, centered=True),
        np_rmsprop(0.01, weight_decay=0.1, momentum=0.9, centered=True),
    ),
    (lambda ps: optim.Adagrad(ps, lr=0.1), np_adagrad(0.1)),
    (
        lambda ps: optim.Adagrad(
            ps, lr=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.3
        ),
        np_adagrad(0.1, 0.5, 0.1, 0.3),
    ),
]


@pytest.mark.parametrize("make,expected", CASES)
def test_update_sequences_match_numpy(make, expected):
    got = run(make)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(got, P0)


def test_amsgrad_makes_a_difference_here():
    # guards the AMSGrad case above against passing by coincidence
    assert not np.allclose(np_adam(0.01, 0.9, 0.5, amsgrad=True), np_adam(0.01, 0.9, 0.5))


@pytest.mark.parametrize("make,expected", CASES[:1] + CASES[5:6] + CASES[10:11])
def test_float32_params_stay_float32_and_agree(make, expected):
    p = nn.Parameter(lucid.tensor(P0.astype(np.float32)))
    opt = make([p])
    for g in GRADS:
        p.grad = lucid.tensor(g.astype(np.float32))
        opt.step()
    assert p.dtype == lucid.float32
    buffers = [v for v in opt.state[p].values() if isinstance(v, lucid.Tensor)]
    assert all(v.dtype == lucid.float32 for v in buffers)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-5, atol=1e-5)


# --- the step() contract ------------------------------------------------------------------------
def test_step_leaves_grads_untouched_and_records_nothing():
    p = par(P0)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    (p * p).sum().backward()
    grad_obj, grad_vals = p.grad, p.grad.numpy()
    opt.step()
    assert p.grad is grad_obj
    np.testing.assert_array_equal(p.grad.numpy(), grad_vals)
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
    # a fresh backward sees only the new forward pass (no path through the update)
    p.grad = None
    (p * 3.0).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.full(P0.shape, 3.0))


def test_end_to_end_with_backward_and_closure():
    p = par(P0)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = ((p - 1.0) ** 2).sum()
        loss.backward()
        return loss

    with lucid.no_grad():  # step re-enables grad for the closure
        loss = opt.step(closure)
    assert abs(loss.item() - ((P0 - 1) ** 2).sum()) < 1e-12
    np.testing.assert_allclose(p.numpy(), P0 - 0.1 * 2 * (P0 - 1), rtol=1e-12)


def test_params_without_grad_are_skipped():
    a, b = par(P0), par(P0)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = f64(GRADS[0])
    opt.step()
    np.testing.assert_array_equal(b.numpy(), P0)
    assert b not in opt.state and opt.state[a]["step"] == 1


def test_zero_grad():
    p = par(P0)
    opt = optim.SGD([p], lr=0.1)
    p.grad = f64(GRADS[0])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros_like(P0))
    opt.zero_grad()
    assert p.grad is None


# --- parameter groups ---------------------------------------------------------------------------
def test_param_groups_use_their_own_hyperparameters():
    a, b = par(P0), par(P0)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["momentum"] == 0.9
    for g in GRADS:
        a.grad, b.grad = f64(g), f64(g)
        opt.step()
    np.testing.assert_allclose(a.numpy(), np_sgd(0.1), rtol=1e-12)
    np.testing.assert_allclose(b.numpy(), np_sgd(0.5, 0.9), rtol=1e-12)


def test_add_param_group_and_errors():
    a, b = par(P0), par(P0)
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(a, lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.SGD([a], lr=-1.0)
    with pytest.raises(ValueError, match="Invalid weight_decay value"):
        optim.SGD([{"params": [a], "weight_decay": -0.1}], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam([a], betas=(0.9, 1.0))


# --- state dicts --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make", [c[0] for c in CASES[1:2] + CASES[7:8] + CASES[12:13] + CASES[14:15]]
)
@pytest.mark.parametrize("through_file", [False, True])
def test_state_dict_round_trip_continues_identically(make, through_file, tmp_path):
    p = par(P0)
    opt = make([p])
    for g in GRADS[:2]:
        p.grad = f64(g)
        opt.step()
    saved = {"p": lucid.tensor(p.numpy(), dtype="float64"), "opt": opt.state_dict()}
    if through_file:
        lucid.save(saved, tmp_path / "ckpt.safetensors")
        saved = lucid.load(tmp_path / "ckpt.safetensors")
    q = par(saved["p"].numpy())
    opt2 = make([q])
    opt2.param_groups[0]["lr"] = 123.0  # restored from the state dict below
    opt2.load_state_dict(saved["opt"])
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for g in GRADS[2:]:
        p.grad, q.grad = f64(g), f64(g)
        opt.step()
        opt2.step()
    np.testing.assert_array_equal(q.numpy(), p.numpy())


def test_state_dict_is_a_snapshot_and_load_checks_sizes():
    p = par(P0)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = f64(GRADS[0])
    opt.step()
    sd = opt.state_dict()
    before = sd["state"][0]["momentum_buffer"].numpy()
    p.grad = f64(GRADS[1])
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"].numpy(), before)
    assert sd["param_groups"][0]["params"] == [0]
    other = optim.SGD([par(P0), par(P0)], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 2 parameter"):
        other.load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        other.load_state_dict({"state": {}})


# --- gradient clipping (lucid.nn.utils) -----------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm(norm_type, max_norm):
    gs = [RNG.normal(size=(2, 3)), RNG.normal(size=(4,))]
    ps = [par(np.zeros_like(g)) for g in gs] + [par(np.zeros(2))]  # the last has no grad
    for p, g in zip(ps, gs):
        p.grad = f64(g)
    flat = np.concatenate([g.ravel() for g in gs])
    total = (
        np.abs(flat).max()
        if np.isinf(norm_type)
        else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    )
    out = nn.utils.clip_grad_norm_((p for p in ps), max_norm, norm_type)
    assert out.shape == () and abs(out.item() - total) < 1e-12
    scale = min(1.0, max_norm / (total + 1e-6))
    for p, g in zip(ps, gs):
        np.testing.assert_allclose(p.grad.numpy(), g * scale, rtol=1e-12)
        assert p.grad_fn is None and p.grad.grad_fn is None
    assert ps[2].grad is None
    if max_norm < total:  # clipped to the bound
        new = np.concatenate([p.grad.numpy().ravel() for p in ps[:2]])
        got = (
            np.abs(new).max()
            if np.isinf(norm_type)
            else (np.abs(new) ** norm_type).sum() ** (1 / norm_type)
        )
        assert got == pytest.approx(max_norm, rel=1e-5)


def test_clip_grad_norm_edge_cases():
    p = par(np.zeros(3))
    assert nn.utils.clip_grad_norm_([p], 1.0).item() == 0.0  # no grads at all
    p.grad = f64([np.inf, 1.0, 0.0])
    with pytest.raises(RuntimeError, match="not finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type"):
        nn.utils.clip_grad_norm_(p, 1.0, norm_type=0)
    q = nn.Parameter(lucid.tensor([3.0, 4.0]))  # float32 grads give a float32 norm
    q.grad = lucid.tensor([3.0, 4.0])
    assert nn.utils.clip_grad_norm_([q], 1.0).dtype == lucid.float32
    np.testing.assert_allclose(q.grad.numpy(), [0.6, 0.8], rtol=1e-5)


def test_clip_grad_value():
    p = par(np.zeros(4))
    p.grad = f64([-3.0, -0.5, 0.2, 7.0])
    nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, -0.5, 0.2, 1.0])
    with pytest.raises(ValueError, match="clip_value"):
        nn.utils.clip_grad_value_([p], -1.0)
