"""Float32 accuracy of whole networks: a video ResNet in eval mode with trained-looking
BatchNorm buffers (random running mean/var, weight, bias), Lucid float32 against Lucid float64 on
the same weights and input. Each layer alone is accurate to ~1e-6; this checks that nothing in
the chain (BN with running statistics, residual adds, pooling, the conv input gradients) loses
more. The float64 run's ReLUs take the float32 run's masks: a pre-activation within float32
rounding of 0 may fall on either side, and the gradient behind it then differs by ~1e-2 however
accurate the arithmetic (see docs/models.md)."""

import copy

import numpy as np
import pytest

import lucid
from lucid import models, nn


def rel_err(a, b):
    """max |a - b| relative to max |b|."""
    return float(np.abs(a - b).max() / np.abs(b).max())


def trained_looking(model, rng):
    """Give every BatchNorm random running statistics and affine parameters, as after training."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            c = m.num_features
            m.running_mean.data = lucid.tensor(rng.normal(0, 0.5, c).astype(np.float32)).data
            m.running_var.data = lucid.tensor(rng.uniform(0.3, 3.0, c).astype(np.float32)).data
            m.weight.data = lucid.tensor(rng.uniform(0.5, 1.5, c).astype(np.float32)).data
            m.bias.data = lucid.tensor(rng.normal(0, 0.2, c).astype(np.float32)).data


def pin_relus(model32, model64):
    """Record each float32 ReLU mask and make the float64 ReLU of the same name use it."""
    masks = {}
    for (name, m32), (_, m64) in zip(model32.named_modules(), model64.named_modules()):
        if isinstance(m32, nn.ReLU):
            m32.register_forward_hook(
                lambda mod, args, out, name=name: masks.__setitem__(name, out.numpy() > 0)
            )
            m64.register_forward_hook(
                lambda mod, args, out, name=name: args[0] * lucid.tensor(masks[name], args[0].dtype)
            )


def logits_and_grads(model, x):
    xt = lucid.tensor(x, requires_grad=True)
    y = model(xt)
    (y**2).sum().backward()
    return y.numpy(), xt.grad.numpy(), model.stem[0].weight.grad.numpy()


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18"])
def test_eval_mode_float32_matches_float64(name):
    lucid.manual_seed(0)
    model32 = getattr(models, name)(num_classes=5)
    trained_looking(model32, np.random.default_rng(1))
    model64 = copy.deepcopy(model32).double()
    pin_relus(model32, model64)
    model32.eval()
    model64.eval()
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 16, 16))
    got = logits_and_grads(model32, x.astype(np.float32))
    exact = logits_and_grads(model64, x)
    errors = [rel_err(a, b) for a, b in zip(got, exact)]
    # float32 arithmetic through 18 layers: measured ~1e-6 under both CPU kernel sets
    assert errors[0] < 1e-5, errors
    assert max(errors[1:]) < 1e-4, errors
