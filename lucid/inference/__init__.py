"""Inference helpers for volumes too large for one forward pass.

``sliding_window_inference`` runs a predictor over overlapping windows of an ``(N, C, *spatial)``
tensor and blends the window outputs into one, as MONAI's function of the same name.
"""

from lucid.inference.sliding_window import sliding_window_inference

__all__ = ["sliding_window_inference"]
