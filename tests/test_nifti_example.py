"""examples/nifti_dataset.py: NIfTI files the test writes itself read back as (C, X, Y, Z)
samples in the file's voxel order with the file's affine, through a dictionary-transform
pipeline and a DataLoader (skipped when the optional nibabel is missing)."""

import pathlib
import sys

import numpy as np
import pytest

nibabel = pytest.importorskip("nibabel")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "examples"))

from nifti_dataset import NiftiDataset, main  # noqa: E402

from lucid import transforms as T  # noqa: E402
from lucid.data import DataLoader  # noqa: E402


def test_written_volume_reads_back_with_its_label_and_affine(tmp_path, capsys):
    rng = np.random.default_rng(0)
    xyz = rng.standard_normal((6, 5, 4)).astype(np.float32)  # NIfTI order: x, y, z
    lab = (xyz > 0).astype(np.uint8)
    affine = np.diag([-2.0, -2.0, 3.0, 1.0])  # LPS: x runs left, y posterior
    nibabel.save(nibabel.Nifti1Image(xyz, affine), str(tmp_path / "img.nii.gz"))
    nibabel.save(nibabel.Nifti1Image(lab, affine), str(tmp_path / "lab.nii.gz"))
    ds = NiftiDataset([tmp_path / "img.nii.gz"], [tmp_path / "lab.nii.gz"])
    s = ds[0]
    assert s["image"].shape == (1, 6, 5, 4) and s["image"].dtype == np.float32
    np.testing.assert_array_equal(s["image"][0], xyz)  # the file's voxel order, not reordered
    assert s["label"].dtype == np.int64
    np.testing.assert_array_equal(s["label"][0], lab)
    np.testing.assert_array_equal(s["affine"], affine)  # so the affine still describes them

    ras = NiftiDataset(
        [tmp_path / "img.nii.gz"],
        [tmp_path / "lab.nii.gz"],
        transform=T.Compose([T.Orientation(["image", "label"], "RAS")]),
    )[0]
    np.testing.assert_array_equal(ras["image"][0], xyz[::-1, ::-1])
    np.testing.assert_array_equal(ras["affine"][:3, :3], np.diag([2.0, 2.0, 3.0]))
    np.testing.assert_array_equal(T.invert(ras["label"], ras), s["label"])

    batch = next(iter(DataLoader(ds, batch_size=1)))
    assert batch["image"].shape == (1, 1, 6, 5, 4) and batch["label"].shape == (1, 1, 6, 5, 4)
    assert main([str(tmp_path / "img.nii.gz")]) == 0
    assert "(6, 5, 4) float32, voxels (2, 2, 3) mm, LPS" in capsys.readouterr().out
