import multiprocessing
import os
import re
from pathlib import Path

import apsw
import numpy as np
import pytest

from vidsearch.errors import CannotRunError, LibraryBusyError
from vidsearch.store import VideoMeta, open_store, schema_version, writer_lock
from vidsearch.store import vectors as store_vectors
from vidsearch.store.schema import MIGRATIONS, OLDER_RELEASES_REFUSE

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
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert applied_migrations(store.conn) == [
            "m001_initial", "m002_clip_vectors_and_bits", "m003_version_recorded_once",
            "m004_frame_vectors_float16", "m005_recorded_at", "m006_older_releases_refuse",
            "m007_clip_vectors_float16", "m008_recorded_from", "m009_bits_word_major"]
        assert schema_version() == 9
        # the version is recorded in the migrations table only; the old key holds a guard
        assert store.get_meta("schema_version") == OLDER_RELEASES_REFUSE


def older_release_opens(conn) -> str:
    """What releases before the migration registry did on opening a library (schema 2, the
    version read from `meta.schema_version`): refuse a newer one, else migrate from there."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row else 0
    if version > 2:
        return f"library schema version {version} is newer than this vidsearch understands (2)"
    return "migrates" if version < 2 else "opens"


def test_an_older_release_refuses_a_newer_library_instead_of_migrating_it(tmp_path):
    with open_store(tmp_path / "lib.db") as store:
        assert "is newer than this vidsearch" in older_release_opens(store.conn)


def applied_migrations(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM migrations ORDER BY rowid")]


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
    # float16 keeps about three decimal digits
    np.testing.assert_allclose(vectors[0], unit(1000 + 3), atol=1e-3)
    assert vectors.dtype == np.float32
    assert store.check_integrity() == []


def test_rewriting_a_video_replaces_all_its_rows(store):
    add_video(store, "/v/a.mp4", seed=1)
    add_video(store, "/v/a.mp4", seed=3, seconds=6)
    stats = store.stats()
    assert (stats.videos, stats.frames, stats.clips) == (1, 6, 2)
    assert store.conn.execute(
        "SELECT sum(length(frame_ids)) / 8 FROM frame_bits").fetchone()[0] == 6
    assert store.check_integrity() == []


def test_failure_replaces_vectors_and_is_listed(store):
    add_video(store, "/v/a.mp4", seed=1)
    store.record_failure("/v/a.mp4", size=1, mtime_ns=2, error="truncated at 3 s")
    stats = store.stats()
    assert (stats.videos, stats.frames, stats.clips) == (0, 0, 0)
    assert stats.failures == [("/v/a.mp4", "truncated at 3 s")]
    assert store.conn.execute("SELECT count(*) FROM clip_bits").fetchone()[0] == 0
    assert store.conn.execute("SELECT count(*) FROM frame_bits").fetchone()[0] == 0


def test_failed_write_leaves_nothing_behind(store):
    add_video(store, "/v/a.mp4", seed=1)
    with pytest.raises(ValueError):
        store.write_video(
            "/v/a.mp4", size=1, mtime_ns=1, content_hash=None, meta=VideoMeta(1, 1, 1, 1),
            frame_times=np.zeros(2), frame_vectors=np.zeros((1, DIM)), clip_spans=[],
            clip_vectors=np.zeros((0, DIM)),
        )
    # the wrong dimension is caught inside the transaction: all or nothing
    with pytest.raises(ValueError):
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
    frame = store.nearest_frames(unit(1000 + 4), 1)[0]
    assert (frame.path, frame.t) == ("/w/a.mp4", 4.0)
    assert store.remove_videos(["/w/a.mp4"]) == 1
    assert (store.stats().clips, store.stats().frames) == (0, 0)
    assert store.conn.execute("SELECT count(*) FROM clip_bits").fetchone()[0] == 0
    assert store.conn.execute("SELECT count(*) FROM frame_bits").fetchone()[0] == 0
    assert store.nearest_frames(unit(1000 + 4), 1) == []


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
        store.conn.execute("INSERT INTO migrations VALUES ('m999_from_the_future', 0)")
    known = schema_version()
    with pytest.raises(CannotRunError,
                       match=f"version {known + 1} is newer .* understands \\({known}\\)"):
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


LIBRARY_V1 = Path(__file__).parents[1] / "data" / "library_v1.sql"


def make_version_1_library(path):
    """A library exactly as the first schema left it: loaded from a frozen dump, so no change
    to today's migration code can change what "an old library" is."""
    import sqlite_vec

    conn = apsw.Connection(str(path))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.execute(LIBRARY_V1.read_text())
    conn.close()


def version_1_frame_vectors(table: str = "frame_vec") -> np.ndarray:
    """The float32 frame (or clip) vectors the frozen dump holds, read from its text."""
    pattern = rf"INSERT INTO {table}\(rowid, embedding\) VALUES \(\d+, X'([0-9A-F]+)'\)"
    blobs = re.findall(pattern, LIBRARY_V1.read_text())
    return np.stack([np.frombuffer(bytes.fromhex(b), dtype=np.float32) for b in blobs])


