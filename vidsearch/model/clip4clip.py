"""The CLIP4Clip module: an open_clip CLIP as frame and text encoder, plus a sim header.

Pure computation on tensors: no files, no downloads, no numpy. `weights.py` and `factory.py`
build it; `video_text.py` wraps it for the rest of the app.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from vidsearch.model.heads import build_header

log = logging.getLogger(__name__)

PATCHES = ("2d", "3d")


class TemporalPatchEmbed(nn.Module):
    """CLIP4Clip's 3D patch: Conv3d over (time, height, width) standing in for the ViT's conv1.

    open_clip's VisionTransformer calls `conv1` on [B*T, 3, H, W]; this module regroups that into
    B sequences of `sequence_length` frames so each frame's patch tokens see their neighbours.
    """

    def __init__(self, conv2d: nn.Conv2d) -> None:
        super().__init__()
        width, channels, patch_h, patch_w = conv2d.weight.shape
        self.conv = nn.Conv3d(channels, width, kernel_size=(3, patch_h, patch_w),
                              stride=(1, patch_h, patch_w), padding=(1, 0, 0), bias=False)
        # Central-frame init [0, W2D, 0]: at start the 3D model equals the 2D one exactly.
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, :, 1].copy_(conv2d.weight.detach())
        self.sequence_length = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.sequence_length
        total, channels, height, width = x.shape
        if total % frames:
            raise ValueError(f"{total} frames do not split into sequences of {frames}")
        x = x.reshape(total // frames, frames, channels, height, width).transpose(1, 2)
        x = self.conv(x)  # [B, width, T, grid_h, grid_w]
        return x.transpose(1, 2).reshape(total, x.shape[1], x.shape[3], x.shape[4])


def inflate_patch_embedding(clip: nn.Module) -> TemporalPatchEmbed:
    """Replace the vision tower's 2D patch conv by a centrally initialised 3D one."""
    visual = getattr(clip, "visual", None)
    conv = getattr(visual, "conv1", None)
    if not isinstance(conv, nn.Conv2d):
        raise ValueError("the 3d patch needs an open_clip ViT image tower (a Conv2d `visual.conv1`)")
    patch = TemporalPatchEmbed(conv)
    visual.conv1 = patch
    return patch


def symmetric_loss(logits: torch.Tensor) -> torch.Tensor:
    """InfoNCE both ways: (CE(S, diag) + CE(S^T, diag)) / 2 for a B x B similarity matrix."""
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"expected a square similarity matrix, got {tuple(logits.shape)}")
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


