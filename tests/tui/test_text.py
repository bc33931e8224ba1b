"""Display text: literal file names, escaped control characters, short folders, times."""

from __future__ import annotations

import pytest

from vidsearch.display import format_span, format_time, literal, printable, shorten_folder


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain.mp4", "plain.mp4"),
    ("عيد ميلاد 🎂.mp4", "عيد ميلاد 🎂.mp4"),  # right-to-left letters and emoji stay
    ("👨‍👩‍👧 family.mp4", "👨‍👩‍👧 family.mp4"),  # zero-width joiners stay
    ("a\nb\tc\rd.mp4", "a\\nb\\tc\\rd.mp4"),
    ("\x1b[31mred.mp4", "\\x1b[31mred.mp4"),
    ("\x7f\x85.mp4", "\\x7f\\x85.mp4"),
    ("abc\u202egnp.mp4", "abc\\u202egnp.mp4"),  # a bidi override would reverse the row
    ("line\u2028sep.mp4", "line\\u2028sep.mp4"),
    ("caf\udce9.mp4", "caf\\xe9.mp4"),  # an undecodable byte, as os.fsdecode hands it over
])
def test_printable_escapes_only_what_breaks_a_line(raw, shown):
    assert printable(raw) == shown


def test_literal_never_interprets_markup():
    text = literal("[bold]x[/bold] [link=http://e.x]y[/link] :smile:.mp4")
    assert text.plain == "[bold]x[/bold] [link=http://e.x]y[/link] :smile:.mp4"
    assert text.spans == []


def test_shorten_folder_keeps_the_end(monkeypatch):
    monkeypatch.setenv("HOME", "/home/ann")
    assert shorten_folder("/home/ann/Videos/trip", 30) == "~/Videos/trip"
    assert shorten_folder("/media/disk/Videos/2019/summer", 16) == "…/2019/summer"
    assert shorten_folder("/media/averyveryverylongfoldername", 10) == "…oldername"
    assert shorten_folder("/m/🎂🎂🎂🎂🎂🎂", 8) == "…🎂🎂🎂"  # emoji are two cells wide


def test_times_are_h_mm_ss():
    assert format_time(0) == "0:00:00"
    assert format_time(59.6) == "0:01:00"
    assert format_time(3725) == "1:02:05"
    assert format_span(10, 25) == "0:00:10–0:00:25"
