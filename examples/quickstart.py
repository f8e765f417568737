"""Tensors and gradients in a few lines (what `make demo` runs until the training demo exists)."""

import lucid

x = lucid.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
w = lucid.tensor([[0.5], [-1.0]], requires_grad=True)
y = (x @ w).tanh().sum()
y.backward()
print("y =", round(y.item(), 4))
print("dy/dx =", x.grad)
print("dy/dw =", w.grad)
