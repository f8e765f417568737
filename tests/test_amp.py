"""lucid.amp: autocast's per-op policy (dtypes of outputs and gradients, values against float32)
and GradScaler (scaling, skipped steps on inf/NaN, scale growth/backoff, state_dict), and
float16 training that stays finite where pure float16 training does not."""

import pathlib
import re

import numpy as np
import pytest

import lucid
import lucid.nn.functional as F
from lucid import amp, nn


def _net():
    lucid.random.seed(0)
    return nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm3d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


@pytest.mark.parametrize("dtype", [lucid.float16, lucid.bfloat16])
def test_policy_half_convs_and_matmuls_float32_reductions_and_losses(dtype):
    x = lucid.randn(2, 1, 4, 4, 4)
    w = lucid.randn(3, 5)
    with amp.autocast("cpu", dtype=dtype):
        assert amp.is_autocast_enabled("cpu")
        conv = nn.Conv3d(1, 2, 3)
        assert conv(x).dtype == dtype
        assert (lucid.randn(4, 3) @ w).dtype == dtype
        h = lucid.randn(4, 3).astype(dtype)
        assert h.sum().dtype == lucid.float32
        assert F.softmax(h, dim=1).dtype == lucid.float32
        assert F.cross_entropy(h, lucid.tensor([0, 1, 2, 0])).dtype == lucid.float32
        assert (h + 1).dtype == dtype  # elementwise ops keep their input's dtype
        with amp.autocast("cpu", enabled=False):
            assert (lucid.randn(4, 3) @ w).dtype == lucid.float32
        d = lucid.randn(4, 3, dtype="float64")
        assert (d @ w.astype("float64")).dtype == lucid.float64  # float64 is never cast
    assert not amp.is_autocast_enabled("cpu")
    assert (lucid.randn(4, 3) @ w).dtype == lucid.float32


def test_the_docs_name_the_ops_of_each_policy():
    # the policy lives on the ops (set from lucid/_methods.py); docs/compile-amp.md's table
    # names them, and the other losses (margin, Dice...) run in their inputs' dtype
    doc = pathlib.Path(__file__).parent.parent / "docs" / "compile-amp.md"
    rows = {
        cells[1].strip(): set(re.findall(r"`([a-z0-9_]+)`", cells[2]))
        for cells in (line.split("|") for line in doc.read_text().splitlines())
        if len(cells) > 3 and cells[1].strip() in ("half", "float32")
    }
    assert rows == {"half": amp.HALF_OPS, "float32": amp.FLOAT32_OPS}
    assert {"conv", "conv_transpose", "matmul"} == amp.HALF_OPS
    assert lucid.ops.conv.conv.autocast == "half" and F.kl_div.autocast == "float32"
    assert F.dice_loss.__dict__.get("autocast") is None


def test_autocast_values_and_float32_gradients_match_float32():
    model = _net()
    x = lucid.randn(4, 1, 4, 4, 4)
    y = lucid.tensor([0, 2, 1, 0])
    loss32 = F.cross_entropy(model(x), y)
    loss32.backward()
    g32 = model[0].weight.grad.numpy()
    model.zero_grad()
    with amp.autocast("cpu", dtype=lucid.float16):
        loss16 = F.cross_entropy(model(x), y)
    loss16.backward()
    assert loss16.dtype == lucid.float32 and model[0].weight.grad.dtype == lucid.float32
    np.testing.assert_allclose(loss16.item(), loss32.item(), rtol=2e-3)
    np.testing.assert_allclose(model[0].weight.grad.numpy(), g32, rtol=0.05, atol=2e-3)


def test_autocast_rejects_bad_arguments():
    with pytest.raises(ValueError, match="float16 or lucid.bfloat16"):
        amp.autocast("cpu", dtype=lucid.float32)
    with pytest.raises(ValueError, match="device_type"):
        amp.autocast("tpu")


