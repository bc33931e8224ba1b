"""What a running `watch` is doing, for `status` and the TUI: a small JSON file beside the lock.

The watcher writes it when it starts, when it begins indexing files and when it goes idle, and
removes it when it stops. A reader trusts it only while the pid in it is alive, so a watcher
that was killed is not reported as watching. Written to a temporary file and renamed into
place: a reader sees the old state or the new one, never half of one.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from vidsearch.store.lock import process_alive

log = logging.getLogger(__name__)

IDLE, SYNCING, INDEXING = "idle", "syncing", "indexing"


@dataclass(frozen=True)
class WatchState:
    pid: int
    since: float  # when the watch started, seconds since the epoch
    activity: str = IDLE  # IDLE, SYNCING (the first pass over the folders) or INDEXING
    file: str | None = None  # while INDEXING: the first file of the job
    more: int = 0  # while INDEXING: how many other files the job holds

    def summary(self, show_path: Callable[[str], str] = str) -> str:
        """`watching since 13:05, idle` or `watching since 13:05, indexing FILE (and 2 more)`."""
        text = f"watching since {_clock(self.since)}, "
        if self.activity == INDEXING and self.file is not None:
            text += f"indexing {show_path(self.file)}"
            return text + (f" (and {self.more} more)" if self.more else "")
        return text + ("checking the folders" if self.activity == SYNCING else "idle")


def watch_state_path(db_path: Path | str) -> Path:
    return Path(str(db_path) + ".watch.json")


def record_watch_state(db_path: Path | str, state: WatchState) -> None:
    """Raises OSError when the file cannot be written; the watcher logs it and goes on."""
    path = watch_state_path(db_path)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(state)))
    os.replace(temporary, path)


def clear_watch_state(db_path: Path | str) -> None:
    try:
        os.unlink(watch_state_path(db_path))
    except FileNotFoundError:
        pass


def read_watch_state(db_path: Path | str) -> WatchState | None:
    """The running watcher's state; None when no watcher runs (no file, or its pid is dead)."""
    try:
        data = json.loads(watch_state_path(db_path).read_text())
        state = WatchState(int(data["pid"]), float(data["since"]), str(data["activity"]),
                           data.get("file"), int(data.get("more", 0)))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("cannot read the watch state of %s: %s", db_path, exc)
        return None
    return state if process_alive(state.pid) else None


def _clock(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp)
    if moment.date() == datetime.date.today():
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")
