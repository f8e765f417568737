"""Read NIfTI volumes (.nii / .nii.gz) into a Dataset with lucid.io (`pip install lucid[nifti]`).

    python examples/nifti_dataset.py SCAN.nii.gz [MORE.nii.gz ...]

nibabel is an optional extra: Lucid itself needs only mlx and numpy. ``NiftiDataset`` returns
samples ``{"image": (C, X, Y, Z) float32, "label": (1, X, Y, Z) int64, "affine": 4x4}`` read by
``lucid.io.read_sample``: the arrays keep the file's voxel order, so the affine (voxel to world,
mm) describes them as they are. A pipeline of lucid.transforms' dictionary transforms
(Orientation, Spacing, CropForeground, RandCropByPosNegLabel...) updates the affine as it moves
voxels, seeded per (seed, epoch, index); ``lucid.transforms.invert`` maps a prediction back onto
the file's grid (docs/io.md).
"""

from __future__ import annotations

import sys

import numpy as np

from lucid import io
from lucid.data import Dataset


class NiftiDataset(Dataset):
    """``images[i]`` (and ``labels[i]`` when given) read on access into a sample dict.
    ``transform`` (e.g. ``lucid.transforms.Compose`` of dictionary transforms) is called as
    ``transform(sample, rng=(seed, epoch, i))``; set ``epoch`` each epoch for new draws."""

    def __init__(self, images, labels=None, transform=None, seed=0):
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"NiftiDataset: {len(images)} images but {len(labels)} label maps")
        self.images, self.labels = list(images), None if labels is None else list(labels)
        self.transform, self.seed, self.epoch = transform, seed, 0

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        paths = {"image": self.images[i]}
        if self.labels is not None:
            paths["label"] = self.labels[i]
        sample = io.read_sample(paths, dtypes={"image": np.float32, "label": np.int64})
        if self.transform is not None:
            sample = self.transform(sample, rng=(self.seed, self.epoch, i))
        return sample


def main(argv=None):
    """Print each file's shape, voxel size, orientation and value range."""
    paths = sys.argv[1:] if argv is None else argv
    for path in paths:
        vol = io.read_volume(path)
        spacing = ", ".join(f"{s:g}" for s in vol.spacing)
        print(
            f"{path}: {vol.array.shape} {vol.array.dtype}, voxels ({spacing}) mm, "
            f"{''.join(vol.orientation)}, values [{float(vol.array.min()):g}, "
            f"{float(vol.array.max()):g}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
