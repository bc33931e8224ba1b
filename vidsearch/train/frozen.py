"""Training with a frozen backbone: CLIP's towers never change, so each clip's frame vectors
(cached on disk across runs) and each caption's text vectors are computed once, and every step
trains only the header on them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vidsearch.model.clip4clip import CLIP4Clip
from vidsearch.train.data import SpanFrames
from vidsearch.train.encode import encode_clip_frames


@dataclass(frozen=True)
class TextTable:
    """Every distinct training caption encoded once, indexed by caption id."""

    features: torch.Tensor
    token_features: torch.Tensor | None  # tight headers only
    token_mask: torch.Tensor | None


def encode_text_table(module: CLIP4Clip, inputs, captions: list[str], max_words: int
                      ) -> TextTable:
    token_features = token_mask = None
    # no_grad, not inference_mode: these tensors take part in every training step.
    with torch.no_grad(), inputs.autocast():
        tokens = inputs.tokens(captions, max_words)
        features = module.encode_text(tokens).float().clone()
        if module.tight is not None:
            token_features, mask = module.encode_text_tokens(tokens)
            token_features, token_mask = token_features.float().clone(), mask.clone()
    return TextTable(features, token_features, token_mask)


def cached_features(module: CLIP4Clip, inputs, frames: SpanFrames, cache, per_batch: int,
                    progress) -> list[np.ndarray]:
    """Each clip's frame vectors: from `cache` where it has them whole, else encoded (and
    cached) as a `progress` stage. The module is left in the mode it was in."""
    was_training = module.training
    features: list[np.ndarray | None] = [cache.load(key) for key in frames.keys]
    missing = [i for i, f in enumerate(features)
               if f is None or len(f) != len(frames.frames[i])]
    progress.stage("encoding frames (frozen backbone)", len(missing))
    for start in range(0, len(missing), per_batch):
        part = missing[start:start + per_batch]
        encoded = encode_clip_frames(module, inputs, [frames.frames[i] for i in part], per_batch)
        for index, array in zip(part, encoded):
            features[index] = array
            cache.save(frames.keys[index], array)
        progress.advance(len(part))
    module.train(was_training)
    return [f for f in features if f is not None]


def cross_scores(module: CLIP4Clip, tokens: torch.Tensor, token_mask: torch.Tensor,
                 features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Tight scores of every (caption, clip) pair from precomputed token features -> [B, B]."""
    batch, clips = tokens.shape[0], features.shape[0]
    scores = module.tight(tokens.repeat_interleave(clips, dim=0),
                          token_mask.repeat_interleave(clips, dim=0),
                          features.repeat(batch, 1, 1), mask.repeat(batch, 1))
    return scores.reshape(batch, clips)
