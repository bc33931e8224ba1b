"""What the TUI needs from the library, behind one small interface.

The screens call a `Backend` from worker threads and never touch the store, the model or the
decoder directly; tests swap in a fake with fixed answers. This module does not import Textual,
and it holds no search logic: it calls `vidsearch.search` like the `find` command does.

Every call opens the store for its own duration, in its own thread: apsw connections are safe to
share, but a fresh one per call means a database replaced or fixed while the TUI runs is simply
picked up on the next search.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from PIL import Image

from vidsearch.errors import VidsearchError
from vidsearch.search import Hit
from vidsearch.store import WatchState, read_watch_state, writer_is_active

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LibraryStatus:
    """What the status bar shows. `problem` is set when the library cannot be read at all."""

    db_path: Path
    model: str
    videos: int = 0
    hours: float = 0.0
    failed: int = 0
    writer_active: bool = False
    watching: WatchState | None = None  # a running `watch` and what it does now
    problem: VidsearchError | None = None


@dataclass(frozen=True)
class VideoFacts:
    """What the preview pane says about the video a hit is in."""

    path: str
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None


class Backend(Protocol):
    """The TUI's whole view of vidsearch. Methods may block; the TUI calls them in workers."""

    db_path: Path

    @property
    def model_name(self) -> str: ...

    def model_loaded(self, *, image: bool = False) -> bool:
        """Whether the model a text search (with `image`, an image search) needs is loaded."""
        ...

    def status(self) -> LibraryStatus: ...

    def warm_up(self) -> None:
        """Load what a text search needs, before the first one is asked; a problem is left
        for that search to report."""
        ...

    def search_text(self, query: str, k: int) -> list[Hit]:
        """The search box's text, in its syntax (`vidsearch.query.BOX_SYNTAX`)."""
        ...

    def search_image(self, image_path: Path, k: int, filters: str = "") -> list[Hit]:
        """Clips with frames like the image; `filters` in the search box's syntax
        (`in:FOLDER after:DATE ...`), anything else in it ignored."""
        ...

    def search_like(self, hit: Hit, k: int, filters: str = "") -> list[Hit]:
        """Clips like the stored clip at `hit`'s best moment; needs no model. `filters` as for
        `search_image`."""
        ...

    def video_facts(self, hit: Hit) -> VideoFacts | None: ...

    def frame(self, hit: Hit, seconds: float) -> Image.Image:
        """The frame of the hit's video shown at `seconds`, fitted to the preview."""
        ...

    def export(self, hit: Hit, folder: Path) -> Path:
        """The hit's clip cut (stream copy) into a new file in `folder`; returns its path."""
        ...


