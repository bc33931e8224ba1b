"""Span frames: which seconds a span keeps, decoding once, and the .npy cache."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.videos import make_video
from vidsearch.train import data
from vidsearch.train.data import FramePlan, decode_video_spans, frame_cache, load_span_frames
from vidsearch.train.labels import LabelledClip, Span
from vidsearch.video import FrameSampler


@pytest.fixture(scope="module")
def ten_seconds(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("span") / "ten.mp4", seconds=10, fps=5,
                      size=(64, 48), seed=4)


def clip(video: Path, start: float, end: float) -> LabelledClip:
    return LabelledClip(Span(video, start, end), ["a caption"], [2])


@pytest.mark.parametrize(("start", "end", "expected"), [
    (2, 5, [2, 3, 4]),
    (2.5, 4.5, [3, 4]),
    (3.2, 3.6, [3.2]),
    (0, 30, [0, 3, 5, 8, 11, 13, 16, 18, 21, 24, 26, 29]),
])
def test_targets_are_one_per_second_thinned_to_twelve(start, end, expected):
    targets = FramePlan(size=32).targets(Span(Path("x"), start, end))
    assert targets == pytest.approx(expected)


def test_an_unknown_end_keeps_everything_until_the_stream_ends():
    assert FramePlan(size=32).targets(Span(Path("x"), 0, math.inf)) is None


def test_spans_of_one_video_are_cut_from_one_decode(ten_seconds):
    plan = FramePlan(size=32)
    spans = [Span(ten_seconds, 2, 5), Span(ten_seconds, 0, 10), Span(ten_seconds, 7.2, 7.5)]
    short, whole, tiny = decode_video_spans(ten_seconds, spans, plan)
    by_second = np.concatenate([chunk.frames for chunk in FrameSampler(ten_seconds, size=32)])
    assert short.shape == (3, 32, 32, 3) and short.dtype == np.uint8
    np.testing.assert_array_equal(short, by_second[2:5])
    np.testing.assert_array_equal(whole, by_second[:10])
    np.testing.assert_array_equal(tiny, by_second[7:8])  # the frame showing at 7.2 s


def test_frames_are_cached_and_read_back_without_decoding(ten_seconds, monkeypatch):
    plan = FramePlan(size=32)
    clips = [clip(ten_seconds, 1, 4), clip(ten_seconds, 5, 9)]
    first = load_span_frames(clips, plan, frame_cache())
    assert first.decoded == 2

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(data, "decode_video_spans", no_decoding)
    again = load_span_frames(clips, plan, frame_cache())
    assert again.decoded == 0 and again.keys == first.keys
    for a, b in zip(first.frames, again.frames):
        np.testing.assert_array_equal(a, b)
    files = sorted(frame_cache().root.rglob("*.npy"))
    assert len(files) == 2
    assert np.load(files[0], allow_pickle=False).dtype == np.uint8


def test_a_damaged_cache_entry_is_decoded_again(ten_seconds):
    plan = FramePlan(size=32)
    clips = [clip(ten_seconds, 1, 4)]
    load_span_frames(clips, plan, frame_cache())
    [path] = frame_cache().root.rglob("*.npy")
    path.write_bytes(b"\x93NUMPY garbage")
    again = load_span_frames(clips, plan, frame_cache())
    assert again.decoded == 1 and again.frames[0].shape == (3, 32, 32, 3)


def test_the_key_follows_content_span_and_size(ten_seconds, tmp_path):
    prints = data.fingerprint_files([ten_seconds])
    key = data.span_key(prints[ten_seconds], Span(ten_seconds, 1, 4), FramePlan(size=32))
    assert key != data.span_key(prints[ten_seconds], Span(ten_seconds, 1, 5), FramePlan(32))
    assert key != data.span_key(prints[ten_seconds], Span(ten_seconds, 1, 4), FramePlan(64))
    renamed = tmp_path / "renamed.mp4"
    renamed.write_bytes(ten_seconds.read_bytes())
    assert data.fingerprint_files([renamed])[renamed] == prints[ten_seconds]
    other = make_video(tmp_path / "other.mp4", seconds=10, fps=5, size=(64, 48), seed=5)
    assert data.fingerprint_files([other])[other] != prints[ten_seconds]
