"""Frames of a video as small pictures, decoded on demand and kept in a bounded cache.

The TUI asks for a strip of frames across a hit (`strip_times`) when the hit is selected, and
`find --preview` for the frame at its best moment; decoding seeks to
the nearest keyframe before it and decodes forward, so it costs one GOP, not the whole file.
PyAV alone does it: a single seek is what it is good at, and it reads every container the
indexer's fallback reads. The stream, rotation and display size come from vidsearch.video, so
the picture is the frame the indexer embedded: upright, with square pixels, and never the cover
art a file may list before its video.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from vidsearch.errors import DecodeError

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = (480, 270)
# Frame times are stored to the microsecond; compare with a little slack for pts rounding.
_EPS = 1e-3
_HINT = "check that the file still exists and plays"


def decode_frame(path: str | os.PathLike[str], seconds: float,
                 max_size: tuple[int, int] = DEFAULT_MAX_SIZE) -> Image.Image:
    """The frame shown at `seconds` (the last frame if the video ends sooner), fitted into
    `max_size`. Raises DecodeError when the file cannot be opened or decoded."""
    # PyAV comes with the first frame asked for: the TUI imports this module as it starts, for
    # `strip_times`, and its first search should not wait for the decoders (~40 ms).
    import av

    from vidsearch.video.geometry import display_size, rotation_of, upright_rgb
    from vidsearch.video.probing import open_container, pick_video_stream, reason

    path = Path(path)
    # The indexer's stream choice and geometry: cover art listed before the video is skipped,
    # and the picture is the shape the indexer saw.
    with open_container(path) as container:
        stream = pick_video_stream(container)
        if stream is None:
            raise DecodeError.about(path, "no video stream", _HINT)
        try:
            frame = _frame_at(path, container, stream, max(0.0, seconds))
            rotation = rotation_of(frame)
            width, height = display_size(frame.width, frame.height, stream.sample_aspect_ratio,
                                         rotation)
            image = Image.fromarray(upright_rgb(frame, width, height, rotation))
        except (av.FFmpegError, OSError) as err:
            why = f"cannot decode a frame at {seconds:.1f} s ({reason(err)})"
            raise DecodeError.about(path, why, _HINT) from err
    image.thumbnail(max_size)
    return image


def _frame_at(path: Path, container, stream, seconds: float) -> av.VideoFrame:
    import av

    start = stream.start_time or 0
    if seconds > 0 and stream.time_base:
        try:
            container.seek(start + int(seconds / stream.time_base), stream=stream, backward=True)
        except av.FFmpegError as err:
            # Some streams cannot seek (raw, damaged index): decode from the start instead.
            log.debug("%s: seek failed (%s), decoding from the start", path, err)
            container.seek(0)
    last = None
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        last = frame
        if float((frame.pts - start) * stream.time_base) >= seconds - _EPS:
            break
    if last is None:
        raise DecodeError.about(path, "no frame could be decoded", _HINT)
    return last


STRIP_FRAMES = 5


def strip_times(start: float, end: float, best: float,
                count: int = STRIP_FRAMES) -> tuple[list[float], int]:
    """Times for a strip of `count` frames across [start, end]: the middle of each of `count`
    equal parts, with the part holding the best moment showing the best moment itself.
    Returns the times (in order) and the index of the best moment's frame."""
    if end < start:
        start, end = end, start
    best = min(max(best, start), end)
    part = (end - start) / count
    times = [start + (index + 0.5) * part for index in range(count)]
    marked = min(int((best - start) / part), count - 1) if part > 0 else count // 2
    times[marked] = best
    # Rounding (a clip a few ulps long) must not put a frame on the wrong side of the best.
    times = [min(t, best) if i < marked else max(t, best) if i > marked else t
             for i, t in enumerate(times)]
    return times, marked


class ThumbnailCache:
    """Decoded frames by (file, size, mtime, time); the least recently used go first.

    Safe to call from several worker threads: the lock guards the cache, not the decode, so
    two different frames decode in parallel.
    """

    # Room for the strips of the last few hits looked at: moving back up the list is instant.
    def __init__(self, max_items: int = 8 * STRIP_FRAMES,
                 max_size: tuple[int, int] = DEFAULT_MAX_SIZE) -> None:
        self.max_items = max_items
        self.max_size = max_size
        self._images: OrderedDict[tuple, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str | os.PathLike[str], seconds: float) -> Image.Image:
        key = self._key(Path(path), seconds)
        with self._lock:
            if key in self._images:
                self._images.move_to_end(key)
                return self._images[key]
        image = decode_frame(path, seconds, self.max_size)
        with self._lock:
            self._images[key] = image
            while len(self._images) > self.max_items:
                self._images.popitem(last=False)
        return image

    def __len__(self) -> int:
        return len(self._images)

    @staticmethod
    def _key(path: Path, seconds: float) -> tuple:
        try:
            stat = path.stat()
        except OSError as err:
            raise DecodeError.about(path, f"cannot read the file ({err.strerror})", _HINT) from err
        # Size and mtime in the key: a re-encoded file must not show its old picture.
        return (str(path), stat.st_size, stat.st_mtime_ns, round(seconds, 3))
