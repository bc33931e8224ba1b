"""The names of the decoders a caller may ask for and of the strategies that ran.

Both are `str` enums: their values are what settings, the CLI, the library's `decode_strategy`
column and JSON output have always held, so they compare and serialise as those strings.
"""

from __future__ import annotations

from enum import StrEnum


class Decoder(StrEnum):
    """What FrameSampler is asked to decode with (see FrameSampler for each one's frames)."""

    AUTO = "auto"  # the fastest that gives a full decode's frames
    FAST = "fast"  # AUTO, but keyframes alone where they are dense
    DECORD = "decord"
    PYAV = "pyav"  # a sequential PyAV decode of every frame
    SPARSE = "sparse"
    KEYFRAMES = "keyframes"

    @property
    def is_planned(self) -> bool:
        """Tries a decode plan (one pass over the packet headers) first."""
        return self in (Decoder.AUTO, Decoder.FAST, Decoder.SPARSE, Decoder.KEYFRAMES)

    @property
    def chooses(self) -> bool:
        """Picks a decoder per file and falls back; the others are forced, without fallback."""
        return self in (Decoder.AUTO, Decoder.FAST)


class Strategy(StrEnum):
    """What decoded a file, as FrameSampler.strategy reports it."""

    KEYFRAMES = "keyframes"
    SPARSE = "sparse"
    DECORD = "decord"
    PYAV = "pyav"
    DECORD_THEN_PYAV = "decord+pyav"  # decord failed mid-stream; PyAV went on from there
