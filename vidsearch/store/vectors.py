"""Clip search arithmetic: sign bits, the Hamming shortlist and the exact cosine re-score.

Everything here is numpy on arrays the library hands over; no SQL but the one read of the bits.
"""

from __future__ import annotations

import numpy as np

# How many clips the bit shortlist hands to the exact float re-score (per requested clip, and
# at least). Published CLIP4Clip figures: binary codes + float re-rank of the top 100 keep R@1.
SHORTLIST_PER_CLIP = 4
SHORTLIST_MIN = 200


def pack_sign_bits(vectors: np.ndarray) -> np.ndarray:
    """Sign bits of each row, padded to whole 64-bit words: [N, words] uint64."""
    vectors = np.atleast_2d(vectors)
    words = -(-vectors.shape[1] // 64)
    bits = np.zeros((vectors.shape[0], words * 64), dtype=bool)
    bits[:, : vectors.shape[1]] = vectors > 0
    return np.packbits(bits, axis=1).view(np.uint64)


class BitIndex:
    """All clip ids, the video each belongs to, and their sign bits, read once for each state
    of the library.

    The caller names the state (`key`); a different key reads the bits again. Whoever writes
    changes the key, so the cache cannot outlive what it caches.
    """

    def __init__(self) -> None:
        self._key: object = None
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def get(self, conn, key: object, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(clip ids, sign bits, video ids), one row per clip."""
        if self._index is None or key != self._key:
            id_parts, bit_parts, owner_parts = [], [], []
            for video_id, ids_blob, bits_blob in conn.execute(
                    "SELECT video_id, clip_ids, bits FROM clip_bits"):
                ids = np.frombuffer(ids_blob, dtype=np.int64)
                id_parts.append(ids)
                bit_parts.append(np.frombuffer(bits_blob, dtype=np.uint64))
                owner_parts.append(np.full(ids.size, video_id, dtype=np.int64))
            words = -(-max(dim, 1) // 64)
            ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
            bits = np.concatenate(bit_parts) if bit_parts else np.zeros(0, np.uint64)
            owners = np.concatenate(owner_parts) if owner_parts else np.zeros(0, np.int64)
            self._index = (ids, bits.reshape(-1, words), owners)
            self._key = key
        return self._index


def allowed(owners: np.ndarray, within: np.ndarray) -> np.ndarray:
    """A mask of the rows whose video id is in `within` (sorted ids): one binary search per
    row, so a filter costs about what a Hamming pass does, whatever the number of videos."""
    if within.size == 0:
        return np.zeros(owners.shape, dtype=bool)
    places = np.clip(np.searchsorted(within, owners), 0, within.size - 1)
    return within[places] == owners


def shortlist(ids: np.ndarray, bits: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """The clip ids worth an exact score for the top `k`: nearest by Hamming distance, or all
    of them when the library is smaller than the shortlist."""
    size = max(SHORTLIST_MIN, SHORTLIST_PER_CLIP * k)
    if ids.size <= size:
        return ids
    distances = np.bitwise_count(bits ^ pack_sign_bits(query)[0]).sum(axis=1)
    return ids[np.argpartition(distances, size)[:size]]


def cosine(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
    return (vectors @ query) / np.maximum(norms, 1e-12)


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).reshape(-1).tobytes()
