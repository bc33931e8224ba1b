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
        # From the step number, not by adding strides: repeated addition drifts. Rounded so
        # that one window's end and the next one's start are the same number when the stride
        # equals the window (90 * 1.1 is 99.00000000000001, 98.9 + 1.1 is 99.0: the frame at
        # 99 s fell between them).
        start = round(step * stride, 9)
        last = start + window >= duration - 1e-9
        end = duration if last else round(start + window, 9)
        upper = times <= end if last else times < end
        indices = np.flatnonzero((times >= start) & upper)
        if indices.size:
            windows.append(Window(start, end, indices))
        if last:
            return windows
        step += 1


@dataclass
class Span:
    """A stretch of one video with a score: a clip window, or a hit made of several."""

    video_id: int
    start: float
    end: float
    score: float


def merge_overlapping(spans: list[Span]) -> list[Span]:
    """Merge overlapping windows of one video into hits, best first.

    Greedy by score: the best window starts a hit and absorbs the windows that overlap it. A
    window that only overlaps the absorbed ones is covered by a better hit and adds nothing.
    Merging whole chains of overlapping windows instead would turn a video where every window
    matches a little into one hit as long as the video, which tells the user nothing.
    """
    hits: list[tuple[Span, Span]] = []  # (the best window, the hit grown around it)
    for span in sorted(spans, key=lambda s: -s.score):
        same_video = [(core, hit) for core, hit in hits if core.video_id == span.video_id]
        core_match = next((hit for core, hit in same_video if _overlap(core, span)), None)
        if core_match is not None:
            grown = Span(span.video_id, min(core_match.start, span.start),
                         max(core_match.end, span.end), core_match.score)
            if not any(_overlap(hit, grown) for _core, hit in same_video if hit is not core_match):
                core_match.start, core_match.end = grown.start, grown.end
        elif not any(_overlap(hit, span) for _core, hit in same_video):
            hits.append((span, Span(span.video_id, span.start, span.end, span.score)))
    return [hit for _core, hit in hits]


def _overlap(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end
