"""What the indexer, search and the TUI need from a model, as `typing.Protocol`s.

Three classes serve: `VideoTextModel` (everything), `TextQueryModel` (text tower alone, for a
quick first query) and `ModelOnDemand` (frames, weights loaded on the first one). They share
no base class; these protocols say what each caller relies on, so a new wrapper (or a test
fake) knows what to provide. Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from vidsearch.model.cards import ModelCard


class IdentifiedModel(Protocol):
    """A model a library can be checked against: vectors from two models never mix."""

    @property
    def card(self) -> ModelCard: ...

    @property
    def fingerprint(self) -> str: ...


class TextEncoder(IdentifiedModel, Protocol):
    """Enough for a text search (`search.search_text` without re-ranking)."""

    @property
    def embed_dim(self) -> int: ...

    @property
    def can_rerank(self) -> bool: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class QueryModel(TextEncoder, Protocol):
    """Every search: by image, and re-ranking with a tight header."""

    def embed_image(self, image: np.ndarray) -> np.ndarray: ...

    def rerank(self, text: str, windows: Sequence[np.ndarray]) -> np.ndarray: ...


class FrameEncoder(IdentifiedModel, Protocol):
    """What an `Indexer` uses: frames to vectors, windows of them to clip vectors."""

    @property
    def device(self) -> str: ...

    @property
    def embed_dim(self) -> int: ...

    @property
    def image_size(self) -> int: ...

    @property
    def temporal_context(self) -> int: ...

    def embed_frames(self, frames: np.ndarray, context: tuple[int, int] = (0, 0)
                     ) -> np.ndarray: ...

    def aggregate(self, windows: Sequence[np.ndarray]) -> np.ndarray: ...
