"""Hyperparameter validation shared by the optimizers, with PyTorch's messages: a NaN, a
negative or a non-number value is rejected when the optimizer (or a group) is made."""

from __future__ import annotations

import math
import numbers

# PyTorch's wording for each hyperparameter ("Invalid learning rate: -0.1")
_LABELS = {"lr": "learning rate", "eps": "epsilon value"}


def _label(name: str) -> str:
    return _LABELS.get(name, f"{name} value")


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_nonnegative(group: dict, *names: str) -> None:
    """Each named entry of ``group`` is a number >= 0 (NaN fails)."""
    for name in names:
        value = group[name]
        if not _number(value) or not value >= 0:
            raise ValueError(f"Invalid {_label(name)}: {value}")


def check_range(group: dict, name: str, low: float, high: float) -> None:
    """``group[name]`` is a number in [low, high] (NaN fails)."""
    value = group[name]
    if not _number(value) or not low <= value <= high:
        raise ValueError(f"Invalid {_label(name)}: {value} (expected a number in [{low}, {high}])")


def check_betas(betas) -> tuple:
    """Two numbers in [0, 1), as a tuple."""
    betas = tuple(betas)
    if len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas} (expected two numbers in [0, 1))")
    for i, b in enumerate(betas):
        if not _number(b) or not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b}")
    return betas


def check_finite_positive(value, what: str) -> None:
    """``value`` is a finite number > 0."""
    if not _number(value) or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"Invalid {what}: {value}")
