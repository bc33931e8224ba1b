"""Probe videos and sample frames from them.

The modules, each with one job: `files` (which files are videos), `probe` (what a file's
headers say, stream choice), `geometry` (display size, upright resizing, the centre crop),
`plan` (which packets a planned decode needs; pure numpy), `decoders` (the three decoders as
generators), `sampler` (FrameSampler: decoder choice, fallback, chunks, completeness),
`kinds` (the Decoder and Strategy names), `images` (still images for image queries), `dates`
(when a video was recorded, from its tags).
Callers use the names below: `from vidsearch import video; video.probe(path)`.
"""

from vidsearch.video.dates import recorded_at
from vidsearch.video.files import VIDEO_EXTENSIONS, is_video_file
from vidsearch.video.images import IMAGE_EXTENSIONS, is_image_file, load_image
from vidsearch.video.kinds import Decoder, Strategy
from vidsearch.video.plan import KEYFRAME_MAX_GAP, pick_nearest_keyframes
from vidsearch.video.probe import VideoInfo, probe
from vidsearch.video.sampler import FrameChunk, FrameSampler

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
