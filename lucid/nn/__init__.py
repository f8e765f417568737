"""Neural-network building blocks: modules, parameters, layers, losses, initialisers."""

from lucid.nn.modules import *  # noqa: F401,F403
from lucid.nn import functional, init, utils  # noqa: F401,E402
