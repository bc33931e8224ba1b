"""The store's own SQLite errors leave it as VidsearchErrors that name the library."""

from __future__ import annotations

import apsw
import pytest

from tests.unit.test_store import DIM, add_video, store  # noqa: F401 (store is a fixture)
from vidsearch.errors import CannotRunError, LibraryBusyError
from vidsearch.store import (LibraryDamagedError, LibraryFullError, LibraryIOError,
                             LibraryReadOnlyError, open_store)
from vidsearch.store.errors import translate


def test_a_write_refused_by_sqlite_is_a_read_only_error(store):
    store.conn.execute("PRAGMA query_only = ON")
    with pytest.raises(LibraryReadOnlyError, match=f"{store.path}: cannot write") as caught:
        add_video(store, "/v/a.mp4")
    assert isinstance(caught.value.__cause__, apsw.ReadOnlyError)


def test_a_full_library_is_a_full_error(store):
    add_video(store, "/v/first.mp4")  # sqlite-vec's first chunk: it hides FULL while making one
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(LibraryFullError, match="the disk is full") as caught:
        for seed in range(1, 50):
            add_video(store, f"/v/{seed}.mp4", seed=seed)
    assert "free some disk space" in caught.value.hint
    assert store.check_integrity() == []  # the failed write left nothing half done


def test_a_library_locked_by_another_writer_is_a_busy_error(store):
    add_video(store, "/v/a.mp4")
    other = apsw.Connection(str(store.path))
    other.execute("BEGIN IMMEDIATE")
    store.conn.set_busy_timeout(0)
    try:
        with pytest.raises(LibraryBusyError, match="locked by another process"):
            store.remove_videos(["/v/a.mp4"])
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.mark.parametrize("error, kind, words", [
    (apsw.CorruptError("database disk image is malformed"), LibraryDamagedError, "damaged"),
    (apsw.NotADBError("file is not a database"), LibraryDamagedError, "damaged"),
    (apsw.IOError("disk I/O error"), LibraryIOError, "cannot read or write"),
    (apsw.SQLError("no such table: clips"), CannotRunError, "cannot be used"),
])
def test_each_kind_of_error_is_named(tmp_path, error, kind, words):
    translated = translate(error, tmp_path / "lib.db")
    assert type(translated) is kind and words in translated.message
    assert translated.message.startswith(f"{tmp_path / 'lib.db'}: ") and translated.hint


def test_a_file_that_is_not_a_database_is_named_so_when_opening(tmp_path):
    (tmp_path / "notes.db").write_bytes(b"my holiday notes\n" * 300)
    with pytest.raises(LibraryDamagedError, match="not a vidsearch library"):
        open_store(tmp_path / "notes.db")
