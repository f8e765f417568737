"""Utilities above ``nn``: activation checkpointing, TensorBoard logging
(``lucid.utils.tensorboard.SummaryWriter``)."""

from lucid.utils.checkpoint import checkpoint
from lucid.utils import tensorboard

__all__ = ["checkpoint"]
