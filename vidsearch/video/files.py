"""Which files are videos: by extension, and by probing where the extension does not say."""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path

import av

from vidsearch.video.probing import pick_video_stream

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
            return pick_video_stream(container) is not None
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        log.debug("%s: not a video (%s)", path, err)
        return False
