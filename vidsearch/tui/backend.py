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

    def warm_up(self) -> None:
        """Load what a text search needs, before the first one is asked; a problem is left
        for that search to report."""
        ...

    def search_text(self, query: str, k: int) -> list[Hit]:
        """The search box's text, in its syntax (`vidsearch.query.BOX_SYNTAX`)."""
        ...

    def search_image(self, image_path: Path, k: int) -> list[Hit]: ...

    def search_like(self, hit: Hit, k: int) -> list[Hit]:
        """Clips like the stored clip at `hit`'s best moment; needs no model."""
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
        from vidsearch.thumbnails import ThumbnailCache

        self.db_path = Path(db_path)
        self._model_name = model or load_settings().active_model
        self._device = device
        self._weights = weights
        self._run = read_run_settings()  # the environment, read once for this TUI
        self._precision = precision or self._run.precision
        self._text_model: TextEncoder | None = None
        self._full_model: QueryModel | None = None
        self._image_model: QueryModel | None = None
        self._model_lock = threading.RLock()  # the text loader may fall back to the full one
        self._thumbnails = thumbnails or ThumbnailCache()
        self._status: LibraryStatus | None = None
        self._status_signature: tuple | None = None

    @property
    def model_name(self) -> str:
        return self._model_name

    def model_loaded(self, *, image: bool = False) -> bool:
        if image:
            return self._image_model is not None or self._full_model is not None
        return self._text_model is not None

    # Loading takes from a few tenths of a second (the ONNX export) to seconds (torch, the
    # weights): once, off the UI thread, so the screen is up at once even on a slow disk. The
    # text model starts loading as the screen opens (`warm_up`), while the user types; the
    # full model (open_clip, the vision tower) costs several times the text tower and loads
    # only when a search needs it.

    def start_warm_up(self) -> None:
        """`warm_up` in a thread of its own, begun before the app is imported: the model loads
        while Textual imports and the screen is built (`vidsearch tui` calls it)."""
        threading.Thread(target=self.warm_up, name="warm-up", daemon=True).start()

    def warm_up(self) -> None:
        try:
            # One caption through it too: a runtime's first call sets up what later ones reuse
            # (ONNX Runtime's: ~45 ms against ~15), and the first search should not pay that.
            self._loaded_text_model().embed_texts(["a warm-up caption"])
        except VidsearchError as exc:
            log.debug("text model not loaded ahead of the first search: %s", exc.message)

    def _loaded_full_model(self) -> QueryModel:
        with self._model_lock:
            if self._full_model is None:
                from vidsearch.model import load_model

                self._full_model = load_model(self._model_name, device=self._device,
                                              weights=self._weights, precision=self._precision,
                                              offline=self._run.offline)
            return self._full_model

    def _loaded_image_model(self, *, texts: bool) -> QueryModel:
        """For searches with a picture in them: the ONNX exports where they exist (no torch),
        else the full model, and the full model at once where it is loaded already."""
        with self._model_lock:
            if self._full_model is not None:
                return self._full_model
            model = self._image_model
            if model is None or (texts and not getattr(model, "has_text", True)):
                from vidsearch.search import load_image_query_model

                model = load_image_query_model(
                    self._model_name, device=self._device, weights=self._weights,
                    offline=self._run.offline, texts=texts, load_full=self._loaded_full_model)
                self._image_model = model
            return model

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
        # count set in one worker is not seen by the next. Once the model is loaded, and only
        # if it imported torch: a text search on the ONNX export never imports it.
        from vidsearch.model.threads import use_threads_if_loaded

        use_threads_if_loaded("query")

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

        parts, filters = search.parse_box_query(query)
        with self._open() as store:
            search.check_folders(store, filters)  # a mistake is worth saying before a load
            model = (self._loaded_image_model(texts=any(not p.is_image for p in parts))
                     if search.needs_vision(parts) else self._loaded_text_model())
            self._use_query_threads()
            return search.search_parts(store, model, parts, k=k, filters=filters)

    def search_image(self, image_path: Path, k: int) -> list[Hit]:
        from vidsearch import search, video

        image = video.load_image(image_path)
        with self._open() as store:
            model = self._loaded_image_model(texts=False)
            self._use_query_threads()
            return search.search_image(store, model, image, k=k)

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


