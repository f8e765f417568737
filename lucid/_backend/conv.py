"""MLX convolution kernels: forward, input gradient and weight gradient (N-d, grouped).

Implements ``docs/backend-conv-contract.md``: channels-first, always batched, 1-3 spatial dims,
cross-correlation with (lo, hi) zero padding per dim:

    y[n, co, o] = sum_{ci in group(co), k} w[co, ci', k] * xpad[n, ci, o*s + k*d]
    S_out = (S_in + lo + hi - d*(K-1) - 1) // s + 1      (conv_shape.conv_output_size)

Gradients are derived explicitly (no mx.grad / mx.vjp).  Each formulation below is a kernel set
(``KernelSet``); which one runs for a call is decided in one place, ``dispatch.conv_route``.

Tap set (``TAPS``, ``_tap_*``; channels-first, so no channels-last round trip).  With
T = prod(K) kernel taps and x_k = xpad[:, :, k*d : k*d + s*(S_out-1) + 1 : s] (a strided view):

  forward      y = sum_k w[:, :, k] . x_k.  Depthwise (C_in/groups == 1): T broadcast
               multiply-adds (a depth multiplier Og > 1 broadcasts over it).  Otherwise im2col
               cols = stack_k x_k viewed as (N, G, Cig*T, M) and one batched matmul
               (G, Og, Cig*T) @ cols, groups as the batch axis, M = prod(S_out).
  weight grad  dw[g] = dy[g] . cols[g]^T, contracted over N and M together in blocks:
               the N*M positions are cut into blocks of >= _DOT_BLOCK (``_contraction_blocks``),
               the im2col is stacked from one strided view of x per tap straight into
               (blocks, G, Cig*T, block), one batched matmul gives every block's partial
               product and those are summed blockwise (``accurate_sum``): a single float32
               running sum over N*M lost ~20x PyTorch's accuracy.
  input grad   the transposed convolution by stride phases: tap k writes dy[o] w_k to input
               position o*s + k*d - lo.  With k*d - lo = q_k*s + r_k (0 <= r_k < s), the taps
               of one residue r fill the lattice i = j*s + r with sum_k dy[j - q_k] w_k^T, a
               stride-1 correlation of (padded) dy at low resolution (multiply-adds or im2col +
               matmul as above).  The prod(s) phases are interleaved (a pixel shuffle) and
               cropped to in_spatial; positions no window reads get zero, and no inserted zero
               is ever multiplied.
  float16/bfloat16 are accumulated in float32 (as MLX's conv kernels do) and cast back.  When
  an im2col would exceed _COLS_LIMIT elements the batch is processed in chunks.

conv_general set (``CONV_GENERAL``, ``_conv_general_*``; channels-last, MLX weights
(C_out, *K, C_in/groups)):

  forward      conv_general(x -> (N, *S, C_in), w -> (C_out, *K, Cig), stride, (lo, hi), d).
  input grad   conv_general on dy with input_dilation=s, kernel_dilation=d, flip=True and the
               weight's in/out channels swapped within each group, (C_in, *K, Og); padding
               d*(K-1) - lo low and S_in + lo - 1 - (S_out-1)*s high, which yields exactly
               S_in positions even when s does not divide the input (a negative amount is
               applied as a crop of the result instead).
  weight grad  cross-correlate x with dy, stride and dilation swapping roles: x as
               (Cig, *S, G*N) (C_in/groups is the batch, (G, N) the channels), dy as the
               kernel (C_out, *S_out, N), groups=G, stride=d, kernel_dilation=s; the high
               padding is trimmed so the result is exactly (Cig, *K, C_out), which is then
               transposed to (C_out, Cig, *K).
  MLX rejects groups != 1 for 3D and float64 in its conv kernels, so those never come here.

Patch set (``PATCH``, ``_patch_*``; channels-first) for windows that do not overlap and need
no padding (``disjoint_windows``: 1x1x1 at any stride, patchify with stride == kernel).  Input
position o*s + k (k < K <= s) is read by tap k of output o only, so with x cut into its stride
blocks, (N, C, O0, s0, O1, s1, ...), the im2col is the first K entries of each block, moved to
(N, G, Cig*T, M) (for 1x1 just the subsampled x, no copy at stride 1):

  forward      y = W (G, Og, Cig*T) @ cols (N, G, Cig*T, M).
  weight grad  the tap set's blocked one (its im2col of disjoint windows is no larger than x).
  input grad   dcols = W^T @ dy, put back into the blocks (zero at the block entries >= K and
               past the last window), then reshaped to (N, C_in, *S_in).
"""

