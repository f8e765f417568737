"""Synthetic, seed-deterministic datasets for Lucid (pure NumPy, nothing downloaded).

- :func:`make_shapes3d`: 3D voxel volumes of rotated solid shapes, ``(n, 1, D, H, W)``.
- :func:`make_motion_clips`: short videos of a moving object, ``(n, 1, T, H, W)``, whose
  class (motion direction) is invisible in any single frame.
"""

from .motion import MOTION_NAMES, make_motion_clips
from .shapes3d import SHAPE_NAMES, make_shapes3d

__all__ = ["make_shapes3d", "make_motion_clips", "SHAPE_NAMES", "MOTION_NAMES"]
