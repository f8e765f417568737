"""lucid.memory: the figures move as arrays are created and freed, and limits round-trip."""

import gc

import pytest

import lucid
from lucid import memory

MIB = 1024 * 1024


def test_active_and_peak_follow_a_big_tensor():
    gc.collect()  # earlier tests' garbage freed now, not while this test measures
    base = memory.active()
    x = lucid.zeros(1024, 1024)  # 4 MiB of float32
    x.numpy()  # evaluated: now it holds memory
    # (a few bytes of other arrays may still be freed meanwhile: allow 1 MiB of that, not 4)
    assert memory.active() >= base + 3 * MIB
    memory.reset_peak()
    assert memory.peak() < 4 * MIB  # MLX restarts the peak from zero
    y = lucid.ones(1024, 1024)
    y.numpy()
    assert memory.peak() >= 4 * MIB
    del x, y
    gc.collect()
    assert memory.active() < base + 4 * MIB
    memory.clear_cache()
    assert memory.cache() == 0


def test_limits_return_the_previous_value_and_reject_negatives():
    old = memory.set_cache_limit(8 * MIB)
    try:
        assert memory.set_cache_limit(8 * MIB) == 8 * MIB
    finally:
        memory.set_cache_limit(old)
    old = memory.set_memory_limit(1 << 40)
    try:
        assert memory.set_memory_limit(old) == 1 << 40
    finally:
        memory.set_memory_limit(old)
    with pytest.raises(ValueError, match=">= 0 bytes"):
        memory.set_cache_limit(-1)
    with pytest.raises(ValueError, match=">= 0 bytes"):
        memory.set_memory_limit(-5)
