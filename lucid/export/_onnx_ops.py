"""ONNX translations of Lucid's ops, one function per recorded op name (``TABLE``).

Each function gets the writer, the recorded node, its bound arguments (tensors as Values) and the
names its outputs must have, and adds the nodes that compute exactly what the Lucid op computes
(the same formulas and parameters; float rounding may differ). Anything outside what a
translation supports raises ExportError naming the op and the argument.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from lucid.export import _plan as P
from lucid.export._onnx import Writer, np_dtype
from lucid.export._trace import ExportError, Node, Value
from lucid.ops._util import normalize_axes

# Arguments that may differ between the two traces of a dynamic-axes export (the translation
# reads the traced shapes instead).
VARYING = {"reshape": {"shape"}, "broadcast_to": {"shape"}}


def translate(w: Writer, node: Node, outs: list) -> None:
    """Add the ONNX nodes of one recorded op (its outputs named ``outs``)."""
    fn = TABLE.get(node.op)
    if fn is None:
        raise ExportError(
            f"lucid.export.onnx: op {node.describe()} has no ONNX translation (supported: "
            f"{', '.join(sorted(TABLE))})"
        )
    varying = set(node.varying) - VARYING.get(node.op, set())
    if varying:
        key = sorted(varying)[0]
        a, b = node.varying[key]
        raise ExportError(
            f"export: op {node.describe()}: argument {key!r} depends on the size of the dynamic "
            f"axes ({a!r} at one size, {b!r} at another); export with static shapes"
        )
    fn(w, node, node.args, outs)


def _unsupported(node: Node, what: str):
    return ExportError(f"lucid.export.onnx: op {node.describe()}: {what} is not supported")


def _first(a: dict):
    return next(iter(a.values()))


def _out(node: Node) -> Value:
    out = node.outputs[0]
    assert out is not None
    return out


# --- elementwise ------------------------------------------------------------------------------
def _binary(op_type):
    def emit(w, node, a, outs):
        dt = _out(node).dtype
        x, y = list(a.values())[:2]
        w.emit(op_type, [w.operand(x, dt), w.operand(y, dt)], outs[0])

    return emit


def _unary(op_type, **attrs):
    def emit(w, node, a, outs):
        w.emit(op_type, [w.operand(_first(a), _out(node).dtype)], outs[0], **attrs)

    return emit


def _log1p(w, node, a, outs):
    dt = _out(node).dtype
    x = w.operand(_first(a), dt)
    w.emit("Log", [w.emit("Add", [x, w.scalar(1, dt)])], outs[0])


def _square(w, node, a, outs):
    x = w.operand(_first(a), _out(node).dtype)
    w.emit("Mul", [x, x], outs[0])


def _round(w, node, a, outs):
    dt = _out(node).dtype
    x = w.operand(a["x"], dt)
    d = int(a.get("decimals", 0))
    if d == 0:
        w.emit("Round", [x], outs[0])
        return
    scale = w.scalar(10.0**d, dt)
    w.emit("Div", [w.emit("Round", [w.emit("Mul", [x, scale])]), scale], outs[0])


def _trunc(w, node, a, outs):
    dt = _out(node).dtype
    x = w.operand(a["x"], dt)
    negative = w.emit("Less", [x, w.scalar(0, dt)])
    w.emit("Where", [negative, w.emit("Ceil", [x]), w.emit("Floor", [x])], outs[0])


def _floordiv(w, node, a, outs):
    dt = _out(node).dtype
    if not np.issubdtype(np_dtype(dt), np.floating):
        raise _unsupported(node, "integer floor division")
    w.emit("Floor", [w.emit("Div", [w.operand(a["a"], dt), w.operand(a["b"], dt)])], outs[0])


def _clamp(w, node, a, outs):
    dt = _out(node).dtype
    x = w.operand(_first(a), dt)
    lo, hi = a.get("min"), a.get("max")
    if not isinstance(lo, Value) and not isinstance(hi, Value):
        inputs = [x, "" if lo is None else w.scalar(lo, dt), "" if hi is None else w.scalar(hi, dt)]
        while inputs[-1] == "":
            inputs.pop()
        w.emit("Clip", inputs, outs[0])
        return
    y = x
    if lo is not None:
        y = w.emit("Max", [y, w.operand(lo, dt)], outs[0] if hi is None else None)
    if hi is not None:
        w.emit("Min", [y, w.operand(hi, dt)], outs[0])


def _where(w, node, a, outs):
    dt = _out(node).dtype
    cond = a["condition"]
    c = w.operand(cond, "bool")
    w.emit("Where", [c, w.operand(a["a"], dt), w.operand(a["b"], dt)], outs[0])


def _lerp(w, node, a, outs):
    dt = _out(node).dtype
    x, end, weight = (w.operand(a[k], dt) for k in ("input", "end", "weight"))
    step = w.emit("Mul", [weight, w.emit("Sub", [end, x])])
    w.emit("Add", [x, step], outs[0])


# --- activations ------------------------------------------------------------------------------
def _axis(a_dim, ndim):
    return normalize_axes(a_dim, ndim, "dim")[0]


def _softmax(op_type):
    def emit(w, node, a, outs):
        x = a["x"]
        w.emit(op_type, [w.name(x)], outs[0], axis=_axis(a["dim"], len(x.shape)))

    return emit


def _gelu(w, node, a, outs):
    dt = _out(node).dtype
    x = w.operand(a["x"], dt)
    approximate = a["approximate"]
    if w.opset >= 20:
        w.emit("Gelu", [x], outs[0], approximate=approximate)
        return
    half = w.emit("Mul", [x, w.scalar(0.5, dt)])
    if approximate == "tanh":
        cube = w.emit("Mul", [w.emit("Mul", [x, x]), x])
        inner = w.emit("Add", [x, w.emit("Mul", [cube, w.scalar(0.044715, dt)])])
        t = w.emit("Tanh", [w.emit("Mul", [inner, w.scalar(math.sqrt(2.0 / math.pi), dt)])])
    else:
        t = w.emit("Erf", [w.emit("Div", [x, w.scalar(math.sqrt(2.0), dt)])])
    w.emit("Mul", [half, w.emit("Add", [t, w.scalar(1.0, dt)])], outs[0])


def _silu(w, node, a, outs):
    x = w.name(a["x"])
    w.emit("Mul", [x, w.emit("Sigmoid", [x])], outs[0])


def _softplus(w, node, a, outs):
    dt = _out(node).dtype
    x = w.name(a["x"])
    beta, threshold = float(a["beta"]), float(a["threshold"])
    z = x if beta == 1.0 else w.emit("Mul", [x, w.scalar(beta, dt)])
    smooth = w.emit("Softplus", [z])
    if beta != 1.0:
        smooth = w.emit("Div", [smooth, w.scalar(beta, dt)])
    linear = w.emit("Greater", [z, w.scalar(threshold, dt)])
    w.emit("Where", [linear, x, smooth], outs[0])


def _hardtanh(w, node, a, outs):
    dt = _out(node).dtype
    lo, hi = w.scalar(a["min_val"], dt), w.scalar(a["max_val"], dt)
    w.emit("Clip", [w.name(a["x"]), lo, hi], outs[0])


def _selu(w, node, a, outs):
    from lucid.ops.activation import _SELU_ALPHA, _SELU_SCALE

    w.emit("Selu", [w.name(a["x"])], outs[0], alpha=_SELU_ALPHA, gamma=_SELU_SCALE)


def _mish(w, node, a, outs):
    x = w.name(a["x"])
    w.emit("Mul", [x, w.emit("Tanh", [w.emit("Softplus", [x])])], outs[0])


def _logsigmoid(w, node, a, outs):
    x = w.name(a["x"])
    w.emit("Neg", [w.emit("Softplus", [w.emit("Neg", [x])])], outs[0])


def _tanhshrink(w, node, a, outs):
    x = w.name(a["x"])
    w.emit("Sub", [x, w.emit("Tanh", [x])], outs[0])


def _shrink(soft):
    def emit(w, node, a, outs):
        lambd = float(a["lambd"])
        w.emit("Shrink", [w.name(a["x"])], outs[0], lambd=lambd, bias=lambd if soft else 0.0)

    return emit


def _threshold(w, node, a, outs):
    dt = _out(node).dtype
    x = w.name(a["x"])
    keep = w.emit("Greater", [x, w.scalar(a["threshold"], dt)])
    w.emit("Where", [keep, x, w.scalar(a["value"], dt)], outs[0])


def _glu(w, node, a, outs):
    x = a["x"]
    ax = _axis(a["axis"], len(x.shape))
    P.require_static(node, x, [ax], "it is halved at a fixed size")
    half = x.shape[ax] // 2
    first = w.emit("Slice", [w.name(x), w.ints([0]), w.ints([half]), w.ints([ax])])
    second = w.emit("Slice", [w.name(x), w.ints([half]), w.ints([P.INT64_MAX]), w.ints([ax])])
    w.emit("Mul", [first, w.emit("Sigmoid", [second])], outs[0])


def _prelu(w, node, a, outs):
    x, weight = a["x"], a["weight"]
    dt = _out(node).dtype
    if weight.is_const and weight.array.size > 1:
        shape = (-1,) + (1,) * (len(x.shape) - 2)
        slope = w.const(weight.array.astype(np_dtype(dt)).reshape(shape), "slope")
    elif weight.is_const:
        slope = w.const(weight.array.astype(np_dtype(dt)).reshape(()), "slope")
    else:
        raise _unsupported(node, "a slope computed from the input")
    w.emit("PRelu", [w.name(x), slope], outs[0])


# --- convolution, linear algebra ---------------------------------------------------------------
def _pads(padding) -> list[int]:
    return [int(lo) for lo, _ in padding] + [int(hi) for _, hi in padding]


def _conv(w, node, a, outs):
    x, weight, bias = a["x"], a["weight"], a["bias"]
    dt = _out(node).dtype
    inputs = [w.operand(x, dt), w.operand(weight, dt)]
    if bias is not None:
        inputs.append(w.operand(bias, dt))
    w.emit(
        "Conv",
        inputs,
        outs[0],
        kernel_shape=list(weight.shape[2:]),
        strides=list(a["stride"]),
        pads=_pads(a["padding"]),
        dilations=list(a["dilation"]),
        group=int(a["groups"]),
    )


def _conv_transpose(w, node, a, outs):
    x, weight, bias = a["x"], a["weight"], a["bias"]
    n = len(weight.shape) - 2
    P.require_static(node, x, range(2, 2 + n), "its output size is fixed when traced")
    dt = _out(node).dtype
    kernel = weight.shape[2:]
    stride, dilation, padding = a["stride"], a["dilation"], a["padding"]
    output_padding = []
    for i, k, s, d, (lo, hi), o in zip(
        x.shape[2:], kernel, stride, dilation, padding, a["out_spatial"]
    ):
        base = (i - 1) * s - lo - hi + d * (k - 1) + 1
        output_padding.append(int(o) - base)
    inputs = [w.operand(x, dt), w.operand(weight, dt)]
    if bias is not None:
        inputs.append(w.operand(bias, dt))
    w.emit(
        "ConvTranspose",
        inputs,
        outs[0],
        kernel_shape=list(kernel),
        strides=list(stride),
        pads=_pads(padding),
        dilations=list(dilation),
        group=int(a["groups"]),
        output_padding=output_padding,
    )


def _matmul(w, node, a, outs):
    dt = _out(node).dtype
    w.emit("MatMul", [w.operand(a["a"], dt), w.operand(a["b"], dt)], outs[0])


def _einsum(w, node, a, outs):
    dt = _out(node).dtype
    operands = a["operands"]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    eq = str(a["equation"]).replace(" ", "")
    w.emit("Einsum", [w.operand(t, dt) for t in operands], outs[0], equation=eq)


# --- shapes -----------------------------------------------------------------------------------
def _reshape(w, node, a, outs):
    x, y = a["x"], _out(node)
    target = P.reshape_target(node, x, y)
    allowzero = not y.dynamic_axes() and 0 in y.shape
    w.reshape(w.name(x), target, outs[0], allowzero=allowzero)


def _permute(w, node, a, outs):
    x = a["input"]
    ndim = len(x.shape)
    perm = [d % ndim for d in P.shape_arg(a["dims"])] if ndim else []
    w.emit("Transpose", [w.name(x)], outs[0], perm=perm)


def _broadcast_to(w, node, a, outs):
    x, y = a["x"], _out(node)
    w.emit("Expand", [w.name(x), w.ints(P.expand_target(node, x, y))], outs[0])


def _cat(w, node, a, outs):
    dt = _out(node).dtype
    tensors = list(a["tensors"])
    ax = _axis(a["dim"], len(_out(node).shape))
    w.emit("Concat", [w.operand(t, dt) for t in tensors], outs[0], axis=ax)


def _stack(w, node, a, outs):
    dt = _out(node).dtype
    ax = _axis(a["dim"], len(_out(node).shape))
    parts = [w.unsqueeze(w.operand(t, dt), [ax]) for t in a["tensors"]]
    w.emit("Concat", parts, outs[0], axis=ax)


def _repeat_interleave(w, node, a, outs):
    x, y = a["input"], _out(node)
    r = a["repeats"]
    name = w.name(x)
    shape = list(x.shape)
    dim = a["dim"]
    if dim is None:
        name = w.reshape(name, [-1])
        shape, ax = [int(np.prod(x.shape))], 0
        if x.dynamic_axes():
            raise _unsupported(node, "dim=None with dynamic axes")
    else:
        ax = _axis(dim, len(shape))
    reps = [1] * (ax + 1) + [int(r)] + [1] * (len(shape) - ax - 1)
    tiled = w.emit("Tile", [w.unsqueeze(name, [ax + 1]), w.ints(reps)])
    dyn = set(y.dynamic_axes())
    target = [0 if i in dyn and i < ax else (-1 if i in dyn else n) for i, n in enumerate(y.shape)]
    if target.count(-1) > 1:
        raise _unsupported(node, "repeating along a dynamic axis")
    w.reshape(tiled, target, outs[0])


def _tile(w, node, a, outs):
    x = a["input"]
    reps = a["dims"]
    reps = (reps,) if isinstance(reps, numbers.Integral) else tuple(reps)
    nd = max(len(reps), len(x.shape))
    reps = (1,) * (nd - len(reps)) + tuple(int(r) for r in reps)
    name = w.name(x)
    if nd > len(x.shape):
        name = w.unsqueeze(name, list(range(nd - len(x.shape))))
    w.emit("Tile", [name, w.ints(reps)], outs[0])


def _astype(w, node, a, outs):
    y = _out(node)
    to = w.helper.np_dtype_to_tensor_dtype(np_dtype(y.dtype))
    w.emit("Cast", [w.name(a["x"])], outs[0], to=int(to))


def _getitem(w, node, a, outs):
    x = a["x"]
    plan = P.index_plan(node, a["index"], len(x.shape))
    name = w.name(x)
    steps: list = []
    if plan.slices:
        axes, starts, ends, strides = zip(*plan.slices)
        steps.append(("Slice", [w.ints(starts), w.ints(ends), w.ints(axes), w.ints(strides)], {}))
    if plan.gather is not None:
        ax, idx = plan.gather
        steps.append(("Gather", [w.const(idx, "index")], {"axis": ax}))
    for ax, i in sorted(plan.picks, reverse=True):
        steps.append(("Gather", [w.const(np.asarray(i, dtype=np.int64), "index")], {"axis": ax}))
    if plan.new_axes:
        steps.append(("Unsqueeze", [w.ints(plan.new_axes, "axes")], {}))
    if not steps:
        w.emit("Identity", [name], outs[0])
        return
    for i, (op_type, extra, attrs) in enumerate(steps):
        name = w.emit(op_type, [name] + extra, outs[0] if i == len(steps) - 1 else None, **attrs)


def _flip(w, node, a, outs):
    from lucid.ops.reorder import _dims_arg

    x = a["input"]
    axes = normalize_axes(_dims_arg(a["dims"], a["more_dims"], "flip"), len(x.shape), "dim")
    if not axes:
        w.emit("Identity", [w.name(x)], outs[0])
        return
    k = len(axes)
    inputs = [
        w.name(x),
        w.ints([-1] * k),
        w.ints([P.INT64_MIN] * k),
        w.ints(axes),
        w.ints([-1] * k),
    ]
    w.emit("Slice", inputs, outs[0])


def _roll(w, node, a, outs):
    x = a["input"]
    shifts, dims = a["shifts"], a["dims"]
    shifts = (shifts,) if isinstance(shifts, numbers.Integral) else tuple(shifts)
    name = w.name(x)
    if dims is None:
        if x.dynamic_axes():
            raise _unsupported(node, "dims=None with dynamic axes")
        name = w.reshape(name, [-1])
        sizes, axes = [int(np.prod(x.shape))], [0]
    else:
        dims = (dims,) if isinstance(dims, numbers.Integral) else tuple(dims)
        axes = [_axis(d, len(x.shape)) for d in dims]
        P.require_static(node, x, axes, "the roll wraps at a fixed size")
        sizes = [x.shape[ax] for ax in axes]
    for s, ax, n in zip(shifts, axes, sizes):
        s = int(s) % n if n else 0
        if not s:
            continue
        tail = w.emit("Slice", [name, w.ints([n - s]), w.ints([n]), w.ints([ax])])
        head = w.emit("Slice", [name, w.ints([0]), w.ints([n - s]), w.ints([ax])])
        name = w.emit("Concat", [tail, head], axis=ax)
    if dims is None:
        name = w.reshape(name, list(x.shape))
    w.emit("Identity", [name], outs[0])


def _pad(w, node, a, outs):
    from lucid.ops.padding import _pairs

    x = a["input"]
    ndim = len(x.shape)
    mode = a["mode"]
    pairs = _pairs(a["pad"], ndim)
    dt = _out(node).dtype
    name = w.name(x)
    crops = [(ax, max(-lo, 0), max(-hi, 0)) for ax, lo, hi in pairs if lo < 0 or hi < 0]
    if crops and mode != "constant":
        raise _unsupported(node, f"negative padding in mode {mode!r}")
    if crops:
        axes = [ax for ax, _, _ in crops]
        starts = [lo for _, lo, _ in crops]
        ends = [-hi if hi else P.INT64_MAX for _, _, hi in crops]
        name = w.emit("Slice", [name, w.ints(starts), w.ints(ends), w.ints(axes)])
    begins, ends = [0] * ndim, [0] * ndim
    for ax, lo, hi in pairs:
        begins[ax], ends[ax] = max(lo, 0), max(hi, 0)
    onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}.get(mode)
    if mode == "circular":
        if w.opset < 19:
            raise ExportError(
                f"lucid.export.onnx: op {node.describe()}: circular padding needs opset >= 19 "
                f"(ONNX Pad's 'wrap' mode); export with opset=19"
            )
        onnx_mode = "wrap"
    inputs = [name, w.ints(begins + ends, "pads")]
    if mode == "constant":
        value = a["value"]
        if isinstance(value, Value):
            raise _unsupported(node, "a tensor fill value")
        inputs.append(w.scalar(0 if value is None else value, dt))
    w.emit("Pad", inputs, outs[0], mode=onnx_mode)


# --- reductions -------------------------------------------------------------------------------
def _axes_of(dim, ndim):
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return list(range(ndim))
    return list(normalize_axes(dim, ndim, "dim"))


def _reduce(op_type):
    def emit(w, node, a, outs):
        x = a["input"]
        y = _out(node)
        name = w.operand(x, y.dtype)
        w.reduce(op_type, name, _axes_of(a.get("dim"), len(x.shape)), a["keepdim"], outs[0])

    return emit


def _max_min(which):
    reduce_op, elementwise_op, arg_op = (
        ("ReduceMax", "Max", "ArgMax") if which == "max" else ("ReduceMin", "Min", "ArgMin")
    )

    def emit(w, node, a, outs):
        x, dim, keepdim, other = a["input"], a["dim"], a["keepdim"], a["other"]
        dt = _out(node).dtype
        if isinstance(dim, Value) or other is not None:
            other = dim if other is None else other
            w.emit(elementwise_op, [w.operand(x, dt), w.operand(other, dt)], outs[0])
            return
        if dim is None:
            w.reduce(reduce_op, w.name(x), range(len(x.shape)), False, outs[0])
            return
        ax = _axis(dim, len(x.shape))
        w.reduce(reduce_op, w.name(x), [ax], keepdim, outs[0])
        if len(outs) > 1 and outs[1] is not None:
            w.emit(arg_op, [w.name(x)], outs[1], axis=ax, keepdims=int(keepdim))

    return emit


def _var_std(sqrt: bool):
    def emit(w, node, a, outs):
        from lucid.ops.reduce import _correction

        x = a["input"]
        dim, correction = _correction(a["dim"], a["unbiased"], a["correction"])
        axes = _axes_of(dim, len(x.shape))
        P.require_static(node, x, axes, "the divisor counts the reduced elements")
        n = int(np.prod([x.shape[i] for i in axes]))
        dt = _out(node).dtype
        name = w.name(x)
        d = w.emit("Sub", [name, w.reduce("ReduceMean", name, axes, True)])
        total = w.reduce("ReduceSum", w.emit("Mul", [d, d]), axes, a["keepdim"])
        var = w.emit(
            "Div", [total, w.scalar(max(n - correction, 0), dt)], None if sqrt else outs[0]
        )
        if sqrt:
            w.emit("Sqrt", [var], outs[0])

    return emit


def _cumsum(w, node, a, outs):
    x = a["input"]
    y = _out(node)
    name = w.operand(x, y.dtype)
    if not x.shape:
        w.emit("Identity", [name], outs[0])
        return
    ax = _axis(a["dim"], len(x.shape))
    w.emit("CumSum", [name, w.const(np.asarray(ax, dtype=np.int64), "axis")], outs[0])


# --- normalisation ----------------------------------------------------------------------------
def _vector(w, v: Value | None, channels: int, fill: float, dtype: str) -> str:
    if v is None:
        return w.const(
            np.full((channels,), fill, dtype=np_dtype(dtype)), "ones" if fill else "zeros"
        )
    return w.operand(v, dtype)


def _standardized(w, x: str, axes, eps: float, dtype: str) -> str:
    """(x - mean) / sqrt(var + eps) over ``axes`` (biased variance), computed in float32 for
    half inputs as Lucid does."""
    half = dtype in ("float16", "bfloat16")
    if half:
        x = w.cast(x, "float32")
    mean = w.reduce("ReduceMean", x, axes, True)
    d = w.emit("Sub", [x, mean])
    var = w.reduce("ReduceMean", w.emit("Mul", [d, d]), axes, True)
    std = w.emit("Sqrt", [w.emit("Add", [var, w.scalar(eps, "float32" if half else dtype)])])
    y = w.emit("Div", [d, std])
    return w.cast(y, dtype) if half else y


def _affine(w, y: str, weight, bias, ndim: int, dtype: str, out: str) -> None:
    if weight is not None:
        y = w.emit("Mul", [y, w.channel_vector(weight, ndim, dtype)], out if bias is None else None)
    if bias is not None:
        y = w.emit("Add", [y, w.channel_vector(bias, ndim, dtype)], out)
    if weight is None and bias is None:
        w.emit("Identity", [y], out)


def _batch_norm(w, node, a, outs):
    x = a["input"]
    dt = _out(node).dtype
    P.require_static(node, x, [1], "the channels have one set of statistics each")
    c = x.shape[1]
    mean, var = a["running_mean"], a["running_var"]
    if a["training"] or mean is None:  # batch statistics (eval-mode track_running_stats=False)
        axes = [0] + list(range(2, len(x.shape)))
        y = _standardized(w, w.name(x), axes, float(a["eps"]), dt)
        _affine(w, y, a["weight"], a["bias"], len(x.shape), dt, outs[0])
        return
    inputs = [
        w.name(x),
        _vector(w, a["weight"], c, 1.0, dt),
        _vector(w, a["bias"], c, 0.0, dt),
        w.operand(mean, dt),
        w.operand(var, dt),
    ]
    w.emit("BatchNormalization", inputs, outs[0], epsilon=float(a["eps"]))


def _instance_norm(w, node, a, outs):
    x = a["input"]
    dt = _out(node).dtype
    P.require_static(node, x, [1], "the channels have one set of parameters each")
    c = x.shape[1]
    scale = _vector(w, a["weight"], c, 1.0, dt)
    bias = _vector(w, a["bias"], c, 0.0, dt)
    if not a["use_input_stats"]:
        mean, var = w.operand(a["running_mean"], dt), w.operand(a["running_var"], dt)
        w.emit("BatchNormalization", [w.name(x), scale, bias, mean, var], outs[0], epsilon=a["eps"])
        return
    w.emit("InstanceNormalization", [w.name(x), scale, bias], outs[0], epsilon=float(a["eps"]))


def _group_norm(w, node, a, outs):
    x = a["input"]
    dt = _out(node).dtype
    g = int(a["num_groups"])
    P.require_static(node, x, [1], "the channels are split into groups")
    grouped = w.reshape(w.name(x), [0, g, -1])
    ones = w.const(np.ones((g,), dtype=np_dtype(dt)), "ones")
    zeros = w.const(np.zeros((g,), dtype=np_dtype(dt)), "zeros")
    normed = w.emit("InstanceNormalization", [grouped, ones, zeros], epsilon=float(a["eps"]))
    y = w.emit("Reshape", [normed, w.emit("Shape", [w.name(x)])])
    _affine(w, y, a["weight"], a["bias"], len(x.shape), dt, outs[0])


def _layer_norm(w, node, a, outs):
    x = a["input"]
    dt = _out(node).dtype
    shape = a["normalized_shape"]
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    k = len(shape)
    weight, bias = a["weight"], a["bias"]
    scale = (
        w.const(np.ones(shape, np_dtype(dt)), "ones") if weight is None else w.operand(weight, dt)
    )
    inputs = [w.name(x), scale]
    if bias is not None:
        inputs.append(w.operand(bias, dt))
    w.emit("LayerNormalization", inputs, outs[0], axis=-k, epsilon=float(a["eps"]))


def _standardize(w, node, a, outs):
    x = a["x"]
    axes = list(normalize_axes(a["axis"], len(x.shape)))
    y = _standardized(w, w.name(x), axes, float(a["eps"]), _out(node).dtype)
    w.emit("Identity", [y], outs[0])


# --- pooling ----------------------------------------------------------------------------------
def _batched(w, x: Value, n: int):
    """The input's name with a batch axis (unbatched (C, *S) input gets one) and whether it
    was added."""
    if len(x.shape) == n + 1:
        return w.unsqueeze(w.name(x), [0]), True
    return w.name(x), False


def _finish(w, name: str, added: bool, out: str) -> None:
    if added:
        w.squeeze(name, [0], out)
    else:
        w.emit("Identity", [name], out)


def _max_pool(w, node, a, outs):
    if a["return_indices"]:
        raise _unsupported(node, "return_indices=True")
    x, n = a["x"], int(a["n"])
    plan = P.pool_plan(
        node, x, n, a["kernel_size"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"]
    )
    name, added = _batched(w, x, n)
    attrs = {"kernel_shape": list(plan.kernel), "strides": list(plan.stride)}
    attrs["dilations"] = list(plan.dilation)
    if any(plan.extra):  # ceil_mode's last windows: pad explicitly with -inf
        pads = [0, 0] + list(plan.padding) + [0, 0]
        pads += [p + e for p, e in zip(plan.padding, plan.extra)]
        low = w.scalar(-np.inf, x.dtype)
        name = w.emit("Pad", [name, w.ints(pads, "pads"), low], mode="constant")
    else:
        attrs["pads"] = list(plan.padding) * 2
    _finish(w, w.emit("MaxPool", [name], **attrs), added, outs[0])


def _avg_pool(w, node, a, outs):
    x, n = a["x"], int(a["n"])
    plan = P.pool_plan(node, x, n, a["kernel_size"], a["stride"], a["padding"], 1, a["ceil_mode"])
    divisor = a["divisor_override"]
    include = bool(a["count_include_pad"])
    name, added = _batched(w, x, n)
    attrs = {"kernel_shape": list(plan.kernel), "strides": list(plan.stride)}
    if not any(plan.extra) and divisor is None:
        attrs["pads"] = list(plan.padding) * 2
        attrs["count_include_pad"] = int(include)
        _finish(w, w.emit("AveragePool", [name], **attrs), added, outs[0])
        return
    # every window inside an explicitly zero-padded input: the mean over the full kernel,
    # rescaled to Lucid's divisor per output position
    pads = [0, 0] + list(plan.padding) + [0, 0] + [p + e for p, e in zip(plan.padding, plan.extra)]
    if any(pads):
        name = w.emit("Pad", [name, w.ints(pads, "pads"), w.scalar(0, x.dtype)], mode="constant")
    y = w.emit("AveragePool", [name], **attrs)
    scale = P.avg_pool_scale(plan, x.shape[-n:], include, divisor)
    if not np.all(scale == 1):
        y = w.emit("Mul", [y, w.const(scale.astype(np_dtype(x.dtype)), "divisor")])
    _finish(w, y, added, outs[0])


def _adaptive(kind):
    reduce_op, pool_op = (
        ("ReduceMean", "AveragePool") if kind == "avg" else ("ReduceMax", "MaxPool")
    )

    def emit(w, node, a, outs):
        if a.get("return_indices"):
            raise _unsupported(node, "return_indices=True")
        x, n = a["x"], int(a["n"])
        out = P.adaptive_output(node, x, n, a["output_size"])
        size = x.shape[-n:]
        nd = len(x.shape)
        spatial = list(range(nd - n, nd))
        name = w.name(x)
        if all(o == 1 for o in out):
            w.reduce(reduce_op, name, spatial, True, outs[0])
            return
        if all(s % o == 0 for s, o in zip(size, out)):
            kernel = [s // o for s, o in zip(size, out)]
            name, added = _batched(w, x, n)
            y = w.emit(pool_op, [name], kernel_shape=kernel, strides=kernel)
            _finish(w, y, added, outs[0])
            return
        for ax, s, o in zip(spatial, size, out):  # box bins are separable: one axis at a time
            if o == s:
                continue
            parts = [
                w.reduce(
                    reduce_op,
                    w.emit("Slice", [name, w.ints([lo]), w.ints([hi]), w.ints([ax])]),
                    [ax],
                    True,
                )
                for lo, hi in P.adaptive_bins(s, o)
            ]
            name = w.emit("Concat", parts, axis=ax) if len(parts) > 1 else parts[0]
        w.emit("Identity", [name], outs[0])

    return emit


TABLE = {
    # elementwise
    "add": _binary("Add"),
    "sub": _binary("Sub"),
    "mul": _binary("Mul"),
    "div": _binary("Div"),
    "pow": _binary("Pow"),
    "maximum": _binary("Max"),
    "minimum": _binary("Min"),
    "floordiv": _floordiv,
    "neg": _unary("Neg"),
    "abs": _unary("Abs"),
    "exp": _unary("Exp"),
    "log": _unary("Log"),
    "log1p": _log1p,
    "sqrt": _unary("Sqrt"),
    "sin": _unary("Sin"),
    "cos": _unary("Cos"),
    "tanh": _unary("Tanh"),
    "sigmoid": _unary("Sigmoid"),
    "relu": _unary("Relu"),
    "erf": _unary("Erf"),
    "square": _square,
    "floor": _unary("Floor"),
    "ceil": _unary("Ceil"),
    "round": _round,
    "trunc": _trunc,
    "clip": _clamp,
    "clamp": _clamp,
    "where": _where,
    "lerp": _lerp,
    # activations
    "softmax": _softmax("Softmax"),
    "log_softmax": _softmax("LogSoftmax"),
    "leaky_relu": lambda w, node, a, outs: w.emit(
        "LeakyRelu", [w.name(a["x"])], outs[0], alpha=float(a["negative_slope"])
    ),
    "elu": lambda w, node, a, outs: w.emit(
        "Elu", [w.name(a["x"])], outs[0], alpha=float(a["alpha"])
    ),
    "celu": lambda w, node, a, outs: w.emit(
        "Celu", [w.name(a["x"])], outs[0], alpha=float(a["alpha"])
    ),
    "gelu": _gelu,
    "silu": _silu,
    "softplus": _softplus,
    "hardtanh": _hardtanh,
    "selu": _selu,
    "mish": _mish,
    "hardswish": _unary("HardSwish"),
    "hardsigmoid": _unary("HardSigmoid", alpha=1.0 / 6.0, beta=0.5),
    "logsigmoid": _logsigmoid,
    "softsign": _unary("Softsign"),
    "tanhshrink": _tanhshrink,
    "hardshrink": _shrink(soft=False),
    "softshrink": _shrink(soft=True),
    "threshold": _threshold,
    "glu": _glu,
    "prelu": _prelu,
    # convolution, linear algebra
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "matmul": _matmul,
    "einsum": _einsum,
    # shapes and indexing
    "reshape": _reshape,
    "permute": _permute,
    "broadcast_to": _broadcast_to,
    "cat": _cat,
    "stack": _stack,
    "repeat_interleave": _repeat_interleave,
    "tile": _tile,
    "astype": _astype,
    "getitem": _getitem,
    "flip": _flip,
    "roll": _roll,
    "pad": _pad,
    # reductions
    "sum": _reduce("ReduceSum"),
    "mean": _reduce("ReduceMean"),
    "amax": _reduce("ReduceMax"),
    "amin": _reduce("ReduceMin"),
    "prod": _reduce("ReduceProd"),
    "logsumexp": _reduce("ReduceLogSumExp"),
    "max": _max_min("max"),
    "min": _max_min("min"),
    "var": _var_std(sqrt=False),
    "std": _var_std(sqrt=True),
    "cumsum": _cumsum,
    # normalisation
    "batch_norm": _batch_norm,
    "instance_norm": _instance_norm,
    "group_norm": _group_norm,
    "layer_norm": _layer_norm,
    "standardize": _standardize,
    # pooling
    "max_pool": _max_pool,
    "avg_pool": _avg_pool,
    "adaptive_avg_pool": _adaptive("avg"),
    "adaptive_max_pool": _adaptive("max"),
}
