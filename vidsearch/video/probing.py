"""What a video's headers and first frame say: duration, rate, display size, codec; which
stream is the video; plain words for files FFmpeg cannot open; the packet headers a decode
plan is made from."""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

from vidsearch.errors import DecodeError
from vidsearch.video.geometry import display_size, rotation_of
from vidsearch.video.plan import Packets

log = logging.getLogger(__name__)

DECODE_HINT = "check that the file plays; re-encode or re-download it if it does not"


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` learns from a video's headers and its first frame.

    width and height are display size: rotation metadata and non-square pixels applied.
    rotation is the counter-clockwise turn (0, 90, 180, 270) that makes the coded frames
    upright; sampled frames already have it applied. frame_count may be estimated from
    duration * fps when the container does not say.
    """

    duration: float
    fps: float
    width: int
    height: int
    frame_count: int
    codec: str
    rotation: int = 0


@dataclass(frozen=True)
class Probed:
    """VideoInfo plus what only the sampler needs."""

    info: VideoInfo
    # The video stream's own duration; None when only the container's is known (which may
    # include a longer audio track, so it is not trusted for the truncation check).
    stream_duration: float | None
    format_name: str


def probe(path: str | PathLike[str]) -> VideoInfo:
    """Read a video's duration, frame rate, display size and codec.

    Decodes the first frame, so a file that opens but cannot be decoded fails here rather
    than half-way through indexing. Raises DecodeError for unreadable files, files without a
    video stream, undecodable streams and streams with no frames.
    """
    return probe_in_full(Path(path)).info


def probe_in_full(path: Path) -> Probed:
    with open_container(path) as container:
        stream = pick_video_stream(container)
        if stream is None:
            raise DecodeError.about(path, "no video stream", "only files with a video track count")
        if stream.codec_context is None:
            raise DecodeError.about(path, "no decoder for this video codec", DECODE_HINT)
        first = _first_frame(path, container, stream)
        return _describe(container, stream, first)


def pick_video_stream(container: InputContainer) -> VideoStream | None:
    """The first video stream that is not cover art (an attached picture may come first)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def open_container(path: Path) -> InputContainer:
    """The file opened for demuxing; DecodeError, in plain words where possible, if it won't."""
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        why = _why_unopenable(path) or reason(err)
        raise DecodeError.about(path, f"cannot open as a video ({why})", DECODE_HINT) from err


def reason(err: BaseException) -> str:
    """FFmpeg's own words for an error: PyAV's message repeats the file name."""
    return getattr(err, "strerror", None) or str(err)


# Boxes that may start an MP4/MOV file (old QuickTime files have no ftyp).
_MP4_FIRST_BOXES = frozenset({b"ftyp", b"wide", b"free", b"skip", b"mdat", b"pnot"})


def _why_unopenable(path: Path) -> str | None:
    """Plainer words than FFmpeg's "Invalid data found" for the two commonest cases."""
    try:
        if path.stat().st_size == 0:
            return "the file is empty"
        if _mp4_without_index(path):
            return "no index (moov atom): the file was cut short or is still being written"
    except OSError:
        pass  # FFmpeg's own reason says it
    return None


def _mp4_without_index(path: Path, max_boxes: int = 1000) -> bool:
    """An MP4/MOV with media data but no moov box: recorders and downloads write it last."""
    kinds = []
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        offset = 0
        while offset + 8 <= size and len(kinds) < max_boxes:
            handle.seek(offset)
            header = handle.read(16)
            box_size, kind = struct.unpack(">I4s", header[:8])
            if box_size == 1 and len(header) == 16:
                box_size = struct.unpack(">Q", header[8:])[0]
            elif box_size == 0:
                box_size = size - offset  # the last box runs to the end of the file
            if box_size < 8 or not (kinds or kind in _MP4_FIRST_BOXES):
                return False
            kinds.append(kind)
            offset += box_size
    return b"mdat" in kinds and b"moov" not in kinds


def _first_frame(path: Path, container: InputContainer, stream: VideoStream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as err:
        why = f"cannot decode the video stream ({reason(err)})"
        raise DecodeError.about(path, why, DECODE_HINT) from err
    raise DecodeError.about(path, "the video stream has no frames", DECODE_HINT)


def _describe(container: InputContainer, stream: VideoStream, first: av.VideoFrame) -> Probed:
    rotation = rotation_of(first)
    width, height = display_size(first.width, first.height, stream.sample_aspect_ratio, rotation)
    stream_duration = _stream_duration(stream)
    duration = stream_duration
    if duration is None and container.duration:
        duration = container.duration / av.time_base
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    if duration is None:
        duration = stream.frames / fps if stream.frames and fps else 0.0
    frame_count = stream.frames or round(duration * fps)
    codec = stream.codec_context.codec.canonical_name
    info = VideoInfo(duration, fps, width, height, frame_count, codec, rotation)
    return Probed(info, stream_duration, container.format.name)


def _stream_duration(stream: VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    # Matroska keeps per-track durations as a "HH:MM:SS.nnnnnnnnn" tag.
    tag = stream.metadata.get("DURATION")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            log.debug("unparsable DURATION tag %r", tag)
    return None


def scan_packets(path: Path) -> Packets | None:
    """Every video packet's pts and keyframe flag, from a demux pass that decodes nothing;
    None when a packet has no pts (AVI, raw streams) or the file cannot be read to the end
    (the full decode then reports where)."""
    pts: list[int] = []
    keyframe: list[bool] = []
    shown: list[bool] = []
    try:
        with av.open(str(path)) as container:
            stream = pick_video_stream(container)
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                if packet.pts is None:
                    return None
                pts.append(packet.pts)
                keyframe.append(packet.is_keyframe)
                shown.append(not packet.is_discard)
            start = stream.start_time or 0
            time_base = stream.time_base
    except (av.FFmpegError, OSError) as err:
        log.debug("%s: no decode plan (%s)", path, reason(err))
        return None
    if not keyframe or not keyframe[0] or not any(shown):
        return None  # starts mid-GOP (a cut stream): nothing to anchor the plan on
    raw = np.asarray(pts, dtype=np.int64)
    times = (raw - start).astype(np.float64) * float(time_base)
    return Packets(raw, times, np.asarray(keyframe, dtype=bool), np.asarray(shown, dtype=bool))
