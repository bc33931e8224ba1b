"""Probe videos and sample frames from them.

The modules, each with one job: `files` (which files are videos), `probing` (`probe`: what a
file's headers say, stream choice), `geometry` (display size, upright resizing, the centre crop),
`plan` (which packets a planned decode needs; pure numpy), `decoders` (the three decoders as
generators), `sampler` (FrameSampler: decoder choice, fallback, chunks, completeness),
`kinds` (the Decoder and Strategy names), `images` (still images for image queries), `dates`
(when a video was recorded, from its tags).
Callers use the names below: `from vidsearch import video; video.probe(path)`.
"""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: a text query touches `is_image_file` alone, and importing PyAV (the
# decoders, probing, dates) costs a cold `find` ~60 ms it does not need, and a machine that
# only searches need not have PyAV at all.
_LAZY = {
    "recorded_at": "dates",
    "VIDEO_EXTENSIONS": "files",
    "is_video_file": "files",
    "IMAGE_EXTENSIONS": "images",
    "is_image_file": "images",
    "load_image": "images",
    "Decoder": "kinds",
    "Strategy": "kinds",
    "KEYFRAME_MAX_GAP": "plan",
    "pick_nearest_keyframes": "plan",
    "VideoInfo": "probing",
    "probe": "probing",
    "FrameChunk": "sampler",
    "FrameSampler": "sampler",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vidsearch.video' has no attribute {name!r}")
    return getattr(importlib.import_module(f"vidsearch.video.{module}"), name)


__all__ = [
    "KEYFRAME_MAX_GAP",
    "VIDEO_EXTENSIONS",
    "Decoder",
    "FrameChunk",
    "FrameSampler",
    "IMAGE_EXTENSIONS",
    "Strategy",
    "VideoInfo",
    "is_image_file",
    "is_video_file",
    "load_image",
    "pick_nearest_keyframes",
    "probe",
    "recorded_at",
]
