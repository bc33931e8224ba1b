"""The feedback file: the TUI's `+`/`-` marks appended as labels.csv rows, safely. No torch.

Its columns are labels.csv's and `negative`: the hit's video, the query as its caption, the hit's
start and end in seconds, and 1 for a wrong answer (`-`) or 0 for a right one (`+`).
`finetune --feedback` and `eval --feedback` read it through `labels` like any labels file, with
the same checks; a later mark of the same clip and query wins over an earlier one.

    video,caption,start,end,negative
    /home/me/Videos/park.mp4,dog catching a frisbee,10,25,0
    /home/me/Videos/beach.mp4,dog catching a frisbee,95,105,1

Each mark is one write of one whole line to the file opened for appending, under an exclusive
lock, then fsync: a crash loses at most the mark being written, never an earlier row. A line a
crash cut short has no newline at its end; the next mark starts on a fresh line, so the cut line
stands alone (the labels checks name it) instead of swallowing the new one.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
from dataclasses import dataclass
from pathlib import Path

from vidsearch.errors import CannotRunError, UsageError
from vidsearch.train.labels_csv import KNOWN_COLUMNS, MAX_CAPTION_CHARS

COLUMNS = KNOWN_COLUMNS  # video, caption, start, end, negative: every column, in that order
_HEADER_BYTES = 4096  # more than any header of these columns


@dataclass(frozen=True)
class Mark:
    """One `+` or `-`: the hit's video and span, the query it answered, and which it was."""

    video: str
    query: str
    start: float
    end: float
    negative: bool


def append_mark(path: Path, mark: Mark) -> None:
    """Add one row to the feedback file at `path` (created, with its header, if missing).

    Raises UsageError for a mark a labels file cannot hold or a file whose first line is not
    the feedback header, CannotRunError when the file cannot be written; both name the file.
    """
    line = format_row(mark, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    try:
        # The lock keeps two TUIs from both writing a header to a new file, or interleaving.
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size == 0:
            data = format_cells(COLUMNS) + line
        else:
            _check_header(path)
            with open(path, "rb") as reader:
                reader.seek(size - 1)
                ends_a_line = reader.read(1) == b"\n"
            data = line if ends_a_line else b"\n" + line
        os.write(fd, data)
        os.fsync(fd)
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    finally:
        os.close(fd)  # closing releases the lock


def _cannot_write(path: Path, exc: OSError) -> CannotRunError:
    return CannotRunError(f"{path}: cannot write the feedback file ({exc.strerror or exc})",
                          "check the data folder's permissions and free space")


def format_row(mark: Mark, path: Path) -> bytes:
    """The mark as one CSV line of UTF-8, or a UsageError saying why a labels file cannot
    hold it."""
    if any(c in mark.video for c in "\r\n") or any(c in mark.query for c in "\r\n"):
        raise UsageError(f"{path}: cannot record a mark whose video path or query has a line "
                         "break", "rename the video, or mark hits of another query")
    query = mark.query.strip()
    if not query or len(query) > MAX_CAPTION_CHARS:
        raise UsageError(f"{path}: cannot record a mark for a query of {len(query)} characters "
                         f"(a caption has 1 to {MAX_CAPTION_CHARS})", "search with other words")
    row = (mark.video, query, _seconds(mark.start), _seconds(mark.end),
           "1" if mark.negative else "0")
    try:
        return format_cells(row)
    except UnicodeEncodeError as exc:
        raise UsageError(f"{path}: cannot record a mark for a video whose path is not UTF-8 "
                         "(a labels file is UTF-8)", "rename the video to mark it") from exc


def format_cells(cells) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode("utf-8")


def _seconds(value: float) -> str:
    """10.0 -> '10', 95.25 -> '95.25': seconds as labels.csv reads them, to the millisecond."""
    return f"{max(value, 0.0):.3f}".rstrip("0").rstrip(".")


def _check_header(path: Path) -> None:
    """A file a user rearranged would take our columns in the wrong places: refuse it."""
    with open(path, "rb") as reader:
        first = reader.read(_HEADER_BYTES).split(b"\n", 1)[0]
    try:
        cells = next(csv.reader([first.decode("utf-8-sig").rstrip("\r")]), [])
    except UnicodeDecodeError:
        cells = []
    if [cell.strip().lower() for cell in cells] != list(COLUMNS):
        raise UsageError(f"{path}: its first line is not the feedback header "
                         f"{','.join(COLUMNS)}, so a mark would land in the wrong columns",
                         "move the file away (a new one is started) or put that header back")
