"""`index` and `watch` reach the same library from the same changes on disk.

Each case starts from one indexed library and one folder, changes the folder, then brings a
copy of the library up to date twice: once by the watcher handling the events watchdog reports
for the change (on a fake clock), once by `Indexer.sync`, as `vidsearch index` runs it. The
two libraries must hold the same paths, content hashes, mtimes and clip counts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from watchdog.events import (
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
)

from vidsearch.indexer import Indexer
from vidsearch.store import open_store
from vidsearch.watcher import Watcher

pytestmark = pytest.mark.slow  # each case indexes and watches a library


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def rename_a_file(root: Path):
    os.rename(root / "alpha.mp4", root / "renamed.mp4")
    return [FileMovedEvent(str(root / "alpha.mp4"), str(root / "renamed.mp4"))]


def move_a_file_into_a_folder(root: Path):
    os.rename(root / "alpha.mp4", root / "trip" / "alpha.mp4")
    return [FileMovedEvent(str(root / "alpha.mp4"), str(root / "trip" / "alpha.mp4"))]


def rename_seen_as_delete_and_create(root: Path):
    """What a move between two watched trees looks like to watchdog."""
    os.rename(root / "trip" / "beta.mp4", root / "beta.mp4")
    return [FileDeletedEvent(str(root / "trip" / "beta.mp4")),
            FileCreatedEvent(str(root / "beta.mp4"))]


def move_a_folder(root: Path):
    os.rename(root / "trip", root / "holiday")
    return [DirMovedEvent(str(root / "trip"), str(root / "holiday"))]


def move_a_folder_to_a_sibling_prefix(root: Path):
    """`trip2` is not inside `trip`: nothing but trip's own videos may move."""
    os.rename(root / "alpha.mp4", root / "tripx.mp4")
    os.rename(root / "trip", root / "trip2")
    return [FileMovedEvent(str(root / "alpha.mp4"), str(root / "tripx.mp4")),
            DirMovedEvent(str(root / "trip"), str(root / "trip2"))]


def delete_a_file(root: Path):
    os.remove(root / "trip" / "gamma.mp4")
    return [FileDeletedEvent(str(root / "trip" / "gamma.mp4"))]


def touch_a_file(root: Path):
    path = root / "alpha.mp4"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    return [FileModifiedEvent(str(path))]


def replace_the_contents(root: Path):
    shutil.copyfile(root / "trip" / "gamma.mp4", root / "alpha.mp4")
    return [FileModifiedEvent(str(root / "alpha.mp4"))]


def copy_a_file(root: Path):
    shutil.copy2(root / "alpha.mp4", root / "trip" / "copy.mp4")
    return [FileCreatedEvent(str(root / "trip" / "copy.mp4"))]


CHANGES = [rename_a_file, move_a_file_into_a_folder, rename_seen_as_delete_and_create,
           move_a_folder, move_a_folder_to_a_sibling_prefix, delete_a_file, touch_a_file,
           replace_the_contents, copy_a_file]


def contents(store, root: Path) -> dict[str, tuple]:
    """Per path: content hash, mtime, status and clip count (what either way could get wrong)."""
    return {path: (record.content_hash, record.mtime_ns, record.status,
                   len(store.clips_of_video(record.id)))
            for path, record in store.videos_under([root]).items()}


def copy_library(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


def test_index_and_watch_agree_on_each_change(tiny_model, library, tmp_path):
    from vidsearch.model import load_model

    model = load_model(None, device="cpu")
    pristine = tmp_path / "pristine"
    shutil.copytree(library, pristine, copy_function=shutil.copy2)
    start = tmp_path / "start.db"
    with open_store(start) as store:
        first = Indexer(store, model).sync([library])
        assert len(first.indexed) == 3 and not first.failed
        before = contents(store, library)

    for change in CHANGES:
        # The same folder, at the same path, with the same mtimes, as the start library knows.
        shutil.rmtree(library)
        shutil.copytree(pristine, library, copy_function=shutil.copy2)
        events = change(library)

        watched = copy_library(start, tmp_path / f"{change.__name__}-watch.db")
        with open_store(watched) as store:
            clock = FakeClock()
            watcher = Watcher(Indexer(store, model), [library], settle=1.0, clock=clock)
            for event in events:
                watcher.handle(event)
            for _ in range(2):
                clock.now += 2.0
                watcher.process_settled()
            by_watch = contents(store, library)

        indexed = copy_library(start, tmp_path / f"{change.__name__}-index.db")
        with open_store(indexed) as store:
            Indexer(store, model).sync([library])
            by_index = contents(store, library)

        assert by_watch == by_index, change.__name__
        assert by_index != before, f"{change.__name__} changed nothing the test can see"
        assert set(by_index) == {
            str(Path(root, name)) for root, _, names in os.walk(library) for name in names
        }, change.__name__
