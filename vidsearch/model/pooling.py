"""meanP at index time, in numpy: a window's raw frame features -> its normalised clip vector.

The meanP header (heads.py) is torch, for training; an index run only needs its arithmetic,
and the index runs that encode frames in ONNX Runtime import no torch at all. Every index run
of a meanP model, whoever encoded its frames, pools here, so their clip vectors are the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# F.normalize's floor, so a zero vector stays zero here as it does in torch.
NORM_FLOOR = 1e-12


def sample_window(window: np.ndarray, limit: int, dim: int) -> np.ndarray:
    """A window's frames [T, dim], uniformly down to `limit` frames where it has more."""
    if window.ndim != 2 or window.shape[1] != dim or len(window) == 0:
        raise ValueError(f"a window must be [T>=1, {dim}], got {window.shape}")
    if len(window) <= limit:
        return window
    return window[np.linspace(0, len(window) - 1, num=limit).round().astype(int)]


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(NORM_FLOOR))


def mean_pool(windows: Sequence[np.ndarray], limit: int, dim: int) -> np.ndarray:
    """Raw frame features of clips ([T_i, dim] each) -> normalised clip vectors [W, dim]:
    each frame normalised, their mean normalised again (heads.mean_pool's arithmetic)."""
    out = np.zeros((len(windows), dim), dtype=np.float32)
    for row, window in enumerate(windows):
        frames = sample_window(np.asarray(window, dtype=np.float32), limit, dim)
        out[row] = normalise_rows(frames).mean(axis=0, dtype=np.float32)
    return normalise_rows(out)
