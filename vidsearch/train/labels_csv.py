"""labels.csv as text: the header, each row's cells, times; no file access, no torch.

Every problem is collected, never raised, so one run can list them all with their lines.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REQUIRED_COLUMNS = ("video", "caption")
OPTIONAL_COLUMNS = ("start", "end")
# 1 says the clip is a wrong answer to the caption (the TUI's `-` mark); 0 or empty, a right one.
NEGATIVE_COLUMN = "negative"
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS + (NEGATIVE_COLUMN,)
_NEGATIVE_VALUES = {"": False, "0": False, "no": False, "false": False,
                    "1": True, "yes": True, "true": True}
DELIMITERS = (",", ";", "\t")  # spreadsheets in some locales export ';' or tabs
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


@dataclass(frozen=True)
class LabelRow:
    """One data row as written; times are seconds, None when the cell is empty."""

    line: int
    video: Path  # absolute
    caption: str
    start: float | None
    end: float | None
    negative: bool = False  # the clip is a wrong answer to the caption


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
    last_line = text.count("\n") + (not text.endswith("\n"))
    for line, cells in records:
        if all(not cell.strip() for cell in cells):
            continue  # blank lines and spreadsheets' trailing ",,," rows
        if _open_quote(line, cells, last_line, problem):
            continue
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


def _open_quote(line: int, cells: list[str], last_line: int,
                problem: Callable[[int, str], None]) -> bool:
    """A cell over several lines is a quote that was not closed on its own line (no label
    needs a line break): report the line it opened on, not the field count it garbled."""
    opened = line
    for index, cell in enumerate(cells):
        if "\n" in cell or "\r" in cell:
            break
        opened += cell.count("\n")
    else:
        return False
    closed = line + sum(cell.count("\n") for cell in cells)
    if closed >= last_line and index == len(cells) - 1:
        where = "is never closed (it runs to the end of the file)"
    else:
        where = f"is closed only on line {closed}"
    problem(opened, f"a quote left open: the quote opened on this line {where}; a label must "
                    "fit on one line")
    return True


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
    raw = cells[columns[NEGATIVE_COLUMN]] if NEGATIVE_COLUMN in columns else ""
    negative = _NEGATIVE_VALUES.get(raw.strip().lower())
    if negative is None:
        problem(line, f"{NEGATIVE_COLUMN}: {_show(raw.strip())} is neither 1 (a wrong answer "
                      "to the caption) nor 0 or empty (a right one)")
        count += 1
    if count or isinstance(video, str):
        return None
    return LabelRow(line, video, caption, start, end, bool(negative))


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
