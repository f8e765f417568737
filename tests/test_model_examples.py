"""The model examples run end to end on tiny settings: segmentation (checkpoint re-loads to the
same Dice) and r3d_18 fine-tuning from a converted weight file (written here, no download)."""

import numpy as np

import lucid
from lucid.models import r3d_18
from tests.test_examples import EXAMPLES, run_script


def test_segment_volumes_runs_and_checkpoints(tmp_path):
    out = run_script(
        EXAMPLES / "segment_volumes.py",
        "--epochs",
        "1",
        "--train-size",
        "4",
        "--val-size",
        "2",
        "--size",
        "8",
        "--features",
        "2,4",
        "--out",
        tmp_path,
    )
    assert "re-loaded checkpoint: identical" in out and "validation Dice" in out
    assert (tmp_path / "unet3d.safetensors").exists()


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
