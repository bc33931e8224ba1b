"""Decode planning, pure numpy: which frames 1/fps sampling keeps, and which packets a planned
decode must decode to get them.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vidsearch.video.kinds import Decoder, Strategy

# Absorbs float rounding of pts * time_base when comparing a frame time with a sampling mark.
EPS = 1e-6

# Keyframes stand in for the full decode when no two consecutive keyframes are further apart
# than this many sampling intervals, and every mark has one within half of it: the sampled
# frame is then at most ~half an interval from its mark, which 1-s clip windows absorb. Only
# decoder "fast" uses this: the frames are other frames of the same second (1.6x faster than
# "sparse" on 720p with a keyframe every 0.97 s), so vectors change by about as much as from
# one second to the next.
KEYFRAME_MAX_GAP = 1.1
# Codecs whose packets are one displayed frame each (VP9 superframes and AV1 temporal units
# carry their hidden frames along) and whose keyframes start a decodable run (open GOPs
# included; see plan_sparse), each tested against a full decode. Not VP8, whose hidden
# alt-ref frames may be packets of their own.
PLANNABLE_CODECS = frozenset({"h264", "hevc", "mpeg2video", "mpeg4", "vp9", "av1"})
# AVI stores no timestamps (FFmpeg's guesses are not a plan's footing) and DivX-style packed
# B-frames put two frames in one packet.
_UNPLANNABLE_FORMATS = ("avi",)
# What the planned decoders do with a packet: leave it out, decode it only if later frames
# refer to it, decode it.
DROP, REFS, FULL = 0, 1, 2


class Marks:
    """Keeps the first frame at or after each k/fps mark; call `wants` in timestamp order."""

    def __init__(self, fps: float, after: float | None = None) -> None:
        self.fps = fps
        self.next_k = 0 if after is None else self._k_after(after)

    def _k_after(self, t: float) -> int:
        return math.floor((t + EPS) * self.fps) + 1

    def wants(self, t: float) -> bool:
        if t + EPS < self.next_k / self.fps:
            return False
        # A frame can satisfy several marks (a gap in VFR footage); the next one is after it.
        self.next_k = self._k_after(t)
        return True


@dataclass(frozen=True)
class Packets:
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
class Plan:
    """What a planned decoder does with each packet, and which frames it keeps."""

    strategy: Strategy
    pts: np.ndarray  # int64 per packet, decode order: to recognise the packets again
    actions: np.ndarray  # int8 per packet: DROP, REFS or FULL
    wanted: frozenset[int]  # pts of the frames to sample

    def action_for(self, position: int, pts: int | None) -> int:
        if position < len(self.pts) and pts == self.pts[position]:
            return int(self.actions[position])
        return FULL  # not the packet the scan saw there: decoding it is always safe


def can_plan(codec: str, format_name: str) -> bool:
    """Whether a plan made from packet headers gives a full decode's frames for this file."""
    return codec in PLANNABLE_CODECS and not any(f in format_name for f in _UNPLANNABLE_FORMATS)


def choose_plan(packets: Packets, fps: float, decoder: Decoder) -> Plan:
    """The plan a planned `decoder` uses: keyframes when asked for, or for "fast" when they
    are dense enough; otherwise sparse."""
    if decoder == Decoder.KEYFRAMES or (
            decoder == Decoder.FAST and keyframes_suffice(packets, fps)):
        return plan_keyframes(packets, fps)
    return plan_sparse(packets, fps)


def pick_nearest_keyframes(key_times: np.ndarray, end: float, fps: float) -> np.ndarray:
    """For each mark k/fps up to `end`, the index of the nearest of `key_times` (ascending
    seconds; ties go to the later one), without repeats: a keyframe nearest to several marks
    (keyframes sparser than marks) is sampled once, as a full decode samples a frame that
    follows a gap once. Returns ascending indices into `key_times`."""
    return np.unique(_nearest_per_mark(key_times, _marks_up_to(end, fps)))


def _marks_up_to(end: float, fps: float) -> np.ndarray:
    return np.arange(math.floor(end * fps + EPS) + 1) / fps


def _nearest_per_mark(key_times: np.ndarray, marks: np.ndarray) -> np.ndarray:
    after = np.clip(np.searchsorted(key_times, marks - EPS), 0, len(key_times) - 1)
    before = np.clip(after - 1, 0, len(key_times) - 1)
    later_is_nearer = np.abs(key_times[after] - marks) <= np.abs(marks - key_times[before]) + EPS
    return np.where(later_is_nearer, after, before)


def plan_keyframes(packets: Packets, fps: float) -> Plan:
    keys = np.flatnonzero(packets.keyframe & packets.shown)
    keys = keys[np.argsort(packets.times[keys], kind="stable")]
    picks = keys[pick_nearest_keyframes(packets.times[keys], packets.end, fps)]
    actions = np.full(len(packets.pts), DROP, dtype=np.int8)
    actions[picks] = FULL
    return Plan(Strategy.KEYFRAMES, packets.pts, actions, frozenset(packets.pts[picks].tolist()))


def keyframes_suffice(packets: Packets, fps: float) -> bool:
    """Keyframes every KEYFRAME_MAX_GAP intervals or closer, and one within half that of every
    mark (the first and the last included)."""
    key_times = np.sort(packets.times[packets.keyframe & packets.shown])
    if not len(key_times):
        return False
    if len(key_times) > 1 and np.diff(key_times).max() > KEYFRAME_MAX_GAP / fps + EPS:
        return False
    marks = _marks_up_to(packets.end, fps)
    offsets = np.abs(key_times[_nearest_per_mark(key_times, marks)] - marks)
    return bool(offsets.max() <= KEYFRAME_MAX_GAP / 2 / fps + EPS)


def plan_sparse(packets: Packets, fps: float) -> Plan:
    """The packets a full decode's sampled frames need: each from the keyframe before it (in
    decode order) to it; the frames in between only if they are references."""
    shown = np.flatnonzero(packets.shown)
    order = shown[np.argsort(packets.times[shown], kind="stable")]  # decode positions
    marks = Marks(fps)
    wanted = [i for i in order.tolist() if marks.wants(packets.times[i])]
    targets = np.asarray(wanted, dtype=np.int64)
    keys = np.flatnonzero(packets.keyframe)
    anchor = np.searchsorted(keys, targets, side="right") - 1  # keys[0] == 0: never -1
    # A leading picture of an open GOP (shown before its keyframe, decoded after it) refers
    # to the GOP before: start there.
    leading = packets.times[targets] < packets.times[keys[anchor]] - EPS
    anchor = np.maximum(anchor - leading, 0)
    # +1 where a span [keyframe, target] opens, -1 after it closes: inside, the sum is > 0.
    edges = np.zeros(len(packets.pts) + 1, dtype=np.int64)
    np.add.at(edges, keys[anchor], 1)
    np.add.at(edges, targets + 1, -1)
    needed = np.cumsum(edges[:-1]) > 0
    actions = np.where(needed, REFS, DROP).astype(np.int8)
    actions[targets] = FULL
    return Plan(Strategy.SPARSE, packets.pts, actions, frozenset(packets.pts[targets].tolist()))


def plausible(starts: np.ndarray, duration: float) -> bool:
    """Frame start times a decoder reported look like a real timeline: finite, ascending,
    within a few durations of zero. Packets without pts give decord nonsense times."""
    if not len(starts) or not np.all(np.isfinite(starts)):
        return False
    bound = max(duration, 1.0) * 2 + 10
    return bool(starts[0] > -bound and starts[-1] < bound and np.all(np.diff(starts) >= 0))
