"""A transform chain split at its first random transform, for the caching datasets: the
deterministic prefix runs once per item, the rest on every read.

A step is random when its ``is_random`` attribute is true (lucid's random transforms set it;
``Transform`` has False), or when it has no such attribute (a plain function: it may draw, as
MONAI assumes of callables that are not its transforms). Steps are applied as ``Compose``
applies them, so a chain gives what the ``Compose`` of its steps gives: an array item
``x`` is ``step(x, rng=rng)``, an ``(image, label)`` pair of arrays ``step(image, label,
rng=rng)``. Items ``Compose`` cannot take are handled so: a lucid ``Transform`` transforms
``item["image"]`` (and ``item["label"]``) of a dict, the first element (and a second array) of
a tuple, keeping the other fields; any other callable gets the whole item. ``rng=`` goes to
``Transform``s and to callables with an ``rng`` parameter.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from lucid.transforms.base import Compose, Transform

__all__ = ["TransformChain", "is_random"]

_UNUSED = np.random.default_rng(0).bit_generator.state  # a probe no step drew from


def is_random(step) -> bool:
    """Whether ``step`` may draw random numbers: its ``is_random`` attribute, True without one."""
    flag = getattr(step, "is_random", None)
    return True if flag is None else bool(flag)


def _steps(transform, owner: str) -> list:
    """``transform`` as a flat list of steps (Compose and lists opened, in order)."""
    if transform is None:
        return []
    if isinstance(transform, Compose) and type(transform).__call__ is Compose.__call__:
        return [s for t in transform.transforms for s in _steps(t, owner)]
    if isinstance(transform, (list, tuple)):
        return [s for t in transform for s in _steps(t, owner)]
    if not callable(transform):
        raise TypeError(
            f"{owner}: transform must be a callable, a Compose or a list of callables, got "
            f"{type(transform).__name__}"
        )
    return [transform]


def _image_protocol(step) -> bool:
    """A lucid Transform called as ``t(image[, label], rng=...)`` (its own __call__ kept)."""
    return isinstance(step, Transform) and type(step).__call__ is Transform.__call__


def _takes_rng(step) -> bool:
    if _image_protocol(step):
        return True
    try:
        params = inspect.signature(step).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return any(p.name == "rng" or p.kind is p.VAR_KEYWORD for p in params)


def _is_pair(item) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], np.ndarray)
        and isinstance(item[1], np.ndarray)
    )


class TransformChain:
    """``transform`` (None, a callable, a ``Compose`` or a list) as ``prefix`` (the steps
    before the first random one) and ``suffix`` (the rest)."""

    def __init__(self, transform, owner: str):
        self.owner = owner
        steps = _steps(transform, owner)
        first = next((i for i, s in enumerate(steps) if is_random(s)), len(steps))
        self.prefix, self.suffix = steps[:first], steps[first:]
        if steps and first == 0 and getattr(steps[0], "is_random", None) is None:
            warnings.warn(
                f"{owner}: the first transform, {steps[0]!r}, has no is_random attribute, so "
                "it counts as random and no transform output is cached; if it is "
                "deterministic, set its is_random = False",
                RuntimeWarning,
                stacklevel=3,
            )
        self._rng = {id(s): _takes_rng(s) for s in steps}

    def run_prefix(self, item):
        """``item`` through the deterministic steps. A step that draws from the generator it
        is handed (or from its own ``generator``) raises TypeError: caching its output would
        freeze its randomness."""
        for step in self.prefix:
            probe = np.random.default_rng(0)
            own = getattr(step, "generator", None)
            own_state = own.bit_generator.state if isinstance(own, np.random.Generator) else None
            item = self._call(step, item, probe)
            drew = probe.bit_generator.state != _UNUSED
            if own_state is not None and own.bit_generator.state != own_state:
                drew = True
            if drew:
                raise TypeError(
                    f"{self.owner}: {step!r} drew random numbers, but its is_random is False, "
                    "so its output would be cached and its randomness frozen: set "
                    "is_random = True on its class"
                )
        return item

    def run_suffix(self, item, rng: np.random.Generator | None):
        """``item`` through the random steps (and those after them), drawing from ``rng``."""
        for step in self.suffix:
            item = self._call(step, item, rng)
        return item

    def _call(self, step: Callable[..., Any], item, rng):
        kw = {"rng": rng} if self._rng[id(step)] else {}
        if isinstance(item, np.ndarray):  # as Compose calls its steps
            return step(item, **kw)
        if _is_pair(item):
            image, label = step(item[0], item[1], **kw)
            return image, label
        if not _image_protocol(step):
            return step(item, **kw)
        name = type(step).__name__
        if isinstance(item, dict):
            if "image" not in item:
                raise KeyError(
                    f"{self.owner}: {name} transforms item['image'] (and item['label']), the "
                    f"item has keys {sorted(map(str, item))}"
                )
            out = dict(item)
            if "label" in item:
                out["image"], out["label"] = step(item["image"], item["label"], **kw)
            else:
                out["image"] = step(item["image"], **kw)
            return out
        if isinstance(item, (tuple, list)) and item and isinstance(item[0], np.ndarray):
            fields = list(item)
            if len(fields) > 1 and isinstance(fields[1], np.ndarray):
                fields[0], fields[1] = step(fields[0], fields[1], **kw)
            else:
                fields[0] = step(fields[0], **kw)
            return type(item)(fields) if not hasattr(item, "_fields") else type(item)(*fields)
        raise TypeError(
            f"{self.owner}: {name} takes an array, an (image, label) tuple or a dict with an "
            f"'image' array, got a {type(item).__name__}"
        )
