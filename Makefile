# The README's two commands. Both create .venv when it is missing.
PYTHON ?= python3
# extra flags for the demo, e.g. make demo DEMO_ARGS="--compile --amp"
DEMO_ARGS ?=
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo demo-seg test parity lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python examples/train_shapes3d.py $(DEMO_ARGS)

# A segmentation job from NIfTI files to per-class Dice and HD95 (docs/segmentation.md):
# nibabel for the files, scipy for HD95, matplotlib for the montage
demo-seg: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[nifti,metrics,examples]"
	$(BIN)/python examples/segment_volumes.py

# The suite runs under both CPU kernel sets (Lucid's NumPy/OpenBLAS ones and MLX's).
test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	LUCID_CPU_KERNELS=mlx $(BIN)/python -m pytest
	LUCID_CPU_KERNELS=numpy $(BIN)/python -m pytest

# Lucid against PyTorch in float64 (tests/parity: every shared op, layer, loss, optimizer and LR
# schedule, values and gradients) and the segmentation losses and metrics against MONAI, under
# both CPU kernel sets; torch and MONAI pinned in the parity extra.
parity: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,parity]"
	LUCID_CPU_KERNELS=mlx $(BIN)/python -m pytest tests/parity tests/test_ported.py tests/nn/test_segmentation_losses.py tests/test_metrics.py
	LUCID_CPU_KERNELS=numpy $(BIN)/python -m pytest tests/parity tests/test_ported.py tests/nn/test_segmentation_losses.py tests/test_metrics.py

# ruff (lint + format check) and mypy on the package, with the versions pinned in the dev extra.
lint: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/ruff check lucid tests examples benchmarks
	$(BIN)/ruff format --check lucid tests examples benchmarks
	$(BIN)/mypy

bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/conv.py

clean:
	rm -rf $(VENV) build *.egg-info
