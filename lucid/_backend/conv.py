"""MLX convolution kernels: forward, input gradient and weight gradient (N-d, grouped).

Implements ``docs/backend-conv-contract.md``: channels-first, always batched, 1-3 spatial dims,
cross-correlation with (lo, hi) zero padding per dim:

    y[n, co, o] = sum_{ci in group(co), k} w[co, ci', k] * xpad[n, ci, o*s + k*d]
    S_out = (S_in + lo + hi - d*(K-1) - 1) // s + 1

Gradients are derived explicitly (no mx.grad / mx.vjp).  Two implementations live here.

Tap path (``_tap_*``; works channels-first, so no channels-last round trip).  With T = prod(K)
kernel taps and x_k = xpad[:, :, k*d : k*d + s*(S_out-1) + 1 : s] (a strided view):

  forward      y = sum_k w[:, :, k] . x_k.  Depthwise (C_in/groups == 1): T broadcast
               multiply-adds (a depth multiplier Og > 1 broadcasts over it).  Otherwise im2col
               cols = stack_k x_k viewed as (N, G, Cig*T, M) and one batched matmul
               (G, Og, Cig*T) @ cols, groups as the batch axis, M = prod(S_out).
  weight grad  dw[g] = dy[g] . cols[g]^T with the same im2col built from x viewed as
               (C_in, N, *S), so N and M form one contraction axis of length N*M.
  input grad   the transposed convolution by stride phases: tap k writes dy[o] w_k to input
               position o*s + k*d - lo.  With k*d - lo = q_k*s + r_k (0 <= r_k < s), the taps
               of one residue r fill the lattice i = j*s + r with sum_k dy[j - q_k] w_k^T, a
               stride-1 correlation of (padded) dy at low resolution (multiply-adds or im2col +
               matmul as above).  The prod(s) phases are interleaved (a pixel shuffle) and
               cropped to in_spatial; positions no window reads get zero, and no inserted zero
               is ever multiplied.
  float16/bfloat16 are accumulated in float32 (as MLX's conv kernels do) and cast back.  When
  an im2col would exceed _COLS_LIMIT elements the batch is processed in chunks.

conv_general path (``_native_*``; channels-last, MLX weights (C_out, *K, C_in/groups)):

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
  MLX rejects groups != 1 for 3D and float64 in its conv kernels, so those always take the
  tap path.

Routing (``_use_taps``): the tap path for grouped 3D, for float64, and for everything on a
Linux CPU (MLX's reference-BLAS build, where it measured faster in every case below); the
conv_general path on Metal, CUDA and macOS's Accelerate-backed CPU, which were not measured
here.  Measured with ``benchmarks/depthwise_options.py`` (MLX 0.32.4, CPU
backend, shared 2-core VM, best of 7, float32, N=2, padding K//2; times in ms for forward /
input grad / weight grad; runs vary by up to ~30% under load):

  3D, C=32, S=8x16x16, K=3
           depthwise s=1   depthwise s=2   groups=8 s=1    groups=2 s=1    groups=2 s=2
  block    92 / 92 / 95    12 / 10 / 32    92 / 92 / 95    92 / 92 / 94    12 / 11 / 31
  loop     5.2/ 5.4/ 5.6   1.1/ 3.4/ 2.0   11 / 11 / 14    45 / 45 / 48    5.9/ 5.9/ 16
  fold     12 / 10 / 7.6   1.8/ 5.3/ 1.5   23 / 22 / 29    87 / 86 / 114   11 / 25 / 25
  fold1    6.5/ 6.5/ 8.4   1.2/ 2.6/ 1.5   22 / 22 / 24    86 / 86 / 94    12 / 24 / 12
  taps     1.6/ 1.6/ 4.5   0.8/ 1.1/ 0.8   6.2/ 6.3/ 14    20 / 21 / 22    2.9/ 3.9/ 3.1
  Depthwise Conv3d(64, 64, 3, groups=64), same S: loop 11 / 11 / 12, fold 24 / 21 / 15,
  fold1 13 / 14 / 15, taps 2.7 / 2.7 / 9.3 (block skipped: 64x the FLOPs).
  Dense (groups=1), same S: conv_general 92 / 92 / 94, taps 39 / 39 / 40.

  2D, C=32, S=32x32 and 1D, C=32, S=256, K=3 (MLX has grouped conv_general here: "native")
           2D depthwise       2D groups=2     1D depthwise        1D groups=2
  block    14 / 15 / 16       14 / 15 / 16    1.0 / 1.1 / 1.5     1.1 / 1.3 / 1.3
  loop     1.2/ 1.5/ 2.1      6.6/ 6.6/ 8.3   0.8 / 1.2 / 1.0     0.5 / 0.5 / 0.7
  native   1.8/ 1.9/ 1.4      18 / 18 / 19    0.08/ 0.25/ 0.13    0.50/ 1.39/ 0.69
  taps     0.32/0.33/0.81     3.5/ 3.5/ 3.7   0.08/ 0.08/ 0.11    0.34/ 0.35/ 0.35

  block = block-diagonal dense weight, one groups=1 conv_general (groups x the FLOPs);
  loop = one groups=1 conv_general per group; fold = depth folded into grouped conv2d, one call
  per depth tap; fold1 = the KD depth-shifted slices stacked into channels, one grouped conv2d.
  The tap path was fastest in every row, dense convs included (MLX's CPU conv has an im2col +
  gemm path only for undilated groups=1 convs and a naive loop otherwise, and both measured
  slower), so on a Linux CPU it serves everything.  A depthwise Conv3d(64, 64, 3, groups=64) is 27
  broadcast multiply-adds, not 64 kernel calls.
"""

