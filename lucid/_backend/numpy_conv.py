"""NumPy/OpenBLAS CPU convolution kernels, the kernel set "numpy" (contract:
docs/backend-conv-contract.md).

Why: MLX's Linux CPU wheel uses a reference BLAS, while NumPy's bundled OpenBLAS runs sgemm some
40x faster.  Every convolution here is reduced to a few large GEMMs (np.matmul -> OpenBLAS, with
the thread policy of blas_threads) plus long contiguous copies.  The measurements behind the
choices below are in docs/benchmarks.md.

Algorithm (one N-d implementation for 1/2/3 spatial dims, float32 and float64)
------------------------------------------------------------------------------
1. Polyphase grid.  The zero-padded input is split, per spatial dim, into `stride` phase
   sub-grids (padded index t = j*s + p).  Tap k, which reads t = o*s + k*d, then reads phase
   (k*d) % s at grid index o + (k*d)//s: every convolution becomes stride 1 on a grid and every
   tap is a constant flat shift.  Only phases some tap uses are built (a 1x1 stride-2 conv copies
   1/8 of the input); with no padding and stride 1 the input itself is the grid.  Layout
   (N, C, phase, grid), channels-first, so every copy moves long contiguous runs.
2. Segments.  Outputs are computed on the grid's flat index space, but only over rows that hold
   outputs: per (sample, output depth) plane in 3-D, per sample in 1-D/2-D.  Wasted GEMM columns
   are then the in-plane halo (6% for 32x32 with pad 1) instead of the whole padded volume's.
3. im2col + one GEMM per chunk (``_Chunk``).  The taps of one phase form an arithmetic
   progression of shifts, so a phase's whole im2col block is one strided view, copied in one
   NumPy call into the rows of those taps in the kernel's own order (so the weight is used as
   it is, with no reordered copy: on a 512->512 3x3x3 layer of a small volume that copy cost 9x
   the GEMM); then y_chunk = W (Co, Cg*K) @ cols (Cg*K, L).  A chunk's samples sit side by side
   in its columns: one GEMM reads the weight once for all of them.  Chunks hold ~4 MiB of
   columns (_COLS_BYTES).  Groups, depthwise included, are a batch dim of np.matmul; for
   depthwise that is a gemv over the taps, which beat elementwise multiply-adds on shifted
   views and einsum.
4. Weight grad: the same im2col blocks, dW += dy @ cols^T (dy laid out like the segments, zero
   in the halo), so dW comes out in the weight's own layout.
5. Input grad, two forms.  col2im: cols = W^T @ dy (W^T is a transposed view, no copy), then one
   strided add per tap into the polyphase grid; used for groups 1 while the output positions
   are few against C_out (deep layers, where the weight is large against the data).
   Gather: a convolution of the zero-framed dy with the flipped kernel, run once per input
   phase with that phase's taps, dx_phase[j] = sum_k W_k^T dy[j - shift_k]; it needs a
   transposed copy of the weight but bounded memory, and serves groups (col2im's GEMMs for
   depthwise are outer products, much slower).
6. Batch blocks keep the grids under _GRID_BYTES (128 MiB); a single sample larger than that is
   cut along its first spatial dim (blocks with overlapping input halos).  The im2col block is a
   per-thread reused ~4 MiB buffer.  Peak extra memory is about (1.1-1.4) x (input + output).

7. Threads.  The chunks of one call are independent: ``blas_threads.run_ordered`` hands them
   to a pool, each chunk's copy and GEMM on one thread with OpenBLAS set to one thread for the
   call (a pool for the copies alone, beside OpenBLAS's own spinning workers, was measured
   slower).  Chunks big enough for OpenBLAS to split run one after another instead.  The
   weight gradient's chunk products are summed in chunk order, so results never depend on the
   threads.

Measured and rejected: a channels-last layout (faster GEMMs, but the transposing copies ate the
gain).
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from typing import NamedTuple

import numpy as np

from lucid._backend import blas_threads as blas
from lucid._backend.conv_shape import conv_output_size

__all__ = ["conv_forward", "conv_input_grad", "conv_weight_grad"]

# Target size of one im2col block: big enough for efficient GEMMs, small enough to stay cached.
_COLS_BYTES = 4 << 20
# Upper bound for the per-call grids (padded input / segment-layout output), summed.
_GRID_BYTES = 128 << 20


def _view(buf, offset, shape, strides):
    """Strided view (element units) into contiguous `buf`; NumPy checks it stays in bounds."""
    it = buf.itemsize
    return np.ndarray(
        shape, buf.dtype, buffer=buf, offset=offset * it, strides=tuple(s * it for s in strides)
    )


class _PhaseTaps(NamedTuple):
    """The taps of one kernel dim that read one phase: kernel offsets first, first + step, ...
    (count of them), reading grid positions shifted by first_shift, + shift_step, ..."""

    first: int
    step: int
    count: int  # type: ignore[assignment]  # a field named like tuple.count, which it hides
    first_shift: int
    shift_step: int


class _Plan:
    """Polyphase grid geometry of one convolution (see module docstring, step 1)."""

    def __init__(self, in_spatial, kernel, stride, padding, dilation):
        S, K, s, d = (tuple(int(v) for v in a) for a in (in_spatial, kernel, stride, dilation))
        pad = tuple((int(lo), int(hi)) for lo, hi in padding)
        nd = len(S)
        self.nd, self.pad = nd, pad
        self.in_size, self.kernel, self.stride, self.dilation = S, K, s, d
        self.out_size = conv_output_size(S, K, s, pad, d)
        # per dim: phase value -> the _PhaseTaps reading it
        self.phase_taps = []
        qmax = []
        for i in range(nd):
            step = s[i] // math.gcd(d[i], s[i])
            groups = {}
            for k0 in range(min(step, K[i])):
                p = (k0 * d[i]) % s[i]
                cnt = len(range(k0, K[i], step))
                groups[p] = _PhaseTaps(k0, step, cnt, (k0 * d[i]) // s[i], step * d[i] // s[i])
            self.phase_taps.append(dict(sorted(groups.items())))
            qmax.append(((K[i] - 1) * d[i]) // s[i])
        self.max_shift = tuple(qmax)
        self.grid = tuple(self.out_size[i] + qmax[i] for i in range(nd))
        pitch = [1] * nd
        for i in range(nd - 2, -1, -1):
            pitch[i] = pitch[i + 1] * self.grid[i + 1]
        self.pitch = tuple(pitch)
        self.plane = pitch[0] * self.grid[0]
        self.phases = list(itertools.product(*[list(g) for g in self.phase_taps]))
        self.nphases = len(self.phases)
        # With no padding and stride 1 the grid is exactly the input: use it without copying.
        self.identity = all(s[i] == 1 and pad[i] == (0, 0) for i in range(nd))
        self.ntaps = math.prod(K)

    def taps(self, pi, reverse=False):
        """Taps of phase `pi`: (shape, base shift, shift strides)."""
        ph = self.phases[pi]
        shape, strides, base = [], [], 0
        for i in range(self.nd):
            k0, step, cnt, q0, qs = self.phase_taps[i][ph[i]]
            if reverse:  # increasing address order for the gather form (negative shifts)
                base += (q0 + qs * (cnt - 1)) * self.pitch[i]
            else:
                base += q0 * self.pitch[i]
            shape.append(cnt)
            strides.append(qs * self.pitch[i])
        return tuple(shape), base, tuple(strides)

    @functools.cached_property
    def boxes(self):
        """``phase_box`` of every phase."""
        return [self.phase_box(pi) for pi in range(self.nphases)]

    @functools.cached_property
    def forward_taps(self):
        """``_tap_layout(self)``, computed once per plan."""
        return _tap_layout(self)

    @functools.cached_property
    def reverse_taps(self):
        """``_tap_layout(self, reverse=True)``, computed once per plan."""
        return _tap_layout(self, reverse=True)

    def phase_box(self, pi):
        """Grid box (starts, sizes) of phase `pi` that maps onto real inputs, and input slices."""
        ph = self.phases[pi]
        js, us = [], []
        for i in range(self.nd):
            s, lo, S, Q, p = self.stride[i], self.pad[i][0], self.in_size[i], self.grid[i], ph[i]
            j0 = max(0, -((p - lo) // s))
            j1 = min(Q, (S - 1 + lo - p) // s + 1)
            if j1 <= j0:
                return None
            u0 = j0 * s + p - lo
            js.append((j0, j1 - j0))
            us.append(slice(u0, u0 + (j1 - j0 - 1) * s + 1, s))
        return js, tuple(us)


@functools.lru_cache(maxsize=512)
def _cached_plan(in_spatial, kernel, stride, padding, dilation):
    return _Plan(in_spatial, kernel, stride, padding, dilation)


def _plan(in_spatial, kernel, stride, padding, dilation):
    """The (immutable) _Plan of a geometry, built once per geometry: a network calls the same
    few geometries every step, and building one cost ~0.3 ms, a third of a small layer."""
    return _cached_plan(
        tuple(int(v) for v in in_spatial),
        tuple(int(v) for v in kernel),
        tuple(int(v) for v in stride),
        tuple((int(lo), int(hi)) for lo, hi in padding),
        tuple(int(v) for v in dilation),
    )


class _Chunk(NamedTuple):
    """One GEMM's share of a segment layout: samples [first_sample, + samples), segments
    [first_segment, + segments), and within each segment positions [first_offset, + length)."""

    first_sample: int
    samples: int
    first_segment: int
    segments: int
    first_offset: int
    length: int


class _Segs:
    """Segment layout of a box on the grid and its chunking (module docstring, step 2)."""

    def __init__(self, plan, starts, sizes, N, cols_per_pos):
        nd, pitch = plan.nd, plan.pitch
        self.lvl = 1 if nd >= 3 else 0
        self.sizes = tuple(sizes)
        self.nsps = sizes[0] if self.lvl else 1
        self.seglen = sum((sizes[i] - 1) * pitch[i] for i in range(self.lvl, nd)) + 1
        self.segstride = pitch[0] if self.lvl else 0
        self.size = self.nsps * self.seglen
        self.base0 = sum(starts[i] * pitch[i] for i in range(nd))
        self.plan = plan
        lmax = max(256, _COLS_BYTES // max(1, cols_per_pos))
        chunks = []
        if self.size <= lmax:
            nn = max(1, lmax // self.size)
            nch = -(-N // nn)  # balanced: no tiny last chunk
            nn = -(-N // nch)
            for n0 in range(0, N, nn):
                chunks.append(_Chunk(n0, min(nn, N - n0), 0, self.nsps, 0, self.seglen))
        elif self.seglen <= lmax:
            nj = lmax // self.seglen
            nch = -(-self.nsps // nj)
            nj = -(-self.nsps // nch)
            for n in range(N):
                for j0 in range(0, self.nsps, nj):
                    chunks.append(_Chunk(n, 1, j0, min(nj, self.nsps - j0), 0, self.seglen))
        else:
            nch = -(-self.seglen // lmax)
            tl = -(-self.seglen // nch)
            for n in range(N):
                for j in range(self.nsps):
                    for t0 in range(0, self.seglen, tl):
                        chunks.append(_Chunk(n, 1, j, 1, t0, min(tl, self.seglen - t0)))
        self.chunks = chunks

    def addr(self, ch):
        """Grid flat address (within a sample plane) of a chunk's first position."""
        return self.base0 + ch.first_segment * self.segstride + ch.first_offset

    def valid_view(self, comp):
        """(N, C, *box) view of the box values stored in a (N, C, M) segment-layout array."""
        N, C, M = comp.shape
        pitch = self.plan.pitch
        shape = (N, C) + self.sizes
        strides = (C * M, M) + ((self.seglen,) if self.lvl else ()) + pitch[self.lvl :]
        return _view(comp, 0, shape, strides)