class LibraryBackend:
    """The real backend: the library at `db_path`, a model loaded on the first search that
    needs it (text searches take the text tower alone where `find` would)."""

    def __init__(self, db_path: Path, *, model: str | None = None, device: str = "auto",
                 weights: Path | None = None, precision: str | None = None,
                 thumbnails=None) -> None:
        from vidsearch.config import load_settings, read_run_settings
        from vidsearch.query_models import QueryModels
        from vidsearch.thumbnails import ThumbnailCache

        self.db_path = Path(db_path)
        self._model_name = model or load_settings().active_model
        run = read_run_settings()  # the environment, read once for this TUI
        self._models = QueryModels(self._model_name, device=device, weights=weights,
                                   precision=precision or run.precision, offline=run.offline)
        self._thumbnails = thumbnails or ThumbnailCache()
        self._status: LibraryStatus | None = None
        self._status_signature: tuple | None = None
        self._store_lock = threading.Lock()
        self._store = None
        self._store_signature: tuple | None = None

    @property
    def model_name(self) -> str:
        return self._model_name

    def model_loaded(self, *, image: bool = False) -> bool:
        return self._models.loaded(vision=image)

    # Models load (`QueryModels`) off the UI thread, so the screen is up at once even on a
    # slow disk. The text model starts loading as the screen opens (`warm_up`), while the user
    # types; the vision tower costs several times the text tower and loads only when a search
    # needs it.

    def start_warm_up(self) -> None:
        """`warm_up` in a thread of its own, begun before the app is imported: the model loads
        while Textual imports and the screen is built (`vidsearch tui` calls it)."""
        threading.Thread(target=self.warm_up, name="warm-up", daemon=True).start()

    def warm_up(self) -> None:
        try:
            # One caption through it too: a runtime's first call sets up what later ones reuse
            # (ONNX Runtime's: ~45 ms against ~15), and the first search should not pay that.
            self._models.for_text().embed_texts(["a warm-up caption"])
            with self._held_store() as store:
                store.read_clip_bits()
        except VidsearchError as exc:
            log.debug("not ready ahead of the first search: %s", exc.message)

    def _open(self):
        from vidsearch.store import open_store

        return open_store(self.db_path, create=False)

    @contextlib.contextmanager
    def _held_store(self) -> Iterator:
        """The library, held open between searches and used by one at a time: a store keeps
        the sign bits it read in memory until the library changes, and a large library's take
        a second to read (1M clips' and 5M frames'). Opened again once the files changed (a
        watch wrote, or the library was replaced), as a read-only snapshot must be."""
        with self._store_lock:
            if self._store is not None and _files_signature(self.db_path) != \
                    self._store_signature:
                self._close_store()
            if self._store is None:
                self._store = self._open()
                # Taken after opening, which may create the write-ahead log.
                self._store_signature = _files_signature(self.db_path)
            yield self._store

    def _close_store(self) -> None:
        store, self._store = self._store, None
        try:
            store.close()
        except VidsearchError as exc:
            log.debug("closing the library: %s", exc.message)

    def close(self) -> None:
        """Let go of the library (`vidsearch tui` calls it as the app ends)."""
        with self._store_lock:
            if self._store is not None:
                self._close_store()

    def status(self) -> LibraryStatus:
        """Called every few seconds: the counts are only read again when the database files
        changed (counting every frame of a large library is not free)."""
        writer = writer_is_active(self.db_path)
        watching = read_watch_state(self.db_path)
        signature = _files_signature(self.db_path)
        if self._status is None or signature != self._status_signature:
            self._status = self._read_status()
            self._status_signature = signature
        return replace(self._status, writer_active=writer, watching=watching)

    def _read_status(self) -> LibraryStatus:
        try:
            with self._open() as store:
                stats = store.stats()
        except VidsearchError as exc:
            return LibraryStatus(self.db_path, self._model_name, problem=exc)
        return LibraryStatus(self.db_path, stats.model_name or self._model_name,
                             videos=stats.videos, hours=stats.hours, failed=stats.failed)

    def search_text(self, query: str, k: int) -> list[Hit]:
        from vidsearch import search

        parts, filters = search.parse_box_query(query)
        with self._held_store() as store:
            search.check_folders(store, filters)  # a mistake is worth saying before a load
            model = self._models.for_parts(parts)
            return search.search_parts(store, model, parts, k=k, filters=filters)

    def search_image(self, image_path: Path, k: int, filters: str = "") -> list[Hit]:
        from vidsearch import search, video

        image = video.load_image(image_path)
        wanted = search.parse_box_filters(filters)
        with self._held_store() as store:
            search.check_folders(store, wanted)
            model = self._models.for_image()
            return search.search_image(store, model, image, k=k, filters=wanted)

    def search_like(self, hit: Hit, k: int, filters: str = "") -> list[Hit]:
        from vidsearch import search

        wanted = search.parse_box_filters(filters)
        with self._held_store() as store:
            source = search.like_source(store, hit.path, hit.best_moment)
            return search.search_like(store, source, k=k, filters=wanted)

    def video_facts(self, hit: Hit) -> VideoFacts | None:
        with self._open() as store:  # not behind a search that is loading a model
            details = store.video_details(hit.video_id)
        if details is None:
            return None  # removed by a watch since the search ran
        return VideoFacts(details["path"], details["duration"], details["width"],
                          details["height"], details["fps"])

    def frame(self, hit: Hit, seconds: float) -> Image.Image:
        return self._thumbnails.get(hit.path, seconds)

    def export(self, hit: Hit, folder: Path) -> Path:
        from vidsearch.export import export_clip, free_clip_path

        out = free_clip_path(folder, hit.path, hit.start, hit.end)
        return export_clip(hit.path, hit.start, hit.end, out).path


def _files_signature(db_path: Path) -> tuple:
    """Changes whenever a transaction lands: WAL mode appends to `-wal`, checkpoints write
    the main file."""
    signature = []
    for path in (db_path, Path(str(db_path) + "-wal")):
        try:
            stat = path.stat()
        except OSError:
            signature.append(None)
        else:
            signature.append((stat.st_mtime_ns, stat.st_size, stat.st_ino))
    return tuple(signature)


