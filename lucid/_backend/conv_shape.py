"""The convolution output-size formula, shared by both kernel sets and the ops (pure Python)."""


def conv_output_size(in_size, kernel_size, stride, padding, dilation) -> tuple:
    """Spatial output size of a convolution with (lo, hi) ``padding`` per dim:
    ``S_out = (S_in + lo + hi - dilation * (K - 1) - 1) // stride + 1``."""
    return tuple(
        (i + lo + hi - d * (k - 1) - 1) // s + 1
        for i, k, s, (lo, hi), d in zip(in_size, kernel_size, stride, padding, dilation)
    )
