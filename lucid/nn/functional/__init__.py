"""Functional forms of the layers (``lucid.nn.functional``, usually imported as ``F``)."""

from lucid.ops.activation import log_softmax, softmax  # noqa: F401
from lucid.ops.padding import pad  # noqa: F401
from lucid.ops.counting import one_hot  # noqa: F401
from lucid.ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from lucid.nn.functional.linear import *  # noqa: F401,F403
from lucid.nn.functional.activation import *  # noqa: F401,F403
from lucid.nn.functional.dropout import *  # noqa: F401,F403
from lucid.nn.functional.conv import *  # noqa: F401,F403
from lucid.nn.functional.pooling import *  # noqa: F401,F403
from lucid.nn.functional.normalization import *  # noqa: F401,F403
from lucid.nn.functional.upsampling import *  # noqa: F401,F403
from lucid.nn.functional.loss import *  # noqa: F401,F403
from lucid.nn.functional.rms_norm import *  # noqa: F401,F403
from lucid.nn.functional.local_response_norm import *  # noqa: F401,F403
from lucid.nn.functional.lp_pool import *  # noqa: F401,F403
from lucid.nn.functional.max_unpool import *  # noqa: F401,F403
from lucid.nn.functional.alpha_dropout import *  # noqa: F401,F403
from lucid.nn.functional.margin_loss import *  # noqa: F401,F403
from lucid.nn.functional.likelihood_loss import *  # noqa: F401,F403
