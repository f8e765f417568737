"""The reference page's three `lucid.nn.Conv3d` examples, in their consistent reading.

The page (shared/seed/lucid.nn.Conv3d.txt) prints a few numbers that cannot all be true; this
script runs the reading that makes the mathematics consistent (see the README's errata):
1. one input channel: input 1..8 and weight 1..8 of shape (1, 1, 2, 2, 2) give 204,
   dy/dx = W and dy/dW = x;
2. a (2, 2, 3, 3, 3) batch with bias gives a (2, 2, 2, 2, 2) output;
3. the page's Conv3dModel needs a 10x10x10 input (10 -> 10 -> 8 -> 4 before fc).
"""

import lucid
import lucid.nn as nn
from lucid import Tensor


def example_1():
    """Conv3d without bias: 204 = 1^2 + 2^2 + ... + 8^2."""
    input_tensor = Tensor(
        [[[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]]], requires_grad=True
    )  # (1, 1, 2, 2, 2)
    conv3d = nn.Conv3d(in_channels=1, out_channels=1, kernel_size=2, bias=False)
    conv3d.weight.data = Tensor([[[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]]])
    print(conv3d.weight.__repr__())
    output = conv3d(input_tensor)  # (1, 1, 1, 1, 1)
    print(repr(output))
    output.backward()
    print(repr(input_tensor.grad), " # gradient with respect to input_tensor (= W)")
    print(repr(conv3d.weight.grad), " # gradient with respect to weight (= x)")


def example_2():
    """Conv3d with bias on a batch of two 2-channel 3x3x3 volumes."""
    input_tensor = lucid.arange(1, 109, dtype=lucid.float32).reshape(2, 2, 3, 3, 3)
    input_tensor.requires_grad_()
    conv3d = nn.Conv3d(in_channels=2, out_channels=2, kernel_size=2, bias=True)
    conv3d.weight.data = lucid.arange(1, 33, dtype=lucid.float32).reshape(2, 2, 2, 2, 2)
    conv3d.bias.data = Tensor([17.0, 18.0])
    output = conv3d(input_tensor)
    print("output shape:", output.shape)
    output.backward()
    print("input grad shape:", input_tensor.grad.shape, "| bias grad:", conv3d.bias.grad)


class Conv3dModel(nn.Module):
    """The page's model, unchanged (nn.MaxPool3D is the page's spelling)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(in_channels=1, out_channels=8, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv3d(in_channels=8, out_channels=16, kernel_size=3)
        self.pool = nn.MaxPool3D(kernel_size=2, stride=2)
        self.fc = nn.Linear(in_features=16 * 4 * 4 * 4, out_features=10)

    def forward(self, x):
        x = self.conv1(x)
        x = self.relu(x)
        x = self.conv2(x)
        x = self.relu(x)
        x = self.pool(x)
        x = x.reshape(x.shape[0], -1)
        x = self.fc(x)
        return x


def example_3():
    """The model on a 10x10x10 volume (the only size its fc layer accepts)."""
    lucid.random.seed(0)
    model = Conv3dModel()
    input_data = lucid.randn(1, 1, 10, 10, 10, requires_grad=True)
    output = model(input_data)
    print("model output shape:", output.shape)
    output.backward()
    print("input grad shape:", input_data.grad.shape)


if __name__ == "__main__":
    for fn in (example_1, example_2, example_3):
        print(f"--- {fn.__doc__.splitlines()[0]}")
        fn()
