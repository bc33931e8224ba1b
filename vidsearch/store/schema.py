"""The library's schema: one registry of named migrations, applied in order and recorded.

Each `@migration` appends a step to `MIGRATIONS`; the position in that list is the order, and
the `migrations` table, which names every step applied, is the one record of where a library
stands. The schema version is nothing more than how many steps that is.

A library is moved forward one step at a time, each inside one transaction with its own record,
so a crash mid-migration leaves the previous step intact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vidsearch.errors import CannotRunError, advised
from vidsearch.store.vectors import pack_sign_bits, word_major

log = logging.getLogger(__name__)

MIGRATIONS: list[tuple[str, Callable]] = []


def migration(step: Callable) -> Callable:
    """Register `step` as the next migration, under its function name."""
    MIGRATIONS.append((step.__name__, step))
    return step


def schema_version() -> int:
    """The version this code writes: the number of migrations it knows."""
    return len(MIGRATIONS)


@migration
def m001_initial(conn) -> None:
    conn.execute(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE videos (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            content_hash TEXT,
            duration REAL,
            fps REAL,
            width INTEGER,
            height INTEGER,
            decode_strategy TEXT,
            status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
            error TEXT,
            indexed_at REAL NOT NULL
        );
        CREATE INDEX videos_content_hash ON videos(content_hash);
        CREATE TABLE frames (
            id INTEGER PRIMARY KEY,
            video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
            t REAL NOT NULL
        );
        CREATE INDEX frames_video_t ON frames(video_id, t);
        CREATE TABLE clips (
            id INTEGER PRIMARY KEY,
            video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
            start REAL NOT NULL,
            end REAL NOT NULL
        );
        CREATE INDEX clips_video ON clips(video_id, start);
        CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL);
        """
    )


@migration
def m002_clip_vectors_and_bits(conn) -> None:
    """Clip vectors move into `clips.embedding`, with a per-video blob of their sign bits.

    Measured here: sqlite-vec's flat scan costs ~110 ms per 100k 512-d clips, its top-k slows
    as k grows, and a vec0 point lookup costs ~0.2 ms. So clip search shortlists by Hamming
    distance over sign bits held in memory (64 bytes a clip, one blob per video) and re-scores
    the shortlist with float vectors read by primary key. Frame vectors stay in vec0, where
    image queries search them. Libraries of version 1 keep their vectors.
    """
    conn.execute(
        """
        ALTER TABLE clips ADD COLUMN embedding BLOB;
        CREATE TABLE clip_bits (
            video_id INTEGER PRIMARY KEY REFERENCES videos(id) ON DELETE CASCADE,
            clip_ids BLOB NOT NULL,
            bits BLOB NOT NULL
        );
        """
    )
    has_vectors = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'clip_vec'").fetchone()[0]
    if not has_vectors:
        return
    conn.execute("UPDATE clips SET embedding = "
                 "(SELECT v.embedding FROM clip_vec v WHERE v.rowid = clips.id)")
    conn.execute("DROP TABLE clip_vec")
    video_ids = [r[0] for r in conn.execute("SELECT DISTINCT video_id FROM clips")]
    for video_id in video_ids:
        rows = conn.execute("SELECT id, embedding FROM clips WHERE video_id = ? ORDER BY id",
                            (video_id,)).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        conn.execute("INSERT INTO clip_bits(video_id, clip_ids, bits) VALUES (?, ?, ?)",
                     (video_id, ids.tobytes(), pack_sign_bits(vectors).tobytes()))


@migration
def m003_version_recorded_once(conn) -> None:
    """Versions 1 and 2 also kept the version number in `meta.schema_version`; the
    `migrations` table says the same, so the copy goes."""
    conn.execute("DELETE FROM meta WHERE key = 'schema_version'")


@migration
def m004_frame_vectors_float16(conn) -> None:
    """Frame vectors move out of vec0 into `frames.vector` as float16, with a per-video blob of
    their sign bits (`frame_bits`, as `clip_bits` for clips).

    Measured here (bench/search.py): an image query scanned every frame in vec0 (~5M at 1M
    clips), and a best moment cost one vec0 point lookup per frame. Frames of one video are
    written in one transaction, so their rows are adjacent: a hit's frames come back in one
    range read over `frames_video_t`, and image queries shortlist by Hamming distance over
    the bits in memory, then re-score by primary key. float16 halves the largest part of the
    store; a best moment or an image ranking does not need float32
    (tests/integration/test_frames_float16.py). The clip index also covers `end`, so that an
    image hit finds the windows around its frame without reading the clips' vectors.
    """
    conn.execute(
        """
        CREATE INDEX clips_video_span ON clips(video_id, start, end);
        DROP INDEX clips_video;
        ALTER TABLE frames ADD COLUMN vector BLOB;
        CREATE TABLE frame_bits (
            video_id INTEGER PRIMARY KEY REFERENCES videos(id) ON DELETE CASCADE,
            frame_ids BLOB NOT NULL,
            bits BLOB NOT NULL
        );
        """
    )
    has_vectors = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'frame_vec'").fetchone()[0]
    if not has_vectors:
        return
    video_ids = [r[0] for r in conn.execute("SELECT DISTINCT video_id FROM frames")]
    for video_id in video_ids:
        rows = conn.execute(
            "SELECT f.id, v.embedding FROM frames f JOIN frame_vec v ON v.rowid = f.id "
            "WHERE f.video_id = ? ORDER BY f.t", (video_id,)).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]
                           ).astype(np.float16)
        for frame_id, vector in zip(ids, vectors):
            conn.execute("UPDATE frames SET vector = ? WHERE id = ?",
                         (vector.tobytes(), int(frame_id)))
        conn.execute("INSERT INTO frame_bits(video_id, frame_ids, bits) VALUES (?, ?, ?)",
                     (video_id, ids.tobytes(), pack_sign_bits(vectors).tobytes()))
    conn.execute("DROP TABLE frame_vec")


