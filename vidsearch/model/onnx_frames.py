"""`OnnxFrameEncoder`: an index run's frames through the image tower's checked ONNX export,
its clips pooled in numpy: a `FrameEncoder` (model/protocols.py) with no torch in the process.

It does what `VideoTextModel` does once its per-machine verdicts chose the export for its
frames (image_runtime.py: ONNX Runtime for fp32 frames, OpenVINO bf16 for bf16 ones): the same
runtime options, numpy pixels and numpy meanP, so the vectors it gives are the ones that model
would give. model/index_runtime.py decides when it may serve.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vidsearch.model.cards import ModelCard
from vidsearch.model.image_runtime import CPU_FRAME_BATCH, RUNTIME_NAMES, RUNTIMES
from vidsearch.model.pixels import Preprocess
from vidsearch.model.pooling import mean_pool


class OnnxFrameEncoder:
    """Frames [N, S, S, 3] uint8 -> raw features; windows of them -> meanP clip vectors."""

    device = "cpu"
    temporal_context = 0  # the 2d patch: each frame alone

    def __init__(self, *, card: ModelCard, fingerprint: str, graph: Path,
                 preprocess: Preprocess, threads: int, frames: str = "fp32") -> None:
        self.card = card
        self.fingerprint = fingerprint
        self.embed_dim = card.embed_dim
        self.preprocess = preprocess
        self.graph = graph
        self.precision = frames
        self.image_runtime = RUNTIME_NAMES[frames]
        self._encode = RUNTIMES[frames](graph, threads)

    @property
    def image_size(self) -> int:
        return self.preprocess.image_size

    def embed_frames(self, frames: np.ndarray, context: tuple[int, int] = (0, 0)) -> np.ndarray:
        """As `VideoTextModel.embed_frames` for the 2d patch: the first and last `context`
        frames get no row (a 2d frame needs no neighbours, so they are not encoded)."""
        size = self.image_size
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
            raise TypeError("frames must be a uint8 numpy array")
        if frames.ndim != 4 or frames.shape[1:] != (size, size, 3):
            raise ValueError(f"frames must be [N, {size}, {size}, 3], got {frames.shape}")
        left, right = (int(value) for value in context)
        if left < 0 or right < 0 or left + right > len(frames):
            raise ValueError(f"context {context} does not fit {len(frames)} frames")
        out = [np.zeros((0, self.embed_dim), dtype=np.float32)]
        for start in range(left, len(frames) - right, CPU_FRAME_BATCH):
            batch = frames[start:min(start + CPU_FRAME_BATCH, len(frames) - right)]
            out.append(np.asarray(self._encode(self.preprocess.normalise(batch)), np.float32))
        return np.concatenate(out)

    def aggregate(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        return mean_pool(windows, self.card.frames_per_clip, self.embed_dim)
