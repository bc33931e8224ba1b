"""Pixels as a tower takes them: a query image fitted to the model's square, then normalised.

Numpy and Pillow only, so the ONNX query path (onnx_image.py) and the torch model prepare a
query image with the same code and differ only by their towers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Preprocess:
    """What the image tower expects: a size x size frame, normalised by `mean` and `std`."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def read(cls, path: Path) -> Preprocess | None:
        """The record at `path`; None where it is missing or unreadable."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(raw["image_size"]), tuple(map(float, raw["mean"])),
                       tuple(map(float, raw["std"])))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def normalise(self, frames: np.ndarray) -> np.ndarray:
        """uint8 [N, S, S, 3] -> float32 [N, 3, S, S], as the model's own normalisation."""
        mean = np.asarray(self.mean, np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(1, 3, 1, 1)
        # (x / 255 - mean) / std as one multiply and one add, written in place: it runs on the
        # encoder's thread, and five whole-batch passes cost it ~30 ms a batch of 32.
        out = np.empty((len(frames), 3, *frames.shape[1:3]), np.float32)
        np.multiply(frames.transpose(0, 3, 1, 2), 1 / (np.float32(255.0) * std), out=out,
                    dtype=np.float32)
        out -= mean / std
        return out


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """Short side to `size` (bicubic, antialiased), centre crop to size x size: uint8 HxWx3."""
    check_image(image)
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    if (new_h, new_w) != (height, width):
        resized = Image.fromarray(np.ascontiguousarray(image)).resize(
            (new_w, new_h), Image.Resampling.BICUBIC)
        image = np.asarray(resized)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return image[top:top + size, left:left + size].copy()  # writable, for torch


def check_image(image: np.ndarray) -> None:
    """Raise for anything but an HxWx3 uint8 array (a caller's bug, not a user's mistake)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError("image must be a uint8 numpy array")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"image must be [H, W, 3], got {image.shape}")