import itertools
import math
import sys

import mlx.core as mx

__all__ = ["conv_forward", "conv_input_grad", "conv_weight_grad"]

_HALF = (mx.float16, mx.bfloat16)
# im2col buffers hold T copies of an activation; above this many elements (256 MB in
# float32) the tap path splits the batch so that peak memory stays bounded
_COLS_LIMIT = 1 << 26


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
    crop = tuple(slice(max(0, -lo), a.shape[first + i] - max(0, -hi))
                 for i, (lo, hi) in enumerate(pads))
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


def _out_size(spatial, kernel_size, stride, padding, dilation):
    """S_out = (S_in + lo + hi - d*(K-1) - 1) // s + 1 per spatial dim."""
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                 for n, k, s, (lo, hi), d in zip(spatial, kernel_size, stride, padding, dilation))


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


# ----------------------------------------------------------------------------- native MLX path

def _native_forward(x, w, stride, padding, dilation, groups, conv=mx.conv_general):
    """One mx.conv_general call (groups=1 any dim; grouped 1D/2D).

    ``conv`` (same signature as mx.conv_general) lets benchmarks substitute emulations.
    """
    y = conv(_to_last(x), _to_last(w), stride=list(stride),
             padding=([p[0] for p in padding], [p[1] for p in padding]),
             kernel_dilation=list(dilation), groups=groups)
    return _to_first(y)


def _native_input_grad(dy, w, in_spatial, stride, padding, dilation, groups,
                       conv=mx.conv_general):
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
    for n_in, n_out, kk, s, (lo, _), d in zip(in_spatial, dy.shape[2:], k, stride, padding,
                                              dilation):
        p = d * (kk - 1) - lo
        crop_lo = max(0, -p)
        p = max(0, p)
        dilated = (n_out - 1) * s + 1
        q = n_in + crop_lo - (dilated + p - d * (kk - 1))
        lo_pad.append(p)
        hi_pad.append(max(0, q))
        crops.append(slice(crop_lo, crop_lo + n_in))
    dx = conv(_to_last(dy), wt, stride=1, padding=(lo_pad, hi_pad),
              kernel_dilation=list(dilation), input_dilation=list(stride),
              groups=groups, flip=True)
    dx = dx[(slice(None),) + tuple(crops)]
    return _to_first(dx)


def _native_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups,
                        conv=mx.conv_general):
    """Weight gradient as one mx.conv_general: cross-correlate x with dy.

    C_in/groups acts as batch and (groups, N) as channels, dy (C_out, *S_out, N) is the
    kernel, and stride/dilation swap roles.  The input is padded (or cropped) so that the
    result has exactly kernel_size positions.
    """
    n, c_in = x.shape[:2]
    nd = len(kernel_size)
    cig = c_in // groups
    pads, crops = [], []
    for n_in, n_out, kk, s, (lo, _), d in zip(x.shape[2:], dy.shape[2:], kernel_size,
                                              stride, padding, dilation):
        need = (kk - 1) * d + (n_out - 1) * s + 1      # padded extent actually read
        keep = min(n_in, max(1, need - lo))           # input positions worth keeping
        pads.append((lo, max(0, need - lo - keep) - (n_in - keep)))
        crops.append(slice(0, kk))
    sp = tuple(range(3, 3 + nd))
    # (N, G, Cig, *S) -> (Cig, *S, G, N) -> (Cig, *S, G*N)
    xt = mx.transpose(x.reshape((n, groups, cig) + x.shape[2:]), (2,) + sp + (1, 0))
    xt = xt.reshape((cig,) + x.shape[2:] + (groups * n,))
    xt = _pad_spatial(xt, pads, first=1)
    dyt = mx.transpose(dy, (1,) + tuple(range(2, 2 + nd)) + (0,))   # (C_out, *S_out, N)
    dw = conv(xt, dyt, stride=list(dilation), kernel_dilation=list(stride),
              groups=groups)                                       # (Cig, *K', C_out)
    dw = dw[(slice(None),) + tuple(crops)]
    return mx.transpose(dw, (nd + 1, 0) + tuple(range(1, nd + 1)))


