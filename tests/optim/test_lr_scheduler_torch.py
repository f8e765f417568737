"""Every learning-rate schedule against PyTorch's: the lr of each group (and the cycled
momentum) over 30 steps, alone and composed (SequentialLR, ChainedScheduler), state_dict round
trips that continue the same sequence, and the constructor checks."""

import math

import numpy as np
import pytest

import lucid
import lucid.nn as nn
from lucid import optim
from lucid.optim import lr_scheduler as S

N = 30


class Halving:
    """A callable object: its state is saved by LambdaLR.state_dict (a lambda's is not)."""

    def __init__(self, every):
        self.every = every

    def __call__(self, epoch):
        return 0.5 ** (epoch // self.every)


# (name, optimizer kind, builder(lib, opt) -> scheduler); ``lib`` is lucid.optim or torch.optim
CASES = [
    ("LambdaLR", "sgd", lambda L, o: L.lr_scheduler.LambdaLR(o, lambda e: 0.95**e)),
    (
        "LambdaLR-list",
        "sgd",
        lambda L, o: L.lr_scheduler.LambdaLR(o, [lambda e: 1 / (e + 1), Halving(4)]),
    ),
    (
        "MultiplicativeLR",
        "sgd",
        lambda L, o: L.lr_scheduler.MultiplicativeLR(o, lambda e: 0.9 if e % 2 else 1.05),
    ),
    ("ConstantLR", "sgd", lambda L, o: L.lr_scheduler.ConstantLR(o, factor=0.25, total_iters=7)),
    ("LinearLR", "sgd", lambda L, o: L.lr_scheduler.LinearLR(o)),
    (
        "LinearLR-down",
        "sgd",
        lambda L, o: L.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=12),
    ),
    ("PolynomialLR", "sgd", lambda L, o: L.lr_scheduler.PolynomialLR(o, total_iters=20, power=2.0)),
    ("CyclicLR", "sgd", lambda L, o: L.lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=4)),
    (
        "CyclicLR-tri2",
        "sgd",
        lambda L, o: L.lr_scheduler.CyclicLR(
            o, [0.01, 0.02], [0.1, 0.3], step_size_up=3, step_size_down=5, mode="triangular2"
        ),
    ),
    (
        "CyclicLR-exp-adam",
        "adam",
        lambda L, o: L.lr_scheduler.CyclicLR(
            o, 0.001, 0.01, step_size_up=5, mode="exp_range", gamma=0.97
        ),
    ),
    (
        "CyclicLR-fn",
        "sgd",
        lambda L, o: L.lr_scheduler.CyclicLR(
            o,
            0.01,
            0.1,
            step_size_up=2,
            scale_fn=lambda x: 1 / (1 + x),
            scale_mode="iterations",
            cycle_momentum=False,
        ),
    ),
    (
        "CosineAnnealingWarmRestarts",
        "sgd",
        lambda L, o: L.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5),
    ),
    (
        "CosineAnnealingWarmRestarts-mult",
        "sgd",
        lambda L, o: L.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001),
    ),
    ("StepLR", "sgd", lambda L, o: L.lr_scheduler.StepLR(o, 4, 0.5)),
    ("CosineAnnealingLR", "sgd", lambda L, o: L.lr_scheduler.CosineAnnealingLR(o, 7, 0.01)),
    (
        "SequentialLR",
        "sgd",
        lambda L, o: L.lr_scheduler.SequentialLR(
            o,
            [
                L.lr_scheduler.LinearLR(o, 0.1, total_iters=5),
                L.lr_scheduler.CosineAnnealingLR(o, T_max=10),
                L.lr_scheduler.ExponentialLR(o, 0.9),
            ],
            milestones=[5, 15],
        ),
    ),
    (
        "SequentialLR-constant",
        "sgd",
        lambda L, o: L.lr_scheduler.SequentialLR(
            o,
            [
                L.lr_scheduler.ConstantLR(o, 0.5, total_iters=3),
                L.lr_scheduler.MultiStepLR(o, [4, 8, 8], 0.5),
            ],
            milestones=[6],
        ),
    ),
    (
        "ChainedScheduler",
        "sgd",
        lambda L, o: L.lr_scheduler.ChainedScheduler(
            [L.lr_scheduler.ConstantLR(o, 0.1, total_iters=4), L.lr_scheduler.ExponentialLR(o, 0.9)]
        ),
    ),
    (
        "ChainedScheduler-warmup-cosine",
        "sgd",
        lambda L, o: L.lr_scheduler.ChainedScheduler(
            [
                L.lr_scheduler.LinearLR(o, 0.2, total_iters=6),
                L.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.001),
                L.lr_scheduler.StepLR(o, 5, 0.7),
            ],
            optimizer=o,
        ),
    ),
]
IDS = [c[0] for c in CASES]


def make_opt(L, kind, params):
    groups = [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.2}]
    if kind == "adam":
        return L.Adam(groups, lr=0.1)
    return L.SGD(groups, lr=0.1, momentum=0.9)


def lucid_trace(kind, build, n=N):
    opt = make_opt(optim, kind, [nn.Parameter(lucid.zeros(2)) for _ in range(2)])
    sched = build(optim, opt)
    return trace(sched, opt, n), sched, opt


def trace(sched, opt, n):
    out = []
    for _ in range(n):
        moms = [g.get("momentum", g.get("betas", (0.0,))[0]) for g in opt.param_groups]
        out.append(list(sched.get_last_lr()) + [g["lr"] for g in opt.param_groups] + moms)
        opt.step()
        sched.step()
    return np.array(out, dtype=np.float64)


