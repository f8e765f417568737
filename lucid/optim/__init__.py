"""Optimizers (``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``NAdam``, ``RAdam``,
``Adamax``, ``Adadelta``, ``ASGD``, ``Rprop``, ``LBFGS``) and learning-rate schedules
(``lucid.optim.lr_scheduler``)."""

from lucid.optim.optimizer import Optimizer  # noqa: F401
from lucid.optim.sgd import SGD  # noqa: F401
from lucid.optim.adam import Adam, AdamW  # noqa: F401
from lucid.optim.rmsprop import RMSprop  # noqa: F401
from lucid.optim.adagrad import Adagrad  # noqa: F401
from lucid.optim.adam_variants import NAdam, RAdam, Adamax  # noqa: F401
from lucid.optim.adadelta import Adadelta  # noqa: F401
from lucid.optim.asgd import ASGD  # noqa: F401
from lucid.optim.rprop import Rprop  # noqa: F401
from lucid.optim.lbfgs import LBFGS  # noqa: F401
from lucid.optim import lr_scheduler  # noqa: F401,E402

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "NAdam",
    "RAdam",
    "Adamax",
    "Adadelta",
    "ASGD",
    "Rprop",
    "LBFGS",
    "lr_scheduler",
]
