"""labels.csv: read it, check its videos, group rows into labelled clips, split by video.

The text itself (header, cells, times) is parsed in `labels_csv`. Every problem in the file is
collected before anything is reported, so one run lists them all (`LabelsError.problems`, each
naming file:line). No torch here: `--check` stays fast.

    video,caption,start,end
    birthday.mp4,grandma blowing out candles,1:02,1:09
    park/max.mov,our dog Max catching a frisbee,,

An optional `negative` column marks a row's clip as a wrong answer to its caption (1), as the
TUI's feedback file does for `-`: such a clip is a hard negative of that caption in training and
a distractor in evaluation, never one of its right answers.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vidsearch.display import count
from vidsearch.errors import DecodeError, UsageError
from vidsearch.train.settings import SettingError, advised
# Re-exported: callers read labels through this module.
from vidsearch.train.labels_csv import (LabelProblem, LabelRow, format_seconds, parse_labels,
                                        parse_time)

__all__ = ["LabelProblem", "LabelRow", "Labels", "LabelledClip", "LabelsError", "Span",
           "check_videos", "fingerprint_labels", "format_seconds", "group_clips",
           "load_labels", "load_labels_files", "load_split", "merge_labels", "parse_labels",
           "parse_time", "resolve_span", "split_by_video"]

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 64 * 1024 * 1024


class LabelsError(UsageError):
    """The labels file has problems; `problems` lists every one, in line order."""

    def __init__(self, source: Path, problems: list[LabelProblem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda problem: (problem.source != source,
                                                              str(problem.source), problem.line))
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun} in the labels file",
                         "fix the lines listed and run again")
        self.advice = "labels"  # each command says what it did not do


@dataclass(frozen=True)
class Span:
    """A stretch of one video, in seconds from its start; end is clamped to the video's end."""

    video: Path
    start: float
    end: float


@dataclass
class LabelledClip:
    span: Span
    captions: list[str]  # the right answers: captions that describe this clip
    lines: list[int]
    negatives: list[str] = field(default_factory=list)  # captions this clip is a wrong answer to


@dataclass
class Labels:
    """Validated labels: clips in file order, each with its distinct captions."""

    source: Path
    clips: list[LabelledClip]
    durations: dict[Path, float] = field(default_factory=dict)

    @property
    def videos(self) -> list[Path]:
        return list(dict.fromkeys(clip.span.video for clip in self.clips))

    @property
    def pairs(self) -> list[tuple[int, str]]:
        """(clip index, caption) for every caption of every clip: the right answers."""
        return [(index, caption) for index, clip in enumerate(self.clips)
                for caption in clip.captions]

    @property
    def negative_pairs(self) -> list[tuple[int, str]]:
        """(clip index, caption) for every caption a clip is marked a wrong answer to."""
        return [(index, caption) for index, clip in enumerate(self.clips)
                for caption in clip.negatives]

    def subset(self, videos: Iterable[Path]) -> Labels:
        keep = set(videos)
        return Labels(self.source, [clip for clip in self.clips if clip.span.video in keep],
                      {video: d for video, d in self.durations.items() if video in keep})

    def describe(self) -> str:
        text = f"{count(len(self.clips), 'clip')}, {count(len(self.pairs), 'caption')}"
        negatives = len(self.negative_pairs)
        if negatives:
            text += f", {negatives} wrong {'answer' if negatives == 1 else 'answers'}"
        return text + f" from {count(len(self.videos), 'video')}"


Prober = Callable[[Path], float]  # path -> duration in seconds; raises DecodeError


def load_labels(path: Path | str, *, probe_duration: Prober | None = None) -> Labels:
    """Read and validate a labels file; raise LabelsError listing every problem found."""
    return load_labels_files([path], probe_duration=probe_duration)


def _load_one(path: Path | str, probe_duration: Prober | None) -> Labels:
    source = Path(path)
    data = _read_bytes(source)
    rows, problems = parse_labels(data, source)
    durations, video_problems = check_videos(rows, source, probe_duration or _probe_duration)
    problems += video_problems
    if problems:
        raise LabelsError(source, problems)
    labels = Labels(source, group_clips(rows, durations), durations)
    if not labels.clips:
        raise LabelsError(source, [LabelProblem(source, 1, "no data rows under the header")])
    return labels


