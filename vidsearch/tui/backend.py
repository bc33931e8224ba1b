"""What the TUI needs from the library, behind one small interface.

The screens call a `Backend` from worker threads and never touch the store, the model or the
decoder directly; tests swap in a fake with fixed answers. This module does not import Textual,
and it holds no search logic: it calls `vidsearch.search` like the `find` command does.

Every call opens the store for its own duration, in its own thread: apsw connections are safe to
share, but a fresh one per call means a database replaced or fixed while the TUI runs is simply
picked up on the next search.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PIL import Image

from vidsearch.errors import VidsearchError
from vidsearch.search import Hit
from vidsearch.store import WatchState, read_watch_state, writer_is_active

if TYPE_CHECKING:
    from vidsearch.model.protocols import QueryModel, TextEncoder

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

    def search_text(self, query: str, k: int) -> list[Hit]:
        """The search box's text, in its syntax (`vidsearch.query.BOX_SYNTAX`)."""
        ...

    def search_image(self, image_path: Path, k: int) -> list[Hit]: ...

    def search_like(self, hit: Hit, k: int) -> list[Hit]:
        """Clips like the stored clip at `hit`'s best moment; needs no model."""
        ...

    def video_facts(self, hit: Hit) -> VideoFacts | None: ...

    def thumbnail(self, hit: Hit) -> Image.Image: ...


class LibraryBackend:
    """The real backend: the library at `db_path`, a model loaded on the first search that
    needs it (text searches take the text tower alone where `find` would)."""

    def __init__(self, db_path: Path, *, model: str | None = None, device: str = "auto",
                 weights: Path | None = None, precision: str | None = None,
                 thumbnails=None) -> None:
        from vidsearch.config import load_settings, read_run_settings
        from vidsearch.thumbnails import ThumbnailCache

        self.db_path = Path(db_path)
        self._model_name = model or load_settings().active_model
        self._device = device
        self._weights = weights
        self._run = read_run_settings()  # the environment, read once for this TUI
        self._precision = precision or self._run.precision
        self._text_model: TextEncoder | None = None
        self._full_model: QueryModel | None = None
        self._model_lock = threading.RLock()  # the text loader may fall back to the full one
        self._thumbnails = thumbnails or ThumbnailCache()
        self._status: LibraryStatus | None = None
        self._status_signature: tuple | None = None

    @property
    def model_name(self) -> str:
        return self._model_name

    def model_loaded(self, *, image: bool = False) -> bool:
        return (self._full_model if image else self._text_model) is not None

    # Loading takes seconds (torch import, weights); do it once, and only when a search needs
    # it, so the screen is up at once even on a slow disk. The full model (open_clip, the
    # vision tower) costs several times the text tower: text searches wait for it only where
    # the text tower alone cannot serve.

    def _loaded_full_model(self) -> QueryModel:
        with self._model_lock:
            if self._full_model is None:
                from vidsearch.model import load_model

                self._full_model = load_model(self._model_name, device=self._device,
                                              weights=self._weights, precision=self._precision,
                                              offline=self._run.offline)
            return self._full_model

    def _loaded_text_model(self) -> TextEncoder:
        with self._model_lock:
            if self._text_model is None:
                from vidsearch.search import load_text_only_model

                self._text_model = (load_text_only_model(self._model_name, device=self._device,
                                                         weights=self._weights,
                                                         offline=self._run.offline)
                                    or self._loaded_full_model())
            return self._text_model

    @staticmethod
    def _use_query_threads() -> None:
        # The TUI is a query process for all its searches, text or image: one policy. Set in
        # the worker that searches, because torch's (OpenMP's) thread count is per thread: a
        # count set in one worker is not seen by the next. Not at start-up: importing torch
        # there would hold the screen back.
        from vidsearch.model.threads import use_threads_for

        use_threads_for("query")

    def _open(self):
        from vidsearch.store import open_store

        return open_store(self.db_path, create=False)

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

        parts = search.parse_box(query)
        self._use_query_threads()
        with self._open() as store:
            model = (self._loaded_full_model() if search.needs_vision(parts)
                     else self._loaded_text_model())
            return search.search_parts(store, model, parts, k=k)

    def search_image(self, image_path: Path, k: int) -> list[Hit]:
        from vidsearch import search, video

        image = video.load_image(image_path)
        self._use_query_threads()
        with self._open() as store:
            return search.search_image(store, self._loaded_full_model(), image, k=k)

    def search_like(self, hit: Hit, k: int) -> list[Hit]:
        from vidsearch import search

        with self._open() as store:
            source = search.like_source(store, hit.path, hit.best_moment)
            return search.search_like(store, source, k=k)

    def video_facts(self, hit: Hit) -> VideoFacts | None:
        with self._open() as store:
            details = store.video_details(hit.video_id)
        if details is None:
            return None  # removed by a watch since the search ran
        return VideoFacts(details["path"], details["duration"], details["width"],
                          details["height"], details["fps"])

    def thumbnail(self, hit: Hit) -> Image.Image:
        return self._thumbnails.get(hit.path, hit.best_moment)


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


