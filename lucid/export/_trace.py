"""The one tracer behind every export format: a model's forward, recorded op by op.

Every Lucid op goes through the ``op`` wrapper of lucid/ops/_util.py, which calls a trace hook
when one is installed. While ``trace`` runs, the hook records each *outermost* op call (an op
that an op calls runs inside it and is not recorded) with its bound arguments: the parameters
that define it (stride, padding, eps, mode, ...) exactly as the op received them. A composite
op (``COMPOSITE``: interpolation) is recorded together with the ops it is made of, so a format
without a translation of the whole translates its parts.

The forward runs under MLX's export tracing (``lucid._backend.export.trace_function``): the
inputs are placeholders and nothing is computed. That is also how the tracer knows what is a
constant: a tensor that no recorded op produced (a parameter, a buffer, a value computed from
them) is a constant if MLX can evaluate it, and an error if it cannot, because then it was
computed from the input outside the recorded ops (``argmax``, a comparison, raw ``.data``
arithmetic...), which an exported graph would silently freeze. Ops whose tensor arguments are
all constants are folded into constants.

With dynamic axes the forward is traced a second time with those axes doubled in size; the two
recordings must match node for node, and the sizes that differ mark the dynamic dimensions
(``Value.shape2``), so a writer can express a reshape of a batch it does not know in advance,
and refuses what it cannot express.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lucid import _backend as B
from lucid._backend import export as BX
from lucid.autograd import no_grad
from lucid.ops import _util
from lucid.tensor import Tensor

__all__ = ["ExportError", "Graph", "Node", "Value", "trace"]

# Composite ops: recorded with their arguments *and* with the ops they are built from
# (``Node.parts``), so a writer translates the whole where it can and the parts otherwise.
COMPOSITE = frozenset({"interpolate"})


class ExportError(RuntimeError):
    """A model (or one of its ops) that an export format cannot express."""


@dataclass(eq=False)
class Value:
    """A tensor of the traced graph: an input, an op's output or a constant (``const``)."""

    shape: tuple[int, ...]
    dtype: str
    const: np.ndarray | None = None
    name: str = ""  # a parameter's or buffer's state_dict name, for readable exports
    shape2: tuple[int, ...] | None = None  # the shape in the second trace (dynamic axes)

    @property
    def array(self) -> np.ndarray:
        """A constant's values."""
        if self.const is None:
            raise ExportError("export: internal error: a constant's value of a computed tensor")
        return self.const

    @property
    def is_const(self) -> bool:
        """True for a constant (a parameter, a buffer, or a value computed from them)."""
        return self.const is not None

    def dynamic_axes(self) -> tuple[int, ...]:
        """The axes whose size follows the dynamic axes of the inputs."""
        if self.shape2 is None:
            return ()
        return tuple(i for i, (a, b) in enumerate(zip(self.shape, self.shape2)) if a != b)


@dataclass(eq=False)
class Node:
    """One recorded op call: ``op`` (the op's name), its bound ``args`` (tensors replaced by
    Values) and ``outputs`` (one Value per tensor the op returned, None for anything else)."""

    op: str
    where: str
    args: dict[str, Any]
    outputs: tuple[Value | None, ...]
    varying: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    parts: list[Node] | None = None  # a composite op's recorded parts

    def describe(self) -> str:
        """The op's name and module, for messages."""
        return f"'{self.op}' ({self.where})"


@dataclass(eq=False)
class Graph:
    """A traced forward: inputs, ops in execution order, outputs."""

    inputs: list[Value]
    nodes: list[Node]
    outputs: list[Value]


_SIGNATURES: dict = {}


def _signature(fn):
    sig = _SIGNATURES.get(fn)
    if sig is None:
        sig = _SIGNATURES[fn] = inspect.signature(fn)
    return sig


def _run_op(fn, args, kwargs):
    """The op ``fn`` as ``op(fn)`` runs it without a trace hook (its device's stream)."""
    if _util._autocast_hook is not None:
        args, kwargs = _util._autocast_hook(fn, args, kwargs)
    device = _util._device_of(args)
    if device == B.default_device_name():
        return fn(*args, **kwargs)
    with B.device_scope(device):
        return fn(*args, **kwargs)


