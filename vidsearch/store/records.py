"""What the library hands out (video records, matches, stats) and how a path is stored."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class VideoRecord:
    """What the store knows about one file, enough to decide whether to index it again."""

    id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    status: str
    error: str | None


@dataclass(frozen=True)
class VideoMeta:
    """Facts about a video that was decoded successfully."""

    duration: float
    fps: float
    width: int
    height: int
    decode_strategy: str = ""


@dataclass(frozen=True)
class ClipMatch:
    clip_id: int
    video_id: int
    path: str
    start: float
    end: float
    score: float


@dataclass(frozen=True)
class FrameMatch:
    frame_id: int
    video_id: int
    path: str
    t: float
    score: float


@dataclass(frozen=True)
class LibraryStats:
    videos: int
    failed: int
    hours: float
    clips: int
    frames: int
    last_indexed: float | None
    model_fingerprint: str | None
    model_name: str | None
    failures: list[tuple[str, str]]
    recorded: tuple[float, float] | None = None  # the earliest and latest recording times


@dataclass(frozen=True)
class VideoListing:
    """One indexed video as `status --videos` lists it."""

    path: str
    duration: float
    recorded_at: float | None


def db_path(path: str) -> str | bytes:
    """How a path is stored: as text, or as its exact bytes (a BLOB) when the name is not UTF-8.

    os.fsdecode turns undecodable bytes into lone surrogates, which SQLite text cannot hold;
    the bytes can, and os.fsdecode gives the same str back on reading.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def path_from_db(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def record(row) -> VideoRecord:
    return VideoRecord(row[0], path_from_db(row[1]), *row[2:])
