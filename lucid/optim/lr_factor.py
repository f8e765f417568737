"""Schedules that scale the learning rate by a factor: ``LambdaLR``, ``MultiplicativeLR``,
``ConstantLR``, ``LinearLR`` and ``PolynomialLR`` (PyTorch's definitions: all but ``LambdaLR``
update each group's current lr, so they compose in a ``ChainedScheduler``)."""

from __future__ import annotations

import types

from lucid.optim.lr_scheduler import LRScheduler, _check_optimizer
from lucid.optim.optimizer import Optimizer

__all__ = ["LambdaLR", "MultiplicativeLR", "ConstantLR", "LinearLR", "PolynomialLR"]


class _LambdaSchedule(LRScheduler):
    """Holds one function of the epoch per group; saving keeps only callable objects' state
    (plain functions and lambdas cannot be saved, as in PyTorch)."""

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch):
        _check_optimizer(optimizer)
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"Expected {n} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda must be callable, got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict:
        """The schedule's state; each lambda as None, or a callable object's ``__dict__``."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
            for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state saved by ``state_dict()`` (the functions themselves stay)."""
        state = dict(state_dict)
        saved = state.pop("lr_lambdas")
        self.__dict__.update(state)
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                fn.__dict__.update(attrs)


class LambdaLR(_LambdaSchedule):
    """``lr = initial_lr * lr_lambda(epoch)``; ``lr_lambda`` is a function of the epoch, or a
    list of them, one per group."""

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        super().__init__(optimizer, lr_lambda, last_epoch)

    def get_lr(self) -> list[float]:
        """``initial_lr * lr_lambda(last_epoch)`` for each group."""
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]

    _closed_form = get_lr


class MultiplicativeLR(_LambdaSchedule):
    """Each step multiplies the current lr by ``lr_lambda(epoch)``."""

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        super().__init__(optimizer, lr_lambda, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs times ``lr_lambda(last_epoch)`` (unchanged at construction)."""
        if self._is_initial:
            return self._group_lrs()
        return [lr * fn(self.last_epoch) for lr, fn in zip(self._group_lrs(), self.lr_lambdas)]


class ConstantLR(LRScheduler):
    """``lr = initial_lr * factor`` for the first ``total_iters`` epochs, then ``initial_lr``."""

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        if not 0.0 <= factor <= 1.0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """See the class docstring."""
        return base_lr * (self.factor + (epoch >= self.total_iters) * (1 - self.factor))

    def get_lr(self) -> list[float]:
        """Scale by ``factor`` at epoch 0 and back by ``1 / factor`` at ``total_iters``."""
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._group_lrs()]
        if self.last_epoch != self.total_iters:
            return self._group_lrs()
        return [lr * (1.0 / self.factor) for lr in self._group_lrs()]


class LinearLR(LRScheduler):
    """The factor of ``initial_lr`` goes linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs, then stays."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        if not 0.0 < start_factor <= 1.0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and "
                "less or equal to 1."
            )
        if not 0.0 <= end_factor <= 1.0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """See the class docstring."""
        return base_lr * (
            self.start_factor
            + (self.end_factor - self.start_factor)
            * min(self.total_iters, epoch)
            / self.total_iters
        )

    def get_lr(self) -> list[float]:
        """The current lrs moved one linear step (PyTorch's update form)."""
        e, a, b = self.last_epoch, self.start_factor, self.end_factor
        if e == 0:
            return [lr * a for lr in self._group_lrs()]
        if self._is_initial or e > self.total_iters:
            return self._group_lrs()
        factor = 1.0 + (b - a) / (self.total_iters * a + (e - 1) * (b - a))
        return [lr * factor for lr in self._group_lrs()]


class PolynomialLR(LRScheduler):
    """``lr = initial_lr * (1 - min(epoch, total_iters) / total_iters) ** power``."""

    def __init__(
        self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1
    ):
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """See the class docstring."""
        return base_lr * (1.0 - min(self.total_iters, epoch) / self.total_iters) ** self.power

    def get_lr(self) -> list[float]:
        """The current lrs times this epoch's decay ratio (PyTorch's update form)."""
        e, n = self.last_epoch, self.total_iters
        if self._is_initial or e > n:
            return self._group_lrs()
        decay = ((1.0 - e / n) / (1.0 - (e - 1) / n)) ** self.power
        return [lr * decay for lr in self._group_lrs()]
