"""Frames of labelled spans: decode each span once and keep it in the user cache.

A span's frames are sampled at 1 fps (CLIP4Clip's rate) and thinned uniformly to at most
`max_frames` (12 in the paper). They are stored as one uint8 .npy file per span, keyed by the
video's content fingerprint (so renaming a video keeps its cache) and the span, so later epochs
and later runs read them instead of decoding. Frame vectors of a frozen backbone are cached the
same way, keyed by the model's fingerprint as well. Nothing here unpickles: np.load with
allow_pickle=False.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsearch.config import cache_dir
from vidsearch.errors import DecodeError, UsageError
from vidsearch.scan import content_hash
from vidsearch.train.labels import LabelledClip, Span, format_seconds

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when what a cached file holds changes
SAMPLE_FPS = 1.0  # CLIP4Clip samples one frame per second
_EPS = 1e-6


@dataclass(frozen=True)
class FramePlan:
    """How a span becomes frames: square side `size`, `fps` marks, at most `max_frames`."""

    size: int
    fps: float = SAMPLE_FPS
    max_frames: int = 12

    def targets(self, span: Span) -> list[float] | None:
        """The times whose frames a span keeps; None when the span's end is unknown."""
        if not math.isfinite(span.end):
            return None
        first = math.ceil(span.start * self.fps - _EPS)
        last = math.ceil(span.end * self.fps - _EPS) - 1  # marks strictly before the end
        marks = [k / self.fps for k in range(first, last + 1)]
        if not marks:
            return [span.start]  # a span shorter than one mark still gets a frame
        return [marks[i] for i in thin(len(marks), self.max_frames)]


def thin(count: int, limit: int) -> list[int]:
    """Indices of `limit` items spread uniformly over `count` (all of them if fewer)."""
    if count <= limit:
        return list(range(count))
    return sorted(set(np.linspace(0, count - 1, num=limit).round().astype(int).tolist()))


# --- the caches -------------------------------------------------------------------------


class ArrayCache:
    """One .npy file per key under `root`; unreadable entries count as missing."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def load(self, key: str) -> np.ndarray | None:
        path = self.path(key)
        try:
            return np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            log.warning("ignoring unreadable cache file %s (%s)", path, exc)
            return None

    def save(self, key: str, array: np.ndarray) -> None:
        path = self.path(key)
        staging: Path | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".staging-", suffix=".npy", dir=path.parent)
            staging = Path(name)
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
            os.replace(staging, path)
        except OSError as exc:
            # A cache that cannot be written only costs decoding again next time.
            log.warning("cannot write cache file %s (%s)", path, exc)
            if staging is not None:
                staging.unlink(missing_ok=True)


def frame_cache(root: Path | None = None) -> ArrayCache:
    return ArrayCache(root or cache_dir() / "finetune" / "frames")


def vector_cache(model_fingerprint: str, root: Path | None = None) -> ArrayCache:
    return ArrayCache((root or cache_dir() / "finetune" / "vectors") / model_fingerprint)


def span_key(file_fingerprint: str, span: Span, plan: FramePlan) -> str:
    text = (f"v{CACHE_VERSION}|{file_fingerprint}|{span.start:.3f}|{span.end:.3f}|"
            f"{plan.size}|{plan.fps:g}|{plan.max_frames}")
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def fingerprint_files(videos: Sequence[Path]) -> dict[Path, str]:
    fingerprints = {}
    for video in videos:
        try:
            fingerprints[video] = content_hash(str(video))
        except OSError as exc:
            raise UsageError(f"{video}: cannot read ({exc})", "check the file") from exc
    return fingerprints


# --- decoding -----------------------------------------------------------------------------


@dataclass
class _Collector:
    """Keeps the frames of one span as the video's sampled frames stream past in order."""

    span: Span
    targets: list[float] | None
    frames: list[np.ndarray] = field(default_factory=list)
    before: np.ndarray | None = None  # the last frame before the span, for tiny spans

    def offer(self, t: float, image: np.ndarray) -> None:
        # Copies: the sampler's chunk arrays would otherwise stay alive for one frame each.
        if t + _EPS < self.span.start:
            self.before = image.copy()
            return
        if t >= self.span.end - _EPS:
            return
        if self.targets is None:
            self.frames.append(image.copy())
            return
        taken = False
        while self.targets and self.targets[0] <= t + _EPS:
            self.targets.pop(0)
            taken = True
        if taken:
            self.frames.append(image.copy())

    def finish(self, plan: FramePlan) -> np.ndarray | None:
        frames = self.frames or ([self.before] if self.before is not None else [])
        if not frames:
            return None
        if len(frames) > plan.max_frames:
            frames = [frames[i] for i in thin(len(frames), plan.max_frames)]
        return np.stack(frames)


