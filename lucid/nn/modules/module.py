"""``Parameter`` and ``Module``: the base of every layer.

A Module keeps its learnable ``Parameter``s, its buffers (running statistics and other state that
is saved but not trained) and its sub-modules in three ordered dicts, filled by ordinary
attribute assignment (``self.weight = Parameter(...)``, ``self.conv = Conv3d(...)``). Everything
else (parameter iteration, ``state_dict``, ``to``, ``train``/``eval``, ``repr``) walks that tree.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lucid import _backend as B
from lucid._typing import TensorOrScalar
from lucid.dtypes import as_dtype_name
from lucid.tensor import Tensor, _HookHandle

__all__ = ["Parameter", "Module", "StateDictError", "IncompatibleKeys"]

_DATA_SLOT = Tensor.__dict__["data"]  # Tensor's storage slot; Parameter wraps it in a property


def _as_array(value, dtype_name=None):
    """A backend array from a Tensor, backend array, numpy array, list or scalar; cast to
    ``dtype_name`` when one is given."""
    if isinstance(value, Tensor):
        value = _DATA_SLOT.__get__(value, Tensor)
    if isinstance(value, B.Array):
        return value if dtype_name is None else B.cast(value, dtype_name)
    return B.asarray(value, dtype_name)


class Parameter(Tensor):
    """A Tensor that a Module registers as learnable; it requires grad unless told otherwise.

    ``param.data = values`` replaces its values in place (a Tensor, numpy array, nested list or
    backend array; the shape may change, the dtype stays the parameter's own), so optimizers and
    other holders of the parameter see the new values.
    """

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = B.zeros((0,), dtype=B.DTYPES["float32"])
        device = data._device if isinstance(data, Tensor) else None
        super().__init__(_as_array(data), requires_grad=False, device=device)
        if requires_grad:
            self.requires_grad_(True)

    @property
    def data(self) -> Any:
        """The parameter's backend array."""
        return _DATA_SLOT.__get__(self, Tensor)

    @data.setter
    def data(self, value: TensorOrScalar) -> None:
        try:
            current = _DATA_SLOT.__get__(self, Tensor)
        except AttributeError:  # first assignment, from __init__ or copy/pickle
            _DATA_SLOT.__set__(self, _as_array(value))
            return
        _DATA_SLOT.__set__(self, _as_array(value, B.dtype_name(current.dtype)))

    def _set_array(self, array) -> None:
        """Store ``array`` as is (used by ``Module.to`` to change the dtype)."""
        _DATA_SLOT.__set__(self, array)


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictError(RuntimeError, ValueError):
    """``load_state_dict`` found missing, unexpected or mis-shaped entries (nothing was loaded).

    A RuntimeError like PyTorch's, and a ValueError like Lucid's other bad-input errors.
    """


_hook_ids = itertools.count()


class Module:
    """Base class of all layers and models.

    Subclasses call ``super().__init__()`` first, assign their Parameters and sub-modules as
    attributes, and implement ``forward``; calling the module runs ``forward`` (with any hooks).
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # --- running ---------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for hook in list(self._forward_pre_hooks.values()):
            out = hook(self, args)
            if out is not None:
                args = out if isinstance(out, tuple) else (out,)
        result = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            out = hook(self, args, result)
            if out is not None:
                result = out
        return result

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> _HookHandle:
        """Call ``hook(module, args)`` before ``forward``; a returned value replaces the args.
        Returns a handle whose ``remove()`` unregisters it."""
        key = next(_hook_ids)
        self._forward_pre_hooks[key] = hook
        return _HookHandle(self._forward_pre_hooks, key)

    def register_forward_hook(self, hook: Callable[..., Any]) -> _HookHandle:
        """Call ``hook(module, args, output)`` after ``forward``; a returned value replaces the
        output. Returns a handle whose ``remove()`` unregisters it."""
        key = next(_hook_ids)
        self._forward_hooks[key] = hook
        return _HookHandle(self._forward_hooks, key)

    # --- registration ----------------------------------------------------------------------
    def _check_ready(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() ran: call "
                f"super().__init__() first in {type(self).__name__}.__init__"
            )

    @staticmethod
    def _check_name(name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name must be non-empty and contain no '.', got {name!r}")

    def _forget(self, name, keep):
        """Drop ``name`` from the instance dict and every registry but ``keep`` (where a
        re-assignment keeps its place in the order)."""
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=None``)."""
        self._check_ready(name)
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot register a {type(param).__name__} as parameter {name!r}: "
                "expected a lucid.nn.Parameter or None"
            )
        if name not in self._parameters and hasattr(self, name):
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._forget(name, self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a non-learnable tensor (e.g. running statistics) that ``to()`` moves and, if
        ``persistent``, ``state_dict()`` saves. ``tensor`` may be None."""
        self._check_ready(name)
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"buffer {name!r} must be a Tensor or None, got {type(tensor).__name__}"
            )
        if name not in self._buffers and hasattr(self, name):
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._forget(name, self._buffers)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module) -> None:
        """Register a sub-module (or None) under ``name``."""
        self._check_ready(name)
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module (registering {name!r})")
        if name not in self._modules and hasattr(self, name):
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._forget(name, self._modules)
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._check_ready(name)
            self._forget(name, self._parameters)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._check_ready(name)
            self._forget(name, self._modules)
            self._modules[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to parameter {name!r} "
                    f"of {type(self).__name__}: expected a Parameter or None (to "
                    "change its values, assign to .data)"
                )
            self._parameters[name] = None
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to sub-module {name!r}: "
                    "expected a Module or None"
                )
            self._modules[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to buffer {name!r}: "
                    "expected a Tensor or None"
                )
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only reached when normal lookup fails: look in the registries.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(
            set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules)
        )

    # --- traversal -------------------------------------------------------------------------
    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            yield from child.named_modules(
                memo, f"{prefix}.{name}" if prefix else name, remove_duplicate
            )

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct sub-modules."""
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, value in getattr(mod, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs; a parameter shared by two layers appears once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The Parameters of this module (and, by default, of its descendants)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers of this module (and, by default, of its descendants)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The descendant at dotted path ``target`` (``""`` is this module)."""
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules or mod._modules[part] is None:
                raise AttributeError(
                    f"{type(mod).__name__} has no sub-module {part!r} (looking up {target!r})"
                )
            mod = mod._modules[part]
        return mod

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Total number of parameter elements (only those requiring grad if asked)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # --- state -----------------------------------------------------------------------------
    def _state_entries(self):
        """(key, module, local name, tensor, is_param) for every saved tensor, in order."""
        for prefix, mod in self.named_modules(remove_duplicate=False):
            head = prefix + "." if prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    yield head + name, mod, name, p, True
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    yield head + name, mod, name, b, False

    def state_dict(
        self,
        destination: dict[str, Tensor] | None = None,
        prefix: str = "",
        keep_vars: bool = False,
    ) -> dict[str, Tensor]:
        """An ordered dict from dotted names to parameters and persistent buffers.

        Values are detached snapshots of the current values: later training or in-place item
        assignment does not change them. ``keep_vars=True`` gives the live objects.
        """
        out = OrderedDict() if destination is None else destination
        for key, _, _, t, _ in self._state_entries():  # a tied tensor appears under each name
            # B.array(a) is a new array object over the same values: MLX's item assignment
            # rebinds the object it is applied to, so the snapshot cannot see later writes.
            out[prefix + key] = t if keep_vars else Tensor._wrap(B.array(t.data), t._device)
        return out

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into the parameters and buffers, in place.

        Every key and shape is checked before anything changes. Mis-shaped entries always raise
        ``StateDictError``; missing and unexpected keys raise it when ``strict``. Values are
        cast to each tensor's own dtype. Returns ``IncompatibleKeys(missing, unexpected)``.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict expects a dict, got {type(state_dict).__name__}")
        entries = list(self._state_entries())
        expected = {key for key, *_ in entries}
        missing = [key for key, *_ in entries if key not in state_dict]
        unexpected = [key for key in state_dict if key not in expected]
        updates, errors = [], []
        for key, _mod, _name, t, _is_param in entries:
            if key not in state_dict:
                continue
            value = state_dict[key]
            try:
                arr = _as_array(value, B.dtype_name(t.data.dtype))
            except (TypeError, ValueError) as exc:
                errors.append(f"  {key}: cannot convert a {type(value).__name__}: {exc}")
                continue
            if tuple(arr.shape) != t.shape:
                errors.append(
                    f"  {key}: shape {tuple(arr.shape)} in the state dict, {t.shape} in the model"
                )
                continue
            updates.append((t, B.array(arr)))  # own array object: see state_dict
        if strict:
            head = [
                f"  {what} key(s): " + ", ".join(keys)
                for what, keys in (("missing", missing), ("unexpected", unexpected))
                if keys
            ]
            errors = head + errors
        if errors:
            raise StateDictError(
                f"error(s) loading the state dict into {type(self).__name__} "
                "(nothing was changed):\n" + "\n".join(errors)
            )
        for t, arr in updates:
            if isinstance(t, Parameter):
                t._set_array(arr)
            else:
                t.data = arr
        return IncompatibleKeys(missing, unexpected)

    # --- modes, gradients, devices ---------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics) on this module and all below."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode) expects a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Turn gradient tracking of every parameter on or off (e.g. to freeze a backbone)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None, or to zeros)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor._wrap(
                    B.zeros(p.grad.data.shape, dtype=p.grad.data.dtype), p._device
                )

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move parameters and buffers to a device and/or cast floating ones to a dtype, in
        place (optimizers keep their references): ``to("gpu")``, ``to(lucid.float64)``,
        ``to(device="cpu", dtype="float32")``. Returns self."""
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword(s) {sorted(kwargs)}")
        for a in args:
            if _is_dtype(a):
                dtype = a
            else:
                device = a
        target = None if device is None else B.resolve_device(device)
        name = as_dtype_name(dtype)
        if name is not None and name not in ("float16", "bfloat16", "float32", "float64"):
            raise TypeError(f"Module.to only casts to floating dtypes, got {dtype!r}")
        tensors = list(self.parameters()) + list(self.buffers())
        for t in tensors:  # check everything before changing anything
            final = name if (name and t.is_floating_point()) else B.dtype_name(t.data.dtype)
            if (target or t._device) == "gpu" and final == "float64":
                raise TypeError(
                    "float64 is not supported on the GPU: cast the module with "
                    ".to(lucid.float32) first"
                )
        for t in tensors:
            if name and t.is_floating_point():
                with B.device_scope(target or t._device):  # cast where the tensor will live
                    arr = B.cast(t.data, name)
                    t._set_array(arr) if isinstance(t, Parameter) else setattr(t, "data", arr)
                    if t.grad is not None:
                        t.grad.data = B.cast(t.grad.data, name)
            if target is not None:
                t._device = target
                if t.grad is not None:
                    t.grad._device = target
        return self

    def cpu(self) -> Module:
        """``to("cpu")``."""
        return self.to("cpu")

    def gpu(self) -> Module:
        """``to("gpu")`` (the CPU where no GPU exists)."""
        return self.to("gpu")

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32."""
        return self.to(dtype="float32")

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64 (CPU only)."""
        return self.to(dtype="float64")

    def apply(self, fn: Callable[..., Any]) -> Module:
        """Call ``fn(module)`` on every descendant and then on this module (e.g. custom
        initialisation); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- printing --------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's own settings, shown inside its repr (subclasses override)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = [ln for ln in self.extra_repr().split("\n") if ln] if self.extra_repr() else []
        for name, child in self._modules.items():
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        if not lines:
            return f"{self._get_name()}()"
        if not self._modules and len(lines) == 1:
            return f"{self._get_name()}({lines[0]})"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


def _is_dtype(spec) -> bool:
    if isinstance(spec, str):
        try:
            B.parse_device(spec)  # "cpu", "cuda:0", a lucid.device...
            return False
        except ValueError:
            pass
    try:
        return as_dtype_name(spec) is not None
    except TypeError:
        return False
