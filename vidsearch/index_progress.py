"""What the indexer tells whoever shows its progress: video-seconds done of a known total.

Progress counts seconds of video, not videos: one long file is most of a run's work, and a
count of whole videos sits at 0/1 until it ends. The indexer knows each video's duration before
it decodes it (from probing) and reports, after every encoded batch, the video-seconds covered
so far; a finished or failed video counts whole, so a run that ends normally ends at the total.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """The CLI draws it (`cli/progress.py`); tests record it."""

    def start(self, videos: int, seconds: float) -> None:
        """`videos` to index, `seconds` of video in them all (0 for one that cannot be probed)."""

    def advanced(self, seconds_done: float) -> None:
        """Video-seconds done so far, this run: never less than the last call, at most the
        total given to `start`."""

    def video_finished(self, path: str, ok: bool, reason: str | None = None) -> None: ...


class SilentProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def start(self, videos: int, seconds: float) -> None:
        pass

    def advanced(self, seconds_done: float) -> None:
        pass

    def video_finished(self, path: str, ok: bool, reason: str | None = None) -> None:
        pass


class Coverage:
    """The video-seconds each video of a run has had encoded, summed.

    The sum is taken again each time, in one order, rather than kept as a running total: each
    term only grows, so the sum never goes back, and once every video is whole it equals the
    total exactly (a running float total would end a rounding error short of it).
    """

    def __init__(self, durations: list[float], fps: float) -> None:
        self.durations = [max(0.0, duration) for duration in durations]
        self.covered = [0.0] * len(durations)
        self.seconds_per_frame = 1.0 / fps

    @property
    def total(self) -> float:
        return sum(self.durations)

    @property
    def done(self) -> float:
        return sum(self.covered)

    def encoded(self, number: int, frames: int) -> float:
        """Video `number` had `frames` more sampled frames encoded; returns the new sum."""
        self.covered[number] = min(self.durations[number],
                                   self.covered[number] + frames * self.seconds_per_frame)
        return self.done

    def whole(self, number: int) -> float:
        """Video `number` is done with (stored or failed): all of it counts."""
        self.covered[number] = self.durations[number]
        return self.done
