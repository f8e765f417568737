"""Independent float64 NumPy reference (test oracle) for convolution and pooling.

Everything here is computed by direct sums: a Python loop over kernel offsets,
vectorised with NumPy over batch, channels and output positions (strided slices
plus ``einsum``).  No FFT, no transposed-convolution tricks, no MLX, no autograd.

Conventions follow ``docs/backend-conv-contract.md``: channels-first, always
batched ``(N, C, *S)`` with 1, 2 or 3 spatial dims, cross-correlation, conv
padding given as ``(lo, hi)`` pairs per spatial dim.  Pooling and
ConvTranspose follow PyTorch's definitions (symmetric int padding).
"""

import itertools

import numpy as np


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _win(start, count, step):
    """Slice picking ``count`` elements ``start, start+step, ...``."""
    return slice(start, start + (count - 1) * step + 1, step)


def _offsets(kernel_size):
    """All kernel offsets in row-major order."""
    return itertools.product(*(range(k) for k in kernel_size))


def _tap(offset, out_spatial, stride, dilation):
    """Spatial slices of the (padded) input read by kernel tap ``offset``."""
    return tuple(_win(k * d, o, s) for k, o, s, d in zip(offset, out_spatial, stride, dilation))


def _grouped(a, groups):
    """(N, C, *S) -> (N, groups, C // groups, *S)."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


def _ungrouped(a):
    """(N, G, Cg, *S) -> (N, G*Cg, *S)."""
    return a.reshape(a.shape[0], a.shape[1] * a.shape[2], *a.shape[3:])


def conv_out_size(in_spatial, kernel_size, stride, padding, dilation):
    """Output spatial size of a convolution with (lo, hi) padding pairs."""
    return tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, s, (lo, hi), d in zip(in_spatial, kernel_size, stride, padding, dilation)
    )


def _zero_pad(x, padding):
    return np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in padding])


def conv_forward(x, w, stride, padding, dilation, groups):
    """y[n, co, o] = sum_{ci in group(co), k} w[co, ci', k] * xpad[n, ci, o*stride + k*dilation]."""
    x, w = _f64(x), _f64(w)
    K = w.shape[2:]
    out = conv_out_size(x.shape[2:], K, stride, padding, dilation)
    xg = _grouped(_zero_pad(x, padding), groups)  # (N, G, Cig, *Sp)
    wg = _grouped(w[None], groups)[0]  # (G, Cog, Cig, *K)
    y = np.zeros((x.shape[0], groups, w.shape[0] // groups) + out)
    for k in _offsets(K):
        xs = xg[(Ellipsis,) + _tap(k, out, stride, dilation)]
        y += np.einsum("ngc...,goc->ngo...", xs, wg[(Ellipsis,) + k])
    return _ungrouped(y)


def conv_input_grad(dy, w, in_spatial, stride, padding, dilation, groups):
    """Adjoint of ``conv_forward`` in x: scatter-add dy*w into the padded input, then crop.

    Input positions never read by any window get zero.
    """
    dy, w = _f64(dy), _f64(w)
    K, out = w.shape[2:], dy.shape[2:]
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(in_spatial, padding))
    cig = w.shape[1]
    dx = np.zeros((dy.shape[0], groups, cig) + padded)
    dyg = _grouped(dy, groups)  # (N, G, Cog, *So)
    wg = _grouped(w[None], groups)[0]  # (G, Cog, Cig, *K)
    for k in _offsets(K):
        dx[(Ellipsis,) + _tap(k, out, stride, dilation)] += np.einsum(
            "ngo...,goc->ngc...", dyg, wg[(Ellipsis,) + k]
        )
    crop = tuple(slice(lo, lo + n) for n, (lo, _) in zip(in_spatial, padding))
    return _ungrouped(dx[(Ellipsis,) + crop])


def conv_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups):
    """Adjoint of ``conv_forward`` in w.

    dw[co, ci', k] = sum_{n, o} dy[n, co, o] * xpad[n, ci, o*s + k*d].
    """
    x, dy = _f64(x), _f64(dy)
    kernel_size, out = tuple(kernel_size), dy.shape[2:]
    xg = _grouped(_zero_pad(x, padding), groups)  # (N, G, Cig, *Sp)
    dyg = _grouped(dy, groups).reshape(dy.shape[0], groups, -1, int(np.prod(out)))  # (N, G, Cog, P)
    dw = np.zeros((groups, dy.shape[1] // groups, x.shape[1] // groups) + kernel_size)
    for k in _offsets(kernel_size):
        xs = xg[(Ellipsis,) + _tap(k, out, stride, dilation)]
        xs = xs.reshape(xs.shape[:3] + (-1,))  # (N, G, Cig, P)
        dw[(Ellipsis,) + k] = np.einsum("ngcp,ngop->goc", xs, dyg)
    return dw.reshape((dy.shape[1], x.shape[1] // groups) + kernel_size)


def conv_transpose_out_size(in_spatial, kernel_size, stride, padding, output_padding, dilation):
    """PyTorch ConvTranspose output size: (S-1)*s - 2p + d*(K-1) + output_padding + 1."""
    return tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, k, s, p, op, d in zip(
            in_spatial, kernel_size, stride, padding, output_padding, dilation
        )
    )


def conv_transpose_forward(x, w, stride, padding, output_padding, dilation, groups):
    """ConvTranspose forward (PyTorch definition), weight (C_in, C_out // groups, *K).

    y[n, co, i*s + k*d - p] += x[n, ci, i] * w[ci, co', k]  (scatter of x*w, then crop p per side).
    """
    x, w = _f64(x), _f64(w)
    S, K = x.shape[2:], w.shape[2:]
    out = conv_transpose_out_size(S, K, stride, padding, output_padding, dilation)
    full = tuple(o + 2 * p for o, p in zip(out, padding))  # uncropped scatter buffer
    cog = w.shape[1]
    y = np.zeros((x.shape[0], groups, cog) + full)
    xg = _grouped(x, groups)  # (N, G, Cig, *S)
    wg = _grouped(w[None], groups)[0]  # (G, Cig, Cog, *K)
    for k in _offsets(K):
        dst = tuple(_win(kk * d, n, s) for kk, n, s, d in zip(k, S, stride, dilation))
        y[(Ellipsis,) + dst] += np.einsum("ngc...,gco->ngo...", xg, wg[(Ellipsis,) + k])
    crop = tuple(slice(p, p + o) for o, p in zip(out, padding))
    return _ungrouped(y[(Ellipsis,) + crop])


# ----------------------------------------------------------------------------- pooling


def pool_out_size(in_spatial, kernel_size, stride, padding, dilation, ceil_mode):
    """PyTorch pooling output size.

    In ceil mode the last window must start inside the input or the left padding.
    """
    res = []
    for n, k, s, p, d in zip(in_spatial, kernel_size, stride, padding, dilation):
        span = n + 2 * p - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + p:
            o -= 1
        res.append(o)
    return tuple(res)


def _pool_pad(x, out, kernel_size, stride, padding, dilation, value):
    """Pad lo by p and hi enough for every window (>= p), filling with ``value``."""
    pads = [(0, 0), (0, 0)]
    for n, o, k, s, p, d in zip(x.shape[2:], out, kernel_size, stride, padding, dilation):
        pads.append((p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)))
    return np.pad(x, pads, constant_values=value)


def max_pool_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Max pooling with -inf padding; returns (y, argmax).

    argmax is a flat index into x's spatial dims.

    Ties go to the first maximal element in row-major window order.
    """
    x = _f64(x)
    S = x.shape[2:]
    out = pool_out_size(S, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _pool_pad(x, out, kernel_size, stride, padding, dilation, -np.inf)
    y = np.full(x.shape[:2] + out, -np.inf)
    idx = np.full(x.shape[:2] + out, -1, dtype=np.int64)
    for k in _offsets(kernel_size):
        v = xp[(Ellipsis,) + _tap(k, out, stride, dilation)]
        # input coordinates read by this tap, per dim (open grid over output positions)
        coords = np.ix_(
            *(
                np.arange(o) * s + kk * d - p
                for o, s, kk, d, p in zip(out, stride, k, dilation, padding)
            )
        )
        inside = np.ones(out, dtype=bool)
        for c, n in zip(coords, S):
            inside = inside & (c >= 0) & (c < n)
        flat = np.ravel_multi_index(np.broadcast_arrays(*coords), S, mode="clip")
        take = (v > y) | ((idx < 0) & inside)  # strict '>' keeps the first maximum
        y = np.where(take, v, y)
        idx = np.where(take, flat, idx)
    return y, idx


def max_pool_backward(dy, argmax_indices, in_shape):
    """Scatter-add dy to the argmax positions (flat spatial indices) of an input of in_shape."""
    dy = _f64(dy)
    N, C = in_shape[:2]
    dx = np.zeros((N * C, int(np.prod(in_shape[2:]))))
    rows = np.arange(N * C)[:, None]
    np.add.at(dx, (rows, np.asarray(argmax_indices).reshape(N * C, -1)), dy.reshape(N * C, -1))
    return dx.reshape(in_shape)


def _avg_divisor(in_spatial, out, kernel_size, stride, padding, count_include_pad):
    """Per-output-position divisor of PyTorch's avg pooling.

    Windows are clipped to S + p; padded positions count only with count_include_pad.
    """
    div = np.ones(())
    for n, o, k, s, p in zip(in_spatial, out, kernel_size, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        div = np.multiply.outer(div, end - start)
    return div.astype(np.float64)


def avg_pool_forward(x, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True):
    """Average pooling (zero padding) with PyTorch's divisor rules."""
    x = _f64(x)
    S, ones = x.shape[2:], (1,) * len(kernel_size)
    out = pool_out_size(S, kernel_size, stride, padding, ones, ceil_mode)
    xp = _pool_pad(x, out, kernel_size, stride, padding, ones, 0.0)
    y = np.zeros(x.shape[:2] + out)
    for k in _offsets(kernel_size):
        y += xp[(Ellipsis,) + _tap(k, out, stride, ones)]
    return y / _avg_divisor(S, out, kernel_size, stride, padding, count_include_pad)


def avg_pool_backward(
    dy, in_shape, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True
):
    """Adjoint of ``avg_pool_forward``: scatter dy / divisor over each window, crop the padding."""
    dy = _f64(dy)
    S, ones = tuple(in_shape[2:]), (1,) * len(kernel_size)
    out = dy.shape[2:]
    g = dy / _avg_divisor(S, out, kernel_size, stride, padding, count_include_pad)
    dxp = _pool_pad(np.zeros(tuple(in_shape)), out, kernel_size, stride, padding, ones, 0.0)
    for k in _offsets(kernel_size):
        dxp[(Ellipsis,) + _tap(k, out, stride, ones)] += g
    crop = tuple(slice(p, p + n) for n, p in zip(S, padding))
    return dxp[(Ellipsis,) + crop]


# ----------------------------------------------------------------------------- generic


def numeric_grad(f, x, eps=1e-6):
    """Central finite-difference gradient of a scalar function f at x (float64)."""
    x = _f64(x).copy()
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = float(f(x))
        flat[i] = old - eps
        fm = float(f(x))
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g
