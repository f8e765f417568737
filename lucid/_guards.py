"""What a compiled trace depends on besides its array inputs: found by a walk, then guarded.

``find(roots)`` walks what a step can reach -- a function's closure cells and the globals its
code names, a bound method's object, the attributes of objects its code (and its classes'
methods) names, Modules, Optimizers and GradScalers with all their settings, dicts, lists and
tuples -- and returns the state a trace must capture (Modules, Optimizers, GradScalers and every
other reachable Tensor) plus :class:`Guards`: each Python value read on the way, kept by identity
(objects) or by value (numbers, strings, bools, None; numpy arrays by a checksum). A trace is
reused only while every guard holds; a changed value traces again.

Library code (Lucid, NumPy, MLX, the standard library) is not walked into: its functions and
objects are guarded by identity only. See docs/compile-amp.md, "What retraces".
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import sys
import types

import numpy as np

from lucid import _backend as B
from lucid.tensor import Tensor

__all__ = ["Found", "Guards", "find", "same_value"]

SCALARS = (bool, int, float, complex, str, bytes, type(None))
MAX_NUMPY_BYTES = 1 << 20  # a reachable numpy array larger than this cannot be guarded cheaply
_LIBRARIES = frozenset(sys.stdlib_module_names) | {
    "lucid",
    "numpy",
    "mlx",
    "torch",
    "builtins",
    "_pytest",
    "pytest",
    "hypothesis",
    "pluggy",
}
_MISSING = object()
# library types that only hold the user's attributes: walked as user objects
_DATA_HOLDERS = (types.SimpleNamespace, argparse.Namespace)
# methods whose names say what a step reads; construction and printing do not run in a step
_SKIPPED_METHODS = frozenset({"__init__", "__new__", "__repr__", "__str__", "__del__"})
# settings of these the step may change and a trace reads as inputs, not constants
_GROUP_INPUTS = frozenset({"params", "lr", "betas"})
_MODULE_STRUCTURE = ("_parameters", "_buffers", "_modules", "_forward_pre_hooks", "_forward_hooks")


def same_value(current, expected) -> bool:
    """The guard's comparison: the same object, or equal scalars of the same type (NaN equals
    NaN, 1 differs from 1.0 and True)."""
    if current is expected:
        return True
    if type(current) is not type(expected) or not isinstance(expected, SCALARS):
        return False
    return bool(current == expected) or (current != current and expected != expected)


def _is_library(obj) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in _LIBRARIES


def _attr(holder, key):
    return getattr(holder, key, _MISSING)


def _item(holder, key):
    try:
        return holder[key]
    except (KeyError, IndexError, TypeError):
        return _MISSING


def _cell(holder, _key):
    try:
        return holder.cell_contents
    except ValueError:
        return _MISSING


def _length(holder, _key):
    return len(holder)


def _checksum(a) -> bytes:
    """A numpy array's shape, dtype and values, hashed."""
    h = hashlib.blake2b(repr((a.shape, a.dtype.str)).encode())
    h.update(np.ascontiguousarray(a).data)
    return h.digest()


class Guards:
    """Values a trace read, each with where it was read: ``holds()`` is True while all are
    unchanged; ``changed()`` names the ones that are not."""

    def __init__(self, entries):
        self.entries = entries  # (getter, holder, key, expected, where)

    def holds(self) -> bool:
        """True when every guarded value is as it was."""
        for get, holder, key, expected, _ in self.entries:
            current = get(holder, key)
            if current is not expected and not same_value(current, expected):
                return False
        return True

    def changed(self) -> list[str]:
        """``"where: before -> now"`` for each value that changed."""
        out = []
        for get, holder, key, expected, where in self.entries:
            current = get(holder, key)
            if current is not expected and not same_value(current, expected):
                out.append(f"{where}: {_show(expected)} -> {_show(current)}")
        return out


