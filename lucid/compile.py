"""``lucid.compile``: a step (or a Module's forward) traced once into one MLX compiled graph.

    step = lucid.compile(train_step)   # the state it reaches is found and guarded
    loss = step(batch)                 # traced on the first call of each signature
    fast = lucid.compile(model)        # a compiled forward; backward through it works

The step (forward, Lucid's own tape backward, optimizer update, BatchNorm buffer updates,
random draws) is traced with ``mx.compile``. Nothing is guessed:

- **Arguments** (positional and keyword) are pytrees (tuples, lists, dicts, namedtuples,
  dataclasses) of Tensors, numpy arrays, Python scalars and other objects. Tensors and numpy
  arrays are inputs of the graph (a numpy array arrives in the traced function as a Tensor of
  its dtype); the cache key is the tree's structure plus each array's shape, dtype, device and
  ``requires_grad``, and each scalar's type and value.
- **State** is everything the step can reach (``lucid._guards``): Modules, Optimizers,
  GradScalers and any other Tensor found through its closure, the globals its code names, a
  bound method's object, arguments, containers and the attributes its code names. Their
  arrays are inputs and outputs of the graph; an in-place write during tracing to any other
  Tensor that existed before the call raises (it would be lost).
- **Guards**: every Python value read on the way to the state (numbers, strings, bools,
  settings of Modules and Optimizers, ``requires_grad`` of every captured tensor, membership
  of parameters in optimizer groups, ``training`` flags) plus grad mode, autocast and the
  kernel set. A trace is reused only while all hold; otherwise the step traces again (at most
  ``cache_size`` traces are kept, least recently used evicted). A trace that changes one of
  those Python values raises: its Python code runs only when traced.
- **Randomness**: a trace that draws from the default generator takes its key as an input and
  returns the advanced key, so a compiled step draws exactly the numbers the eager step would.
  One that draws none leaves the generator alone. A ``lucid.Generator`` the step reaches (a
  closure cell, a global, a Module attribute, ``state=[g]``) is state: its key Tensor is an
  input and an output, so draws with ``generator=g`` are the eager ones and advance ``g`` alike.

The first call of a compiled *training* step runs eagerly (it creates the optimizer's state).
A compiled function whose trace does not call backward but returns tensors that require grad
(a compiled ``Module``) records one op per such output on the tape; its backward runs a second
compiled graph that recomputes the forward (with the same random numbers) and differentiates it.

A step that reads a device value back to the host (``.item()``, ``.numpy()``, ``if t:``) cannot
be traced: the state is put back, one RuntimeWarning is given, and it runs eagerly from then on.
Under the NumPy CPU kernel set, convolutions and matmuls inside a compiled graph run on MLX's
kernels.
"""

from __future__ import annotations

import collections
import gc
import numbers
import warnings

import numpy as np

from lucid import _backend as B, _guards
from lucid._backend import runtime
from lucid.autograd import graph
from lucid.autograd.grad_mode import enable_grad, is_grad_enabled
from lucid.ops._util import PASS
from lucid.tensor import Tensor
from lucid.utils import pytree

__all__ = ["CompiledFunction", "compile"]

_profile_hook = None  # set by lucid.profiler: hook(compiled, args, kwargs) -> result or PASS


def _is_read_error(err) -> bool:
    text = str(err)
    return isinstance(err, (RuntimeError, ValueError)) and (
        "inside a compiled function" in text or "function transformations" in text
    )


def _is_array(v) -> bool:
    return isinstance(v, B.Array)