def test_a_version_1_library_is_migrated_and_still_answers(tmp_path):
    path = tmp_path / "old.db"
    make_version_1_library(path)
    with open_store(path) as migrated:
        assert applied_migrations(migrated.conn) == [name for name, _ in MIGRATIONS]
        assert migrated.get_meta("schema_version") == OLDER_RELEASES_REFUSE
        assert migrated.model_fingerprint == "fp-a"
        best = migrated.nearest_clips(unit(12), 1)[0]
        assert (best.clip_id, best.path, best.start, best.end) == (2, "/v/old.mp4", 5.0, 15.0)
        ids, bits, owners = migrated._load_bit_index()
        assert sorted(ids) == [1, 2] and list(owners) == [7, 7]
        # rows older than recording dates get their file's modification time, until the
        # next index reads their tags
        assert migrated.recording_times([7]) == {7: 1e-9}
        assert migrated.undated_paths() == {"/v/old.mp4"}
        np.testing.assert_array_equal(bits[:, list(ids).index(2)],  # word-major
                                      store_vectors.pack_sign_bits(unit(12))[0])
        frame = migrated.nearest_frames(unit(102), 1)[0]
        assert (frame.frame_id, frame.t) == (2, 1.0)
        # the frame vectors left vec0 and survive as float16
        assert migrated.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'frame_vec'").fetchone()[0] == 0
        times, vectors = migrated.frame_vectors(7)
        assert list(times) == [0.0, 1.0]
        np.testing.assert_allclose(vectors, version_1_frame_vectors(), rtol=1e-3, atol=1e-4)
        frame_ids, frame_bits, frame_owners = migrated._frame_bits.get(
            migrated.conn, migrated._state(), 8)
        assert list(frame_ids) == [1, 2] and list(frame_owners) == [7, 7]
        np.testing.assert_array_equal(frame_bits.T,  # word-major
                                      store_vectors.pack_sign_bits(version_1_frame_vectors()))
        # the clip vectors, float32 until m007, are float16 now: half the bytes, same values
        clips = version_1_frame_vectors("clip_vec")
        assert [len(blob) for (blob,) in migrated.conn.execute(
            "SELECT embedding FROM clips ORDER BY id")] == [clips.shape[1] * 2] * 2
        np.testing.assert_allclose(np.stack([migrated.clip_vector(1), migrated.clip_vector(2)]),
                                   clips, rtol=1e-3, atol=1e-4)
        stats = migrated.stats()
        assert (stats.videos, stats.clips, stats.frames) == (1, 2, 2)
        assert stats.failures == [("/v/broken.mp4", "no frames could be decoded")]
        assert migrated.check_integrity() == []
    with open_store(path) as reopened:  # a migrated library opens without migrating again
        assert applied_migrations(reopened.conn) == [name for name, _ in MIGRATIONS]


def test_shortlist_search_finds_what_exact_search_finds(tmp_path, monkeypatch):
    monkeypatch.setattr(store_vectors, "SHORTLIST_MIN", 50)
    dim = 256
    rng = np.random.default_rng(0)
    # Clustered, like embeddings of real footage: 30 topics, 50 clips around each.
    centres = rng.standard_normal((30, dim))
    vectors = (np.repeat(centres, 50, axis=0)
               + 0.8 * rng.standard_normal((1500, dim))).astype(np.float32)
    with open_store(tmp_path / "lib.db") as store:
        store.prepare_for_model("fp", "m", dim)
        for video in range(15):
            block = vectors[video * 100:(video + 1) * 100]
            store.write_video(
                f"/v/{video}.mp4", size=1, mtime_ns=1, content_hash=None,
                meta=VideoMeta(100, 1, 1, 1), frame_times=np.zeros(0),
                frame_vectors=np.zeros((0, dim)), clip_spans=[(i, i + 1) for i in range(100)],
                clip_vectors=block)
        normalised = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        recalls = []
        for trial in range(20):
            query = (centres[trial] + rng.standard_normal(dim)).astype(np.float32)
            query /= np.linalg.norm(query)
            exact = set(np.argsort(-(normalised @ query))[:10] + 1)
            found = store.nearest_clips(query, 10)
            assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
            recalls.append(len(exact & {m.clip_id for m in found}) / 10)
        assert np.mean(recalls) >= 0.8
        # a stored vector used as the query always comes back first, with score 1
        for clip_id in (1, 777, 1500):
            best = store.nearest_clips(vectors[clip_id - 1], 1)[0]
            assert best.clip_id == clip_id and best.score == pytest.approx(1.0, abs=1e-5)


def test_a_search_sees_what_another_connection_wrote(tmp_path):
    path = tmp_path / "lib.db"
    with open_store(path) as reader, open_store(path) as writer:
        reader.prepare_for_model("fp-a", "model-a", DIM)
        add_video(writer, "/v/a.mp4", seed=1)
        assert reader.nearest_clips(unit(1500), 1)[0].path == "/v/a.mp4"
        add_video(writer, "/v/b.mp4", seed=2)
        assert reader.nearest_clips(unit(2501), 1)[0].path == "/v/b.mp4"
        writer.remove_videos(["/v/b.mp4"])
        assert reader.nearest_clips(unit(2501), 1)[0].path == "/v/a.mp4"
