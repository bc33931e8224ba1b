"""`vidsearch export`: a generated H.264 + AAC video cut by stream copy and exactly, read back
with PyAV: playable, the right length, starting on the right frame, sound kept; and never a
partial or overwritten file."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.audio_video import make_video_with_audio
from tests.fixtures.videos import second_mosaic
from vidsearch import export
from vidsearch.cli import main
from vidsearch.errors import CannotRunError, UsageError

SECONDS = 8
FPS = 10
GOP = 20  # a keyframe every 2 s: a stream copy may start up to 2 s early
FRAME = 1 / FPS


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return make_video_with_audio(tmp_path_factory.mktemp("src") / "source.mp4",
                                 seconds=SECONDS, fps=FPS, gop=GOP, seed=7)


def read_back(path: Path):
    """(frame times from 0, first frame as RGB, audio seconds): decoding every frame proves
    the file plays."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert container.streams.audio, "the sound was dropped"
        frames = list(container.decode(video))
        times = [float(f.pts * video.time_base) for f in frames]
        first = frames[0].to_ndarray(format="rgb24")
        container.seek(0)
        audio = container.streams.audio[0]
        samples = sum(f.samples for f in container.decode(audio))
        return times, first, samples / audio.rate


def mosaic_second(image: np.ndarray) -> int:
    """Which second's mosaic `image` shows (the closest one; lossy coding blurs edges)."""
    height, width = image.shape[:2]
    errors = [np.abs(image.astype(int) - second_mosaic(s, width, height, seed=7)).mean()
              for s in range(SECONDS)]
    best = int(np.argmin(errors))
    assert errors[best] < 12, errors  # it is one of them, not a grey smear
    return best


spans = st.tuples(st.floats(0, SECONDS - 1), st.floats(0.5, SECONDS)).map(
    lambda pair: (round(pair[0], 2), round(min(SECONDS + 1.0, pair[0] + pair[1]), 2)))


@pytest.mark.slow
@settings(max_examples=12)
@given(span=spans)
def test_stream_copy_starts_on_the_keyframe_at_or_before_start(source, tmp_path_factory, span):
    start, end = span
    out = tmp_path_factory.mktemp("copy") / "cut.mp4"
    result = export.export_clip(source, start, end, out)
    keyframe = math.floor(start / (GOP * FRAME)) * GOP * FRAME
    assert result.start == pytest.approx(keyframe)
    times, first, audio_seconds = read_back(out)
    assert times[0] == pytest.approx(0)
    assert mosaic_second(first) == int(keyframe)
    last_end = min(end, SECONDS)
    length = times[-1] + FRAME
    # From the keyframe to the end, give or take the frames a GOP's reordering lets through.
    assert last_end - keyframe - FRAME <= length <= last_end - keyframe + GOP * FRAME
    assert audio_seconds == pytest.approx(last_end - keyframe, abs=0.05)


@pytest.mark.slow
@settings(max_examples=8)
@given(span=spans)
def test_exact_cut_starts_and_ends_on_the_frame(source, tmp_path_factory, span):
    start, end = span
    out = tmp_path_factory.mktemp("exact") / "cut.mp4"
    result = export.export_clip(source, start, end, out, exact=True)
    assert result.start == start
    times, first, audio_seconds = read_back(out)
    first_frame_time = math.ceil(start * FPS - 1e-6) / FPS  # the first frame shown at or after
    assert mosaic_second(first) == int(first_frame_time + 1e-9)
    last_end = min(end, SECONDS)
    length = times[-1] + FRAME
    assert length == pytest.approx(last_end - start, abs=FRAME + 1e-6)
    assert audio_seconds == pytest.approx(last_end - start, abs=0.05)


