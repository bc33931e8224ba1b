"""The Store: one SQLite file (WAL) holding videos, frame vectors and clip vectors.

Vectors live in their `frames` and `clips` rows (float16), with each video's sign bits
in `frame_bits` / `clip_bits`; `meta` says which model made them and their dimension, so
vectors of two models never meet in one search. sqlite-vec is loaded only so that libraries
of the first schema (vectors in vec0 tables) can be migrated.

Python's bundled sqlite3 often cannot load extensions, so the store uses apsw. Every public
method runs under `errors.translated`: what leaves the store is a VidsearchError, never an apsw
exception. Every write runs under `_writing`, which is what keeps the sign-bit cache honest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from vidsearch import scan
from vidsearch.errors import CannotRunError, advised
from vidsearch.store import integrity, records
from vidsearch.store import vectors as vec
from vidsearch.store.records import LibraryStats, VideoListing, VideoMeta, VideoRecord
from vidsearch.store.errors import translated, translating
from vidsearch.store.filesystems import network_filesystem
from vidsearch.store.schema import is_current, migrate
from vidsearch.store.searching import Searching

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
# For new libraries. A 2 KB clip row or a 1 KB frame row wastes a quarter to a half of a 4 KB
# page; 16 KB pages hold 7 and 15 of them (bench/RESULTS.md, store bytes per video-second).
# A library's page size is fixed when it is created; older libraries keep theirs.
PAGE_SIZE = 16384


def _load_apsw():
    import apsw
    import sqlite_vec

    return apsw, sqlite_vec


class Store(Searching):
    """An open library. Create with `open_store`; use as a context manager to close it."""

    def __init__(self, conn, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._bits = vec.BitIndex("clip_bits", "clip_ids")
        self._frame_bits = vec.BitIndex("frame_bits", "frame_ids")
        self._writes = 0  # bumped by `_writing`, the one way this connection writes

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @translated
    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction (a savepoint when nested). Every write goes through here, so the
        caches of what is stored follow from writing: none is invalidated by hand."""
        try:
            with self.conn:
                yield
        finally:
            self._writes += 1

    def _state(self) -> tuple[int, int]:
        """Changes when anything is written: by this connection (`_writes`) or, committed, by
        any other (`PRAGMA data_version`, which does not count this connection's own)."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0], self._writes

    # --- meta -------------------------------------------------------------------------------

    @translated
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
    @translated
    def model_fingerprint(self) -> str | None:
        return self.get_meta("model_fingerprint")

    @property
    @translated
    def vector_dim(self) -> int | None:
        value = self.get_meta("vector_dim")
        return int(value) if value else None

    @translated
    def prepare_for_model(self, fingerprint: str, model_name: str, dim: int) -> bool:
        """Make the vector tables belong to this model. Returns True when old vectors were dropped.

        A different model's vectors are useless for this one's queries, so they are dropped
        together with the video rows that pointed at them: the next index re-embeds everything.
        """
        if self.model_fingerprint == fingerprint and self._has_vector_tables():
            return False
        with self._writing():
            replaced = self.model_fingerprint is not None
            if replaced and self.has_videos():
                # Said at the default level: the whole library is about to be embedded again.
                log.warning("the library was indexed with %s: every video is embedded again "
                            "with %s (vectors of two models cannot be searched together)",
                            self.get_meta("model_name") or "another model", model_name)
            self.conn.execute(
                "DELETE FROM clip_bits; DELETE FROM clips; DELETE FROM frame_bits; "
                "DELETE FROM frames; DELETE FROM videos;"
            )
            self._set_meta("model_fingerprint", fingerprint)
            self._set_meta("model_name", model_name)
            self._set_meta("vector_dim", str(int(dim)))
        return replaced

    def _has_vector_tables(self) -> bool:
        """Whether a model's vectors can be stored yet: `prepare_for_model` has named one."""
        return self.vector_dim is not None

    # --- videos -----------------------------------------------------------------------------

    @translated
    def videos_under(self, roots: Iterable[Path]) -> dict[str, VideoRecord]:
        """Every stored video whose path lies under one of `roots` (or is one of them)."""
        found: dict[str, VideoRecord] = {}
        for root in roots:
            root_text = str(root)
            # Compared as bytes: names that are not UTF-8 are stored as BLOBs (see
            # records.db_path).
            prefix = os.fsencode(scan.folder_prefix(root_text))
            rows = self.conn.execute(
                "SELECT id, path, size, mtime_ns, content_hash, status, error FROM videos "
                "WHERE path = ? OR substr(CAST(path AS BLOB), 1, ?) = ?",
                (records.db_path(root_text), len(prefix), prefix),
            )
            for row in rows:
                record = records.record(row)
                found[record.path] = record
        return found

    @translated
    def has_videos(self) -> bool:
        return self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM videos WHERE status = 'ok')").fetchone()[0] == 1

    @translated
    def get_video(self, path: str) -> VideoRecord | None:
        row = self.conn.execute(
            "SELECT id, path, size, mtime_ns, content_hash, status, error FROM videos "
            "WHERE path = ?",
            (records.db_path(path),),
        ).fetchone()
        return records.record(row) if row else None

    @translated
    def find_by_content(self, content_hash: str, size: int) -> VideoRecord | None:
        """An indexed video with the same content (for recognising a renamed file)."""
        row = self.conn.execute(
            "SELECT id, path, size, mtime_ns, content_hash, status, error FROM videos "
            "WHERE content_hash = ? AND size = ? AND status = 'ok' LIMIT 1",
            (content_hash, size),
        ).fetchone()
        return records.record(row) if row else None

    @translated
    def video_details(self, video_id: int) -> dict | None:
        row = self.conn.execute(
            "SELECT path, duration, fps, width, height, indexed_at, recorded_at FROM videos "
            "WHERE id = ?",
            (video_id,),
        ).fetchone()
        if not row:
            return None
        keys = ("path", "duration", "fps", "width", "height", "indexed_at", "recorded_at")
        return dict(zip(keys, (records.path_from_db(row[0]), *row[1:])))

    @translated
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
        recorded_at: float | None = None,
    ) -> int:
        """Replace everything stored for `path` in one transaction: all of it lands or none.

        `recorded_at` (Unix seconds) is when the video was recorded; None (its tags do not
        say) stores the file's modification time, as the migration did for older rows."""
        if len(frame_times) != len(frame_vectors) or len(clip_spans) != len(clip_vectors):
            raise ValueError("times/spans and vectors differ in length")
        frame_vectors = vec.stored(frame_vectors, "frame")
        clip_vectors = vec.stored(clip_vectors, "clip")
        with self._writing():
            self._delete_paths([path])
            self.conn.execute(
                "INSERT INTO videos(path, size, mtime_ns, content_hash, duration, fps, width, "
                "height, decode_strategy, status, error, indexed_at, recorded_at, recorded_from) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', NULL, ?, ?, ?)",
                (
                    records.db_path(path), size, mtime_ns, content_hash, meta.duration, meta.fps,
                    meta.width, meta.height, meta.decode_strategy, time.time(),
                    mtime_ns / 1e9 if recorded_at is None else float(recorded_at),
                    "mtime" if recorded_at is None else "tags",
                ),
            )
            video_id = self.conn.last_insert_rowid()
            frame_ids = []
            for t, vector in zip(frame_times, frame_vectors):
                if vector.shape[0] != self.vector_dim:
                    raise ValueError(f"frame vector of size {vector.shape[0]}, the library "
                                     f"holds {self.vector_dim}")
                self.conn.execute("INSERT INTO frames(video_id, t, vector) VALUES (?, ?, ?)",
                                  (video_id, float(t), vector.tobytes()))
                frame_ids.append(self.conn.last_insert_rowid())
            if frame_ids:
                self.conn.execute(
                    "INSERT INTO frame_bits(video_id, frame_ids, bits) VALUES (?, ?, ?)",
                    (video_id, np.array(frame_ids, dtype=np.int64).tobytes(),
                     vec.bits_blob(frame_vectors)),
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
                     vec.bits_blob(clip_vectors)),
                )
        return video_id

    @translated
    def record_failure(
        self, path: str, *, size: int, mtime_ns: int, error: str, content_hash: str | None = None
    ) -> None:
        """Mark a file as failed with its reason; a later run retries it only if it changes."""
        with self._writing():
            self._delete_paths([path])
            self.conn.execute(
                "INSERT INTO videos(path, size, mtime_ns, content_hash, status, error, indexed_at) "
                "VALUES (?, ?, ?, ?, 'error', ?, ?)",
                (records.db_path(path), size, mtime_ns, content_hash, error, time.time()),
            )

    @translated
    def remove_videos(self, paths: Iterable[str]) -> int:
        paths = list(paths)
        if not paths:
            return 0
        with self._writing():
            return self._delete_paths(paths)

    @translated
    def move_video(self, old_path: str, new_path: str, *, mtime_ns: int | None = None) -> bool:
        """Point a stored video at its new path, keeping its vectors. False if `old_path` is unknown."""
        with self._writing():
            if self.get_video(old_path) is None:
                return False
            self._delete_paths([new_path])
            self.conn.execute(
                "UPDATE videos SET path = ?, mtime_ns = coalesce(?, mtime_ns) WHERE path = ?",
                (records.db_path(new_path), mtime_ns, records.db_path(old_path)),
            )
        return True

    @translated
    def refresh_mtime(self, path: str, mtime_ns: int) -> None:
        """A file touched but not changed: its vectors stay, its new mtime is what "unchanged"
        compares against next time."""
        with self._writing():
            self.conn.execute("UPDATE videos SET mtime_ns = ? WHERE path = ?",
                              (mtime_ns, records.db_path(path)))

    @translated
    def move_folder(self, old: str, new: str) -> list[tuple[str, str]]:
        """Every stored video under folder `old` follows it to `new`, keeping its vectors, in
        one transaction: the folder moves as a whole or not at all. Returns the moves made."""
        moves = [(path, scan.rebase(path, old, new))
                 for path in sorted(self.videos_under([Path(old)]))]
        with self._writing():
            for old_path, new_path in moves:
                self.move_video(old_path, new_path)
        return moves

    def _delete_paths(self, paths: list[str]) -> int:
        removed = 0
        for path in paths:
            row = self.conn.execute("SELECT id FROM videos WHERE path = ?",
                                    (records.db_path(path),)).fetchone()
            if not row:
                continue
            video_id = row[0]
            self.conn.execute("DELETE FROM frame_bits WHERE video_id = ?", (video_id,))
            self.conn.execute("DELETE FROM frames WHERE video_id = ?", (video_id,))
            self.conn.execute("DELETE FROM clips WHERE video_id = ?", (video_id,))
            self.conn.execute("DELETE FROM clip_bits WHERE video_id = ?", (video_id,))
            self.conn.execute("DELETE FROM videos WHERE id = ?", (video_id,))
            removed += 1
        return removed

    @translated
    def stats(self) -> LibraryStats:
        videos, hours, last = self.conn.execute(
            "SELECT count(*), coalesce(sum(duration), 0) / 3600.0, max(indexed_at) "
            "FROM videos WHERE status = 'ok'"
        ).fetchone()
        failures = [
            (records.path_from_db(r[0]), r[1] or "")
            for r in self.conn.execute(
                "SELECT path, error FROM videos WHERE status = 'error' ORDER BY path"
            )
        ]
        clips = self.conn.execute("SELECT count(*) FROM clips").fetchone()[0]
        frames = self.conn.execute("SELECT count(*) FROM frames").fetchone()[0]
        earliest, latest = self.conn.execute(
            "SELECT min(recorded_at), max(recorded_at) FROM videos WHERE status = 'ok'"
        ).fetchone()
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
            recorded=(earliest, latest) if earliest is not None else None,
        )

    @translated
    def list_videos(self) -> list[VideoListing]:
        """Every indexed video, in order of recording (then path)."""
        return [VideoListing(records.path_from_db(path), duration or 0.0, recorded_at)
                for path, duration, recorded_at in self.conn.execute(
                    "SELECT path, duration, recorded_at FROM videos WHERE status = 'ok' "
                    "ORDER BY recorded_at, path")]

    @translated
    def check_integrity(self) -> list[str]:
        """Problems found: SQLite's own check plus the invariants vidsearch relies on."""
        return integrity.problems(self.conn)