def _fill(src, nstride, cstride, C, taps, segs, ch, cols, src_off=0):
    """im2col of one chunk: cols (C, nk, nn, L) <- grid taps, one strided copy per phase.

    Samples sit beside each other in the columns, so one GEMM serves the whole chunk (a batched
    GEMM would read the weight matrix once per sample)."""
    nn, nj, tl = ch.samples, ch.segments, ch.length
    L = nj * tl
    nk = cols.shape[1]
    a0 = src_off + ch.first_sample * nstride + segs.addr(ch)
    for poff, shape, base, kstr, doff, dstr_taps in taps:
        sshape = (nn, C) + shape + (nj, tl)
        sstr = (nstride, cstride) + kstr + (segs.segstride, 1)
        dstr = (L, nk * nn * L) + tuple(t * nn * L for t in dstr_taps) + (tl, 1)
        dst = _view(cols, doff * nn * L, sshape, dstr)
        np.copyto(dst, _view(src, a0 + poff + base, sshape, sstr))


def _to_grid(x, plan):
    """Padded polyphase grid (N, C, nph, plane) of x, zero outside the input."""
    N, C = x.shape[:2]
    if plan.identity:
        return np.ascontiguousarray(x).reshape(-1)
    g = np.zeros((N, C, plan.nphases) + plan.grid, x.dtype)
    boxes = plan.boxes

    for pi, b in enumerate(boxes):
        if b is not None:
            js, us = b
            dst = g[(slice(None), slice(None), pi) + tuple(slice(a, a + n) for a, n in js)]
            np.copyto(dst, x[(slice(None), slice(None)) + us])
    return g.reshape(-1)


