"""AlphaDropout: statistics on standard-normal input, the identity when not training, exact
values from the formula, seeding."""

import math

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F

SAT = 1.7580993408473766


def test_keeps_zero_mean_unit_variance():
    lucid.random.seed(0)
    x = lucid.randn(200_000)
    y = F.alpha_dropout(x, 0.3, training=True).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01


def test_values_follow_the_formula_and_gradient_is_the_scale():
    p = 0.4
    a = 1 / math.sqrt((1 - p) * (1 + p * SAT**2))
    x = lucid.tensor(np.linspace(-2, 2, 1000), requires_grad=True)
    y = F.alpha_dropout(x, p, training=True)
    y.sum().backward()
    kept = x.grad.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], a * x.numpy()[kept] + a * SAT * p, rtol=1e-5)
    np.testing.assert_allclose(y.numpy()[~kept], -a * SAT + a * SAT * p, rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy()[kept], a, rtol=1e-6)
    assert 0.5 < kept.mean() < 0.7


def test_identity_when_not_training_and_module_modes():
    x = lucid.randn(10)
    assert F.alpha_dropout(x, 0.5) is x  # PyTorch's functional default is training=False
    m = nn.AlphaDropout(0.2)
    assert repr(m) == "AlphaDropout(p=0.2, inplace=False)"
    m.eval()
    assert m(x) is x
    assert np.all(F.alpha_dropout(x, 1.0, training=True).numpy() == 0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nn.AlphaDropout(1.5)
