"""Model cards: one TOML file names an architecture, where its weights come from and its header.

Builtin cards ship in the top-level `models/` folder (installed as the package `vidsearch.cards`);
user models (fine-tunes, imports) live in `models_dir()/NAME/card.toml` and shadow builtins of the
same name. This module must not import torch: `vidsearch models list` and `--help` stay fast.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vidsearch.config import models_dir
from vidsearch.errors import UsageError

log = logging.getLogger(__name__)

CARD_FILENAME = "card.toml"
USER_WEIGHTS_FILENAME = "model.safetensors"

# Kept in step with vidsearch.model.heads.HEADERS (a test checks); duplicated so that reading a
# card never imports torch.
HEADER_NAMES = ("meanP", "seqLSTM", "seqTransf", "tightTransf")
LOOSE_HEADER_NAMES = ("meanP", "seqLSTM", "seqTransf")
PATCHES = ("2d", "3d")
WEIGHTS_SOURCES = ("open_clip", "hf", "local")
WEIGHTS_LAYOUTS = ("open_clip", "hf_clip", "clip4clip")


@dataclass
class ModelCard:
    """Everything needed to turn a model name into a ready CLIP4Clip model."""

    name: str
    arch: str  # open_clip architecture name, or the name an inline config is registered under
    description: str = ""
    open_clip_config: dict[str, Any] | None = None  # inline config for archs open_clip lacks
    weights_source: str = "open_clip"
    pretrained: str | None = None  # open_clip pretrained tag; also picks mean/std
    hf_repo: str | None = None
    hf_filename: str | None = None
    weights_layout: str = "open_clip"
    quick_gelu: bool | None = None  # None: take it from the pretrained tag or the inline config
    header: str = "meanP"
    shortlist_header: str = "meanP"  # tightTransf only: the loose header that builds the index
    patch: str = "2d"
    frames_per_clip: int = 12
    embed_dim: int = 512
    licence: str = ""
    base: str | None = None  # the card a fine-tune started from
    extra: dict[str, Any] = field(default_factory=dict)  # training metadata, metrics
    # Where the card was read from; not part of the card itself.
    path: Path | None = field(default=None, compare=False, repr=False)

    @property
    def folder(self) -> Path | None:
        return self.path.parent if self.path is not None else None

    @property
    def index_header(self) -> str:
        """The loose header whose clip vectors go into the index."""
        return self.shortlist_header if self.header == "tightTransf" else self.header


_SERIALISED = [f.name for f in fields(ModelCard) if f.name != "path"]
# Optional strings too: TOML has no null, so an absent key is how a card says None.
_STR_FIELDS = {"name", "arch", "description", "weights_source", "weights_layout", "header",
               "shortlist_header", "patch", "licence", "pretrained", "hf_repo", "hf_filename",
               "base"}
_CHOICES = {
    "weights_source": WEIGHTS_SOURCES,
    "weights_layout": WEIGHTS_LAYOUTS,
    "header": HEADER_NAMES,
    "shortlist_header": LOOSE_HEADER_NAMES,
    "patch": PATCHES,
}


def card_from_toml(text: str, source: str | Path = "<card>") -> ModelCard:
    """Parse and validate one card; any problem is a UsageError naming `source`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not a valid model card ({exc})", "fix or delete the file") from exc
    return card_from_dict(raw, source)


def card_from_dict(raw: dict[str, Any], source: str | Path = "<card>") -> ModelCard:
    def bad(problem: str) -> UsageError:
        return UsageError(f"{source}: {problem}", "fix or delete the model card")

    unknown = sorted(set(raw) - set(_SERIALISED))
    if unknown:
        raise bad(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(_SERIALISED)}")
    for required in ("name", "arch"):
        if not isinstance(raw.get(required), str) or not raw[required]:
            raise bad(f"missing field '{required}'")
    for key, value in raw.items():
        if key in _STR_FIELDS and not isinstance(value, str):
            raise bad(f"'{key}' must be a string")
        if key in ("open_clip_config", "extra") and not isinstance(value, dict):
            raise bad(f"'{key}' must be a table")
        if key == "quick_gelu" and not isinstance(value, bool):
            raise bad("'quick_gelu' must be true or false")
        if key in ("frames_per_clip", "embed_dim") and (
            isinstance(value, bool) or not isinstance(value, int) or value <= 0
        ):
            raise bad(f"'{key}' must be a positive integer")
    for key, choices in _CHOICES.items():
        if key in raw and raw[key] not in choices:
            raise bad(f"'{key}' is {raw[key]!r}; expected one of {', '.join(choices)}")
    card = ModelCard(**raw)
    if card.weights_source == "hf" and not card.hf_repo:
        raise bad("weights_source 'hf' needs 'hf_repo'")
    if card.weights_source == "open_clip" and not card.pretrained:
        raise bad("weights_source 'open_clip' needs 'pretrained' (an open_clip tag)")
    if source != "<card>":
        card.path = Path(source)
    return card


def card_to_toml(card: ModelCard) -> str:
    """Write a card as TOML that `card_from_toml` reads back to an equal card."""
    from vidsearch import tomlfile

    return tomlfile.dumps({name: getattr(card, name) for name in _SERIALISED})


def load_card(name: str) -> ModelCard:
    """User cards shadow builtin ones; an unknown name lists the models that do exist."""
    _check_name(name)
    user_card = models_dir() / name / CARD_FILENAME
    if user_card.is_file():
        return _read_card(user_card, expected_name=name)
    builtin = _builtin_cards_dir() / f"{name}.toml"
    if builtin.is_file():
        return _read_card(builtin, expected_name=name)
    known = ", ".join(card.name for card in list_cards()) or "none"
    raise UsageError(f"unknown model '{name}' (known models: {known})",
                     "run `vidsearch models list` to see them")


def list_cards() -> list[ModelCard]:
    """Every model the user can select, builtin first, user models shadowing builtins by name."""
    cards: dict[str, ModelCard] = {}
    for path in sorted(_builtin_cards_dir().glob("*.toml")):
        cards[path.stem] = _read_card(path, expected_name=path.stem)
    user_root = models_dir()
    if user_root.is_dir():
        for path in sorted(user_root.glob(f"*/{CARD_FILENAME}")):
            cards[path.parent.name] = _read_card(path, expected_name=path.parent.name)
    return list(cards.values())


def write_card(card: ModelCard, folder: Path) -> Path:
    """Write `folder/card.toml` atomically and point `card.path` at it."""
    from vidsearch import tomlfile

    path = folder / CARD_FILENAME
    tomlfile.write_document(path, {name: getattr(card, name) for name in _SERIALISED})
    card.path = path
    return path


def _check_name(name: str) -> None:
    # Names become folder names; refuse anything that could climb out of models_dir().
    if not name or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise UsageError(f"'{name}' is not a valid model name",
                         "use letters, digits, '.', '_' and '-' only")


def _read_card(path: Path, expected_name: str) -> ModelCard:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read model card ({exc})", "fix or delete the file") from exc
    card = card_from_toml(text, path)
    if card.name != expected_name:
        raise UsageError(f"{path}: card says name '{card.name}' but is stored as '{expected_name}'",
                         "make the name match the file or folder name")
    return card


def _builtin_cards_dir() -> Path:
    try:
        from importlib.resources import files

        folder = files("vidsearch.cards")
        # An installed wheel unpacks to real files; a zipped install is not supported.
        return Path(str(folder))
    except (ModuleNotFoundError, TypeError):
        # A source checkout without an install: the cards sit in the repo's models/ folder.
        return Path(__file__).resolve().parents[2] / "models"
