"""`Store.clip_around` (one indexed read) against its plain definition: of a video's windows
holding `t` (all of them where none does), the one whose middle is nearest, earlier on a tie."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vidsearch.store import VideoMeta, open_store

DIM = 8

spans = st.lists(st.tuples(st.integers(0, 60), st.integers(1, 20)), min_size=1, max_size=12,
                 unique_by=lambda span: span[0])


def by_definition(clips: list[tuple[int, float, float]], t: float):
    clips = sorted(clips, key=lambda clip: clip[1])
    holding = [c for c in clips if c[1] <= t <= c[2]] or clips
    return min(holding, key=lambda clip: abs((clip[1] + clip[2]) / 2 - t))


@settings(max_examples=60, deadline=None)
@given(spans, st.lists(st.floats(-5, 90, allow_nan=False), min_size=1, max_size=8))
def test_clip_around_is_the_best_centred_window_holding_t(starts_and_lengths, times):
    clip_spans = [(float(start), float(start + length)) for start, length in starts_and_lengths]
    rng = np.random.default_rng(len(clip_spans))
    with tempfile.TemporaryDirectory() as folder, \
            open_store(Path(folder) / "library.db") as store:
        store.prepare_for_model("fp", "fake", DIM)
        video_id = store.write_video(
            "/videos/a.mp4", size=1, mtime_ns=1, content_hash=None,
            meta=VideoMeta(90.0, 1.0, 8, 8), frame_times=np.arange(3.0),
            frame_vectors=rng.standard_normal((3, DIM)).astype(np.float32),
            clip_spans=clip_spans,
            clip_vectors=rng.standard_normal((len(clip_spans), DIM)).astype(np.float32))
        clips = store.clips_of_video(video_id)
        for t in times:
            assert store.clip_around(video_id, t) == by_definition(clips, t)
        assert store.clip_around(video_id + 1, 3.0) is None  # a video with no clips
