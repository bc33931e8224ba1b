"""What searches read from the library: nearest clips and frames (sign-bit shortlist, exact
re-score), a hit's frames in one range read, stored clip vectors, and the allow-lists filters
make. A part of `Store` (its base class), kept apart because it only reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from vidsearch import scan
from vidsearch.store import records
from vidsearch.store import vectors as vec
from vidsearch.store.errors import translated
from vidsearch.store.records import ClipMatch, FrameMatch


class Searching:
    """The `Store`'s reads for queries. Needs what `Store` has: `conn`, `_state()`, the two
    `BitIndex` caches, `vector_dim` and `_has_vector_tables()`."""

    @translated
    def video_ids_matching(self, folders: Iterable[str] = (), after: float | None = None,
                           before: float | None = None) -> np.ndarray:
        """Sorted ids of the indexed videos under any of `folders` (all when none is given)
        recorded at or after `after` and before `before` (Unix seconds; None: no bound): the
        `within` of `nearest_clips` and `nearest_frames`."""
        where, params = ["status = 'ok'"], []
        folder_terms = []
        for folder in folders:
            prefix = os.fsencode(scan.folder_prefix(folder))
            folder_terms.append("path = ? OR substr(CAST(path AS BLOB), 1, ?) = ?")
            params += [records.db_path(folder), len(prefix), prefix]
        if folder_terms:
            where.append("(" + " OR ".join(f"({t})" for t in folder_terms) + ")")
        if after is not None:
            where.append("recorded_at >= ?")
            params.append(float(after))
        if before is not None:
            where.append("recorded_at < ?")
            params.append(float(before))
        rows = self.conn.execute(
            f"SELECT id FROM videos WHERE {' AND '.join(where)} ORDER BY id", params)
        return np.array([r[0] for r in rows], dtype=np.int64)

    @translated
    def indexed_folders(self) -> list[str]:
        """The outermost folders holding indexed videos: what a folder filter can name."""
        folders = sorted({os.path.dirname(records.path_from_db(r[0])) for r in
                          self.conn.execute("SELECT path FROM videos WHERE status = 'ok'")})
        outermost: list[str] = []
        for folder in folders:
            if not scan.is_under_any(folder, outermost):
                outermost.append(folder)
        return outermost

    @translated
    def undated_paths(self) -> set[str]:
        """Indexed videos whose tags were never read for a recording time (`m008`)."""
        return {records.path_from_db(path) for (path,) in self.conn.execute(
            "SELECT path FROM videos WHERE status = 'ok' AND recorded_from IS NULL")}

    @translated
    def set_recording_times(self, times: dict[str, float | None]) -> None:
        """The recording time read from each video's tags, in one transaction; None (the tags
        have none) keeps the file's modification time, and both are remembered as read."""
        with self._writing():
            self.conn.executemany(
                "UPDATE videos SET recorded_at = coalesce(?, mtime_ns / 1e9), recorded_from = ? "
                "WHERE path = ?",
                [(when, "mtime" if when is None else "tags", records.db_path(path))
                 for path, when in times.items()])

    @translated
    def recording_times(self, video_ids: Iterable[int]) -> dict[int, float | None]:
        """When each of these videos was recorded (Unix seconds)."""
        ids = sorted({int(i) for i in video_ids})
        if not ids:
            return {}
        rows = self.conn.execute(
            f"SELECT id, recorded_at FROM videos WHERE id IN ({','.join('?' * len(ids))})", ids)
        return {r[0]: r[1] for r in rows}

    @translated
    def nearest_clips(self, query: np.ndarray, k: int, *, within: np.ndarray | None = None
                      ) -> list[ClipMatch]:
        """The k clips closest to `query` by cosine, best first (score = cosine similarity).

        Shortlist by Hamming distance over sign bits held in memory, then exact cosine on the
        shortlist's float vectors; libraries smaller than the shortlist are searched exactly.
        `within` (sorted video ids, from `video_ids_matching`) keeps only those videos' clips,
        before the shortlist, so a filter never costs hits.
        """
        if not self._has_vector_tables() or k <= 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        shortlist = _shortlist(self._load_bit_index(), query, k, within)
        if shortlist.size == 0:
            return []
        rows = self.conn.execute(
            "SELECT c.id, c.video_id, v.path, c.start, c.end, c.embedding FROM clips c "
            "JOIN videos v ON v.id = c.video_id "
            f"WHERE c.id IN ({','.join('?' * len(shortlist))})",
            [int(i) for i in shortlist],
        ).fetchall()
        scores = vec.cosine(vec.read_vectors([r[5] for r in rows]), query)
        # Ties (the same picture for a whole window) go to the earlier clip, whatever order SQL
        # returned the rows in.
        order = np.lexsort((np.array([r[0] for r in rows]), -scores))[:k]
        return [ClipMatch(rows[i][0], rows[i][1], records.path_from_db(rows[i][2]),
                          *rows[i][3:5], float(scores[i])) for i in order]

    @translated
    def read_clip_bits(self) -> None:
        """Read the clips' sign bits into memory now, so that the next text query does not
        wait for them (the TUI does this while its screen is built)."""
        if self._has_vector_tables():
            self._load_bit_index()

    def _load_bit_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All clip ids, sign bits and video ids, cached until this or another connection
        writes."""
        return self._bits.get(self.conn, self._state(), self.vector_dim or 1)

    @translated
    def nearest_frames(self, query: np.ndarray, k: int, *,
                       within: np.ndarray | None = None) -> list[FrameMatch]:
        """The k frames closest to `query` by cosine, best first, as `nearest_clips` finds
        clips: a Hamming shortlist over the frames' sign bits in memory, then exact cosine on
        the shortlist's stored vectors. `within` (sorted video ids) keeps only those videos'
        frames, before the top k are cut."""
        if not self._has_vector_tables() or k <= 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        index = self._frame_bits.get(self.conn, self._state(), self.vector_dim or 1)
        shortlist = _shortlist(index, query, k, within)
        if shortlist.size == 0:
            return []
        rows = self.conn.execute(
            "SELECT f.id, f.video_id, v.path, f.t, f.vector FROM frames f "
            "JOIN videos v ON v.id = f.video_id "
            f"WHERE f.id IN ({','.join('?' * len(shortlist))})",
            [int(i) for i in shortlist],
        ).fetchall()
        scores = vec.cosine(vec.read_vectors([r[4] for r in rows]), query)
        # Ties (the same picture twice) go to the earlier frame, whatever order SQL returned.
        order = np.lexsort((np.array([r[0] for r in rows]), -scores))[:k]
        return [FrameMatch(rows[i][0], rows[i][1], records.path_from_db(rows[i][2]),
                           rows[i][3], float(scores[i])) for i in order]

    @translated
    def frame_vectors(
        self, video_id: int, start: float | None = None, end: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps and stored (raw) frame vectors of one video, optionally within [start, end]:
        one range read over `frames_video_t`, the rows themselves adjacent (written together).
        The vectors come back as float32, converted from the float16 stored."""
        lo = float("-inf") if start is None else start
        hi = float("inf") if end is None else end
        rows = self.conn.execute(
            "SELECT t, vector FROM frames WHERE video_id = ? AND t >= ? AND t <= ? "
            "AND vector IS NOT NULL ORDER BY t",
            (video_id, lo, hi),
        ).fetchall()
        dim = self.vector_dim or 0
        if not rows:
            return np.zeros(0), np.zeros((0, dim), np.float32)
        times = np.array([r[0] for r in rows], dtype=np.float64)
        return times, vec.read_vectors([r[1] for r in rows])

    @translated
    def clip_vector(self, clip_id: int) -> np.ndarray:
        """One stored clip vector (float32, from the float16 stored)."""
        row = self.conn.execute("SELECT embedding FROM clips WHERE id = ?", (clip_id,)).fetchone()
        if row is None or row[0] is None:
            raise KeyError(clip_id)
        return vec.read_vectors([row[0]])[0]

    @translated
    def clip_around(self, video_id: int, t: float) -> tuple[int, float, float] | None:
        """The stored clip window (id, start, end) of one video that best centres on `t`: of
        the windows holding `t` (of all its windows where none does), the one whose middle is
        nearest, the earlier on a tie; None when the video has no clips. One indexed read
        (`clips_video_span`), not the video's every window."""
        for holding in ("AND start <= :t AND end >= :t", ""):
            row = self.conn.execute(
                f"SELECT id, start, end FROM clips WHERE video_id = :video {holding} "
                "ORDER BY abs((start + end) / 2 - :t), start, id LIMIT 1",
                {"video": video_id, "t": float(t)}).fetchone()
            if row is not None:
                return tuple(row)
        return None

    @translated
    def clips_of_video(self, video_id: int) -> list[tuple[int, float, float]]:
        return [
            tuple(r)
            for r in self.conn.execute(
                "SELECT id, start, end FROM clips WHERE video_id = ? ORDER BY start", (video_id,)
            )
        ]

    # --- reporting --------------------------------------------------------------------------


def _shortlist(index: tuple[np.ndarray, np.ndarray, np.ndarray], query: np.ndarray, k: int,
               within: np.ndarray | None) -> np.ndarray:
    """The row ids worth an exact score, clips and frames alike: the allow-list applied to the
    in-memory (ids, bits, owners) first, so a filter never costs hits, then the Hamming
    shortlist."""
    ids, bits, owners = index
    if within is not None:
        keep = vec.allowed(owners, within)
        ids, bits = ids[keep], bits[:, keep]
    if ids.size == 0:
        return ids
    return vec.shortlist(ids, bits, query, k)