class _Recorder:
    """The trace hook of one traced forward (only ops of the tracing thread are recorded)."""

    def __init__(self, names: Mapping[int, str], constants: dict):
        self.thread = threading.get_ident()
        self.constants = constants  # id(tensor) -> (tensor, version, values), shared by traces
        self.depth = 0
        self.names = names  # id(parameter or buffer) -> its state_dict name
        self.values: dict[int, tuple[Tensor, int, Value]] = {}  # id -> (tensor, version, value)
        self.nodes: list[Node] = []
        self.inputs: list[Value] = []
        # id(backend array) -> (array, value): a tensor sharing a traced tensor's array
        # (``detach()``, ``Tensor._wrap(x.data)``) is that value
        self.arrays: dict[int, tuple[Any, Value]] = {}

    def _track(self, t: Tensor, v: Value) -> None:
        self.values[id(t)] = (t, t._version, v)
        self.arrays[id(t.data)] = (t.data, v)

    # -- values -------------------------------------------------------------------------------
    def add_input(self, t: Tensor) -> Value:
        v = Value(tuple(t.shape), t.dtype.name)
        self._track(t, v)
        self.inputs.append(v)
        return v

    def value_of(self, t: Tensor, user: str) -> Value:
        """The Value of tensor ``t``, used by ``user`` (an op's description, for messages)."""
        entry = self.values.get(id(t))
        if entry is not None and entry[0] is t and t._version == entry[1]:
            return entry[2]
        # a tensor holding a traced array: ``detach()``, ``Tensor._wrap(x.data)``, or a tensor
        # whose values an in-place op replaced (``y += 1`` writes the add's result into ``y``)
        alias = self.arrays.get(id(t.data))
        if alias is not None and alias[0] is t.data:
            self.values[id(t)] = (t, t._version, alias[1])
            return alias[1]
        if entry is not None and entry[0] is t and not entry[2].is_const:
            raise ExportError(
                f"{user} reads a tensor that was written in place by something other than a "
                "recorded op (x[...] = v, an out= argument...): write the model with "
                "out-of-place ops"
            )
        cached = self.constants.get(id(t))
        if cached is not None and cached[0] is t and cached[1] == t._version:
            value = cached[2]
        else:
            value = BX.constant_value(t.data)
            if value is not None and id(t) in self.names:  # parameters and buffers
                self.constants[id(t)] = (t, t._version, value)
        if value is None:
            raise ExportError(
                f"{user} uses a tensor computed from the model's input outside Lucid's "
                "recorded ops (argmax, a comparison, a reduction to a Python number, "
                "arithmetic on .data...); exporting it would freeze one input's result into "
                "the graph. Compute it with differentiable Lucid ops, or outside the model"
            )
        v = Value(tuple(t.shape), t.dtype.name, const=value, name=self.names.get(id(t), ""))
        self.values[id(t)] = (t, t._version, v)
        return v

    def _convert(self, a, user):
        if isinstance(a, Tensor):
            return self.value_of(a, user)
        if isinstance(a, B.Array):  # a backend array passed to an op directly
            alias = self.arrays.get(id(a))
            if alias is not None and alias[0] is a:
                return alias[1]
            value = BX.constant_value(a)
            if value is None:
                raise ExportError(f"{user} gets a backend array computed from the model's input")
            return value
        if isinstance(a, (list, tuple)) and not hasattr(a, "_fields"):
            return type(a)(self._convert(x, user) for x in a)
        if isinstance(a, dict):
            return {k: self._convert(x, user) for k, x in a.items()}
        return a

    # -- the hook -----------------------------------------------------------------------------
    def hook(self, public, args, kwargs):
        fn = public.__wrapped__
        if self.depth or threading.get_ident() != self.thread:
            return _run_op(fn, args, kwargs)
        name = public.__name__
        where = f"{public.__module__}.{public.__qualname__}"
        user = f"op '{name}' ({where})"
        bound = _signature(fn).bind(*args, **kwargs)
        bound.apply_defaults()
        recorded = {k: self._convert(a, user) for k, a in bound.arguments.items()}
        composite = name in COMPOSITE
        start = len(self.nodes)
        if not composite:
            self.depth += 1
        try:
            out = _run_op(fn, args, kwargs)
        except ExportError:
            raise
        except Exception as exc:
            limit = trace_limit(exc, user)
            if limit is None:
                raise
            raise limit from exc
        finally:
            if not composite:
                self.depth -= 1
        outs = _flat_outputs(out)
        if composite:  # its parts are recorded: its outputs are theirs
            parts = self.nodes[start:]
            if parts:
                del self.nodes[start:]
                values = tuple(
                    self.value_of(t, user) if isinstance(t, Tensor) else None for t in outs
                )
                self.nodes.append(Node(name, where, recorded, values, parts=parts))
            return out
        dynamic = any(not v.is_const for v in _values_in(recorded))
        if not dynamic:  # all operands constant: the results are constants too
            for t in outs:
                if isinstance(t, Tensor):
                    self.value_of(t, user)
            return out
        values: list[Value | None] = []
        for t in outs:
            if isinstance(t, Tensor):
                v = Value(tuple(t.shape), t.dtype.name)
                self._track(t, v)
                values.append(v)
            elif isinstance(t, (bool, int, float)) or t is None or isinstance(t, B.Array):
                values.append(None)  # a backend array (statistics) or a Python value: unused
            else:
                raise ExportError(f"{user} returned a {type(t).__name__}, which cannot be traced")
        self.nodes.append(Node(name, where, recorded, tuple(values)))
        return out