class _Slots:
    """The captured state: holders whose ``.data`` (or dict entry) the trace reads and writes."""

    def __init__(self, found):
        self.modules, self.optimizers, self.scalers = found.modules, found.optimizers, found.scalers
        self.extra = found.tensors
        self._tensors: list | None = None

    def tensors(self):
        """Parameters, buffers and other captured tensors, each once. Listed once per trace:
        which tensors these are is guarded (Modules' parameter, buffer and sub-module tables,
        optimizer groups, the holders of the others), so it cannot change while it is used."""
        if self._tensors is None:
            self._tensors = self._list_tensors()
        return self._tensors

    def _list_tensors(self):
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
        for t in self.extra:
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)
        return out

    def read(self):
        """(arrays, setters, signature): the state's arrays in a fixed order, for each a
        ``(put, write_back)`` pair (``put(a)`` puts a new value in its place; ``write_back``
        says whether the step's output is kept), and what the layout depends on besides them
        (shapes, dtypes, ``requires_grad``, optimizer state keys). Gradients are apart."""
        arrays, setters, sig = [], [], []

        def slot(array, put, write_back=True):
            arrays.append(array)
            setters.append((put, write_back))
            sig.append((array.shape, array.dtype))

        for t in self.tensors():  # (training flags and settings are guarded, not read here)
            a = t._data
            arrays.append(a)
            setters.append((t._set_data, True))
            sig.append((a.shape, a.dtype, t.requires_grad, t._grad is not None))
        for opt in self.optimizers:
            for group in opt.param_groups:
                # inputs, so a scheduler stepped between calls is obeyed (OneCycleLR also
                # cycles Adam's betas)
                for _, put in _scheduled(group):
                    value = put(None)
                    if not (_is_array(value) or isinstance(value, numbers.Real)):
                        raise TypeError(
                            f"lucid.compile: an optimizer's lr/betas must be numbers, got "
                            f"{type(value).__name__}"
                        )
                    slot(
                        value if _is_array(value) else B.asarray(value, "float32"),
                        put,
                        write_back=False,
                    )
                for p in group["params"]:
                    state = opt.state.get(p)
                    sig.append(None if state is None else tuple(state))
                    for key, value in (state or {}).items():
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
                        elif isinstance(value, _guards.SCALARS):
                            sig.append((key, type(value), value))
                        else:
                            sig.append((key, id(value)))
        for scaler in self.scalers:
            for name in scaler._array_names:
                slot(getattr(scaler, name), lambda a, s=scaler, n=name: setattr(s, n, a))
        sig.append(_share(arrays)[1])  # which slots hold one array (e.g. Adam's equal counts)
        return arrays, setters, tuple(sig)

    def snapshot(self):
        """Everything a trace may have changed, to put back with :meth:`restore`."""
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
            t._data, t.grad = data, grad  # not the setter: no version bump, no write check
            if grad is not None:
                grad._data = grad_data
        for opt, state, held, lrs in opts:
            opt.state.clear()
            for p, (entries, values) in state.items():  # the same dicts: setters hold them
                entries.clear()
                entries.update(values)
                opt.state[p] = entries
            for v, data in held:
                v._data = data
            for g, lr, betas in lrs:
                g["lr"] = lr
                if betas is not None:
                    g["betas"] = betas
        for s, values in scalers:
            for n, v in values.items():
                setattr(s, n, v)


def _scheduled(group):
    """(name, put) for the group's scheduled hyperparameters: ``lr``, each of Adam's ``betas``
    and its complement ``1 - b``. ``put(None)`` returns the current value, ``put(a)`` puts ``a``
    in its place. The complement is computed on the host (in float64 from a Python beta) and is
    an input beside the beta: ``1 - b`` and Adam's bias corrections ``1 - b**t`` from a float32
    ``b`` would cancel (``_Betas`` in ``lucid.optim.adam`` carries it to the optimizer)."""
    from lucid.optim.adam import _Betas

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
                group["betas"] = _Betas.replace(group["betas"], i, value=a)

            def complement(a, i=i):
                if a is None:
                    return _Betas.complement(group["betas"], i)
                group["betas"] = _Betas.replace(group["betas"], i, complement=a)

            out += [(f"betas[{i}]", beta), (f"1 - betas[{i}]", complement)]
    return out


def _flatten_outputs(out):
    """(arrays, tensors, rebuild) for a step's return value: a pytree of Tensors, numbers,
    strings and None."""
    leaves, spec = pytree.flatten(out)
    arrays, tensors, parts = [], [], []
    for v in leaves:
        if isinstance(v, Tensor):
            arrays.append(v.data)
            tensors.append(v)
            parts.append((len(arrays) - 1, v._device))
        elif v is None or isinstance(v, (numbers.Number, str)):
            parts.append((None, v))
        else:
            raise TypeError(
                f"lucid.compile: a compiled function may return Tensors, numbers, strings, "
                f"None and tuples/lists/dicts of them, got {type(v).__name__}"
            )

    def rebuild(got, wrap=None):
        wrap = wrap or (lambda i, a, device: Tensor._wrap(a, device))
        return pytree.unflatten(spec, [v if i is None else wrap(i, got[i], v) for i, v in parts])

    return arrays, tensors, rebuild


