"""A worker's videos taken at once share the model's batches: the vectors are each video's own,
the frames of videos encoded side by side go through the model together, and a failing model
call fails every video that waited on it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vidsearch.cluster.batching import SharedBatches
from vidsearch.model import load_model


class CountingCalls:
    """The real model, with a record of the frame counts it was called with."""

    def __init__(self, model) -> None:
        self.model = model
        self.calls: list[int] = []
        self.fail_with: BaseException | None = None

    def __getattr__(self, name):
        return getattr(self.model, name)

    def embed_frames(self, frames, context=(0, 0)):
        self.calls.append(len(frames))
        if self.fail_with is not None:
            raise self.fail_with
        return self.model.embed_frames(frames, context=context)


@pytest.fixture
def model(tiny_model):
    return CountingCalls(load_model(text=False, device="cpu"))


def frames_of(seed: int, count: int, size: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def encode_side_by_side(shared: SharedBatches, inputs: list[np.ndarray]) -> list:
    """Each input in a thread of its own, all inside `encoding_a_video` before any encodes."""
    results: list = [None] * len(inputs)
    inside = threading.Barrier(len(inputs))

    def one(number: int) -> None:
        with shared.encoding_a_video():
            inside.wait()
            try:
                results[number] = shared.embed_frames(inputs[number])
            except Exception as exc:  # the test looks at what each video got
                results[number] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_videos_encoded_at_once_share_one_call_and_get_their_own_vectors(model):
    shared = SharedBatches(model, batch_size=64, max_wait=5.0)
    inputs = [frames_of(seed, count, model.image_size) for seed, count in ((1, 3), (2, 5), (3, 2))]
    alone = [model.model.embed_frames(frames) for frames in inputs]
    results = encode_side_by_side(shared, inputs)
    # Every video was waiting, so one call took them all, long before max_wait.
    assert model.calls == [10]
    assert shared.stats.calls == 1 and shared.stats.videos_in_a_call == [3]
    for got, want in zip(results, alone):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_full_batch_goes_without_waiting_for_the_others(model):
    shared = SharedBatches(model, batch_size=4, max_wait=30.0)
    with shared.encoding_a_video(), shared.encoding_a_video():
        # Two videos in progress, one asking: 4 frames fill the batch, so it runs at once
        # rather than waiting 30 s for the second video.
        vectors = shared.embed_frames(frames_of(4, 4, model.image_size))
    assert vectors.shape == (4, model.embed_dim) and model.calls == [4]


def test_a_lone_request_waits_no_longer_than_max_wait(model):
    shared = SharedBatches(model, batch_size=64, max_wait=0.01)
    with shared.encoding_a_video(), shared.encoding_a_video():
        vectors = shared.embed_frames(frames_of(5, 2, model.image_size))
    assert vectors.shape == (2, model.embed_dim) and model.calls == [2]


def test_a_failing_call_fails_every_video_that_shared_it(model):
    shared = SharedBatches(model, batch_size=64, max_wait=5.0)
    model.fail_with = RuntimeError("CUDA out of memory")
    results = encode_side_by_side(shared, [frames_of(n, 2, model.image_size) for n in (6, 7)])
    assert model.calls == [4]
    assert all(isinstance(r, RuntimeError) and "out of memory" in str(r) for r in results)
    # The next video is not stuck behind the failed call.
    model.fail_with = None
    with shared.encoding_a_video():
        assert shared.embed_frames(frames_of(8, 1, model.image_size)).shape[0] == 1


def test_the_model_facts_an_indexer_reads_are_the_models(model):
    shared = SharedBatches(model, batch_size=8)
    assert (shared.fingerprint, shared.device, shared.embed_dim, shared.image_size,
            shared.temporal_context) == (model.fingerprint, model.device, model.embed_dim,
                                         model.image_size, model.temporal_context)
