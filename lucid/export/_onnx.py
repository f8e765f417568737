"""The ONNX writer: a traced ``Graph`` as an ONNX model, with the ``onnx`` package.

Each recorded op has one translation in ``lucid.export._onnx_ops`` (a table keyed by the op's
name); an op without one is refused with its name. Constants (parameters, buffers, values
computed from them) become initializers, named after their state_dict entry where they have one.
Before the file is written the model is checked twice: ``onnx.checker`` and ONNX's shape
inference, whose static shapes must equal the traced ones for every value.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lucid.export._trace import ExportError, Graph, Node, Value

DEFAULT_OPSET = 17
MIN_OPSET = 17
_EXTERNAL_DATA_BYTES = 1 << 30  # protobuf's 2 GiB limit: larger weights go beside the file
_SMALL_BYTES = 4096  # initializers kept in the graph while it is checked (shapes, axes...)

_NP = {
    "float32": np.float32,
    "float16": np.float16,
    "float64": np.float64,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint32": np.uint32,
    "bool": np.bool_,
}


def np_dtype(name: str):
    """The numpy dtype of a Lucid dtype name (bfloat16 is refused: numpy has none)."""
    try:
        return np.dtype(_NP[name])
    except KeyError:
        raise ExportError(
            f"export: dtype {name} cannot be written; cast the model to float32 or float16"
        ) from None


def import_onnx():
    """The ``onnx`` package, or an ImportError naming the extra that installs it."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "lucid.export.onnx needs the onnx package: pip install lucid[export]"
        ) from exc
    return onnx


