"""Recording dates from the tags phones and cameras write, in generated files."""

from __future__ import annotations

import datetime

import pytest

from tests.fixtures.videos import make_video
from vidsearch import video
from vidsearch.video.dates import parse_tag


def utc(*parts) -> float:
    return datetime.datetime(*parts, tzinfo=datetime.UTC).timestamp()


@pytest.mark.parametrize("suffix", ["mp4", "mov", "mkv"])
def test_the_containers_creation_time_is_the_recording_date(tmp_path, suffix):
    path = make_video(tmp_path / f"a.{suffix}", seconds=1, fps=5,
                      tags={"creation_time": "2021-03-04T05:06:07.000000Z"})
    assert video.recorded_at(path) == utc(2021, 3, 4, 5, 6, 7)


def test_apples_local_date_wins_over_creation_time(tmp_path):
    path = make_video(tmp_path / "iphone.mov", seconds=1, fps=5,
                      tags={"com.apple.quicktime.creationdate": "2020-01-02T03:04:05+0900",
                            "creation_time": "2020-01-01T00:00:00Z"})
    assert video.recorded_at(path) == utc(2020, 1, 1, 18, 4, 5)


def test_a_file_without_tags_has_no_recording_date(tmp_path):
    assert video.recorded_at(make_video(tmp_path / "c.mp4", seconds=1, fps=5)) is None
    assert video.recorded_at(tmp_path / "missing.mp4") is None


@pytest.mark.parametrize("value", [None, "", "soon", "1970-01-01T00:00:00Z",
                                   "1904-01-01 00:00:00"])
def test_zero_and_unparsable_dates_count_as_none(value):
    assert parse_tag(value) is None


def test_a_date_without_a_zone_is_utc():
    assert parse_tag("2021-03-04 05:06:07") == utc(2021, 3, 4, 5, 6, 7)
