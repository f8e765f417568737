"""Adam, AdamW, NAdam, RAdam, Adamax, Adadelta, ASGD, Rprop and LBFGS step by step against
PyTorch (the parameters after every step within 1e-10 in float64, 1e-5 in float32), state_dict
round trips, and hyperparameter validation with PyTorch's messages for every optimizer."""

import contextlib
import math

import numpy as np
import pytest

import lucid
import lucid.nn as nn
from lucid import optim

RNG = np.random.default_rng(21)
X = RNG.normal(size=(8, 4))
Y = RNG.normal(size=(8, 3))
W0 = RNG.normal(size=(3, 4)) * 0.5
B0 = RNG.normal(size=3) * 0.5
STEPS = 12


def loss_fn(w, b, xt, yt):
    """A small least-squares problem with a quartic term: polynomial, so float64 is exact in
    both frameworks."""
    r = xt @ w.T + b - yt
    return (r * r).sum() + 0.05 * (w * w * w * w).sum()


@contextlib.contextmanager
def torch_default(torch, dtype):
    """PyTorch keeps some optimizer scalars (ASGD's eta, mu) in the default dtype."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


CASES = [
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "eps": 1e-3, "weight_decay": 0.1, "maximize": True}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.05, "betas": (0.5, 0.9), "amsgrad": True, "maximize": True}),
    ("NAdam", {"lr": 0.05}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("RAdam", {"lr": 0.05}),
    ("RAdam", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1}),  # rho_t > 5 from step 6
    (
        "RAdam",
        {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1, "decoupled_weight_decay": True},
    ),
    ("Adamax", {"lr": 0.05}),
    ("Adamax", {"lr": 0.05, "betas": (0.5, 0.9), "weight_decay": 0.1, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-4, "weight_decay": 0.1}),
    ("ASGD", {"lr": 0.01}),
    ("ASGD", {"lr": 0.01, "lambd": 0.1, "alpha": 0.5, "t0": 4, "weight_decay": 0.1}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2), "maximize": True}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def run_lucid(name, kw, dtype, steps=STEPS, state=None):
    w = nn.Parameter(lucid.tensor(W0, dtype=dtype))
    b = nn.Parameter(lucid.tensor(B0, dtype=dtype))
    xt, yt = lucid.tensor(X, dtype=dtype), lucid.tensor(Y, dtype=dtype)
    opt = getattr(optim, name)([w, b], **kw)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(w, b, xt, yt).backward()
        opt.step()
        history.append((w.numpy().copy(), b.numpy().copy()))
    return history, opt, (w, b)


def run_torch(torch, name, kw, dtype, steps=STEPS):
    with torch_default(torch, dtype):
        w = torch.tensor(W0, dtype=dtype, requires_grad=True)
        b = torch.tensor(B0, dtype=dtype, requires_grad=True)
        xt, yt = torch.tensor(X, dtype=dtype), torch.tensor(Y, dtype=dtype)
        opt = getattr(torch.optim, name)([w, b], **kw)
        history = []
        for _ in range(steps):
            opt.zero_grad()
            loss_fn(w, b, xt, yt).backward()
            opt.step()
            history.append((w.detach().numpy().copy(), b.detach().numpy().copy()))
    return history, opt


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_steps_match_torch(name, kw, dtype):
    torch = pytest.importorskip("torch")
    tol = 1e-10 if dtype == "float64" else 1e-5
    mine, opt, _ = run_lucid(name, kw, dtype)
    theirs, topt = run_torch(torch, name, kw, getattr(torch, dtype))
    for step, ((w, b), (tw, tb)) in enumerate(zip(mine, theirs)):
        np.testing.assert_allclose(w, tw, rtol=tol, atol=tol, err_msg=f"step {step + 1}")
        np.testing.assert_allclose(b, tb, rtol=tol, atol=tol, err_msg=f"step {step + 1}")
    # the state has PyTorch's names
    theirs_state = topt.state_dict()["state"][0]
    assert set(opt.state_dict()["state"][0]) == set(theirs_state)
    if name == "ASGD":  # the running average, the point of the method
        np.testing.assert_allclose(
            opt.state_dict()["state"][0]["ax"].numpy(),
            theirs_state["ax"].numpy(),
            rtol=tol,
            atol=tol,
        )


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_state_dict_round_trip_continues_exactly(name, kw, tmp_path):
    straight, _, _ = run_lucid(name, kw, "float64", steps=6)
    _, opt, (w, b) = run_lucid(name, kw, "float64", steps=3)
    path = tmp_path / "opt.lucid"
    lucid.save(opt.state_dict(), path)
    w2, b2 = (
        nn.Parameter(lucid.tensor(w.numpy(), dtype="float64")),
        nn.Parameter(lucid.tensor(b.numpy(), dtype="float64")),
    )
    opt2 = getattr(optim, name)([w2, b2], **kw)
    opt2.load_state_dict(lucid.load(path))
    xt, yt = lucid.tensor(X, dtype="float64"), lucid.tensor(Y, dtype="float64")
    for _ in range(3):
        opt2.zero_grad()
        loss_fn(w2, b2, xt, yt).backward()
        opt2.step()
    np.testing.assert_array_equal(w2.numpy(), straight[-1][0])
    np.testing.assert_array_equal(b2.numpy(), straight[-1][1])


# --- LBFGS --------------------------------------------------------------------------------------
LBFGS_CASES = [
    {"lr": 0.5, "max_iter": 5},
    {"lr": 1.0, "max_iter": 4, "history_size": 2},
    {"lr": 1.0, "max_iter": 6, "line_search_fn": "strong_wolfe"},
    {
        "lr": 1.0,
        "max_iter": 20,
        "history_size": 3,
        "line_search_fn": "strong_wolfe",
        "tolerance_change": 1e-12,
    },
]


def closure_of(opt, w, b, xt, yt):
    """The closure LBFGS.step needs: zero the grads, recompute the loss, backward."""

    def closure():
        opt.zero_grad()
        loss = loss_fn(w, b, xt, yt)
        loss.backward()
        return loss

    return closure


def lbfgs_lucid(kw, dtype, steps):
    w = nn.Parameter(lucid.tensor(W0, dtype=dtype))
    b = nn.Parameter(lucid.tensor(B0, dtype=dtype))
    xt, yt = lucid.tensor(X, dtype=dtype), lucid.tensor(Y, dtype=dtype)
    opt = optim.LBFGS([w, b], **kw)

    closure = closure_of(opt, w, b, xt, yt)

    losses = [float(opt.step(closure)) for _ in range(steps)]
    return losses, opt, (w, b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", LBFGS_CASES, ids=[str(i) for i in range(len(LBFGS_CASES))])
def test_lbfgs_matches_torch(kw, dtype):
    torch = pytest.importorskip("torch")
    if dtype == "float32" and kw.get("line_search_fn"):
        pytest.skip(
            "the line search's scalar arithmetic runs in float64 here and in float32 "
            "tensors in PyTorch, so its branches part after a few evaluations; the "
            "float64 case is compared"
        )
    tol = 1e-10 if dtype == "float64" else 1e-5
    losses, opt, (w, b) = lbfgs_lucid(kw, dtype, steps=3)
    tdtype = getattr(torch, dtype)
    tw = torch.tensor(W0, dtype=tdtype, requires_grad=True)
    tb = torch.tensor(B0, dtype=tdtype, requires_grad=True)
    xt, yt = torch.tensor(X, dtype=tdtype), torch.tensor(Y, dtype=tdtype)
    topt = torch.optim.LBFGS([tw, tb], **kw)

    closure = closure_of(topt, tw, tb, xt, yt)

    tlosses = [float(topt.step(closure)) for _ in range(3)]
    np.testing.assert_allclose(losses, tlosses, rtol=tol * 10)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=tol, atol=tol)
    tstate = topt.state_dict()["state"][0]
    state = opt.state_dict()["state"][0]
    assert state["func_evals"] == tstate["func_evals"] and state["n_iter"] == tstate["n_iter"]


def test_lbfgs_converges_and_round_trips(tmp_path):
    kw = {"lr": 1.0, "max_iter": 3, "history_size": 4}
    straight, _, _ = lbfgs_lucid(kw, "float64", steps=4)
    _, opt, (w, b) = lbfgs_lucid(kw, "float64", steps=2)
    lucid.save(opt.state_dict(), tmp_path / "lbfgs.lucid")
    w2 = nn.Parameter(lucid.tensor(w.numpy(), dtype="float64"))
    b2 = nn.Parameter(lucid.tensor(b.numpy(), dtype="float64"))
    opt2 = optim.LBFGS([w2, b2], **kw)
    opt2.load_state_dict(lucid.load(tmp_path / "lbfgs.lucid"))
    xt, yt = lucid.tensor(X, dtype="float64"), lucid.tensor(Y, dtype="float64")

    closure = closure_of(opt2, w2, b2, xt, yt)

    resumed = [float(opt2.step(closure)) for _ in range(2)]
    np.testing.assert_allclose(resumed, straight[2:], rtol=1e-12)
    strong, _, _ = lbfgs_lucid({"line_search_fn": "strong_wolfe"}, "float64", steps=5)
    assert strong[-1] < 0.5 * strong[0]


def test_lbfgs_errors():
    p = nn.Parameter(lucid.zeros(3))
    with pytest.raises(ValueError, match="closure"):
        optim.LBFGS([p]).step()
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS([p], line_search_fn="armijo")
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [p]}, {"params": [nn.Parameter(lucid.zeros(2))]}])
    with pytest.raises(ValueError, match="history_size"):
        optim.LBFGS([p], history_size=0)


# --- validation (issue 10 item 5) ---------------------------------------------------------------
ALL = [
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "NAdam",
    "RAdam",
    "Adamax",
    "Adadelta",
    "ASGD",
    "Rprop",
    "LBFGS",
]
BAD = [
    ("lr", -0.1),
    ("lr", math.nan),
    ("eps", -1e-8),
    ("eps", math.nan),
    ("weight_decay", -0.01),
    ("weight_decay", math.nan),
    ("momentum", -0.5),
    ("momentum", math.nan),
    ("betas", (1.0, 0.999)),
    ("betas", (0.9, math.nan)),
    ("betas", (-0.1, 0.9)),
    ("alpha", math.nan),
    ("rho", 1.5),
    ("lr_decay", -1.0),
    ("momentum_decay", -1e-3),
    ("etas", (1.5, 1.2)),
]


def _accepts(cls, name):
    import inspect

    return name in inspect.signature(cls.__init__).parameters


@pytest.mark.parametrize("name", ALL)
def test_bad_hyperparameters_raise_like_torch(name):
    cls = getattr(optim, name)
    p = nn.Parameter(lucid.zeros(3))
    checked = 0
    for arg, value in BAD:
        if not _accepts(cls, arg) or (name == "ASGD" and arg != "lr" and arg != "weight_decay"):
            continue
        kw = {"lr": 0.1} if name == "SGD" and arg != "lr" else {}
        with pytest.raises(ValueError, match="Invalid") as info:
            cls([p], **kw, **{arg: value})
        checked += 1
        torch = pytest.importorskip("torch")
        try:  # PyTorch lets some NaNs through (SGD's `lr < 0` is False for NaN); Lucid does not
            getattr(torch.optim, name)([torch.zeros(3, requires_grad=True)], **kw, **{arg: value})
        except ValueError as exc:
            if name != "LBFGS":
                assert str(info.value).split(" (")[0] == str(exc), (arg, value)
    assert checked >= 1
    # a parameter group added later is checked too
    opt = cls([p], **({"lr": 0.1} if name == "SGD" else {}))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.add_param_group({"params": [nn.Parameter(lucid.zeros(2))], "lr": math.nan})


# --- numpy references (the published algorithms, written out; run without PyTorch too) ---------
def np_grad(w, b):
    r = X @ w.T + b - Y
    return 2 * r.T @ X + 0.2 * w**3, 2 * r.sum(0)


def np_run(update, steps=STEPS):
    """Apply ``update(p, g, state, t)`` to (w, b) with the problem's exact float64 gradients."""
    ps, states = [W0.copy(), B0.copy()], [{}, {}]
    for t in range(1, steps + 1):
        gs = np_grad(*ps)
        ps = [update(p, g, s, t) for p, g, s in zip(ps, gs, states)]
    return ps


