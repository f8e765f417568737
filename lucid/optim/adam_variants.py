"""Adam's relatives: NAdam (Nesterov momentum), RAdam (rectified variance) and Adamax (infinity
norm), with PyTorch's update rules and state names."""

from __future__ import annotations

import math
from collections.abc import Iterable

from lucid import _backend as B
from lucid.optim.adam import _AdamLike

__all__ = ["NAdam", "RAdam", "Adamax"]


class NAdam(_AdamLike):
    """Adam with Nesterov momentum (Dozat) and PyTorch's momentum schedule
    ``mu_t = b1 (1 - 0.5 * 0.96 ** (t * momentum_decay))``:
    ``p -= lr (1 - mu_t) / (1 - prod mu) * g / d + lr mu_{t+1} / (1 - prod mu * mu_{t+1}) * m / d``
    with ``d = sqrt(v / (1 - b2^t)) + eps``."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                momentum_decay=momentum_decay,
                decoupled_weight_decay=decoupled_weight_decay,
                maximize=maximize,
            ),
        )

    def _check_group(self, group):
        super()._check_group(group)
        self._nonnegative(group, "momentum_decay")

    def _update(self, group, param, grad, state):
        lr, psi = group["lr"], group["momentum_decay"]
        (b1, b2), (c1, c2) = self._betas(group)
        param, grad = self._decay(group, param, grad)
        t = self._count(state)
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_product = state.get("mu_product", 1.0) * mu
        state["mu_product"] = mu_product
        m = self._first_moment(state, grad, c1)
        v = self._second_moment(state, grad, b2, c2)
        denom = B.sqrt(v / self._bias(b2, c2, t)) + group["eps"]
        param = param - (lr * (1.0 - mu) / (1.0 - mu_product)) * grad / denom
        return param - (lr * mu_next / (1.0 - mu_product * mu_next)) * m / denom


class RAdam(_AdamLike):
    """Rectified Adam (Liu et al.): while the variance estimate is unreliable
    (``rho_t <= 5``) the step is momentum SGD ``p -= lr m_hat``; after, Adam's step times the
    rectification ``r_t``."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                decoupled_weight_decay=decoupled_weight_decay,
                maximize=maximize,
            ),
        )

    def _update(self, group, param, grad, state):
        lr, eps = group["lr"], group["eps"]
        (b1, b2), (c1, c2) = self._betas(group)
        param, grad = self._decay(group, param, grad)
        t = self._count(state)
        m = self._first_moment(state, grad, c1)
        v = self._second_moment(state, grad, b2, c2)
        m_hat = m / self._bias(b1, c1, t)
        bias2 = self._bias(b2, c2, t)
        rho_inf = 2.0 / c2 - 1.0
        rho_t = rho_inf - 2.0 * t * b2**t / bias2
        if rho_t <= 5.0:
            return param - m_hat * lr
        rect = math.sqrt(
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        )
        adaptive = math.sqrt(bias2) / (B.sqrt(v) + eps)
        return param - m_hat * lr * adaptive * rect


class Adamax(_AdamLike):
    """Adam with the infinity norm: ``u = max(b2 u, |g| + eps)``,
    ``p -= lr / (1 - b1^t) * m / u``."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize),
        )

    def _update(self, group, param, grad, state):
        eps = group["eps"]
        (b1, b2), (c1, _) = self._betas(group)
        param, grad = self._decay(group, param, grad)
        t = self._count(state)
        m = self._first_moment(state, grad, c1)
        u = state.get("exp_inf")
        u = B.abs(grad) + eps if u is None else B.maximum(b2 * u.data, B.abs(grad) + eps)
        self._buffer(state, "exp_inf", u)
        return param - (group["lr"] / self._bias(b1, c1, t)) * m / u
