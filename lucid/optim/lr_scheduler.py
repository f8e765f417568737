"""Learning-rate schedules. Call ``scheduler.step()`` once per epoch (or per batch for
``OneCycleLR``) after ``optimizer.step()``; ``ReduceLROnPlateau.step(metric)`` takes the
monitored value.

The epoch-based schedules compute each learning rate from a closed form of the epoch count and
each group's ``initial_lr`` (set from its ``lr`` when the first scheduler is made), so the
values do not drift with floating-point accumulation.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lucid.optim.optimizer import Optimizer

if TYPE_CHECKING:
    from lucid.tensor import Tensor

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "LambdaLR",
    "MultiplicativeLR",
    "ConstantLR",
    "LinearLR",
    "PolynomialLR",
    "CyclicLR",
    "CosineAnnealingWarmRestarts",
    "SequentialLR",
    "ChainedScheduler",
]


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"expected a lucid.optim.Optimizer, got {type(optimizer).__name__}")


class _SchedulerState:
    """What every schedule shares: the last learning rates and a state dict of its attributes."""

    _last_lr: list[float]

    def get_last_lr(self) -> list:
        """The learning rates the last ``step()`` set, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Everything but the optimizer (numbers and lists: ``lucid.save`` can store it)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a schedule saved by ``state_dict()``."""
        self.__dict__.update(state_dict)


class LRScheduler(_SchedulerState):
    """Base class: subclasses define ``lr_at(base_lr, epoch)`` (or override ``get_lr``).

    ``last_epoch=-1`` starts a fresh schedule (groups get ``initial_lr``); resuming needs each
    group to have ``initial_lr`` already, as ``load_state_dict`` of the optimizer restores it.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param 'initial_lr' is not set in param_groups[{i}] when "
                    "resuming a schedule (last_epoch != -1)"
                )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The constructor's step: schedules written as updates of the current lr leave it
        unchanged here (so resuming with ``last_epoch`` does not step twice)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The learning rate at ``epoch`` for a group that started at ``base_lr`` (the closed
        form; schedules without one leave this unimplemented)."""
        raise NotImplementedError

    def get_lr(self) -> list:
        """The learning rates for the current ``last_epoch``, one per group. Schedules that
        PyTorch defines as an update of each group's current lr (so that they compose in a
        ``ChainedScheduler``) override this; the default is the closed form."""
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def _group_lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def _closed_form(self) -> list:
        if type(self).lr_at is LRScheduler.lr_at:
            return self.get_lr()
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch and write the new learning rates into the optimizer; with
        ``epoch`` (PyTorch's deprecated form), jump there using the closed form if any."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            lrs = self._closed_form()
        self._apply(lrs)

    def _apply(self, lrs) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = self._group_lrs()


class StepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (epoch // step_size)``."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ):
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_size must be a positive int, got {step_size!r}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """See the class docstring."""
        return base_lr * self.gamma ** (epoch // self.step_size)

    def get_lr(self) -> list[float]:
        """The current lrs times ``gamma`` every ``step_size`` epochs (composes in chains)."""
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]


class MultiStepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (number of milestones <= epoch)``."""

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Sequence[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """See the class docstring."""
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)

    def get_lr(self) -> list[float]:
        """The current lrs times ``gamma`` at each milestone (composes in chains)."""
        hits = self.milestones.count(self.last_epoch)
        if not hits:
            return self._group_lrs()
        return [lr * self.gamma**hits for lr in self._group_lrs()]


