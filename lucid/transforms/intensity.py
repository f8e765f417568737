"""Intensity transforms: they change image values only (label maps pass through unchanged).
Integer images come out as float32; float images keep their dtype."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lucid.transforms.base import Transform, check_p

__all__ = ["NormalizeIntensity", "ScaleIntensity", "ShiftIntensity", "RandomGamma", "GaussianNoise"]


def _float(image):
    return image if image.dtype.kind == "f" else image.astype(np.float32)


def _per_channel(value, channels, name):
    v = np.asarray(value, np.float64)
    if v.ndim == 0:
        return np.full(channels, float(v))
    if v.shape != (channels,):
        raise ValueError(
            f"{name} must be a number or one value per channel ({channels}), got shape {v.shape}"
        )
    return v


class NormalizeIntensity(Transform):
    """``(x - mean) / std`` per channel. ``mean``/``std`` (numbers or one per channel) default
    to each channel's own statistics; with ``nonzero`` the statistics come from, and only
    change, the nonzero voxels (background stays 0). A constant channel is divided by 1."""

    def __init__(
        self,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        nonzero: bool = False,
    ):
        super().__init__()
        self.mean, self.std, self.nonzero = mean, std, nonzero

    def image(self, image: np.ndarray, params: Any) -> np.ndarray:
        """The normalised image."""
        x = _float(image)
        out = x.copy()
        c = x.shape[0]
        mean = None if self.mean is None else _per_channel(self.mean, c, "mean")
        std = None if self.std is None else _per_channel(self.std, c, "std")
        for i in range(c):
            mask = x[i] != 0 if self.nonzero else np.ones(x.shape[1:], bool)
            values = x[i][mask].astype(np.float64)
            if values.size == 0:
                continue
            m = values.mean() if mean is None else mean[i]
            s = values.std() if std is None else std[i]
            out[i][mask] = (values - m) / (s if s > 0 else 1.0)
        return out


class ScaleIntensity(Transform):
    """Rescale values linearly to [minv, maxv] (over the whole image, or per channel with
    ``channel_wise``); a constant image becomes ``minv``."""

    def __init__(self, minv: float = 0.0, maxv: float = 1.0, channel_wise: bool = False):
        super().__init__()
        if not minv <= maxv:
            raise ValueError(f"ScaleIntensity: need minv <= maxv, got {minv} > {maxv}")
        self.minv, self.maxv, self.channel_wise = minv, maxv, channel_wise

    def image(self, image: np.ndarray, params: Any) -> np.ndarray:
        """The rescaled image."""
        x = _float(image)
        axes = tuple(range(1, 4)) if self.channel_wise else None
        lo = x.min(axis=axes, keepdims=True).astype(np.float64)
        span = x.max(axis=axes, keepdims=True) - lo
        unit = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.0)
        return (self.minv + unit * (self.maxv - self.minv)).astype(x.dtype)


class ShiftIntensity(Transform):
    """Add ``offset`` to every value: a number (fixed), or a (low, high) range to draw it from
    uniformly, with probability ``p``."""

    is_random = True

    def __init__(self, offset: float | tuple[float, float], p: float = 1.0, seed: Any = None):
        super().__init__(seed)
        self.offset, self.p = offset, check_p(p)
        if isinstance(offset, (tuple, list)) and (len(offset) != 2 or offset[0] > offset[1]):
            raise ValueError(f"ShiftIntensity: offset range must be (low, high), got {offset}")

    def draw(self, rng: np.random.Generator, spatial: tuple[int, ...]) -> float:
        """The offset added this time."""
        if rng.random() >= self.p:
            return 0.0
        if isinstance(self.offset, (tuple, list)):
            return float(rng.uniform(*self.offset))
        return float(self.offset)

    def image(self, image: np.ndarray, offset: float) -> np.ndarray:
        """The shifted image."""
        x = _float(image)
        return (x + offset).astype(x.dtype)


class RandomGamma(Transform):
    """With probability ``p``, gamma-correct: map the value range to [0, 1], raise to a power
    drawn uniformly from ``gamma`` (a (low, high) range), map back to the original range."""

    is_random = True

    def __init__(self, gamma: Sequence[float] = (0.7, 1.5), p: float = 0.5, seed: Any = None):
        super().__init__(seed)
        self.gamma = tuple(float(g) for g in gamma)
        if len(self.gamma) != 2 or not 0 < self.gamma[0] <= self.gamma[1]:
            raise ValueError(
                f"RandomGamma: gamma must be a (low, high) range with 0 < low <= high, got {gamma}"
            )
        self.p = check_p(p)

    def draw(self, rng, spatial):
        """The exponent (1.0 when not applied)."""
        return float(rng.uniform(*self.gamma)) if rng.random() < self.p else 1.0

    def image(self, image: np.ndarray, gamma: float) -> np.ndarray:
        """The gamma-corrected image."""
        x = _float(image)
        if gamma == 1.0:
            return x
        lo, hi = float(x.min()), float(x.max())
        if hi <= lo:
            return x
        unit = (x.astype(np.float64) - lo) / (hi - lo)
        return (lo + unit**gamma * (hi - lo)).astype(x.dtype)


class GaussianNoise(Transform):
    """With probability ``p``, add independent N(mean, std**2) noise to every value."""

    is_random = True

    def __init__(self, std: float = 0.1, mean: float = 0.0, p: float = 0.5, seed: Any = None):
        super().__init__(seed)
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std, self.mean, self.p = std, mean, check_p(p)

    def draw(
        self, rng: np.random.Generator, spatial: tuple[int, ...]
    ) -> np.random.Generator | None:
        """The generator to draw the noise from (None when not applied)."""
        return rng if rng.random() < self.p else None

    def image(self, image: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """The noisy image."""
        x = _float(image)
        if rng is None:
            return x
        return (x + rng.normal(self.mean, self.std, x.shape)).astype(x.dtype)
