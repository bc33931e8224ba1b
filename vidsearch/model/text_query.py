"""A text-only model for queries: `vidsearch find "..."` in a new process within a few seconds.

Importing open_clip pulls in torchvision and timm (4 s here) and building a full CLIP spends
another 2 s on a vision tower a text query never uses. For the standard CLIP text transformer
this module builds only the text tower, with open_clip's own parameter names so the same
weights load, and tokenises with `model.tokenizer` (open_clip's ids from its vocabulary file). Anything it does not recognise
(HF text towers, other pooling, custom norms) goes through the full model instead.

Causal attention makes the end-of-text token's output depend only on the tokens before it, so
the sequence is cut at the last end-of-text token of the batch: a six-word query runs through
8 positions instead of 77, with identical output.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidsearch.model.cards import ModelCard, load_card
from vidsearch.model.text_spec import PLAIN_TEXT_KEYS, plain_text_config
from vidsearch.model.tokenizer import ClipTokenizer

log = logging.getLogger(__name__)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _Block(nn.Module):
    """A pre-norm transformer block named like open_clip's ResidualAttentionBlock."""

    def __init__(self, width: int, heads: int, quick_gelu: bool, device=None) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, device=device)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True, device=device)
        self.ln_2 = nn.LayerNorm(width, device=device)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4, device=device))
        self.mlp.add_module("gelu", QuickGELU() if quick_gelu else nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width, device=device))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class _Resblocks(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, quick_gelu: bool, device=None
                 ) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(_Block(width, heads, quick_gelu, device)
                                       for _ in range(layers))


class TextTower(nn.Module):
    """CLIP's text transformer: tokens -> projected end-of-text features.

    Built on the "meta" device it allocates nothing and initialises nothing, for weights to be
    assigned right after (the embedding gets an empty weight: its random init alone took 1 s).
    """

    def __init__(self, *, embed_dim: int, context_length: int, vocab_size: int, width: int,
                 heads: int, layers: int, quick_gelu: bool, device=None) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(
            vocab_size, width, _weight=torch.empty(vocab_size, width, device=device))
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width,
                                                             device=device))
        self.transformer = _Resblocks(width, layers, heads, quick_gelu, device)
        self.ln_final = nn.LayerNorm(width, device=device)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim, device=device))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        eot = tokens.argmax(dim=-1)  # the end-of-text token has the largest id
        length = int(eot.max()) + 1
        tokens = tokens[:, :length]
        x = self.token_embedding(tokens) + self.positional_embedding[:length]
        mask = torch.full((length, length), float("-inf"), device=tokens.device).triu(1)
        for block in self.transformer.resblocks:
            x = block(x, mask)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), eot] @ self.text_projection


class TextQueryModel:
    """Just enough of `VideoTextModel` for text search: card, fingerprint, embed_texts."""

    can_rerank = False

    def __init__(self, card: ModelCard, tower: TextTower, tokenizer: ClipTokenizer,
                 fingerprint: str) -> None:
        self.card = card
        self.tower = tower
        self.tokenizer = tokenizer
        self.fingerprint = fingerprint
        self.device = "cpu"

    @property
    def embed_dim(self) -> int:
        return self.tower.text_projection.shape[1]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings, not one string")
        with torch.inference_mode():
            features = self.tower(torch.from_numpy(self.tokenizer(list(texts))))
        return F.normalize(features.float(), dim=-1).numpy()


def load_text_query_model(name: str | None = None, *, weights: Path | str | None = None,
                          offline: bool = False) -> TextQueryModel | None:
    """The text tower of model `name` on the CPU, or None where only the full model will do."""
    from vidsearch.config import load_settings
    from vidsearch.model.locate import locate_model
    from vidsearch.model.weights import (backbone_state, convert_hf_clip_to_open_clip,
                                         detect_layout, load_state_file)

    card = load_card(name or load_settings().active_model)
    config = plain_text_config(card)
    if config is None:
        return None
    located = locate_model(card.name, weights=weights, offline=offline)
    state = load_state_file(located.weights, mapped=True)
    layout = detect_layout(state)
    if layout == "hf_clip":
        state = convert_hf_clip_to_open_clip(state)
    elif layout == "clip4clip":
        state = backbone_state(state)
    text_cfg = config["text_cfg"]
    tower = TextTower(embed_dim=config["embed_dim"], quick_gelu=config["quick_gelu"],
                      device="meta", **{key: text_cfg[key] for key in PLAIN_TEXT_KEYS})
    wanted = tower.state_dict().keys()
    missing = [key for key in wanted if key not in state]
    if missing:
        log.debug("text-only path unavailable for %s: missing %s", card.name, missing[:3])
        return None
    tower.load_state_dict({key: state[key].float() for key in wanted}, assign=True)
    tokenizer = ClipTokenizer(text_cfg["context_length"])
    return TextQueryModel(card, tower.eval(), tokenizer, located.fingerprint)
