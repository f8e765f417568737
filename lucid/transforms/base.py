"""The transform protocol: numpy (C, D, H, W) images, optional label maps, seedable randomness."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["Transform", "Compose", "as_generator"]


def as_generator(seed: int | Sequence[int] | np.random.Generator | None) -> np.random.Generator:
    """``seed`` as a ``np.random.Generator``: a Generator is used as is; None, an int or a
    sequence of ints (e.g. ``(seed, epoch, index)``) seed a new one."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _check_image(image, name):
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name}: image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 4:
        raise ValueError(f"{name}: image must have shape (C, D, H, W), got {image.shape}")
    return image


def _check_label(label, spatial, name):
    if not isinstance(label, np.ndarray):
        raise TypeError(f"{name}: label must be a numpy array, got {type(label).__name__}")
    if label.ndim not in (3, 4) or label.shape[-3:] != spatial:
        raise ValueError(
            f"{name}: label must have shape (D, H, W) or (C, D, H, W) with the "
            f"image's spatial size {spatial}, got {label.shape}"
        )
    return label


def triple(value: Any, name: str, positive: bool = False) -> tuple[float, ...]:
    """An int/float or a 3-sequence as a 3-tuple (one entry per spatial axis D, H, W)."""
    if isinstance(value, numbers.Real):
        value = (value,) * 3
    value = tuple(value)
    if len(value) != 3 or not all(isinstance(v, numbers.Real) for v in value):
        raise ValueError(f"{name} must be a number or 3 numbers (D, H, W), got {value}")
    if positive and min(value) <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def check_p(p: float) -> float:
    """Validate an application probability."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return float(p)


class Transform:
    """Base class. ``t(image)`` returns the transformed image; ``t(image, label)`` returns
    ``(image, label)`` transformed with the same random draw (geometric transforms move the
    label with the image, nearest-neighbour where they resample; intensity transforms leave it
    alone).

    Images are numpy arrays (C, D, H, W); label maps (D, H, W) or (C, D, H, W) with the same
    spatial size. Randomness comes from ``rng=`` when given (a Generator or a seed), else from
    the transform's own Generator seeded by ``seed``: the same seed gives the same draws.

    Subclasses implement ``draw(rng, spatial)`` (the random parameters, or None for a
    deterministic transform), ``image(image, params)`` and, if they move voxels,
    ``label(label, params)``.

    ``is_random`` (a class attribute) says whether calls draw from the generator: False here,
    True on the random transforms (``RandomFlip``...). ``lucid.data.CacheDataset`` runs the
    transforms before the first random one once per item and keeps their output.
    """

    is_random: bool = False

    def __init__(self, seed: Any = None):
        self.generator = as_generator(seed)

    def draw(self, rng: np.random.Generator, spatial: tuple[int, ...]) -> Any:
        """The random parameters for one call (None when there are none)."""
        return None

    def image(self, image: np.ndarray, params: Any) -> np.ndarray:
        """Apply to a (C, D, H, W) image."""
        raise NotImplementedError

    def label(self, label: np.ndarray, params: Any) -> np.ndarray:
        """Apply to a (C, D, H, W) label map (identity unless overridden)."""
        return label

    def __call__(
        self, image: np.ndarray, label: np.ndarray | None = None, *, rng: Any = None
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        name = type(self).__name__
        image = _check_image(image, name)
        rng = self.generator if rng is None else as_generator(rng)
        params = self.draw(rng, image.shape[1:])
        out = self.image(image, params)
        if label is None:
            return out
        label = _check_label(label, image.shape[1:], name)
        lab = self.label(label[None] if label.ndim == 3 else label, params)
        return out, (lab[0] if label.ndim == 3 else lab)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({items})"


class Compose(Transform):
    """Apply ``transforms`` in order, all drawing from one Generator (``seed``/``rng=``), so
    one seed fixes the whole pipeline."""

    def __init__(self, transforms: Iterable[Callable[..., Any]], seed: Any = None):
        super().__init__(seed)
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable")

    def __call__(
        self, image: np.ndarray, label: np.ndarray | None = None, *, rng: Any = None
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        rng = self.generator if rng is None else as_generator(rng)
        for t in self.transforms:
            if label is None:
                image = t(image, rng=rng)
            else:
                image, label = t(image, label, rng=rng)
        return image if label is None else (image, label)

    @property
    def is_random(self) -> bool:  # type: ignore[override]
        """Whether any of ``transforms`` is random (a callable without an ``is_random``
        attribute counts as random: it is handed the generator)."""
        return any(getattr(t, "is_random", True) for t in self.transforms)

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"