# ----------------------------------------------------------------------------- tap path
# Convolution written as a sum over kernel taps of strided views, channels-first, so it
# needs no layout transposes: depthwise (C_in/groups == 1) as broadcast multiply-adds,
# everything else as one im2col batched matmul (batch = groups).

def _tap_forward(x, w, stride, padding, dilation, groups):
    """Forward by kernel taps: depthwise multiply-adds or im2col + batched matmul."""
    out = _out_size(x.shape[2:], w.shape[2:], stride, padding, dilation)
    cols = x.shape[0] * x.shape[1] * math.prod(w.shape[2:]) * math.prod(out)
    chunks = _batch_chunks(x.shape[0], cols) if w.shape[1] > 1 else [(0, x.shape[0])]
    if len(chunks) > 1:
        return mx.concatenate([_tap_forward(x[a:b], w, stride, padding, dilation, groups)
                               for a, b in chunks], axis=0)
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
    """Weight gradient by kernel taps: dw = dy . im2col(x)^T per group, contracted over N*M."""
    chunks = _batch_chunks(x.shape[0], x.shape[0] * x.shape[1] * math.prod(kernel_size)
                           * math.prod(dy.shape[2:]))
    if len(chunks) > 1:
        parts = [_tap_weight_grad(x[a:b], dy[a:b], kernel_size, stride, padding, dilation, groups)
                 for a, b in chunks]
        return sum(parts[1:], parts[0])
    dt = x.dtype
    wd = _work_dtype(dt)
    x, dy = x.astype(wd), dy.astype(wd)
    n, c_in = x.shape[:2]
    c_out = dy.shape[1]
    out = dy.shape[2:]
    cig, og = c_in // groups, c_out // groups
    taps = _taps(kernel_size)
    nm = n * math.prod(out)
    # views of the padded x as (C_in, N, *S): stacking them at axis 1 lays im2col out as
    # (G, Cig*T, N*M), so batch and positions form one contraction axis (no sum over N)
    xt = mx.swapaxes(_pad_spatial(x, padding), 0, 1)
    cols = _stack([_spatial(xt, (_win(kk * d, o, s) for kk, o, s, d in
                                 zip(t, out, stride, dilation))) for t in taps], 1)
    cols = cols.reshape((groups, cig * len(taps), nm))
    if cig == 1:
        # depthwise: (G, Og, NM) @ (G, NM, T); measured faster than one reduction per tap
        dyt = mx.swapaxes(dy, 0, 1).reshape((groups, og, nm))
        dw = dyt @ mx.swapaxes(cols, 1, 2)
    else:
        # (G, Cig*T, NM) @ (G, NM, Og) with both operands contiguous: measured ~1.5-2x
        # faster than the transposed-operand product for wide groups
        dyt = mx.transpose(dy.reshape((n, groups, og, -1)), (1, 0, 3, 2)).reshape((groups, nm, og))
        dw = mx.swapaxes(cols @ dyt, 1, 2)
    return dw.reshape((c_out, cig) + tuple(kernel_size)).astype(dt)


