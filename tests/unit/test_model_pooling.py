"""meanP in numpy (index time) against the torch header (training): the same clip vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from vidsearch.model.heads import left_align, mean_pool as torch_mean_pool
from vidsearch.model.pooling import mean_pool, sample_window

DIM = 8


@st.composite
def windows(draw):
    lengths = draw(st.lists(st.integers(1, 9), min_size=1, max_size=6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([1e-3, 1.0, 50.0]))
    return [(rng.normal(size=(n, DIM)) * scale).astype(np.float32) for n in lengths]


def torch_pooled(windows: list[np.ndarray]) -> np.ndarray:
    length = max(len(w) for w in windows)
    features = torch.zeros(len(windows), length, DIM)
    mask = torch.zeros(len(windows), length, dtype=torch.bool)
    for row, window in enumerate(windows):
        features[row, :len(window)] = torch.from_numpy(window)
        mask[row, :len(window)] = True
    return torch_mean_pool(*left_align(features, mask)).numpy()


@given(windows())
def test_numpy_mean_pool_is_the_torch_header(windows):
    # limit above every length: no sampling, so both see the same frames
    np.testing.assert_allclose(mean_pool(windows, 12, DIM), torch_pooled(windows),
                               rtol=0, atol=2e-6)


@given(st.integers(1, 40), st.integers(2, 12))
def test_a_long_window_is_sampled_evenly_with_both_ends(length, limit):
    window = np.arange(length * DIM, dtype=np.float32).reshape(length, DIM)
    picked = sample_window(window, limit, DIM)
    assert len(picked) == min(length, limit)
    assert picked[0, 0] == 0 and picked[-1, 0] == window[-1, 0]
    assert (np.diff(picked[:, 0]) > 0).all()


def test_a_zero_window_stays_zero_and_a_wrong_shape_is_refused():
    assert not mean_pool([np.zeros((3, DIM), np.float32)], 12, DIM).any()
    with pytest.raises(ValueError, match="a window must be"):
        mean_pool([np.zeros((3, DIM + 1), np.float32)], 12, DIM)
    with pytest.raises(ValueError, match="a window must be"):
        mean_pool([np.zeros((0, DIM), np.float32)], 12, DIM)
