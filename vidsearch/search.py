"""Queries -> ranked hits: k-NN over clip vectors, merge overlapping windows, find the best moment.

The CLI and the TUI both call this module; neither keeps search logic of its own.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidsearch.errors import CannotRunError, UsageError, advised
from vidsearch.store import Store
from vidsearch.windows import Span, merge_overlapping

if TYPE_CHECKING:
    from vidsearch.model.protocols import IdentifiedModel, QueryModel, TextEncoder

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 10_000
# Overlapping windows collapse into one hit, so ask the vector index for more windows than hits.
CANDIDATES_PER_HIT = 6


@dataclass(frozen=True)
class Hit:
    path: str
    video_id: int
    start: float
    end: float
    best_moment: float
    score: float

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("video_id")
        return data


def check_compatible(store: Store, model: IdentifiedModel) -> None:
    """Refuse to compare a query with vectors another model made."""
    stored = store.model_fingerprint
    if stored is None or not store.has_videos():
        raise CannotRunError(
            f"{store.path}: the library is empty",
            "index some videos first: vidsearch index ~/Videos",
        )
    if stored != model.fingerprint:
        indexed_with = store.get_meta("model_name") or "another model"
        raise advised(CannotRunError(
            f"{store.path}: the library was indexed with model '{indexed_with}', "
            f"not '{model.card.name}'",
            f"run `vidsearch index FOLDER` to re-embed it with '{model.card.name}', "
            f"or search with model '{indexed_with}'",
        ), "model")


def load_text_only_model(name: str | None = None, *, device: str = "auto",
                         weights: Path | str | None = None, offline: bool | None = None
                         ) -> TextEncoder | None:
    """The model's text tower alone, for plain text queries: a new process answers in a couple
    of seconds instead of waiting for open_clip and a vision tower. None where the full model
    must serve (asked for CUDA, or a text tower the fast path does not reproduce): callers
    then load it themselves, so that a caller that also needs it for images loads it once."""
    if device == "cuda":
        return None
    from vidsearch.model.text_query import load_text_query_model

    return load_text_query_model(name, weights=weights, offline=offline)


def search_text(store: Store, model: TextEncoder | QueryModel, query: str, k: int = 10, rerank: int = 0) -> list[Hit]:
    query = query.strip()
    if not query:
        raise UsageError("the query is empty", 'say what to look for, e.g. vidsearch find "a dog"')
    if len(query) > MAX_QUERY_CHARS:
        raise UsageError(f"the query is {len(query)} characters long",
                         f"keep it under {MAX_QUERY_CHARS}; only the first words count anyway")
    if k <= 0:
        raise UsageError("the number of hits must be at least 1")
    check_compatible(store, model)
    query_vector = model.embed_texts([query])[0]
    hits = _hits_from_clips(store, query_vector, max(k, rerank))
    if rerank:
        hits = _rerank(store, model, query, hits[:rerank]) + hits[rerank:]
    return hits[:k]


def search_image(store: Store, model: QueryModel, image: np.ndarray, k: int = 10) -> list[Hit]:
    """Frames most like the image first, then the clip around each frame."""
    if k <= 0:
        raise UsageError("the number of hits must be at least 1")
    check_compatible(store, model)
    query_vector = _normalise(model.embed_image(image))
    hits: list[Hit] = []
    for match in store.nearest_frames(query_vector, k * CANDIDATES_PER_HIT):
        if any(h.video_id == match.video_id and h.start <= match.t <= h.end for h in hits):
            continue
        start, end = _window_around(store, match.video_id, match.t)
        hits.append(Hit(match.path, match.video_id, start, end, match.t, match.score))
        if len(hits) == k:
            break
    return hits


def _hits_from_clips(store: Store, query_vector: np.ndarray, k: int) -> list[Hit]:
    matches = store.nearest_clips(query_vector, k * CANDIDATES_PER_HIT)
    paths = {m.video_id: m.path for m in matches}
    spans = merge_overlapping([Span(m.video_id, m.start, m.end, m.score) for m in matches])
    hits = []
    for span in spans[:k]:
        best = _best_moment(store, span, query_vector)
        hits.append(Hit(paths[span.video_id], span.video_id, span.start, span.end, best,
                        span.score))
    return hits


def _best_moment(store: Store, span: Span, query_vector: np.ndarray) -> float:
    times, vectors = store.frame_vectors(span.video_id, span.start, span.end)
    if len(times) == 0:
        return span.start
    similarities = _normalise(vectors) @ _normalise(query_vector)
    return float(times[int(np.argmax(similarities))])


def _window_around(store: Store, video_id: int, t: float) -> tuple[float, float]:
    """The stored clip window that best centres on `t`."""
    clips = store.clips_of_video(video_id)
    containing = [(s, e) for _id, s, e in clips if s <= t <= e] or [(s, e) for _id, s, e in clips]
    if not containing:
        return t, t
    return min(containing, key=lambda span: abs((span[0] + span[1]) / 2 - t))


def _rerank(store: Store, model: QueryModel, query: str, hits: list[Hit]) -> list[Hit]:
    """Re-score a shortlist with a cross-encoder (tight) header, from the stored frame vectors."""
    if not hits:
        return hits
    if not model.can_rerank:
        raise UsageError(
            f"model '{model.card.name}' has no re-ranking header",
            "re-ranking needs a tightTransf model card; search without it or pick such a model",
        )
    windows = [store.frame_vectors(h.video_id, h.start, h.end)[1] for h in hits]
    scores = model.rerank(query, windows)
    rescored = [
        Hit(h.path, h.video_id, h.start, h.end, h.best_moment, float(s))
        for h, s in zip(hits, scores)
    ]
    return sorted(rescored, key=lambda h: -h.score)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
