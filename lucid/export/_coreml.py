"""The Core ML writer: a traced ``Graph`` as a Core ML program (``.mlpackage``), built with
coremltools' MIL builder (``coremltools.converters.mil.Builder``) and saved with
``ct.convert(program, convert_to="mlprogram")`` in float32 (Core ML's default would compute in
float16).

The op translations mirror the ONNX writer's (``MIL_TABLE``, keyed by the recorded op's name);
an op without one is refused with its name. Core ML predicts only on macOS/iOS: on Linux the
package is built and saved, not run. ``mil_ops`` lists a built program's op types (for checks).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from lucid.export import _plan as P
from lucid.export._trace import ExportError, Graph, Node, Value
from lucid.ops._util import normalize_axes

_MIL_DTYPES = {"float32": "fp32", "float16": "fp16", "int32": "int32", "bool": "bool"}


def import_coremltools():
    """The ``coremltools`` package, or an ImportError naming the extra that installs it."""
    try:
        import coremltools
    except ImportError as exc:
        raise ImportError(
            "lucid.export.coreml needs coremltools: pip install lucid[coreml]"
        ) from exc
    return coremltools


def _unsupported(node: Node, what: str):
    return ExportError(f"lucid.export.coreml: op {node.describe()}: {what} is not supported")


class MilWriter:
    """Translates nodes into MIL ops inside an open MIL function."""

    def __init__(self, mb, graph: Graph):
        self.mb = mb
        self.graph = graph
        self.vars: dict[int, Any] = {}

    def const(self, v: Value, dtype: str | None = None):
        """A constant Value as a numpy array MIL accepts (float32/float16/int32/bool)."""
        a = v.array
        want = dtype or v.dtype
        if want.startswith("int") or want.startswith("uint"):
            return a.astype(np.int32)
        if want == "float64":
            raise ExportError("lucid.export.coreml: float64 tensors are not supported")
        return a.astype(
            np.float16 if want == "float16" else (bool if want == "bool" else np.float32)
        )

    def var(self, v: Value, dtype: str | None = None):
        """The MIL var (or constant array) of a traced value."""
        if v.is_const:
            return self.const(v, dtype)
        x = self.vars[id(v)]
        if dtype is not None and dtype != v.dtype:
            return self.mb.cast(x=x, dtype=_MIL_DTYPES[dtype])
        return x

    def operand(self, a, dtype: str):
        """An operand (Value or number) of dtype ``dtype``."""
        if isinstance(a, Value):
            return self.var(a, dtype)
        np_type = {"float16": np.float16, "int32": np.int32, "bool": bool}.get(dtype, np.float32)
        return np_type(a)

    def shape_spec(self, x, x_rank: int, target: Sequence[int]):
        """A reshape target for MIL: constant when it needs no copied size (0) or keeps the
        rank (MIL's 0 then copies), else assembled from ``shape(x)``."""
        target = [int(t) for t in target]
        if 0 not in target or len(target) == x_rank:
            return np.asarray(target, dtype=np.int32)
        mb = self.mb
        shape = mb.shape(x=x)
        parts = []
        for i, t in enumerate(target):
            if t == 0:
                parts.append(mb.slice_by_index(x=shape, begin=[i], end=[i + 1]))
            else:
                parts.append(np.asarray([t], dtype=np.int32))
        return mb.concat(values=parts, axis=0)


def _out(node: Node) -> Value:
    out = node.outputs[0]
    assert out is not None
    return out


def _axis(dim, ndim):
    return normalize_axes(dim, ndim, "dim")[0]


# --- translations -----------------------------------------------------------------------------
def _binary(op_name):
    def emit(w, node, a):
        dt = _out(node).dtype
        x, y = list(a.values())[:2]
        return getattr(w.mb, op_name)(x=w.operand(x, dt), y=w.operand(y, dt))

    return emit


def _unary(op_name, **attrs):
    def emit(w, node, a):
        return getattr(w.mb, op_name)(
            x=w.operand(next(iter(a.values())), _out(node).dtype), **attrs
        )

    return emit


def _neg(w, node, a):
    return w.mb.mul(x=w.operand(a["a"], _out(node).dtype), y=np.float32(-1))


def _square(w, node, a):
    x = w.operand(a["x"], _out(node).dtype)
    return w.mb.mul(x=x, y=x)


def _softmax(w, node, a):
    x = a["x"]
    return w.mb.softmax(x=w.var(x), axis=_axis(a["dim"], len(x.shape)))


def _log_softmax(w, node, a):
    x = a["x"]
    ax = _axis(a["dim"], len(x.shape))
    lse = w.mb.reduce_log_sum_exp(x=w.var(x), axes=[ax], keep_dims=True)
    return w.mb.sub(x=w.var(x), y=lse)


def _gelu(w, node, a):
    mode = "TANH_APPROXIMATION" if a["approximate"] == "tanh" else "EXACT"
    return w.mb.gelu(x=w.var(a["x"]), mode=mode)


def _hardtanh(w, node, a):
    return w.mb.clip(x=w.var(a["x"]), alpha=np.float32(a["min_val"]), beta=np.float32(a["max_val"]))


def _clamp(w, node, a):
    dt = _out(node).dtype
    x = w.operand(next(iter(a.values())), dt)
    lo, hi = a.get("min"), a.get("max")
    if lo is not None:
        x = w.mb.maximum(x=x, y=w.operand(lo, dt))
    if hi is not None:
        x = w.mb.minimum(x=x, y=w.operand(hi, dt))
    return x


def _leaky_relu(w, node, a):
    return w.mb.leaky_relu(x=w.var(a["x"]), alpha=np.float32(a["negative_slope"]))


def _elu(w, node, a):
    return w.mb.elu(x=w.var(a["x"]), alpha=np.float32(a["alpha"]))


def _softplus(w, node, a):
    if float(a["beta"]) != 1.0:
        raise _unsupported(node, "softplus with beta != 1")
    # MIL's softplus has no threshold; above 20 log(1 + e^x) rounds to x in float32 anyway
    return w.mb.softplus(x=w.var(a["x"]))


def _hardswish(w, node, a):
    x = w.var(a["x"])
    return w.mb.mul(x=x, y=w.mb.sigmoid_hard(x=x, alpha=1.0 / 6.0, beta=0.5))


def _mish(w, node, a):
    x = w.var(a["x"])
    return w.mb.mul(x=x, y=w.mb.tanh(x=w.mb.softplus(x=x)))


def _conv(w, node, a):
    x, weight, bias = a["x"], a["weight"], a["bias"]
    if not weight.is_const or (bias is not None and not bias.is_const):
        raise _unsupported(node, "a weight computed from the input")
    dt = _out(node).dtype
    pad = [int(p) for pair in a["padding"] for p in pair]
    kwargs = {"bias": w.const(bias, dt)} if bias is not None else {}
    return w.mb.conv(
        x=w.var(x, dt),
        weight=w.const(weight, dt),
        strides=list(a["stride"]),
        pad_type="custom",
        pad=pad,
        dilations=list(a["dilation"]),
        groups=int(a["groups"]),
        **kwargs,
    )


def _conv_transpose(w, node, a):
    x, weight, bias = a["x"], a["weight"], a["bias"]
    if not weight.is_const or (bias is not None and not bias.is_const):
        raise _unsupported(node, "a weight computed from the input")
    n = len(weight.shape) - 2
    P.require_static(node, x, range(2, 2 + n), "its output size is fixed when traced")
    dt = _out(node).dtype
    pad, tail = [], []
    for i, k, s, d, (lo, _), o in zip(
        x.shape[2:], weight.shape[2:], a["stride"], a["dilation"], a["padding"], a["out_spatial"]
    ):
        full = (i - 1) * s + d * (k - 1) + 1
        hi_eff = full - lo - int(o)  # output_padding shortens the crop after the data
        pad += [int(lo), max(hi_eff, 0)]
        tail += [0, max(-hi_eff, 0)]
    y = w.mb.conv_transpose(
        x=w.var(x, dt),
        weight=w.const(weight, dt),
        pad_type="custom",
        pad=pad,
        strides=list(a["stride"]),
        dilations=list(a["dilation"]),
        groups=int(a["groups"]),
    )
    if any(tail):
        y = w.mb.pad(x=y, pad=np.asarray(tail, dtype=np.int32), mode="constant")
    if bias is not None:
        shape = (-1,) + (1,) * n
        y = w.mb.add(x=y, y=w.const(bias, dt).reshape(shape))
    return y


def _matmul(w, node, a):
    dt = _out(node).dtype
    return w.mb.matmul(x=w.operand(a["a"], dt), y=w.operand(a["b"], dt))


def _reshape(w, node, a):
    x, y = a["x"], _out(node)
    target = P.reshape_target(node, x, y)
    xv = w.var(x)
    return w.mb.reshape(x=xv, shape=w.shape_spec(xv, len(x.shape), target))


def _permute(w, node, a):
    x = a["input"]
    ndim = len(x.shape)
    return w.mb.transpose(x=w.var(x), perm=[d % ndim for d in P.shape_arg(a["dims"])])


def _cat(w, node, a):
    dt = _out(node).dtype
    ax = _axis(a["dim"], len(_out(node).shape))
    return w.mb.concat(values=[w.operand(t, dt) for t in a["tensors"]], axis=ax)


def _stack(w, node, a):
    dt = _out(node).dtype
    ax = _axis(a["dim"], len(_out(node).shape))
    return w.mb.stack(values=[w.operand(t, dt) for t in a["tensors"]], axis=ax)


def _repeat_interleave(w, node, a):
    x, y = a["input"], _out(node)
    if a["dim"] is None:
        raise _unsupported(node, "dim=None")
    ax = _axis(a["dim"], len(x.shape))
    reps = [1] * (ax + 1) + [int(a["repeats"])] + [1] * (len(x.shape) - ax - 1)
    tiled = w.mb.tile(x=w.mb.expand_dims(x=w.var(x), axes=[ax + 1]), reps=reps)
    dyn = set(y.dynamic_axes())
    target = [0 if i in dyn and i < ax else (-1 if i in dyn else n) for i, n in enumerate(y.shape)]
    if target.count(-1) > 1:
        raise _unsupported(node, "repeating along a dynamic axis")
    return w.mb.reshape(x=tiled, shape=w.shape_spec(tiled, len(x.shape) + 1, target))


def _astype(w, node, a):
    y = _out(node)
    if y.dtype not in _MIL_DTYPES:
        raise _unsupported(node, f"a cast to {y.dtype}")
    return w.mb.cast(x=w.var(a["x"]), dtype=_MIL_DTYPES[y.dtype])


def _getitem(w, node, a):
    x = a["x"]
    nd = len(x.shape)
    plan = P.index_plan(node, a["index"], nd)
    mb = w.mb
    y = w.var(x)
    if plan.slices:
        begin, end, stride = [0] * nd, [0] * nd, [1] * nd
        begin_mask, end_mask = [True] * nd, [True] * nd
        reverse = []
        for ax, start, stop, step in plan.slices:
            if step < 0:
                if (start, stop, step) != (P.INT64_MAX, P.INT64_MIN, -1):
                    raise _unsupported(node, "a reversed slice with bounds")
                reverse.append(ax)
                continue
            stride[ax] = step
            if start != 0:
                begin[ax], begin_mask[ax] = start, False
            if stop != P.INT64_MAX:
                end[ax], end_mask[ax] = stop, False
        if reverse:
            y = mb.reverse(x=y, axes=reverse)
        if not all(begin_mask) or not all(end_mask) or any(s != 1 for s in stride):
            y = mb.slice_by_index(
                x=y, begin=begin, end=end, stride=stride, begin_mask=begin_mask, end_mask=end_mask
            )
    if plan.gather is not None:
        ax, idx = plan.gather
        y = mb.gather(x=y, indices=idx.astype(np.int32), axis=ax)
    for ax, i in sorted(plan.picks, reverse=True):
        y = mb.gather(x=y, indices=np.int32(i), axis=ax)
    if plan.new_axes:
        y = mb.expand_dims(x=y, axes=plan.new_axes)
    if y is w.vars.get(id(x)):
        y = mb.identity(x=y)
    return y


def _pad(w, node, a):
    from lucid.ops.padding import _pairs

    x = a["input"]
    pairs = _pairs(a["pad"], len(x.shape))
    if any(lo < 0 or hi < 0 for _, lo, hi in pairs):
        raise _unsupported(node, "negative padding")
    mode = {"constant": "constant", "reflect": "reflect", "replicate": "replicate"}.get(a["mode"])
    if mode is None:
        raise _unsupported(node, f"padding mode {a['mode']!r}")
    pad = [0] * (2 * len(x.shape))
    for ax, lo, hi in pairs:
        pad[2 * ax], pad[2 * ax + 1] = lo, hi
    kwargs = {}
    if mode == "constant":
        kwargs["constant_val"] = np.float32(0 if a["value"] is None else a["value"])
    return w.mb.pad(x=w.var(x), pad=np.asarray(pad, dtype=np.int32), mode=mode, **kwargs)


def _axes_of(dim, ndim):
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return list(range(ndim))
    return list(normalize_axes(dim, ndim, "dim"))


def _reduce(op_name):
    def emit(w, node, a):
        x = a["input"]
        axes = _axes_of(a.get("dim"), len(x.shape))
        return getattr(w.mb, op_name)(x=w.var(x), axes=axes, keep_dims=bool(a["keepdim"]))

    return emit


def _standardized(w, x, axes, eps):
    mb = w.mb
    mean = mb.reduce_mean(x=x, axes=axes, keep_dims=True)
    d = mb.sub(x=x, y=mean)
    var = mb.reduce_mean(x=mb.mul(x=d, y=d), axes=axes, keep_dims=True)
    return mb.real_div(x=d, y=mb.sqrt(x=mb.add(x=var, y=np.float32(eps))))


def _affine(w, y, weight, bias, ndim, dt):
    shape = (-1,) + (1,) * (ndim - 2)
    if weight is not None:
        y = w.mb.mul(x=y, y=w.const(weight, dt).reshape(shape))
    if bias is not None:
        y = w.mb.add(x=y, y=w.const(bias, dt).reshape(shape))
    return y


def _vector(w, v, channels, fill, dt):
    if v is None:
        return np.full((channels,), fill, dtype=np.float32)
    if not v.is_const:
        raise ExportError("lucid.export.coreml: normalisation parameters computed from the input")
    return w.const(v, dt)


def _batch_norm(w, node, a):
    x = a["input"]
    dt = _out(node).dtype
    mean, var = a["running_mean"], a["running_var"]
    if a["training"] or mean is None:
        axes = [0] + list(range(2, len(x.shape)))
        y = _standardized(w, w.var(x), axes, float(a["eps"]))
        return _affine(w, y, a["weight"], a["bias"], len(x.shape), dt)
    c = x.shape[1]
    return w.mb.batch_norm(
        x=w.var(x),
        mean=_vector(w, mean, c, 0.0, dt),
        variance=_vector(w, var, c, 1.0, dt),
        gamma=_vector(w, a["weight"], c, 1.0, dt),
        beta=_vector(w, a["bias"], c, 0.0, dt),
        epsilon=np.float32(a["eps"]),
    )


def _instance_norm(w, node, a):
    x = a["input"]
    dt = _out(node).dtype
    c = x.shape[1]
    gamma, beta = _vector(w, a["weight"], c, 1.0, dt), _vector(w, a["bias"], c, 0.0, dt)
    if not a["use_input_stats"]:
        return w.mb.batch_norm(
            x=w.var(x),
            mean=_vector(w, a["running_mean"], c, 0.0, dt),
            variance=_vector(w, a["running_var"], c, 1.0, dt),
            gamma=gamma,
            beta=beta,
            epsilon=np.float32(a["eps"]),
        )
    if len(x.shape) > 4:  # MIL's instance_norm takes rank 3 or 4: fold the spatial dims
        xv = w.var(x)
        flat = w.mb.reshape(x=xv, shape=w.shape_spec(xv, len(x.shape), [0, c, -1]))
        y = w.mb.instance_norm(x=flat, gamma=gamma, beta=beta, epsilon=np.float32(a["eps"]))
        return w.mb.reshape(x=y, shape=w.mb.shape(x=xv))
    return w.mb.instance_norm(x=w.var(x), gamma=gamma, beta=beta, epsilon=np.float32(a["eps"]))


def _group_norm(w, node, a):
    x = a["input"]
    dt = _out(node).dtype
    g = int(a["num_groups"])
    xv = w.var(x)
    grouped = w.mb.reshape(x=xv, shape=w.shape_spec(xv, len(x.shape), [0, g, -1]))
    y = _standardized(w, grouped, [2], float(a["eps"]))
    y = w.mb.reshape(x=y, shape=w.mb.shape(x=xv))
    return _affine(w, y, a["weight"], a["bias"], len(x.shape), dt)


def _layer_norm(w, node, a):
    x = a["input"]
    dt = _out(node).dtype
    shape = a["normalized_shape"]
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    nd = len(x.shape)
    kwargs = {}
    if a["weight"] is not None:
        kwargs["gamma"] = w.const(a["weight"], dt)
    if a["bias"] is not None:
        kwargs["beta"] = w.const(a["bias"], dt)
    axes = list(range(nd - len(shape), nd))
    return w.mb.layer_norm(x=w.var(x), axes=axes, epsilon=np.float32(a["eps"]), **kwargs)


def _standardize(w, node, a):
    x = a["x"]
    return _standardized(w, w.var(x), list(normalize_axes(a["axis"], len(x.shape))), a["eps"])


def _max_pool(w, node, a):
    if a["return_indices"]:
        raise _unsupported(node, "return_indices=True")
    x, n = a["x"], int(a["n"])
    plan = P.pool_plan(
        node, x, n, a["kernel_size"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"]
    )
    if any(d != 1 for d in plan.dilation):
        raise _unsupported(node, "dilated max pooling")
    y = w.var(x)
    if len(x.shape) != n + 2:
        raise _unsupported(node, "unbatched input")
    pad = []
    for p, e in zip(plan.padding, plan.extra):
        pad += [p, p + e]
    if any(plan.extra):
        full = [0, 0, 0, 0] + pad
        y = w.mb.pad(x=y, pad=np.asarray(full, np.int32), mode="constant", constant_val=-np.inf)
        pad = [0] * (2 * n)
    return w.mb.max_pool(
        x=y, kernel_sizes=list(plan.kernel), strides=list(plan.stride), pad_type="custom", pad=pad
    )


def _avg_pool(w, node, a):
    x, n = a["x"], int(a["n"])
    if len(x.shape) != n + 2:
        raise _unsupported(node, "unbatched input")
    plan = P.pool_plan(node, x, n, a["kernel_size"], a["stride"], a["padding"], 1, a["ceil_mode"])
    include = bool(a["count_include_pad"])
    y = w.var(x)
    common = {"kernel_sizes": list(plan.kernel), "strides": list(plan.stride)}
    if not any(plan.extra) and a["divisor_override"] is None:
        pad = [p for p in plan.padding for _ in (0, 1)]
        return w.mb.avg_pool(
            x=y, pad_type="custom", pad=pad, exclude_padding_from_average=not include, **common
        )
    full = [0, 0, 0, 0]
    for p, e in zip(plan.padding, plan.extra):
        full += [p, p + e]
    if any(full):
        y = w.mb.pad(x=y, pad=np.asarray(full, np.int32), mode="constant", constant_val=0.0)
    y = w.mb.avg_pool(x=y, pad_type="valid", **common)
    scale = P.avg_pool_scale(plan, x.shape[-n:], include, a["divisor_override"])
    if not np.all(scale == 1):
        y = w.mb.mul(x=y, y=scale.astype(np.float32))
    return y


def _adaptive_reduce(w, y, shape, n, out, kind):
    """Adaptive average/max pooling of ``y`` (traced ``shape``) to ``out``: one reduction for
    a global pool, else PyTorch's bins axis by axis (box bins are separable)."""
    mb = w.mb
    nd = len(shape)
    spatial = list(range(nd - n, nd))
    reduce = mb.reduce_mean if kind == "avg" else mb.reduce_max
    if all(o == 1 for o in out):
        return reduce(x=y, axes=spatial, keep_dims=True)
    for ax, s, o in zip(spatial, shape[-n:], out):
        if o == s:
            continue
        parts = []
        for lo, hi in P.adaptive_bins(s, o):
            begin, end = [0] * nd, [0] * nd
            begin[ax], end[ax] = lo, hi
            mask = [i != ax for i in range(nd)]
            part = mb.slice_by_index(x=y, begin=begin, end=end, begin_mask=mask, end_mask=mask)
            parts.append(reduce(x=part, axes=[ax], keep_dims=True))
        y = mb.concat(values=parts, axis=ax) if len(parts) > 1 else parts[0]
    return y


def _adaptive(kind):
    def emit(w, node, a):
        if a.get("return_indices"):
            raise _unsupported(node, "return_indices=True")
        x, n = a["x"], int(a["n"])
        out = P.adaptive_output(node, x, n, a["output_size"])
        return _adaptive_reduce(w, w.var(x), x.shape, n, out, kind)

    return emit


def _interpolate(w, node, a):
    """Lucid's interpolation, axis by axis, with Lucid's own index tables: gathers and a linear
    (or cubic) blend. (Its recorded parts would stack phases into a rank-6 tensor for a
    volume, beyond Core ML's rank limit of 5.)"""
    from lucid.nn.functional import upsampling as U

    x, mode = a["input"], a["mode"]
    n = len(x.shape) - 2
    P.require_static(node, x, range(2, 2 + n), "interpolation tables are built for one size")
    out, factors = U._sizes(x.shape[2:], a["size"], a["scale_factor"], a["recompute_scale_factor"])
    mb = w.mb
    if mode == "area":
        return _adaptive_reduce(w, w.var(x), x.shape, n, out, "avg")
    corners = bool(a["align_corners"])
    y = w.var(x)

    def gather(v, index, axis):
        if len(index) == v.shape[axis] and np.array_equal(index, np.arange(len(index))):
            return v
        return mb.gather(x=v, indices=np.asarray(index, dtype=np.int32), axis=axis)

    def column(values, trailing):
        return np.asarray(values, dtype=np.float32).reshape((-1,) + (1,) * trailing)

    for i, (in_n, out_n, factor) in enumerate(zip(x.shape[2:], out, factors)):
        axis, trailing = 2 + i, n - i - 1
        if mode in U._LINEAR:
            if out_n == in_n:
                continue
            i0, i1, lam = U._linear_taps(in_n, out_n, factor, corners, np.float32)
            lo = gather(y, i0, axis)
            if not lam.any():
                y = lo
                continue
            hi = gather(y, i1, axis)
            y = mb.add(x=lo, y=mb.mul(x=mb.sub(x=hi, y=lo), y=column(lam, trailing)))
        elif mode == "bicubic":
            taps = U._cubic_taps(in_n, out_n, factor, corners, np.float32)
            parts = [mb.mul(x=gather(y, idx, axis), y=column(wt, trailing)) for idx, wt in taps]
            y = mb.add(x=mb.add(x=parts[0], y=parts[1]), y=mb.add(x=parts[2], y=parts[3]))
        else:
            exact = mode == "nearest-exact"
            y = gather(y, U._nearest_index(in_n, out_n, factor, exact, shortcuts=n == 2), axis)
    if y is w.vars.get(id(x)):
        y = mb.identity(x=y)
    return y


def _where(w, node, a):
    dt = _out(node).dtype
    return w.mb.select(
        cond=w.operand(a["condition"], "bool"), a=w.operand(a["a"], dt), b=w.operand(a["b"], dt)
    )


MIL_TABLE = {
    "add": _binary("add"),
    "sub": _binary("sub"),
    "mul": _binary("mul"),
    "div": _binary("real_div"),
    "pow": _binary("pow"),
    "maximum": _binary("maximum"),
    "minimum": _binary("minimum"),
    "neg": _neg,
    "abs": _unary("abs"),
    "exp": _unary("exp"),
    "log": _unary("log"),
    "sqrt": _unary("sqrt"),
    "sin": _unary("sin"),
    "cos": _unary("cos"),
    "tanh": _unary("tanh"),
    "sigmoid": _unary("sigmoid"),
    "relu": _unary("relu"),
    "erf": _unary("erf"),
    "floor": _unary("floor"),
    "ceil": _unary("ceil"),
    "square": _square,
    "clip": _clamp,
    "clamp": _clamp,
    "where": _where,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "gelu": _gelu,
    "silu": _unary("silu"),
    "softplus": _softplus,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "hardtanh": _hardtanh,
    "hardsigmoid": _unary("sigmoid_hard", alpha=1.0 / 6.0, beta=0.5),
    "hardswish": _hardswish,
    "softsign": _unary("softsign"),
    "mish": _mish,
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "matmul": _matmul,
    "reshape": _reshape,
    "permute": _permute,
    "cat": _cat,
    "stack": _stack,
    "repeat_interleave": _repeat_interleave,
    "astype": _astype,
    "getitem": _getitem,
    "pad": _pad,
    "sum": _reduce("reduce_sum"),
    "mean": _reduce("reduce_mean"),
    "amax": _reduce("reduce_max"),
    "amin": _reduce("reduce_min"),
    "prod": _reduce("reduce_prod"),
    "logsumexp": _reduce("reduce_log_sum_exp"),
    "batch_norm": _batch_norm,
    "instance_norm": _instance_norm,
    "group_norm": _group_norm,
    "layer_norm": _layer_norm,
    "standardize": _standardize,
    "max_pool": _max_pool,
    "avg_pool": _avg_pool,
    "adaptive_avg_pool": _adaptive("avg"),
    "adaptive_max_pool": _adaptive("max"),
    "interpolate": _interpolate,
}


def translate(w: MilWriter, node: Node) -> None:
    """Add the MIL ops of one recorded op."""
    fn = MIL_TABLE.get(node.op)
    if fn is None:
        raise ExportError(
            f"lucid.export.coreml: op {node.describe()} has no Core ML translation (supported: "
            f"{', '.join(sorted(MIL_TABLE))})"
        )
    if node.varying and set(node.varying) - {"shape"}:
        key = sorted(node.varying)[0]
        raise ExportError(
            f"export: op {node.describe()}: argument {key!r} depends on the batch size; "
            "export without batch_sizes"
        )
    outs = [o for o in node.outputs if o is not None]
    if len(outs) != 1:
        raise _unsupported(node, "an op with several tensor outputs")
    w.vars[id(outs[0])] = fn(w, node, node.args)


def build_program(ct, graph: Graph, input_names: Sequence[str], target):
    """The MIL program of a traced graph (inputs with a symbolic batch size where dynamic)."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import Function, Program, get_new_symbol, types

    specs = {}
    batch = get_new_symbol()
    for v, name in zip(graph.inputs, input_names):
        if v.dtype not in ("float32", "float16"):
            raise ExportError(f"lucid.export.coreml: input dtype {v.dtype} is not supported")
        shape = [batch if i in v.dynamic_axes() else n for i, n in enumerate(v.shape)]
        dtype = types.fp16 if v.dtype == "float16" else types.fp32
        specs[name] = mb.TensorSpec(shape=tuple(shape), dtype=dtype)
    w = MilWriter(mb, graph)
    with Function(specs, opset_version=target) as func:
        for v, name in zip(graph.inputs, input_names):
            w.vars[id(v)] = func.inputs[name]
        for node in graph.nodes:
            translate(w, node)
        outputs = []
        for i, v in enumerate(graph.outputs):
            name = "output" if len(graph.outputs) == 1 else f"output_{i}"
            source = w.var(v)
            outputs.append(mb.identity(x=source, name=name))
        func.set_outputs(outputs)
    program = Program()
    program.add_function("main", func)
    return program


def mil_ops(program) -> list[str]:
    """The op types of a MIL program's main function, in order."""
    return [op.op_type for op in program.functions["main"].operations]


def export(graph: Graph, path, *, batch_sizes, minimum_deployment_target: str) -> None:
    """Build and save the ``.mlpackage`` of ``graph``."""
    ct = import_coremltools()
    try:
        target = getattr(ct.target, minimum_deployment_target)
    except AttributeError:
        raise ValueError(
            f"lucid.export.coreml: minimum_deployment_target must name a coremltools.target "
            f"(macOS13, iOS16, ...), got {minimum_deployment_target!r}"
        ) from None
    names = (
        ["input"] if len(graph.inputs) == 1 else [f"input_{i}" for i in range(len(graph.inputs))]
    )
    program = build_program(ct, graph, names, target)
    inputs = None
    if batch_sizes is not None:
        inputs = [
            ct.TensorType(
                name=name,
                shape=ct.EnumeratedShapes(shapes=[(b,) + tuple(v.shape[1:]) for b in batch_sizes]),
            )
            for v, name in zip(graph.inputs, names)
        ]
    model = ct.convert(
        program,
        convert_to="mlprogram",
        compute_precision=ct.precision.FLOAT32,
        minimum_deployment_target=target,
        inputs=inputs,
    )
    model.save(os.fspath(path))
