"""The library: one SQLite file (WAL) holding videos, frame vectors and clip vectors.

`library` holds the Store (rows, moves, stats), `records` what it hands out, `schema` its
migrations, `vectors` the clip search arithmetic, `integrity` the consistency check, `lock` the
single-writer lock, `watching` what a running watch is doing, and `errors` the translation of
SQLite's errors into user errors. Callers import from here. Nothing in this package imports
torch: everything crosses its boundary as numpy arrays.
"""

from vidsearch.store.errors import (LibraryDamagedError, LibraryFullError, LibraryIOError,
                                    LibraryReadOnlyError)
from vidsearch.store.library import Store, open_store
from vidsearch.store.records import ClipMatch, FrameMatch, LibraryStats, VideoMeta, VideoRecord
from vidsearch.store.lock import writer_is_active, writer_lock
from vidsearch.store.schema import schema_version
from vidsearch.store.watching import (WatchState, clear_watch_state, read_watch_state,
                                      record_watch_state)

__all__ = [
    "ClipMatch", "FrameMatch", "LibraryDamagedError", "LibraryFullError", "LibraryIOError",
    "LibraryReadOnlyError", "LibraryStats", "Store", "VideoMeta", "VideoRecord", "open_store",
    "WatchState", "clear_watch_state", "read_watch_state", "record_watch_state",
    "schema_version", "writer_is_active", "writer_lock",
]