def _tap_layout(plan, reverse=False):
    """Per phase, the taps ``_fill`` copies: (grid offset, tap shape, base shift, shift strides,
    first tap row, tap row strides).  Forward order puts each tap in its own row of the kernel's
    flat order, so the weight (Co, Cg * nk) serves as it is; reverse order (the gather form's
    taps, last first) packs each phase's taps together, in the order of ``_phase_slices``."""
    out, koff = [], 0
    kpitch = [math.prod(plan.kernel[i + 1 :]) for i in range(plan.nd)]
    for pi in range(plan.nphases):
        shape, base, kstr = plan.taps(pi, reverse)
        if reverse:
            rows = tuple(math.prod(shape[i + 1 :]) for i in range(plan.nd))
            out.append((pi * plan.plane, shape, base, kstr, koff, rows))
            koff += math.prod(shape)
        else:
            ph = plan.phases[pi]
            taps = [plan.phase_taps[i][ph[i]] for i in range(plan.nd)]
            first = sum(t.first * kp for t, kp in zip(taps, kpitch))
            rows = tuple(t.step * kp for t, kp in zip(taps, kpitch))
            out.append((pi * plan.plane, shape, base, kstr, first, rows))
    return out


def _phase_slices(plan, pi, reverse=False):
    """Per kernel dim, the slice of kernel offsets that phase ``pi``'s taps use, in ``taps``'
    order."""
    ph, out = plan.phases[pi], []
    for i in range(plan.nd):
        k0, step, cnt, _, _ = plan.phase_taps[i][ph[i]]
        last = k0 + step * (cnt - 1)
        if reverse:
            out.append(slice(last, k0 - 1 if k0 > 0 else None, -step))
        else:
            out.append(slice(k0, last + 1, step))
    return tuple(out)


