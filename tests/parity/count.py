"""Counts of what the parity suite compares (quoted in docs/coming-from-pytorch.md):
``python -m tests.parity.count``."""

from __future__ import annotations

import torch

from tests.parity import functional_cases, module_cases, op_cases, tensor_cases, test_parity


def main() -> None:
    """Print the number of names compared, cases and samples, by kind."""
    ops = op_cases.build(torch) + functional_cases.build(torch) + tensor_cases.build(torch)
    names = test_parity._compared_names()
    shared = test_parity._shared_names()
    methods = {n for n in names if n.startswith("Tensor.")}
    print(
        f"public names shared with PyTorch: {len(shared)}, compared: "
        f"{len(shared & names)}, exempt with a reason: {len(shared - names)}"
    )
    print(f"names compared in all: {len(names)} (Tensor methods and operators: {len(methods)})")
    print(f"op cases: {len(ops)} with {sum(len(c.samples) for c in ops)} samples")
    print(
        f"layer cases: {len(module_cases.MODULE_CASES)} (x train/eval), loss classes: "
        f"{len(module_cases.LOSS_CASES)} (x 3 reductions), optimizer runs: "
        f"{len(module_cases.OPTIMIZER_CASES)}, LR schedules: "
        f"{len(test_parity.SCHEDULE_MAKERS) + 1}"
    )


if __name__ == "__main__":
    main()