def _show(v) -> str:
    if isinstance(v, SCALARS):
        return repr(v)[:60]
    if v is _MISSING:
        return "(missing)"
    return f"<{type(v).__name__} object>"


class Found:
    """What :func:`find` found: the state to capture and the guards."""

    def __init__(self):
        self.modules: list = []
        self.optimizers: list = []
        self.scalers: list = []
        self.tensors: list = []  # reachable Tensors other than Module parameters and buffers
        self.guards = Guards([])
        self.keep: list = []  # every object walked, kept alive so no id is reused meanwhile


def find(roots) -> Found:
    """Walk ``roots`` (``(value, where)`` pairs: functions, objects, containers) for state and
    guards."""
    return _Walk(roots).found


class _Walk:
    def __init__(self, roots):
        from lucid.amp import GradScaler
        from lucid.nn.modules.module import Module
        from lucid.optim.optimizer import Optimizer

        self.Module, self.Optimizer, self.GradScaler = Module, Optimizer, GradScaler
        self.found = Found()
        self.entries = self.found.guards.entries
        self.seen: set = set()
        self.names: set = set()  # attribute and global names in the user code walked
        self.objects: list = []  # user objects: attributes guarded once every name is known
        self.done_attrs: set = set()
        for value, where in roots:
            self.expand(value, where)
        while True:  # names found in methods may name attributes of objects already seen
            before = len(self.entries) + len(self.names)
            for obj, where in list(self.objects):
                self.user_attributes(obj, where)
            if len(self.entries) + len(self.names) == before:
                break

    # -- recording ---------------------------------------------------------------------------
    def read(self, get, holder, key, where):
        value = get(holder, key)
        if isinstance(value, np.ndarray):
            if value.nbytes > MAX_NUMPY_BYTES:
                raise TypeError(
                    f"lucid.compile: {where} is a numpy array of {value.nbytes} bytes that the "
                    f"step can read; it would be a constant of the trace and is too large to "
                    f"guard: pass it as an argument (arrays are inputs) or hold it in a Tensor"
                )
            self.entries.append((_item_checksum, holder, (get, key), _checksum(value), where))
        else:
            self.entries.append((get, holder, key, value, where))
        self.expand(value, where)

    # -- walking -----------------------------------------------------------------------------
    def expand(self, v, where):
        if isinstance(v, SCALARS) or id(v) in self.seen:
            return
        self.seen.add(id(v))
        self.found.keep.append(v)
        found = self.found
        if isinstance(v, Tensor):
            found.tensors.append(v)
        elif isinstance(v, self.Module):
            found.modules.append(v)
            self.module(v, where)
        elif isinstance(v, self.Optimizer):
            found.optimizers.append(v)
            self.optimizer(v, where)
        elif isinstance(v, self.GradScaler):
            found.scalers.append(v)
            for k in v.__dict__:
                if k not in v._array_names and k != "_found_inf":
                    self.read(_attr, v, k, f"{where}.{k}")
        elif isinstance(v, (types.FunctionType, types.MethodType, functools.partial)):
            self.function(v, where)
        elif isinstance(v, dict):
            self.container(v, v.keys(), where)
        elif isinstance(v, list):
            self.container(v, range(len(v)), where)
        elif isinstance(v, tuple):
            for i, x in enumerate(v):
                self.expand(x, f"{where}[{i}]")
        elif isinstance(v, (np.ndarray, B.Array, types.ModuleType, type)):
            return  # guarded where they were read (identity, or a numpy checksum)
        elif hasattr(v, "__dict__") and type(v).__module__.split(".")[0] == "lucid":
            # another Lucid object (an LR scheduler, a loader, a Generator): its settings and
            # counters, so a trace that steps it raises instead of stepping it once, and the
            # Tensors it holds (a Generator's key), captured as state
            for k, x in list(vars(v).items()):
                if isinstance(x, (SCALARS, Tensor)):
                    self.read(_attr, v, k, f"{where}.{k}")
        elif hasattr(v, "__dict__") and (not _is_library(type(v)) or type(v) in _DATA_HOLDERS):
            self.objects.append((v, where))
            for cls in type(v).__mro__:
                if not _is_library(cls):
                    for name, member in vars(cls).items():
                        if name in _SKIPPED_METHODS:
                            continue
                        if isinstance(member, (types.FunctionType, property)):
                            self.function(getattr(member, "fget", member), f"{where}.{name}")

    def container(self, v, keys, where):
        self.entries.append((_length, v, None, len(v), f"len({where})"))
        for k in list(keys):
            self.read(_item, v, k, f"{where}[{k!r}]")

    def user_attributes(self, obj, where):
        for name in list(vars(obj)):
            if name in self.names and (id(obj), name) not in self.done_attrs:
                self.done_attrs.add((id(obj), name))
                self.read(_attr, obj, name, f"{where}.{name}")

    def function(self, fn, where):
        if isinstance(fn, functools.partial):
            self.expand(fn.func, where)
            self.expand(fn.args, f"{where}.args")
            self.expand(fn.keywords, f"{where}.keywords")
            return
        if isinstance(fn, types.MethodType):
            self.expand(fn.__self__, f"{where}.__self__")
            fn = fn.__func__
        if not isinstance(fn, types.FunctionType) or _is_library(fn):
            return
        self.seen.add(id(fn))
        self.found.keep.append(fn)
        code = fn.__code__
        names = _code_names(code)
        self.names |= names
        glob = fn.__globals__
        for name in sorted(names):
            if name in glob:
                self.read(_item, glob, name, f"global {name!r}")
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            self.read(_cell, cell, None, f"{getattr(fn, '__qualname__', 'function')}: {name!r}")
        for attr in ("__defaults__", "__kwdefaults__"):
            if getattr(fn, attr):
                self.read(_attr, fn, attr, f"{fn.__qualname__}.{attr}")

    def module(self, m, where):
        d = vars(m)
        deferred = False
        for name in d:
            if name == "_non_persistent":
                continue
            here = f"{where}.{name}"
            if name in _MODULE_STRUCTURE:
                table = d[name]
                self.entries.append((_length, table, None, len(table), f"len({here})"))
                for k in list(table):
                    self.read(_item, table, k, f"{where}.{k}")
            elif isinstance(d[name], SCALARS) or _is_library(type(m)) or name in self.names:
                self.read(_attr, m, name, here)
            elif not deferred:  # a user Module's other attributes: once its code names them
                deferred = True
                self.objects.append((m, where))
        if not _is_library(type(m)):
            for cls in type(m).__mro__:
                if not _is_library(cls):
                    for name, member in vars(cls).items():
                        if isinstance(member, types.FunctionType) and name not in _SKIPPED_METHODS:
                            self.function(member, f"{where}.{name}")

    def optimizer(self, opt, where):
        for name, value in vars(opt).items():
            here = f"{where}.{name}"
            if name == "state":
                continue  # captured state (arrays), checked by the state's signature
            if name == "param_groups":
                self.entries.append((_length, value, None, len(value), f"len({here})"))
                for i, group in enumerate(value):
                    g = f"{here}[{i}]"
                    self.entries.append((_length, group, None, len(group), f"len({g})"))
                    for k in list(group):
                        if k not in _GROUP_INPUTS:
                            self.read(_item, group, k, f"{g}[{k!r}]")
                    params = group["params"]
                    self.entries.append((_length, params, None, len(params), f"len({g}['params'])"))
                    for j in range(len(params)):
                        self.entries.append((_item, params, j, params[j], f"{g}['params'][{j}]"))
            else:
                self.read(_attr, opt, name, here)


def _item_checksum(holder, get_key):
    get, key = get_key
    value = get(holder, key)
    if not isinstance(value, np.ndarray):
        return value
    return _checksum(value)


def _code_names(code) -> set:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names
