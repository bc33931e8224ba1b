"""Clip vectors are stored as float16, as frame vectors are: text rankings must be what the
float32 vectors the encoder made would give, on the test libraries."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.videos import encode_moving
from tests.integration.test_frames_float16 import assert_same_ranking, unit_rows
from vidsearch import config
from vidsearch.cli import main
from vidsearch.search import search_text
from vidsearch.store import Store, open_store

CAPTIONS = ("a red square", "moving shapes", "snow", "a dog on a beach", "night")


@pytest.fixture
def encoded(monkeypatch) -> dict[str, np.ndarray]:
    """The float32 clip vectors the indexer hands the store, by path."""
    written: dict[str, np.ndarray] = {}
    real = Store.write_video

    def recording(self, path, **kwargs):
        written[path] = np.array(kwargs["clip_vectors"], dtype=np.float32)
        return real(self, path, **kwargs)

    monkeypatch.setattr(Store, "write_video", recording)
    return written


@pytest.mark.slow
def test_float16_clips_rank_as_float32(tiny_model, library, encoded, capsys):
    from vidsearch.model import load_model

    encode_moving(library / "moving.mp4", seconds=17, gop=7, codec="libx264")
    assert main(["index", str(library)]) == 0, capsys.readouterr()
    model = load_model(tiny_model, device="cpu")
    with open_store(config.default_db_path(), create=False) as store:
        ids, vectors = [], []
        for path, written in encoded.items():
            record = store.get_video(path)
            clip_ids = [clip[0] for clip in store.clips_of_video(record.id)]
            stored = np.stack([store.clip_vector(clip_id) for clip_id in clip_ids])
            # half precision: about three significant digits of each component
            np.testing.assert_allclose(stored, written, rtol=1e-3,
                                       atol=1e-3 * np.abs(written).max())
            ids += clip_ids
            vectors.append(written)
        vectors = unit_rows(np.concatenate(vectors))
        sizes = {len(blob) for (blob,) in store.conn.execute("SELECT embedding FROM clips")}
        assert sizes == {vectors.shape[1] * 2}  # float16: half the bytes of float32
        rng = np.random.default_rng(7)
        queries = [*model.embed_texts(list(CAPTIONS)), *vectors[::2],
                   *rng.standard_normal((5, vectors.shape[1])).astype(np.float32)]
        for query in queries:
            scores = dict(zip(ids, (vectors @ unit_rows(query)).tolist()))
            found = store.nearest_clips(query, len(ids))
            assert_same_ranking([m.clip_id for m in found], scores)
            assert found[0].score == pytest.approx(max(scores.values()), abs=2 ** -11)
        for caption in CAPTIONS:
            query = unit_rows(model.embed_texts([caption])[0])
            best = search_text(store, model, caption, k=1)[0]
            scores = vectors @ query
            assert best.score == pytest.approx(float(scores.max()), abs=2 ** -11)
