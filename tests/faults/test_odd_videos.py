"""Unusual but valid videos index: one frame, huge frames, phone rotation, variable frame rate."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest

from tests.faults.conftest import cli, default_db, library_state
from tests.fixtures.videos import gradient, make_video
from vidsearch.store import open_store


def write_frames(path, frames: list[np.ndarray], *, rotation: int = 0, codec: str = "libx264",
                 options: dict | None = None) -> None:
    """Encode exactly these RGB frames at 1 fps (for content a test controls pixel by pixel)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=1, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1)
        if rotation:
            stream.set_display_rotation(rotation)
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def stored(path) -> tuple[dict, np.ndarray, np.ndarray, list]:
    with open_store(default_db(), create=False) as store:
        record = store.get_video(str(path))
        assert record is not None and record.status == "ok", record
        times, vectors = store.frame_vectors(record.id)
        return store.video_details(record.id), times, vectors, store.clips_of_video(record.id)


def test_a_single_frame_video_is_one_frame_and_one_clip(tiny_model, tmp_path, capsys):
    folder = tmp_path / "v"
    folder.mkdir()
    make_video(folder / "one.mp4", seconds=0.1, fps=10)
    code, out, err = cli(capsys, "index", folder)
    assert code == 0, out + err
    _, times, vectors, clips = stored(folder / "one.mp4")
    assert times.tolist() == [0.0] and vectors.shape == (1, 64)
    assert len(clips) == 1 and clips[0][1] == 0.0


@pytest.mark.slow
def test_huge_frames_are_shrunk_by_the_decoder_not_in_memory(tiny_model, tmp_path, capsys):
    folder = tmp_path / "v"
    folder.mkdir()
    side = 8000
    # mpeg4 (not x264) because it encodes two frames of this size in about a second.
    write_frames(folder / "huge.mkv", [gradient(side, side)] * 2, codec="mpeg4")
    tracemalloc.start()
    try:
        code, out, err = cli(capsys, "index", folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0, out + err
    # One full-size RGB frame alone is 192 MB; frames must arrive at model size.
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MiB allocated by Python while indexing"
    details, times, _, _ = stored(folder / "huge.mkv")
    assert (details["width"], details["height"]) == (side, side)
    assert len(times) == 2


def test_phone_rotation_gives_upright_frames(tiny_model, tmp_path, capsys):
    """A landscape-coded frame tagged 90 degrees indexes like the same picture stored upright,
    and unlike the picture left on its side."""
    folder = tmp_path / "v"
    folder.mkdir()
    coded = gradient(96, 64)
    coded[:16, :16] = (255, 255, 255)  # a corner mark, so no turn is a symmetry of the image
    upright = np.ascontiguousarray(np.rot90(coded, 1))  # the tag: turn 90 degrees to view
    write_frames(folder / "phone.mp4", [coded] * 2, rotation=90)
    write_frames(folder / "upright.mp4", [upright] * 2)
    write_frames(folder / "sideways.mp4", [coded] * 2)
    code, out, err = cli(capsys, "index", folder)
    assert code == 0, out + err
    details, _, phone, _ = stored(folder / "phone.mp4")
    assert (details["width"], details["height"]) == (64, 96)  # display size, portrait
    _, _, want, _ = stored(folder / "upright.mp4")
    _, _, sideways, _ = stored(folder / "sideways.mp4")

    def cosine(a, b):
        return float(a[0] @ b[0] / np.linalg.norm(a[0]) / np.linalg.norm(b[0]))

    assert cosine(phone, want) > 0.999
    assert cosine(phone, want) - cosine(phone, sideways) > 0.01


@pytest.mark.slow
def test_variable_frame_rate_samples_by_real_time(tiny_model, tmp_path, capsys):
    folder = tmp_path / "v"
    folder.mkdir()
    make_video(folder / "vfr.mp4", seconds=9, fps=12, vfr=True, seed=4)
    code, out, err = cli(capsys, "index", folder)
    assert code == 0, out + err
    details, times, _, clips = stored(folder / "vfr.mp4")
    assert np.all(np.diff(times) > 0.5) and np.all(np.diff(times) < 1.5)
    assert len(times) == 9 and times[-1] <= details["duration"]
    assert clips[0][1] == 0.0 and clips[-1][2] >= times[-1]
    stats, problems = library_state()
    assert problems == [] and stats.failed == 0
