"""Which model serves a query, loaded once per process: the one rule `find` and the TUI share.

A plain text query needs the text tower alone, and its checked ONNX export serves it without
torch where there is one. A query with a picture in it needs an image tower too: the image
export where there is one, else the full torch model (which then makes that export for the next
query on this machine). Re-ranking needs the full model's tight header. Loading takes from a
few tenths of a second (an export) to seconds (torch and the weights), so each model loads on
first need and is kept.

Queries run on one thread (`model.threads`): torch's count is per thread, so it is set each
time a model is handed out, in the thread that will run the query, and only where torch is
imported at all (an ONNX query never imports it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vidsearch.query import Part

if TYPE_CHECKING:
    from vidsearch.model.protocols import QueryModel, TextEncoder


def needs_vision(parts: Sequence[Part]) -> bool:
    """Whether embedding these parts needs the image tower (a full model)."""
    return any(part.is_image for part in parts)


class QueryModels:
    """The models of one card for one process's queries. Safe to call from several threads
    (the TUI searches in workers): a model is loaded by one of them, the others wait for it."""

    def __init__(self, name: str | None = None, *, device: str = "auto",
                 weights: Path | str | None = None, precision: str = "fp32",
                 offline: bool = False) -> None:
        self.name = name
        self.device = device
        self._weights = weights
        self._precision = precision
        self._offline = offline
        self._text: TextEncoder | None = None
        self._image: QueryModel | None = None
        self._full: QueryModel | None = None
        self._lock = threading.RLock()  # a fast path may fall back to the full model inside it

    def loaded(self, *, vision: bool = False) -> bool:
        """Whether a query (with a picture in it, with `vision`) would be answered without a
        load: the TUI says "loading the model" otherwise."""
        if vision:
            return self._image is not None or self._full is not None
        return self._text is not None or self._full is not None

    def for_parts(self, parts: Sequence[Part]) -> TextEncoder | QueryModel:
        """The model for a query of these parts (`vidsearch.query`)."""
        if needs_vision(parts):
            return self.for_image(texts=any(not part.is_image for part in parts))
        return self.for_text()

    def for_query(self, parts: Sequence[Part] = (), *, image: bool = False,
                  rerank: bool = False) -> TextEncoder | QueryModel:
        """The model for a query of `parts`, or of an example `image`, re-ranked or not."""
        if rerank:
            return self.full()
        return self.for_image() if image else self.for_parts(parts)

    def for_text(self) -> TextEncoder:
        """For plain text queries: the text tower alone (its ONNX export where there is one),
        so a new process answers without open_clip and a vision tower."""
        with self._lock:
            # Not the full model even where it is loaded: the same caption scores the same in
            # every process, whichever models it happened to load before.
            if self._text is None:
                self._text = self._text_only() or self.full()
            return _serving(self._text)

    def for_image(self, *, texts: bool = False) -> QueryModel:
        """For a query with an image in it (and words too, with `texts`): the ONNX exports where
        they exist, so no torch is imported; else the full model."""
        with self._lock:
            if self._full is not None:
                return _serving(self._full)
            model = self._image
            if model is None or (texts and not getattr(model, "has_text", True)):
                model = self._image = self._image_export(texts) or self._full_making_export()
            return _serving(model)

    def full(self) -> QueryModel:
        """The torch model, towers and heads: for re-ranking, and where no export serves."""
        with self._lock:
            if self._full is None:
                from vidsearch.model import load_model

                self._full = load_model(self.name, device=self.device, weights=self._weights,
                                        precision=self._precision, offline=self._offline)
            return _serving(self._full)

    def _text_only(self) -> TextEncoder | None:
        # None where the full model must serve: asked for CUDA, or a text tower the fast path
        # does not reproduce.
        if self.device == "cuda":
            return None
        from vidsearch.model.query_text import load_query_text_model

        return load_query_text_model(self.name, weights=self._weights, offline=self._offline)

    def _image_export(self, texts: bool) -> QueryModel | None:
        if self.device == "cuda":
            return None
        from vidsearch.model.query_image import load_query_image_model

        return load_query_image_model(self.name, weights=self._weights, offline=self._offline,
                                      texts=texts, precision=self._precision)

    def _full_making_export(self) -> QueryModel:
        full = self.full()
        export = getattr(full, "export_image_for_queries", None)
        if export is not None and full.device == "cpu":
            export()  # the next query on this machine needs no torch
        return full


def _serving(model):
    from vidsearch.model.threads import use_threads_if_loaded

    use_threads_if_loaded("query")
    return model