class ExponentialLR(LRScheduler):
    """``lr = initial_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """See the class docstring."""
        return base_lr * self.gamma**epoch

    def get_lr(self) -> list[float]:
        """The current lrs times ``gamma`` (composes in chains)."""
        if self._is_initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`` (without
    restarts: after ``T_max`` the cosine climbs back, as PyTorch's does)."""

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ):
        if T_max <= 0:
            raise ValueError(f"T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """See the class docstring."""
        return (
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        )

    def get_lr(self) -> list[float]:
        """PyTorch's update of the current lrs, which follows the closed form when alone and
        composes in chains."""
        e, t_max, eta = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if (e - 1 - t_max) % (2 * t_max) == 0:  # the bottom of a cosine: climb back
            return [
                lr + (base - eta) * (1 - math.cos(math.pi / t_max)) / 2
                for lr, base in zip(self._group_lrs(), self.base_lrs)
            ]
        ratio = (1 + math.cos(math.pi * e / t_max)) / (1 + math.cos(math.pi * (e - 1) / t_max))
        return [ratio * (lr - eta) + eta for lr in self._group_lrs()]


class OneCycleLR(LRScheduler):
    """The 1cycle policy, stepped once per batch: warm up from ``max_lr / div_factor`` to
    ``max_lr`` over the first ``pct_start`` of ``total_steps``, then anneal to
    ``max_lr / (div_factor * final_div_factor)`` (``three_phase`` goes back to the initial lr
    first). ``anneal_strategy`` is ``'cos'`` or ``'linear'``. With ``cycle_momentum`` the
    momentum (or Adam's beta1) moves the opposite way between ``max_momentum`` and
    ``base_momentum``.

    Give ``total_steps``, or ``epochs`` and ``steps_per_epoch``. ``max_lr`` may be a list
    (one per group). Stepping past ``total_steps`` raises a ValueError.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps=None,
        epochs=None,
        steps_per_epoch=None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ):
        _check_optimizer(optimizer)
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"pct_start must be in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.total_steps, self.anneal_strategy = total_steps, anneal_strategy
        up = float(pct_start * total_steps) - 1
        if three_phase:
            self._phases = [
                (up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (
                    float(2 * pct_start * total_steps) - 2,
                    "max_lr",
                    "initial_lr",
                    "base_momentum",
                    "max_momentum",
                ),
                (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self._phases = [
                (up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        groups = optimizer.param_groups
        max_lrs = _per_group(max_lr, groups, "max_lr")
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if not all("momentum" in g or "betas" in g for g in groups):
                raise ValueError(
                    "cycle_momentum needs an optimizer with 'momentum' or 'betas' "
                    "(pass cycle_momentum=False)"
                )
            base_ms = _per_group(base_momentum, groups, "base_momentum")
            max_ms = _per_group(max_momentum, groups, "max_momentum")
        if last_epoch == -1:
            for i, g in enumerate(groups):
                g["initial_lr"] = max_lrs[i] / div_factor
                g["max_lr"] = max_lrs[i]
                g["min_lr"] = g["initial_lr"] / final_div_factor
                if cycle_momentum:
                    g["base_momentum"], g["max_momentum"] = base_ms[i], max_ms[i]
                    self._set_momentum(g, max_ms[i])
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _set_momentum(group, value):
        if "betas" in group:
            group["betas"] = (value,) + tuple(group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list:
        """The learning rates at the current step (momenta are set as a side effect)."""
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR stepped {step} times, more than total_steps={self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
                if step <= end or i == len(self._phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(group[lr0], group[lr1], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
                    break
                start = end
        return lrs


def _per_group(value, groups, name):
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise ValueError(
                f"expected {len(groups)} values for {name} (one per group), got {len(value)}"
            )
        return list(value)
    return [value] * len(groups)


class ReduceLROnPlateau(_SchedulerState):
    """Multiply the learning rates by ``factor`` when a metric stops improving.

    ``step(metric)`` once per epoch. The metric improves when it beats the best so far by
    ``threshold`` (relative: ``best * (1 -/+ threshold)``; ``threshold_mode='abs'``:
    ``best -/+ threshold``) in the direction of ``mode`` (``'min'`` or ``'max'``). After more
    than ``patience`` epochs without improvement the lrs drop (never below ``min_lr``, a number
    or one per group; changes smaller than ``eps`` are skipped), then ``cooldown`` epochs pass
    before bad epochs count again.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr=0.0,
        eps: float = 1e-8,
    ):
        _check_optimizer(optimizer)
        if factor >= 1.0:
            raise ValueError(f"factor should be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.min_lrs = _per_group(min_lr, optimizer.param_groups, "min_lr")
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            bound = (
                best * (1 - self.threshold)
                if self.threshold_mode == "rel"
                else best - self.threshold
            )
            return current < bound
        bound = (
            best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold
        )
        return current > bound

    def step(self, metrics: float | Tensor) -> None:
        """Record this epoch's metric (a number or a one-element Tensor)."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(group["lr"] * self.factor, floor)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    @property
    def in_cooldown(self) -> bool:
        """True while bad epochs are not being counted."""
        return self.cooldown_counter > 0


# the other schedules live in files of their own (imported last: they subclass LRScheduler)
from lucid.optim.lr_composite import ChainedScheduler, SequentialLR  # noqa: E402
from lucid.optim.lr_cyclic import CosineAnnealingWarmRestarts, CyclicLR  # noqa: E402
from lucid.optim.lr_factor import ConstantLR, LambdaLR, LinearLR, MultiplicativeLR, PolynomialLR  # noqa: E402
