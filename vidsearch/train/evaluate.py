"""Score held-out labels with a model: captions x clips similarity -> R@K, MdR, MnR.

Queries are the distinct captions (a caption used for several clips is one query with several
right answers); candidates are the labelled clips. Loose headers score by cosine of caption and
clip vectors, as search does; a tightTransf model is scored by its cross-encoder over every
(caption, clip) pair, which is what its re-ranking would do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vidsearch.metrics import BothWays, retrieval_metrics
from vidsearch.model.clip4clip import CLIP4Clip
from vidsearch.train.data import (SAMPLE_FPS, FramePlan, frame_cache, load_span_frames,
                                  vector_cache)
from vidsearch.train.encode import (Inputs, batches, clips_per_batch, encode_clip_frames,
                                    inputs_for)
from vidsearch.train.frozen import cached_features
from vidsearch.train.labels import Labels
from vidsearch.train.progress import SilentProgress

log = logging.getLogger(__name__)

TEXT_BATCH = 256


@dataclass
class EvalSet:
    """Clips (as uint8 frames, or as frame features when the backbone is frozen), the distinct
    captions, and which caption describes which clip."""

    frames: Sequence[np.ndarray]
    captions: list[str]
    relevant: np.ndarray  # [captions, clips] bool
    features: Sequence[np.ndarray] | None = None


def build_eval_set(labels: Labels, frames: Sequence[np.ndarray],
                   features: Sequence[np.ndarray] | None = None) -> EvalSet:
    captions = list(dict.fromkeys(caption for _, caption in labels.pairs))
    row = {caption: index for index, caption in enumerate(captions)}
    relevant = np.zeros((len(captions), len(labels.clips)), dtype=bool)
    for clip_index, caption in labels.pairs:
        relevant[row[caption], clip_index] = True
    return EvalSet(frames, captions, relevant, features)


def evaluate_labels(model: Any, labels: Labels,
                    on_video: Callable[[Path], None] | None = None) -> BothWays:
    """Metrics of a loaded VideoTextModel on validated labels: frames from the span cache,
    frame vectors from the vector cache of this model (a second run encodes nothing)."""
    plan = FramePlan(size=model.image_size, fps=SAMPLE_FPS, max_frames=model.card.frames_per_clip)
    frames = load_span_frames(labels.clips, plan, frame_cache(), on_video=on_video)
    inputs = inputs_for(model, model.autocast_dtype)
    per_batch = clips_per_batch(inputs.device, plan.max_frames)
    vectors = vector_cache(frame_vector_key(model.fingerprint, model.module.patch,
                                            inputs.autocast_dtype))
    features = cached_features(model.module, inputs, frames, vectors, per_batch,
                               SilentProgress())
    data = build_eval_set(labels, frames.frames, features)
    return evaluate(model.module, inputs, data, per_batch)


def frame_vector_key(model_fingerprint: str, patch: str, autocast_dtype: Any = None) -> str:
    """Which vector cache holds a backbone's frame vectors: the model, its patch embedding,
    and the precision they were encoded at (fp32 training and bf16 eval must not mix)."""
    key = f"{model_fingerprint}-{patch}"
    return key if autocast_dtype is None else f"{key}-{str(autocast_dtype).replace('torch.', '')}"


def evaluate(module: CLIP4Clip, inputs: Inputs, data: EvalSet, clips_per_batch: int) -> BothWays:
    return retrieval_metrics(score_matrix(module, inputs, data, clips_per_batch), data.relevant)


def score_matrix(module: CLIP4Clip, inputs: Inputs, data: EvalSet,
                 clips_per_batch: int) -> np.ndarray:
    """Captions x clips scores (higher is better), in float64."""
    was_training = module.training
    module.eval()
    try:
        features = data.features
        if features is None:
            features = encode_clip_frames(module, inputs, data.frames, clips_per_batch)
        with torch.inference_mode():
            if module.tight is not None:
                return _tight_scores(module, inputs, data.captions, features)
            return _loose_scores(module, inputs, data.captions, features)
    finally:
        module.train(was_training)


def _loose_scores(module: CLIP4Clip, inputs: Inputs, captions: list[str],
                  features: Sequence[np.ndarray]) -> np.ndarray:
    vectors = []
    for part in batches(len(features), TEXT_BATCH):
        padded, mask = inputs.features(features[part])
        with inputs.autocast():
            vectors.append(module.aggregate(padded, mask).float())
    clips = F.normalize(torch.cat(vectors), dim=-1)
    texts = []
    for part in batches(len(captions), TEXT_BATCH):
        with inputs.autocast():
            texts.append(module.encode_text(inputs.tokens(captions[part])).float())
    text = F.normalize(torch.cat(texts), dim=-1)
    return (text @ clips.t()).double().cpu().numpy()


def _tight_scores(module: CLIP4Clip, inputs: Inputs, captions: list[str],
                  features: Sequence[np.ndarray]) -> np.ndarray:
    scores = np.zeros((len(captions), len(features)), dtype=np.float64)
    for text_part in batches(len(captions), TEXT_BATCH):
        with inputs.autocast():
            tokens, token_mask = module.encode_text_tokens(inputs.tokens(captions[text_part]))
        for offset in range(tokens.shape[0]):
            row = text_part.start + offset
            for part in batches(len(features), TEXT_BATCH):
                padded, mask = inputs.features(features[part])
                count = padded.shape[0]
                with inputs.autocast():
                    out = module.tight(tokens[offset:offset + 1].expand(count, -1, -1),
                                       token_mask[offset:offset + 1].expand(count, -1),
                                       padded, mask)
                scores[row, part] = out.double().cpu().numpy()
    return scores
