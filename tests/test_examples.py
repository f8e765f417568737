"""The examples stay runnable: the notebook's code cells run in order, and the training scripts
run end to end on tiny settings (their full-size results are in the README)."""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def test_quickstart_notebook_is_committed_with_its_outputs():
    nb = json.loads((EXAMPLES / "quickstart.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] for c in code)
    texts = "".join("".join(o.get("text", "")) for c in code for o in c["outputs"])
    assert "held-out accuracy" in texts
    assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"])


def test_quickstart_notebook_cells_run(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # where matplotlib is installed, plot off-screen

    nb = json.loads((EXAMPLES / "quickstart.ipynb").read_text())
    namespace = {"__name__": "__main__"}
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code_cells) >= 5
    for i, cell in enumerate(code_cells):
        exec(compile("".join(cell["source"]), f"quickstart.ipynb cell {i + 1}", "exec"), namespace)
    losses, steps = namespace["losses"], len(namespace["loader"])
    # it learns: the last epoch's mean loss is well below chance (ln 5 = 1.609) and the first's
    assert sum(losses[-steps:]) / steps < min(1.2, sum(losses[:steps]) / steps - 0.3)
    assert (namespace["pred"] == namespace["ys"][600:]).mean() > 0.5  # chance: 0.2


def run_script(*args, timeout=300):
    """Run an example script in a subprocess; return its stdout."""
    proc = subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_train_shapes3d_runs_and_checkpoints(tmp_path):
    out = run_script(
        EXAMPLES / "train_shapes3d.py",
        "--epochs",
        "1",
        "--train-size",
        "64",
        "--test-size",
        "32",
        "--out",
        tmp_path,
    )
    assert "re-loaded checkpoint: identical" in out
    assert (tmp_path / "checkpoint.safetensors").exists()


def test_train_shapes3d_compiled_with_mixed_precision(tmp_path):
    out = run_script(
        EXAMPLES / "train_shapes3d.py",
        "--epochs",
        "1",
        "--train-size",
        "48",
        "--test-size",
        "16",
        "--out",
        tmp_path,
        "--compile",
        "--amp",
        "bfloat16",
    )
    assert "compile True | amp bfloat16" in out and "peak memory:" in out
    assert "re-loaded checkpoint: identical" in out


def test_train_motion_runs():
    out = run_script(EXAMPLES / "train_motion.py", "--epochs", "1", "--clips", "60")
    assert "held-out accuracy: Conv3d" in out


def test_conv3d_reference_example():
    out = run_script(EXAMPLES / "conv3d_reference.py")
    assert "204.0" in out and "(1, 10)" in out


def test_progress_in_a_log_is_periodic_lines(monkeypatch, capsys):
    sys.path.insert(0, str(EXAMPLES))
    try:
        from common import Progress
    finally:
        sys.path.remove(str(EXAMPLES))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    bar = Progress(1000, "epoch 1", every_s=0.0)
    for _ in range(10):
        bar.update(50, loss=1.0)
    bar.close()
    err = capsys.readouterr().err
    assert "\r" not in err and err.count("\n") == 10 and "volumes/s" in err
    quiet = Progress(1000, "epoch 1", enabled=False)
    quiet.update(1000, loss=1.0)
    quiet.close()
    assert capsys.readouterr().err == ""