def test_grad_scaler_skips_inf_steps_and_adjusts_the_scale():
    p = nn.Parameter(lucid.tensor([1.0, 2.0]))
    opt = lucid.optim.Adam([p], lr=0.1)
    scaler = amp.GradScaler("cpu", init_scale=4.0, growth_interval=2)
    assert scaler.scale(lucid.tensor(3.0)).item() == 12.0
    for _ in range(2):  # clean steps: the gradient is unscaled, and the scale doubles after 2
        opt.zero_grad()
        scaler.scale((p * p).sum()).backward()
        scaler.step(opt)
        scaler.update()
    assert scaler.get_scale() == 8.0
    assert opt.state_dict()["state"][0]["step"] == 2
    before = p.numpy()
    opt.zero_grad()
    scaler.scale((p * lucid.tensor([float("inf"), 1.0])).sum()).backward()
    scaler.step(opt)  # skipped: parameters and optimizer state unchanged
    scaler.update()
    np.testing.assert_array_equal(p.numpy(), before)
    assert opt.state_dict()["state"][0]["step"] == 2
    assert scaler.get_scale() == 4.0
    state = scaler.state_dict()
    assert state == {
        "scale": 4.0,
        "growth_factor": 2.0,
        "backoff_factor": 0.5,
        "growth_interval": 2,
        "_growth_tracker": 0,
    }
    other = amp.GradScaler("cpu")
    other.load_state_dict(state)
    assert other.get_scale() == 4.0 and other.get_growth_interval() == 2


def _scaled_step(scaler, opt, p, inf):
    """One scaled step of sum(p * c): c small (a clean step) or holding an inf (skipped)."""
    opt.zero_grad()
    c = lucid.tensor([float("inf") if inf else 1e-30, 2e-30])
    scaler.scale((p * c).sum()).backward()
    scaler.step(opt)
    scaler.update()


def test_grad_scaler_does_not_grow_the_scale_to_inf():
    # an inf scale makes every scaled gradient inf/NaN: every later step would be skipped
    p = nn.Parameter(lucid.tensor([1.0, 2.0]))
    opt = lucid.optim.SGD([p], lr=1e29)  # steps of 0.1 and 0.2 from gradients 1e-30, 2e-30
    scaler = amp.GradScaler("cpu", init_scale=2.0**126, growth_interval=1)
    values = [p.numpy()]
    for _ in range(4):
        _scaled_step(scaler, opt, p, inf=False)
        assert scaler.get_scale() == 2.0**127  # float32's largest power of two: it stays
        assert scaler.state_dict()["_growth_tracker"] == 0
        values.append(p.numpy())
    for before, after in zip(values, values[1:]):  # every step was taken
        np.testing.assert_allclose(before - after, [0.1, 0.2], rtol=1e-5)


def test_grad_scaler_scale_follows_pytorchs_update_near_the_float32_limit():
    torch = pytest.importorskip("torch")
    # factors exact in float32: Lucid multiplies in float32, PyTorch in double and rounds (one
    # ulp apart for 1.1; docs/coming-from-pytorch.md)
    events = [False, False, False, True, False, False, False, False, True, False, False]
    for factor, interval, init in [(2.0, 1, 2.0**125), (1.5, 2, 1.0e38), (1.25, 1, 2.72e38)]:
        p = nn.Parameter(lucid.tensor([1.0, 2.0]))
        opt = lucid.optim.SGD([p], lr=0.0)
        scaler = amp.GradScaler("cpu", init, growth_factor=factor, growth_interval=interval)
        ref_scale = torch.tensor([init], dtype=torch.float32)
        ref_tracker = torch.zeros(1, dtype=torch.int32)
        for inf in events:
            _scaled_step(scaler, opt, p, inf)
            torch._amp_update_scale_(
                ref_scale, ref_tracker, torch.tensor([float(inf)]), factor, 0.5, interval
            )
            assert scaler.get_scale() == ref_scale.item(), (factor, interval, init, inf)
            assert scaler.state_dict()["_growth_tracker"] == ref_tracker.item()


def test_grad_scaler_unscale_then_step_and_misuse():
    p = nn.Parameter(lucid.tensor([3.0]))
    opt = lucid.optim.SGD([p], lr=0.5)
    scaler = amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale(p * p).sum().backward()
    scaler.unscale_(opt)
    np.testing.assert_allclose(p.grad.numpy(), [6.0])  # true gradient, e.g. for clipping
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    np.testing.assert_allclose(p.numpy(), [0.0])
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.step(opt)
    scaler.update()
    off = amp.GradScaler("cpu", enabled=False)
    loss = p.sum()
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}
    with pytest.raises(ValueError, match="growth_factor"):
        amp.GradScaler(growth_factor=1.0)


