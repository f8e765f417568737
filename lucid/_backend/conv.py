"""MLX convolution kernels: forward, input gradient and weight gradient (N-d, grouped).

DOCSTRING_PLACEHOLDER
"""

import itertools
import math

import mlx.core as mx

__all__ = ["conv_forward", "conv_input_grad", "conv_weight_grad"]

_HALF = (mx.float16, mx.bfloat16)


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
    for n_in, n_out, kk, s, (lo, _), d in zip(in_spatial, dy.shape[2:], k, stride, padding, dilation):
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
    c_out = dy.shape[1]
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
                         groups=groups)                            # (Cig, *K', C_out)
    dw = dw[(slice(None),) + tuple(crops)]
    return mx.transpose(dw, (nd + 1, 0) + tuple(range(1, nd + 1)))


# ----------------------------------------------------------------------------- tap path
# Grouped convolution written as a sum over kernel taps of strided views, channels-first,
# so it needs no layout transposes: depthwise (C_in/groups == 1) as broadcast
# multiply-adds, other groupings as one im2col batched matmul (batch = groups).

def _tap_forward(x, w, stride, padding, dilation, groups):
    """Grouped forward by kernel taps (see the module docstring)."""
    dt = x.dtype
    wd = _work_dtype(dt)
    x, w = x.astype(wd), w.astype(wd)
    n, c_in = x.shape[:2]
    c_out, cig = w.shape[:2]
    k = w.shape[2:]
    out = tuple((s_in + lo + hi - d * (kk - 1) - 1) // s + 1
                for s_in, kk, s, (lo, hi), d in zip(x.shape[2:], k, stride, padding, dilation))
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
    cols = mx.stack([view(t) for t in taps], axis=2)
    cols = cols.reshape((n, groups, cig * len(taps), math.prod(out)))
    y = w.reshape((1, groups, og, cig * len(taps))) @ cols
    return y.reshape((n, c_out) + out).astype(dt)


def _tap_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups):
    """Grouped weight gradient by kernel taps: dw = dy @ im2col(x)^T per group."""
    dt = x.dtype
    wd = _work_dtype(dt)
    x, dy = x.astype(wd), dy.astype(wd)
    n, c_in = x.shape[:2]
    c_out = dy.shape[1]
    out = dy.shape[2:]
    cig, og = c_in // groups, c_out // groups
    xp = _pad_spatial(x, padding)
    taps = _taps(kernel_size)
    m = math.prod(out)

    def view(t):
        return _spatial(xp, (_win(kk * d, o, s) for kk, o, s, d in zip(t, out, stride, dilation)))

    if cig == 1:
        # depthwise: one full reduction per tap beats materialising T copies of x
        dyg = dy.reshape((n, groups, og, m))
        red = []
        for t in taps:
            prod = dyg * view(t).reshape((n, groups, 1, m))
            red.append(prod.sum(axis=(0, 3)))                      # (G, Og)
        dw = mx.stack(red, axis=-1)                                # (G, Og, T)
        return dw.reshape((c_out, 1) + tuple(kernel_size)).astype(dt)
    cols = mx.stack([view(t) for t in taps], axis=2)
    cols = cols.reshape((n, groups, cig * len(taps), m))
    dw = dy.reshape((n, groups, og, m)) @ mx.swapaxes(cols, -1, -2)   # (N, G, Og, Cig*T)
    dw = dw.sum(axis=0) if n > 1 else dw[0]
    return dw.reshape((c_out, cig) + tuple(kernel_size)).astype(dt)


def _tap_input_grad(dy, w, in_spatial, stride, padding, dilation, groups):
    """Grouped transposed convolution by output phases (sub-pixel decomposition).

    Tap k lands on input positions o*s + k*d - lo.  Writing k*d - lo = q*s + r with
    0 <= r < s, all taps of one residue r fill the lattice i = j*s + r with
    sum_k dy[j - q_k] w_k: a stride-1 correlation at the low resolution.  The s^nd
    phases are then interleaved and cropped to in_spatial; no zero is ever multiplied.
    """
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
                term = view(taps[i]).reshape((n, groups, og) + tuple(lat)) * wg[:, :, i].reshape(bshape)
                z = term if z is None else z + term
            z = z.sum(axis=2) if og > 1 else z
        else:
            cols = mx.stack([view(taps[i]) for i in idx], axis=2)   # (N, C_out, T_r, *L)
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
        dx = mx.transpose(dx, perm).reshape((n, c_in) + tuple(li * s for li, s in zip(lat, stride)))
    dx = _spatial(dx, (slice(0, n_in) for n_in in in_spatial))
    return dx.astype(dt)


# ----------------------------------------------------------------------------- routing

def _use_taps(nd, groups, cig):
    """Whether the tap path serves this grouping (MLX has no grouped 3D conv)."""
    return groups > 1 and nd == 3


def conv_forward(x, w, stride, padding, dilation, groups):
    """Cross-correlation y = conv(x, w): x (N, C_in, *S), w (C_out, C_in/groups, *K) -> (N, C_out, *S_out)."""
    if _use_taps(x.ndim - 2, groups, w.shape[1]):
        return _tap_forward(x, w, stride, padding, dilation, groups)
    return _native_forward(x, w, stride, padding, dilation, groups)


def conv_input_grad(dy, w, in_spatial, stride, padding, dilation, groups):
    """Adjoint of conv_forward in x (transposed convolution): dy (N, C_out, *S_out) -> dx (N, C_in, *in_spatial)."""
    in_spatial = tuple(in_spatial)
    if _use_taps(dy.ndim - 2, groups, w.shape[1]):
        return _tap_input_grad(dy, w, in_spatial, stride, padding, dilation, groups)
    return _native_input_grad(dy, w, in_spatial, stride, padding, dilation, groups)


def conv_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups):
    """Adjoint of conv_forward in w: dw (C_out, C_in/groups, *kernel_size) from x and dy."""
    kernel_size = tuple(kernel_size)
    if _use_taps(x.ndim - 2, groups, x.shape[1] // groups):
        return _tap_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups)
    return _native_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups)
