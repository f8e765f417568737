"""examples/nifti_dataset.py: a NIfTI file the test writes itself reads back as (C, D, H, W)
with its label map (skipped when the optional nibabel is missing)."""

import pathlib
import sys

import numpy as np
import pytest

nibabel = pytest.importorskip("nibabel")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "examples"))

from nifti_dataset import NiftiDataset, main  # noqa: E402

from lucid import transforms as T  # noqa: E402
from lucid.data import DataLoader  # noqa: E402


def test_written_volume_reads_back_with_its_label(tmp_path, capsys):
    rng = np.random.default_rng(0)
    xyz = rng.standard_normal((6, 5, 4)).astype(np.float32)  # NIfTI order: x, y, z
    lab = (xyz > 0).astype(np.uint8)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    nibabel.save(nibabel.Nifti1Image(xyz, affine), str(tmp_path / "img.nii.gz"))
    nibabel.save(nibabel.Nifti1Image(lab, affine), str(tmp_path / "lab.nii.gz"))
    ds = NiftiDataset([tmp_path / "img.nii.gz"], [tmp_path / "lab.nii.gz"])
    image, label = ds[0]
    assert image.shape == (1, 4, 5, 6) and image.dtype == np.float32
    np.testing.assert_array_equal(image[0], xyz.transpose(2, 1, 0))
    assert label.dtype == np.int64
    np.testing.assert_array_equal(label, lab.transpose(2, 1, 0))

    flipped = NiftiDataset(
        [tmp_path / "img.nii.gz"],
        [tmp_path / "lab.nii.gz"],
        transform=T.RandomFlip(axes=(2,), p=1.0),
    )
    fi, fl = flipped[0]
    np.testing.assert_array_equal(fi, image[..., ::-1])
    np.testing.assert_array_equal(fl, label[..., ::-1])
    x, y = next(iter(DataLoader(ds, batch_size=1)))
    assert x.shape == (1, 1, 4, 5, 6) and y.shape == (1, 4, 5, 6)
    assert main([str(tmp_path / "img.nii.gz")]) == 0
    assert "(1, 4, 5, 6)" in capsys.readouterr().out
