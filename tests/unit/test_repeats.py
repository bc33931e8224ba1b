"""Repeated frames go through the encoder once and get exactly the vector they would have had."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidsearch.repeats import RepeatSkipper, embed_skipping_repeats, repeats_previous

SHAPE = (6, 5, 3)
PALETTE = np.random.default_rng(7).integers(0, 256, (4, *SHAPE), dtype=np.uint8)
WEIGHTS = np.random.default_rng(8).integers(-50, 50, size=(int(np.prod(SHAPE)), 4))


def embed(frames: np.ndarray) -> np.ndarray:
    """A stand-in encoder: a fixed function of each frame's pixels alone, in integers, so its
    rows do not depend on the batch they were in (float matmuls may differ in the last bit)."""
    return frames.reshape(len(frames), WEIGHTS.shape[0]).astype(np.int64) @ WEIGHTS


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.integers(0, 3), max_size=40),
       cuts=st.lists(st.integers(0, 40), max_size=8),
       hand_outs=st.lists(st.integers(1, 3), min_size=1, max_size=10))
def test_chunks_in_any_grouping_give_every_frame_its_own_vector(ids, cuts, hand_outs):
    frames = PALETTE[ids] if ids else np.zeros((0, *SHAPE), np.uint8)
    edges = [0, *sorted(c for c in cuts if c <= len(ids)), len(ids)]
    chunks = [frames[a:b] for a, b in zip(edges, edges[1:])]
    skipper, out, encoded = RepeatSkipper(), [], 0
    # Several chunks may be handed out before their vectors come back, as in the indexer.
    group = 0
    while chunks:
        size = hand_outs[group % len(hand_outs)]
        group += 1
        kept = [skipper.distinct(chunk) for chunk in chunks[:size]]
        chunks = chunks[size:]
        batch = np.concatenate(kept)
        encoded += len(batch)
        out.append(skipper.expand(embed(batch)))
    vectors = np.concatenate(out) if out else np.zeros((0, 4), np.int64)
    np.testing.assert_array_equal(vectors, embed(frames))
    runs = sum(1 for i, value in enumerate(ids) if i == 0 or value != ids[i - 1])
    assert encoded == runs


@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, 30), byte=st.integers(0, 10**6), step=st.integers(1, 255))
def test_one_byte_apart_is_not_a_repeat(size, byte, step):
    frames = np.repeat(PALETTE[:1], size, axis=0).copy()
    flat = frames.reshape(size, -1)
    row, column = divmod(byte % flat.size, flat.shape[1])
    flat[row, column] = (int(flat[row, column]) + step) % 256
    expected = np.arange(size) > 0  # the first frame has nothing before it
    expected[row] = False  # the changed frame differs from the one before it...
    if row + 1 < size:
        expected[row + 1] = False  # ...and the one after it from it
    np.testing.assert_array_equal(repeats_previous(frames), expected)


def test_the_first_frame_is_compared_with_the_frame_before():
    frames = PALETTE[[1, 1, 2]]
    assert repeats_previous(frames, before=PALETTE[1]).tolist() == [True, True, False]
    assert repeats_previous(frames, before=PALETTE[0]).tolist() == [False, True, False]
    with pytest.raises(ValueError):
        repeats_previous(frames, before=PALETTE[0][:2])


def test_a_whole_video_at_once():
    frames = PALETTE[[0, 0, 0, 3, 3, 0]]
    vectors, encoded = embed_skipping_repeats(embed, frames)
    assert encoded == 3
    np.testing.assert_array_equal(vectors, embed(frames))


def test_vectors_for_the_wrong_number_of_frames_are_refused():
    skipper = RepeatSkipper()
    kept = skipper.distinct(PALETTE[[0, 0, 1]])
    with pytest.raises(ValueError, match="2 distinct frames"):
        skipper.expand(embed(kept)[:1])
