"""A still picture sampled second after second goes through the encoder once, and the library
gets the very vectors it would have had without the shortcut."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.videos import make_video
from vidsearch import repeats, video
from vidsearch.indexer import IndexOptions, Indexer
from vidsearch.store import Store, open_store


@pytest.fixture
def slides(tmp_path, video_cache):
    folder = tmp_path / "talks"
    folder.mkdir()
    # Each picture held 4 s (a slide deck), beside a video whose every second differs. A lossy
    # encoder refines a still picture over its first frames, so only some samples decode to
    # the very same pixels: the test counts them from the decoded frames.
    make_video(folder / "slides.mp4", seconds=21, fps=10, size=(96, 64), pattern="slides",
               seed=4, codec="mpeg4")
    (folder / "alpha.mp4").write_bytes((video_cache / "alpha.mp4").read_bytes())
    return folder


def index(folder, db, model, monkeypatch):
    """Index `folder`; return (report, frames the encoder saw, the vectors handed to the
    store per file name)."""
    seen, written = [0], {}
    embed = model.embed_frames

    def counting(frames, *args, **kwargs):
        seen[0] += len(frames)
        return embed(frames, *args, **kwargs)

    write = Store.write_video

    def recording(self, path, **kwargs):
        written[path.rsplit("/", 1)[-1]] = kwargs["frame_vectors"].copy()
        return write(self, path, **kwargs)

    monkeypatch.setattr(model, "embed_frames", counting)
    monkeypatch.setattr(Store, "write_video", recording)
    with open_store(db) as store:
        # A small batch: batches mix the two videos and cut runs of repeats apart.
        report = Indexer(store, model, IndexOptions(batch_size=5)).sync([folder])
    monkeypatch.undo()
    return report, seen[0], written


def distinct_runs(path, size) -> tuple[int, np.ndarray]:
    """Sampled frames, and which of them repeat the frame before, by plain comparison."""
    frames = np.concatenate([chunk.frames for chunk in video.FrameSampler(path, size=size)])
    same = np.array([i > 0 and np.array_equal(frames[i], frames[i - 1])
                     for i in range(len(frames))])
    return len(frames), same


@pytest.mark.slow
def test_repeated_frames_are_encoded_once_with_unchanged_vectors(tiny_model, slides, tmp_path,
                                                                monkeypatch):
    from vidsearch.model import load_model

    model = load_model(tiny_model, device="cpu")
    sampled, same = distinct_runs(slides / "slides.mp4", model.image_size)
    alpha_frames = 23
    assert same.sum() >= 8, "the fixture should hold the picture still for several samples"

    report, seen, written = index(slides, tmp_path / "skip.db", model, monkeypatch)
    assert report.frames == sampled + alpha_frames
    assert report.frames_encoded == seen == sampled - same.sum() + alpha_frames

    # The same run with no frame taken for a repeat: every sampled frame is encoded.
    monkeypatch.setattr(repeats, "repeats_previous",
                        lambda frames, before=None: np.zeros(len(frames), dtype=bool))
    plain_report, plain_seen, plain = index(slides, tmp_path / "plain.db", model, monkeypatch)
    assert plain_report.frames_encoded == plain_seen == sampled + alpha_frames

    assert written.keys() == plain.keys() == {"slides.mp4", "alpha.mp4"}
    for name in written:
        # Batches differ between the runs, and a float matmul's rows may differ in the last
        # bit with the batch around them; nothing more.
        np.testing.assert_allclose(written[name], plain[name], rtol=0, atol=1e-6,
                                   err_msg=name)
    repeated = np.flatnonzero(same)
    np.testing.assert_array_equal(written["slides.mp4"][repeated],
                                  written["slides.mp4"][repeated - 1])
