"""Queries -> ranked hits: k-NN over clip vectors, merge overlapping windows, find the best moment.

The CLI and the TUI both call this module; neither keeps search logic of its own. Queries are
a text, an image, a combination of them (`vidsearch.query`) or a stored clip ("more like
this"); `Filters` narrow any of them to folders, recording dates and a number of hits per
video, before the top-k cut.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidsearch import dates, query as queries, scan, video
from vidsearch.errors import CannotRunError, UsageError, advised
from vidsearch.query import Part
from vidsearch.store import Store
from vidsearch.windows import Span, merge_overlapping

if TYPE_CHECKING:
    from vidsearch.model.protocols import IdentifiedModel, QueryModel, TextEncoder

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 10_000
# Overlapping windows collapse into one hit, so ask the vector index for more windows than hits.
CANDIDATES_PER_HIT = 6
# When filters or a per-video limit leave too few hits, the next try asks for this many times
# more candidates (until the library has no more to give).
CANDIDATES_GROWTH = 4


@dataclass(frozen=True)
class Hit:
    path: str
    video_id: int
    start: float
    end: float
    best_moment: float
    score: float
    recorded_at: float | None = None  # Unix seconds: the video's tags, else its file's mtime

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("video_id")
        data["recorded_at"] = dates.format_time(self.recorded_at)
        return data


@dataclass(frozen=True)
class Filters:
    """Which hits a search may return: only videos under `folders` (absolute paths) recorded
    in [after, before) (Unix seconds), at most `per_video` hits from one video. Applied before
    the top-k cut, so k hits come back whenever the filtered library has k."""

    folders: tuple[str, ...] = ()
    after: float | None = None
    before: float | None = None
    per_video: int | None = None

    @classmethod
    def create(cls, folders: Sequence[str | Path] = (), after: str | None = None,
               before: str | None = None, per_video: int | None = None) -> Filters:
        """From what a user writes: folders as `index` takes them, dates as `dates` reads
        them. UsageError for a bad date or limit."""
        if per_video is not None and per_video < 1:
            raise UsageError(f"a limit of {per_video} hits per video leaves none",
                             "give 1 or more")
        start, end = dates.recorded_range(after, before)
        return cls(tuple(scan.absolute(f) for f in folders), start, end, per_video)

    @property
    def narrows_videos(self) -> bool:
        return bool(self.folders) or self.after is not None or self.before is not None


NO_FILTERS = Filters()


@dataclass(frozen=True)
class Source:
    """The stored clip a "more like this" search starts from."""

    path: str
    video_id: int
    clip_id: int
    start: float
    end: float


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


def search_text(store: Store, model: TextEncoder | QueryModel, query: str, k: int = 10,
                rerank: int = 0, filters: Filters = NO_FILTERS) -> list[Hit]:
    query = _checked_text(query)
    _check_k(k)
    check_compatible(store, model)
    query_vector = model.embed_texts([query])[0]
    hits = _hits_from_clips(store, query_vector, max(k, rerank), filters)
    if rerank:
        hits = _rerank(store, model, query, hits[:rerank]) + hits[rerank:]
    return _dated(store, hits[:k])


def parse_box(text: str) -> list[Part]:
    """The TUI search box's text as query parts (`query.parse_box`; its syntax is in
    `query.BOX_SYNTAX`)."""
    return queries.parse_box(text, is_image=video.is_image_file)


def parse_box_query(text: str) -> tuple[list[Part], Filters]:
    """The TUI search box's text as query parts and the filters written in it (`in:`,
    `after:`, `before:`, `per-video:`; `query.BOX_SYNTAX`), read as `find` reads its flags."""
    rest, found = queries.split_filters(text)
    return parse_box(rest), _filters_of_box(found)


def parse_box_filters(text: str) -> Filters:
    """Only the filters written in the search box's text; the rest of it is not read (an image
    or "more like this" search keeps the filters written beside what it shows)."""
    return _filters_of_box(queries.split_filters(text)[1])


def _filters_of_box(found: queries.BoxFilters) -> Filters:
    folders = [os.path.expanduser(folder) for folder in found.folders]
    return Filters.create(folders, found.after, found.before, found.per_video)


def parts_from(text: str | None, add: Sequence[str] = (), subtract: Sequence[str] = ()
               ) -> list[Part]:
    """A text plus values to add and subtract as query parts: a value naming an existing
    image file is that image."""
    return queries.parts_from(text, add, subtract, is_image=video.is_image_file)


def search_parts(store: Store, model: TextEncoder | QueryModel, parts: Sequence[Part],
                 k: int = 10, filters: Filters = NO_FILTERS) -> list[Hit]:
    """A combined query: texts and images added and subtracted (`query.combine`). One text
    part alone ranks and scores exactly as `search_text` does."""
    _check_k(k)
    queries.check_parts(parts)
    texts = [_checked_text(part.value) for part in parts if not part.is_image]
    check_compatible(store, model)
    query_vector = embed_parts(model, parts, texts)
    return _dated(store, _hits_from_clips(store, query_vector, k, filters))


def embed_parts(model: TextEncoder | QueryModel, parts: Sequence[Part],
                texts: Sequence[str] | None = None) -> np.ndarray:
    """The one query vector of `parts`: texts embedded in one batch, images one by one."""
    texts = list(texts) if texts is not None else [p.value for p in parts if not p.is_image]
    text_vectors = iter(model.embed_texts(texts)) if texts else iter(())
    vectors = []
    for part in parts:
        if part.is_image:
            image = video.load_image(Path(part.value).expanduser())
            vectors.append(np.asarray(model.embed_image(image), dtype=np.float32).reshape(-1))
        else:
            vectors.append(np.asarray(next(text_vectors), dtype=np.float32).reshape(-1))
    return queries.combine(np.stack(vectors), [part.sign for part in parts])


def search_image(store: Store, model: QueryModel, image: np.ndarray, k: int = 10,
                 filters: Filters = NO_FILTERS) -> list[Hit]:
    """Frames most like the image first, then the clip around each frame."""
    _check_k(k)
    check_compatible(store, model)
    query_vector = _normalise(model.embed_image(image))
    within = allowed_videos(store, filters)
    if within is not None and within.size == 0:
        return []
    wanted = k * CANDIDATES_PER_HIT
    while True:
        matches = store.nearest_frames(query_vector, wanted, within=within)
        hits: list[Hit] = []
        for match in matches:
            same_video = [h for h in hits if h.video_id == match.video_id]
            if (any(h.start <= match.t <= h.end for h in same_video)
                    or len(same_video) == filters.per_video):
                continue
            _id, start, end = _clip_around(store, match.video_id, match.t)
            hits.append(Hit(match.path, match.video_id, start, end, match.t, match.score))
            if len(hits) == k:
                return _dated(store, hits)
        if len(matches) < wanted:
            return _dated(store, hits)
        wanted *= CANDIDATES_GROWTH  # hits inside hits, or limits, used up the frames


def search_like(store: Store, source: Source, k: int = 10, filters: Filters = NO_FILTERS
                ) -> list[Hit]:
    """Clips like the stored clip `source` (`like_source`), from stored vectors alone: no
    model, no decoding. The source clip and the windows overlapping it are not hits."""
    _check_k(k)
    if not store.has_videos():
        raise CannotRunError(f"{store.path}: the library is empty",
                             "index some videos first: vidsearch index ~/Videos")
    vector = store.clip_vector(source.clip_id)
    hits = _hits_from_clips(store, vector, k, filters,
                            exclude=Span(source.video_id, source.start, source.end, 0.0))
    return _dated(store, hits)


def like_source(store: Store, path: str, at: float | None = None) -> Source:
    """The stored clip of `path` that centres best on `at` (default: the video's middle)."""
    path = scan.absolute(path)
    record = store.get_video(path)
    if record is None or record.status != "ok":
        why = "not in the library" if record is None else "its indexing failed"
        raise UsageError.about(path, why, f"index it first: vidsearch index {path}")
    duration = (store.video_details(record.id) or {}).get("duration") or 0.0
    if at is None:
        at = duration / 2
    elif not 0 <= at <= duration:
        raise UsageError.about(path, f"{at:g} s is outside the video (0 to {duration:g} s)",
                               "give a time inside it")
    clip_id, start, end = _clip_around(store, record.id, at)
    if clip_id is None:
        raise UsageError.about(path, "no clips are stored for this video",
                               f"index it again: vidsearch index {path}")
    return Source(path, record.id, clip_id, start, end)


def check_folders(store: Store, filters: Filters) -> None:
    """A folder under no indexed video is a mistake to name, not an empty answer."""
    for folder in filters.folders:
        if store.video_ids_matching([folder]).size == 0:
            indexed = store.indexed_folders()
            raise UsageError(
                f"{folder}: no indexed video is under this folder",
                "the library holds videos under " + (", ".join(indexed) or "no folder yet"))


def allowed_videos(store: Store, filters: Filters) -> np.ndarray | None:
    """The sorted ids of the videos `filters` allow (None: every video)."""
    if not filters.narrows_videos:
        return None
    check_folders(store, filters)
    return store.video_ids_matching(filters.folders, filters.after, filters.before)


def _hits_from_clips(store: Store, query_vector: np.ndarray, k: int,
                     filters: Filters = NO_FILTERS, *, exclude: Span | None = None
                     ) -> list[Hit]:
    within = allowed_videos(store, filters)
    if within is not None and within.size == 0:
        return []
    wanted = k * CANDIDATES_PER_HIT
    while True:
        matches = store.nearest_clips(query_vector, wanted, within=within)
        windows = [Span(m.video_id, m.start, m.end, m.score) for m in matches]
        if exclude is not None:
            windows = [w for w in windows if not _overlaps(w, exclude)]
        spans = _limit_per_video(merge_overlapping(windows), filters.per_video)
        if len(spans) >= k or len(matches) < wanted:
            break
        wanted *= CANDIDATES_GROWTH  # merging, exclusions or limits ate the hits asked for
    paths = {m.video_id: m.path for m in matches}
    hits = []
    for span in spans[:k]:
        best = _best_moment(store, span, query_vector)
        hits.append(Hit(paths[span.video_id], span.video_id, span.start, span.end, best,
                        span.score))
    return hits


def _limit_per_video(hits: list, per_video: int | None) -> list:
    """The first `per_video` of each video's hits (hits or spans, best first), in order."""
    if per_video is None:
        return hits
    taken: dict[int, int] = {}
    kept = []
    for hit in hits:
        taken[hit.video_id] = taken.get(hit.video_id, 0) + 1
        if taken[hit.video_id] <= per_video:
            kept.append(hit)
    return kept


def _overlaps(a: Span, b: Span) -> bool:
    return a.video_id == b.video_id and a.start < b.end and b.start < a.end


def _dated(store: Store, hits: list[Hit]) -> list[Hit]:
    """The hits with their videos' recording times."""
    times = store.recording_times(h.video_id for h in hits)
    return [replace(h, recorded_at=times.get(h.video_id)) for h in hits]


def _checked_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise UsageError("the query is empty", 'say what to look for, e.g. vidsearch find "a dog"')
    if len(text) > MAX_QUERY_CHARS:
        raise UsageError(f"the query is {len(text)} characters long",
                         f"keep it under {MAX_QUERY_CHARS}; only the first words count anyway")
    return text


def _check_k(k: int) -> None:
    if k <= 0:
        raise UsageError("the number of hits must be at least 1")


def _best_moment(store: Store, span: Span, query_vector: np.ndarray) -> float:
    times, vectors = store.frame_vectors(span.video_id, span.start, span.end)
    if len(times) == 0:
        return span.start
    similarities = _normalise(vectors) @ _normalise(query_vector)
    return float(times[int(np.argmax(similarities))])


def _clip_around(store: Store, video_id: int, t: float) -> tuple[int | None, float, float]:
    """The stored clip window (id, start, end) that best centres on `t`; no id when the video
    has no clips."""
    return store.clip_around(video_id, t) or (None, t, t)


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
    rescored = [replace(h, score=float(s)) for h, s in zip(hits, scores)]
    return sorted(rescored, key=lambda h: -h.score)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