def np_nadam(p, g, s, t, lr=0.05, b1=0.9, b2=0.999, eps=1e-8, psi=4e-3):
    mu, mu_next = b1 * (1 - 0.5 * 0.96 ** (t * psi)), b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
    s["prod"] = s.get("prod", 1.0) * mu
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    d = np.sqrt(s["v"] / (1 - b2**t)) + eps
    return (
        p
        - lr * (1 - mu) / (1 - s["prod"]) * g / d
        - lr * mu_next / (1 - s["prod"] * mu_next) * s["m"] / d
    )


def np_radam(p, g, s, t, lr=0.05, b1=0.8, b2=0.9, eps=1e-8):
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    m_hat = s["m"] / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho <= 5:
        return p - lr * m_hat
    r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    return p - lr * m_hat * r * np.sqrt(1 - b2**t) / (np.sqrt(s["v"]) + eps)


def np_adamax(p, g, s, t, lr=0.05, b1=0.9, b2=0.999, eps=1e-8):
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["u"] = np.maximum(b2 * s.get("u", 0), np.abs(g) + eps)
    return p - lr / (1 - b1**t) * s["m"] / s["u"]


def np_adadelta(p, g, s, t, lr=1.0, rho=0.9, eps=1e-6):
    s["v"] = rho * s.get("v", 0) + (1 - rho) * g * g
    delta = np.sqrt(s.get("a", 0) + eps) / np.sqrt(s["v"] + eps) * g
    s["a"] = rho * s.get("a", 0) + (1 - rho) * delta * delta
    return p - lr * delta