import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import mlx.core as mx

from lucid._backend.conv_shape import conv_output_size
from lucid._backend.core import accurate_sum
from lucid._backend.routing import disjoint

__all__ = ["KernelSet", "TAPS", "CONV_GENERAL", "PATCH", "disjoint_windows"]


class KernelSet(NamedTuple):
    """The contract's three functions (docs/backend-conv-contract.md) of one formulation."""

    conv_forward: Callable
    conv_input_grad: Callable
    conv_weight_grad: Callable


_HALF = (mx.float16, mx.bfloat16)
# im2col buffers hold T copies of an activation; above this many elements (256 MB in
# float32) the tap path splits the batch so that peak memory stays bounded
_COLS_LIMIT = 1 << 26
# A weight gradient contracts over batch and positions, N*M terms: one matmul accumulates them in
# one float32 running sum per output (sequentially on MLX's reference CPU BLAS and its Metal
# kernels), ~20x PyTorch's float32 error at 2 x 32^3. So the contraction is cut into blocks of
# at least this many terms along the leading position axes, one batched matmul gives each
# block's partial product, and those are summed blockwise (accurate_sum).
_DOT_BLOCK = 256


# ----------------------------------------------------------------------------- layout helpers


def _to_last(a):
    """(B, C, *S) -> (B, *S, C): MLX convolutions are channels-last."""
    return mx.moveaxis(a, 1, -1)


def _to_first(a):
    """(B, *S, C) -> (B, C, *S)."""
    return mx.moveaxis(a, -1, 1)


def _spatial(a, slices):
    """Index the spatial axes of a (B, C, *S) array."""
    return a[(slice(None), slice(None)) + tuple(slices)]


def _pad_spatial(a, pads, first=2):
    """Zero-pad (or crop, for negative amounts) the spatial axes starting at axis ``first``."""
    crop = tuple(
        slice(max(0, -lo), a.shape[first + i] - max(0, -hi)) for i, (lo, hi) in enumerate(pads)
    )
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        a = a[(slice(None),) * first + crop]
    widths = [(max(0, lo), max(0, hi)) for lo, hi in pads]
    if any(lo or hi for lo, hi in widths):
        a = mx.pad(a, [(0, 0)] * first + widths + [(0, 0)] * (a.ndim - first - len(pads)))
    return a


def _win(start, count, step):
    """Slice picking ``count`` elements ``start, start + step, ...``."""
    return slice(start, start + (count - 1) * step + 1, step)


def _taps(kernel_size):
    """All kernel offsets, row-major (the flattening order of the weight's kernel axes)."""
    return list(itertools.product(*(range(k) for k in kernel_size)))


