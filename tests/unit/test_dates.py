"""Dates as users write them, and the stretches of time they name."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidsearch.dates import format_time, parse_period, recorded_range
from vidsearch.errors import UsageError


def local(*parts) -> float:
    return datetime.datetime(*parts).astimezone().timestamp()


@given(st.dates(min_value=datetime.date(1971, 1, 1), max_value=datetime.date(9998, 12, 31)))
def test_a_day_month_and_year_each_cover_the_whole_of_it(day):
    as_day = parse_period(day.isoformat())
    assert as_day.start == local(day.year, day.month, day.day)
    following = day + datetime.timedelta(days=1)
    assert as_day.end == local(following.year, following.month, following.day)
    month = parse_period(f"{day.year}-{day.month:02d}")
    year = parse_period(str(day.year))
    # nested: the day lies in its month, the month in its year
    assert year.start <= month.start <= as_day.start < as_day.end <= month.end <= year.end
    assert month.start == local(day.year, day.month, 1)
    assert year.end == local(day.year + 1, 1, 1)


@given(st.datetimes(min_value=datetime.datetime(1971, 1, 1),
                    max_value=datetime.datetime(9998, 1, 1),
                    timezones=st.just(datetime.UTC)))
def test_a_timestamp_names_its_instant_and_before_includes_it(moment):
    text = moment.isoformat()
    assert parse_period(text).start == moment.timestamp()
    start, end = recorded_range(text, text)
    assert start == moment.timestamp() < end  # the instant itself passes both bounds


@pytest.mark.parametrize("text", ["2024-13", "2024-02-30", "June", "24", "2024/06/01", "",
                                  "2024-06-01T25:00", "yesterday"])
def test_what_is_not_a_date_is_refused_with_the_forms_that_are(text):
    with pytest.raises(UsageError, match="is not a date") as caught:
        parse_period(text)
    assert "2024-06-01" in caught.value.hint


def test_a_range_runs_from_the_start_of_after_to_the_end_of_before():
    assert recorded_range("2024-06", "2024-08") == (local(2024, 6, 1), local(2024, 9, 1))
    assert recorded_range(None, "2024") == (None, local(2025, 1, 1))
    assert recorded_range("2024", None) == (local(2024, 1, 1), None)
    assert recorded_range(None, None) == (None, None)


def test_an_empty_range_is_refused():
    with pytest.raises(UsageError, match="no time between them"):
        recorded_range("2025", "2024")


def test_stored_times_print_as_local_iso_text():
    assert format_time(None) is None
    assert datetime.datetime.fromisoformat(format_time(local(2024, 6, 1, 12))).timestamp() == \
        local(2024, 6, 1, 12)