class CLIP4Clip(nn.Module):
    """open_clip CLIP + CLIP4Clip patch (2d/3d) + sim header.

    State dict: `clip.*` (the backbone, open_clip names), `header.*` (the loose header that makes
    index vectors), `tight.*` (only for tightTransf: the cross-encoder used to re-rank).
    """


    def __init__(self, clip: nn.Module, *, embed_dim: int, header: str = "meanP",
                 patch: str = "2d", shortlist_header: str = "meanP") -> None:
        super().__init__()
        if patch not in PATCHES:
            raise ValueError(f"unknown patch '{patch}' (known: {', '.join(PATCHES)})")
        self.clip = clip
        self.embed_dim = embed_dim
        self.header_name = header
        self.patch = patch
        if patch == "3d":
            inflate_patch_embedding(clip)
        loose = shortlist_header if header == "tightTransf" else header
        self.header = build_header(loose, clip, embed_dim)
        if not getattr(self.header, "loose", False):
            raise ValueError(f"'{loose}' cannot build index vectors; use a loose header")
        self.tight = build_header("tightTransf", clip, embed_dim) if header == "tightTransf" else None

    @property
    def patch_embed(self) -> TemporalPatchEmbed | None:
        """The 3D patch module (it lives inside the backbone, as `clip.visual.conv1`)."""
        conv = getattr(getattr(self.clip, "visual", None), "conv1", None)
        return conv if isinstance(conv, TemporalPatchEmbed) else None

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.clip.logit_scale

    @property
    def can_rerank(self) -> bool:
        return self.tight is not None

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids [B, L] -> raw (unnormalised) caption features [B, D]."""
        self._need_text()
        if not self._causal_argmax_text():
            return self.clip.encode_text(tokens)
        # With causal attention the end-of-text output depends only on the tokens before it, so
        # the padding after the longest caption is skipped: a short query costs 8 positions of
        # 77, with the same result.
        eot = tokens.argmax(dim=-1)
        features, _ = self.encode_text_tokens(tokens[:, : int(eot.max()) + 1])
        return features[torch.arange(features.shape[0], device=tokens.device), eot]

    def _causal_argmax_text(self) -> bool:
        clip = self.clip
        return (getattr(clip, "text", None) is None
                and getattr(clip, "text_pool_type", "argmax") == "argmax"
                and getattr(clip, "attn_mask", None) is not None)

    def encode_text_tokens(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids [B, L] -> per-token features [B, L, D] and a mask of real tokens [B, L].

        Real tokens run up to the end-of-text token, which has the largest id (CLIP's tokenizer).
        """
        self._need_text()
        text = getattr(self.clip, "text", None)
        if text is not None:
            x = self._text_tower_tokens(text, tokens)
            projection = getattr(text, "text_projection", None)
        else:
            clip = self.clip
            length = tokens.shape[1]
            cast = clip.transformer.get_cast_dtype()
            x = clip.token_embedding(tokens).to(cast) + clip.positional_embedding[:length].to(cast)
            attn_mask = clip.attn_mask[:length, :length] if clip.attn_mask is not None else None
            x = clip.ln_final(clip.transformer(x, attn_mask=attn_mask))
            projection = clip.text_projection
        if isinstance(projection, nn.Linear):
            x = projection(x)
        elif projection is not None:
            x = x @ projection
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        mask = positions.unsqueeze(0) <= tokens.argmax(dim=-1, keepdim=True)
        return x, mask

    @property
    def has_text(self) -> bool:
        """False for a model loaded to encode frames only (`factory.drop_text_tower`)."""
        clip = self.clip
        return getattr(clip, "text", None) is not None or getattr(clip, "transformer",
                                                                   None) is not None

    def _need_text(self) -> None:
        if not self.has_text:
            raise RuntimeError("this model was loaded without its text tower (load_model(text=True))")

    @staticmethod
    def _text_tower_tokens(text: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
        if not hasattr(text, "output_tokens") or getattr(text, "cls_emb", None) is not None:
            raise ValueError("the tight header needs an open_clip TextTransformer text tower")
        previous = text.output_tokens
        text.output_tokens = True
        try:
            _, token_features = text(tokens)
        finally:
            text.output_tokens = previous
        return token_features

    def encode_frames(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Frames [B, T, 3, H, W] (normalised pixels) -> raw frame features [B, T, D].

        2d: every frame alone. 3d: the T frames of a row are one consecutive sequence; padded
        frames (mask False) are zeroed first, which is exactly the conv's own zero padding, so a
        real frame next to padding sees what it would see at the end of its video.
        """
        if frames.ndim != 5:
            raise ValueError(f"expected frames [B, T, 3, H, W], got {tuple(frames.shape)}")
        batch, length = frames.shape[:2]
        if mask is not None:
            mask = mask.to(device=frames.device, dtype=torch.bool)
            zero = torch.zeros((), dtype=frames.dtype, device=frames.device)
            frames = torch.where(mask[:, :, None, None, None], frames, zero)
        flat = frames.reshape(batch * length, *frames.shape[2:])
        with self._sequence_length(length):
            features = self.clip.encode_image(flat)
        features = features.reshape(batch, length, -1)
        if mask is not None:
            features = torch.where(mask.unsqueeze(-1), features,
                                   torch.zeros((), dtype=features.dtype, device=features.device))
        return features

    @contextlib.contextmanager
    def _sequence_length(self, length: int) -> Iterator[None]:
        patch = self.patch_embed
        if patch is None:
            yield
            return
        previous = patch.sequence_length
        patch.sequence_length = length
        try:
            yield
        finally:
            patch.sequence_length = previous

    def aggregate(self, frame_features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Raw frame features [B, T, D] + real-frame mask [B, T] -> normalised clip vectors [B, D]."""
        return self.header(frame_features, mask)

    def similarity(self, text_features: torch.Tensor, clip_vectors: torch.Tensor) -> torch.Tensor:
        """Captions [Bt, D] (raw) x clips [Bv, D] (normalised) -> logits [Bt, Bv], CLIP's scale."""
        text = F.normalize(text_features, dim=-1)
        clips = F.normalize(clip_vectors, dim=-1)
        return self.clip.logit_scale.exp() * text @ clips.t()

    def forward(self, tokens: torch.Tensor, frames: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Training step input -> B x B caption-by-clip logits of the loose header."""
        text = self.encode_text(tokens)
        clips = self.aggregate(self.encode_frames(frames, mask), mask)
        return self.similarity(text, clips)

    def rerank(self, tokens: torch.Tensor, frame_features: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
        """Tight scores for pairs: tokens [B or 1, L] with frame features [B, T, D] -> [B]."""
        if self.tight is None:
            raise ValueError(f"header '{self.header_name}' cannot re-rank; only tightTransf can")
        token_features, token_mask = self.encode_text_tokens(tokens)
        batch = frame_features.shape[0]
        if token_features.shape[0] == 1 and batch != 1:
            token_features = token_features.expand(batch, -1, -1)
            token_mask = token_mask.expand(batch, -1)
        return self.tight(token_features, token_mask, frame_features, mask)

    def cross_logits(self, tokens: torch.Tensor, frame_features: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
        """Tight scores for every (caption, clip) pair of a batch -> [B, B], for training."""
        if self.tight is None:
            raise ValueError(f"header '{self.header_name}' has no cross-encoder")
        token_features, token_mask = self.encode_text_tokens(tokens)
        batch = tokens.shape[0]
        clips = frame_features.shape[0]
        scores = self.tight(
            token_features.repeat_interleave(clips, dim=0),
            token_mask.repeat_interleave(clips, dim=0),
            frame_features.repeat(batch, 1, 1),
            mask.repeat(batch, 1),
        )
        return scores.reshape(batch, clips)

    symmetric_loss = staticmethod(symmetric_loss)
