"""Dates as users write them (`2024`, `2024-06`, `2024-06-01`, ISO timestamps) -> the stretch
of time they name, for recording-date filters.

A date without a time zone is the user's local time, as they would read it off a calendar. A
year, month or day names the whole of it, so that both ends of a range include what they name:
after 2024-06 and before 2024-08 is June to August. A timestamp names its instant.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass

from vidsearch.errors import UsageError

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
FORMS = "2024, 2024-06, 2024-06-01 or an ISO timestamp such as 2024-06-01T18:30"


@dataclass(frozen=True)
class Period:
    """[start, end) in Unix seconds."""

    start: float
    end: float


def parse_period(text: str) -> Period:
    """The stretch of time `text` names; UsageError, naming the forms accepted, otherwise."""
    value = text.strip()
    try:
        if match := _YEAR.match(value):
            first = _local(int(match[1]), 1, 1)
            return Period(first.timestamp(), _local(first.year + 1, 1, 1).timestamp())
        if match := _MONTH.match(value):
            first = _local(int(match[1]), int(match[2]), 1)
            following = (_local(first.year + 1, 1, 1) if first.month == 12
                         else _local(first.year, first.month + 1, 1))
            return Period(first.timestamp(), following.timestamp())
        if match := _DAY.match(value):
            first = _local(int(match[1]), int(match[2]), int(match[3]))
            return Period(first.timestamp(), _next_day(first).timestamp())
        instant = datetime.datetime.fromisoformat(value)
    except (ValueError, OverflowError) as err:
        raise UsageError(f"'{text}' is not a date ({err})", f"write {FORMS}") from err
    if instant.tzinfo is None:
        instant = instant.astimezone()  # local time, as the user reads a clock
    moment = instant.timestamp()
    return Period(moment, moment)


def recorded_range(after: str | None, before: str | None) -> tuple[float | None, float | None]:
    """Bounds for `Store.video_ids_matching` (`after` inclusive, `before` exclusive) from the
    two dates a user gives, either may be None: from the start of `after`'s period to the end
    of `before`'s (a timestamp's end is its instant, included)."""
    start = parse_period(after).start if after is not None else None
    end = None
    if before is not None:
        period = parse_period(before)
        end = period.end if period.end > period.start else _just_after(period.end)
    if start is not None and end is not None and start >= end:
        raise UsageError(f"the dates leave no time between them: '{after}' is not before "
                         f"'{before}'", "swap them, or widen the range")
    return start, end


def format_time(seconds: float | None) -> str | None:
    """A stored recording time as local ISO 8601 text (to the second), for output."""
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def _local(year: int, month: int, day: int) -> datetime.datetime:
    return datetime.datetime(year, month, day).astimezone()


def _next_day(day: datetime.datetime) -> datetime.datetime:
    # Calendar arithmetic on the naive date: a day across a daylight-saving change is 23 or
    # 25 hours long, and its end is the next local midnight all the same.
    following = day.replace(tzinfo=None) + datetime.timedelta(days=1)
    return following.astimezone()


def _just_after(seconds: float) -> float:
    return math.nextafter(seconds, math.inf)
