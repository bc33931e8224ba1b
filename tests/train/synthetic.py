"""A small captioned video dataset whose captions are true by construction.

Each 4-second segment shows one coloured shape gliding across a plain background, left or right:
"a red square moving left". A video holds several segments, labelled with start/end. Held-out
videos are drawn afresh (new positions, sizes, backgrounds, speeds), and come in mirrored twins:
the "left" clip is the "right" clip played backwards, so the two contain the same frames in
opposite order and only a header that sees frame order can tell them apart.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 80, 235),
    "yellow": (235, 220, 40),
    "white": (245, 245, 245),
    "purple": (150, 50, 200),
    "orange": (245, 140, 20),
    "cyan": (40, 220, 230),
}
# The tiny test model cannot tell a circle from a square at 64 px; colours and directions are
# what the captions vary.
SHAPES = ("square",)
DIRECTIONS = ("left", "right")
SEGMENT_SECONDS = 4
VIDEO_FPS = 2  # the sampler keeps one frame per second; two keep encoding cheap
SIZE = 64


@dataclass(frozen=True)
class Motion:
    colour: str
    shape: str
    direction: str
    y: int
    radius: int
    x_low: int  # leftmost and rightmost centre positions of the glide
    x_high: int
    background: int

    @property
    def caption(self) -> str:
        return f"a {self.colour} {self.shape} moving {self.direction}"

    def centre_x(self, t: float) -> float:
        share = min(max(t / (SEGMENT_SECONDS - 1), 0.0), 1.0)
        if self.direction == "left":
            share = 1.0 - share
        return self.x_low + (self.x_high - self.x_low) * share


def captions() -> list[str]:
    return [Motion(c, s, d, 0, 0, 0, 0, 0).caption
            for c, s, d in itertools.product(COLOURS, SHAPES, DIRECTIONS)]


def random_motion(rng: np.random.Generator, colour: str, shape: str, direction: str) -> Motion:
    # Large shapes sweeping most of the frame: at 64 px the tiny model sees a 4 x 4 patch grid,
    # so position (and with it direction) must span several patches to be visible at all.
    radius = int(rng.integers(13, 16))
    return Motion(colour, shape, direction, y=int(rng.integers(SIZE // 2 - 6, SIZE // 2 + 7)),
                  radius=radius, x_low=int(rng.integers(radius - 2, radius + 4)),
                  x_high=int(rng.integers(SIZE - radius - 4, SIZE - radius + 2)),
                  background=int(rng.integers(25, 56)))


def mirrored(motion: Motion) -> Motion:
    other = "left" if motion.direction == "right" else "right"
    return Motion(motion.colour, motion.shape, other, motion.y, motion.radius, motion.x_low,
                  motion.x_high, motion.background)


def draw(motion: Motion, t: float) -> np.ndarray:
    image = np.full((SIZE, SIZE, 3), motion.background, dtype=np.uint8)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    cx, cy, r = motion.centre_x(t), motion.y, motion.radius
    if motion.shape == "square":
        inside = (np.abs(cols - cx) <= r * 0.85) & (np.abs(rows - cy) <= r * 0.85)
    else:
        inside = (cols - cx) ** 2 + (rows - cy) ** 2 <= r * r
    image[inside] = COLOURS[motion.colour]
    return image


def write_video(path: Path, motions: list[Motion]) -> Path:
    """One segment of SEGMENT_SECONDS per motion, back to back."""
    rate = Fraction(VIDEO_FPS)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": "10",
                                                                     "preset": "veryfast"})
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv444p"  # keeps small saturated shapes' colours intact
        stream.codec_context.time_base = 1 / rate
        index = 0
        for motion in motions:
            for step in range(SEGMENT_SECONDS * VIDEO_FPS):
                frame = av.VideoFrame.from_ndarray(draw(motion, step / VIDEO_FPS), format="rgb24")
                frame.pts = index
                frame.time_base = stream.codec_context.time_base
                container.mux(stream.encode(frame))
                index += 1
        container.mux(stream.encode())
    return path


@dataclass
class Dataset:
    train_csv: Path
    val_csv: Path
    captions: list[str]


def make_dataset(folder: Path, *, clips_per_caption: int = 4, seed: int = 0,
                 segments_per_video: int = 2) -> Dataset:
    """train.csv (clips_per_caption fresh clips of every caption) and val.csv (one clip per
    caption, mirrored twins in one video), videos in `folder/videos`."""
    rng = np.random.default_rng(seed)
    videos = folder / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    train = [random_motion(rng, c, s, d)
             for _ in range(clips_per_caption)
             for c, s, d in itertools.product(COLOURS, SHAPES, DIRECTIONS)]
    rng.shuffle(train)
    held = []
    for colour, shape in itertools.product(COLOURS, SHAPES):
        motion = random_motion(rng, colour, shape, "right")
        held.append([motion, mirrored(motion)])
    train_csv = _write_split(folder / "train.csv", videos, "train",
                             _chunks(train, segments_per_video))
    val_csv = _write_split(folder / "val.csv", videos, "val", held)
    return Dataset(train_csv, val_csv, captions())


def _chunks(motions: list[Motion], size: int) -> list[list[Motion]]:
    return [motions[i:i + size] for i in range(0, len(motions), size)]


def _write_split(csv_path: Path, videos: Path, prefix: str,
                 groups: list[list[Motion]]) -> Path:
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "caption", "start", "end"])
        for number, group in enumerate(groups):
            name = f"{prefix}-{number:03d}.mp4"
            write_video(videos / name, group)
            for index, motion in enumerate(group):
                start = index * SEGMENT_SECONDS
                writer.writerow([f"videos/{name}", motion.caption, start, start + SEGMENT_SECONDS])
    return csv_path
