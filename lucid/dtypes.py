"""Lucid's dtypes: small named objects that map to the backend's and to numpy's."""

from __future__ import annotations

import builtins
from typing import Any, overload

import numpy as np

from lucid import _backend as B


class dtype:
    """A tensor element type, e.g. ``lucid.float32``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    @property
    def is_floating_point(self) -> builtins.bool:
        """True for the floating-point types."""
        return self.name in ("float16", "bfloat16", "float32", "float64")

    def __repr__(self) -> str:
        return f"lucid.{self.name}"

    def __eq__(self, other) -> builtins.bool:
        try:
            return self.name == as_dtype_name(other)
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.name)


float32 = dtype("float32")
float16 = dtype("float16")
bfloat16 = dtype("bfloat16")
float64 = dtype("float64")
int8 = dtype("int8")
int16 = dtype("int16")
int32 = dtype("int32")
int64 = dtype("int64")
uint8 = dtype("uint8")
uint32 = dtype("uint32")
bool_ = dtype("bool")
bool = bool_  # noqa: A001  (PyTorch's name; this module reaches Python's as builtins.bool)
half, double, long, int_, float_, short = float16, float64, int64, int32, float32, int16

BY_NAME = {
    d.name: d
    for d in (float32, float16, bfloat16, float64, int8, int16, int32, int64, uint8, uint32, bool_)
}


@overload
def as_dtype_name(spec: None) -> None: ...
@overload
def as_dtype_name(spec: Any) -> str: ...
def as_dtype_name(spec: Any) -> str | None:
    """Normalise a dtype given as a Lucid dtype, a string, a numpy dtype, a Python type or an MLX
    dtype to its name; raise a TypeError naming what was given otherwise."""
    if spec is None:
        return None
    if isinstance(spec, dtype):
        return spec.name
    if spec is float:
        return "float32"
    if spec is int:
        return "int64"
    if spec is builtins.bool:
        return "bool"
    if isinstance(spec, str):
        name = spec.replace("lucid.", "").replace("mlx.core.", "")
        if name == "bool_":
            name = "bool"
        if name in BY_NAME:
            return name
        raise TypeError(f"unknown dtype {spec!r}; expected one of {sorted(BY_NAME)}")
    try:
        return B.dtype_name(spec)
    except TypeError:
        pass
    try:
        name = np.dtype(spec).name
    except TypeError:
        raise TypeError(f"unknown dtype {spec!r}") from None
    if name in BY_NAME:
        return name
    raise TypeError(f"unsupported dtype {spec!r}")
