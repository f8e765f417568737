"""Utilities above ``nn``: activation checkpointing."""

from lucid.utils.checkpoint import checkpoint

__all__ = ["checkpoint"]
