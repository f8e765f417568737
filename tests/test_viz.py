"""lucid.viz.show_slices: the slices drawn are the volume's, evenly spaced; the aspect is the
voxel spacing's ratio; the label overlay is drawn with a clear background; a PNG is written;
bad input is refused with a clear error."""

import sys

import numpy as np
import pytest

import lucid
from lucid.viz import show_slices

pytest.importorskip("matplotlib")


def volume(shape=(12, 10, 8)):
    return np.random.default_rng(0).random(shape).astype(np.float32)


def images(ax):
    return ax.get_images()


def test_slices_are_the_volumes_evenly_spaced_and_drawn_transposed():
    vol = volume()
    fig = show_slices(vol, axis=0, num=4)
    assert len(fig.axes) == 4
    want = [1, 4, 7, 10]  # the centres of 4 equal parts of 12 slices
    for ax, i in zip(fig.axes, want, strict=True):
        (im,) = images(ax)
        np.testing.assert_array_equal(im.get_array(), vol[i].T)  # (Y, Z) shown as Z up, Y across
        assert im.origin == "lower" and im.get_clim() == (vol.min(), vol.max())
        assert ax.get_title() == f"axis 0, slice {i}"
    fig = show_slices(vol, axis=-1, num=2)
    np.testing.assert_array_equal(images(fig.axes[1])[0].get_array(), vol[:, :, 6].T)


def test_num_and_layout():
    vol = volume()
    assert len(show_slices(vol, num=1).axes) == 1
    fig = show_slices(vol, axis=2, num=8, ncols=3)
    assert len(fig.axes) == 8  # 3 rows of 3, the last row with 2: no empty axes
    assert fig.axes[0].get_subplotspec().get_geometry()[:2] == (3, 3)
    fig = show_slices(vol, axis=2, num=50)  # more than there are: each slice once
    assert [a.get_title() for a in fig.axes] == [f"axis 2, slice {i}" for i in range(8)]


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_aspect_is_the_spacing_ratio_of_the_displayed_axes(axis):
    spacing = (0.5, 0.8, 3.0)
    fig = show_slices(volume(), axis=axis, num=2, spacing=spacing)
    across, up = [a for a in range(3) if a != axis]
    for ax in fig.axes:
        assert ax.get_aspect() == pytest.approx(spacing[up] / spacing[across])
    assert show_slices(volume(), axis=axis, num=1).axes[0].get_aspect() == 1.0


def test_label_overlay_colored_transparent_background_clear():
    vol = volume()
    lab = np.zeros(vol.shape, np.int64)
    lab[3:9, 2:6, 2:6] = 1
    lab[5:7, 3:5, 3:5] = 2
    fig = show_slices(lucid.tensor(vol[None]), lucid.tensor(lab[None]), axis=2, num=3, alpha=0.3)
    for ax in fig.axes:
        base, over = images(ax)
        data = over.get_array()
        k = int(ax.get_title().split()[-1])
        np.testing.assert_array_equal(data.mask, lab[:, :, k].T == 0)  # background: not drawn
        np.testing.assert_array_equal(data.filled(0), lab[:, :, k].T)
        assert over.get_alpha() == 0.3
        rgba = over.to_rgba(data)
        assert (rgba[..., 3][data.mask] == 0).all()  # masked: fully transparent
        c1, c2 = over.cmap(over.norm(1)), over.cmap(over.norm(2))
        assert c1 != c2 and c1[:3] != (0.0, 0.0, 0.0)  # one distinct color per class
    no_label = show_slices(vol, num=2)
    assert all(len(images(ax)) == 1 for ax in no_label.axes)


def test_png_is_written_and_no_backend_is_touched(tmp_path):
    import matplotlib

    backend = matplotlib.rcParams._get_backend_or_none()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    path = tmp_path / "slices.png"
    fig = show_slices(volume(), (volume() > 0.7), num=3, path=path, title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = (int(v) for v in fig.get_size_inches() * 100)
    png = matplotlib.image.imread(path)
    assert png.shape[:2] == (h, w) and png.std() > 0.05  # not blank
    assert matplotlib.rcParams._get_backend_or_none() == backend
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot  # pyplot is not imported


def test_draws_into_a_given_figure():
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([1, 2])
    assert show_slices(volume(), num=3, fig=fig) is fig and len(fig.axes) == 3


def test_bad_input_is_refused_clearly():
    vol = volume()
    with pytest.raises(ValueError, match=r"\(X, Y, Z\) or \(1, X, Y, Z\), got shape \(10, 8\)"):
        show_slices(vol[0])
    with pytest.raises(ValueError, match=r"got shape \(2, 12, 10, 8\)"):
        show_slices(np.stack([vol, vol]))
    with pytest.raises(
        ValueError, match=r"label shape \(12, 10, 7\) does not match .* \(12, 10, 8\)"
    ):
        show_slices(vol, np.zeros((12, 10, 7)))
    with pytest.raises(ValueError, match=r"axis must be in \[-3, 2\].*got 3"):
        show_slices(vol, axis=3)
    with pytest.raises(TypeError, match="axis must be an int"):
        show_slices(vol, axis=1.0)
    with pytest.raises(ValueError, match="num must be an int >= 1, got 0"):
        show_slices(vol, num=0)
    with pytest.raises(ValueError, match="spacing must be 3 positive"):
        show_slices(vol, spacing=(1, 1))
    with pytest.raises(ValueError, match="spacing must be 3 positive"):
        show_slices(vol, spacing=(1, 0, 1))
    with pytest.raises(ValueError, match="integer class indices"):
        show_slices(vol, vol)
    with pytest.raises(ValueError, match="classes must be >= 0"):
        show_slices(vol, -np.ones(vol.shape))
    with pytest.raises(ValueError, match="alpha"):
        show_slices(vol, alpha=2)
    with pytest.raises(ValueError, match="empty"):
        show_slices(np.zeros((0, 3, 3)))
    with pytest.raises(TypeError, match="numeric"):
        show_slices(np.full((2, 2, 2), "a"))


def test_a_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install lucid\[examples\]"):
        show_slices(volume())
