"""Keep the library current: filesystem events -> store moves and removals, and indexer calls.

The observer thread (watchdog: inotify on Linux, or polling for network shares) only queues raw
events. One thread, the one running `Watcher`, applies them in order and owns every store
write, so events never race each other or the indexer.

A new or changed file is not indexed when its first event arrives: a copy in progress fires
events for minutes. It waits in `pending` until its size and mtime have stayed the same for
`settle` seconds, measured on an injectable clock, so every burst of events for one file becomes
one job, and tests can drive the timing without sleeping.

Renames and folder moves re-point stored rows (`Store.move_video`, `Store.move_folder`) and
never re-embed; a file moved in from outside is new, one moved out is gone.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from watchdog import events as ev
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from vidsearch import scan as fs
from vidsearch import video
from vidsearch.errors import CannotRunError, advised
from vidsearch.indexer import Indexer, IndexReport, follow_rename
from vidsearch.store import WatchState, clear_watch_state, record_watch_state
from vidsearch.store.watching import IDLE, INDEXING, SYNCING

log = logging.getLogger(__name__)

DEFAULT_SETTLE = 5.0
# How often pending files are looked at: often enough that a settled file waits little past
# its settle time, rarely enough that idle watching costs nothing.
MAX_TICK = 0.5
MIN_TICK = 0.05


@dataclass
class WatchReport:
    """What the watcher did since it started (the initial sync not counted)."""

    indexed: int = 0
    moved: int = 0
    removed: int = 0
    failed: int = 0


@dataclass
class _Pending:
    """A file waiting to stop changing: its last seen state and when it last changed."""

    state: fs.FileState | None
    changed_at: float


class Watcher:
    """Follows `roots` and keeps `indexer.store` in line with them.

    `handle` and `process_settled` are the deterministic core (no threads, time from `clock`);
    `start`, `step` and `run_forever` add the watchdog observer around them.
    """

    def __init__(
        self,
        indexer: Indexer,
        roots: Iterable[Path | str],
        *,
        settle: float = DEFAULT_SETTLE,
        poll: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.indexer = indexer
        self.store = indexer.store
        self._store_path = os.path.abspath(self.store.path)
        self.roots = outermost_folders(roots)
        self.settle = settle
        self.poll = poll
        self.clock = clock
        self.tick = min(MAX_TICK, max(MIN_TICK, settle / 4))
        self.pending: dict[str, _Pending] = {}
        self.report = WatchReport()
        self.ready = threading.Event()  # set once the initial sync is done and events flow
        self.indexing = False  # True while the indexer runs: an interrupt then rolls back a video
        self._events: queue.Queue = queue.Queue()
        self._observer = None
        self._since = time.time()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_observer()
        clear_watch_state(self.store.path)

    # --- the loop ----------------------------------------------------------------------------

    def start(self) -> IndexReport:
        """Watch first, then sync: a file that changes during the sync still gets its event."""
        self.start_observer()
        self._since = time.time()
        self._tell(SYNCING)
        report = self.sync()
        log.info("initial sync: indexed %d, skipped %d unchanged, moved %d, removed %d, "
                 "failed %d in %.1f s", len(report.indexed), report.skipped, len(report.moved),
                 len(report.removed), len(report.failed), report.elapsed)
        self._tell(IDLE)
        self.ready.set()
        log.info("watching %s for changes", ", ".join(str(root) for root in self.roots))
        return report

    def run_forever(self, stop_event: threading.Event) -> WatchReport:
        """Follow events until `stop_event` is set; starts (and syncs) first if not started."""
        try:
            if self._observer is None:
                self.start()
            while not stop_event.is_set():
                self.step(self.tick)
        finally:
            self.stop_observer()
            clear_watch_state(self.store.path)
        return self.report

    def step(self, timeout: float) -> None:
        """Wait up to `timeout` for events, apply all that came, index what has settled."""
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            event = None
        while event is not None:
            self.handle(event)
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                event = None
        self.process_settled()

    def sync(self) -> IndexReport:
        self.indexing = True
        try:
            return self.indexer.sync(self.roots)
        finally:
            self.indexing = False

    def start_observer(self) -> None:
        if self._observer is not None:
            return
        observer = PollingObserver(timeout=self.poll) if self.poll else Observer()
        forwarder = _Forwarder(self.submit)
        for root in self.roots:
            observer.schedule(forwarder, str(root), recursive=True, event_filter=_event_types())
        try:
            observer.start()
        except OSError as exc:
            observer.stop()
            raise advised(CannotRunError(
                f"cannot watch {', '.join(map(str, self.roots))}: {exc.strerror or exc}",
                "raise the limit (sysctl fs.inotify.max_user_watches), or poll the folders "
                "instead of asking for events",
            ), "poll") from exc
        self._observer = observer

    def stop_observer(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=10)

    def submit(self, event: ev.FileSystemEvent) -> None:
        """Queue an event for the watcher's thread (what the observer thread calls)."""
        self._events.put(event)

    # --- events -> actions -------------------------------------------------------------------

    def handle(self, event: ev.FileSystemEvent) -> None:
        """Apply one watchdog event: note changes, follow moves, drop what is gone."""
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        kind = event.event_type
        if event.is_directory:
            if kind == "created":
                self.note_folder_created(src)
            elif kind == "deleted":
                self.note_folder_deleted(src)
            elif kind == "moved":
                self.note_folder_moved(src, dest)
        elif kind in ("created", "modified", "closed", "attrib"):
            self.note_changed(src)
        elif kind == "deleted":
            self.note_deleted(src)
        elif kind == "moved":
            self.note_moved(src, dest)

    def note_changed(self, path: str) -> None:
        """A file was written to: (re)start its settle time."""
        if not self._wanted(path):
            return
        now = self.clock()
        entry = self.pending.get(path)
        if entry is None:
            self.pending[path] = _Pending(fs.stat_file(path), now)
        else:
            entry.changed_at = now

    def note_deleted(self, path: str) -> None:
        self.pending.pop(path, None)
        if self.store.remove_videos([path]):
            self.report.removed += 1
            log.info("removed %s", path)

    def note_moved(self, src: str, dest: str) -> None:
        """A rename within the watched folders keeps the vectors; a rename to a name that is
        not a video (hidden, temp) counts as a deletion."""
        entry = self.pending.pop(src, None)
        if not self._wanted(dest):
            self.note_deleted(src)
            return
        self.pending.pop(dest, None)  # whatever was being written there has been replaced
        moved = self.store.move_video(src, dest)
        if moved:
            self.report.moved += 1
            log.info("moved %s -> %s (vectors kept)", src, dest)
        if entry is not None:
            # Still being written when renamed: keep waiting, under the new name.
            self.pending[dest] = _Pending(entry.state, self.clock())
        elif not moved:
            self.note_changed(dest)

    def note_folder_created(self, path: str) -> None:
        """A new folder, or one moved in from outside: everything in it is new.

        watchdog reports its contents too, but a scan does not depend on how the observer
        simulates them, and duplicates collapse in `pending`.
        """
        if not self._inside_roots(path):
            return
        for state in fs.scan([Path(path)], video.is_video_file):
            self.note_changed(state.path)

    def note_folder_deleted(self, path: str) -> None:
        """A folder deleted or moved out of the watched tree: its videos are gone."""
        for pending_path in [p for p in self.pending if fs.is_under(p, path)]:
            del self.pending[pending_path]
        gone = sorted(self.store.videos_under([Path(path)]))
        if not gone:
            return
        self.store.remove_videos(gone)
        self.report.removed += len(gone)
        for gone_path in gone:
            log.info("removed %s (folder %s is gone)", gone_path, path)

    def note_folder_moved(self, src: str, dest: str) -> None:
        """Every stored video under the old folder follows it, in one transaction."""
        if not self._inside_roots(dest):
            self.note_folder_deleted(src)
            return
        for old in [p for p in self.pending if fs.is_under(p, src)]:
            self.pending[fs.rebase(old, src, dest)] = self.pending.pop(old)
        moves = self.store.move_folder(src, dest)
        if moves:
            self.report.moved += len(moves)
            log.info("moved folder %s -> %s (%d videos, vectors kept)", src, dest, len(moves))
        # Files in it that were never stored (say, it came out of a hidden folder) are new;
        # the stored ones settle as unchanged and are skipped.
        self.note_folder_created(dest)

    # --- settling and indexing ---------------------------------------------------------------

    def process_settled(self) -> IndexReport | None:
        """Index every pending file that has not changed for `settle` seconds."""
        # Busy from the moment files leave `pending` until their counts are in the report, so
        # anyone waiting for idle (status, the TUI, tests) never sees a half-finished job.
        self.indexing = True
        try:
            settled = self._take_settled()
            to_index = [state for state in settled if not self._is_current(state)
                        and not self._follow_rename(state)]
            if not to_index:
                return None
            started = time.monotonic()
            self._tell(INDEXING, to_index)
            try:
                report = self.indexer.index_files(to_index)
                self.report.indexed += len(report.indexed)
                self.report.failed += len(report.failed)
            finally:
                self._tell(IDLE)
        finally:
            self.indexing = False
        log.info("indexed %d, failed %d in %.1f s", len(report.indexed), len(report.failed),
                 time.monotonic() - started)
        return report

    def _take_settled(self) -> list[fs.FileState]:
        now = self.clock()
        settled = []
        for path, entry in list(self.pending.items()):
            state = fs.stat_file(path)
            if state is None:
                # Gone without an event yet (or moved): its own event will say what happened.
                del self.pending[path]
            elif state != entry.state:
                entry.state, entry.changed_at = state, now
            elif now - entry.changed_at >= self.settle:
                del self.pending[path]
                settled.append(state)
        return settled

    def _is_current(self, state: fs.FileState) -> bool:
        """Stored as it is now: an event that did not change the content (touch-free rename,
        a folder move's per-file echo, a file closed without new data, a `touch`)."""
        record = self.store.get_video(state.path)
        return (fs.is_unchanged(record, state)
                or fs.keep_if_touched(self.store, record, state))

    def _follow_rename(self, state: fs.FileState) -> bool:
        """A stored video that vanished and reappears here (e.g. moved between two watched
        folders, seen as a deletion plus a creation) keeps its vectors."""
        if follow_rename(self.store, state) is None:
            return False
        self.report.moved += 1
        return True

    def _tell(self, activity: str, files: list[fs.FileState] = ()) -> None:
        """Say what this watch is doing, for `status` and the TUI (`store.watching`)."""
        state = WatchState(os.getpid(), self._since, activity,
                           files[0].path if files else None, max(0, len(files) - 1))
        try:
            record_watch_state(self.store.path, state)
        except OSError as exc:
            # Only what other processes are told is lost; the watching itself goes on.
            log.debug("cannot record the watch state: %s", exc)

    # --- which paths matter ------------------------------------------------------------------

    def _inside_roots(self, path: str) -> bool:
        """Under a watched folder, with no hidden folder (or name) on the way down."""
        for root in map(str, self.roots):
            if fs.is_under(path, root):
                relative = path[len(fs.folder_prefix(root)):]
                return not any(fs.is_hidden(part) for part in relative.split(os.sep) if part)
        return False

    def _wanted(self, path: str) -> bool:
        # The library's own files (journal, lock) change with every write; if they sit in a
        # watched folder they must not wake the watcher, let alone get probed as videos.
        if path.startswith(self._store_path):
            return False
        return self._inside_roots(path) and video.is_video_file(path)


def outermost_folders(roots: Iterable[Path | str]) -> list[Path]:
    """Absolute folders, without those inside another one (they would report events twice)."""
    folders = sorted({Path(os.path.abspath(root)) for root in roots})
    kept: list[Path] = []
    for folder in folders:
        if not any(folder == outer or outer in folder.parents for outer in kept):
            kept.append(folder)
    return kept


def _event_types() -> list[type[ev.FileSystemEvent]]:
    """The events worth an inotify mask bit: not opens and reads (the indexer's own reads
    would wake the watcher)."""
    return [
        ev.FileCreatedEvent, ev.FileModifiedEvent, ev.FileAttribEvent, ev.FileClosedEvent,
        ev.FileDeletedEvent, ev.FileMovedEvent,
        ev.DirCreatedEvent, ev.DirDeletedEvent, ev.DirMovedEvent,
    ]


class _Forwarder(ev.FileSystemEventHandler):
    """Hands every event to the watcher's queue; nothing else runs on the observer thread."""

    def __init__(self, sink: Callable[[ev.FileSystemEvent], None]) -> None:
        self.sink = sink

    def on_any_event(self, event: ev.FileSystemEvent) -> None:
        self.sink(event)
