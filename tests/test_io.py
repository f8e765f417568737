"""lucid.io: NIfTI volumes read with the file's voxel order and affine (checked against nibabel
itself), exact write/read round trips per dtype, samples of several files on one grid, and
clear errors. Skipped without the optional nibabel."""

import pathlib
import re
import sys

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

from lucid import io  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(7)
# a non-RAS grid: array axis 0 runs towards posterior (1.5 mm), 1 superior (2.5 mm),
# 2 left (0.75 mm); entries are float32 numbers, so NIfTI-1 stores them exactly
AFFINE = np.array(
    [[0.0, 0.0, -0.75, 30.5], [-1.5, 0.0, 0.0, 12.25], [0.0, 2.5, 0.0, -40.0], [0, 0, 0, 1]]
)


def test_voxels_and_affine_agree_with_nibabel(tmp_path):
    data = RNG.standard_normal((5, 4, 6, 2)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, AFFINE), str(tmp_path / "v.nii.gz"))
    ref = nib.load(str(tmp_path / "v.nii.gz"))
    vol = io.read_volume(tmp_path / "v.nii.gz")
    assert vol.array.shape == (5, 4, 6, 2) and vol.affine.dtype == np.float64
    for ijk in [(0, 0, 0), (4, 3, 5), (2, 1, 3), (1, 3, 0)]:
        # the value at voxel (i, j, k) of our array is nibabel's value there, and our affine
        # puts it where nibabel does
        np.testing.assert_array_equal(vol.array[ijk], np.asarray(ref.dataobj)[ijk])
        world = nib.affines.apply_affine(ref.affine, ijk)
        np.testing.assert_allclose((vol.affine @ (*ijk, 1))[:3], world, rtol=0, atol=1e-12)
    assert vol.orientation == nib.aff2axcodes(ref.affine) == ("P", "S", "L")
    np.testing.assert_allclose(vol.spacing, [1.5, 2.5, 0.75])
    np.testing.assert_allclose(vol.spacing, ref.header.get_zooms()[:3])
    first = vol.channel_first()
    assert first.shape == (2, 5, 4, 6)
    np.testing.assert_array_equal(first[1, 4, 3, 5], data[4, 3, 5, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.int32, np.int64, np.uint8])
def test_write_then_read_round_trips_exactly(tmp_path, dtype):
    if np.dtype(dtype).kind == "f":
        data = RNG.standard_normal((6, 5, 4)).astype(dtype)
    else:
        data = RNG.integers(0, 5, (6, 5, 4)).astype(dtype)  # a label map
    io.write_volume(tmp_path / "x.nii", data, AFFINE)
    back = io.read_volume(tmp_path / "x.nii")
    assert back.array.dtype == data.dtype
    np.testing.assert_array_equal(back.array, data)
    np.testing.assert_array_equal(back.affine, AFFINE)


def test_round_trip_of_4d_channel_first_and_bool(tmp_path):
    chans = RNG.standard_normal((3, 4, 5, 6)).astype(np.float32)  # (C, X, Y, Z)
    io.write_volume(tmp_path / "p.nii.gz", chans, AFFINE, channel_first=True)
    vol = io.read_volume(tmp_path / "p.nii.gz")
    assert vol.array.shape == (4, 5, 6, 3)
    np.testing.assert_array_equal(vol.channel_first(), chans)
    io.write_volume(tmp_path / "m.nii.gz", chans[:1] > 0, AFFINE, channel_first=True)
    mask = io.read_volume(tmp_path / "m.nii.gz")
    assert mask.array.shape == (4, 5, 6) and mask.array.dtype == np.uint8
    np.testing.assert_array_equal(mask.array, chans[0] > 0)


def test_a_float64_affine_comes_back_within_float32_rounding(tmp_path):
    affine = np.array(AFFINE)
    affine[:3, :3] = affine[:3, :3] @ np.linalg.qr(RNG.standard_normal((3, 3)))[0]
    affine[:3, 3] = [1 / 3, -2 / 7, 0.1]
    io.write_volume(tmp_path / "o.nii.gz", np.zeros((2, 3, 4), np.float32), affine)
    back = io.read_volume(tmp_path / "o.nii.gz").affine
    np.testing.assert_allclose(back, affine, rtol=2e-7, atol=1e-7)
    assert not np.array_equal(back, affine)  # NIfTI-1 keeps float32: the docstring says so