def _modes():
    """Global settings a trace depends on: grad mode, autocast regions, kernels, index checks."""
    from lucid.amp.autocast import _active

    regions = tuple((r.device_type, r.dtype_name, r.enabled) for r in _active())
    return (is_grad_enabled(), regions, B.cpu_kernels(), B.index_check_mode())


def _describe_args(leaves):
    """(cache key part, array inputs, placeholders' (device, requires_grad) or None, objects)."""
    key, arrays, kinds, objects = [], [], [], []
    for v in leaves:
        if isinstance(v, Tensor):
            key.append(
                ("T", v.data.shape, v.data.dtype, v._device, v.requires_grad, v.grad is not None)
            )
            arrays.append(v.data)
            kinds.append((v._device, v.requires_grad))
        elif isinstance(v, np.ndarray):
            if v.dtype.name not in B.DTYPES:
                raise TypeError(
                    f"lucid.compile: a numpy argument of dtype {v.dtype} is not supported"
                )
            key.append(("N", v.shape, v.dtype.str))
            arrays.append(B.from_numpy(v))
            kinds.append(("cpu", False))
        elif isinstance(v, float):
            key.append((float, v.hex()))
            kinds.append(None)
        elif isinstance(v, _guards.SCALARS):
            key.append((type(v), v))
            kinds.append(None)
        elif isinstance(v, np.generic):
            key.append((type(v), v.tobytes()))
            kinds.append(None)
        else:
            key.append(("O", id(v)))
            kinds.append(None)
            objects.append(v)
    return tuple(key), arrays, kinds, objects


class _Trace:
    """One compiled graph, for one argument signature and one set of guards."""

    def __init__(self, fn, found, spec, leaves, kinds):
        self.fn, self.spec, self.leaves, self.kinds = fn, spec, leaves, kinds
        self.found = found
        self.slots = _Slots(found)
        self.guards = found.guards
        self.sig = self.sig_out = self.rebuild = self.grad_owners = None
        self.draws = self.trains = False
        self.arg_grads: list = []  # argument positions whose placeholder got a gradient
        self.out_tensors = 0
        self.compiled = runtime.compile_function(self._pure)
        self.backward_graphs: dict = {}  # output index -> compiled backward
        self.snap = self.slots.snapshot()
        self.cache_key = None
        self.arg_grads_in: list = []
        self.grad_owners_out: list = []
        self.checks: list = []  # (size, what) of each deferred index check the trace made
        self.state_index: tuple = ()  # state slot -> its array among the distinct inputs
        self.out_index: tuple = ()  # state slot -> its array among the distinct outputs

    def _call_fn(self, inputs, grads_for_args=()):
        """Placeholders for the arguments, the function run on them."""
        arrays = iter(inputs)
        grads = dict(grads_for_args)
        placeholders, values = [], []
        for i, (kind, v) in enumerate(zip(self.kinds, self.leaves)):
            if kind is None:
                values.append(v)
                continue
            t = Tensor._wrap(next(arrays), kind[0], requires_grad=kind[1])
            if i in grads:
                t._grad = Tensor._wrap(grads[i], kind[0])
            placeholders.append((i, t))
            values.append(t)
        args, kwargs = pytree.unflatten(self.spec, values)
        return self.fn(*args, **kwargs), placeholders

    def _pure(self, arrays):
        """The traced function: (state, grads, key, inputs, argument grads) -> (state, grads,
        key, outputs, argument grads)."""
        state_unique, grads_in, key, inputs, arg_grads_in = arrays
        state_in = [state_unique[j] for j in self.state_index]
        alive = _live_tensors()  # before any placeholder is made; held, so no id is reused
        live = {id(t) for t in alive}
        _, setters, _ = self.slots.read()
        for (put, _), a in zip(setters, state_in):
            put(a)
        for t, g in zip(self.grad_owners, grads_in):
            t._grad = Tensor._wrap(g, t._device)
        watched = {id(t) for t in self.slots.tensors()}
        watched |= {
            id(v)
            for opt in self.slots.optimizers
            for s in opt.state.values()
            for v in s.values()
            if isinstance(v, Tensor)
        }

        def on_write(t):  # called before the write: raising leaves the tensor as it was
            if id(t) not in watched and id(t) in live:
                raise _UncapturedWrite(t)

        calls = graph.backward_calls.count
        with runtime.tracing(), runtime.random_key(key), runtime.watching_writes(on_write):
            with runtime.collecting_checks() as checks:
                out, placeholders = self._call_fn(inputs, zip(self.arg_grads_in, arg_grads_in))
            key_out = runtime.rng_key()
        # deferred index checks (class-index targets, ...): their arrays are outputs, and each
        # call registers them, so a bad index raises at the call's evaluation, as eagerly
        self.checks = [(size, what) for _, _, size, what in checks]
        check_arrays = [a for bad, indices, _, _ in checks for a in (bad, indices)]
        self.trains = graph.backward_calls.count != calls
        self.draws = key_out is not key
        state_out, _, self.sig_out = self.slots.read()
        owners = [t for t in self.slots.tensors() if t.grad is not None]
        self.grad_owners_out = owners
        grads_out = [t.grad.data for t in owners]
        self.arg_grads = [i for i, t in placeholders if t.grad is not None]
        arg_grads_out = [t.grad.data for i, t in placeholders if t.grad is not None]
        outputs, tensors, self.rebuild = _flatten_outputs(out)
        self.out_requires = [t.requires_grad for t in tensors]
        # one output per distinct array: slots the step left holding one array share it again
        state_out, self.out_index = _share(state_out)
        return [state_out, grads_out, [key_out], outputs, arg_grads_out, check_arrays]

    # -- backward through a compiled forward -------------------------------------------------
    def _pure_backward(self, arrays, index):
        """(state, key, inputs, cotangent of output ``index``) -> gradients of the
        differentiable tensors (captured tensors requiring grad, then arguments requiring
        grad)."""
        state_in, key, inputs, cotangent = arrays
        _, setters, _ = self.slots.read()
        for (put, _), a in zip(setters, state_in):
            put(a)
        params = [t for t in self.slots.tensors() if t.requires_grad]
        for t in params:
            t._grad = None
        with runtime.tracing(), runtime.random_key(key), enable_grad():
            out, placeholders = self._call_fn(inputs)
            _, tensors, _ = _flatten_outputs(out)
            t = tensors[index]
            graph.backward(t, B.cast(cotangent, B.dtype_name(t.data.dtype)))
        needing = params + [t for _, t in placeholders if t.requires_grad]
        return [
            t.grad.data if t.grad is not None else B.zeros(t.data.shape, t.data.dtype)
            for t in needing
        ]


