"""Nested Python containers as a flat list of leaves plus a hashable description of the nesting.

``flatten((x, {"a": y, "b": [z, 3]}))`` gives ``([x, y, z, 3], spec)``, and
``unflatten(spec, leaves)`` builds the same nesting around new leaves. Containers are tuples,
lists, dicts, namedtuples and dataclass instances; everything else is a leaf. ``spec`` is
hashable and equal for two trees of the same nesting (types, dict keys and their order, field
names), whatever their leaves: ``lucid.compile`` keys its traces on it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["flatten", "unflatten"]

_LEAF = "*"


def _is_namedtuple(v) -> bool:
    return isinstance(v, tuple) and hasattr(type(v), "_fields")


def flatten(tree: Any) -> tuple[list, Any]:
    """``(leaves, spec)``: the tree's leaves in order and its nesting."""
    leaves: list = []

    def walk(v):
        kind = type(v)
        if kind is tuple or kind is list:
            return (kind, tuple(walk(x) for x in v))
        if kind is dict:
            keys = tuple(v)
            return (dict, keys, tuple(walk(v[k]) for k in keys))
        if _is_namedtuple(v):
            return (kind, tuple(walk(x) for x in v))
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            names = tuple(f.name for f in dataclasses.fields(v) if f.init)
            return (kind, names, tuple(walk(getattr(v, n)) for n in names))
        leaves.append(v)
        return _LEAF

    return leaves, walk(tree)


def unflatten(spec: Any, leaves: list) -> Any:
    """The tree of nesting ``spec`` (from :func:`flatten`) holding ``leaves``."""
    items = iter(leaves)

    def build(s):
        if s == _LEAF:
            return next(items)
        kind = s[0]
        if kind is tuple or kind is list:
            return kind(build(c) for c in s[1])
        if kind is dict:
            return {k: build(c) for k, c in zip(s[1], s[2])}
        if len(s) == 2:  # a namedtuple
            return kind(*(build(c) for c in s[1]))
        return kind(**{n: build(c) for n, c in zip(s[1], s[2])})  # a dataclass

    return build(spec)
