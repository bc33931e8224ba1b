"""Frames for the preview: the right moment, upright, cached, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.videos import make_video, second_mosaic
from vidsearch import thumbnails
from vidsearch.errors import DecodeError
from vidsearch.thumbnails import ThumbnailCache, decode_frame


@pytest.fixture(scope="module")
def seconds_video(tmp_path_factory):
    # A keyframe every 25 frames at 10 fps, so seeking to 7 s has to decode forward from 5 s.
    path = tmp_path_factory.mktemp("thumbs") / "seconds.mp4"
    return make_video(path, seconds=9, fps=10, size=(96, 64), seed=5, gop=25)


def mean_colour_distance(image, second: int) -> float:
    expected = second_mosaic(second, 96, 64, seed=5).astype(float)
    return float(np.abs(np.asarray(image.convert("RGB"), dtype=float) - expected).mean())


@pytest.mark.parametrize("second", [0, 3, 7])
def test_decode_frame_returns_the_frame_shown_at_that_second(seconds_video, second):
    image = decode_frame(seconds_video, second + 0.05, max_size=(96, 64))
    assert image.size == (96, 64)
    distances = {s: mean_colour_distance(image, s) for s in range(9)}
    assert min(distances, key=distances.get) == second


def test_past_the_end_gives_the_last_frame(seconds_video):
    image = decode_frame(seconds_video, 60, max_size=(96, 64))
    distances = {s: mean_colour_distance(image, s) for s in range(9)}
    assert min(distances, key=distances.get) == 8


def test_rotated_video_comes_out_upright(tmp_path):
    path = make_video(tmp_path / "portrait.mp4", seconds=1, fps=5, size=(96, 64), rotation=90)
    assert decode_frame(path, 0.2).size == (64, 96)


def test_frames_fit_the_size_asked_for(seconds_video):
    assert decode_frame(seconds_video, 1, max_size=(48, 48)).size == (48, 32)


def test_the_cache_decodes_each_frame_once(seconds_video, monkeypatch):
    calls = []
    real = thumbnails.decode_frame
    monkeypatch.setattr(thumbnails, "decode_frame",
                        lambda *args: calls.append(args[1]) or real(*args))
    cache = ThumbnailCache(max_items=2)
    first = cache.get(seconds_video, 1.0)
    assert cache.get(seconds_video, 1.0) is first
    cache.get(seconds_video, 2.0)
    cache.get(seconds_video, 3.0)  # evicts 1.0, the least recently used
    cache.get(seconds_video, 1.0)
    assert calls == [1.0, 2.0, 3.0, 1.0]
    assert len(cache) == 2


def test_a_file_that_is_not_a_video_is_a_decode_error(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    with pytest.raises(DecodeError) as caught:
        ThumbnailCache().get(path, 1)
    assert str(path) in caught.value.message


def test_a_missing_file_is_a_decode_error(tmp_path):
    with pytest.raises(DecodeError, match="cannot read the file"):
        ThumbnailCache().get(tmp_path / "gone.mp4", 1)
