"""What an index run is asked (`IndexOptions`) and what it gives back: each video encoded
(`EncodedVideo`, written by the one writer whoever encoded it) and the run's `IndexReport`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vidsearch.store import VideoMeta


@dataclass
class IndexOptions:
    window: float = 10.0
    stride: float = 5.0
    fps: float = 1.0
    batch_size: int | None = None  # None: what suits the device
    decode_workers: int | None = None  # None: one per core
    lookahead_chunks: int = 8  # bound on decoded-but-not-encoded chunks held in memory
    # Nearest keyframes where dense, no deblocking: faster, not the exact frames.
    fast_decode: bool = False

    def validate(self) -> None:
        from vidsearch.errors import UsageError

        if self.window <= 0 or self.stride <= 0:
            raise UsageError("clip windows and their stride must be positive numbers of seconds")
        if self.stride > self.window:
            raise UsageError(
                f"a stride of {self.stride:g} s is longer than the {self.window:g}-s window",
                "parts of each video would never be searched; use a stride <= the window",
            )


@dataclass
class IndexReport:
    indexed: list[str] = field(default_factory=list)
    seconds_indexed: float = 0.0
    skipped: int = 0
    skipped_paths: list[str] = field(default_factory=list)  # the `skipped` files, by name
    moved: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    previously_failed: int = 0
    frames: int = 0  # sampled from the videos indexed
    frames_encoded: int = 0  # of those, the ones that went through the encoder
    elapsed: float = 0.0
    interrupted: bool = False


@dataclass
class EncodedVideo:
    """One video decoded and encoded: what `Store.write_video` takes besides the file's own
    identity (path, size, mtime, content hash)."""

    meta: VideoMeta
    frame_times: np.ndarray
    frame_vectors: np.ndarray
    clip_spans: list[tuple[float, float]]
    clip_vectors: np.ndarray
    recorded_at: float | None = None  # from the file's tags, read where it was decoded
    frames_encoded: int = 0  # of the frames, those the encoder saw (repeats reuse a vector)
