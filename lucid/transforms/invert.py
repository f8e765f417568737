"""``invert``: undo a sample's recorded geometric transforms (Spacing, Orientation, crops),
so that a prediction made in the transformed space lands on the original scan's grid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lucid.transforms._grid import MODES, resample
from lucid.transforms.dictionary import TRACE_KEY, crop

__all__ = ["invert"]

_INVERTIBLE = ("Spacing", "Orientation", "CropForeground", "RandCropByPosNegLabel")


def _undo(x: np.ndarray, entry: Mapping, mode: str, padding_mode: str) -> np.ndarray:
    """One record undone on a (C, X, Y, Z) array that sits on the record's output grid."""
    name = entry["name"]
    if tuple(x.shape[1:]) != tuple(entry["shape_after"]):
        raise ValueError(
            f"invert: the array has spatial size {tuple(x.shape[1:])}, but {name} left the "
            f"sample at {tuple(entry['shape_after'])}: invert arrays on the transformed grid"
        )
    if name == "Spacing":
        before = entry["shape_before"]
        return resample(
            x, entry["affine_after"], entry["affine_before"], before, mode, padding_mode
        )
    if name == "Orientation":
        perm, flip = entry["perm"], entry["flip"]
        unflipped = np.flip(x, tuple(b + 1 for b, f in enumerate(flip) if f)) if any(flip) else x
        back = np.argsort(perm)
        return np.ascontiguousarray(np.transpose(unflipped, (0, *(int(a) + 1 for a in back))))
    # a crop: put the box back at its place in a volume of zeros
    start = entry["start"]
    out = {"x": x}
    size = entry["shape_before"]
    crop(out, ["x"], [-s for s in start], [n - s for n, s in zip(size, start)])
    return out["x"]


def _records(trace: Any) -> list:
    if isinstance(trace, Mapping):
        trace = trace.get(TRACE_KEY, [])
    if not isinstance(trace, Sequence) or not all(isinstance(e, Mapping) for e in trace):
        raise TypeError(
            "invert: expected a transformed sample (a dict with a 'transforms' list) or its "
            f"'transforms' list, got {type(trace).__name__}"
        )
    unknown = [e.get("name") for e in trace if e.get("name") not in _INVERTIBLE]
    if unknown:
        raise ValueError(f"invert: cannot undo {unknown}; invertible: {_INVERTIBLE}")
    return list(trace)


def invert(data: Any, sample: Any = None, *, mode: str = "auto") -> Any:
    """Undo the geometric transforms recorded in a sample, newest first.

    ``invert(sample)`` returns a new sample whose recorded keys are back on the original grid
    (each resampled with the mode it was transformed with), with the original affine and an
    empty ``"transforms"`` list. ``invert(pred, sample)`` maps an array ``pred`` (C, X, Y, Z)
    that lies on ``sample``'s transformed grid (a network's output for ``sample["image"]``)
    onto the original grid; ``sample`` may also be just its ``"transforms"`` list. ``mode``:
    ``"nearest"`` (label maps), ``"bilinear"`` (probabilities, logits) or ``"auto"``
    (nearest for integer/bool arrays, bilinear for float ones).

    Orientation is undone exactly and crops are undone by padding with 0 (what lay outside
    the crop is not known); Spacing is undone by resampling, exact for nearest-neighbour
    labels when the zoom is an integer upsampling and within interpolation error otherwise.
    """
    if mode not in ("auto", *MODES):
        raise ValueError(f"invert: mode must be 'auto', 'bilinear' or 'nearest', got {mode!r}")
    if sample is None:
        if not isinstance(data, Mapping):
            raise TypeError(
                "invert: call invert(sample) on a transformed sample dict, or invert(pred, "
                f"sample) for an array; got {type(data).__name__} alone"
            )
        out = dict(data)
        for entry in reversed(_records(data)):
            for k in entry["keys"]:
                if k in out:
                    m = entry.get("mode", {}).get(k, "nearest")
                    out[k] = _undo(out[k], entry, m, entry.get("padding_mode", "border"))
            if "affine_before" in entry:
                out[entry.get("affine_key", "affine")] = entry["affine_before"]
        out[TRACE_KEY] = []
        return out
    if not isinstance(data, np.ndarray) or data.ndim != 4:
        got = data.shape if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"invert: pred must be a numpy array (C, X, Y, Z), got {got}")
    if mode == "auto":
        mode = "bilinear" if data.dtype.kind in "fc" else "nearest"
    for entry in reversed(_records(sample)):
        data = _undo(data, entry, mode, entry.get("padding_mode", "border"))
    return data