_scratch = threading.local()


def _cols_buf(n, dtype):
    """Per-thread reusable scratch of n elements (a fresh 4 MiB block would page-fault each
    time)."""
    cache = getattr(_scratch, "bufs", None)
    if cache is None:
        cache = _scratch.bufs = {}
    key = np.dtype(dtype)
    b = cache.get(key)
    if b is None or b.size < n:
        b = np.empty(max(n, 1), dtype)
        cache[key] = b
    return b[:n]


def _batch_blocks(N, per_sample_bytes):
    """Split the batch so the per-call grids stay under _GRID_BYTES."""
    nb = max(1, min(N, _GRID_BYTES // max(1, per_sample_bytes)))
    return [(n0, min(N, n0 + nb)) for n0 in range(0, N, nb)]


def _sample_bytes(plan, C, Co, itemsize):
    """Upper bound of the grid memory one sample needs (input grid, dy grid, output layout)."""
    return (C * plan.nphases + Co + C) * plan.plane * itemsize


def _depth_blocks(plan, C, Co, itemsize):
    """None, or blocks of output rows (first spatial dim) for samples too big for _GRID_BYTES.

    Each block is (a, b, sub): output rows [a, b) are the convolution of input rows
    [u0, u1) under padding adjusted for the block (sub = (u0, u1, plan)), or sub is None when
    the block only sees padding.
    """
    per = _sample_bytes(plan, C, Co, itemsize)
    O0 = plan.out_size[0]
    if per <= _GRID_BYTES or O0 == 1:
        return None
    rows = max(1, O0 * _GRID_BYTES // per)
    (lo, _), s, d = plan.pad[0], plan.stride[0], plan.dilation[0]
    K, S = plan.kernel[0], plan.in_size[0]
    blocks = []
    for a in range(0, O0, rows):
        b = min(O0, a + rows)
        t0, t1 = a * s - lo, (b - 1) * s + (K - 1) * d - lo  # unpadded input rows read
        u0, u1 = max(0, t0), min(S - 1, t1)
        if u1 < u0:
            blocks.append((a, b, None))
            continue
        sub = _plan(
            (u1 - u0 + 1,) + plan.in_size[1:],
            plan.kernel,
            plan.stride,
            ((u0 - t0, t1 - u1),) + plan.pad[1:],
            plan.dilation,
        )
        blocks.append((a, b, (u0, u1 + 1, sub)))
    return blocks


def _chunk_cols(src, sample_stride, chan_stride, C, ntaps, tp, segs, ch, front=0):
    """(first sample, samples, first column, columns, cols) of one chunk of ``segs``, with cols
    (C, ntaps, samples, columns) its im2col block (this thread's reused scratch buffer: use it
    before filling the next chunk on the same thread)."""
    nn, L = ch.samples, ch.segments * ch.length
    cols = _cols_buf(nn * C * ntaps * L, src.dtype).reshape(C, ntaps, nn, L)
    _fill(src, sample_stride, chan_stride, C, tp, segs, ch, cols, front)
    return ch.first_sample, nn, ch.first_segment * segs.seglen + ch.first_offset, L, cols


def _chunk_work(segs, rows, out_rows):
    """Multiply-adds of the largest chunk's GEMM (rows x columns x out_rows)."""
    return rows * out_rows * max(c.samples * c.segments * c.length for c in segs.chunks)


def _gemm_into(a, b, out):
    """out (nn, G, M, L) <- a (G, M, K) @ b (G, K, nn * L), whose columns hold the nn samples
    side by side."""
    nn, G, M, L = out.shape
    if nn == 1:
        blas.matmul(a, b, out=out[0])
    else:
        np.copyto(out, blas.matmul(a, b).reshape(G, M, nn, L).transpose(2, 0, 1, 3))


def _forward(x, w, plan, G):
    """conv_forward for one plan (whole samples)."""
    N, C = x.shape[:2]
    Co, Cg = w.shape[:2]
    Cog, nk, it = Co // G, plan.ntaps, x.itemsize
    y = np.empty((N, Co) + plan.out_size, x.dtype)
    tp = plan.forward_taps
    W = np.ascontiguousarray(w).reshape(G, Cog, Cg * nk)
    zero = (0,) * plan.nd
    cs = plan.nphases * plan.plane
    for n0, n1 in _batch_blocks(N, _sample_bytes(plan, C, Co, it)):
        nb = n1 - n0
        grid = _to_grid(x[n0:n1], plan)
        segs = _Segs(plan, zero, plan.out_size, nb, C * nk * it)
        # no halo (e.g. 1x1 kernels): the segment layout is y's own layout, write in place
        direct = segs.size == math.prod(plan.out_size)
        comp = y[n0:n1].reshape(nb, Co, -1) if direct else np.empty((nb, Co, segs.size), x.dtype)

        def chunk(ch, grid=grid, segs=segs, comp=comp):
            c0, nn, m0, L, cols = _chunk_cols(grid, C * cs, cs, C, nk, tp, segs, ch)
            out = comp[c0 : c0 + nn].reshape(nn, G, Cog, segs.size)[..., m0 : m0 + L]
            _gemm_into(W, cols.reshape(G, Cg * nk, nn * L), out)

        blas.run_ordered(chunk, segs.chunks, _chunk_work(segs, C * nk, Cog))
        if not direct:
            np.copyto(y[n0:n1], segs.valid_view(comp))
    return y


def _dy_segments(dy, segs):
    """dy (N, Co, *O) in the (N, Co, M) segment layout, zero in the halo."""
    N, Co = dy.shape[:2]
    if segs.size == math.prod(dy.shape[2:]):
        return np.ascontiguousarray(dy).reshape(N, Co, segs.size)
    comp = np.zeros((N, Co, segs.size), dy.dtype)
    np.copyto(segs.valid_view(comp), dy)
    return comp


# with at least this many GEMM columns in all the weight gradient is accumulated transposed,
# cols @ dy^T, 25-40% faster on OpenBLAS than dy @ cols^T, and transposed once at the end;
# with fewer (deep layers of small volumes) that final copy of the weight would cost more
_WGRAD_TRANSPOSED_COLUMNS = 512


def _weight_grad(x, dy, plan, G):
    """conv_weight_grad for one plan: dW += dy_chunk @ cols^T per chunk (module docstring,
    step 4)."""
    N, C = x.shape[:2]
    Co = dy.shape[1]
    Cg, Cog, nk, it = C // G, Co // G, plan.ntaps, x.itemsize
    tp = plan.forward_taps
    zero = (0,) * plan.nd
    cs = plan.nphases * plan.plane
    transposed = None
    acc: list = []  # the first chunk's product, then the sum (no zeroed weight-sized array)

    def add(prod):
        if acc:
            acc[0] += prod
        else:
            acc.append(prod)

    for n0, n1 in _batch_blocks(N, _sample_bytes(plan, C, Co, it)):
        nb = n1 - n0
        grid = _to_grid(x[n0:n1], plan)
        segs = _Segs(plan, zero, plan.out_size, nb, C * nk * it)
        if transposed is None:
            transposed = N * segs.size // nb >= _WGRAD_TRANSPOSED_COLUMNS
        dyc = _dy_segments(dy[n0:n1], segs)

        def chunk(ch, grid=grid, segs=segs, dyc=dyc, transposed=transposed):
            c0, nn, m0, L, cols = _chunk_cols(grid, C * cs, cs, C, nk, tp, segs, ch)
            d = dyc[c0 : c0 + nn].reshape(nn, G, Cog, segs.size)[..., m0 : m0 + L]
            if nn == 1:
                d = d[0]
            else:
                d = np.ascontiguousarray(d.transpose(1, 2, 0, 3)).reshape(G, Cog, nn * L)
            a = cols.reshape(G, Cg * nk, nn * L)
            if transposed:
                return blas.matmul(a, d.transpose(0, 2, 1))
            return blas.matmul(d, a.transpose(0, 2, 1))

        # summed here in chunk order: the result does not depend on the threads
        blas.run_ordered(chunk, segs.chunks, _chunk_work(segs, C * nk, Cog), add)
    if not acc:  # an empty batch
        return np.zeros((Co, Cg) + plan.kernel, x.dtype)
    dW = acc[0]
    if transposed:
        dW = dW.transpose(0, 2, 1)
    return np.ascontiguousarray(dW).reshape((Co, Cg) + plan.kernel)


# col2im bytes cap: the input gradient's column block (C x taps x N x output positions)
_SCATTER_BYTES = 16 << 20


def _input_grad(dy, w, plan, G):
    """conv_input_grad for one plan.

    Two forms (module docstring, step 5).  col2im needs no reordered copy of the weight, which
    dominates when the weight is large against the data (deep layers of small volumes: a
    512->512 3x3x3 layer at 1x2x2 spent 90% of its time copying the weight); the gather form
    keeps memory bounded on large volumes and serves groups, where col2im's GEMMs degenerate.
    Measured (docs/benchmarks.md, "Conv3d layers of real networks"): col2im is faster while the
    output positions N x P are at most C_out (stride 1; 0.6-1.05x the gather form's time) or
    about 4 C_out (stride 2, whose gather form copies the weight once per phase), slower beyond
    (1.3-2.3x at 2-512 C_out), except when C_in is a quarter of C_out or less (a stem's 1 or 3
    input channels: 0.26-0.89x), where its columns are that much fewer than the gather's.
    """
    N, Co = dy.shape[:2]
    C = w.shape[1] * G
    positions = N * math.prod(plan.out_size)
    if (
        G == 1
        and (Co >= 4 * C or 2 * positions <= Co * (plan.nphases + 1))
        and C * plan.ntaps * positions * dy.itemsize <= _SCATTER_BYTES
    ):
        return _input_grad_scatter(dy, w, plan)
    return _input_grad_gather(dy, w, plan, G)


def _input_grad_scatter(dy, w, plan):
    """conv_input_grad for groups == 1 as col2im: cols = W^T @ dy in one GEMM, then each tap's
    columns are added into the polyphase grid at that tap's phase and shift."""
    N, Co = dy.shape[:2]
    C, nk, osz = w.shape[1], plan.ntaps, plan.out_size
    P = math.prod(osz)
    d = np.ascontiguousarray(dy).reshape(N, Co, P)
    d = d[0] if N == 1 else np.ascontiguousarray(d.transpose(1, 0, 2)).reshape(Co, N * P)
    wm = np.ascontiguousarray(w).reshape(Co, C * nk)
    cols = blas.matmul(wm.T, d).reshape((C, nk, N) + osz)
    g = np.zeros((N, C, plan.nphases) + plan.grid, dy.dtype)
    phase_of = {ph: i for i, ph in enumerate(plan.phases)}
    for k, kidx in enumerate(np.ndindex(*plan.kernel)):
        ph, box = [], []
        for i, ki in enumerate(kidx):
            r, s = ki * plan.dilation[i], plan.stride[i]
            ph.append(r % s)
            box.append(slice(r // s, r // s + osz[i]))
        dst = g[(slice(None), slice(None), phase_of[tuple(ph)]) + tuple(box)]
        np.add(dst, cols[:, k].swapaxes(0, 1), out=dst)
    dx = np.zeros((N, C) + plan.in_size, dy.dtype)
    for pi in range(plan.nphases):
        b = plan.boxes[pi]
        if b is not None:
            js, us = b
            src = g[(slice(None), slice(None), pi) + tuple(slice(a, a + n) for a, n in js)]
            np.copyto(dx[(slice(None), slice(None)) + us], src)
    return dx


def _input_grad_gather(dy, w, plan, G):
    """conv_input_grad in gather form, one pass per input phase (module docstring, step 5)."""
    N, Co = dy.shape[:2]
    Cg = w.shape[1]
    C, Cog, it = Cg * G, Co // G, dy.itemsize
    dx = np.zeros((N, C) + plan.in_size, dy.dtype)
    # dy on the grid with a zero frame: a read at (position - shift) whose true coordinate lies
    # outside O lands in a plane's halo or in the front pad, which are zero.
    front = sum(q * p for q, p in zip(plan.max_shift, plan.pitch))
    wg = w.reshape((G, Cog, Cg) + plan.kernel)
    phases = []
    for pi, (_, shape, base, kstr, _, rows) in enumerate(plan.reverse_taps):
        box = plan.boxes[pi]
        if box is not None:
            # (G, Cg, Cog * kp): the phase's taps, reversed, beside each output channel
            blk = wg[(slice(None),) * 3 + _phase_slices(plan, pi, reverse=True)]
            wp = np.ascontiguousarray(np.moveaxis(blk, 2, 1)).reshape(G, Cg, -1)
            kp = math.prod(shape)
            phases.append((box, kp, wp, [(-base, shape, 0, kstr, 0, rows)]))
    for n0, n1 in _batch_blocks(N, _sample_bytes(plan, C, Co, it)):
        nb = n1 - n0
        dyg = np.zeros(front + nb * Co * plan.plane, dy.dtype)
        dgv = _view(
            dyg, front, (nb, Co) + plan.out_size, (Co * plan.plane, plan.plane) + plan.pitch
        )
        np.copyto(dgv, dy[n0:n1])
        for (js, us), kp, wp, tp in phases:
            segs = _Segs(plan, [a for a, _ in js], [n for _, n in js], nb, Co * kp * it)
            comp = np.empty((nb, C, segs.size), dy.dtype)

            def chunk(ch, dyg=dyg, segs=segs, comp=comp, kp=kp, wp=wp, tp=tp):
                c0, nn, m0, L, cols = _chunk_cols(
                    dyg, Co * plan.plane, plan.plane, Co, kp, tp, segs, ch, front
                )
                out = comp[c0 : c0 + nn].reshape(nn, G, Cg, segs.size)[..., m0 : m0 + L]
                _gemm_into(wp, cols.reshape(G, Cog * kp, nn * L), out)

            blas.run_ordered(chunk, segs.chunks, _chunk_work(segs, Co * kp, Cg))
            np.copyto(dx[(slice(n0, n1), slice(None)) + us], segs.valid_view(comp))
    return dx


def conv_forward(x, w, stride, padding, dilation, groups):
    """Cross-correlation y = conv(x, w): x (N, C, *S), w (Co, C//groups, *K) -> (N, Co, *O)."""
    x = np.asarray(x)
    w = np.asarray(w, dtype=x.dtype)
    plan = _plan(x.shape[2:], w.shape[2:], stride, padding, dilation)
    blocks = _depth_blocks(plan, x.shape[1], w.shape[0], x.itemsize)
    if blocks is None:
        return _forward(x, w, plan, groups)
    y = np.zeros((x.shape[0], w.shape[0]) + plan.out_size, x.dtype)
    for a, b, sub in blocks:
        if sub is not None:
            u0, u1, sp = sub
            y[:, :, a:b] = _forward(x[:, :, u0:u1], w, sp, groups)
    return y


def conv_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups):
    """dW[co, ci, k] = sum_{n,o} dy[n, co, o] * xpad[n, ci, o*stride + k*dilation]."""
    x = np.asarray(x)
    dy = np.asarray(dy, dtype=x.dtype)
    plan = _plan(x.shape[2:], kernel_size, stride, padding, dilation)
    blocks = _depth_blocks(plan, x.shape[1], dy.shape[1], x.itemsize)
    if blocks is None:
        return _weight_grad(x, dy, plan, groups)
    dW = np.zeros((dy.shape[1], x.shape[1] // groups) + plan.kernel, x.dtype)
    for a, b, sub in blocks:
        if sub is not None:
            u0, u1, sp = sub
            dW += _weight_grad(x[:, :, u0:u1], dy[:, :, a:b], sp, groups)
    return dW


def conv_input_grad(dy, w, in_spatial, stride, padding, dilation, groups):
    """dx = adjoint of conv_forward in x (transposed convolution), spatial size in_spatial."""
    dy = np.asarray(dy)
    w = np.asarray(w, dtype=dy.dtype)
    plan = _plan(in_spatial, w.shape[2:], stride, padding, dilation)
    C = w.shape[1] * groups
    blocks = _depth_blocks(plan, C, dy.shape[1], dy.itemsize)
    if blocks is None:
        return _input_grad(dy, w, plan, groups)
    dx = np.zeros((dy.shape[0], C) + plan.in_size, dy.dtype)
    for a, b, sub in blocks:
        if sub is not None:
            u0, u1, sp = sub
            dx[:, :, u0:u1] += _input_grad(dy[:, :, a:b], w, sp, groups)  # halos overlap: add
    return dx
