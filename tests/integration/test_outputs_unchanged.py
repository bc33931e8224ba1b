"""The speed work must not change what is indexed or found.

`vidsearch index` decodes with a plan (only the packets the sampled frames need), in threads,
encodes frames of several videos per batch and leaves the text tower out. Here its stored
vectors are checked against plain code written from the spec alone: decode every frame with
PyAV, take the first frame at or after each second, resize and crop, encode each video's
frames in one call, cut 10 s windows every 5 s, aggregate. Then `find` must rank like an
exact search over those reference vectors.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.fixtures.tiny_model import install_tiny_model
from tests.fixtures.videos import encode_moving, iter_pyav_frames
from vidsearch import config
from vidsearch.cli import main
from vidsearch.store import open_store
from vidsearch.store.vectors import VECTOR_DTYPE
from vidsearch.video import probe
from vidsearch.windows import plan_windows

LIBRARY = {
    # name: (seconds, frames between keyframes, codec): keyframes 2.5 s apart, 0.7 s apart (off
    # the whole seconds, where --fast-decode would take other frames), every 1 s on the second
    "long-gop.mp4": (23, 25, "libx264"),
    "phone-like.mp4": (17, 7, "libx264"),
    "one-second-gop.mkv": (12, 10, "libx264"),
    "mpeg4.mp4": (9, 12, "mpeg4"),
}


@pytest.fixture
def library(tmp_path):
    folder = tmp_path / "library"
    folder.mkdir()
    for name, (seconds, gop, codec) in LIBRARY.items():
        encode_moving(folder / name, seconds=seconds, gop=gop, codec=codec)
    return folder


def plain_samples(path, size: int) -> np.ndarray:
    """Every frame decoded; the first at or after each whole second; FFmpeg's bilinear resize
    of the short side to `size`; centre crop."""
    decoded = list(iter_pyav_frames(path))
    times = np.array([t for t, _ in decoded])
    picks: list[int] = []
    for second in range(math.floor(times[-1] + 1e-6) + 1):
        first = int(np.searchsorted(times, second - 1e-6))
        if not picks or times[first] > times[picks[-1]]:
            picks.append(first)
    crops = []
    for index in picks:
        frame = decoded[index][1]
        scale = size / min(frame.width, frame.height)
        width, height = round(frame.width * scale), round(frame.height * scale)
        image = frame.to_ndarray(format="rgb24", width=width, height=height,
                                 interpolation="BILINEAR")
        top, left = (height - size) // 2, (width - size) // 2
        crops.append(image[top:top + size, left:left + size])
    return times[picks], np.stack(crops)


def plain_clips(path, model) -> tuple[list[tuple[float, float]], np.ndarray]:
    times, frames = plain_samples(path, model.image_size)
    vectors = model.embed_frames(frames)
    windows = plan_windows(times, probe(path).duration)
    return ([(w.start, w.end) for w in windows],
            model.aggregate([vectors[w.frame_indices] for w in windows]))


def as_stored(vectors: np.ndarray) -> np.ndarray:
    return vectors.astype(VECTOR_DTYPE).astype(np.float32)


def stored_clips(store) -> dict[str, tuple[list[tuple[float, float]], np.ndarray]]:
    rows = store.conn.execute(
        "SELECT v.path, c.start, c.end, c.embedding FROM clips c JOIN videos v "
        "ON v.id = c.video_id ORDER BY v.path, c.start").fetchall()
    out: dict[str, tuple[list, list]] = {}
    for path, start, end, blob in rows:
        spans, vectors = out.setdefault(path, ([], []))
        spans.append((start, end))
        vectors.append(np.frombuffer(blob, dtype=VECTOR_DTYPE).astype(np.float32))
    return {path: (spans, np.stack(vectors)) for path, (spans, vectors) in out.items()}


@pytest.mark.slow
@pytest.mark.parametrize(("header", "patch"), [("meanP", "2d"), ("seqTransf", "3d")])
def test_index_and_find_match_plain_code(library, capsys, monkeypatch, header, patch):
    from vidsearch.model import load_model

    name = install_tiny_model(config.models_dir(), name=f"tiny-{header}-{patch}",
                              header=header, patch=patch)
    monkeypatch.setenv("VIDSEARCH_MODEL", name)
    # A batch smaller than a video: batches mix videos and cut runs (3d context) apart.
    assert main(["index", str(library), "--batch-size", "7"]) == 0, capsys.readouterr()
    capsys.readouterr()

    model = load_model(name, device="cpu")
    with open_store(config.default_db_path(), create=False) as store:
        stored = stored_clips(store)
    assert {p.rsplit("/", 1)[-1] for p in stored} == set(LIBRARY)
    reference = {}
    for path, (spans, vectors) in stored.items():
        want_spans, want_vectors = plain_clips(path, model)
        assert spans == pytest.approx(want_spans, abs=1e-6), path
        # The store keeps float16: the plain code's vectors rounded so, to within one unit
        # in the last place (a difference of 1e-7 can round either way).
        np.testing.assert_allclose(vectors, as_stored(want_vectors), rtol=2 ** -10, atol=1e-5,
                                   err_msg=path)
        reference[path] = (want_spans, as_stored(want_vectors))

    for query in ("a red square", "moving shapes", "snow"):
        assert main(["find", query, "--json", "-k", "3"]) == 0
        hits = json.loads(capsys.readouterr().out)["hits"]
        text = model.embed_texts([query])[0]
        best_path, best_span, best_score = max(
            ((path, span, float(vector @ text))
             for path, (spans, vectors) in reference.items()
             for span, vector in zip(spans, vectors)),
            key=lambda candidate: candidate[2])
        top = hits[0]
        assert top["path"] == best_path
        assert top["start"] <= best_span[0] + 1e-6 and best_span[1] <= top["end"] + 1e-6
        assert top["score"] == pytest.approx(best_score, abs=1e-4)
