"""Data augmentation for volumes and clips: numpy arrays (C, D, H, W) in, numpy out, so they run
inside a ``Dataset`` (and in loader workers) with no autograd involved.

>>> import numpy as np
>>> from lucid import transforms as T
>>> pipeline = T.Compose([T.RandomFlip(p=0.5), T.RandomCrop(8), T.GaussianNoise(0.1)], seed=0)
>>> image, label = np.zeros((1, 12, 12, 12), np.float32), np.zeros((12, 12, 12), np.int64)
>>> x, y = pipeline(image, label)
>>> x.shape, y.shape
((1, 8, 8, 8), (8, 8, 8))
"""

from lucid.transforms.base import Compose, Transform, as_generator  # noqa: F401
from lucid.transforms.intensity import (  # noqa: F401
    GaussianNoise,
    NormalizeIntensity,
    RandomGamma,
    ScaleIntensity,
    ShiftIntensity,
)
from lucid.transforms.spatial import (  # noqa: F401
    Affine,
    CenterCrop,
    PadToSize,
    RandomAffine,
    RandomCrop,
    RandomFlip,
    RandomRotate90,
    Resize,
)
from lucid.transforms.dictionary import (  # noqa: F401
    TRACE_KEY,
    CropForeground,
    MapTransform,
    RandCropByPosNegLabel,
    ScaleIntensityRange,
)
from lucid.transforms.grid import Orientation, Spacing  # noqa: F401
from lucid.transforms.invert import invert  # noqa: F401

# MONAI's names for the dictionary transforms, so that ported pipelines read the same
Spacingd, Orientationd, ScaleIntensityRanged = Spacing, Orientation, ScaleIntensityRange
CropForegroundd, RandCropByPosNegLabeld = CropForeground, RandCropByPosNegLabel

__all__ = [
    "Transform",
    "Compose",
    "as_generator",
    "RandomFlip",
    "CenterCrop",
    "RandomCrop",
    "PadToSize",
    "RandomRotate90",
    "Affine",
    "RandomAffine",
    "Resize",
    "NormalizeIntensity",
    "ScaleIntensity",
    "ShiftIntensity",
    "RandomGamma",
    "GaussianNoise",
    "MapTransform",
    "TRACE_KEY",
    "Spacing",
    "Orientation",
    "ScaleIntensityRange",
    "CropForeground",
    "RandCropByPosNegLabel",
    "invert",
    "Spacingd",
    "Orientationd",
    "ScaleIntensityRanged",
    "CropForegroundd",
    "RandCropByPosNegLabeld",
]
