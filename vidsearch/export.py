"""Cutting a span out of a video into a file of its own: stream copy, or re-encoded to the frame.

Stream copy (the default) remuxes packets without decoding them, so it is as fast as the disk
and loses nothing; it has to start on a keyframe, so the file starts at the keyframe at or
before the asked start (up to one GOP early). `exact` decodes from that keyframe and re-encodes
the video from the asked start, frame-exact; audio packets are copied either way (an audio
packet lasts a few tens of milliseconds, less than a video frame).

The file appears whole or not at all: it is written under a temporary name in the output's own
folder and moved into place only when the container is closed, so a failure or Ctrl-C leaves
nothing behind and never a half-written file under the name asked for.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidsearch.atomic import partial_file_beside, publish
from vidsearch.display import format_time
from vidsearch.errors import CannotRunError, DecodeError, UsageError
from vidsearch.video.probing import open_container, pick_video_stream, probe, reason

log = logging.getLogger(__name__)

_HINT = "check that the file still exists and plays"
_OUT_HINT = "pick another output file type (.mp4, .mkv, .mov), or re-encode the cut exactly"
# Encoders for an exact cut, best first; the first one this FFmpeg build has is used.
EXACT_ENCODERS = ("libx264", "mpeg4")


@dataclass(frozen=True)
class ExportResult:
    """What was written: the file, and the span of the source it holds (start is earlier than
    asked for a stream copy: the keyframe at or before it)."""

    path: Path
    start: float
    end: float
    exact: bool

    @property
    def duration(self) -> float:
        return self.end - self.start


def export_clip(source: str | os.PathLike[str], start: float, end: float,
                out: str | os.PathLike[str], *, exact: bool = False,
                overwrite: bool = False) -> ExportResult:
    """Write the span [start, end) seconds of `source` to `out` (its type from its suffix).

    Raises UsageError for a span that cannot be cut or an `out` that exists (unless
    `overwrite`), DecodeError when the source cannot be read, CannotRunError when the output
    cannot be written.
    """
    source, out = Path(source), Path(out)
    check_span(start, end)
    if out.is_dir():
        raise UsageError.about(out, "is a folder", "give the output a file name, e.g. clip.mp4")
    if out.exists() and not overwrite:
        raise UsageError.about(out, "already exists", "choose another name, or allow replacing it")
    if out.resolve() == source.resolve():
        raise UsageError.about(out, "is the video being cut", "choose another output name")
    with open_container(source) as container:
        video = pick_video_stream(container)
        if video is None:
            raise DecodeError.about(source, "no video stream", _HINT)
        duration = _duration(container)
        if duration is not None and start >= duration:
            raise UsageError.about(source, f"starts at {start:g} s but the video lasts "
                                   f"{duration:.3g} s", "give a start inside the video")
        with _replacing(out, overwrite) as temporary:
            try:
                cut_start = _write(container, video, start, end, temporary, exact, source)
            except (av.FFmpegError, ValueError) as err:
                # ValueError: PyAV's word for a codec the output container cannot hold.
                raise CannotRunError.about(out, f"cannot write the cut ({reason(err)})",
                                           _OUT_HINT) from err
    if duration is not None:
        end = min(end, duration)
    log.info("exported %s %.3f-%.3f s to %s", source, cut_start, end, out)
    return ExportResult(out, cut_start, end, exact)


def free_clip_path(folder: str | os.PathLike[str], source: str | os.PathLike[str],
                   start: float, end: float) -> Path:
    """A name in `folder` for the cut of `source` from `start` to `end` that no file has yet:
    `beach 0-01-02 0-01-15.mp4`, then `beach 0-01-02 0-01-15 (2).mp4` and so on."""
    folder, source = Path(folder), Path(source)
    if not folder.is_dir():
        raise UsageError.about(folder, "is not a folder", "choose an existing folder")
    span = f"{_stamp(start)} {_stamp(end)}"
    for number in range(1, 1000):
        suffix = "" if number == 1 else f" ({number})"
        candidate = folder / f"{source.stem} {span}{suffix}{source.suffix}"
        if not candidate.exists():
            return candidate
    raise CannotRunError.about(folder, f"already holds 999 cuts of {source.name} at {span}",
                               "choose another folder")


def _stamp(seconds: float) -> str:
    # H-MM-SS: colons are not allowed in file names everywhere (Windows, some NAS shares).
    return format_time(seconds).replace(":", "-")


def check_span(start: float, end: float) -> None:
    if start < 0:
        raise UsageError(f"start {start:g} s: must be 0 or more", "e.g. a start of 12.5 seconds")
    if end <= start:
        raise UsageError(f"end {end:g} s is not after start {start:g} s",
                         "give an end later than the start")


class _replacing:
    """A temporary path beside `out` (same folder, so the final rename is atomic and never
    crosses a file system) that becomes `out` when the block ends well (`atomic.publish`: never
    over a file that appeared meanwhile, unless `overwrite`) and is removed when it does not."""

    def __init__(self, out: Path, overwrite: bool) -> None:
        self.out = out
        self.overwrite = overwrite
        self.temporary: Path | None = None

    def __enter__(self) -> Path:
        self.temporary = partial_file_beside(self.out)  # FFmpeg picks the container by suffix
        return self.temporary

    def __exit__(self, kind, error, traceback) -> None:
        assert self.temporary is not None
        if kind is None:
            publish(self.temporary, self.out, overwrite=self.overwrite)
        else:
            self.temporary.unlink(missing_ok=True)


def _write(container, video, start: float, end: float, out: Path, exact: bool,
           source: Path) -> float:
    """Mux the cut into `out`; returns where in the source the written file starts."""
    audio = list(container.streams.audio)
    _seek(container, video, start)
    try:
        with av.open(str(out), "w") as output:
            # The video first, as cameras write it: some players take the first stream's
            # length for the file's.
            encoder = _exact_encoder(output, video, source) if exact else None
            copied = {stream.index: output.add_stream_from_template(stream)
                      for stream in ([] if exact else [video]) + audio}
            if encoder is not None:
                cut_start = start
                _write_exact(container, video, audio, copied, encoder, start, end)
            else:
                cut_start = _write_copy(container, video, audio, copied, start, end)
    except av.FFmpegError as err:
        if getattr(err, "filename", None) == str(source):
            raise DecodeError.about(source, f"cannot read it ({reason(err)})", _HINT) from err
        raise
    return cut_start


def _seek(container, video, start: float) -> None:
    base = video.start_time or 0
    if start > 0 and video.time_base:
        try:
            # backward: the keyframe at or before `start`, so the cut can begin there.
            container.seek(base + int(start / video.time_base), stream=video, backward=True)
        except av.FFmpegError as err:
            log.debug("seek failed (%s); reading from the start", err)
            container.seek(0)


def _seconds(pts: int | None, stream) -> float | None:
    if pts is None or not stream.time_base:
        return None
    return float((pts - (stream.start_time or 0)) * stream.time_base)


def _packets(container, streams) -> Iterator[av.Packet]:
    """Demuxed packets, without the empty ones that end each stream (nothing to copy)."""
    for packet in container.demux(streams):
        if packet.size:
            yield packet


def _write_copy(container, video, audio, copied, start: float, end: float) -> float:
    cut_start: float | None = None
    done: set[int] = set()
    wanted = {video.index, *(stream.index for stream in audio)}
    for packet in _packets(container, [video, *audio]):
        stream = packet.stream
        if stream.index in done:
            continue
        if stream.index == video.index:
            if cut_start is None:
                at = _seconds(packet.pts, video)
                if not packet.is_keyframe or at is None:
                    continue  # a seek that landed short of a keyframe: decoders need one first
                cut_start = at
            # Decode order: once a packet is decoded at or after `end`, none shown before it
            # follows; every frame shown before `end`, and the frames it refers to, are in.
            if (_seconds(packet.dts, video) or 0.0) >= end:
                done.add(stream.index)
                continue
        else:
            if cut_start is None:
                continue  # audio before the first keyframe is written would play early
            at = _seconds(packet.pts, stream)
            if at is None or at < cut_start:
                continue
            if at >= end:
                done.add(stream.index)
                continue
        _shift(packet, stream, cut_start)
        packet.stream = copied[stream.index]
        copied[stream.index].container.mux(packet)
        if done == wanted:
            break
    if cut_start is None:
        raise UsageError(f"no keyframe to start from at or before {start:g} s",
                         "give an earlier start, or re-encode the cut exactly")
    return cut_start


def _shift(packet: av.Packet, stream, cut_start: float) -> None:
    """Timestamps moved so the cut starts at 0 (in the packet's own stream's time base)."""
    offset = (stream.start_time or 0) + int(round(cut_start / stream.time_base))
    if packet.pts is not None:
        packet.pts -= offset
    if packet.dts is not None:
        packet.dts -= offset


def _exact_encoder(output, video, source: Path):
    codec = video.codec_context
    name = next((n for n in EXACT_ENCODERS if n in av.codecs_available), None)
    if name is None:
        raise CannotRunError("no video encoder for an exact cut in this FFmpeg build",
                             "cut by stream copy instead (not frame-exact)")
    rate = video.average_rate or video.guessed_rate or Fraction(25)
    options = {"crf": "18", "preset": "veryfast"} if name == "libx264" else {}
    stream = output.add_stream(name, rate=rate, options=options)
    stream.width, stream.height = codec.width, codec.height
    # x264 cannot take odd sizes in 4:2:0 (chroma is halved both ways); 4:4:4 keeps them exact.
    odd = codec.width % 2 or codec.height % 2
    stream.pix_fmt = "yuv444p" if name == "libx264" and odd else "yuv420p"
    if name == "mpeg4":
        stream.bit_rate = 8_000_000
    stream.codec_context.time_base = video.time_base
    if video.sample_aspect_ratio:
        stream.codec_context.sample_aspect_ratio = video.sample_aspect_ratio
    # Decoded frames come out as coded; the display matrix that turns phone footage upright
    # belongs to the stream, which a stream copy keeps and an encoder must be told.
    rotation = probe(source).rotation
    if rotation:
        stream.set_display_rotation(rotation)
    return stream


def _write_exact(container, video, audio, copied, encoder, start: float, end: float) -> None:
    """Decode video from the keyframe before `start`, encode the frames shown in
    [start, end); copy the audio packets of that span."""
    output = encoder.container
    base = video.start_time or 0
    offset = base + int(round(start / video.time_base))
    video_done = False
    audio_done: set[int] = set()
    # Every packet, the empty ones too: the empty packet at a stream's end flushes the frames
    # the decoder still holds, and a cut to the end of the video needs them.
    for packet in container.demux([video, *audio]):
        stream = packet.stream
        if stream.index == video.index:
            if video_done:
                continue
            for frame in packet.decode():
                at = _seconds(frame.pts, video)
                if at is None or at < start - 1e-6:
                    continue
                if at >= end - 1e-6:
                    video_done = True
                    break
                frame.pts -= offset
                frame.time_base = video.time_base
                frame.pict_type = av.video.frame.PictureType.NONE  # the encoder picks anew
                output.mux(encoder.encode(frame))
        elif packet.size and stream.index not in audio_done:
            at = _seconds(packet.pts, stream)
            if at is None or at < start:
                continue
            if at >= end:
                audio_done.add(stream.index)
                continue
            _shift(packet, stream, start)
            packet.stream = copied[stream.index]
            output.mux(packet)
        if video_done and len(audio_done) == len(audio):
            break
    output.mux(encoder.encode())


def _duration(container) -> float | None:
    if container.duration is None:
        return None
    return container.duration / av.time_base