@migration
def m005_recorded_at(conn) -> None:
    """When each video was recorded (Unix seconds: its container's tags, else its file's
    modification time), for date filters. Videos indexed before this step get their file's
    modification time; re-indexing a changed file reads its tags."""
    conn.execute(
        """
        ALTER TABLE videos ADD COLUMN recorded_at REAL;
        UPDATE videos SET recorded_at = mtime_ns / 1e9;
        CREATE INDEX videos_recorded_at ON videos(recorded_at);
        """
    )


# Releases before the registry (schema 1 and 2) read `meta.schema_version` and, finding none,
# would run their first migration again on a newer library and fail with an SQLite error. This
# value is no version (the migrations table is the only one): it is above anything they know,
# so they refuse the library with their own "newer than this vidsearch understands" message.
OLDER_RELEASES_REFUSE = "1000000"


@migration
def m006_older_releases_refuse(conn) -> None:
    """Older releases see a library they must not touch (see OLDER_RELEASES_REFUSE)."""
    conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                 (OLDER_RELEASES_REFUSE,))


@migration
def m007_clip_vectors_float16(conn) -> None:
    """Clip vectors are stored in float16, as frame vectors are (m004): a text ranking comes out
    the same (tests/integration/test_clips_float16.py), and the store drops from 1,680 to
    ~1,470 bytes per video-second (bench/search.py). The sign bits were taken from the float32
    vectors and stay. The pages freed are reused by later writes; the file itself shrinks only
    with `sqlite3 library.db VACUUM` (not done here: it rewrites the whole file)."""
    video_ids = [r[0] for r in conn.execute("SELECT DISTINCT video_id FROM clips")]
    for video_id in video_ids:
        rows = conn.execute("SELECT id, embedding FROM clips WHERE video_id = ? "
                            "AND embedding IS NOT NULL", (video_id,)).fetchall()
        conn.executemany("UPDATE clips SET embedding = ? WHERE id = ?", [
            (np.frombuffer(blob, dtype=np.float32).astype(np.float16).tobytes(), clip_id)
            for clip_id, blob in rows])


@migration
def m008_recorded_from(conn) -> None:
    """Where each recording time came from: 'tags' (the container's), 'mtime' (the file's, as
    it had none), or NULL, not read yet. m005 gave every video indexed before it its file's
    modification time without reading tags: those rows stay NULL, and the next `index` reads
    their tags without re-embedding them. A time that differs from the file's mtime can only
    have come from tags."""
    conn.execute(
        """
        ALTER TABLE videos ADD COLUMN recorded_from TEXT;
        UPDATE videos SET recorded_from = 'tags'
            WHERE recorded_at IS NOT NULL AND recorded_at != mtime_ns / 1e9;
        """
    )


@migration
def m009_bits_word_major(conn) -> None:
    """Each video's sign bits word-major ([words, rows], `vectors.bits_blob`): the in-memory
    index holds them so for a scan 2.3x faster, and reading them in that order makes loading
    5M frames' bits a copy per word instead of a transpose (0.73 s). A vidsearch from before
    this step would misread them, and refuses the library (it does not know this step)."""
    for table, ids_column in (("clip_bits", "clip_ids"), ("frame_bits", "frame_ids")):
        # One video at a time: a large library's frame bits are hundreds of megabytes.
        for (video_id,) in conn.execute(f"SELECT video_id FROM {table}").fetchall():
            ids, bits = conn.execute(f"SELECT {ids_column}, bits FROM {table} WHERE video_id = ?",
                                     (video_id,)).fetchone()
            conn.execute(f"UPDATE {table} SET bits = ? WHERE video_id = ?",
                         (word_major(bits, len(ids) // 8), video_id))


def migrate(conn, path: Path) -> None:
    """Apply every registered migration the library at `path` has not had yet."""
    applied = _applied(conn, path)
    known = [name for name, _ in MIGRATIONS]
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise advised(CannotRunError(
            f"{path}: library schema version {len(applied)} is newer than this vidsearch "
            f"understands ({schema_version()})",
            "upgrade vidsearch, or use another library",
        ), "db")
    for name, step in MIGRATIONS:
        if name in applied:
            continue
        with conn:
            step(conn)
            conn.execute(
                "INSERT INTO migrations(name, applied_at) VALUES (?, ?)", (name, time.time())
            )
        log.debug("applied migration %s to %s", name, path)


def is_current(conn, path: Path) -> bool:
    """Whether the library at `path` has had exactly the registered migrations: neither older
    (it would need upgrading) nor newer than this vidsearch."""
    return sorted(_applied(conn, path)) == sorted(name for name, _ in MIGRATIONS)


def _applied(conn, path: Path) -> list[str]:
    """Names of the migrations already applied; none for a new, empty database."""
    has_record = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
    ).fetchone()[0]
    if has_record:
        return [row[0] for row in conn.execute("SELECT name FROM migrations ORDER BY rowid")]
    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise advised(CannotRunError(
            f"{path}: an SQLite database, but not a vidsearch library",
            "vidsearch will not change this file: use another library",
        ), "db")
    return []
