"""CLIP4Clip similarity headers ("sim headers"), one class each, in one registry.

Loose headers (meanP, seqLSTM, seqTransf) turn the raw frame features of one clip [B, T, D] and a
mask of real frames [B, T] into one normalised clip vector [B, D]: the vector an index stores.
The tight header (tightTransf) is a cross-encoder over (caption tokens, frames) pairs; it can only
re-rank a shortlist. Layouts and initialisation follow CLIP4Clip's reference code (see
docs CLIP4CLIP.md): seqTransf and tightTransf start from CLIP's text transformer.
"""

from __future__ import annotations

import copy
import logging
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

log = logging.getLogger(__name__)

TRANSFORMER_LAYERS = 4


class TextTower(NamedTuple):
    positional_embedding: torch.Tensor  # [context_length, width]
    resblocks: nn.ModuleList
    width: int


def find_text_tower(clip: nn.Module) -> TextTower | None:
    """The text transformer of an open_clip CLIP (top-level) or CustomTextCLIP (`clip.text`)."""
    for owner in (clip, getattr(clip, "text", None)):
        transformer = getattr(owner, "transformer", None)
        positional = getattr(owner, "positional_embedding", None)
        resblocks = getattr(transformer, "resblocks", None)
        if isinstance(resblocks, nn.ModuleList) and isinstance(positional, torch.Tensor):
            return TextTower(positional, resblocks, positional.shape[-1])
    return None


