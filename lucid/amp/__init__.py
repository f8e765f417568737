"""Mixed precision: ``autocast`` (a per-op precision policy) and ``GradScaler`` (dynamic loss
scaling). See docs/compile-amp.md."""

from lucid.amp.autocast import (
    FLOAT32_OPS,
    HALF_OPS,
    autocast,
    custom_bwd,
    custom_fwd,
    is_autocast_enabled,
)
from lucid.amp.grad_scaler import GradScaler

__all__ = [
    "FLOAT32_OPS",
    "HALF_OPS",
    "GradScaler",
    "autocast",
    "custom_bwd",
    "custom_fwd",
    "is_autocast_enabled",
]
