"""Frame vectors are stored as float16: best moments and image-query rankings must be what the
float32 vectors the encoder made would give, on the test libraries."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.videos import encode_moving
from vidsearch import config
from vidsearch.cli import main
from vidsearch.search import search_image, search_text
from vidsearch.store import Store, open_store

# float16 keeps 11 significant bits: cosines of 0.97-alike frames move by ~1e-5.
TIE = 1e-4
CAPTIONS = ("a red square", "moving shapes", "snow", "a dog on a beach", "night")


@pytest.fixture
def encoded(monkeypatch) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The float32 frame vectors the indexer hands the store, by path, as it writes them."""
    written: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    real = Store.write_video

    def recording(self, path, **kwargs):
        written[path] = (np.array(kwargs["frame_times"], dtype=np.float64),
                         np.array(kwargs["frame_vectors"], dtype=np.float32))
        return real(self, path, **kwargs)

    monkeypatch.setattr(Store, "write_video", recording)
    return written


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def float32_scores(encoded, ids_by_path, query: np.ndarray) -> dict[int, float]:
    """Every frame's exact cosine to `query` from the float32 vectors, by frame id."""
    ids = np.concatenate([ids_by_path[path] for path in sorted(encoded)])
    vectors = np.concatenate([encoded[path][1] for path in sorted(encoded)])
    return dict(zip(ids.tolist(), (unit_rows(vectors) @ unit_rows(query)).tolist()))


def float32_frame_ranking(encoded, ids_by_path, query: np.ndarray) -> list[int]:
    """Every frame id, best first, by exact cosine over the float32 vectors."""
    scores = float32_scores(encoded, ids_by_path, query)
    return sorted(scores, key=lambda frame_id: (-scores[frame_id], frame_id))


def assert_same_ranking(found: list[int], scores: dict[int, float]) -> None:
    """`found` is the float32 ranking but for frames whose float32 cosines differ by less than
    float16 can tell apart (the random tiny model makes many frames ~0.97 alike): a frame ranked
    above one scoring TIE more in float32 is a changed ranking."""
    assert sorted(found) == sorted(scores)
    in_order = np.array([scores[frame_id] for frame_id in found])
    worst = np.maximum.accumulate(in_order[::-1])[::-1]  # best score at or below each place
    assert np.all(worst - in_order <= TIE), (found, in_order)


def float32_best_moment(encoded, path: str, start: float, end: float, query) -> float:
    times, vectors = encoded[path]
    inside = (times >= start) & (times <= end)
    scores = unit_rows(vectors[inside]) @ unit_rows(query)
    return float(times[inside][int(np.argmax(scores))])


@pytest.mark.slow
def test_float16_frames_rank_and_place_best_moments_as_float32(
        tiny_model, library, encoded, capsys):
    from vidsearch.model import load_model

    encode_moving(library / "moving.mp4", seconds=17, gop=7, codec="libx264")
    assert main(["index", str(library)]) == 0, capsys.readouterr()
    model = load_model(tiny_model, device="cpu")
    rng = np.random.default_rng(3)
    with open_store(config.default_db_path(), create=False) as store:
        ids_by_path = {}
        for path, (times, vectors) in encoded.items():
            record = store.get_video(path)
            stored_times, stored = store.frame_vectors(record.id)
            np.testing.assert_array_equal(stored_times, times)
            # half precision: about three significant digits of each component
            np.testing.assert_allclose(stored, vectors, rtol=1e-3, atol=1e-3 * np.abs(vectors).max())
            ids_by_path[path] = np.array(
                [r[0] for r in store.conn.execute(
                    "SELECT id FROM frames WHERE video_id = ? ORDER BY t", (record.id,))])
        total = sum(len(ids) for ids in ids_by_path.values())
        frame_queries = np.concatenate([v for _t, v in encoded.values()])
        queries = [*frame_queries[::3], *model.embed_texts(list(CAPTIONS)),
                   *rng.standard_normal((5, frame_queries.shape[1])).astype(np.float32)]
        for query in queries:
            found = [m.frame_id for m in store.nearest_frames(query, total)]
            want = float32_frame_ranking(encoded, ids_by_path, query)
            assert found[0] == want[0]
            assert_same_ranking(found, float32_scores(encoded, ids_by_path, query))

        for caption in CAPTIONS:
            query = model.embed_texts([caption])[0]
            for hit in search_text(store, model, caption, k=10):
                assert hit.best_moment == float32_best_moment(
                    encoded, hit.path, hit.start, hit.end, query)

        frame = np.random.default_rng(5).integers(0, 255, (80, 120, 3), dtype=np.uint8)
        query = model.embed_image(frame)
        ranking = float32_frame_ranking(encoded, ids_by_path, query)
        best = search_image(store, model, frame, k=1)[0]
        first_path = next(p for p, ids in ids_by_path.items() if ranking[0] in ids)
        times = encoded[first_path][0]
        assert (best.path, best.best_moment) == (
            first_path, float(times[list(ids_by_path[first_path]).index(ranking[0])]))