def left_align(frames: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move real frames to the front (keeping their order) and zero the padding.

    Headers then see the same sequence whatever the padding looked like, which is what makes
    them padding-invariant; zeroing keeps NaN or inf in padded slots from leaking through
    0-weighted attention or sums.
    """
    mask = mask.to(device=frames.device, dtype=torch.bool)
    if mask.shape != frames.shape[:2]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match frames {tuple(frames.shape)}")
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every clip needs at least one real frame")
    _, order = torch.sort((~mask).to(torch.int8), dim=1, stable=True)
    mask = torch.gather(mask, 1, order)
    frames = torch.gather(frames, 1, order.unsqueeze(-1).expand_as(frames))
    frames = torch.where(mask.unsqueeze(-1), frames, torch.zeros((), dtype=frames.dtype,
                                                                 device=frames.device))
    return frames, mask


def mean_pool(frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """meanP: normalise each frame, masked mean over frames, normalise again."""
    frames = F.normalize(frames, dim=-1)
    keep = mask.unsqueeze(-1)
    frames = torch.where(keep, frames, torch.zeros((), dtype=frames.dtype, device=frames.device))
    count = keep.sum(dim=1).clamp(min=1).to(frames.dtype)
    return F.normalize(frames.sum(dim=1) / count, dim=-1)


def build_key_padding_mask(mask: torch.Tensor, heads: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention mask [B*heads, T, T] that hides padded keys from every query."""
    batch, length = mask.shape
    additive = torch.zeros(batch, 1, length, dtype=dtype, device=mask.device)
    additive = additive.masked_fill(~mask.unsqueeze(1), float("-inf"))
    return additive.expand(batch, length, length).repeat_interleave(heads, dim=0)


def copy_text_blocks(clip: nn.Module, embed_dim: int, count: int = TRANSFORMER_LAYERS) -> nn.ModuleList:
    """Transformer layers initialised from CLIP's text `transformer.resblocks.0..count-1`.

    As in the reference code, only layers the text tower has are copied; further layers (a text
    tower shallower than `count`) start random. A text tower whose width differs from the joint
    embedding size cannot be copied at all, so then every layer starts random.
    """
    tower = find_text_tower(clip)
    if tower is None or tower.width != embed_dim or len(tower.resblocks) == 0:
        log.info("text transformer does not fit width %d; header layers start random", embed_dim)
        from open_clip.transformer import ResidualAttentionBlock

        heads = max(1, embed_dim // 64)
        return nn.ModuleList(ResidualAttentionBlock(embed_dim, heads) for _ in range(count))
    blocks = []
    for index in range(count):
        if index < len(tower.resblocks):
            blocks.append(copy.deepcopy(tower.resblocks[index]))
        else:
            block = copy.deepcopy(tower.resblocks[0])
            reset_block(block)
            blocks.append(block)
    return nn.ModuleList(blocks)


def reset_block(block: nn.Module) -> None:
    """Give a copied transformer layer fresh random weights (LayerNorm to identity)."""
    for module in block.modules():
        if isinstance(module, nn.LayerNorm):
            module.reset_parameters()
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.MultiheadAttention) and module.in_proj_weight is not None:
            nn.init.normal_(module.in_proj_weight, std=0.02)
            if module.in_proj_bias is not None:
                nn.init.zeros_(module.in_proj_bias)


def copy_text_positions(clip: nn.Module, embed_dim: int) -> nn.Embedding:
    """Frame position embeddings, one row per position, copied from CLIP's text positions."""
    tower = find_text_tower(clip)
    if tower is None or tower.width != embed_dim:
        table = nn.Embedding(77, embed_dim)
        nn.init.normal_(table.weight, std=0.01)
        return table
    table = nn.Embedding(tower.positional_embedding.shape[0], embed_dim)
    with torch.no_grad():
        table.weight.copy_(tower.positional_embedding.detach())
    return table


def count_heads(block: nn.Module) -> int:
    attention = getattr(block, "attn", None)
    return int(getattr(attention, "num_heads", 1))


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Run open_clip residual blocks (batch first) with padded keys masked out."""
    attn_mask = build_key_padding_mask(mask, count_heads(blocks[0]), x.dtype)
    for block in blocks:
        x = block(x, attn_mask=attn_mask)
    return x


class LooseHeader(nn.Module):
    """Base of the loose headers: contextualise real frames, then meanP."""

    name: ClassVar[str]
    loose: ClassVar[bool] = True

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        frames, mask = left_align(frames, mask)
        return mean_pool(self.contextualise(frames, mask), mask)

    def contextualise(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return frames


class MeanP(LooseHeader):
    """Parameter-free: the mean of the normalised frame vectors."""

    name = "meanP"

    def __init__(self, clip: nn.Module, embed_dim: int) -> None:
        super().__init__()


class SeqLSTM(LooseHeader):
    """A one-layer LSTM over the real frames, added to the frames as a residual."""

    name = "seqLSTM"

    def __init__(self, clip: nn.Module, embed_dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(embed_dim, embed_dim, num_layers=1, batch_first=True)

    def contextualise(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1).cpu()
        packed = pack_padded_sequence(frames, lengths, batch_first=True, enforce_sorted=False)
        if self.training:
            self.lstm.flatten_parameters()
        out, _ = self.lstm(packed)
        # pad_packed_sequence fills padded steps with zeros; meanP masks them out anyway.
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=frames.shape[1])
        return out.to(frames.dtype) + frames


class SeqTransf(LooseHeader):
    """Frame positions + a 4-layer transformer over the real frames, added as a residual."""

    name = "seqTransf"

    def __init__(self, clip: nn.Module, embed_dim: int) -> None:
        super().__init__()
        self.frame_position_embeddings = copy_text_positions(clip, embed_dim)
        self.transformer = copy_text_blocks(clip, embed_dim)

    def contextualise(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length = frames.shape[1]
        if length > self.frame_position_embeddings.num_embeddings:
            raise ValueError(f"{length} frames exceed the "
                             f"{self.frame_position_embeddings.num_embeddings} frame positions")
        positions = torch.arange(length, device=frames.device)
        x = frames + self.frame_position_embeddings(positions).to(frames.dtype)
        x = run_blocks(self.transformer, x, mask)
        return x.to(frames.dtype) + frames


class TightTransf(nn.Module):
    """Cross-encoder: caption tokens and frames through one transformer, FC(ReLU(FC(u))).

    The score of a (caption, clip) pair is a raw number, not a cosine: it orders a shortlist.
    """

    name: ClassVar[str] = "tightTransf"
    loose: ClassVar[bool] = False

    def __init__(self, clip: nn.Module, embed_dim: int) -> None:
        super().__init__()
        self.position_embeddings = copy_text_positions(clip, embed_dim)
        self.type_embeddings = nn.Embedding(2, embed_dim)  # 0: caption token, 1: frame
        nn.init.normal_(self.type_embeddings.weight, std=0.02)
        self.transformer = copy_text_blocks(clip, embed_dim)
        self.hidden = nn.Linear(embed_dim, embed_dim)
        self.out = nn.Linear(embed_dim, 1)

    def forward(self, tokens: torch.Tensor, token_mask: torch.Tensor, frames: torch.Tensor,
                frame_mask: torch.Tensor) -> torch.Tensor:
        """tokens [B, L, D] + mask [B, L], frames [B, T, D] + mask [B, T] -> scores [B]."""
        frames, frame_mask = left_align(frames, frame_mask)
        token_mask = token_mask.to(device=tokens.device, dtype=torch.bool)
        limit = self.position_embeddings.num_embeddings
        if tokens.shape[1] > limit or frames.shape[1] > limit:
            raise ValueError(f"tight header takes at most {limit} tokens and {limit} frames")
        device = tokens.device
        text = (tokens + self.position_embeddings(torch.arange(tokens.shape[1], device=device))
                + self.type_embeddings.weight[0])
        video = (frames + self.position_embeddings(torch.arange(frames.shape[1], device=device))
                 + self.type_embeddings.weight[1])
        x = torch.cat([text, video.to(text.dtype)], dim=1)
        mask = torch.cat([token_mask, frame_mask], dim=1)
        x = run_blocks(self.transformer, x, mask)
        first = x[:, 0]  # the caption's start token, as the reference code's pooler
        return self.out(F.relu(self.hidden(first))).squeeze(-1)


HEADERS: dict[str, type[nn.Module]] = {
    MeanP.name: MeanP,
    SeqLSTM.name: SeqLSTM,
    SeqTransf.name: SeqTransf,
    TightTransf.name: TightTransf,
}


def build_header(name: str, clip: nn.Module, embed_dim: int) -> nn.Module:
    """A header by name; `clip` supplies the text weights that seqTransf/tightTransf start from."""
    try:
        header_class = HEADERS[name]
    except KeyError:
        raise ValueError(f"unknown sim header '{name}' (known: {', '.join(HEADERS)})") from None
    return header_class(clip, embed_dim)
