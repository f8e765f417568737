"""Learning-rate schedules against their closed forms, written out independently here."""

import math

import numpy as np
import pytest

import lucid
import lucid.nn as nn
from lucid import optim
from lucid.optim import lr_scheduler as S


def make_opt(kind="sgd", lr=0.1, groups=1):
    ps = [nn.Parameter(lucid.zeros(2)) for _ in range(groups)]
    if kind == "adam":
        return optim.Adam([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(ps)])
    return optim.SGD(
        [{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(ps)], lr=lr, momentum=0.9
    )


def trace(sched, n):
    """lrs of every group at epochs 0..n-1 (epoch 0 is the value right after construction)."""
    out = [sched.get_last_lr()]
    for _ in range(n - 1):
        sched.optimizer.step()
        sched.step()
        out.append(sched.get_last_lr())
    return np.array(out)


def test_step_lr():
    opt = make_opt(groups=2)
    got = trace(S.StepLR(opt, step_size=3, gamma=0.5), 10)
    e = np.arange(10)
    np.testing.assert_allclose(got[:, 0], 0.1 * 0.5 ** (e // 3), rtol=1e-15)
    np.testing.assert_allclose(got[:, 1], 0.2 * 0.5 ** (e // 3), rtol=1e-15)
    assert opt.param_groups[1]["lr"] == got[-1, 1]


def test_multistep_lr():
    got = trace(S.MultiStepLR(make_opt(), milestones=[5, 2, 7], gamma=0.1), 10)[:, 0]
    expected = [0.1] * 2 + [0.01] * 3 + [0.001] * 2 + [0.0001] * 3
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_exponential_lr():
    got = trace(S.ExponentialLR(make_opt(), gamma=0.9), 8)[:, 0]
    np.testing.assert_allclose(got, 0.1 * 0.9 ** np.arange(8), rtol=1e-12)


def test_cosine_annealing_lr():
    got = trace(S.CosineAnnealingLR(make_opt(), T_max=6, eta_min=0.01), 13)[:, 0]
    e = np.arange(13)
    np.testing.assert_allclose(got, 0.01 + 0.09 * (1 + np.cos(np.pi * e / 6)) / 2, rtol=1e-12)
    assert abs(got[6] - 0.01) < 1e-15 and abs(got[12] - 0.1) < 1e-15


def one_cycle_reference(step, total, max_lr, pct, div, final_div, strategy, three_phase):
    """The 1cycle schedule from its definition: piecewise anneals between step boundaries."""
    lo = max_lr / div
    end = lo / final_div
    up = pct * total - 1
    if three_phase:
        phases = [
            (0, up, lo, max_lr),
            (up, 2 * pct * total - 2, max_lr, lo),
            (2 * pct * total - 2, total - 1, lo, end),
        ]
    else:
        phases = [(0, up, lo, max_lr), (up, total - 1, max_lr, end)]
    for i, (a, b, x, y) in enumerate(phases):
        if step <= b or i == len(phases) - 1:
            t = (step - a) / (b - a)
            if strategy == "cos":
                return y + (x - y) * (1 + math.cos(math.pi * t)) / 2
            return x + (y - x) * t


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_lr(strategy, three_phase):
    total = 20
    opt = make_opt()
    sched = S.OneCycleLR(
        opt,
        max_lr=1.0,
        total_steps=total,
        pct_start=0.25,
        anneal_strategy=strategy,
        div_factor=10.0,
        final_div_factor=100.0,
        three_phase=three_phase,
    )
    got = trace(sched, total)[:, 0]
    expected = [
        one_cycle_reference(s, total, 1.0, 0.25, 10.0, 100.0, strategy, three_phase)
        for s in range(total)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert got[0] == pytest.approx(0.1) and got[4] == pytest.approx(1.0)
    assert got[-1] == pytest.approx(0.1 / 100.0)
    sched.step()  # step == total_steps is still allowed (PyTorch's bound) ...
    with pytest.raises(ValueError, match="total_steps"):
        sched.step()  # ... one more is not


def test_one_cycle_cycles_momentum_and_beta1():
    opt = make_opt()
    sched = S.OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=5, pct_start=0.4)
    ms = [opt.param_groups[0]["momentum"]]
    for _ in range(9):
        sched.step()
        ms.append(opt.param_groups[0]["momentum"])
    # momentum goes max -> base while the lr rises, then back to max
    assert ms[0] == pytest.approx(0.95) and ms[3] == pytest.approx(0.85)
    assert ms[-1] == pytest.approx(0.95)
    adam = make_opt("adam")
    S.OneCycleLR(adam, max_lr=[0.5], total_steps=10)
    assert adam.param_groups[0]["betas"] == (pytest.approx(0.95), 0.999)
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(make_opt(), max_lr=1.0)
    with pytest.raises(ValueError, match="one per group"):
        S.OneCycleLR(make_opt(groups=2), max_lr=[1.0], total_steps=5)


def test_reduce_lr_on_plateau_min_mode_with_patience_and_cooldown():
    opt = make_opt()
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    metrics = [1.0] + [0.9] * 13
    lrs = []
    for m in metrics:
        sched.step(m)
        lrs.append(sched.get_last_lr()[0])
    # indices 2, 3, 4 are bad (the third is > patience) -> halve at 4; the cooldown epoch (5)
    # does not count, 6, 7, 8 are bad -> halve at 8; cooldown 9; 10, 11, 12 -> 0.0125 is below
    # min_lr, so the floor 0.02
    expected = [0.1] * 4 + [0.05] * 4 + [0.025] * 4 + [0.02] * 2
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_reduce_lr_on_plateau_thresholds_and_max_mode():
    opt = make_opt()
    sched = S.ReduceLROnPlateau(
        opt, mode="max", factor=0.1, patience=0, threshold=0.1, threshold_mode="rel"
    )
    sched.step(1.0)  # best = 1.0
    sched.step(1.05)  # not > 1.1: bad, patience 0 -> reduce
    assert sched.get_last_lr()[0] == pytest.approx(0.01)
    sched.step(1.2)  # better
    assert sched.best == 1.2 and sched.num_bad_epochs == 0
    abs_sched = S.ReduceLROnPlateau(
        make_opt(), mode="min", threshold=0.5, threshold_mode="abs", patience=0
    )
    abs_sched.step(lucid.tensor(2.0))
    abs_sched.step(1.6)  # needs < 1.5
    assert abs_sched.get_last_lr()[0] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="factor"):
        S.ReduceLROnPlateau(make_opt(), factor=1.0)


def test_scheduler_state_dict_resumes(tmp_path):
    opt = make_opt()
    sched = S.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    lucid.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "s.ckpt")
    ck = lucid.load(tmp_path / "s.ckpt")
    opt2 = make_opt()
    opt2.load_state_dict(ck["opt"])
    sched2 = S.CosineAnnealingLR(opt2, T_max=10, last_epoch=3)  # resuming needs initial_lr
    sched2.load_state_dict(ck["sched"])
    for _ in range(3):
        sched.step()
        sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert "optimizer" not in sched.state_dict()
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(make_opt(), step_size=2, last_epoch=5)
