"""Which text towers the plain CLIP text transformer reproduces, and open_clip's data files
(model configs, the BPE vocabulary), found on disk without importing open_clip or torch.

The text-only torch path, its ONNX export and the tokenizer all start here, so a query that
ends up running ONNX Runtime never pays for the import of either.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from vidsearch.model.cards import ModelCard

# text_cfg keys whose standard values the plain tower reproduces exactly.
PLAIN_TEXT_KEYS = frozenset({"context_length", "vocab_size", "width", "heads", "layers"})
_PLAIN_TOP_KEYS = {"embed_dim", "vision_cfg", "text_cfg", "quick_gelu"}
BPE_VOCAB_FILENAME = "bpe_simple_vocab_16e6.txt.gz"


def plain_text_config(card: ModelCard) -> dict[str, Any] | None:
    """`embed_dim`, `text_cfg` and `quick_gelu` when the card's text tower is the plain CLIP
    one; None for anything else (HF text towers, other pooling, custom norms)."""
    config = card.open_clip_config or open_clip_config_file(card.arch)
    if not config or set(config) - _PLAIN_TOP_KEYS:
        return None
    text_cfg = config.get("text_cfg", {})
    if set(text_cfg) - PLAIN_TEXT_KEYS or PLAIN_TEXT_KEYS - set(text_cfg):
        return None
    if card.quick_gelu is not None:
        quick_gelu = card.quick_gelu
    elif card.pretrained:
        return None  # the pretrained tag decides, and reading it needs open_clip itself
    else:
        quick_gelu = bool(config.get("quick_gelu", False))
    return {"embed_dim": config["embed_dim"], "text_cfg": text_cfg, "quick_gelu": quick_gelu}


def open_clip_folder() -> Path | None:
    """The installed open_clip package's folder; find_spec locates it without importing it."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def open_clip_config_file(arch: str) -> dict[str, Any] | None:
    folder = open_clip_folder()
    path = folder / "model_configs" / f"{arch}.json" if folder else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def bpe_vocab_path() -> Path | None:
    """open_clip's BPE merges file (gzipped text), the data CLIP's tokenizer is made of."""
    folder = open_clip_folder()
    path = folder / BPE_VOCAB_FILENAME if folder else None
    return path if path is not None and path.is_file() else None
