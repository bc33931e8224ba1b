"""SQLite's errors as the user errors they are: the one place apsw exceptions are read.

Every public `Store` operation runs under `translated`, so nothing outside the store package
sees an apsw exception or needs to import apsw to catch one.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from vidsearch.errors import CannotRunError, LibraryBusyError, VidsearchError, advised

log = logging.getLogger(__name__)

_AGAIN = "run the same command again"


class LibraryFullError(CannotRunError):
    """The disk (or SQLite's page limit) has no room for the write; nothing stored is lost."""


class LibraryDamagedError(CannotRunError):
    """The file is an SQLite database with broken pages, or not one at all."""


class LibraryIOError(CannotRunError):
    """The disk failed a read or a write."""


class LibraryReadOnlyError(CannotRunError):
    """The library, or the folder it is in, cannot be written."""


def translate(exc: BaseException, db: Path, *, opening: bool = False) -> VidsearchError:
    """The user error for an SQLite (or OS) error met while opening or using the library."""
    import apsw

    # On a full disk SQLite cannot even make its shared-memory file: an I/O error, not FULL.
    if isinstance(exc, apsw.FullError) or (isinstance(exc, apsw.IOError) and _disk_full(db)):
        return LibraryFullError(f"{db}: cannot use the library, the disk is full ({exc})",
                                f"free some disk space and {_AGAIN}; nothing already indexed "
                                "is lost")
    if isinstance(exc, apsw.NotADBError) and opening:
        return advised(LibraryDamagedError(
            f"{db}: not a vidsearch library (the file is not a readable SQLite database)",
            "vidsearch will not overwrite it: move it away or use another library"), "db")
    if isinstance(exc, (apsw.CorruptError, apsw.NotADBError)):
        # An SQLite header with broken pages behind it: a library cut short or damaged.
        return LibraryDamagedError(f"{db}: the library file is damaged ({exc})",
                                   "move it away and index again, or restore a backup; "
                                   "vidsearch does not change it")
    if isinstance(exc, apsw.BusyError):
        return LibraryBusyError(f"{db}: the library is locked by another process",
                                "try again in a moment")
    if opening and isinstance(exc, (apsw.CantOpenError, apsw.ReadOnlyError,
                                    apsw.PermissionsError, OSError)):
        return CannotRunError(f"{db}: cannot open the library ({exc})",
                              "check the path and its permissions")
    if isinstance(exc, (apsw.ReadOnlyError, apsw.PermissionsError)):
        return LibraryReadOnlyError(f"{db}: cannot write to the library ({exc})",
                                    f"check the permissions of the file and its folder, then "
                                    f"{_AGAIN}")
    if isinstance(exc, (apsw.IOError, OSError)):
        return LibraryIOError(f"{db}: cannot read or write the library ({exc})",
                              f"check the disk it is on, then {_AGAIN}")
    return CannotRunError(f"{db}: the library cannot be used ({exc})",
                          "if this happens again, move the file away and index again")


def _database_errors() -> tuple[type[BaseException], ...]:
    import apsw

    return (apsw.Error,)


@contextlib.contextmanager
def translating(db: Path, *, opening: bool = False) -> Iterator[None]:
    """Raise what `translate` makes of any SQLite error inside the block."""
    caught = (*_database_errors(), OSError) if opening else _database_errors()
    try:
        yield
    except caught as exc:
        log.debug("database error", exc_info=exc)
        first = exc
        # A write that fails (FULL, I/O) can make the rollback after it fail too: the rollback's
        # error is raised, the one that says what happened is its context.
        while isinstance(first.__context__, caught):
            first = first.__context__
        raise translate(first, db, opening=opening) from exc


def translated(method: Callable) -> Callable:
    """A `Store` method whose SQLite errors come out as user errors naming the library."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with translating(self.path):
            return method(self, *args, **kwargs)

    return run


def _disk_full(db: Path) -> bool:
    try:
        return shutil.disk_usage(Path(db).parent).free < 1 << 20
    except OSError:
        return False
