"""Clip windows over a video's sampled frames, and merging overlapping windows back into hits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    frame_indices: np.ndarray  # indices into the video's sampled frames


def plan_windows(
    frame_times: np.ndarray, duration: float, window: float = 10.0, stride: float = 5.0
) -> list[Window]:
    """Overlapping windows `window` seconds long every `stride` seconds, covering the whole video.

    A video shorter than one window is one clip; the last window ends at the video's end, so the
    tail is never dropped. Windows that hold no sampled frame (a gap in a variable-frame-rate
    file) are left out, since there is nothing to embed.
    """
    if window <= 0 or stride <= 0:
        raise ValueError("window and stride must be positive")
    times = np.asarray(frame_times, dtype=np.float64)
    if times.size == 0:
        return []
    duration = max(float(duration), float(times[-1]))
    windows: list[Window] = []
    step = 0
    while True:
        # From the step number, not by adding strides: repeated addition drifts.
        start = step * stride
        last = start + window >= duration - 1e-9
        end = duration if last else start + window
        upper = times <= end if last else times < end
        indices = np.flatnonzero((times >= start) & upper)
        if indices.size:
            windows.append(Window(start, end, indices))
        if last:
            return windows
        step += 1


@dataclass
class Span:
    """A stretch of one video: overlapping windows merged, with the best score among them."""

    video_id: int
    start: float
    end: float
    score: float


def merge_overlapping(spans: list[Span]) -> list[Span]:
    """Merge spans of the same video that overlap or touch; keep the best score. Best first."""
    by_video: dict[int, list[Span]] = {}
    for span in spans:
        by_video.setdefault(span.video_id, []).append(span)
    merged: list[Span] = []
    for video_spans in by_video.values():
        video_spans.sort(key=lambda s: s.start)
        current = Span(video_spans[0].video_id, video_spans[0].start, video_spans[0].end,
                       video_spans[0].score)
        for span in video_spans[1:]:
            if span.start <= current.end:
                current.end = max(current.end, span.end)
                current.score = max(current.score, span.score)
            else:
                merged.append(current)
                current = Span(span.video_id, span.start, span.end, span.score)
        merged.append(current)
    merged.sort(key=lambda s: -s.score)
    return merged
