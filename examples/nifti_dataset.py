"""Read NIfTI volumes (.nii / .nii.gz) into a Dataset with nibabel (`pip install lucid[nifti]`).

    python examples/nifti_dataset.py IMAGE.nii.gz [LABEL.nii.gz ...]

nibabel is an optional extra: Lucid itself needs only mlx and numpy. A NIfTI array is indexed
(x, y, z[, channel]); ``NiftiDataset`` returns it as Lucid's (C, D, H, W) with D = z, H = y,
W = x (so axial slices are ``volume[:, k]``), float32 images and int64 label maps, optionally
through a lucid.transforms pipeline seeded per (seed, epoch, index).
"""

from __future__ import annotations

import sys

import numpy as np

from lucid.data import Dataset


def read_nifti(path, dtype=np.float32):
    """The volume in ``path`` as a (C, D, H, W) array (a 3-D file gets C = 1), plus its 4x4
    voxel-to-world affine."""
    import nibabel

    img = nibabel.load(str(path))
    data = np.asarray(img.dataobj)
    if data.ndim == 3:
        data = data[..., None]
    if data.ndim != 4:
        raise ValueError(f"{path}: expected a 3-D or 4-D NIfTI volume, got shape {data.shape}")
    return np.ascontiguousarray(data.transpose(3, 2, 1, 0).astype(dtype)), img.affine


class NiftiDataset(Dataset):
    """``images[i]`` (and ``labels[i]`` when given) read on access: ``(image, label)`` or just
    ``image``. ``transform`` (e.g. ``lucid.transforms.Compose``) is called as
    ``transform(image, label, rng=(seed, epoch, i))``; set ``epoch`` each epoch for new draws."""

    def __init__(self, images, labels=None, transform=None, seed=0):
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"NiftiDataset: {len(images)} images but {len(labels)} label maps")
        self.images, self.labels = list(images), None if labels is None else list(labels)
        self.transform, self.seed, self.epoch = transform, seed, 0

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image, _ = read_nifti(self.images[i])
        if self.labels is None:
            if self.transform is not None:
                image = self.transform(image, rng=(self.seed, self.epoch, i))
            return image
        label, _ = read_nifti(self.labels[i], np.int64)
        label = label[0]
        if self.transform is not None:
            image, label = self.transform(image, label, rng=(self.seed, self.epoch, i))
        return image, label


def main(argv=None):
    """Print the shape and value range of each given file."""
    paths = sys.argv[1:] if argv is None else argv
    for image in NiftiDataset(paths):
        print(image.shape, image.dtype, float(image.min()), float(image.max()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