class Writer:
    """Builds the ONNX graph: names values, adds initializers and nodes."""

    def __init__(self, onnx, graph: Graph, opset: int):
        self.onnx = onnx
        self.helper = onnx.helper
        self.graph = graph
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[tuple[str, np.ndarray]] = []  # (name, values)
        self.names: dict[int, str] = {}
        self.used: set[str] = set()
        self.counter = itertools.count()
        self.node: Node | None = None  # the op being translated, for messages
        self.translate_op: Any = None  # lucid.export._onnx_ops.translate
        self.table: Any = {}  # and its table of translations

    def translate(self, node: Node) -> None:
        """Add the nodes of one recorded op (a composite without a translation of its own: of
        its parts) and name its outputs."""
        if node.parts is not None and node.op not in self.table:
            for part in node.parts:
                self.translate(part)
            return
        outer, self.node = self.node, node
        outs: list = [self.fresh(node.op) if o is not None else None for o in node.outputs]
        self.translate_op(self, node, outs)
        for o, name in zip(node.outputs, outs):
            if o is not None:
                self.names[id(o)] = name
        self.node = outer

    # -- names and constants ------------------------------------------------------------------
    def fresh(self, hint: str = "t") -> str:
        """A new unique value name."""
        while True:
            name = f"{hint}_{next(self.counter)}"
            if name not in self.used:
                self.used.add(name)
                return name

    def claim(self, name: str) -> str:
        """``name`` itself if free, else a numbered variant."""
        if name and name not in self.used:
            self.used.add(name)
            return name
        return self.fresh(name or "t")

    def const(self, array, hint: str = "const") -> str:
        """An initializer holding ``array``."""
        array = np.asarray(array)
        name = self.fresh(hint)
        self.initializers.append((name, array))
        return name

    def ints(self, values, hint: str = "ints") -> str:
        """A 1-D int64 initializer (shapes, axes, pads)."""
        return self.const(np.asarray(list(values), dtype=np.int64), hint)

    def scalar(self, value, dtype: str, hint: str = "scalar") -> str:
        """A 0-d initializer of Lucid dtype ``dtype``."""
        return self.const(np.asarray(value, dtype=np_dtype(dtype)), hint)

    def name(self, v: Value) -> str:
        """The ONNX name of a traced value (an initializer for a constant)."""
        key = id(v)
        if key not in self.names:
            if not v.is_const:
                raise ExportError("export: internal error: a value used before it was made")
            array = v.array.astype(np_dtype(v.dtype), copy=False)
            name = self.claim(v.name) if v.name else self.fresh("const")
            self.initializers.append((name, array))
            self.names[key] = name
        return self.names[key]

    def operand(self, a, dtype: str) -> str:
        """The ONNX name of an operand (a Value or a Python number) in dtype ``dtype``."""
        if isinstance(a, Value):
            name = self.name(a)
            return name if a.dtype == dtype else self.cast(name, dtype)
        if isinstance(a, (bool, int, float, np.generic)):
            return self.scalar(a, dtype)
        raise ExportError(
            f"export: op {self.where()} has an operand of type {type(a).__name__} that "
            "cannot be exported"
        )

    def cast(self, name: str, dtype: str) -> str:
        """``name`` cast to Lucid dtype ``dtype``."""
        to = self.helper.np_dtype_to_tensor_dtype(np_dtype(dtype))
        return self.emit("Cast", [name], to=int(to))

    def where(self) -> str:
        return self.node.describe() if self.node is not None else "?"

    # -- nodes --------------------------------------------------------------------------------
    def emit(self, op_type: str, inputs: Sequence[str], out: str | None = None, **attrs) -> str:
        """Add one node with one output (named ``out``, or a fresh name) and return its name."""
        out = out or self.fresh(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def emit_multi(self, op_type: str, inputs: Sequence[str], n_out: int, **attrs) -> list[str]:
        """Add one node with ``n_out`` outputs."""
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs

    def reduce(self, op_type: str, x: str, axes, keepdims: bool, out: str | None = None) -> str:
        """A Reduce* node over ``axes`` (an input from opset 18 on, ReduceSum from 13)."""
        axes = [int(a) for a in axes]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.emit(op_type, [x, self.ints(axes, "axes")], out, keepdims=int(keepdims))
        return self.emit(op_type, [x], out, axes=axes, keepdims=int(keepdims))

    def unsqueeze(self, x: str, axes, out: str | None = None) -> str:
        """Insert size-1 axes (positions in the output)."""
        return self.emit("Unsqueeze", [x, self.ints(axes, "axes")], out)

    def squeeze(self, x: str, axes, out: str | None = None) -> str:
        """Remove size-1 axes."""
        return self.emit("Squeeze", [x, self.ints(axes, "axes")], out)

    def reshape(self, x: str, target, out: str | None = None, allowzero: bool = False) -> str:
        """Reshape to ``target`` (0 copies the input's size there unless ``allowzero``, -1 is
        inferred)."""
        attrs = {"allowzero": 1} if allowzero else {}
        return self.emit("Reshape", [x, self.ints(target, "shape")], out, **attrs)

    def channel_vector(self, v: Value, ndim: int, dtype: str) -> str:
        """A per-channel vector (C,) shaped (C, 1, ..., 1) to broadcast along axis 1 of an
        ``ndim``-d tensor."""
        shape = (-1,) + (1,) * (ndim - 2)
        if v.is_const:
            return self.const(v.array.astype(np_dtype(dtype)).reshape(shape), "channel")
        return self.reshape(self.operand(v, dtype), shape)


def _dims(value: Value, labels: Mapping[int, str], default: str) -> list:
    dims: list = list(value.shape)
    dynamic = set(value.dynamic_axes())
    for ax in dynamic:
        dims[ax] = labels.get(ax, f"{default}_dim{ax}")
    for ax, label in labels.items():
        dims[ax] = label
    return dims


def build(
    onnx,
    graph: Graph,
    opset: int,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
):
    """The ONNX ModelProto of a traced graph."""
    from lucid.export._onnx_ops import TABLE, translate

    helper = onnx.helper
    w = Writer(onnx, graph, opset)
    inputs_vi = []
    for v, name in zip(graph.inputs, input_names):
        w.names[id(v)] = w.claim(name)
        elem = helper.np_dtype_to_tensor_dtype(np_dtype(v.dtype))
        inputs_vi.append(
            helper.make_tensor_value_info(name, elem, _dims(v, dynamic_axes.get(name, {}), name))
        )
    w.used.update(output_names)
    w.translate_op, w.table = translate, TABLE
    for node in graph.nodes:
        w.translate(node)
    w.node = None
    outputs_vi = []
    labels_of_inputs = {}
    for v, name in zip(graph.inputs, input_names):
        for ax, label in dynamic_axes.get(name, {}).items():
            labels_of_inputs[(v.shape[ax], v.shape2[ax] if v.shape2 else None)] = label
    for v, name in zip(graph.outputs, output_names):
        w.emit("Identity", [w.name(v)], name)
        labels = dict(dynamic_axes.get(name, {}))
        for ax in v.dynamic_axes():  # an output size that follows an input's dynamic axis
            key = (v.shape[ax], v.shape2[ax] if v.shape2 else None)
            labels.setdefault(ax, labels_of_inputs.get(key, f"{name}_dim{ax}"))
        elem = helper.np_dtype_to_tensor_dtype(np_dtype(v.dtype))
        outputs_vi.append(helper.make_tensor_value_info(name, elem, _dims(v, labels, name)))
    # The weights stay out of the graph until the checks have run: they read only shapes, so
    # the large initializers are declared as inputs meanwhile (no 100 MB copies to check).
    small = [(n, a) for n, a in w.initializers if a.nbytes <= _SMALL_BYTES]
    declared = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape))
        for n, a in w.initializers
        if a.nbytes > _SMALL_BYTES
    ]
    inits = [onnx.numpy_helper.from_array(a, n) for n, a in small]
    g = helper.make_graph(w.nodes, "lucid", inputs_vi + declared, outputs_vi, inits)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(g, opset_imports=opsets, producer_name="lucid")
    model.ir_version = helper.find_min_ir_version_for(opsets)
    return model, w


