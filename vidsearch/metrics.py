"""Retrieval metrics from a similarity matrix: R@1, R@5, R@10, median and mean rank.

numpy only. The paper's setting (MSR-VTT 1k-A) has one caption per clip, so the ground truth is
the diagonal; a user's labels.csv may give one clip several captions and one caption several
clips. Both are covered by a boolean `relevant` matrix (queries x candidates): a query's rank is
the 1-based position of its best-scoring relevant candidate, which is the diagonal's rank when
`relevant` is the identity.

Ties count against the query (pessimistic): a model whose scores are all equal gets the worst
rank, never a perfect one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

RECALL_AT = (1, 5, 10)


@dataclass(frozen=True)
class RetrievalMetrics:
    """Recalls are fractions (0..1); ranks are 1-based (1 is best)."""

    r1: float
    r5: float
    r10: float
    median_rank: float
    mean_rank: float
    queries: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class BothWays:
    """Text-to-video (captions rank clips) and video-to-text (clips rank captions)."""

    t2v: RetrievalMetrics
    v2t: RetrievalMetrics

    def to_dict(self) -> dict[str, dict[str, float | int]]:
        return {"t2v": self.t2v.to_dict(), "v2t": self.v2t.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, float | int]]) -> BothWays:
        return cls(t2v=RetrievalMetrics(**data["t2v"]), v2t=RetrievalMetrics(**data["v2t"]))


def compute_ranks(similarity: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based rank of each query's best relevant candidate; queries are rows.

    rank = 1 + the number of irrelevant candidates scoring at least as high as the best
    relevant one. Every query needs at least one relevant candidate.
    """
    scores = _as_matrix(similarity, "similarity", np.float64)
    relevant = _as_matrix(relevant, "relevant", bool)
    if scores.shape != relevant.shape:
        raise ValueError(f"similarity {scores.shape} and relevant {relevant.shape} differ in shape")
    if not np.isfinite(scores).all():
        raise ValueError("similarity holds NaN or infinite values")
    if not relevant.any(axis=1).all():
        raise ValueError("every query needs at least one relevant candidate")
    best = np.where(relevant, scores, -np.inf).max(axis=1, keepdims=True)
    beaten_by = (scores >= best) & ~relevant
    return 1 + beaten_by.sum(axis=1)


def summarise_ranks(ranks: np.ndarray) -> RetrievalMetrics:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.ndim != 1 or ranks.size == 0:
        raise ValueError("need a non-empty 1-d array of ranks")
    r1, r5, r10 = (float(np.mean(ranks <= k)) for k in RECALL_AT)
    return RetrievalMetrics(r1=r1, r5=r5, r10=r10, median_rank=float(np.median(ranks)),
                            mean_rank=float(np.mean(ranks)), queries=int(ranks.size))


def retrieval_metrics(similarity: np.ndarray, relevant: np.ndarray | None = None) -> BothWays:
    """Both directions from one captions x clips similarity matrix.

    `relevant[i, j]` says caption i describes clip j; None means the identity (one caption per
    clip, in the same order, the paper's setting). Video-to-text asks only of the clips some
    caption describes.
    """
    scores = _as_matrix(similarity, "similarity", np.float64)
    if relevant is None:
        if scores.shape[0] != scores.shape[1]:
            raise ValueError("without `relevant` the similarity matrix must be square")
        relevant = np.eye(scores.shape[0], dtype=bool)
    relevant = _as_matrix(relevant, "relevant", bool)
    t2v = summarise_ranks(compute_ranks(scores, relevant))
    # A clip no caption describes (one marked only as a wrong answer) is a distractor: captions
    # rank it, but it asks no question of its own.
    described = relevant.any(axis=0)
    v2t = summarise_ranks(compute_ranks(scores.T[described], relevant.T[described]))
    return BothWays(t2v=t2v, v2t=v2t)


def build_relevance(caption_of_pair: np.ndarray, clip_of_pair: np.ndarray,
                    captions: int, clips: int) -> np.ndarray:
    """captions x clips boolean matrix from (caption index, clip index) pairs."""
    relevant = np.zeros((captions, clips), dtype=bool)
    rows = np.asarray(caption_of_pair, dtype=np.int64)
    relevant[rows, np.asarray(clip_of_pair, dtype=np.int64)] = True
    return relevant


def _as_matrix(value: np.ndarray, name: str, dtype: type) -> np.ndarray:
    array = np.asarray(value, dtype=dtype)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must be a non-empty 2-d matrix, got shape {array.shape}")
    return array
