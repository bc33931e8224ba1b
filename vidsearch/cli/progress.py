"""Progress for long work: a rich bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("vidsearch")


class LogProgress:
    """One log line per finished video, with the running rate."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.frames = 0
        self.started = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def start(self, videos: int, seconds: float) -> None:
        self.total = videos
        self.started = time.monotonic()
        if videos:
            log.info("indexing %d videos", videos)

    def frames_encoded(self, count: int, seconds: float) -> None:
        self.frames += count

    def video_finished(self, path: str, ok: bool, reason: str | None = None) -> None:
        self.done += 1
        rate = self.frames / max(time.monotonic() - self.started, 1e-9)
        log.info("[%d/%d] %s %s (%.1f frames/s)", self.done, self.total,
                 "ok" if ok else "failed", path, rate)


class RichBar:
    """A transient rich bar for one task at a time: description, bar, done/total, one text
    field the subclass fills in (`{task.fields[NAME]}`), then the time left."""

    def __init__(self, field: str, *, elapsed: bool = False, console=None) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        columns = [TextColumn("[progress.description]{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TextColumn(f"{{task.fields[{field}]}}")]
        if elapsed:
            columns.append(TimeElapsedColumn())
        columns.append(TimeRemainingColumn())
        self.bar = Progress(*columns, console=console, transient=True)
        self.task = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


class RichProgress(RichBar):
    """Videos done, frames/s and ETA on one live line."""

    def __init__(self) -> None:
        super().__init__("rate")
        self.frames = 0
        self.started = time.monotonic()

    def start(self, videos: int, seconds: float) -> None:
        self.started = time.monotonic()
        self.task = self.bar.add_task("indexing", total=videos, rate="")

    def frames_encoded(self, count: int, seconds: float) -> None:
        self.frames += count
        rate = self.frames / max(time.monotonic() - self.started, 1e-9)
        if self.task is not None:
            self.bar.update(self.task, rate=f"{rate:.1f} frames/s")

    def video_finished(self, path: str, ok: bool, reason: str | None = None) -> None:
        if self.task is not None:
            self.bar.advance(self.task)
