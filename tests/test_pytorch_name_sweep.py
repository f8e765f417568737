"""The share of PyTorch 3D/video names that port to Lucid by renaming does not fall.

docs/pytorch-names.tsv lists the names (with estimated use counts, from a reading of public
scripts); benchmarks/pytorch_name_sweep.py looks each one up. The floors are the figures
measured when the list was made (docs/coming-from-pytorch.md); raise them as names are added.
"""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "pytorch_name_sweep", ROOT / "benchmarks" / "pytorch_name_sweep.py"
)
sweep_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sweep_module)

FLOOR_NAMES, FLOOR_USES = 182, 685


def test_lookup_finds_present_and_absent_names():
    assert sweep_module.exists("torch.nn.functional.interpolate")
    assert sweep_module.exists("torch.utils.data.DataLoader")
    assert sweep_module.exists("torch.optim.lr_scheduler.CosineAnnealingLR")
    assert sweep_module.exists("Tensor.register_hook")
    assert not sweep_module.exists("torch.nn.functional.no_such_function")
    assert not sweep_module.exists("torch.no_such_module.thing")
    assert not sweep_module.exists("Tensor.no_such_method")


def test_the_list_is_well_formed():
    rows = sweep_module.read_names()
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names)) and len(names) >= 200
    assert all(r["uses"] > 0 and r["sources"] for r in rows)
    assert all(n.startswith(("torch.", "Tensor.")) for n in names)


def test_coverage_does_not_fall():
    s = sweep_module.sweep()
    assert s["ported_names"] >= FLOOR_NAMES, [r["name"] for r in s["missing"] + s["differs"]]
    assert s["ported_uses"] >= FLOOR_USES
