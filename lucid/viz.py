"""Looking at volumes: ``show_slices`` draws a montage of slices of a 3D volume with matplotlib.

matplotlib is optional (``pip install lucid[examples]``) and imported only when a figure is drawn.
The figure is a bare ``matplotlib.figure.Figure``: no pyplot, no backend switch, nothing kept
open, so it works the same in scripts, tests and notebooks (where it displays as the cell's
value). Pass ``fig=plt.figure()`` to draw into a pyplot figure for ``plt.show()``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["show_slices"]


def _matplotlib():
    """matplotlib's Figure and colors modules, or an ImportError that names the extra."""
    try:
        import matplotlib
        import matplotlib.colors as mcolors
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(
            "lucid.viz.show_slices needs matplotlib: pip install lucid[examples] "
            "(or pip install matplotlib)"
        ) from e
    return Figure, mcolors, matplotlib.colormaps


def _spatial(x: Any, what: str) -> np.ndarray:
    """``x`` (numpy array or lucid Tensor, (X, Y, Z) or (1, X, Y, Z)) as a 3D numpy array."""
    arr = np.asarray(x)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3:
        raise ValueError(
            f"show_slices: {what} must be a 3D volume of shape (X, Y, Z) or (1, X, Y, Z), "
            f"got shape {tuple(arr.shape)}"
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"show_slices: {what} must be numeric, got dtype {arr.dtype}")
    return arr


def _slice_indices(n: int, num: int) -> list[int]:
    """``num`` evenly spaced indices into an axis of length ``n``: the centres of ``num`` equal
    parts, so the first and last slices (often empty background) are not wasted on the ends."""
    num = min(num, n)
    return [min(n - 1, int((i + 0.5) * n / num)) for i in range(num)]


def _label_colors(mcolors: Any, colormaps: Any, n_classes: int) -> Any:
    """A colormap with one distinct color per foreground class (tab10's, cycled)."""
    tab10 = list(colormaps["tab10"].colors)
    # red first: one-class masks (the common case) stand out on a gray volume
    order = [tab10[3]] + tab10[:3] + tab10[4:]
    return mcolors.ListedColormap([order[i % len(order)] for i in range(max(n_classes, 1))])


def show_slices(
    volume: Any,
    label: Any = None,
    axis: int = -1,
    num: int = 8,
    spacing: Any = None,
    *,
    fig: Any = None,
    ncols: int | None = None,
    cmap: str = "gray",
    alpha: float = 0.4,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    path: Any = None,
) -> Any:
    """A montage of ``num`` evenly spaced slices along spatial ``axis`` of a 3D volume.

    ``volume`` is a numpy array or lucid Tensor of shape (X, Y, Z) or (1, X, Y, Z). ``label`` (same
    spatial shape; integer classes, 0 = background) is drawn over it, one color per class with
    opacity ``alpha``, background left clear. Each slice is drawn with ``imshow(slice.T,
    origin="lower")``: the first remaining axis runs left to right, the second bottom to top.
    ``spacing`` is the voxel size of the three spatial axes (e.g. a NIfTI header's zooms); the
    displayed axes' spacings set each panel's aspect, so anisotropic voxels look their real
    size. The gray levels share one ``vmin``/``vmax`` (the volume's range by default) across
    panels. Returns the matplotlib Figure; with ``path`` it is also saved there (PNG unless the
    suffix names another format).
    """
    vol = _spatial(volume, "volume")
    lab = None
    if label is not None:
        lab = _spatial(label, "label")
        if lab.shape != vol.shape:
            raise ValueError(
                f"show_slices: label shape {tuple(lab.shape)} does not match the volume's "
                f"spatial shape {tuple(vol.shape)}"
            )
        if lab.dtype.kind == "f" and not (
            np.all(np.isfinite(lab)) and np.all(lab == np.round(lab))
        ):
            raise ValueError(
                "show_slices: label must hold integer class indices (0 = background), "
                "got non-integer values"
            )
        lab = lab.astype(np.int64)
        if lab.size and lab.min() < 0:
            raise ValueError(f"show_slices: label classes must be >= 0, got {lab.min()}")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"show_slices: axis must be an int, got {type(axis).__name__}")
    if not -3 <= axis < 3:
        raise ValueError(f"show_slices: axis must be in [-3, 2] for a 3D volume, got {axis}")
    axis = int(axis) % 3
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"show_slices: num must be an int >= 1, got {num!r}")
    if spacing is None:
        sp = np.ones(3)
    else:
        sp = np.asarray(spacing, dtype=np.float64).reshape(-1)
        if sp.shape != (3,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
            raise ValueError(
                "show_slices: spacing must be 3 positive voxel sizes (one per spatial axis), "
                f"got {spacing!r}"
            )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"show_slices: alpha must be in [0, 1], got {alpha}")
    if 0 in vol.shape:
        raise ValueError(f"show_slices: the volume is empty (shape {tuple(vol.shape)})")

    Figure, mcolors, colormaps = _matplotlib()
    indices = _slice_indices(vol.shape[axis], int(num))
    h_ax, v_ax = [a for a in range(3) if a != axis]  # displayed horizontally, vertically
    aspect = float(sp[v_ax] / sp[h_ax])  # a pixel's height over its width, as imshow means it
    # one gray scale for every panel; only the drawn slices are converted (a CT can be large)
    lo = float(np.nanmin(vol)) if vmin is None else float(vmin)
    hi = float(np.nanmax(vol)) if vmax is None else float(vmax)
    n_classes = int(lab.max()) if lab is not None else 0
    overlay_cmap = _label_colors(mcolors, colormaps, n_classes)

    cols = min(len(indices), 4) if ncols is None else max(1, min(int(ncols), len(indices)))
    rows = math.ceil(len(indices) / cols)
    panel_w = 2.5
    # panel height from the slice's physical extent, plus room for its title
    panel_h = panel_w * (vol.shape[v_ax] * sp[v_ax]) / (vol.shape[h_ax] * sp[h_ax]) + 0.35
    panel_h = min(max(panel_h, 1.0), 4 * panel_w)
    if fig is None:
        # constrained layout: spaced when drawn, so a figure never drawn costs no layout pass
        height = panel_h * rows + (0.4 if title else 0.0)
        fig = Figure(figsize=(panel_w * cols, height), layout="constrained")
    else:
        fig.clear()
        if fig.get_layout_engine() is None:
            fig.set_layout_engine("constrained")
    for k, i in enumerate(indices):
        ax = fig.add_subplot(rows, cols, k + 1)
        take: list[Any] = [slice(None)] * 3
        take[axis] = i
        ax.imshow(
            vol[tuple(take)].T.astype(np.float64),
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            origin="lower",
            aspect=aspect,
            interpolation="nearest",
        )
        if lab is not None and n_classes > 0:
            sl = lab[tuple(take)].T
            ax.imshow(
                np.ma.masked_equal(sl, 0),  # background masked: drawn clear
                cmap=overlay_cmap,
                vmin=0.5,
                vmax=n_classes + 0.5,
                alpha=alpha,
                origin="lower",
                aspect=aspect,
                interpolation="nearest",
            )
        ax.set_title(f"axis {axis}, slice {i}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
