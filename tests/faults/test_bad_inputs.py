"""Files that are not the videos they claim to be: each is recorded with its reason, the rest of
the folder is indexed, the run exits 1, and nothing prints a traceback."""

from __future__ import annotations

import os
import shutil
import threading

import av
import numpy as np
import pytest

from tests.faults.conftest import cli, library_state
from tests.fixtures.videos import truncate
from vidsearch import video


def write_audio_only(path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        for index in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 44100, index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def write_header_only(path) -> None:
    """A container with a video track and not one frame in it."""
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    container.start_encoding()
    container.close()


# name, how to make it from the session media folder, what the recorded reason says
BAD_INPUTS = {
    "zero bytes": ("empty.mp4", lambda p, m: p.write_bytes(b""), "empty"),
    "cut mid-stream": ("cut.mp4", lambda p, m: truncate(m / "long-faststart.mp4", 0.5, p),
                       "truncated"),
    "cut before the moov atom": ("cut-early.mp4", lambda p, m: truncate(m / "long.mp4", 0.5, p),
                                 "moov"),
    "random bytes": ("noise.mp4", lambda p, m: p.write_bytes(
        np.random.default_rng(5).integers(0, 256, 20_000, dtype=np.uint8).tobytes()),
        "cannot open as a video"),
    "text named .mkv": ("notes.mkv", lambda p, m: p.write_text("shopping list\n" * 50),
                        "cannot open as a video"),
    "audio only": ("song.mp4", lambda p, m: write_audio_only(p), "no video stream"),
    "zero frames (y4m)": ("blank.y4m", lambda p, m: p.write_bytes(
        b"YUV4MPEG2 W64 H48 F10:1 Ip A1:1 C420jpeg\n"), "no frames"),
    "zero frames (mkv)": ("blank.mkv", lambda p, m: write_header_only(p),
                          "cannot open as a video"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_a_bad_file_is_recorded_and_the_rest_indexed(tiny_model, videos, media, capsys, case):
    name, make, reason = BAD_INPUTS[case]
    bad = videos / name
    make(bad, media)
    code, out, err = cli(capsys, "index", videos)
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert "indexed 1 video (" in out and "failed 1" in out
    assert f"failed: {bad}: " in out
    stats, problems = library_state()
    assert problems == []
    assert stats.videos == 1
    assert len(stats.failures) == 1
    path, recorded = stats.failures[0]
    assert path == str(bad)
    assert reason in recorded, recorded
    # The same bad file is not retried, and no longer fails the run.
    code, out, _ = cli(capsys, "index", videos)
    assert code == 0 and "1 unchanged file failed before" in out


@pytest.mark.slow
def test_an_unexpected_decoder_error_fails_that_file_not_the_run(tiny_model, videos, media,
                                                                 capsys):
    """A bug in a decoder (any exception type) must not hang the pipeline or stop the run."""
    cursed = videos / "cursed.mp4"
    shutil.copy2(media / "long.mp4", cursed)

    class Exploding(video.FrameSampler):
        def __init__(self, path, **options) -> None:
            if os.fspath(path) == str(cursed):
                raise ZeroDivisionError("a decoder bug")
            super().__init__(path, **options)

    result = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(video, "FrameSampler", Exploding)
        runner = threading.Thread(target=lambda: result.update(run=cli(capsys, "index", videos)),
                                  daemon=True)
        runner.start()
        runner.join(timeout=120)
    assert not runner.is_alive(), "the indexer hung on a decoder's unexpected error"
    code, out, err = result["run"]
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert f"failed: {cursed}: unexpected error while decoding (ZeroDivisionError" in out
    assert "indexed 1 video (" in out
    assert library_state()[1] == []