def decode_video_spans(video: Path, spans: Sequence[Span], plan: FramePlan
                       ) -> list[np.ndarray | None]:
    """Frames [T, size, size, 3] uint8 for each span of one video, decoding it once.

    Decoding stops after the last span ends. None for a span that got no frame at all.
    """
    from vidsearch.video import FrameSampler

    collectors = [_Collector(span, plan.targets(span)) for span in spans]
    stop = max(span.end for span in spans)
    sampler = FrameSampler(video, size=plan.size, fps=plan.fps)
    for chunk in sampler:
        for t, image in zip(chunk.timestamps.tolist(), chunk.frames):
            for collector in collectors:
                collector.offer(t, image)
        if chunk.timestamps[-1] >= stop - _EPS:
            break
    return [collector.finish(plan) for collector in collectors]


@dataclass
class SpanFrames:
    """Decoded (or cached) frames of labelled clips, in the order of `clips`."""

    frames: list[np.ndarray]
    keys: list[str]
    fingerprints: dict[Path, str]
    decoded: int  # spans decoded now (the rest came from the cache)


def load_span_frames(clips: Sequence[LabelledClip], plan: FramePlan, cache: ArrayCache,
                     *, workers: int | None = None,
                     on_video: Callable[[Path], None] | None = None) -> SpanFrames:
    """Frames of every clip: from the cache, else decoded (videos in parallel) and cached.

    Raises UsageError naming every video that failed to decode and the label lines using it.
    """
    videos = list(dict.fromkeys(clip.span.video for clip in clips))
    fingerprints = fingerprint_files(videos)
    keys = [span_key(fingerprints[clip.span.video], clip.span, plan) for clip in clips]
    frames: list[np.ndarray | None] = [_cached_frames(cache, key, plan) for key in keys]
    todo: dict[Path, list[int]] = {}
    for index, clip in enumerate(clips):
        if frames[index] is None:
            todo.setdefault(clip.span.video, []).append(index)
    for video in videos:
        if video not in todo and on_video is not None:
            on_video(video)
    failures: list[str] = []

    def work(video: Path) -> tuple[Path, list[np.ndarray | None] | str]:
        indices = todo[video]
        try:
            return video, decode_video_spans(video, [clips[i].span for i in indices], plan)
        except DecodeError as exc:
            return video, exc.message

    workers = workers or min(len(todo), os.cpu_count() or 1) or 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        for video, result in pool.map(work, list(todo)):
            indices = todo[video]
            if isinstance(result, str):
                failures.append(f"{result} (labels on line {_lines(clips, indices)})")
            else:
                for index, span_frames in zip(indices, result):
                    if span_frames is None:
                        span = clips[index].span
                        failures.append(
                            f"{video}: no frame between {format_seconds(span.start)} and "
                            f"{format_seconds(span.end)} (line {_lines(clips, [index])})")
                        continue
                    frames[index] = span_frames
                    cache.save(keys[index], span_frames)
            if on_video is not None:
                on_video(video)
    if failures:
        raise UsageError("; ".join(failures), "fix or remove those labels and run again")
    decoded = sum(len(indices) for indices in todo.values())
    log.info("%d spans decoded, %d from the cache", decoded, len(clips) - decoded)
    return SpanFrames([f for f in frames if f is not None], keys, fingerprints, decoded)


def _cached_frames(cache: ArrayCache, key: str, plan: FramePlan) -> np.ndarray | None:
    frames = cache.load(key)
    if frames is None:
        return None
    expected = (plan.size, plan.size, 3)
    if (frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != expected
            or not 1 <= len(frames) <= plan.max_frames):
        log.warning("ignoring cache entry %s of shape %s", key, frames.shape)
        return None
    return frames


def _lines(clips: Sequence[LabelledClip], indices: Sequence[int]) -> str:
    lines = sorted({line for i in indices for line in clips[i].lines})
    return ", ".join(str(line) for line in lines)
