"""The shortlist arithmetic (Hamming distances, the nearest by counting, allow-lists) against
plain definitions, and image queries over frames: the shortlist, `within`, and the re-score."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vidsearch.store import VideoMeta, open_store
from vidsearch.store import vectors as store_vectors

words = st.integers(1, 9)


@settings(max_examples=60, deadline=None)
@given(st.data(), words, st.integers(0, 40_000))
def test_hamming_counts_differing_bits(data, width, rows):
    rows = min(rows, 20_000)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    bits = rng.integers(0, 2**64, (rows, width), dtype=np.uint64)
    query = rng.integers(0, 2**64, width, dtype=np.uint64)
    want = np.unpackbits((bits ^ query).view(np.uint8), axis=1).sum(axis=1)
    np.testing.assert_array_equal(store_vectors.hamming(word_major(bits), query), want)


def word_major(bits: np.ndarray) -> np.ndarray:
    """[rows, words] -> the [words, rows] layout the bit index holds."""
    return np.ascontiguousarray(bits.T)


@pytest.mark.parametrize("threads", [2, 3])
def test_hamming_split_across_threads_is_the_same_scan(monkeypatch, threads):
    monkeypatch.setattr(store_vectors, "_PARALLEL_ROWS", 1)
    monkeypatch.setattr(store_vectors, "_SCAN_THREADS", threads)
    store_vectors._scan_pool.cache_clear()
    rng = np.random.default_rng(threads)
    try:
        # Fewer rows than one chunk a thread, an uneven split, and a part per thread.
        for rows in (1, 5_000, 3 * store_vectors._HAMMING_CHUNK + 17, 300_001):
            bits = rng.integers(0, 2**64, (rows, 8), dtype=np.uint64)
            query = rng.integers(0, 2**64, 8, dtype=np.uint64)
            want = np.unpackbits((bits ^ query).view(np.uint8), axis=1).sum(axis=1)
            distances, at_distance = store_vectors.scan(word_major(bits), query)
            np.testing.assert_array_equal(distances, want)
            np.testing.assert_array_equal(at_distance, np.bincount(want, minlength=8 * 64 + 1))
    finally:
        store_vectors._scan_pool.cache_clear()


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.uint16, st.integers(1, 300), elements=st.integers(0, 20)), st.data())
def test_nearest_takes_the_smallest_distances_ties_in_order(distances, data):
    size = data.draw(st.integers(1, distances.size))
    picked = store_vectors.nearest(distances, size)
    assert picked.size == size == np.unique(picked).size
    want = np.argsort(distances, kind="stable")[:size]
    assert sorted(picked) == sorted(want)
    # The counts the scan takes as it goes pick the same rows as counting afterwards.
    counted = np.bincount(distances, minlength=int(distances.max()) + 1 + data.draw(
        st.integers(0, 30)))
    np.testing.assert_array_equal(store_vectors.nearest(distances, size, counted), picked)


@settings(max_examples=40, deadline=None)
@given(st.data(), words, st.integers(1, 3_000))
def test_scan_counts_rows_at_each_distance(data, width, rows):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    bits = rng.integers(0, 2**64, (rows, width), dtype=np.uint64)
    query = rng.integers(0, 2**64, width, dtype=np.uint64)
    distances, at_distance = store_vectors.scan(word_major(bits), query)
    assert at_distance.size == 64 * width + 1
    np.testing.assert_array_equal(at_distance, np.bincount(distances, minlength=64 * width + 1))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.int64, st.integers(0, 200), elements=st.integers(-3, 40)),
       st.lists(st.integers(-3, 40), max_size=30))
def test_allowed_is_membership(owners, within):
    within = np.array(sorted(set(within)), dtype=np.int64)
    np.testing.assert_array_equal(store_vectors.allowed(owners, within), np.isin(owners, within))


def test_image_queries_shortlist_frames_and_honour_within(tmp_path, monkeypatch):
    monkeypatch.setattr(store_vectors, "SHORTLIST_MIN", 50)
    dim = 128
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, dim))
    frames = (np.repeat(centres, 60, axis=0)
              + 0.8 * rng.standard_normal((1200, dim))).astype(np.float32)
    with open_store(tmp_path / "lib.db") as store:
        store.prepare_for_model("fp", "m", dim)
        video_ids = []
        for video in range(12):
            block = frames[video * 100:(video + 1) * 100]
            video_ids.append(store.write_video(
                f"/v/{video}.mp4", size=1, mtime_ns=1, content_hash=None,
                meta=VideoMeta(100, 1, 1, 1), frame_times=np.arange(100.0),
                frame_vectors=block, clip_spans=[(0.0, 100.0)], clip_vectors=block[:1]))
        stored = frames.astype(np.float16).astype(np.float32)
        normalised = stored / np.linalg.norm(stored, axis=1, keepdims=True)
        recalls = []
        for trial in range(20):
            query = (centres[trial] + rng.standard_normal(dim)).astype(np.float32)
            exact = set(np.argsort(-(normalised @ query))[:10] + 1)
            found = store.nearest_frames(query, 10)
            scores = [m.score for m in found]
            assert scores == sorted(scores, reverse=True)
            recalls.append(len(exact & {m.frame_id for m in found}) / 10)
        assert np.mean(recalls) >= 0.8

        # a stored frame as the query comes back first, at its time, with score 1
        best = store.nearest_frames(frames[250], 1)[0]
        assert (best.path, best.t) == ("/v/2.mp4", 50.0)
        assert best.score == pytest.approx(1.0, abs=1e-5)

        within = np.array(sorted(video_ids[5:8]), dtype=np.int64)
        found = store.nearest_frames(frames[250], 30, within=within)
        assert len(found) == 30 and {m.video_id for m in found} <= set(within)
        exact = np.argsort(-(normalised[500:800] @ frames[250]))[:30] + 501
        assert len(set(exact) & {m.frame_id for m in found}) >= 24
        assert store.nearest_frames(frames[250], 5, within=np.zeros(0, np.int64)) == []
