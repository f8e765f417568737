"""``sliding_window_inference``: a predictor run over overlapping windows of a large volume.

MONAI's semantics (``monai.inferers.sliding_window_inference``): windows of ``roi_size`` start
every ``int(roi * (1 - overlap))`` voxels along each spatial dim, the last one moved back to end
at the volume's edge; each window's output is weighted (``"constant"``: 1, ``"gaussian"``: a
Gaussian of sigma ``sigma_scale * roi`` centred on the window, floored at ``max(min, 1e-3)``),
added into the output, and the sum is divided by the summed weights. A volume smaller than the
window is padded (half before, the rest after) and the output cropped back.

Memory: the output and the weight map are accumulated in place as each window batch finishes
(their buffers are reused by MLX, never copied per window), so the peak is the output, the
weight map and one window batch with the predictor's activations -- never a list of windows.
Measured for a 1x1x96x96x96 float32 input (3.4 MiB), roi 32^3, ``sw_batch_size=4``, gaussian
blending, an identity predictor, with ``lucid.memory.peak()`` (MLX's counter; it reports on a
Linux CPU too): 2.33x the input's size above what was live before the call (1x output, 1x
weight map, 0.33x for the window batch); docs/segmentation.md has the script.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from lucid import _backend as B
from lucid.autograd import no_grad
from lucid.creation import zeros
from lucid.nn.functional import interpolate
from lucid.ops.padding import MODES as PADDING_MODES, pad
from lucid.ops.shape import cat
from lucid.tensor import Tensor

__all__ = ["sliding_window_inference"]

BLEND_MODES = ("constant", "gaussian")
# MONAI's keywords that this function does not implement: refused, not passed to the predictor
# (``condition`` would reach it whole instead of windowed: a silently wrong result)
UNSUPPORTED = (
    "sw_device",
    "device",
    "roi_weight_map",
    "process_fn",
    "buffer_steps",
    "buffer_dim",
    "with_coord",
    "condition",
)
_EVAL_EVERY = 256  # windows added to a weight map per evaluation (bounds MLX's lazy graph)
_log = logging.getLogger(__name__)


def sliding_window_inference(
    inputs: Tensor,
    roi_size: int | Sequence[int | None] | None,
    sw_batch_size: int,
    predictor: Callable[..., Any],
    overlap: float | Sequence[float] = 0.25,
    mode: str = "constant",
    sigma_scale: float | Sequence[float] = 0.125,
    padding_mode: str = "constant",
    cval: float = 0.0,
    progress: bool = False,
    *args: Any,
    **kwargs: Any,
) -> Tensor | tuple[Tensor, ...] | dict[Any, Tensor]:
    """Run ``predictor`` on windows of ``roi_size`` over ``inputs`` (N, C, *spatial) and blend
    the window outputs, as ``monai.inferers.sliding_window_inference``.

    ``roi_size``: an int or one entry per spatial dim; ``None`` or ``<= 0`` takes the whole dim.
    A window larger than the input pads it (``padding_mode``: constant with ``cval``, reflect,
    replicate, circular) and the output is cropped back. ``sw_batch_size`` windows (of any images
    of the batch) go to the predictor at once; ``overlap`` (per dim, in [0, 1)) sets the stride
    ``int(roi * (1 - overlap))``, the last window ending at the edge. ``mode``: ``"constant"``
    or ``"gaussian"`` (sigma ``sigma_scale * roi``) blending weights.

    ``predictor(window, *args, **kwargs)`` returns a Tensor, a tuple/list or a dict of Tensors
    (n, C', *spatial'), each with its own channel count and spatial size (a zoom of the window:
    choose ``overlap * roi * zoom`` integral). The result has the same structure (a dict in the
    predictor's key order; a 1-tuple gives its Tensor, as MONAI), in the input's dtype (float32
    for integer inputs). Runs under ``lucid.no_grad()``; a ``lucid.compile``d predictor traces
    once per window-batch shape. ``progress=True`` shows a tqdm bar when tqdm is installed, else
    logs each batch to the ``lucid.inference.sliding_window`` logger.

    Peak memory: output + weight map + one window batch (1x1x96^3 input, roi 32^3, 4 windows a
    batch, identity predictor: 2.33x the input's size). MONAI's ``sw_device``, ``device``,
    ``roi_weight_map``, ``process_fn``, ``buffer_steps``/``buffer_dim``, ``with_coord`` and
    ``condition`` are not implemented.
    """
    if not isinstance(inputs, Tensor):
        raise TypeError(
            f"sliding_window_inference: inputs must be a lucid Tensor (N, C, *spatial), got "
            f"{type(inputs).__name__} (wrap numpy data with lucid.as_tensor)"
        )
    if inputs.ndim < 3:
        raise ValueError(
            f"sliding_window_inference: inputs must be (N, C, *spatial) with at least one "
            f"spatial dim, got shape {tuple(inputs.shape)}"
        )
    batch, image = inputs.shape[0], tuple(inputs.shape[2:])
    if batch == 0 or 0 in image:
        raise ValueError(
            f"sliding_window_inference: inputs must have a non-empty batch and spatial dims, "
            f"got shape {tuple(inputs.shape)}"
        )
    if not callable(predictor):
        raise TypeError(
            f"sliding_window_inference: predictor must be callable, got {type(predictor).__name__}"
        )
    if (
        not isinstance(sw_batch_size, numbers.Integral)
        or isinstance(sw_batch_size, bool)
        or sw_batch_size < 1
    ):
        raise ValueError(
            f"sliding_window_inference: sw_batch_size must be an int >= 1, got {sw_batch_size!r}"
        )
    refused = [k for k in UNSUPPORTED if k in kwargs]
    if refused:
        raise TypeError(
            f"sliding_window_inference: MONAI's argument(s) {refused} are not implemented in "
            f"Lucid (they would otherwise be passed to the predictor)"
        )
    roi = _roi(roi_size, image)
    overlaps = _per_dim(overlap, len(image), "overlap")
    for o in overlaps:
        if not 0 <= o < 1:
            raise ValueError(
                f"sliding_window_inference: overlap must be in [0, 1), got {overlap!r}"
            )
    if mode not in BLEND_MODES:
        raise ValueError(
            f"sliding_window_inference: mode must be one of {BLEND_MODES}, got {mode!r}"
        )
    sigmas = _per_dim(sigma_scale, len(image), "sigma_scale")
    if mode == "gaussian" and not all(s > 0 for s in sigmas):
        raise ValueError(f"sliding_window_inference: sigma_scale must be > 0, got {sigma_scale!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(
            f"sliding_window_inference: padding_mode must be one of {PADDING_MODES}, "
            f"got {padding_mode!r}"
        )
    with no_grad():
        return _run(
            inputs,
            roi,
            sw_batch_size,
            predictor,
            overlaps,
            mode,
            sigmas,
            padding_mode,
            cval,
            progress,
            args,
            kwargs,
        )


def _per_dim(value, n: int, name: str) -> tuple[float, ...]:
    """A number or a sequence of ``n`` numbers, as a tuple of ``n`` floats."""
    values = value if isinstance(value, Sequence) and not isinstance(value, str) else (value,) * n
    if len(values) != n:
        raise ValueError(
            f"sliding_window_inference: {name} needs one value per spatial dim ({n}), got {value!r}"
        )
    for v in values:
        if not isinstance(v, numbers.Real) or isinstance(v, bool):
            raise TypeError(f"sliding_window_inference: {name} must be numbers, got {value!r}")
    return tuple(float(v) for v in values)


def _roi(roi_size, image: tuple[int, ...]) -> tuple[int, ...]:
    """The window size per spatial dim: ``None``/``<= 0`` entries take the image's size."""
    n = len(image)
    if isinstance(roi_size, np.ndarray):
        roi_size = roi_size.tolist()
    if roi_size is None or isinstance(roi_size, numbers.Integral):
        entries: Sequence = (roi_size,) * n
    elif isinstance(roi_size, Sequence) and not isinstance(roi_size, str):
        entries = roi_size
        if len(entries) != n:
            raise ValueError(
                f"sliding_window_inference: roi_size has {len(entries)} entries but inputs "
                f"have {n} spatial dims (shape (N, C, *spatial) = {(-1, -1) + image}); "
                f"channel-last data must be moved channel-first"
            )
    else:
        raise TypeError(
            f"sliding_window_inference: roi_size must be an int or a sequence of ints, "
            f"got {roi_size!r}"
        )
    out = []
    for r, size in zip(entries, image):
        if r is not None and (not isinstance(r, numbers.Integral) or isinstance(r, bool)):
            raise TypeError(
                f"sliding_window_inference: roi_size entries must be ints or None, got {roi_size!r}"
            )
        out.append(int(r) if r is not None and int(r) > 0 else size)
    return tuple(out)


def _starts(size: int, roi: int, overlap: float) -> list[int]:
    """Window starts along one dim: every ``int(roi * (1 - overlap))`` (at least 1; a window
    as large as the dim is alone), the last one moved back to end at ``size``."""
    step = roi if roi == size else max(int(roi * (1 - overlap)), 1)
    starts, s = [], 0
    while True:
        starts.append(min(s, size - roi))
        if s + roi >= size:
            return starts
        s += step


def _importance_map(roi: tuple[int, ...], mode: str, sigmas: tuple[float, ...]) -> np.ndarray:
    """The weight of each voxel of a window's output (float32, shape ``roi``)."""
    if mode == "constant":
        return np.ones(roi, np.float32)
    w = np.ones((), np.float64)
    for r, s in zip(roi, sigmas):
        x = np.arange(r, dtype=np.float64) - (r - 1) / 2.0  # centred on the window
        w = np.multiply.outer(w, np.exp(-(x**2) / (2.0 * (s * r) ** 2)))
    w = w.astype(np.float32)
    # MONAI's floor: corners far out in the tails still count a little (never divide by ~0)
    return np.maximum(w, max(float(w.min()), 1e-3))


class _Blend:
    """One output of the predictor: its running weighted sum and its weight map."""

    def __init__(self, channels, shape, roi, size, grid, starts, weight, batch, dtype, device):
        n = len(roi)
        self.dtype, self.shape, self.roi = dtype, shape, roi
        self.zoom = None if shape == roi else tuple(o / float(r) for o, r in zip(shape, roi))
        if self.zoom is None:
            out_size = size
        else:
            if n > 3:
                raise ValueError(
                    f"sliding_window_inference: an output of another spatial size than the "
                    f"window ({shape} vs {roi}) is supported for 1-3 spatial dims, got {n}"
                )
            out_size = tuple(int(s * z) for s, z in zip(size, self.zoom))
            for d in range(n):  # every window must map onto a block of exactly that size
                for s in starts[d]:
                    lo, hi = self._span(s, d)
                    if hi - lo != shape[d]:
                        raise ValueError(
                            f"sliding_window_inference: the predictor's output window "
                            f"{shape} is a zoom {self.zoom} of the roi {roi}, but the window "
                            f"starting at {s} in spatial dim {d} maps to [{lo}, {hi}) in the "
                            f"output, not {shape[d]} voxels: choose roi_size and overlap so "
                            f"that overlap * roi * zoom is an integer"
                        )
        w = Tensor._wrap(B.asarray(weight.reshape((1, 1) + roi), dtype), device)
        if self.zoom is not None:  # the window weights at the output's resolution, as MONAI
            w = interpolate(w, size=shape, mode="nearest-exact")
        self.weight = w.data
        self.sum = zeros((batch, channels) + out_size, dtype=dtype, device=device).data
        count = zeros((1, 1) + out_size, dtype=dtype, device=device).data
        for k, start in enumerate(grid):  # one image's windows: the map is the same for all
            count = count.at[(slice(None), slice(None)) + self._region(start)].add(self.weight)
            if k % _EVAL_EVERY == _EVAL_EVERY - 1:
                B.evaluate(count)
        B.evaluate(self.sum, count)
        self.count = count

    def _span(self, start: int, d: int) -> tuple[int, int]:
        if self.zoom is None:
            return start, start + self.roi[d]
        return int(start * self.zoom[d]), int((start + self.roi[d]) * self.zoom[d])

    def _region(self, start) -> tuple[slice, ...]:
        return tuple(slice(*self._span(s, d)) for d, s in enumerate(start))

    def add(self, pred: Tensor, windows) -> None:
        """Add a batch of window outputs (weighted) at their windows' places."""
        p = pred.data
        if B.dtype_name(p.dtype) != self.dtype:
            p = B.cast(p, self.dtype)
        p = p * self.weight
        for j, (b, start) in enumerate(windows):
            # .at[].add reuses the sum's buffer (a slice assignment would copy the whole output)
            where = (slice(b, b + 1), slice(None)) + self._region(start)
            self.sum = self.sum.at[where].add(p[j : j + 1])

    def result(self, low: tuple[int, ...], image: tuple[int, ...]):
        """The blended output (the padding, if any, cropped off)."""
        out = self.sum / self.count
        self.sum = self.count = None  # the division may reuse the sum's buffer
        B.evaluate(out)
        if any(low):
            crop = [slice(None), slice(None)]
            for d, (lo, n) in enumerate(zip(low, image)):
                z = out.shape[2 + d] / self.roi[d]  # MONAI's rounding of the zoomed padding
                crop.append(slice(int(round(lo * z)), int(round((lo + n) * z))))
            out = out[tuple(crop)]
        return out


def _flatten(result, windows: int, ndim: int) -> tuple[Any, list[Tensor]]:
    """(structure, outputs) of what the predictor returned, checked: ``structure`` is None for
    a Tensor, ``()`` for a tuple/list, the key list for a dict."""
    keys: list | tuple | None
    if isinstance(result, Tensor):
        keys, preds = None, [result]
    elif isinstance(result, Mapping):
        keys = list(result)
        preds = [result[k] for k in keys]
    elif isinstance(result, (tuple, list)):
        keys, preds = (), list(result)
    else:
        raise TypeError(
            f"sliding_window_inference: the predictor must return a Tensor, a tuple/list or a "
            f"dict of Tensors, got {type(result).__name__}"
        )
    if not preds:
        raise ValueError("sliding_window_inference: the predictor returned no outputs")
    names = keys if keys else range(len(preds))
    for name, p in zip(names, preds):
        if not isinstance(p, Tensor):
            raise TypeError(
                f"sliding_window_inference: predictor output {name!r} must be a Tensor, got "
                f"{type(p).__name__}"
            )
        if p.ndim != ndim or p.shape[0] != windows or 0 in p.shape:
            raise ValueError(
                f"sliding_window_inference: predictor output {name!r} must be ({windows}, C, "
                f"{ndim - 2} spatial dims) for a batch of {windows} windows, got shape "
                f"{tuple(p.shape)}"
            )
    return keys, preds


def _progress(batches: Iterable, total: int, enabled: bool) -> Iterable:
    """``batches`` with a progress display when asked for (tqdm if installed, else logging)."""
    if not enabled:
        return batches
    try:  # tqdm is optional, not a dependency: looked up only when a bar is asked for
        bar = importlib.import_module("tqdm").tqdm
    except ImportError:
        return _logged(batches, total)
    return bar(batches, total=total, desc="sliding window")


def _logged(batches: Iterable, total: int) -> Iterator:
    for i, b in enumerate(batches, 1):
        yield b
        _log.info("sliding_window_inference: window batch %d/%d done", i, total)


def _run(
    inputs: Tensor,
    roi: tuple[int, ...],
    sw_batch_size: int,
    predictor: Callable[..., Any],
    overlaps: tuple[float, ...],
    mode: str,
    sigmas: tuple[float, ...],
    padding_mode: str,
    cval: float,
    progress: bool,
    args: tuple,
    kwargs: dict,
) -> Any:
    """The windows, the predictor calls and the blending, once the arguments are checked."""
    image = tuple(inputs.shape[2:])
    size = tuple(max(s, r) for s, r in zip(image, roi))
    low = tuple((r - s) // 2 if r > s else 0 for s, r in zip(image, roi))
    amounts: list[int] = []  # F.pad's order: last dim first
    for s, r, lo in reversed(list(zip(image, roi, low))):
        amounts += [lo, max(r - s, 0) - lo]
    x = inputs
    if any(amounts):
        x = pad(inputs, amounts, padding_mode, cval)  # (a fill value is refused unless constant)
    dtype = B.dtype_name(inputs.data.dtype) if inputs.is_floating_point() else "float32"
    device = inputs._device
    starts = [_starts(s, r, o) for s, r, o in zip(size, roi, overlaps)]
    grid = list(itertools.product(*starts))  # the last dim varies fastest, as MONAI
    batch = inputs.shape[0]
    total = batch * len(grid)
    weight = _importance_map(roi, mode, sigmas)

    blends: list[_Blend] | None = None
    first: tuple | None = None  # (structure, [(channels, spatial shape)]) of the first batch
    keys: Any = None
    batches = range(0, total, sw_batch_size)
    for begin in _progress(batches, len(batches), progress):
        windows = [
            (i // len(grid), grid[i % len(grid)])
            for i in range(begin, min(begin + sw_batch_size, total))
        ]
        pieces = [
            x[(slice(b, b + 1), slice(None)) + tuple(slice(s, s + r) for s, r in zip(st, roi))]
            for b, st in windows
        ]
        window = pieces[0] if len(pieces) == 1 else cat(pieces, 0)
        keys, preds = _flatten(predictor(window, *args, **kwargs), len(windows), inputs.ndim)
        layout = (keys, [(p.shape[1], tuple(p.shape[2:])) for p in preds])
        if blends is None:
            first = layout
            with B.device_scope(device):
                blends = [
                    _Blend(c, shape, roi, size, grid, starts, weight, batch, dtype, device)
                    for c, shape in layout[1]
                ]
        elif layout != first:
            raise ValueError(
                f"sliding_window_inference: the predictor's outputs changed between window "
                f"batches: (structure, [(channels, spatial)]) was {first}, now {layout}"
            )
        with B.device_scope(device):
            for blend, pred in zip(blends, preds):
                blend.add(pred, windows)
            B.evaluate(*[blend.sum for blend in blends])
        del window, pieces, preds
    assert blends is not None  # (total >= 1: the batch and every spatial dim are non-empty)
    with B.device_scope(device):
        outs = [Tensor._wrap(blend.result(low, image), device) for blend in blends]
    if keys is None or (keys == () and len(outs) == 1):
        return outs[0]
    if keys == ():
        return tuple(outs)
    return dict(zip(keys, outs))