class _UncapturedWrite(RuntimeError):
    def __init__(self, t):
        super().__init__(
            f"lucid.compile: the step wrote in place into a Tensor it did not capture "
            f"(shape {tuple(t.shape)}, {t.dtype}{_holder_name(t)}); the write would be lost. "
            f"Keep it where the step can be seen to reach it (a Module buffer, an attribute or "
            f"global the step names) or pass it with state=[...]"
        )


def _holder_name(t) -> str:
    """Where ``t`` is held (an attribute or dict key), for an error message."""
    for ref in gc.get_referrers(t):
        if isinstance(ref, dict):
            for k, v in ref.items():
                if v is t and isinstance(k, str):
                    return f", held as {k!r}"
    return ""


def _live_tensors() -> list:
    """Every Tensor alive now (a trace's writes to any of them must be captured)."""
    return [o for o in gc.get_objects() if issubclass(type(o), Tensor)]  # not isinstance: a
    # dead weakref.proxy raises there


class CompiledFunction:
    """A function or Module compiled by :func:`compile`; call it as the original."""

    def __init__(self, fn, state=None, cache_size=8):
        from lucid.nn.modules.module import Module

        if not callable(fn):
            raise TypeError(f"lucid.compile expects a function or Module, got {type(fn).__name__}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(
                f"lucid.compile: cache_size must be a positive int, got {cache_size!r}"
            )
        self.fn = fn
        self.module = fn if isinstance(fn, Module) else None
        self.cache_size = cache_size
        self.state = [] if state is None else list(state)
        for obj in self.state:
            if not isinstance(obj, (Tensor, Module)) and not _is_stateful(obj):
                raise TypeError(
                    f"lucid.compile: state must hold Modules, Optimizers, GradScalers, "
                    f"Generators and Tensors, got {type(obj).__name__}"
                )
        self._cache: collections.OrderedDict = collections.OrderedDict()  # key -> [_Trace]
        self._eager = False
        self._calls = 0
        self.traces = 0  # how many graphs were traced (a test and the curious can read it)

    @property
    def eager(self) -> bool:
        """True once tracing failed: the function then runs eagerly."""
        return self._eager

    def __getattr__(self, name):  # a compiled Module still answers as the Module
        module = self.__dict__.get("module")
        if module is None:
            raise AttributeError(name)
        return getattr(module, name)

    def __call__(self, *args, **kwargs):
        if _profile_hook is not None:  # lucid.profiler times the call (it calls again: PASS)
            out = _profile_hook(self, args, kwargs)
            if out is not PASS:
                return out
        self._calls += 1
        if self._eager:
            return self.fn(*args, **kwargs)
        leaves, spec = pytree.flatten((args, kwargs))
        arg_key, inputs, kinds, objects = _describe_args(leaves)
        key = (spec, arg_key, _modes())
        for trace in self._cache.get(key, ()):
            if trace.guards.holds():
                state, setters, sig = trace.slots.read()
                if sig == trace.sig:
                    self._cache.move_to_end(key)
                    return self._run(trace, state, setters, inputs, leaves)
        if self._calls == 1 and self.module is None:
            return self.fn(*args, **kwargs)  # the first call creates lazily made state
        trace = _Trace(self.fn, self._find(objects), spec, leaves, kinds)
        trace.cache_key = key
        state, setters, trace.sig = trace.slots.read()
        try:
            return self._run(trace, state, setters, inputs, leaves, fresh=True)
        except _StateAdded:  # the step created state (a first optimizer step): once eagerly
            return self.fn(*args, **kwargs)
        except BaseException as err:
            trace.slots.restore(trace.snap)
            if isinstance(err, Exception) and _is_read_error(err):
                self._eager = True
                warnings.warn(
                    f"lucid.compile: {getattr(self.fn, '__name__', 'the function')} reads "
                    f"a device value back to the host, which a compiled graph cannot "
                    f"do; it runs eagerly from now on ({err})",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return self.fn(*args, **kwargs)
            raise

    def _find(self, objects):
        roots = [(self.fn, getattr(self.fn, "__qualname__", type(self.fn).__name__))]
        roots += [(o, f"state[{i}]") for i, o in enumerate(self.state)]
        roots += [(o, f"argument {type(o).__name__}") for o in objects]
        return _guards.find(roots)

    def _run(self, trace, state, setters, inputs, leaves, fresh=False):
        if fresh:
            trace.grad_owners = [t for t in trace.slots.tensors() if t.grad is not None]
            trace.arg_grads_in = [
                i
                for i, k in enumerate(trace.kinds)
                if k is not None and isinstance(leaves[i], Tensor) and leaves[i].grad is not None
            ]
        grads = [t.grad.data for t in trace.grad_owners]
        arg_grads = [leaves[i].grad.data for i in trace.arg_grads_in]
        rng = runtime.rng_key() if fresh or trace.draws else _unused_key()
        unique, index = _share(state)
        if fresh:
            trace.state_index = index
        try:
            state_out, grads_out, (key_out,), outputs, arg_grads_out, checks = trace.compiled(
                [unique, grads, rng, inputs, arg_grads]
            )
        finally:
            if fresh:
                trace.slots.restore(trace.snap)  # the trace left placeholders behind
        if fresh:
            self._admit(trace, leaves)
        for (put, write_back), j in zip(setters, trace.out_index):
            if write_back:
                put(state_out[j])
        # the graph made these gradients for these tensors: their shapes and dtypes match, so
        # the checked ``grad`` setter is skipped
        for t in trace.grad_owners:  # the others have no gradient already
            t._grad = None
        for t, g in zip(trace.grad_owners_out, grads_out):
            t._grad = Tensor._wrap(g, t._device)
        for i, g in zip(trace.arg_grads, arg_grads_out):
            leaves[i]._grad = Tensor._wrap(g, leaves[i]._device)
        for (size, what), bad, indices in zip(trace.checks, checks[::2], checks[1::2]):
            B.defer_index_check(bad, indices, size, what)
        if trace.draws:
            runtime.set_rng_key(key_out)
            B.evaluate(*state_out, *grads_out, *outputs, *arg_grads_out, key_out)
        else:
            B.evaluate(*state_out, *grads_out, *outputs, *arg_grads_out)  # the one evaluation
        if not trace.trains and is_grad_enabled() and any(trace.out_requires):
            return trace.rebuild(outputs, _Differentiable(trace, state, inputs, leaves, rng).wrap)
        return trace.rebuild(outputs)

    def _admit(self, trace, leaves):
        """Checks on a fresh trace, then keep it."""
        changed = trace.guards.changed()
        if changed:
            raise RuntimeError(
                "lucid.compile: the function changed Python state while it was traced, which "
                "a compiled graph cannot repeat (its Python code runs only when traced): "
                + "; ".join(changed[:5])
                + ". Change such values outside the compiled function, or return them"
            )
        if trace.sig_out != trace.sig:
            raise _StateAdded
        if trace.trains:
            for i, kind in enumerate(trace.kinds):
                if kind is not None and kind[1] and leaves[i]._node is not None:
                    raise TypeError(
                        f"lucid.compile: an argument (leaf {i}) is the output of recorded ops "
                        f"(grad_fn={leaves[i]._node.name}) and the compiled step calls "
                        f"backward, which cannot reach outside the graph: detach it, or "
                        f"compute it inside the compiled function"
                    )
        self.traces += 1
        self._cache.setdefault(trace.cache_key, []).append(trace)
        while sum(len(v) for v in self._cache.values()) > self.cache_size:
            oldest = next(iter(self._cache))
            self._cache[oldest].pop(0)  # frees that graph's MLX compile cache entry
            if not self._cache[oldest]:
                del self._cache[oldest]


class _Differentiable:
    """Records a compiled forward's outputs on the tape; their backward is a second compiled
    graph that recomputes the forward (same state, inputs and random key) and differentiates
    it."""

    def __init__(self, trace, state, inputs, leaves, rng):
        self.trace, self.state, self.inputs, self.rng = trace, state, inputs, rng
        params = [t for t in trace.slots.tensors() if t.requires_grad]
        args = [leaves[i] for i, k in enumerate(trace.kinds) if k is not None and k[1]]
        self.parents = tuple(params + args)

    def wrap(self, i, array, device):
        """Output ``i``: a Tensor recorded with the compiled backward."""
        trace = self.trace
        if not trace.out_requires[i]:
            return Tensor._wrap(array, device)

        def backward(g):
            compiled = trace.backward_graphs.get(i)
            if compiled is None:
                compiled = trace.backward_graphs[i] = runtime.compile_function(
                    lambda arrays: trace._pure_backward(arrays, i)
                )
            snap = trace.slots.snapshot()
            try:
                return tuple(compiled([self.state, self.rng, self.inputs, g]))
            finally:
                trace.slots.restore(snap)

        out = graph.record(array, self.parents, backward, "Compiled")
        out._device = device
        return out


def _share(arrays) -> tuple[list, tuple]:
    """(distinct arrays, for each position the index of its array among them)."""
    first: dict = {}
    unique: list = []
    index = []
    for a in arrays:
        j = first.get(id(a))
        if j is None:
            j = first[id(a)] = len(unique)
            unique.append(a)
        index.append(j)
    return unique, tuple(index)


class _StateAdded(Exception):
    """A fresh trace created state (e.g. an optimizer's first step): run once eagerly."""


_UNUSED_KEY: list = []


def _unused_key():
    """The key input of a trace that draws no random numbers: a constant, so the generator is
    not advanced (and no lazy chain of keys grows) by calls that do not use it."""
    if not _UNUSED_KEY:
        _UNUSED_KEY.append(B.zeros((2,), dtype=B.DTYPES["uint32"]))
    return _UNUSED_KEY[0]


def _is_stateful(obj) -> bool:
    from lucid.amp import GradScaler
    from lucid.optim.optimizer import Optimizer
    from lucid.random import Generator

    return isinstance(obj, (Optimizer, GradScaler, Generator))


def compile(fn=None, *, state=None, cache_size: int = 8):
    """Compile a step function or a Module's forward into one MLX graph; see the module
    docstring.

    ``state``: extra Modules, Optimizers, GradScalers, Generators or Tensors to capture (those
    the function reaches are found). ``cache_size``: how many traces are kept. Usable as
    ``@lucid.compile``, ``@lucid.compile(cache_size=...)`` and ``lucid.compile(model)``.
    """
    if fn is None:
        return lambda f: CompiledFunction(f, state, cache_size)
    return CompiledFunction(fn, state, cache_size)