def test_read_sample_puts_image_and_label_on_one_grid(tmp_path):
    image = RNG.standard_normal((6, 5, 4)).astype(np.float32)
    label = (image > 0).astype(np.uint8)
    io.write_volume(tmp_path / "img.nii.gz", image, AFFINE)
    io.write_volume(tmp_path / "lab.nii.gz", label, AFFINE)
    s = io.read_sample(
        {"image": tmp_path / "img.nii.gz", "label": tmp_path / "lab.nii.gz"},
        dtypes={"label": np.int64},
    )
    assert set(s) == {"image", "label", "affine"}
    assert s["image"].shape == s["label"].shape == (1, 6, 5, 4)
    assert s["label"].dtype == np.int64 and s["image"].dtype == np.float32
    np.testing.assert_array_equal(s["label"][0], label)
    np.testing.assert_array_equal(s["affine"], AFFINE)

    shifted = AFFINE.copy()
    shifted[0, 3] += 1.0
    io.write_volume(tmp_path / "far.nii.gz", label, shifted)
    with pytest.raises(ValueError, match="different grids"):
        io.read_sample({"image": tmp_path / "img.nii.gz", "label": tmp_path / "far.nii.gz"})
    io.write_volume(tmp_path / "small.nii.gz", label[:5], AFFINE)
    with pytest.raises(ValueError, match=r"spatial size \(5, 5, 4\)"):
        io.read_sample({"image": tmp_path / "img.nii.gz", "label": tmp_path / "small.nii.gz"})


def test_clear_errors(tmp_path):
    vol = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(FileNotFoundError, match="no such file"):
        io.read_volume(tmp_path / "missing.nii.gz")
    for name in ("scan.nrrd", "scan.mha", "scan.nii.bz2"):
        with pytest.raises(ValueError, match=r"unsupported file type.*\.nii, \.nii\.gz"):
            io.read_volume(tmp_path / name)
        with pytest.raises(ValueError, match="unsupported file type"):
            io.write_volume(tmp_path / name, vol, np.eye(4))
    with pytest.raises(ValueError, match=r"4x4 matrix, got shape \(3, 3\)"):
        io.write_volume(tmp_path / "a.nii", vol, np.eye(3))
    for bad in (np.zeros((3, 4)), np.zeros((1, 2, 3, 4, 5))):
        with pytest.raises(ValueError, match=r"\(X, Y, Z\) or \(X, Y, Z, C\)"):
            io.write_volume(tmp_path / "a.nii", bad, np.eye(4))
    with pytest.raises(ValueError, match="cannot store dtype float16"):
        io.write_volume(tmp_path / "a.nii", vol.astype(np.float16), np.eye(4))
    with pytest.raises(ValueError, match="singular"):
        io.write_volume(tmp_path / "a.nii", vol, np.diag([1.0, 0.0, 1.0, 1.0]))
    nib.save(nib.Nifti1Image(np.zeros((3, 4), np.float32), np.eye(4)), str(tmp_path / "2d.nii"))
    with pytest.raises(ValueError, match="2-D array of shape"):
        io.read_volume(tmp_path / "2d.nii")
    with pytest.raises(ValueError, match="4x4"):
        io.Volume(vol, np.eye(3))


def test_missing_nibabel_names_the_extra(tmp_path, monkeypatch):
    io.write_volume(tmp_path / "a.nii", np.zeros((2, 2, 2), np.float32), np.eye(4))
    monkeypatch.setitem(sys.modules, "nibabel", None)  # import nibabel now fails
    with pytest.raises(ImportError, match=re.escape("pip install lucid[nifti]")):
        io.read_volume(tmp_path / "a.nii")


def test_the_docs_file_example_runs(tmp_path, monkeypatch):
    """docs/io.md marks its file example '# not run' (CI has no nibabel): run it here."""
    text = (ROOT / "docs" / "io.md").read_text()
    blocks = re.findall(r"```python\n(# not run \(needs nibabel.*?)```", text, re.S)
    assert blocks, "docs/io.md lost its file example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "docs/io.md", "exec"), namespace)
