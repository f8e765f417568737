"""``lucid.compile``: a whole training step traced once into one MLX compiled graph.

    step = lucid.compile(train_step)           # model/optimizer found in its closure/globals
    loss = step(x, y)                          # traced on the first call of each input signature

The step (forward, Lucid's own tape backward, optimizer update, BatchNorm buffer updates,
dropout's random draws) is traced with ``mx.compile``. Everything it reads and writes that
outlives one call is captured state, passed into and returned from the compiled function:

- parameters and their ``.grad``, and buffers, of every ``Module`` in the state;
- every ``Optimizer``'s per-parameter state (numbers such as Adam's step count become 0-d
  arrays, as PyTorch's ``capturable`` optimizers keep them) and each group's ``lr`` (so an LR
  scheduler stepped *outside* the step keeps working; other hyperparameters are constants of
  the trace and a change recompiles);
- a ``GradScaler``'s scale and growth tracker;
- MLX's random key (dropout draws new masks every call).

The state is found in the function's closure and the globals it names (Modules, Optimizers,
GradScalers), or given with ``state=[...]``. A new input shape/dtype, a module switched between
``train()`` and ``eval()``, or a changed constant hyperparameter traces again; at most
``cache_size`` traces are kept (least recently used evicted, which frees MLX's compiled graph:
MLX's own cache never evicts). Where tracing cannot work -- the step reads a value back to the
host (``.item()``, ``.numpy()``, ``if tensor:``) -- the function runs eagerly from then on,
after one warning. Under the NumPy CPU kernel set, convolutions and matmuls inside a compiled
step run on MLX's kernels (a host kernel cannot run inside a traced graph).

Limits: tensors outside the captured state that the step writes into (``t[...] = ...``,
``t.data = ...``) are not captured; an LR scheduler must be stepped outside the compiled
function; class-index targets are not range-checked inside a compiled step (an out-of-range
index reads class 0); the first call runs eagerly (it creates the optimizer's state); the
step's Python side effects (prints, appends) happen when it is traced, not at every call.
"""

from __future__ import annotations

import collections
import numbers
import warnings

from lucid import _backend as B
from lucid._backend import runtime
from lucid.tensor import Tensor

__all__ = ["CompiledFunction", "compile"]


def _is_read_error(err) -> bool:
    text = str(err)
    return isinstance(err, (RuntimeError, ValueError)) and (
        "inside a compiled function" in text or "function transformations" in text
    )


class _Slots:
    """The captured state: holders whose ``.data`` (or dict entry) the trace reads and writes."""

    def __init__(self, objects):
        from lucid.amp import GradScaler
        from lucid.nn.modules.module import Module
        from lucid.optim.optimizer import Optimizer

        self.modules, self.optimizers, self.scalers = [], [], []
        for obj in objects:
            if isinstance(obj, Module):
                self.modules.append(obj)
            elif isinstance(obj, Optimizer):
                self.optimizers.append(obj)
            elif isinstance(obj, GradScaler):
                self.scalers.append(obj)
            else:
                raise TypeError(
                    f"lucid.compile: state must hold Modules, Optimizers and "
                    f"GradScalers, got {type(obj).__name__}"
                )

    def tensors(self):
        """Parameters and buffers, each once."""
        seen, out = set(), []
        for m in self.modules:
            for t in list(m.parameters()) + list(m.buffers()):
                if id(t) not in seen:
                    seen.add(id(t))
                    out.append(t)
        for opt in self.optimizers:
            for group in opt.param_groups:
                for p in group["params"]:
                    if id(p) not in seen:
                        seen.add(id(p))
                        out.append(p)
        return out

    def read(self):
        """(arrays, setters, signature): the state's arrays in a fixed order, for each a
        ``(put, write_back)`` pair (``put(a)`` puts a new value in its place; ``write_back``
        says whether the step's output is kept), and what a trace depends on besides them.
        Gradients are apart (:meth:`grads`)."""
        arrays, setters, sig = [], [], []

        def slot(array, put, write_back=True):
            arrays.append(array)
            setters.append((put, write_back))
            sig.append((tuple(array.shape), str(array.dtype)))

        for t in self.tensors():
            slot(t.data, lambda a, t=t: setattr(t, "data", a))
        for m in self.modules:
            sig.extend(sub.training for sub in m.modules())
        for opt in self.optimizers:
            for group in opt.param_groups:
                # inputs, so a scheduler stepped between calls is obeyed (OneCycleLR also
                # cycles Adam's betas)
                for _, put in _scheduled(group):
                    value = put(None)
                    slot(
                        value if _is_array(value) else B.asarray(value, "float32"),
                        put,
                        write_back=False,
                    )
                sig.append(
                    tuple(
                        (k, repr(v))
                        for k, v in sorted(group.items())
                        if k not in ("params", "lr", "betas")
                    )
                )
                for p in group["params"]:
                    state = opt.state.get(p)
                    sig.append(None if state is None else tuple(sorted(state)))
                    for key, value in sorted((state or {}).items()):
                        if isinstance(value, Tensor):
                            slot(value.data, lambda a, v=value: setattr(v, "data", a))
                        elif _is_array(value) or (
                            isinstance(value, numbers.Number) and not isinstance(value, bool)
                        ):
                            # a count (Adam's step) becomes a 0-d array: traced, not constant
                            slot(
                                value if _is_array(value) else B.asarray(value),
                                lambda a, s=state, k=key: s.__setitem__(k, a),
                            )
                        else:
                            sig.append((key, repr(value)))
        for scaler in self.scalers:
            for name in scaler._array_names:
                slot(getattr(scaler, name), lambda a, s=scaler, n=name: setattr(s, n, a))
            sig.append(scaler._enabled)
        return arrays, setters, tuple(sig)

    def grads(self):
        """(tensors with a gradient, their gradient arrays)."""
        owners = [t for t in self.tensors() if t.grad is not None]
        return owners, [t.grad.data for t in owners]

    def snapshot(self):
        """Everything a failed trace may have changed, to put back with :meth:`restore`."""
        tensors = [
            (t, t.data, t.grad, t.grad.data if t.grad is not None else None) for t in self.tensors()
        ]
        opts = [
            (
                opt,
                {p: (s, dict(s)) for p, s in opt.state.items()},
                [
                    (v, v.data)
                    for s in opt.state.values()
                    for v in s.values()
                    if isinstance(v, Tensor)
                ],
                [(g, g["lr"], g.get("betas")) for g in opt.param_groups],
            )
            for opt in self.optimizers
        ]
        scalers = [(s, {n: getattr(s, n) for n in s._array_names}) for s in self.scalers]
        return tensors, opts, scalers

    @staticmethod
    def restore(snap):
        """Put back a :meth:`snapshot`."""
        tensors, opts, scalers = snap
        for t, data, grad, grad_data in tensors:
            t.data, t.grad = data, grad
            if grad is not None:
                grad.data = grad_data
        for opt, state, held, lrs in opts:
            opt.state.clear()
            for p, (entries, values) in state.items():  # the same dicts: setters hold them
                entries.clear()
                entries.update(values)
                opt.state[p] = entries
            for v, data in held:
                v.data = data
            for g, lr, betas in lrs:
                g["lr"] = lr
                if betas is not None:
                    g["betas"] = betas
        for s, values in scalers:
            for n, v in values.items():
                setattr(s, n, v)


