"""Layers (``lucid.nn.Module`` subclasses); each file defines ``__all__``."""

from lucid.nn.modules.module import *  # noqa: F401,F403
from lucid.nn.modules.container import *  # noqa: F401,F403
from lucid.nn.modules.linear import *  # noqa: F401,F403
from lucid.nn.modules.flatten import *  # noqa: F401,F403
from lucid.nn.modules.activation import *  # noqa: F401,F403
from lucid.nn.modules.dropout import *  # noqa: F401,F403
from lucid.nn.modules.conv import *  # noqa: F401,F403
from lucid.nn.modules.pooling import *  # noqa: F401,F403
from lucid.nn.modules.normalization import *  # noqa: F401,F403
from lucid.nn.modules.upsampling import *  # noqa: F401,F403
from lucid.nn.modules.sparse import *  # noqa: F401,F403
from lucid.nn.modules.loss import *  # noqa: F401,F403
from lucid.nn.modules.margin_loss import *  # noqa: F401,F403
from lucid.nn.modules.likelihood_loss import *  # noqa: F401,F403
