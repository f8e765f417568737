"""Schedules made of schedules: ``SequentialLR`` (one after another at milestones) and
``ChainedScheduler`` (all stepped together, their updates composed), as in PyTorch."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from lucid.optim.lr_scheduler import (
    LRScheduler,
    ReduceLROnPlateau,
    _check_optimizer,
    _SchedulerState,
)
from lucid.optim.optimizer import Optimizer

__all__ = ["SequentialLR", "ChainedScheduler"]


def _check_schedulers(owner, schedulers, optimizer):
    if len(schedulers) < 1:
        raise ValueError(f"{owner} expects at least one scheduler, but got no scheduler.")
    for i, s in enumerate(schedulers):
        if not hasattr(s, "optimizer"):
            raise TypeError(f"{owner} at index {i} should have `optimizer` as its attribute.")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(
                f"{owner} does not support `ReduceLROnPlateau` scheduler (its step "
                f"needs a metric), but got one at index {i}."
            )
        if s.optimizer is not optimizer:
            raise ValueError(
                f"{owner} expects all schedulers to belong to the same optimizer, "
                f"but the scheduler at index {i} ({type(s).__name__}) has another"
            )


class _Composite(_SchedulerState):
    _schedulers: list[LRScheduler]

    def state_dict(self) -> dict:
        """This schedule's counters and each inner schedule's state."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state saved by ``state_dict()`` into this schedule and its inner ones."""
        state = dict(state_dict)
        inner = state.pop("_schedulers")
        self.__dict__.update(state)
        for s, saved in zip(self._schedulers, inner):
            s.load_state_dict(saved)


def _undo_initial_steps(scheduler):
    """Take back the constructor's step of ``scheduler`` (and of those inside it)."""
    if hasattr(scheduler, "_schedulers"):
        for s in scheduler._schedulers:
            _undo_initial_steps(s)
    elif hasattr(scheduler, "last_epoch"):
        scheduler.last_epoch -= 1


class SequentialLR(_Composite):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` (restarted at its
    epoch 0), and so on; ``len(milestones) == len(schedulers) - 1``."""

    def __init__(
        self, optimizer: Optimizer, schedulers, milestones: Sequence[int], last_epoch: int = -1
    ):
        _check_optimizer(optimizer)
        _check_schedulers(type(self).__name__, schedulers, optimizer)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be "
                "one more than the number of milestone points, but got number of "
                f"schedulers {len(schedulers)} and the number of milestones to be "
                f"equal to {len(milestones)}"
            )
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        _undo_initial_steps(self)
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        """Advance one epoch in the schedule now in charge."""
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler.step(0)  # a fresh start for the next schedule
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Step every schedule in ``schedulers`` at once; each updates the lr the previous left, so
    multiplicative schedules compose (e.g. a warm-up ``LinearLR`` with ``ExponentialLR``)."""

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        schedulers = list(schedulers)
        if optimizer is None:
            if not schedulers:
                raise ValueError(
                    "ChainedScheduler expects at least one scheduler, but got no scheduler."
                )
            optimizer = schedulers[0].optimizer
        _check_optimizer(optimizer)
        _check_schedulers(type(self).__name__, schedulers, optimizer)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self) -> None:
        """Step every schedule, in order."""
        for s in self._schedulers:
            s.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