def _batch_chunks(n, elems):
    """Batch ranges whose im2col stays under _COLS_LIMIT elements (one range if it fits)."""
    parts = min(n, -(-elems // _COLS_LIMIT))
    size = -(-n // max(1, parts))
    return [(i, min(n, i + size)) for i in range(0, n, size)]


def _stack(views, axis):
    """mx.stack, but a single view (1x1x1 kernels) is only reshaped, not copied."""
    return mx.expand_dims(views[0], axis) if len(views) == 1 else mx.stack(views, axis=axis)


def _work_dtype(dtype):
    """Accumulate half-precision tap sums in float32, as MLX's own conv kernels do."""
    return mx.float32 if dtype in _HALF else dtype


def _contraction_blocks(positions, width):
    """How a weight gradient's contraction over P = ``positions`` (N, *S_out) is cut: ``(j, b)``
    splits axis P[j] into (P[j] // b, b), the blocks being P[:j] + (P[j] // b,) and each block
    (b,) + P[j+1:], the shortest of at least max(_DOT_BLOCK, ``width``) terms (``width``, the
    output columns, keeps the partial products no larger than the operands). (0, N): one
    block."""
    target = max(_DOT_BLOCK, width)
    if math.prod(positions) < 2 * target:
        return 0, positions[0]
    j = max(i for i in range(len(positions)) if math.prod(positions[i:]) >= target)
    rest = math.prod(positions[j + 1 :])  # < target
    b = next(b for b in range(-(-target // rest), positions[j] + 1) if positions[j] % b == 0)
    return j, b


def _block_shapes(positions, j, b):
    """(blocks, block) shapes of a _contraction_blocks cut."""
    return positions[:j] + (positions[j] // b,), (b,) + positions[j + 1 :]


def _dy_blocks(dy, groups, j, b, og_last):
    """dy (N, C_out, *S_out) as (q, G, L, Og) (``og_last``) or (q, G, Og, L): its positions cut
    into the blocks of ``(j, b)`` (one copy)."""
    n, c_out = dy.shape[:2]
    og, nd = c_out // groups, dy.ndim - 2
    pos = (n,) + dy.shape[2:]
    blocks, block = _block_shapes(pos, j, b)
    # (N, G, Og, *O) with P[j] split in two; the axis numbers after the split
    p_axes = [0] + [3 + i for i in range(nd)]
    cut = p_axes[j]
    dims = [n, groups, og] + list(dy.shape[2:])
    dims = dims[:cut] + [pos[j] // b, b] + dims[cut + 1 :]

    def moved(ax):
        return ax + 1 if ax > cut else ax

    outer = [moved(a) for a in p_axes[:j]] + [cut]
    inner = [cut + 1] + [moved(a) for a in p_axes[j + 1 :]]
    g_ax, og_ax = moved(1), moved(2)
    order = outer + [g_ax] + (inner + [og_ax] if og_last else [og_ax] + inner)
    shape = (math.prod(blocks), groups) + (
        (math.prod(block), og) if og_last else (og, math.prod(block))
    )
    # contiguous: where the reshape can stay a view (N = 1 or one block per sample), MLX would
    # hand the BLAS a transposed operand, measured ~1.5x slower
    return mx.contiguous(mx.transpose(dy.reshape(dims), order).reshape(shape))


def _blocked_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups):
    """dw (C_out, Cig, *K) = sum over blocks of dy[b] . cols[b]^T per group: im2col built from
    one strided view of the padded x per tap, laid out (*blocks, C_in, T, *block), one batched
    matmul for all blocks, the partial products summed blockwise (accurate_sum)."""
    n, c_in = x.shape[:2]
    c_out = dy.shape[1]
    out, nd = tuple(dy.shape[2:]), dy.ndim - 2
    cig, og = c_in // groups, c_out // groups
    taps = _taps(kernel_size)
    pos = (n,) + out
    j, b = _contraction_blocks(pos, og)
    blocks, block = _block_shapes(pos, j, b)
    q, length = math.prod(blocks), math.prod(block)
    xp = _pad_spatial(x, padding)
    sp = xp.shape[2:]
    sp_str = [math.prod(sp[i + 1 :]) for i in range(nd)]  # element strides of the flat xp
    c_str = math.prod(sp)
    p_str = (c_in * c_str,) + tuple(s * st for s, st in zip(stride, sp_str))  # per position
    shape = blocks + (c_in,) + block
    strides = p_str[:j] + (b * p_str[j], c_str, p_str[j]) + p_str[j + 1 :]

    def view(t):
        start = sum(k * d * st for k, d, st in zip(t, dilation, sp_str))
        return mx.as_strided(xp, shape, strides, start)

    cols = _stack([view(t) for t in taps], len(blocks) + 1)  # (*blocks, C_in, T, *block)
    cols = cols.reshape((q, groups, cig * len(taps), length))
    if cig == 1 or og < 4:
        # depthwise or a few output channels: (q, G, Og, L) @ (q, G, L, Cig*T); depthwise
        # measured faster than one reduction per tap, Og = 2 2.6x faster than the product below
        part = _dy_blocks(dy, groups, j, b, og_last=False) @ mx.swapaxes(cols, 2, 3)
    else:
        # (q, G, Cig*T, L) @ (q, G, L, Og) with both operands contiguous: measured ~1.5-2x
        # faster than the transposed-operand product for wide groups
        part = mx.swapaxes(cols @ _dy_blocks(dy, groups, j, b, og_last=True), 2, 3)
    dw = part[0] if q == 1 else accurate_sum(part, (0,))
    return dw.reshape((c_out, cig) + tuple(kernel_size))


# ----------------------------------------------------------------------------- conv_general set


def _conv_general_forward(x, w, stride, padding, dilation, groups, conv=mx.conv_general):
    """One mx.conv_general call (groups=1 any dim; grouped 1D/2D).

    ``conv`` (same signature as mx.conv_general) lets benchmarks substitute emulations.
    """
    y = conv(
        _to_last(x),
        _to_last(w),
        stride=list(stride),
        padding=([p[0] for p in padding], [p[1] for p in padding]),
        kernel_dilation=list(dilation),
        groups=groups,
    )
    return _to_first(y)


def _conv_general_input_grad(
    dy, w, in_spatial, stride, padding, dilation, groups, conv=mx.conv_general
):
    """Transposed convolution as one mx.conv_general on dy with input_dilation=stride.

    Kernel flipped (flip=True), in/out channels swapped within each group.  Per dim the
    low padding is d*(K-1)-lo and the high padding is chosen so the output has exactly
    in_spatial positions; negative amounts become a crop of the output instead.
    """
    c_out, cig = w.shape[:2]
    k = w.shape[2:]
    nd = len(k)
    og = c_out // groups
    # (G, Og, Cig, *K) -> (G, Cig, *K, Og) -> (C_in, *K, Og): C_in outputs, Og inputs per group
    wt = w.reshape((groups, og, cig) + tuple(k))
    wt = mx.transpose(wt, (0, 2) + tuple(range(3, 3 + nd)) + (1,))
    wt = wt.reshape((groups * cig,) + tuple(k) + (og,))
    lo_pad, hi_pad, crops = [], [], []
    for n_in, n_out, kk, s, (lo, _), d in zip(
        in_spatial, dy.shape[2:], k, stride, padding, dilation
    ):
        p = d * (kk - 1) - lo
        crop_lo = max(0, -p)
        p = max(0, p)
        dilated = (n_out - 1) * s + 1
        q = n_in + crop_lo - (dilated + p - d * (kk - 1))
        lo_pad.append(p)
        hi_pad.append(max(0, q))
        crops.append(slice(crop_lo, crop_lo + n_in))
    dx = conv(
        _to_last(dy),
        wt,
        stride=1,
        padding=(lo_pad, hi_pad),
        kernel_dilation=list(dilation),
        input_dilation=list(stride),
        groups=groups,
        flip=True,
    )
    dx = dx[(slice(None),) + tuple(crops)]
    return _to_first(dx)


def _conv_general_weight_grad(
    x, dy, kernel_size, stride, padding, dilation, groups, conv=mx.conv_general
):
    """Weight gradient as one mx.conv_general: cross-correlate x with dy.

    C_in/groups acts as batch and (groups, N) as channels, dy (C_out, *S_out, N) is the
    kernel, and stride/dilation swap roles.  The input is padded (or cropped) so that the
    result has exactly kernel_size positions.
    """
    n, c_in = x.shape[:2]
    nd = len(kernel_size)
    cig = c_in // groups
    pads, crops = [], []
    for n_in, n_out, kk, s, (lo, _), d in zip(
        x.shape[2:], dy.shape[2:], kernel_size, stride, padding, dilation
    ):
        need = (kk - 1) * d + (n_out - 1) * s + 1  # padded extent actually read
        keep = min(n_in, max(1, need - lo))  # input positions worth keeping
        pads.append((lo, max(0, need - lo - keep) - (n_in - keep)))
        crops.append(slice(0, kk))
    sp = tuple(range(3, 3 + nd))
    # (N, G, Cig, *S) -> (Cig, *S, G, N) -> (Cig, *S, G*N)
    xt = mx.transpose(x.reshape((n, groups, cig) + x.shape[2:]), (2,) + sp + (1, 0))
    xt = xt.reshape((cig,) + x.shape[2:] + (groups * n,))
    xt = _pad_spatial(xt, pads, first=1)
    dyt = mx.transpose(dy, (1,) + tuple(range(2, 2 + nd)) + (0,))  # (C_out, *S_out, N)
    dw = conv(
        xt, dyt, stride=list(dilation), kernel_dilation=list(stride), groups=groups
    )  # (Cig, *K', C_out)
    dw = dw[(slice(None),) + tuple(crops)]
    return mx.transpose(dw, (nd + 1, 0) + tuple(range(1, nd + 1)))


# ----------------------------------------------------------------------------- tap set
# Convolution written as a sum over kernel taps of strided views, channels-first, so it
# needs no layout transposes: depthwise (C_in/groups == 1) as broadcast multiply-adds,
# everything else as one im2col batched matmul (batch = groups).


def _tap_forward(x, w, stride, padding, dilation, groups):
    """Forward by kernel taps: depthwise multiply-adds or im2col + batched matmul."""
    out = conv_output_size(x.shape[2:], w.shape[2:], stride, padding, dilation)
    cols = x.shape[0] * x.shape[1] * math.prod(w.shape[2:]) * math.prod(out)
    chunks = _batch_chunks(x.shape[0], cols) if w.shape[1] > 1 else [(0, x.shape[0])]
    if len(chunks) > 1:
        return mx.concatenate(
            [_tap_forward(x[a:b], w, stride, padding, dilation, groups) for a, b in chunks], axis=0
        )
    dt = x.dtype
    wd = _work_dtype(dt)
    x, w = x.astype(wd), w.astype(wd)
    n, c_in = x.shape[:2]
    c_out, cig = w.shape[:2]
    k = w.shape[2:]
    og = c_out // groups
    xp = _pad_spatial(x, padding)
    taps = _taps(k)

    def view(t):
        return _spatial(xp, (_win(kk * d, o, s) for kk, o, s, d in zip(t, out, stride, dilation)))

    if cig == 1:
        # depthwise: y[n, g, j] = sum_t x_t[n, g] * w[g, j, t]; broadcast over the multiplier j
        wg = w.reshape((groups, og, len(taps)))
        bshape = (1, groups, og) + (1,) * len(k)
        y = None
        for i, t in enumerate(taps):
            term = mx.expand_dims(view(t), 2) * wg[:, :, i].reshape(bshape)
            y = term if y is None else y + term
        return y.reshape((n, c_out) + out).astype(dt)
    # im2col: (N, C_in, T, *O) -> (N, G, Cig*T, M); weight (G, Og, Cig*T) as is
    cols = _stack([view(t) for t in taps], 2)
    cols = cols.reshape((n, groups, cig * len(taps), math.prod(out)))
    y = w.reshape((1, groups, og, cig * len(taps))) @ cols
    return y.reshape((n, c_out) + out).astype(dt)


def _tap_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups):
    """Weight gradient by kernel taps: dw = dy . im2col(x)^T per group, contracted over N*M in
    blocks (_blocked_weight_grad); batch chunks bound the im2col's memory."""
    chunks = _batch_chunks(
        x.shape[0], x.shape[0] * x.shape[1] * math.prod(kernel_size) * math.prod(dy.shape[2:])
    )
    if len(chunks) > 1:
        parts = [
            _tap_weight_grad(x[a:b], dy[a:b], kernel_size, stride, padding, dilation, groups)
            for a, b in chunks
        ]
        return accurate_sum(mx.stack(parts), (0,))
    dt = x.dtype
    wd = _work_dtype(dt)
    dw = _blocked_weight_grad(
        x.astype(wd), dy.astype(wd), kernel_size, stride, padding, dilation, groups
    )
    return dw.astype(dt)


class _Phases(NamedTuple):
    """Stride-phase geometry of a transposed convolution (``_tap_input_grad``), per spatial dim:
    every kernel offset k has k*d - lo = quotient*s + residue; the taps of one residue fill
    the lattice (``lattice`` positions) of one phase from dy padded by ``dy_pads``."""

    quotients: list  # per dim, per kernel offset
    residues: list  # per dim, per kernel offset
    lattice: tuple  # positions per phase lattice, ceil(S_in / s)
    dy_pads: list  # (lo, hi) padding of dy so every lattice read is in bounds
    taps_of: dict  # residue tuple -> indices (into _taps(K)) of the taps with it


def _phase_geometry(kernel_size, out, in_spatial, stride, padding, dilation):
    """The _Phases of a transposed convolution."""
    q = [
        [(kk * d - lo) // s for kk in range(kn)]
        for kn, s, d, (lo, _) in zip(kernel_size, stride, dilation, padding)
    ]
    r = [
        [(kk * d - lo) % s for kk in range(kn)]
        for kn, s, d, (lo, _) in zip(kernel_size, stride, dilation, padding)
    ]
    lat = tuple(-(-n_in // s) for n_in, s in zip(in_spatial, stride))
    pads = [(max(0, max(qi)), max(0, li - o - min(qi))) for qi, li, o in zip(q, lat, out)]
    taps_of = {}
    for i, t in enumerate(_taps(kernel_size)):
        taps_of.setdefault(tuple(r[j][t[j]] for j in range(len(t))), []).append(i)
    return _Phases(q, r, lat, pads, taps_of)


def _phase_sum(dyp, w, ph, idx, groups):
    """One phase of the input gradient: sum over its taps ``idx`` of w_k^T dy[j - q_k] on the
    phase lattice, (N, C_in, *lattice); dyp is dy padded by ph.dy_pads."""
    n, c_out = dyp.shape[:2]
    c_out_g, cig = c_out // groups, w.shape[1]
    taps = _taps(w.shape[2:])
    lat = ph.lattice

    def view(t):
        return _spatial(
            dyp,
            (_win(ph.dy_pads[i][0] - ph.quotients[i][t[i]], lat[i], 1) for i in range(len(lat))),
        )

    if cig == 1:
        # depthwise: elementwise products summed over taps (and the multiplier axis)
        wg = w.reshape((groups, c_out_g, len(taps)))
        bshape = (1, groups, c_out_g) + (1,) * len(lat)
        z = None
        for i in idx:
            term = view(taps[i]).reshape((n, groups, c_out_g) + lat) * wg[:, :, i].reshape(bshape)
            z = term if z is None else z + term
        z = z.sum(axis=2) if c_out_g > 1 else z
        return z.reshape((n, groups) + lat)
    cols = _stack([view(taps[i]) for i in idx], 2)  # (N, C_out, T_r, *L)
    cols = cols.reshape((n, groups, c_out_g * len(idx), math.prod(lat)))
    wg = w.reshape((groups, c_out_g, cig, len(taps)))
    wr = wg[..., mx.array(idx)] if len(idx) < len(taps) else wg
    wr = mx.swapaxes(wr, 1, 2).reshape((1, groups, cig, c_out_g * len(idx)))
    return (wr @ cols).reshape((n, groups * cig) + lat)  # (N, G, Cig, M) @ -> C_in


def _interleave_phases(zs, stride, in_spatial):
    """Pixel shuffle: the prod(stride) phase lattices (N, C, *L), in row-major residue order,
    interleaved to (N, C, *(L*s)) and cropped to in_spatial."""
    if len(zs) == 1:
        dx = zs[0]
    else:
        n, c = zs[0].shape[:2]
        lat = zs[0].shape[2:]
        nd = len(lat)
        # (N, C, *L, *s) -> (N, C, L0, s0, L1, s1, ...) -> (N, C, L0*s0, ...)
        dx = mx.stack(zs, axis=-1).reshape((n, c) + tuple(lat) + tuple(stride))
        perm = (0, 1) + tuple(a for i in range(nd) for a in (2 + i, 2 + nd + i))
        dx = mx.transpose(dx, perm).reshape((n, c) + tuple(li * s for li, s in zip(lat, stride)))
    return _spatial(dx, (slice(0, n_in) for n_in in in_spatial))


def _tap_input_grad(dy, w, in_spatial, stride, padding, dilation, groups):
    """Transposed convolution by output phases (sub-pixel decomposition; module docstring):
    batch chunks, then the phase geometry, one stride-1 correlation per phase, and the
    interleave. No inserted zero is ever multiplied."""
    in_spatial = tuple(in_spatial)
    cols = (
        dy.shape[0]
        * dy.shape[1]
        * math.prod(w.shape[2:])
        * math.prod(-(-n_in // s) for n_in, s in zip(in_spatial, stride))
    )
    chunks = _batch_chunks(dy.shape[0], cols) if w.shape[1] > 1 else [(0, dy.shape[0])]
    if len(chunks) > 1:
        return mx.concatenate(
            [
                _tap_input_grad(dy[a:b], w, in_spatial, stride, padding, dilation, groups)
                for a, b in chunks
            ],
            axis=0,
        )
    dt = dy.dtype
    wd = _work_dtype(dt)
    dy, w = dy.astype(wd), w.astype(wd)
    ph = _phase_geometry(w.shape[2:], dy.shape[2:], in_spatial, stride, padding, dilation)
    dyp = _pad_spatial(dy, ph.dy_pads)
    c_in = groups * w.shape[1]
    zs = []
    for residue in itertools.product(*(range(s) for s in stride)):
        idx = ph.taps_of.get(residue)
        zs.append(
            _phase_sum(dyp, w, ph, idx, groups)
            if idx
            else mx.zeros((dy.shape[0], c_in) + ph.lattice, dtype=wd)
        )
    return _interleave_phases(zs, stride, in_spatial).astype(dt)


# ----------------------------------------------------------------------------- patch set
# Kernel windows that do not overlap and need no padding: 1x1x1 convolutions (any stride: a
# strided one reads a subsample) and patchify convolutions (stride == kernel, e.g. a vision
# transformer's patch embedding).  Every input position is read by at most one tap, so the
# im2col is the input itself, subsampled or reshaped into its blocks (no T-fold copy), and the
# forward and input gradient are one batched matmul each, channels-first: no channels-last round
# trip. The weight gradient is the tap set's blocked contraction (_tap_weight_grad).


def disjoint_windows(kernel_size, stride, padding, dilation) -> bool:
    """True when the patch set applies: no padding and, per dim, a 1-wide kernel or an undilated
    one no wider than the stride (windows that do not overlap; ``routing.disjoint``)."""
    return disjoint(kernel_size, stride, padding, dilation)


def _blocks(a, out, stride):
    """(N, C, *S) -> (N, C, O0, s0, O1, s1, ...): the input cut into its stride blocks, zero-padded
    or cropped to O*s per dim first (positions past the last window are never read)."""
    a = _pad_spatial(a, [(0, o * s - n) for o, s, n in zip(out, stride, a.shape[2:])])
    return a.reshape(a.shape[:2] + tuple(v for o, s in zip(out, stride) for v in (o, s)))


def _patch_taps(a, kernel_size, out, stride):
    """(A, B, *S) -> (A, B, *K, *O): the entry of ``a`` that tap k of output o reads, o*s + k,
    for disjoint windows (a copy of at most ``a``'s size; none for 1x1 at stride 1)."""
    lead, nd = a.shape[:2], len(out)
    if all(k == 1 for k in kernel_size):  # 1x1: the (subsampled) input
        if any(s > 1 for s in stride):
            a = _spatial(a, (_win(0, o, s) for o, s in zip(out, stride)))
        return a.reshape(lead + (1,) * nd + tuple(out))
    taps = _blocks(a, out, stride)[
        (slice(None),) * 2 + tuple(v for k in kernel_size for v in (slice(None), slice(0, k)))
    ]
    # (A, B, O0, K0, O1, K1, ...) -> (A, B, K0, K1, ..., O0, O1, ...)
    return mx.transpose(
        taps, (0, 1) + tuple(3 + 2 * i for i in range(nd)) + tuple(2 + 2 * i for i in range(nd))
    )


def _patch_forward(x, w, stride, padding, dilation, groups):
    """y = W (G, Og, Cig*T) @ cols (N, G, Cig*T, M): one batched matmul."""
    dt = x.dtype
    wd = _work_dtype(dt)
    x, w = x.astype(wd), w.astype(wd)
    n, k = x.shape[0], w.shape[2:]
    out = conv_output_size(x.shape[2:], k, stride, padding, dilation)
    cols = _patch_taps(x, k, out, stride).reshape((n, groups, -1, math.prod(out)))
    y = w.reshape((1, groups, w.shape[0] // groups, -1)) @ cols
    return y.reshape((n, w.shape[0]) + out).astype(dt)


def _patch_input_grad(dy, w, in_spatial, stride, padding, dilation, groups):
    """dcols = W^T (G, Cig*T, Og) @ dy (N, G, Og, M), put back in place: each input position gets
    the gradient of the one tap that reads it (zero where none does)."""
    dt = dy.dtype
    wd = _work_dtype(dt)
    dy, w = dy.astype(wd), w.astype(wd)
    n, c_out = dy.shape[:2]
    k, out, nd = w.shape[2:], dy.shape[2:], dy.ndim - 2
    c_in = groups * w.shape[1]
    wt = mx.swapaxes(w.reshape((1, groups, c_out // groups, -1)), 2, 3)
    dcols = wt @ dy.reshape((n, groups, c_out // groups, math.prod(out)))  # (N, G, Cig*T, M)
    if all(kk == 1 for kk in k) and all(s == 1 for s in stride):
        return dcols.reshape((n, c_in) + tuple(out)).astype(dt)  # 1x1x1
    # (N, C, K0, ..., O0, ...) -> (N, C, O0, K0, O1, K1, ...), each K padded with zeros to s
    dcols = dcols.reshape((n, c_in) + tuple(k) + tuple(out))
    blocks = mx.transpose(dcols, (0, 1) + tuple(a for i in range(nd) for a in (2 + nd + i, 2 + i)))
    pads = [(0, 0)] * 2 + [p for kk, s in zip(k, stride) for p in ((0, 0), (0, s - kk))]
    if any(hi for _, hi in pads):
        blocks = mx.pad(blocks, pads)
    dx = blocks.reshape((n, c_in) + tuple(o * s for o, s in zip(out, stride)))
    return _pad_spatial(dx, [(0, i - o * s) for i, o, s in zip(in_spatial, out, stride)]).astype(dt)


TAPS = KernelSet(_tap_forward, _tap_input_grad, _tap_weight_grad)
CONV_GENERAL = KernelSet(_conv_general_forward, _conv_general_input_grad, _conv_general_weight_grad)
# the weight gradient's im2col of disjoint windows is no bigger than x: the taps' blocked one
PATCH = KernelSet(_patch_forward, _patch_input_grad, _tap_weight_grad)
