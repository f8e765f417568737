"""Utilities (being written)."""
