"""PyTorch scripts port to Lucid by changing the framework's name and the imports only.

Each script in examples/ported/torch/ has its port in examples/ported/lucid/; outside the import
lines the two may differ only where the word ``torch`` became ``lucid``. The Lucid ports run here
on tiny settings; the PyTorch originals run in the parity suite when torch is installed.
"""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PORTED = ROOT / "examples" / "ported"
SCRIPTS = sorted(p.name for p in (PORTED / "torch").glob("*.py"))
TINY = {
    "unet3d_segmentation.py": ["--epochs", "1", "--volumes", "8"],
    "r2plus1d_video.py": ["--epochs", "1", "--clips", "32"],
    "train_resume.py": ["--epochs", "2"],
    "custom_autograd.py": ["--epochs", "1", "--finetune-epochs", "1", "--volumes", "32"],
    "resume_mid_epoch.py": ["--epochs", "2", "--volumes", "48"],
    "gradient_penalty.py": ["--epochs", "1", "--steps", "2", "--batch", "4"],
}


def body(path, framework):
    """The script without its import lines, with the framework's name replaced by a marker."""
    lines = [
        line
        for line in path.read_text().splitlines()
        if not re.match(r"\s*(import|from) \S+", line)
    ]
    return [re.sub(rf"\b{framework}\b", "FRAMEWORK", line) for line in lines]


def test_every_script_has_a_port():
    assert sorted(p.name for p in (PORTED / "lucid").glob("*.py")) == SCRIPTS and len(SCRIPTS) == 6


@pytest.mark.parametrize("name", SCRIPTS)
def test_port_differs_only_in_names_and_imports(name):
    torch_body = body(PORTED / "torch" / name, "torch")
    lucid_body = body(PORTED / "lucid" / name, "lucid")
    assert lucid_body == torch_body
    imports = [
        line
        for line in (PORTED / "lucid" / name).read_text().splitlines()
        if re.match(r"(import|from) ", line)
    ]
    assert not any("torch" in line for line in imports)


def run(framework, name, tmp_path, *extra):
    proc = subprocess.run(
        [sys.executable, str(PORTED / framework / name), *TINY[name], *extra],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("name", SCRIPTS)
def test_lucid_port_runs(name, tmp_path):
    out = run("lucid", name, tmp_path)
    assert "epoch 1:" in out


def test_lucid_port_resumes(tmp_path):
    run("lucid", "train_resume.py", tmp_path)
    out = run("lucid", "train_resume.py", tmp_path, "--resume", "--epochs", "3")
    assert "resumed after epoch 2" in out and "epoch 3:" in out


def test_lucid_port_resumes_mid_epoch(tmp_path):
    out = run("lucid", "resume_mid_epoch.py", tmp_path, "--stop-epoch", "0", "--stop-step", "2")
    assert "repeats the uninterrupted loss curve exactly (12 steps)" in out


def test_lucid_custom_function_and_saliency(tmp_path):
    out = run("lucid", "custom_autograd.py", tmp_path)
    assert "epoch 2:" in out and "grad-cam maps (8, 6, 6, 6)" in out and "saliency inside" in out


def test_lucid_gradient_penalty_differentiates_twice(tmp_path):
    out = run("lucid", "gradient_penalty.py", tmp_path)
    assert "penalty" in out and "samples (4, 1, 12, 12, 12)" in out