def add_weights(onnx, model, w: Writer) -> None:
    """Move the large initializers, declared as inputs by ``build``, into the graph."""
    graph = model.graph
    big = [(n, a) for n, a in w.initializers if a.nbytes > _SMALL_BYTES]
    del graph.input[len(graph.input) - len(big) :]
    for name, array in big:
        t = graph.initializer.add()
        t.name = name
        t.data_type = onnx.helper.np_dtype_to_tensor_dtype(array.dtype)
        t.dims.extend(array.shape)
        little = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"), copy=False))
        t.raw_data = little.tobytes()


def check_shapes(onnx, model, graph: Graph, w: Writer) -> None:
    """ONNX's shape inference must give every traced value its traced static shape."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    values = [o for n in graph.nodes for o in n.outputs if o is not None]
    for v in values:
        name = w.names.get(id(v))
        got = shapes.get(name)
        if got is None:
            continue
        dynamic = set(v.dynamic_axes())
        want = [None if i in dynamic else n for i, n in enumerate(v.shape)]
        if len(got) != len(want) or any(
            g is not None and s is not None and g != s for g, s in zip(got, want)
        ):
            raise ExportError(
                f"export: internal error: ONNX infers shape {got} for {name}, traced {want}"
            )


def export(
    graph: Graph,
    path,
    *,
    opset: int | None,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
) -> None:
    """Write ``graph`` to ``path`` as ONNX (checked) and return nothing."""
    onnx = import_onnx()
    opset = DEFAULT_OPSET if opset is None else opset
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"lucid.export.onnx: opset must be an int from {MIN_OPSET} to {newest} (the "
            f"installed onnx's newest), got {opset!r}"
        )
    model, w = build(onnx, graph, opset, input_names, output_names, dynamic_axes)
    try:
        onnx.checker.check_model(model)
        check_shapes(onnx, model, graph, w)
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(
            f"export: internal error: the ONNX model fails its checks: {exc}"
        ) from exc
    path = os.fspath(path)
    add_weights(onnx, model, w)
    large = sum(a.nbytes for _, a in w.initializers) > _EXTERNAL_DATA_BYTES
    onnx.save_model(
        model,
        path,
        save_as_external_data=large,
        all_tensors_to_one_file=True,
        location=os.path.basename(path) + ".data",
    )