def load_labels_files(paths: Sequence[Path | str], *, probe_duration: Prober | None = None
                      ) -> Labels:
    """Several labels files read as one (a labels.csv and the feedback file); the problems of
    all of them are reported together."""
    problems: list[LabelProblem] = []
    loaded = []
    for path in paths:
        try:
            loaded.append(_load_one(path, probe_duration))
        except LabelsError as exc:
            problems += exc.problems
    if problems:
        raise LabelsError(Path(paths[0]), problems)
    labels = loaded[0] if len(loaded) == 1 else merge_labels(loaded)
    if not labels.pairs:
        # Wrong answers alone give no query a right answer to rank or to learn.
        raise LabelsError(labels.source, [LabelProblem(
            labels.source, 1, "every row marks a wrong answer (negative 1); right answers are "
                              "needed too (rows with negative 0 or empty)")])
    return labels


def merge_labels(parts: Sequence[Labels]) -> Labels:
    """One Labels from several: a span labelled in more than one file is one clip with the
    captions of all of them (a later file's mark of a caption wins, as a later row's does);
    the first file names the whole."""
    clips: dict[Span, LabelledClip] = {}
    durations: dict[Path, float] = {}
    for part in parts:
        durations.update(part.durations)
        for clip in part.clips:
            merged = clips.setdefault(clip.span, LabelledClip(clip.span, [], []))
            for caption in clip.captions:
                _mark(merged, caption, negative=False)
            for caption in clip.negatives:
                _mark(merged, caption, negative=True)
            merged.lines += clip.lines
    return Labels(parts[0].source, list(clips.values()), durations)


def _read_bytes(source: Path) -> bytes:
    hint = "give the path of a labels.csv file"
    try:
        if not source.is_file():
            what = "is a folder" if source.is_dir() else "no such file"
            raise UsageError(f"{source}: {what}", hint)
        if source.stat().st_size > MAX_FILE_BYTES:
            raise UsageError(f"{source}: too large for a labels file "
                             f"(over {MAX_FILE_BYTES // 2**20} MiB)", hint)
        return source.read_bytes()
    except (OSError, ValueError) as exc:
        raise UsageError(f"{source}: cannot read ({exc})", hint) from exc


# --- the videos: exist, decode, long enough -------------------------------------------------


def check_videos(rows: list[LabelRow], source: Path, probe_duration: Prober
                 ) -> tuple[dict[Path, float], list[LabelProblem]]:
    """Probe each distinct video once; a problem for every row that names a bad one."""
    durations: dict[Path, float] = {}
    failures: dict[Path, str] = {}  # video -> its problem, the path included
    for video in dict.fromkeys(row.video for row in rows):
        reason = _video_problem(video)
        if reason is None:
            try:
                durations[video] = probe_duration(video)
            except DecodeError as exc:
                # Until every decode error names its file, the message already does.
                failures[video] = exc.message if exc.path is None else f"{video}: {exc.reason}"
                continue
        if reason is not None:
            failures[video] = f"{video}: {reason}"
    problems = []
    for row in rows:
        if row.video in failures:
            problems.append(LabelProblem(source, row.line, failures[row.video]))
            continue
        duration = durations[row.video]
        if row.start is not None and duration > 0 and row.start >= duration:
            problems.append(LabelProblem(
                source, row.line, f"start {format_seconds(row.start)} is past the end of "
                                  f"{row.video.name} ({format_seconds(duration)} long)"))
    return durations, problems


def _video_problem(video: Path) -> str | None:
    try:
        if not video.exists():
            return "no such file"
        if not video.is_file():
            return "not a file"
        if not os.access(video, os.R_OK):
            return "not readable (permissions)"
    except (OSError, ValueError) as exc:
        return f"cannot be read ({exc})"
    return None


def _probe_duration(video: Path) -> float:
    from vidsearch.video import probe

    return probe(video).duration


# --- clips and splits ---------------------------------------------------------------------


def group_clips(rows: list[LabelRow], durations: dict[Path, float]) -> list[LabelledClip]:
    """One clip per distinct (video, start, end); its captions in file order, deduplicated.

    A caption marked both right and wrong for one clip keeps the later row's mark: the
    feedback file is appended in time order, so that is the user's latest word on it.
    """
    clips: dict[Span, LabelledClip] = {}
    for row in rows:
        span = resolve_span(row, durations.get(row.video, 0.0))
        clip = clips.setdefault(span, LabelledClip(span, [], []))
        _mark(clip, row.caption, negative=row.negative)
        clip.lines.append(row.line)
    return list(clips.values())


