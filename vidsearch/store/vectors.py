"""Vector search arithmetic: sign bits, the Hamming shortlist, allow-lists and the exact re-score.

Everything here is numpy on arrays the library hands over; no SQL but the one read of the bits.
Clips and frames are searched the same way, each with its own `BitIndex`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

# How many rows the bit shortlist hands to the exact float re-score (per requested row, and
# at least). Published CLIP4Clip figures: binary codes + float re-rank of the top 100 keep R@1.
SHORTLIST_PER_CLIP = 4
SHORTLIST_MIN = 200
# Stored vectors, frames' and clips', are half precision. A best moment, an image ranking and
# a text ranking come out the same as from float32 (tests/integration/test_frames_float16.py,
# test_clips_float16.py): rounding moves a cosine by 1e-5 typically, 2^-11 at worst, far below
# what separates hits. In float32, clip rows alone cost 466 of a library's 1,680 bytes per
# video-second (bench/search.py); the store's target is 1.5 KB.
VECTOR_DTYPE = np.float16
# Rows per step of the Hamming scan: its temporaries (512 KB of XOR for one word of 64k rows)
# stay in cache instead of costing a copy of the whole bit matrix (320 MB at 5M frames).
_HAMMING_CHUNK = 1 << 16
# Past this many rows (an image query over a large library's frames) the scan is split across
# cores: numpy releases the GIL. Below it a thread hand-off costs more than it saves.
_PARALLEL_ROWS = 1 << 19
_SCAN_THREADS = min(4, os.cpu_count() or 1)


def pack_sign_bits(vectors: np.ndarray) -> np.ndarray:
    """Sign bits of each row, padded to whole 64-bit words: [N, words] uint64."""
    vectors = np.atleast_2d(vectors)
    words = -(-vectors.shape[1] // 64)
    bits = np.zeros((vectors.shape[0], words * 64), dtype=bool)
    bits[:, : vectors.shape[1]] = vectors > 0
    return np.packbits(bits, axis=1).view(np.uint64)


def bits_blob(vectors: np.ndarray) -> bytes:
    """One video's sign bits as stored: word-major, [words, rows], so that loading them into
    the in-memory index is one contiguous copy per word (`BitIndex`)."""
    return np.ascontiguousarray(pack_sign_bits(vectors).T).tobytes()


def word_major(blob: bytes, rows: int) -> bytes:
    """A row-major bits blob ([rows, words], as libraries before m009 hold them) word-major."""
    bits = np.frombuffer(blob, dtype=np.uint64)
    return np.ascontiguousarray(bits.reshape(rows, -1).T).tobytes() if rows else blob


class BitIndex:
    """Every row id of one bits table (`clip_bits`, `frame_bits`), its video's id and its sign
    bits, read once for each state of the library.

    The bits are held word-major, [words, rows], in memory as in each video's blob: the scan
    then XORs and counts one contiguous word column at a time, 2.3x faster than row-major rows
    of 8 words (5M frames on one AVX2 core: 68 against 159 ms, bench/RESULTS.md), with the same
    distances, and loading them is a copy per word and video.

    The caller names the state (`key`); a different key reads the bits again. Whoever writes
    changes the key, so the cache cannot outlive what it caches.
    """

    def __init__(self, table: str = "clip_bits", ids_column: str = "clip_ids") -> None:
        self._query = f"SELECT video_id, {ids_column}, bits FROM {table}"
        # length() reads no blob: the row count to allocate for, before any bits are read.
        self._count = f"SELECT coalesce(sum(length({ids_column})), 0) FROM {table}"
        self._key: object = None
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def get(self, conn, key: object, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row ids [N], sign bits word-major [words, N], video ids [N]), N clips or frames."""
        if self._index is None or key != self._key:
            self._index = None  # the old index is not held beside the new one
            self._index = self._read(conn, -(-max(dim, 1) // 64))
            self._key = key
        return self._index

    def _read(self, conn, words: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Copied video by video into arrays sized up front, each row's blobs let go as the
        # next is read: holding them all first (360 MB at 5M frames) doubled the memory a
        # cold image query touches, and touching fresh memory was most of its time.
        with conn:  # one read transaction: the count and the rows from the same state
            total = conn.execute(self._count).fetchone()[0] // 8
            ids = np.empty(total, dtype=np.int64)
            owners = np.empty(total, dtype=np.int64)
            bits = np.empty((words, total), dtype=np.uint64)
            start = 0
            for video_id, ids_blob, bits_blob in conn.execute(self._query):
                rows = len(ids_blob) // 8
                stop = start + rows
                ids[start:stop] = np.frombuffer(ids_blob, dtype=np.int64)
                owners[start:stop] = video_id
                bits[:, start:stop] = np.frombuffer(bits_blob, dtype=np.uint64
                                                    ).reshape(words, rows)
                start = stop
        return ids, bits, owners


def hamming(bits: np.ndarray, query_bits: np.ndarray) -> np.ndarray:
    """Hamming distance of each column of `bits` [words, N] (word-major) to `query_bits`
    [words]."""
    return scan(bits, query_bits)[0]


def scan(bits: np.ndarray, query_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`hamming`'s distances, and how many columns lie at each distance. The counts are taken
    chunk by chunk while each chunk's distances are in cache, in the scan's own threads, so
    picking the nearest (`nearest`) needs no second pass over millions of distances (a
    bincount of 5M frames' distances alone is ~9 ms on one AVX2 core)."""
    rows = bits.shape[1]
    distances = np.empty(rows, dtype=np.uint16)
    if rows < _PARALLEL_ROWS or _SCAN_THREADS == 1:
        return distances, _hamming_into(distances, bits, query_bits)
    # Whole chunks per part, so each part's scan is the single-thread one.
    step = -(-rows // (_SCAN_THREADS * _HAMMING_CHUNK)) * _HAMMING_CHUNK
    parts = [slice(start, start + step) for start in range(0, rows, step)]
    counts = _scan_pool().map(lambda part: _hamming_into(distances[part], bits[:, part],
                                                         query_bits), parts)
    return distances, sum(counts)


def _hamming_into(distances: np.ndarray, bits: np.ndarray, query_bits: np.ndarray
                  ) -> np.ndarray:
    """Fills `distances`; returns how many columns lie at each distance (0 to 64 x words)."""
    width = min(_HAMMING_CHUNK, bits.shape[1])
    xor = np.empty(width, dtype=np.uint64)
    counts = np.empty(width, dtype=np.uint8)
    at_distance = np.zeros(64 * bits.shape[0] + 1, dtype=np.int64)
    for start in range(0, bits.shape[1], _HAMMING_CHUNK):
        stop = min(start + _HAMMING_CHUNK, bits.shape[1])
        step_xor, step_counts = xor[:stop - start], counts[:stop - start]
        total = distances[start:stop]
        for word in range(bits.shape[0]):
            np.bitwise_xor(bits[word, start:stop], query_bits[word], out=step_xor)
            np.bitwise_count(step_xor, out=step_counts)
            if word == 0:
                total[:] = step_counts
            else:
                total += step_counts
        at_distance += np.bincount(total, minlength=at_distance.size)
    return at_distance


@cache
def _scan_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_SCAN_THREADS, thread_name_prefix="hamming")


def nearest(distances: np.ndarray, size: int, at_distance: np.ndarray | None = None
            ) -> np.ndarray:
    """Positions of the `size` smallest distances (small integers), ties taken in order: by
    counting, 3x faster than argpartition over millions of rows. `at_distance`, where the
    scan counted them (`scan`), is how many rows lie at each distance."""
    if at_distance is None:
        at_distance = np.bincount(distances)
    reach = int(np.searchsorted(np.cumsum(at_distance), size))
    within_reach = np.flatnonzero(distances <= reach)  # one pass over the millions
    at_reach = distances[within_reach] == reach
    below = within_reach[~at_reach]
    return np.concatenate([below, within_reach[at_reach][:size - below.size]])


def allowed(owners: np.ndarray, within: np.ndarray) -> np.ndarray:
    """A mask of the rows whose video id is in `within` (sorted ids): one binary search per
    row, so a filter costs about what a Hamming pass does, whatever the number of videos."""
    within = np.asarray(within, dtype=np.int64)
    if within.size == 0:
        return np.zeros(owners.shape, dtype=bool)
    places = np.clip(np.searchsorted(within, owners), 0, within.size - 1)
    return within[places] == owners


def shortlist(ids: np.ndarray, bits: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """The row ids worth an exact score for the top `k`: nearest by Hamming distance, or all
    of them when there are fewer than the shortlist holds."""
    size = max(SHORTLIST_MIN, SHORTLIST_PER_CLIP * k)
    if ids.size <= size:
        return ids
    distances, at_distance = scan(bits, pack_sign_bits(query)[0])
    return ids[nearest(distances, size, at_distance)]


def cosine(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
    return (vectors @ query) / np.maximum(norms, 1e-12)


def stored(vectors: np.ndarray, what: str) -> np.ndarray:
    """`vectors` as the library stores them; ValueError where one does not fit (or is not
    finite): a model gone wrong must not leave infinities in the library."""
    vectors = np.ascontiguousarray(vectors, dtype=VECTOR_DTYPE)
    if not np.isfinite(vectors).all():
        raise ValueError(f"a {what} vector does not fit float16 (or is not finite)")
    return vectors


def read_vectors(blobs: list[bytes]) -> np.ndarray:
    """Stored vectors (one blob each) as float32 rows, for arithmetic."""
    return np.frombuffer(b"".join(blobs), dtype=VECTOR_DTYPE).reshape(len(blobs), -1
                                                                       ).astype(np.float32)
