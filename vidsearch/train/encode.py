"""Tensors for the model: padded frame batches, caption tokens, frame features of clips.

Shared by training and evaluation so both see exactly the same inputs. Frames arrive as uint8
[T, S, S, 3] per clip (T differs between clips); batches pad T and carry a mask of real frames.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vidsearch.model.clip4clip import CLIP4Clip

log = logging.getLogger(__name__)


@dataclass
class Inputs:
    """How raw data becomes model input on one device."""

    tokenizer: Any
    device: torch.device
    mean: tuple[float, ...]
    std: tuple[float, ...]
    autocast_dtype: torch.dtype | None = None

    def pixels(self, clips: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 clips [T_i, S, S, 3] -> normalised [B, T, 3, S, S] and a mask [B, T]."""
        padded, mask = pad(clips)
        tensor = torch.from_numpy(padded)
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        tensor = tensor.to(self.device, non_blocking=True).permute(0, 1, 4, 2, 3).float()
        mean = torch.tensor(self.mean, device=self.device).view(1, 1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 1, 3, 1, 1)
        pixels = (tensor.div_(255.0) - mean) / std
        return pixels, torch.from_numpy(mask).to(self.device)

    def features(self, clips: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 frame features [T_i, D] -> [B, T, D] and a mask [B, T]."""
        padded, mask = pad(clips)
        return (torch.from_numpy(padded).to(self.device), torch.from_numpy(mask).to(self.device))

    def tokens(self, captions: Sequence[str], max_words: int | None = None) -> torch.Tensor:
        """Token ids [B, context]; with `max_words`, captions are cut to that many tokens.

        open_clip's text tower always runs its full context, so a short caption is tokenised
        to `max_words` (end token included) and zero-padded back: the causal mask makes the
        end token's features the same as for an uncut caption whenever the caption fits.
        """
        full = self.tokenizer(list(captions))
        if max_words and max_words < full.shape[1] and _cuts_cleanly(self.tokenizer):
            short = self.tokenizer(list(captions), context_length=max_words)
            full = torch.zeros_like(full)
            full[:, :max_words] = short
        return full.to(self.device)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.autocast_dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype):
            yield


def inputs_for(model: Any, autocast_dtype: torch.dtype | None = None) -> Inputs:
    """Inputs matching a loaded VideoTextModel (its tokenizer, device, pixel mean and std)."""
    from vidsearch.model.factory import read_preprocess

    preprocess = read_preprocess(model.module.clip)
    return Inputs(model.tokenizer, torch.device(model.device), tuple(preprocess["mean"]),
                  tuple(preprocess["std"]), autocast_dtype)


def _cuts_cleanly(tokenizer: Any) -> bool:
    # Only CLIP's own BPE tokenizer pads with id 0 and pools at the end token (argmax);
    # others keep their full context.
    from open_clip.tokenizer import SimpleTokenizer

    return isinstance(tokenizer, SimpleTokenizer)


def pad(clips: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack arrays [T_i, ...] into [B, max T, ...] with zeros after each clip's end."""
    if not clips:
        raise ValueError("no clips to pad")
    length = max(len(clip) for clip in clips)
    shape = (len(clips), length, *clips[0].shape[1:])
    padded = np.zeros(shape, dtype=clips[0].dtype)
    mask = np.zeros((len(clips), length), dtype=bool)
    for row, clip in enumerate(clips):
        padded[row, : len(clip)] = clip
        mask[row, : len(clip)] = True
    return padded, mask


def batches(count: int, size: int) -> Iterator[slice]:
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


def encode_clip_frames(module: CLIP4Clip, inputs: Inputs, clips: Sequence[np.ndarray],
                       clips_per_batch: int) -> list[np.ndarray]:
    """Raw frame features [T_i, D] float32 of each clip, with the module's backbone."""
    out: list[np.ndarray] = []
    module.eval()
    for part in batches(len(clips), clips_per_batch):
        pixels, mask = inputs.pixels(clips[part])
        with torch.inference_mode(), inputs.autocast():
            features = module.encode_frames(pixels, mask).float().cpu().numpy()
        lengths = mask.sum(dim=1).tolist()
        out.extend(row[:length].copy() for row, length in zip(features, lengths))
    return out


def clips_per_batch(device: torch.device, frames_per_clip: int) -> int:
    """Clips per inference batch: about 256 frames on CUDA, 64 on a CPU."""
    frames = 256 if device.type == "cuda" else 64
    return max(1, frames // max(1, frames_per_clip))
