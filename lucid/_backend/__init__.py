"""The one seam between Lucid and MLX.

Every MLX primitive that Lucid relies on is named here (``core``) or in the modules beside
it: ``conv`` (MLX convolution kernels), ``native_conv`` (NumPy/OpenBLAS CPU kernels, no MLX),
``dispatch`` (which kernels run for a device) and ``distributed`` (MLX's collectives). A reader
sees in one place what the framework needs from its array library, and a faster path can be
swapped in without touching ``lucid.ops``.
Nothing outside ``lucid/_backend`` imports ``mlx.core``.
"""

from lucid._backend.core import *  # noqa: F401,F403  (the explicit list lives in core.__all__)
from lucid._backend.core import __all__  # noqa: F401
from lucid._backend.dispatch import conv_kernels, cpu_kernels, set_cpu_kernels  # noqa: F401,E402
from lucid._backend.dispatch import matmul as matmul_on  # noqa: F401,E402
from lucid._backend.runtime import (async_evaluate, defer, defer_check,  # noqa: F401,E402
                                    is_tracing)
