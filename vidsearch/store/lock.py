"""The library's single-writer lock: an advisory lock on a side file next to the database."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from vidsearch.errors import LibraryBusyError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def writer_lock(db_path: Path) -> Iterator[None]:
    """Hold the library's single-writer lock; a second writer is told who holds it.

    An advisory lock on a side file, not an SQLite lock: SQLite would let two indexers interleave
    their transactions, which is correct but wastes the work of both.
    """
    lock_path = Path(str(db_path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise LibraryBusyError(
                f"{db_path}: the library is busy, another vidsearch process (pid {holder}) "
                "is writing to it",
                "wait for it to finish or stop it; searching works meanwhile",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def writer_is_active(db_path: Path) -> bool:
    """Whether another process holds the library's writer lock (see `writer_lock`).

    Probing takes a *shared* lock and drops it at once, and only when the pid written in the
    lock file is alive: a writer that starts in that instant would be refused, so the probe
    is kept off the common case of no writer at all.
    """
    lock_path = Path(str(db_path) + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.debug("cannot read %s: %s", lock_path, exc)
        return False
    try:
        pid_text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if not pid_text.isdigit() or not process_alive(int(pid_text)):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    except OSError as exc:
        return exc.errno != errno.ESRCH
    return True