def open_store(path: Path, *, create: bool = True) -> Store:
    """Open (and create or migrate) the library at `path`.

    A file that is not a vidsearch database is never overwritten: the error names it instead.
    `create=True` is the writers' call (index, watch); they are refused on a network file
    system. Readers there get a read-only snapshot, and only of a library nobody is writing.
    """
    apsw, sqlite_vec = _load_apsw()
    path = Path(path)
    if not path.exists() and not create:
        raise advised(CannotRunError(f"{path}: no library here yet",
                                     "run `vidsearch index FOLDER` first, or use another library"),
                      "db")
    network = network_filesystem(path)
    if network and create:
        raise advised(CannotRunError(
            f"{path}: the library is on a network file system ({network}), where SQLite's "
            "write-ahead log cannot be shared safely and the library would be corrupted",
            "keep the library on a local disk (the videos may stay on the share): use a library "
            "path on this machine",
        ), "db")
    with translating(path, opening=True):
        if network:
            return _open_snapshot(apsw, sqlite_vec, path, network)
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = apsw.SQLITE_OPEN_READWRITE | (apsw.SQLITE_OPEN_CREATE if create else 0)
        conn = apsw.Connection(str(path), flags=flags)
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        # Takes effect only while the file holds nothing yet, i.e. for a new library.
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        _load_vec(conn, sqlite_vec)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn, path)
    return Store(conn, path)


def _open_snapshot(apsw, sqlite_vec, path: Path, network: str) -> Store:
    """A read-only view that takes no locks and skips the shared-memory WAL index
    (`immutable=1`): safe only while nobody writes, which an empty write-ahead log shows (the
    last writer to close checkpoints and removes it)."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise CannotRunError(
            f"{path}: the library is on a network file system ({network}) and is being "
            "written (its write-ahead log is not empty)",
            "read it on the machine whose disk holds it, or after its writer has finished",
        )
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?immutable=1"
    conn = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    _load_vec(conn, sqlite_vec)
    if not is_current(conn, path):
        conn.close()
        raise CannotRunError(
            f"{path}: the library on a network file system ({network}) is of another "
            "vidsearch version, and cannot be upgraded over the network",
            "run the same vidsearch version on the machine whose disk holds it",
        )
    return Store(conn, path)


def _load_vec(conn, sqlite_vec) -> None:
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.enable_load_extension(False)