def np_asgd(p, g, s, t, lr=0.01, lambd=0.1, alpha=0.5, t0=4):
    eta, mu = s.get("eta", lr), s.get("mu", 1.0)
    p = p * (1 - lambd * eta) - eta * g
    s["ax"] = p.copy() if mu == 1 else s["ax"] + mu * (p - s["ax"])
    s["eta"], s["mu"] = lr / (1 + lambd * lr * t) ** alpha, 1 / max(1, t - t0)
    return p


def np_rprop(p, g, s, t, lr=0.01, etas=(0.5, 1.2), sizes=(1e-6, 50)):
    prev, size = s.get("prev", np.zeros_like(p)), s.get("size", np.full_like(p, lr))
    sign = np.sign(g * prev)
    size = np.clip(size * np.where(sign > 0, etas[1], np.where(sign < 0, etas[0], 1.0)), *sizes)
    g = np.where(sign < 0, 0.0, g)
    s["prev"], s["size"] = g, size
    return p - np.sign(g) * size


NUMPY_CASES = [
    ("NAdam", {"lr": 0.05}, np_nadam),
    ("RAdam", {"lr": 0.05, "betas": (0.8, 0.9)}, np_radam),
    ("Adamax", {"lr": 0.05}, np_adamax),
    ("Adadelta", {}, np_adadelta),
    ("ASGD", {"lr": 0.01, "lambd": 0.1, "alpha": 0.5, "t0": 4}, np_asgd),
    ("Rprop", {}, np_rprop),
]


@pytest.mark.parametrize("name,kw,update", NUMPY_CASES, ids=[c[0] for c in NUMPY_CASES])
def test_steps_match_numpy_reference(name, kw, update):
    mine, _, _ = run_lucid(name, kw, "float64")
    w, b = np_run(update)
    np.testing.assert_allclose(mine[-1][0], w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mine[-1][1], b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_solves_a_quadratic(line_search):
    """On a least-squares problem L-BFGS reaches numpy's lstsq solution."""
    a, y = X, Y[:, 0]
    w = nn.Parameter(lucid.zeros(4, dtype="float64"))
    at, yt = lucid.tensor(a, dtype="float64"), lucid.tensor(y, dtype="float64")
    opt = optim.LBFGS(
        [w],
        lr=1.0 if line_search else 0.5,
        max_iter=100,
        line_search_fn=line_search,
        tolerance_grad=1e-12,
        tolerance_change=1e-14,
    )

    def closure():
        opt.zero_grad()
        r = at @ w - yt
        loss = (r * r).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    # stopping on a loss change below 1e-14 leaves a parameter error of order sqrt(1e-14)
    np.testing.assert_allclose(w.numpy(), np.linalg.lstsq(a, y, rcond=None)[0], rtol=1e-6)