def _scheduled(group):
    """(name, put) for the group's scheduled hyperparameters: ``lr`` and each of Adam's
    ``betas``. ``put(None)`` returns the current value, ``put(a)`` puts ``a`` in its place."""

    def lr(a):
        if a is None:
            return group["lr"]
        group["lr"] = a

    out = [("lr", lr)]
    betas = group.get("betas")
    if isinstance(betas, tuple) and all(isinstance(b, (float, int)) or _is_array(b) for b in betas):
        for i in range(len(betas)):

            def beta(a, i=i):
                if a is None:
                    return group["betas"][i]
                group["betas"] = tuple(a if j == i else b for j, b in enumerate(group["betas"]))

            out.append((f"betas[{i}]", beta))
    return out


def _is_array(v) -> bool:
    return isinstance(v, B.Array)


def _flatten_outputs(out):
    """(arrays, rebuild) for a step's return value: a Tensor, None, a number, or a (nested)
    tuple/list/dict of those."""
    arrays = []

    def walk(v):
        if isinstance(v, Tensor):
            arrays.append(v.data)
            index, device = len(arrays) - 1, v._device
            return lambda got: Tensor._wrap(got[index], device)
        if isinstance(v, (tuple, list)):
            parts = [walk(x) for x in v]
            return lambda got: type(v)(p(got) for p in parts)
        if isinstance(v, dict):
            parts = {k: walk(x) for k, x in v.items()}
            return lambda got: {k: p(got) for k, p in parts.items()}
        if v is None or isinstance(v, (numbers.Number, str)):
            return lambda got: v
        raise TypeError(
            f"lucid.compile: a compiled step may return Tensors, numbers, None and "
            f"tuples/lists/dicts of them, got {type(v).__name__}"
        )

    return arrays, walk(out)


class _Trace:
    """One compiled graph: for one input signature and one state layout."""

    def __init__(self, fn, slots, static_args):
        self.fn, self.slots, self.static_args = fn, slots, static_args
        self.rebuild = self.sig_out = self.grad_owners = None
        self.compiled = runtime.compile_function(self._pure)

    def _pure(self, arrays):
        """The traced function: (state, grads, random key, inputs) arrays -> (state, grads,
        outputs) arrays. Random draws inside split the key, a fresh draw from the global
        generator each call."""
        state_in, grads_in, key, inputs = arrays
        _, setters, _ = self.slots.read()
        for (put, _), a in zip(setters, state_in):
            put(a)
        owners, _ = self.slots.grads()
        for t, g in zip(owners, grads_in):
            t.grad = Tensor._wrap(g, t._device)
        tensors = iter(inputs)
        args = [
            Tensor._wrap(next(tensors), dev) if dev is not None else v
            for dev, v in self.static_args
        ]
        with runtime.tracing(), runtime.random_key(key):
            out = self.fn(*args)
        state_out, _, self.sig_out = self.slots.read()
        self.grad_owners, grads_out = self.slots.grads()
        outputs, self.rebuild = _flatten_outputs(out)
        return [state_out, grads_out, outputs]