def trace_limit(exc: BaseException, where: str) -> ExportError | None:
    """The ExportError for an exception that says a value of the input was needed (a host
    read-back or an evaluation, which a traced forward cannot do), else None."""
    text = str(exc)
    if "host read-back" in text or "function transformations" in text:
        return ExportError(
            f"export: {where} needs the values of the input (item(), numpy(), bool(), a "
            "tensor used as an index or a size...), which an exported graph cannot know "
            "in advance; compute it with tensor ops, or outside the model"
        )
    return None


def _flat_outputs(out) -> tuple:
    if isinstance(out, (tuple, list)):
        return tuple(out)
    return (out,)


def _values_in(a):
    if isinstance(a, Value):
        yield a
    elif isinstance(a, (list, tuple)):
        for x in a:
            yield from _values_in(x)
    elif isinstance(a, dict):
        for x in a.values():
            yield from _values_in(x)


@contextlib.contextmanager
def _eval_mode(model):
    """``model`` in eval mode (its modules' modes restored afterwards), without gradients."""
    modes = [(m, m.training) for m in model.modules()] if hasattr(model, "modules") else []
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            yield
    finally:
        for m, mode in modes:
            m.training = mode


def as_inputs(example_inputs) -> tuple[Tensor, ...]:
    """The example inputs as a tuple of Tensors (one Tensor or a sequence of them)."""
    items = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    if not items:
        raise ValueError("export: example_inputs is empty; give one example Tensor per input")
    out = []
    for i, x in enumerate(items):
        if isinstance(x, Tensor):
            out.append(x)
        elif isinstance(x, np.ndarray):
            out.append(Tensor(x))
        else:
            raise TypeError(
                f"export: example input {i} must be a lucid.Tensor or a numpy array, "
                f"got {type(x).__name__}"
            )
    return tuple(out)


def _state_names(model) -> dict[int, str]:
    if not hasattr(model, "state_dict"):
        return {}
    return {id(t): k for k, t in model.state_dict(keep_vars=True).items()}


def _trace_once(model, inputs: Sequence[Tensor], names, constants) -> Graph:
    rec = _Recorder(names, constants)
    result: dict[str, Any] = {}

    def forward(*arrays):
        tensors = [Tensor._wrap(a, x._device) for a, x in zip(arrays, inputs)]
        for t in tensors:
            rec.add_input(t)
        _util.set_trace_hook(rec.hook)
        try:
            out = model(*tensors)
        except ExportError:
            raise
        except Exception as exc:
            limit = trace_limit(exc, "the model's forward")
            if limit is None:
                raise
            raise limit from exc
        finally:
            _util.set_trace_hook(None)
        flat = _flat_outputs(out)
        if not flat or not all(isinstance(t, Tensor) for t in flat):
            raise ExportError(
                "export: the model must return a Tensor or a tuple/list of Tensors, got "
                f"{type(out).__name__}"
                + ("" if not isinstance(out, (tuple, list)) else " holding other objects")
            )
        result["outputs"] = [rec.value_of(t, "the model's output") for t in flat]
        return [t.data for t in flat]

    BX.trace_function(forward, [x.data for x in inputs])
    return Graph(rec.inputs, rec.nodes, result["outputs"])


_LOCK = threading.Lock()  # one trace at a time: the op wrapper has one hook