def _tap_input_grad(dy, w, in_spatial, stride, padding, dilation, groups):
    """Transposed convolution by output phases (sub-pixel decomposition).

    Tap k lands on input positions o*s + k*d - lo.  Writing k*d - lo = q*s + r with
    0 <= r < s, all taps of one residue r fill the lattice i = j*s + r with
    sum_k dy[j - q_k] w_k: a stride-1 correlation at the low resolution.  The s^nd
    phases are then interleaved and cropped to in_spatial; no zero is ever multiplied.
    """
    cols = dy.shape[0] * dy.shape[1] * math.prod(w.shape[2:]) * math.prod(
        -(-n_in // s) for n_in, s in zip(in_spatial, stride))
    chunks = _batch_chunks(dy.shape[0], cols) if w.shape[1] > 1 else [(0, dy.shape[0])]
    if len(chunks) > 1:
        return mx.concatenate([_tap_input_grad(dy[a:b], w, in_spatial, stride, padding, dilation,
                                               groups) for a, b in chunks], axis=0)
    dt = dy.dtype
    wd = _work_dtype(dt)
    dy, w = dy.astype(wd), w.astype(wd)
    n, c_out = dy.shape[:2]
    cig = w.shape[1]
    k = w.shape[2:]
    out = dy.shape[2:]
    nd = len(k)
    og = c_out // groups
    c_in = groups * cig
    taps = _taps(k)
    # per dim: residue and quotient of every kernel offset, lattice length, dy padding
    q = [[(kk * d - lo) // s for kk in range(kn)] for kn, s, d, (lo, _) in
         zip(k, stride, dilation, padding)]
    r = [[(kk * d - lo) % s for kk in range(kn)] for kn, s, d, (lo, _) in
         zip(k, stride, dilation, padding)]
    lat = [-(-n_in // s) for n_in, s in zip(in_spatial, stride)]
    pads = [(max(0, max(qi)), max(0, li - o - min(qi))) for qi, li, o in zip(q, lat, out)]
    dyp = _pad_spatial(dy, pads)

    def view(t):
        return _spatial(dyp, (_win(pads[i][0] - q[i][t[i]], lat[i], 1) for i in range(nd)))

    phases = {}
    for i, t in enumerate(taps):
        phases.setdefault(tuple(r[j][t[j]] for j in range(nd)), []).append(i)
    if cig == 1:
        wg = w.reshape((groups, og, len(taps)))
        bshape = (1, groups, og) + (1,) * nd
    else:
        wg = w.reshape((groups, og, cig, len(taps)))
    m = math.prod(lat)
    zs = []
    for ph in itertools.product(*(range(s) for s in stride)):
        idx = phases.get(ph)
        if not idx:
            zs.append(mx.zeros((n, c_in) + tuple(lat), dtype=wd))
            continue
        if cig == 1:
            # depthwise: elementwise products summed over taps (and the multiplier axis)
            z = None
            for i in idx:
                term = (view(taps[i]).reshape((n, groups, og) + tuple(lat))
                        * wg[:, :, i].reshape(bshape))
                z = term if z is None else z + term
            z = z.sum(axis=2) if og > 1 else z
        else:
            cols = _stack([view(taps[i]) for i in idx], 2)          # (N, C_out, T_r, *L)
            cols = cols.reshape((n, groups, og * len(idx), m))
            wr = wg[..., mx.array(idx)] if len(idx) < len(taps) else wg
            wr = mx.swapaxes(wr, 1, 2).reshape((1, groups, cig, og * len(idx)))
            z = wr @ cols                                               # (N, G, Cig, M)
        zs.append(z.reshape((n, c_in) + tuple(lat)))
    if len(zs) == 1:
        dx = zs[0]
    else:
        # interleave: (N, C, *L, *s) -> (N, C, L0, s0, L1, s1, ...) -> (N, C, L0*s0, ...)
        dx = mx.stack(zs, axis=-1).reshape((n, c_in) + tuple(lat) + tuple(stride))
        perm = (0, 1) + tuple(a for i in range(nd) for a in (2 + i, 2 + nd + i))
        dx = mx.transpose(dx, perm).reshape((n, c_in) + tuple(li * s for li, s in
                                                            zip(lat, stride)))
    dx = _spatial(dx, (slice(0, n_in) for n_in in in_spatial))
    return dx.astype(dt)


# ----------------------------------------------------------------------------- routing

def _use_taps(nd, groups, dtype):
    """Route to the tap path for grouped 3D (MLX has no grouped 3D conv), for float64 (MLX's
    conv kernels reject it), and on a Linux CPU, where MLX's conv runs on a reference BLAS and
    the taps measured faster in every case (module docstring). Elsewhere (Metal, CUDA, macOS's
    Accelerate-backed CPU) MLX's own convolution primitive runs."""
    return ((groups > 1 and nd == 3) or dtype == mx.float64
            or (_REFERENCE_BLAS_CPU and mx.default_device().type == mx.cpu))


_REFERENCE_BLAS_CPU = sys.platform != "darwin"


def conv_forward(x, w, stride, padding, dilation, groups):
    """Cross-correlation: x (N, C_in, *S), w (C_out, C_in/groups, *K) -> y (N, C_out, *S_out)."""
    if _use_taps(x.ndim - 2, groups, x.dtype):
        return _tap_forward(x, w, stride, padding, dilation, groups)
    return _native_forward(x, w, stride, padding, dilation, groups)


def conv_input_grad(dy, w, in_spatial, stride, padding, dilation, groups):
    """Adjoint of conv_forward in x (transposed convolution): dy -> dx (N, C_in, *in_spatial)."""
    in_spatial = tuple(in_spatial)
    if _use_taps(dy.ndim - 2, groups, dy.dtype):
        return _tap_input_grad(dy, w, in_spatial, stride, padding, dilation, groups)
    return _native_input_grad(dy, w, in_spatial, stride, padding, dilation, groups)


def conv_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups):
    """Adjoint of conv_forward in w: x, dy -> dw (C_out, C_in/groups, *kernel_size)."""
    kernel_size = tuple(kernel_size)
    if _use_taps(x.ndim - 2, groups, x.dtype):
        return _tap_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups)
    return _native_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups)
