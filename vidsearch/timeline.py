"""Search hits as an editing timeline: one clip per hit, its source file and in/out points.

Written with OpenTimelineIO, which editors' tools read: `.otio` is its own JSON, `.edl` a CMX
3600 edit list (the `otio-cmx3600-adapter` plugin), other suffixes whatever adapter OTIO has
for them. Clips are laid end to end in rank order, the best hit first; each keeps its score and
best moment in its metadata (`vidsearch`), which `.otio` preserves and an EDL cannot.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import opentimelineio as otio

from vidsearch.atomic import partial_file_beside, publish
from vidsearch.errors import CannotRunError, UsageError


class Hit(Protocol):
    """What a timeline needs of a search hit (`vidsearch.search.Hit` has it)."""

    path: str
    video_id: int
    start: float
    end: float
    best_moment: float
    score: float

# The rate a clip is counted in when the video's own is not known (EDLs count frames).
DEFAULT_RATE = 25.0
SMPTE_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 48.0, 50.0, 60000 / 1001, 60.0)
_ADAPTER_HINT = "name the file .otio (OpenTimelineIO) or .edl (CMX 3600)"


def build_timeline(hits: Sequence[Hit], rates: Mapping[int, float | None], *,
                   name: str = "vidsearch hits") -> otio.schema.Timeline:
    """The timeline of `hits`, each clip counted at its video's frame rate (`rates`, by video
    id; DEFAULT_RATE where missing)."""
    timeline = otio.schema.Timeline(name=name)
    track = otio.schema.Track(name="hits", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for rank, hit in enumerate(hits, start=1):
        rate = rates.get(hit.video_id) or DEFAULT_RATE
        start = otio.opentime.RationalTime(round(hit.start * rate), rate)
        end = otio.opentime.RationalTime(round(hit.end * rate), rate)
        clip = otio.schema.Clip(
            name=f"{rank:02d} {os.path.basename(hit.path)}",
            media_reference=otio.schema.ExternalReference(target_url=hit.path),
            source_range=otio.opentime.range_from_start_end_time(start, end),
            metadata={"vidsearch": {"rank": rank, "score": hit.score,
                                    "best_moment": hit.best_moment},
                      "cmx_3600": {"reel": reel_name(hit.path)}},
        )
        track.append(clip)
    return timeline


def reel_name(path: str) -> str:
    """An EDL's reel for `path`: up to 8 letters and digits of its name (EDL readers split
    events on spaces, and the adapter's own choice keeps them), `AX` (unknown) when none."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"[^A-Za-z0-9]", "", stem)[:8] or "AX"


def edl_rate(rate: float) -> float:
    """The SMPTE timecode rate an EDL counts a video of `rate` frames a second in: its own when
    it is one, else the lowest that holds each of its frames as a whole number of frames
    (10 fps -> 30), else the highest of which it is a multiple (120 -> 60), else DEFAULT_RATE. EDL readers refuse any other rate."""
    for smpte in SMPTE_RATES:
        if abs(smpte - rate) <= smpte * 1e-3:
            return smpte
    for smpte in SMPTE_RATES:
        ratio = smpte / rate
        if round(ratio) >= 1 and abs(ratio - round(ratio)) < 1e-3:
            return smpte
    for smpte in reversed(SMPTE_RATES):  # high-speed footage: every n-th frame whole
        ratio = rate / smpte
        if round(ratio) >= 1 and abs(ratio - round(ratio)) < 1e-3:
            return smpte
    return DEFAULT_RATE


def check_suffix(path: str | os.PathLike[str]) -> None:
    """Refuse a file type OTIO has no writer for, before any search runs."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if not suffix:
        raise UsageError.about(path, "has no suffix to tell the timeline's format",
                               _ADAPTER_HINT)
    try:
        adapter = otio.adapters.from_filepath(str(path))
    except otio.exceptions.NoKnownAdapterForExtensionError:
        raise UsageError.about(path, f"no timeline writer for .{suffix} files",
                               _ADAPTER_HINT) from None
    if not adapter.has_feature("write_to_file") and not adapter.has_feature("write_to_string"):
        raise UsageError.about(path, f"OpenTimelineIO can read .{suffix} but not write it",
                               _ADAPTER_HINT)


def write_hits(hits: Sequence[Hit], rates: Mapping[int, float | None],
               path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """The timeline of `hits` written to `path` (its format from the suffix); an existing
    file there is replaced only with `overwrite`."""
    path = Path(path)
    check_target(path, overwrite=overwrite)
    if otio.adapters.from_filepath(str(path)).name == "cmx_3600":
        # An EDL counts every event in one timecode rate: that of most of the hits' videos.
        common = Counter(rates.get(hit.video_id) or DEFAULT_RATE for hit in hits)
        rate = edl_rate(common.most_common(1)[0][0] if common else DEFAULT_RATE)
        rates = {hit.video_id: rate for hit in hits}
    return write_timeline(build_timeline(hits, rates), path, overwrite=overwrite)


def check_target(path: str | os.PathLike[str], *, overwrite: bool) -> None:
    """Refuse, before any search runs, a file type OTIO cannot write or a file that exists."""
    check_suffix(path)
    if Path(path).is_dir():
        raise UsageError.about(path, "is a folder", "give the timeline a file name, e.g. hits.otio")
    if not overwrite and os.path.lexists(path):
        raise UsageError.about(path, "already exists",
                               "choose another name, or allow replacing it")


def write_timeline(timeline: otio.schema.Timeline, path: str | os.PathLike[str], *,
                   overwrite: bool = False) -> Path:
    """Write `timeline` to `path` (format from the suffix), whole or not at all, and over an
    existing file only with `overwrite` (one that appears while it is written included)."""
    path = Path(path)
    check_suffix(path)
    name = str(partial_file_beside(path))
    try:
        otio.adapters.write_to_file(timeline, name)
        publish(Path(name), path, overwrite=overwrite)
    except (OSError, otio.exceptions.OTIOError) as err:
        raise CannotRunError.about(path, f"cannot write the timeline ({err})",
                                   _ADAPTER_HINT) from err
    finally:
        if os.path.exists(name):
            os.unlink(name)
    return path
