"""The one seam between Lucid and MLX.

Every MLX primitive that Lucid relies on is named here (``core``) or in the modules beside
it: ``conv`` (MLX convolution kernels), ``numpy_conv`` (NumPy/OpenBLAS CPU kernels, no MLX),
``blas_threads`` (their GEMM thread policy), ``conv_shape`` (the output-size formula),
``dispatch`` (the routing decision: which kernels run for a call, from the table in
``routing``) and ``distributed``
(MLX's collectives). A reader sees in one place what the framework needs from its array
library, and a faster path can be swapped in without touching ``lucid.ops``.
Nothing outside ``lucid/_backend`` imports ``mlx.core``.
"""

from lucid._backend.core import *  # noqa: F401,F403  (the explicit list lives in core.__all__)
from lucid._backend.core import __all__  # noqa: F401
from lucid._backend.dispatch import (  # noqa: F401,E402
    conv_kernels,
    conv_route,
    cpu_kernels,
    pool_route,
    set_cpu_kernels,
)
from lucid._backend.dispatch import matmul as matmul_on  # noqa: F401,E402
from lucid._backend.checks import (
    check_indices,
    defer_index_check,  # noqa: F401,E402
    has_pending,
    index_check_mode,
    set_index_checks,
)
from lucid._backend.runtime import (
    async_evaluate,
    defer,
    defer_check,  # noqa: F401,E402
    is_tracing,
    release_thread,
    traced_write,
)
