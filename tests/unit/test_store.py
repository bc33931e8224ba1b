import multiprocessing
import os

import apsw
import numpy as np
import pytest

from vidsearch.errors import CannotRunError, LibraryBusyError
from vidsearch.store import SCHEMA_VERSION, VideoMeta, open_store, writer_lock

DIM = 8


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def add_video(store, path, seed=0, seconds=12):
    times = np.arange(seconds, dtype=float)
    frames = np.stack([unit(seed * 1000 + i) for i in range(seconds)])
    spans = [(0.0, 10.0), (5.0, float(seconds))]
    clips = np.stack([unit(seed * 1000 + 500), unit(seed * 1000 + 501)])
    return store.write_video(
        path, size=100 + seed, mtime_ns=seed, content_hash=f"h{seed}",
        meta=VideoMeta(float(seconds), 25.0, 64, 48, "test"),
        frame_times=times, frame_vectors=frames, clip_spans=spans, clip_vectors=clips,
    )


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "lib.db") as opened:
        opened.prepare_for_model("fp-a", "model-a", DIM)
        yield opened


def test_new_store_is_at_current_schema_with_wal(tmp_path):
    with open_store(tmp_path / "lib.db") as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = [r[0] for r in store.conn.execute("SELECT name FROM migrations")]
        assert names == ["m001_initial"]


def test_write_and_search_round_trip(store):
    add_video(store, "/v/a.mp4", seed=1)
    add_video(store, "/v/b.mp4", seed=2)
    target = unit(2 * 1000 + 501)
    best = store.nearest_clips(target, 1)[0]
    assert (best.path, best.start, best.end) == ("/v/b.mp4", 5.0, 12.0)
    assert best.score == pytest.approx(1.0, abs=1e-5)
    frame = store.nearest_frames(unit(1000 + 7), 1)[0]
    assert (frame.path, frame.t) == ("/v/a.mp4", 7.0)
    times, vectors = store.frame_vectors(frame.video_id, 3, 5)
    assert list(times) == [3.0, 4.0, 5.0]
    np.testing.assert_allclose(vectors[0], unit(1000 + 3), rtol=1e-6)
    assert store.check_integrity() == []


def test_rewriting_a_video_replaces_all_its_rows(store):
    add_video(store, "/v/a.mp4", seed=1)
    add_video(store, "/v/a.mp4", seed=3, seconds=6)
    stats = store.stats()
    assert (stats.videos, stats.frames, stats.clips) == (1, 6, 2)
    assert store.conn.execute("SELECT count(*) FROM frame_vec").fetchone()[0] == 6
    assert store.check_integrity() == []


def test_failure_replaces_vectors_and_is_listed(store):
    add_video(store, "/v/a.mp4", seed=1)
    store.record_failure("/v/a.mp4", size=1, mtime_ns=2, error="truncated at 3 s")
    stats = store.stats()
    assert (stats.videos, stats.frames, stats.clips) == (0, 0, 0)
    assert stats.failures == [("/v/a.mp4", "truncated at 3 s")]
    assert store.conn.execute("SELECT count(*) FROM clip_vec").fetchone()[0] == 0


def test_failed_write_leaves_nothing_behind(store):
    add_video(store, "/v/a.mp4", seed=1)
    with pytest.raises(ValueError):
        store.write_video(
            "/v/a.mp4", size=1, mtime_ns=1, content_hash=None, meta=VideoMeta(1, 1, 1, 1),
            frame_times=np.zeros(2), frame_vectors=np.zeros((1, DIM)), clip_spans=[],
            clip_vectors=np.zeros((0, DIM)),
        )
    # the wrong dimension is caught by sqlite-vec inside the transaction: all or nothing
    with pytest.raises(apsw.Error):
        store.write_video(
            "/v/a.mp4", size=1, mtime_ns=1, content_hash=None, meta=VideoMeta(1, 1, 1, 1),
            frame_times=np.zeros(1), frame_vectors=np.zeros((1, DIM)), clip_spans=[(0, 1)],
            clip_vectors=np.zeros((1, DIM + 1)),
        )
    assert store.stats().frames == 12
    assert store.check_integrity() == []


def test_move_keeps_vectors_and_remove_drops_them(store):
    add_video(store, "/v/a.mp4", seed=1)
    assert store.move_video("/v/a.mp4", "/w/a.mp4")
    assert store.get_video("/v/a.mp4") is None
    assert store.nearest_clips(unit(1500), 1)[0].path == "/w/a.mp4"
    assert store.find_by_content("h1", 101).path == "/w/a.mp4"
    assert store.remove_videos(["/w/a.mp4"]) == 1
    assert store.stats().clips == 0
    assert store.conn.execute("SELECT count(*) FROM clip_vec").fetchone()[0] == 0


def test_videos_under_matches_folders_not_name_prefixes(store):
    add_video(store, "/v/a.mp4", seed=1)
    add_video(store, "/v2/b.mp4", seed=2)
    assert list(store.videos_under(["/v"])) == ["/v/a.mp4"]
    assert list(store.videos_under(["/v/a.mp4"])) == ["/v/a.mp4"]


def test_switching_model_drops_old_vectors(store):
    add_video(store, "/v/a.mp4", seed=1)
    assert store.prepare_for_model("fp-a", "model-a", DIM) is False
    assert store.stats().videos == 1
    assert store.prepare_for_model("fp-b", "model-b", 4) is True
    assert store.stats().videos == 0
    assert store.model_fingerprint == "fp-b" and store.vector_dim == 4


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "lib.db"
    path.write_bytes(b"my holiday notes, not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(CannotRunError, match="not a vidsearch library"):
        open_store(path)
    assert path.read_bytes() == before


def test_another_programs_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE songs(title TEXT)")
    conn.close()
    with pytest.raises(CannotRunError, match="not a vidsearch library"):
        open_store(path)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "lib.db"
    with open_store(path) as store:
        store.conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(CannotRunError, match="newer"):
        open_store(path)


def test_missing_library_is_not_created_for_readers(tmp_path):
    with pytest.raises(CannotRunError, match="no library"):
        open_store(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()


def _hold_lock(db, ready, release):
    with writer_lock(db):
        ready.set()
        release.wait(10)


def test_second_writer_is_told_who_holds_the_library(tmp_path):
    db = tmp_path / "lib.db"
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(db, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(LibraryBusyError, match=f"pid {holder.pid}"):
            with writer_lock(db):
                pass
    finally:
        release.set()
        holder.join(10)
    with writer_lock(db):
        assert os.path.exists(str(db) + ".lock")
