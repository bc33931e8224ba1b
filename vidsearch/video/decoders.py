"""The three decoders, as plain generators of (seconds, upright resized RGB frame).

Each keeps the frames 1/fps sampling wants and shares nothing with the others or its caller:
how far it got (the end time of the last frame it reached, which the completeness check needs)
is its return value, and a failure says it in the DecodeError (or DecordFailed) it raises.
- `decode_planned`: PyAV, decoding only the packets a Plan names.
- `decode_sequential`: PyAV, every frame in order.
- `decode_decord`: decord, seeking to the picked frames; for a reader from `open_decord`.
Timestamps are seconds from the start of the video stream (what players show), not raw pts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.stream import VideoStream

from vidsearch.errors import DecodeError, first_line
from vidsearch.video.geometry import upright_rgb
from vidsearch.video.plan import DROP, REFS, Marks, Plan, plausible
from vidsearch.video.probing import DECODE_HINT, VideoInfo, open_container, pick_video_stream, reason

try:
    import decord
except ImportError:  # no decord wheels for some platforms (macOS arm64); PyAV does it all
    decord = None

log = logging.getLogger(__name__)

# (seconds, frame) per sampled frame; returns the second the decoder reached.
Frames = Generator[tuple[float, np.ndarray], None, float]


@dataclass(frozen=True)
class Request:
    """What every decoder is asked for: one frame per 1/fps seconds of `path`, resized to
    width x height (display orientation)."""

    path: Path
    info: VideoInfo  # rotation; frame rate and duration where timestamps are missing or odd
    fps: float
    width: int
    height: int
    skip_loop_filter: bool = False  # PyAV only: see FrameSampler
    batch_size: int = 32  # decord only: frames converted per call


class DecordFailed(Exception):
    """decord gave up (or gave nonsense) on a file that PyAV may still decode."""

    def __init__(self, reason: str, reached: float) -> None:
        super().__init__(reason)
        self.reached = reached  # end time (s) of the last frame decord got to


def failed_at(path: Path, reached: float, why: object) -> DecodeError:
    """The error for a decode that stopped at `reached` seconds."""
    return DecodeError.about(path, f"decoding failed at {reached:.1f} s ({why})", DECODE_HINT)


# --- planned (PyAV) ----------------------------------------------------------------------


def decode_planned(request: Request, plan: Plan) -> Frames:
    """The frames `plan` wants, decoding only the packets it needs."""
    reached = 0.0
    with open_container(request.path) as container:
        stream = pick_video_stream(container)
        _configure(stream, request.skip_loop_filter)
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
                        yield t, _image(frame, request)

        position = 0  # the packet's place in decode order, as the plan counts
        dropped = False
        try:
            for packet in container.demux(stream):
                if packet.size:  # size 0 is the end-of-stream flush; always decode it
                    action = plan.action_for(position, packet.pts)
                    position += 1
                    reached = max(reached, _packet_end(packet, start, time_base))
                    if action == DROP:
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
                    context.skip_frame = "NONREF" if action == REFS else "DEFAULT"
                yield from keep(stream.decode(packet))
        except av.FFmpegError as err:
            raise failed_at(request.path, reached, reason(err)) from err
    return reached


def _packet_end(packet: av.Packet, start: int, time_base: Fraction) -> float:
    # Packets come in decode order (B-frames shown before the P-frame decoded ahead of
    # them), so callers keep the max; skipped packets count, they were read.
    if packet.pts is None:
        return 0.0
    end = packet.pts + (packet.duration or 0)
    return float((end - start) * time_base)


# --- sequential (PyAV) -------------------------------------------------------------------


def decode_sequential(request: Request, after: float | None = None) -> Frames:
    """Every frame decoded in order, keeping the first at or after each mark later than
    `after` (where another decoder stopped; None: from the start)."""
    marks = Marks(request.fps, after=after)
    reached = 0.0
    with open_container(request.path) as container:
        stream = pick_video_stream(container)
        _configure(stream, request.skip_loop_filter)
        start = stream.start_time or 0
        index = 0
        try:
            for frame in container.decode(stream):
                t = _frame_time(frame, start, stream.time_base, index, request.info.fps)
                index += 1
                duration = getattr(frame, "duration", None)  # PyAV >= 13
                reached = t + (float(duration * stream.time_base) if duration else 0.0)
                if marks.wants(t):
                    yield t, _image(frame, request)
        except av.FFmpegError as err:
            raise failed_at(request.path, reached, reason(err)) from err
    return reached


def _frame_time(
    frame: av.VideoFrame, start: int, time_base: Fraction, index: int, stream_fps: float
) -> float:
    if frame.pts is None:  # no timestamps in the stream: count frames instead
        return index / stream_fps if stream_fps else float(index)
    return float((frame.pts - start) * time_base)


def _configure(stream: VideoStream, skip_loop_filter: bool) -> None:
    stream.thread_type = "AUTO"  # frame + slice threads: several times faster
    if skip_loop_filter:
        stream.codec_context.options = {"skip_loop_filter": "all"}  # before it opens


def _image(frame: av.VideoFrame, request: Request) -> np.ndarray:
    return upright_rgb(frame, request.width, request.height, request.info.rotation)


# --- decord ------------------------------------------------------------------------------


def open_decord(request: Request, *, forced: bool) -> decord.VideoReader | None:
    """A decord reader at the request's size; None (logged) if decord cannot open the file,
    DecodeError instead when decord was `forced`."""
    # Without this decord's FFmpeg writes its warnings straight to stderr.
    decord.logging.set_level(decord.logging.QUIET)
    try:
        return decord.VideoReader(str(request.path), width=request.width, height=request.height)
    except (decord.DECORDError, RuntimeError, UnicodeEncodeError) as err:
        # UnicodeEncodeError: decord takes only UTF-8 paths; PyAV opens any name.
        if forced:
            why = f"decord cannot open it ({first_line(err)})"
            raise DecodeError.about(request.path, why, DECODE_HINT) from err
        log.info("%s: decord cannot open it, using PyAV (%s)", request.path, first_line(err))
        return None


def decode_decord(request: Request, reader: decord.VideoReader) -> Frames:
    """The sampled frames from decord. Raises DecordFailed, naming the second reached."""
    reached = 0.0
    try:
        spans = reader.get_frame_timestamp(np.arange(len(reader))).astype(np.float64)
    except (decord.DECORDError, RuntimeError) as err:
        raise DecordFailed(first_line(err), reached) from err
    starts = spans[:, 0]
    if not plausible(starts, request.info.duration):
        raise DecordFailed("implausible frame timestamps", reached)
    marks = Marks(request.fps)
    picks = [i for i, t in enumerate(starts) if marks.wants(t)]
    # get_batch on sorted indices decodes forward, converting only the picked frames; it
    # jumps ahead only to a keyframe, which skips work rather than repeating it.
    for first in range(0, len(picks), request.batch_size):
        batch = picks[first : first + request.batch_size]
        try:
            frames = reader.get_batch(batch).asnumpy()
        except (decord.DECORDError, RuntimeError) as err:
            raise DecordFailed(first_line(err), reached) from err
        expected = (len(batch), request.height, request.width, 3)
        if frames.shape != expected:
            # decord mistakes padded rows for a 4th channel at some narrow widths (16,
            # 32, 48 px); get_batch usually raises then, but never pass such frames on.
            raise DecordFailed(f"frames of shape {frames.shape}, expected {expected}", reached)
        for index, frame in zip(batch, frames):
            reached = spans[index, 1]
            yield starts[index], frame
    return float(spans[-1, 1])
