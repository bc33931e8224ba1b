"""The library: one SQLite file (WAL) holding videos, frame vectors and clip vectors.

Vectors live in sqlite-vec `vec0` tables keyed by the rowid of their `frames` / `clips` row. The
vector tables are created for one model's dimension; the model fingerprint in `meta` says whose
vectors they are, so vectors of two models never meet in one search.

Python's bundled sqlite3 often cannot load extensions, so this module uses apsw. It never imports
torch: everything crosses its boundary as numpy arrays.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsearch.errors import CannotRunError, LibraryBusyError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
# How many clips the bit shortlist hands to the exact float re-score (per requested clip, and
# at least). Published CLIP4Clip figures: binary codes + float re-rank of the top 100 keep R@1.
SHORTLIST_PER_CLIP = 4
SHORTLIST_MIN = 200
BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class VideoRecord:
    """What the store knows about one file, enough to decide whether to index it again."""

    id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    status: str
    error: str | None


@dataclass(frozen=True)
class VideoMeta:
    """Facts about a video that was decoded successfully."""

    duration: float
    fps: float
    width: int
    height: int
    decode_strategy: str = ""


@dataclass(frozen=True)
class ClipMatch:
    clip_id: int
    video_id: int
    path: str
    start: float
    end: float
    score: float


@dataclass(frozen=True)
class FrameMatch:
    frame_id: int
    video_id: int
    path: str
    t: float
    score: float


@dataclass(frozen=True)
class LibraryStats:
    videos: int
    failed: int
    hours: float
    clips: int
    frames: int
    last_indexed: float | None
    model_fingerprint: str | None
    model_name: str | None
    failures: list[tuple[str, str]]


# --- migrations -----------------------------------------------------------------------------
# Each step is named and recorded; a database is always moved forward one step at a time inside
# one transaction, so a crash mid-migration leaves the previous version intact.


def _m001_initial(conn) -> None:
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


def _m002_clip_vectors_and_bits(conn) -> None:
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


def pack_sign_bits(vectors: np.ndarray) -> np.ndarray:
    """Sign bits of each row, padded to whole 64-bit words: [N, words] uint64."""
    vectors = np.atleast_2d(vectors)
    words = -(-vectors.shape[1] // 64)
    bits = np.zeros((vectors.shape[0], words * 64), dtype=bool)
    bits[:, : vectors.shape[1]] = vectors > 0
    return np.packbits(bits, axis=1).view(np.uint64)


MIGRATIONS: list[tuple[str, Callable]] = [
    ("m001_initial", _m001_initial),
    ("m002_clip_vectors_and_bits", _m002_clip_vectors_and_bits),
]


def _load_apsw():
    import apsw
    import sqlite_vec

    return apsw, sqlite_vec


class Store:
    """An open library. Create with `open_store`; use as a context manager to close it."""

    def __init__(self, conn, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._bit_index: tuple[np.ndarray, np.ndarray] | None = None
        self._bit_index_version: int | None = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # --- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def model_fingerprint(self) -> str | None:
        return self.get_meta("model_fingerprint")

    @property
    def vector_dim(self) -> int | None:
        value = self.get_meta("vector_dim")
        return int(value) if value else None

    def prepare_for_model(self, fingerprint: str, model_name: str, dim: int) -> bool:
        """Make the vector tables belong to this model. Returns True when old vectors were dropped.

        A different model's vectors are useless for this one's queries, so they are dropped
        together with the video rows that pointed at them: the next index re-embeds everything.
        """
        if self.model_fingerprint == fingerprint and self._has_vector_tables():
            return False
        with self.conn:
            replaced = self.model_fingerprint is not None
            if replaced:
                log.info("model changed to %s: dropping vectors of the previous model", model_name)
            self.conn.execute(
                "DROP TABLE IF EXISTS frame_vec;"
                "DELETE FROM clip_bits; DELETE FROM clips; DELETE FROM frames; DELETE FROM videos;"
            )
            self.conn.execute(
                f"CREATE VIRTUAL TABLE frame_vec USING vec0(embedding float[{int(dim)}] "
                "distance_metric=cosine)"
            )
            self._set_meta("model_fingerprint", fingerprint)
            self._set_meta("model_name", model_name)
            self._set_meta("vector_dim", str(int(dim)))
        self._bit_index = None
        return replaced

    def _has_vector_tables(self) -> bool:
        row = self.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'frame_vec'"
        ).fetchone()
        return row[0] == 1

    # --- videos -----------------------------------------------------------------------------

    def videos_under(self, roots: Iterable[Path]) -> dict[str, VideoRecord]:
        """Every stored video whose path lies under one of `roots` (or is one of them)."""
        found: dict[str, VideoRecord] = {}
        for root in roots:
            root_text = str(root)
            # Compared as bytes: names that are not UTF-8 are stored as BLOBs (see _db_path).
            prefix = os.fsencode(root_text.rstrip(os.sep) + os.sep)
            rows = self.conn.execute(
                "SELECT id, path, size, mtime_ns, content_hash, status, error FROM videos "
                "WHERE path = ? OR substr(CAST(path AS BLOB), 1, ?) = ?",
                (_db_path(root_text), len(prefix), prefix),
            )
            for row in rows:
                record = _record(row)
                found[record.path] = record
        return found

    def has_videos(self) -> bool:
        return self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM videos WHERE status = 'ok')").fetchone()[0] == 1

    def get_video(self, path: str) -> VideoRecord | None:
        row = self.conn.execute(
            "SELECT id, path, size, mtime_ns, content_hash, status, error FROM videos "
            "WHERE path = ?",
            (_db_path(path),),
        ).fetchone()
        return _record(row) if row else None

    def find_by_content(self, content_hash: str, size: int) -> VideoRecord | None:
        """An indexed video with the same content (for recognising a renamed file)."""
        row = self.conn.execute(
            "SELECT id, path, size, mtime_ns, content_hash, status, error FROM videos "
            "WHERE content_hash = ? AND size = ? AND status = 'ok' LIMIT 1",
            (content_hash, size),
        ).fetchone()
        return _record(row) if row else None

    def video_details(self, video_id: int) -> dict | None:
        row = self.conn.execute(
            "SELECT path, duration, fps, width, height, indexed_at FROM videos WHERE id = ?",
            (video_id,),
        ).fetchone()
        if not row:
            return None
        keys = ("path", "duration", "fps", "width", "height", "indexed_at")
        return dict(zip(keys, (_path_from_db(row[0]), *row[1:])))

    def write_video(
        self,
        path: str,
        *,
        size: int,
        mtime_ns: int,
        content_hash: str | None,
        meta: VideoMeta,
        frame_times: np.ndarray,
        frame_vectors: np.ndarray,
        clip_spans: list[tuple[float, float]],
        clip_vectors: np.ndarray,
    ) -> int:
        """Replace everything stored for `path` in one transaction: all of it lands or none."""
        if len(frame_times) != len(frame_vectors) or len(clip_spans) != len(clip_vectors):
            raise ValueError("times/spans and vectors differ in length")
        frame_vectors = np.ascontiguousarray(frame_vectors, dtype=np.float32)
        clip_vectors = np.ascontiguousarray(clip_vectors, dtype=np.float32)
        with self.conn:
            self._delete_paths([path])
            self.conn.execute(
                "INSERT INTO videos(path, size, mtime_ns, content_hash, duration, fps, width, "
                "height, decode_strategy, status, error, indexed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', NULL, ?)",
                (
                    _db_path(path), size, mtime_ns, content_hash, meta.duration, meta.fps,
                    meta.width, meta.height, meta.decode_strategy, time.time(),
                ),
            )
            video_id = self.conn.last_insert_rowid()
            for t, vector in zip(frame_times, frame_vectors):
                self.conn.execute("INSERT INTO frames(video_id, t) VALUES (?, ?)", (video_id, float(t)))
                self.conn.execute(
                    "INSERT INTO frame_vec(rowid, embedding) VALUES (?, ?)",
                    (self.conn.last_insert_rowid(), vector.tobytes()),
                )
            clip_ids = []
            for (start, end), vector in zip(clip_spans, clip_vectors):
                if vector.shape[0] != self.vector_dim:
                    raise ValueError(f"clip vector of size {vector.shape[0]}, the library holds "
                                     f"{self.vector_dim}")
                self.conn.execute(
                    "INSERT INTO clips(video_id, start, end, embedding) VALUES (?, ?, ?, ?)",
                    (video_id, float(start), float(end), vector.tobytes()),
                )
                clip_ids.append(self.conn.last_insert_rowid())
            if clip_ids:
                self.conn.execute(
                    "INSERT INTO clip_bits(video_id, clip_ids, bits) VALUES (?, ?, ?)",
                    (video_id, np.array(clip_ids, dtype=np.int64).tobytes(),
                     pack_sign_bits(clip_vectors).tobytes()),
                )
        self._bit_index = None
        return video_id

    def record_failure(
        self, path: str, *, size: int, mtime_ns: int, error: str, content_hash: str | None = None
    ) -> None:
        """Mark a file as failed with its reason; a later run retries it only if it changes."""
        with self.conn:
            self._delete_paths([path])
            self.conn.execute(
                "INSERT INTO videos(path, size, mtime_ns, content_hash, status, error, indexed_at) "
                "VALUES (?, ?, ?, ?, 'error', ?, ?)",
                (_db_path(path), size, mtime_ns, content_hash, error, time.time()),
            )

    def remove_videos(self, paths: Iterable[str]) -> int:
        paths = list(paths)
        if not paths:
            return 0
        with self.conn:
            return self._delete_paths(paths)

    def move_video(self, old_path: str, new_path: str, *, mtime_ns: int | None = None) -> bool:
        """Point a stored video at its new path, keeping its vectors. False if `old_path` is unknown."""
        with self.conn:
            if self.get_video(old_path) is None:
                return False
            self._delete_paths([new_path])
            self.conn.execute(
                "UPDATE videos SET path = ?, mtime_ns = coalesce(?, mtime_ns) WHERE path = ?",
                (_db_path(new_path), mtime_ns, _db_path(old_path)),
            )
        return True

    def _delete_paths(self, paths: list[str]) -> int:
        removed = 0
        self._bit_index = None
        vectors = self._has_vector_tables()
        for path in paths:
            row = self.conn.execute("SELECT id FROM videos WHERE path = ?",
                                    (_db_path(path),)).fetchone()
            if not row:
                continue
            video_id = row[0]
            if vectors:
                self.conn.execute(
                    "DELETE FROM frame_vec WHERE rowid IN (SELECT id FROM frames WHERE video_id = ?)",
                    (video_id,),
                )
            self.conn.execute("DELETE FROM frames WHERE video_id = ?", (video_id,))
            self.conn.execute("DELETE FROM clips WHERE video_id = ?", (video_id,))
            self.conn.execute("DELETE FROM clip_bits WHERE video_id = ?", (video_id,))
            self.conn.execute("DELETE FROM videos WHERE id = ?", (video_id,))
            removed += 1
        return removed

    # --- search -----------------------------------------------------------------------------

    def nearest_clips(self, query: np.ndarray, k: int) -> list[ClipMatch]:
        """The k clips closest to `query` by cosine, best first (score = cosine similarity).

        Shortlist by Hamming distance over sign bits held in memory, then exact cosine on the
        shortlist's float vectors; libraries smaller than the shortlist are searched exactly.
        """
        if not self._has_vector_tables() or k <= 0:
            return []
        clip_ids, bits = self._load_bit_index()
        if clip_ids.size == 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        shortlist_size = max(SHORTLIST_MIN, SHORTLIST_PER_CLIP * k)
        if clip_ids.size <= shortlist_size:
            shortlist = clip_ids
        else:
            distances = np.bitwise_count(bits ^ pack_sign_bits(query)[0]).sum(axis=1)
            shortlist = clip_ids[np.argpartition(distances, shortlist_size)[:shortlist_size]]
        rows = self.conn.execute(
            "SELECT c.id, c.video_id, v.path, c.start, c.end, c.embedding FROM clips c "
            "JOIN videos v ON v.id = c.video_id "
            f"WHERE c.id IN ({','.join('?' * len(shortlist))})",
            [int(i) for i in shortlist],
        ).fetchall()
        vectors = np.stack([np.frombuffer(r[5], dtype=np.float32) for r in rows])
        scores = _cosine(vectors, query)
        return [ClipMatch(rows[i][0], rows[i][1], _path_from_db(rows[i][2]), *rows[i][3:5],
                          float(scores[i])) for i in np.argsort(-scores)[:k]]

    def _load_bit_index(self) -> tuple[np.ndarray, np.ndarray]:
        """All clip ids and sign bits, cached until this or another connection writes."""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if self._bit_index is None or version != self._bit_index_version:
            id_parts, bit_parts = [], []
            for ids_blob, bits_blob in self.conn.execute("SELECT clip_ids, bits FROM clip_bits"):
                id_parts.append(np.frombuffer(ids_blob, dtype=np.int64))
                bit_parts.append(np.frombuffer(bits_blob, dtype=np.uint64))
            words = -(-(self.vector_dim or 1) // 64)
            ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
            bits = (np.concatenate(bit_parts) if bit_parts else np.zeros(0, np.uint64))
            self._bit_index = (ids, bits.reshape(-1, words))
            self._bit_index_version = version
        return self._bit_index

    def nearest_frames(self, query: np.ndarray, k: int) -> list[FrameMatch]:
        if not self._has_vector_tables() or k <= 0:
            return []
        rows = self.conn.execute(
            "SELECT f.id, f.video_id, v.path, f.t, m.distance FROM "
            "(SELECT rowid, distance FROM frame_vec WHERE embedding MATCH ? AND k = ?) AS m "
            "JOIN frames f ON f.id = m.rowid JOIN videos v ON v.id = f.video_id "
            "ORDER BY m.distance",
            (_vector_bytes(query), int(k)),
        )
        return [FrameMatch(r[0], r[1], _path_from_db(r[2]), r[3], 1.0 - r[4]) for r in rows]

    def frame_vectors(
        self, video_id: int, start: float | None = None, end: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps and stored (raw) frame vectors of one video, optionally within [start, end]."""
        lo = float("-inf") if start is None else start
        hi = float("inf") if end is None else end
        rows = self.conn.execute(
            "SELECT f.t, fv.embedding FROM frames f JOIN frame_vec fv ON fv.rowid = f.id "
            "WHERE f.video_id = ? AND f.t >= ? AND f.t <= ? ORDER BY f.t",
            (video_id, lo, hi),
        ).fetchall()
        dim = self.vector_dim or 0
        if not rows:
            return np.zeros(0), np.zeros((0, dim), np.float32)
        times = np.array([r[0] for r in rows], dtype=np.float64)
        vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        return times, vectors

    def clips_of_video(self, video_id: int) -> list[tuple[int, float, float]]:
        return [
            tuple(r)
            for r in self.conn.execute(
                "SELECT id, start, end FROM clips WHERE video_id = ? ORDER BY start", (video_id,)
            )
        ]

    # --- reporting --------------------------------------------------------------------------

    def stats(self) -> LibraryStats:
        videos, hours, last = self.conn.execute(
            "SELECT count(*), coalesce(sum(duration), 0) / 3600.0, max(indexed_at) "
            "FROM videos WHERE status = 'ok'"
        ).fetchone()
        failures = [
            (_path_from_db(r[0]), r[1] or "")
            for r in self.conn.execute(
                "SELECT path, error FROM videos WHERE status = 'error' ORDER BY path"
            )
        ]
        clips = self.conn.execute("SELECT count(*) FROM clips").fetchone()[0]
        frames = self.conn.execute("SELECT count(*) FROM frames").fetchone()[0]
        return LibraryStats(
            videos=videos,
            failed=len(failures),
            hours=float(hours),
            clips=clips,
            frames=frames,
            last_indexed=last,
            model_fingerprint=self.model_fingerprint,
            model_name=self.get_meta("model_name"),
            failures=failures,
        )

    def check_integrity(self) -> list[str]:
        """Problems found: SQLite's own check plus the invariants vidsearch relies on."""
        problems = [r[0] for r in self.conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        orphan_queries = {
            "frames without a video": "SELECT count(*) FROM frames WHERE video_id NOT IN "
            "(SELECT id FROM videos)",
            "clips without a video": "SELECT count(*) FROM clips WHERE video_id NOT IN "
            "(SELECT id FROM videos)",
            "ok videos without clips": "SELECT count(*) FROM videos WHERE status = 'ok' AND id "
            "NOT IN (SELECT video_id FROM clips)",
            "clips without a vector": "SELECT count(*) FROM clips WHERE embedding IS NULL",
            "clips missing from the shortlist bits": "SELECT count(*) FROM videos WHERE "
            "status = 'ok' AND id NOT IN (SELECT video_id FROM clip_bits)",
        }
        if self._has_vector_tables():
            orphan_queries["frames without a vector"] = (
                "SELECT count(*) FROM frames WHERE id NOT IN (SELECT rowid FROM frame_vec)"
            )
        for problem, query in orphan_queries.items():
            count = self.conn.execute(query).fetchone()[0]
            if count:
                problems.append(f"{count} {problem}")
        return problems


def _db_path(path: str) -> str | bytes:
    """How a path is stored: as text, or as its exact bytes (a BLOB) when the name is not UTF-8.

    os.fsdecode turns undecodable bytes into lone surrogates, which SQLite text cannot hold;
    the bytes can, and os.fsdecode gives the same str back on reading.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def _path_from_db(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def _record(row) -> VideoRecord:
    return VideoRecord(row[0], _path_from_db(row[1]), *row[2:])


def _cosine(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
    return (vectors @ query) / np.maximum(norms, 1e-12)


def _vector_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).reshape(-1).tobytes()


def open_store(path: Path, *, create: bool = True) -> Store:
    """Open (and create or migrate) the library at `path`.

    A file that is not a vidsearch database is never overwritten: the error names it instead.
    """
    apsw, sqlite_vec = _load_apsw()
    path = Path(path)
    if not path.exists() and not create:
        raise CannotRunError(
            f"{path}: no library here yet", "run `vidsearch index FOLDER` first, or pass --db"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = apsw.SQLITE_OPEN_READWRITE | (apsw.SQLITE_OPEN_CREATE if create else 0)
        conn = apsw.Connection(str(path), flags=flags)
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn, path)
    except apsw.NotADBError as exc:
        raise CannotRunError(
            f"{path}: not a vidsearch library (the file is not a readable SQLite database)",
            "move the file away or pass another --db; vidsearch will not overwrite it",
        ) from exc
    except apsw.CorruptError as exc:
        # An SQLite header with broken pages behind it: a library cut short or damaged.
        raise CannotRunError(
            f"{path}: the library file is damaged ({exc})",
            "move it away and index again, or restore a backup; vidsearch does not change it",
        ) from exc
    except (apsw.CantOpenError, apsw.ReadOnlyError, apsw.PermissionsError, OSError) as exc:
        raise CannotRunError(
            f"{path}: cannot open the library ({exc})", "check the path and its permissions"
        ) from exc
    except apsw.BusyError as exc:
        raise LibraryBusyError(
            f"{path}: the library is locked by another process", "try again in a moment"
        ) from exc
    return Store(conn, path)


def _migrate(conn, path: Path) -> None:
    has_meta = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()[0]
    version = 0
    if has_meta:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
    elif conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise CannotRunError(
            f"{path}: an SQLite database, but not a vidsearch library",
            "pass another --db; vidsearch will not change this file",
        )
    if version > SCHEMA_VERSION:
        raise CannotRunError(
            f"{path}: library schema version {version} is newer than this vidsearch "
            f"understands ({SCHEMA_VERSION})",
            "upgrade vidsearch, or point --db at another library",
        )
    for number, (name, step) in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        with conn:
            step(conn)
            conn.execute(
                "INSERT INTO migrations(name, applied_at) VALUES (?, ?)", (name, time.time())
            )
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(number),),
            )
        log.debug("applied migration %s to %s", name, path)


@contextlib.contextmanager
def writer_lock(db_path: Path) -> Iterator[None]:
    """Hold the library's single-writer lock; a second writer is told who holds it.

    An advisory lock on a side file, not an SQLite lock: SQLite would let two indexers interleave
    their transactions, which is correct but wastes the work of both.
    """
    lock_path = Path(str(db_path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise LibraryBusyError(
                f"{db_path}: the library is busy, another vidsearch process (pid {holder}) "
                "is writing to it",
                "wait for it to finish or stop it; searching works meanwhile",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def writer_is_active(db_path: Path) -> bool:
    """Whether another process holds the library's writer lock (see `writer_lock`).

    Probing takes a *shared* lock and drops it at once, and only when the pid written in the
    lock file is alive: a writer that starts in that instant would be refused, so the probe
    is kept off the common case of no writer at all.
    """
    lock_path = Path(str(db_path) + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.debug("cannot read %s: %s", lock_path, exc)
        return False
    try:
        pid_text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if not pid_text.isdigit() or not _process_alive(int(pid_text)):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    except OSError as exc:
        return exc.errno != errno.ESRCH
    return True