def test_float16_training_with_autocast_and_scaler_stays_finite():
    """Pure float16 AdamW training gives NaN within a few steps; autocast + GradScaler keeps
    float32 master weights and float32 losses, and the loss goes down."""
    model = _net()
    opt = lucid.optim.AdamW(model.parameters(), lr=1e-2)
    scaler = amp.GradScaler("cpu")
    x = lucid.randn(4, 1, 4, 4, 4)
    y = lucid.tensor([0, 2, 1, 0])
    losses = []
    for _ in range(8):
        opt.zero_grad()
        with amp.autocast("cpu", dtype=lucid.float16):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    pure = _net().to(lucid.float16)  # the failure autocast avoids
    opt = lucid.optim.AdamW(pure.parameters(), lr=1e-2)
    pure_losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(pure(x.astype(lucid.float16)), y)
        loss.backward()
        opt.step()
        pure_losses.append(loss.item())
    assert np.isnan(pure_losses[-1])


def test_a_scaled_amp_step_compiles_and_evaluates_once():
    model = _net()
    opt = lucid.optim.Adam(model.parameters(), lr=1e-2)
    scaler = amp.GradScaler("cpu")

    def step(x, y):
        opt.zero_grad()
        with amp.autocast("cpu", dtype=lucid.bfloat16):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    fn = lucid.compile(step)
    x, y = lucid.randn(2, 1, 4, 4, 4), lucid.tensor([0, 1])
    losses = [fn(x, y).item() for _ in range(4)]
    assert fn.traces == 1 and not fn.eager
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.parametrize("dtype,rtol", [(lucid.float16, 2e-3), (lucid.bfloat16, 2e-2)])
def test_batch_norm_statistics_under_autocast_stay_float32_and_match(dtype, rtol):
    """The running statistics an amp step collects (from half activations) are float32 and
    agree with float32 training's to the half dtype's rounding: evaluation in float32 after
    amp training uses statistics of the same distribution."""
    x = lucid.randn(8, 1, 6, 6, 6) * 3 + 1
    stats = []
    for autocast in (False, True):
        model = _net()
        with amp.autocast("cpu", dtype=dtype, enabled=autocast):
            for _ in range(3):
                model(x)
        bn = model[1]
        assert bn.running_mean.dtype == bn.running_var.dtype == lucid.float32
        stats.append((bn.running_mean.numpy(), bn.running_var.numpy()))
    for got, want in zip(stats[1], stats[0]):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())


def test_scaled_step_equals_the_unscaled_step_with_weight_decay():
    """``scaler.step`` unscales before the update: with SGD + weight decay (not scale-invariant,
    unlike Adam) a scaled step lands where the plain float32 step does."""
    x = np.array([1.5, -2.0, 0.25], dtype=np.float32)
    results = []
    for scaled in (False, True):
        p = nn.Parameter(lucid.tensor(x))
        opt = lucid.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
        scaler = amp.GradScaler("cpu", init_scale=2.0**12, enabled=scaled)
        for _ in range(3):
            opt.zero_grad()
            scaler.scale((p * p * p).sum()).backward()
            scaler.step(opt)
            scaler.update()
        results.append(p.numpy())
    want = x.astype(np.float64)
    velocity = np.zeros_like(want)
    for _ in range(3):  # float64 reference of SGD with momentum and L2 weight decay
        grad = 3 * want**2 + 0.01 * want
        velocity = 0.9 * velocity + grad
        want = want - 0.1 * velocity
    np.testing.assert_allclose(results[0], want, rtol=1e-5)
    np.testing.assert_allclose(results[1], want, rtol=1e-5)


@pytest.mark.parametrize("name", ["Adam", "NAdam", "Adamax"])
def test_scaled_adam_step_equals_the_plain_step(name):
    """A scaler step keeps Adam's count as a 0-d array (a skipped step is a ``where`` on the
    device), so the bias corrections ``1 - b**t`` are computed from arrays: as
    ``-expm1(t log1p(1 - b))`` with ``1 - b`` from the Python beta, they agree with the plain
    step's Python floats to float32 rounding (``1 - b**t`` in float32 was 3e-5 off at t = 2)."""
    x = np.array([1.5, -2.0, 0.25], dtype=np.float64)
    results = []
    for scaled in (False, True):
        p = nn.Parameter(lucid.tensor(x))
        opt = getattr(lucid.optim, name)([p], lr=1e-3, betas=(0.999, 0.9999))
        scaler = amp.GradScaler("cpu", init_scale=2.0**4, enabled=scaled)  # exact unscaling
        for _ in range(4):
            opt.zero_grad()
            scaler.scale((p * p * p).sum()).backward()
            scaler.step(opt)
            scaler.update()
        results.append(p.numpy() - x)
    plain, scaled = results
    assert np.abs(scaled - plain).max() < 1e-6 * np.abs(plain).max()
