"""Lucid model sources run as PyTorch models: a file written in the PyTorch API (every
``lucid.models`` module, ``tests/basic_unet.py``) executed with ``lucid`` renamed ``torch``.
So a PyTorch twin of a Lucid network is its own source, never a second hand-written copy.
Shared by ``tests/grad_accuracy.py`` and ``benchmarks/real_scripts.py``; PyTorch must be
importable.
"""

from __future__ import annotations

import pathlib
import re
import types

ROOT = pathlib.Path(__file__).resolve().parent.parent
_COMMON = "from lucid.models._resnet_common import init_resnet_weights\n"


def _run_renamed(path: pathlib.Path, module: types.ModuleType) -> types.ModuleType:
    src = path.read_text()
    if _COMMON in src:  # lucid.models' shared weight initialisation, ported alongside
        common = _run_renamed(
            ROOT / "lucid" / "models" / "_resnet_common.py",
            types.ModuleType("torch_port._resnet_common"),
        )
        module.__dict__["init_resnet_weights"] = common.init_resnet_weights
        src = src.replace(_COMMON, "")
    exec(compile(re.sub(r"\blucid\b", "torch", src), path.name, "exec"), module.__dict__)
    return module


def torch_port(path) -> types.ModuleType:
    """The module at ``path`` (a ``lucid.models`` stem such as ``"resnet3d"``, or a file path)
    executed with ``lucid`` renamed ``torch``, its ``lucid.models`` weight initialisation
    included."""
    path = pathlib.Path(path)
    if path.suffix != ".py":
        path = ROOT / "lucid" / "models" / f"{path}.py"
    return _run_renamed(path, types.ModuleType(f"torch_port.{path.stem}"))


def torch_model(name: str, **kwargs):
    """The PyTorch twin of ``lucid.models.<name>(**kwargs)``, built from that model's source."""
    from lucid import models

    stem = getattr(models, name).__module__.rsplit(".", 1)[-1]
    return getattr(torch_port(stem), name)(**kwargs)
