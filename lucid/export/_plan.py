"""Format-independent pieces of translating a traced op: argument normalisation shared by the
writers (reshape targets over dynamic axes, indexing plans, pooling geometry)."""

from __future__ import annotations

import numbers
import operator
from dataclasses import dataclass, field

import numpy as np

from lucid.export._trace import ExportError, Node, Value
from lucid.ops._nd import ntuple, pool_output_size

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def require_static(node: Node, value: Value, axes, why: str) -> None:
    """Refuse ``node`` when ``value``'s size on any of ``axes`` follows a dynamic axis."""
    dynamic = set(value.dynamic_axes()) & {a % max(len(value.shape), 1) for a in axes}
    if dynamic:
        raise ExportError(
            f"export: op {node.describe()} needs a static size on axis "
            f"{sorted(dynamic)} of its input ({why}); make that axis static"
        )


def reshape_target(node: Node, src: Value, dst: Value) -> list[int]:
    """The target shape of a reshape from ``src`` to ``dst`` in the ONNX convention: static
    sizes as they are, 0 for a dynamic size copied from the same axis of the input, and -1
    for (at most) one other dynamic size."""
    out_dyn = set(dst.dynamic_axes())
    target: list[int] = []
    inferred = 0
    for i, n in enumerate(dst.shape):
        if i not in out_dyn:
            target.append(n)
            continue
        if (
            src.shape2 is not None
            and dst.shape2 is not None
            and i < len(src.shape)
            and src.shape[i] == n
            and src.shape2[i] == dst.shape2[i]
        ):
            target.append(0)
        else:
            target.append(-1)
            inferred += 1
    if inferred > 1:
        raise ExportError(
            f"export: op {node.describe()} reshapes {src.shape} to {dst.shape} with more than "
            "one size that follows the dynamic axes in a new position; it cannot be expressed "
            "for every size"
        )
    if 0 in target and any(n == 0 for i, n in enumerate(dst.shape) if i not in out_dyn):
        raise ExportError(f"export: op {node.describe()} reshapes to an empty shape {dst.shape}")
    return target


def expand_target(node: Node, src: Value, dst: Value) -> list[int]:
    """The shape argument of a broadcast from ``src`` to ``dst`` (numpy rules): 1 where a
    dynamic size is kept from the input, the static size elsewhere."""
    out_dyn = set(dst.dynamic_axes())
    lead = len(dst.shape) - len(src.shape)
    target = []
    for i, n in enumerate(dst.shape):
        if i in out_dyn:
            j = i - lead
            if j < 0 or src.shape[j] != n:
                raise ExportError(
                    f"export: op {node.describe()} broadcasts to a size that follows the "
                    "dynamic axes but is not the input's"
                )
            target.append(1)
        else:
            target.append(n)
    return target


