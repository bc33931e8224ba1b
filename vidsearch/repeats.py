"""Consecutive frames that repeat the one before: the encoder sees each picture once.

Slides, screen recordings, still intros and paused cameras sample the same picture second
after second. A frame counts as a repeat only when its pixels, as decoded and resized, equal
the previous frame's exactly, so handing it the previous frame's vector gives the very output
the encoder would have given: nothing stored or found changes.

This holds where the encoder sees each frame on its own (the 2d patch). A 3d patch mixes in
the neighbours, so a repeated picture between different neighbours has its own vector; the
indexer does not use this there. Pure numpy, so the indexer and a worker process that encodes
whole videos share it without importing a model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Bytes compared first, one in this many: two different pictures almost always differ there,
# so only real repeats pay for the full comparison.
PREFILTER_STRIDE = 61


def repeats_previous(frames: np.ndarray, before: np.ndarray | None = None) -> np.ndarray:
    """bool [N]: whether frame i equals frame i-1 exactly (frame 0 is compared with `before`,
    the frame that came just before these, when given)."""
    count = len(frames)
    same = np.zeros(count, dtype=bool)
    if count == 0:
        return same
    flat = frames.reshape(count, -1)
    previous = flat[:-1]
    if before is not None:
        if before.shape != frames.shape[1:]:
            raise ValueError(f"the frame before is {before.shape}, frames are {frames.shape[1:]}")
        previous = np.concatenate([before.reshape(1, -1), previous])
        current, offset = flat, 0
    else:
        current, offset = flat[1:], 1
    maybe = np.flatnonzero((current[:, ::PREFILTER_STRIDE]
                            == previous[:, ::PREFILTER_STRIDE]).all(axis=1))
    for index in maybe:
        same[index + offset] = np.array_equal(current[index], previous[index])
    return same


class RepeatSkipper:
    """One video's frames, in order, a chunk at a time: `distinct` gives the frames the encoder
    must see; `expand` takes their vectors and gives one vector per frame.

    Several chunks may be handed out before their vectors come back: `expand` then takes the
    vectors of all of them, concatenated in order, and returns all their frames' vectors.
    """

    def __init__(self) -> None:
        self._last_frame: np.ndarray | None = None
        self._last_vector: np.ndarray | None = None  # of the last frame expanded so far
        self._plans: list[np.ndarray] = []  # per chunk handed out: frame -> distinct index
        self._handed = 0  # distinct frames handed out since the last `expand`

    @property
    def outstanding(self) -> int:
        """Distinct frames handed out whose vectors have not come back."""
        return self._handed

    def distinct(self, frames: np.ndarray) -> np.ndarray:
        """The frames of this chunk that do not repeat the frame before them, in order."""
        same = repeats_previous(frames, self._last_frame)
        # Each frame's vector is that of the latest distinct frame at or before it; -1 is the
        # vector of the frame before this run of chunks.
        self._plans.append(self._handed + np.cumsum(~same) - 1)
        kept = frames[~same]
        self._handed += len(kept)
        if len(frames):
            self._last_frame = frames[-1].copy()
        return kept

    def expand(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors of the distinct frames handed out (in order) -> one per frame."""
        if len(vectors) != self._handed:
            raise ValueError(f"{len(vectors)} vectors for {self._handed} distinct frames")
        plan = np.concatenate(self._plans) if self._plans else np.zeros(0, dtype=np.int64)
        self._plans, self._handed = [], 0
        if self._last_vector is not None:
            vectors = np.concatenate([self._last_vector[None].astype(vectors.dtype), vectors])
            plan = plan + 1
        elif len(plan) and plan[0] < 0:
            raise ValueError("a frame repeats one whose vector never came back")
        out = vectors[plan]
        if len(out):
            self._last_vector = out[-1].copy()
        return out


def embed_skipping_repeats(embed: Callable[[np.ndarray], np.ndarray], frames: np.ndarray
                           ) -> tuple[np.ndarray, int]:
    """All of one video's frames at once (a 2d-patch `embed`) -> (one vector per frame, how
    many frames went through `embed`)."""
    skipper = RepeatSkipper()
    kept = skipper.distinct(frames)
    return skipper.expand(embed(kept)), len(kept)
