"""Frames for the preview: the right moment, upright, cached, and clear errors."""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def _moov_children_with_udta_first(path):
    """Rewrite an MP4 so the moov box lists udta (where the cover art lives) before the
    tracks, as some taggers write it: FFmpeg then reads the cover as stream 0. moov keeps its
    size and place, so the media offsets stay right."""
    data = bytearray(path.read_bytes())
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"moov":
            children, inner = [], offset + 8
            while inner < offset + size:
                child_size, child_kind = struct.unpack(">I4s", data[inner : inner + 8])
                children.append((child_kind, bytes(data[inner : inner + child_size])))
                inner += child_size
            children.sort(key=lambda child: child[0] != b"udta")
            data[offset + 8 : offset + size] = b"".join(body for _, body in children)
            path.write_bytes(bytes(data))
            return
        offset += size
    raise AssertionError("no moov box")


@pytest.fixture(scope="module")
def cover_art_first(tmp_path_factory, seconds_video):
    # The seconds video remuxed behind a plain red cover picture (MP4 "covr"), cover first.
    path = tmp_path_factory.mktemp("cover") / "with_cover.mp4"
    with av.open(str(seconds_video)) as source, av.open(str(path), "w") as out:
        cover = out.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        video_in = source.streams.video[0]
        video_out = out.add_stream_from_template(video_in)
        red = np.zeros((32, 32, 3), dtype=np.uint8)
        red[..., 0] = 255
        picture = av.VideoFrame.from_ndarray(red, format="rgb24").reformat(format="yuvj420p")
        picture.pts = 0
        for packet in [*cover.encode(picture), *cover.encode()]:
            out.mux(packet)
        for packet in source.demux(video_in):
            if packet.size:
                packet.stream = video_out
                out.mux(packet)
    _moov_children_with_udta_first(path)
    with av.open(str(path)) as container:
        first = container.streams.video[0]
        assert first.disposition & av.stream.Disposition.attached_pic, "cover is not stream 0"
    return path


def test_cover_art_before_the_video_is_not_the_preview(cover_art_first):
    image = decode_frame(cover_art_first, 3.05, max_size=(96, 64))
    assert image.size == (96, 64)  # the cover is 32 x 32
    distances = {s: mean_colour_distance(image, s) for s in range(9)}
    assert min(distances, key=distances.get) == 3


def test_non_square_pixels_come_out_square(tmp_path):
    path = make_video(tmp_path / "anamorphic.mp4", seconds=1, fps=5, size=(96, 64),
                      sar=Fraction(2, 1))
    assert decode_frame(path, 0.2).size == (192, 64)


@given(start=st.floats(0, 36_000), length=st.floats(0, 600), where=st.floats(0, 1))
def test_a_strip_runs_across_the_clip_in_order_with_the_best_moment_on_it(start, length,
                                                                          where):
    end = start + length
    best = start + where * length
    times, marked = thumbnails.strip_times(start, end, best)
    assert len(times) == thumbnails.STRIP_FRAMES
    assert times[marked] == best
    assert times == sorted(times)
    assert all(start <= t <= end for t in times)
    if length > 1:  # five parts of the clip, one frame in each
        part = length / thumbnails.STRIP_FRAMES
        for index, seconds in enumerate(times):
            assert start + index * part - 1e-6 <= seconds <= start + (index + 1) * part + 1e-6