def shape_arg(shape) -> tuple[int, ...]:
    """A ``*shape`` argument as recorded (``(2, 3)`` or ``((2, 3),)``) as a tuple of ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(operator.index(s) for s in shape)


# --- indexing ---------------------------------------------------------------------------------
@dataclass
class IndexPlan:
    """``x[index]`` as steps: slices on input axes, at most one integer-array gather, integer
    picks (each removes its axis) and new axes (positions in the output)."""

    slices: list[tuple[int, int, int, int]] = field(default_factory=list)  # axis, start, end, step
    gather: tuple[int, np.ndarray] | None = None
    picks: list[tuple[int, int]] = field(default_factory=list)
    new_axes: list[int] = field(default_factory=list)


def _slice_bounds(s: slice) -> tuple[int, int, int]:
    step = 1 if s.step is None else operator.index(s.step)
    if step == 0:
        raise ValueError("slice step cannot be zero")
    if s.start is None:
        start = 0 if step > 0 else INT64_MAX
    else:
        start = operator.index(s.start)
    if s.stop is None:
        stop = INT64_MAX if step > 0 else INT64_MIN
    else:
        stop = operator.index(s.stop)
    return start, stop, step


def index_plan(node: Node, index, ndim: int) -> IndexPlan:
    """The plan of ``x[index]`` for an ``ndim``-d ``x`` (basic indexing and one integer array;
    boolean masks and mixed integer/array indexing are refused)."""
    items = index if isinstance(index, tuple) else (index,)
    plan = IndexPlan()

    def array_of(it):
        if isinstance(it, Value):
            if not it.is_const:
                raise ExportError(
                    f"export: op {node.describe()} indexes with a tensor computed from the "
                    "input; only constant indices can be exported"
                )
            return it.const
        return np.asarray(it)

    consumed = 0
    for it in items:
        if it is None or it is Ellipsis:
            continue
        if not isinstance(it, (slice, numbers.Integral)):
            arr = array_of(it)
            if arr.dtype == bool:
                raise ExportError(f"export: op {node.describe()}: boolean-mask indexing")
        consumed += 1
    span = ndim - consumed
    d = p = 0
    for it in items:
        if it is None:
            plan.new_axes.append(p)
            p += 1
        elif it is Ellipsis:
            d += span
            p += span
        elif isinstance(it, slice):
            bounds = _slice_bounds(it)
            if bounds != (0, INT64_MAX, 1):
                plan.slices.append((d,) + bounds)
            d += 1
            p += 1
        elif isinstance(it, numbers.Integral) and not isinstance(it, bool):
            plan.picks.append((d, int(it)))
            d += 1
        else:
            arr = array_of(it)
            if arr.dtype.kind not in "iu":
                raise ExportError(f"export: op {node.describe()}: index of dtype {arr.dtype}")
            if plan.gather is not None:
                raise ExportError(
                    f"export: op {node.describe()}: indexing with more than one integer array"
                )
            plan.gather = (d, arr.astype(np.int64))
            d += 1
            p += arr.ndim
    if plan.gather is not None and plan.picks:
        raise ExportError(
            f"export: op {node.describe()}: indexing that mixes integers and integer arrays"
        )
    return plan


# --- pooling ----------------------------------------------------------------------------------
@dataclass
class PoolPlan:
    """A regular pooling: per spatial dim kernel, stride, dilation and (lo, hi) padding that
    makes every window lie inside the padded input (``hi`` covers ceil_mode's last window)."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[int, ...]  # the op's symmetric padding
    extra: tuple[int, ...]  # more padding after the input, for ceil_mode's last windows
    out: tuple[int, ...]


def pool_plan(node: Node, x: Value, n: int, kernel_size, stride, padding, dilation, ceil_mode):
    """The geometry of a max/avg pooling op as recorded."""
    require_static(node, x, range(len(x.shape) - n, len(x.shape)), "pooling windows")
    kernel = ntuple(kernel_size, n, "kernel_size")
    empty = stride is None or (isinstance(stride, (tuple, list)) and not stride)
    stride = kernel if empty else ntuple(stride, n, "stride")
    padding = ntuple(padding, n, "padding", minimum=0)
    dilation = ntuple(dilation, n, "dilation")
    size = x.shape[-n:]
    out = pool_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    extra = tuple(
        max(0, (o - 1) * s + d * (k - 1) + 1 - (i + 2 * p))
        for o, s, d, k, i, p in zip(out, stride, dilation, kernel, size, padding)
    )
    return PoolPlan(kernel, stride, dilation, padding, extra, out)


def avg_pool_scale(plan: PoolPlan, size, count_include_pad: bool, divisor_override):
    """Per output position, ``prod(kernel) / divisor`` with Lucid's (PyTorch's) divisor: the
    window clipped to input + padding, or to the input alone without ``count_include_pad``,
    or ``divisor_override``. An array of shape ``out`` (1 everywhere for a plain average)."""
    if divisor_override is not None:
        return np.full(plan.out, float(np.prod(plan.kernel)) / float(divisor_override))
    scale = np.ones((), dtype=np.float64)
    for s, o, k, st, p in zip(size, plan.out, plan.kernel, plan.stride, plan.padding):
        start = np.arange(o) * st - p
        end = np.minimum(start + k, s + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, s)
        scale = np.multiply.outer(scale, k / (end - start))
    return scale


def adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling bins [floor(i*S/O), ceil((i+1)*S/O)) along one axis."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def adaptive_output(node: Node, x: Value, n: int, output_size) -> tuple[int, ...]:
    """The output size of an adaptive pooling (None keeps that input size)."""
    require_static(node, x, range(len(x.shape) - n, len(x.shape)), "adaptive pooling bins")
    size = x.shape[-n:]
    if output_size is None or isinstance(output_size, numbers.Integral):
        output_size = (output_size,) * n
    return tuple(s if o is None else int(o) for o, s in zip(output_size, size))
