"""When a video was recorded, as its container says: the tags phones and cameras write.

Apple's `com.apple.quicktime.creationdate` carries the local time with its offset, so it wins
over `creation_time` (UTC, and on some devices the time of encoding). The container's tags are
read before the video stream's, since editors rewrite the stream's when they copy it.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

import av

log = logging.getLogger(__name__)

TAGS = ("com.apple.quicktime.creationdate", "creation_time")
# Muxers write a zero date (1904 in QuickTime's epoch, 1970 in Unix's) for "unknown".
EARLIEST_PLAUSIBLE = datetime.datetime(1971, 1, 1, tzinfo=datetime.UTC).timestamp()


def recorded_at(path: str | Path) -> float | None:
    """The recording time in the file's tags (Unix seconds), or None when it has none that
    parse: the caller falls back to the file's modification time."""
    try:
        with av.open(str(path)) as container:
            sources = [container.metadata, *(s.metadata for s in container.streams.video)]
            for tag in TAGS:
                for metadata in sources:
                    when = parse_tag(metadata.get(tag))
                    if when is not None:
                        return when
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        log.debug("%s: no recording date (%s)", path, err)
    return None


def parse_tag(value: str | None) -> float | None:
    """A tag's ISO 8601 time as Unix seconds; a time without a zone is UTC (as MP4 defines
    `creation_time`). None for a missing, unparsable or zero date."""
    if not value:
        return None
    try:
        when = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        log.debug("unparsable date tag %r", value)
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    seconds = when.timestamp()
    return seconds if seconds >= EARLIEST_PLAUSIBLE else None