@pytest.mark.parametrize("name,kind,build", CASES, ids=IDS)
def test_lr_sequence_matches_torch(name, kind, build):
    torch = pytest.importorskip("torch")
    mine, _, _ = lucid_trace(kind, build)
    topt = make_opt(torch.optim, kind, [torch.zeros(2, requires_grad=True) for _ in range(2)])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "step() before optimizer.step()": no gradients here
        theirs = trace(build(torch.optim, topt), topt, N)
    np.testing.assert_allclose(mine, theirs, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name,kind,build", CASES, ids=IDS)
def test_state_dict_round_trip(name, kind, build, tmp_path):
    straight, _, _ = lucid_trace(kind, build, n=20)
    _, sched, opt = lucid_trace(kind, build, n=8)
    lucid.save({"s": sched.state_dict(), "o": opt.state_dict()}, tmp_path / "ck.lucid")
    opt2 = make_opt(optim, kind, [nn.Parameter(lucid.zeros(2)) for _ in range(2)])
    sched2 = build(optim, opt2)
    saved = lucid.load(tmp_path / "ck.lucid")
    opt2.load_state_dict(saved["o"])
    sched2.load_state_dict(saved["s"])
    np.testing.assert_allclose(trace(sched2, opt2, 12), straight[8:], rtol=1e-13, atol=1e-15)


def test_closed_forms_written_out():
    opt = make_opt(optim, "sgd", [nn.Parameter(lucid.zeros(2)) for _ in range(2)])
    s = S.PolynomialLR(opt, total_iters=4, power=0.5)
    got = [s.get_last_lr()[0]] + [(s.step(), s.get_last_lr()[0])[1] for _ in range(6)]
    expected = [0.1 * (1 - min(e, 4) / 4) ** 0.5 for e in range(7)]
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-17)
    opt = make_opt(optim, "sgd", [nn.Parameter(lucid.zeros(2)) for _ in range(2)])
    s = S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    s.step(4.5)  # periods [0, 2), [2, 6): 2.5 into a period of 4
    assert s.T_cur == 2.5 and s.T_i == 4
    np.testing.assert_allclose(s.get_last_lr()[0], 0.05 * (1 + math.cos(math.pi * 2.5 / 4)))
    opt = make_opt(optim, "sgd", [nn.Parameter(lucid.zeros(2)) for _ in range(2)])
    s = S.LinearLR(opt, 0.5, total_iters=4)
    s.step(2)  # PyTorch's deprecated step(epoch): the closed form
    np.testing.assert_allclose(s.get_last_lr()[0], 0.1 * (0.5 + 0.5 * 2 / 4))


def _lrs(sched, n):
    out = [sched.get_last_lr()[0]]
    for _ in range(n - 1):
        sched.step()
        out.append(sched.get_last_lr()[0])
    return np.array(out)


def test_more_closed_forms_written_out():
    def fresh():
        return make_opt(optim, "sgd", [nn.Parameter(lucid.zeros(2)) for _ in range(2)])

    e = np.arange(20)
    np.testing.assert_allclose(
        _lrs(S.LambdaLR(fresh(), lambda k: 1 / (k + 1)), 20), 0.1 / (e + 1), rtol=1e-14
    )
    np.testing.assert_allclose(
        _lrs(S.MultiplicativeLR(fresh(), lambda k: 0.9), 20), 0.1 * 0.9**e, rtol=1e-13
    )
    np.testing.assert_allclose(
        _lrs(S.ConstantLR(fresh(), 0.5, total_iters=4), 20), np.where(e < 4, 0.05, 0.1), rtol=1e-14
    )
    np.testing.assert_allclose(
        _lrs(S.LinearLR(fresh(), 0.2, 1.0, total_iters=8), 20),
        0.1 * (0.2 + 0.8 * np.minimum(e, 8) / 8),
        rtol=1e-13,
    )
    cyc = 1 - np.abs(e / 4 - 2 * np.floor(e / 8) - 1)  # triangle wave, period 8, peak at 4
    np.testing.assert_allclose(
        _lrs(S.CyclicLR(fresh(), 0.01, 0.1, step_size_up=4), 20),
        0.01 + 0.09 * cyc,
        rtol=1e-13,
        atol=1e-16,
    )
    t_cur = e % 5
    np.testing.assert_allclose(
        _lrs(S.CosineAnnealingWarmRestarts(fresh(), T_0=5), 20),
        0.05 * (1 + np.cos(np.pi * t_cur / 5)),
        rtol=1e-13,
        atol=1e-16,
    )
    opt = fresh()
    chained = S.ChainedScheduler([S.ConstantLR(opt, 0.5, total_iters=3), S.ExponentialLR(opt, 0.9)])
    np.testing.assert_allclose(
        _lrs(chained, 20), 0.1 * np.where(e < 3, 0.5, 1) * 0.9**e, rtol=1e-13
    )


def test_constructor_checks():
    opt = make_opt(optim, "sgd", [nn.Parameter(lucid.zeros(2)) for _ in range(2)])
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        S.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="between 0 and 1"):
        S.ConstantLR(opt, factor=1.5)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        S.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="positive integer T_0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="T_mult"):
        S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="mode is invalid"):
        S.CyclicLR(opt, 0.1, 1.0, mode="sine")
    with pytest.raises(ValueError, match="momentum or beta1"):
        S.CyclicLR(optim.Adagrad([nn.Parameter(lucid.zeros(2))]), 0.1, 1.0)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        S.SequentialLR(opt, [S.ExponentialLR(opt, 0.9)], milestones=[3])
    other = make_opt(optim, "sgd", [nn.Parameter(lucid.zeros(2)) for _ in range(2)])
    with pytest.raises(ValueError, match="same optimizer"):
        S.ChainedScheduler([S.ExponentialLR(opt, 0.9), S.ExponentialLR(other, 0.9)])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        S.ChainedScheduler([S.ReduceLROnPlateau(opt)])
