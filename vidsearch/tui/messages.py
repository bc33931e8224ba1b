"""What the main screen's workers are given (queries, their group) and the messages they send
back (workers run in threads; messages are the thread-safe way home)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PIL import Image
from textual.message import Message

from vidsearch.display import format_time, printable
from vidsearch.errors import VidsearchError
from vidsearch.search import Hit
from vidsearch.tui.backend import Backend, LibraryStatus, VideoFacts


class WorkerGroup(StrEnum):
    """The main screen's workers. Each group runs one worker at a time (`exclusive`), and a
    worker that crashes is reported according to its group."""

    STATUS = "status"
    SEARCH = "search"
    PREVIEW = "preview"
    FEEDBACK = "feedback"
    EXPORT = "export"
    WARM_UP = "warm-up"


@dataclass(frozen=True)
class TextQuery:
    """A description of the moment wanted, in the search box's syntax (`+sunset -people`)."""

    text: str
    needs_model = True

    @property
    def needs_vision(self) -> bool:
        """Whether the search waits for the vision tower to load: an image among its parts."""
        from vidsearch import search
        from vidsearch.query_models import needs_vision

        try:
            return needs_vision(search.parse_box_query(self.text)[0])
        except VidsearchError:
            return False  # the search itself will say what is wrong

    @property
    def caption(self) -> str | None:
        """What a `+`/`-` mark records as the caption its hit answers: the words of a plain
        text search, its filters (`in:` ...) left out, since they do not change what the words
        mean; None for a combined one (`+x -y`, an image), which is no one caption."""
        from vidsearch import search

        try:
            parts = search.parse_box_query(self.text)[0]
        except VidsearchError:
            return None
        if len(parts) == 1 and parts[0].sign > 0 and not parts[0].is_image:
            return parts[0].value
        return None

    def describe(self) -> str:
        return f"“{self.text}”"

    def run(self, backend: Backend, k: int) -> list[Hit]:
        return backend.search_text(self.text, k)


@dataclass(frozen=True)
class ImageQuery:
    """An example picture of the moment wanted."""

    image: Path
    filters: str = ""  # as written in the search box: `in:~/Videos after:2024`
    needs_model = True
    needs_vision = True
    caption = None  # a picture is no caption a fine-tune can learn

    def describe(self) -> str:
        return f"image {self.image}" + (f" {self.filters}" if self.filters else "")

    def run(self, backend: Backend, k: int) -> list[Hit]:
        return backend.search_image(self.image, k, self.filters)


@dataclass(frozen=True)
class LikeQuery:
    """More like a hit: its stored clip is the query, so no model loads."""

    hit: Hit
    filters: str = ""  # as for ImageQuery
    needs_model = False
    needs_vision = False
    caption = None  # a clip is no caption a fine-tune can learn

    def describe(self) -> str:
        return f"clips like {hit_label(self.hit)}" + (f" {self.filters}" if self.filters else "")

    def run(self, backend: Backend, k: int) -> list[Hit]:
        return backend.search_like(self.hit, k, self.filters)


def hit_label(hit: Hit) -> str:
    """How a hit is named in notices: its file name and best moment."""
    return f"{printable(os.path.basename(hit.path))} at {format_time(hit.best_moment)}"


Query = TextQuery | ImageQuery | LikeQuery


class ModelLoading(Message):
    """The first search is loading the model: worth a word, it takes seconds."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


class SearchDone(Message):
    def __init__(self, serial: int, query: Query, hits: list[Hit]) -> None:
        super().__init__()
        self.serial = serial
        self.query = query
        self.hits = hits


class SearchFailed(Message):
    def __init__(self, serial: int, query: Query, error: VidsearchError) -> None:
        super().__init__()
        self.serial = serial
        self.query = query
        self.error = error


class StatusReady(Message):
    def __init__(self, status: LibraryStatus) -> None:
        super().__init__()
        self.status = status


class FactsReady(Message):
    def __init__(self, hit: Hit, facts: VideoFacts | None) -> None:
        super().__init__()
        self.hit = hit
        self.facts = facts


class ThumbnailReady(Message):
    """Frame `index` of the hit's strip, decoded."""

    def __init__(self, hit: Hit, index: int, image: Image.Image) -> None:
        super().__init__()
        self.hit = hit
        self.index = index
        self.image = image


class ThumbnailFailed(Message):
    """Frame `index` could not be decoded; `reason` goes under the strip."""

    def __init__(self, hit: Hit, index: int, reason: str) -> None:
        super().__init__()
        self.hit = hit
        self.index = index
        self.reason = reason


class ExportDone(Message):
    def __init__(self, hit: Hit, path: Path) -> None:
        super().__init__()
        self.hit = hit
        self.path = path


class ExportFailed(Message):
    def __init__(self, hit: Hit, error: VidsearchError) -> None:
        super().__init__()
        self.hit = hit
        self.error = error