class CompiledFunction:
    """A step function compiled by :func:`compile`; call it as the original function."""

    def __init__(self, fn, state=None, cache_size=8):
        if not callable(fn):
            raise TypeError(f"lucid.compile expects a function, got {type(fn).__name__}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(
                f"lucid.compile: cache_size must be a positive int, got {cache_size!r}"
            )
        self.fn = fn
        self.cache_size = cache_size
        self._slots = _Slots(_find_state(fn) if state is None else list(state))
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._eager = False
        self._calls = 0
        self.traces = 0  # how many graphs were traced (a test and the curious can read it)

    @property
    def eager(self) -> bool:
        """True once tracing failed: the function then runs eagerly."""
        return self._eager

    def __call__(self, *args):
        self._calls += 1
        if self._eager or self._calls == 1:  # the first call creates lazily made state
            return self.fn(*args)
        state, setters, sig = self._slots.read()
        owners, grads = self._slots.grads()
        inputs = [a.data for a in args if isinstance(a, Tensor)]
        static = tuple((a._device, None) if isinstance(a, Tensor) else (None, a) for a in args)
        key = (
            sig,
            tuple(id(t) for t in owners),
            tuple((tuple(x.shape), str(x.dtype)) for x in inputs),
            tuple(repr(v) for _, v in static),
            B.cpu_kernels(),
        )
        trace = self._cache.get(key)
        fresh = trace is None
        if fresh:
            trace = _Trace(self.fn, self._slots, static)
        # only a trace runs the step's Python code, which leaves placeholders behind; a cached
        # graph touches no holder, so the snapshot (a walk over all the state) is skipped
        snap = self._slots.snapshot() if fresh else None
        try:
            seed = runtime.fresh_key()
            state_out, grads_out, outputs = trace.compiled([state, grads, seed, inputs])
        except Exception as err:
            if fresh:
                self._slots.restore(snap)
            if fresh and _is_read_error(err):
                self._eager = True
                warnings.warn(
                    f"lucid.compile: {getattr(self.fn, '__name__', 'the step')} reads "
                    f"a device value back to the host, which a compiled graph cannot "
                    f"do; it runs eagerly from now on ({err})",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return self.fn(*args)
            raise
        if fresh:
            self._slots.restore(snap)  # the trace left placeholders behind
            if trace.sig_out != sig:  # the step added state (e.g. a first optimizer step)
                return self.fn(*args)
            self.traces += 1
            self._cache[key] = trace
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)  # frees that graph's MLX compile cache entry
        self._cache.move_to_end(key)
        for (put, write_back), a in zip(setters, state_out):
            if write_back:
                put(a)
        for t in owners:  # the others have no gradient already
            t.grad = None
        for t, g in zip(trace.grad_owners, grads_out):
            t.grad = Tensor._wrap(g, t._device)
        B.evaluate(*state_out, *grads_out, *outputs)  # the step's one evaluation
        return trace.rebuild(outputs)


def _find_state(fn):
    """Modules, Optimizers and GradScalers in ``fn``'s closure, in the globals it names and,
    for a bound method, its object and the object's attributes."""
    from lucid.amp import GradScaler
    from lucid.nn.modules.module import Module
    from lucid.optim.optimizer import Optimizer

    kinds = (Module, Optimizer, GradScaler)
    found = []
    owner = getattr(fn, "__self__", None)  # a bound method: its object and its attributes
    values = [] if owner is None else [owner] + list(getattr(owner, "__dict__", {}).values())
    fn = getattr(fn, "__func__", fn)
    cells = getattr(fn, "__closure__", None) or ()
    values += [c.cell_contents for c in cells if _has_contents(c)]
    code = getattr(fn, "__code__", None)
    if code is not None:
        glob = getattr(fn, "__globals__", {})
        values += [glob[n] for n in code.co_names if n in glob]
    for v in values:
        if isinstance(v, kinds) and all(v is not f for f in found):
            found.append(v)
    if not found:
        raise ValueError(
            "lucid.compile: found no Module, Optimizer or GradScaler in the "
            "function's closure or globals; pass them with state=[...]"
        )
    return found


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018  (raises ValueError for an empty cell)
    except ValueError:
        return False
    return True


def compile(fn=None, *, state=None, cache_size: int = 8):
    """Compile a training (or inference) step into one MLX graph; see the module docstring.

    ``state``: the Modules, Optimizers and GradScalers the step uses (default: those found in
    its closure and the globals it names). ``cache_size``: how many traces (input signatures)
    are kept. Usable as ``@lucid.compile`` or ``@lucid.compile(state=[...])``.
    """
    if fn is None:
        return lambda f: CompiledFunction(f, state, cache_size)
    return CompiledFunction(fn, state, cache_size)
