"""Type aliases used in the public signatures (annotations only: nothing here runs at import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    from lucid.dtypes import dtype
    from lucid.tensor import Tensor

# a Lucid dtype, its name ("float32"), a numpy dtype or a Python type (float, int, bool)
DTypeLike = Union[str, "dtype", type, np.dtype, None]  # noqa: UP007  (a forward reference)
# one int for every spatial dim, or one per dim (kernel_size, stride, dilation...)
IntOrSeq = int | Sequence[int]
# a dim, several dims, or None for all of them
Dims = int | Sequence[int] | None
# a tensor or a Python number, broadcast against the other operand
TensorOrScalar = Union["Tensor", float]  # noqa: UP007  (a forward reference)
