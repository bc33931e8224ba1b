"""The first steps of loading any model, shared by every wrapper: name -> card, weights file,
fingerprint. Needs no torch, so a run that ends up loading nothing stays quick."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from vidsearch.config import load_settings
from vidsearch.model.cards import ModelCard, load_card
from vidsearch.model.weights import resolve_weights, weights_fingerprint


@dataclass(frozen=True)
class LocatedModel:
    card: ModelCard
    weights: Path
    fingerprint: str


def locate_model(name: str | None = None, *, weights: Path | str | None = None,
                 offline: bool = False) -> LocatedModel:
    """`name` (default: the active model setting), its weights file (downloaded unless
    `offline`; None: as the environment says) and the fingerprint its vectors will carry."""
    card = load_card(name or load_settings().active_model)
    path = resolve_weights(card, weights, offline=offline)
    return LocatedModel(card, path, compute_fingerprint(card, weights_fingerprint(path)))


def compute_fingerprint(card: ModelCard, weights_sha256: str) -> str:
    """What clip vectors depend on: name, headers, patch, frames per clip, and the weights."""
    parts = [card.name, card.header, card.index_header, card.patch, str(card.frames_per_clip),
             weights_sha256]
    digest = hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"{card.name}-{digest}"