def test_an_existing_file_is_refused_then_replaced_with_force(source, tmp_path, capsys):
    out = tmp_path / "cut.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(UsageError, match="already exists"):
        export.export_clip(source, 1, 2, out)
    assert main(["export", str(source), "--start", "1", "--end", "2", "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert str(out) in error and "--force" in error and "Traceback" not in error
    assert out.read_bytes() == b"keep me"
    assert main(["export", str(source), "--start", "0:01", "--end", "0:03", "-o", str(out),
                 "--force"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert out.read_bytes() != b"keep me"
    read_back(out)


def test_a_failed_export_leaves_no_file_and_the_old_one_intact(source, tmp_path, monkeypatch):
    out = tmp_path / "cut.mp4"
    out.write_bytes(b"old cut")
    packets = []

    def failing_shift(packet, stream, cut_start):
        packets.append(packet)
        if len(packets) == 5:  # part of the file is written by now
            raise KeyboardInterrupt
    monkeypatch.setattr(export, "_shift", failing_shift)
    with pytest.raises(KeyboardInterrupt):
        export.export_clip(source, 2, 6, out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4"]
    assert out.read_bytes() == b"old cut"


def test_a_file_that_appears_while_the_export_runs_is_never_replaced(source, tmp_path,
                                                                    monkeypatch):
    out = tmp_path / "cut.mp4"
    real_shift = export._shift

    def racing_shift(packet, stream, cut_start):
        if not out.exists():  # another export, or the user, takes the name mid-way
            out.write_bytes(b"their cut")
        real_shift(packet, stream, cut_start)
    monkeypatch.setattr(export, "_shift", racing_shift)
    with pytest.raises(UsageError, match="already exists") as caught:
        export.export_clip(source, 2, 6, out)
    assert caught.value.path == str(out)
    assert out.read_bytes() == b"their cut"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4"]

    out.unlink()
    assert export.export_clip(source, 2, 6, out, overwrite=True).path == out
    assert out.read_bytes() != b"their cut"  # with --force the finished cut takes the name
    read_back(out)


def test_an_output_type_that_cannot_hold_video_is_a_clear_error(source, tmp_path, capsys):
    out = tmp_path / "cut.wav"
    with pytest.raises(CannotRunError) as caught:
        export.export_clip(source, 1, 3, out)
    assert caught.value.path == str(out)
    assert list(tmp_path.iterdir()) == []
    assert main(["export", str(source), "--start", "1", "--end", "3", "-o", str(out)]) == 3
    error = capsys.readouterr().err
    assert error.startswith("vidsearch: error: ") and str(out) in error
    assert len(error.strip().splitlines()) == 1


@pytest.mark.parametrize("start, end, words", [(3, 2, "not after"), (-1, 2, "0 or more"),
                                               (SECONDS + 1, SECONDS + 2, "lasts")])
def test_spans_that_cannot_be_cut_are_refused(source, tmp_path, start, end, words):
    with pytest.raises(UsageError, match=words):
        export.export_clip(source, start, end, tmp_path / "cut.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_as_output_is_a_usage_error(source, tmp_path, capsys):
    assert main(["export", str(source), "--start", "1", "--end", "2", "-o", str(tmp_path),
                 "--force"]) == 2
    assert f"{tmp_path}: is a folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_missing_source_and_a_bad_time_are_usage_errors(tmp_path, capsys):
    missing = tmp_path / "nope.mp4"
    assert main(["export", str(missing), "--start", "1", "--end", "2",
                 "-o", str(tmp_path / "o.mp4")]) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["export", str(missing), "--start", "soon", "--end", "2", "-o", "o.mp4"])
    assert caught.value.code == 2
    assert "--start" in capsys.readouterr().err


@given(st.integers(0, 9), st.integers(0, 59), st.floats(0, 59.99))
def test_times_parse_as_find_prints_them(hours, minutes, seconds):
    from vidsearch.cli.export import parse_time

    text = f"{hours}:{minutes:02d}:{seconds:05.2f}"
    assert parse_time(text) == pytest.approx(hours * 3600 + minutes * 60 + round(seconds, 2))
    assert parse_time(f"{minutes}:{seconds:05.2f}") == pytest.approx(
        minutes * 60 + round(seconds, 2))
    assert parse_time(str(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize("exact", [False, True], ids=["copy", "exact"])
def test_phone_footage_stays_upright(tmp_path, exact):
    from tests.fixtures.videos import make_video
    from vidsearch.video.probing import probe

    portrait = make_video(tmp_path / "portrait.mp4", seconds=4, rotation=90)
    out = tmp_path / "cut.mp4"
    export.export_clip(portrait, 1, 3, out, exact=exact)
    assert probe(out).rotation == probe(portrait).rotation == 90
    assert (probe(out).width, probe(out).height) == (probe(portrait).width,
                                                     probe(portrait).height)
