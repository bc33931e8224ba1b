"""A file whose modification time moved but whose bytes did not (`touch`, a copy keeping the
content) keeps its vectors, in `index` and in `watch` alike; the new mtime is stored."""

from __future__ import annotations

import os
from pathlib import Path

from watchdog.events import FileModifiedEvent

from tests.integration.test_watch import FakeIndexer
from vidsearch import config
from vidsearch.cli import main
from vidsearch.store import open_store
from vidsearch.watcher import Watcher


def touch(path: Path) -> int:
    """Move the mtime a whole minute on, as `touch` would (never the same nanosecond)."""
    mtime_ns = path.stat().st_mtime_ns + 60 * 10**9
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return mtime_ns


def stored_mtime(path: Path) -> int:
    with open_store(config.default_db_path(), create=False) as store:
        return store.get_video(str(path)).mtime_ns


def test_index_skips_a_touched_file_and_stores_its_new_mtime(tiny_model, library, capsys):
    assert main(["index", str(library)]) == 0
    capsys.readouterr()
    new_mtime = touch(library / "alpha.mp4")
    assert main(["index", str(library)]) == 0
    out = capsys.readouterr().out
    assert "indexed 0 videos" in out and "skipped 3 unchanged" in out, out
    assert stored_mtime(library / "alpha.mp4") == new_mtime


def test_index_redoes_a_file_whose_content_changed_at_the_same_size(tiny_model, library,
                                                                     capsys):
    assert main(["index", str(library)]) == 0
    capsys.readouterr()
    path = library / "alpha.mp4"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the last byte: inside the hashed tail, the size kept
    path.write_bytes(bytes(data))
    touch(path)
    main(["index", str(library)])
    out = capsys.readouterr().out
    assert "skipped 2 unchanged" in out, out


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def settle(watcher: Watcher, clock: Clock, path: Path) -> None:
    watcher.handle(FileModifiedEvent(str(path)))
    watcher.process_settled()
    clock.now += 2.0
    watcher.process_settled()


def test_watch_keeps_a_touched_file_and_redoes_a_changed_one(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    path = folder / "clip.mp4"
    path.write_bytes(b"first content")
    clock = Clock()
    with open_store(tmp_path / "watch.db") as store:
        indexer = FakeIndexer(store, hash_content=True)
        watcher = Watcher(indexer, [folder], settle=1.0, clock=clock)
        settle(watcher, clock, path)
        assert indexer.calls == [[str(path)]]

        new_mtime = touch(path)
        settle(watcher, clock, path)
        assert indexer.calls == [[str(path)]], "a touched file was indexed again"
        assert store.get_video(str(path)).mtime_ns == new_mtime

        path.write_bytes(b"other content")  # the same size, other bytes
        touch(path)
        settle(watcher, clock, path)
        assert indexer.calls == [[str(path)], [str(path)]]
