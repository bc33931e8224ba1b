"""Models: cards (names -> architecture, weights, header), weights, CLIP4Clip, the app-facing model.

Importing this package does not import torch (so `vidsearch --help` stays fast): the card API is
imported eagerly, everything that needs torch on first use.

    from vidsearch.model import load_model
    model = load_model()                      # the active model, on CUDA when available
    vectors = model.embed_texts(["a dog catching a frisbee"])
"""

from __future__ import annotations

import importlib
from typing import Any

from vidsearch.model.cards import (
    ModelCard,
    card_from_toml,
    card_to_toml,
    list_cards,
    load_card,
)

_LAZY = {
    "load_model": "vidsearch.model.factory",
    "save_model": "vidsearch.model.factory",
    "VideoTextModel": "vidsearch.model.video_text",
    "import_weights": "vidsearch.model.weights",
    "resolve_weights": "vidsearch.model.weights",
    "weights_fingerprint": "vidsearch.model.weights",
}

__all__ = ["ModelCard", "card_from_toml", "card_to_toml", "list_cards", "load_card", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vidsearch.model' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