def _mark(clip: LabelledClip, caption: str, *, negative: bool) -> None:
    keep, drop = (clip.negatives, clip.captions) if negative else (clip.captions, clip.negatives)
    if caption in drop:
        drop.remove(caption)
    if caption not in keep:
        keep.append(caption)


def resolve_span(row: LabelRow, duration: float) -> Span:
    """No start: the video's start; no end (or an end past it): the video's end.

    A duration of 0 means the container did not say; the span then runs to whatever end the
    decoder finds.
    """
    start = row.start or 0.0
    known = duration > 0
    end = row.end if row.end is not None else (duration if known else math.inf)
    if known and end > duration:
        log.debug("%s line %d: end %.2f clamped to the video's %.2f s", row.video, row.line,
                  end, duration)
        end = duration
    return Span(row.video, round(start, 3), round(end, 3) if math.isfinite(end) else end)


def split_by_video(labels: Labels, fraction: float, seed: int) -> tuple[Labels, Labels]:
    """(train, validation): whole videos go to one side, about `fraction` of the clips to
    validation, at least one video on each side. A video with wrong answers only has nothing
    to score: it always trains (its clips are hard negatives there)."""
    if not 0 < fraction < 1:
        raise SettingError("val_fraction", f"{fraction:g} must be between 0 and 1")
    per_video: dict[Path, int] = {}  # clips with a right answer, per video
    for clip in labels.clips:
        if clip.captions:
            per_video[clip.span.video] = per_video.get(clip.span.video, 0) + 1
    videos = sorted(per_video)
    if len(videos) < 2:
        raise advised(UsageError(
            f"{labels.source}: all clips come from one video, so no video is left to hold out",
            "label clips from 2 or more videos, give a separate validation file, or train "
            "without validation"), "one_video")
    random.Random(seed).shuffle(videos)
    goal = fraction * sum(per_video.values())
    held: list[Path] = []
    count = 0
    for video in videos[:-1]:  # the last video always stays for training
        if held and count >= goal:
            break
        held.append(video)
        count += per_video[video]
    val = labels.subset(held)
    train = labels.subset(video for video in labels.videos if video not in set(held))
    return train, val


def load_split(labels_path: Path | str | Sequence[Path | str], val_path: Path | str | None,
               val_fraction: float, seed: int, *, probe_duration: Prober | None = None
               ) -> tuple[Labels, Labels | None]:
    """(train, validation) from a labels file (or several, read as one) and either a second
    file or a held-out fraction (0: no validation). Problems of all files are reported
    together."""
    paths = [labels_path] if isinstance(labels_path, (str, Path)) else list(labels_path)
    problems: list[LabelProblem] = []
    labels = val = None
    try:
        labels = load_labels_files(paths, probe_duration=probe_duration)
    except LabelsError as exc:
        problems += exc.problems
    if val_path is not None:
        try:
            val = load_labels(val_path, probe_duration=probe_duration)
        except LabelsError as exc:
            problems += exc.problems
    if problems or labels is None:
        raise LabelsError(Path(paths[0]), problems)
    if val is not None:
        check_disjoint(labels, val)
        return labels, val
    if val_fraction == 0:
        return labels, None
    return split_by_video(labels, val_fraction, seed)


def check_disjoint(train: Labels, val: Labels) -> None:
    """A video in both splits would let validation reward memorising it."""
    shared = sorted(set(train.videos) & set(val.videos))
    if shared:
        names = ", ".join(str(path) for path in shared[:3])
        more = f" and {len(shared) - 3} more" if len(shared) > 3 else ""
        raise UsageError(f"{len(shared)} video(s) appear in both the training and the "
                         f"validation labels: {names}{more}",
                         "label each video in only one of the two files")


def fingerprint_labels(labels: Labels, file_fingerprints: dict[Path, str]) -> str:
    """What the data was: video contents (not names), spans and captions."""
    digest = hashlib.sha256()
    for clip in sorted(labels.clips, key=lambda c: (file_fingerprints[c.span.video],
                                                    c.span.start, c.span.end)):
        span = clip.span
        digest.update(f"{file_fingerprints[span.video]}|{span.start}|{span.end}|".encode())
        for caption in sorted(clip.captions):
            digest.update(caption.encode("utf-8", "surrogatepass") + b"\0")
        for caption in sorted(clip.negatives):  # a hard negative changes the training too
            digest.update(b"-" + caption.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:16]
