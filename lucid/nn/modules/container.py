"""Containers: ``Sequential`` (a pipeline), ``ModuleList`` and ``ModuleDict`` (registered
collections, so their members' parameters are found, saved and moved)."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import ItemsView, Iterable, KeysView, Mapping, ValuesView
from typing import Any, NoReturn

from lucid.nn.modules.module import Module
from lucid.tensor import Tensor

__all__ = ["Sequential", "ModuleList", "ModuleDict"]


def _index(i, n, what):
    """A non-negative index from ``i`` for a container of length ``n``."""
    try:
        i = operator.index(i)
    except TypeError:
        raise TypeError(
            f"{what} indices must be integers or slices, got {type(i).__name__}"
        ) from None
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of range for a {what} of length {n}")
    return i % n


def _check_module(m, what):
    if not isinstance(m, Module):
        raise TypeError(f"{what} holds Modules, got {type(m).__name__}")
    return m


class _ModuleSeq(Module):
    """What ModuleList and Sequential share: positional storage in ``_modules``."""

    def _renumber(self, mods):
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def extend(self, modules):
        """Append every module of an iterable."""
        if isinstance(modules, Module) and not isinstance(modules, _ModuleSeq):
            raise TypeError(
                f"extend expects an iterable of Modules, got a single {type(modules).__name__}"
            )
        for m in list(modules):
            self.append(m)
        return self


class ModuleList(_ModuleSeq):
    """A list of Modules that registers each one (named "0", "1", ...)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(list(self._modules.values())[i])
        return self._modules[str(_index(i, len(self), "ModuleList"))]

    def __setitem__(self, i, module) -> None:
        self._modules[str(_index(i, len(self), "ModuleList"))] = _check_module(module, "ModuleList")

    def __delitem__(self, i) -> None:
        mods = list(self._modules.values())
        if isinstance(i, slice):
            del mods[i]
        else:
            del mods[_index(i, len(self), "ModuleList")]
        self._renumber(mods)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end."""
        self._modules[str(len(self))] = _check_module(module, "ModuleList")
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``."""
        mods = list(self._modules.values())
        mods.insert(index, _check_module(module, "ModuleList"))
        self._renumber(mods)

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(
            "ModuleList is a container and has no forward(); iterate over "
            "it in the parent's forward"
        )


class Sequential(_ModuleSeq):
    """Calls its modules in order, each on the previous one's output.

    ``Sequential(m1, m2, ...)`` names them "0", "1", ...; ``Sequential(OrderedDict(name=m))``
    keeps the given names. Supports indexing, slicing (a new Sequential), ``len``, iteration
    and ``append``.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (OrderedDict, dict)):
            for name, m in modules[0].items():
                self.add_module(name, _check_module(m, "Sequential"))
        else:
            for m in modules:
                self.append(m)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[_index(i, len(self), "Sequential")]

    def __setitem__(self, i, module) -> None:
        key = list(self._modules)[_index(i, len(self), "Sequential")]
        self._modules[key] = _check_module(module, "Sequential")

    def __delitem__(self, i) -> None:
        keys = list(self._modules)
        doomed = keys[i] if isinstance(i, slice) else [keys[_index(i, len(self), "Sequential")]]
        for key in doomed:
            del self._modules[key]

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named by its position)."""
        name = str(len(self))
        while name in self._modules:  # custom names may already use that number
            name = "_" + name
        self._modules[name] = _check_module(module, "Sequential")
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (modules are renamed by position)."""
        mods = list(self._modules.values())
        mods.insert(index, _check_module(module, "Sequential"))
        self._renumber(mods)

    def forward(self, x: Tensor) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleDict(Module):
    """An ordered dict of Modules that registers each one under its key."""

    def __init__(
        self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
    ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str):
        return self._modules[key]

    def __setitem__(self, key: str, module) -> None:
        self.add_module(key, _check_module(module, "ModuleDict"))

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self) -> KeysView[str]:
        """The keys, in insertion order."""
        return self._modules.keys()

    def values(self) -> ValuesView[Module]:
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self) -> ItemsView[str, Module]:
        """(key, module) pairs, in insertion order."""
        return self._modules.items()

    def pop(self, key: str) -> Module:
        """Remove and return the module under ``key``."""
        return self._modules.pop(key)

    def clear(self) -> None:
        """Remove every module."""
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) modules from a mapping or an iterable of (key, module) pairs."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, m in pairs:
            self[key] = m

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("ModuleDict is a container and has no forward()")
