"""The PyTorch originals of examples/ported run too (so the pairs stay honest ports)."""

import pytest

from tests.test_ported import SCRIPTS, run

pytest.importorskip("torch")


@pytest.mark.parametrize("name", SCRIPTS)
def test_torch_original_runs(name, tmp_path):
    assert "epoch 1:" in run("torch", name, tmp_path)


def test_torch_original_resumes_mid_epoch(tmp_path):
    out = run("torch", "resume_mid_epoch.py", tmp_path)
    assert "repeats the uninterrupted loss curve exactly (12 steps)" in out
