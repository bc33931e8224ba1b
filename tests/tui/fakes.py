"""A backend with fixed answers, so screen tests need no model, no store and no decoder."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vidsearch.errors import VidsearchError
from vidsearch.search import Hit
from vidsearch.store import WatchState
from vidsearch.tui.backend import LibraryStatus, VideoFacts

LIBRARY = "/media/videos"

HITS = [
    Hit(f"{LIBRARY}/holidays/beach day.mp4", 1, 10.0, 25.0, 17.0, 0.4213),
    Hit(f"{LIBRARY}/[red]clips[/]/[bold]loud[blink].mp4", 2, 0.0, 10.0, 4.0, 0.3871),
    Hit(f"{LIBRARY}/holidays/beach day.mp4", 1, 95.0, 105.0, 101.0, 0.3502),
    Hit(f"{LIBRARY}/family/2019/birthday 🎂 عيد ميلاد.mkv", 3, 3605.0, 3615.0, 3611.0, 0.3017),
]


def gradient_image(width: int = 64, height: int = 36) -> Image.Image:
    """A fixed picture (the same every run) standing in for a decoded frame."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = np.linspace(30, 230, width, dtype=np.uint8)[None, :]
    image[..., 1] = np.linspace(30, 200, height, dtype=np.uint8)[:, None]
    image[..., 2] = 120
    return Image.fromarray(image)


@dataclass
class FakeBackend:
    hits: list[Hit] = field(default_factory=lambda: list(HITS))
    db_path: Path = Path("/data/vidsearch/library.db")
    model: str = "clip4clip-webvid150k"
    videos: int = 3
    hours: float = 2.5
    writer_active: bool = False
    watching: WatchState | None = None
    status_problem: VidsearchError | None = None
    search_error: Exception | None = None
    thumbnail_error: VidsearchError | None = None
    export_error: VidsearchError | None = None
    frames_asked: list = field(default_factory=list)  # (path, seconds) of every frame decoded
    exported: list = field(default_factory=list)  # (hit, folder) of every export asked for
    queries: list = field(default_factory=list)
    filters_asked: list = field(default_factory=list)  # the filters of image and like searches
    loaded: bool = False
    warmed_up: bool = False
    release: threading.Event | None = None  # when set, searches wait for it (loading state)

    @property
    def model_name(self) -> str:
        return self.model

    def model_loaded(self, *, image: bool = False) -> bool:
        return self.loaded

    def warm_up(self) -> None:
        self.warmed_up = True  # the fake loads on its first search, as before

    def status(self) -> LibraryStatus:
        return LibraryStatus(self.db_path, self.model, videos=self.videos, hours=self.hours,
                             writer_active=self.writer_active, watching=self.watching,
                             problem=self.status_problem)

    def _answer(self, query) -> list[Hit]:
        self.queries.append(query)
        if self.release is not None:
            self.release.wait(10)
        if self.search_error is not None:
            raise self.search_error
        self.loaded = True
        return list(self.hits)

    def search_text(self, query: str, k: int) -> list[Hit]:
        return self._answer(query)[:k]

    def search_image(self, image_path: Path, k: int, filters: str = "") -> list[Hit]:
        self.filters_asked.append(filters)
        return self._answer(image_path)[:k]

    def search_like(self, hit: Hit, k: int, filters: str = "") -> list[Hit]:
        self.filters_asked.append(filters)
        return [h for h in self._answer(("like", hit)) if h != hit][:k]

    def video_facts(self, hit: Hit) -> VideoFacts | None:
        return VideoFacts(hit.path, 3725.0, 1920, 1080, 29.97)

    def frame(self, hit: Hit, seconds: float) -> Image.Image:
        self.frames_asked.append((hit.path, seconds))
        if self.thumbnail_error is not None:
            raise self.thumbnail_error
        return gradient_image()

    def export(self, hit: Hit, folder: Path) -> Path:
        self.exported.append((hit, folder))
        if self.export_error is not None:
            raise self.export_error
        return folder / "clip.mp4"


def hits_on_disk(root: Path) -> list[Hit]:
    """HITS moved under `root`, with (empty) files there, for tests that open a hit."""
    hits = []
    for hit in HITS:
        path = root / hit.path.removeprefix(LIBRARY + "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        hits.append(Hit(str(path), hit.video_id, hit.start, hit.end, hit.best_moment, hit.score))
    return hits
