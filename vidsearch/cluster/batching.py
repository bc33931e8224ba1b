"""One model shared by the videos a worker encodes at once: their frames go through it together.

A local run batches frames across the videos it decodes side by side. A Ray worker is handed
videos one task at a time, so each task's `Indexer` sees only its own video, and on a GPU a
short video's few frames would be a batch of their own. A worker that takes several videos at
once (a threaded actor, one thread per video) gives every thread this `SharedBatches` in place
of the model: a thread's frames wait until the batch is full, until every video in progress is
waiting (no more frames are coming soon), or at most `max_wait`; then one thread runs the model
on all of them and each gets its own rows back.

Only 2D models batch this way: a 3D model sees each frame's neighbours, so its calls (which
carry their context) go to the model one at a time, as they come.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from vidsearch.model.protocols import FrameEncoder


@dataclass(eq=False)
class _Request:
    frames: np.ndarray
    vectors: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class BatchStats:
    """What the sharing did: model calls and the frames they took."""

    calls: int = 0
    frames: int = 0
    largest: int = 0
    videos_in_a_call: list[int] = field(default_factory=list)  # requests per call, in order

    @property
    def mean_batch(self) -> float:
        return self.frames / self.calls if self.calls else 0.0


class SharedBatches:
    """A `FrameEncoder` for the threads of one worker, each encoding a video of its own."""

    def __init__(self, model: FrameEncoder, batch_size: int, max_wait: float = 0.05) -> None:
        self.model = model
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.stats = BatchStats()
        self._changed = threading.Condition()
        self._waiting: list[_Request] = []
        self._running = False
        self._videos = 0  # threads inside `encoding_a_video`
        self._one_at_a_time = threading.Lock()  # for 3D calls, which cannot be merged

    # What an Indexer reads besides embed_frames is the model's own.
    card = property(lambda self: self.model.card)
    fingerprint = property(lambda self: self.model.fingerprint)
    device = property(lambda self: self.model.device)
    embed_dim = property(lambda self: self.model.embed_dim)
    image_size = property(lambda self: self.model.image_size)
    temporal_context = property(lambda self: self.model.temporal_context)

    def aggregate(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        return self.model.aggregate(windows)

    @contextmanager
    def encoding_a_video(self) -> Iterator[None]:
        """Around one video's encoding: a batch waits for the videos in progress, no longer."""
        with self._changed:
            self._videos += 1
        try:
            yield
        finally:
            with self._changed:
                self._videos -= 1
                self._changed.notify_all()  # the others may now be all there is

    def embed_frames(self, frames: np.ndarray, context: tuple[int, int] = (0, 0)
                     ) -> np.ndarray:
        if self.model.temporal_context:
            with self._one_at_a_time:
                return self.model.embed_frames(frames, context=context)
        request = _Request(frames)
        deadline = time.monotonic() + self.max_wait
        with self._changed:
            self._waiting.append(request)
            self._changed.notify_all()
            while not request.done:
                if not self._running and self._ready(deadline):
                    self._run_waiting()
                    continue
                self._changed.wait(max(0.001, deadline - time.monotonic()))
        if request.error is not None:
            raise request.error
        return request.vectors

    def _ready(self, deadline: float) -> bool:
        waiting_frames = sum(len(request.frames) for request in self._waiting)
        return (waiting_frames >= self.batch_size or len(self._waiting) >= self._videos
                or time.monotonic() >= deadline)

    def _run_waiting(self) -> None:
        """Run the model on every waiting request; called and returns with the lock held."""
        batch, self._waiting = self._waiting, []
        self._running = True
        self._changed.release()
        try:
            vectors = self.model.embed_frames(np.concatenate([r.frames for r in batch]))
            error = None
        except BaseException as exc:  # each waiting video fails with the model's own error
            vectors, error = None, exc
        finally:
            self._changed.acquire()
        offset = 0
        for request in batch:
            if error is None:
                request.vectors = vectors[offset:offset + len(request.frames)]
                offset += len(request.frames)
            request.error = error
            request.done = True
        self.stats.calls += 1
        self.stats.frames += offset
        self.stats.largest = max(self.stats.largest, offset)
        self.stats.videos_in_a_call.append(len(batch))
        self._running = False
        self._changed.notify_all()
