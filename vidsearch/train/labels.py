"""labels.csv: read, validate every row, group rows into labelled clips, split by video.

Every problem in the file is collected before anything is reported, so one run lists them all
(`LabelsError.problems`, each naming file:line). No torch here: `--check` stays fast.

    video,caption,start,end
    birthday.mp4,grandma blowing out candles,1:02,1:09
    park/max.mov,our dog Max catching a frisbee,,
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import os
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vidsearch.errors import DecodeError, UsageError

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("video", "caption")
OPTIONAL_COLUMNS = ("start", "end")
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
DELIMITERS = (",", ";", "\t")  # spreadsheets in some locales export ';' or tabs
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_CAPTION_CHARS = 1000  # longer is nearly always a quote left open
_SHOWN = 60  # characters of a user's value quoted in a message

_SECONDS = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})?|\.[0-9]{1,9}")
_CLOCK = re.compile(r"(?:([0-9]{1,6}):)?([0-9]{1,6}):([0-9]{1,2}(?:\.[0-9]{1,9})?)")
_TIME_HINT = "use seconds (75.5) or [H:]MM:SS[.ms] (1:15.5)"


@dataclass(frozen=True)
class LabelProblem:
    source: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


class LabelsError(UsageError):
    """The labels file has problems; `problems` lists every one, in line order."""

    def __init__(self, source: Path, problems: list[LabelProblem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda problem: (problem.source != source,
                                                              str(problem.source), problem.line))
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun} in the labels file",
                         "fix the lines listed and run again; nothing was trained")


@dataclass(frozen=True)
class LabelRow:
    """One data row as written; times are seconds, None when the cell is empty."""

    line: int
    video: Path  # absolute
    caption: str
    start: float | None
    end: float | None


@dataclass(frozen=True)
class Span:
    """A stretch of one video, in seconds from its start; end is clamped to the video's end."""

    video: Path
    start: float
    end: float


@dataclass
class LabelledClip:
    span: Span
    captions: list[str]
    lines: list[int]


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
        """(clip index, caption) for every caption of every clip."""
        return [(index, caption) for index, clip in enumerate(self.clips)
                for caption in clip.captions]

    def subset(self, videos: Iterable[Path]) -> Labels:
        keep = set(videos)
        return Labels(self.source, [clip for clip in self.clips if clip.span.video in keep],
                      {video: d for video, d in self.durations.items() if video in keep})

    def describe(self) -> str:
        return (f"{len(self.clips)} clips, {len(self.pairs)} captions "
                f"from {len(self.videos)} videos")


Prober = Callable[[Path], float]  # path -> duration in seconds; raises DecodeError


def load_labels(path: Path | str, *, probe_duration: Prober | None = None) -> Labels:
    """Read and validate a labels file; raise LabelsError listing every problem found."""
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


# --- parsing: syntax and per-row checks, no file access ------------------------------------


def parse_labels(data: bytes, source: Path) -> tuple[list[LabelRow], list[LabelProblem]]:
    """Rows that passed every check, and the problems of the others (never raises them)."""
    problems: list[LabelProblem] = []

    def problem(line: int, message: str) -> None:
        problems.append(LabelProblem(source, line, message))

    text = _decode(data, problem)
    if text is None:
        return [], problems
    records = _records(text, problem)
    header = next(records, None)
    if header is None:
        problem(1, "empty file; the first line must be a header: video,caption[,start,end]")
        return [], problems
    header_line, header_cells = header
    columns = _read_header(header_line, header_cells, problem)
    if columns is None:
        return [], problems
    rows = []
    base = source.parent
    for line, cells in records:
        if all(not cell.strip() for cell in cells):
            continue  # blank lines and spreadsheets' trailing ",,," rows
        row = _parse_row(line, cells, columns, base, problem)
        if row is not None:
            rows.append(row)
    return rows, problems


def _decode(data: bytes, problem: Callable[[int, str], None]) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        problem(1, "the file is UTF-16; save it as 'CSV UTF-8'")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem(line, f"not UTF-8 (byte 0x{data[exc.start]:02x}); save the file as 'CSV UTF-8'")
        return None


