"""The model examples run end to end on tiny settings: segmentation (files written, read back,
trained on, predicted and scored; the prediction written on its scan's grid) and r3d_18
fine-tuning from a converted weight file (written here, no download)."""

import importlib.util
import re

import numpy as np
import pytest

import lucid
from lucid.models import r3d_18
from tests.test_examples import EXAMPLES, ROOT, run_script


def check_segmentation_outputs(out, tmp_path, ext):
    """The job's report and files: a per-class table, the prediction on its scan's grid."""
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    assert [r[0] for r in rows[1:]] == ["ball", "box", "rod"]
    dice = [float(r[1]) for r in rows[1:]]
    assert all(0.0 <= d <= 1.0 for d in dice)
    mean = float(out.split("mean foreground Dice ")[1].split(",")[0])
    assert abs(mean - np.mean(dice)) < 1e-3
    assert "peak memory" in out and "sliding-window peak above the input" in out
    pred = tmp_path / f"case000_pred{ext}"
    assert pred.exists() and (tmp_path / "unet3d.safetensors").exists()
    return pred


def test_segment_volumes_quick_nifti(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    out = run_script(EXAMPLES / "segment_volumes.py", "--quick", "--out", tmp_path)
    assert ".nii.gz files" in out
    pred = check_segmentation_outputs(out, tmp_path, ".nii.gz")
    scan = nibabel.load(str(tmp_path / "data/val/case000_image.nii.gz"))
    written = nibabel.load(str(pred))
    # aligned with its scan: same grid, same affine (LPS, 1.5 mm slices), labels 0..3
    assert written.shape == scan.shape == (24, 24, 16)
    np.testing.assert_allclose(written.affine, scan.affine)
    np.testing.assert_allclose(np.diag(scan.affine)[:3], [-1.0, -1.0, 1.5])
    assert set(np.unique(np.asarray(written.dataobj))) <= {0, 1, 2, 3}
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "montage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_segment_volumes_quick_safetensors(tmp_path):
    out = run_script(
        EXAMPLES / "segment_volumes.py", "--quick", "--format", "safetensors", "--out", tmp_path
    )
    assert ".safetensors files" in out
    pred = check_segmentation_outputs(out, tmp_path, ".safetensors")
    scan, written = lucid.load(tmp_path / "data/val/case000_image.safetensors"), lucid.load(pred)
    assert written["array"].shape == scan["array"].shape == (24, 24, 16)
    np.testing.assert_array_equal(written["affine"], scan["affine"])


def test_finetune_video_from_a_weight_file(tmp_path):
    lucid.random.seed(0)
    state = {k: v.numpy() for k, v in r3d_18(num_classes=400).state_dict().items()}  # numpy
    lucid.save(state, tmp_path / "r3d_18.safetensors")  # stands in for torchvision's file
    out = run_script(
        EXAMPLES / "finetune_video.py",
        "--weights",
        tmp_path / "r3d_18.safetensors",
        "--epochs",
        "1",
        "--clips",
        "4",
        "--frames",
        "2",
        "--size",
        "16",
        "--batch-size",
        "4",
    )
    assert "fresh head: fc.weight, fc.bias" in out and "held-out accuracy" in out
    assert np.isfinite(float(out.split("loss ")[1].split()[0]))


def test_segmentation_docs_walkthrough_runs(tmp_path, monkeypatch):
    """docs/segmentation.md marks its files-to-metrics example '# not run' (it needs the
    optional nibabel): run it here, where it must reach Dice > 0.8 on its held-out scan."""
    pytest.importorskip("nibabel")
    text = (ROOT / "docs" / "segmentation.md").read_text()
    blocks = re.findall(r"```python\n(# not run \(needs nibabel.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/segmentation.md lost its files-to-metrics example"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_segmentation"}
    exec(compile(blocks[0], "docs/segmentation.md", "exec"), namespace)
    assert namespace["dice"][0, 0] > 0.8 and (tmp_path / "case3_pred.nii.gz").exists()