def trace(model, example_inputs, dynamic: Mapping[int, Sequence[int]] | None = None) -> Graph:
    """Trace ``model(*example_inputs)`` in eval mode into a ``Graph``. ``dynamic`` maps an input's
    position to its dynamic axes; with any, a second trace (those axes doubled) marks which
    sizes follow them (``Value.shape2``, ``Node.varying``)."""
    inputs = as_inputs(example_inputs)
    names = _state_names(model)
    with _LOCK, _eval_mode(model):
        constants: dict = {}
        graph = _trace_once(model, inputs, names, constants)
        if dynamic and any(dynamic.values()):
            grown = []
            for i, x in enumerate(inputs):
                shape = list(x.shape)
                for ax in dynamic.get(i, ()):
                    shape[ax] = 2 * shape[ax] if shape[ax] else 1
                grown.append(Tensor._wrap(B.zeros(tuple(shape), dtype=x.data.dtype), x._device))
            try:
                second = _trace_once(model, grown, names, constants)
            except ExportError:
                raise
            except Exception as exc:
                raise ExportError(
                    f"export: the model fails when its dynamic axes change size ({exc}); "
                    "check dynamic_axes"
                ) from exc
            _merge(graph, second)
    return graph


def _merge(g1: Graph, g2: Graph) -> None:
    """Check that two traces are the same graph and note, on ``g1``, what differs."""
    pairs: dict[int, Value] = {}
    for a, b in zip(g1.inputs, g2.inputs):
        pairs[id(a)] = b
    _merge_nodes(g1.nodes, g2.nodes, pairs)
    for o1, o2 in zip(g1.outputs, g2.outputs):
        _same(o1, o2, pairs, None, "output")
    for a, b in zip(g1.inputs, g2.inputs):
        a.shape2 = b.shape
    for v in _all_outputs(g1.nodes):
        v.shape2 = pairs[id(v)].shape


def _all_outputs(nodes):
    for n in nodes:
        yield from (o for o in n.outputs if o is not None)
        if n.parts:
            yield from _all_outputs(n.parts)


def _merge_nodes(nodes1, nodes2, pairs) -> None:
    if len(nodes1) != len(nodes2) or any(a.op != b.op for a, b in zip(nodes1, nodes2)):
        raise ExportError(
            "export: the model runs different ops when its dynamic axes change size "
            "(Python control flow on shapes); export with static shapes instead"
        )
    for n1, n2 in zip(nodes1, nodes2):
        for key, a1 in n1.args.items():
            if not _same(a1, n2.args[key], pairs, n1, key):
                n1.varying[key] = (a1, n2.args[key])
        if n1.parts is not None:
            _merge_nodes(n1.parts, n2.parts or [], pairs)
        for o1, o2 in zip(n1.outputs, n2.outputs):
            if o1 is not None and o2 is not None:
                pairs[id(o1)] = o2


def _same(a1, a2, pairs, node, key) -> bool:
    """True when two recorded arguments are the same; Values must correspond (an error if a
    constant depends on the dynamic axes)."""
    if isinstance(a1, Value) or isinstance(a2, Value):
        if not (isinstance(a1, Value) and isinstance(a2, Value)):
            return False
        if a1.is_const != a2.is_const:
            raise ExportError(_dependence(node, key))
        if a1.is_const:
            c1, c2 = a1.array, a2.array
            if c1 is not c2 and (
                c1.shape != c2.shape or not np.array_equal(c1, c2, equal_nan=True)
            ):
                raise ExportError(_dependence(node, key))
            return True
        if pairs.get(id(a1)) is not a2:
            raise ExportError(_dependence(node, key))
        return True
    if isinstance(a1, (list, tuple)) and isinstance(a2, (list, tuple)):
        if len(a1) != len(a2):
            return False
        results = [_same(x, y, pairs, node, key) for x, y in zip(a1, a2)]
        return all(results)
    if isinstance(a1, np.ndarray) or isinstance(a2, np.ndarray):
        return (
            isinstance(a1, np.ndarray)
            and isinstance(a2, np.ndarray)
            and a1.shape == a2.shape
            and bool(np.array_equal(a1, a2))
        )
    try:
        return bool(a1 == a2) and type(a1) is type(a2)
    except Exception:  # noqa: BLE001 (objects without a usable ==)
        return a1 is a2


def _dependence(node, key) -> str:
    where = f"op {node.describe()}, argument {key!r}" if node is not None else "the output"
    return (
        f"export: {where} is a constant whose value depends on the size of the dynamic axes "
        "(a tensor made from the input's shape); it cannot be expressed for every size"
    )