def _records(text: str, problem: Callable[[int, str], None]):
    """(first line number, cells) per CSV record; a record may span lines inside quotes."""
    first_line = _first_line(text)
    delimiter = next((d for d in DELIMITERS if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous_end = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader cannot be trusted past a malformed record (a field over csv's size
            # limit, usually a quote never closed): report where it began and stop.
            problem(previous_end + 1, f"unreadable CSV from here on ({exc}); "
                                      "is a quote left open?")
            return
        start = previous_end + 1
        previous_end = reader.line_num
        yield start, cells


def _first_line(text: str) -> str:
    for line in io.StringIO(text, newline=""):
        if line.strip():
            return line
    return ""


def _read_header(line: int, cells: list[str], problem: Callable[[int, str], None]
                 ) -> dict[str, int] | None:
    names = [cell.strip().lower() for cell in cells]
    if not set(names) & set(KNOWN_COLUMNS):
        shown = ", ".join(_show(cell) for cell in cells[:4])
        problem(line, f"missing column(s) video, caption; the first line must be a header: "
                      f"video,caption[,start,end] (it is {shown})")
        return None
    columns: dict[str, int] = {}
    ok = True
    for index, name in enumerate(names):
        if name in columns:
            problem(line, f"column '{name}' appears twice")
            ok = False
        columns.setdefault(name, index)
    unknown = [name for name in names if name not in KNOWN_COLUMNS]
    if unknown:
        shown = ", ".join(_show(name) for name in unknown)
        problem(line, f"unknown column(s) {shown}; known columns: {', '.join(KNOWN_COLUMNS)}")
        ok = False
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        problem(line, f"missing column(s) {', '.join(missing)}; the first line must be a "
                      "header: video,caption[,start,end]")
        ok = False
    return columns if ok else None


def _parse_row(line: int, cells: list[str], columns: dict[str, int], base: Path,
               problem: Callable[[int, str], None]) -> LabelRow | None:
    if len(cells) != len(columns):
        problem(line, f"{len(cells)} fields where the header has {len(columns)}"
                      " (a comma inside a caption needs \"quotes\")")
        return None
    count = 0  # problems of this row
    video = _resolve_video(cells[columns["video"]], base)
    if isinstance(video, str):
        problem(line, video)
        count += 1
    caption = cells[columns["caption"]].strip()
    caption_problem = _check_caption(caption)
    if caption_problem:
        problem(line, caption_problem)
        count += 1
    times: dict[str, float | None] = {}
    for name in OPTIONAL_COLUMNS:
        raw = cells[columns[name]] if name in columns else ""
        try:
            times[name] = parse_time(raw) if raw.strip() else None
        except ValueError as exc:
            problem(line, f"{name}: {exc}")
            count += 1
            times[name] = None
    start, end = times["start"], times["end"]
    if start is not None and end is not None and end <= start:
        problem(line, f"end {format_seconds(end)} is not after start {format_seconds(start)}")
        count += 1
    if count or isinstance(video, str):
        return None
    return LabelRow(line, video, caption, start, end)


def _resolve_video(raw: str, base: Path) -> Path | str:
    """An absolute path, or the problem with the cell as a string."""
    text = raw.strip()
    if not text:
        return "empty video path"
    if "\0" in text:
        return f"video path {_show(text)} contains a NUL character"
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # "~user" for a user that does not exist
        return f"video path {_show(text)}: cannot expand '~'"
    if not path.is_absolute():
        path = base / path
    return Path(os.path.abspath(path))


def _check_caption(caption: str) -> str | None:
    if not caption:
        return "empty caption"
    if "\n" in caption or "\r" in caption:
        return "caption spans several lines (is a quote left open?)"
    if len(caption) > MAX_CAPTION_CHARS:
        return (f"caption is {len(caption)} characters long (at most {MAX_CAPTION_CHARS}; "
                "is a quote left open?)")
    return None


def parse_time(text: str) -> float:
    """Seconds ("75.5") or [H:]MM:SS[.ms] ("1:15.5", "0:01:15") -> seconds; ValueError else."""
    value = text.strip()
    if _SECONDS.fullmatch(value):
        return float(value)
    match = _CLOCK.fullmatch(value)
    if match is None:
        raise ValueError(f"{_show(value)} is not a time; {_TIME_HINT}")
    hours, minutes, seconds = match.groups()
    if float(seconds) >= 60:
        raise ValueError(f"{_show(value)}: seconds must be below 60; {_TIME_HINT}")
    if hours is not None and int(minutes) >= 60:
        raise ValueError(f"{_show(value)}: minutes must be below 60 after hours; {_TIME_HINT}")
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def format_seconds(seconds: float) -> str:
    """75.5 -> '1:15.5' (how the file may write it)."""
    if not math.isfinite(seconds):
        return "the end"
    tenths = round(seconds * 10)
    minutes, rest = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    whole, tenth = divmod(rest, 10)
    text = f"{whole:02d}.{tenth}" if tenth else f"{whole:02d}"
    return f"{hours}:{minutes:02d}:{text}" if hours else f"{minutes}:{text}"


def _show(value: str) -> str:
    """A user's value quoted for a one-line message: escaped, never a terminal control code."""
    shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
    return ascii(shown) if not shown.isprintable() else f"'{shown}'"


# --- the videos: exist, decode, long enough -------------------------------------------------


def check_videos(rows: list[LabelRow], source: Path, probe_duration: Prober
                 ) -> tuple[dict[Path, float], list[LabelProblem]]:
    """Probe each distinct video once; a problem for every row that names a bad one."""
    durations: dict[Path, float] = {}
    failures: dict[Path, str] = {}
    for video in dict.fromkeys(row.video for row in rows):
        reason = _video_problem(video)
        if reason is None:
            try:
                durations[video] = probe_duration(video)
            except DecodeError as exc:
                reason = _strip_path(exc.message, video)
        if reason is not None:
            failures[video] = reason
    problems = []
    for row in rows:
        if row.video in failures:
            problems.append(LabelProblem(source, row.line, f"{row.video}: {failures[row.video]}"))
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


def _strip_path(message: str, video: Path) -> str:
    prefix = f"{video}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _probe_duration(video: Path) -> float:
    from vidsearch.video import probe

    return probe(video).duration


# --- clips and splits ---------------------------------------------------------------------


def group_clips(rows: list[LabelRow], durations: dict[Path, float]) -> list[LabelledClip]:
    """One clip per distinct (video, start, end); its captions in file order, deduplicated."""
    clips: dict[Span, LabelledClip] = {}
    for row in rows:
        span = resolve_span(row, durations.get(row.video, 0.0))
        clip = clips.setdefault(span, LabelledClip(span, [], []))
        if row.caption not in clip.captions:
            clip.captions.append(row.caption)
        clip.lines.append(row.line)
    return list(clips.values())


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
    validation, at least one video on each side."""
    if not 0 < fraction < 1:
        raise UsageError(f"--val-fraction {fraction:g} must be between 0 and 1")
    videos = sorted(labels.videos)
    if len(videos) < 2:
        raise UsageError(
            f"{labels.source}: all clips come from one video, so no video is left to hold out",
            "label clips from 2 or more videos, pass --val FILE, or --val-fraction 0")
    random.Random(seed).shuffle(videos)
    per_video: dict[Path, int] = {}
    for clip in labels.clips:
        per_video[clip.span.video] = per_video.get(clip.span.video, 0) + 1
    goal = fraction * len(labels.clips)
    held: list[Path] = []
    count = 0
    for video in videos[:-1]:  # the last video always stays for training
        if held and count >= goal:
            break
        held.append(video)
        count += per_video[video]
    val = labels.subset(held)
    train = labels.subset(video for video in videos if video not in set(held))
    return train, val


def load_split(labels_path: Path | str, val_path: Path | str | None, val_fraction: float,
               seed: int, *, probe_duration: Prober | None = None) -> tuple[Labels, Labels | None]:
    """(train, validation) from a labels file and either a second file or a held-out fraction
    (0: no validation). Problems of both files are reported together."""
    problems: list[LabelProblem] = []
    labels = val = None
    try:
        labels = load_labels(labels_path, probe_duration=probe_duration)
    except LabelsError as exc:
        problems += exc.problems
    if val_path is not None:
        try:
            val = load_labels(val_path, probe_duration=probe_duration)
        except LabelsError as exc:
            problems += exc.problems
    if problems or labels is None:
        raise LabelsError(Path(labels_path), problems)
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
    return digest.hexdigest()[:16]
