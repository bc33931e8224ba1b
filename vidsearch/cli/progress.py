"""Progress for long work: a rich bar on a terminal, plain log lines otherwise, none with -q."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from vidsearch.display import count

# Its own logger: progress is the output of a long run, shown without -v (common.configure_logging).
log = logging.getLogger("vidsearch.progress")


def make_progress(*, quiet: bool):
    """What `index` and `watch` show while indexing: nothing with -q (scripts), a live bar on a
    terminal, a log line every few seconds when stderr is a file or a pipe."""
    from vidsearch.index_progress import SilentProgress

    if quiet:
        return SilentProgress()
    return RichProgress() if sys.stderr.isatty() else LogProgress()


def clock_time(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class LogProgress:
    """A log line of video-seconds done, rate and time left, at most one every `every` seconds
    (a log is read later: a line per frame would bury everything else), and one at the end."""

    def __init__(self, *, every: float = 5.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.every = every
        self.clock = clock
        self.spoke = False  # whether a progress line came since `start`
        self.said_the_end = False  # the indexer may report the last second more than once
        self.total = 0.0
        self.started = self.last_line = clock()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def start(self, videos: int, seconds: float) -> None:
        self.total = seconds
        self.started = self.last_line = self.clock()
        self.spoke = self.said_the_end = False
        if videos:
            self.announce(videos, seconds)

    def announce(self, videos: int, seconds: float) -> None:
        log.info("indexing %s (%s of video)", count(videos, "video"), clock_time(seconds))

    def advanced(self, seconds_done: float) -> None:
        now = self.clock()
        at_end = self.total > 0 and seconds_done >= self.total
        if not at_end and now - self.last_line < self.every:
            return
        if at_end and (self.said_the_end or not self.closes_with_a_line()):
            return
        self.said_the_end = at_end
        self.last_line = now
        self.spoke = True
        log.info("%s", describe(seconds_done, self.total, now - self.started))

    def closes_with_a_line(self) -> bool:
        return True

    def video_finished(self, path: str, ok: bool, reason: str | None = None) -> None:
        pass  # the indexer logs each video itself


# A job `watch` announces: a minute of video or more takes a while to index on a CPU (tens of
# seconds), long enough that a user looking at the log wonders what it is doing meanwhile.
LONG_JOB_SECONDS = 60.0


class JobLog(LogProgress):
    """What `watch` logs after its first pass, where each video it indexes has a line of its
    own already (`indexed NAME`, when it is done): a long job is announced as it starts
    (`indexing NAME (0:05:00 of video)`), and a job that runs past `every` seconds gets
    progress lines; one that ends sooner says nothing more than its `indexed` line.

    `name_job(videos)` says what the job is: the indexer tells progress how many videos and
    how many seconds, not which files, and `watch` knows that from the watcher.
    """

    def __init__(self, name_job: Callable[[int], str], *, every: float = 30.0,
                 long_job: float = LONG_JOB_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(every=every, clock=clock)
        self.name_job = name_job
        self.long_job = long_job

    def announce(self, videos: int, seconds: float) -> None:
        if seconds >= self.long_job:
            log.info("indexing %s (%s of video)", self.name_job(videos), clock_time(seconds))

    def closes_with_a_line(self) -> bool:
        return self.spoke  # a 100% line after no other would only repeat the `indexed` line


def describe(done: float, total: float, elapsed: float) -> str:
    """`0:01:40 / 0:25:00 of video (6%), 3.2x real time, 0:07:50 left`."""
    percent = 100.0 * done / total if total else 100.0
    text = f"{clock_time(done)} / {clock_time(total)} of video ({percent:.0f}%)"
    if done <= 0 or elapsed <= 0:
        return text
    rate = done / elapsed
    return f"{text}, {rate:.1f}x real time, {clock_time((total - done) / rate)} left"


class RichBar:
    """A transient rich bar for one task at a time: description, bar, done/total, one text
    field the subclass fills in (`{task.fields[NAME]}`), then the time left."""

    def __init__(self, field: str, *, elapsed: bool = False, counts: bool = True,
                 console=None) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        columns = [TextColumn("[progress.description]{task.description}"), BarColumn(),
                   *([MofNCompleteColumn()] if counts else []),
                   TextColumn(f"{{task.fields[{field}]}}")]
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
    """Video-seconds done of the total, how many times real time, time left, on one line."""

    def __init__(self) -> None:
        super().__init__("rate", counts=False)
        self.started = time.monotonic()
        self.total = 0.0

    def start(self, videos: int, seconds: float) -> None:
        self.started = time.monotonic()
        self.total = seconds
        if not videos:
            return  # nothing to index: no bar at 0:00:00 / 0:00:00
        self.task = self.bar.add_task("indexing", total=max(seconds, 1e-9),
                                      rate=f"0:00:00 / {clock_time(seconds)}")

    def advanced(self, seconds_done: float) -> None:
        if self.task is None:
            return
        elapsed = time.monotonic() - self.started
        rate = f"{clock_time(seconds_done)} / {clock_time(self.total)}"
        if seconds_done > 0 and elapsed > 0:
            rate += f" of video, {seconds_done / elapsed:.1f}x"
        self.bar.update(self.task, completed=seconds_done, rate=rate)

    def video_finished(self, path: str, ok: bool, reason: str | None = None) -> None:
        pass


class WorkerLog:
    """With --cluster: a progress line per finished video saying which worker did it and how
    fast it goes (video-seconds per busy second), so a user sees which machine does what."""

    def assigned(self, worker, path: str) -> None:
        pass

    def finished(self, worker, path: str, ok: bool) -> None:
        from vidsearch.display import printable

        log.info("worker %s (pid %d): %d video%s, %.2f video-s/s", printable(worker.node),
                 worker.pid, worker.videos, "" if worker.videos == 1 else "s", worker.rate)
