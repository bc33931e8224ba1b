"""Frame shapes: display size (rotation metadata, non-square pixels), resizing a decoded frame
upright, and the centre square the encoder sees."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

_INTERPOLATION = "BILINEAR"  # what decord's FFmpeg scale filter uses, so both agree


def rotation_of(frame: av.VideoFrame) -> int:
    """The counter-clockwise quarter turn that makes the frame upright (0, 90, 180, 270)."""
    # VideoFrame.rotation (the display matrix) needs PyAV >= 14; older ones cannot see it.
    degrees = getattr(frame, "rotation", 0) or 0
    return (round(degrees / 90) % 4) * 90


def display_size(
    width: int, height: int, sample_aspect: Fraction | None, rotation: int
) -> tuple[int, int]:
    """The coded size as a player shows it: non-square pixels stretched, quarter turns applied."""
    if sample_aspect and sample_aspect > 0 and sample_aspect != 1:
        width = max(1, round(width * sample_aspect))  # anamorphic (DVD, DV)
    if rotation in (90, 270):
        width, height = height, width
    return width, height


def upright_rgb(frame: av.VideoFrame, width: int, height: int, rotation: int) -> np.ndarray:
    """The frame as uint8 RGB [height, width, 3] in display orientation."""
    turns = rotation // 90
    if turns % 2:
        width, height = height, width  # resize in coded orientation, then turn
    image = frame.to_ndarray(
        width=width, height=height, format="rgb24", interpolation=_INTERPOLATION
    )
    return np.rot90(image, turns) if turns else image


@dataclass(frozen=True)
class Geometry:
    """Resize so the short side is `size`, then crop the centre square."""

    size: int
    width: int  # display size after the resize
    height: int

    @classmethod
    def fit(cls, width: int, height: int, size: int) -> Geometry:
        if width <= height:
            return cls(size, size, max(size, round(height * size / width)))
        return cls(size, max(size, round(width * size / height)), size)

    def crop(self, image: np.ndarray) -> np.ndarray:
        top = (self.height - self.size) // 2
        left = (self.width - self.size) // 2
        return image[top : top + self.size, left : left + self.size]
